"""Tests for the reproducible MuSe-Net weather corruption (geolink.data.weather, geolink.data.imgaug_compat)."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geolink.data.errors import DatasetError
from geolink.data.weather import (
    CONDITIONS,
    MANIFEST_NAME,
    apply_weather,
    image_seed,
    relative_paths,
    render_environment,
    weather_manifest,
    weather_rows,
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


# The fixture holds imgaug 0.4.0's own output (on NumPy 1.23.5, the recipe's original stack) for one small image,
# written by `benchmarks/weather_equivalence.py --write-fixture` in the reference env of envs/weather.yaml.
REFERENCE = Path(__file__).parent / "fixtures" / "weather_reference.npz"
# NumPy 2's float32 power and FFT round differently in the last bit (geolink.data.imgaug_compat), which reaches the
# pixels only through CloudLayer.
FOG_CONDITIONS = {"fog", "fog_rain", "fog_snow"}


@pytest.mark.parametrize("condition", CONDITIONS)
def test_matches_imgaug_040_on_numpy1(condition: str) -> None:
    ref = np.load(REFERENCE)
    assert str(ref["imgaug"]) == "0.4.0" and str(ref["numpy"]).startswith("1.")
    path = str(ref["path"])
    out = apply_weather(ref["input"], condition, image_seed(path, condition))
    expected = ref[condition]
    assert not np.array_equal(expected, ref["input"])  # the reference really is corrupted
    if condition in FOG_CONDITIONS and not np.array_equal(out, expected):
        diff = np.abs(out.astype(np.int16) - expected.astype(np.int16))
        assert diff.max() == 1
        assert np.count_nonzero(diff) <= 0.001 * diff.size
    else:
        np.testing.assert_array_equal(out, expected)


def test_compat_restores_numpy1_scalars() -> None:
    import imgaug.parameters as iap

    sample = iap.Uniform(0.0, 1.0).draw_sample(random_state=1)
    # A Python float, so NumPy 2 keeps float32 arrays float32 when it is multiplied in, as NumPy 1 did.
    assert type(sample) is float
    assert (np.ones(3, dtype=np.float32) * sample).dtype == np.float32


def test_refuses_other_imgaug_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    import imgaug

    from geolink.data.imgaug_compat import import_augmenters

    monkeypatch.setattr(imgaug, "__version__", "0.4.3")
    with pytest.raises(ImportError, match="pinned to imgaug 0.4.0"):
        import_augmenters()


def _manifest(root: Path) -> pd.DataFrame:
    rows = [
        ("test", "query", "drone", "0001", "query_drone/0001/a.jpeg"),
        ("test", "gallery", "drone", "0001", "gallery_drone/0001/a.jpeg"),
        ("test", "query", "satellite", "0001", "query_satellite/0001/0001.jpg"),
        ("train", "train", "drone", "0002", "train/drone/0002/b.jpeg"),
    ]
    return pd.DataFrame(
        [
            {"dataset": "sues200", "split": s, "role": r, "view": v, "location": loc, "path": str(root / rel)}
            for s, r, v, loc, rel in rows
        ]
    )


def test_weather_rows_are_drone_images_of_the_split(tmp_path: Path) -> None:
    table = _manifest(tmp_path / "root")
    assert [Path(p).parts[-3] for p in weather_rows(table)["path"]] == ["query_drone", "gallery_drone"]
    assert list(weather_rows(table, split="train")["location"]) == ["0002"]


def test_weather_manifest_points_drone_rows_at_the_copies(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "weather" / "fog"
    table = weather_manifest(_manifest(root), root, out, verify=False)  # no set on disk: only the path mapping
    assert list(table["path"]) == [
        str(out / "query_drone/0001/a.jpeg"),
        str(out / "gallery_drone/0001/a.jpeg"),
        str(root / "query_satellite/0001/0001.jpg"),  # satellites stay clean
    ]
    assert set(table["split"]) == {"test"}


def test_relative_paths_do_not_follow_links(tmp_path: Path) -> None:
    # A split tree made of links into the raw tree (sues200_split link: symlink) keeps its own relative paths.
    raw, split = tmp_path / "raw", tmp_path / "split"
    (raw / "drone").mkdir(parents=True)
    (raw / "drone" / "x.png").write_bytes(b"")
    (split / "Testing" / "150").mkdir(parents=True)
    (split / "Testing" / "150" / "x.png").symlink_to(raw / "drone" / "x.png")
    assert relative_paths([str(split / "Testing/150/x.png")], split) == ["Testing/150/x.png"]
    with pytest.raises(ValueError, match="not inside"):
        relative_paths([str(raw / "drone" / "x.png")], split)
    with pytest.raises(ValueError, match="twice"):
        relative_paths([str(split / "Testing/150/x.png")] * 2, split)


def test_render_environment_switches_off_only_dispatched_avx512(monkeypatch: pytest.MonkeyPatch) -> None:
    from numpy._core._multiarray_umath import __cpu_dispatch__

    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "AVX512_SPR")
    names = render_environment()["NPY_DISABLE_CPU_FEATURES"].split()
    assert names[0] == "AVX512_SPR"  # the caller's own setting is kept
    assert set(names[1:]) <= set(__cpu_dispatch__)  # naming a baseline feature would stop NumPy from importing
    assert all(n.startswith("AVX512") or n == "X86_V4" for n in names)


def test_unreadable_image_is_named_and_no_manifest_written(tmp_path: Path) -> None:
    src = tmp_path / "src"
    paths = _make_dataset(src)
    Path(paths[1]).write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="fog_snow weather copy") as info:
        write_weather_set(paths, src, tmp_path / "out", "fog_snow", workers=2)
    assert paths[1] in str(info.value) and "UnidentifiedImageError" in str(info.value)
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="uses an x86 baseline feature name")
def test_worker_bug_reaches_the_caller_with_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    paths = _make_dataset(src)
    # Disabling a baseline feature makes the worker's NumPy refuse to import: a failure that is not about the data.
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "X86_V2")
    with pytest.raises(RuntimeError, match="weather worker failed on condition wind") as info:
        write_weather_set(paths, src, tmp_path / "out", "wind")
    assert "baseline" in str(info.value)


def test_weather_sheet_draws_and_checks_row_order(tmp_path: Path) -> None:
    from geolink.data.manifest import normalize_manifest
    from geolink.plots.weather_sheet import weather_sheet

    src = tmp_path / "src"
    paths = _make_dataset(src)
    clean = normalize_manifest(
        pd.DataFrame(
            {
                "dataset": "sues200",
                "split": "test",
                "role": ["query", "query", "gallery"],
                "view": "drone",
                "location": ["0001", "0001", "0002"],
                "altitude": [150.0, 200.0, 150.0],
                "folder": ["query_drone", "query_drone", "gallery_drone"],
                "path": paths,
                "lon": float("nan"),
                "lat": float("nan"),
            }
        )
    )
    write_weather_set(paths, src, tmp_path / "wind", "wind")
    weather = {"wind": weather_manifest(clean, src, tmp_path / "wind")}
    weather_sheet(clean, weather, tmp_path / "sheet.png")
    with Image.open(tmp_path / "sheet.png") as img:
        assert img.format == "PNG" and img.size[0] > 200
    with pytest.raises(ValueError, match="same order"):
        weather_sheet(clean, {"wind": weather["wind"].iloc[::-1]}, tmp_path / "bad.png")
