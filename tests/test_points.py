"""Point sampling: FPS against hand-worked and brute-force references, normalisation, draws and the point bank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geolink.points import (
    PointBank,
    PointCloudTooSmall,
    farthest_point_sample,
    is_padded,
    load_point_bank,
    normalize_unit_sphere,
    sample_draws,
    save_point_bank,
)


def brute_force_fps(xyz: np.ndarray, n: int, start: int) -> list[int]:
    """O(N^2 n) reference: recompute every candidate's distance to every chosen point at every step."""
    chosen = [start]
    while len(chosen) < n:
        best, best_index = -1.0, -1
        for i in range(len(xyz)):
            nearest = min(float(((xyz[i] - xyz[j]) ** 2).sum()) for j in chosen)
            if nearest > best:  # strict: ties keep the lowest index
                best, best_index = nearest, i
        chosen.append(best_index)
    return chosen


def official_fps(point: np.ndarray, npoint: int, start: int) -> np.ndarray:
    """The official numpy FPS (docs/official_code.md §1.3), with its np.random.randint start passed in."""
    n = point.shape[0]
    centroids = np.zeros((npoint,))
    distance = np.ones((n,)) * 1e10
    farthest = start
    for i in range(npoint):
        centroids[i] = farthest
        dist = np.sum((point - point[farthest, :]) ** 2, -1)
        mask = dist < distance
        distance[mask] = dist[mask]
        farthest = np.argmax(distance, -1)
    return centroids.astype(np.int64)


def test_fps_on_a_line_by_hand() -> None:
    # x = 0..10: from the left end the right end is farthest, then the middle; later ties go to the lowest
    # index: {0,10,5} leaves 2,3,7,8 at distance 2 -> 2; then 7 (distance 2); then all remaining at 1 -> 1, 3, ...
    xyz = np.stack([np.arange(11.0), np.zeros(11), np.zeros(11)], axis=1)
    np.testing.assert_array_equal(farthest_point_sample(xyz, 11, start=0), [0, 10, 5, 2, 7, 1, 3, 4, 6, 8, 9])
    np.testing.assert_array_equal(farthest_point_sample(xyz, 3, start=10), [10, 0, 5])
    np.testing.assert_array_equal(farthest_point_sample(xyz, 2, start=4), [4, 10])


def test_fps_matches_brute_force_and_official_code_on_random_clouds() -> None:
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(150, 3)) * [5.0, 1.0, 0.2] + 1000.0  # anisotropic, far from the origin
    for start in (0, 17, 149):
        ours = farthest_point_sample(xyz, 40, start=start)
        assert ours.dtype == np.int64 and ours.shape == (40,)
        np.testing.assert_array_equal(ours, brute_force_fps(xyz, 40, start))
    big = rng.random((3000, 3)).astype(np.float32)
    np.testing.assert_array_equal(farthest_point_sample(big, 1024, start=123), official_fps(big, 1024, 123))


def test_fps_pads_cyclically_when_the_cloud_is_small() -> None:
    xyz = np.array([[0.0, 0, 0], [1, 0, 0], [4, 0, 0], [0, 3, 0], [2, 2, 2]])
    order = brute_force_fps(xyz, 5, 1)
    indices = farthest_point_sample(xyz, 12, start=1)
    np.testing.assert_array_equal(indices, order + order + order[:2])
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert is_padded(5, 12) and not is_padded(12, 12) and not is_padded(13, 12)
    np.testing.assert_array_equal(farthest_point_sample(xyz[:1], 3), [0, 0, 0])


def test_fps_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        farthest_point_sample(np.zeros((0, 3)), 4)
    with pytest.raises(ValueError, match="outside 0..2"):
        farthest_point_sample(np.zeros((3, 3)), 2, start=3)
    with pytest.raises(ValueError, match="n_samples"):
        farthest_point_sample(np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        farthest_point_sample(np.zeros((3, 4)), 2)


def test_normalize_unit_sphere() -> None:
    normalized, centroid, scale = normalize_unit_sphere([[0.0, 0, 0], [2, 0, 0], [1, 1, 0], [1, -1, 0]])
    np.testing.assert_array_equal(centroid, [1.0, 0.0, 0.0])
    assert scale == 1.0
    np.testing.assert_array_equal(normalized, [[-1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0]])

    xyz = np.random.default_rng(1).normal(size=(500, 3)) * 40.0 + [1e4, -3e3, 12.0]
    normalized, centroid, scale = normalize_unit_sphere(xyz)
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-12)
    assert np.linalg.norm(normalized, axis=1).max() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(normalized * scale + centroid, xyz, rtol=0, atol=1e-11)
    np.testing.assert_allclose(centroid, xyz.mean(axis=0))

    single, centroid, scale = normalize_unit_sphere([[3.0, 4.0, 5.0]])
    assert scale == 1.0 and np.array_equal(single, [[0.0, 0.0, 0.0]]) and np.array_equal(centroid, [3, 4, 5])


def recover_start(xyz: np.ndarray, draw: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Find the FPS start, scale and centroid behind a draw, from its first two points only.

    The second FPS point is the farthest from the start, so the direction from draw[0] to draw[1] equals the
    direction from xyz[s] to its farthest point for the true start s; the length ratio gives the scale.
    """
    d2 = ((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(axis=2)
    farthest = d2.argmax(axis=1)
    step = xyz[farthest] - xyz
    target = (draw[1] - draw[0]).astype(np.float64)
    cosine = step @ target / np.linalg.norm(step, axis=1) / np.linalg.norm(target)
    start = int(np.argmax(cosine))
    scale = float(np.linalg.norm(step[start]) / np.linalg.norm(target))
    return start, scale, xyz[start] - scale * draw[0]


def test_sample_draws_are_normalised_fps_draws_from_random_starts() -> None:
    xyz = np.random.default_rng(2).normal(size=(1500, 3)) * [30.0, 20.0, 5.0]
    draws = sample_draws(xyz, n_points=256, n_draws=3, seed=7, presample=None)
    assert draws.shape == (3, 256, 3) and draws.dtype == np.float32
    starts = set()
    for draw in draws:
        np.testing.assert_allclose(draw.mean(axis=0), 0.0, atol=1e-6)
        assert np.linalg.norm(draw, axis=1).max() == pytest.approx(1.0, abs=1e-6)
        start, _, _ = recover_start(xyz, draw)
        expected, _, _ = normalize_unit_sphere(xyz[farthest_point_sample(xyz, 256, start)])
        np.testing.assert_allclose(draw, expected, atol=1e-6)
        starts.add(start)
    assert len(starts) == 3  # every draw starts somewhere else


def test_sample_draws_determinism_and_variation() -> None:
    xyz = np.random.default_rng(3).random((30000, 3))
    a = sample_draws(xyz, n_draws=2, seed=11)
    assert a.shape == (2, 1024, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, sample_draws(xyz, n_draws=2, seed=11))
    assert not np.array_equal(a, sample_draws(xyz, n_draws=2, seed=12))
    assert not np.array_equal(a[0], a[1])
    # presample (30000 > 20000) changes which points are candidates, so the result differs from full FPS.
    assert not np.array_equal(a, sample_draws(xyz, n_draws=2, seed=11, presample=None))
    for draw in a:
        assert np.linalg.norm(draw, axis=1).max() == pytest.approx(1.0, abs=1e-6)
        assert len(np.unique(draw, axis=0)) == 1024


def test_sample_draws_pads_small_clouds_with_the_full_cloud() -> None:
    xyz = np.random.default_rng(4).normal(size=(100, 3)) + 5.0
    draws = sample_draws(xyz, n_points=1024, n_draws=2, seed=0)
    # All 100 points, repeated cyclically; normalised on the 100 distinct points, so the full cloud's centroid.
    expected, centroid, scale = normalize_unit_sphere(xyz)
    for draw in draws:
        np.testing.assert_array_equal(draw[100:200], draw[:100])
        np.testing.assert_array_equal(draw[1000:], draw[:24])
        order = np.lexsort(draw[:100].T)
        np.testing.assert_allclose(draw[:100][order], expected[np.lexsort(expected.T)].astype(np.float32), atol=1e-6)
    sample_draws(xyz[:16], n_points=1024, n_draws=1, seed=0)  # exactly min_points is enough


def test_too_small_clouds_raise_a_clear_error() -> None:
    with pytest.raises(PointCloudTooSmall, match=r"point cloud 0839_group1 has 15 points, fewer than min_points=16"):
        sample_draws(np.zeros((15, 3)), seed=0, name="0839_group1")
    with pytest.raises(ValueError, match="has 0 points"):
        sample_draws(np.zeros((0, 3)), seed=0)
    with pytest.raises(ValueError, match="non-finite"):
        sample_draws(np.full((20, 3), np.inf), seed=0)


@pytest.mark.parametrize("mmap", [False, True])
def test_point_bank_round_trip_and_draw_cycling(tmp_path: Path, mmap: bool) -> None:
    rng = np.random.default_rng(5)
    keys = ["0839_group0", "0839_group1", "0840_group0"]
    draws = rng.normal(size=(3, 4, 1024, 3)).astype(np.float32)
    meta = {"seed": 1, "n_points": 1024, "presample": 20000, "source": "test"}
    path = save_point_bank(tmp_path / "banks" / "points.npz", keys, draws, meta)
    assert [p.name for p in path.parent.iterdir()] == ["points.npz"]

    bank = load_point_bank(path, mmap=mmap)
    assert isinstance(bank, PointBank)
    assert bank.keys == keys and bank.meta == meta and len(bank) == 3 and "0840_group0" in bank
    assert (bank.n_draws, bank.n_points) == (4, 1024)
    assert isinstance(bank.draws, np.memmap) == mmap
    for k, key in enumerate(keys):
        for d in range(4):
            sample = bank.get(key, d)
            np.testing.assert_array_equal(sample, draws[k, d])
            assert sample.dtype == np.float32 and sample.flags.c_contiguous and sample.flags.writeable
        for epoch in range(10):
            np.testing.assert_array_equal(bank.draw_for(key, epoch), draws[k, epoch % 4])
    sample = bank.get("0839_group0", 0)
    sample[:] = 0.0  # a copy: the bank is untouched
    np.testing.assert_array_equal(bank.get("0839_group0", 0), draws[0, 0])
    with pytest.raises(KeyError, match="no point cloud '9999_group0'"):
        bank.get("9999_group0", 0)
    with pytest.raises(IndexError):
        bank.get("0839_group0", 4)

    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(bank.draw_for("0840_group0", 5))
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (1024, 3)


def test_point_bank_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        save_point_bank(tmp_path / "b.npz", ["a", "a"], np.zeros((2, 1, 4, 3)), {})
    with pytest.raises(ValueError, match=r"\[K=1, D, N, 3\]"):
        save_point_bank(tmp_path / "b.npz", ["a"], np.zeros((2, 1, 4, 3)), {})
    np.savez(tmp_path / "other.npz", draws=np.zeros(3))
    with pytest.raises(ValueError, match="not a geolink-point-bank/1 point bank"):
        load_point_bank(tmp_path / "other.npz")
    empty = load_point_bank(save_point_bank(tmp_path / "empty.npz", [], np.zeros((0, 2, 8, 3)), {"n": 0}))
    assert len(empty) == 0 and empty.n_draws == 2
