"""Index one dataset tree into a manifest table (rule manifest)."""

import logging

from geolink.data.errors import DISPLAY_NAMES, DatasetError
from geolink.data.manifest import read_manifest, summarize_manifest, write_manifest
from geolink.data.release_counts import check_release_counts
from geolink.rule_runner import run_logged


def main():
    dataset = snakemake.wildcards.dataset
    manifest = read_manifest(dataset, snakemake.params.root, **snakemake.params.options)
    summary = summarize_manifest(manifest)
    logging.info("%d images\n%s", len(manifest), summary.to_string())
    if snakemake.params.check_counts != "off":
        problems = check_release_counts(dataset, manifest, snakemake.params.options.get("heights"))
        if problems:
            message = (
                f"{DISPLAY_NAMES[dataset]} in {snakemake.params.root} differs from the published release: "
                f"{'; '.join(problems)}. An interrupted download or extraction, or another version of the "
                "dataset? Obtain it again (docs/data.md), or set manifest.check_counts: warn to go on anyway."
            )
            if snakemake.params.check_counts == "error":
                raise DatasetError(message, dataset=dataset)
            logging.warning("%s", message)
        else:
            logging.info("image counts match the published release")
    write_manifest(manifest, snakemake.output.manifest)
    summary.to_csv(snakemake.output.summary, index=False)


run_logged(snakemake.log[0], main)
