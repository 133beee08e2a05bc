"""Localise the drone photos with the checkpoint and its ONNX export, summarise and draw the errors (rule locate)."""

import json
import logging

import torch

from geolink.device import select_device
from geolink.locate.encoders import OnnxEncoder, TorchEncoder
from geolink.locate.index import TileIndex
from geolink.locate.stage import run_locate_stage
from geolink.plots.locate_errors import locate_error_figure
from geolink.rule_runner import run_logged


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    settings = snakemake.params.settings
    index = TileIndex(snakemake.input.index)
    device = select_device(settings["device"], job="rule locate")
    encoders = {
        "torch": TorchEncoder(snakemake.input.checkpoint, str(device)),
        "onnx": OnnxEncoder(snakemake.input.onnx),
    }
    outs = {"torch": snakemake.output.answers, "onnx": snakemake.output.answers_onnx}
    summary, answers = run_locate_stage(
        index,
        settings["photos"],
        encoders,
        outs,
        snakemake.output.summary,
        settings["top_k"],
        settings["radius_m"],
        untuned=snakemake.input.get("untuned"),
        device=str(device),
    )
    logging.info("summary: %s", json.dumps(summary))
    shown = {**summary["torch"], "chance_median_m": summary["chance_median_m"]}
    locate_error_figure(answers["torch"], index, shown, snakemake.output.figure, untuned=answers.get("untuned"))


run_logged(snakemake.log[0], main, snakemake.output)
