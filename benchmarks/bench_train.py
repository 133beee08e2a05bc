"""Benchmark: training step time and peak memory of the CPU models (issue: the GeoLink method).

One step = forward of drone and satellite images and point clouds, the vCLUB estimator step, the
total loss of eq. 15, backward, clipping and the AdamW update, exactly as ``geolink.train`` does,
on random inputs of the sizes a configuration's training run gets (``Pipeline.train_settings``:
batch, image side, vCLUB width, loss weights; ``points.n_points``). Peak memory is the process's
maximum resident set size (includes the Python interpreter and torch, about 0.4 GB).

    python benchmarks/bench_train.py                       # the synthetic run's model and its 2D baseline
    python benchmarks/bench_train.py --model geolink_tiny  # another registered model, same sizes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from geolink.losses import VCLUB, GeoLinkLoss
from geolink.models import create_model
from geolink.pipeline import Pipeline
from geolink.train import batch_losses

REPO = Path(__file__).resolve().parents[1]


def bench(name: str, batch: int, image_size: int, n_points: int, steps: int, hidden: int, loss_weights: dict) -> dict:
    torch.manual_seed(0)
    model = create_model(name)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    criterion = GeoLinkLoss(loss_weights)
    clubs = (
        {v: VCLUB(model.descriptor_dim, model.descriptor_dim, hidden) for v in ("dro", "sat")} if model.has_3d else {}
    )
    club_opt = torch.optim.Adam([p for c in clubs.values() for p in c.parameters()], lr=1e-4) if clubs else None
    drone, satellite = torch.randn(2, batch, 3, image_size, image_size).unbind(0)
    points = torch.nn.functional.normalize(torch.randn(batch, n_points, 3), dim=-1)
    times = []
    for step in range(steps + 2):  # two warm-up steps
        start = time.perf_counter()
        out = model(drone, satellite, points)
        losses = batch_losses(out, criterion, clubs, club_opt, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step >= 2:
            times.append(time.perf_counter() - start)
    times.sort()
    return {
        "model": name,
        "batch": batch,
        "image_size": image_size,
        "n_points": n_points,
        "step_s_median": round(times[len(times) // 2], 4),
        "step_s_min": round(times[0], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--configfile", nargs="+", default=["config/synthetic.yaml"], help="the configuration whose run is timed"
    )
    parser.add_argument("--source", default="sues200", help="the run's source dataset (default sues200)")
    parser.add_argument("--model", nargs="+", help="registered models (default: the run's and its baseline)")
    parser.add_argument("--batch", type=int, help="override the run's batch size (the recorded runs used 8)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--record", default=str(REPO / "benchmarks/results.jsonl"))
    args = parser.parse_args()
    pipeline = Pipeline.from_files(args.configfile, repo=REPO)
    _, variant, seed = next(run for run in pipeline.train_runs if run[0] == args.source)
    settings = pipeline.train_settings(args.source, variant, seed)
    name = settings["model"]["name"]
    models = args.model or [name, name.replace("geolink_", "baseline_")]
    sizes = {
        "batch": args.batch or settings["batch_size"],
        "image_size": settings["image_size"],
        "n_points": pipeline.points_settings()["n_points"],
        "hidden": settings["vclub"]["hidden_dim"],
        "loss_weights": settings["loss"]["weights"],
    }
    context = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "config": pipeline.name,
    }
    with open(args.record, "a") as record:
        for model in models:  # one model per run keeps the peak RSS per model when run separately
            result = bench(model, steps=args.steps, **sizes)
            print(json.dumps(result))
            record.write(json.dumps({**context, "what": "train_step", **result}) + "\n")


if __name__ == "__main__":
    main()
