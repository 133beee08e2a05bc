"""The UAVM challenge's answer.txt and answer.zip from a SkyLink checkpoint (rule challenge_answer)."""

import json
import logging
import os

import torch

from geolink.challenge import write_challenge_answer
from geolink.rule_runner import run_logged


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    settings = dict(snakemake.params.settings)
    summary = write_challenge_answer(
        snakemake.input.checkpoint,
        settings.pop("query_dir"),
        settings.pop("gallery_dir"),
        os.path.dirname(snakemake.output.answer),
        **settings,
    )
    logging.info("summary: %s", json.dumps(summary))


run_logged(snakemake.log[0], main, snakemake.output)
