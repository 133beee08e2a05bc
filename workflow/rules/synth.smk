# Stage: the synthetic benchmark, written in each real dataset's on-disk layout.


rule synth:
    output:
        tree=directory(LAYOUT.synthetic_tree("{dataset}")),
    log:
        LAYOUT.log("synth", "{dataset}"),
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        settings=settings_of("synth"),
    script:
        "../scripts/synth.py"
