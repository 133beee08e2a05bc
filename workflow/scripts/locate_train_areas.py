"""Synthetic areas with drone photos for geolink tune to train on (rule locate_train_areas)."""

import logging

from geolink.rule_runner import run_logged
from geolink.synth.locate_map import write_training_areas


def main():
    names = write_training_areas(snakemake.output.areas, workers=snakemake.threads, **snakemake.params.settings)
    logging.info("%d training areas written to %s", len(names), snakemake.output.areas)


run_logged(snakemake.log[0], main, snakemake.output)
