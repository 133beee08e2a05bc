"""Patch-Aware Feature Aggregation (PAFA), SkyLink's local descriptors beside the global one.

SkyLink (arXiv 2509.24783, abstract) "adopts the Patch-Aware Feature Aggregation module to emphasize multiple local
feature aggregations to ensure the consistent feature extraction across viewpoints". Its release has no such module
(docs/official_code.md, SkyLink), so this is our reading, the simplest that does what the sentence says
(docs/fidelity.md, S2):

- The backbone's patch-token map ``[B, C, H, W]`` is cut into ``n_parts`` *regions* (boolean masks over the
  H x W grid). ``rings`` (the default) are LPN's square rings around the centre (Wang et al., "Each Part Matters",
  TCSVT 2021), which a 90-degree rotation of a satellite tile maps onto themselves; ``grid`` cuts the map into
  ``n_parts`` horizontal bands, top to bottom (the street view's sky / facade / ground).
- Each region is aggregated on its own: the mean of its tokens, projected by a shared linear layer to ``part_dim``
  and L2-normalised. A region's descriptor therefore depends on the tokens of that region only; when part of the
  scene is hidden, the other regions' descriptors do not move.
- They are combined with the global (MixVPR) descriptor by weighted concatenation, ``[g, w p_1, ..., w p_k]``,
  then L2-normalised, with ``w^2 = part_weight / k``: the cosine similarity of two combined descriptors is then
  ``(g.g' + part_weight * mean_i p_i.p_i') / (1 + part_weight)``, the global similarity and the mean regional
  similarity averaged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LAYOUTS", "PatchAwareAggregation", "region_masks"]

#: Region layouts of ``region_masks``.
LAYOUTS = ("rings", "grid")


def region_masks(layout: str, n_parts: int, height: int, width: int) -> Tensor:
    """Boolean ``[n_parts, height, width]`` masks, disjoint and covering the grid.

    ``rings``: ring ``i`` holds the tokens whose Chebyshev distance from the grid's centre falls in the ``i``-th of
    ``n_parts`` equal bands, innermost first (a 4 x 4 grid with 2 parts: the central 2 x 2 block and the 12 tokens
    around it). ``grid``: ``n_parts`` horizontal bands of (nearly) equal height, top first.

    Raises:
        ValueError: an unknown layout, or more parts than the grid has rings (rows for ``grid``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"part layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "grid":
        if not 1 <= n_parts <= height:
            raise ValueError(f"n_parts must be in [1, {height}] for a grid of {height} rows, got {n_parts}")
        band = torch.arange(height) * n_parts // height  # [H] index of each row's band
        return (band[None, :, None] == torch.arange(n_parts)[:, None, None]).expand(n_parts, height, width).clone()
    rings = math.ceil(min(height, width) / 2)  # distinct Chebyshev distances from the centre
    if not 1 <= n_parts <= rings:
        raise ValueError(f"n_parts must be in [1, {rings}] for rings on a {height} x {width} grid, got {n_parts}")
    # Distance from the centre in half-token units, so even and odd grids are symmetric: 0 .. 2 * rings - 1.
    rows = (2 * torch.arange(height) - (height - 1)).abs()
    cols = (2 * torch.arange(width) - (width - 1)).abs()
    ring = torch.maximum(rows[:, None], cols[None, :]) // 2  # [H, W] ring index 0 (centre) .. rings - 1
    part = ring * n_parts // rings
    return part[None] == torch.arange(n_parts)[:, None, None]


class PatchAwareAggregation(nn.Module):
    """Region descriptors of a feature map and their combination with a global descriptor (module docstring)."""

    def __init__(
        self,
        in_channels: int,  # C of the backbone map
        grid_size: tuple[int, int],  # (H, W) of the backbone map
        layout: str = "rings",  # "rings" or "grid" (see region_masks)
        n_parts: int = 2,  # k regions
        part_dim: int = 256,  # width of each region descriptor after the shared projection
        part_weight: float = 1.0,  # share of the regional similarity in the combined similarity (module docstring)
    ) -> None:
        super().__init__()
        if part_weight <= 0:
            raise ValueError(f"part_weight must be > 0, got {part_weight}")
        masks = region_masks(layout, n_parts, *grid_size).float()
        # Each region's mean as one matrix product: weights 1/|region| on the region's tokens, 0 elsewhere.
        self.register_buffer("pool", (masks / masks.sum(dim=(1, 2), keepdim=True)).flatten(1), persistent=False)
        self.proj = nn.Linear(in_channels, part_dim)
        self.layout, self.n_parts, self.part_dim, self.part_weight = layout, n_parts, part_dim, part_weight
        self.extra_dim = n_parts * part_dim  # width added to the global descriptor

    def parts(self, feature_map: Tensor) -> Tensor:
        """``[B, C, H, W]`` map -> ``[B, k, part_dim]`` L2-normalised region descriptors."""
        pooled = torch.einsum("bcn,kn->bkc", feature_map.flatten(2), self.pool.to(feature_map.dtype))  # [B, k, C]
        return F.normalize(self.proj(pooled), dim=-1)

    def forward(self, global_descriptor: Tensor, feature_map: Tensor) -> Tensor:
        """Combine ``[B, D]`` L2-normalised global descriptors with the map's regions: ``[B, D + k * part_dim]``,
        L2-normalised."""
        weight = math.sqrt(self.part_weight / self.n_parts)
        combined = torch.cat([global_descriptor, weight * self.parts(feature_map).flatten(1)], dim=1)
        return F.normalize(combined, dim=-1)

    def extra_repr(self) -> str:
        return (
            f"layout={self.layout!r}, n_parts={self.n_parts}, part_dim={self.part_dim}, part_weight={self.part_weight}"
        )
