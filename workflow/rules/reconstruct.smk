# Stage: 3D priors. Training clouds per location and view group (paper section 3.2), sampled
# once into a point bank, with a QC table and figure. Only the vggt backend asks for a GPU.


rule reconstruct:
    input:
        manifest=rules.manifest.output.manifest,
        extra=reconstruct_extra_input,
    output:
        shard=directory(LAYOUT.recon_shard("{dataset}", "{shard}")),
    log:
        main=LAYOUT.log("reconstruct", "{dataset}_shard{shard}"),
        colmap=LAYOUT.log("reconstruct", "{dataset}_shard{shard}.colmap"),
    conda:
        reconstruct_env
    threads: 2
    resources:
        gpu=reconstruct_gpus,
    params:
        settings=settings_of("reconstruct"),
    script:
        "../scripts/reconstruct.py"


rule points:
    input:
        shards=reconstruct_shards,
    output:
        bank=LAYOUT.point_bank("{dataset}"),
        qc=LAYOUT.point_qc("{dataset}"),
    log:
        LAYOUT.log("points", "{dataset}"),
    conda:
        "../../envs/recon.yaml"
    params:
        settings=settings_of("points"),
    script:
        "../scripts/points.py"


rule point_cloud_figure:
    input:
        shards=[s for d in PIPELINE.datasets for s in PIPELINE.recon_shards(d)],
        qc=[LAYOUT.point_qc(d) for d in PIPELINE.datasets],
    output:
        figure=report(
            LAYOUT.figure("point_clouds"),
            caption="../report/point_clouds.rst",
            category="3D priors",
        ),
    log:
        LAYOUT.log("point_cloud_figure"),
    conda:
        "../../envs/plots.yaml"
    params:
        settings=settings_of("point_cloud_figure"),
    script:
        "../scripts/point_cloud_figure.py"
