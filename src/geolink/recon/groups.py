"""View groups: which drone images of a location build which of its point clouds.

The authors' GeoLink-3D release has three clouds per location (``<ID>_group0..2``) but says
nothing about how the drone images were assigned to them (``docs/official_code.md``
§1.2, §7). We make the assignment explicit and configurable (``reconstruct.<dataset>.grouping``):

- ``sequence``: order the location's images along the flight (highest altitude first, then by
  name) and cut the sequence into ``groups`` contiguous parts. On University-1652's descending
  spiral (``image-01`` … ``image-54``) these are altitude bands, the most plausible reading of
  the release; on one SUES-200 height they are consecutive stretches of the video; over several
  SUES-200 heights they are height bands.
- ``interleaved``: image ``i`` goes to group ``i mod groups``, so every group spans all
  altitudes (each cloud sees the whole scene from fewer views).
- ``all``: one group with every image (``groups`` is ignored). The natural choice for
  DenseUAV, whose three images per location (80/90/100 m) are too few to split.
"""

from __future__ import annotations

import math

import pandas as pd

GROUPINGS = ("sequence", "interleaved", "all")


def flight_order(images: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows of one location sorted along the flight: highest altitude first, then by path.

    Unknown altitudes (University-1652) sort by path alone, which follows the spiral's numbering.
    """
    key = images["altitude"].fillna(math.inf)
    return images.assign(_key=key).sort_values(["_key", "path"], ascending=[False, True]).drop(columns="_key")


def assign_groups(images: pd.DataFrame, grouping: str, groups: int) -> list[pd.DataFrame]:
    """Split one location's drone images into view groups.

    Args:
        images: manifest rows (one location, drone view).
        grouping: ``sequence``, ``interleaved`` or ``all``.
        groups: number of groups for ``sequence`` and ``interleaved``; fewer come back when there
            are fewer images than groups (no group is ever empty).

    Returns:
        One DataFrame per group, in group order.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    ordered = flight_order(images).reset_index(drop=True)
    if grouping == "all" or len(ordered) == 0:
        return [ordered]
    n = min(groups, len(ordered))
    if grouping == "interleaved":
        return [ordered.iloc[k::n].reset_index(drop=True) for k in range(n)]
    bounds = [round(k * len(ordered) / n) for k in range(n + 1)]
    return [ordered.iloc[bounds[k] : bounds[k + 1]].reset_index(drop=True) for k in range(n)]


def reconstruction_images(manifest: pd.DataFrame, heights: list[int] | None = None) -> pd.DataFrame:
    """The drone images clouds are built from: training split only (inference is image-only).

    SUES-200 repeats each location per height; ``heights`` keeps only those (the release's clouds
    are from 300 m).
    """
    rows = manifest[(manifest["role"] == "train") & (manifest["view"] == "drone")]
    if heights:
        rows = rows[rows["altitude"].isin([float(h) for h in heights])]
    return rows.drop_duplicates("path")
