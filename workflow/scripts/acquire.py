"""Obtain one dataset from its archive, URL or Hugging Face repository (rules acquire, acquire_geolink3d)."""

import logging
import os

from geolink.data.acquire import acquire
from geolink.rule_runner import run_logged


def main():
    source = {**snakemake.params.settings, "checksum_record": snakemake.params.checksum_record}
    # Downloads go beside the extracted folder: data/raw/<dataset>/{downloads,extracted}.
    folder = acquire(source, os.path.dirname(snakemake.output.extracted))
    logging.info("%s ready in %s", source["dataset"], folder)


run_logged(snakemake.log[0], main, snakemake.output)
