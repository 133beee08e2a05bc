# Stage: training per (source dataset, variant, seed) and evaluation of every run on every
# active dataset (one job per run: the model is built once), both directions, clean and under
# each weather condition. Runs are named <source>__<variant>__s<seed>.

RUN = run_name("{source}", "{variant}", "{seed}")


rule train:
    input:
        manifest=LAYOUT.manifest("{source}"),
        bank=LAYOUT.point_bank("{source}"),
        selection=selection_input,
        weights=train_weights_input,
    output:
        best=LAYOUT.checkpoint(RUN, "best"),
        last=LAYOUT.checkpoint(RUN, "last"),
        logs=directory(LAYOUT.train_logs(RUN)),
    log:
        LAYOUT.log("train", RUN),
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=train_gpus,
    params:
        settings=settings_of("train"),
        compute=settings_of("compute"),
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        checkpoint=evaluate_checkpoint,
        manifests=[LAYOUT.manifest(target) for target in PIPELINE.datasets],
        weather=evaluate_weather_input,
    output:
        metrics=[LAYOUT.metrics(RUN, target) for target in PIPELINE.datasets],
    log:
        LAYOUT.log("evaluate", RUN),
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=settings_of("evaluate"),
    script:
        "../scripts/evaluate.py"


rule metrics_table:
    input:
        metrics=metrics_table_input,
    output:
        csv=LAYOUT.table("metrics", "csv"),
        markdown=LAYOUT.table("metrics", "md"),
        json=LAYOUT.table("metrics", "json"),
        html=report(
            LAYOUT.table("metrics", "html"),
            caption="../report/metrics_table.rst",
            category="Metrics",
        ),
    log:
        LAYOUT.log("metrics_table"),
    conda:
        "../../envs/plots.yaml"
    params:
        settings=settings_of("metrics_table"),
    script:
        "../scripts/metrics_table.py"
