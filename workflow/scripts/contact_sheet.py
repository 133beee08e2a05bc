"""Draw the synthetic benchmark's contact sheet (rule contact_sheet)."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821

from geolink.data.manifest import load_manifest  # noqa: E402
from geolink.plots.contact_sheet import contact_sheet  # noqa: E402

manifests = [load_manifest(path) for path in snakemake.input.manifests]  # noqa: F821
contact_sheet(manifests, snakemake.output.figure)  # noqa: F821
