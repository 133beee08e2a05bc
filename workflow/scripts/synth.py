"""Render one synthetic dataset tree (rule synth)."""

from geolink.rule_runner import run_logged
from geolink.synth import generate


def main():
    generate(snakemake.wildcards.dataset, snakemake.output.tree, workers=snakemake.threads, **snakemake.params.settings)


run_logged(snakemake.log[0], main, snakemake.output)
