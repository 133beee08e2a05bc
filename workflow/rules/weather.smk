# Stage: frozen multi-weather test sets (paper Table 4). Drone images of the test split are
# corrupted once per condition with the MuSe-Net imgaug 0.4.0 recipe and a per-image seed from
# the image path, so every run and worker count writes the same bytes (hashes.json records them).
# envs/weather.yaml is imgaug 0.4.0 on NumPy 1.23, the recipe's own stack; without conda the rule
# runs in the project env through geolink.data.imgaug_compat (docs/data.md gives the difference).


rule weather:
    input:
        manifest=rules.manifest.output.manifest,
        root=manifest_input,
    output:
        images=directory(LAYOUT.weather_images("{dataset}", "{condition}")),
        manifest=LAYOUT.weather_manifest("{dataset}", "{condition}"),
    log:
        LAYOUT.log("weather", "{dataset}", "{condition}"),
    conda:
        "../../envs/weather.yaml"
    threads: 4
    params:
        settings=settings_of("weather"),
    script:
        "../scripts/weather.py"


rule weather_contact_sheet:
    input:
        manifest=rules.manifest.output.manifest,
        weather=expand(
            LAYOUT.weather_manifest("{{dataset}}", "{condition}"),
            condition=PIPELINE.conditions,
        ),
    output:
        figure=report(
            LAYOUT.figure("weather_{dataset}"),
            caption="../report/weather.rst",
            category="Weather test sets",
        ),
    log:
        LAYOUT.log("weather", "{dataset}_contact_sheet"),
    conda:
        "../../envs/plots.yaml"
    params:
        settings=settings_of("weather_contact_sheet"),
    script:
        "../scripts/weather_contact_sheet.py"
