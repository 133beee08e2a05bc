"""Build SUES-200's per-height Training/ and Testing/ folders from the raw tree (rule sues200_split)."""

import logging

from geolink.data.sues200 import split_sues200
from geolink.rule_runner import run_logged


def main():
    counts = split_sues200(out_root=snakemake.output.split, **snakemake.params.settings)
    logging.info("SUES-200 split: %s", counts)


run_logged(snakemake.log[0], main, snakemake.output)
