"""Tests for the reproducible MuSe-Net weather corruption (geolink.data.weather).

Skipped as a whole until a NumPy-2 imgaug fork (``imaug``, module ``imgaug``) is installed in the project env.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("imgaug.augmenters", reason="needs the imgaug fork: pip install imaug==0.4.3")

from geolink.data.weather import (  # noqa: E402 - after the skip on purpose
    CONDITIONS,
    MANIFEST_NAME,
    apply_weather,
    image_seed,
    write_weather_set,
)


def _make_dataset(root: Path) -> list[str]:
    """Write three small drone-like images (two JPEG, one PNG) under ``root``; returns their paths."""
    rng = np.random.default_rng(7)
    rels = ["query_drone/0001/image-01.jpeg", "query_drone/0001/image-02.jpeg", "gallery_drone/0002/a.png"]
    paths = []
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _image() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(40, 56, 3), dtype=np.uint8)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_apply_weather_is_deterministic_per_seed(condition: str) -> None:
    img = _image()
    first = apply_weather(img, condition, 123)
    assert first.dtype == np.uint8 and first.shape == img.shape
    np.testing.assert_array_equal(first, apply_weather(img, condition, 123))
    np.testing.assert_array_equal(img, _image())  # input untouched


def test_conditions_give_different_pixels() -> None:
    img = _image()
    outputs = {c: apply_weather(img, c, 5).tobytes() for c in CONDITIONS}
    assert len(set(outputs.values())) == len(CONDITIONS)
    assert all(out != img.tobytes() for out in outputs.values())


def test_image_seed_uses_relative_path_only() -> None:
    rel = "query_drone/0001/image-01.jpeg"
    seed = image_seed(rel, "fog")
    assert 0 <= seed < 2**32
    assert image_seed("./query_drone/0001/image-01.jpeg", "fog") == seed
    assert image_seed("query_drone\\0001\\image-01.jpeg", "fog") == seed
    assert image_seed(rel, "rain") != seed
    assert image_seed(rel, "fog", base_seed=1) != seed
    with pytest.raises(ValueError):
        image_seed("/data/u1652/" + rel, "fog")


def test_write_is_independent_of_run_location_and_workers(tmp_path: Path) -> None:
    # Two copies of the same dataset in different places must render identical bytes.
    src_a, src_b = tmp_path / "a" / "U1652", tmp_path / "elsewhere" / "copy"
    paths_a, paths_b = _make_dataset(src_a), _make_dataset(src_b)

    one = write_weather_set(paths_a, src_a, tmp_path / "out1", "fog_rain", workers=1)
    again = write_weather_set(paths_a, src_a, tmp_path / "out2", "fog_rain", workers=1)
    two = write_weather_set(list(reversed(paths_b)), src_b, tmp_path / "out3", "fog_rain", workers=2)

    assert set(one) == {"query_drone/0001/image-01.jpeg", "query_drone/0001/image-02.jpeg", "gallery_drone/0002/a.png"}
    assert one == again == two
    with Image.open(tmp_path / "out1" / "gallery_drone/0002/a.png") as img:
        assert img.format == "PNG" and img.size == (64, 48)
    with Image.open(tmp_path / "out1" / "query_drone/0001/image-01.jpeg") as img:
        assert img.format == "JPEG"


def test_hashes_json_matches_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    hashes = write_weather_set(_make_dataset(src), src, tmp_path / "out", "wind")
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest["condition"] == "wind" and manifest["files"] == hashes
    for rel, digest in hashes.items():
        assert hashlib.sha256((tmp_path / "out" / rel).read_bytes()).hexdigest() == digest
    assert not list((tmp_path / "out").rglob("*.tmp*"))


def test_rejects_paths_outside_root_and_unknown_condition(tmp_path: Path) -> None:
    src = tmp_path / "src"
    paths = _make_dataset(src)
    with pytest.raises(ValueError, match="not inside"):
        write_weather_set(paths, src / "query_drone", tmp_path / "out", "fog")
    with pytest.raises(ValueError, match="unknown weather condition"):
        write_weather_set(paths, src, tmp_path / "out", "hail")
