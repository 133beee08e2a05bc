"""COLMAP backend: incremental structure from motion with pycolmap 4.2.1 on CPU.

The pipeline is COLMAP's classic one, run in ``work_dir``:

    images/        the inputs, symlinked (copied where links fail) as ``0000.jpg``, ``0001.jpeg``, ...
    database.db    SIFT keypoints, descriptors, matches and verified two-view geometries
    sparse/<k>/    every model the incremental mapper produced (binary COLMAP format)

Input images get stable names from their position in ``image_paths``, so two inputs with the same
basename (SUES-200's ``0.jpg`` at every height) cannot collide and a rerun rebuilds the same files.
``ReconstructionResult.image_names`` holds the input paths exactly as given (``str``), in the order
of ``poses``, so truth keyed by those paths (or by a path suffix of them, see
``geolink.recon.alignment.align_by_cameras``) can be matched without knowing the staged names.

On synthetic University-1652 (campus domain) a descending spiral of 48 views at 256 px registered
48/48 at each of six locations in 3-6 s on two cores (exhaustive matching, known or estimated
intrinsics); 32 views registered 12-32. At 128 px (16 views) SIFT finds about 170 keypoints per image,
fewer than 10 pairs verify and no model comes out, which raises ``ReconstructionError``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pycolmap
from PIL import Image

from geolink.recon.result import ReconstructionError, ReconstructionResult

MATCHING_MODES = ("exhaustive", "sequential")


@contextlib.contextmanager
def native_output_to(log_path: str | os.PathLike | None) -> Iterator[None]:
    """Send everything the process writes to file descriptors 1 and 2 into ``log_path`` (appending).

    COLMAP logs through glog from C++, which writes to the stderr *file descriptor*: Python-level
    redirection (``sys.stderr = ...``) does not see it, and glog's own ``set_log_destination`` names
    its files ``<path><timestamp>.<pid>`` instead of the path given. Duplicating the descriptors is the
    one way that lands COLMAP's thousands of lines in a Snakemake rule's ``log:`` file. With
    ``log_path=None`` nothing is redirected.

    Args:
        log_path: file to append to; its folder is created.
    """
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    # Python's own buffers must be emptied before the swap, or their content lands on the wrong side.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with open(log_path, "ab", buffering=0) as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                for fd, copy in saved.items():
                    os.dup2(copy, fd)
    finally:
        for copy in saved.values():
            os.close(copy)


def stage_images(image_paths: list[str], image_dir: Path) -> list[str]:
    """Link (or copy) the inputs into ``image_dir`` as ``{index:04d}{suffix}``; returns the staged names ``[V]``.

    The folder is emptied first, so a rerun in the same ``work_dir`` never sees a stale image.
    """
    if image_dir.exists():
        shutil.rmtree(image_dir)
    image_dir.mkdir(parents=True)
    names = []
    for index, path in enumerate(image_paths):
        source = Path(path).resolve()
        if not source.is_file():
            raise ReconstructionError(f"COLMAP input image {path} does not exist")
        name = f"{index:04d}{source.suffix.lower()}"
        try:
            (image_dir / name).symlink_to(source)
        except OSError:  # file systems without symlinks (some network mounts, Windows without privilege)
            shutil.copy2(source, image_dir / name)
        names.append(name)
    return names


def _image_sizes(image_paths: list[str]) -> set[tuple[int, int]]:
    """Distinct ``(width, height)`` of the inputs; PIL reads only the headers."""
    sizes = set()
    for path in image_paths:
        with Image.open(path) as image:
            sizes.add(image.size)
    return sizes


def _reader_options(intrinsics: np.ndarray | None) -> pycolmap.ImageReaderOptions:
    """Camera model for the database: a fixed PINHOLE from ``intrinsics``, else SIMPLE_RADIAL to estimate."""
    options = pycolmap.ImageReaderOptions()
    if intrinsics is None:
        options.camera_model = "SIMPLE_RADIAL"
        return options
    K = np.asarray(intrinsics, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"intrinsics must be [3, 3], got {K.shape}")
    options.camera_model = "PINHOLE"
    # Both COLMAP and the synthetic renderer put pixel centres at +0.5, so K goes in unchanged.
    options.camera_params = ",".join(f"{v:.10g}" for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    return options


def _mapping_options(threads: int, fixed_intrinsics: bool, seed: int) -> pycolmap.IncrementalPipelineOptions:
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = threads
    options.mapper.num_threads = threads
    # Seeds make RANSAC and initial-pair choice repeatable on a given machine and thread count.
    options.random_seed = seed
    options.mapper.random_seed = seed
    options.triangulation.random_seed = seed
    if fixed_intrinsics:
        # Known calibration: refining it only lets bundle adjustment trade focal length for depth.
        options.ba_refine_focal_length = False
        options.ba_refine_principal_point = False
        options.ba_refine_extra_params = False
        options.mapper.abs_pose_refine_focal_length = False
        options.mapper.abs_pose_refine_extra_params = False
    return options


def _database_counts(database_path: Path) -> dict[str, int]:
    """Keypoints and image pairs in the database: what a failure message needs to say why."""
    db = pycolmap.Database.open(database_path)
    try:
        # num_verified_image_pairs() counts every pair the verifier looked at, failed ones included;
        # the pairs with geometric inliers are the ones the mapper can use.
        _, geometries = db.read_two_view_geometries()
        return {
            "keypoints": int(db.num_keypoints()),
            "matched_pairs": int(db.num_matched_image_pairs()),
            "verified_pairs": sum(1 for g in geometries if len(g.inlier_matches) > 0),
        }
    finally:
        db.close()


def _to_result(
    model: pycolmap.Reconstruction, staged_to_input: dict[str, str], n_images: int, info: dict
) -> ReconstructionResult:
    """Copy a pycolmap model into numpy arrays, cameras ordered by input position."""
    point_ids = sorted(model.points3D)
    points = [model.points3D[i] for i in point_ids]
    xyz = np.array([p.xyz for p in points], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([p.color for p in points], dtype=np.uint8).reshape(-1, 3)
    error = np.array([p.error if p.has_error() else np.nan for p in points], dtype=np.float64)

    images = sorted((model.images[i] for i in model.reg_image_ids()), key=lambda image: image.name)
    poses = np.array([image.cam_from_world().matrix() for image in images], dtype=np.float64).reshape(-1, 3, 4)
    # SIMPLE_RADIAL's distortion term has no place in a 3x3 matrix; it is recorded in info["cameras"].
    intrinsics = np.array([image.camera.calibration_matrix() for image in images], dtype=np.float64).reshape(-1, 3, 3)
    info["cameras"] = {int(cid): cam.params_to_string() for cid, cam in model.cameras.items()}
    return ReconstructionResult(
        xyz=xyz,
        rgb=rgb,
        error=error,
        n_images=n_images,
        n_registered=len(images),
        image_names=[staged_to_input[image.name] for image in images],
        poses=poses,
        intrinsics=intrinsics,
        backend="colmap",
        info=info,
    )


def reconstruct_colmap(
    image_paths: list[str],
    work_dir: str | Path,
    *,
    threads: int = 2,
    intrinsics: np.ndarray | None = None,
    max_features: int = 8192,
    matching: str = "exhaustive",
    min_registered_fraction: float = 0.5,
    log_path: str | None = None,
    sequential_overlap: int = 24,
    seed: int = 0,
) -> ReconstructionResult:
    """Reconstruct one location's images with COLMAP's incremental SfM on CPU and keep the largest model.

    Args:
        image_paths: ``[V]`` image files of one location. For ``matching="sequential"`` their order must be
            the capture order (a spiral, a video).
        work_dir: scratch folder for the staged images, the database and the models; reused and overwritten.
        threads: CPU threads for extraction, matching and mapping.
        intrinsics: ``[3, 3]`` pinhole ``K`` shared by all images, in pixels of the input resolution. Given,
            one PINHOLE camera is held fixed; omitted, a SIMPLE_RADIAL camera is estimated (one shared by all
            images when they have one size, else one per image).
        max_features: SIFT features per image at most.
        matching: ``"exhaustive"`` (all pairs, quadratic in ``V``) or ``"sequential"`` (each image with the
            next ``sequential_overlap`` images; suits ordered captures). Exhaustive matching of 48 views at
            256 px takes about 2 s on two cores, so it is the default.
        min_registered_fraction: fail below this fraction of registered images.
        log_path: file that receives COLMAP's log (appended); ``None`` leaves it on the console.
        sequential_overlap: how many following images each image is paired with in sequential matching.
            A spiral needs pairs across turns, so at least the views per turn: on University-1652's 48-view,
            two-turn spiral, 24 registered 48/48 at six of six locations, 16 registered 23-46. COLMAP's own
            default (10 with "quadratic" pairing, which in 4.2.1 means only the images 1, 2, 4, ..., 2^9
            ahead) split the spiral into models of about 20 images.
        seed: random seed of COLMAP's RANSAC and mapper.

    Returns:
        The largest model (most registered images, then most points) as a ``ReconstructionResult``
        in COLMAP's arbitrary similarity frame. ``image_names`` are the input paths as given; ``info`` has
        per-stage seconds, the number and sizes of models, and database counts.

    Raises:
        ReconstructionError: fewer than two images, a missing image, no model, or too few registered images;
            the message gives the counts.
        ValueError: an unknown ``matching`` mode or malformed ``intrinsics``.
    """
    if matching not in MATCHING_MODES:
        raise ValueError(f"matching must be one of {MATCHING_MODES}, got {matching!r}")
    work_dir = Path(work_dir)
    n_images = len(image_paths)
    if n_images < 2:
        raise ReconstructionError(f"COLMAP in {work_dir} needs at least 2 images, got {n_images}")
    work_dir.mkdir(parents=True, exist_ok=True)
    image_dir, database_path, sparse_dir = work_dir / "images", work_dir / "database.db", work_dir / "sparse"
    staged = stage_images(image_paths, image_dir)
    staged_to_input = dict(zip(staged, map(str, image_paths), strict=True))
    # COLMAP appends to an existing database and adds models to an existing folder: start clean.
    database_path.unlink(missing_ok=True)
    shutil.rmtree(sparse_dir, ignore_errors=True)
    sparse_dir.mkdir()

    reader = _reader_options(intrinsics)
    sizes = _image_sizes(image_paths)
    # One camera for the whole location when the sizes allow it (one drone, one setting); else one per image.
    camera_mode = pycolmap.CameraMode.SINGLE if len(sizes) == 1 else pycolmap.CameraMode.AUTO
    if intrinsics is not None and len(sizes) > 1:
        raise ReconstructionError(f"COLMAP in {work_dir}: one K was given but the images have sizes {sorted(sizes)}")

    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = threads
    extraction.use_gpu = False
    extraction.sift.max_num_features = max_features
    matcher = pycolmap.FeatureMatchingOptions()
    matcher.num_threads = threads
    matcher.use_gpu = False
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.random_seed = seed

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with native_output_to(log_path):
        pycolmap.extract_features(
            database_path,
            image_dir,
            image_names=staged,
            camera_mode=camera_mode,
            reader_options=reader,
            extraction_options=extraction,
            device=pycolmap.Device.cpu,
        )
        timings["extract_s"] = time.perf_counter() - start
        if matching == "exhaustive":
            pycolmap.match_exhaustive(
                database_path, matching_options=matcher, verification_options=verification, device=pycolmap.Device.cpu
            )
        else:
            pairing = pycolmap.SequentialPairingOptions()
            pairing.num_threads = threads
            pairing.overlap = sequential_overlap
            pairing.quadratic_overlap = False  # True pairs only i + 2^k, which skips the cross-turn neighbours
            pycolmap.match_sequential(
                database_path,
                matching_options=matcher,
                pairing_options=pairing,
                verification_options=verification,
                device=pycolmap.Device.cpu,
            )
        timings["match_s"] = time.perf_counter() - start - timings["extract_s"]
        models = pycolmap.incremental_mapping(
            database_path, image_dir, sparse_dir, options=_mapping_options(threads, intrinsics is not None, seed)
        )
    timings["map_s"] = time.perf_counter() - start - timings["extract_s"] - timings["match_s"]
    timings["total_s"] = time.perf_counter() - start

    counts = _database_counts(database_path)
    sizes_per_model = sorted(((m.num_reg_images(), m.num_points3D()) for m in models.values()), reverse=True)
    info = {
        **{k: round(v, 3) for k, v in timings.items()},
        "n_models": len(models),
        "model_sizes": [list(s) for s in sizes_per_model],  # (registered images, points) per model, largest first
        "matching": matching if matching == "exhaustive" else f"sequential (overlap {sequential_overlap})",
        "camera_model": reader.camera_model,
        "fixed_intrinsics": intrinsics is not None,
        "threads": threads,
        "max_features": max_features,
        **counts,
    }
    if not models:
        raise ReconstructionError(
            f"COLMAP in {work_dir} produced no model from {n_images} images "
            f"({counts['keypoints'] / n_images:.0f} SIFT keypoints per image, {counts['verified_pairs']} of "
            f"{counts['matched_pairs']} matched pairs geometrically verified)"
        )
    best = max(models.values(), key=lambda m: (m.num_reg_images(), m.num_points3D()))
    result = _to_result(best, staged_to_input, n_images, info)
    if result.n_registered < min_registered_fraction * n_images:
        raise ReconstructionError(
            f"COLMAP in {work_dir} registered {result.n_registered} of {n_images} images "
            f"(< {min_registered_fraction:.0%}) in the largest of {len(models)} models "
            f"({result.n_points} points, {counts['verified_pairs']} verified pairs)"
        )
    return result
