"""Collect every run's metrics into one table (rule metrics_table)."""

from geolink.atomic import atomic_output
from geolink.report import metrics_table, to_markdown
from geolink.rule_runner import run_logged


def main():
    table = metrics_table(snakemake.input.metrics)
    with atomic_output(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(snakemake.output.markdown) as tmp:
        tmp.write_text(to_markdown(table))


run_logged(snakemake.log[0], main)
