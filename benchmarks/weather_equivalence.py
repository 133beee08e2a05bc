"""Benchmark: does the project's imgaug (0.4.0 on NumPy 2, via geolink.data.imgaug_compat) give imgaug 0.4.0's pixels?

imgaug 0.4.0 needs NumPy < 1.24 and the project runs NumPy 2, so the reference needs its own interpreter. This script
writes fixed test images (smooth gradients plus noise from a fixed NumPy seed, saved as PNG, in the datasets' sizes),
then runs ``weather_worker.py`` in each interpreter via subprocess. Both workers load ``geolink.data.weather`` and
the modules it needs straight from this checkout (bypassing the package ``__init__``, so the reference env needs no
geolink install) and call ``apply_weather`` with the same ``image_seed`` per image and condition. The table says
per condition whether all outputs are byte-identical and, if not, the largest absolute pixel difference and the share
of differing pixels.

    python benchmarks/weather_equivalence.py --ref-python /tmp/wx-ref/bin/python [--project-python .venv/bin/python]

The reference env is the pip part of envs/weather.yaml (Python 3.11):
    python3.11 -m venv /tmp/wx-ref && /tmp/wx-ref/bin/pip install numpy==1.23.5 imgaug==0.4.0 \
        opencv-python-headless==4.8.1.78 scikit-image==0.24.0 shapely==2.1.2 imageio==2.38.1 scipy==1.15.3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

WORKER_PY = Path(__file__).with_name("weather_worker.py")


def make_images(folder: Path) -> list[str]:
    """Write the fixed test images; returns their names relative to ``folder``."""
    rng = np.random.default_rng(20260101)
    names = []
    # Small and odd sizes, the 512x512 drone images of University-1652 / SUES-200, and a landscape frame.
    sizes = [(96, 128), (256, 256), (512, 384), (512, 512), (512, 512), (720, 1280), (333, 517)]
    for i, (h, w) in enumerate(sizes):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (h + w) * 255], axis=-1)
        img = np.clip(base + rng.normal(0, 25, size=base.shape), 0, 255).astype(np.uint8)
        name = f"test_{i}_{h}x{w}.png"
        Image.fromarray(img).save(folder / name)
        names.append(name)
    return names


# What geolink.data.weather.render_environment switches off, named for NumPy 1.23 and 2.x at once (both ignore names
# they do not know), so either interpreter can be given.
AVX512_FEATURES = "X86_V4 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
SIMD_DEFAULT = False  # set by --numpy-simd default


def run_worker(python: str, tmp: Path, tag: str, spec: dict) -> tuple[Path, dict]:
    """Run the worker in one interpreter; returns its output folder and the library versions it reported."""
    out_dir = tmp / tag
    out_dir.mkdir()
    spec_path = tmp / f"{tag}.json"
    spec_path.write_text(json.dumps({**spec, "out_dir": str(out_dir)}))
    env = dict(os.environ)
    if not SIMD_DEFAULT:
        env["NPY_DISABLE_CPU_FEATURES"] = AVX512_FEATURES
    proc = subprocess.run(
        [python, str(WORKER_PY), str(SRC), str(spec_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"{tag} worker ({python}) failed:\n{proc.stderr}")
    return out_dir, json.loads(proc.stdout.strip().splitlines()[-1])


def write_fixture(ref_python: str, out: Path, conditions: tuple[str, ...]) -> None:
    """Save a small image and imgaug 0.4.0's output for it under every condition, keyed by condition name."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "in").mkdir()
        # Arithmetic, not a random generator, so every NumPy version builds the same input.
        image = ((np.arange(40 * 56 * 3).reshape(40, 56, 3) * 7919) % 251).astype(np.uint8)
        name = "query_drone/0001/image-01.png"  # the relative path the seeds come from
        (tmp / "in" / name).parent.mkdir(parents=True)
        Image.fromarray(image).save(tmp / "in" / name)
        spec = {"in_dir": str(tmp / "in"), "images": [name], "conditions": list(conditions)}
        ref_dir, ref_ver = run_worker(ref_python, tmp, "ref", spec)
        arrays = {c: np.load(ref_dir / f"{c}__image-01.npy") for c in conditions}
    np.savez_compressed(
        out,
        input=image,
        path=np.array(name),
        imgaug=np.array(ref_ver["imgaug"]),
        numpy=np.array(ref_ver["numpy"]),
        **arrays,
    )
    print(f"wrote {out} (imgaug {ref_ver['imgaug']} on numpy {ref_ver['numpy']})")


def main() -> None:
    """Parse arguments, run both workers and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-python", default=sys.executable, help="interpreter of the project env")
    parser.add_argument("--ref-python", required=True, help="interpreter with imgaug 0.4.0 on NumPy 1.23")
    parser.add_argument("--json", type=Path, help="also write the per-condition results here")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results.jsonl")
    parser.add_argument(
        "--write-fixture",
        type=Path,
        metavar="NPZ",
        help="instead of comparing, save the reference env's output for the small test image of "
        "tests/test_weather.py (tests/fixtures/weather_reference.npz)",
    )
    parser.add_argument(
        "--numpy-simd",
        choices=["off", "default"],
        default="off",
        help="off (as the weather rule renders): NumPy's AVX-512 kernels disabled in both workers; "
        "default: whatever NumPy picks for this CPU",
    )
    args = parser.parse_args()
    global SIMD_DEFAULT
    SIMD_DEFAULT = args.numpy_simd == "default"

    sys.path.insert(0, str(REPO / "src"))
    from geolink.data.weather import CONDITIONS  # the names only; needs no imgaug

    if args.write_fixture:
        write_fixture(args.ref_python, args.write_fixture, CONDITIONS)
        return

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "in").mkdir()
        names = make_images(tmp / "in")
        spec = {"in_dir": str(tmp / "in"), "images": names, "conditions": list(CONDITIONS)}
        project_dir, project_ver = run_worker(args.project_python, tmp, "project", spec)
        ref_dir, ref_ver = run_worker(args.ref_python, tmp, "ref", spec)

        print(f"project: imgaug {project_ver['imgaug']} on numpy {project_ver['numpy']} ({args.project_python})")
        print(f"ref:     imgaug {ref_ver['imgaug']} on numpy {ref_ver['numpy']} ({args.ref_python})")
        print(f"images: {', '.join(names)}\n")
        print("| condition | byte-identical | max abs diff | differing pixels | changed vs input (ref) |")
        print("|---|---|---|---|---|")
        rows = []
        for cond in CONDITIONS:
            identical, max_diff, n_diff, n_total, n_changed = True, 0, 0, 0, 0
            for name in names:
                stem = Path(name).stem
                a = np.load(project_dir / f"{cond}__{stem}.npy")
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
                f"| {cond} | {'yes' if identical else 'NO'} | {max_diff} | {n_diff / n_total * 1e6:.1f} ppm | "
                f"{n_changed / n_total:.1%} |"
            )
        result = {"project": project_ver, "ref": ref_ver, "numpy_simd": args.numpy_simd, "images": names, "rows": rows}
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        if not args.no_record:
            record = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cpus",
                "what": "weather_equivalence",
                **result,
            }
            with open(REPO / "benchmarks" / "results.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
