"""Paper Table 6: the re-run models' parameters and operations, counted the paper's way and exactly (rule
complexity_table)."""

from geolink.rule_runner import run_logged
from geolink.tables.complexity import write_paper_complexity_table


def main():
    out = snakemake.output
    write_paper_complexity_table(
        csv=out.csv, markdown=out.markdown, latex=out.latex, html=out.html, **snakemake.params.settings
    )


run_logged(snakemake.log[0], main, snakemake.output)
