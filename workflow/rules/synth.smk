# Stage: the synthetic benchmark, written in each real dataset's on-disk layout.


rule synth:
    output:
        tree=directory("data/synthetic/{dataset}"),
    params:
        options=synth_options,
    log:
        "logs/synth/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    threads: 2
    script:
        "../scripts/synth.py"
