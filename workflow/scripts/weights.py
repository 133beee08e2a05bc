"""Download one pretrained checkpoint at its pinned commit and print its licence (rule weights)."""

import logging

from geolink.data.weights import fetch_weights
from geolink.rule_runner import run_logged


def main():
    path = fetch_weights(snakemake.wildcards.checkpoint, snakemake.params.settings, snakemake.output.folder)
    logging.info("%s weights ready: %s", snakemake.wildcards.checkpoint, path)


run_logged(snakemake.log[0], main, snakemake.output)
