"""Benchmark: the training image augmentation (``geolink.data.augment``), its cost and its effect on the synthetic run.

``--only cost``: CPU time per image of each stack (``train.augmentation.stack``: official, flip_rot90), joint flip
included, on one PyTorch thread as in a DataLoader worker: at the synthetic run's 128 px (from 128 px images) and
at the paper's 448 px (from 512 px images, the real datasets' size). The images are the synthetic SUES-200 drone
renders when the synthetic pipeline has run, otherwise textured noise.

``--only synthetic``: the synthetic run of ``--source`` trained once per stack and seed, with everything else as
``config/synthetic.yaml`` sets it, and its ``best.pt`` evaluated drone -> satellite on every synthetic dataset
(Recall@1 in percent; SUES-200: mean of the heights). Needs the synthetic pipeline's manifests and point banks
(``make synthetic``); writes checkpoints under a temporary folder.

    python benchmarks/bench_augment.py --only cost
    python benchmarks/bench_augment.py --only synthetic --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from geolink.config import load_config, validate_config
from geolink.data.augment import STACKS, build_augment
from geolink.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config/synthetic.yaml"


def images(side: int, n: int = 20) -> list[Image.Image]:
    found = sorted(REPO.glob("data/synthetic/prepared/sues200/Testing/300/gallery_drone/*/0.jpg"))[:n]
    if found:
        return [Image.open(p).convert("RGB").resize((side, side), Image.BICUBIC) for p in found]
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)) for _ in range(n)]


def cost(repeats: int = 3) -> list[dict]:
    torch.set_num_threads(1)
    results = []
    for size, side, n in ((128, 128, 300), (448, 512, 150)):
        pictures = images(side)
        for stack in STACKS:
            settings = validate_config(
                {"name": "bench", "train": {"image_size": size, "augmentation": {"stack": stack}}}
            )
            augment = build_augment(settings["train"])
            runs = []
            for repeat in range(repeats):
                start = time.process_time()
                for i in range(n):
                    augment(
                        pictures[i % len(pictures)],
                        pictures[(i + 1) % len(pictures)],
                        np.random.default_rng([repeat, i]),
                    )
                runs.append((time.process_time() - start) / (2 * n) * 1000)
            results.append(
                {
                    "stack": stack,
                    "image_size": size,
                    "source_px": side,
                    "ms_per_image": round(min(runs), 3),
                    "runs_ms": [round(r, 3) for r in runs],
                }
            )
            print(json.dumps(results[-1]), flush=True)
    return results


def synthetic(source: str, seeds: list[int], device: str) -> list[dict]:
    from geolink.evaluation.run import evaluate_to_file
    from geolink.train import train

    raw = load_config(CONFIG)
    raw["train"]["variants"] = {stack: {"augmentation": {"stack": stack}} for stack in STACKS}
    raw["train"]["seeds"] = seeds
    pipeline = Pipeline(validate_config(raw))
    layout = pipeline.layout
    targets = list(pipeline.datasets)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for seed in seeds:
            for stack in STACKS:
                out = f"{work}/{stack}_s{seed}"
                start = time.time()
                settings = pipeline.train_settings(source, stack, seed)
                summary = train(
                    settings, layout.manifest(source), layout.point_bank(source), out, f"{out}_logs", device=device
                )
                seconds = time.time() - start
                recall = {}
                for target in targets:
                    records = evaluate_to_file(
                        f"{out}/best.pt",
                        layout.manifest(target),
                        f"{out}_{target}.json",
                        run={"source": source, "variant": stack, "seed": seed},
                        device=device,
                        **{k: v for k, v in pipeline.evaluate_settings(source, "geolink").items() if k != "targets"},
                    )
                    d2s = [r["R@1"] for r in records if r["direction"] == "drone_to_satellite"]
                    recall[f"{source}->{target}"] = round(sum(d2s) / len(d2s), 2)
                results.append(
                    {
                        "stack": stack,
                        "seed": seed,
                        "train_s": round(seconds, 1),
                        "best_epoch": summary["best_epoch"],
                        "recall_at_1": recall,
                    }
                )
                print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["cost", "synthetic"], default="cost")
    parser.add_argument("--source", default="university1652", help="the synthetic run's source (--only synthetic)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (--only synthetic)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--record", default=str(REPO / "benchmarks/results.jsonl"))
    args = parser.parse_args()
    context = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "python": platform.python_version(),
    }
    if args.only == "cost":
        record = {**context, "what": "augment_cost", "threads": 1, "results": cost()}
    else:
        record = {
            **context,
            "what": "augment_synthetic",
            "source": args.source,
            "results": synthetic(args.source, args.seeds, args.device),
        }
    with open(args.record, "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
