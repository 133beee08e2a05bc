"""Synthetic DenseUAV: the released ``DenseUAV/`` tree with its GPS tables.

Layout written (``docs/datasets.md`` §3.2):

    DenseUAV/train/drone/<ID>/H80.JPG H90.JPG H100.JPG
    DenseUAV/train/satellite/<ID>/H80.tif H90.tif H100.tif H80_old.tif H90_old.tif H100_old.tif
    DenseUAV/test/query_drone/<ID>/..., test/query_satellite/<ID>/...        (test classes)
    DenseUAV/test/gallery_drone/<ID>/..., test/gallery_satellite/<ID>/...    (train + test classes)
    DenseUAV/Dense_GPS_ALL.txt, Dense_GPS_train.txt, Dense_GPS_test.txt   "<tile path> E<lon> N<lat> <height>"
    geometry/<ID>.npz            (not in the real release: truth point cloud and drone poses)

Drone images look almost straight down; the satellite tile ``H<h>`` covers what a drone at that
height sees, and the ``_old`` tiles are another capture date (other sun, cars moved, colour cast).
Test classes are numbered after the training classes, as in the release's preprocessing script.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np

from geolink.resumable import build_tree
from geolink.synth.domains import get_domain
from geolink.synth.geometry import sample_surface, save_geometry
from geolink.synth.render import ShadowMap, render
from geolink.synth.scene import generate_scene
from geolink.synth.views import date_shift, nadir_camera, nadir_footprint, random_sun, satellite_camera, sensor
from geolink.synth.writer import save_image

ROOT = "DenseUAV"
_SALT = zlib.crc32(b"denseuav")
ORIGIN_LON_LAT = (120.3700, 30.3200)  # a campus-sized area; only distances between classes matter


def _location(partial: Path, loc: str, split: str, p: dict) -> dict:
    rng = np.random.default_rng([p["seed"], _SALT, int(loc)])
    scene = generate_scene(rng, get_domain(p["domain"]))
    size = p["image_size"]
    root = partial / ROOT
    drone_dir = root / ("train/drone" if split == "train" else "test/query_drone") / loc
    sat_dir = root / ("train/satellite" if split == "train" else "test/query_satellite") / loc

    sun = random_sun(rng, scene)
    shadows = ShadowMap(scene, sun)
    posed = []
    for height in p["heights"]:
        cam = nadir_camera(scene, height, size, rng)
        path = drone_dir / f"H{height}.JPG"
        save_image(sensor(render(scene, cam, sun, shadows), rng), path)
        posed.append((str(path.relative_to(root)), cam))

    new_sun, old_sun = random_sun(rng, scene), random_sun(rng, scene)
    old_scene = scene.with_cars(rng)
    old_shadows = ShadowMap(old_scene, old_sun)
    for height in p["heights"]:
        cam = satellite_camera(scene, size, nadir_footprint(height, scene.domain), rng)
        save_image(sensor(render(scene, cam, new_sun, haze=False), rng, 1.0), sat_dir / f"H{height}.tif")
        old = render(old_scene, cam, old_sun, old_shadows, haze=False)
        save_image(sensor(date_shift(old, rng), rng, 1.0), sat_dir / f"H{height}_old.tif")

    # Galleries of the released test set hold every class, training classes included.
    shutil.copytree(drone_dir, root / "test/gallery_drone" / loc)
    shutil.copytree(sat_dir, root / "test/gallery_satellite" / loc)

    points, colors = sample_surface(scene, p["geometry_points"], rng)
    (partial / "geometry").mkdir(exist_ok=True)
    save_geometry(partial / "geometry" / f"{loc}.npz", points, colors, posed)

    # Classes lie scattered over a ~1.5 km square; 1 degree of latitude is ~111 km.
    east, north = rng.uniform(0, 1500, size=2)
    lat = ORIGIN_LON_LAT[1] + north / 111_320.0
    lon = ORIGIN_LON_LAT[0] + east / (111_320.0 * np.cos(np.radians(lat)))
    return {"location": loc, "split": split, "lon": lon, "lat": lat, "heights": list(p["heights"])}


def _write_gps(partial: Path, records: dict) -> None:
    """One line per class, as the release's preprocessing script writes them: the class's first
    satellite tile, ``E<lon> N<lat>`` and the height; readers key the line by the class folder."""
    lines = {"train": [], "test": []}
    for rec in records.values():
        tile = f"{rec['split']}/satellite/{rec['location']}/H{rec['heights'][0]}.tif"
        if rec["split"] == "test":
            tile = f"test/query_satellite/{rec['location']}/H{rec['heights'][0]}.tif"
        lines[rec["split"]].append(f"{tile} E{rec['lon']:.8f} N{rec['lat']:.8f} {float(rec['heights'][0]):.1f}")
    (partial / ROOT / "Dense_GPS_train.txt").write_text("\n".join(lines["train"]) + "\n")
    (partial / ROOT / "Dense_GPS_test.txt").write_text("\n".join(lines["test"]) + "\n")
    (partial / ROOT / "Dense_GPS_ALL.txt").write_text("\n".join(lines["train"] + lines["test"]) + "\n")


def write_denseuav(
    out_dir: str | Path, *, seed: int, image_size: int, geometry_points: int, workers: int = 1, **cfg
) -> dict:
    """Write the synthetic DenseUAV tree into ``out_dir`` (see module docstring).

    Args:
        cfg: ``domain``, ``n_train``, ``n_test``, ``heights`` (config keys, see the schema).
    """
    params = {"seed": seed, "image_size": image_size, "geometry_points": geometry_points, **cfg}
    jobs = [
        (f"{i:06d}", (f"{i:06d}", "train" if i < cfg["n_train"] else "test", params))
        for i in range(cfg["n_train"] + cfg["n_test"])
    ]
    return build_tree(out_dir, params, jobs, _location, finalize=_write_gps, workers=workers, desc="DenseUAV")
