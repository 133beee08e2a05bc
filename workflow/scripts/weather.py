"""Write one frozen weather test set and its manifest (rule weather)."""

import logging

from geolink.data.manifest import load_manifest, write_manifest
from geolink.data.weather import weather_manifest, weather_rows, write_weather_set
from geolink.rule_runner import run_logged


def main():
    condition = snakemake.wildcards.condition
    clean = load_manifest(snakemake.input.manifest)
    rows = weather_rows(clean, split=snakemake.params.split)
    logging.info(
        "%s: %d drone images of split %s, %d workers", condition, len(rows), snakemake.params.split, snakemake.threads
    )
    hashes = write_weather_set(
        list(rows["path"]),
        snakemake.params.root,
        snakemake.output.images,
        condition,
        workers=snakemake.threads,
        base_seed=snakemake.params.base_seed,
        progress=True,
    )
    logging.info("wrote %d images and hashes.json to %s", len(hashes), snakemake.output.images)
    table = weather_manifest(clean, snakemake.params.root, snakemake.output.images, split=snakemake.params.split)
    write_manifest(table, snakemake.output.manifest)


run_logged(snakemake.log[0], main)
