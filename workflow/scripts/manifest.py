"""Index one dataset tree into a manifest table (rule manifest)."""

import logging

from geolink.data.manifest import read_manifest, summarize_manifest, write_manifest
from geolink.rule_runner import run_logged


def main():
    manifest = read_manifest(snakemake.wildcards.dataset, snakemake.params.root, **snakemake.params.options)
    summary = summarize_manifest(manifest)
    logging.info("%d images\n%s", len(manifest), summary.to_string())
    write_manifest(manifest, snakemake.output.manifest)
    summary.to_csv(snakemake.output.summary, index=False)


run_logged(snakemake.log[0], main)
