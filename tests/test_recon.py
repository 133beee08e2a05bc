"""Reconstruction stage: view groups, the groundtruth backend, shard orchestration, QC and the point bank."""

from __future__ import annotations

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


# --------------------------------------------------------------------------------------------
# Shards, failure policy, point bank
# --------------------------------------------------------------------------------------------


def test_shards_partition_the_locations():
    from geolink.recon.run import shard_locations

    locations = [f"{i:04d}" for i in range(7)]
    shards = [shard_locations(locations, s, 3) for s in range(3)]
    assert shards[0] == ["0000", "0003", "0006"]
    assert sorted(sum(shards, [])) == locations
    with pytest.raises(ValueError):
        shard_locations(locations, 3, 3)


def test_shard_writes_colmap_text_and_qc_then_feeds_the_point_bank(u1652, tmp_path):
    from geolink.points import load_point_bank
    from geolink.recon.collect import collect_point_bank
    from geolink.recon.colmap_text import read_points3d_text
    from geolink.recon.run import reconstruct_shard

    root, manifest = u1652
    options = {"truth_dir": str(root / "geometry")}
    qc = reconstruct_shard(
        manifest, "university1652", tmp_path / "shard0", backend="groundtruth", groups=3, options=options
    )
    train = sorted(manifest[manifest.role == "train"].location.unique())
    assert len(qc) == 3 * 3 and (qc.status == "ok").all()
    assert (qc.n_images == 2).all()  # 6 spiral views cut into 3 groups
    # Two independent 1024-point samplings of the truth are a few metres apart, never zero.
    assert (qc.chamfer_1024 > 0.5).all() and (qc.chamfer_1024 < 8).all()
    cloud = read_points3d_text(tmp_path / "shard0" / f"{train[0]}_group0" / "points3D.txt")
    assert len(cloud.xyz) == qc.n_points.iloc[0]
    assert (tmp_path / "shard0" / f"{train[0]}_group0" / "images.txt").is_file()

    merged = collect_point_bank(
        [tmp_path / "shard0"], tmp_path / "bank.npz", tmp_path / "qc.csv", n_points=64, n_draws=2
    )
    bank = load_point_bank(tmp_path / "bank.npz")
    assert sorted(bank.keys) == sorted(f"{loc}_group{g}" for loc in train for g in range(3))
    sample = bank.get(f"{train[0]}_group1", 1)
    assert sample.shape == (64, 3) and np.linalg.norm(sample, axis=1).max() == pytest.approx(1.0, abs=1e-5)
    assert merged.in_bank.all() and not merged.padded.any()
    assert pd.read_csv(tmp_path / "qc.csv", dtype={"location": str}).location.tolist() == merged.location.tolist()


def test_failed_location_is_recorded_or_stops_the_job(u1652, tmp_path):
    from geolink.recon.run import reconstruct_shard

    root, manifest = u1652
    truth = tmp_path / "truth"
    truth.mkdir()
    train = sorted(manifest[manifest.role == "train"].location.unique())
    for location in train[1:]:  # the first location's truth is missing: its reconstruction fails
        (truth / f"{location}.npz").symlink_to(root / "geometry" / f"{location}.npz")
    qc = reconstruct_shard(
        manifest,
        "university1652",
        tmp_path / "skip",
        backend="groundtruth",
        groups=1,
        options={"truth_dir": str(truth)},
    )
    failed = qc[qc.status == "failed"]
    assert failed.location.tolist() == [train[0]] and "geometry" in failed.reason.iloc[0]
    assert (tmp_path / "skip" / "qc.csv").is_file() and not (tmp_path / "skip" / f"{train[0]}_group0").exists()
    with pytest.raises(ReconstructionError, match=f"location {train[0]} group 0"):
        reconstruct_shard(
            manifest,
            "university1652",
            tmp_path / "stop",
            backend="groundtruth",
            groups=1,
            on_failure="stop",
            options={"truth_dir": str(truth)},
        )
    assert not (tmp_path / "stop").exists()


def test_tiny_clouds_are_padded_or_rejected_in_the_bank(tmp_path):
    from geolink.points import load_point_bank
    from geolink.recon.collect import collect_point_bank
    from geolink.recon.colmap_text import write_points3d_text
    from geolink.recon.run import QC_COLUMNS

    shard = tmp_path / "shard0"
    rows = []
    for location, n in (("0001", 40), ("0002", 5), ("0003", 100)):
        folder = shard / f"{location}_group0"
        folder.mkdir(parents=True)
        write_points3d_text(folder / "points3D.txt", np.random.default_rng(int(location)).normal(size=(n, 3)))
        rows.append(
            {"dataset": "x", "location": location, "group": 0, "backend": "colmap", "status": "ok", "n_points": n}
        )
    pd.DataFrame(rows, columns=QC_COLUMNS).to_csv(shard / "qc.csv", index=False)
    qc = collect_point_bank([shard], tmp_path / "bank.npz", tmp_path / "qc.csv", n_points=64, n_draws=1, min_points=16)
    assert qc.set_index("location").status.to_dict() == {"0001": "ok", "0002": "failed", "0003": "ok"}
    assert qc.set_index("location").padded.to_dict() == {"0001": True, "0002": False, "0003": False}
    assert load_point_bank(tmp_path / "bank.npz").keys == ["0001_group0", "0003_group0"]


@pytest.mark.e2e
def test_colmap_and_groundtruth_clouds_feed_the_same_point_bank_format(tmp_path):
    from geolink.points import load_point_bank
    from geolink.recon.collect import collect_point_bank
    from geolink.recon.run import reconstruct_shard

    spec = {**U1652, "n_train": 1, "n_test": 1, "drone_views": 48}
    generate("university1652", tmp_path / "u", workers=1, seed=0, image_size=256, geometry_points=20000, **spec)
    manifest = read_manifest("university1652", tmp_path / "u" / "University-Release")
    options = {"truth_dir": str(tmp_path / "u" / "geometry"), "threads": 2, "log_path": str(tmp_path / "colmap.log")}
    banks = {}
    for backend in ("colmap", "groundtruth"):
        qc = reconstruct_shard(
            manifest,
            "university1652",
            tmp_path / backend,
            backend=backend,
            grouping="all",
            on_failure="stop",
            options=options,
        )
        assert qc.status.tolist() == ["ok"]
        if backend == "colmap":
            assert qc.n_registered.iloc[0] >= 0.8 * 48
            assert qc.chamfer_1024.iloc[0] < 8.0  # metres; see docs/points.md for the measured range
        collect_point_bank([tmp_path / backend], tmp_path / f"{backend}.npz", tmp_path / f"{backend}.csv")
        banks[backend] = load_point_bank(tmp_path / f"{backend}.npz")
    assert banks["colmap"].keys == banks["groundtruth"].keys
    key = banks["colmap"].keys[0]
    assert banks["colmap"].get(key, 0).shape == banks["groundtruth"].get(key, 0).shape == (1024, 3)


def test_geolink3d_release_is_imported_through_the_validating_reader(u1652, tmp_path):
    from geolink.points import load_point_bank
    from geolink.recon.collect import collect_point_bank
    from geolink.recon.colmap_text import write_points3d_text
    from geolink.recon.geolink3d import list_released_groups
    from geolink.recon.run import reconstruct_shard

    _, manifest = u1652
    train = sorted(manifest[manifest.role == "train"].location.unique())
    release = tmp_path / "drone_3D"
    rng = np.random.default_rng(0)
    for location in train:
        for group in range(3):
            (release / f"{location}_group{group}").mkdir(parents=True)
            write_points3d_text(release / f"{location}_group{group}" / "points3D.txt", rng.normal(size=(200, 3)))
    (release / "notes.txt").write_text("not a group folder")
    assert list_released_groups(release) == {loc: [0, 1, 2] for loc in train}
    # A damaged file in the release fails with its path and line, recorded in the QC table.
    broken = release / f"{train[1]}_group2" / "points3D.txt"
    broken.write_text(broken.read_text()[:-40])
    qc = reconstruct_shard(
        manifest,
        "university1652",
        tmp_path / "shard",
        backend="geolink3d",
        groups=3,
        options={"geolink3d_root": str(release)},
    )
    assert (qc.status == "ok").sum() == 3 * 3 - 1
    reason = qc[(qc.location == train[1]) & (qc.group == 2)].reason.iloc[0]
    assert str(broken) in reason and "line" in reason
    collect_point_bank([tmp_path / "shard"], tmp_path / "bank.npz", tmp_path / "qc.csv", n_points=128, n_draws=1)
    assert len(load_point_bank(tmp_path / "bank.npz").keys) == 8
