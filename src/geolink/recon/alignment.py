"""Scoring a reconstruction against truth: similarity alignment (Umeyama) and Chamfer distance.

SfM and VGGT return points in an arbitrary frame (rotation, translation and scale unknown). The
synthetic benchmark knows the true camera centres, so ``align_by_cameras`` fits the similarity that
maps the reconstructed centres onto the true ones, and ``chamfer_at_n`` then compares the aligned
cloud with the true surface samples at a fixed number of points. At 1024 points on the synthetic
University-1652, SfM (pycolmap, 48 views) vs truth scores 5.3-6.2 m and two samplings of the truth itself
3.6-3.8 m, the floor at that size (``docs/points.md``, "Quality control", measured with the script there).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial import cKDTree

from geolink.recon.result import ReconstructionResult


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity with ``target ≈ s R source + t`` (Umeyama 1991, IEEE TPAMI 13(4)).

    The rotation is proper (``det R = +1``) even when the best orthogonal fit would be a reflection:
    Umeyama's sign correction flips the axis of the smallest singular value instead.

    Args:
        source: ``[N, 3]`` points (N >= 3, not all collinear for a unique rotation).
        target: ``[N, 3]`` corresponding points.
        with_scale: fit the scale; ``False`` gives a rigid fit with ``s = 1``.

    Returns:
        ``(s, R [3, 3], t [3])``.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(f"umeyama needs two [N, 3] arrays of equal shape, got {source.shape} and {target.shape}")
    if len(source) < 3:
        raise ValueError(f"umeyama needs at least 3 correspondences, got {len(source)}")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    xs, xt = source - mu_s, target - mu_t
    covariance = xt.T @ xs / len(source)  # Umeyama's Sigma_xy, [3, 3]
    U, D, Vt = np.linalg.svd(covariance)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1.0
    R = U @ S @ Vt
    var_s = (xs**2).sum() / len(source)
    s = float(np.trace(np.diag(D) @ S) / var_s) if with_scale else 1.0
    t = mu_t - s * R @ mu_s
    return s, R, t


def apply_similarity(points: np.ndarray, s: float, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``s R p + t`` for every row ``p`` of ``points [N, 3]``; returns ``[N, 3]``."""
    return s * np.asarray(points, dtype=np.float64) @ np.asarray(R).T + np.asarray(t)


def camera_centers(poses: np.ndarray) -> np.ndarray:
    """Centres ``C = -R^T t`` ``[V, 3]`` of world-to-camera poses ``[V, 3, 4]``."""
    R, t = poses[:, :, :3], poses[:, :, 3]
    return -np.einsum("vji,vj->vi", R, t)


def _lookup(name: str, true_centers: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Exact key first, then the key that ``name`` ends with on a path boundary (absolute vs relative paths)."""
    if name in true_centers:
        return true_centers[name]
    norm = name.replace("\\", "/")
    matches = [key for key in true_centers if norm.endswith("/" + key.replace("\\", "/").lstrip("/"))]
    return true_centers[max(matches, key=len)] if matches else None


def align_by_cameras(
    result: ReconstructionResult, true_centers: Mapping[str, np.ndarray], with_scale: bool = True
) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity from the reconstruction's frame to the truth's, fitted on registered camera centres.

    Args:
        result: a reconstruction with ``poses [V, 3, 4]`` world-to-camera and ``image_names [V]``.
        true_centers: true centre ``[3]`` per image name. A registered name matches a key equal to it or,
            failing that, a key it ends with on a ``/`` boundary, so absolute input paths match the
            layout-relative names of a synthetic ``geometry/<ID>.npz``.
        with_scale: fit the scale (SfM) or not (metric backends).

    Returns:
        ``(s, R [3, 3], t [3])`` with ``true ≈ s R reconstructed + t``.

    Raises:
        ValueError: fewer than 3 registered images have a true centre.
    """
    centers = camera_centers(np.asarray(result.poses, dtype=np.float64))
    source, target = [], []
    for name, center in zip(result.image_names, centers, strict=True):
        truth = _lookup(name, true_centers)
        if truth is not None:
            source.append(center)
            target.append(np.asarray(truth, dtype=np.float64))
    if len(source) < 3:
        raise ValueError(
            f"only {len(source)} of {len(result.image_names)} registered images have a true centre; need 3"
        )
    return umeyama(np.array(source), np.array(target), with_scale=with_scale)


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance: the mean of the two directions' mean nearest-neighbour distances.

    ``(mean_i min_j |a_i - b_j| + mean_j min_i |b_j - a_i|) / 2``, in the points' unit (Euclidean, not
    squared). The ``/ 2`` makes a cloud and its copy shifted by ``d`` (with each point's nearest
    neighbour its shifted partner) score exactly ``d``, not ``2 d``.

    Args:
        a: ``[N, 3]`` points.
        b: ``[M, 3]`` points.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"chamfer_distance of an empty cloud ({len(a)} and {len(b)} points)")
    a_to_b, _ = cKDTree(b).query(a)
    b_to_a, _ = cKDTree(a).query(b)
    return float((a_to_b.mean() + b_to_a.mean()) / 2)


def random_subsample(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``points [N, 3]`` drawn uniformly without replacement (all of them when ``N <= n``)."""
    if len(points) <= n:
        return np.asarray(points)
    return np.asarray(points)[rng.choice(len(points), size=n, replace=False)]


def chamfer_at_n(a: np.ndarray, b: np.ndarray, n: int = 1024, seed: int = 0) -> float:
    """Chamfer distance after subsampling both clouds to ``n`` points uniformly at random.

    Random (not farthest-point) sampling: at a fixed ``n`` the score
    mixes geometric error with sampling sparsity, so it is only comparable between runs at the same ``n``
    (two random 1024-point samplings of the same synthetic truth score 3.6-3.8 m, ``docs/points.md``).

    Args:
        a: ``[N, 3]`` points.
        b: ``[M, 3]`` points.
        n: points kept from each cloud.
        seed: seed of the subsampling.
    """
    rng = np.random.default_rng(seed)
    return chamfer_distance(random_subsample(a, n, rng), random_subsample(b, n, rng))
