"""Evaluate one run on one target dataset, both directions, clean and under each weather condition (rule evaluate)."""

from geolink.evaluation.run import evaluate_to_file
from geolink.rule_runner import run_logged


def main():
    w = snakemake.wildcards
    run = {"source": w.source, "variant": w.variant, "seed": int(w.seed)}
    settings = dict(snakemake.params.settings)
    weather = dict(zip(settings.pop("conditions"), snakemake.input.weather, strict=True))
    evaluate_to_file(
        snakemake.input.checkpoint,
        snakemake.input.manifest,
        snakemake.output.metrics,
        run=run,
        weather=weather,
        **settings,
    )


run_logged(snakemake.log[0], main, snakemake.output)
