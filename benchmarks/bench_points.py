"""Benchmark: per-sample point-cloud loading, our point bank versus the official GeoLink loader.

Side by side, on the same synthetic COLMAP clouds (written with ``write_points3d_text`` with realistic
TRACK lists of 2-15 observations), per training sample:

(a) ours: the PointBank ``.npz`` is loaded once; each sample is ``bank.draw_for(key, epoch)`` and
    ``torch.from_numpy``.
(b) official (docs/official_code.md §1.3): ``np.loadtxt(points3D.txt, delimiter=' ', skiprows=3,
    usecols=range(1, 7))`` on every sample, numpy FPS to 1024 points from ``np.random.randint`` and
    ``pc_normalize``, RGB dropped, then ``torch.from_numpy``.

Also timed: the one-off bank build (``read_points3d_text`` + ``sample_draws``), ``farthest_point_sample``
100k -> 1024 against the official FPS, ``sample_draws`` with the default presample, and how much the presample
changes coverage (distance from every cloud point to its nearest sampled point: mean, 99th percentile, max).
Target: (a) at least 20x faster than (b). Appends one JSON line (what="points") to benchmarks/results.jsonl.

    python benchmarks/bench_points.py                       # 20 clouds each of 5k, 20k and 100k points
    python benchmarks/bench_points.py --clouds 5 --sizes 5000 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from geolink.points import farthest_point_sample, load_point_bank, sample_draws, save_point_bank
from geolink.recon.colmap_text import read_points3d_text, write_points3d_text

REPO = Path(__file__).resolve().parents[1]
N_POINTS = 1024


# ---- the official loader, mirrored from docs/official_code.md §1.3 ------------------------------------------


def official_farthest_point_sample(point: np.ndarray, npoint: int) -> np.ndarray:
    """The official numpy FPS: random start from the global numpy RNG, distances on xyz, rows of ``point``."""
    n = point.shape[0]
    xyz = point[:, :3]
    centroids = np.zeros((npoint,))
    distance = np.ones((n,)) * 1e10
    farthest = np.random.randint(0, n)  # noqa: NPY002 -- the official code uses the legacy global RNG
    for i in range(npoint):
        centroids[i] = farthest
        centroid = xyz[farthest, :]
        dist = np.sum((xyz - centroid) ** 2, -1)
        mask = dist < distance
        distance[mask] = dist[mask]
        farthest = np.argmax(distance, -1)
    return point[centroids.astype(np.int32)]


def pc_normalize(pc: np.ndarray) -> np.ndarray:
    centroid = np.mean(pc, axis=0)
    pc = pc - centroid
    m = np.max(np.sqrt(np.sum(pc**2, axis=1)))
    return pc / m


def official_sample(path: Path) -> torch.Tensor:
    """One ``__getitem__``'s point work in the official dataset classes (uniform=True, use_rgb=False)."""
    point_set = np.loadtxt(path, delimiter=" ", skiprows=3, usecols=range(1, 7)).astype(np.float32)
    point_set = official_farthest_point_sample(point_set, N_POINTS)
    point_set[:, 0:3] = pc_normalize(point_set[:, 0:3])
    return torch.from_numpy(point_set[:, 0:3])


# ---- synthetic clouds ---------------------------------------------------------------------------------------


def scene_cloud(rng: np.random.Generator, n: int) -> np.ndarray:
    """A drone-scene-like cloud in metres: 60% noisy ground over 200 x 200 m, 40% on the walls of 12 buildings."""
    n_ground = int(0.6 * n)
    ground = np.column_stack([rng.uniform(-100, 100, (n_ground, 2)), rng.normal(0, 0.3, n_ground)])
    centres = rng.uniform(-80, 80, (12, 2))
    sizes = rng.uniform(8, 30, (12, 3))
    which = rng.integers(0, 12, n - n_ground)
    local = rng.uniform(-0.5, 0.5, (n - n_ground, 3))
    face = rng.integers(0, 2, n - n_ground)  # snap x or y to a wall
    local[np.arange(len(local)), face] = np.sign(local[np.arange(len(local)), face]) * 0.5
    local[:, 2] += 0.5
    walls = local * sizes[which] + np.column_stack([centres[which], np.zeros(len(which))])
    return np.concatenate([ground, walls])[rng.permutation(n)]


def write_cloud(path: Path, rng: np.random.Generator, n: int) -> None:
    lengths = rng.integers(2, 16, n)  # COLMAP tracks have >= 2 observations
    pairs = np.column_stack([rng.integers(1, 55, lengths.sum()), rng.integers(0, 20000, lengths.sum())])
    track = np.split(pairs, np.cumsum(lengths)[:-1])
    rgb = rng.integers(0, 256, (n, 3))
    write_points3d_text(path, scene_cloud(rng, n), rgb=rgb, error=rng.gamma(2.0, 0.4, n), track=track)


# ---- measurements -------------------------------------------------------------------------------------------


def check_official_loadtxt(path: Path) -> str:
    """Whether the official np.loadtxt call copes with TRACK lists of varying length."""
    try:
        table = np.loadtxt(path, delimiter=" ", skiprows=3, usecols=range(1, 7))
    except ValueError as exc:
        return f"fails: {exc}"
    ours = read_points3d_text(path)
    same = np.array_equal(table[:, :3], ours.xyz) and np.array_equal(table[:, 3:], ours.rgb)
    return f"works (numpy {np.__version__}); xyz/rgb identical to read_points3d_text: {same}"


def coverage(cloud: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Distance from the cloud's points to their nearest sampled point: [mean, 99th percentile, max]."""
    distance = cKDTree(sample).query(cloud)[0]
    return np.array([distance.mean(), np.percentile(distance, 99), distance.max()])


def run(sizes: list[int], n_clouds: int, n_draws: int, epochs: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the official loader draws its FPS start from the global RNG
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths: dict[int, list[Path]] = {}
        for size in sizes:
            paths[size] = []
            for c in range(n_clouds):
                path = root / f"{size}" / f"{c:04d}_group0" / "points3D.txt"
                write_cloud(path, rng, size)
                paths[size].append(path)
        loadtxt_status = check_official_loadtxt(paths[sizes[0]][0])
        print(f"official np.loadtxt on varying-length TRACK lines: {loadtxt_status}")

        for size in sizes:
            keys = [f"{size}/{p.parent.name}" for p in paths[size]]
            # One-off bank build.
            t_read = t_sample = 0.0
            draws = []
            for k, path in enumerate(paths[size]):
                t0 = time.perf_counter()
                xyz = read_points3d_text(path).xyz
                t1 = time.perf_counter()
                draws.append(sample_draws(xyz, n_points=N_POINTS, n_draws=n_draws, seed=seed + k))
                t_sample += time.perf_counter() - t1
                t_read += t1 - t0
            bank_path = save_point_bank(root / f"bank_{size}.npz", keys, np.stack(draws), {"seed": seed})
            t0 = time.perf_counter()
            bank = load_point_bank(bank_path)
            t_load_bank = time.perf_counter() - t0

            # (a) our per-sample loading: all clouds, several epochs, shuffled like a training loader.
            order = [(key, epoch) for epoch in range(epochs) for key in rng.permutation(keys)]
            t0 = time.perf_counter()
            for key, epoch in order:
                tensor = torch.from_numpy(bank.draw_for(key, epoch))
            ours_ms = (time.perf_counter() - t0) / len(order) * 1e3
            assert tensor.shape == (N_POINTS, 3) and tensor.dtype == torch.float32

            # (b) the official per-sample loading, once per cloud.
            t0 = time.perf_counter()
            for path in paths[size]:
                tensor = official_sample(path)
            official_ms = (time.perf_counter() - t0) / len(paths[size]) * 1e3
            assert tensor.shape == (N_POINTS, 3)

            rows[str(size)] = {
                "ours_ms_per_sample": round(ours_ms, 4),
                "official_ms_per_sample": round(official_ms, 1),
                "speedup": round(official_ms / ours_ms),
                "build_read_ms_per_cloud": round(t_read / n_clouds * 1e3, 1),
                "build_sample_draws_ms_per_cloud": round(t_sample / n_clouds * 1e3, 1),
                "bank_load_ms": round(t_load_bank * 1e3, 2),
                "file_mb": round(np.mean([p.stat().st_size for p in paths[size]]) / 1e6, 2),
            }

        # FPS 100k -> 1024 directly, ours versus the official implementation, and sample_draws defaults.
        cloud = scene_cloud(np.random.default_rng(seed + 1), 100_000)
        t_ours = min(_timed(lambda s=s: farthest_point_sample(cloud, N_POINTS, start=s)) for s in range(3))
        t_official = min(_timed(lambda: official_farthest_point_sample(cloud, N_POINTS)) for _ in range(2))
        t_draws = min(_timed(lambda s=s: sample_draws(cloud, seed=s)) for s in range(3))  # default 4 draws
        # Coverage with and without the presample (in metres; smaller is better).
        full = cloud[farthest_point_sample(cloud, N_POINTS, start=0)]
        sub_rng = np.random.default_rng(seed + 2)
        presampled = []
        for _ in range(5):
            subset = cloud[np.sort(sub_rng.choice(len(cloud), 20_000, replace=False))]
            presampled.append(coverage(cloud, subset[farthest_point_sample(subset, N_POINTS, start=0)]))
        random_subset = cloud[sub_rng.choice(len(cloud), N_POINTS, replace=False)]
        extra = {
            "fps_100k_to_1024_ms": round(t_ours * 1e3, 1),
            "official_fps_100k_to_1024_ms": round(t_official * 1e3, 1),
            "sample_draws_100k_default_ms": round(t_draws * 1e3, 1),
            # [mean, p99, max] distance in metres from every point to its nearest sampled point.
            "coverage_m_mean_p99_max": {
                "fps_full": np.round(coverage(cloud, full), 2).tolist(),
                "fps_presample_20k": np.round(np.mean(presampled, axis=0), 2).tolist(),
                "random_1024": np.round(coverage(cloud, random_subset), 2).tolist(),
            },
        }
    return {
        "n_clouds": n_clouds,
        "n_draws": n_draws,
        "epochs": epochs,
        "loadtxt": loadtxt_status,
        "sizes": rows,
        **extra,
    }


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 100000])
    parser.add_argument("--clouds", type=int, default=20, help="clouds per size")
    parser.add_argument("--draws", type=int, default=4, help="draws per cloud in the bank")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of bank fetches to time (a)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results.jsonl")
    args = parser.parse_args()

    torch.set_num_threads(1)
    result = run(args.sizes, args.clouds, args.draws, args.epochs, args.seed)
    print()
    print(
        f"{'points':>8} {'file MB':>8} {'ours ms/sample':>15} {'official ms/sample':>19} {'speed-up':>9} "
        f"{'build: read ms':>15} {'sample_draws ms':>16}"
    )
    for size, row in result["sizes"].items():
        print(
            f"{int(size):>8} {row['file_mb']:>8} {row['ours_ms_per_sample']:>15.4f} "
            f"{row['official_ms_per_sample']:>19.1f} {row['speedup']:>8}x {row['build_read_ms_per_cloud']:>15.1f} "
            f"{row['build_sample_draws_ms_per_cloud']:>16.1f}"
        )
    print()
    print(
        f"farthest_point_sample 100k -> 1024: {result['fps_100k_to_1024_ms']} ms "
        f"(official numpy FPS: {result['official_fps_100k_to_1024_ms']} ms)"
    )
    print(f"sample_draws 100k, defaults (4 draws, presample 20000): {result['sample_draws_100k_default_ms']} ms")
    cover = result["coverage_m_mean_p99_max"]
    print("distance from the 100k points to the nearest of the 1024 sampled, m (mean / p99 / max):")
    for label, key in [("FPS on all 100k", "fps_full"), ("FPS on a 20k presample (5 runs)", "fps_presample_20k")]:
        print(f"  {label:<32} {' / '.join(f'{v:.2f}' for v in cover[key])}")
    print(f"  {'random 1024':<32} {' / '.join(f'{v:.2f}' for v in cover['random_1024'])}")

    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "what": "points",
        **result,
    }
    if not args.no_record:
        with open(REPO / "benchmarks" / "results.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
    json.dump(record, sys.stdout)
    print()


if __name__ == "__main__":
    main()
