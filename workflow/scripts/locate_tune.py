"""Tune the run's 2D encoder on photos with GPS over other areas (rule locate_tune): `geolink tune`'s work."""

import json
import logging

import torch

from geolink.device import select_device
from geolink.locate.tune import tune
from geolink.rule_runner import run_logged


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    settings = snakemake.params.settings
    summary = tune(
        snakemake.input.checkpoint,
        [(area["map"], [area["photos"]]) for area in settings["areas"]],
        settings["footprint_m"],
        snakemake.output.checkpoint,
        jitter=settings["jitter"],
        steps=settings["steps"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        seed=settings["seed"],
        device=str(select_device(settings["device"], job="rule locate_tune")),
        progress=False,
    )
    logging.info("tuned: %s", json.dumps({k: v for k, v in summary.items() if k != "areas"}))


run_logged(snakemake.log[0], main, snakemake.output)
