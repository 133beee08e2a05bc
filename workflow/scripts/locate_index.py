"""Index the locate stage's map with the run's checkpoint (rule locate_index): `geolink index`'s work."""

import json
import logging

import torch

from geolink.device import select_device
from geolink.locate.encoders import TorchEncoder
from geolink.locate.index import build_index
from geolink.locate.maps import open_map
from geolink.rule_runner import run_logged


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    settings = snakemake.params.settings
    source = open_map(settings["map"], settings["footprint_m"], settings["overlap"])
    encoder = TorchEncoder(snakemake.input.checkpoint, str(select_device(settings["device"], job="rule locate_index")))
    meta = build_index(source, encoder, snakemake.output.index, progress=False)
    logging.info("index: %s", json.dumps({k: meta[k] for k in ("n_tiles", "dim", "map")}))


run_logged(snakemake.log[0], main, snakemake.output)
