# Stage: geolink locate as the pipeline's product in use. One run's checkpoint is first tuned on drone
# photos with GPS over other areas (geolink tune; on the synthetic configuration, synthetic areas of
# their own); a map (the synthetic area on the synthetic configuration) is cut into tiles and indexed
# with the tuned 2D encoder; the drone photos are localised with it, with its ONNX export and with the
# untuned checkpoint, and the errors against their EXIF GPS are summarised and drawn (docs/locate.md).
# From the tuning on, the stage's jobs go before others that are ready (priority): started as soon as
# their checkpoint exists they run beside the evaluations, where last they would run alone.


rule locate_map:
    output:
        area=directory(LAYOUT.locate_area()),
    log:
        LAYOUT.log("locate_map"),
    conda:
        "../../envs/locate.yaml"
    params:
        settings=settings_of("locate_map"),
    script:
        "../scripts/locate_map.py"


rule locate_train_areas:
    output:
        areas=directory(LAYOUT.locate_train_areas()),
    log:
        LAYOUT.log("locate_train_areas"),
    conda:
        "../../envs/locate.yaml"
    threads: 2
    params:
        settings=settings_of("locate_train_areas"),
    script:
        "../scripts/locate_train_areas.py"


rule locate_tune:
    input:
        unpack(locate_tune_input),
    output:
        checkpoint=LAYOUT.locate("tuned.pt"),
    log:
        LAYOUT.log("locate_tune"),
    priority: 10
    conda:
        "../../envs/locate.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=settings_of("locate_tune"),
    script:
        "../scripts/locate_tune.py"


rule locate_index:
    input:
        unpack(locate_input),
    output:
        index=directory(LAYOUT.locate("index")),
    log:
        LAYOUT.log("locate_index"),
    priority: 10
    conda:
        "../../envs/locate.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=settings_of("locate_index"),
    script:
        "../scripts/locate_index.py"


rule locate_onnx:
    input:
        checkpoint=lambda wildcards: locate_input(wildcards)["checkpoint"],
    output:
        onnx=LAYOUT.locate("encoder.onnx"),
    log:
        LAYOUT.log("locate_onnx"),
    priority: 10
    conda:
        "../../envs/locate.yaml"
    script:
        "../scripts/locate_onnx.py"


rule locate:
    input:
        unpack(locate_input),
        index=LAYOUT.locate("index"),
        onnx=LAYOUT.locate("encoder.onnx"),
    output:
        answers=directory(LAYOUT.locate("answers")),
        answers_onnx=directory(LAYOUT.locate("answers_onnx")),
        summary=LAYOUT.locate("summary.json"),
        figure=report(
            LAYOUT.figure("locate_errors"),
            caption="../report/locate_errors.rst",
            category="Localisation",
        ),
    log:
        LAYOUT.log("locate"),
    priority: 10
    conda:
        "../../envs/locate.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=settings_of("locate"),
    script:
        "../scripts/locate.py"
