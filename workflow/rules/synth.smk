# Stage: the synthetic benchmark, written in each real dataset's on-disk layout.


rule synth:
    output:
        tree=directory("data/synthetic/{dataset}"),
    log:
        "logs/synth/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        options=synth_options,
    script:
        "../scripts/synth.py"
