"""Obtain one dataset from its archive or URL (rule acquire)."""

import logging

from geolink.data.acquire import acquire
from geolink.rule_runner import run_logged


def main():
    source = {**snakemake.params.source, "checksum_record": snakemake.params.checksum_record}
    folder = acquire(source, snakemake.params.out_dir)
    logging.info("%s ready in %s", snakemake.wildcards.dataset, folder)


run_logged(snakemake.log[0], main)
