"""GeoLink's total training objective (Eq. 15): L_cc + L_rd + L_ga + λ L_sc, with every term named.

Which 3D feature goes where. The paper writes "pc" in L_cc (Eq. 6), F_pc in L_sc (Eq. 7), F'_pc in L_ga
(Eqs. 9-10) and "the 3D teacher feature" in L_rd (Eq. 11). Our reading: every one of them is the 4096-d MME output
F'_pc (Eq. 4), for three reasons. (1) L_cc takes dot products between 3D and 2D features, which needs equal
widths: the 2D descriptors and F'_pc are 4096-d (§4.1), the encoder output F_pc is not (1152-d for Point-NN,
4608-d for the code's Point-PN). (2) The paper's Point-NN is non-parametric, so a term on F_pc alone (L_sc's
``L(F_pc, F_pc)``, or a non-detached teacher) would train nothing. (3) The official model returns only the MME
output as its point feature and uses it in every term (docs/official_code.md §2.3, §3.4). The API still takes
``f_pc`` (L_cc, L_sc, L_rd teacher) and ``f_pc_prime`` (L_ga) apart, so a variant can feed them differently;
``f_pc_prime=None`` means "the same tensor as f_pc", the GeoLink wiring.

Weights default to Eq. 15 with λ = 4.0 (§4.1, Fig. 7a). A zero weight switches its family off: it is neither
computed nor returned, so it adds nothing to the graph (and L_ga then needs no estimators).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from torch import Tensor, nn

from geolink.losses.contrastive import cross_view_loss, intra_view_loss
from geolink.losses.distill import relational_distillation_loss
from geolink.losses.mutual_info import VCLUB, geometric_aware_loss

__all__ = ["DEFAULT_WEIGHTS", "GeoLinkLoss"]

#: Eq. 15: L_total = L_cc + L_rd + L_ga + λ L_sc with λ = 4.0.
DEFAULT_WEIGHTS: dict[str, float] = {"cc": 1.0, "rd": 1.0, "ga": 1.0, "sc": 4.0}


class GeoLinkLoss(nn.Module):
    """Weighted sum of the four loss families of GeoLink (Eq. 15), returning every term by name.

    Args:
        weights: Family weights; missing keys take ``DEFAULT_WEIGHTS`` (Eq. 15, λ = 4.0), 0 switches a family off.
        label_smoothing: Label smoothing of every InfoNCE cross-entropy (official code 0.1; paper silent).
        symmetric: Average both retrieval directions in L_cc (Sample4Geo; Eq. 5 is one-directional).
        rd_normalization: ``"mean"`` (distances over their mean over i != j, RKD's), ``"paper"`` (over their sum,
            Eqs. 11-13 as printed) or ``"official"`` (mean over B^2 entries), see ``geolink.losses.distill``.
        detach_teacher: Stop L_rd's gradients into the 3D teacher.
        query_view: Short name of the query view in the returned keys: ``"dro"`` (GeoLink's drone images) or
            ``"str"`` (SkyLink's street images, which take the drone's place in every term: ``cc/str_sat``,
            ``sc/str``, ``ga/str``, ``rd/str``).
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        label_smoothing: float = 0.1,
        symmetric: bool = True,
        rd_normalization: Literal["mean", "paper", "official"] = "mean",
        detach_teacher: bool = True,
        query_view: str = "dro",
    ) -> None:
        super().__init__()
        weights = dict(weights or {})
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown loss families {sorted(unknown)}; expected a subset of {list(DEFAULT_WEIGHTS)}")
        self.weights = {**DEFAULT_WEIGHTS, **{name: float(value) for name, value in weights.items()}}
        if any(value < 0 for value in self.weights.values()):
            raise ValueError(f"loss weights must be >= 0, got {self.weights}")
        if not any(self.weights.values()):
            raise ValueError("every loss weight is 0")
        self.label_smoothing = label_smoothing
        self.symmetric = symmetric
        self.rd_normalization = rd_normalization
        self.detach_teacher = detach_teacher
        self.query_view = query_view

    def forward(
        self,
        f_dro: Tensor,
        f_sat: Tensor,
        f_pc: Tensor,
        f_pc_prime: Tensor | None,
        logit_scale: Tensor | float,
        club_dro: VCLUB | None = None,
        club_sat: VCLUB | None = None,
    ) -> dict[str, Tensor]:
        """Compute the enabled families.

        Args:
            f_dro: ``[B, D]`` L2-normalised drone descriptors.
            f_sat: ``[B, D]`` L2-normalised satellite descriptors of the same locations.
            f_pc: ``[B, D]`` 3D features for L_cc, L_sc and the L_rd teacher (GeoLink: F'_pc, L2-normalised).
            f_pc_prime: ``[B, D_pc]`` F'_pc for L_ga, or None to use ``f_pc``.
            logit_scale: Scalar ``1/tau`` of the InfoNCE terms (the model's ``logit_scale.exp()``).
            club_dro: Estimator of q(F_dro | F'_pc); required while the ``ga`` weight is non-zero.
            club_sat: Estimator of q(F_sat | F'_pc); required while the ``ga`` weight is non-zero.

        Returns:
            Unweighted terms ``cc/dro_sat``, ``cc/dro_pc``, ``cc/sat_pc``, ``sc/dro``, ``sc/sat``, ``sc/pc``,
            ``ga/dro``, ``ga/sat``, ``rd/sat``, ``rd/dro``; weighted family totals ``cc``, ``sc``, ``ga``, ``rd``
            (weight times the family's sum); and ``total``, the sum of the family totals. Families with weight 0
            are absent. All values are scalar tensors attached to the graph.
        """
        families: dict[str, dict[str, Tensor]] = {}
        if self.weights["cc"]:
            families["cc"] = cross_view_loss(f_dro, f_sat, f_pc, logit_scale, self.label_smoothing, self.symmetric)
        if self.weights["sc"]:
            families["sc"] = intra_view_loss(f_dro, f_sat, f_pc, logit_scale, self.label_smoothing)
        if self.weights["ga"]:
            if club_dro is None or club_sat is None:
                raise ValueError("the ga term needs club_dro and club_sat (or set its weight to 0)")
            f_pc_prime = f_pc if f_pc_prime is None else f_pc_prime
            families["ga"] = geometric_aware_loss(club_dro, club_sat, f_dro, f_sat, f_pc_prime)
        if self.weights["rd"]:
            families["rd"] = relational_distillation_loss(
                f_dro, f_sat, f_pc, self.rd_normalization, self.detach_teacher
            )

        out: dict[str, Tensor] = {}
        for family, terms in families.items():
            out.update({f"{family}/{self._named(name)}": value for name, value in terms.items() if name != family})
            out[family] = self.weights[family] * terms[family]
        out["total"] = sum(out[family] for family in families)
        return out

    def _named(self, term: str) -> str:
        """A term's name with the query view's short name (``dro_sat`` -> ``str_sat`` for street queries)."""
        return "_".join(self.query_view if part == "dro" else part for part in term.split("_"))

    def extra_repr(self) -> str:
        return (
            f"weights={self.weights}, label_smoothing={self.label_smoothing}, symmetric={self.symmetric}, "
            f"rd_normalization={self.rd_normalization!r}, detach_teacher={self.detach_teacher}, "
            f"query_view={self.query_view!r}"
        )
