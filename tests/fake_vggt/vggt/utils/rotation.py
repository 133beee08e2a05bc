"""Quaternion <-> rotation matrix, XYZW (scalar last), as upstream ``vggt/utils/rotation.py``."""

from __future__ import annotations

import torch
from scipy.spatial.transform import Rotation


def quat_to_mat(quaternions: torch.Tensor) -> torch.Tensor:
    """``[..., 4]`` XYZW quaternions to ``[..., 3, 3]`` rotation matrices."""
    flat = quaternions.detach().cpu().double().reshape(-1, 4).numpy()
    matrices = Rotation.from_quat(flat).as_matrix()  # scipy's order is XYZW too
    return torch.as_tensor(matrices, dtype=quaternions.dtype).reshape(*quaternions.shape[:-1], 3, 3)


def mat_to_quat(matrix: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` rotation matrices to ``[..., 4]`` XYZW quaternions with a non-negative real part."""
    flat = matrix.detach().cpu().double().reshape(-1, 3, 3).numpy()
    quats = Rotation.from_matrix(flat).as_quat()
    quats[quats[:, 3] < 0] *= -1  # upstream's standardize_quaternion
    return torch.as_tensor(quats, dtype=matrix.dtype).reshape(*matrix.shape[:-2], 4)
