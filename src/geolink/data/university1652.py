"""University-1652 adapter: the extracted ``University-Release`` folder as manifest rows.

Layout (docs/datasets.md §1.2, §1.3)::

    University-Release/
        train/{drone,satellite,street,google}/<ID>/*       701 building IDs
        test/{query,gallery}_{drone,satellite,street}/<ID>/*
        test/4K_drone/<ID>/*                               not read (see TEST_FOLDERS)
        test/gallery_satellite_160k/*                      University-160k distractors, read on request

Drone images carry no per-image altitude and the release has no per-image GPS (only building-level KML,
distributed separately), so altitude, lon and lat are NaN.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from geolink.data.errors import DatasetError
from geolink.data.manifest import (
    iter_class_images,
    list_class_dirs,
    list_images,
    manifest_from_rows,
    require_dir,
    require_root,
)

log = logging.getLogger(__name__)

DATASET = "university1652"
#: Training view folders; the folder name is the view. street/google are optional because GeoLink uses only
#: drone and satellite, and a trimmed copy of the release should still be usable.
TRAIN_REQUIRED: tuple[str, ...] = ("drone", "satellite")
TRAIN_OPTIONAL: tuple[str, ...] = ("street", "google")
#: Test folders of the official query/gallery protocol; role and view come from the name.
#: Anything else under test/ is ignored on purpose: ``4K_drone`` is a separate high-resolution release of drone
#: views that no official task queries, and extras some forks add (``gallery_satellite_usa_un``,
#: ``query_drone_one``) are not part of the standard protocol either. Reading them would add images that no
#: evaluation expects and break the published counts.
TEST_REQUIRED: tuple[str, ...] = ("query_drone", "gallery_drone", "query_satellite", "gallery_satellite")
TEST_OPTIONAL: tuple[str, ...] = ("query_street", "gallery_street")
#: University-160k's extra gallery: 167,486 satellite tiles of places outside the 1,652 buildings, one flat folder
#: (docs/datasets.md §1.1). The official loader labels each image by its file stem, so none matches a query: they
#: are negatives of every drone -> satellite query. Read only when asked (``distractors=True``).
DISTRACTOR_FOLDER = "gallery_satellite_160k"
#: Prefix of a distractor's location label, so that no file stem can be mistaken for a building ID.
DISTRACTOR_LABEL_PREFIX = "160k:"


def read_university1652(root: str | Path, distractors: bool = False) -> pd.DataFrame:
    """Read the University-1652 release into manifest rows.

    Empty ``train/google/<ID>`` folders are legal (the release keeps them so class indices stay aligned)
    and simply produce no rows. Stray files where ID folders are expected, hidden files and files with
    non-image extensions are ignored.

    Args:
        root: The ``University-Release`` folder containing ``train/`` and ``test/``.
        distractors: Also read University-160k's ``test/gallery_satellite_160k/`` (then required): gallery
            satellite rows whose location is ``"160k:<file stem>"``.

    Returns:
        The normalized manifest: train rows with role "train" and folder = view; test rows with role and
        view taken from the ``<role>_<view>`` folder name.

    Raises:
        DatasetError: The root, ``train/``, ``test/`` or a required view folder is missing, or a required view
            folder holds no images at all.
    """
    root = require_root(DATASET, root, "train/ and test/ (the extracted University-Release folder)")
    fix = _fix_hint(root)
    train_dir, test_dir = root / "train", root / "test"
    require_dir(DATASET, train_dir, "training folder", fix, obtain=True)
    require_dir(DATASET, test_dir, "test folder", fix, obtain=True)

    rows: list[dict] = []
    for name in TRAIN_REQUIRED + TRAIN_OPTIONAL:
        rows += _read_folder(train_dir / name, "train", "train", name, required=name in TRAIN_REQUIRED, fix=fix)
    for name in TEST_REQUIRED + TEST_OPTIONAL:
        role, view = name.split("_", 1)
        rows += _read_folder(test_dir / name, "test", role, view, required=name in TEST_REQUIRED, fix=fix)

    if distractors:
        rows += _read_distractors(test_dir / DISTRACTOR_FOLDER, fix)
    read = TEST_REQUIRED + TEST_OPTIONAL + ((DISTRACTOR_FOLDER,) if distractors else ())
    ignored = sorted(p.name for p in list_class_dirs(test_dir) if p.name not in read)
    if ignored:
        log.info("University-1652: ignoring test folders outside the query/gallery protocol: %s", ", ".join(ignored))
    if DISTRACTOR_FOLDER in ignored:
        log.info("(set datasets.university1652.distractors: true to add %s to the gallery)", DISTRACTOR_FOLDER)
    return manifest_from_rows(rows)


def _read_distractors(folder: Path, fix: str) -> list[dict]:
    """Gallery satellite rows for University-160k's flat distractor folder, each its own location."""
    fix = (
        f"{fix} University-160k's distractors are a separate download (the name-unmasked distractor set of the "
        f"University-1652 maintainers): extract its images into test/{DISTRACTOR_FOLDER}/, or set "
        "datasets.university1652.distractors: false."
    )
    require_dir(DATASET, folder, "University-160k distractor folder", fix)
    images = list_images(folder)
    if not images:
        raise DatasetError.at(DATASET, "University-160k distractor folder holds no images", folder, fix)
    return [
        {
            "dataset": DATASET,
            "split": "test",
            "role": "gallery",
            "view": "satellite",
            "location": DISTRACTOR_LABEL_PREFIX + path.stem,
            "altitude": math.nan,
            "folder": DISTRACTOR_FOLDER,
            "path": str(path),
            "lon": math.nan,
            "lat": math.nan,
        }
        for path in images
    ]


def _read_folder(folder: Path, split: str, role: str, view: str, *, required: bool, fix: str) -> list[dict]:
    """Rows for every image in ``folder/<ID>/``; checks presence for required folders."""
    if not folder.exists() and not required:
        log.info("University-1652: optional folder %s not present; no %s rows", folder, folder.name)
        return []
    require_dir(DATASET, folder, "required folder" if required else "folder", fix, obtain=True)
    rows = [
        {
            "dataset": DATASET,
            "split": split,
            "role": role,
            "view": view,
            "location": location,
            "altitude": math.nan,
            "folder": folder.name,
            "path": str(path),
            "lon": math.nan,
            "lat": math.nan,
        }
        for location, path in iter_class_images(folder)
    ]
    if required and not rows:
        # An empty drone/satellite folder means an interrupted extraction, not a legal empty class.
        raise DatasetError.at(DATASET, "required folder holds no images in its ID sub-folders", folder, fix)
    return rows


def _fix_hint(root: Path) -> str:
    """Advice for a missing folder, recognising the common mistake of pointing one level too high."""
    if (root / "University-Release" / "train").is_dir():
        nested = root / "University-Release"
        return f"The configured folder holds a University-Release/ folder; point the configuration at {nested} instead."
    return (
        "Point the configuration at the extracted University-Release folder (it contains train/ and test/); if "
        "the folder is there but incomplete, extract University-Release.zip again."
    )
