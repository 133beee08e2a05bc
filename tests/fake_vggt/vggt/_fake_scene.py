"""The known scene the fake VGGT renders (test-only, no upstream counterpart).

The ground plane z = 0, seen by pinhole cameras looking roughly straight down, like a drone orbit. Test
images are uniform, and their colour encodes their frame number (``frame_colour``), which is how the fake
model knows which camera "took" each image it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation


def frame_colour(k: int) -> tuple[int, int, int]:
    """RGB colour of test image ``k`` (0 <= k < 12)."""
    return (10 + 20 * k, 128, 60)


def frame_number(image: torch.Tensor) -> int:
    """The ``k`` of a ``[3, H, W]`` image in [0, 1] filled with ``frame_colour(k)`` (its centre pixel is read)."""
    red = float(image[0, image.shape[1] // 2, image.shape[2] // 2]) * 255
    return round((red - 10) / 20)


def look_down(yaw: float = 0.0, tilt: float = 0.0) -> np.ndarray:
    """World-to-camera rotation (OpenCV axes) of a camera looking at the ground, turned by ``yaw`` about the
    vertical and tilted by ``tilt`` about its own x axis (radians)."""
    nadir = np.diag([1.0, -1.0, -1.0])  # camera-to-world: x east, y south, optical axis down
    cam_to_world = Rotation.from_euler("z", yaw).as_matrix() @ nadir @ Rotation.from_euler("x", tilt).as_matrix()
    return cam_to_world.T


@dataclass
class FakeScene:
    """Cameras over the plane z = 0.

    Attributes:
        rotations: ``[K, 3, 3]`` world-to-camera rotations.
        centres: ``[K, 3]`` camera centres (z > 0).
        focal: fx = fy in pixels; None means the image width.
        normalise_scale: Divide each forward pass's depths and translations by their mean depth, as VGGT's
            per-pass scale normalisation does (each chunk then has its own scale).
        conf: ``(k, H, W) -> [H, W]`` confidence of frame k; None gives 10 everywhere (above VGGT's usual 5).
    """

    rotations: np.ndarray
    centres: np.ndarray
    focal: float | None = None
    normalise_scale: bool = True
    conf: Callable[[int, int, int], np.ndarray] | None = None

    def extrinsic(self, k: int) -> np.ndarray:
        """``[3, 4]`` world-to-camera ``[R | t]`` with t = -R C."""
        return np.concatenate([self.rotations[k], (-self.rotations[k] @ self.centres[k])[:, None]], axis=1)

    def intrinsic(self, height: int, width: int) -> np.ndarray:
        """``[3, 3]`` pinhole matrix, principal point at (W / 2, H / 2) like VGGT's."""
        f = float(width) if self.focal is None else self.focal
        return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])

    def depth(self, k: int, height: int, width: int) -> np.ndarray:
        """``[H, W]`` depth of the plane z = 0 at every pixel (u, v) of camera k (ray through the index)."""
        K = self.intrinsic(height, width)
        v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], axis=-1)
        down = (rays @ self.rotations[k])[..., 2]  # z component of R^T ray, the ray in world axes
        depth = -self.centres[k][2] / down
        if not (depth > 0).all():
            raise ValueError(f"camera {k} sees above the horizon; tilt it less")
        return depth

    def confidence(self, k: int, height: int, width: int) -> np.ndarray:
        """``[H, W]`` confidence of frame k."""
        return np.full((height, width), 10.0) if self.conf is None else np.asarray(self.conf(k, height, width), float)


def default_scene(n: int = 12, **kwargs) -> FakeScene:
    """``n`` cameras 10-21 m above the plane on a loose orbit, each turned and tilted differently."""
    rotations = np.stack([look_down(yaw=0.4 * k, tilt=0.05 * k) for k in range(n)])
    centres = np.array([[2.0 * k, -1.0 * k, 10.0 + k] for k in range(n)])
    return FakeScene(rotations, centres, **kwargs)
