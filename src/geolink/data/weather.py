"""MuSe-Net multi-weather corruption (University-WX family), reproducible per image.

The augmenters are the imgaug 0.4.0 recipe of docs/datasets.md §6.1 (wtyhub/MuseNet ``train.py``
``iaa_weather_list``), parameter for parameter. As in MuSe-Net test time the corruption is meant for drone images
only and runs on the full-resolution image; resizing is left to the data pipeline.

What differs from MuSe-Net on purpose is the randomness. There every augmenter keeps one RNG (``seed=35`` etc.)
that advances with each call, so an image's weather depends on load order and worker count (MuseNet issue #3).
Here :func:`apply_weather` builds a fresh augmenter per image and reseeds the whole tree from one integer with
imgaug's ``Augmenter.seed_``, which gives every child its own RNG derived from that integer (replacing the recipe's
per-augmenter seeds, which only fixed the start of the stream anyway). The output is therefore a function of
``(image, condition, seed)`` alone, and :func:`image_seed` makes the seed a function of the image's path relative to
the dataset root, so a rendered set is identical across runs, machines, dataset locations and worker counts.

imgaug 0.4.0 itself does not import on NumPy >= 1.24; :mod:`geolink.data.imgaug_compat` runs the original 0.4.0 on
NumPy 2 (forks such as ``imaug`` sample differently and are refused), and :func:`write_weather_set` renders in fresh
processes with NumPy's AVX-512 kernels off, which also makes the pixels independent of the CPU.
``benchmarks/weather_equivalence.py`` checks the result against imgaug 0.4.0 on NumPy 1.23 pixel for pixel, and
``envs/weather.yaml`` is that reference environment.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from geolink.atomic import atomic_output
from geolink.data.acquire import sha256_file
from geolink.data.errors import DatasetError, full_path

CONDITIONS: tuple[str, ...] = (
    "fog",
    "rain",
    "snow",
    "fog_rain",
    "fog_snow",
    "rain_snow",
    "dark",
    "light",
    "wind",
)
"""The nine corruptions of MuSe-Net (its tenth list entry, ``normal``, is the clean image)."""

MANIFEST_NAME = "hashes.json"

# Pillow's encoders are deterministic for fixed settings, so the written bytes (and their hashes) repeat.
_JPEG_SUFFIXES = {".jpg", ".jpeg"}
_JPEG_QUALITY = 95


def _import_iaa() -> Any:
    """Import ``imgaug.augmenters`` lazily (through the NumPy 2 compatibility layer), so geolink works without it."""
    from geolink.data.imgaug_compat import import_augmenters

    return import_augmenters()


def build_augmenter(condition: str) -> Any:
    """Build the imgaug pipeline of one MuSe-Net weather condition (docs/datasets.md §6.1).

    Args:
        condition: One of :data:`CONDITIONS`.

    Returns:
        An ``imgaug.augmenters.Sequential``. It carries the recipe's per-augmenter seeds; use
        :func:`apply_weather` to get per-image reproducible output.

    Raises:
        ValueError: If ``condition`` is unknown.
        ImportError: If no working imgaug is installed (the message says what to install).
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown weather condition {condition!r}; expected one of {', '.join(CONDITIONS)}")
    iaa = _import_iaa()

    def fog() -> Any:
        return iaa.CloudLayer(
            intensity_mean=225,
            intensity_freq_exponent=-2,
            intensity_coarse_scale=2,
            alpha_min=1.0,
            alpha_multiplier=0.9,
            alpha_size_px_max=10,
            alpha_freq_exponent=-2,
            sparsity=0.9,
            density_multiplier=0.5,
            seed=35,
        )

    def rain(drop_size: tuple[float, float], speed: tuple[float, float], seed: int) -> Any:
        return iaa.Rain(drop_size=drop_size, speed=speed, seed=seed)

    def snow(flake_size: tuple[float, float], speed: tuple[float, float], seed: int) -> Any:
        return iaa.Snowflakes(flake_size=flake_size, speed=speed, seed=seed)

    rain_speed = (0.04, 0.06)
    snow_speed = (0.007, 0.03)
    recipes: dict[str, Callable[[], list[Any]]] = {
        "fog": lambda: [fog()],
        "rain": lambda: [
            rain((0.05, 0.1), rain_speed, 38),
            rain((0.05, 0.1), rain_speed, 35),
            rain((0.1, 0.2), rain_speed, 73),
            rain((0.1, 0.2), rain_speed, 93),
            rain((0.05, 0.2), rain_speed, 95),
        ],
        "snow": lambda: [
            snow((0.5, 0.8), snow_speed, 38),
            snow((0.5, 0.8), snow_speed, 35),
            snow((0.6, 0.9), snow_speed, 74),
            snow((0.6, 0.9), snow_speed, 94),
            snow((0.5, 0.9), snow_speed, 96),
        ],
        "fog_rain": lambda: [fog(), rain((0.05, 0.2), rain_speed, 35), rain((0.05, 0.2), rain_speed, 36)],
        "fog_snow": lambda: [fog(), snow((0.5, 0.9), snow_speed, 35), snow((0.5, 0.9), snow_speed, 36)],
        "rain_snow": lambda: [
            snow((0.5, 0.8), snow_speed, 35),
            rain((0.05, 0.1), rain_speed, 35),
            rain((0.1, 0.2), rain_speed, 92),
            rain((0.05, 0.2), rain_speed, 91),
            snow((0.6, 0.9), snow_speed, 74),
        ],
        # train.py / WeatherPrompt variant (not the iaa_trans.py one that only multiplies by 0.4).
        "dark": lambda: [
            iaa.BlendAlpha(0.5, foreground=iaa.Add(100), background=iaa.Multiply(0.2), seed=31),
            iaa.MultiplyAndAddToBrightness(mul=0.2, add=(-30, -15), seed=1991),
        ],
        "light": lambda: [iaa.MultiplyAndAddToBrightness(mul=1.6, add=(0, 30), seed=1992)],
        "wind": lambda: [iaa.MotionBlur(15, seed=17)],
    }
    return iaa.Sequential(recipes[condition]())


def _relative_key(path: str) -> str:
    """Normalise a relative path to the POSIX form hashed by :func:`image_seed` (same key on every OS)."""
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute():
        raise ValueError(f"image_seed needs the path relative to the dataset root, got absolute {path!r}")
    key = posixpath.normpath(path.replace("\\", "/"))
    if key == "." or key.startswith("../"):
        raise ValueError(f"path {path!r} does not name a file inside the dataset root")
    return key


def image_seed(path: str, condition: str, base_seed: int = 0) -> int:
    """Derive the 32-bit seed of one image under one condition.

    The seed is the first four bytes of SHA-256 over the base seed, the condition and the POSIX-normalised path
    relative to the dataset root, so it does not depend on where the dataset lies, on Python's salted ``hash``,
    on the process or on the order images are processed in.

    Args:
        path: The image path relative to the dataset root (``"query_drone/0001/image-01.jpeg"``);
            ``./`` prefixes and Windows separators are normalised away.
        condition: The weather condition name.
        base_seed: Varies all seeds of a rendering at once (another "draw" of the whole set).

    Returns:
        An integer in ``[0, 2**32)``.

    Raises:
        ValueError: If ``path`` is absolute or leaves the root.
    """
    payload = f"{int(base_seed)}\0{condition}\0{_relative_key(path)}".encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:4], "big")


def apply_weather(image: np.ndarray, condition: str, seed: int) -> np.ndarray:
    """Corrupt one image with a weather condition, deterministically.

    A fresh augmenter is built while imgaug's global RNG is pinned to ``seed`` (some inner augmenters draw from
    it), then its tree is reseeded with ``seed_(seed)``, which derives one RNG per child from ``seed``. Nothing
    else (the caller's global RNG, earlier calls, the process) feeds the sampling, so the result depends only on
    ``(image, condition, seed)``; the global RNG is restored afterwards.

    Args:
        image: ``uint8`` array of shape ``(H, W, 3)``, RGB, at full resolution.
        condition: One of :data:`CONDITIONS`.
        seed: Seed for this image, normally from :func:`image_seed`.

    Returns:
        A new ``uint8`` array of the same shape.

    Raises:
        ValueError: If the image is not ``uint8`` ``HxWx3`` or the condition is unknown.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 image, got dtype {image.dtype} shape {image.shape}")
    _import_iaa()  # imgaug must go through the compatibility layer before any of its modules is imported
    import imgaug.random as iarandom

    # seed_ alone is not enough: WithBrightnessChannels (dark, light) lists its inner Sequential's members as
    # children but not the Sequential itself, so seed_ never reaches that Sequential, and a seedless imgaug
    # augmenter uses the global RNG object itself (seeded from OS entropy per process) for its random_order draw.
    # Pinning the global RNG to ``seed`` for the whole build-and-augment fixes that draw too; the caller's global
    # RNG state is put back afterwards.
    global_rng = iarandom.get_global_rng()
    saved_state = global_rng.state
    try:
        iarandom.seed(int(seed))
        aug = build_augmenter(condition)
        aug.seed_(int(seed))
        # Copy in so the caller's array is never touched; some augmenters work in place on contiguous input.
        return aug.augment_image(np.ascontiguousarray(image).copy())
    finally:
        global_rng.state = saved_state


def _encode(image: np.ndarray, suffix: str) -> bytes:
    """Encode to the file's own format: JPEG quality 95 for ``.jpg``/``.jpeg``, lossless PNG otherwise."""
    buffer = io.BytesIO()
    if suffix.lower() in _JPEG_SUFFIXES:
        Image.fromarray(image).save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    else:
        Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _read_rgb(src: str) -> np.ndarray:
    """Decode an image to ``uint8`` RGB ``(H, W, 3)``; OSError (UnidentifiedImageError included) if unreadable."""
    with Image.open(src) as img:
        return np.asarray(img.convert("RGB"))


def _render_one(pixels: np.ndarray, rel: str, out_root: str, condition: str, base_seed: int) -> str:
    """Corrupt and write one decoded image; returns the SHA-256 of the written file."""
    out = apply_weather(pixels, condition, image_seed(rel, condition, base_seed))
    data = _encode(out, Path(rel).suffix)
    with atomic_output(Path(out_root) / rel) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def render_environment() -> dict[str, str]:
    """The environment of the rendering processes: this one, with NumPy's AVX-512 kernels switched off.

    On AVX-512 CPUs NumPy 2 computes ``float32`` ``power`` with a vector kernel that rounds differently from the
    scalar code NumPy 1.23 (and NumPy 2 on other CPUs) uses; imgaug's gamma lookup tables and cloud masks reach the
    pixels through it. ``NPY_DISABLE_CPU_FEATURES`` must be set before NumPy is imported, hence fresh processes.
    Only features this NumPy dispatches at run time are named (naming a baseline feature is an error).
    """
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # NumPy 1
        from numpy.core._multiarray_umath import __cpu_dispatch__
    avx512 = [name for name in __cpu_dispatch__ if name.startswith("AVX512") or name == "X86_V4"]
    env = dict(os.environ)
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(filter(None, [env.get("NPY_DISABLE_CPU_FEATURES", ""), *avx512]))
    return env


def _run_workers(specs: list[Path], n_jobs: int, condition: str, progress: bool) -> dict[str, str]:
    """Run one ``python -m geolink.data.weather SPEC`` process per spec and collect their ``[rel, sha256]`` lines."""
    env = render_environment()
    results: dict[str, str] = {}
    procs: list[tuple[subprocess.Popen, Any]] = []
    try:
        for spec in specs:
            stderr = tempfile.TemporaryFile(mode="w+")
            cmd = [sys.executable, "-m", "geolink.data.weather", str(spec)]
            procs.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env), stderr))
        with (
            selectors.DefaultSelector() as selector,
            tqdm(total=n_jobs, desc=condition, unit="img", disable=not progress) as bar,
        ):
            for proc, _ in procs:
                selector.register(proc.stdout, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    line = key.fileobj.readline()
                    if not line:
                        selector.unregister(key.fileobj)
                        continue
                    message = json.loads(line)
                    if isinstance(message, dict):  # the worker could not read an image: a data problem
                        raise DatasetError(
                            f"Cannot make the {condition} weather copy of {message['path']}: {message['error']}. The "
                            "image is unreadable or truncated; obtain the dataset again (or delete the file) and rerun."
                        )
                    rel, digest = message
                    results[rel] = digest
                    bar.update()
        for proc, stderr in procs:
            if proc.wait() != 0:
                stderr.seek(0)
                tail = "".join(stderr.readlines()[-15:])
                raise RuntimeError(
                    f"a weather worker failed on condition {condition} (exit {proc.returncode}):\n{tail}"
                )
    finally:
        for proc, stderr in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            stderr.close()
    if len(results) != n_jobs:
        raise RuntimeError(f"weather workers reported {len(results)} of {n_jobs} images for condition {condition}")
    return results


def _worker_main(spec_path: str) -> None:
    """Worker process: render the spec's images, printing ``[rel, sha256]`` as one JSON line per image.

    An unreadable image ends the worker with one ``{"path", "error"}`` line, which the parent turns into a
    DatasetError; anything else is a bug and ends it with a traceback on stderr.
    """
    spec = json.loads(Path(spec_path).read_text())
    for src, rel in spec["jobs"]:
        try:
            pixels = _read_rgb(src)
        except OSError as error:  # PIL's UnidentifiedImageError included
            print(json.dumps({"path": src, "error": f"{type(error).__name__}: {error}"}), flush=True)
            sys.exit(3)
        digest = _render_one(pixels, rel, spec["out_root"], spec["condition"], spec["base_seed"])
        print(json.dumps([rel, digest]), flush=True)


def write_weather_set(
    src_paths: list[str],
    src_root: str | os.PathLike,
    out_root: str | os.PathLike,
    condition: str,
    workers: int = 1,
    base_seed: int = 0,
    progress: bool = False,
) -> dict[str, str]:
    """Write weather-corrupted copies of images under ``out_root`` and a ``hashes.json`` manifest.

    Each image keeps its path relative to ``src_root`` and its full resolution; JPEGs are written as JPEG
    quality 95, everything else as PNG bytes under the same name. Each file is written atomically, and the
    manifest last, so a complete ``hashes.json`` means a complete set. Output depends only on the image
    contents, relative paths, condition and ``base_seed``, not on ``workers``, order or the CPU: rendering runs in
    ``workers`` fresh Python processes with NumPy's AVX-512 kernels off (:func:`render_environment`).

    Args:
        src_paths: Image paths, absolute or relative to the working directory, all inside ``src_root``
            (symbolic links are not followed, so a split tree of links into a raw tree keeps its own paths).
        src_root: The dataset root the relative paths (and therefore the seeds) are taken from.
        out_root: Folder of the corrupted copy for this condition (one folder per condition).
        condition: One of :data:`CONDITIONS`.
        workers: Rendering processes.
        base_seed: Passed to :func:`image_seed`.
        progress: Show a tqdm progress bar.

    Returns:
        ``{relative_path: sha256 hex of the written file}``, sorted by path.

    Raises:
        ValueError: If a path is outside ``src_root``, appears twice, or the condition is unknown.
        ImportError: If no working imgaug is installed.
        DatasetError: If an image cannot be read (the message names it).
        RuntimeError: If a worker process fails otherwise (its error output is in the message).
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown weather condition {condition!r}; expected one of {', '.join(CONDITIONS)}")
    _import_iaa()  # fail here with the install hint, not inside a worker
    jobs = [
        [os.path.abspath(src), rel] for src, rel in zip(src_paths, relative_paths(src_paths, src_root), strict=True)
    ]
    n_workers = max(1, min(int(workers), len(jobs)))
    Path(out_root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="geolink-weather-") as tmp:
        specs = []
        for k in range(n_workers):
            spec = Path(tmp) / f"worker{k}.json"
            payload = {"jobs": jobs[k::n_workers], "out_root": os.path.abspath(out_root)}
            spec.write_text(json.dumps(payload | {"condition": condition, "base_seed": int(base_seed)}))
            specs.append(spec)
        results = _run_workers(specs, len(jobs), condition, progress) if jobs else {}

    hashes = dict(sorted(results.items()))
    manifest = {
        "condition": condition,
        "base_seed": int(base_seed),
        "recipe": "MuSe-Net iaa_weather_list (docs/datasets.md §6.1), reseeded per image",
        "imgaug_version": _imgaug_version(),
        "numpy_version": np.__version__,
        "files": hashes,
    }
    with atomic_output(Path(out_root) / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return hashes


def relative_paths(paths: list[str], root: str | os.PathLike) -> list[str]:
    """POSIX paths of ``paths`` relative to ``root``, without following symbolic links.

    Raises:
        ValueError: If a path lies outside ``root`` or appears twice.
    """
    root_abs = os.path.abspath(root)
    rels: list[str] = []
    seen: set[str] = set()
    for path in paths:
        rel = os.path.relpath(os.path.abspath(path), root_abs)
        if rel == os.curdir or rel.split(os.sep)[0] == os.pardir:
            raise ValueError(f"{path} is not inside the source root {root}")
        rel = Path(rel).as_posix()
        if rel in seen:
            raise ValueError(f"{path} is listed twice")
        seen.add(rel)
        rels.append(rel)
    return rels


def weather_rows(manifest: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The rows that get weather: drone images (query and gallery) of one split; satellites stay clean (MuSe-Net).

    Args:
        manifest: A manifest table (:mod:`geolink.data.manifest`).
        split: ``"test"`` (the robustness benchmark) or ``"train"``.

    Returns:
        The selected rows, one per distinct path, in manifest order.
    """
    rows = manifest[(manifest["split"] == split) & (manifest["view"] == "drone")]
    return rows.drop_duplicates("path")


def weather_manifest(
    manifest: pd.DataFrame,
    src_root: str | os.PathLike,
    out_root: str | os.PathLike,
    split: str = "test",
    *,
    verify: bool = True,
) -> pd.DataFrame:
    """The manifest of one weather test set: the split's rows, drone paths pointing at the corrupted copies.

    Satellite (and street) rows keep their clean paths, so evaluation reads this table exactly like a clean one.
    Building it is where a set is read back, so the set is checked against its ``hashes.json`` first
    (:func:`verify_weather_set`), and every copy the table points at must be one the record lists.

    Args:
        manifest: The clean manifest of the dataset.
        src_root: The root the clean manifest's paths start with.
        out_root: The condition's folder written by :func:`write_weather_set`.
        split: The split the weather set was made for.
        verify: Check the set on disk; False only maps the paths (nothing under ``out_root`` is read).

    Returns:
        A manifest table (same columns) for ``split``.

    Raises:
        DatasetError: ``verify`` is on and the set does not match its ``hashes.json``, or lacks a copy of one of
            the split's drone images (it was made from another manifest or split).
    """
    # The copies are exactly the images weather_rows selects, under their paths relative to the source root.
    sources = list(weather_rows(manifest, split)["path"])
    rels = relative_paths(sources, src_root)
    if verify:
        recorded = verify_weather_set(out_root)
        unlisted = [rel for rel in rels if rel not in recorded]
        if unlisted:
            raise _weather_set_error(
                out_root,
                f"its {MANIFEST_NAME} lists no copy of {len(unlisted)} drone image(s) of the {split} split, e.g.",
                Path(out_root) / unlisted[0],
                "The set was made from another manifest or split.",
            )
    copies = {src: str(Path(out_root) / rel) for src, rel in zip(sources, rels, strict=True)}
    table = manifest[manifest["split"] == split].copy()
    drone = table["view"] == "drone"
    table.loc[drone, "path"] = table.loc[drone, "path"].map(copies)
    return table.reset_index(drop=True)


def verify_weather_set(root: str | os.PathLike) -> dict[str, str]:
    """Check a weather set on disk against its ``hashes.json``: the same files, byte for byte.

    A set is frozen once written (the benchmark's numbers depend on its exact pixels), and it may since have
    been copied, pulled from a DVC remote or touched by hand. Every recorded file must exist with the recorded
    SHA-256, and no other file may sit in the folder. Hidden files are ignored: they are operating-system
    metadata (``.DS_Store``) or temporaries of an interrupted atomic write, never images of the set. Hashing
    costs about a second per gigabyte, small next to the evaluation that reads the set.

    Args:
        root: The condition's folder written by :func:`write_weather_set`.

    Returns:
        ``{relative_path: sha256}`` as recorded in ``hashes.json``.

    Raises:
        DatasetError: ``hashes.json`` is missing or malformed, or a file is missing, extra or changed; the message
            names the first such file and says to write the set again.
    """
    root = Path(root)
    recorded = _read_weather_hashes(root)
    missing = sorted(rel for rel in recorded if not (root / rel).is_file())
    if missing:
        problem = f"{len(missing)} file(s) listed in its {MANIFEST_NAME} are missing, e.g."
        raise _weather_set_error(root, problem, root / missing[0])
    extra = sorted(set(_weather_set_files(root)) - set(recorded))
    if extra:
        problem = f"{len(extra)} file(s) are not listed in its {MANIFEST_NAME}, e.g."
        raise _weather_set_error(root, problem, root / extra[0])
    changed = [rel for rel, digest in recorded.items() if sha256_file(root / rel) != digest]
    if changed:
        problem = f"{len(changed)} file(s) differ from the SHA-256 recorded in its {MANIFEST_NAME}, e.g."
        raise _weather_set_error(root, problem, root / changed[0])
    return recorded


def _read_weather_hashes(root: Path) -> dict[str, str]:
    """The ``files`` mapping of a set's ``hashes.json``; DatasetError if it is missing or not one."""
    record = root / MANIFEST_NAME
    if not record.is_file():
        # write_weather_set writes the record last, so its absence means the set was never finished.
        raise _weather_set_error(root, f"it has no {MANIFEST_NAME} (the set is incomplete):", record)
    try:
        files = json.loads(record.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise _weather_set_error(root, f"its {MANIFEST_NAME} is unreadable ({error}):", record) from error
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise _weather_set_error(root, f"its {MANIFEST_NAME} has no mapping 'files' of path to SHA-256:", record)
    for rel in files:
        # A record naming a path outside the folder would make verification read (and trust) other files.
        if not _is_inside(rel):
            raise _weather_set_error(root, f"its {MANIFEST_NAME} lists a path outside the set ({rel!r}):", record)
    return {rel: digest.lower() for rel, digest in files.items()}


def _is_inside(rel: str) -> bool:
    """Whether a recorded path is a normalised POSIX path inside the set, as write_weather_set records them."""
    try:
        return _relative_key(rel) == rel
    except ValueError:
        return False


def _weather_set_files(root: Path) -> list[str]:
    """POSIX paths, relative to ``root``, of the set's files: everything but ``hashes.json`` and hidden entries."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(folder) / name
            if not name.startswith(".") and path != root / MANIFEST_NAME:
                found.append(path.relative_to(root).as_posix())
    return found


def _weather_set_error(
    root: str | os.PathLike,
    problem: str,
    path: str | os.PathLike,
    cause: str = "The set was changed or damaged after it was written, or its writing was interrupted.",
) -> DatasetError:
    """The DatasetError for a weather set that cannot be trusted: the problem, the file, and how to rebuild it."""
    return DatasetError(
        f"The weather set {full_path(root)} cannot be used: {problem} {full_path(path)}. {cause} Delete the "
        f"folder {full_path(root)} and rerun the workflow: rule weather writes the set again, byte for byte "
        "(its images depend only on the clean images, the condition and the seed).",
        path=path,
    )


def _imgaug_version() -> str:
    """Version of the imgaug module in use, recorded with NumPy's so a set's library stack is known."""
    import imgaug

    return str(getattr(imgaug, "__version__", "unknown"))


if __name__ == "__main__":
    _worker_main(sys.argv[1])
