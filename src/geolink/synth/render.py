"""A small numpy ray tracer for the synthetic scenes.

Primary rays are intersected with the ground plane z = 0, the scene's axis-aligned boxes (slab
test) and ellipsoid tree crowns, each primitive only inside the pixel window its bounding box
projects to. Shading is albedo x (ambient + Lambert x shadow) with aerial haze; shadows come
from a shadow map (an orthographic depth image seen from the sun), computed once per scene and
sun and shared by every view lit by that sun.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geolink.synth.camera import OrthographicCamera, PerspectiveCamera
from geolink.synth.noise import fbm, hash_cells, value_noise
from geolink.synth.scene import BUILDING, CAR, Scene

SKY, GROUND, BOX, TREE = 0, 1, 2, 3
_EPS = 1e-4
Camera = PerspectiveCamera | OrthographicCamera


@dataclass
class Hits:
    """Nearest intersection per ray, arrays ``[H, W]`` (``point`` and ``normal`` ``[H, W, 3]``, block frame)."""

    t: np.ndarray
    kind: np.ndarray
    index: np.ndarray
    point: np.ndarray
    normal: np.ndarray


def _box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    xs, ys, zs = zip(lo, hi, strict=True)
    return np.array([[x, y, z] for x in xs for y in ys for z in zs])


def trace(scene: Scene, camera: Camera) -> Hits:
    """Intersect every pixel's ray with the scene."""
    origins, directions = camera.rays()
    o = scene.to_block(origins)
    d = scene.to_block(directions)
    d = np.where(np.abs(d) < 1e-9, 1e-9, d)
    shape = o.shape[:2]
    t = np.full(shape, np.inf)
    kind = np.zeros(shape, dtype=np.int8)
    index = np.zeros(shape, dtype=np.int32)

    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = -o[..., 2] / d[..., 2]
    ground = (d[..., 2] < 0) & (t_ground > _EPS)
    t[ground] = t_ground[ground]
    kind[ground] = GROUND

    for k in range(len(scene.box_lo)):
        window = camera.pixel_window(scene.to_world(_box_corners(scene.box_lo[k], scene.box_hi[k])))
        if window is None:
            continue
        ow, dw = o[window], d[window]
        t1 = (scene.box_lo[k] - ow) / dw
        t2 = (scene.box_hi[k] - ow) / dw
        t_near = np.minimum(t1, t2).max(axis=-1)
        t_far = np.maximum(t1, t2).min(axis=-1)
        closer = (t_far >= t_near) & (t_near > _EPS) & (t_near < t[window])
        t[window][closer] = t_near[closer]
        kind[window][closer] = BOX
        index[window][closer] = k

    for k in range(len(scene.tree_center)):
        c, r = scene.tree_center[k], scene.tree_radii[k]
        window = camera.pixel_window(scene.to_world(_box_corners(c - r, c + r)))
        if window is None:
            continue
        os_ = (o[window] - c) / r
        ds = d[window] / r
        a = np.einsum("...i,...i", ds, ds)
        b = 2 * np.einsum("...i,...i", os_, ds)
        cc = np.einsum("...i,...i", os_, os_) - 1
        disc = b * b - 4 * a * cc
        with np.errstate(invalid="ignore"):
            t_hit = (-b - np.sqrt(disc)) / (2 * a)
        closer = (disc > 0) & (t_hit > _EPS) & (t_hit < t[window])
        t[window][closer] = t_hit[closer]
        kind[window][closer] = TREE
        index[window][closer] = k

    point = o + np.where(np.isfinite(t), t, 0)[..., None] * d
    normal = _normals(scene, point, kind, index)
    return Hits(t=t, kind=kind, index=index, point=point, normal=normal)


def _normals(scene: Scene, point: np.ndarray, kind: np.ndarray, index: np.ndarray) -> np.ndarray:
    normal = np.zeros_like(point)
    normal[..., 2] = 1.0
    box = kind == BOX
    if box.any():
        p = point[box]
        lo, hi = scene.box_lo[index[box]], scene.box_hi[index[box]]
        to_lo, to_hi = np.abs(p - lo), np.abs(p - hi)
        dist = np.minimum(to_lo, to_hi)
        axis = dist.argmin(axis=-1)
        n = np.zeros_like(p)
        n[np.arange(len(p)), axis] = np.where(to_hi[np.arange(len(p)), axis] < to_lo[np.arange(len(p)), axis], 1, -1)
        normal[box] = n
    tree = kind == TREE
    if tree.any():
        c, r = scene.tree_center[index[tree]], scene.tree_radii[index[tree]]
        n = (point[tree] - c) / r**2
        normal[tree] = n / np.linalg.norm(n, axis=-1, keepdims=True)
    return normal


# --------------------------------------------------------------------------------------------
# Materials: albedo as a pure function of the surface point, so every view agrees.
# --------------------------------------------------------------------------------------------


def ground_albedo(scene: Scene, p: np.ndarray) -> np.ndarray:
    """Ground colour ``[N, 3]`` at block-frame points ``[N, 3]``: grass/soil noise, roads, lots, markings."""
    dom = scene.domain
    x, y = p[:, 0], p[:, 1]
    s = dom.ground_feature_scale
    mix = fbm(x / s, y / s, scene.seed, octaves=4)
    soil = np.clip((mix - 0.45) * 4.0, 0, 1)[:, None]
    color = np.asarray(dom.grass) * (1 - soil) + np.asarray(dom.dirt) * soil
    # Fine detail at shading time: gives SfM something to match on open ground.
    fine = value_noise(x * 1.7, y * 1.7, scene.seed + 11) * 0.5 + value_noise(x * 0.45, y * 0.45, scene.seed + 13) * 0.5
    color = color * (0.78 + 0.44 * fine)[:, None]

    for x0, y0, x1, y1 in scene.parking:
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        color[inside] = np.asarray(dom.asphalt) * (0.9 + 0.2 * fine[inside, None])
        stripe = inside & (np.abs(((x - x0) % 2.6) - 1.3) > 1.2) & (np.abs(y - 0.5 * (y0 + y1)) > 1.0)
        color[stripe] = dom.lane_marking

    for axis, offset, width in scene.roads:
        across = (y if axis == 0 else x) - offset
        along = x if axis == 0 else y
        dist = np.abs(across)
        walk = (dist >= width / 2) & (dist < width / 2 + 2.0)
        color[walk] = np.asarray(dom.sidewalk) * (0.9 + 0.2 * fine[walk, None])
        road = dist < width / 2
        color[road] = np.asarray(dom.asphalt) * (0.85 + 0.3 * fine[road, None])
        dash = road & (dist < 0.15) & ((along % 6.0) < 3.0)
        edge = road & (np.abs(dist - (width / 2 - 0.4)) < 0.1)
        color[dash | edge] = dom.lane_marking
    return color


def box_albedo(scene: Scene, p: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Colour of box surfaces: roofs with parapets, facades with window grids, plain equipment and cars."""
    lo, hi = scene.box_lo[k], scene.box_hi[k]
    roof = n[:, 2] > 0.5
    kinds = scene.box_kind[k]
    color = np.where(roof[:, None], scene.roof_color[k], scene.wall_color[k])
    grain = value_noise(p[:, 0] * 0.9 + p[:, 2] * 0.7, p[:, 1] * 0.9 - p[:, 2] * 0.3, scene.seed + 29 + k)
    color = color * (0.85 + 0.3 * grain)[:, None]

    building = kinds == BUILDING
    # Parapet: a lighter rim around flat roofs, visible from every altitude.
    edge = np.minimum(
        np.minimum(p[:, 0] - lo[:, 0], hi[:, 0] - p[:, 0]), np.minimum(p[:, 1] - lo[:, 1], hi[:, 1] - p[:, 1])
    )
    parapet = building & roof & (edge < 0.8)
    color[parapet] = np.minimum(color[parapet] * 1.35, 1.0)

    wall = building & ~roof
    if wall.any():
        along_x = np.abs(n[:, 1]) > 0.5  # faces normal to y run along x
        u = np.where(along_x, p[:, 0] - lo[:, 0], p[:, 1] - lo[:, 1])
        wall_len = np.where(along_x, hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1])
        spacing, floor = scene.window[k, 0], scene.window[k, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            fu, fz = (u / spacing) % 1.0, (p[:, 2] / floor) % 1.0
        window = (
            wall
            & (fu > 0.2)
            & (fu < 0.7)
            & (fz > 0.35)
            & (fz < 0.85)
            & (p[:, 2] > 2.5)
            & (p[:, 2] < hi[:, 2] - 1.0)
            & (u > 1.0)
            & (u < wall_len - 1.0)
        )
        cells = hash_cells(
            np.floor(u / np.maximum(spacing, 1e-6)) + 1000 * k, np.floor(p[:, 2] / np.maximum(floor, 1e-6)), scene.seed
        )
        glass = np.asarray(scene.domain.glass) * (0.7 + 0.8 * cells[:, None])
        color[window] = glass[window]
        band = wall & ~window & (fz < 0.08) & (p[:, 2] > 2.5)  # floor slabs
        color[band] *= 0.8
    cars = kinds == CAR
    color[cars & roof] *= 1.1
    return np.clip(color, 0, 1)


def tree_albedo(scene: Scene, p: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Canopy colour: leafy noise, darker towards the bottom of the crown."""
    leaves = value_noise(p[:, 0] * 1.3 + 0.37 * p[:, 2], p[:, 1] * 1.3 - 0.23 * p[:, 2], scene.seed + 41)
    rel = (p[:, 2] - scene.tree_center[k, 2]) / scene.tree_radii[k, 2]
    return np.clip(scene.tree_color[k] * (0.6 + 0.6 * leaves)[:, None] * (0.85 + 0.2 * rel)[:, None], 0, 1)


def albedo(scene: Scene, hits: Hits) -> np.ndarray:
    """Surface colour ``[H, W, 3]`` of every hit (sky pixels left black)."""
    color = np.zeros(hits.point.shape)
    ground, box, tree = hits.kind == GROUND, hits.kind == BOX, hits.kind == TREE
    if ground.any():
        color[ground] = ground_albedo(scene, hits.point[ground])
    if box.any():
        color[box] = box_albedo(scene, hits.point[box], hits.normal[box], hits.index[box])
    if tree.any():
        color[tree] = tree_albedo(scene, hits.point[tree], hits.index[tree])
    return color


# --------------------------------------------------------------------------------------------
# Lighting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sun:
    """Directional light. ``direction`` points from the scene towards the sun (world frame, unit)."""

    direction: np.ndarray
    ambient: float = 0.45
    diffuse: float = 0.75

    @staticmethod
    def from_angles(azimuth_deg: float, elevation_deg: float, ambient: float = 0.45, diffuse: float = 0.75) -> Sun:
        az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
        return Sun(np.array([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)]), ambient, diffuse)


class ShadowMap:
    """Depth of the first surface seen from the sun, on an orthographic grid over the scene."""

    def __init__(self, scene: Scene, sun: Sun, resolution: int = 320):
        forward = -sun.direction
        helper = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.99 else np.array([1.0, 0.0, 0.0])
        right = np.cross(forward, helper)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        # Cover the populated block plus the longest shadow a tall building can cast.
        extent = 2 * scene.half_extent * 1.45 + 2 * float(scene.box_hi[:, 2].max(initial=0.0))
        self.camera = OrthographicCamera(
            center=sun.direction * 400.0,
            right=right,
            down=down,
            forward=forward,
            extent=extent,
            width=resolution,
            height=resolution,
        )
        hits = trace(scene, self.camera)
        self.depth = np.where(hits.kind == GROUND, np.inf, hits.t)  # the ground casts no shadow on itself
        self.scene = scene

    def lit(self, world_points: np.ndarray) -> np.ndarray:
        """1.0 where a world point ``[N, 3]`` sees the sun, 0.0 where it is in shadow."""
        pix, depth = self.camera.project(world_points)
        col = np.floor(pix[:, 0]).astype(int)
        row = np.floor(pix[:, 1]).astype(int)
        inside = (col >= 0) & (col < self.camera.width) & (row >= 0) & (row < self.camera.height)
        out = np.ones(len(world_points))
        occluder = self.depth[row[inside], col[inside]]
        bias = 0.6 + 0.02 * self.camera.metres_per_pixel * 50
        out[inside] = np.where(occluder < depth[inside] - bias, 0.0, 1.0)
        return out


def shade(
    scene: Scene,
    hits: Hits,
    sun: Sun,
    shadows: ShadowMap,
    camera: Camera,
    haze: bool = True,
) -> np.ndarray:
    """Final linear RGB image ``[H, W, 3]`` in [0, 1]."""
    dom = scene.domain
    color = albedo(scene, hits)
    surface = hits.kind != SKY
    sun_block = scene.to_block(sun.direction)
    lambert = np.clip(hits.normal[surface] @ sun_block, 0, 1)
    lit = shadows.lit(scene.to_world(hits.point[surface]))
    light = sun.ambient + sun.diffuse * lambert * lit
    color[surface] *= light[:, None]

    _, directions = camera.rays()
    sky = ~surface
    if sky.any():
        elevation = np.clip(directions[sky][:, 2], 0, 1)[:, None] ** 0.5
        color[sky] = np.asarray(dom.sky_horizon) * (1 - elevation) + np.asarray(dom.sky_zenith) * elevation
    if haze:
        distance = np.where(surface, hits.t, np.inf)
        fog = (1 - np.exp(-distance / dom.haze_distance))[..., None]
        color = color * (1 - fog) + np.asarray(dom.sky_horizon) * fog
    return np.clip(color, 0, 1)


def render(scene: Scene, camera: Camera, sun: Sun, shadows: ShadowMap | None = None, haze: bool = True) -> np.ndarray:
    """Render one view to ``uint8 [H, W, 3]``. Pass a precomputed ``shadows`` to share it between views."""
    shadows = shadows if shadows is not None else ShadowMap(scene, sun)
    hits = trace(scene, camera)
    image = shade(scene, hits, sun, shadows, camera, haze=haze)
    return (image * 255 + 0.5).astype(np.uint8)
