"""geolink index / locate / export-onnx: geometry against hand-computed values, the tool end to end on a synthetic
area, the ONNX path (also without torch), resuming, and every bad input a user can give."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import from_origin

from geolink.checkpoint import save_checkpoint
from geolink.cli import main
from geolink.locate.encoders import EncoderIdentity, OnnxEncoder, TorchEncoder, export_onnx
from geolink.locate.errors import LocateError
from geolink.locate.estimate import estimate_position
from geolink.locate.exif import gps_exif, read_gps
from geolink.locate.geo import EARTH_RADIUS_M, haversine_m, to_local
from geolink.locate.index import TileIndex, build_index
from geolink.locate.maps import GeoTiffMap, TileTableMap, grid_positions
from geolink.locate.search import collect_photos, error_summary, locate_photos
from geolink.models import create_model
from geolink.synth.locate_map import write_locate_map

METRES_PER_DEGREE = np.pi * EARTH_RADIUS_M / 180  # 111,195.08 m on the mean sphere
# Length of a degree of longitude / latitude on WGS 84 at 0 and 30 degrees (the standard table, docs/locate.md).
DEGREE_AT_0 = (111_319.5, 110_574.3)
DEGREE_AT_30 = (96_486.3, 110_852.4)


def write_geotiff(path: Path, pixels: np.ndarray, crs: str | None, transform=None) -> Path:
    """``[H, W, 3]`` uint8 as a GeoTIFF (no georeferencing when ``crs`` is None)."""
    profile = {"driver": "GTiff", "width": pixels.shape[1], "height": pixels.shape[0], "count": 3, "dtype": "uint8"}
    if crs is not None:
        profile |= {"crs": crs, "transform": transform}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(pixels, -1, 0))
    return path


def tiny_checkpoint(path: Path, seed: int = 0, image_size: int = 32) -> Path:
    """A checkpoint of the CPU model at random weights, in the format rule train writes."""
    torch.manual_seed(seed)
    kwargs = {"pretrained": False, "img_size": image_size}
    model = create_model("geolink_tiny_cnn", **kwargs)
    state = {"model_name": "geolink_tiny_cnn", "model_kwargs": kwargs, "model": model.state_dict()}
    save_checkpoint(path, {**state, "settings": {"image_size": image_size}, "epoch": 0, "val_recall@1": 0.0})
    return path


class PixelEncoder:
    """A test double that matches pixels: grey 16 x 16 thumbnail, mean removed, L2-normalised. Near-perfect on
    north-up crops of the map itself, so it checks the tool's geometry apart from any model."""

    identity = EncoderIdentity("pixels", "pixels", 16)
    description = "pixel test double"

    def __init__(self):
        self.calls = 0

    def __call__(self, images):
        self.calls += len(images)
        grey = [
            np.asarray(Image.fromarray(i).convert("L").resize((16, 16), Image.BILINEAR), np.float32) for i in images
        ]
        flat = np.stack([g.ravel() - g.mean() for g in grey])
        return (flat / np.linalg.norm(flat, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def area(tmp_path_factory) -> Path:
    """A 2 x 2-block synthetic area (320 m at 1 m per pixel) with 4 drone photos of 48 px."""
    root = tmp_path_factory.mktemp("area") / "area"
    write_locate_map(root, seed=3, image_size=48, domain="garden_city", blocks=2, gsd_m=1.0, n_photos=4, heights=[90])
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "a": tiny_checkpoint(root / "a.pt", seed=0),
        "b": tiny_checkpoint(root / "b.pt", seed=1),
        "a48": tiny_checkpoint(root / "a48.pt", seed=0, image_size=48),
    }


# ---- geometry, by hand


def test_grid_covers_the_map_flush_with_its_edges():
    assert grid_positions(10, 4, 2) == [0, 2, 4, 6]
    assert grid_positions(11, 4, 3) == [0, 3, 6, 7]
    assert grid_positions(4, 4, 2) == [0]


def test_haversine_on_the_sphere_and_local_frame_on_the_ellipsoid():
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(METRES_PER_DEGREE, rel=1e-9)
    assert haversine_m(60.0, 10.0, 60.0, 11.0) == pytest.approx(METRES_PER_DEGREE * 0.5, rel=1e-4)  # cos 60 = 1/2
    assert to_local(30.001, 120.001, 30.0, 120.0) == pytest.approx(np.array(DEGREE_AT_30) / 1000, abs=1e-3)
    assert to_local(0.0, 1.0, 0.0, 0.0) == pytest.approx([DEGREE_AT_0[0], 0.0], abs=0.1)


def test_utm_tile_centres_and_lat_lon(tmp_path):
    # UTM 51N, 1 m pixels, west edge 500,000 m E (the zone's central meridian, 123 E) and north edge 400 m N.
    path = write_geotiff(tmp_path / "utm.tif", np.zeros((400, 400, 3), np.uint8), "EPSG:32651",
                         from_origin(500_000, 400, 1.0, 1.0))  # fmt: skip
    source = GeoTiffMap(path, footprint_m=100, overlap=0.5)
    assert source.tile_px == (100, 100)  # 1 m pixels (to the UTM scale factor near the equator, 0.9996)
    tiles = source.tiles()
    assert len(tiles) == 7 * 7  # offsets 0, 50, ..., 300 on each axis
    first = tiles.iloc[0]
    assert (first.x, first.y, first.col, first.row) == (500_050, 350, 0, 0)
    # 50 m east of the central meridian at the equator: 0 + 50 / (0.9996 * 111,319.49 m per degree of longitude).
    assert first.lon == pytest.approx(123 + 50 / (0.9996 * 111_319.49), abs=2e-7)
    assert first.lat == pytest.approx(350 / (0.9996 * 110_574.4), abs=2e-7)


def test_a_geographic_or_web_mercator_map_gets_tiles_of_its_ground_size(tmp_path):
    pixels = np.zeros((300, 300, 3), np.uint8)
    degrees = GeoTiffMap(
        write_geotiff(tmp_path / "wgs84.tif", pixels, "EPSG:4326", from_origin(10, 0.003, 1e-5, 1e-5)), 50
    )
    assert degrees.pixel_m == pytest.approx(np.array(DEGREE_AT_0) * 1e-5, rel=1e-5)
    assert degrees.tile_px == (45, 45)  # 50 m / 1.113 m and 50 m / 1.106 m
    # Web Mercator at 60 N: a unit of the CRS is half a ground metre, so 50 m of ground are 100 pixels of 1 unit.
    y60 = 6378137.0 * np.log(np.tan(np.pi / 4 + np.radians(60) / 2))
    mercator = GeoTiffMap(
        write_geotiff(tmp_path / "3857.tif", pixels, "EPSG:3857", from_origin(0, y60 + 150, 1, 1)), 50
    )
    assert mercator.tile_px[0] == pytest.approx(100, abs=1)


def test_the_overview_read_in_strips_equals_one_read_of_the_whole_map(tmp_path):
    from rasterio.enums import Resampling

    pixels = np.random.default_rng(0).integers(0, 256, size=(2000, 3200, 3), dtype=np.uint8)
    path = write_geotiff(tmp_path / "m.tif", pixels, "EPSG:32651", from_origin(500_000, 3_000_000, 0.5, 0.5))
    overview, scale = GeoTiffMap(path, footprint_m=100).overview()
    assert scale == 0.5 and overview.shape == (1000, 1600, 3)
    with rasterio.open(path) as ds:
        whole = ds.read([1, 2, 3], out_shape=(3, 1000, 1600), resampling=Resampling.average)
    np.testing.assert_array_equal(overview, np.moveaxis(whole, 0, -1))


def test_position_estimate_by_hand():
    lat0, lon0 = 30.0, 120.0
    east_20 = lon0 + 20 / DEGREE_AT_30[0]
    far = lat0 + 500 / DEGREE_AT_30[1]
    # Best tile at (0, 0) score 1.0, a neighbour 20 m east at 0.5, a tile 500 m north: mean of the first two.
    estimate = estimate_position([lat0, lat0, far], [lon0, east_20, lon0], [1.0, 0.5, 0.9], radius_m=50)
    assert estimate["method"] == "weighted_mean" and estimate["n_agree"] == 2
    assert to_local(estimate["lat"], estimate["lon"], lat0, lon0) == pytest.approx([20 * 0.5 / 1.5, 0], abs=1e-3)
    alone = estimate_position([lat0, far], [lon0, lon0], [0.8, 0.7], radius_m=50)
    assert alone == {"lat": lat0, "lon": lon0, "method": "best_tile", "n_agree": 1}


def test_exif_gps_round_trip(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (8, 8)).save(photo, exif=gps_exif(-33.8567844, -151.2152967, 85.0))
    lat, lon = read_gps(photo)
    assert (lat, lon) == pytest.approx((-33.8567844, -151.2152967), abs=1e-8)
    Image.new("RGB", (8, 8)).save(tmp_path / "none.jpg")
    assert read_gps(tmp_path / "none.jpg") is None


def test_error_summary_by_hand():
    answers = [{"error_m": e} for e in (10.0, 20.0, 30.0, 60.0)] + [{"error_m": None}]
    summary = error_summary(answers)
    assert summary["n_photos"] == 5 and summary["n_with_gps"] == 4
    assert summary["median_m"] == 25.0 and summary["p90_m"] == pytest.approx(51.0)  # 30 + 0.7 * (60 - 30)
    assert summary["within_25m"] == 0.5 and summary["within_50m"] == 0.75


# ---- the tool on a map


def crops_at_tiles(area: Path, out: Path, tiles: pd.DataFrame, picks: list[int]) -> Path:
    """Photos that are exactly some tiles of the map, each with its tile's centre in EXIF GPS."""
    out.mkdir()
    with rasterio.open(area / "map.tif") as ds:
        for k in picks:
            t = tiles.iloc[k]
            window = rasterio.windows.Window(t.col, t.row, t.width, t.height)
            pixels = np.moveaxis(ds.read([1, 2, 3], window=window), 0, -1)
            Image.fromarray(pixels).save(out / f"tile{k:03d}.png", exif=gps_exif(t.lat, t.lon))
    return out


def test_photos_of_known_tiles_are_placed_on_them(area, tmp_path):
    """The geometry chain (tiles -> lat/lon -> EXIF -> error) with an encoder that cannot miss."""
    encoder = PixelEncoder()
    build_index(GeoTiffMap(area / "map.tif", footprint_m=93.5), encoder, tmp_path / "index", progress=False)
    index = TileIndex(tmp_path / "index")
    assert len(index.tiles) == 36  # 320 px map, 94 px tiles every 47 px: offsets 0, 47, ..., 188, 226
    photos = crops_at_tiles(area, tmp_path / "photos", index.tiles, [0, 14, 35])
    answers = locate_photos(collect_photos([photos]), index, encoder, k=3, radius_m=1.0, progress=False)
    assert [a["matches"][0]["tile"] for a in answers] == [0, 14, 35]
    assert max(a["error_m"] for a in answers) < 0.05  # EXIF keeps seconds to 1e-6 (3 cm)


def test_index_build_resumes_after_an_interruption(area, tmp_path):
    source = GeoTiffMap(area / "map.tif", footprint_m=93.5)

    class Interrupted(PixelEncoder):
        def __call__(self, images):
            if self.calls >= 20:
                raise KeyboardInterrupt
            return super().__call__(images)

    with pytest.raises(KeyboardInterrupt):
        build_index(source, Interrupted(), tmp_path / "index", chunk=10, progress=False)
    assert len(list((tmp_path / "index.partial/parts").glob("*.npy"))) == 2
    resumed = PixelEncoder()
    build_index(source, resumed, tmp_path / "index", chunk=10, progress=False)
    assert resumed.calls == 36 - 20  # only the tiles of the unsaved chunks
    build_index(source, PixelEncoder(), tmp_path / "whole", chunk=10, progress=False)
    scores = [TileIndex(tmp_path / name).faiss.reconstruct_n(0, 36) for name in ("index", "whole")]
    np.testing.assert_array_equal(*scores)
    # A partial build of other settings is never mixed in.
    with pytest.raises(KeyboardInterrupt):
        build_index(source, Interrupted(), tmp_path / "other", chunk=10, progress=False)
    with pytest.raises(LocateError, match="other settings"):
        build_index(GeoTiffMap(area / "map.tif", footprint_m=80), PixelEncoder(), tmp_path / "other", chunk=10)


def test_a_tile_table_map(area, tmp_path):
    tiles = GeoTiffMap(area / "map.tif", footprint_m=93.5).tiles()
    folder = crops_at_tiles(area, tmp_path / "tiles", tiles, [3, 20])
    pd.DataFrame({"path": ["tile003.png", "tile020.png"], "lat": tiles.lat[[3, 20]], "lon": tiles.lon[[3, 20]]}).to_csv(
        folder / "tiles.csv", index=False
    )
    encoder = PixelEncoder()
    build_index(TileTableMap(folder / "tiles.csv", 93.5), encoder, tmp_path / "index", progress=False)
    index = TileIndex(tmp_path / "index")
    answers = locate_photos([folder / "tile020.png"], index, encoder, k=2, progress=False)
    assert answers[0]["matches"][0]["tile"] == 1 and answers[0]["error_m"] < 0.05
    from geolink.locate.page import write_page

    page = write_page(answers, index, tmp_path / "page.html").read_text()
    assert page.count("<section>") == 1 and page.count("<rect") == 2


def test_index_and_locate_commands_on_the_synthetic_area(area, checkpoints, tmp_path, capsys):
    index = tmp_path / "index"
    args = ["index", str(area / "map.tif"), "--checkpoint", str(checkpoints["a"]), "--footprint", "93.5"]
    assert main([*args, "--out", str(index)]) == 0
    out = tmp_path / "answers"
    assert main(["locate", str(area / "photos"), "--index", str(index), "--checkpoint", str(checkpoints["a"]),
                 "--out", str(out), "--top-k", "3"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "4 of 4 photos carry EXIF GPS: median error" in printed
    answers = json.loads((out / "answers.json").read_text())
    truth = pd.read_csv(area / "truth.csv")
    for answer, row in zip(answers["answers"], truth.itertuples(), strict=True):
        assert Path(answer["image"]).name == Path(row.photo).name and len(answer["matches"]) == 3
        # truth.csv to 1e-8 degrees, EXIF seconds to 1e-6 (3 cm)
        assert answer["error_m"] == pytest.approx(haversine_m(row.lat, row.lon, answer["lat"], answer["lon"]), abs=0.05)
    table = pd.read_csv(out / "answers.csv")
    assert len(table) == 4 and {"top3_tile", "top3_score", "error_m"} <= set(table.columns)
    page = (out / "answers.html").read_text()
    assert page.count("<section>") == 4 and page.count("<circle") == 4  # every photo's EXIF position drawn


# ---- ONNX


def test_onnx_export_reproduces_torch_and_locate_gives_the_same_answers(area, checkpoints, tmp_path):
    onnx_path = tmp_path / "encoder.onnx"
    summary = export_onnx(checkpoints["a"], onnx_path)
    assert summary["min_cosine"] > 0.9999 and summary["image_size"] == 32
    torch_encoder, onnx_encoder = TorchEncoder(checkpoints["a"], "cpu"), OnnxEncoder(onnx_path)
    assert onnx_encoder.identity == torch_encoder.identity
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((area / "photos").glob("*.jpg"))]
    with rasterio.open(area / "map.tif") as ds:  # satellite pixels too, at another size than the photos
        photos.append(np.moveaxis(ds.read([1, 2, 3], window=rasterio.windows.Window(0, 0, 100, 100)), 0, -1))
    cosine = (torch_encoder(photos) * onnx_encoder(photos)).sum(axis=1)
    assert cosine.min() > 0.9999
    build_index(GeoTiffMap(area / "map.tif", footprint_m=93.5), torch_encoder, tmp_path / "index", progress=False)
    index = TileIndex(tmp_path / "index")
    found = [
        locate_photos(collect_photos([area / "photos"]), index, e, progress=False)
        for e in (torch_encoder, onnx_encoder)
    ]
    assert [[m["tile"] for m in a["matches"]] for a in found[0]] == [
        [m["tile"] for m in a["matches"]] for a in found[1]
    ]
    assert [a["lat"] for a in found[0]] == pytest.approx([a["lat"] for a in found[1]], abs=1e-9)


def test_the_vit_encoder_exports_too(area, tmp_path):
    """The paper's models are ViTs (DINOv2); the tiny registered ViT goes through the same exporter."""
    kwargs = {"img_size": 32, "frozen_blocks": 0}
    model = create_model("geolink_tiny", **kwargs)
    state = {"model_name": "geolink_tiny", "model_kwargs": kwargs, "model": model.state_dict(), "epoch": 0}
    save_checkpoint(tmp_path / "vit.pt", {**state, "settings": {"image_size": 32}, "val_recall@1": 0.0})
    export_onnx(tmp_path / "vit.pt", tmp_path / "vit.onnx")
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((area / "photos").glob("*.jpg"))]
    cosine = (TorchEncoder(tmp_path / "vit.pt", "cpu")(photos) * OnnxEncoder(tmp_path / "vit.onnx")(photos)).sum(1)
    assert cosine.min() > 0.9999


def test_locate_runs_without_torch(area, checkpoints, tmp_path):
    """`geolink locate --onnx` where importing torch fails, as on a machine without it."""
    onnx_path = tmp_path / "encoder.onnx"
    export_onnx(checkpoints["a"], onnx_path)
    build_index(
        GeoTiffMap(area / "map.tif", footprint_m=93.5), OnnxEncoder(onnx_path), tmp_path / "index", progress=False
    )
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from geolink.cli import main\n"
        f"code = main(['locate', {str(area / 'photos')!r}, '--index', {str(tmp_path / 'index')!r}, "
        f"'--onnx', {str(onnx_path)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "4 of 4 photos carry EXIF GPS" in result.stdout
    # --checkpoint there says what to do instead.
    script = script.replace("'--onnx', ", "'--checkpoint', ").replace(str(onnx_path), str(checkpoints["a"]))
    result = subprocess.run([sys.executable, "-c", script.replace("/out'", "/out2'")], capture_output=True, text=True)
    assert result.returncode == 2 and "export-onnx" in result.stderr and "Traceback" not in result.stderr


# ---- bad input: one clear message, exit status 2, no traceback


@pytest.fixture(scope="module")
def built(area, checkpoints, tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("built") / "index"
    assert main(["index", str(area / "map.tif"), "--checkpoint", str(checkpoints["a"]), "--footprint", "93.5",
                 "--out", str(index)]) == 0  # fmt: skip
    return index


def run_failing(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_bad_photos(area, built, checkpoints, tmp_path, capsys):
    common = ["--index", str(built), "--checkpoint", str(checkpoints["a"])]
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    err = run_failing(capsys, ["locate", str(text), *common, "--out", str(tmp_path / "o1")])
    assert str(text) in err and "is not an image" in err
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    err = run_failing(capsys, ["locate", str(empty), *common, "--out", str(tmp_path / "o2")])
    assert str(empty) in err and "holds no photos" in err
    err = run_failing(capsys, ["locate", str(tmp_path / "nowhere.jpg"), *common, "--out", str(tmp_path / "o3")])
    assert "does not exist" in err
    cut = tmp_path / "cut.jpg"  # a copy interrupted halfway: the header reads, the pixels do not
    data = (area / "photos/000.jpg").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    err = run_failing(capsys, ["locate", str(cut), *common, "--out", str(tmp_path / "o4")])
    assert str(cut) in err and "copied again" in err
    assert not any((tmp_path / f"o{k}").exists() for k in range(1, 5))


def test_an_index_refuses_another_encoder(area, built, checkpoints, tmp_path, capsys):
    photos = str(area / "photos")
    err = run_failing(capsys, ["locate", photos, "--index", str(built), "--checkpoint", str(checkpoints["b"]),
                               "--out", str(tmp_path / "o1")])  # fmt: skip
    assert "another checkpoint" in err and str(checkpoints["b"]) in err
    err = run_failing(capsys, ["locate", photos, "--index", str(built), "--checkpoint", str(checkpoints["a48"]),
                               "--out", str(tmp_path / "o2")])  # fmt: skip
    assert "another checkpoint" in err  # other weights file; the image-size check is the identity's own:
    assert EncoderIdentity("x", "m", 32).difference(EncoderIdentity("x", "m", 48)).startswith("another image size")
    err = run_failing(capsys, ["locate", photos, "--index", str(tmp_path), "--checkpoint", str(checkpoints["a"]),
                               "--out", str(tmp_path / "o3")])  # fmt: skip
    assert "is not a tile index" in err


def test_bad_maps(area, checkpoints, tmp_path, capsys):
    common = ["--checkpoint", str(checkpoints["a"]), "--footprint", "93.5"]
    plain = write_geotiff(tmp_path / "plain.tif", np.zeros((200, 200, 3), np.uint8), None)
    err = run_failing(capsys, ["index", str(plain), *common, "--out", str(tmp_path / "i1")])
    assert str(plain) in err and "no georeferencing" in err
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (50, 50)).save(jpeg)
    err = run_failing(capsys, ["index", str(jpeg), *common, "--out", str(tmp_path / "i2")])
    assert "no georeferencing" in err or "not a raster" in err
    table = tmp_path / "tiles.csv"
    table.write_text("file,lat\na.png,1\n")
    err = run_failing(capsys, ["index", str(table), *common, "--out", str(tmp_path / "i3")])
    assert "lacks column(s) path, lon" in err
    err = run_failing(capsys, ["index", str(area / "map.tif"), "--checkpoint", str(checkpoints["a"]), "--footprint",
                               "5000", "--out", str(tmp_path / "i4")])  # fmt: skip
    assert "smaller than one 5000 m tile" in err
    assert not any((tmp_path / f"i{k}").exists() for k in range(1, 5))
