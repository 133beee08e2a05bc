# Stage: released trees -> official splits -> one manifest table per dataset.


rule sues200_split:
    input:
        raw=sues200_raw_input,
    output:
        split=directory("data/prepared/sues200"),
    log:
        "logs/sues200_split.log",
    conda:
        "../../envs/data.yaml"
    params:
        raw_root=released_root("sues200"),
        split_index=sues200_split_index(),
        heights=dataset_config("sues200")["heights"],
        link=dataset_config("sues200")["link"],
    script:
        "../scripts/sues200_split.py"


rule manifest:
    input:
        root=manifest_input,
    output:
        manifest="results/manifests/{dataset}.parquet",
        summary="results/manifests/{dataset}_summary.csv",
    log:
        "logs/manifest/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    params:
        root=manifest_root,
        options=manifest_options,
        check_counts=manifest_check_counts,
    script:
        "../scripts/manifest.py"
