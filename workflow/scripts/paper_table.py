"""One of the paper's result tables, ours beside the printed values (rule paper_table)."""

from geolink.rule_runner import run_logged
from geolink.tables.build import write_paper_table


def main():
    out = snakemake.output
    write_paper_table(
        list(snakemake.input.metrics),
        csv=out.csv,
        markdown=out.markdown,
        latex=out.latex,
        html=out.html,
        **snakemake.params.settings,
    )


run_logged(snakemake.log[0], main, snakemake.output)
