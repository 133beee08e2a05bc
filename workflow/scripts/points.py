"""Sample a dataset's reconstructed clouds into its point bank (rule points)."""

from geolink.recon.collect import collect_point_bank
from geolink.rule_runner import run_logged


def main():
    collect_point_bank(snakemake.input.shards, snakemake.output.bank, snakemake.output.qc, **snakemake.params.settings)


run_logged(snakemake.log[0], main, snakemake.output)
