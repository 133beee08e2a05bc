"""Tests for geolink.data.release_counts: real datasets' manifests against the published image counts."""

from __future__ import annotations

import pandas as pd

from geolink.data.release_counts import check_release_counts, count_mismatches, expected_counts

NAN = float("nan")  # one object, so it works as a dict key


def _manifest(counts: dict[tuple[str, float], int]) -> pd.DataFrame:
    rows = [{"folder": folder, "altitude": alt} for (folder, alt), n in counts.items() for _ in range(n)]
    return pd.DataFrame(rows)


def test_complete_denseuav_release_passes_and_a_partial_one_is_listed() -> None:
    full = {(folder, NAN): n for (folder, _), n in expected_counts("denseuav").items()}
    assert check_release_counts("denseuav", _manifest(full)) == []
    partial = dict(full)
    partial[("gallery_satellite", NAN)] = 18_000  # an interrupted extraction
    del partial[("query_drone", NAN)]
    assert check_release_counts("denseuav", _manifest(partial)) == [
        "gallery_satellite: 18,000 images, published 18,198",
        "query_drone: 0 images, published 2,331",
    ]


def test_sues200_is_checked_per_configured_height() -> None:
    # The official split at two heights: 120 training and 80 query locations, galleries of all 200.
    expected = expected_counts("sues200", heights=[150, 300])
    assert expected[("gallery_drone", 150.0)] == 10_000 and expected[("query_satellite", 300.0)] == 80
    assert ("drone", 200.0) not in expected
    observed = dict(expected)
    observed[("query_drone", 300.0)] = 3_950
    assert count_mismatches(expected, observed) == ["query_drone at 300 m: 3,950 images, published 4,000"]


def test_university1652_test_folders() -> None:
    expected = expected_counts("university1652")
    assert expected[("gallery_drone", None)] == 51_355 and expected[("query_street", None)] == 2_579
