"""Benchmark: does `geolink index` stream a large map in bounded memory, and how fast does it go on a CPU?

A large GeoTIFF is made by repeating the synthetic area of the locate stage (``geolink.synth.locate_map``, 640 px a
side at 0.75 m per pixel) ``--repeat`` times per side (default 16: a 10,240 px, 7.7 km map, 315 MB of pixels,
written deflate-compressed and tiled as a GIS would serve it). It is indexed at the synthetic footprint (93.5 m)
and overlap 0.5 with a random-weight checkpoint of the synthetic CPU model (the same network the synthetic run
trains: 64 px input), through torch and, separately, through its ONNX export, each in a fresh process so that its
peak resident memory (``VmHWM`` of ``/proc/self/status``) is its own. Then 64 photos of the area are placed
against the index.

Recorded: tiles, seconds and tiles per second of each build, peak RSS of each process against the map's raw
pixel size (streaming holds one chunk of 256 tiles, not the map), and the time of one `geolink locate --onnx`
call on 64 photos (process start included). The map repeats one area, so the photos' errors mean nothing here.
Appends one JSON line (what="locate_index") to benchmarks/results.jsonl.

    python benchmarks/bench_locate.py
    python benchmarks/bench_locate.py --repeat 4 --no-record
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOOTPRINT_M = 93.53074360871936  # the synthetic area's (docs/locate.md)

#: Run in a fresh process: build an index with one encoder, print seconds and peak RSS as JSON.
BUILD = """
import json, sys, time
from geolink.locate.encoders import open_encoder
from geolink.locate.index import build_index
from geolink.locate.maps import open_map
kind, encoder_path, map_path, out = sys.argv[1:5]
encoder = open_encoder(**{kind: encoder_path}, device="cpu")
start = time.perf_counter()
meta = build_index(open_map(map_path, float(sys.argv[5])), encoder, out, progress=False)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child would report its parent's peak.
status = open("/proc/self/status").read()
peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"tiles": meta["n_tiles"], "seconds": seconds, "peak_rss_mb": peak_mb}))
"""


def make_inputs(work: Path, repeat: int, n_photos: int) -> tuple[Path, Path, Path, int]:
    """The large map, a photo folder, a random-weight checkpoint; returns them and the map's side in pixels."""
    import numpy as np
    import rasterio
    import torch

    from geolink.checkpoint import save_checkpoint
    from geolink.models import create_model
    from geolink.synth.locate_map import write_locate_map

    area = work / "area"
    write_locate_map(area, seed=0, image_size=128, domain="garden_city", blocks=3, gsd_m=0.75, n_photos=n_photos,
                     heights=[80, 90, 100])  # fmt: skip
    with rasterio.open(area / "map.tif") as ds:
        pixels, profile = ds.read(), ds.profile
    big = np.tile(pixels, (1, repeat, repeat))  # grows east and south of the same north-west corner
    profile |= {"width": big.shape[2], "height": big.shape[1], "tiled": True, "blockxsize": 256, "blockysize": 256}
    profile |= {"compress": "deflate"}
    with rasterio.open(work / "large.tif", "w", **profile) as ds:
        ds.write(big)
    torch.manual_seed(0)
    kwargs = {"pretrained": False, "img_size": 64}
    model = create_model("geolink_tiny_cnn", **kwargs)
    state = {"model_name": "geolink_tiny_cnn", "model_kwargs": kwargs, "model": model.state_dict(), "epoch": 0}
    save_checkpoint(work / "model.pt", {**state, "settings": {"image_size": 64}, "val_recall@1": 0.0})
    return work / "large.tif", area / "photos", work / "model.pt", big.shape[1]


def build(kind: str, encoder: Path, map_path: Path, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", BUILD, kind, str(encoder), str(map_path), str(out), str(FOOTPRINT_M)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["tiles_per_s"] = round(record["tiles"] / record["seconds"], 1)
    record["seconds"] = round(record["seconds"], 1)
    record["peak_rss_mb"] = round(record["peak_rss_mb"])
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=16, help="copies of the synthetic area per side (default 16)")
    parser.add_argument("--photos", type=int, default=64, help="photos placed against the index (default 64)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results.jsonl")
    args = parser.parse_args()
    from geolink.locate.encoders import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        map_path, photos, checkpoint, side = make_inputs(work, args.repeat, args.photos)
        export_onnx(checkpoint, work / "model.onnx")
        torch_build = build("checkpoint", checkpoint, map_path, work / "index_torch")
        onnx_build = build("onnx", work / "model.onnx", map_path, work / "index_onnx")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "geolink.cli", "locate", str(photos), "--index", str(work / "index_onnx"),
             "--onnx", str(work / "model.onnx"), "--out", str(work / "answers"), "--print-max", "0"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        locate_s = time.perf_counter() - start
        record = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {__import__('os').cpu_count()} cpus",
            "python": platform.python_version(),
            "what": "locate_index",
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
            ).stdout.strip(),
            "map_px": side,
            "map_km": round(side * 0.75 / 1000, 2),
            "map_raw_mb": round(side * side * 3 / 2**20),
            "map_file_mb": round(map_path.stat().st_size / 2**20),
            "footprint_m": round(FOOTPRINT_M, 2),
            "torch": torch_build,
            "onnx": onnx_build,
            "locate_photos": args.photos,
            "locate_seconds": round(locate_s, 1),  # one process: start, index load, photos, page
        }
    print(json.dumps(record, indent=1))
    if not args.no_record:
        with open(REPO / "benchmarks" / "results.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
