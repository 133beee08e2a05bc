"""Train one run (rule train)."""

import json
import logging
import os

import torch

from geolink.distributed import launch
from geolink.rule_runner import run_logged
from geolink.train import train


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    spec = {
        "settings": snakemake.params.settings,
        "manifest_path": snakemake.input.manifest,
        "bank_path": snakemake.input.bank,
        "checkpoint_dir": os.path.dirname(snakemake.output.best),
        "log_dir": snakemake.output.logs,
        "selection_manifest_path": snakemake.input.selection or None,
        **snakemake.params.compute,  # device and precision (compute)
    }
    gpus = int(snakemake.resources.get("gpu", 1))
    if gpus > 1 and spec["device"] != "cpu":  # one process per GPU, every loss over the global batch
        launch(spec, gpus, spec_path=snakemake.log[0] + ".torchrun.json")
        return
    summary = train(**spec)
    logging.info("summary: %s", json.dumps(summary))


run_logged(snakemake.log[0], main, snakemake.output)
