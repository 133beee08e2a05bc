"""Index one dataset tree into a manifest table (rule manifest)."""

from geolink.data.index import index_dataset
from geolink.rule_runner import run_logged


def main():
    settings = snakemake.params.settings
    index_dataset(
        snakemake.wildcards.dataset,
        settings["root"],
        settings["options"],
        settings["check_counts"],
        snakemake.output.manifest,
        snakemake.output.summary,
    )


run_logged(snakemake.log[0], main, snakemake.output)
