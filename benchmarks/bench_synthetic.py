"""Benchmark: generating the default synthetic benchmark, and the whole synthetic pipeline.

Targets (DEVELOPERS brief, issue 2): generation under 2 minutes on 2 cores; the whole
`snakemake --configfile config/synthetic.yaml` under 10 minutes on 2 cores as stages are added.
Results are appended to benchmarks/results.jsonl and summarised in benchmarks/README.md by hand.

    python benchmarks/bench_synthetic.py                # both measurements
    python benchmarks/bench_synthetic.py --only synth   # generation only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from geolink.config import load_config
from geolink.synth import generate

REPO = Path(__file__).resolve().parents[1]


def tree_stats(root: Path) -> dict:
    files = [p for p in root.rglob("*") if p.is_file()]
    images = [p for p in files if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".tif"}]
    return {"files": len(files), "images": len(images), "bytes": sum(p.stat().st_size for p in files)}


def bench_synth(workers: int) -> dict:
    config = load_config(REPO / "config/config.yaml", REPO / "config/synthetic.yaml")
    synth = config["synth"]
    per_dataset = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for dataset in ("university1652", "sues200", "denseuav"):
            t0 = time.perf_counter()
            generate(
                dataset,
                Path(tmp) / dataset,
                seed=config["seed"],
                image_size=synth["image_size"],
                geometry_points=synth["geometry_points"],
                workers=workers,
                **synth[dataset],
            )
            per_dataset[dataset] = {"seconds": round(time.perf_counter() - t0, 2), **tree_stats(Path(tmp) / dataset)}
        total = time.perf_counter() - start
    return {
        "what": "synth",
        "workers": workers,
        "seconds": round(total, 2),
        "images": sum(d["images"] for d in per_dataset.values()),
        "megabytes": round(sum(d["bytes"] for d in per_dataset.values()) / 1e6, 1),
        "datasets": per_dataset,
    }


def bench_pipeline(cores: int) -> dict:
    snakemake = Path(sys.executable).parent / "snakemake"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("Snakefile", "workflow", "config", "profiles", "envs", "src"):
            source = REPO / name
            copy = shutil.copytree if source.is_dir() else shutil.copy2
            copy(source, Path(tmp) / name, **({"symlinks": True} if source.is_dir() else {}))
        start = time.perf_counter()
        result = subprocess.run(
            [str(snakemake), "--cores", str(cores), "--configfile", "config/synthetic.yaml", "--quiet"],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"pipeline failed:\n{result.stderr[-3000:]}")
        jobs = sum(1 for _ in (Path(tmp) / "logs").rglob("*.log"))
    return {"what": "pipeline", "cores": cores, "seconds": round(seconds, 2), "logged_jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("synth", "pipeline"), help="run one measurement")
    parser.add_argument("--workers", type=int, default=2, help="processes / cores (default 2, the target machine)")
    parser.add_argument("--record", default=str(REPO / "benchmarks/results.jsonl"), help="JSON-lines file to append to")
    args = parser.parse_args()
    context = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "python": platform.python_version(),
    }
    results = []
    if args.only in (None, "synth"):
        results.append(bench_synth(args.workers))
    if args.only in (None, "pipeline"):
        results.append(bench_pipeline(args.workers))
    with open(args.record, "a") as record:
        for result in results:
            print(json.dumps(result, indent=2))
            record.write(json.dumps({**context, **result}) + "\n")


if __name__ == "__main__":
    main()
