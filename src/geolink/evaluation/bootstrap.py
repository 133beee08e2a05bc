"""How sure a number is: the spread over training seeds and a bootstrap interval over test queries.

A table cell of ours is a metric of one (source, variant, target, condition, direction) averaged over the
training seeds of that variant. Two things make it uncertain, and a cell reports both:

* the **seeds** (training randomness): ``seed_summary`` gives the mean and the sample standard deviation over
  seeds (``None`` with one seed, never a misleading 0);
* the **queries** (a finite test set): ``bootstrap_interval`` resamples the test queries with replacement and
  recomputes the seed-mean, B times, and takes the percentile interval (Efron & Tibshirani 1993, ch. 13).

"Pooled over seeds": one resample draws one set of query indices and applies it to every seed's outcomes
(the seeds evaluate the same test set, so a query that is hard for one model is drawn for all of them); the
statistic is the mean over seeds of that resample's metric. SUES-200's figure is the mean of its heights
(paper §4.1), so each height is a stratum resampled on its own and the statistic averages the strata.

Every metric here is a mean of per-query values (``retrieval_metrics(per_query=True)``): Recall@K of the
indicator "first positive ranked below K", AP of each query's average precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Resamples per interval: enough for the 2.5 % and 97.5 % percentiles to move by well under 0.1 point.
N_RESAMPLES = 2000
#: Resamples drawn at once, so the [S, block, Q] gather stays within tens of MB for University-1652's 37,855 queries.
_BLOCK = 50


def per_query_values(per_query: dict, metric: str) -> np.ndarray:
    """Each query's contribution to ``metric`` in percent, so that their mean is the metric.

    Args:
        per_query: A record's ``per_query`` (``{"rank": [Q], "AP": [Q]}``; rank -1 = no positive).
        metric: ``"AP"`` or ``"R@<k>"``.

    Returns:
        ``[Q]`` float64: AP in percent, or 100 where the first positive ranks below k and 0 elsewhere.
    """
    if metric == "AP":
        return np.asarray(per_query["AP"], dtype=np.float64)
    if metric.startswith("R@") and metric[2:].isdigit():
        rank = np.asarray(per_query["rank"], dtype=np.int64)
        return 100.0 * ((rank >= 0) & (rank < int(metric[2:])))
    raise ValueError(f"no per-query form for metric {metric!r}; use 'AP' or 'R@<k>'")


def seed_summary(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1) over seeds; the std is None for a single seed."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no seed to summarise")
    return float(values.mean()), (float(values.std(ddof=1)) if values.size > 1 else None)


def bootstrap_interval(
    outcomes: Sequence[Sequence[np.ndarray]],
    *,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the seed-mean of a stratified per-query mean.

    Args:
        outcomes: ``outcomes[s][h]`` is the ``[Q_h]`` per-query values of seed ``s`` in stratum ``h`` (a
            SUES-200 height; one stratum elsewhere). Every seed must have the same strata and query counts:
            the seeds are evaluated on the same test set.
        confidence: Coverage of the interval (two-sided, equal tails).
        n_resamples: B.
        seed: Seed of the resampling, so a table is the same on every build.

    Returns:
        ``(low, high)``: the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the B resampled
        statistics, where one statistic is ``mean_s mean_h mean(outcomes[s][h][idx_h])``.

    Raises:
        ValueError: No outcomes, an empty stratum, or seeds whose strata differ in number or size.
    """
    if not outcomes or not outcomes[0]:
        raise ValueError("bootstrap_interval needs at least one seed with one stratum")
    sizes = [len(stratum) for stratum in outcomes[0]]
    for s, strata in enumerate(outcomes):
        if [len(stratum) for stratum in strata] != sizes:
            raise ValueError(
                f"seed {s} has strata of sizes {[len(x) for x in strata]}, seed 0 {sizes}: the seeds must be "
                "evaluated on the same queries"
            )
    if min(sizes) == 0:
        raise ValueError("a stratum has no query")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    # [H] arrays of [S, Q_h]: every seed's values of a stratum, so one index draw serves all seeds.
    strata = [np.stack([np.asarray(strata[h], dtype=np.float64) for strata in outcomes]) for h in range(len(sizes))]
    rng = np.random.default_rng(seed)
    statistics = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, _BLOCK):
        block = min(_BLOCK, n_resamples - start)
        total = np.zeros(block)
        for values in strata:
            index = rng.integers(0, values.shape[1], size=(block, values.shape[1]))
            total += values[:, index].mean(axis=(0, 2))  # [S, block, Q_h] -> mean over seeds and queries
        statistics[start : start + block] = total / len(strata)
    tail = (1 - confidence) / 2
    low, high = np.quantile(statistics, [tail, 1 - tail])
    return float(low), float(high)
