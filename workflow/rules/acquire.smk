# Stage: obtain a dataset from a local archive, a URL or a pinned Hugging Face repository
# (resumable, checksum-verified, extracted atomically), and the authors' released point clouds.
# Datasets with source: local or synthetic never run rule acquire.


rule acquire:
    output:
        extracted=directory("data/raw/{dataset}/extracted"),
    log:
        "logs/acquire/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=acquire_source,
        out_dir=lambda wildcards, output: os.path.dirname(output.extracted),
        checksum_record="config/checksums.yaml",
    script:
        "../scripts/acquire.py"


rule acquire_geolink3d:
    output:
        extracted=directory("data/raw/geolink3d/extracted"),
    log:
        "logs/acquire/geolink3d.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=geolink3d_source,
        out_dir=lambda wildcards, output: os.path.dirname(output.extracted),
        checksum_record="config/checksums.yaml",
    script:
        "../scripts/acquire.py"


rule weights:
    output:
        folder=directory("data/weights/{checkpoint}"),
    log:
        "logs/weights/{checkpoint}.log",
    conda:
        "../../envs/data.yaml"
    params:
        spec=lambda wildcards: config["weights"][wildcards.checkpoint],
    script:
        "../scripts/weights.py"
