"""Benchmark: does the input pipeline keep a GPU fed? Training samples per second per CPU core at 448 px, and
how many DataLoader workers one GPU needs.

A training sample (``geolink.data.pairs.CrossViewPairs``) is a drone and a satellite JPEG decoded, resized and
augmented to 448 px (the paper's size) with the configured stack (``official`` or ``flip_rot90``), plus a point
cloud drawn from the bank (a copy of N x 3 floats: negligible here, so left out). Measured here:

* ``decode_ms``: one 512 x 512 JPEG (University-1652 and SUES-200 images are 512 px) decoded to RGB by the
  training path (Pillow, ``geolink.data.images.decode_rgb``) and by torchvision's libjpeg-turbo decoder
  (``torchvision.io.decode_jpeg``), one thread each;
* ``samples_per_s_per_core``: whole samples through ``CrossViewPairs.__getitem__`` in one process on one torch
  thread, as a DataLoader worker runs them;
* ``loader_samples_per_s``: batches of 16 through a ``DataLoader`` with every core a worker (prefetch 4,
  persistent workers, pinned memory where CUDA is present), the end-to-end rate this machine sustains.

The GPU side is a model, the one ``geolink plan`` uses: a training step costs three forward passes (forward, and
backward at twice it) of both images of each sample, a forward pass of the paper's GeoLink image encoder at 448
px costs ``geolink.plan.forward_flops`` (DINOv2-B with attention; Table 6 counts 91.72 GMACs without attention
matmuls), and a GPU sustains ``geolink.plan.DEFAULT_TFLOPS`` (60 TFLOP/s, a third of an RTX 4090's dense bf16)
or a third of an H100 SXM's 989 dense bf16 TFLOP/s. Workers per GPU = GPU samples/s / samples/s per core,
rounded up. Appends one JSON line (what="input_pipeline") to benchmarks/results.jsonl.

    python benchmarks/bench_input.py
    python benchmarks/bench_input.py --samples 100 --no-record
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 448
SOURCE_PX = 512
#: Sustained bf16 TFLOP/s of the GPUs the estimate is given for (a third of the dense bf16 peak, as geolink.plan).
GPUS = {"plan default (RTX 4090 class)": 60.0, "H100 SXM (989 dense bf16 / 3)": 989.0 / 3}


def write_images(folder: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` 512 px JPEGs (quality 90) with photo-like content: smooth shapes plus fine texture, not pure noise,
    whose entropy would make the decoder's work unrealistically high."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        coarse = rng.random((8, 8, 3)) * 255
        image = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((SOURCE_PX, SOURCE_PX), Image.BICUBIC))
        texture = rng.normal(0, 12, (SOURCE_PX, SOURCE_PX, 3))
        pixels = np.clip(image + texture, 0, 255).astype(np.uint8)
        path = folder / f"{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def decode_ms(paths: list[str], repeats: int = 3) -> dict:
    """Milliseconds per image, best of ``repeats`` passes, for the training path and torchvision's decoder."""
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    from geolink.data.images import decode_rgb

    def best(fn) -> float:
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            for path in paths:
                fn(path)
            runs.append((time.perf_counter() - start) / len(paths) * 1000)
        return round(min(runs), 3)

    return {
        "pillow_decode_rgb": best(decode_rgb),
        "torchvision_decode_jpeg": best(lambda p: decode_jpeg(read_file(p), mode=ImageReadMode.RGB)),
    }


def pairs_dataset(paths: list[str], stack: str, n_samples: int):
    """A ``CrossViewPairs`` over fake locations of one drone and one satellite image each, at 448 px."""
    from geolink.config import validate_config
    from geolink.data.augment import build_augment
    from geolink.data.batches import Sample
    from geolink.data.pairs import CrossViewPairs, TrainingLocation

    settings = validate_config({"name": "bench", "train": {"image_size": IMAGE_SIZE, "augmentation": {"stack": stack}}})
    half = len(paths) // 2
    locations = [
        TrainingLocation(location=f"{i:04d}", label=i, queries=[paths[i]], satellites=[paths[half + i]])
        for i in range(half)
    ]
    samples = [Sample(location=i % half) for i in range(n_samples)]
    return CrossViewPairs(locations, IMAGE_SIZE, samples=samples, augment=build_augment(settings["train"]))


def per_core(dataset, repeats: int = 2) -> float:
    """Samples per second through ``__getitem__`` on one torch thread (best of ``repeats`` passes)."""
    torch.set_num_threads(1)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for index in range(len(dataset)):
            dataset[index]
        rates.append(len(dataset) / (time.perf_counter() - start))
    return round(max(rates), 2)


def loader_rate(dataset, workers: int, batch_size: int = 16) -> float:
    """Samples per second through a DataLoader with ``workers`` persistent workers (second pass: warm)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
    rate = 0.0
    for _ in range(2):
        start = time.perf_counter()
        n = sum(len(batch["label"]) for batch in loader)
        rate = n / (time.perf_counter() - start)
    return round(rate, 2)


def gpu_estimate(per_core_rate: float) -> dict:
    """Samples/s one GPU consumes when training GeoLink (the paper's settings) and the workers that feeds it."""
    from geolink.pipeline import Pipeline
    from geolink.plan import forward_flops

    settings = Pipeline.from_files(repo=REPO).train_settings("university1652", "geolink", 0)
    flops = forward_flops(settings["model"]["name"], settings["image_size"], settings["model"]["kwargs"])
    per_sample = 3 * 2 * flops  # forward + backward (2x) of the drone and the satellite image
    gpus = {}
    for name, tflops in GPUS.items():
        rate = tflops * 1e12 / per_sample
        gpus[name] = {
            "tflops": round(tflops, 1),
            "samples_per_s": round(rate, 1),
            "workers": math.ceil(rate / per_core_rate),
        }
    return {
        "model": settings["model"]["name"],
        "image_size": settings["image_size"],
        "forward_gflops": round(flops / 1e9, 2),
        "gpus": gpus,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="samples per timed pass")
    parser.add_argument("--stack", choices=["official", "flip_rot90"], default="official")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results.jsonl")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), 40)
        decode = decode_ms(paths)
        print(f"decode one {SOURCE_PX} px JPEG: {decode}")
        dataset = pairs_dataset(paths, args.stack, args.samples)
        core = per_core(dataset)
        print(f"{args.stack} stack at {IMAGE_SIZE} px: {core} samples/s on one core")
        torch.set_num_threads(cores)
        loader = loader_rate(dataset, workers=cores)
        print(f"DataLoader with {cores} workers: {loader} samples/s")
    estimate = gpu_estimate(core)
    for name, gpu in estimate["gpus"].items():
        print(f"{name}: {gpu['samples_per_s']} samples/s -> {gpu['workers']} workers at {core} samples/s each")

    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {cores} cpus",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "what": "input_pipeline",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "stack": args.stack,
        "image_size": IMAGE_SIZE,
        "source_px": SOURCE_PX,
        "decode_ms": decode,
        "samples_per_s_per_core": core,
        "loader_workers": cores,
        "loader_samples_per_s": loader,
        "gpu_estimate": estimate,
    }
    if not args.no_record:
        with open(REPO / "benchmarks" / "results.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
