"""Fault injection on data files: damage real (miniature) dataset files and check what the user is told.

Each test breaks one file the way it breaks in practice (a download cut short, an interrupted unzip, a file
touched after it was written, a different archive under the same name) and checks that the failure is a
DatasetError whose message gives the offending file's full path and the fix, wherever the file is read:
the manifest's image check, training and evaluation image loading, weather sets, local archives.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import write_image
from PIL import Image, ImageFile

from geolink.data.acquire import acquire
from geolink.data.errors import DatasetError
from geolink.data.images import decode_rgb, read_rgb
from geolink.data.manifest import IMAGE_EXTENSIONS, check_manifest_images, manifest_from_rows, read_manifest
from geolink.data.pairs import CrossViewPairs, ImageList, TrainingLocation, load_image
from geolink.data.weather import MANIFEST_NAME, verify_weather_set, weather_manifest, write_weather_set
from geolink.errors import UserError
from geolink.evaluation.run import extract_features

_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def _noisy_image_bytes(fmt: str, size: int = 64) -> bytes:
    """A noisy RGB image: enough entropy-coded data that cutting it leaves the header intact."""
    pixels = np.random.default_rng(1652).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _truncate(path: Path, fraction: float = 1 / 3) -> Path:
    """Replace ``path`` with the first ``fraction`` of a noisy image of the format its suffix names."""
    data = _noisy_image_bytes(_FORMATS[path.suffix.lower()])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _manifest_of(paths: list[Path]) -> pd.DataFrame:
    """A one-dataset manifest listing ``paths`` (the columns check_manifest_images reads are real)."""
    rows = [
        {
            "dataset": "sues200",
            "split": "test",
            "role": "query",
            "view": "drone",
            "location": f"{k:04d}",
            "altitude": 150.0,
            "folder": "query_drone",
            "path": str(path),
            "lon": float("nan"),
            "lat": float("nan"),
        }
        for k, path in enumerate(paths)
    ]
    return manifest_from_rows(rows)


# ------------------------------------------------------------------------------- 1. manifest image checks


def test_truncated_drone_jpeg_passes_header_and_is_named_by_decode(tmp_path: Path, make_university1652_tree) -> None:
    root = make_university1652_tree(tmp_path)
    bad = _truncate(root / "test" / "query_drone" / "0001" / "image-02.jpeg")
    # The documented limit of `header`: the pixels are never read, so a cut inside them goes unnoticed.
    assert len(read_manifest("university1652", root, check_images="header")) == 41
    with pytest.raises(DatasetError) as info:
        read_manifest("university1652", root, check_images="decode")
    message = str(info.value)
    assert message.startswith("University-1652: cannot read image")
    assert f": {bad}." in message  # the full path, as a sentence of its own
    assert "truncated" in message and "re-download or re-extract" in message
    assert info.value.path == str(bad) and info.value.dataset == "university1652"


@pytest.mark.parametrize("suffix", sorted(IMAGE_EXTENSIONS))
def test_decode_names_a_truncated_image_of_every_format(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    good.write_bytes(_noisy_image_bytes(_FORMATS[suffix]))
    bad = _truncate(tmp_path / f"bad{suffix}")
    check_manifest_images(_manifest_of([good]), mode="decode")  # a whole file of the format passes
    with pytest.raises(DatasetError) as info:
        check_manifest_images(_manifest_of([good, bad]), mode="decode")
    assert info.value.path == str(bad)
    assert str(bad) in str(info.value)


def test_truncated_png_satellite_is_named_by_decode(tmp_path: Path) -> None:
    # SUES-200's satellite tiles are PNGs: cut one to a third, as an interrupted unzip leaves it.
    tile = _truncate(tmp_path / "satellite-view" / "0008" / "0.png")
    with pytest.raises(DatasetError, match="image file is truncated") as info:
        check_manifest_images(_manifest_of([tile]), mode="decode")
    assert f"SUES-200: cannot read image (OSError: image file is truncated): {tile}." in str(info.value)


def test_decode_stays_strict_when_pil_is_made_lenient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Some libraries switch PIL to padding truncated files with grey; the decode check must not follow them.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    bad = _truncate(tmp_path / "cut.jpg")
    with Image.open(bad) as image:
        image.load()  # the lenient flag really does hide the damage from a plain load
    with pytest.raises(DatasetError, match="truncated"):
        check_manifest_images(_manifest_of([bad]), mode="decode")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's choice is restored afterwards


@pytest.mark.parametrize(
    "damage",
    ["missing", "empty", "html page", "cut inside the header"],
)
def test_header_names_missing_empty_and_foreign_files(tmp_path: Path, damage: str) -> None:
    path = write_image(tmp_path / "drone" / "0001" / "0.jpg")
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "html page":
        path.write_bytes(b"<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    else:
        path.write_bytes(data[:20])  # SOI and part of the first segment: no frame header
    with pytest.raises(DatasetError) as info:
        check_manifest_images(_manifest_of([path]), mode="header")
    assert str(path) in str(info.value)
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize("suffix", sorted(IMAGE_EXTENSIONS))
def test_valid_images_of_every_format_pass_both_checks(tmp_path: Path, suffix: str) -> None:
    paths = [write_image(tmp_path / f"tiny{suffix}"), tmp_path / f"noisy{suffix}"]
    paths[1].write_bytes(_noisy_image_bytes(_FORMATS[suffix]))
    for mode in ("header", "decode"):
        check_manifest_images(_manifest_of(paths), mode=mode)
    assert decode_rgb(paths[1]).size == (64, 64)


# ------------------------------------------------------------------- 2. training and evaluation image loading


class _MeanColour(torch.nn.Module):
    """A stand-in image encoder: the mean colour of each image (3-D features)."""

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def test_load_image_names_the_full_path_of_a_truncated_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = _truncate(tmp_path / "query_drone" / "0001" / "image-01.jpeg")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_image("query_drone/0001/image-01.jpeg", 16)  # a relative manifest path ...
    message = str(info.value)
    assert message.startswith(f"Cannot read image {bad} (OSError: image file is truncated")  # ... named in full
    assert "re-extract or re-download" in message and "`manifest.check_images: decode`" in message
    assert info.value.path == str(bad)


def test_load_image_is_strict_when_pil_is_made_lenient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    bad = _truncate(tmp_path / "0.png")
    with pytest.raises(DatasetError, match="truncated"):
        load_image(str(bad), 16)
    assert load_image(str(write_image(tmp_path / "ok.png")), 16).shape == (3, 16, 16)


def test_missing_image_is_named_too(tmp_path: Path) -> None:
    gone = tmp_path / "satellite" / "0001" / "0001.jpg"
    with pytest.raises(DatasetError, match="FileNotFoundError") as info:
        read_rgb(gone)
    assert str(gone) in str(info.value)


def test_training_sample_names_its_truncated_drone_image(tmp_path: Path) -> None:
    drone = _truncate(tmp_path / "drone" / "0839" / "image-01.jpeg")
    satellite = write_image(tmp_path / "satellite" / "0839" / "0839.jpg")
    pairs = CrossViewPairs([TrainingLocation("0839", 839, [str(drone)], [str(satellite)])], image_size=16)
    with pytest.raises(DatasetError) as info:
        pairs[0]
    assert info.value.path == str(drone)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_feature_extraction_names_the_truncated_image(tmp_path: Path, num_workers: int) -> None:
    paths = [str(write_image(tmp_path / f"gallery_drone/0001/image-0{k}.jpeg")) for k in range(1, 4)]
    bad = _truncate(Path(paths[1]))
    features = extract_features(_MeanColour(), [paths[0], paths[2]], 16, batch_size=2, device="cpu")
    assert features.shape == (2, 3)
    with pytest.raises(DatasetError) as info:
        extract_features(_MeanColour(), paths, 16, batch_size=2, device="cpu", num_workers=num_workers)
    # A worker's error comes back as DatasetError(worker traceback), which still ends with the message.
    assert f"Cannot read image {bad} (OSError: image file is truncated" in str(info.value)
    assert "`manifest.check_images: decode`" in str(info.value)


def test_image_list_reads_through_the_strict_loader(tmp_path: Path) -> None:
    bad = _truncate(tmp_path / "a.tif")
    with pytest.raises(DatasetError, match="a.tif"):
        ImageList([str(bad)], 16)[0]


# --------------------------------------------------------------------------------------- 3. weather sets


@pytest.fixture(scope="module")
def rendered_weather_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict[str, str]]:
    """A wind set of three drone images (two JPEG, one PNG), rendered once; tests work on copies of it."""
    src = tmp_path_factory.mktemp("weather") / "clean"
    rels = ["query_drone/0001/image-01.jpeg", "query_drone/0001/image-02.jpeg", "gallery_drone/0002/0.png"]
    paths = []
    for k, rel in enumerate(rels):
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(k).integers(0, 256, size=(32, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    out = src.parent / "wind"
    hashes = write_weather_set(paths, src, out, "wind")
    return out, paths, hashes


@pytest.fixture
def weather_set(rendered_weather_set, tmp_path: Path) -> Path:
    """A private copy of the rendered wind set."""
    out = tmp_path / "wind"
    shutil.copytree(rendered_weather_set[0], out)
    return out


def _weather_clean_manifest(paths: list[str]) -> pd.DataFrame:
    rows = [
        {
            "dataset": "sues200",
            "split": "test",
            "role": "query" if "query" in path else "gallery",
            "view": "drone",
            "location": Path(path).parent.name,
            "altitude": 150.0,
            "folder": Path(path).parts[-3],
            "path": path,
            "lon": float("nan"),
            "lat": float("nan"),
        }
        for path in paths
    ]
    return manifest_from_rows(rows)


def test_intact_weather_set_verifies(weather_set: Path, rendered_weather_set) -> None:
    _, paths, hashes = rendered_weather_set
    (weather_set / ".DS_Store").write_bytes(b"\0")  # operating-system metadata is not part of the set
    assert verify_weather_set(weather_set) == hashes
    table = weather_manifest(_weather_clean_manifest(paths), Path(paths[0]).parents[2], weather_set)
    assert sorted(table["path"]) == sorted(str(weather_set / rel) for rel in hashes)


def test_one_changed_byte_in_a_weather_image_is_named(weather_set: Path, rendered_weather_set) -> None:
    _, paths, _ = rendered_weather_set
    victim = weather_set / "query_drone/0001/image-02.jpeg"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        verify_weather_set(weather_set)
    message = str(info.value)
    assert f"1 file(s) differ from the SHA-256 recorded in its {MANIFEST_NAME}, e.g. {victim}." in message
    assert f"Delete the folder {weather_set} and rerun the workflow: rule weather writes the set again" in message
    assert info.value.path == str(victim)
    # The point where a set is read back (building its manifest) refuses it too.
    with pytest.raises(DatasetError, match="differ from the SHA-256"):
        weather_manifest(_weather_clean_manifest(paths), Path(paths[0]).parents[2], weather_set)


def test_a_deleted_weather_image_is_named(weather_set: Path) -> None:
    victim = weather_set / "gallery_drone/0002/0.png"
    victim.unlink()
    with pytest.raises(DatasetError) as info:
        verify_weather_set(weather_set)
    assert f"1 file(s) listed in its {MANIFEST_NAME} are missing, e.g. {victim}." in str(info.value)
    assert info.value.path == str(victim)


def test_an_extra_file_in_a_weather_set_is_named(weather_set: Path) -> None:
    stray = weather_set / "query_drone/0001/image-03.jpeg"
    shutil.copy(weather_set / "query_drone/0001/image-01.jpeg", stray)
    with pytest.raises(DatasetError) as info:
        verify_weather_set(weather_set)
    assert f"1 file(s) are not listed in its {MANIFEST_NAME}, e.g. {stray}." in str(info.value)


def test_weather_set_without_its_record_is_incomplete(weather_set: Path) -> None:
    (weather_set / MANIFEST_NAME).unlink()
    with pytest.raises(DatasetError) as info:
        verify_weather_set(weather_set)
    assert f"it has no {MANIFEST_NAME} (the set is incomplete): {weather_set / MANIFEST_NAME}." in str(info.value)


def test_weather_record_pointing_outside_the_set_is_refused(weather_set: Path) -> None:
    record = json.loads((weather_set / MANIFEST_NAME).read_text())
    record["files"]["../clean/query_drone/0001/image-01.jpeg"] = "0" * 64
    (weather_set / MANIFEST_NAME).write_text(json.dumps(record))
    with pytest.raises(DatasetError, match="lists a path outside the set"):
        verify_weather_set(weather_set)


def test_weather_set_made_from_another_split_is_refused(weather_set: Path, rendered_weather_set) -> None:
    _, paths, _ = rendered_weather_set
    src = Path(paths[0]).parents[2]
    # One more drone image in the clean manifest than the set was made from (only its path is used).
    clean = _weather_clean_manifest([*paths, str(src / "query_drone" / "0003" / "image-01.jpeg")])
    with pytest.raises(DatasetError) as info:
        weather_manifest(clean, src, weather_set)
    missing_copy = weather_set / "query_drone" / "0003" / "image-01.jpeg"
    assert f"lists no copy of 1 drone image(s) of the test split, e.g. {missing_copy}." in str(info.value)
    assert "The set was made from another manifest or split." in str(info.value)


# ----------------------------------------------------------------------------------- 4. local archives


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_local_archive_checksum_recorded_at_first_use_then_verified(tmp_path: Path) -> None:
    payload = _zip_bytes({"SUES-200-512x512/satellite-view/0001/0.png": b"v1"})
    archive = tmp_path / "downloads" / "SUES-200-512x512.zip"
    archive.parent.mkdir()
    archive.write_bytes(payload)
    record = tmp_path / "checksums.yaml"
    source = {"dataset": "sues200", "archive": str(archive), "sha256": None, "checksum_record": str(record)}

    extracted = acquire(source, tmp_path / "first")
    assert (extracted / "SUES-200-512x512/satellite-view/0001/0.png").read_bytes() == b"v1"
    digest = hashlib.sha256(payload).hexdigest()
    assert yaml.safe_load(record.read_text()) == {"SUES-200-512x512.zip": digest}

    # The same archive, extracted again elsewhere: verified against the record, which stays as it was.
    assert acquire(source, tmp_path / "second").is_dir()
    assert yaml.safe_load(record.read_text()) == {"SUES-200-512x512.zip": digest}

    # Another file under the same name (a different version, or a copy damaged since): refused, nothing extracted.
    archive.write_bytes(_zip_bytes({"SUES-200-512x512/satellite-view/0001/0.png": b"v2"}))
    with pytest.raises(DatasetError) as info:
        acquire(source, tmp_path / "third")
    message = str(info.value)
    assert message.startswith(f"SUES-200: checksum mismatch for the local archive {archive}: its SHA-256 is ")
    assert f"the checksum record {record} holds {digest} for 'SUES-200-512x512.zip'" in message
    assert "obtain it again" in message and "`datasets.sues200.sha256`" in message
    assert info.value.path == str(archive)
    assert not (tmp_path / "third" / "extracted").exists()
    assert yaml.safe_load(record.read_text()) == {"SUES-200-512x512.zip": digest}


def test_local_archive_that_fails_to_extract_is_not_recorded(tmp_path: Path) -> None:
    payload = _zip_bytes({f"Data/{k}.bin": os.urandom(4096) for k in range(4)})
    archive = tmp_path / "cut.zip"
    archive.write_bytes(payload[: len(payload) // 2])  # an interrupted copy
    record = tmp_path / "checksums.yaml"
    with pytest.raises(DatasetError, match="cut.zip"):
        acquire({"archive": str(archive), "checksum_record": str(record)}, tmp_path / "out")
    # Recording the damaged copy would make the good copy obtained next fail the check.
    assert not record.exists()
    archive.write_bytes(payload)
    acquire({"archive": str(archive), "checksum_record": str(record)}, tmp_path / "out")
    assert yaml.safe_load(record.read_text()) == {"cut.zip": hashlib.sha256(payload).hexdigest()}


def test_configured_sha256_wins_over_the_record(tmp_path: Path) -> None:
    payload = _zip_bytes({"Data/a.txt": b"a"})
    archive = tmp_path / "data.zip"
    archive.write_bytes(payload)
    record = tmp_path / "checksums.yaml"
    record.write_text(yaml.safe_dump({"data.zip": "0" * 64}))  # stale, but the configuration pins the file
    source = {"archive": str(archive), "sha256": hashlib.sha256(payload).hexdigest(), "checksum_record": str(record)}
    assert acquire(source, tmp_path / "out").is_dir()
    assert yaml.safe_load(record.read_text()) == {"data.zip": "0" * 64}
