"""Render one synthetic dataset tree (rule synth)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - progress bars and errors go to the rule's log

from geolink.synth import generate  # noqa: E402

generate(snakemake.wildcards.dataset, snakemake.output.tree, workers=snakemake.threads, **snakemake.params.options)  # noqa: F821
