"""Train one run (rule train)."""

import json
import logging
import os

import torch

from geolink.rule_runner import run_logged
from geolink.train import train


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    summary = train(
        snakemake.params.settings,
        snakemake.input.manifest,
        snakemake.input.bank,
        checkpoint_dir=os.path.dirname(snakemake.output.best),
        log_dir=snakemake.output.logs,
        selection_manifest_path=snakemake.input.selection or None,
        **snakemake.params.compute,  # device and precision (compute)
    )
    logging.info("summary: %s", json.dumps(summary))


run_logged(snakemake.log[0], main, snakemake.output)
