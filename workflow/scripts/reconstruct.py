"""Reconstruct one shard of a dataset's training locations (rule reconstruct)."""

from geolink.data.manifest import load_manifest
from geolink.recon.run import reconstruct_shard
from geolink.rule_runner import run_logged


def main():
    settings = dict(snakemake.params.settings)
    settings["options"] = {**settings["options"], "threads": snakemake.threads, "log_path": snakemake.log.colmap}
    manifest = load_manifest(snakemake.input.manifest)
    reconstruct_shard(manifest, snakemake.wildcards.dataset, snakemake.output.shard, **settings)


run_logged(snakemake.log.main, main, snakemake.output)
