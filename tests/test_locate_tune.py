"""geolink tune and the north-up photos it needs: the heading from EXIF or DJI's XMP, the turn, the map around a
photo, the pairs and what is left out, tuning end to end, and locate turning photos for a tuned encoder."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.warp import transform

from geolink.checkpoint import load_checkpoint
from geolink.cli import main
from geolink.locate.encoders import EncoderIdentity, TorchEncoder
from geolink.locate.errors import LocateError
from geolink.locate.exif import gps_exif, read_gps, read_heading
from geolink.locate.index import TileIndex, build_index
from geolink.locate.maps import GeoTiffMap, north_up
from geolink.locate.search import collect_photos, locate_photos
from geolink.locate.tune import collect_pairs
from geolink.synth.locate_map import write_locate_map
from tests.test_locate import PixelEncoder, crops_at_tiles, tiny_checkpoint


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    """A 2 x 2-block synthetic area (320 m at 1 m per pixel) with 6 drone photos of 48 px, heading in EXIF."""
    root = tmp_path_factory.mktemp("tune") / "area"
    write_locate_map(root, seed=5, image_size=48, domain="garden_city", blocks=2, gsd_m=1.0, n_photos=6, heights=[90])
    return root


def test_heading_from_exif_and_from_dji_xmp(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "exif.jpg", exif=gps_exif(30.3, 120.4, 90.0, 287.456))
    assert read_heading(tmp_path / "exif.jpg") == pytest.approx(287.46)  # GPSImgDirection keeps 1/100 degree
    assert read_gps(tmp_path / "exif.jpg") == pytest.approx((30.3, 120.4))
    Image.new("RGB", (8, 8)).save(tmp_path / "png.png", exif=gps_exif(30.3, 120.4, None, 370.0))
    assert read_heading(tmp_path / "png.png") == pytest.approx(10.0)
    xmp = b'<x:xmpmeta><rdf:Description drone-dji:GimbalYawDegree="-45.20" drone-dji:FlightYawDegree="+3.1"/>'
    Image.new("RGB", (8, 8)).save(tmp_path / "dji.jpg", xmp=xmp + b"</x:xmpmeta>")
    assert read_heading(tmp_path / "dji.jpg") == pytest.approx(314.8)  # -45.2 degrees: 45.2 west of north
    Image.new("RGB", (8, 8)).save(tmp_path / "none.jpg")
    assert read_heading(tmp_path / "none.jpg") is None


def test_north_up_turns_the_photo_by_its_heading():
    photo = np.zeros((32, 32, 3), np.uint8)
    photo[:16, :, 0] = 255  # the top half red: what lies ahead of the camera
    assert np.array_equal(north_up(photo, 0.0), photo)
    east = north_up(photo, 90.0)  # the top faced east: ahead is east, to the right of a north-up picture
    assert east[:, 16:, 0].min() == 255 and east[:, :16, 0].max() == 0
    assert np.array_equal(north_up(photo, 180.0)[16:, :, 0], np.full((16, 32), 255))  # ahead is south: below
    west = north_up(photo, 270.0)
    assert west[:, :16, 0].min() == 255 and west[:, 16:, 0].max() == 0


def test_the_map_around_a_position_is_its_window(area):
    source = GeoTiffMap(area / "map.tif", footprint_m=93.5)
    with rasterio.open(area / "map.tif") as ds:
        pixels = np.moveaxis(ds.read([1, 2, 3]), 0, -1)
        (lon,), (lat,) = transform(ds.crs, "EPSG:4326", *[[v] for v in ds.transform @ (150, 120)])
    # 40 m at 0.9996 m per pixel (UTM's scale 2.6 degrees off the central meridian) is 40 pixels: no resampling.
    around = source.read_around(lat, lon, side_m=40.0, out_px=40)
    assert np.array_equal(around, pixels[100:140, 130:170])
    corner = source.read_around(*transform_back(area, 2, 2), side_m=40.0, out_px=40)
    assert corner[:10, :10].max() == 0 and np.array_equal(corner[18:, 18:], pixels[:22, :22])  # black off the map
    assert source.read_around(*transform_back(area, -5, 10), side_m=40.0, out_px=40) is None


def transform_back(area, col: float, row: float) -> tuple[float, float]:
    with rasterio.open(area / "map.tif") as ds:
        (lon,), (lat,) = transform(ds.crs, "EPSG:4326", *[[v] for v in ds.transform @ (col, row)])
    return lat, lon


def test_pairs_leave_out_photos_without_gps_or_heading_or_off_the_map(area, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    lat, lon = transform_back(area, 160, 160)
    Image.new("RGB", (48, 48)).save(extra / "no_heading.jpg", exif=gps_exif(lat, lon))
    Image.new("RGB", (48, 48)).save(extra / "no_gps.jpg")
    Image.new("RGB", (48, 48)).save(extra / "off_map.jpg", exif=gps_exif(lat + 0.01, lon, None, 10.0))
    pairs = collect_pairs([(area / "map.tif", [area / "photos", extra])], 93.5, 48, jitter=0.25, progress=False)
    assert len(pairs) == 6 and pairs.margin == 12  # 0.25 x 48 px
    assert pairs.photos.shape == (6, 48, 48, 3) and pairs.contexts.shape == (6, 72, 72, 3)
    assert pairs.photos.dtype == pairs.contexts.dtype == np.uint8
    report = pairs.areas[0]
    assert (report["photos"], report["pairs"], report["no_gps"], report["no_heading"], report["off_map"]) == (
        9,
        6,
        1,
        1,
        1,
    )
    with pytest.raises(LocateError, match="none of the 3 photos gives a pair: 1 have no EXIF GPS, 1 no heading"):
        collect_pairs([(area / "map.tif", [extra])], 93.5, 48, progress=False)
    with pytest.raises(LocateError, match="jitter"):
        collect_pairs([(area / "map.tif", [extra])], 93.5, 48, jitter=0.7, progress=False)


def test_tune_learns_its_pairs_and_marks_the_checkpoint_north_up(area, tmp_path, capsys):
    start = tiny_checkpoint(tmp_path / "start.pt", image_size=48)
    out = tmp_path / "tuned.pt"
    argv = ["tune", "--area", str(area / "map.tif"), str(area / "photos"), "--checkpoint", str(start)]
    argv += [
        "--footprint",
        "93.5",
        "--out",
        str(out),
        "--steps",
        "100",
        "--batch-size",
        "6",
        "--lr",
        "0.005",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "6 pairs of 6 photos" in printed and "north-up" in printed
    tuned, before = load_checkpoint(out), load_checkpoint(start)
    summary = tuned["settings"]["tune"]
    assert tuned["settings"]["north_up"] is True and summary["pairs"] == 6 and summary["steps"] == 100
    # Six pairs are learned by heart: the loss falls from a random encoder's (log 6 = 1.79 at best) well below it.
    assert summary["loss_first"] > 1.6 and summary["loss_last"] < 0.75 * summary["loss_first"]
    changed = {k for k in before["model"] if not torch.equal(before["model"][k], tuned["model"][k])}
    assert any(k.startswith("image_encoder.") for k in changed)
    assert all(k.startswith(("image_encoder.", "logit_scale")) for k in changed)  # the 3D branch (mme) is not trained
    assert any(k.startswith("mme.") for k in before["model"])
    assert TorchEncoder(out, "cpu").identity.north_up and not TorchEncoder(start, "cpu").identity.north_up
    # Located with the tuned checkpoint, a photo without a heading is used as taken, and the command says so.
    flight = tmp_path / "flight"
    flight.mkdir()
    for photo in sorted((area / "photos").iterdir())[:2]:
        (flight / photo.name).write_bytes(photo.read_bytes())
    Image.new("RGB", (48, 48)).save(flight / "no_heading.jpg")
    index = [
        "index",
        str(area / "map.tif"),
        "--checkpoint",
        str(out),
        "--footprint",
        "93.5",
        "--out",
        str(tmp_path / "ix"),
    ]
    assert main(index) == 0
    capsys.readouterr()
    assert main(["locate", str(flight), "--index", str(tmp_path / "ix"), "--checkpoint", str(out),
                 "--out", str(tmp_path / "answers"), "--no-html"]) == 0  # fmt: skip
    assert "1 of 3 photos record no heading" in capsys.readouterr().out


def test_a_tile_table_cannot_be_tuned_on(area, tmp_path, capsys):
    (tmp_path / "tiles.csv").write_text("path,lat,lon\n")
    start = tiny_checkpoint(tmp_path / "start.pt", image_size=48)
    argv = ["tune", "--area", str(tmp_path / "tiles.csv"), str(area / "photos"), "--checkpoint", str(start)]
    assert main([*argv, "--footprint", "93.5", "--out", str(tmp_path / "t.pt")]) == 2
    assert "tuning needs a GeoTIFF" in capsys.readouterr().err and not (tmp_path / "t.pt").exists()


class NorthUpPixelEncoder(PixelEncoder):
    identity = EncoderIdentity("pixels", "pixels", 16, north_up=True)


def test_locate_turns_photos_north_up_for_a_tuned_encoder(area, tmp_path):
    """Tiles photographed with their top facing east (turned a quarter counter-clockwise, heading 90 in EXIF) are
    found when the encoder wants north-up photos; as taken, a pixel matcher misses them."""
    source = GeoTiffMap(area / "map.tif", footprint_m=93.5)
    build_index(source, NorthUpPixelEncoder(), tmp_path / "index", progress=False)
    index = TileIndex(tmp_path / "index")
    straight = crops_at_tiles(area, tmp_path / "straight", index.tiles, [0, 14, 35])
    turned = tmp_path / "turned"
    turned.mkdir()
    for photo in sorted(straight.iterdir()):
        with Image.open(photo) as image:
            lat, lon = read_gps(photo)
            turned_pixels = np.rot90(np.asarray(image.convert("RGB")), 1)
            Image.fromarray(turned_pixels).save(turned / photo.name, exif=gps_exif(lat, lon, None, 90.0))
    answers = locate_photos(collect_photos([turned]), index, NorthUpPixelEncoder(), k=3, radius_m=1.0, progress=False)
    assert [a["matches"][0]["tile"] for a in answers] == [0, 14, 35]
    assert all(a["north_up"] and a["heading"] == 90.0 for a in answers) and max(a["error_m"] for a in answers) < 0.05
    as_taken = locate_photos(collect_photos([turned]), index, PixelEncoder(), k=3, radius_m=1.0, progress=False)
    assert [a["matches"][0]["tile"] for a in as_taken] != [0, 14, 35] and not any(a["north_up"] for a in as_taken)
