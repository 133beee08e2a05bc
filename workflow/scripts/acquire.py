"""Obtain one dataset from its archive, URL or Hugging Face repository (rules acquire, acquire_geolink3d)."""

import logging

from geolink.data.acquire import acquire
from geolink.rule_runner import run_logged


def main():
    source = {**snakemake.params.source, "checksum_record": snakemake.params.checksum_record}
    folder = acquire(source, snakemake.params.out_dir)
    logging.info("%s ready in %s", source["dataset"], folder)


run_logged(snakemake.log[0], main)
