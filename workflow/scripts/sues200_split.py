"""Build SUES-200's per-height Training/ and Testing/ folders from the raw tree (rule sues200_split)."""

import logging

from geolink.data.sues200 import read_sues200_split_index, split_sues200
from geolink.rule_runner import run_logged


def main():
    params = snakemake.params
    train_ids = read_sues200_split_index(params.split_index) if params.split_index else None
    counts = split_sues200(
        params.raw_root, snakemake.output.split, train_ids=train_ids, heights=params.heights, link=params.link
    )
    logging.info("SUES-200 split: %s", counts)


run_logged(snakemake.log[0], main)
