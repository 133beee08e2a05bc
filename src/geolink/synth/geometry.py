"""Ground truth of a synthetic location: a coloured surface point cloud and the drone camera poses.

The real datasets have neither; the synthetic benchmark keeps them so that reconstruction
backends can be scored (Chamfer distance after similarity alignment) and a ``groundtruth``
backend can feed training with perfect geometry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geolink.synth.camera import PerspectiveCamera
from geolink.synth.render import box_albedo, ground_albedo, tree_albedo
from geolink.synth.scene import Scene


def _box_faces(lo: np.ndarray, hi: np.ndarray):
    """The five visible faces of a box (no bottom) as (axis, value, normal sign)."""
    return [(0, lo[0], -1), (0, hi[0], 1), (1, lo[1], -1), (1, hi[1], 1), (2, hi[2], 1)]


def sample_surface(scene: Scene, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform samples of the visible surfaces: ground in the populated square, box sides and tops, crowns.

    Returns:
        points: ``[n_points, 3]`` float32, world frame (x east, y north, z up, metres, origin at the target).
        colors: ``[n_points, 3]`` uint8 albedo.
    """
    patches = []  # (area, sampler) pairs; each sampler returns block-frame points, normals and a colour fn
    side = 2 * scene.half_extent
    patches.append((side * side, "ground", None))
    for k, (lo, hi) in enumerate(zip(scene.box_lo, scene.box_hi, strict=True)):
        size = hi - lo
        for axis, value, sign in _box_faces(lo, hi):
            other = [a for a in range(3) if a != axis]
            patches.append((size[other[0]] * size[other[1]], "box", (k, axis, value, sign)))
    for k, r in enumerate(scene.tree_radii):
        # Knud Thomsen's approximation of an ellipsoid's surface area.
        p = 1.6075
        area = 4 * np.pi * (((r[0] * r[1]) ** p + (r[0] * r[2]) ** p + (r[1] * r[2]) ** p) / 3) ** (1 / p)
        patches.append((area, "tree", k))

    areas = np.array([a for a, _, _ in patches])
    counts = rng.multinomial(n_points, areas / areas.sum())
    points, colors = [], []
    for (_, what, info), count in zip(patches, counts, strict=True):
        if count == 0:
            continue
        if what == "ground":
            p = np.c_[rng.uniform(-scene.half_extent, scene.half_extent, size=(count, 2)), np.zeros(count)]
            c = ground_albedo(scene, p)
        elif what == "box":
            k, axis, value, sign = info
            p = rng.uniform(scene.box_lo[k], scene.box_hi[k], size=(count, 3))
            p[:, axis] = value
            n = np.zeros((count, 3))
            n[:, axis] = sign
            c = box_albedo(scene, p, n, np.full(count, k))
        else:
            k = info
            u = rng.normal(size=(count, 3))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            p = scene.tree_center[k] + u * scene.tree_radii[k]
            c = tree_albedo(scene, p, np.full(count, k))
        points.append(p)
        colors.append(c)
    points = scene.to_world(np.concatenate(points))
    colors = np.concatenate(colors)
    return points.astype(np.float32), (colors * 255 + 0.5).astype(np.uint8)


def save_geometry(
    path: Path,
    points: np.ndarray,
    colors: np.ndarray,
    cameras: list[tuple[str, PerspectiveCamera]],
) -> None:
    """Write one location's truth as ``.npz``: ``points [N,3]``, ``colors [N,3]``, and per drone image
    ``image_names [V]`` (path relative to the dataset root), ``K [V,3,3]``, ``R [V,3,3]``, ``t [V,3]``
    (world-to-camera, COLMAP convention), ``width``, ``height``."""
    names = np.array([name for name, _ in cameras], dtype=str)
    np.savez_compressed(
        path,
        points=points,
        colors=colors,
        image_names=names,
        K=np.stack([c.K for _, c in cameras]).astype(np.float64),
        R=np.stack([c.R for _, c in cameras]).astype(np.float64),
        t=np.stack([c.t for _, c in cameras]).astype(np.float64),
        width=np.array([c.width for _, c in cameras]),
        height=np.array([c.height for _, c in cameras]),
    )
