"""Benchmark: is an imgaug fork on NumPy 2 pixel-identical to imgaug 0.4.0 for the MuSe-Net weather recipe?

imgaug 0.4.0 needs NumPy < 1.24, the project runs NumPy 2, so the two cannot share an interpreter. This script
writes a few fixed test images (smooth gradients plus noise from a fixed NumPy seed, saved as PNG, one of them
large enough for the resolution-dependent rain/snow layers), then runs a small worker in each virtual env via
subprocess. Both workers load ``src/geolink/data/weather.py`` straight from this checkout (bypassing the package
``__init__`` so the reference env needs no project dependencies) and call ``apply_weather`` with the same
``image_seed`` per image and condition. The table says per condition whether all outputs are byte-identical and,
if not, the largest absolute pixel difference and the share of differing pixels.

    python benchmarks/weather_equivalence.py --fork-python /tmp/wx-fork/bin/python --ref-python /tmp/wx-ref/bin/python

Set up the envs as in the module docstring of ``geolink.data.weather`` / the report:
    python3 -m venv /tmp/wx-fork && /tmp/wx-fork/bin/pip install imaug==0.4.3 numpy==2.4.6
    python3 -m venv /tmp/wx-ref && /tmp/wx-ref/bin/pip install "numpy<1.24" imgaug==0.4.0 "opencv-python-headless<4.9"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
WEATHER_PY = REPO / "src" / "geolink" / "data" / "weather.py"
ATOMIC_PY = REPO / "src" / "geolink" / "atomic.py"

# Runs inside each venv. It registers bare parent packages so importing weather.py does not run
# geolink/data/__init__.py (pandas, tqdm, ...) that the reference env does not have.
WORKER = r"""
import importlib.util, json, sys, types
from pathlib import Path
import numpy as np
from PIL import Image

atomic_py, weather_py, spec_path = sys.argv[1:4]
for name in ("geolink", "geolink.data"):
    pkg = types.ModuleType(name)
    pkg.__path__ = []
    sys.modules[name] = pkg

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod

load("geolink.atomic", atomic_py)
weather = load("geolink.data.weather", weather_py)
import imgaug
spec = json.loads(Path(spec_path).read_text())
for rel in spec["images"]:
    img = np.asarray(Image.open(Path(spec["in_dir"]) / rel).convert("RGB"))
    for cond in spec["conditions"]:
        out = weather.apply_weather(img, cond, weather.image_seed(rel, cond))
        np.save(Path(spec["out_dir"]) / f"{cond}__{Path(rel).stem}.npy", out)
print(json.dumps({"imgaug": imgaug.__version__, "numpy": np.__version__}))
"""


def make_images(folder: Path) -> list[str]:
    """Write the fixed test images; returns their names relative to ``folder``."""
    rng = np.random.default_rng(20260101)
    names = []
    for i, (h, w) in enumerate([(96, 128), (256, 256), (512, 384)]):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (h + w) * 255], axis=-1)
        img = np.clip(base + rng.normal(0, 25, size=base.shape), 0, 255).astype(np.uint8)
        name = f"test_{i}_{h}x{w}.png"
        Image.fromarray(img).save(folder / name)
        names.append(name)
    return names


def run_worker(python: str, tmp: Path, tag: str, spec: dict) -> tuple[Path, dict]:
    """Run the worker in one interpreter; returns its output folder and the library versions it reported."""
    out_dir = tmp / tag
    out_dir.mkdir()
    spec_path = tmp / f"{tag}.json"
    spec_path.write_text(json.dumps({**spec, "out_dir": str(out_dir)}))
    worker = tmp / "worker.py"
    worker.write_text(WORKER)
    proc = subprocess.run(
        [python, str(worker), str(ATOMIC_PY), str(WEATHER_PY), str(spec_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"{tag} worker ({python}) failed:\n{proc.stderr}")
    return out_dir, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse arguments, run both workers and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fork-python", default="/tmp/wx-fork/bin/python")
    parser.add_argument("--ref-python", default="/tmp/wx-ref/bin/python")
    parser.add_argument("--json", type=Path, help="also write the per-condition results here")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "src"))
    from geolink.data.weather import CONDITIONS  # the names only; needs no imgaug

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "in").mkdir()
        names = make_images(tmp / "in")
        spec = {"in_dir": str(tmp / "in"), "images": names, "conditions": list(CONDITIONS)}
        fork_dir, fork_ver = run_worker(args.fork_python, tmp, "fork", spec)
        ref_dir, ref_ver = run_worker(args.ref_python, tmp, "ref", spec)

        print(f"fork: imgaug {fork_ver['imgaug']} on numpy {fork_ver['numpy']} ({args.fork_python})")
        print(f"ref:  imgaug {ref_ver['imgaug']} on numpy {ref_ver['numpy']} ({args.ref_python})")
        print(f"images: {', '.join(names)}\n")
        print("| condition | byte-identical | max abs diff | differing pixels | changed vs input (ref) |")
        print("|---|---|---|---|---|")
        rows = []
        for cond in CONDITIONS:
            identical, max_diff, n_diff, n_total, n_changed = True, 0, 0, 0, 0
            for name in names:
                stem = Path(name).stem
                a = np.load(fork_dir / f"{cond}__{stem}.npy")
                b = np.load(ref_dir / f"{cond}__{stem}.npy")
                src = np.asarray(Image.open(tmp / "in" / name).convert("RGB"))
                identical &= a.shape == b.shape and a.tobytes() == b.tobytes()
                diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
                max_diff = max(max_diff, int(diff.max()))
                n_diff += int(np.any(diff > 0, axis=-1).sum())
                n_total += a.shape[0] * a.shape[1]
                n_changed += int(np.any(b != src, axis=-1).sum())
            rows.append(
                {
                    "condition": cond,
                    "identical": bool(identical),
                    "max_abs_diff": max_diff,
                    "differing_pixel_fraction": n_diff / n_total,
                }
            )
            print(
                f"| {cond} | {'yes' if identical else 'NO'} | {max_diff} | {n_diff / n_total:.2%} | "
                f"{n_changed / n_total:.1%} |"
            )
        if args.json:
            args.json.write_text(json.dumps({"fork": fork_ver, "ref": ref_ver, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
