"""Evaluate one run on one target dataset, both directions (rule evaluate)."""

import json

from geolink.atomic import atomic_output
from geolink.data.manifest import load_manifest
from geolink.evaluation.run import evaluate_checkpoint
from geolink.rule_runner import run_logged
from geolink.train import select_device


def main():
    params = snakemake.params.evaluate
    records, checkpoint = evaluate_checkpoint(
        snakemake.input.checkpoint,
        load_manifest(snakemake.input.manifest),
        directions=params["directions"],
        protocol=params["protocol"],
        batch_size=params["batch_size"],
        device=select_device("auto"),
    )
    w = snakemake.wildcards
    run = {
        "source": w.source,
        "variant": w.variant,
        "seed": int(w.seed),
        "checkpoint": params["checkpoint"],
        "epoch": checkpoint["epoch"],
        "val_recall@1": checkpoint["val_recall@1"],
    }
    with atomic_output(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps({"run": run, "records": records}, indent=2, default=float))


run_logged(snakemake.log[0], main)
