"""MixVPR feature aggregation (Ali-Bey et al., WACV 2023), GeoLink's "Mixer" (arXiv 2604.13183, §4.1).

Port of amaralibey/MixVPR ``models/aggregators/mixvpr.py`` (identical in CV-Cities and InfoGeo): each channel's
flattened spatial map is mixed by L residual MLPs over the H*W axis, then projected over channels and over
rows, flattened and L2-normalised. GeoLink / CV-Cities config for DINOv2-B at 448 px: 768 channels, 32x32,
out_channels 1024, mix_depth 2, mlp_ratio 1, out_rows 4 -> 4096-d, 4,994,052 parameters (docs/components.md §3.1).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FeatureMixerLayer", "MixVPR"]


class FeatureMixerLayer(nn.Module):
    """One Feature-Mixer: ``x + Linear(ReLU(Linear(LayerNorm(x))))`` over the last (H*W) axis."""

    def __init__(self, in_dim: int, mlp_ratio: float = 1.0) -> None:
        super().__init__()
        hidden = int(in_dim * mlp_ratio)
        self.mix = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, HW] -> [B, C, HW]``."""
        return x + self.mix(x)


class MixVPR(nn.Module):
    """MixVPR aggregator: ``[B, C, H, W]`` feature map -> L2-normalised ``[B, out_channels * out_rows]``."""

    def __init__(
        self,
        in_channels: int = 768,  # C, channels of the backbone map
        in_h: int = 32,  # H of the backbone map
        in_w: int = 32,  # W of the backbone map
        out_channels: int = 1024,  # d, output channels of the channel projection
        mix_depth: int = 2,  # L, number of stacked Feature-Mixers
        mlp_ratio: float = 1.0,  # hidden width of each mixer MLP, as a multiple of H*W
        out_rows: int = 4,  # r, output rows of the row projection
    ) -> None:
        super().__init__()
        self.in_channels, self.in_h, self.in_w = in_channels, in_h, in_w
        hw = in_h * in_w
        self.mix = nn.Sequential(*[FeatureMixerLayer(hw, mlp_ratio) for _ in range(mix_depth)])
        self.channel_proj = nn.Linear(in_channels, out_channels)
        self.row_proj = nn.Linear(hw, out_rows)
        self.out_dim = out_channels * out_rows  # D, descriptor size

    def forward(self, x: Tensor) -> Tensor:
        """Aggregate a feature map into a global descriptor.

        Args:
            x: ``[B, C, H, W]`` feature map with ``C, H, W = in_channels, in_h, in_w``.

        Returns:
            ``[B, out_channels * out_rows]`` L2-normalised descriptor (channel-major flatten).
        """
        if tuple(x.shape[1:]) != (self.in_channels, self.in_h, self.in_w):
            raise ValueError(f"expected [B, {self.in_channels}, {self.in_h}, {self.in_w}], got {tuple(x.shape)}")
        x = self.mix(x.flatten(2))  # [B, C, HW]
        x = self.channel_proj(x.permute(0, 2, 1))  # [B, HW, d]
        x = self.row_proj(x.permute(0, 2, 1))  # [B, d, r]
        return F.normalize(x.flatten(1), p=2, dim=-1)
