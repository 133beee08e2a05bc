"""Bootstrap intervals and seed summaries, against cases computed by hand."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from geolink.evaluation.bootstrap import bootstrap_interval, per_query_values, seed_summary


def test_one_seed_of_twenty_coin_flips_gives_the_binomial_quantiles():
    # Ten hits in twenty queries. A resample's R@1 is 100 * X / 20 with X ~ Binomial(20, 1/2):
    # P(X <= 5) = 21,700 / 2**20 = 0.0207 and P(X <= 6) = 0.0577, so the 2.5 % quantile is X = 6 (30 %);
    # P(X <= 13) = 0.9423 and P(X <= 14) = 0.9793, so the 97.5 % quantile is X = 14 (70 %).
    cdf = np.cumsum([comb(20, k) for k in range(21)]) / 2**20
    assert cdf[5] < 0.025 < cdf[6] and cdf[13] < 0.975 < cdf[14]
    hits = np.array([100.0] * 10 + [0.0] * 10)
    assert bootstrap_interval([[hits]], n_resamples=20_000) == (30.0, 70.0)


def test_seeds_are_pooled_by_resampling_the_same_queries_for_each():
    # Seed 0 finds every query, seed 1 none: every resample's seed-mean is exactly 50, so the interval is a point.
    # Resampling the seeds' queries independently would have given an interval around 50 instead.
    found, missed = np.full(30, 100.0), np.zeros(30)
    assert bootstrap_interval([[found], [missed]]) == (50.0, 50.0)
    # Paired: the same query is hard for both seeds, so pooling the seeds cannot narrow the interval.
    hits = np.array([100.0] * 10 + [0.0] * 10)
    assert bootstrap_interval([[hits], [hits]], n_resamples=20_000) == (30.0, 70.0)


def test_heights_are_strata_averaged_like_the_paper_averages_sues200():
    # Two heights of constant outcomes, 0 and 100: the mean of the heights is 50 in every resample.
    assert bootstrap_interval([[np.zeros(4), np.full(9, 100.0)]]) == (50.0, 50.0)


def test_the_interval_is_reproducible_and_contains_the_estimate():
    rng = np.random.default_rng(1)
    outcomes = [[100.0 * (rng.random(200) < 0.3)] for _ in range(3)]
    low, high = bootstrap_interval(outcomes)
    assert bootstrap_interval(outcomes) == (low, high)
    estimate = np.mean([o[0].mean() for o in outcomes])
    assert low < estimate < high and high - low < 20


def test_seeds_evaluated_on_different_queries_are_refused():
    with pytest.raises(ValueError, match="seed 1 has strata of sizes \\[3\\], seed 0 \\[4\\]"):
        bootstrap_interval([[np.ones(4)], [np.ones(3)]])
    with pytest.raises(ValueError, match="no query"):
        bootstrap_interval([[np.ones(0)]])


def test_per_query_values_average_to_the_metrics():
    per_query = {"rank": [0, 3, -1, 9, 1], "AP": [100.0, 25.0, 0.0, 10.0, 50.0]}
    assert per_query_values(per_query, "R@1").tolist() == [100, 0, 0, 0, 0]
    assert per_query_values(per_query, "R@5").tolist() == [100, 100, 0, 0, 100]  # rank -1: no positive
    assert per_query_values(per_query, "R@10").mean() == 80.0
    assert per_query_values(per_query, "AP").mean() == 37.0
    with pytest.raises(ValueError, match="R@top1%"):
        per_query_values(per_query, "R@top1%")


def test_one_seed_has_no_standard_deviation():
    assert seed_summary([42.0]) == (42.0, None)
    mean, std = seed_summary([10.0, 20.0, 30.0])
    assert (mean, std) == (20.0, 10.0)  # sample std: sqrt((100 + 0 + 100) / 2)
