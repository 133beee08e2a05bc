"""Procedural 2.5D city blocks: one scene per location.

A scene lives in its own *block frame* (x along the block's streets, y across, z up, metres,
origin at the target building); the whole block is rotated by ``yaw`` into the world frame
(x east, y north, z up), so satellite tiles, which stay north-up, see streets at arbitrary
angles, as on real campuses. All primitives are axis-aligned in the block frame, which keeps
ray intersection a slab test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geolink.synth.domains import Domain

BUILDING, EQUIPMENT, CAR = 0, 1, 2


@dataclass
class Scene:
    """Geometry and materials of one location, in the block frame.

    Attributes:
        domain: the visual domain the scene was drawn from.
        seed: texture seed (noise fields are functions of position and this seed).
        yaw: rotation of the block frame into the world frame, radians, counter-clockwise.
        half_extent: scene content lies within [-half_extent, half_extent]^2 in the block frame.
        box_lo, box_hi: ``[B, 3]`` opposite corners of the boxes (buildings, rooftop equipment, cars).
        box_kind: ``[B]`` BUILDING, EQUIPMENT or CAR; box 0 is the target building.
        wall_color, roof_color: ``[B, 3]`` albedo.
        window: ``[B, 2]`` window spacing along the wall and floor height, metres (buildings only).
        tree_center, tree_radii: ``[T, 3]`` ellipsoid crowns.
        tree_color: ``[T, 3]``.
        roads: ``[R, 3]`` rows of (axis, offset, width); axis 0 runs along x at y = offset, axis 1 along y.
        parking: ``[P, 4]`` parking lots (x0, y0, x1, y1).
    """

    domain: Domain
    seed: int
    yaw: float
    half_extent: float
    box_lo: np.ndarray
    box_hi: np.ndarray
    box_kind: np.ndarray
    wall_color: np.ndarray
    roof_color: np.ndarray
    window: np.ndarray
    tree_center: np.ndarray
    tree_radii: np.ndarray
    tree_color: np.ndarray
    roads: np.ndarray
    parking: np.ndarray

    @property
    def rotation(self) -> np.ndarray:
        """``[3, 3]`` block-to-world rotation about z."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """Block-frame points ``[..., 3]`` to world frame."""
        return points @ self.rotation.T

    def to_block(self, points: np.ndarray) -> np.ndarray:
        """World-frame points or directions ``[..., 3]`` to block frame."""
        return points @ self.rotation

    def target_center(self) -> np.ndarray:
        """Centre of the target building's footprint at mid height, world frame ``[3]``."""
        return self.to_world(np.array([*(0.5 * (self.box_lo[0, :2] + self.box_hi[0, :2])), 0.4 * self.box_hi[0, 2]]))

    def with_cars(self, rng: np.random.Generator) -> Scene:
        """The same place on another day: the parked cars moved. Used for DenseUAV's two capture dates."""
        keep = self.box_kind != CAR
        cars = _place_cars(rng, self.domain, self.roads, self.parking, self._occupied(keep))
        return _replace_boxes(self, keep, cars)

    def _occupied(self, keep: np.ndarray) -> list[tuple[float, float, float, float]]:
        return [(lo[0], lo[1], hi[0], hi[1]) for lo, hi in zip(self.box_lo[keep], self.box_hi[keep], strict=True)]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _overlaps(rect, rects, margin: float) -> bool:
    x0, y0, x1, y1 = rect
    return any(x0 < b[2] + margin and b[0] < x1 + margin and y0 < b[3] + margin and b[1] < y1 + margin for b in rects)


def _on_road(rect, roads: np.ndarray, margin: float) -> bool:
    x0, y0, x1, y1 = rect
    for axis, offset, width in roads:
        lo, hi = (y0, y1) if axis == 0 else (x0, x1)
        if lo < offset + width / 2 + margin and offset - width / 2 - margin < hi:
            return True
    return False


def _place_cars(rng, domain: Domain, roads: np.ndarray, parking: np.ndarray, occupied) -> list:
    """Cars as small boxes along the road edges and in the parking lots."""
    cars = []
    for _ in range(rng.integers(domain.n_cars[0], domain.n_cars[1] + 1)):
        length, width, height = rng.uniform(4.0, 5.0), rng.uniform(1.7, 2.0), rng.uniform(1.4, 1.7)
        if len(parking) and rng.random() < 0.5:
            x0, y0, x1, y1 = parking[rng.integers(len(parking))]
            cx, cy = rng.uniform(x0 + 2, x1 - 2), rng.uniform(y0 + 3, y1 - 3)
            along_x = False
        elif len(roads):
            axis, offset, road_width = roads[rng.integers(len(roads))]
            lane = offset + rng.choice([-1, 1]) * road_width / 4
            pos = rng.uniform(-0.8, 0.8) * domain.half_extent
            cx, cy = (pos, lane) if axis == 0 else (lane, pos)
            along_x = axis == 0
        else:
            continue
        dx, dy = (length, width) if along_x else (width, length)
        rect = (cx - dx / 2, cy - dy / 2, cx + dx / 2, cy + dy / 2)
        if _overlaps(rect, occupied + [c[0] for c in cars], 0.5):
            continue
        color = rng.choice(
            [(0.85, 0.85, 0.85), (0.1, 0.1, 0.12), (0.6, 0.1, 0.1), (0.15, 0.25, 0.55), (0.7, 0.7, 0.72)]
        )
        cars.append((rect, height, np.asarray(color) * rng.uniform(0.9, 1.1)))
    return cars


def _replace_boxes(scene: Scene, keep: np.ndarray, cars: list) -> Scene:
    lo = [scene.box_lo[keep]] + [np.array([[r[0], r[1], 0.0]]) for r, _, _ in cars]
    hi = [scene.box_hi[keep]] + [np.array([[r[2], r[3], h]]) for r, h, _ in cars]
    colors = [c for _, _, c in cars]
    return Scene(
        domain=scene.domain,
        seed=scene.seed,
        yaw=scene.yaw,
        half_extent=scene.half_extent,
        box_lo=np.concatenate(lo),
        box_hi=np.concatenate(hi),
        box_kind=np.concatenate([scene.box_kind[keep], np.full(len(cars), CAR)]),
        wall_color=np.concatenate([scene.wall_color[keep], np.reshape(colors, (-1, 3))]),
        roof_color=np.concatenate([scene.roof_color[keep], np.reshape(colors, (-1, 3))]),
        window=np.concatenate([scene.window[keep], np.zeros((len(cars), 2))]),
        tree_center=scene.tree_center,
        tree_radii=scene.tree_radii,
        tree_color=scene.tree_color,
        roads=scene.roads,
        parking=scene.parking,
    )


def generate_scene(rng: np.random.Generator, domain: Domain) -> Scene:
    """Draw one location: a target building at the centre, neighbours, roads, trees and cars.

    Args:
        rng: the location's generator; the scene is a pure function of its state.
        domain: style parameters, including the populated half extent.
    """
    half_extent = domain.half_extent
    seed = int(rng.integers(0, 2**31 - 1))
    yaw = float(rng.uniform(0, 2 * np.pi))
    limit = half_extent - 6.0

    # The target building sits at the origin; everything else keeps clear of it.
    tw, td = _uniform(rng, domain.target_footprint), _uniform(rng, domain.target_footprint) * rng.uniform(0.6, 1.0)
    rects = [(-tw / 2, -td / 2, tw / 2, td / 2)]
    heights = [_uniform(rng, domain.target_height)]

    roads = []
    for axis in (0, 1):
        for _ in range(rng.integers(domain.n_roads[0], domain.n_roads[1] + 1)):
            width = _uniform(rng, domain.road_width)
            clear = (td if axis == 0 else tw) / 2 + width / 2 + 6.0
            offset = rng.choice([-1, 1]) * rng.uniform(clear, clear + 30.0)
            if all(abs(offset - o) > width + 20 for a, o, _ in roads if a == axis):
                roads.append((axis, offset, width))
    roads = np.asarray(roads, dtype=float).reshape(-1, 3)

    parking = []
    for _ in range(rng.integers(0, 3)):
        w, d = rng.uniform(15, 30), rng.uniform(12, 22)
        x, y = rng.uniform(-limit, limit - w), rng.uniform(-limit, limit - d)
        rect = (x, y, x + w, y + d)
        if not _overlaps(rect, rects + parking, 3.0) and not _on_road(rect, roads, 1.0):
            parking.append(rect)

    n_buildings = rng.integers(domain.n_buildings[0], domain.n_buildings[1] + 1)
    for _ in range(n_buildings * 20):
        if len(rects) > n_buildings:
            break
        w, d = _uniform(rng, domain.footprint), _uniform(rng, domain.footprint) * rng.uniform(0.5, 1.2)
        x, y = rng.uniform(-limit, limit - w), rng.uniform(-limit, limit - d)
        rect = (x, y, x + w, y + d)
        if _overlaps(rect, rects + parking, 4.0) or _on_road(rect, roads, 2.0):
            continue
        rects.append(rect)
        # One building in five is a tower, so skylines differ between locations.
        heights.append(_uniform(rng, domain.height) * (rng.uniform(1.5, 2.2) if rng.random() < 0.2 else 1.0))

    lo = [(r[0], r[1], 0.0) for r in rects]
    hi = [(r[2], r[3], h) for r, h in zip(rects, heights, strict=True)]
    kind = [BUILDING] * len(rects)
    facades = np.asarray(domain.facades)
    roofs = np.asarray(domain.roofs)
    # One material per building: walls and roof take the same palette entry and the same tint (brightness times a
    # per-channel cast), as brick halls go with tiled roofs. It is what a street photo (walls) and a satellite tile
    # (roofs) of one place have in common beyond the layout; drawn independently, the two views share no cue.
    material = [rng.integers(len(facades)) for _ in rects]
    tint = [rng.uniform(0.85, 1.1) * rng.uniform(0.9, 1.1, size=3) for _ in rects]
    wall = [facades[m] * t for m, t in zip(material, tint, strict=True)]
    roof = [roofs[m] * t for m, t in zip(material, tint, strict=True)]
    window = [(rng.uniform(2.8, 4.2), rng.uniform(3.0, 3.6)) for _ in rects]

    # Rooftop equipment (HVAC boxes, stair houses): small boxes that make roofs distinctive from above.
    for (x0, y0, x1, y1), h, k in zip(rects, heights, range(len(rects)), strict=True):
        for _ in range(rng.integers(1 if k == 0 else 0, 4 if k == 0 else 3)):
            w, d = rng.uniform(1.5, 5.0), rng.uniform(1.5, 5.0)
            if x1 - x0 < w + 3 or y1 - y0 < d + 3:
                continue
            ex, ey = rng.uniform(x0 + 1.5, x1 - 1.5 - w), rng.uniform(y0 + 1.5, y1 - 1.5 - d)
            lo.append((ex, ey, h))
            hi.append((ex + w, ey + d, h + rng.uniform(1.0, 3.0)))
            kind.append(EQUIPMENT)
            grey = rng.uniform(0.45, 0.8)
            wall.append(np.array([grey, grey, grey * 1.02]))
            roof.append(np.array([grey, grey, grey]) * 1.05)
            window.append((0.0, 0.0))

    centers, radii, colors = [], [], []
    n_trees = rng.integers(domain.n_trees[0], domain.n_trees[1] + 1)
    for _ in range(n_trees * 10):
        if len(centers) >= n_trees:
            break
        r = _uniform(rng, domain.tree_radius)
        x, y = rng.uniform(-half_extent, half_extent, size=2)
        rect = (x - r, y - r, x + r, y + r)
        if _overlaps(rect, rects, 1.0) or _on_road(rect, roads, 0.5) or _overlaps(rect, parking, 0.5):
            continue
        trunk = rng.uniform(1.5, 3.5)
        rz = r * rng.uniform(0.8, 1.3)
        centers.append((x, y, trunk + rz))
        radii.append((r, r * rng.uniform(0.85, 1.15), rz))
        colors.append(np.asarray(domain.foliage) * rng.uniform(0.75, 1.25))

    scene = Scene(
        domain=domain,
        seed=seed,
        yaw=yaw,
        half_extent=half_extent,
        box_lo=np.asarray(lo, dtype=float),
        box_hi=np.asarray(hi, dtype=float),
        box_kind=np.asarray(kind, dtype=np.int8),
        wall_color=np.clip(np.asarray(wall, dtype=float), 0, 1),
        roof_color=np.clip(np.asarray(roof, dtype=float), 0, 1),
        window=np.asarray(window, dtype=float),
        tree_center=np.asarray(centers, dtype=float).reshape(-1, 3),
        tree_radii=np.asarray(radii, dtype=float).reshape(-1, 3),
        tree_color=np.clip(np.asarray(colors, dtype=float).reshape(-1, 3), 0, 1),
        roads=roads,
        parking=np.asarray(parking, dtype=float).reshape(-1, 4),
    )
    return scene.with_cars(rng)
