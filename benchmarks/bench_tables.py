"""Benchmark: Table 5 (the ablation) over seeds on the synthetic benchmark, and why the 3D terms do what they do.

Runs the whole workflow with ``config/synthetic.yaml`` + ``config/synthetic_seeds.yaml`` (outputs under
``results/synthetic_seeds/``): SUES-200 as the source, the 2D baseline, the 3D branch with L_cc only and every
combination of L_ga, L_sc and L_rd, three seeds each, 30 epochs. Then it reads back

- Table 5's re-run rows (``tables/table5.csv``: mean ± std over seeds, the 95 % bootstrap interval over test
  queries) and the in-domain SUES-200 rows of Table 2 for GeoLink and the 2D baseline;
- each run's epoch losses (``train_logs/<run>/plots/metrics/epoch_loss``): the InfoNCE terms of the first and
  last epoch beside log(batch size), the value of an InfoNCE whose scores carry no information;
- a probe of the SUES-200 point bank: whether untrained Point-NN features tell its locations apart;

appends one JSON line (what="seeds_tables") to benchmarks/results.jsonl and prints the Markdown that
docs/method.md quotes.

    python benchmarks/bench_tables.py              # run (about 15 minutes on 2 cores) and record
    python benchmarks/bench_tables.py --no-run     # summarise what is already under results/synthetic_seeds/
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ["config/synthetic.yaml", "config/synthetic_seeds.yaml"]
NAME = "synthetic_seeds"
TERMS = ["cc_dro_sat", "cc_dro_pc", "cc_sat_pc", "sc_dro", "sc_sat", "sc_pc", "ga", "rd", "total"]


def run_workflow(cores: int) -> float:
    """Build every product of the configuration through Snakemake; return the wall time in seconds."""
    snakemake = str(Path(sys.executable).parent / "snakemake")
    command = [snakemake, "--workflow-profile", "profiles/cpu", "--cores", str(cores), "--configfile", *CONFIGS]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - start


def table_rows() -> list[dict]:
    """Table 5's re-run rows and Table 2's in-domain SUES-200 rows of GeoLink and CV-Cities (R@1 and AP)."""
    root = REPO / f"results/{NAME}/tables"
    table5 = pd.read_csv(root / "table5.csv")
    table2 = pd.read_csv(root / "table2.csv")
    in_domain = table2[(table2["setting"] == "SUES→SUES D→S") & table2["row"].isin(["GeoLink", "CV-Cities"])]
    rows = []
    for frame in (table5[table5["status"] == "re-run here"], in_domain):
        for r in frame.itertuples():
            if math.isnan(r.ours_mean):
                continue
            rows.append(
                {
                    "table": int(r.table),
                    "row": r.row,
                    "variant": r.variant,
                    "setting": r.setting,
                    "metric": r.metric,
                    "paper": None if math.isnan(r.paper) else r.paper,
                    "mean": round(r.ours_mean, 2),
                    "std": None if math.isnan(r.ours_std) else round(r.ours_std, 2),
                    "ci95": [round(r.ci_low, 2), round(r.ci_high, 2)],
                    "n_seeds": int(r.n_seeds),
                }
            )
    return rows


def loss_rows() -> list[dict]:
    """Per variant: each InfoNCE-type term at the first and last epoch, mean over seeds, and log(batch)."""
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    batch = {}
    for log_dir in sorted((REPO / f"results/{NAME}/train_logs").iterdir()):
        source, variant, _ = log_dir.name.split("__")
        checkpoint = REPO / f"results/{NAME}/checkpoints/{log_dir.name}/last.pt"
        if checkpoint.is_file():
            from geolink.checkpoint import load_checkpoint

            batch[variant] = load_checkpoint(checkpoint, map_location="cpu")["settings"]["batch_size"]
        for term in TERMS:
            path = log_dir / "plots" / "metrics" / "epoch_loss" / f"{term}.tsv"
            if path.is_file():
                series = pd.read_csv(path, sep="\t")[term]
                entry = values.setdefault((variant, term), {"first": [], "last": []})
                entry["first"].append(float(series.iloc[0]))
                entry["last"].append(float(series.iloc[-1]))
    rows = []
    for (variant, term), entry in sorted(values.items()):
        rows.append(
            {
                "variant": variant,
                "term": term,
                "first_epoch": round(sum(entry["first"]) / len(entry["first"]), 3),
                "last_epoch": round(sum(entry["last"]) / len(entry["last"]), 3),
                "n_seeds": len(entry["last"]),
                "log_batch": round(math.log(batch[variant]), 3) if variant in batch else None,
            }
        )
    return rows


def point_probe(dataset: str = "sues200") -> dict:
    """Do the synthetic clouds tell locations apart before any training? Point-NN (no parameters) features of
    draw 0 of every cloud of the configuration's point bank, as the 3D branch of the synthetic model computes them:
    the mean cosine between clouds of different locations, and how often the nearest other cloud is one of the
    same location, raw and after standardising each feature dimension over the dataset (chance: the share of
    same-location clouds among the others)."""
    import numpy as np
    import torch

    from geolink.models import create_model
    from geolink.points import load_point_bank

    bank = load_point_bank(REPO / f"results/{NAME}/points/{dataset}.npz")
    locations = np.array([key.split("_group")[0] for key in bank.keys])
    encoder = create_model("geolink_tiny_cnn", pretrained=False, img_size=64).point_encoder.eval()
    with torch.no_grad():
        raw = encoder(torch.from_numpy(np.asarray(bank.draws[:, 0])).float()).numpy().astype(np.float64)
    same = locations[:, None] == locations[None, :]
    others = ~np.eye(len(locations), dtype=bool)

    def nearest_same(features: np.ndarray) -> tuple[float, float]:
        unit = features / np.linalg.norm(features, axis=1, keepdims=True)
        similarity = unit @ unit.T
        nearest = np.where(others, similarity, -np.inf).argmax(axis=1)
        return float(similarity[~same].mean()), float((locations[nearest] == locations).mean())

    raw_cos, raw_nn = nearest_same(raw)
    z_cos, z_nn = nearest_same((raw - raw.mean(axis=0)) / (raw.std(axis=0) + 1e-6))
    return {
        "dataset": dataset,
        "clouds": len(locations),
        "mean_cos_other_location": {"raw": round(raw_cos, 4), "standardised": round(z_cos, 4)},
        "nearest_is_same_location": {"raw": round(raw_nn, 3), "standardised": round(z_nn, 3)},
        "chance": round(float((same & others).sum(axis=1).mean() / (len(locations) - 1)), 3),
    }


def markdown(rows: list[dict], losses: list[dict]) -> str:
    lines = ["| row | setting | metric | ours (mean ± std, seeds) | 95 % CI |", "|---|---|---|---|---|"]
    for r in rows:
        ours = f"{r['mean']:.1f} ± {r['std']:.1f} ({r['n_seeds']})" if r["std"] is not None else f"{r['mean']:.1f}"
        lines.append(
            f"| {r['row']} | {r['setting']} | {r['metric']} | {ours} | [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] |"
        )
    lines += ["", "| variant | term | first epoch | last epoch | log(batch) |", "|---|---|---|---|---|"]
    for r in losses:
        if r["term"].startswith("cc_") or r["term"] == "sc_pc":
            lines.append(
                f"| {r['variant']} | {r['term']} | {r['first_epoch']:.3f} | {r['last_epoch']:.3f} | {r['log_batch']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-run", action="store_true", help="only summarise the existing products")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--record", default=str(REPO / "benchmarks/results.jsonl"), help="JSON-lines file to append to")
    args = parser.parse_args()
    seconds = None if args.no_run else run_workflow(args.cores)
    rows, losses, probe = table_rows(), loss_rows(), point_probe()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {len(os.sched_getaffinity(0))} cpus",
        "python": platform.python_version(),
        "what": "seeds_tables",
        "commit": commit.stdout.strip(),
        "configs": CONFIGS,
        "seconds": None if seconds is None else round(seconds, 1),
        "tables": rows,
        "losses": losses,
        "point_probe": probe,
    }
    with open(args.record, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(markdown(rows, losses))
    print(json.dumps(probe))


if __name__ == "__main__":
    main()
