"""The ``groundtruth`` backend: the synthetic benchmark's known geometry, cut to what a view group sees.

Each synthetic location stores its true surface points and every drone image's pose
(``geometry/<ID>.npz``, ``geolink.synth.geometry``). A group's cloud is the set of true points
that project inside at least one of the group's images, in front of the camera. Occlusion is
ignored (a facade hidden behind another building still counts), so these clouds are a little
more complete than any reconstruction from the same views. Optional Gaussian noise mimics
reconstruction error. This is the default backend of the CPU benchmark: it costs milliseconds
and isolates training from reconstruction quality.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import numpy as np

from geolink.recon.result import ReconstructionError, ReconstructionResult


def image_key(dataset: str, path: str) -> tuple[str, ...]:
    """A key that identifies a drone image in both the manifest and the synthetic truth.

    The truth names images in the *released* layout; the manifest of SUES-200 points into the
    split folders, where the same frame lives under another path
    (``drone_view_512/<ID>/<h>/<k>.jpg`` vs ``Training/<h>/drone/<ID>/<k>.jpg``).
    """
    parts = PurePath(path).parts
    if dataset == "sues200":
        if "drone_view_512" in parts:
            location, height = parts[-3], parts[-2]
        else:
            height, location = parts[-4], parts[-2]
        return (location, height, parts[-1])
    return (parts[-2], parts[-1])


def load_truth(path: str | Path) -> dict:
    """Arrays of one location's ``geometry/<ID>.npz``."""
    path = Path(path)
    if not path.is_file():
        raise ReconstructionError(
            f"ground-truth geometry {path} is missing; the groundtruth backend only works on the synthetic "
            f"benchmark (datasets.<name>.source: synthetic). Choose backend vggt or colmap for real data."
        )
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def reconstruct_groundtruth(
    dataset: str, image_paths: list[str], truth_path: str | Path, *, noise_std: float = 0.0, seed: int = 0
) -> ReconstructionResult:
    """True points seen by the given drone images (see module docstring).

    Args:
        dataset: manifest name, for matching image paths to the truth's names.
        image_paths: the group's drone images (manifest paths).
        truth_path: the location's ``geometry/<ID>.npz``.
        noise_std: standard deviation of Gaussian noise added to every coordinate, metres.
        seed: noise seed.
    """
    truth = load_truth(truth_path)
    by_key = {image_key(dataset, str(name)): i for i, name in enumerate(truth["image_names"])}
    index = [by_key.get(image_key(dataset, p)) for p in image_paths]
    missing = [p for p, i in zip(image_paths, index, strict=True) if i is None]
    if missing:
        raise ReconstructionError(f"{len(missing)} image(s) have no pose in {truth_path}, e.g. {missing[0]}")
    points, colors = truth["points"].astype(np.float64), truth["colors"]
    seen = np.zeros(len(points), dtype=bool)
    for i in index:
        cam = points @ truth["R"][i].T + truth["t"][i]
        in_front = cam[:, 2] > 1e-6
        uv = np.full((len(points), 2), -1.0)
        uv[in_front] = (cam[in_front] @ truth["K"][i].T)[:, :2] / cam[in_front, 2:3]
        seen |= (
            in_front
            & (uv[:, 0] >= 0)
            & (uv[:, 0] < truth["width"][i])
            & (uv[:, 1] >= 0)
            & (uv[:, 1] < truth["height"][i])
        )
    if not seen.any():
        raise ReconstructionError(f"none of the {len(points)} true points of {truth_path} is inside the group's views")
    xyz = points[seen]
    if noise_std > 0:
        xyz = xyz + np.random.default_rng(seed).normal(0.0, noise_std, size=xyz.shape)
    return ReconstructionResult(
        xyz=xyz,
        rgb=colors[seen],
        error=np.full(len(xyz), np.nan),
        n_images=len(image_paths),
        n_registered=len(image_paths),
        image_names=list(image_paths),
        poses=np.concatenate([truth["R"][index], truth["t"][index][:, :, None]], axis=2),
        intrinsics=truth["K"][index],
        backend="groundtruth",
        info={"noise_std": noise_std},
    )
