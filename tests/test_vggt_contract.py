"""The VGGT backend against the real `vggt` package (upstream commit 44b3afb), and the test double against it.

Skipped where the package is absent (CI: `vggt` is not on PyPI). Locally, install the upstream tree without its
pins (its `numpy<2` pin is stricter than what these calls need) plus einops:

    pip install --no-deps <a checkout of facebookresearch/vggt at 44b3afb> einops==0.8.2

(docs/points.md, "The VGGT contract test"). A tiny model is built from the real classes (random weights, a few
layers), so the test runs on a CPU in seconds; the real weights are never needed.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from geolink.recon import vggt as backend

FAKE_ROOT = str(Path(__file__).parent / "fake_vggt")


def _drop_vggt_modules() -> None:
    for name in [m for m in sys.modules if m == "vggt" or m.startswith("vggt.")]:
        del sys.modules[name]


def _real_vggt_installed() -> bool:
    _drop_vggt_modules()
    path = [p for p in sys.path if p != FAKE_ROOT]
    saved, sys.path[:] = list(sys.path), path
    try:
        spec = importlib.util.find_spec("vggt")  # upstream's vggt/ has no __init__.py: a namespace package
        places = list(spec.submodule_search_locations or []) if spec is not None else []
        return bool(places) and not any("fake_vggt" in place for place in places)
    finally:
        sys.path[:] = saved


pytestmark = pytest.mark.skipif(
    not _real_vggt_installed(),
    reason="the real vggt package is not installed (not on PyPI); docs/points.md says how to run this locally",
)


def _tiny_classes(model_module, track_module):
    """Shrink the aggregator and heads where VGGT's constructor looks them up; returns how to undo it."""
    from vggt.heads.camera_head import CameraHead
    from vggt.heads.dpt_head import DPTHead
    from vggt.models.aggregator import Aggregator

    saved = (model_module.Aggregator, model_module.CameraHead, model_module.DPTHead, track_module.DPTHead)
    small_dpt = {"features": 16, "out_channels": [8, 16, 32, 32], "intermediate_layer_idx": [0, 1, 2, 3]}
    model_module.Aggregator = functools.partial(
        Aggregator, depth=4, num_heads=2, patch_embed="conv", num_register_tokens=1
    )
    model_module.CameraHead = functools.partial(CameraHead, trunk_depth=1, num_heads=2)
    model_module.DPTHead = functools.partial(DPTHead, **small_dpt)

    def undo():
        model_module.Aggregator, model_module.CameraHead, model_module.DPTHead, track_module.DPTHead = saved

    return undo


TINY = {"img_size": 28, "patch_size": 14, "embed_dim": 32, "enable_track": False}


@pytest.fixture(scope="module")
def real():
    """The real package's pieces, and a tiny random-weight VGGT built from its own classes."""
    _drop_vggt_modules()
    backend._shared_model.cache_clear()
    import vggt.heads.track_head as track_module
    import vggt.models.vggt as model_module
    from vggt.utils import geometry, load_fn, pose_enc

    torch.manual_seed(0)
    # VGGT's constructor always builds the full-size aggregator and heads (1.26 B parameters): shrink them.
    undo = _tiny_classes(model_module, track_module)
    try:
        model = model_module.VGGT(**TINY).eval()
    finally:
        undo()
    yield {
        "model": model,
        "geometry": geometry,
        "load_fn": load_fn,
        "pose_enc": pose_enc,
        "modules": (model_module, track_module),
    }
    _drop_vggt_modules()
    backend._shared_model.cache_clear()


def _fake(module: str):
    """A module of the test double, imported under another name beside the real package."""
    path = Path(FAKE_ROOT) / "vggt" / (module.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"fake_vggt_{module.replace('.', '_')}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _images(folder: Path, sizes) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (w, h) in enumerate(sizes):
        pixels = (np.random.default_rng(k).random((h, w, 3)) * 255).astype(np.uint8)
        paths.append(str(folder / f"im{k}.png"))
        Image.fromarray(pixels).save(paths[-1])
    return paths


@pytest.mark.parametrize("branch", ["depth", "point"])
def test_both_branches_run_on_the_real_model_the_depth_branch_also_chunked(real, tmp_path, branch):
    paths = _images(tmp_path, [(600, 450), (600, 450), (450, 600), (600, 450)])
    one = backend.reconstruct_vggt(paths, device="cpu", model=real["model"], conf_threshold=0.0, branch=branch)
    assert one.xyz.shape[1] == 3 and one.rgb.dtype == np.uint8 and one.poses.shape == (4, 3, 4)  # world-to-camera
    assert np.isfinite(one.xyz).all() and one.info["frames_per_forward"] == [4]
    if branch == "point":
        # Chunks are aligned on the anchor frame's points in front of its camera; a random-weight point head puts
        # them anywhere (the depth head's activation keeps depth positive), so only the depth branch is chunked.
        return
    chunked = backend.reconstruct_vggt(
        paths, device="cpu", model=real["model"], conf_threshold=0.0, branch=branch, chunk_size=2
    )
    assert np.isfinite(chunked.xyz).all() and len(chunked.info["frames_per_forward"]) > 1  # anchor shared


def test_the_double_unprojects_and_loads_as_the_real_functions_do(real, tmp_path):
    fake_geometry, fake_load = _fake("utils.geometry"), _fake("utils.load_fn")
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 5, (2, 6, 8, 1))
    extrinsics = np.concatenate([np.repeat(np.eye(3)[None], 2, 0), rng.normal(size=(2, 3, 1))], axis=2)
    intrinsics = np.array([[[10.0, 0, 4], [0, 11.0, 3], [0, 0, 1]]] * 2)
    want = real["geometry"].unproject_depth_map_to_point_map(depth, extrinsics, intrinsics)
    got = fake_geometry.unproject_depth_map_to_point_map(depth, extrinsics, intrinsics)
    assert got.dtype == want.dtype == np.float64 and np.allclose(got, want)
    for unproject in (real["geometry"], fake_geometry):  # [S, H, W] depth: both refuse it
        with pytest.raises(ValueError):
            unproject.unproject_depth_map_to_point_map(depth[..., 0], extrinsics, intrinsics)
    # RGBA: both composite onto white (a transparent red pixel comes out white).
    rgba = tmp_path / "a.png"
    Image.new("RGBA", (56, 56), (255, 0, 0, 0)).save(rgba)
    assert torch.allclose(real["load_fn"].load_and_preprocess_images([str(rgba)])[0, :, 5, 5], torch.ones(3))
    assert torch.allclose(fake_load.load_and_preprocess_images([str(rgba)])[0, :, 5, 5], torch.ones(3))


@pytest.mark.parametrize("size", [(370, 175), (444, 438), (1920, 1080), (222, 219)])
def test_intrinsics_map_back_with_upstreams_resize_arithmetic(real, tmp_path, size):
    """The preprocessed height the backend assumes is the one the real loader produces (ties at .5 included)."""
    (path,) = _images(tmp_path, [size])
    height = real["load_fn"].load_and_preprocess_images([path]).shape[2]
    w, h = size
    resized = round(h * (518 / w) / 14) * 14  # what intrinsics_to_input_resolution assumes
    assert min(resized, 518) == height
    k = np.array([[[100.0, 0, 259], [0, 100.0, height / 2], [0, 0, 1]]])
    back = backend.intrinsics_to_input_resolution(k, [size], (height, 518))
    assert back[0, 0, 0] == pytest.approx(100.0 * w / 518) and back[0, 1, 1] == pytest.approx(100.0 * h / resized)


def test_a_model_pt_loads_strictly_with_weights_only(real, tmp_path, monkeypatch):
    """The bare-file path: torch.load(weights_only=True) and a strict load_state_dict into the real class."""
    model_module, track_module = real["modules"]
    torch.save(real["model"].state_dict(), tmp_path / "model.pt")
    api = backend._import_vggt()
    undo = _tiny_classes(model_module, track_module)
    monkeypatch.setattr(backend, "_import_vggt", lambda: api.__class__(**{**vars(api), "VGGT": functools.partial(
        api.VGGT, **TINY)}))  # fmt: skip
    try:
        loaded = backend.load_vggt(str(tmp_path / "model.pt"), "cpu")
    finally:
        undo()
    frames = torch.rand(1, 2, 3, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(frames)["depth"], real["model"](frames)["depth"])


def test_offline_without_staged_weights_says_which_files_to_stage(real, tmp_path, monkeypatch):
    from geolink.checkpoint import CheckpointError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(CheckpointError, match=r"config\.json and model\.safetensors") as raised:
        backend.load_vggt("facebook/VGGT-1B", "cpu")
    assert "huggingface-cli download facebook/VGGT-1B" in str(raised.value)
    (tmp_path / "folder").mkdir()
    with pytest.raises(CheckpointError, match="has no config.json or model.safetensors"):
        backend.load_vggt(str(tmp_path / "folder"), "cpu")
