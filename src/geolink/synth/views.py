"""Where the synthetic cameras go, per real dataset, and what the capture does to the pixels.

Each function mirrors how the real dataset was captured (``docs/synthetic.md`` gives the
mapping): University-1652's descending spiral around the building, SUES-200's per-height video
arcs, DenseUAV's near-nadir shots at 80/90/100 m, north-up orthographic satellite tiles, street
views from the sidewalk and degraded web photos. Altitudes are the real datasets' labels; the
camera flies at ``label x domain.altitude_scale`` because synthetic scenes are about half scale.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from geolink.synth.camera import OrthographicCamera, PerspectiveCamera, look_at, nadir_orthographic
from geolink.synth.render import Sun
from geolink.synth.scene import Scene

DRONE_FOV_DEG = 60.0


def random_sun(rng: np.random.Generator, scene: Scene) -> Sun:
    """A sun position from the domain's elevation range and any azimuth."""
    return Sun.from_angles(rng.uniform(0, 360), rng.uniform(*scene.domain.sun_elevation_deg))


def satellite_camera(
    scene: Scene, size: int, extent: float, rng: np.random.Generator, jitter: float = 2.0
) -> OrthographicCamera:
    """North-up nadir tile centred on the target (a few metres of geo-registration error)."""
    center = scene.target_center()[:2] + rng.normal(0, jitter, size=2)
    return nadir_orthographic(center, extent, size)


def orbit_camera(
    scene: Scene,
    altitude_label: float,
    azimuth_deg: float,
    size: int,
    rng: np.random.Generator,
    radius_ratio: float = 1.15,
) -> PerspectiveCamera:
    """An oblique drone view from ``azimuth_deg`` (clockwise from north) looking at the target."""
    target = scene.target_center()
    height = altitude_label * scene.domain.altitude_scale
    radius = height * radius_ratio * rng.uniform(0.92, 1.08)
    az = np.radians(azimuth_deg + rng.normal(0, 2.0))
    eye = target + np.array([radius * np.sin(az), radius * np.cos(az), height - target[2]])
    return look_at(eye, target + np.r_[rng.normal(0, 2.0, size=2), 0.0], DRONE_FOV_DEG, size, size)


def spiral_cameras(
    scene: Scene, n_views: int, size: int, rng: np.random.Generator, altitudes=(256.0, 121.0), turns: float = 2.0
):
    """University-1652's flight: a spiral descending from 256 m to 121 m around the building.

    Returns a list of (altitude label, camera).
    """
    start = rng.uniform(0, 360)
    labels = np.linspace(altitudes[0], altitudes[1], n_views)
    azimuths = start + np.arange(n_views) * 360.0 * turns / n_views
    return [(float(a), orbit_camera(scene, a, az, size, rng)) for a, az in zip(labels, azimuths, strict=True)]


def arc_cameras(
    scene: Scene, altitude_label: float, n_views: int, size: int, rng: np.random.Generator, sweep_deg: float = 120.0
):
    """SUES-200's per-height video: frames sampled along an arc around the target at one height."""
    start = rng.uniform(0, 360)
    azimuths = start + np.linspace(0, sweep_deg, n_views, endpoint=False)
    return [orbit_camera(scene, altitude_label, az, size, rng, radius_ratio=1.25) for az in azimuths]


def nadir_camera(
    scene: Scene, altitude_label: float, size: int, rng: np.random.Generator, tilt_deg: float = 6.0
) -> PerspectiveCamera:
    """DenseUAV's near-nadir shot: straight down from above the target, random heading, small tilt."""
    target = scene.target_center()
    target[2] = 0.0
    height = altitude_label * scene.domain.altitude_scale
    eye = target + np.r_[rng.normal(0, 3.0, size=2), height]
    tilt = np.tan(np.radians(rng.uniform(0, tilt_deg))) * height
    look = target + np.r_[rng.normal(0, 1.0, size=2) * tilt, 0.0]
    heading = np.radians(rng.uniform(0, 360))
    return look_at(eye, look, DRONE_FOV_DEG, size, size, up=np.array([np.sin(heading), np.cos(heading), 0.0]))


def nadir_footprint(altitude_label: float, domain) -> float:
    """Ground side in metres seen straight down from ``altitude_label`` (DenseUAV's satellite tile of that height)."""
    return 2 * altitude_label * domain.altitude_scale * float(np.tan(np.radians(DRONE_FOV_DEG / 2)))


def street_camera(scene: Scene, size: int, rng: np.random.Generator) -> PerspectiveCamera:
    """A pedestrian's photo of the target building from the sidewalk of a nearby road, 1.7 m up."""
    axis, offset, width = scene.roads[rng.integers(len(scene.roads))]
    side = np.sign(offset) if offset != 0 else 1.0
    across = offset - side * (width / 2 + 1.0)  # the sidewalk on the target's side of the road
    along = rng.uniform(-25.0, 25.0)
    eye_block = np.array([along, across, 1.7]) if axis == 0 else np.array([across, along, 1.7])
    eye = scene.to_world(eye_block)
    target = scene.target_center() + np.r_[rng.normal(0, 3.0, size=2), rng.uniform(0, 6.0)]
    return look_at(eye, target, rng.uniform(65.0, 80.0), size, size)


def web_camera(scene: Scene, size: int, rng: np.random.Generator) -> PerspectiveCamera:
    """A tourist or press photo: anywhere from street level to a rooftop across the road."""
    target = scene.target_center()
    az = rng.uniform(0, 2 * np.pi)
    distance = rng.uniform(45.0, 90.0)
    eye = target + np.array([distance * np.sin(az), distance * np.cos(az), rng.uniform(2.0, 35.0) - target[2]])
    return look_at(eye, target + np.r_[rng.normal(0, 4.0, size=3)], rng.uniform(45.0, 75.0), size, size)


# --------------------------------------------------------------------------------------------
# Capture effects
# --------------------------------------------------------------------------------------------


def sensor(image: np.ndarray, rng: np.random.Generator, sigma: float = 2.0) -> np.ndarray:
    """Mild per-pixel sensor noise, so no two renders of the same pose are byte-identical textures."""
    noisy = image.astype(np.float32) + rng.normal(0, sigma, size=image.shape)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def date_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another capture date of a satellite tile: a seasonal colour cast and less contrast."""
    cast = np.array([rng.uniform(1.0, 1.12), rng.uniform(0.95, 1.05), rng.uniform(0.8, 0.95)])
    mean = image.reshape(-1, 3).mean(axis=0)
    shifted = (image.astype(np.float32) - mean) * rng.uniform(0.75, 0.9) + mean
    return np.clip(shifted * cast, 0, 255).astype(np.uint8)


def web_degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Internet-photo damage: crop, colour grading, blur, noise, heavy JPEG and sometimes a caption bar."""
    h, w = image.shape[:2]
    keep = rng.uniform(0.6, 0.9)
    ch, cw = int(h * keep), int(w * keep)
    r0, c0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    pil = Image.fromarray(image[r0 : r0 + ch, c0 : c0 + cw]).resize((w, h), Image.BILINEAR)
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    arr = np.asarray(pil).astype(np.float32)
    arr = arr * rng.uniform(0.8, 1.25, size=3) + rng.uniform(-20, 20)
    arr += rng.normal(0, rng.uniform(2, 8), size=arr.shape)
    if rng.random() < 0.4:
        bar = int(h * rng.uniform(0.08, 0.15))
        arr[-bar:] = arr[-bar:] * 0.3 + rng.uniform(0, 255, size=3) * 0.7
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="JPEG", quality=int(rng.integers(20, 50)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
