"""Similarity alignment (Umeyama) and Chamfer distance: exact cases that pin the conventions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from geolink.recon.alignment import (
    align_by_cameras,
    apply_similarity,
    camera_centers,
    chamfer_at_n,
    chamfer_distance,
    umeyama,
)
from geolink.recon.result import ReconstructionResult


def random_similarity(seed: int) -> tuple[float, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return float(rng.uniform(0.1, 10.0)), Rotation.random(random_state=seed).as_matrix(), rng.normal(0, 50, size=3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_umeyama_recovers_a_similarity_exactly(seed):
    s, R, t = random_similarity(seed)
    source = np.random.default_rng(seed + 10).normal(0, 20, size=(40, 3))
    s_hat, R_hat, t_hat = umeyama(source, apply_similarity(source, s, R, t))
    assert s_hat == pytest.approx(s, rel=1e-10)
    np.testing.assert_allclose(R_hat, R, atol=1e-10)
    np.testing.assert_allclose(t_hat, t, atol=1e-8)


def test_umeyama_with_noise_is_close():
    s, R, t = random_similarity(7)
    rng = np.random.default_rng(7)
    source = rng.normal(0, 20, size=(500, 3))
    target = apply_similarity(source, s, R, t) + rng.normal(0, 0.05, size=(500, 3))
    s_hat, R_hat, t_hat = umeyama(source, target)
    assert s_hat == pytest.approx(s, rel=1e-3)
    angle = np.degrees(Rotation.from_matrix(R_hat @ R.T).magnitude())
    assert angle < 0.05
    assert np.abs(apply_similarity(source, s_hat, R_hat, t_hat) - target).mean() < 0.1


def test_umeyama_without_scale_is_rigid():
    _, R, t = random_similarity(3)
    source = np.random.default_rng(3).normal(0, 5, size=(20, 3))
    s_hat, R_hat, t_hat = umeyama(source, 2.0 * source @ R.T + t, with_scale=False)
    assert s_hat == 1.0
    np.testing.assert_allclose(R_hat, R, atol=1e-10)  # rotation is still exact; only the scale is held


def test_umeyama_returns_a_proper_rotation_for_a_mirrored_cloud():
    source = np.random.default_rng(4).normal(0, 10, size=(30, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0])  # the best orthogonal fit is this reflection
    _, R_hat, _ = umeyama(source, mirrored)
    assert np.linalg.det(R_hat) == pytest.approx(1.0)
    np.testing.assert_allclose(R_hat @ R_hat.T, np.eye(3), atol=1e-10)


def test_umeyama_rejects_bad_shapes():
    with pytest.raises(ValueError, match="equal shape"):
        umeyama(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="at least 3"):
        umeyama(np.zeros((2, 3)), np.zeros((2, 3)))


def test_align_by_cameras_inverts_the_reconstruction_frame():
    """Cameras on a ring, seen by a reconstruction in a frame ``x' = s R x + t``; names differ by a root."""
    n = 12
    az = np.linspace(0, 2 * np.pi, n, endpoint=False)
    centers_true = np.c_[100 * np.cos(az), 100 * np.sin(az), np.linspace(120, 250, n)]
    rotations = Rotation.random(n, random_state=5).as_matrix()
    translations = -np.einsum("vij,vj->vi", rotations, centers_true)
    s, R, t = random_similarity(5)
    # World-to-camera poses in the reconstruction frame: R_c R^T and s t_c - R_c R^T t (centres map to s R C + t).
    rot_rec = rotations @ R.T
    trans_rec = s * translations - np.einsum("vij,j->vi", rot_rec, t)
    names = [f"train/drone/0001/image-{k:02d}.jpeg" for k in range(n)]
    result = ReconstructionResult(
        xyz=np.zeros((0, 3)),
        rgb=np.zeros((0, 3), np.uint8),
        error=np.zeros(0),
        n_images=n,
        n_registered=n,
        image_names=[f"/data/University-Release/{name}" for name in names],
        poses=np.concatenate([rot_rec, trans_rec[:, :, None]], axis=2),
    )
    np.testing.assert_allclose(camera_centers(result.poses), apply_similarity(centers_true, s, R, t), atol=1e-8)
    s_hat, R_hat, t_hat = align_by_cameras(result, dict(zip(names, centers_true, strict=True)))
    np.testing.assert_allclose(
        apply_similarity(camera_centers(result.poses), s_hat, R_hat, t_hat), centers_true, atol=1e-8
    )
    with pytest.raises(ValueError, match="true centre"):
        align_by_cameras(result, {"other/image.jpeg": np.zeros(3)})


def test_chamfer_of_identical_clouds_is_zero():
    cloud = np.random.default_rng(0).normal(size=(200, 3))
    assert chamfer_distance(cloud, cloud) == 0.0


def test_chamfer_of_a_shifted_sparse_cloud_is_the_shift():
    # A 10 m grid shifted by 0.7 m: every point's nearest neighbour is its own shifted partner.
    grid = np.stack(np.meshgrid(*[np.arange(5) * 10.0] * 3), axis=-1).reshape(-1, 3)
    shifted = grid + np.array([0.7, 0.0, 0.0])
    assert chamfer_distance(grid, shifted) == pytest.approx(0.7)


def test_chamfer_averages_the_two_directions():
    a = np.array([[0.0, 0.0, 0.0]])
    b = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    # a -> b: 0; b -> a: (0 + 3) / 2 = 1.5; halved sum: 0.75.
    assert chamfer_distance(a, b) == pytest.approx(0.75)


def test_chamfer_is_symmetric():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 3)), rng.normal(1.0, 2.0, size=(120, 3))
    assert chamfer_distance(a, b) == pytest.approx(chamfer_distance(b, a))


def test_chamfer_rejects_empty_clouds():
    with pytest.raises(ValueError, match="empty"):
        chamfer_distance(np.zeros((0, 3)), np.zeros((4, 3)))


def test_chamfer_at_n_subsamples_reproducibly():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5000, 3)), rng.normal(size=(3000, 3))
    assert chamfer_at_n(a, b, n=256, seed=3) == chamfer_at_n(a, b, n=256, seed=3)
    assert chamfer_at_n(a, b, n=256, seed=3) != chamfer_at_n(a, b, n=256, seed=4)
    # Sparser samples sit farther apart: the score grows as n shrinks, hence "compare at the same n".
    assert chamfer_at_n(a, b, n=256) > chamfer_at_n(a, b, n=2048)
    small = rng.normal(size=(100, 3))
    assert chamfer_at_n(small, small + 0.1, n=1024) == pytest.approx(chamfer_distance(small, small + 0.1))
