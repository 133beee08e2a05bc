"""GeoLink's training losses (arXiv 2604.13183, §3.3-3.5), one file per family.

- ``contrastive``: InfoNCE (Eq. 5), cross-view L_cc (Eq. 6), intra-view L_sc (Eq. 7).
- ``mutual_info``: the vCLUB estimator (Eqs. 8-9) and the geometric-aware regulariser L_ga (Eq. 10).
- ``distill``: unified view relational distillation L_rd (Eqs. 11-14).
- ``total``: the weighted objective of Eq. 15 with every term named.
"""

from geolink.losses.contrastive import cross_view_loss, info_nce, intra_view_loss
from geolink.losses.distill import pairwise_distances, relational_distillation, relational_distillation_loss
from geolink.losses.mutual_info import VCLUB, estimator_step, geometric_aware_estimator_step, geometric_aware_loss
from geolink.losses.total import DEFAULT_WEIGHTS, GeoLinkLoss

__all__ = [
    "DEFAULT_WEIGHTS",
    "VCLUB",
    "GeoLinkLoss",
    "cross_view_loss",
    "estimator_step",
    "geometric_aware_estimator_step",
    "geometric_aware_loss",
    "info_nce",
    "intra_view_loss",
    "pairwise_distances",
    "relational_distillation",
    "relational_distillation_loss",
]
