"""Unified view relational distillation L_rd of GeoLink: 3D -> 2D batch-distance structure.

GeoLink (arXiv 2604.13183, §3.4, Eqs. 11-14) matches the normalised pairwise-distance matrix of each 2D view
(student) to that of the 3D feature (teacher): the distance-wise loss of relational knowledge
distillation (RKD, Park et al., CVPR 2019; lenscloth/RKD ``RkdDistance``) with MSE in place of Huber. Only
relative distances are compared, so the student and teacher widths may differ and the loss is blind to any global
scale, rotation and shift of either feature set.

Normalisations (B = batch size, d = pairwise Euclidean distance, pairs i != j throughout):

- ``"mean"`` (default): A(i, j) = d(i, j) / mu with mu = mean_{m != n} d(m, n), MSE over the B(B-1) pairs. This
  is RKD's distance potential (mu = 1/|X^2| sum d) and Eqs. 11-13 with their normaliser read as the mean over
  m != n rather than the sum: each relation is O(1) whatever B, so the term acts at weight 1 (Eq. 15) as Table 5
  requires. It equals the paper's literal value times (B(B-1))^2 (3136 at B = 8).
- ``"paper"`` (Eqs. 11-13 as printed): A(i, j) = d(i, j) / sum_{m != n} d(m, n), MSE over the B(B-1) pairs. The
  relations are O(1 / B^2), the loss O(1 / B^4) and its gradient into the image encoder about 1e-5 of L_cc's on
  the tiny model at B = 8 (docs/fidelity.md L4): the term barely acts.
- ``"official"`` (docs/official_code.md §3.2): each distance is divided by the mean over all B^2 entries (diagonal
  zeros included) and the MSE averages over B^2 entries; this is ``"mean"`` times B / (B - 1) (8/7 at B = 8) and the
  paper's times B^3 (B - 1) (192 at B = 4, 3584 at B = 8). The code's ``+ 1e-8`` after the division cancels in the
  difference and is left out.

The teacher is detached by default (paper: unstated, its wording is one-way, "from 3D space to 2D features"; RKD:
the teacher under ``no_grad``; official code: not detached, so there the MME is also pulled towards the 2D
relations).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["RD_NORMALIZATIONS", "pairwise_distances", "relational_distillation", "relational_distillation_loss"]

#: The affinity normalisations of ``relational_distillation`` (see the module docstring).
RD_NORMALIZATIONS = ("mean", "paper", "official")


def pairwise_distances(features: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distances between the rows, with a finite gradient where two rows coincide.

    ``d(i, j) = sqrt(||f_i - f_j||^2 + eps)`` off the diagonal, exactly 0 on it. The plain norm has gradient
    ``(f_i - f_j) / ||f_i - f_j||``, which is 0/0 = NaN when two rows are equal (duplicate locations, a collapsed
    batch). With ``eps`` inside the root the gradient there is exactly 0 and finite everywhere, the distances are
    biased by at most ``sqrt(eps)`` (1e-6), and a fully collapsed batch still has a positive distance sum to
    normalise by. The squared norms come from explicit differences rather than the Gram expansion, which can turn
    slightly negative and never gives an exact zero for equal rows. Memory is ``O(B^2 D)``, negligible at GeoLink's
    batch of 8.

    Args:
        features: ``[B, D]`` features.
        eps: Added to every off-diagonal squared distance before the square root.

    Returns:
        ``[B, B]`` symmetric distance matrix with a zero diagonal.
    """
    squared = (features[:, None, :] - features[None, :, :]).pow(2).sum(dim=-1)  # [B, B]
    off_diagonal = ~torch.eye(features.shape[0], dtype=torch.bool, device=features.device)
    # The diagonal is masked rather than set to sqrt(eps), so the "official" mean over B^2 entries stays exact.
    return torch.where(off_diagonal, (squared + eps).sqrt(), torch.zeros_like(squared))


def relational_distillation(
    student: Tensor,
    teacher: Tensor,
    normalization: Literal["mean", "paper", "official"] = "mean",
    detach_teacher: bool = True,
    eps: float = 1e-12,
) -> Tensor:
    """Relational distillation loss L_rd^(v) of one student view (Eqs. 11-13).

    Args:
        student: ``[B, D_s]`` 2D features of one view (B >= 2).
        teacher: ``[B, D_t]`` 3D features of the same locations, row i with row i.
        normalization: ``"mean"`` (distances over their mean over i != j, RKD's), ``"paper"`` (over their sum,
            Eqs. 11-12 as printed; (B(B-1))^2 times smaller) or ``"official"`` (B / (B - 1) times ``"mean"``), see
            the module docstring.
        detach_teacher: Stop gradients into the teacher, so only the student learns the relations.
        eps: Smoothing of the pairwise distances at zero (see ``pairwise_distances``).

    Returns:
        Scalar loss.
    """
    if normalization not in RD_NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {RD_NORMALIZATIONS}, got {normalization!r}")
    if student.ndim != 2 or teacher.ndim != 2 or student.shape[0] != teacher.shape[0]:
        raise ValueError(f"expected [B, D_s] and [B, D_t], got {tuple(student.shape)} and {tuple(teacher.shape)}")
    batch = student.shape[0]
    if batch < 2:
        raise ValueError("relational distillation needs a batch of at least 2")
    if detach_teacher:
        teacher = teacher.detach()
    d_student, d_teacher = pairwise_distances(student, eps), pairwise_distances(teacher, eps)
    if normalization == "official":
        return (d_student / d_student.mean() - d_teacher / d_teacher.mean()).pow(2).mean()
    # The diagonal is zero, so the full sum is the sum over m != n (Eqs. 11-12), and its squared difference is
    # zero, so the full sum over i, j is the sum over i != j of Eq. 13.
    pairs = batch * (batch - 1)
    scale = pairs if normalization == "mean" else 1  # sum / pairs = the mean over m != n
    a_student, a_teacher = d_student * (scale / d_student.sum()), d_teacher * (scale / d_teacher.sum())
    return (a_student - a_teacher).pow(2).sum() / pairs


def relational_distillation_loss(
    f_dro: Tensor,
    f_sat: Tensor,
    f_pc: Tensor,
    normalization: Literal["mean", "paper", "official"] = "mean",
    detach_teacher: bool = True,
    eps: float = 1e-12,
) -> dict[str, Tensor]:
    """Unified view relational distillation L_rd = L_rd^(sat) + L_rd^(dro) (Eq. 14), teacher = 3D feature.

    Args:
        f_dro: ``[B, D]`` drone features (student).
        f_sat: ``[B, D]`` satellite features (student).
        f_pc: ``[B, D_pc]`` 3D features (teacher); in GeoLink the MME output, as in the official code.
        normalization: See ``relational_distillation``.
        detach_teacher: See ``relational_distillation``.
        eps: See ``relational_distillation``.

    Returns:
        ``{"sat", "dro"}`` scalar terms and ``"rd"``, their sum.
    """
    terms = {
        name: relational_distillation(student, f_pc, normalization, detach_teacher, eps)
        for name, student in (("sat", f_sat), ("dro", f_dro))
    }
    terms["rd"] = terms["sat"] + terms["dro"]
    return terms
