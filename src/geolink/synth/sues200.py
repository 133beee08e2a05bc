"""Synthetic SUES-200: the *raw* release tree, before the official split.

Layout written (``docs/datasets.md`` §2.2):

    SUES-200-512x512/drone_view_512/<ID>/<height>/<k>.jpg    heights 150/200/250/300, k = 0..
    SUES-200-512x512/satellite-view/<ID>/0.png
    indexs.yaml                  training IDs, in the format of the benchmark's script/indexs.yaml
    geometry/<ID>.npz            (not in the real release: truth point cloud and drone poses)

The per-height ``Training/`` and ``Testing/`` folders are then made by the same split step that
real data goes through (``geolink.data.sues200.split_sues200``).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import yaml

from geolink.resumable import build_tree
from geolink.synth.domains import get_domain
from geolink.synth.geometry import sample_surface, save_geometry
from geolink.synth.render import ShadowMap, render
from geolink.synth.scene import generate_scene
from geolink.synth.views import arc_cameras, random_sun, satellite_camera, sensor
from geolink.synth.writer import save_image

ROOT = "SUES-200-512x512"
_SALT = zlib.crc32(b"sues200")


def _location(partial: Path, loc: str, p: dict) -> dict:
    rng = np.random.default_rng([p["seed"], _SALT, int(loc)])
    scene = generate_scene(rng, get_domain(p["domain"]))
    size = p["image_size"]
    root = partial / ROOT
    sun = random_sun(rng, scene)
    shadows = ShadowMap(scene, sun)
    posed = []
    for height in p["heights"]:
        for k, cam in enumerate(arc_cameras(scene, height, p["frames_per_height"], size, rng)):
            path = root / "drone_view_512" / loc / str(height) / f"{k}.jpg"
            save_image(sensor(render(scene, cam, sun, shadows), rng), path)
            posed.append((str(path.relative_to(root)), cam))
    sat = render(scene, satellite_camera(scene, size, p["satellite_extent"], rng), random_sun(rng, scene), haze=False)
    save_image(sensor(sat, rng, 1.0), root / "satellite-view" / loc / "0.png")
    points, colors = sample_surface(scene, p["geometry_points"], rng)
    (partial / "geometry").mkdir(exist_ok=True)
    save_geometry(partial / "geometry" / f"{loc}.npz", points, colors, posed)
    return {"location": loc}


def training_ids(seed: int, n_locations: int, train_fraction: float) -> list[str]:
    """A fixed, scattered subset of IDs, like the official 120 of 200 (not simply the first ones)."""
    n_train = round(n_locations * train_fraction)
    picked = np.random.default_rng([seed, _SALT]).choice(n_locations, size=n_train, replace=False) + 1
    return [f"{i:04d}" for i in sorted(picked)]


def write_sues200(
    out_dir: str | Path, *, seed: int, image_size: int, geometry_points: int, workers: int = 1, **cfg
) -> dict:
    """Write the synthetic raw SUES-200 tree into ``out_dir`` (see module docstring).

    Args:
        cfg: ``domain``, ``n_locations``, ``train_fraction``, ``heights``, ``frames_per_height``,
            ``satellite_extent`` (config keys, see the schema).
    """
    params = {"seed": seed, "image_size": image_size, "geometry_points": geometry_points, **cfg}
    ids = [f"{i:04d}" for i in range(1, cfg["n_locations"] + 1)]
    train = training_ids(seed, cfg["n_locations"], cfg["train_fraction"])

    def write_index(partial: Path, records: dict) -> None:
        (partial / "indexs.yaml").write_text(
            yaml.safe_dump({"index": [int(i) for i in train]}, default_flow_style=True)
        )

    jobs = [(loc, (loc, params)) for loc in ids]
    return build_tree(out_dir, params, jobs, _location, finalize=write_index, workers=workers, desc="SUES-200")
