"""InfoNCE and the two contrastive families of GeoLink: cross-view L_cc and intra-view L_sc.

GeoLink (arXiv 2604.13183, §3.3.1) builds both families from one InfoNCE objective (Eq. 5, Gutmann and
Hyvärinen 2010). A batch holds one sample per location (docs/official_code.md §1.5), so the positive of row i is
column i and every other column is an in-batch negative. Eq. 5 is written one-directional (query against a
reference set); like Sample4Geo and CV-Cities (docs/components.md §5.1) we average both directions by default.
Neither the paper nor the code clamps the learnable temperature; the label smoothing of 0.1 is the code's
(docs/official_code.md §3.1), the paper is silent on it.

The official ``InfoNCE`` class overwrites its forward logits with self-similarities (docs/official_code.md §3.1),
so every cross-view call there also hides intra-view terms; that bug is not reproduced here: L_cc and L_sc are
kept apart and weighted as Eq. 15 says.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["cross_view_loss", "info_nce", "intra_view_loss"]


def info_nce(
    query: Tensor,
    reference: Tensor,
    logit_scale: Tensor | float,
    label_smoothing: float = 0.0,
    symmetric: bool = True,
) -> Tensor:
    """InfoNCE with in-batch negatives (Eq. 5), positives on the diagonal.

    One-directional (``symmetric=False``), this is Eq. 5 averaged over the batch,
    ``-1/B sum_i log(exp(s q_i.r_i) / sum_j exp(s q_i.r_j))`` with ``s = 1/tau``, i.e. cross-entropy of the rows
    of ``s Q R^T`` against targets ``arange(B)``. Symmetric, it is the mean of that query->reference
    cross-entropy and the reference->query one over the columns, as in Sample4Geo and the official code's intent.
    Label smoothing follows ``torch.nn.functional.cross_entropy``: the target puts ``1 - eps`` on the positive
    and ``eps / B`` on every column (the positive included).

    The features are used as given (no normalisation here): pass L2-normalised descriptors, so that ``q.r`` is
    a cosine similarity and ``s`` alone sets the sharpness.

    Args:
        query: ``[B, D]`` query features, row i belongs to location i.
        reference: ``[B, D]`` reference features, row i is the positive of query row i.
        logit_scale: Scalar ``s = 1/tau`` that multiplies the similarities. The model stores the learnable
            ``log s`` (initialised to ``log(1/0.07)``, docs/official_code.md §2.4); pass ``logit_scale.exp()``.
        label_smoothing: Label smoothing ``eps`` in ``[0, 1)`` of every cross-entropy.
        symmetric: Average both retrieval directions (True) or only query->reference (False, Eq. 5 as written).

    Returns:
        Scalar loss (mean over the batch, and over the two directions if symmetric).
    """
    if query.ndim != 2 or query.shape != reference.shape:
        raise ValueError(f"query and reference must both be [B, D], got {tuple(query.shape)}, {tuple(reference.shape)}")
    logits = logit_scale * query @ reference.T  # [B, B]: row i = query i against every reference
    targets = torch.arange(query.shape[0], device=query.device)
    loss = F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
    if not symmetric:
        return loss
    # The columns of the same matrix are the reference->query retrieval problem.
    return 0.5 * (loss + F.cross_entropy(logits.T, targets, label_smoothing=label_smoothing))


def cross_view_loss(
    f_dro: Tensor,
    f_sat: Tensor,
    f_pc: Tensor,
    logit_scale: Tensor | float,
    label_smoothing: float = 0.1,
    symmetric: bool = True,
) -> dict[str, Tensor]:
    """Cross-view contrastive loss L_cc (Eq. 6): InfoNCE over the three view pairs.

    Args:
        f_dro: ``[B, D]`` drone features F_dro.
        f_sat: ``[B, D]`` satellite features F_sat of the same locations.
        f_pc: ``[B, D]`` 3D features of the same locations. Dot products with the 2D features need the same width
            D, so in GeoLink this is the 4096-d MME output F'_pc (see ``geolink.losses.total``).
        logit_scale: Scalar ``s = 1/tau`` (see ``info_nce``), shared by all terms.
        label_smoothing: Label smoothing of every cross-entropy (official code: 0.1).
        symmetric: Average both retrieval directions of each pair (see ``info_nce``).

    Returns:
        ``{"dro_sat", "dro_pc", "sat_pc"}`` scalar terms and ``"cc"``, their unweighted sum.
    """
    terms = {
        "dro_sat": info_nce(f_dro, f_sat, logit_scale, label_smoothing, symmetric),
        "dro_pc": info_nce(f_dro, f_pc, logit_scale, label_smoothing, symmetric),
        "sat_pc": info_nce(f_sat, f_pc, logit_scale, label_smoothing, symmetric),
    }
    terms["cc"] = terms["dro_sat"] + terms["dro_pc"] + terms["sat_pc"]
    return terms


def intra_view_loss(
    f_dro: Tensor,
    f_sat: Tensor,
    f_pc: Tensor,
    logit_scale: Tensor | float,
    label_smoothing: float = 0.1,
    positive: Literal["self"] = "self",
) -> dict[str, Tensor]:
    """Intra-view (self-contrast) loss L_sc (Eq. 7): ``L(F, F)`` for each view.

    The positive of an anchor is the anchor's own feature ("for a given anchor, its feature is the positive, while
    other instances in the same batch serve as negatives", §3.3.1), which is also what the official code computes
    (CE over ``s F F^T`` with diagonal targets, docs/official_code.md §3.1). With L2-normalised features the
    diagonal is the constant ``s``, so nothing is pulled together: the term only pushes different locations of
    one view apart (a uniformity / repulsion regulariser that keeps similar locations from collapsing). ``s F F^T``
    is symmetric, so the two retrieval directions coincide and one direction is computed.

    A second augmented view as the positive (SimCLR style) is not offered: it needs a second forward pass of every
    encoder on re-augmented inputs, a data-pipeline change rather than a loss change, and neither the paper nor
    the code does it. With such features at hand it is just ``info_nce(f, f_aug, ...)``.

    Args:
        f_dro: ``[B, D]`` drone features F_dro.
        f_sat: ``[B, D_sat]`` satellite features F_sat.
        f_pc: ``[B, D_pc]`` 3D features; in GeoLink the MME output F'_pc (see ``geolink.losses.total``).
        logit_scale: Scalar ``s = 1/tau`` (see ``info_nce``), shared with L_cc.
        label_smoothing: Label smoothing of every cross-entropy (official code: 0.1).
        positive: What the positive of an anchor is; only ``"self"`` (the paper's and the code's definition).

    Returns:
        ``{"dro", "sat", "pc"}`` scalar terms and ``"sc"``, their unweighted sum (λ is applied by the caller).
    """
    if positive != "self":
        raise ValueError(f"positive must be 'self' (the paper's definition), got {positive!r}")
    terms = {
        name: info_nce(feature, feature, logit_scale, label_smoothing, symmetric=False)
        for name, feature in (("dro", f_dro), ("sat", f_sat), ("pc", f_pc))
    }
    terms["sc"] = terms["dro"] + terms["sat"] + terms["pc"]
    return terms
