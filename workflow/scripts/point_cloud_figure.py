"""Draw a few point clouds per dataset (rule point_cloud_figure)."""

from pathlib import Path

import pandas as pd

from geolink.plots.point_clouds import plot_point_clouds
from geolink.rule_runner import run_logged


def main():
    datasets = snakemake.params.settings["datasets"]
    shards = {d: [s for s in snakemake.input.shards if Path(s).parent.name == d] for d in datasets}
    qc = {d: pd.read_csv(path, dtype={"location": str}) for d, path in zip(datasets, snakemake.input.qc, strict=True)}
    plot_point_clouds(shards, qc, snakemake.output.figure)


run_logged(snakemake.log[0], main, snakemake.output)
