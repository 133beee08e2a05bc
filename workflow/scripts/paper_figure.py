"""Draw one of the paper's figures from logged metrics, training logs or checkpoints (rule paper_figure)."""

import torch

from geolink.plots.paper_figures import draw_paper_figure
from geolink.rule_runner import run_logged


def main():
    torch.set_num_threads(snakemake.threads)
    inputs = {name: list(files) for name, files in snakemake.input.items()}
    draw_paper_figure(snakemake.params.settings, inputs, snakemake.output.figure)


run_logged(snakemake.log[0], main, snakemake.output)
