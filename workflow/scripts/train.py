"""Train one run (rule train)."""

import json
import logging

from geolink.rule_runner import run_logged
from geolink.train import train


def main():
    config = {**snakemake.config, "train": snakemake.params.train, "seed": snakemake.params.train["run_seed"]}
    summary = train(
        config,
        snakemake.input.manifest,
        snakemake.input.bank,
        checkpoint_dir=str(snakemake.output.best).rsplit("/", 1)[0],
        log_dir=snakemake.output.logs,
        resume=True,  # a rerun after a crash continues from last.pt
        selection_manifest_path=snakemake.input.selection or None,
    )
    logging.info("summary: %s", json.dumps(summary))


run_logged(snakemake.log[0], main)
