"""The image manifest: one table row per image, the contract between the dataset adapters and everything else.

Each adapter (University-1652, SUES-200, DenseUAV) walks its dataset's real on-disk layout and returns rows
with the columns in ``MANIFEST_COLUMNS``. Later stages read only the manifest, never the folder layouts, so
the layout knowledge stays in one adapter per dataset.

Columns:
    dataset: ``"university1652"``, ``"sues200"`` or ``"denseuav"``.
    split: ``"train"`` or ``"test"``.
    role: ``"train"``, ``"query"`` or ``"gallery"``.
    view: ``"drone"``, ``"satellite"``, ``"street"`` or ``"google"``.
    location: the class folder name as a string (``"0001"``, ``"000123"``); it is the retrieval label.
    altitude: flight height in metres, NaN where the dataset does not give one per image.
    folder: the real folder the image was found in (``"query_drone"``, ``"satellite"``, ...).
    path: the dataset root joined with the image's relative path, exactly as given (not made absolute).
    lon, lat: WGS84 degrees, NaN where unknown.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm import tqdm

from geolink.atomic import atomic_output
from geolink.data.errors import DISPLAY_NAMES, DatasetError
from geolink.data.images import decode_rgb

log = logging.getLogger(__name__)

MANIFEST_COLUMNS: list[str] = [
    "dataset",
    "split",
    "role",
    "view",
    "location",
    "altitude",
    "folder",
    "path",
    "lon",
    "lat",
]
STRING_COLUMNS: tuple[str, ...] = ("dataset", "split", "role", "view", "location", "folder", "path")
FLOAT_COLUMNS: tuple[str, ...] = ("altitude", "lon", "lat")
#: Row order of every manifest. ``dataset`` leads so that concatenated manifests stay deterministic too;
#: ``path`` is unique, so the order is total.
SORT_COLUMNS: list[str] = ["dataset", "split", "role", "view", "folder", "location", "altitude", "path"]
#: The dataset names read_manifest accepts, in the order they are documented.
DATASETS: tuple[str, ...] = ("university1652", "sues200", "denseuav")
#: The folder each dataset's released layout starts at inside its download (and in a synthetic tree).
LAYOUT_ROOTS: dict[str, str] = {
    "university1652": "University-Release",
    "sues200": "SUES-200-512x512",
    "denseuav": "DenseUAV",
}
#: Suffixes (compared in lower case) that count as images. The real releases use .jpeg/.jpg (U1652),
#: .jpg/.png (SUES-200) and .JPG/.tif (DenseUAV); the others cover re-encoded copies.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"})
CHECK_MODES: tuple[str, ...] = ("none", "header", "decode")

Adapter = Callable[..., pd.DataFrame]


def adapters() -> dict[str, Adapter]:
    """Return the registry mapping each dataset name to the function that reads its layout.

    The adapters are imported here rather than at module level because they import the helpers defined in
    this module; a top-level import would be circular.

    Returns:
        ``{"university1652": read_university1652, "sues200": read_sues200, "denseuav": read_denseuav}``.
    """
    from geolink.data.denseuav import read_denseuav
    from geolink.data.sues200 import read_sues200
    from geolink.data.university1652 import read_university1652

    return {"university1652": read_university1652, "sues200": read_sues200, "denseuav": read_denseuav}


def read_manifest(dataset: str, root: str | Path, *, check_images: str = "header", **kwargs: Any) -> pd.DataFrame:
    """Read one dataset's on-disk layout into a manifest, optionally checking every image.

    Args:
        dataset: ``"university1652"``, ``"sues200"`` or ``"denseuav"`` (exact names).
        root: The dataset folder the adapter expects (see each adapter's docstring).
        check_images: ``"none"`` (trust the files), ``"header"`` (parse each image's header: catches missing,
            empty and foreign or garbage files cheaply, but not a file cut off inside its pixel data) or
            ``"decode"`` (decode every pixel: also catches truncated files). See ``check_manifest_images``.
        **kwargs: Passed on to the adapter (e.g. ``heights`` for SUES-200).

    Returns:
        The manifest, with ``MANIFEST_COLUMNS``, sorted by ``SORT_COLUMNS`` and a fresh RangeIndex.

    Raises:
        DatasetError: Unknown dataset name, a missing or malformed dataset, or an unreadable image.
        ValueError: ``check_images`` is not one of ``CHECK_MODES``.
    """
    registry = adapters()
    if dataset not in registry:
        known = ", ".join(f'"{name}"' for name in registry)
        raise DatasetError(f'Unknown dataset name "{dataset}". Known datasets: {known}.', dataset=dataset)
    if check_images not in CHECK_MODES:
        raise ValueError(f"check_images must be one of {CHECK_MODES}, got {check_images!r}")
    df = normalize_manifest(registry[dataset](root, **kwargs))
    check_manifest_images(df, mode=check_images)
    return df


def check_manifest_images(df: pd.DataFrame, *, mode: str = "header") -> None:
    """Open every image of a manifest and fail on the first one PIL cannot read.

    ``header`` parses each file's header (``Image.open(p).size``, about a millisecond an image): it catches a
    missing or empty file, a foreign file (an HTML error page, a text file) and one cut off inside its
    header, but NOT a file truncated inside its pixel data, because the pixels are never read. No cheap tail
    check can fill that gap for every format: TIFF has no end marker, and a valid JPEG may carry bytes after
    its end-of-image marker (camera and phone trailers). ``decode`` decodes every pixel exactly as training
    and evaluation do (``geolink.data.images.decode_rgb``, with PIL's ``LOAD_TRUNCATED_IMAGES`` forced off),
    so it also catches truncated files, at the cost of a full decode per image.

    Args:
        df: A manifest.
        mode: ``"none"``, ``"header"`` or ``"decode"``.

    Raises:
        DatasetError: An image is missing or unreadable; the message names it.
        ValueError: Unknown ``mode``.
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"check_images must be one of {CHECK_MODES}, got {mode!r}")
    if mode == "none" or df.empty:
        return
    rows = zip(df["dataset"].tolist(), df["path"].tolist(), strict=True)
    # disable=None: tqdm shows the bar on a terminal and stays silent in log files.
    for dataset, path in tqdm(
        rows, total=len(df), desc=f"checking images ({mode})", unit="img", leave=False, disable=None
    ):
        try:
            if mode == "decode":
                decode_rgb(path)
            else:
                with Image.open(path) as image:
                    _ = image.size
        # PIL reports corrupt data through many exception types (OSError, SyntaxError, ValueError, EOFError,
        # struct.error, DecompressionBombError); for this check they all mean "cannot use this file".
        except Exception as exc:
            raise DatasetError.at(
                dataset,
                f"cannot read image ({type(exc).__name__}: {exc})",
                path,
                "The file is missing, truncated or corrupt; re-download or re-extract the dataset archive "
                "(a partial download or an interrupted unzip is the usual cause).",
            ) from exc


def normalize_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """Give a manifest its canonical form: column order, dtypes, row order and a fresh index.

    Args:
        df: A frame holding at least ``MANIFEST_COLUMNS`` (extra columns are dropped).

    Returns:
        A new frame: strings as ``str``, floats as ``float64``, rows sorted by ``SORT_COLUMNS``.

    Raises:
        ValueError: A column is missing or a string column has missing values.
    """
    df = _fix_dtypes(df)
    df = df.sort_values(SORT_COLUMNS, kind="mergesort", na_position="last")
    return df.reset_index(drop=True)


def manifest_from_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a normalized manifest from row mappings keyed by ``MANIFEST_COLUMNS``.

    Args:
        rows: One mapping per image.

    Returns:
        The normalized manifest (empty, with the right dtypes, if there are no rows).
    """
    return normalize_manifest(pd.DataFrame.from_records(list(rows), columns=MANIFEST_COLUMNS))


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest as Parquet, atomically.

    The table goes to a temporary file in the destination folder and is then renamed over ``path``, so a
    crash or a killed job never leaves a truncated manifest that a later step would trust.

    Args:
        df: A manifest.
        path: Destination ``.parquet`` file; missing parent folders are created.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _fix_dtypes(df)
    with atomic_output(path) as tmp:
        table.to_parquet(tmp, engine="pyarrow", index=False)
    return path


def load_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest written by ``write_manifest``.

    Args:
        path: The ``.parquet`` file.

    Returns:
        The manifest with canonical column order and dtypes; the stored row order is kept.

    Raises:
        ValueError: The file lacks manifest columns.
    """
    df = pd.read_parquet(path, engine="pyarrow")
    return _fix_dtypes(df).reset_index(drop=True)


def summarize_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """Count images and distinct locations per (dataset, split, role, view, folder, altitude).

    Used for log lines and for checking counts against the published dataset statistics. Rows with an
    unknown (NaN) altitude form their own group.

    Args:
        df: A manifest.

    Returns:
        Columns ``dataset, split, role, view, folder, altitude, images, locations``, sorted by the keys.
    """
    keys = ["dataset", "split", "role", "view", "folder", "altitude"]
    summary = (
        df.groupby(keys, dropna=False, sort=True)
        .agg(images=("path", "size"), locations=("location", "nunique"))
        .reset_index()
    )
    summary["images"] = summary["images"].astype("int64")
    summary["locations"] = summary["locations"].astype("int64")
    return summary


def is_image_name(name: str) -> bool:
    """Tell whether a file name counts as an image: a known extension (any case), not a hidden file."""
    # Hidden files are macOS/Windows metadata (._0.png, .DS_Store) that would otherwise match the suffix.
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str | Path) -> list[Path]:
    """List the images directly inside ``folder`` (no recursion), sorted by name.

    Args:
        folder: An existing folder.

    Returns:
        Paths built as ``Path(folder) / name``, so they keep the caller's (possibly relative) root.
    """
    folder = Path(folder)
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if is_image_name(e.name) and e.is_file())
    return [folder / name for name in names]


def list_class_dirs(folder: str | Path) -> list[Path]:
    """List the class sub-folders of ``folder``, sorted by name.

    Stray files and hidden folders (``.ipynb_checkpoints``) where class folders are expected are ignored:
    they carry no images of the dataset.
    """
    folder = Path(folder)
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    return [folder / name for name in names]


def iter_class_images(folder: str | Path) -> Iterator[tuple[str, Path]]:
    """Yield ``(class folder name, image path)`` for every image in ``folder/<class>/``.

    Empty class folders yield nothing; University-1652 keeps some on purpose (see university1652.py).
    """
    for class_dir in list_class_dirs(folder):
        for image in list_images(class_dir):
            yield class_dir.name, image


def require_dir(dataset: str, path: Path, what: str, fix: str, *, obtain: bool = False) -> None:
    """Raise a DatasetError naming ``path`` unless it is an existing folder.

    Args:
        dataset: Manifest name of the dataset.
        path: The folder that must exist.
        what: Short description used in the message ("required folder", "dataset root folder", ...).
        fix: What the user should do about it.
        obtain: Also explain how to obtain the dataset.
    """
    if path.is_dir():
        return
    problem = f"{what} not found" if not path.exists() else f"{what} is not a folder"
    raise DatasetError.at(dataset, problem, path, fix, obtain=obtain)


def require_root(dataset: str, root: str | Path, expected: str) -> Path:
    """Check that a dataset root folder exists and return it as a Path.

    Args:
        dataset: Manifest name of the dataset.
        root: The configured root.
        expected: What the root should contain, for the message (e.g. "train/ and test/").

    Returns:
        ``Path(root)``.
    """
    path = Path(root)
    name = DISPLAY_NAMES.get(dataset, dataset)
    require_dir(
        dataset,
        path,
        "dataset root folder",
        f"Check the {name} path in the configuration; it must be the folder that contains {expected}.",
        obtain=True,
    )
    return path


def _fix_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Select ``MANIFEST_COLUMNS`` in order and cast them to their canonical dtypes."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"not a manifest: missing columns {missing}")
    out = df[MANIFEST_COLUMNS].copy()
    for column in STRING_COLUMNS:
        if out[column].isna().any():
            raise ValueError(f"manifest column {column!r} has missing values")
        out[column] = out[column].astype("str")
    for column in FLOAT_COLUMNS:
        out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
    return out
