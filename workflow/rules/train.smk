# Stage: training per (source dataset, variant, seed) and evaluation of every run on every
# active dataset, both directions. Runs are named <source>__<variant>__s<seed>.


rule train:
    input:
        manifest="results/manifests/{source}.parquet",
        bank="results/points/{source}.npz",
        selection=selection_input,
        weights=train_weights_input,
    output:
        best="results/checkpoints/{source}__{variant}__s{seed}/best.pt",
        last="results/checkpoints/{source}__{variant}__s{seed}/last.pt",
        logs=directory("results/logs/{source}__{variant}__s{seed}"),
    log:
        "logs/train/{source}__{variant}__s{seed}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        train=variant_train_config,
        seed=config["seed"],
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        checkpoint=evaluate_checkpoint,
        manifest="results/manifests/{target}.parquet",
    output:
        metrics="results/metrics/{source}__{variant}__s{seed}/{target}.json",
    log:
        "logs/evaluate/{source}__{variant}__s{seed}/{target}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        evaluate=config["evaluate"],
    script:
        "../scripts/evaluate.py"


rule metrics_table:
    input:
        metrics=all_metrics,
    output:
        csv="results/tables/metrics.csv",
        markdown="results/tables/metrics.md",
    log:
        "logs/metrics_table.log",
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/metrics_table.py"
