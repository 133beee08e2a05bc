# Stage: frozen multi-weather test sets (paper Table 4). Drone images of the test split are
# corrupted once per condition with the MuSe-Net imgaug 0.4.0 recipe and a per-image seed from
# the image path, so every run and worker count writes the same bytes (hashes.json records them).
# envs/weather.yaml is imgaug 0.4.0 on NumPy 1.23, the recipe's own stack; without conda the rule
# runs in the project env through geolink.data.imgaug_compat (docs/data.md gives the difference).


rule weather:
    input:
        manifest="results/manifests/{dataset}.parquet",
        root=manifest_input,
    output:
        images=directory("data/weather/{dataset}/{condition}"),
        manifest="results/manifests/weather/{dataset}/{condition}.parquet",
    log:
        "logs/weather/{dataset}/{condition}.log",
    conda:
        "../../envs/weather.yaml"
    threads: 4
    params:
        root=manifest_root,
        split=config["weather"]["split"],
        base_seed=config["weather"]["base_seed"],
    script:
        "../scripts/weather.py"


rule weather_contact_sheet:
    input:
        manifest="results/manifests/{dataset}.parquet",
        weather=weather_manifests,
    output:
        figure=report(
            "results/figures/weather_{dataset}.png",
            caption="../report/weather.rst",
            category="Weather test sets",
        ),
    log:
        "logs/weather/{dataset}_contact_sheet.log",
    conda:
        "../../envs/plots.yaml"
    params:
        conditions=config["weather"]["conditions"],
        split=config["weather"]["split"],
    script:
        "../scripts/weather_contact_sheet.py"
