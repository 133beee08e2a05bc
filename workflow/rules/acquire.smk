# Stage: obtain a dataset from a local archive or a URL (resumable, checksum-verified, extracted
# atomically). Datasets with source: local or synthetic never run this rule.


rule acquire:
    output:
        extracted=directory("data/raw/{dataset}/extracted"),
    log:
        "logs/acquire/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=acquire_source,
        out_dir="data/raw/{dataset}",
        checksum_record="config/checksums.yaml",
    script:
        "../scripts/acquire.py"
