"""Visual domains of the synthetic benchmark.

Each real dataset is written from its own domain, so training on one synthetic dataset and
testing on another is a genuine domain shift (architecture, palette, density, vegetation,
flight altitude), as University-1652 -> SUES-200 is on real data. The domains are named after
the place type they imitate, not after the dataset, because a user may remap them in config.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Domain:
    """Style parameters of one visual domain. Lengths in metres, colours RGB in [0, 1]."""

    name: str
    description: str
    grass: RGB  # ground colour where vegetation dominates
    dirt: RGB  # ground colour of bare soil patches
    asphalt: RGB
    sidewalk: RGB
    lane_marking: RGB
    facades: tuple[RGB, ...]  # one is drawn per building
    roofs: tuple[RGB, ...]
    glass: RGB  # window colour
    foliage: RGB
    sky_horizon: RGB
    sky_zenith: RGB
    n_buildings: tuple[int, int]  # buildings besides the central target, inclusive range
    target_footprint: tuple[float, float]  # side length range of the central target building
    footprint: tuple[float, float]  # side length range of the other buildings
    target_height: tuple[float, float]
    height: tuple[float, float]
    n_trees: tuple[int, int]
    tree_radius: tuple[float, float]
    n_roads: tuple[int, int]  # roads per axis
    road_width: tuple[float, float]
    n_cars: tuple[int, int]
    ground_feature_scale: float  # metres per ground-noise cell: smaller = busier ground
    sun_elevation_deg: tuple[float, float]
    haze_distance: float  # metres at which 63% of the colour is haze
    altitude_scale: float  # camera height = dataset altitude label x altitude_scale (scenes are ~1/2 scale)
    half_extent: float  # metres from the target to the edge of the populated area


CAMPUS = Domain(
    name="campus",
    description="University campus: brick and sandstone halls, red and grey roofs, lawns with trees",
    grass=(0.36, 0.50, 0.24),
    dirt=(0.55, 0.47, 0.34),
    asphalt=(0.30, 0.30, 0.31),
    sidewalk=(0.68, 0.64, 0.58),
    lane_marking=(0.92, 0.92, 0.88),
    facades=((0.62, 0.33, 0.25), (0.76, 0.64, 0.47), (0.70, 0.42, 0.31), (0.82, 0.78, 0.70)),
    roofs=((0.55, 0.22, 0.18), (0.42, 0.42, 0.44), (0.60, 0.30, 0.22), (0.35, 0.36, 0.40)),
    glass=(0.18, 0.24, 0.32),
    foliage=(0.20, 0.38, 0.14),
    sky_horizon=(0.78, 0.84, 0.90),
    sky_zenith=(0.40, 0.58, 0.85),
    n_buildings=(10, 16),
    target_footprint=(22.0, 36.0),
    footprint=(12.0, 24.0),
    target_height=(18.0, 34.0),
    height=(8.0, 20.0),
    n_trees=(35, 60),
    tree_radius=(2.5, 5.0),
    n_roads=(1, 2),
    road_width=(7.0, 10.0),
    n_cars=(3, 8),
    ground_feature_scale=22.0,
    sun_elevation_deg=(35.0, 60.0),
    haze_distance=900.0,
    altitude_scale=0.5,
    half_extent=100.0,
)

SUBURB = Domain(
    name="suburb",
    description="Industrial suburb: wide concrete sheds, light grey and blue metal roofs, dry soil, few trees",
    grass=(0.52, 0.54, 0.34),
    dirt=(0.66, 0.60, 0.48),
    asphalt=(0.40, 0.40, 0.40),
    sidewalk=(0.74, 0.73, 0.70),
    lane_marking=(0.95, 0.85, 0.30),
    facades=((0.78, 0.78, 0.76), (0.66, 0.68, 0.70), (0.85, 0.82, 0.74), (0.58, 0.60, 0.62)),
    roofs=((0.70, 0.72, 0.74), (0.30, 0.45, 0.65), (0.82, 0.82, 0.80), (0.50, 0.52, 0.55)),
    glass=(0.30, 0.38, 0.42),
    foliage=(0.30, 0.40, 0.18),
    sky_horizon=(0.85, 0.85, 0.82),
    sky_zenith=(0.55, 0.65, 0.80),
    n_buildings=(6, 10),
    target_footprint=(30.0, 46.0),
    footprint=(18.0, 34.0),
    target_height=(10.0, 22.0),
    height=(6.0, 14.0),
    n_trees=(8, 16),
    tree_radius=(2.0, 3.5),
    n_roads=(1, 1),
    road_width=(10.0, 14.0),
    n_cars=(6, 14),
    ground_feature_scale=35.0,
    sun_elevation_deg=(50.0, 70.0),
    haze_distance=600.0,
    altitude_scale=0.35,
    half_extent=105.0,
)

GARDEN_CITY = Domain(
    name="garden_city",
    description="Dense low-rise garden city: small white and teal blocks, dark tree canopy everywhere",
    grass=(0.24, 0.40, 0.20),
    dirt=(0.45, 0.40, 0.30),
    asphalt=(0.24, 0.25, 0.27),
    sidewalk=(0.60, 0.60, 0.60),
    lane_marking=(0.90, 0.90, 0.90),
    facades=((0.90, 0.90, 0.88), (0.80, 0.86, 0.84), (0.88, 0.80, 0.70), (0.72, 0.76, 0.80)),
    roofs=((0.25, 0.55, 0.55), (0.88, 0.88, 0.86), (0.35, 0.35, 0.38), (0.20, 0.40, 0.62)),
    glass=(0.12, 0.20, 0.22),
    foliage=(0.12, 0.30, 0.12),
    sky_horizon=(0.80, 0.86, 0.88),
    sky_zenith=(0.35, 0.55, 0.78),
    n_buildings=(18, 28),
    target_footprint=(16.0, 24.0),
    footprint=(9.0, 16.0),
    target_height=(14.0, 26.0),
    height=(6.0, 15.0),
    n_trees=(90, 130),
    tree_radius=(2.5, 4.5),
    n_roads=(1, 2),
    road_width=(6.0, 8.0),
    n_cars=(2, 6),
    ground_feature_scale=14.0,
    sun_elevation_deg=(30.0, 50.0),
    haze_distance=700.0,
    altitude_scale=0.9,
    half_extent=80.0,
)

DOMAINS: dict[str, Domain] = {d.name: d for d in (CAMPUS, SUBURB, GARDEN_CITY)}


def get_domain(name: str) -> Domain:
    """Look a domain up by exact name; the error lists the known names."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise KeyError(f"unknown synthetic domain {name!r}; known domains: {', '.join(sorted(DOMAINS))}") from None
