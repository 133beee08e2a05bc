"""Distances on the Earth and the local metric frame the position estimate works in.

Tile centres are stored in two systems: the map's own CRS (what a GIS shows) and WGS 84 latitude/longitude
(what EXIF GPS and a flight log give). Everything that needs metres over the few kilometres a photo and its
candidate tiles span (a map pixel's ground size, the agreement radius, the weighted mean) works in a local
east/north frame around a reference point, scaled by the lengths of a degree of latitude and longitude on the
WGS 84 ellipsoid at that point (the standard series, e.g. https://en.wikipedia.org/wiki/Latitude#Meridian_distance_on_the_ellipsoid
and the "Length of a degree" table: 110,574 / 111,320 m at the equator, 110,852 / 96,486 m at 30 degrees), which
is exact to a few centimetres per kilometre. The error of an estimate is a great-circle (haversine) distance on
the mean Earth radius (IUGG, 6,371,008.8 m), within 0.5 % of the ellipsoid's: a few centimetres at 25 m.
"""

from __future__ import annotations

import numpy as np

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1, lon1, lat2, lon2, radius_m: float = EARTH_RADIUS_M) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (broadcasting arrays), on a sphere of
    ``radius_m`` (DenseUAV's MA@K uses its reference's 6,378,137 m: ``geolink.evaluation.retrieval``)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * radius_m * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at ``lat`` on the WGS 84 ellipsoid (series to cos 6 phi)."""
    phi = np.radians(lat)
    per_lat = 111_132.92 - 559.82 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi) - 0.0023 * np.cos(6 * phi)
    per_lon = 111_412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi) + 0.118 * np.cos(5 * phi)
    return float(per_lon), float(per_lat)


def to_local(lat, lon, lat0: float, lon0: float) -> np.ndarray:
    """Degrees -> ``[..., 2]`` metres east and north of (lat0, lon0) (local use: within a few kilometres)."""
    per_lon, per_lat = metres_per_degree(lat0)
    return np.stack([(np.asarray(lon) - lon0) * per_lon, (np.asarray(lat) - lat0) * per_lat], axis=-1)


def from_local(east_north: np.ndarray, lat0: float, lon0: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_local`: ``[..., 2]`` metres -> (lat, lon) in degrees."""
    per_lon, per_lat = metres_per_degree(lat0)
    east_north = np.asarray(east_north, dtype=float)
    return lat0 + east_north[..., 1] / per_lat, lon0 + east_north[..., 0] / per_lon
