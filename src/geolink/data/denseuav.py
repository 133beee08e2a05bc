"""DenseUAV adapter: the ``DenseUAV`` release folder as manifest rows, with per-class GPS.

Layout (docs/datasets.md §3.2, §3.3)::

    DenseUAV/
        Dense_GPS_ALL.txt                       one line per class: <path> E<lon> N<lat> <height>
        train/{drone,satellite}/<6-digit ID>/
        test/{query,gallery}_{drone,satellite}/<6-digit ID>/

Each class folder holds drone images ``H80.JPG H90.JPG H100.JPG`` and satellite tiles ``H80.tif H90.tif
H100.tif H80_old.tif H90_old.tif H100_old.tif`` (three scales x two capture dates). The altitude in metres is
the number in the file stem. The official SDM@K evaluation looks GPS up by class folder name, so every image
of a class gets the same position (§4.5); the adapter joins it the same way.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path, PureWindowsPath

import pandas as pd

from geolink.data.errors import DatasetError
from geolink.data.manifest import iter_class_images, manifest_from_rows, require_dir, require_root

log = logging.getLogger(__name__)

DATASET = "denseuav"
GPS_FILE = "Dense_GPS_ALL.txt"
#: Folders that must exist. The README tree lists only these test folders.
REQUIRED_FOLDERS: tuple[tuple[str, str], ...] = (
    ("train", "drone"),
    ("train", "satellite"),
    ("test", "query_drone"),
    ("test", "query_satellite"),
)
#: The galleries (train + test classes merged) are read by the official evaluation but are not in the README
#: tree, so a release without them is accepted with a warning rather than rejected.
OPTIONAL_FOLDERS: tuple[tuple[str, str], ...] = (("test", "gallery_drone"), ("test", "gallery_satellite"))
#: ``H80``, ``H100``, ``H80_old`` -> 80, 100, 80.
_ALTITUDE = re.compile(r"^H(\d+(?:\.\d+)?)(?:_old)?$", re.IGNORECASE)
#: A coordinate token: hemisphere letter then an unsigned decimal number (``E120.38``, ``N30.32``).
_COORD = re.compile(r"^([EWNS])(\d+(?:\.\d*)?|\.\d+)$", re.IGNORECASE)


def read_denseuav(root: str | Path) -> pd.DataFrame:
    """Read the DenseUAV release into manifest rows.

    Args:
        root: The ``DenseUAV`` folder holding ``Dense_GPS_ALL.txt``, ``train/`` and ``test/``.

    Returns:
        The normalized manifest. ``train/`` rows have split and role "train"; ``test/<role>_<view>`` rows
        have split "test" and role/view from the folder name. Altitude comes from the file stem; lon/lat
        from ``Dense_GPS_ALL.txt`` by class folder, NaN where the file or the class entry is missing.

    Raises:
        DatasetError: The root or a required folder is missing, or ``Dense_GPS_ALL.txt`` has a malformed line.
    """
    root = require_root(DATASET, root, f"{GPS_FILE}, train/ and test/")
    fix = (
        "Point the configuration at the DenseUAV folder (it holds Dense_GPS_ALL.txt, train/ and test/); if it "
        "is incomplete, download the dataset again."
    )
    for split, name in REQUIRED_FOLDERS:
        require_dir(DATASET, root / split / name, "required folder", fix, obtain=True)

    gps_path = root / GPS_FILE
    if gps_path.is_file():
        gps = read_denseuav_gps(gps_path)
    else:
        # Not an error: retrieval metrics need no GPS, only the distance metrics (SDM@K, MA@K) do.
        log.warning("DenseUAV: %s not found; lon/lat will be NaN, so SDM@K cannot be computed", gps_path)
        gps = {}

    rows: list[dict] = []
    bad_stems: set[str] = set()
    for split, name in REQUIRED_FOLDERS + OPTIONAL_FOLDERS:
        folder = root / split / name
        if not folder.exists():
            log.warning("DenseUAV: %s not found; the test set has no %s rows", folder, name)
            continue
        require_dir(DATASET, folder, "folder", fix)
        role, view = ("train", name) if split == "train" else name.split("_", 1)
        for location, path in iter_class_images(folder):
            match = _ALTITUDE.match(path.stem)
            if match is None:
                bad_stems.add(path.name)
            lon, lat = gps.get(location, (math.nan, math.nan))
            rows.append(
                {
                    "dataset": DATASET,
                    "split": split,
                    "role": role,
                    "view": view,
                    "location": location,
                    "altitude": float(match.group(1)) if match else math.nan,
                    "folder": name,
                    "path": str(path),
                    "lon": lon,
                    "lat": lat,
                }
            )
    if bad_stems:
        log.warning(
            "DenseUAV: no altitude in file names %s (expected H80, H90_old, ...); altitude NaN", sorted(bad_stems)[:10]
        )
    df = manifest_from_rows(rows)
    if gps:
        unlocated = sorted(set(df.loc[df["lon"].isna(), "location"]))
        if unlocated:
            log.warning(
                "DenseUAV: %d class folder(s) have no entry in %s, e.g. %s; their lon/lat are NaN",
                len(unlocated),
                gps_path,
                unlocated[:5],
            )
    return df


def read_denseuav_gps(path: str | Path) -> dict[str, tuple[float, float]]:
    """Parse ``Dense_GPS_ALL.txt`` into ``{class folder name: (lon, lat)}``.

    Each non-blank line is ``<path> E<lon> N<lat> <height>``, whitespace separated, longitude first (the
    README comment says "latitude longitude", but the writing and reading code put longitude first). The
    class is the name of the folder that contains ``<path>``; ``/`` and ``\\`` both separate folders. The
    trailing height is not used. W and S hemispheres give negative degrees. When a class appears on
    several lines the last one wins, as in the official ``evaluateDistance.py``.

    Args:
        path: The GPS text file.

    Returns:
        Longitude and latitude in degrees per class folder name.

    Raises:
        DatasetError: A line does not have that form; the message gives the file and the line number.
    """
    path = Path(path)
    gps: dict[str, tuple[float, float]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            tokens = line.split()
            if not tokens:
                continue
            parsed = _parse_gps_tokens(tokens)
            if parsed is None:
                raise DatasetError.at(
                    DATASET,
                    f"malformed GPS line {number} ({line.strip()!r}; expected '<path> E<lon> N<lat> <height>') in",
                    path,
                    "Download Dense_GPS_ALL.txt again, or fix or delete that line.",
                )
            location, lon, lat = parsed
            if location in gps and gps[location] != (lon, lat):
                log.debug("DenseUAV: class %s has several GPS positions; line %d wins", location, number)
            gps[location] = (lon, lat)
    return gps


def _parse_gps_tokens(tokens: list[str]) -> tuple[str, float, float] | None:
    """``[path..., E<lon>, N<lat>, height]`` -> ``(class folder, lon, lat)``; None if malformed."""
    if len(tokens) < 4:
        return None
    # The path is everything before the last three tokens, so a path with spaces still parses.
    path_text, lon_text, lat_text = " ".join(tokens[:-3]), tokens[-3], tokens[-2]
    lon, lat = _parse_coord(lon_text, "EW"), _parse_coord(lat_text, "NS")
    if lon is None or lat is None:
        return None
    try:
        float(tokens[-1])
    except ValueError:
        return None
    # PureWindowsPath splits on both separators, so Windows-written files parse too.
    location = PureWindowsPath(path_text).parent.name
    if not location:
        return None
    return location, lon, lat


def _parse_coord(text: str, hemispheres: str) -> float | None:
    """``E120.5`` -> 120.5, ``W1.5`` -> -1.5; None unless the letter is one of ``hemispheres``."""
    match = _COORD.match(text)
    if match is None or match.group(1).upper() not in hemispheres:
        return None
    value = float(match.group(2))
    return -value if match.group(1).upper() in "WS" else value
