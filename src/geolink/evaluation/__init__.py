"""Evaluation: retrieval metrics of the University-1652 / SUES-200 / DenseUAV protocols (model-free)."""

from geolink.evaluation.retrieval import (
    JUNK_LABEL,
    PROTOCOLS,
    effective_gallery_mask,
    meter_accuracy_at_k,
    ranked_indices,
    retrieval_metrics,
    sdm_at_k,
)

__all__ = [
    "JUNK_LABEL",
    "PROTOCOLS",
    "effective_gallery_mask",
    "meter_accuracy_at_k",
    "ranked_indices",
    "retrieval_metrics",
    "sdm_at_k",
]
