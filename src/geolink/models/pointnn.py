"""3D point-cloud encoders: the non-parametric Point-NN (paper) and the learnable Point-PN (official code).

GeoLink (arXiv 2604.13183, §3.2.1, Eq. 2; §4.1) encodes each 1024-point, colour-free cloud with Point-NN
(Zhang et al., CVPR 2023): a raw-point trigonometric embedding, then a four-stage pyramid in which every stage
applies farthest point sampling (FPS, half the points), k-NN grouping, local geometry aggregation and max + mean
pooling; a final global max + mean pooling gives F_pc. Port of ZrrSkywalker/Point-NN ``models/point_nn.py`` with
the classification config (E = 72, k = 90, alpha = 1000, beta = 100 -> 72 * 2^4 = 1152-d; docs/components.md §2.1).

Deviations from the original Point-NN, all so that a cloud's feature depends on that cloud only:

- The standard deviations that normalise the grouped offsets are computed per cloud; the original takes one
  scalar over the whole batch tensor, which makes a feature change with its batch mates (docs/components.md §2.2 (b)).
- The BatchNorm before each stage's GELU is dropped: Point-NN runs it in eval mode with its initial running
  statistics, where it is x / sqrt(1 + 1e-5), i.e. the identity to 5e-6. The encoder has no parameters at all.
- FPS is pure torch (CPU or GPU) and deterministic: it starts at the point nearest the centroid (ties: lowest
  index). Index 0 (pointnet2_ops) would make the feature depend on the point order; the centroid start makes the
  encoder invariant to permutations of the input points (up to float rounding and exact distance ties).
- The stage sizes follow the input (N/2, N/4, ... centres) and k is capped at the number of available points, so
  small test clouds work; for N = 1024 and k <= 128 this is exactly the original pyramid.

``PointPN`` is the parametric variant the released code actually uses (docs/official_code.md §2.2: 4 input
channels xyz + height, E = 576, k = 40, LGA blocks [2, 1, 1, 1], expansion [2, 2, 2, 1], 'scan' normalisation
-> 8E = 4608-d), with the same FPS/k-NN, the height channel taken per cloud (the code subtracts a batch-wide
minimum) and a zero-safe 'scan' division.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geolink.models.registry import POINT_ENCODERS

__all__ = ["PointNN", "PointPN", "farthest_point_sample", "knn_indices", "trig_pos_embed"]


def farthest_point_sample(xyz: Tensor, n_samples: int) -> Tensor:
    """Batched FPS starting at the point nearest each cloud's centroid.

    Args:
        xyz: ``[B, N, 3]`` points.
        n_samples: Number of centres M (``<= N``).

    Returns:
        ``[B, M]`` int64 indices in selection order (ties go to the lowest index, as ``argmax`` does).
    """
    b, n, _ = xyz.shape
    batch = torch.arange(b, device=xyz.device)
    farthest = (xyz - xyz.mean(dim=1, keepdim=True)).pow(2).sum(-1).argmin(dim=-1)  # [B]
    nearest = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)  # distance to the chosen set
    chosen = torch.empty(b, n_samples, dtype=torch.long, device=xyz.device)
    for i in range(n_samples):
        chosen[:, i] = farthest
        distance = (xyz - xyz[batch, farthest][:, None, :]).pow(2).sum(-1)  # [B, N]
        nearest = torch.minimum(nearest, distance)
        farthest = nearest.argmax(dim=-1)
    return chosen


def knn_indices(k: int, xyz: Tensor, centres: Tensor) -> Tensor:
    """Indices of the k nearest points of each centre, nearest first.

    Args:
        k: Neighbours per centre (``<= N``).
        xyz: ``[B, N, 3]`` points.
        centres: ``[B, G, 3]`` query centres.

    Returns:
        ``[B, G, k]`` int64 indices into ``xyz``.
    """
    return squared_distances(centres, xyz).topk(k, dim=-1, largest=False, sorted=True).indices


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise squared distances ``[B, M, N]`` between ``a [B, M, 3]`` and ``b [B, N, 3]``.

    From explicit differences, not the Gram expansion of ``cdist``, so every cloud's result is bit-identical
    whatever else is in the batch. Summed coordinate by coordinate on ``[B, M, N]`` planes: the same values as
    ``(a[:, :, None] - b[:, None]).pow(2).sum(-1)`` without its ``[B, M, N, 3]`` intermediate, which is slow on CPU.
    """
    total = None
    for axis in range(3):
        diff = a[:, :, None, axis] - b[:, None, :, axis]
        total = diff * diff if total is None else total + diff * diff
    return total


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """``x [B, N, C]`` rows picked by ``index [B, *S]`` -> ``[B, *S, C]``."""
    flat = index.reshape(index.shape[0], -1, 1).expand(-1, -1, x.shape[-1])
    return x.gather(1, flat).reshape(*index.shape, x.shape[-1])


def trig_pos_embed(xyz: Tensor, out_dim: int, alpha: float, beta: float, interleave: bool = True) -> Tensor:
    """Point-NN's trigonometric PosE: ``sin/cos(beta * u / alpha^(j/F))`` per coordinate u, ``F = out_dim / 6``.

    Args:
        xyz: ``[..., 3]`` coordinates.
        out_dim: Output width, a multiple of 6.
        alpha: Frequency base (1000).
        beta: Coordinate scale (100).
        interleave: Channel order within a coordinate block: ``sin_0, cos_0, sin_1, ...`` (Point-NN) or all sines
            then all cosines (Point-PN's ``PosE_Geo``).

    Returns:
        ``[..., out_dim]`` embedding, coordinate-major (x block, y block, z block).
    """
    if out_dim % 6:
        raise ValueError(f"PosE width must be a multiple of 6, got {out_dim}")
    n_freq = out_dim // 6
    freq = alpha ** (torch.arange(n_freq, device=xyz.device, dtype=xyz.dtype) / n_freq)  # [F]
    angle = beta * xyz[..., None] / freq  # [..., 3, F]
    pair = torch.stack if interleave else torch.cat
    return pair([angle.sin(), angle.cos()], dim=-1).flatten(-3 if interleave else -2)


def _group(xyz: Tensor, x: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """FPS to N/2 centres and k-NN grouping; returns centre xyz/features and neighbour xyz/features (channel-last)."""
    centre_idx = farthest_point_sample(xyz, xyz.shape[1] // 2)  # [B, G]
    neighbour_idx = knn_indices(min(k, xyz.shape[1]), xyz, _gather(xyz, centre_idx))  # [B, G, k]
    return _gather(xyz, centre_idx), _gather(x, centre_idx), _gather(xyz, neighbour_idx), _gather(x, neighbour_idx)


def _per_cloud_std(x: Tensor) -> Tensor:
    """Standard deviation over all but the batch dim, shaped to broadcast against ``x``."""
    return x.flatten(1).std(dim=1).reshape(-1, *[1] * (x.ndim - 1))


class PointNN(nn.Module):
    """Non-parametric Point-NN encoder: ``[B, N, 3]`` cloud -> ``[B, E * 2^S]`` global feature F_pc."""

    def __init__(
        self,
        embed_dim: int = 72,  # E, width of the raw-point embedding (doubles every stage)
        n_stages: int = 4,  # S, pyramid stages (each halves the points)
        k_neighbors: int = 90,  # k, neighbours per centre
        alpha: float = 1000.0,  # PosE frequency base
        beta: float = 100.0,  # PosE coordinate scale
        memo_size: int = 16384,  # distinct clouds whose features are remembered (0: encode every call)
    ) -> None:
        super().__init__()
        if (2 * embed_dim) % 6:
            raise ValueError(f"embed_dim must be a multiple of 3 (stage widths: multiples of 6), got {embed_dim}")
        self.embed_dim, self.n_stages, self.k_neighbors = embed_dim, n_stages, k_neighbors
        self.alpha, self.beta = alpha, beta
        self.out_dim = embed_dim * 2**n_stages  # D_pc
        # Training draws its clouds from a point bank of a few draws per cloud (geolink.points), so the same clouds
        # come back epoch after epoch (SkyLink: every street photo of a location brings its 3 clouds again), and a
        # parameter-free encoder gives them the same feature every time: it is computed once. Keyed by a digest of
        # the cloud's bytes, so no caller has to say which cloud it passes; a feature does not depend on its batch
        # mates (bit-identical on CPU, tests/test_models.py), so remembering changes no result.
        self.memo_size = memo_size
        self._memo: dict[tuple, Tensor] = {}

    def _stage(self, xyz: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """FPS, k-NN, local geometry aggregation and max + mean pooling (Eq. 2): ``[B, N, C] -> [B, N/2, 2C]``."""
        lc_xyz, lc_x, knn_xyz, knn_x = _group(xyz, x, self.k_neighbors)
        knn_x = knn_x - lc_x[:, :, None]
        knn_xyz = knn_xyz - lc_xyz[:, :, None]
        knn_x = knn_x / (_per_cloud_std(knn_x) + 1e-5)
        knn_xyz = knn_xyz / (_per_cloud_std(knn_xyz) + 1e-5)
        knn_x = torch.cat([knn_x, lc_x[:, :, None].expand_as(knn_x)], dim=-1)  # [B, G, k, 2C] feature expansion
        pos = trig_pos_embed(knn_xyz, knn_x.shape[-1], self.alpha, self.beta)
        weighted = (knn_x + pos) * pos
        return lc_xyz, F.gelu(weighted.amax(dim=2) + weighted.mean(dim=2))

    def forward(self, points: Tensor) -> Tensor:
        """Encode clouds independently of each other.

        Args:
            points: ``[B, N, 3]`` xyz (centred and unit-sphere scaled, as ``geolink.points`` prepares them),
                ``N >= 2^S``.

        Returns:
            ``[B, E * 2^S]`` global feature F_pc (1152-d for the default config).
        """
        if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] < 2**self.n_stages:
            raise ValueError(f"expected [B, N >= {2**self.n_stages}, 3] points, got {tuple(points.shape)}")
        if self.memo_size <= 0 or points.requires_grad or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return self._encode(points)
        keys = _cloud_keys(points)
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))  # unique, in batch order
        if missing:
            rows = [keys.index(k) for k in missing]
            for key, feature in zip(missing, self._encode(points[rows]), strict=True):
                if len(self._memo) >= self.memo_size:  # first in, first out
                    del self._memo[next(iter(self._memo))]
                self._memo[key] = feature
        return torch.stack([self._memo[k] for k in keys])

    def _encode(self, points: Tensor) -> Tensor:
        xyz = points
        x = trig_pos_embed(xyz, self.embed_dim, self.alpha, self.beta)  # [B, N, E] raw-point embedding
        for _ in range(self.n_stages):
            xyz, x = self._stage(xyz, x)
        return x.amax(dim=1) + x.mean(dim=1)


def _cloud_keys(points: Tensor) -> list[tuple]:
    """One key per cloud of ``points [B, N, 3]``: its shape, dtype, device and a 128-bit digest of its values."""
    host = points.detach().contiguous().cpu().numpy()
    meta = (tuple(points.shape[1:]), str(points.dtype), str(points.device))
    return [(*meta, hashlib.blake2b(cloud.tobytes(), digest_size=16).digest()) for cloud in host]


def _conv_bn_relu(c_in: int, c_out: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=bias), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True))


class _Bottleneck(nn.Module):
    """Point-PN ``Linear2Layer``: residual 1x1-conv bottleneck C -> C/2 -> C on ``[B, C, G, k]``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.net = nn.Sequential(
            nn.Conv2d(channels, half, 1), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, channels, 1), nn.BatchNorm2d(channels),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.net(x) + x)


class _PointPNStage(nn.Module):
    """One Point-PN stage: FPS + k-NN, normalise, Conv expansion, PosE weighting, bottlenecks, max + mean pool."""

    def __init__(self, c_in: int, c_out: int, k: int, alpha: float, beta: float, n_blocks: int, norm: str) -> None:
        super().__init__()
        self.k, self.alpha, self.beta, self.norm = k, alpha, beta, norm
        self.expand = _conv_bn_relu(2 * c_in, c_out, bias=False)
        self.blocks = nn.Sequential(*[_Bottleneck(c_out) for _ in range(n_blocks)])

    def forward(self, xyz: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        lc_xyz, lc_x, knn_xyz, knn_x = _group(xyz, x, self.k)
        knn_xyz = knn_xyz - lc_xyz[:, :, None]  # [B, G, k, 3]
        if self.norm == "scan":  # per centre and axis, by the largest offset among its neighbours
            knn_xyz = knn_xyz / knn_xyz.abs().amax(dim=2, keepdim=True).clamp_min(1e-8)
        else:  # "mn40"
            knn_xyz = knn_xyz / (_per_cloud_std(knn_xyz) + 1e-5)
        b, g, k, _ = knn_x.shape
        knn_x = torch.cat([knn_x, lc_x[:, :, None].expand_as(knn_x)], dim=-1)  # [B, G, k, 2C]
        knn_x = self.expand(knn_x.reshape(b, g * k, -1).transpose(1, 2)).reshape(b, -1, g, k)  # [B, C', G, k]
        pos = trig_pos_embed(knn_xyz, knn_x.shape[1], self.alpha, self.beta, interleave=False).permute(0, 3, 1, 2)
        weighted = self.blocks((knn_x + pos) * pos)
        return lc_xyz, (weighted.amax(dim=-1) + weighted.mean(dim=-1)).transpose(1, 2)  # [B, G, C']


class PointPN(nn.Module):
    """Learnable Point-PN encoder (official GeoLink code): ``[B, N, 3]`` -> ``[B, E * prod(expansion)]``."""

    def __init__(
        self,
        in_channels: int = 4,  # 3 = xyz, 4 = xyz + height above the cloud's lowest point (official)
        embed_dim: int = 576,  # E, raw-embedding width (official TimmModel_eval: 576)
        k_neighbors: int = 40,  # k, neighbours per centre
        alpha: float = 1000.0,  # PosE frequency base
        beta: float = 100.0,  # PosE coordinate scale
        lga_blocks: Sequence[int] = (2, 1, 1, 1),  # residual bottlenecks per stage
        dim_expansion: Sequence[int] = (2, 2, 2, 1),  # width multiplier per stage
        norm: Literal["scan", "mn40"] = "scan",  # neighbour-offset normalisation
        up_axis: int = 1,  # coordinate of the height channel (the code assumes y up)
    ) -> None:
        super().__init__()
        if in_channels not in (3, 4):
            raise ValueError(f"in_channels must be 3 (xyz) or 4 (xyz + height), got {in_channels}")
        self.in_channels, self.up_axis = in_channels, up_axis
        self.embed = _conv_bn_relu(in_channels, embed_dim, bias=False)
        widths = [embed_dim]
        for factor in dim_expansion:
            widths.append(widths[-1] * factor)
        self.stages = nn.ModuleList(
            _PointPNStage(c_in, c_out, k_neighbors, alpha, beta, n, norm)
            for c_in, c_out, n in zip(widths[:-1], widths[1:], lga_blocks, strict=True)
        )
        self.out_dim = widths[-1]  # D_pc

    def forward(self, points: Tensor) -> Tensor:
        """Encode ``[B, N, 3]`` xyz (``N >= 2^stages``) into the ``[B, D_pc]`` global feature F_pc."""
        if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] < 2 ** len(self.stages):
            raise ValueError(f"expected [B, N >= {2 ** len(self.stages)}, 3] points, got {tuple(points.shape)}")
        x = points
        if self.in_channels == 4:
            up = points[..., self.up_axis : self.up_axis + 1]
            x = torch.cat([points, up - up.amin(dim=1, keepdim=True)], dim=-1)  # per-cloud height channel
        xyz, x = points, self.embed(x.transpose(1, 2)).transpose(1, 2)  # [B, N, E]
        for stage in self.stages:
            xyz, x = stage(xyz, x)
        return x.amax(dim=1) + x.mean(dim=1)


@POINT_ENCODERS.register
def point_nn(**kwargs: Any) -> PointNN:
    """Point-NN, classification config (E 72, k 90, alpha 1000, beta 100, 4 stages): 1152-d, no parameters."""
    return PointNN(**{"embed_dim": 72, "k_neighbors": 90, **kwargs})


@POINT_ENCODERS.register
def point_nn_tiny(**kwargs: Any) -> PointNN:
    """CPU-sized Point-NN (E 24, k 16, 4 stages): 384-d, no parameters."""
    return PointNN(**{"embed_dim": 24, "k_neighbors": 16, **kwargs})


@POINT_ENCODERS.register
def point_pn(**kwargs: Any) -> PointPN:
    """Point-PN as in the official GeoLink code (E 576, k 40, xyz + height, 'scan'): 4608-d, learnable."""
    return PointPN(**{"embed_dim": 576, "k_neighbors": 40, **kwargs})


@POINT_ENCODERS.register
def point_pn_tiny(**kwargs: Any) -> PointPN:
    """CPU-sized Point-PN (E 48, k 16): 384-d, learnable."""
    return PointPN(**{"embed_dim": 48, "k_neighbors": 16, **kwargs})
