"""Tests for the dataset adapters, the manifest contract and the SUES-200 split, on miniature real layouts."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import geolink.data.sues200 as sues200_module
from geolink.atomic import OutputExistsError
from geolink.data import (
    HEIGHTS,
    MANIFEST_COLUMNS,
    OFFICIAL_TEST_IDS,
    DatasetError,
    adapters,
    load_manifest,
    read_manifest,
    read_sues200,
    read_sues200_split_index,
    split_sues200,
    summarize_manifest,
    write_manifest,
)
from geolink.data.manifest import DATASETS, SORT_COLUMNS


def counts(df: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Images per (split, role, view)."""
    return {key: int(n) for key, n in df.groupby(["split", "role", "view"]).size().items()}


def assert_canonical(df: pd.DataFrame, dataset: str) -> None:
    """Columns, dtypes, row order and index of a manifest returned by read_manifest."""
    assert list(df.columns) == MANIFEST_COLUMNS
    for column in ("dataset", "split", "role", "view", "location", "folder", "path"):
        assert df[column].dtype == "str", column
    for column in ("altitude", "lon", "lat"):
        assert df[column].dtype == "float64", column
    assert (df["dataset"] == dataset).all()
    assert df["path"].is_unique
    assert df.index.equals(pd.RangeIndex(len(df)))
    resorted = df.sort_values(SORT_COLUMNS, kind="mergesort", na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(df, resorted)


# --------------------------------------------------------------------------------------------- registry


def test_registry_has_exactly_the_documented_names() -> None:
    assert set(adapters()) == set(DATASETS) == {"university1652", "sues200", "denseuav"}


def test_unknown_dataset_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        read_manifest("u1652", tmp_path)
    for name in DATASETS:
        assert name in str(info.value)


# ------------------------------------------------------------------------------------------ University-1652


def test_university1652_counts(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    df = read_manifest("university1652", root, check_images="decode")
    assert_canonical(df, "university1652")
    assert counts(df) == {
        ("train", "train", "drone"): 9,
        ("train", "train", "satellite"): 3,
        ("train", "train", "street"): 4,
        ("train", "train", "google"): 1,  # two empty google folders are legal and give no rows
        ("test", "query", "drone"): 6,
        ("test", "gallery", "drone"): 9,
        ("test", "query", "satellite"): 2,
        ("test", "gallery", "satellite"): 3,
        ("test", "query", "street"): 2,
        ("test", "gallery", "street"): 2,
    }
    assert not df["path"].str.contains("4K_drone").any()
    assert not df["path"].str.contains("stray|DS_Store|notes", regex=True).any()
    assert set(df.loc[df["split"] == "train", "folder"]) == {"drone", "satellite", "street", "google"}
    assert set(df.loc[df["role"] == "gallery", "folder"]) == {"gallery_drone", "gallery_satellite", "gallery_street"}
    assert sorted(df.loc[df["folder"] == "gallery_satellite", "location"]) == ["0000", "0001", "0837"]
    assert df[["altitude", "lon", "lat"]].isna().all().all()
    # Paths are the root joined with the relative path, not resolved.
    first = df.loc[df["folder"] == "query_satellite"].iloc[0]
    assert first["path"] == str(root / "test" / "query_satellite" / "0000" / "0000.jpg")


def test_university1652_optional_folders(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    for rel in ("train/street", "train/google", "test/query_street", "test/gallery_street", "test/4K_drone"):
        shutil.rmtree(root / rel)
    df = read_manifest("university1652", root, check_images="none")
    assert set(df["view"]) == {"drone", "satellite"}
    assert len(df) == 9 + 3 + 6 + 9 + 2 + 3


def test_missing_dataset_root(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "University-Release"
    with pytest.raises(DatasetError) as info:
        read_manifest("university1652", missing)
    message = str(info.value)
    assert str(missing) in message
    assert "University1652-Baseline" in message and "config/synthetic.yaml" in message
    assert info.value.path == str(missing)


@pytest.mark.parametrize("rel", ["train", "test", "train/satellite", "test/gallery_satellite", "test/query_drone"])
def test_missing_required_subfolder(tmp_path: Path, make_university1652_tree, rel: str) -> None:
    root = make_university1652_tree(tmp_path)
    shutil.rmtree(root / rel)
    with pytest.raises(DatasetError) as info:
        read_manifest("university1652", root, check_images="none")
    assert str(root / rel) in str(info.value)


def test_empty_required_folder(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    folder = root / "test" / "query_satellite"
    for location in folder.iterdir():
        shutil.rmtree(location)
        location.mkdir()  # empty ID folders: legal one by one, but no images at all means a broken extraction
    with pytest.raises(DatasetError) as info:
        read_manifest("university1652", root, check_images="none")
    assert str(folder) in str(info.value)


def test_root_one_level_too_high_gets_a_hint(tmp_path: Path, make_university1652_tree) -> None:
    make_university1652_tree(tmp_path)
    with pytest.raises(DatasetError) as info:
        read_manifest("university1652", tmp_path, check_images="none")
    assert str(tmp_path / "University-Release") in str(info.value)


def test_unreadable_image_is_named(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    bad = root / "test" / "gallery_drone" / "0837" / "image-02.jpeg"
    bad.write_bytes(b"this is not a jpeg at all" * 4)
    assert len(read_manifest("university1652", root, check_images="none")) == 41
    with pytest.raises(DatasetError) as info:
        read_manifest("university1652", root, check_images="header")
    assert str(bad) in str(info.value)
    assert "re-download" in str(info.value)


def test_truncated_image_needs_decode(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    bad = root / "train" / "satellite" / "0840" / "0840.jpg"
    # A noisy image has enough entropy-coded data to cut it in half while keeping the header intact.
    Image.effect_noise((64, 64), 64).convert("RGB").save(bad, format="JPEG")
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    read_manifest("university1652", root, check_images="header")
    with pytest.raises(DatasetError, match="0840.jpg"):
        read_manifest("university1652", root, check_images="decode")


def test_bad_check_mode(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    with pytest.raises(ValueError, match="check_images"):
        read_manifest("university1652", root, check_images="full")


# ----------------------------------------------------------------------------------------------- SUES-200


def test_official_test_ids() -> None:
    assert len(OFFICIAL_TEST_IDS) == len(set(OFFICIAL_TEST_IDS)) == 80
    assert all(len(i) == 4 and i.isdigit() and 1 <= int(i) <= 200 for i in OFFICIAL_TEST_IDS)
    assert list(OFFICIAL_TEST_IDS) == sorted(OFFICIAL_TEST_IDS)
    assert HEIGHTS == (150, 200, 250, 300)


def test_sues200_split_and_read(tmp_path: Path, make_sues200_raw_tree) -> None:
    raw = make_sues200_raw_tree(tmp_path)  # IDs 0007 0008 0009 0012; 0008, 0012 are official test IDs
    out = tmp_path / "split"
    result = split_sues200(raw, out)
    # Per height: train drone 2x2 + train sat 2 + query drone 2x2 + query sat 2 + gallery drone 4x2 + gallery sat 4.
    assert result == {"locations": 4, "train_ids": 2, "test_ids": 2, "heights": 4, "files": 4 * 24}
    assert sorted(p.name for p in out.parent.iterdir()) == ["SUES-200-512x512", "split"]  # no .tmp left

    for height in HEIGHTS:
        testing, training = out / "Testing" / str(height), out / "Training" / str(height)
        assert sorted(os.listdir(testing / "gallery_drone")) == ["0007", "0008", "0009", "0012"]
        assert sorted(os.listdir(testing / "gallery_satellite")) == ["0007", "0008", "0009", "0012"]
        assert sorted(os.listdir(testing / "query_drone")) == ["0008", "0012"]
        assert sorted(os.listdir(testing / "query_satellite")) == ["0008", "0012"]
        assert sorted(os.listdir(training / "drone")) == ["0007", "0009"]
        assert sorted(os.listdir(training / "satellite")) == ["0007", "0009"]
        assert sorted(os.listdir(testing / "query_drone" / "0008")) == ["0.jpg", "1.jpg"]
        # The height-less satellite image is copied into every height.
        satellite = (raw / "satellite-view" / "0009" / "0.png").read_bytes()
        assert (training / "satellite" / "0009" / "0.png").read_bytes() == satellite
        assert (testing / "gallery_satellite" / "0009" / "0.png").read_bytes() == satellite

    df = read_manifest("sues200", out, check_images="header")
    assert_canonical(df, "sues200")
    assert counts(df) == {
        ("train", "train", "drone"): 16,
        ("train", "train", "satellite"): 8,
        ("test", "query", "drone"): 16,
        ("test", "query", "satellite"): 8,
        ("test", "gallery", "drone"): 32,
        ("test", "gallery", "satellite"): 16,
    }
    assert sorted(df["altitude"].unique()) == [150.0, 200.0, 250.0, 300.0]
    assert set(df.loc[df["role"] == "query", "location"]) == {"0008", "0012"}
    summary = summarize_manifest(df)
    row = summary[(summary["folder"] == "gallery_drone") & (summary["altitude"] == 250.0)].iloc[0]
    assert (row["images"], row["locations"]) == (8, 4)
    assert summary["images"].sum() == len(df)

    one_height = read_sues200(out, heights=[150])
    assert len(one_height) == len(df) // 4


@pytest.mark.parametrize("link", ["hardlink", "symlink"])
def test_sues200_link_modes(tmp_path: Path, make_sues200_raw_tree, link: str) -> None:
    raw = make_sues200_raw_tree(tmp_path, ids=("0001", "0008"), heights=(150,), frames=1)
    out = tmp_path / "split"
    split_sues200(raw, out, heights=(150,), link=link)
    placed = out / "Testing" / "150" / "gallery_satellite" / "0001" / "0.png"
    assert placed.is_symlink() == (link == "symlink")
    assert os.path.samefile(placed, raw / "satellite-view" / "0001" / "0.png")
    assert len(read_sues200(out, heights=(150,))) == 1 + 1 + 1 + 1 + 2 + 2


def test_sues200_custom_train_ids(tmp_path: Path, make_sues200_raw_tree) -> None:
    raw = make_sues200_raw_tree(tmp_path, heights=(200,), frames=1)
    result = split_sues200(raw, tmp_path / "split", train_ids=[7, "8", "0009"], heights=(200,))
    assert (result["train_ids"], result["test_ids"]) == (3, 1)
    assert os.listdir(tmp_path / "split" / "Testing" / "200" / "query_drone") == ["0012"]


def test_sues200_split_is_atomic_on_validation_error(tmp_path: Path, make_sues200_raw_tree) -> None:
    raw = make_sues200_raw_tree(tmp_path)
    missing = raw / "satellite-view" / "0009" / "0.png"
    missing.unlink()
    out = tmp_path / "split"
    with pytest.raises(DatasetError) as info:
        split_sues200(raw, out)
    assert str(missing) in str(info.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["SUES-200-512x512"]


def test_sues200_split_is_atomic_on_failure_mid_build(tmp_path: Path, make_sues200_raw_tree, monkeypatch) -> None:
    raw = make_sues200_raw_tree(tmp_path)
    real_place, placed = sues200_module._place, []

    def failing_place(src: Path, dst: Path, link: str) -> None:
        if len(placed) == 10:
            raise OSError("disk full")
        placed.append(dst)
        real_place(src, dst, link)

    monkeypatch.setattr(sues200_module, "_place", failing_place)
    out = tmp_path / "split"
    with pytest.raises(OSError, match="disk full"):
        split_sues200(raw, out)
    assert len(placed) == 10
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["SUES-200-512x512"]


@pytest.mark.parametrize(
    ("breakage", "offender"),
    [
        ("rm drone_view_512", "drone_view_512"),
        ("rm satellite-view", "satellite-view"),
        ("rm drone_view_512/0012/250", "drone_view_512/0012/250"),
        ("rm drone_view_512/0007", "drone_view_512/0007"),
        ("rm satellite-view/0008", "satellite-view/0008/0.png"),
    ],
)
def test_sues200_raw_validation(tmp_path: Path, make_sues200_raw_tree, breakage: str, offender: str) -> None:
    raw = make_sues200_raw_tree(tmp_path)
    shutil.rmtree(raw / breakage.removeprefix("rm "))
    with pytest.raises(DatasetError) as info:
        split_sues200(raw, tmp_path / "split")
    assert str(raw / offender) in str(info.value)
    assert not (tmp_path / "split").exists()


def test_sues200_unknown_train_id(tmp_path: Path, make_sues200_raw_tree) -> None:
    raw = make_sues200_raw_tree(tmp_path)
    with pytest.raises(DatasetError) as info:
        split_sues200(raw, tmp_path / "split", train_ids=["0007", "0150"])
    assert str(raw / "drone_view_512" / "0150") in str(info.value)


def test_sues200_existing_output(tmp_path: Path, make_sues200_raw_tree) -> None:
    raw = make_sues200_raw_tree(tmp_path, heights=(150,), frames=1)
    out = tmp_path / "split"
    out.mkdir()
    (out / "old.txt").write_text("stale")
    with pytest.raises(OutputExistsError) as info:
        split_sues200(raw, out, heights=(150,))
    assert str(out) in str(info.value)
    split_sues200(raw, out, heights=(150,), overwrite=True)
    assert sorted(os.listdir(out)) == ["Testing", "Training"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SUES-200-512x512", "split"]


def test_sues200_read_missing_folder(tmp_path: Path, make_sues200_raw_tree) -> None:
    raw = make_sues200_raw_tree(tmp_path, frames=1)
    out = tmp_path / "split"
    split_sues200(raw, out)
    shutil.rmtree(out / "Testing" / "300" / "gallery_drone")
    with pytest.raises(DatasetError) as info:
        read_sues200(out)
    assert str(out / "Testing" / "300" / "gallery_drone") in str(info.value)
    with pytest.raises(DatasetError) as info:
        read_sues200(raw)  # the raw archive, not a split: the message says to split first
    assert "split_sues200" in str(info.value) and str(raw / "Training") in str(info.value)


def test_split_index_round_trip(tmp_path: Path) -> None:
    official = tmp_path / "indexs.yaml"
    official.write_text("index : ['0001', '0002', '0010', '0200']\n")  # the official file's exact style
    assert read_sues200_split_index(official) == ["0001", "0002", "0010", "0200"]

    ids = [f"{i:04d}" for i in range(1, 201) if f"{i:04d}" not in OFFICIAL_TEST_IDS]
    written = tmp_path / "ints.yaml"
    written.write_text("index:\n" + "".join(f"  - {int(i)}\n" for i in ids))
    assert read_sues200_split_index(written) == ids
    assert len(ids) == 120


@pytest.mark.parametrize(
    "text",
    ["index: [1, 1]\n", "index: [1, abc]\n", "index: [yes]\n", "train: [1]\n", "index: 7\n", "index: [1, [\n", "[]"],
)
def test_split_index_malformed(tmp_path: Path, text: str) -> None:
    path = tmp_path / "indexs.yaml"
    path.write_text(text)
    with pytest.raises(DatasetError) as info:
        read_sues200_split_index(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------------------------- DenseUAV


def test_denseuav_altitudes_and_gps(tmp_path: Path, make_denseuav_tree) -> None:
    root = make_denseuav_tree(tmp_path)
    df = read_manifest("denseuav", root, check_images="header")
    assert_canonical(df, "denseuav")
    assert counts(df) == {
        ("train", "train", "drone"): 6,
        ("train", "train", "satellite"): 12,
        ("test", "query", "drone"): 3,
        ("test", "query", "satellite"): 6,
        ("test", "gallery", "drone"): 9,
        ("test", "gallery", "satellite"): 18,
    }
    by_name = df.set_index("path")
    assert by_name.loc[str(root / "train/drone/000001/H90.JPG"), "altitude"] == 90.0
    assert by_name.loc[str(root / "train/satellite/000001/H100_old.tif"), "altitude"] == 100.0
    assert by_name.loc[str(root / "test/query_satellite/000002/H80.tif"), "altitude"] == 80.0
    assert sorted(df["altitude"].unique()) == [80.0, 90.0, 100.0]
    positions = df.groupby("location")[["lon", "lat"]].agg(["min", "max"])
    for k, location in enumerate(["000000", "000001", "000002"]):
        row = positions.loc[location]
        assert row[("lon", "min")] == row[("lon", "max")] == pytest.approx(120 + k / 10)
        assert row[("lat", "min")] == row[("lat", "max")] == pytest.approx(30 + k / 10)


def test_denseuav_without_gps_warns(tmp_path: Path, make_denseuav_tree, caplog) -> None:
    root = make_denseuav_tree(tmp_path, gps=False)
    with caplog.at_level(logging.WARNING, logger="geolink.data.denseuav"):
        df = read_manifest("denseuav", root, check_images="none")
    assert len(df) == 54
    assert df["lon"].isna().all() and df["lat"].isna().all()
    assert "Dense_GPS_ALL.txt" in caplog.text


def test_denseuav_malformed_gps_line(tmp_path: Path, make_denseuav_tree) -> None:
    root = make_denseuav_tree(tmp_path)
    gps = root / "Dense_GPS_ALL.txt"
    with gps.open("a") as f:
        f.write("train/satellite/000003/H80.tif 120.3 30.3 80\n")  # no E/N prefixes: malformed, line 5
    with pytest.raises(DatasetError) as info:
        read_manifest("denseuav", root, check_images="none")
    assert str(gps) in str(info.value)
    assert "line 5" in str(info.value)


def test_denseuav_gallery_folders_are_optional(tmp_path: Path, make_denseuav_tree, caplog) -> None:
    root = make_denseuav_tree(tmp_path)
    shutil.rmtree(root / "test" / "gallery_drone")
    with caplog.at_level(logging.WARNING, logger="geolink.data.denseuav"):
        df = read_manifest("denseuav", root, check_images="none")
    assert len(df) == 54 - 9
    assert str(root / "test" / "gallery_drone") in caplog.text


def test_denseuav_missing_required_folder(tmp_path: Path, make_denseuav_tree) -> None:
    root = make_denseuav_tree(tmp_path)
    shutil.rmtree(root / "test" / "query_drone")
    with pytest.raises(DatasetError) as info:
        read_manifest("denseuav", root, check_images="none")
    assert str(root / "test" / "query_drone") in str(info.value)
    assert "Dmmm997/DenseUAV" in str(info.value)


# ---------------------------------------------------------------------------------------- manifest file


def test_write_load_round_trip(tmp_path: Path, make_denseuav_tree) -> None:
    df = read_manifest("denseuav", make_denseuav_tree(tmp_path), check_images="none")
    path = write_manifest(df, tmp_path / "out" / "manifest.parquet")
    assert os.listdir(tmp_path / "out") == ["manifest.parquet"]  # the temporary file was renamed away
    loaded = load_manifest(path)
    pd.testing.assert_frame_equal(loaded, df)
    assert loaded["lon"].notna().all()
    # Rewriting replaces the file in place.
    write_manifest(df.iloc[:3], path)
    assert len(load_manifest(path)) == 3


def test_write_load_round_trip_with_nans(tmp_path: Path, make_university1652_tree) -> None:
    df = read_manifest("university1652", make_university1652_tree(tmp_path), check_images="none")
    path = write_manifest(df, tmp_path / "u.parquet")
    pd.testing.assert_frame_equal(load_manifest(path), df)
