"""Pose encoding ("absT_quaR_FoV") to camera matrices, as upstream ``vggt/utils/pose_enc.py``."""

from __future__ import annotations

import torch

from .rotation import mat_to_quat, quat_to_mat


def extri_intri_to_pose_encoding(
    extrinsics: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size_hw: tuple[int, int] | None = None,
    pose_encoding_type: str = "absT_quaR_FoV",
) -> torch.Tensor:
    """``[B, S, 3, 4]`` world-to-camera and ``[B, S, 3, 3]`` intrinsics to ``[B, S, 9]`` (T, quat XYZW, FoV h, w)."""
    if pose_encoding_type != "absT_quaR_FoV":
        raise NotImplementedError(pose_encoding_type)
    height, width = image_size_hw
    fov_h = 2 * torch.atan((height / 2) / intrinsics[..., 1, 1])
    fov_w = 2 * torch.atan((width / 2) / intrinsics[..., 0, 0])
    quat = mat_to_quat(extrinsics[..., :3, :3])
    return torch.cat([extrinsics[..., :3, 3], quat, fov_h[..., None], fov_w[..., None]], dim=-1).float()


def pose_encoding_to_extri_intri(
    pose_encoding: torch.Tensor,
    image_size_hw: tuple[int, int] | None = None,
    pose_encoding_type: str = "absT_quaR_FoV",
    build_intrinsics: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``[B, S, 9]`` to extrinsics ``[B, S, 3, 4]`` (OpenCV, camera from world) and intrinsics ``[B, S, 3, 3]``.

    fy = (H / 2) / tan(FoV_h / 2), fx = (W / 2) / tan(FoV_w / 2), principal point (W / 2, H / 2).
    """
    if pose_encoding_type != "absT_quaR_FoV":
        raise NotImplementedError(pose_encoding_type)
    translation, quat = pose_encoding[..., :3], pose_encoding[..., 3:7]
    fov_h, fov_w = pose_encoding[..., 7], pose_encoding[..., 8]
    extrinsics = torch.cat([quat_to_mat(quat), translation[..., None]], dim=-1)
    if not build_intrinsics:
        return extrinsics, None
    height, width = image_size_hw
    intrinsics = pose_encoding.new_zeros(pose_encoding.shape[:2] + (3, 3))
    intrinsics[..., 0, 0] = (width / 2.0) / torch.tan(fov_w / 2.0)
    intrinsics[..., 1, 1] = (height / 2.0) / torch.tan(fov_h / 2.0)
    intrinsics[..., 0, 2] = width / 2
    intrinsics[..., 1, 2] = height / 2
    intrinsics[..., 2, 2] = 1.0
    return extrinsics, intrinsics
