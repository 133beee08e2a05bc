"""Write one frozen weather test set and its manifest (rule weather)."""

import logging

from geolink.data.manifest import load_manifest, write_manifest
from geolink.data.weather import weather_manifest, weather_rows, write_weather_set
from geolink.rule_runner import run_logged


def main():
    condition, settings = snakemake.wildcards.condition, snakemake.params.settings
    root, split = settings["root"], settings["split"]
    clean = load_manifest(snakemake.input.manifest)
    rows = weather_rows(clean, split=split)
    logging.info("%s: %d drone images of split %s, %d workers", condition, len(rows), split, snakemake.threads)
    hashes = write_weather_set(
        list(rows["path"]),
        root,
        snakemake.output.images,
        condition,
        workers=snakemake.threads,
        base_seed=settings["base_seed"],
        progress=True,
    )
    logging.info("wrote %d images and hashes.json to %s", len(hashes), snakemake.output.images)
    write_manifest(weather_manifest(clean, root, snakemake.output.images, split=split), snakemake.output.manifest)


run_logged(snakemake.log[0], main, snakemake.output)
