"""COLMAP backend: failure on featureless input (fast) and an end-to-end check on one synthetic location.

The e2e location is the cheapest configuration that registers reliably (measured over 12 University-1652
locations, campus domain, 256 px, exhaustive matching): a 48-view descending spiral (15 degree steps)
registered 48/48 every time, with or without known intrinsics, in 3-6 s on 2 cores; a 32-view spiral
registered 12-32 of 32. After a similarity fit on camera centres the 48-view models scored camera RMSE
0.6-0.9 m and Chamfer 5.4-6.0 m at 1024 points against the truth (two samplings of the truth itself: 3.8 m).
The bounds below leave margin on those figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geolink.recon.alignment import align_by_cameras, apply_similarity, camera_centers, chamfer_at_n
from geolink.recon.colmap import reconstruct_colmap
from geolink.recon.result import ReconstructionError
from geolink.synth import generate

VIEWS = 48
MIN_REGISTERED_FRACTION = 0.8
MAX_CHAMFER_M = 8.0
MAX_CAMERA_RMSE_M = 2.0


def test_featureless_images_raise_with_counts(tmp_path, capfd):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"blank_{k}.jpg")
        Image.new("RGB", (128, 128), (120, 120, 120)).save(paths[-1])
    log = tmp_path / "logs" / "colmap.log"
    with pytest.raises(ReconstructionError, match=r"no model from 3 images \(0 SIFT keypoints per image"):
        reconstruct_colmap([str(p) for p in paths], tmp_path / "work", log_path=str(log))
    # COLMAP's glog output went to the log file, not to the console.
    assert "Failed to create any sparse model" in log.read_text()
    captured = capfd.readouterr()
    assert "incremental_pipeline" not in captured.err + captured.out


def test_bad_input_is_rejected(tmp_path):
    image = tmp_path / "one.jpg"
    Image.new("RGB", (64, 64)).save(image)
    with pytest.raises(ReconstructionError, match="at least 2 images"):
        reconstruct_colmap([str(image)], tmp_path / "work")
    with pytest.raises(ReconstructionError, match="does not exist"):
        reconstruct_colmap([str(image), str(tmp_path / "missing.jpg")], tmp_path / "work")
    with pytest.raises(ValueError, match="matching"):
        reconstruct_colmap([str(image), str(image)], tmp_path / "work", matching="vocab_tree")


@pytest.fixture(scope="module")
def spiral_location(tmp_path_factory) -> tuple[Path, dict]:
    """One campus location of synthetic University-1652: 48 drone views at 256 px and its truth."""
    out = tmp_path_factory.mktemp("u1652") / "tree"
    # workers=1: no forked pool, whose SIGTERMed workers would print glog's crash handler traces.
    generate(
        "university1652",
        out,
        seed=0,
        image_size=256,
        geometry_points=20000,
        workers=1,
        domain="campus",
        n_train=1,
        n_test=0,
        n_distractors=0,
        drone_views=VIEWS,
        street_views=0,
        google_views=0,
        google_empty_fraction=0.0,
        satellite_extent=150.0,
    )
    (geometry,) = sorted((out / "geometry").glob("*.npz"))
    with np.load(geometry) as npz:
        truth = {key: npz[key] for key in ("points", "image_names", "K", "R", "t")}
    return out / "University-Release", truth


@pytest.mark.e2e
@pytest.mark.parametrize("known_intrinsics", [True, False], ids=["fixed_K", "estimated_K"])
def test_colmap_reconstructs_a_synthetic_spiral(spiral_location, tmp_path, known_intrinsics):
    layout, truth = spiral_location
    names = [str(name) for name in truth["image_names"]]
    paths = [str(layout / name) for name in names]
    log = tmp_path / "colmap.log"

    start = time.perf_counter()
    result = reconstruct_colmap(
        paths, tmp_path / "work", intrinsics=truth["K"][0] if known_intrinsics else None, log_path=str(log)
    )
    seconds = time.perf_counter() - start

    assert result.backend == "colmap"
    assert result.n_images == VIEWS
    assert result.n_registered >= MIN_REGISTERED_FRACTION * VIEWS
    assert set(result.image_names) <= set(paths)
    assert result.poses.shape == (result.n_registered, 3, 4)
    assert result.intrinsics.shape == (result.n_registered, 3, 3)
    assert result.rgb.dtype == np.uint8 and result.rgb.shape == result.xyz.shape
    assert np.isfinite(result.error).all() and result.mean_reprojection_error < 2.0
    assert result.n_points >= 500
    assert result.info["n_models"] >= 1 and log.stat().st_size > 0
    if known_intrinsics:  # held fixed through bundle adjustment
        np.testing.assert_allclose(result.intrinsics, np.broadcast_to(truth["K"][0], result.intrinsics.shape))

    true_centers = {name: -R.T @ t for name, R, t in zip(names, truth["R"], truth["t"], strict=True)}
    s, R, t = align_by_cameras(result, true_centers)
    aligned = apply_similarity(camera_centers(result.poses), s, R, t)
    expected = np.array([true_centers[str(Path(p).relative_to(layout))] for p in result.image_names])
    camera_rmse = float(np.sqrt(((aligned - expected) ** 2).sum(axis=1).mean()))
    chamfer = chamfer_at_n(apply_similarity(result.xyz, s, R, t), truth["points"], n=1024, seed=0)
    print(
        f"colmap {'fixed' if known_intrinsics else 'estimated'} K: {result.n_registered}/{VIEWS} registered, "
        f"{result.n_points} points, {seconds:.1f} s, camera RMSE {camera_rmse:.2f} m, Chamfer@1024 {chamfer:.2f} m"
    )
    assert camera_rmse < MAX_CAMERA_RMSE_M
    assert chamfer < MAX_CHAMFER_M
