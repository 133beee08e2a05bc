"""Distances on the Earth and the local metric frame the position estimate works in.

Tile centres are stored in two systems: the map's own CRS (what a GIS shows) and WGS 84 latitude/longitude
(what EXIF GPS and a flight log give). Everything that needs metres (the agreement radius, the weighted mean, the
error of an estimate) works in a local east/north frame around a reference point, which over the few kilometres a
drone photo and its candidate tiles span is exact to well under a metre; distances between any two points use the
haversine formula on the mean Earth radius (IUGG, 6,371,008.8 m), which is within 0.5 % of the ellipsoid.
"""

from __future__ import annotations

import numpy as np

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (broadcasting arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def to_local(lat, lon, lat0: float, lon0: float) -> np.ndarray:
    """Degrees -> ``[..., 2]`` metres east and north of (lat0, lon0) (equirectangular, local use only)."""
    east = np.radians(np.asarray(lon) - lon0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    north = np.radians(np.asarray(lat) - lat0) * EARTH_RADIUS_M
    return np.stack([east, north], axis=-1)


def from_local(east_north: np.ndarray, lat0: float, lon0: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_local`: ``[..., 2]`` metres -> (lat, lon) in degrees."""
    east_north = np.asarray(east_north, dtype=float)
    lat = lat0 + np.degrees(east_north[..., 1] / EARTH_RADIUS_M)
    lon = lon0 + np.degrees(east_north[..., 0] / (EARTH_RADIUS_M * np.cos(np.radians(lat0))))
    return lat, lon


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Ground metres per degree of longitude and of latitude at ``lat`` (on the mean sphere)."""
    per_degree = np.radians(1.0) * EARTH_RADIUS_M
    return per_degree * float(np.cos(np.radians(lat))), per_degree
