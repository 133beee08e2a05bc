"""VGGT reconstruction backend: a frozen VGGT turns one view group's drone images into a point cloud.

GeoLink predicts its scene point clouds with a frozen VGGT (paper §3.2, Eq. 1) from all drone images of a
scene (§4.1). This module wraps the public VGGT API (facebookresearch/vggt, docs/components.md §1):

    images = load_and_preprocess_images(paths)                  # [S, 3, H, W] in [0, 1], W = 518, "crop" mode
    predictions = VGGT.from_pretrained("facebook/VGGT-1B")(images)
    extrinsics, intrinsics = pose_encoding_to_extri_intri(predictions["pose_enc"], (H, W))
    points = unproject_depth_map_to_point_map(depth, extrinsics, intrinsics)   # [S, H, W, 3]

then keeps the confident pixels (``depth_conf >= 5`` like the upstream COLMAP demo, or the viewer's
percentile rule) and at most ``max_points`` of them, chosen with a seeded generator. Colours come from the
preprocessed images; intrinsics are predicted at the preprocessed resolution and mapped back to the input
images, as ``ReconstructionResult`` specifies (the COLMAP export pairs them with the input image sizes).

**Chunking.** VGGT's memory grows with the number of frames (11 GB for 50 frames, 40 GB for 200;
docs/components.md §1.6), so the frames go through the model in chunks of at most ``chunk_size``. VGGT puts each
forward pass in its own frame: the first camera's frame, at a scale normalised per pass. To combine the chunks,
frame 0 is the *anchor*: it opens every chunk, so every chunk is expressed in the anchor camera's frame, and each
chunk is rescaled to the first chunk by the median per-pixel ratio of the anchor's depth map in the two chunks
(the anchor's depth is predicted in both; see :func:`align_chunk`). The anchor's own points and pose come from the
first chunk only. Limitations: chunks are never refined jointly (no cross-chunk bundle adjustment), so residual
pose and scale errors of a chunk show up as a small misfit between chunks; the anchor is the only view two chunks
share, so frames that see little of what the anchor sees are placed less reliably than in a single pass; and each
chunk spends one of its ``chunk_size`` frames on the anchor. With ``chunk_size`` at least the number of images
(the default 32 covers the 40-54 images of a University-1652 location split into view groups) there is a single
pass and none of this applies.

The ``vggt`` package is not on PyPI: it is installed from GitHub at a pinned commit (``envs/vggt.yaml``) and
imported lazily, so the rest of geolink imports without it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from geolink.checkpoint import CheckpointError, load_checkpoint
from geolink.data.weights import LICENCES, recorded_repo
from geolink.device import AUTOCAST_DTYPES, resolve_precision, select_device
from geolink.recon.result import ReconstructionError, ReconstructionResult

log = logging.getLogger(__name__)

#: Commit of facebookresearch/vggt that envs/vggt.yaml installs (2025-10-11, upstream HEAD when pinned).
VGGT_COMMIT = "44b3afbd1869d8bde4894dd8ea1e293112dd5eba"

INSTALL_HINT = (
    "The VGGT backend needs the `vggt` package, which is not on PyPI. Install it at the pinned commit with\n"
    f'    pip install --no-deps "vggt @ git+https://github.com/facebookresearch/vggt@{VGGT_COMMIT}"\n'
    "(--no-deps: its numpy<2 pin conflicts with geolink's numpy 2; envs/vggt.yaml lists the other "
    "requirements and its post-deploy script runs this command), and stage the weights in the Hugging Face "
    "cache or as a local model.pt when the machine has no hub access. The `colmap` and `groundtruth` "
    "reconstruction backends need neither VGGT nor a GPU."
)

#: Licence of the released VGGT checkpoints, by Hugging Face repo id (facebookresearch/vggt README "License").
WEIGHT_LICENCES: dict[str, str] = {repo: terms for repo, terms in LICENCES.items() if repo.startswith("facebook/VGGT")}

#: Licence of the VGGT code itself (facebookresearch/vggt:LICENSE.txt since 2025-07-29).
CODE_LICENCE = (
    "VGGT License v1 with an Acceptable Use Policy (no military, warfare, nuclear or espionage uses; "
    "redistributions must carry the licence; publications must acknowledge VGGT)"
)

BRANCHES = ("depth", "point")

_noticed: set[str] = set()  # weights whose licence notice has been logged in this process


def licence_notice(weights: str) -> str:
    """The licence terms that apply when reconstructing with ``weights``.

    Args:
        weights: A Hugging Face repo id or a local checkpoint path.

    Returns:
        One paragraph naming the weight licence (or, for a local file, the licences it may carry) and the code
        licence.
    """
    # A file fetched by rule weights records its repository beside it.
    repo = recorded_repo(weights) if Path(str(weights)).is_file() else str(weights)
    known = WEIGHT_LICENCES.get(repo or "")
    if known is not None and repo != str(weights):
        weight_part = f"VGGT weights {weights} (from {repo}): {known}."
    elif known is not None:
        weight_part = f"VGGT weights {weights}: {known}."
    else:
        # A local model.pt does not say which release it came from; list both so the user can check.
        options = "; ".join(f"{repo}: {terms}" for repo, terms in WEIGHT_LICENCES.items())
        weight_part = f"VGGT weights {weights}: licence of the release this checkpoint came from ({options})."
    return f"{weight_part} VGGT code: {CODE_LICENCE}."


def _notice_once(weights: str) -> None:
    if weights not in _noticed:
        _noticed.add(weights)
        log.warning("%s", licence_notice(weights))


def _import_vggt() -> SimpleNamespace:
    """The four upstream entry points, imported on first use; an ImportError with install advice if missing.

    A missing package is an environment problem, not a bad location, so it is an ImportError rather than a
    ReconstructionError: the workflow's ``on_failure: skip`` must not record it against every location.
    """
    try:
        from vggt.models.vggt import VGGT
        from vggt.utils.geometry import unproject_depth_map_to_point_map
        from vggt.utils.load_fn import load_and_preprocess_images
        from vggt.utils.pose_enc import pose_encoding_to_extri_intri
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT}\n(import failed: {err})") from err
    return SimpleNamespace(
        VGGT=VGGT,
        load_and_preprocess_images=load_and_preprocess_images,
        pose_encoding_to_extri_intri=pose_encoding_to_extri_intri,
        unproject_depth_map_to_point_map=unproject_depth_map_to_point_map,
    )


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype for VGGT's aggregator, as the upstream README runs it.

    bfloat16 on CUDA compute capability >= 8 (Ampere and later), float16 on older GPUs, and None (plain fp32,
    no autocast) on CPU, where half precision is slow and buys nothing (``geolink.device.resolve_precision``).
    VGGT runs its heads in fp32 either way.
    """
    return AUTOCAST_DTYPES.get(resolve_precision(device))


def load_vggt(weights: str = "facebook/VGGT-1B", device: str | torch.device = "auto") -> torch.nn.Module:
    """Load a VGGT model in eval mode on ``device`` (``reconstruct_vggt`` does this once per process by itself).

    Args:
        weights: A Hugging Face repo id (or a folder saved by ``save_pretrained``), loaded with
            ``VGGT.from_pretrained``, which uses the local hub cache and honours ``HF_HOME`` and
            ``HF_HUB_OFFLINE=1``; or the path of a ``model.pt`` state dict, loaded into ``VGGT()`` with
            :func:`geolink.checkpoint.load_checkpoint` (``torch.load(..., weights_only=True)``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...

    Returns:
        The model.

    Raises:
        CheckpointError: ``weights`` is a file that is not a usable VGGT state dict (truncated, foreign, unsafe).
    """
    api = _import_vggt()
    _notice_once(str(weights))
    if Path(weights).is_file():
        model = api.VGGT()
        state = load_checkpoint(weights)  # an unusable file ends the job with a CheckpointError naming it
        try:
            model.load_state_dict(state)
        except RuntimeError as err:  # strict loading: names missing and unexpected keys, shapes
            raise CheckpointError(
                f"VGGT weights {Path(weights).absolute()} do not fit the VGGT model "
                f"({str(err).splitlines()[0].rstrip(':')}): the file is not a VGGT-1B model.pt state dict. Point "
                f"reconstruct.vggt.weights at the model.pt of facebook/VGGT-1B (or VGGT-1B-Commercial), or pin "
                f"weights.vggt.revision so that rule weights downloads it."
            ) from None
    else:
        model = _from_pretrained(api, str(weights))
    return model.to(select_device(device, job="VGGT reconstruction")).eval()


#: What ``VGGT.from_pretrained`` reads (huggingface_hub's PyTorchModelHubMixin at vggt 44b3afb).
HUB_FILES = ("config.json", "model.safetensors")


def _from_pretrained(api: SimpleNamespace, weights: str) -> torch.nn.Module:
    """``VGGT.from_pretrained`` (a hub id from the cache, or a folder of ``save_pretrained``), with a message that
    says which files to stage, and where, when they are not there (offline, or a folder without them)."""
    if Path(weights).is_dir():
        missing = [name for name in HUB_FILES if not (Path(weights) / name).is_file()]
        if missing:
            raise CheckpointError(
                f"VGGT weights folder {Path(weights).absolute()} has no {' or '.join(missing)}; VGGT.from_pretrained "
                f"reads {' and '.join(HUB_FILES)} from it (a folder written by save_pretrained). Put them there, or "
                "point reconstruct.vggt.weights at a model.pt file."
            )
    try:
        return api.VGGT.from_pretrained(weights)
    except (OSError, ValueError) as err:  # huggingface_hub's not-found and offline errors are OSError/ValueError
        home = os.environ.get("HF_HOME", "~/.cache/huggingface")
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise CheckpointError(
            f"VGGT weights {weights!r} could not be loaded{offline}: {str(err).splitlines()[0]} VGGT.from_pretrained "
            f"reads {' and '.join(HUB_FILES)} of the repository from the Hugging Face cache ({home}/hub). Stage "
            f"them on a machine with access (`huggingface-cli download {weights} {' '.join(HUB_FILES)}`, then copy "
            "the cache), or pin weights.vggt.revision so that rule weights downloads model.pt, or point "
            "reconstruct.vggt.weights at a model.pt file. `geolink doctor` lists what is missing."
        ) from None


@functools.lru_cache(maxsize=1)
def _shared_model(weights: str, device: str) -> torch.nn.Module:
    """The model of the last ``(weights, device)`` asked for, loaded once per process.

    A reconstruct job calls :func:`reconstruct_vggt` once per location and view group; loading 1.2 B parameters
    each time would dominate its run time. One model at a time keeps GPU memory bounded.
    """
    return load_vggt(weights, device)


def chunk_indices(n_frames: int, chunk_size: int) -> list[list[int]]:
    """Frame indices of each forward pass, frame 0 (the anchor) first in every one.

    The other frames are split into as few contiguous, near-equal parts as fit ``chunk_size - 1`` frames each,
    so no chunk is left with a handful of frames (VGGT relates frames better the more it sees at once).

    Args:
        n_frames: Number of images.
        chunk_size: Most frames per forward pass, anchor included.

    Returns:
        One list per chunk; a single ``[0, ..., n_frames - 1]`` when everything fits in one pass.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if n_frames <= chunk_size:
        return [list(range(n_frames))]
    if chunk_size < 2:
        raise ValueError(f"chunk_size must be at least 2 to split {n_frames} frames: each chunk repeats the anchor")
    n_chunks = -(-(n_frames - 1) // (chunk_size - 1))
    return [[0, *part.tolist()] for part in np.array_split(np.arange(1, n_frames), n_chunks)]


def align_chunk(
    points: np.ndarray, extrinsics: np.ndarray, reference_depth: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Express one chunk in the anchor camera's frame, at the scale of the first chunk.

    Row 0 of the chunk is the anchor. Its predicted extrinsic ``[R_a | t_a]`` maps the chunk's world frame to
    the anchor camera (VGGT makes it the identity, up to prediction error), and ``s`` rescales the chunk:
    ``X' = s (R_a X + t_a)`` and, for camera i, ``[R_i R_a^T | s (t_i - R_i R_a^T t_a)]``.

    Args:
        points: ``[S, H, W, 3]`` point maps in the chunk's world frame.
        extrinsics: ``[S, 3, 4]`` world-to-camera ``[R | t]`` (OpenCV), row 0 the anchor.
        reference_depth: ``[H, W]`` the anchor's depth map from the first chunk; None for the first chunk.

    Returns:
        points ``[S, H, W, 3]`` and extrinsics ``[S, 3, 4]`` in the anchor frame at the reference scale; the
        scale ``s`` (1 for the first chunk); the anchor's depth map ``[H, W]`` in this chunk before scaling.

    Raises:
        ReconstructionError: No pixel has a positive, finite anchor depth in both chunks.
    """
    rot_a, t_a = extrinsics[0, :, :3], extrinsics[0, :, 3]
    in_anchor = points @ rot_a.T + t_a
    anchor_depth = in_anchor[0, ..., 2]
    scale = 1.0
    if reference_depth is not None:
        # Same anchor pixels, two predictions: their ratio is the chunk's scale; the median ignores outliers.
        valid = np.isfinite(reference_depth) & np.isfinite(anchor_depth) & (reference_depth > 0) & (anchor_depth > 0)
        if not valid.any():
            raise ReconstructionError("cannot align a VGGT chunk: the anchor frame has no valid depth in it")
        scale = float(np.median(reference_depth[valid] / anchor_depth[valid]))
    rel_rot = extrinsics[:, :, :3] @ rot_a.T
    rel_t = extrinsics[:, :, 3] - rel_rot @ t_a
    aligned = np.concatenate([rel_rot, scale * rel_t[..., None]], axis=-1)
    return scale * in_anchor, aligned, scale, anchor_depth


def intrinsics_to_input_resolution(
    intrinsics: np.ndarray, input_sizes: Sequence[tuple[int, int]], preprocessed_hw: tuple[int, int]
) -> np.ndarray:
    """Undo ``load_and_preprocess_images``'s "crop" geometry on predicted intrinsics.

    "crop" resizes each image to the preprocessed width W, its height to ``round(h W / w / 14) * 14``, crops
    that height to W when larger (centred), and pads shorter images to the common height H (centred); see
    docs/components.md §1.3. Sub-pixel (half-pixel) conventions are ignored, as in upstream's COLMAP export.

    Args:
        intrinsics: ``[S, 3, 3]`` pinhole intrinsics at the preprocessed resolution.
        input_sizes: ``[S]`` original ``(width, height)`` of each image.
        preprocessed_hw: ``(H, W)`` of the preprocessed tensor.

    Returns:
        ``[S, 3, 3]`` intrinsics in pixels of the original images.
    """
    height, width = preprocessed_hw
    out = np.array(intrinsics, dtype=np.float64, copy=True)
    for k, (w, h) in enumerate(input_sizes):
        resized_h = round(h * (width / w) / 14) * 14  # upstream's order of operations: it decides .5 ties
        crop_top = (resized_h - width) // 2 if resized_h > width else 0
        pad_top = (height - min(resized_h, width)) // 2
        sx, sy = width / w, resized_h / h
        out[k, 0, :] /= sx  # fx, skew, cx
        out[k, 1, 2] += crop_top - pad_top  # principal point back in the resized, uncropped image
        out[k, 1, :] /= sy  # fy, cy
    return out


def confidence_mask(conf: np.ndarray, threshold: float = 5.0, percentile: float | None = None) -> np.ndarray:
    """Pixels confident enough to become points.

    Args:
        conf: ``[...]`` VGGT confidences (``1 + exp(x)``, so always > 1).
        threshold: Keep ``conf >= threshold`` (upstream demo_colmap.py's absolute rule, default 5).
        percentile: If given, ignore ``threshold`` and drop the lowest ``percentile`` % instead (upstream's
            viewer rule), also requiring ``conf > 1e-5``.

    Returns:
        Boolean mask shaped like ``conf``.
    """
    if percentile is None:
        return conf >= threshold
    finite = conf[np.isfinite(conf)]
    cut = np.percentile(finite, percentile) if finite.size else np.inf
    return (conf >= cut) & (conf > 1e-5)


def _predict_chunk(
    model: torch.nn.Module,
    images: torch.Tensor,
    api: SimpleNamespace,
    branch: str,
    device: torch.device,
    dtype: torch.dtype | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One forward pass of ``images [S, 3, H, W]``.

    Returns:
        float64 points ``[S, H, W, 3]`` in the chunk's world frame, confidences ``[S, H, W]``, extrinsics
        ``[S, 3, 4]`` and intrinsics ``[S, 3, 3]`` at the preprocessed resolution.
    """
    n, _, height, width = images.shape
    autocast = torch.autocast(device_type="cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with torch.no_grad():
        with autocast:
            predictions = model(images.to(device))
        extrinsic, intrinsic = api.pose_encoding_to_extri_intri(
            predictions["pose_enc"].float(), image_size_hw=(height, width)
        )
    extrinsics = extrinsic[0].double().cpu().numpy()
    intrinsics = intrinsic[0].double().cpu().numpy()
    if branch == "depth":
        depth = predictions["depth"][0].float().cpu().numpy().reshape(n, height, width, 1)
        points = api.unproject_depth_map_to_point_map(depth, extrinsics, intrinsics)
        conf = predictions["depth_conf"]
    else:
        if "world_points" not in predictions:
            raise ValueError("this VGGT model has no point head (enable_point=False); use branch='depth'")
        points = predictions["world_points"][0].float().cpu().numpy()
        conf = predictions["world_points_conf"]
    # The upstream docstring says [B, S, H, W, 1] for the confidences, the model returns [B, S, H, W]; accept both.
    conf = conf[0].float().cpu().numpy().reshape(n, height, width)
    points = np.asarray(points, dtype=np.float64).reshape(n, height, width, 3)
    return points, conf.astype(np.float64), extrinsics, intrinsics


def reconstruct_vggt(
    image_paths: list[str],
    *,
    weights: str = "facebook/VGGT-1B",
    device: str | torch.device = "auto",
    chunk_size: int = 32,
    conf_threshold: float = 5.0,
    conf_percentile: float | None = None,
    max_points: int = 100_000,
    branch: str = "depth",
    seed: int = 0,
    model: torch.nn.Module | None = None,
) -> ReconstructionResult:
    """Reconstruct one view group with a frozen VGGT (see the module docstring for chunking).

    Args:
        image_paths: ``[V]`` drone images of one view group; the first is the anchor and defines the frame.
        weights: Hugging Face repo id or local ``model.pt`` (see :func:`load_vggt`); also names the licence.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ...
        chunk_size: Most frames per forward pass, anchor included (memory bound, docs/components.md §1.6).
        conf_threshold: Keep pixels with confidence ``>= conf_threshold`` (upstream COLMAP demo: 5.0).
        conf_percentile: If given, drop this lowest percentage of confidences instead (upstream viewer: 50).
        max_points: Keep at most this many points, drawn uniformly without replacement.
        branch: ``"depth"``: unproject the depth maps with the predicted cameras (upstream README: usually more
            accurate); ``"point"``: use the point-map head.
        seed: Seeds the ``max_points`` draw.
        model: A model from :func:`load_vggt`; if None, ``weights`` are loaded on first use and the model is
            kept for later calls with the same ``weights`` and device.

    Returns:
        ``xyz [N, 3]`` in the anchor (first) camera's frame, up to scale; ``rgb [N, 3]`` uint8 from the
        preprocessed images; ``error [N]`` NaN (VGGT has no reprojection error); every frame registered;
        ``poses [V, 3, 4]``; ``intrinsics [V, 3, 3]`` at the input resolution; ``info`` with thresholds,
        chunks, scales and timings.

    Raises:
        ImportError: The ``vggt`` package is not installed (the message says how to install it).
        ReconstructionError: No image given, or no pixel passed the confidence filter.
        ValueError: An invalid option.
    """
    start = time.perf_counter()
    if branch not in BRANCHES:
        raise ValueError(f"unknown VGGT branch {branch!r}; choose one of {', '.join(BRANCHES)}")
    if conf_percentile is not None and not 0 <= conf_percentile < 100:
        raise ValueError(f"conf_percentile must be in [0, 100), got {conf_percentile}")
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if not image_paths:
        raise ReconstructionError("VGGT got no images")
    chunks = chunk_indices(len(image_paths), chunk_size)
    where = f"{len(image_paths)} images in {Path(image_paths[0]).parent}"

    api = _import_vggt()
    _notice_once(str(weights))
    torch_device = select_device(device)
    if model is None:
        model = _shared_model(str(weights), str(torch_device))
    model = model.to(torch_device).eval()
    dtype = autocast_dtype(torch_device)
    loaded = time.perf_counter()

    images = api.load_and_preprocess_images([str(p) for p in image_paths])
    if isinstance(images, tuple):  # some forks return (images, masks)
        images = images[0]
    n_frames, _, height, width = images.shape
    input_sizes = []
    for path in image_paths:
        with Image.open(path) as image:  # reads the header only
            input_sizes.append(image.size)
    preprocessed = time.perf_counter()

    points = np.empty((n_frames, height, width, 3))
    conf = np.empty((n_frames, height, width))
    extrinsics = np.empty((n_frames, 3, 4))
    intrinsics = np.empty((n_frames, 3, 3))
    reference_depth, scales, forward_seconds = None, [], []
    for number, frames in enumerate(chunks):
        tick = time.perf_counter()
        chunk = _predict_chunk(model, images[frames], api, branch, torch_device, dtype)
        forward_seconds.append(round(time.perf_counter() - tick, 3))
        chunk_points, chunk_extrinsics, scale, anchor_depth = align_chunk(chunk[0], chunk[2], reference_depth)
        if reference_depth is None:
            reference_depth = anchor_depth
        scales.append(scale)
        new = slice(0 if number == 0 else 1, None)  # the anchor is taken from the first chunk only
        targets = frames[new]
        points[targets] = chunk_points[new]
        conf[targets] = chunk[1][new]
        extrinsics[targets] = chunk_extrinsics[new]
        intrinsics[targets] = chunk[3][new]
    inferred = time.perf_counter()

    keep = confidence_mask(conf, conf_threshold, conf_percentile) & np.isfinite(points).all(axis=-1)
    flat = np.flatnonzero(keep)
    if flat.size == 0:
        rule = f"lowest {conf_percentile}% dropped" if conf_percentile is not None else f">= {conf_threshold}"
        raise ReconstructionError(
            f"VGGT on {where}: no point passed the confidence filter ({branch} confidence {rule}; "
            f"{conf.size} pixels, confidence range {np.nanmin(conf):.3g}-{np.nanmax(conf):.3g})"
        )
    if flat.size > max_points:
        flat = np.sort(np.random.default_rng(seed).choice(flat, size=max_points, replace=False))
    xyz = points.reshape(-1, 3)[flat]
    colours = images.permute(0, 2, 3, 1).reshape(-1, 3)[torch.from_numpy(flat)]
    rgb = (colours.float().numpy() * 255).round().clip(0, 255).astype(np.uint8)

    info = {
        "weights": str(weights),
        "licence": licence_notice(str(weights)),
        "branch": branch,
        "conf_threshold": None if conf_percentile is not None else conf_threshold,
        "conf_percentile": conf_percentile,
        "n_pixels": int(conf.size),
        "n_confident": int(keep.sum()),
        "max_points": max_points,
        "seed": seed,
        "chunk_size": chunk_size,
        "chunks": chunks,
        "frames_per_forward": [len(frames) for frames in chunks],
        "chunk_scales": scales,
        "anchor": str(image_paths[0]),
        "preprocessed_hw": [int(height), int(width)],
        "rgb_source": "preprocessed images (load_and_preprocess_images, crop mode)",
        "intrinsics_resolution": "input images (predicted at preprocessed_hw, mapped back)",
        "device": str(torch_device),
        "autocast": str(dtype).removeprefix("torch.") if dtype is not None else "none",
        "seconds": {
            "load_model": round(loaded - start, 3),
            "load_images": round(preprocessed - loaded, 3),
            "forward": forward_seconds,
            "inference": round(inferred - preprocessed, 3),
            "total": round(time.perf_counter() - start, 3),
        },
    }
    log.info(
        "VGGT on %s: %d/%d confident pixels, %d points, %d chunk(s), %.1f s",
        where,
        keep.sum(),
        conf.size,
        len(flat),
        len(chunks),
        info["seconds"]["total"],
    )
    return ReconstructionResult(
        xyz=xyz,
        rgb=rgb,
        error=np.full(len(xyz), np.nan),
        n_images=len(image_paths),
        n_registered=n_frames,
        image_names=[str(p) for p in image_paths],
        poses=extrinsics,
        intrinsics=intrinsics_to_input_resolution(intrinsics, input_sizes, (height, width)),
        backend="vggt",
        info=info,
    )
