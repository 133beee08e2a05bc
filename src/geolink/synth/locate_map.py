"""A synthetic area to prove ``geolink locate``: a georeferenced satellite mosaic and drone photos over it.

Layout written:

    map.tif              north-up GeoTIFF in UTM zone 51N (EPSG:32651), RGB, ``gsd_m`` metres per pixel
    photos/<NNN>.jpg     near-nadir drone photos, position and heading in the EXIF GPS IFD (as a drone writes them)
    truth.csv            photo, lat, lon, east, north (map CRS), altitude label, heading

The area is ``blocks x blocks`` city blocks of one visual domain (DenseUAV's ``garden_city`` by default), each a
scene of the synthetic benchmark (``geolink.synth.scene``) on its own square cell of ``2 * half_extent`` metres,
none of them a place of any dataset (their generators are seeded apart). The mosaic is each block's orthographic
nadir render on one capture day. Drone photos are taken on another day (another sun: the satellite / drone
illumination gap of the benchmark), at DenseUAV's heights, with a random heading and a few degrees of tilt,
anywhere over the area as long as their ground footprint stays on the map. A photo whose footprint spans several
cells is composed per pixel from each cell's render, taking every pixel from the block whose cell holds the ground
point it sees, as the mosaic does.

:func:`write_training_areas` writes more areas like it, other places, for ``geolink tune`` to train on.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from geolink.locate.exif import gps_exif
from geolink.synth.camera import look_at, nadir_orthographic
from geolink.synth.domains import get_domain
from geolink.synth.render import ShadowMap, render, shade, trace
from geolink.synth.scene import generate_scene
from geolink.synth.views import DRONE_FOV_DEG, random_sun, sensor

_SALT = zlib.crc32(b"locate_map")
_TRAIN_SALT = zlib.crc32(b"locate_map/training")
#: The area's south-west corner: near DenseUAV's campus (Hangzhou), in UTM zone 51N.
ORIGIN_LON_LAT = (120.3700, 30.3200)
CRS = "EPSG:32651"


def _photo(scenes, centres, cell, eye, look, up, size, sun, shadows) -> np.ndarray:
    """One drone photo composed from the blocks whose cells it sees (see the module docstring).

    A pixel takes block k's render when the surface it sees there lies in cell k. A few pixels at a cell border
    are claimed by no block (a tree crown that overhangs its cell, seen from the neighbour's side); they take the
    render of the block whose cell holds the point where their ray meets the ground.
    """
    renders, claimed = {}, np.full((size, size), -1)
    origins, directions = look_at(eye, look, DRONE_FOV_DEG, size, size, up=up).rays()
    ground = origins[..., :2] - directions[..., :2] * (origins[..., 2] / directions[..., 2])[..., None]
    # Only the cells the pixels' ground points fall in are traced: whatever a ray meets above the ground lies between
    # the camera and that point, so inside their bounding box (the camera looks down within it), and a block
    # cannot claim a pixel whose box misses its cell. Skipping the others saves traces and changes no pixel.
    low, high = ground.reshape(-1, 2).min(axis=0), ground.reshape(-1, 2).max(axis=0)
    in_view = ((centres + cell / 2 >= low) & (centres - cell / 2 <= high)).all(axis=1)
    order = np.argsort(np.linalg.norm(centres - eye[:2], axis=1))
    for k in order[:4][in_view[order[:4]]]:  # a footprint smaller than a cell touches at most four cells
        offset = np.r_[centres[k], 0.0]
        camera = look_at(eye - offset, look - offset, DRONE_FOV_DEG, size, size, up=up)
        hits = trace(scenes[k], camera)
        renders[k] = shade(scenes[k], hits, sun, shadows[k], camera)
        seen = np.nan_to_num(scenes[k].to_world(hits.point), posinf=1e9, neginf=-1e9)
        claimed[(np.abs(seen[..., :2]) <= cell / 2).all(axis=-1) & (claimed < 0)] = k
    for k in renders:
        claimed[(claimed < 0) & (np.abs(ground - centres[k]) <= cell / 2).all(axis=-1)] = k
    image = np.zeros((size, size, 3))
    for k, pixels in renders.items():
        image[claimed == k] = pixels[claimed == k]
    return (image * 255 + 0.5).astype(np.uint8)


def write_locate_map(
    out_dir: str | Path,
    *,
    seed: int | tuple[int, ...],
    image_size: int,
    domain: str,
    blocks: int,
    gsd_m: float,
    n_photos: int,
    heights: list[int],
    **_ignored,
) -> pd.DataFrame:
    """Write the synthetic area into ``out_dir`` (built in ``out_dir.partial``, renamed when complete).

    Args:
        seed: The area's seed (an int, or a tuple for areas derived from one seed: :func:`write_training_areas`).
        image_size: Side of the drone photos, pixels.
        blocks: Blocks per side of the square area.
        gsd_m: Ground metres per map pixel.
        n_photos: Drone photos.
        heights: Altitude labels the photos are drawn from (DenseUAV's 80, 90, 100 m).

    Returns:
        The truth table (``truth.csv``).
    """
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.warp import transform

    out = Path(out_dir)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # seconds of work: redone, not resumed
    (partial / "photos").mkdir(parents=True)
    dom = get_domain(domain)
    cell = 2 * dom.half_extent
    seeds = [int(v) for v in np.atleast_1d(seed)]
    rng = np.random.default_rng([*seeds, _SALT])
    scenes = [generate_scene(np.random.default_rng([*seeds, _SALT, k]), dom) for k in range(blocks * blocks)]
    # Block k = (row r from the north, column c from the west); its centre in metres east/north of the south-west.
    rows, cols = np.divmod(np.arange(blocks * blocks), blocks)
    centres = np.stack([(cols + 0.5) * cell, (blocks - rows - 0.5) * cell], axis=1)

    cell_px = round(cell / gsd_m)
    mosaic = np.zeros((blocks * cell_px, blocks * cell_px, 3), dtype=np.uint8)
    map_sun = random_sun(rng, scenes[0])
    for k, scene in enumerate(scenes):
        tile = render(scene, nadir_orthographic(np.zeros(2), cell_px * gsd_m, cell_px), map_sun, haze=False)
        r, c = rows[k], cols[k]
        mosaic[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px] = sensor(tile, rng, 1.0)
    east0, north0 = (round(v[0]) for v in transform("EPSG:4326", CRS, [ORIGIN_LON_LAT[0]], [ORIGIN_LON_LAT[1]]))
    side = blocks * cell_px * gsd_m
    profile = {"driver": "GTiff", "width": mosaic.shape[1], "height": mosaic.shape[0], "count": 3, "dtype": "uint8"}
    profile |= {"crs": CRS, "transform": from_origin(east0, north0 + side, gsd_m, gsd_m), "compress": "deflate"}
    with rasterio.open(partial / "map.tif", "w", **profile, tiled=True, blockxsize=256, blockysize=256) as ds:
        ds.write(np.moveaxis(mosaic, -1, 0))

    photo_sun = random_sun(rng, scenes[0])  # the drone flies on another day than the satellite's
    shadows = [ShadowMap(scene, photo_sun) for scene in scenes]
    records = []
    for i in range(n_photos):
        label = float(rng.choice(heights))
        height = label * dom.altitude_scale
        # The footprint's corner (half the diagonal), moved by at most the 6-degree tilt, stays on the map.
        reach = height * (np.tan(np.radians(DRONE_FOV_DEG / 2)) * np.sqrt(2) + np.tan(np.radians(6.0))) + 2.0
        xy = rng.uniform(reach, side - reach, size=2)
        tilt = np.tan(np.radians(rng.uniform(0, 6.0))) * height
        look = np.r_[xy + rng.normal(0, 1.0, size=2) * tilt, 0.0]
        heading = rng.uniform(0, 360)
        up = np.array([np.sin(np.radians(heading)), np.cos(np.radians(heading)), 0.0])
        image = _photo(scenes, centres, cell, np.r_[xy, height], look, up, image_size, photo_sun, shadows)
        east, north = east0 + xy[0], north0 + xy[1]
        (lon,), (lat,) = transform(CRS, "EPSG:4326", [east], [north])
        name = f"photos/{i:03d}.jpg"
        Image.fromarray(sensor(image, rng)).save(partial / name, quality=92, exif=gps_exif(lat, lon, label, heading))
        records.append(
            {"photo": name, "lat": lat, "lon": lon, "east": east, "north": north, "altitude": label, "heading": heading}
        )
    truth = pd.DataFrame(records)
    truth.to_csv(partial / "truth.csv", index=False, float_format="%.8f")
    partial.rename(out)
    return truth


def training_area_name(i: int) -> str:
    """The folder of training area ``i`` in :func:`write_training_areas`'s output."""
    return f"area_{i:02d}"


def _no_finalize(partial: Path, records: dict) -> None:
    """The areas are independent: nothing is written across them."""


def _training_area(partial: Path, name: str, seed: tuple[int, ...], params: dict) -> dict:
    truth = write_locate_map(partial / name, seed=seed, **params)
    return {"area": name, "photos": len(truth)}


def write_training_areas(
    out_dir: str | Path, *, seed: int, n_areas: int, n_photos: int, workers: int = 1, **params
) -> list[str]:
    """Write ``n_areas`` areas like :func:`write_locate_map`'s, ``area_NN/`` each, for ``geolink tune``.

    They are other places than the stage's own area (seeded ``(seed, salt, i)``, the area itself ``seed``), so a
    model tuned on them is tested on ground it never saw. Built resumably, area by area, in ``workers`` processes.

    Returns:
        The area folders' names.
    """
    from geolink.resumable import build_tree

    names = [training_area_name(i) for i in range(n_areas)]
    jobs = [(name, (name, (seed, _TRAIN_SALT, i), {**params, "n_photos": n_photos})) for i, name in enumerate(names)]
    settings = {"seed": seed, "n_areas": n_areas, "n_photos": n_photos, **params}
    build_tree(
        out_dir,
        settings,
        jobs,
        _training_area,
        finalize=lambda partial, records: None,
        workers=workers,
        desc="training areas",
    )
    return names


def map_footprint(domain: str, heights: list[int]) -> float:
    """The tile footprint of the synthetic area: DenseUAV's satellite tile at the middle of ``heights``."""
    from geolink.synth.views import nadir_footprint

    return nadir_footprint(float(np.median(heights)), get_domain(domain))
