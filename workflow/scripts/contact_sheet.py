"""Draw the synthetic benchmark's contact sheet (rule contact_sheet)."""

from geolink.data.manifest import load_manifest
from geolink.plots.contact_sheet import contact_sheet
from geolink.rule_runner import run_logged


def main():
    contact_sheet([load_manifest(path) for path in snakemake.input.manifests], snakemake.output.figure)


run_logged(snakemake.log[0], main, snakemake.output)
