"""``VGGT`` test double: upstream's interface (``vggt/models/vggt.py``), a rendered plane instead of a network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._fake_scene import FakeScene, default_scene, frame_number
from ..utils.geometry import unproject_depth_map_to_point_map
from ..utils.pose_enc import extri_intri_to_pose_encoding


class VGGT(nn.Module):
    """Renders ``self.scene`` for the frames it is given, in VGGT's output conventions.

    Like VGGT, each forward pass is expressed in its first camera's frame and (with
    ``scene.normalise_scale``) at its own scale. Test-only attributes record what happened:

    Attributes:
        calls: Frame numbers given to each forward pass (per batch element).
        scales: Scale factor applied in each forward pass.
        autocast: Whether autocast (CPU or CUDA) was on during each forward pass.
        grad: Whether gradients were enabled during each forward pass.
        pretrained_names: (class) every name given to ``from_pretrained``.
        instances: (class) every model constructed.
    """

    pretrained_names: list[str] = []
    instances: list[VGGT] = []

    def __init__(
        self,
        img_size: int = 518,
        patch_size: int = 14,
        embed_dim: int = 1024,
        enable_camera: bool = True,
        enable_point: bool = True,
        enable_depth: bool = True,
        enable_track: bool = True,
        scene: FakeScene | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # something for state_dict() and .to(device)
        self.scene = default_scene() if scene is None else scene
        self.calls: list[list[int]] = []
        self.scales: list[float] = []
        self.autocast: list[bool] = []
        self.grad: list[bool] = []
        VGGT.instances.append(self)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, **kwargs) -> VGGT:
        """Record the name (huggingface_hub's PyTorchModelHubMixin would download or read the cache)."""
        cls.pretrained_names.append(str(pretrained_model_name_or_path))
        return cls()

    def forward(self, images: torch.Tensor, query_points: torch.Tensor | None = None) -> dict:
        """``[S, 3, H, W]`` or ``[B, S, 3, H, W]`` images in [0, 1] to VGGT's prediction dict.

        Returns:
            pose_enc ``[B, S, 9]``, pose_enc_list (4 x ``[B, S, 9]``), depth ``[B, S, H, W, 1]``, depth_conf
            ``[B, S, H, W]``, world_points ``[B, S, H, W, 3]``, world_points_conf ``[B, S, H, W]``, and images
            ``[B, S, 3, H, W]`` in eval mode.
        """
        if images.dim() == 4:
            images = images[None]
        self.autocast.append(torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda"))
        self.grad.append(torch.is_grad_enabled())
        rendered = [self._render(sequence) for sequence in images]
        predictions = {
            key: torch.stack([r[key] for r in rendered]).to(device=images.device, dtype=torch.float32)
            for key in rendered[0]
        }
        predictions["pose_enc_list"] = [predictions["pose_enc"]] * 4
        if not self.training:
            predictions["images"] = images
        return predictions

    def _render(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predictions for one sequence ``[S, 3, H, W]``, without the batch dimension."""
        frames = [frame_number(image) for image in images]
        self.calls.append(frames)
        _, _, height, width = images.shape
        extrinsics = np.stack([self.scene.extrinsic(k) for k in frames])
        depth = np.stack([self.scene.depth(k, height, width) for k in frames])
        # World frame of the pass = its first camera; scale = 1 / mean depth of the pass.
        rot0, t0 = extrinsics[0, :, :3], extrinsics[0, :, 3]
        rel_rot = extrinsics[:, :, :3] @ rot0.T
        scale = 1.0 / depth.mean() if self.scene.normalise_scale else 1.0
        self.scales.append(scale)
        rel_t = scale * (extrinsics[:, :, 3] - rel_rot @ t0)
        relative = np.concatenate([rel_rot, rel_t[..., None]], axis=-1)
        depth = scale * depth
        intrinsics = np.repeat(self.scene.intrinsic(height, width)[None], len(frames), axis=0)
        conf = np.stack([self.scene.confidence(k, height, width) for k in frames])
        pose_enc = extri_intri_to_pose_encoding(
            torch.from_numpy(relative)[None], torch.from_numpy(intrinsics)[None], image_size_hw=(height, width)
        )[0]
        return {
            "pose_enc": pose_enc,
            "depth": torch.from_numpy(depth[..., None]),
            "depth_conf": torch.from_numpy(conf),
            # float32 like the real point head (the unprojection itself returns float64, as upstream's)
            "world_points": torch.from_numpy(
                unproject_depth_map_to_point_map(depth[..., None], relative, intrinsics).astype(np.float32)
            ),
            "world_points_conf": torch.from_numpy(conf),
        }
