"""Benchmark: the training recipe's defaults against the previous ones and the 2D baseline, over seeds.

Runs the workflow with ``config/synthetic.yaml`` + ``config/synthetic_recipe.yaml`` (outputs under
``results/synthetic_recipe/``): University-1652 as the source, three variants (``geolink``: the full method with
today's defaults; ``previous_defaults``: the recipe before issue 11; ``baseline_2d``: the 2D model alone) and
three seeds, each run evaluated on all three synthetic datasets in both directions. It then summarises Recall@1
and AP (SUES-200: the mean of its four heights) per variant, target and direction as the mean and standard
deviation over seeds with a 95 % t-interval of the mean, appends one JSON line (what="recipe") to
benchmarks/results.jsonl and prints the Markdown table that docs/method.md quotes.

    python benchmarks/bench_recipe.py              # run (about half an hour on 2 cores) and record
    python benchmarks/bench_recipe.py --no-run     # summarise the metrics already under results/synthetic_recipe/
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ["config/synthetic.yaml", "config/synthetic_recipe.yaml"]
NAME = "synthetic_recipe"


def run_workflow(cores: int) -> float:
    """Build every run's metrics through Snakemake; return the wall time in seconds."""
    target = f"results/{NAME}/tables/metrics.csv"
    command = [str(Path(sys.executable).parent / "snakemake"), "--cores", str(cores), target, "--configfile", *CONFIGS]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - start


def interval(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the 95 % t-interval of the mean (Student's t, n - 1 dof)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan"), float("nan"), float("nan")
    std = statistics.stdev(values)
    half = stats.t.ppf(0.975, len(values) - 1) * std / len(values) ** 0.5
    return mean, std, mean - half, mean + half


def summarise() -> list[dict]:
    """One row per (variant, target, direction, metric): values per seed and their interval."""
    values: dict[tuple, dict[int, float]] = {}
    for path in sorted((REPO / f"results/{NAME}/metrics").glob("*/*.json")):
        result = json.loads(path.read_text())
        run = result["run"]
        for record in result["records"]:
            if record.get("height") not in (None, "mean"):  # SUES-200: the mean of its heights, as the paper
                continue
            if record.get("condition", "clean") != "clean":
                continue
            for metric in ("R@1", "AP"):
                key = (run["variant"], record["target"], record["direction"], metric)
                values.setdefault(key, {})[run["seed"]] = record[metric]
    rows = []
    for (variant, target, direction, metric), by_seed in sorted(values.items()):
        mean, std, low, high = interval(list(by_seed.values()))
        rows.append(
            {
                "variant": variant,
                "target": target,
                "direction": direction,
                "metric": metric,
                "seeds": sorted(by_seed),
                "values": [round(by_seed[s], 2) for s in sorted(by_seed)],
                "mean": round(mean, 2),
                "std": round(std, 2),
                "ci95": [round(low, 2), round(high, 2)],
            }
        )
    return rows


def markdown(rows: list[dict], metric: str = "R@1") -> str:
    """Variants as columns, (target, direction) as rows: mean ± std [95 % interval]."""
    variants = sorted({r["variant"] for r in rows})
    cells = {(r["target"], r["direction"], r["variant"]): r for r in rows if r["metric"] == metric}
    lines = [f"| target | direction | {' | '.join(variants)} |", "|---|---|" + "---|" * len(variants)]
    for target, direction in sorted({(t, d) for t, d, _ in cells}):
        entries = []
        for variant in variants:
            r = cells.get((target, direction, variant))
            entries.append(
                "" if r is None else f"{r['mean']:.1f} ± {r['std']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]"
            )
        lines.append(f"| {target} | {direction.replace('_', ' ')} | {' | '.join(entries)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-run", action="store_true", help="only summarise the existing metrics")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--record", default=str(REPO / "benchmarks/results.jsonl"), help="JSON-lines file to append to")
    args = parser.parse_args()
    seconds = None if args.no_run else run_workflow(args.cores)
    rows = summarise()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {len(__import__('os').sched_getaffinity(0))} cpus",
        "python": platform.python_version(),
        "what": "recipe",
        "commit": commit.stdout.strip(),
        "configs": CONFIGS,
        "seconds": None if seconds is None else round(seconds, 1),
        "rows": rows,
    }
    with open(args.record, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(markdown(rows, "R@1"))
    print()
    print(markdown(rows, "AP"))


if __name__ == "__main__":
    main()
