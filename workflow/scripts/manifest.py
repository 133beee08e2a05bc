"""Index one dataset tree into a manifest table (rule manifest)."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
logging.basicConfig(stream=sys.stderr, level=logging.INFO)

from geolink.data.manifest import read_manifest, summarize_manifest, write_manifest  # noqa: E402

manifest = read_manifest(snakemake.wildcards.dataset, snakemake.params.root, **snakemake.params.options)  # noqa: F821
summary = summarize_manifest(manifest)
logging.info("%d images\n%s", len(manifest), summary.to_string())
write_manifest(manifest, snakemake.output.manifest)  # noqa: F821
summary.to_csv(snakemake.output.summary, index=False)  # noqa: F821
