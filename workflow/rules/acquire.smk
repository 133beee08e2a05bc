# Stage: obtain a dataset from a local archive, a URL or a pinned Hugging Face repository
# (resumable, checksum-verified, extracted atomically), the authors' released point clouds, and
# pinned pretrained weights. Downloads are shared by every configuration (data/raw/, data/weights/).
# Datasets with source: local or synthetic never run rule acquire.


rule acquire:
    input:
        archive=acquire_input,
    output:
        extracted=directory(LAYOUT.acquired("{dataset}")),
    log:
        LAYOUT.log("acquire", "{dataset}"),
    conda:
        "../../envs/data.yaml"
    params:
        settings=settings_of("acquire"),
        checksum_record="config/checksums.yaml",
    script:
        "../scripts/acquire.py"


rule acquire_geolink3d:
    output:
        extracted=directory(LAYOUT.geolink3d()),
    log:
        LAYOUT.log("acquire", "geolink3d"),
    conda:
        "../../envs/data.yaml"
    params:
        settings=settings_of("acquire_geolink3d"),
        checksum_record="config/checksums.yaml",
    script:
        "../scripts/acquire.py"


rule weights:
    output:
        folder=directory(LAYOUT.weights("{checkpoint}")),
    log:
        LAYOUT.log("weights", "{checkpoint}"),
    conda:
        "../../envs/data.yaml"
    params:
        settings=settings_of("weights"),
    script:
        "../scripts/weights.py"


# Stands in for a user-supplied input that is not there yet (a dataset not downloaded), so that
# `snakemake -n` lists every job of the run; common.smk stops a real run before any job starts.
# Defined only while something is missing: an existing dataset folder is never a rule's output.
if MISSING:

    rule missing_input:
        output:
            path=directory("{missing}"),
        log:
            LAYOUT.log("missing_input", "{missing}"),
        wildcard_constraints:
            missing="|".join(map(re.escape, MISSING)),
        conda:
            "../../envs/data.yaml"
        params:
            message=missing_input_message,
        script:
            "../scripts/missing_input.py"
