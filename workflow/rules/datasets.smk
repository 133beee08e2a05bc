# Stage: released trees -> official splits -> one manifest table per dataset.


rule sues200_split:
    input:
        raw=sues200_split_input,
    output:
        split=directory(LAYOUT.sues200_split()),
    log:
        LAYOUT.log("sues200_split"),
    conda:
        "../../envs/data.yaml"
    params:
        settings=settings_of("sues200_split"),
    script:
        "../scripts/sues200_split.py"


rule manifest:
    input:
        root=manifest_input,
    output:
        manifest=LAYOUT.manifest("{dataset}"),
        summary=LAYOUT.manifest_summary("{dataset}"),
    log:
        LAYOUT.log("manifest", "{dataset}"),
    conda:
        "../../envs/data.yaml"
    params:
        settings=settings_of("manifest"),
    script:
        "../scripts/manifest.py"
