"""Our number for one table cell: a metric of one setting, over the seeds of one variant, with its uncertainty.

A *setting* is what a paper cell measures: (source, target, condition, direction) and, for SUES-200, a height
or the mean of its heights (the paper's SUES-200 figures, §4.1). The numbers come from the metrics JSON files
of rule ``evaluate`` (``geolink.report.load_metrics``); nothing is recomputed from features.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from geolink.evaluation.bootstrap import N_RESAMPLES, bootstrap_interval, per_query_values, seed_summary


@dataclass(frozen=True)
class Setting:
    """What one cell measures; ``height`` None = the dataset's headline figure (SUES-200: mean of heights)."""

    source: str
    target: str
    direction: str
    condition: str = "clean"
    height: int | None = None

    def label(self) -> str:
        arrow = {
            "drone_to_satellite": "D→S",
            "satellite_to_drone": "S→D",
            "street_to_satellite": "St→S",
            "satellite_to_street": "S→St",
        }[self.direction]
        label = f"{SHORT[self.source]}→{SHORT[self.target]}{f'@{self.height}m' if self.height else ''} {arrow}"
        return label if self.condition == "clean" else f"{label} ({self.condition})"


SHORT = {"university1652": "U1652", "sues200": "SUES", "denseuav": "DUAV"}


@dataclass(frozen=True)
class Cell:
    """Our value of a metric: mean and sample std over ``n_seeds`` seeds (std None for one seed) and the
    bootstrap interval over test queries, pooled over the seeds (``geolink.evaluation.bootstrap``)."""

    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    n_seeds: int


def _height_key(height) -> str:
    return "" if height is None or (not isinstance(height, str) and pd.isna(height)) else str(height).removesuffix(".0")


def cell(
    records: pd.DataFrame,
    variant: str,
    setting: Setting,
    metric: str,
    *,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    bootstrap_seed: int = 0,
) -> Cell | None:
    """Our value of ``metric`` for ``setting`` over every seed of ``variant``; None when no seed has it.

    Args:
        records: ``geolink.report.load_metrics`` of the evaluations (one row per record, with ``per_query``).
        variant: The training variant (``train.variants``) that re-runs the table's method.
        setting: The cell's setting.
        metric: ``R@<k>`` or ``AP`` (those with a per-query form get an interval; others only mean and std).
    """
    rows = records[
        (records["variant"] == variant)
        & (records["source"] == setting.source)
        & (records["target"] == setting.target)
        & (records["condition"] == setting.condition)
        & (records["direction"] == setting.direction)
    ]
    if rows.empty or metric not in rows:
        return None
    heights = rows["height"].map(_height_key)
    headline = str(setting.height) if setting.height is not None else ("mean" if (heights == "mean").any() else "")
    values, outcomes = [], []
    for _, seed_rows in rows.groupby("seed", sort=True):
        seed_heights = seed_rows["height"].map(_height_key)
        chosen = seed_rows[seed_heights == headline]
        if chosen.empty:
            continue
        values.append(float(chosen[metric].iloc[0]))
        # The strata behind the figure: every height for the SUES-200 mean, else the record itself.
        strata = seed_rows[~seed_heights.isin(["mean"])] if headline == "mean" else chosen
        if "per_query" in strata and strata["per_query"].map(lambda p: isinstance(p, dict)).all():
            try:
                outcomes.append([per_query_values(p, metric) for p in strata.sort_values("height")["per_query"]])
            except ValueError:  # a metric without a per-query form (R@top1%, SDM@K)
                pass
    if not values:
        return None
    mean, std = seed_summary(values)
    low = high = None
    if len(outcomes) == len(values):
        low, high = bootstrap_interval(outcomes, confidence=confidence, n_resamples=n_resamples, seed=bootstrap_seed)
    return Cell(mean=mean, std=std, ci_low=low, ci_high=high, n_seeds=len(values))


def as_float(value) -> float:
    return float("nan") if value is None else float(value)
