"""Evaluate one run on every target dataset, both directions, clean and under each weather condition (rule
evaluate)."""

import torch

from geolink.evaluation.run import evaluate_run
from geolink.rule_runner import run_logged


def main():
    torch.set_num_threads(snakemake.threads)  # the cores Snakemake gave this job, not every core
    w = snakemake.wildcards
    run = {"source": w.source, "variant": w.variant, "seed": int(w.seed)}
    settings = dict(snakemake.params.settings)
    conditions = settings.pop("targets")  # target -> its weather conditions, in input order
    manifests, weather, outputs = (
        iter(snakemake.input.manifests),
        iter(snakemake.input.weather),
        iter(snakemake.output.metrics),
    )
    targets = {
        target: {
            "manifest": next(manifests),
            "weather": {condition: next(weather) for condition in target_conditions},
            "out": next(outputs),
        }
        for target, target_conditions in conditions.items()
    }
    evaluate_run(snakemake.input.checkpoint, targets, run=run, **settings)


run_logged(snakemake.log[0], main, snakemake.output)
