"""Synthetic University-1652: the release tree ``University-Release/{train,test}`` with the real names.

Layout written (``docs/synthetic.md`` and ``docs/datasets.md`` §1.2):

    University-Release/train/{drone,satellite,street,google}/<ID>/
    University-Release/test/{query,gallery}_{drone,satellite,street}/<ID>/
    University-Release/test/gallery_satellite_160k/<15 letters and digits>.jpg   (University-160k distractors)
    geometry/<ID>.npz            (not in the real release: truth point cloud and drone poses)

Drone images are ``image-01.jpeg`` ... along a descending spiral, satellites ``<ID>/<ID>.jpg``.
Test galleries hold the query locations plus distractor locations that have no query, as the
real release's 250 extra buildings; some ``train/google/<ID>`` folders are left empty on
purpose, as in the real release, and a share of the web photos are noise, as the real ones are: a
blank placeholder or a photo of another building (``geometry/google.csv`` says which, for measuring
SkyLink's Google Retrieval Enhancement Module). With ``n_160k_distractors``, University-160k's extra gallery
is written too: satellite tiles of places no location has, in one flat folder under random names.
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
from geolink.synth.views import (
    random_sun,
    satellite_camera,
    sensor,
    spiral_cameras,
    street_camera,
    web_camera,
    web_degrade,
)
from geolink.synth.writer import save_image

ROOT = "University-Release"
_SALT = zlib.crc32(b"university1652")


def location_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SALT, index])


def assign_ids(seed: int, n_train: int, n_test: int, n_distractors: int) -> dict[str, str]:
    """4-digit IDs drawn without replacement; role per ID: train, query (test, with queries) or distractor."""
    total = n_train + n_test + n_distractors
    ids = [f"{i:04d}" for i in np.random.default_rng([seed, _SALT]).permutation(total)]
    roles = ["query"] * n_test + ["distractor"] * n_distractors + ["train"] * n_train
    return dict(sorted(zip(ids, roles, strict=True)))


def _location(partial: Path, loc: str, role: str, index: int, p: dict) -> dict:
    rng = location_rng(p["seed"], index)
    domain = get_domain(p["domain"])
    scene = generate_scene(rng, domain)
    size = p["image_size"]
    root = partial / ROOT
    if role == "160k":  # a University-160k distractor: one satellite tile of a place no location has
        sat = render(scene, satellite_camera(scene, size, p["satellite_extent"], rng), random_sun(rng, scene))
        save_image(sensor(sat, rng, 1.0), root / "test/gallery_satellite_160k" / f"{loc}.jpg")
        return {"location": loc, "role": role, "domain": domain.name, "google": {}}

    sun = random_sun(rng, scene)
    shadows = ShadowMap(scene, sun)
    drone_dir = (
        root
        / ("train/drone" if role == "train" else "test/query_drone" if role == "query" else "test/gallery_drone")
        / loc
    )
    posed = []
    for k, (_, cam) in enumerate(spiral_cameras(scene, p["drone_views"], size, rng), start=1):
        path = drone_dir / f"image-{k:02d}.jpeg"
        save_image(sensor(render(scene, cam, sun, shadows), rng), path)
        posed.append((str(path.relative_to(root)), cam))

    # The satellite is captured on another day: its own sun (the cross-view illumination gap).
    sat_sun = random_sun(rng, scene)
    sat = render(scene, satellite_camera(scene, size, p["satellite_extent"], rng), sat_sun, haze=False)
    sat_folder = (
        "train/satellite"
        if role == "train"
        else "test/query_satellite"
        if role == "query"
        else "test/gallery_satellite"
    )
    save_image(sensor(sat, rng, 1.0), root / sat_folder / loc / f"{loc}.jpg")

    street_folders = {"train": ["train/street"], "query": ["test/query_street", "test/gallery_street"]}.get(role, [])
    if role == "distractor" and rng.random() < 0.5:  # the real gallery_street covers only some distractors
        street_folders = ["test/gallery_street"]
    for folder in street_folders:
        for k in range(p["street_views"]):
            img = render(scene, street_camera(scene, size, rng), sun, shadows)
            save_image(sensor(img, rng), root / folder / loc / f"{loc}_{k:02d}.jpg")

    google_kinds = {}
    if role == "train":
        google = root / "train/google" / loc
        google.mkdir(parents=True, exist_ok=True)
        # Noise draws come from their own generator, so the rest of the location is what it was without noise.
        noise_rng = np.random.default_rng([p["seed"], _SALT, index, 1])
        if rng.random() >= p["google_empty_fraction"]:
            for k in range(p["google_views"]):
                img = render(scene, web_camera(scene, size, rng), random_sun(rng, scene))
                photo = web_degrade(img, rng)
                kind = _google_kind(noise_rng, p["google_noise_fraction"])
                if kind == "foreign":  # a photo of another building: a scene no location of the dataset has
                    other = generate_scene(noise_rng, domain)
                    foreign = render(other, web_camera(other, size, noise_rng), random_sun(noise_rng, other))
                    photo = web_degrade(foreign, noise_rng)
                elif kind == "blank":  # a placeholder: one flat colour
                    photo = np.full_like(photo, noise_rng.integers(90, 230))
                save_image(photo, google / f"{k}.jpg")
                google_kinds[f"{k}.jpg"] = kind

    if role == "query":  # the real gallery_drone repeats every query drone image
        shutil.copytree(drone_dir, root / "test/gallery_drone" / loc)
        shutil.copytree(root / sat_folder / loc, root / "test/gallery_satellite" / loc)

    points, colors = sample_surface(scene, p["geometry_points"], rng)
    (partial / "geometry").mkdir(exist_ok=True)
    save_geometry(partial / "geometry" / f"{loc}.npz", points, colors, posed)
    return {"location": loc, "role": role, "domain": domain.name, "google": google_kinds}


def _google_kind(rng: np.random.Generator, noise_fraction: float) -> str:
    """What a web photo shows: its own building (``match``), or noise, half ``foreign`` and half ``blank``."""
    if rng.random() >= noise_fraction:
        return "match"
    return "foreign" if rng.random() < 0.5 else "blank"


def distractor_names(seed: int, n: int) -> list[str]:
    """File stems of the University-160k distractors: 15 random letters and digits, as the real release's."""
    rng = np.random.default_rng([seed, _SALT, 160])
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    return ["".join(rng.choice(alphabet, 15)) for _ in range(n)]


def write_university1652(
    out_dir: str | Path,
    *,
    seed: int,
    image_size: int,
    geometry_points: int,
    workers: int = 1,
    n_160k_distractors: int = 0,
    **cfg,
) -> dict:
    """Write the synthetic University-1652 tree into ``out_dir`` (see module docstring).

    Args:
        n_160k_distractors: University-160k distractor tiles in ``test/gallery_satellite_160k/`` (0: none).
        cfg: ``domain``, ``n_train``, ``n_test``, ``n_distractors``, ``drone_views``, ``street_views``,
            ``google_views``, ``google_empty_fraction``, ``google_noise_fraction``, ``satellite_extent`` (config
            keys, see the schema).
    """
    params = {"seed": seed, "image_size": image_size, "geometry_points": geometry_points, **cfg}
    ids = assign_ids(seed, cfg["n_train"], cfg["n_test"], cfg["n_distractors"])
    jobs = [(loc, (loc, role, int(loc), params)) for loc, role in ids.items()]
    if n_160k_distractors:
        params["n_160k_distractors"] = n_160k_distractors  # a tree written without them stays valid as it was
        first = len(ids)  # scenes drawn after every location's, so none repeats a location
        for j, name in enumerate(distractor_names(seed, n_160k_distractors)):
            jobs.append((name, (name, "160k", first + j, params)))
    return build_tree(
        out_dir, params, jobs, _location, finalize=_make_empty_folders, workers=workers, desc="University-1652"
    )


FOLDERS = (
    "train/drone",
    "train/satellite",
    "train/street",
    "train/google",
    "test/query_drone",
    "test/gallery_drone",
    "test/query_satellite",
    "test/gallery_satellite",
    "test/query_street",
    "test/gallery_street",
)


def _make_empty_folders(partial: Path, records: dict) -> None:
    """Every view folder exists even when the configuration leaves it empty (e.g. ``street_views: 0``); the truth
    of the web photos goes to ``geometry/google.csv`` (location, file, kind: match, foreign or blank)."""
    for folder in FOLDERS:
        (partial / ROOT / folder).mkdir(parents=True, exist_ok=True)
    lines = ["location,file,kind"]
    for loc, record in sorted(records.items()):
        lines += [f"{loc},{name},{kind}" for name, kind in record.get("google", {}).items()]
    (partial / "geometry").mkdir(exist_ok=True)
    (partial / "geometry" / "google.csv").write_text("\n".join(lines) + "\n")
