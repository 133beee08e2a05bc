"""Evaluate one run on one target dataset, both directions (rule evaluate)."""

from geolink.evaluation.run import evaluate_to_file
from geolink.rule_runner import run_logged


def main():
    w = snakemake.wildcards
    run = {"source": w.source, "variant": w.variant, "seed": int(w.seed)}
    evaluate_to_file(
        snakemake.input.checkpoint,
        snakemake.input.manifest,
        snakemake.output.metrics,
        run=run,
        **snakemake.params.settings,
    )


run_logged(snakemake.log[0], main, snakemake.output)
