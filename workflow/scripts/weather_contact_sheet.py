"""Draw the weather contact sheet of one dataset (rule weather_contact_sheet)."""

from geolink.data.manifest import load_manifest
from geolink.plots.weather_sheet import weather_sheet
from geolink.rule_runner import run_logged


def main():
    settings = snakemake.params.settings
    clean = load_manifest(snakemake.input.manifest)
    clean = clean[clean["split"] == settings["split"]]
    weather = {c: load_manifest(p) for c, p in zip(settings["conditions"], snakemake.input.weather, strict=True)}
    weather_sheet(clean, weather, snakemake.output.figure)


run_logged(snakemake.log[0], main, snakemake.output)
