"""Depth maps to world points, as upstream ``vggt/utils/geometry.py`` (docs/components.md §1.5)."""

from __future__ import annotations

import numpy as np
import torch


def unproject_depth_map_to_point_map(
    depth_map: np.ndarray | torch.Tensor,
    extrinsics_cam: np.ndarray | torch.Tensor,
    intrinsics_cam: np.ndarray | torch.Tensor,
) -> np.ndarray:
    """Unproject ``[S, H, W, 1]`` depth with ``[S, 3, 4]`` world-to-camera extrinsics (upstream's docstring also
    names ``[S, H, W]``, but its ``squeeze(-1)`` raises on it, and so does this double).

    Pixel (u, v) (column, row index) at depth d: ``X_cam = ((u - cx) d / fx, (v - cy) d / fy, d)``, then
    ``X_world = R^T (X_cam - t)``.

    Returns:
        ``[S, H, W, 3]`` float64 world points (as upstream).
    """
    depth, extrinsics, intrinsics = (
        np.asarray(a.cpu() if torch.is_tensor(a) else a) for a in (depth_map, extrinsics_cam, intrinsics_cam)
    )
    if depth.ndim != 4 or depth.shape[-1] != 1:  # upstream: np.squeeze(depth, -1) raises ValueError
        raise ValueError(f"cannot select an axis to squeeze out which has size not equal to one: {depth.shape}")
    depth = depth[..., 0]
    _, height, width = depth.shape
    v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    fx, fy = intrinsics[:, 0, 0, None, None], intrinsics[:, 1, 1, None, None]
    cx, cy = intrinsics[:, 0, 2, None, None], intrinsics[:, 1, 2, None, None]
    cam = np.stack([(u - cx) * depth / fx, (v - cy) * depth / fy, depth], axis=-1)
    rot, t = extrinsics[:, :, :3], extrinsics[:, :, 3]
    world = np.einsum("sji,shwj->shwi", rot, cam - t[:, None, None, :])  # R^T (X_cam - t)
    return world.astype(np.float64)
