"""Image counts of the official releases, checked against every real dataset's manifest.

An interrupted extraction, a partial mirror or a different release version shows up as folders with too few (or
too many) images long before it shows up as odd results. The numbers are the published statistics collected in
``docs/datasets.md`` (§1.2 University-1652 README table, §2.2-§2.3 SUES-200 raw release of 50 frames per height and
its official split, §3.2 DenseUAV README table). Synthetic datasets are never checked against them.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from geolink.data.sues200 import HEIGHTS
from geolink.data.university1652 import DISTRACTOR_FOLDER

#: Published images per manifest ``folder`` (University-1652 test folders, DenseUAV, and the training satellites).
PUBLISHED: dict[str, dict[str, int]] = {
    "university1652": {
        "satellite": 701,
        "query_drone": 37_855,
        "query_satellite": 701,
        "query_street": 2_579,
        "gallery_drone": 51_355,
        "gallery_satellite": 951,
        "gallery_street": 2_921,
    },
    "denseuav": {
        "drone": 6_768,
        "satellite": 13_536,
        "query_drone": 2_331,
        "query_satellite": 4_662,
        "gallery_drone": 9_099,
        "gallery_satellite": 18_198,
    },
}
#: SUES-200 after the official 120/80 split, per flight height: 50 frames per location and height, galleries
#: holding all 200 locations (docs/fidelity.md D2).
SUES200_PER_HEIGHT: dict[str, int] = {
    "drone": 120 * 50,
    "satellite": 120,
    "query_drone": 80 * 50,
    "query_satellite": 80,
    "gallery_drone": 200 * 50,
    "gallery_satellite": 200,
}


def expected_counts(dataset: str, heights: list[int] | None = None) -> dict[tuple[str, float | None], int]:
    """Published images per ``(folder, altitude)`` (altitude None where the count covers all of them).

    Args:
        dataset: ``university1652``, ``sues200`` or ``denseuav``.
        heights: SUES-200 heights in use (default: all four).
    """
    if dataset == "sues200":
        return {
            (folder, float(h)): n for h in (heights or HEIGHTS) for folder, n in SUES200_PER_HEIGHT.items()
        }
    return {(folder, None): n for folder, n in PUBLISHED[dataset].items()}


def observed_counts(manifest: pd.DataFrame, per_altitude: bool) -> dict[tuple[str, float | None], int]:
    """Images per ``(folder, altitude)`` of a manifest (altitude None when not split by it)."""
    if per_altitude:
        sizes = manifest.groupby(["folder", "altitude"]).size()
        return {(folder, float(alt)): int(n) for (folder, alt), n in sizes.items()}
    return {(folder, None): int(n) for folder, n in manifest.groupby("folder").size().items()}


def count_mismatches(
    expected: Mapping[tuple[str, float | None], int], observed: Mapping[tuple[str, float | None], int]
) -> list[str]:
    """Human-readable differences, one per published folder whose count differs (missing folders count as 0)."""
    problems = []
    for (folder, altitude), n in sorted(expected.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        got = observed.get((folder, altitude), 0)
        if got != n:
            where = folder if altitude is None else f"{folder} at {altitude:g} m"
            problems.append(f"{where}: {got:,} images, published {n:,}")
    return problems


#: University-160k's published number of distractors (docs/datasets.md §1.1), checked when they are read.
UNIVERSITY160K_DISTRACTORS = 167_486


def check_release_counts(dataset: str, manifest: pd.DataFrame, heights: list[int] | None = None) -> list[str]:
    """Compare a real dataset's manifest with the published counts; returns the differences (empty if none)."""
    per_altitude = dataset == "sues200"
    expected = expected_counts(dataset, heights)
    if dataset == "university1652" and (manifest["folder"] == DISTRACTOR_FOLDER).any():
        expected[(DISTRACTOR_FOLDER, None)] = UNIVERSITY160K_DISTRACTORS
    return count_mismatches(expected, observed_counts(manifest, per_altitude))
