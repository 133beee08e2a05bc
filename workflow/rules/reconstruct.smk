# Stage: 3D priors. Training clouds per location and view group (paper section 3.2), sampled
# once into a point bank, with a QC table and figure. Only the vggt backend asks for a GPU.


rule reconstruct:
    input:
        manifest="results/manifests/{dataset}.parquet",
        extra=reconstruct_extra_input,
    output:
        shard=directory("results/recon/{dataset}/shard{shard}"),
    log:
        main="logs/reconstruct/{dataset}_shard{shard}.log",
        colmap="logs/reconstruct/{dataset}_shard{shard}.colmap.log",
    conda:
        reconstruct_env
    threads: 2
    resources:
        gpu=reconstruct_gpus,
    params:
        settings=reconstruct_settings,
    script:
        "../scripts/reconstruct.py"


rule points:
    input:
        shards=reconstruct_shards,
    output:
        bank="results/points/{dataset}.npz",
        qc="results/points/{dataset}_qc.csv",
    log:
        "logs/points/{dataset}.log",
    conda:
        "../../envs/recon.yaml"
    params:
        options=config["points"],
        seed=config["seed"],
    script:
        "../scripts/points.py"


rule point_cloud_figure:
    input:
        shards=all_reconstruct_shards,
        qc=expand("results/points/{dataset}_qc.csv", dataset=active_datasets()),
    output:
        figure=report(
            "results/figures/point_clouds.png",
            caption="../report/point_clouds.rst",
            category="3D priors",
        ),
    log:
        "logs/point_cloud_figure.log",
    conda:
        "../../envs/plots.yaml"
    params:
        datasets=active_datasets(),
    script:
        "../scripts/point_cloud_figure.py"
