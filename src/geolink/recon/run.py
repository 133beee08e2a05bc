"""Reconstruct the view groups of a shard of locations with one backend; write COLMAP text and a QC table.

One call handles one *shard* (every ``n_shards``-th training location of a dataset), the unit
of a Snakemake ``reconstruct`` job: big enough that start-up (importing torch, loading VGGT)
is paid once per shard rather than per location, small enough that a cluster can spread a
dataset over many GPUs. Output, under the shard folder:

    <ID>_group<k>/points3D.txt (+ cameras.txt, images.txt when the backend has cameras)
    qc.csv     one row per (location, group): status, counts, reprojection error, extent, Chamfer

A location that fails is either recorded in ``qc.csv`` with its reason (``on_failure: skip``) or
stops the job (``stop``); never silently dropped. Work is resumable location by location
(``geolink.resumable``), so rerunning a crashed shard redoes only what is missing, and a single
location can be redone with ``geolink reconstruct --locations``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from geolink.recon.groups import assign_groups, reconstruction_images
from geolink.recon.result import ReconstructionError, ReconstructionResult
from geolink.resumable import build_tree

log = logging.getLogger(__name__)

BACKENDS = ("groundtruth", "colmap", "vggt", "geolink3d")
QC_COLUMNS = [
    "dataset",
    "location",
    "group",
    "backend",
    "status",
    "reason",
    "n_images",
    "n_registered",
    "n_points",
    "mean_reprojection_error",
    "extent_x",
    "extent_y",
    "extent_z",
    "chamfer_1024",
    "seconds",
]


def shard_locations(locations: list[str], shard: int, n_shards: int) -> list[str]:
    """Every ``n_shards``-th location starting at ``shard`` (sorted first, so shards are stable)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    return sorted(locations)[shard::n_shards]


def run_backend(
    backend: str, dataset: str, location: str, group: int, paths: list[str], work_dir: Path, options: dict
) -> ReconstructionResult:
    """Dispatch to one backend; heavy imports (pycolmap, torch, vggt) happen only when used."""
    if backend == "groundtruth":
        from geolink.recon.groundtruth import reconstruct_groundtruth

        truth = Path(options["truth_dir"]) / f"{location}.npz"
        return reconstruct_groundtruth(dataset, paths, truth, noise_std=options.get("noise_std", 0.0), seed=group)
    if backend == "colmap":
        from geolink.recon.colmap import reconstruct_colmap

        return reconstruct_colmap(
            paths,
            work_dir,
            threads=options.get("threads", 1),
            max_features=options.get("max_features", 8192),
            matching=options.get("matching", "exhaustive"),
            min_registered_fraction=options.get("min_registered_fraction", 0.5),
            log_path=options.get("log_path"),
        )
    if backend == "vggt":
        from geolink.recon.vggt import reconstruct_vggt

        return reconstruct_vggt(
            paths,
            weights=options.get("weights", "facebook/VGGT-1B"),
            device=options.get("device", "auto"),
            chunk_size=options.get("chunk_size", 32),
            conf_threshold=options.get("conf_threshold", 5.0),
            max_points=options.get("max_points", 100_000),
            seed=group,
        )
    if backend == "geolink3d":
        from geolink.recon.geolink3d import import_geolink3d

        return import_geolink3d(options["geolink3d_root"], location, group)
    raise ValueError(f"unknown reconstruction backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def chamfer_to_truth(dataset: str, result: ReconstructionResult, paths: list[str], truth_path: Path) -> float:
    """Chamfer distance (metres, 1024-point samples) between a cloud and the true points its views see.

    Backends other than ``groundtruth`` work in their own frame, so the cloud is first moved into
    the truth frame by the similarity that best aligns its camera centres with the true ones.
    """
    from geolink.recon.alignment import align_by_cameras, apply_similarity, chamfer_at_n
    from geolink.recon.groundtruth import image_key, load_truth, reconstruct_groundtruth

    reference = reconstruct_groundtruth(dataset, paths, truth_path)
    xyz = result.xyz
    if result.backend != "groundtruth":
        truth = load_truth(truth_path)
        centres = {}
        by_key = {image_key(dataset, str(n)): i for i, n in enumerate(truth["image_names"])}
        for name in result.image_names:
            i = by_key.get(image_key(dataset, name))
            if i is not None:
                centres[name] = -truth["R"][i].T @ truth["t"][i]
        if len(centres) < 3:
            return float("nan")  # a similarity needs three camera centres
        xyz = apply_similarity(xyz, *align_by_cameras(result, centres))
    return float(chamfer_at_n(xyz, reference.xyz, n=1024, seed=0))


def _image_sizes(paths: list[str]) -> tuple[list[int], list[int]]:
    widths, heights = [], []
    for path in paths:
        with Image.open(path) as image:
            widths.append(image.width)
            heights.append(image.height)
    return widths, heights


def _reconstruct_location(partial: Path, location: str, groups: list[list[str]], params: dict) -> list[dict]:
    from geolink.recon.colmap_text import write_colmap_model, write_points3d_text

    dataset, backend = params["dataset"], params["backend"]
    rows = []
    for group, paths in enumerate(groups):
        start = time.perf_counter()
        row = {"dataset": dataset, "location": location, "group": group, "backend": backend, "n_images": len(paths)}
        folder = partial / f"{location}_group{group}"
        try:
            result = run_backend(
                backend, dataset, location, group, paths, partial / ".work" / folder.name, params["options"]
            )
            if len(result.poses):
                write_colmap_model(folder, result, *_image_sizes(result.image_names))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                write_points3d_text(folder / "points3D.txt", result.xyz, result.rgb, result.error)
            extent = np.ptp(result.xyz, axis=0) if result.n_points else np.full(3, np.nan)
            truth_dir = params["options"].get("truth_dir")
            chamfer = float("nan")
            if truth_dir and result.n_points:
                chamfer = chamfer_to_truth(dataset, result, paths, Path(truth_dir) / f"{location}.npz")
            row |= {
                "status": "ok",
                "reason": "",
                "n_registered": result.n_registered,
                "n_points": result.n_points,
                "mean_reprojection_error": result.mean_reprojection_error,
                "extent_x": float(extent[0]),
                "extent_y": float(extent[1]),
                "extent_z": float(extent[2]),
                "chamfer_1024": chamfer,
            }
        except ReconstructionError as err:
            if params["on_failure"] == "stop":
                raise ReconstructionError(
                    f"{dataset} location {location} group {group}: {err} "
                    f"(set reconstruct.on_failure: skip to record failures and go on)"
                ) from err
            log.warning("%s location %s group %d failed: %s", dataset, location, group, err)
            row |= {"status": "failed", "reason": str(err), "n_registered": 0, "n_points": 0}
        row["seconds"] = round(time.perf_counter() - start, 3)
        rows.append(row)
    return rows


def reconstruct_shard(
    manifest: pd.DataFrame,
    dataset: str,
    out_dir: str | Path,
    *,
    shard: int = 0,
    n_shards: int = 1,
    backend: str = "groundtruth",
    grouping: str = "sequence",
    groups: int = 3,
    heights: list[int] | None = None,
    locations: list[str] | None = None,
    on_failure: str = "skip",
    options: dict | None = None,
) -> pd.DataFrame:
    """Reconstruct every view group of one shard's locations into ``out_dir`` (see module docstring).

    Args:
        manifest: the dataset's manifest; only training drone images are used.
        dataset: manifest name.
        out_dir: the shard folder to create.
        shard, n_shards: which part of the sorted location list this call handles.
        backend: ``groundtruth``, ``colmap``, ``vggt`` or ``geolink3d``.
        grouping, groups: view-group assignment (``geolink.recon.groups``).
        heights: SUES-200 heights whose images are used (None: all).
        locations: restrict to these location IDs (to redo single locations by hand).
        on_failure: ``skip`` (record and go on) or ``stop``.
        options: backend options (``truth_dir`` for synthetic truth, ``geolink3d_root``, VGGT and
            COLMAP settings, ``threads``, ``log_path``).

    Returns:
        The QC table (also written to ``out_dir/qc.csv``).
    """
    if on_failure not in ("skip", "stop"):
        raise ValueError(f"on_failure must be 'skip' or 'stop', not {on_failure!r}")
    images = reconstruction_images(manifest, heights)
    chosen = shard_locations(list(images["location"].unique()), shard, n_shards)
    if locations is not None:
        chosen = [loc for loc in chosen if loc in set(locations)]
    options = dict(options or {})
    jobs = []
    for location in chosen:
        frames = images[images["location"] == location]
        group_frames = [g["path"].tolist() for g in assign_groups(frames, grouping, groups)]
        if backend == "geolink3d":  # the release fixes its own groups
            group_frames = [[] for _ in range(groups)]
        jobs.append((location, (location, group_frames)))
    params = {"dataset": dataset, "backend": backend, "on_failure": on_failure, "options": options}

    def finalize(partial: Path, records: dict) -> None:
        rows = [row for location in chosen for row in records[location]]
        table = pd.DataFrame(rows, columns=QC_COLUMNS)
        table.to_csv(partial / "qc.csv", index=False)
        shutil.rmtree(partial / ".work", ignore_errors=True)  # scratch space of the colmap backend

    # The fingerprint covers the image lists too: a changed manifest must not reuse stale partial work.
    records = build_tree(
        out_dir,
        {**params, "jobs": jobs},
        [(key, (*args, params)) for key, args in jobs],
        _reconstruct_location,
        finalize,
        workers=1,
        desc=f"{dataset} {backend}",
    )
    return pd.DataFrame([row for location in chosen for row in records[location]], columns=QC_COLUMNS)
