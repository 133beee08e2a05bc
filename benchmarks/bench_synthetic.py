"""Benchmark: generating the default synthetic benchmark, and the whole synthetic pipeline from a fresh clone.

Targets (DEVELOPERS brief, issue 2): generation under 2 minutes on 2 cores; the whole synthetic `all` under
10 minutes on 2 cores as stages are added. The pipeline measurement clones the repository's HEAD into a
temporary folder and runs what `make synthetic` runs there (Snakemake, `dvc commit`, then `geolink report`)
with this environment's tools, then calls Snakemake, DVC and the report again, which must have nothing to do.
Results are appended to benchmarks/results.jsonl and summarised in benchmarks/README.md by hand.

    python benchmarks/bench_synthetic.py                   # both measurements
    python benchmarks/bench_synthetic.py --only synth      # generation only
    python benchmarks/bench_synthetic.py --only pipeline   # the fresh-clone pipeline only
    python benchmarks/bench_synthetic.py --only plan       # the paper's dry run in a fresh clone, without data
    python benchmarks/bench_synthetic.py --only transfer   # Recall@1 of the finished run in results/synthetic/
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_train import bench as train_step_bench  # benchmarks/ is on sys.path when this script runs

from geolink.pipeline import Pipeline
from geolink.synth import generate

REPO = Path(__file__).resolve().parents[1]


def tree_stats(root: Path) -> dict:
    files = [p for p in root.rglob("*") if p.is_file()]
    images = [p for p in files if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".tif"}]
    return {"files": len(files), "images": len(images), "bytes": sum(p.stat().st_size for p in files)}


def bench_synth(workers: int) -> dict:
    pipeline = Pipeline.from_files(["config/synthetic.yaml"], repo=REPO)
    per_dataset = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for dataset in pipeline.synthetic_datasets:
            t0 = time.perf_counter()
            generate(dataset, Path(tmp) / dataset, workers=workers, **pipeline.synth_settings(dataset))
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


def timed(args: list[str], cwd: str) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"`{' '.join(args)}` failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return round(seconds, 2), result.stdout + result.stderr


def transfer_summary(metrics_csv: Path) -> dict:
    """Recall@1 (percent) per variant and source -> target, [drone -> satellite, satellite -> drone] (SkyLink's
    street runs: [street -> satellite, satellite -> street]), on the clean test sets; SUES-200: the mean of its
    heights."""
    import pandas as pd

    table = pd.read_csv(metrics_csv, dtype={"height": str}).fillna({"height": ""})
    table = table[table["height"].isin(["", "mean"])]
    if "condition" in table:  # the clean test sets; weather is Table 4's
        table = table[table["condition"] == "clean"]
    if "variant" not in table:
        table = table.assign(variant="geolink")
    summary: dict = {}
    for (variant, source, target), rows in table.groupby(["variant", "source", "target"], sort=False):
        by_direction = dict(zip(rows["direction"], rows["R@1"], strict=True))
        pair = ("drone_to_satellite", "satellite_to_drone")
        if "street_to_satellite" in by_direction:
            pair = ("street_to_satellite", "satellite_to_street")
        summary.setdefault(variant, {})[f"{source}->{target}"] = [round(by_direction[d], 2) for d in pair]
    return summary


def rule_seconds(snakemake_log: Path) -> dict:
    """Seconds of job time per rule (start to finish of each job, summed; two run side by side) from a Snakemake
    log: where the budget goes. ``{rule: [jobs, seconds]}``, the largest first; training per variant
    (``train <variant>``), since the variants' costs differ most."""
    stamp = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
    started: dict[str, tuple[str, datetime]] = {}
    totals: dict[str, list] = {}
    now = rule = job = None
    for line in snakemake_log.read_text().splitlines():
        if match := stamp.match(line):
            now = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = match.group(1)
        elif (match := re.match(r"^\s+jobid: (\d+)$", line)) and rule:
            started[match.group(1)], job, rule = (rule, now), match.group(1), None
        elif (match := re.match(r"^\s+wildcards: .*variant=(\w+)", line)) and started.get(job, ("",))[0] == "train":
            started[job] = (f"train {match.group(1)}", started[job][1])
        elif (match := re.match(r"^Finished jobid: (\d+)", line)) and match.group(1) in started:
            name, start = started.pop(match.group(1))
            jobs, seconds = totals.get(name, [0, 0.0])
            totals[name] = [jobs + 1, seconds + (now - start).total_seconds()]
    return dict(sorted(totals.items(), key=lambda item: -item[1][1]))


def skylink_summary(table_csv: Path) -> dict:
    """The SkyLink table's Recall@1 with its 95 % bootstrap interval over test queries, per variant and direction:
    ``{variant: {direction: [R@1, low, high]}}`` (percent; empty when the configuration trains no SkyLink)."""
    import pandas as pd

    if not table_csv.exists():
        return {}
    table = pd.read_csv(table_csv)
    rows = table[(table["metric"] == "R@1") & table["ours_mean"].notna()]
    summary: dict = {}
    for row in rows.itertuples():
        cell = [round(value, 2) for value in (row.ours_mean, row.ci_low, row.ci_high)]
        summary.setdefault(row.variant, {})[row.direction] = cell
    return summary


def locate_summary(summary_json: Path) -> dict:
    """The locate stage's error figures (metres, shares) for torch and ONNX (and for the untuned checkpoint when the
    stage tuned it), the random-tile level and whether the two runtimes gave the same answers (empty when the
    configuration has no locate stage)."""
    if not summary_json.exists():
        return {}
    summary = json.loads(summary_json.read_text())
    keys = ("median_m", "p90_m", "within_25m", "within_50m")
    runtimes = [r for r in ("torch", "onnx", "untuned") if r in summary]
    figures = {runtime: {k: round(summary[runtime][k], 3) for k in keys} for runtime in runtimes}
    return {
        **figures,
        "n_photos": summary["torch"]["n_with_gps"],
        "n_tiles": summary["n_tiles"],
        "chance_median_m": round(summary["chance_median_m"], 1),
        "same_answers": summary["agreement"]["same_answers"],
    }


def bench_transfer() -> dict:
    """The transfer table of the synthetic run finished in this checkout (`make synthetic`)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    pipeline = Pipeline.from_files(["config/synthetic.yaml"], repo=REPO)
    return {
        "what": "synthetic_transfer",
        "commit": commit.stdout.strip(),
        "recall_at_1": transfer_summary(REPO / pipeline.layout.table("metrics", "csv")),
    }


def bench_pipeline(cores: int, keep_figures: str | None = None) -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    configs = ["--configfile", "config/synthetic.yaml"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "clone", "-q", str(REPO), tmp], check=True)
        _, plan = timed(["snakemake", *configs, "-n"], tmp)
        jobs = int(re.search(r"^total\s+(\d+)$", plan, flags=re.MULTILINE).group(1))  # Snakemake's count, `all` too
        profile = ["--workflow-profile", "profiles/cpu"]  # as `make synthetic`
        snakemake_s, _ = timed(["snakemake", *profile, "--cores", str(cores), *configs], tmp)  # its log: rule_seconds
        commit_s, _ = timed(["dvc", "commit", "--force", "--quiet", "--no-relink", "dvc.yaml"], tmp)
        report_s, _ = timed(["geolink", "report", *configs], tmp)
        report_again_s, report_again = timed(["geolink", "report", *configs], tmp)
        report_mb = (Path(tmp) / "results/synthetic/report.html").stat().st_size / 1e6
        again_s, again = timed(["snakemake", "--cores", str(cores), *configs, "-n"], tmp)
        _, status = timed(["dvc", "status", "dvc.yaml"], tmp)
        transfer = transfer_summary(Path(tmp) / "results/synthetic/tables/metrics.csv")
        skylink = skylink_summary(Path(tmp) / "results/synthetic/tables/skylink.csv")
        locate = locate_summary(Path(tmp) / "results/synthetic/locate/summary.json")
        per_rule = rule_seconds(max((Path(tmp) / ".snakemake/log").glob("*.snakemake.log"), key=os.path.getsize))
        if keep_figures:  # the figures of this very run, e.g. for a picture in docs/ that matches the record
            Path(keep_figures).mkdir(parents=True, exist_ok=True)
            for figure in (Path(tmp) / "results/synthetic/figures").glob("*.png"):
                shutil.copy2(figure, Path(keep_figures) / figure.name)
    # The machine's speed beside the time (machines here differ up to 2x): one training step of the CPU model at
    # batch 8, comparable with the `train_step` records of bench_train.py.
    machine = train_step_bench(
        "geolink_tiny_cnn", batch=8, image_size=128, n_points=512, steps=20, hidden=256, loss_weights={"sc": 0.5}
    )
    return {
        "what": "make_synthetic_fresh_clone",
        "commit": commit.stdout.strip(),
        "cores": cores,
        "jobs": jobs,
        "seconds": round(snakemake_s + commit_s + report_s, 2),
        "snakemake_seconds": snakemake_s,
        "dvc_commit_seconds": commit_s,
        "report_seconds": report_s,
        "report_megabytes": round(report_mb, 1),
        "second_call": "Nothing to be done" in again and "is up to date" in report_again,
        "second_report_seconds": report_again_s,
        "second_call_seconds": again_s,
        "dvc_status_clean": "Data and pipelines are up to date" in status,
        "recall_at_1": transfer,
        "skylink_recall_at_1_ci": skylink,
        "locate": locate,
        "rule_jobs_seconds": per_rule,
        "machine_train_step_s": machine["step_s_median"],
    }


def bench_plan(repeats: int = 3) -> dict:
    """`snakemake -n` of the paper configuration in a fresh clone without any dataset (target: under 10 s)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "clone", "-q", str(REPO), tmp], check=True)
        runs = [timed(["snakemake", "-n"], tmp) for _ in range(repeats)]
    plan = runs[0][1]
    return {
        "what": "paper_dry_run",
        "commit": commit.stdout.strip(),
        "jobs": int(re.search(r"^total\s+(\d+)$", plan, flags=re.MULTILINE).group(1)),
        "missing_inputs": plan.count("Missing input (a real run stops here)"),
        "seconds": sorted(seconds for seconds, _ in runs)[len(runs) // 2],
        "seconds_all": [seconds for seconds, _ in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("synth", "pipeline", "plan", "transfer"), help="run one measurement")
    parser.add_argument("--workers", type=int, default=2, help="processes / cores (default 2, the target machine)")
    parser.add_argument("--record", default=str(REPO / "benchmarks/results.jsonl"), help="JSON-lines file to append to")
    parser.add_argument("--keep-figures", metavar="DIR", help="copy the pipeline run's figures into DIR")
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
        results.append(bench_pipeline(args.workers, args.keep_figures))
    if args.only in (None, "plan"):
        results.append(bench_plan())
    if args.only == "transfer":
        results.append(bench_transfer())
    with open(args.record, "a") as record:
        for result in results:
            print(json.dumps(result, indent=2))
            record.write(json.dumps({**context, **result}) + "\n")


if __name__ == "__main__":
    main()
