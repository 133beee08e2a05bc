"""Deterministic value noise for procedural textures.

Textures are evaluated at shading time on the exact surface points a ray hits, so the same
surface point gets the same colour from every camera. That multi-view consistency is what
lets structure-from-motion match features across the synthetic drone views, and it needs a
noise that is a pure function of (coordinates, seed) rather than a pre-baked image.
"""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFF)


def _hash2(ix: np.ndarray, iy: np.ndarray, seed: int | np.ndarray) -> np.ndarray:
    """Integer lattice hash -> float in [0, 1). ``seed`` may be a scalar or an array broadcasting with ``ix``."""
    h = (ix.astype(np.uint64) * np.uint64(73856093)) ^ (iy.astype(np.uint64) * np.uint64(19349663))
    salt = (np.asarray(seed, dtype=np.int64).astype(np.uint64) * np.uint64(83492791)) & _MASK
    h = (h ^ salt) & _MASK
    # Two rounds of a xorshift-multiply mixer decorrelate neighbouring lattice points.
    h = ((h ^ (h >> np.uint64(16))) * np.uint64(0x45D9F3B)) & _MASK
    h = ((h ^ (h >> np.uint64(16))) * np.uint64(0x45D9F3B)) & _MASK
    h = h ^ (h >> np.uint64(16))
    return (h & np.uint64(0xFFFFFF)).astype(np.float64) / float(0x1000000)


def hash_cells(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A random value in [0, 1) per integer cell, e.g. one brightness per window."""
    return _hash2(np.asarray(ix, dtype=np.int64), np.asarray(iy, dtype=np.int64), seed)


def value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth 2D value noise in [0, 1): bilinear interpolation of lattice hashes with smoothstep.

    Args:
        x, y: coordinates of any (equal) shape, in lattice units.
        seed: selects an independent noise field.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    ix = x0.astype(np.int64)
    iy = y0.astype(np.int64)
    sx = fx * fx * (3.0 - 2.0 * fx)
    sy = fy * fy * (3.0 - 2.0 * fy)
    v00 = _hash2(ix, iy, seed)
    v10 = _hash2(ix + 1, iy, seed)
    v01 = _hash2(ix, iy + 1, seed)
    v11 = _hash2(ix + 1, iy + 1, seed)
    top = v00 + (v10 - v00) * sx
    bottom = v01 + (v11 - v01) * sx
    return top + (bottom - top) * sy


def fbm(x: np.ndarray, y: np.ndarray, seed: int, octaves: int = 4, lacunarity: float = 2.0) -> np.ndarray:
    """Fractal (multi-octave) value noise normalised to [0, 1)."""
    total = np.zeros(np.broadcast(x, y).shape)
    amplitude, frequency, norm = 1.0, 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(np.asarray(x) * frequency, np.asarray(y) * frequency, seed + 7919 * octave)
        norm += amplitude
        amplitude *= 0.5
        frequency *= lacunarity
    return total / norm
