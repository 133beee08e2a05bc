"""The synthetic area of the locate stage: GeoTIFF mosaic and drone photos with EXIF GPS (rule locate_map)."""

import logging

from geolink.rule_runner import run_logged
from geolink.synth.locate_map import write_locate_map


def main():
    truth = write_locate_map(snakemake.output.area, **snakemake.params.settings)
    logging.info("%d photos over the area written to %s", len(truth), snakemake.output.area)


run_logged(snakemake.log[0], main, snakemake.output)
