"""One position per photo from its ranked tiles.

The best tile's centre is the plain answer. Overlapping tiles make a better one possible: a photo taken between
two tile centres matches both, and the neighbours of the best tile that also rank in the top k say on which side
of it the photo lies. So the estimate is the score-weighted mean of the centres of the top-k tiles that lie within
``radius_m`` of the best tile's centre (the best tile included), which is the best tile's centre itself when no
other top-k tile agrees with it. Tiles far from the best are another candidate place, not evidence about this
one, and are left out rather than averaged into a point between two places.
"""

from __future__ import annotations

import numpy as np

from geolink.locate.geo import from_local, to_local


def estimate_position(lat: np.ndarray, lon: np.ndarray, scores: np.ndarray, radius_m: float) -> dict:
    """Position estimate from the top-k tiles of one photo.

    Args:
        lat, lon: ``[k]`` tile centres in degrees, best first.
        scores: ``[k]`` their cosine scores.
        radius_m: Agreement radius around the best tile's centre, metres.

    Returns:
        ``lat``, ``lon`` of the estimate; ``method`` (``best_tile`` or ``weighted_mean``); ``n_agree`` (tiles
        averaged, the best included).
    """
    lat, lon, scores = (np.asarray(a, dtype=float) for a in (lat, lon, scores))
    local = to_local(lat, lon, lat[0], lon[0])  # metres east/north of the best tile's centre
    agree = np.linalg.norm(local, axis=1) <= radius_m
    agree[0] = True
    if agree.sum() == 1:
        return {"lat": float(lat[0]), "lon": float(lon[0]), "method": "best_tile", "n_agree": 1}
    weights = np.clip(scores[agree], 0.0, None)
    if weights.sum() <= 0:  # cosines at or below zero carry no preference: an unweighted mean
        weights = np.ones_like(weights)
    mean = (local[agree] * weights[:, None]).sum(axis=0) / weights.sum()
    est_lat, est_lon = from_local(mean, lat[0], lon[0])
    return {"lat": float(est_lat), "lon": float(est_lon), "method": "weighted_mean", "n_agree": int(agree.sum())}
