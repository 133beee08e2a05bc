"""Reconstruction stage: view groups, the groundtruth backend, shard orchestration, QC and the point bank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geolink.data.manifest import read_manifest
from geolink.recon.groundtruth import image_key, reconstruct_groundtruth
from geolink.recon.groups import assign_groups, flight_order, reconstruction_images
from geolink.recon.result import ReconstructionError
from geolink.synth import generate

TINY = {"seed": 5, "image_size": 40, "geometry_points": 3000}
U1652 = {
    "domain": "campus",
    "n_train": 3,
    "n_test": 1,
    "n_distractors": 0,
    "drone_views": 6,
    "street_views": 0,
    "google_views": 0,
    "google_empty_fraction": 0.0,
    "satellite_extent": 150.0,
}


def frames(altitudes, names=None) -> pd.DataFrame:
    names = names or [f"img-{i:02d}.jpg" for i in range(len(altitudes))]
    return pd.DataFrame({"path": names, "altitude": altitudes, "location": "0001"})


@pytest.fixture(scope="module")
def u1652(tmp_path_factory):
    root = tmp_path_factory.mktemp("u1652")
    generate("university1652", root / "u", workers=1, **TINY, **U1652)
    return root / "u", read_manifest("university1652", root / "u" / "University-Release")


# --------------------------------------------------------------------------------------------
# View groups
# --------------------------------------------------------------------------------------------


def test_sequence_groups_are_contiguous_flight_stretches():
    # Unknown altitudes (University-1652): the spiral's numbering is the flight order.
    groups = assign_groups(frames([np.nan] * 7), "sequence", 3)
    assert [g["path"].tolist() for g in groups] == [
        ["img-00.jpg", "img-01.jpg"],
        ["img-02.jpg", "img-03.jpg", "img-04.jpg"],
        ["img-05.jpg", "img-06.jpg"],
    ]


def test_sequence_groups_over_heights_are_height_bands():
    # SUES-200 style: two frames at each of three heights, listed out of order.
    df = frames([150, 300, 200, 150, 300, 200], ["a", "b", "c", "d", "e", "f"])
    groups = assign_groups(df, "sequence", 3)
    assert [sorted(g["altitude"].unique().tolist()) for g in groups] == [[300], [200], [150]]


def test_interleaved_and_all_groupings():
    df = frames([np.nan] * 6)
    inter = assign_groups(df, "interleaved", 3)
    assert [g["path"].tolist() for g in inter] == [
        ["img-00.jpg", "img-03.jpg"],
        ["img-01.jpg", "img-04.jpg"],
        ["img-02.jpg", "img-05.jpg"],
    ]
    assert [len(g) for g in assign_groups(df, "all", 3)] == [6]


def test_fewer_images_than_groups_gives_no_empty_group():
    assert [len(g) for g in assign_groups(frames([80.0, 90.0]), "sequence", 3)] == [1, 1]
    with pytest.raises(ValueError, match="unknown grouping"):
        assign_groups(frames([1.0]), "random", 3)


def test_flight_order_puts_highest_first():
    assert flight_order(frames([80.0, 100.0, 90.0]))["altitude"].tolist() == [100.0, 90.0, 80.0]


def test_reconstruction_images_use_training_drone_views_only():
    manifest = pd.DataFrame(
        {
            "role": ["train", "train", "query", "train"],
            "view": ["drone", "satellite", "drone", "drone"],
            "altitude": [300.0, 300.0, 300.0, 150.0],
            "path": ["a", "b", "c", "d"],
        }
    )
    assert reconstruction_images(manifest, [300])["path"].tolist() == ["a"]
    assert reconstruction_images(manifest, None)["path"].tolist() == ["a", "d"]


# --------------------------------------------------------------------------------------------
# Groundtruth backend
# --------------------------------------------------------------------------------------------


def test_image_key_matches_raw_and_split_sues200_paths():
    raw = "data/s/SUES-200-512x512/drone_view_512/0007/150/3.jpg"
    split = "data/prepared/sues200/Training/150/drone/0007/3.jpg"
    assert image_key("sues200", raw) == image_key("sues200", split) == ("0007", "150", "3.jpg")
    assert image_key("university1652", "x/train/drone/0839/image-01.jpeg") == ("0839", "image-01.jpeg")


def test_groundtruth_keeps_exactly_the_points_inside_the_group_views(u1652):
    root, manifest = u1652
    location = sorted(manifest[manifest.role == "train"].location.unique())[0]
    paths = reconstruction_images(manifest)
    paths = sorted(paths[paths.location == location]["path"])
    truth = root / "geometry" / f"{location}.npz"
    one = reconstruct_groundtruth("university1652", paths[:1], truth)
    every = reconstruct_groundtruth("university1652", paths, truth)
    with np.load(truth) as t:
        # Independent check of the first view: project every true point with K [R|t] by hand.
        cam = t["points"].astype(float) @ t["R"][0].T + t["t"][0]
        u = t["K"][0, 0, 0] * cam[:, 0] / cam[:, 2] + t["K"][0, 0, 2]
        v = t["K"][0, 1, 1] * cam[:, 1] / cam[:, 2] + t["K"][0, 1, 2]
        visible = (cam[:, 2] > 0) & (u >= 0) & (u < 40) & (v >= 0) & (v < 40)
        assert one.n_points == visible.sum()
        assert one.n_points < every.n_points <= len(t["points"])
    assert one.poses.shape == (1, 3, 4) and every.poses.shape == (6, 3, 4)
    assert every.backend == "groundtruth" and np.isnan(every.mean_reprojection_error)


def test_groundtruth_errors_are_clear(u1652, tmp_path):
    root, manifest = u1652
    location = sorted(manifest[manifest.role == "train"].location.unique())[0]
    with pytest.raises(ReconstructionError, match="only works on the synthetic benchmark"):
        reconstruct_groundtruth("university1652", ["a/b.jpg"], tmp_path / "missing.npz")
    with pytest.raises(ReconstructionError, match="have no pose"):
        reconstruct_groundtruth("university1652", ["x/9999/image-01.jpeg"], root / "geometry" / f"{location}.npz")


def test_groundtruth_noise_has_the_requested_spread(u1652):
    root, manifest = u1652
    location = sorted(manifest[manifest.role == "train"].location.unique())[0]
    paths = reconstruction_images(manifest)
    paths = paths[paths.location == location]["path"].tolist()
    clean = reconstruct_groundtruth("university1652", paths, root / "geometry" / f"{location}.npz")
    noisy = reconstruct_groundtruth("university1652", paths, root / "geometry" / f"{location}.npz", noise_std=0.5)
    assert np.std(noisy.xyz - clean.xyz) == pytest.approx(0.5, rel=0.05)


