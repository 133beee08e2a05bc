"""SUES-200 adapter: the official 120/80 split built from the raw archive, and its manifest rows.

The archive ships only the raw tree (docs/datasets.md §2.2)::

    SUES-200-512x512/
        drone_view_512/<ID>/<height>/<k>.jpg    200 IDs x 4 heights x 50 frames
        satellite-view/<ID>/0.png               one satellite image per ID

The benchmark's ``script/split_datasets.py`` turns it into per-height ``Training/`` and ``Testing/`` trees
using the fixed training list in ``script/indexs.yaml`` (§2.3). ``split_sues200`` reproduces that output;
``read_sues200`` reads it.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import yaml

from geolink.atomic import OutputExistsError, shared_mode
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

DATASET = "sues200"
#: Flight heights in metres; each is a separate folder in the raw tree and in the split.
HEIGHTS: tuple[int, ...] = (150, 200, 250, 300)
#: The 80 official test IDs: the IDs 0001-0200 missing from the benchmark's script/indexs.yaml (§2.3).
#: The split is fixed by that file, not by ID order, so it is spelled out here.
OFFICIAL_TEST_IDS: tuple[str, ...] = (
    "0008", "0012", "0014", "0017", "0018", "0019", "0022", "0023", "0035", "0038",
    "0040", "0041", "0042", "0046", "0047", "0048", "0049", "0050", "0052", "0053",
    "0054", "0059", "0061", "0062", "0063", "0065", "0068", "0071", "0072", "0075",
    "0078", "0079", "0083", "0092", "0093", "0095", "0098", "0099", "0107", "0108",
    "0109", "0110", "0111", "0112", "0114", "0115", "0117", "0121", "0122", "0124",
    "0128", "0130", "0131", "0133", "0135", "0136", "0138", "0140", "0143", "0144",
    "0150", "0153", "0154", "0161", "0162", "0164", "0165", "0170", "0172", "0173",
    "0175", "0176", "0177", "0178", "0181", "0188", "0189", "0190", "0194", "0195",
)  # fmt: skip
#: Number of locations in the full archive; used only to warn about an incomplete download.
NUM_LOCATIONS = 200
DRONE_FOLDER = "drone_view_512"
SATELLITE_FOLDER = "satellite-view"
TRAINING_FOLDERS: tuple[str, ...] = ("drone", "satellite")
TESTING_FOLDERS: tuple[str, ...] = ("query_drone", "query_satellite", "gallery_drone", "gallery_satellite")
LINK_MODES: tuple[str, ...] = ("copy", "hardlink", "symlink")


def read_sues200_split_index(path: str | Path) -> list[str]:
    """Read the training IDs from an ``indexs.yaml``-style file.

    The official file is a YAML mapping with one key, ``index``, whose value lists the 120 training IDs
    (``index : ['0001', '0002', ...]``). Integer entries are accepted too.

    Args:
        path: The YAML file.

    Returns:
        The training IDs as zero-padded 4-digit strings, in file order.

    Raises:
        DatasetError: The file is missing, is not valid YAML, has no ``index`` list, or holds an entry that is
            not a non-negative integer below 10000, or a duplicate.
    """
    path = Path(path)
    fix = (
        "It must be a YAML mapping with a key 'index' listing the training IDs, like the benchmark's "
        "script/indexs.yaml (index : ['0001', '0002', ...])."
    )
    if not path.is_file():
        raise DatasetError.at(DATASET, "split index file not found", path, fix)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError.at(DATASET, f"split index file is not valid YAML ({exc})", path, fix) from exc
    if not isinstance(data, dict) or not isinstance(data.get("index"), list):
        raise DatasetError.at(DATASET, "split index file has no 'index' list", path, fix)
    ids: list[str] = []
    for item in data["index"]:
        location = _normalize_id(item)
        if location is None:
            raise DatasetError.at(DATASET, f"split index file holds an invalid ID {item!r}", path, fix)
        if location in ids:
            raise DatasetError.at(DATASET, f"split index file lists ID {location} twice", path, fix)
        ids.append(location)
    return ids


def split_sues200(
    raw_root: str | Path,
    out_root: str | Path,
    *,
    train_ids: Iterable[str | int] | None = None,
    split_index: str | Path | None = None,
    heights: Sequence[int] = HEIGHTS,
    link: str = "copy",
    overwrite: bool = False,
) -> dict[str, int]:
    """Build the official per-height ``Training/`` and ``Testing/`` folders from the raw SUES-200 tree.

    Reproduces ``script/split_datasets.py`` of Reza-Zhu/SUES-200-Benchmark. For each height h::

        Training/<h>/drone/<ID>/, Training/<h>/satellite/<ID>/        training IDs
        Testing/<h>/query_drone/<ID>/, Testing/<h>/query_satellite/<ID>/  test IDs
        Testing/<h>/gallery_drone/<ID>/, Testing/<h>/gallery_satellite/<ID>/  ALL IDs

    Galleries hold every location because the official protocol ranks the training locations as
    distractors. The satellite image has no height, so the same file goes into every height folder.

    The raw tree is validated completely before anything is written, and the split is built in a new hidden
    sibling folder (``.<name>.<random>.building``) that is renamed to ``out_root`` only when complete, so a
    failure never leaves a half-made split behind.

    Args:
        raw_root: Folder holding ``drone_view_512/`` and ``satellite-view/`` (``SUES-200-512x512``).
        out_root: Folder to create; it will hold ``Training/`` and ``Testing/``.
        train_ids: Training IDs (strings or ints); default: every ID of the raw tree that is not in
            ``OFFICIAL_TEST_IDS``, i.e. the official split. All other IDs of the raw tree are test IDs.
        split_index: Or a YAML file listing the training IDs (``read_sues200_split_index``), as the
            configuration's ``datasets.sues200.split_index`` gives it.
        heights: Heights to build.
        link: ``"copy"``, ``"hardlink"`` (falls back to a copy where links are impossible, e.g. across
            devices) or ``"symlink"`` (absolute links into the raw tree, which must then stay in place).
        overwrite: Replace an existing ``out_root`` instead of failing.

    Returns:
        Counts: ``locations``, ``train_ids``, ``test_ids``, ``heights`` and ``files`` (files placed).

    Raises:
        OutputExistsError: ``out_root`` exists (without ``overwrite``).
        DatasetError: The raw tree lacks a folder, a height or a satellite image; a training ID is not in the raw
            tree.
        ValueError: Unknown ``link`` mode.
    """
    if link not in LINK_MODES:
        raise ValueError(f"link must be one of {LINK_MODES}, got {link!r}")
    if split_index is not None:
        if train_ids is not None:
            raise ValueError("give train_ids or split_index, not both")
        train_ids = read_sues200_split_index(split_index)
    raw_root, out_root = Path(raw_root), Path(out_root)
    if os.path.lexists(out_root) and not overwrite:
        raise OutputExistsError.at(out_root, extra=" (or call split_sues200 with overwrite=True)")

    sources = _validate_raw_tree(raw_root, heights)
    ids = sorted(sources)
    if train_ids is None:
        train = [i for i in ids if i not in OFFICIAL_TEST_IDS]
    else:
        train = sorted({_require_train_id(item, raw_root, sources) for item in train_ids})
    test = sorted(set(ids) - set(train))
    if len(ids) != NUM_LOCATIONS:
        log.warning(
            "SUES-200: the raw tree at %s has %d locations, the full archive has %d", raw_root, len(ids), NUM_LOCATIONS
        )

    # (source file, destination relative to out_root), computed before touching the disk.
    plan: list[tuple[Path, Path]] = []
    folders: list[Path] = []
    for height in heights:
        training, testing = Path("Training", str(height)), Path("Testing", str(height))
        groups = (
            (training / "drone", train, "drone"),
            (training / "satellite", train, "satellite"),
            (testing / "query_drone", test, "drone"),
            (testing / "query_satellite", test, "satellite"),
            (testing / "gallery_drone", ids, "drone"),
            (testing / "gallery_satellite", ids, "satellite"),
        )
        for folder, group_ids, view in groups:
            folders.append(folder)
            for location in group_ids:
                files = sources[location][height] if view == "drone" else sources[location]["satellite"]
                plan += [(src, folder / location / src.name) for src in files]

    _build_atomically(out_root, folders, plan, link=link, overwrite=overwrite)
    counts = {
        "locations": len(ids),
        "train_ids": len(train),
        "test_ids": len(test),
        "heights": len(heights),
        "files": len(plan),
    }
    log.info("SUES-200: split written to %s: %s", out_root, counts)
    return counts


def read_sues200(root: str | Path, heights: Sequence[int] = HEIGHTS) -> pd.DataFrame:
    """Read a split SUES-200 tree (the output of ``split_sues200`` or of the official script) into rows.

    Args:
        root: Folder containing ``Training/`` and ``Testing/``.
        heights: Heights to read; each row's altitude is its height folder, for satellite rows too (the
            same satellite image then appears once per height, as in the official per-height protocol).

    Returns:
        The normalized manifest. Training rows: split "train", role "train", folder "drone"/"satellite".
        Testing rows: split "test", role and view from the ``<role>_<view>`` folder name.

    Raises:
        DatasetError: The root, ``Training/<h>/<folder>`` or ``Testing/<h>/<folder>`` is missing.
    """
    root = require_root(DATASET, root, "Training/ and Testing/ (the output of split_sues200)")
    if (root / DRONE_FOLDER).is_dir() and not (root / "Training").exists():
        fix = (
            f"{root} is the raw SUES-200 archive; build the official split first with "
            "geolink.data.split_sues200(raw_root, out_root) and point the configuration at out_root."
        )
    else:
        fix = "Rebuild the split with geolink.data.split_sues200 from the raw SUES-200 archive."
    rows: list[dict] = []
    for height in heights:
        for split, top, names in (("train", "Training", TRAINING_FOLDERS), ("test", "Testing", TESTING_FOLDERS)):
            for name in names:
                folder = root / top / str(height) / name
                require_dir(DATASET, folder, "required split folder", fix)
                role, view = ("train", name) if split == "train" else name.split("_", 1)
                rows += [
                    {
                        "dataset": DATASET,
                        "split": split,
                        "role": role,
                        "view": view,
                        "location": location,
                        "altitude": float(height),
                        "folder": name,
                        "path": str(path),
                        "lon": math.nan,
                        "lat": math.nan,
                    }
                    for location, path in iter_class_images(folder)
                ]
    return manifest_from_rows(rows)


def _validate_raw_tree(raw_root: Path, heights: Sequence[int]) -> dict[str, dict]:
    """Check the raw tree and list its files: ``{ID: {height: [drone files], "satellite": [files]}}``."""
    nested = raw_root / "SUES-200-512x512"
    if nested.is_dir():
        fix = f"The configured folder holds SUES-200-512x512/; point the configuration at {nested} instead."
    else:
        fix = (
            "Point the configuration at the extracted SUES-200-512x512 folder "
            "(it holds drone_view_512/ and satellite-view/)."
        )
    require_root(DATASET, raw_root, f"{DRONE_FOLDER}/ and {SATELLITE_FOLDER}/ (the raw SUES-200-512x512 folder)")
    drone_dir, sat_dir = raw_root / DRONE_FOLDER, raw_root / SATELLITE_FOLDER
    require_dir(DATASET, drone_dir, "raw drone folder", fix, obtain=True)
    require_dir(DATASET, sat_dir, "raw satellite folder", fix, obtain=True)

    drone_ids = {p.name for p in list_class_dirs(drone_dir)}
    sat_ids = {p.name for p in list_class_dirs(sat_dir)}
    reextract = "The archive is incomplete; download and extract it again."
    if no_satellite := sorted(drone_ids - sat_ids):
        raise DatasetError.at(
            DATASET,
            f"{len(no_satellite)} location(s) have drone images but no satellite image, the first one",
            sat_dir / no_satellite[0] / "0.png",
            reextract,
        )
    if no_drone := sorted(sat_ids - drone_ids):
        raise DatasetError.at(
            DATASET,
            f"{len(no_drone)} location(s) have a satellite image but no drone folder, the first one",
            drone_dir / no_drone[0],
            reextract,
        )
    if not drone_ids:
        raise DatasetError.at(DATASET, "no location folders found in", drone_dir, fix, obtain=True)

    sources: dict[str, dict] = {}
    for location in sorted(drone_ids):
        satellite = list_images(sat_dir / location)
        if not satellite:
            raise DatasetError.at(
                DATASET, f"location {location} has no satellite image", sat_dir / location / "0.png", reextract
            )
        entry: dict = {"satellite": satellite}
        for height in heights:
            height_dir = drone_dir / location / str(height)
            require_dir(DATASET, height_dir, f"drone folder for height {height} m", reextract)
            entry[height] = list_images(height_dir)
            if not entry[height]:
                raise DatasetError.at(
                    DATASET, f"drone folder for height {height} m holds no images", height_dir, reextract
                )
        sources[location] = entry
    return sources


def _require_train_id(item: str | int, raw_root: Path, sources: dict[str, dict]) -> str:
    """Normalize a requested training ID and check that the raw tree has it."""
    location = _normalize_id(item)
    if location is None:
        raise DatasetError(
            f"SUES-200: invalid training ID {item!r}; IDs are integers such as 1 or '0001'.", dataset=DATASET
        )
    if location not in sources:
        raise DatasetError.at(
            DATASET,
            f"training ID {location} is not in the raw tree",
            raw_root / DRONE_FOLDER / location,
            "Check the training ID list (indexs.yaml) against the extracted archive.",
        )
    return location


def _normalize_id(item: object) -> str | None:
    """``1``, ``"1"`` or ``"0001"`` -> ``"0001"``; None for anything that is not an ID."""
    # bool is an int subclass, and YAML reads yes/no as booleans: never a valid ID.
    if isinstance(item, bool):
        return None
    if isinstance(item, str) and item.strip().isascii() and item.strip().isdigit():
        item = int(item.strip())
    if isinstance(item, int) and 0 <= item <= 9999:
        return f"{item:04d}"
    return None


def _build_atomically(
    out_root: Path, folders: list[Path], plan: list[tuple[Path, Path]], *, link: str, overwrite: bool
) -> None:
    """Place every planned file under a temporary sibling of ``out_root``, then rename it into place."""
    out_root.parent.mkdir(parents=True, exist_ok=True)
    # A fresh, uniquely named folder: nothing that exists is ever reused or deleted to make room for it. mkdtemp
    # makes it private (0o700); it gets the mode mkdir would give before it is published.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_root.name}.", suffix=".building", dir=out_root.parent))
    try:
        os.chmod(tmp, shared_mode(0o777))
        for folder in folders:
            # Created explicitly so that an empty group (e.g. no training IDs) still yields its folder.
            (tmp / folder).mkdir(parents=True, exist_ok=True)
        for src, rel in plan:
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            _place(src, dst, link)
        if out_root.exists() and overwrite:
            # A non-empty folder cannot be renamed over; move the old one aside first and drop it afterwards.
            old = out_root.with_name(f"{out_root.name}.old-{os.getpid()}")
            os.replace(out_root, old)
            try:
                os.replace(tmp, out_root)
            except BaseException:
                os.replace(old, out_root)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _place(src: Path, dst: Path, link: str) -> None:
    """Copy, hard-link or symlink one file."""
    if link == "symlink":
        # Absolute target: a relative raw_root would otherwise make the link dangle.
        os.symlink(os.path.abspath(src), dst)
        return
    if link == "hardlink":
        try:
            os.link(src, dst)
            return
        except OSError as exc:
            # EXDEV: raw data and split on different devices; EPERM/ENOTSUP/EMLINK: file systems without (more)
            # hard links. A copy gives the same split, just using more disk.
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
    shutil.copy2(src, dst)
