"""Cameras of the synthetic renderer, in COLMAP/OpenCV convention.

A perspective camera stores the world-to-camera pose (``R``, ``t``: x_cam = R x_world + t) and
the intrinsics ``K`` with x right, y down, z forward, exactly what COLMAP's ``images.txt`` and
``cameras.txt`` hold, so the synthetic ground-truth poses can be compared with a reconstruction
without any axis juggling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PerspectiveCamera:
    """Pinhole camera.

    Attributes:
        K: ``[3, 3]`` intrinsics.
        R: ``[3, 3]`` world-to-camera rotation.
        t: ``[3]`` world-to-camera translation.
        width, height: image size in pixels.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates ``[3]``."""
        return -self.R.T @ self.t

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Ray origins and unit directions through pixel centres, each ``[H, W, 3]`` world frame."""
        u, v = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
        directions = pixels @ np.linalg.inv(self.K).T @ self.R  # (K^-1 p) rotated to world: R^T d
        directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
        origins = np.broadcast_to(self.center, directions.shape)
        return origins, directions

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points ``[N, 3]`` to pixels ``[N, 2]``; also returns depth ``[N]``."""
        cam = points @ self.R.T + self.t
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            pix = (cam @ self.K.T)[:, :2] / depth[:, None]
        return pix, depth

    def pixel_window(self, corners: np.ndarray) -> tuple[slice, slice] | None:
        """Rows and columns of the image that a convex object with these world corners ``[8, 3]`` can cover.

        Returns None when the object is entirely outside the view. Restricting intersection tests
        to this window is what makes the numpy ray tracer fast (most primitives cover few pixels).
        """
        pix, depth = self.project(corners)
        if np.all(depth <= 0.1):
            return None
        if np.any(depth <= 0.1):  # straddles the image plane: projection is unbounded, test everything
            return slice(0, self.height), slice(0, self.width)
        return _clip_window(pix, self.width, self.height)


@dataclass(frozen=True)
class OrthographicCamera:
    """Camera looking along ``-normal`` with parallel rays; used for satellite tiles and shadow maps.

    Attributes:
        center: ``[3]`` point on the image plane at the image centre (world frame).
        right, down: ``[3]`` unit vectors of image x (columns) and y (rows) in the world frame.
        forward: ``[3]`` unit viewing direction.
        extent: metres covered by the image width (and height).
        width, height: pixels.
    """

    center: np.ndarray
    right: np.ndarray
    down: np.ndarray
    forward: np.ndarray
    extent: float
    width: int
    height: int

    @property
    def metres_per_pixel(self) -> float:
        return self.extent / self.width

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.metres_per_pixel
        u = (np.arange(self.width) + 0.5 - self.width / 2) * s
        v = (np.arange(self.height) + 0.5 - self.height / 2) * s
        uu, vv = np.meshgrid(u, v)
        origins = self.center + uu[..., None] * self.right + vv[..., None] * self.down
        directions = np.broadcast_to(self.forward, origins.shape)
        return origins, directions

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = points - self.center
        s = self.metres_per_pixel
        pix = np.stack([rel @ self.right / s + self.width / 2, rel @ self.down / s + self.height / 2], axis=-1)
        return pix, rel @ self.forward

    def pixel_window(self, corners: np.ndarray) -> tuple[slice, slice] | None:
        pix, _ = self.project(corners)
        return _clip_window(pix, self.width, self.height)


def _clip_window(pix: np.ndarray, width: int, height: int) -> tuple[slice, slice] | None:
    c0, r0 = np.floor(pix.min(axis=0)).astype(int) - 1
    c1, r1 = np.ceil(pix.max(axis=0)).astype(int) + 1
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, width), min(r1, height)
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


def look_at(
    eye: np.ndarray, target: np.ndarray, fov_deg: float, width: int, height: int, up: np.ndarray | None = None
) -> PerspectiveCamera:
    """A pinhole camera at ``eye`` looking at ``target`` with square pixels.

    ``fov_deg`` is the horizontal field of view. ``up`` is the world direction that appears as
    image-up: world z by default, which fails for a camera looking straight down, so nadir views
    pass their heading as ``up`` instead (world north when nothing else is given).
    """
    eye = np.asarray(eye, dtype=float)
    forward = np.asarray(target, dtype=float) - eye
    forward /= np.linalg.norm(forward)
    if up is None:
        up = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.999 else np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    focal = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    K = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    return PerspectiveCamera(K=K, R=R, t=-R @ eye, width=width, height=height)


def nadir_orthographic(center_xy: np.ndarray, extent: float, size: int, altitude: float = 500.0) -> OrthographicCamera:
    """North-up satellite view: image columns run east, rows run south."""
    return OrthographicCamera(
        center=np.array([center_xy[0], center_xy[1], altitude]),
        right=np.array([1.0, 0.0, 0.0]),
        down=np.array([0.0, -1.0, 0.0]),
        forward=np.array([0.0, 0.0, -1.0]),
        extent=extent,
        width=size,
        height=size,
    )
