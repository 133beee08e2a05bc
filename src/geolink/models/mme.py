"""Mixture of Multi-Expert (MME) block: F_pc [B, D_pc] -> F'_pc [B, out_dim] (arXiv 2604.13183, §3.2.2).

Paper (Eqs. 3-4): n gated experts E_{s_i} and a shared expert E_h "with a 1x1 convolution"; a gating network G
predicts expert weights in R^{B x n}; each expert's output is reweighted by its gate,
F^{s_i}_pc = g_i(F_pc) * E_{s_i}(F_pc) (Eq. 3), and the gated outputs are concatenated (not summed) with the
shared expert's: F'_pc = Concat(F^{s_1}_pc, ..., F^{s_n}_pc, E_h(F_pc)) (Eq. 4). §4.1: the output is 4096-d;
Table 7: n = 3 beats 1, 7 and 15.

Where the paper is silent, the official ``MultiScaleMoECompressor`` (docs/official_code.md §2.3) decides:

- The pooled feature v in R^D is read as a 1-channel 1-D signal ``[B, 1, D]``. Expert i is
  Conv1d(1 -> b, kernel 3, dilation d_i, "same" padding) + BatchNorm1d + ReLU, then the mean over the D
  positions, giving ``[B, b]``. The shared expert is the same with a 1x1 convolution. b = out_dim / (n + 1), so
  every part has the same width (1024 for 3 experts and 4096; 2048 / 512 / 256 for n = 1 / 7 / 15).
- Gate: Linear(D -> D/2) + ReLU + Linear(D/2 -> n) + softmax (dense, no top-k, no load-balancing loss).
- Dilations: the code's comment says 1, 2, 3 but its list is all 1, so its experts are identical in shape. The
  paper's "wider receptive field" and "adaptive scale selection" describe different scales, so the default here
  is d_i = i (1, 2, ..., n); pass ``dilations=(1,) * n_experts`` for the code's literal behaviour.

``expert="conv"`` is that official design. It averages each convolution channel over all D positions, so it
keeps statistics of the feature vector's local patterns but not *which* features are active. Behind the
non-parametric Point-NN of the paper (whose features share a large common component: cosine 0.997 between
different clouds) it maps every cloud to nearly the same F'_pc (cosine 0.9999 at initialisation), and the
3D terms of the loss then cannot train (measured on the synthetic benchmark: L(dro, pc) stays at log B).
``expert="linear"`` (the default) reads the paper's experts as learned projections instead: the feature is
standardised per cloud (an affine-free LayerNorm removes the common offset and scale), each expert is a
Linear(D -> b), and the shared "1x1 convolution" is a Linear too (a 1x1 convolution over D channels at one
position is exactly that). docs/fidelity.md records the choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["MMEBlock"]


def _conv_expert(width: int, kernel_size: int, dilation: int) -> nn.Sequential:
    """Conv1d(1 -> width) + BN + ReLU over the D feature positions, then mean over them: ``[B, 1, D] -> [B, width]``."""
    return nn.Sequential(
        nn.Conv1d(1, width, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2),
        nn.BatchNorm1d(width),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(1),
    )


EXPERT_TYPES = ("linear", "conv")


class MMEBlock(nn.Module):
    """n gated experts + 1 shared expert, concatenated to ``out_dim`` (Eqs. 3-4)."""

    def __init__(
        self,
        in_dim: int,  # D, width of F_pc (1152 for Point-NN, 4608 for Point-PN E=576)
        out_dim: int = 4096,  # width of F'_pc, the image descriptor size
        n_experts: int = 3,  # n, gated experts E_{s_1..n} (Table 7: 1, 3, 7, 15)
        kernel_size: int = 3,  # kernel of the gated experts' convolution (odd)
        dilations: Sequence[int] | None = None,  # d_i per expert (conv experts); None -> 1, 2, ..., n
        expert: str = "linear",  # "linear" (learned projections, default) or "conv" (the official code's)
    ) -> None:
        super().__init__()
        if out_dim % (n_experts + 1):
            raise ValueError(f"out_dim {out_dim} is not divisible by n_experts + 1 = {n_experts + 1}")
        dilations = tuple(range(1, n_experts + 1)) if dilations is None else tuple(dilations)
        if len(dilations) != n_experts:
            raise ValueError(f"need {n_experts} dilations, got {dilations}")
        self.in_dim, self.out_dim, self.n_experts = in_dim, out_dim, n_experts
        self.part_dim = out_dim // (n_experts + 1)  # b, width of each expert's output
        if expert not in EXPERT_TYPES:
            raise ValueError(f"unknown MME expert type {expert!r}; choose one of {', '.join(EXPERT_TYPES)}")
        self.expert_type = expert
        if expert == "conv":
            self.experts = nn.ModuleList(_conv_expert(self.part_dim, kernel_size, d) for d in dilations)
            self.shared = _conv_expert(self.part_dim, 1, 1)  # E_h, the 1x1-convolution shared expert
        else:
            self.experts = nn.ModuleList(nn.Linear(in_dim, self.part_dim) for _ in range(n_experts))
            self.shared = nn.Linear(in_dim, self.part_dim)  # E_h: a 1x1 convolution over the D channels
        self.standardize = nn.LayerNorm(in_dim, elementwise_affine=False) if expert == "linear" else nn.Identity()
        self.gate = nn.Sequential(  # G
            nn.Linear(in_dim, in_dim // 2), nn.ReLU(inplace=True), nn.Linear(in_dim // 2, n_experts), nn.Softmax(dim=-1)
        )

    def forward(self, f_pc: Tensor) -> dict[str, Tensor]:
        """Refine and resize the point-cloud feature.

        Args:
            f_pc: ``[B, D]`` global point-cloud feature F_pc.

        Returns:
            ``f_pc_prime``: ``[B, out_dim]`` F'_pc = Concat(g_1 E_1, ..., g_n E_n, E_h) (Eq. 4), not normalised;
            ``gates``: ``[B, n]`` softmax expert weights G(F_pc) (Eq. 3).
        """
        if self.expert_type == "linear":
            signal = self.standardize(f_pc)  # [B, D]; the gate sees the standardised feature too
            gates = self.gate(signal)  # [B, n]
        else:
            signal = f_pc[:, None, :]  # [B, 1, D]
            gates = self.gate(f_pc)
        parts = [gates[:, i : i + 1] * expert(signal) for i, expert in enumerate(self.experts)]  # Eq. 3
        return {"f_pc_prime": torch.cat([*parts, self.shared(signal)], dim=-1), "gates": gates}  # Eq. 4
