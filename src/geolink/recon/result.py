"""What every reconstruction backend returns, whatever it runs (VGGT, COLMAP, ground truth, a released file)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geolink.errors import UserError


class ReconstructionError(UserError, RuntimeError):
    """A location's reconstruction failed (too few registered images, no points, bad input).

    The message names the location and says why; the workflow's ``on_failure`` policy decides
    whether the run stops or records the failure and goes on.
    """


@dataclass
class ReconstructionResult:
    """A scene point cloud and how it was obtained.

    Attributes:
        xyz: ``[N, 3]`` float64 points in the backend's world frame (VGGT: first camera's frame,
            up to scale; COLMAP: arbitrary similarity frame; ground truth: x east, y north, z up, metres).
        rgb: ``[N, 3]`` uint8 colours.
        error: ``[N]`` float64 per-point reprojection error in pixels (NaN where the backend has none).
        n_images: images given to the backend.
        n_registered: images the backend placed (had a camera pose for).
        image_names: ``[V]`` names of the registered images, in the order of ``poses``.
        poses: ``[V, 3, 4]`` world-to-camera ``[R | t]`` of the registered images (OpenCV/COLMAP convention).
        intrinsics: ``[V, 3, 3]`` pinhole intrinsics of the registered images, at the input image resolution.
        backend: name of the backend that produced it.
        info: anything else worth recording in the QC table (timings, thresholds).
    """

    xyz: np.ndarray
    rgb: np.ndarray
    error: np.ndarray
    n_images: int
    n_registered: int
    image_names: list[str] = field(default_factory=list)
    poses: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 4)))
    intrinsics: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    backend: str = ""
    info: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return len(self.xyz)

    @property
    def mean_reprojection_error(self) -> float:
        """Mean of the finite per-point errors, NaN when there are none."""
        finite = self.error[np.isfinite(self.error)]
        return float(finite.mean()) if len(finite) else float("nan")
