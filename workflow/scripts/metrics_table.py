"""Collect every run's metrics into one table (rule metrics_table)."""

from geolink.report import write_metrics_tables
from geolink.rule_runner import run_logged


def main():
    out = snakemake.output
    write_metrics_tables(
        snakemake.input.metrics,
        csv=out.csv,
        markdown=out.markdown,
        json_path=out.json,
        html=out.html,
        **snakemake.params.settings,
    )


run_logged(snakemake.log[0], main, snakemake.output)
