"""The VGGT backend against a test double of the `vggt` package (tests/fake_vggt).

The double renders the plane z = 0 seen by known cameras, in VGGT's conventions (each forward pass in its
first camera's frame, at its own scale), so these tests check geometry, not just shapes: reconstructed points
must land back on the plane once mapped into the scene frame.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from geolink.recon import vggt as backend
from geolink.recon.result import ReconstructionError

FAKE_ROOT = Path(__file__).parent / "fake_vggt"


def _drop_vggt_modules() -> None:
    for name in [m for m in sys.modules if m == "vggt" or m.startswith("vggt.")]:
        del sys.modules[name]


@pytest.fixture
def fake_vggt(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Make ``import vggt`` find the double (fresh module state per test) and hand back its pieces."""
    _drop_vggt_modules()
    backend._shared_model.cache_clear()  # it may hold a model from another test's copy of the double
    monkeypatch.syspath_prepend(str(FAKE_ROOT))
    model_module = importlib.import_module("vggt.models.vggt")
    scene_module = importlib.import_module("vggt._fake_scene")
    yield SimpleNamespace(
        VGGT=model_module.VGGT,
        FakeScene=scene_module.FakeScene,
        default_scene=scene_module.default_scene,
        look_down=scene_module.look_down,
        frame_colour=scene_module.frame_colour,
    )
    _drop_vggt_modules()
    backend._shared_model.cache_clear()


def write_frames(folder: Path, n: int, colour, size: tuple[int, int] = (60, 60)) -> list[str]:
    """``n`` uniform images whose colour tells the double which camera took them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"image-{k:02d}.png"
        Image.new("RGB", size, colour(k)).save(path)
        paths.append(str(path))
    return paths


def to_scene_frame(xyz: np.ndarray, scene, scale: float) -> np.ndarray:
    """Undo VGGT's frame: anchor camera coordinates at the first pass's scale -> scene coordinates."""
    extrinsic = scene.extrinsic(0)
    return (xyz / scale - extrinsic[:, 3]) @ extrinsic[:, :3]  # R0^T (x / s - t0), for row vectors


def camera_centres(poses: np.ndarray) -> np.ndarray:
    """``[V, 3]`` centres -R^T t of world-to-camera poses ``[V, 3, 4]``."""
    return -np.einsum("vji,vj->vi", poses[:, :, :3], poses[:, :, 3])


# --- chunking -------------------------------------------------------------------------------------------------


def test_chunk_indices_put_the_anchor_first_in_balanced_chunks():
    assert backend.chunk_indices(5, 2) == [[0, 1], [0, 2], [0, 3], [0, 4]]
    assert backend.chunk_indices(10, 4) == [[0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9]]
    assert backend.chunk_indices(3, 32) == [[0, 1, 2]]
    assert backend.chunk_indices(1, 1) == [[0]]
    # 33 frames in chunks of 32: two chunks of 17, not one of 32 and one of 2.
    assert [len(c) for c in backend.chunk_indices(33, 32)] == [17, 17]
    with pytest.raises(ValueError, match="at least 2"):
        backend.chunk_indices(3, 1)


def test_chunks_of_two_cover_every_frame_and_land_in_one_frame(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 5, fake_vggt.frame_colour)
    model = fake_vggt.VGGT()
    result = backend.reconstruct_vggt(paths, chunk_size=2, device="cpu", model=model, max_points=10**9)

    assert all(len(frames) <= 2 for frames in model.calls)
    assert all(frames[0] == 0 for frames in model.calls), "the anchor opens every chunk"
    assert sorted(k for frames in model.calls for k in frames[1:]) == [1, 2, 3, 4]
    assert result.info["frames_per_forward"] == [2, 2, 2, 2]
    assert result.n_registered == result.n_images == 5
    assert result.image_names == paths

    # VGGT gave every pass its own scale; aligned to the first chunk, all points lie on the plane z = 0 ...
    assert len({round(s, 9) for s in model.scales}) == 4
    scene, scale = model.scene, model.scales[0]
    on_scene = to_scene_frame(result.xyz, scene, scale)
    assert np.abs(on_scene[:, 2]).max() < 1e-4
    # ... every camera sits where it really is ...
    np.testing.assert_allclose(to_scene_frame(camera_centres(result.poses), scene, scale), scene.centres[:5], atol=1e-4)
    # ... and every frame contributed each of its pixels once.
    colours, counts = np.unique(result.rgb, axis=0, return_counts=True)
    assert {tuple(c) for c in colours} == {fake_vggt.frame_colour(k) for k in range(5)}
    assert set(counts) == {42 * 42}
    np.testing.assert_allclose(result.info["chunk_scales"][1:], [model.scales[0] / s for s in model.scales[1:]])


def test_chunked_and_single_pass_agree(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 6, fake_vggt.frame_colour)
    chunked_model, single_model = fake_vggt.VGGT(), fake_vggt.VGGT()
    chunked = backend.reconstruct_vggt(paths, chunk_size=3, device="cpu", model=chunked_model)
    single = backend.reconstruct_vggt(paths, chunk_size=32, device="cpu", model=single_model)
    assert len(single_model.calls) == 1 and len(chunked_model.calls) == 3
    # Same cameras up to the global scale, which only depends on which frames the first pass saw.
    ratio = single_model.scales[0] / chunked_model.scales[0]
    np.testing.assert_allclose(chunked.poses[:, :, :3], single.poses[:, :, :3], atol=1e-5)
    np.testing.assert_allclose(chunked.poses[:, :, 3] * ratio, single.poses[:, :, 3], atol=1e-5)


def test_align_chunk_maps_into_the_anchor_camera_at_the_reference_scale():
    rng = np.random.default_rng(0)
    angle = np.deg2rad(30)
    rot_a = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    extrinsics = np.stack(
        [np.concatenate([rot_a, [[1.0], [0.0], [0.5]]], 1), np.concatenate([np.eye(3), [[0.0], [2.0], [0.0]]], 1)]
    )
    points = rng.uniform(-1, 1, (2, 3, 4, 3)) + [0, 0, 5]
    anchor_depth = (points[0] @ rot_a.T + extrinsics[0, :, 3])[..., 2]

    aligned_points, aligned_extrinsics, scale, depth = backend.align_chunk(points, extrinsics, 2.0 * anchor_depth)

    assert scale == pytest.approx(2.0)
    np.testing.assert_allclose(depth, anchor_depth)
    np.testing.assert_allclose(aligned_extrinsics[0], np.concatenate([np.eye(3), np.zeros((3, 1))], 1), atol=1e-12)
    # Camera coordinates of every point in every camera are the original ones, scaled by 2.
    for i in range(2):
        before = points @ extrinsics[i, :, :3].T + extrinsics[i, :, 3]
        after = aligned_points @ aligned_extrinsics[i, :, :3].T + aligned_extrinsics[i, :, 3]
        np.testing.assert_allclose(after, 2.0 * before, atol=1e-12)


# --- unprojection and intrinsics, by hand -------------------------------------------------------------------


def test_a_pixel_unprojects_where_a_hand_made_camera_puts_it(fake_vggt, tmp_path):
    # Two cameras 10 m up looking straight down, the second 1 m east and 2 m north; fx = fy = 100,
    # 42 x 42 images so cx = cy = 21; no scale normalisation. Only pixel (u, v) = (5, 7) of frame 1 is confident.
    def conf(k, h, w):
        c = np.ones((h, w))
        if k == 1:
            c[7, 5] = 10.0
        return c

    scene = fake_vggt.FakeScene(
        rotations=np.stack([fake_vggt.look_down(), fake_vggt.look_down()]),
        centres=np.array([[0.0, 0.0, 10.0], [1.0, 2.0, 10.0]]),
        focal=100.0,
        normalise_scale=False,
        conf=conf,
    )
    paths = write_frames(tmp_path / "loc", 2, fake_vggt.frame_colour, size=(42, 42))
    result = backend.reconstruct_vggt(paths, device="cpu", model=fake_vggt.VGGT(scene=scene))

    # Anchor camera axes: x east, y south, z down. Camera 1's centre there: (1, -2, 0); depth 10 everywhere.
    # Pixel (5, 7): X_cam = ((5 - 21) * 10 / 100, (7 - 21) * 10 / 100, 10) = (-1.6, -1.4, 10), plus the centre.
    np.testing.assert_allclose(result.xyz, [[1 - 1.6, -2 - 1.4, 10.0]], atol=1e-5)
    assert result.rgb.tolist() == [list(fake_vggt.frame_colour(1))]
    np.testing.assert_allclose(result.poses[1], [[1, 0, 0, -1], [0, 1, 0, 2], [0, 0, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(result.intrinsics[1], [[100, 0, 21], [0, 100, 21], [0, 0, 1]], atol=1e-4)
    assert np.isnan(result.error).all()


def test_intrinsics_are_mapped_back_to_the_input_resolution():
    k_pre = np.array([[500.0, 0, 259], [0, 500, 196], [0, 0, 1]])
    # 1000 x 750: width 1000 -> 518 (x 0.518), height 750 -> round(27.75) * 14 = 392; no crop.
    wide = backend.intrinsics_to_input_resolution(k_pre[None], [(1000, 750)], (392, 518))[0]
    np.testing.assert_allclose(wide, [[500 / 0.518, 0, 500], [0, 500 * 750 / 392, 375], [0, 0, 1]])
    # 600 x 1200: height -> 1036, centre-cropped to 518 (259 rows cut at the top); centre maps to centre.
    k_square = np.array([[400.0, 0, 259], [0, 400, 259], [0, 0, 1]])
    tall = backend.intrinsics_to_input_resolution(k_square[None], [(600, 1200)], (518, 518))[0]
    np.testing.assert_allclose(tall[:2, 2], [300, 600])
    np.testing.assert_allclose(tall[[0, 1], [0, 1]], [400 * 600 / 518, 400 * 1200 / 1036])
    # The 1000 x 750 image padded to 518 rows among taller ones: 63 rows of padding on top.
    padded = backend.intrinsics_to_input_resolution(k_square[None], [(1000, 750)], (518, 518))[0]
    np.testing.assert_allclose(padded[:2, 2], [500, (259 - 63) * 750 / 392])


# --- confidence filtering and subsampling --------------------------------------------------------------------


def column_confidence(k, h, w):
    """Confidence 1 + u: column u of every frame."""
    return np.tile(1.0 + np.arange(w), (h, 1))


def anchor_columns(result, fake_vggt) -> np.ndarray:
    """Pixel column of each point of the anchor frame (identity pose, fx = W = 42, cx = 21)."""
    anchor = (result.rgb == fake_vggt.frame_colour(0)).all(axis=1)
    xyz = result.xyz[anchor]
    return xyz[:, 0] / xyz[:, 2] * 42 + 21


def test_pixels_below_the_threshold_are_dropped(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 3, fake_vggt.frame_colour)
    model = fake_vggt.VGGT(scene=fake_vggt.default_scene(conf=column_confidence))
    result = backend.reconstruct_vggt(paths, device="cpu", model=model, conf_threshold=5.0)
    # conf >= 5 keeps columns 4..41: 38 of 42 in each of 42 rows and 3 frames.
    assert result.n_points == result.info["n_confident"] == 3 * 42 * 38
    assert result.info["n_pixels"] == 3 * 42 * 42
    np.testing.assert_allclose(anchor_columns(result, fake_vggt).min(), 4, atol=1e-3)


def test_percentile_mode_drops_the_lowest_share(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 3, fake_vggt.frame_colour)
    model = fake_vggt.VGGT(scene=fake_vggt.default_scene(conf=column_confidence))
    result = backend.reconstruct_vggt(paths, device="cpu", model=model, conf_percentile=50.0)
    # Median confidence 21.5: columns 21..41 stay, half of them.
    assert result.n_points == 3 * 42 * 21
    np.testing.assert_allclose(anchor_columns(result, fake_vggt).min(), 21, atol=1e-3)
    assert result.info["conf_percentile"] == 50.0 and result.info["conf_threshold"] is None
    with pytest.raises(ValueError, match="conf_percentile"):
        backend.reconstruct_vggt(paths, device="cpu", model=model, conf_percentile=100.0)


def test_no_confident_pixel_is_a_reconstruction_error(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 2, fake_vggt.frame_colour)
    with pytest.raises(ReconstructionError, match=r"no point passed.*>= 100.*3528 pixels"):
        backend.reconstruct_vggt(paths, device="cpu", model=fake_vggt.VGGT(), conf_threshold=100.0)
    assert backend.confidence_mask(np.array([1.0, 5.0, 7.0]), 5.0).tolist() == [False, True, True]


def test_max_points_draw_is_seeded(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 3, fake_vggt.frame_colour)
    model = fake_vggt.VGGT()
    first = backend.reconstruct_vggt(paths, device="cpu", model=model, max_points=50, seed=7)
    again = backend.reconstruct_vggt(paths, device="cpu", model=model, max_points=50, seed=7)
    other = backend.reconstruct_vggt(paths, device="cpu", model=model, max_points=50, seed=8)
    assert first.n_points == 50 and first.info["n_confident"] == 3 * 42 * 42
    np.testing.assert_array_equal(first.xyz, again.xyz)
    np.testing.assert_array_equal(first.rgb, again.rgb)
    assert not np.array_equal(first.xyz, other.xyz)
    assert len(np.unique(first.xyz, axis=0)) == 50, "drawn without replacement"


def test_point_branch_uses_the_point_map(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 4, fake_vggt.frame_colour)
    depth = backend.reconstruct_vggt(paths, chunk_size=2, device="cpu", model=fake_vggt.VGGT())
    point = backend.reconstruct_vggt(paths, chunk_size=2, device="cpu", model=fake_vggt.VGGT(), branch="point")
    assert point.info["branch"] == "point"
    np.testing.assert_allclose(point.xyz, depth.xyz, atol=1e-5)
    with pytest.raises(ValueError, match="branch"):
        backend.reconstruct_vggt(paths, device="cpu", model=fake_vggt.VGGT(), branch="tracks")


# --- export --------------------------------------------------------------------------------------------------


def test_colmap_export_round_trips_the_points(fake_vggt, tmp_path):
    from geolink.recon.colmap_text import read_points3d_text, write_colmap_model

    paths = write_frames(tmp_path / "loc", 3, fake_vggt.frame_colour)
    result = backend.reconstruct_vggt(paths, device="cpu", model=fake_vggt.VGGT(), max_points=200)
    folder = write_colmap_model(tmp_path / "model", result, [60] * 3, [60] * 3)

    points = read_points3d_text(folder / "points3D.txt")
    np.testing.assert_array_equal(points.xyz, result.xyz)
    np.testing.assert_array_equal(points.rgb, result.rgb)
    assert np.all(points.error == -1), "VGGT has no reprojection error: written as COLMAP's 'not computed'"
    assert (folder / "cameras.txt").exists() and (folder / "images.txt").exists()


# --- environment: package, weights, licence, device -----------------------------------------------------------


def test_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vggt", None)  # makes `import vggt` fail even where it is installed
    with pytest.raises(ImportError) as caught:
        backend.reconstruct_vggt(["image-01.png"], device="cpu")
    message = str(caught.value)
    assert f"vggt @ git+https://github.com/facebookresearch/vggt@{backend.VGGT_COMMIT}" in message
    assert "envs/vggt.yaml" in message
    assert "colmap" in message and "groundtruth" in message and "GPU" in message


def test_weights_from_a_local_state_dict_or_the_hub(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 2, fake_vggt.frame_colour)
    checkpoint = tmp_path / "model.pt"
    torch.save({"weight": torch.tensor([3.0])}, checkpoint)
    backend.reconstruct_vggt(paths, weights=str(checkpoint), device="cpu")
    assert fake_vggt.VGGT.instances[-1].weight.item() == 3.0
    assert fake_vggt.VGGT.pretrained_names == []

    result = backend.reconstruct_vggt(paths, weights="facebook/VGGT-1B", device="cpu")
    assert fake_vggt.VGGT.pretrained_names == ["facebook/VGGT-1B"]
    assert result.info["weights"] == "facebook/VGGT-1B"
    assert "non-commercial" in result.info["licence"]

    # Later calls (the next location of the shard) reuse the loaded model.
    backend.reconstruct_vggt(paths, weights="facebook/VGGT-1B", device="cpu")
    assert fake_vggt.VGGT.pretrained_names == ["facebook/VGGT-1B"]
    assert len(fake_vggt.VGGT.instances[-1].calls) == 2


def test_licence_notice_names_the_terms_and_is_logged_once(fake_vggt, monkeypatch, caplog):
    assert "non-commercial" in backend.licence_notice("facebook/VGGT-1B")
    assert "CC BY-NC 4.0" in backend.licence_notice("facebook/VGGT-1B")
    commercial = backend.licence_notice("facebook/VGGT-1B-Commercial")
    assert "military" in commercial and "non-commercial" not in commercial
    local = backend.licence_notice("/weights/model.pt")
    assert "non-commercial" in local and "VGGT-1B-Commercial" in local
    assert "VGGT License v1" in local and "Acceptable Use Policy" in local

    monkeypatch.setattr(backend, "_noticed", set())
    with caplog.at_level(logging.WARNING, logger="geolink.recon.vggt"):
        backend.load_vggt("facebook/VGGT-1B", "cpu")
        backend.load_vggt("facebook/VGGT-1B", "cpu")
    assert sum("non-commercial" in r.getMessage() for r in caplog.records) == 1


def test_device_and_autocast_selection(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert backend.select_device("auto") == torch.device("cpu")
    assert backend.autocast_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert backend.select_device("auto") == torch.device("cuda")
    assert backend.select_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert backend.autocast_dtype(torch.device("cuda")) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert backend.autocast_dtype(torch.device("cuda")) is torch.float16


def test_cpu_runs_in_fp32_without_gradients(fake_vggt, tmp_path):
    paths = write_frames(tmp_path / "loc", 3, fake_vggt.frame_colour)
    model = fake_vggt.VGGT()
    result = backend.reconstruct_vggt(paths, chunk_size=2, device="cpu", model=model)
    assert model.autocast == [False, False] and model.grad == [False, False]
    assert result.info["autocast"] == "none" and result.info["device"] == "cpu"
    assert set(result.info["seconds"]) == {"load_model", "load_images", "forward", "inference", "total"}


def test_no_images_is_a_reconstruction_error(fake_vggt):
    with pytest.raises(ReconstructionError, match="no images"):
        backend.reconstruct_vggt([], device="cpu", model=fake_vggt.VGGT())
