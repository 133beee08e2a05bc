"""Tests for the retrieval metrics: hand-worked rankings, the top-1% arithmetic, and a brute-force reference.

Hand examples build features whose dot products are exactly the scores wanted: query i is the unit vector
e_i and gallery item j carries score[i, j] in coordinate i (plus one padding coordinate for unit norm), so
``q_i . g_j = score[i, j]`` with no rounding and the ranking is known in advance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from geolink.evaluation import (
    effective_gallery_mask,
    meter_accuracy_at_k,
    ranked_indices,
    retrieval_metrics,
    sdm_at_k,
)

METRIC_KEYS = ("R@1", "R@5", "R@10", "R@top1%", "R@top1%_legacy", "AP")


def features_for_scores(scores) -> tuple[np.ndarray, np.ndarray]:
    """Query ``[Q, Q+1]`` and gallery ``[G, Q+1]`` unit features with ``query @ gallery.T == scores``.

    ``scores`` is ``[Q, G]``; each gallery column must have a sum of squares below 1.
    """
    scores = np.asarray(scores, dtype=np.float32)
    n_queries, n_gallery = scores.shape
    queries = np.eye(n_queries, n_queries + 1, dtype=np.float32)
    gallery = np.zeros((n_gallery, n_queries + 1), dtype=np.float32)
    gallery[:, :n_queries] = scores.T
    gallery[:, n_queries] = np.sqrt(1.0 - (scores.astype(np.float64) ** 2).sum(axis=0))
    assert np.array_equal(queries @ gallery.T, scores)
    return queries, gallery


def descending(n: int) -> np.ndarray:
    """n distinct float32 scores, decreasing with the index, so gallery item j is ranked j-th."""
    return np.linspace(0.9, 0.1, n, dtype=np.float32)


# ---------------------------------------------------------------------------------------- hand examples


def test_junk_removed_before_ranking_two_positives() -> None:
    # Gallery ranked by index: [junk, neg, POS, neg, POS, neg]. Removing the junk item leaves the positives at
    # 0-based ranks r1 = 1 and r2 = 3 of 5 items.
    #   CMC: first positive at rank 1 -> R@1 = 0, R@5 = 1.
    #   AP = 1/2 * 1/2 * (1/(1+1) + 0/1) + 1/2 * 1/2 * (2/(3+1) + 1/3) = 1/8 + 5/24 = 1/3.
    # (Had the junk item counted as a negative, the ranks would be 2 and 4 and AP = 1/12 + 13/80.)
    q, g = features_for_scores([descending(6)])
    metrics = retrieval_metrics(q, np.array([7]), g, np.array([-1, 3, 7, 4, 7, 5]))
    assert metrics["R@1"] == 0.0
    assert metrics["R@5"] == 100.0
    assert metrics["R@10"] == 100.0
    assert metrics["AP"] == pytest.approx(100 / 3)
    assert metrics["n_gallery"] == 6
    assert metrics["n_gallery_effective"] == 5
    assert metrics["n_queries"] == 1
    assert metrics["n_queries_without_positive"] == 0
    assert metrics["protocol"] == "official"


@pytest.mark.parametrize(("rank", "expected_ap"), [(0, 1.0), (1, 0.25), (3, 0.125), (9, 0.05)])
def test_single_positive_ap_is_half_reciprocal_rank(rank: int, expected_ap: float) -> None:
    # One positive at 0-based rank r > 0: AP = 1/2 * (1/(r+1) + 0/r) = 1/(2(r+1)); at r = 0 it is 1.
    labels = np.ones(10, dtype=np.int64)
    labels[rank] = 0
    q, g = features_for_scores([descending(10)])
    metrics = retrieval_metrics(q, np.array([0]), g, labels)
    assert metrics["AP"] == pytest.approx(100 * expected_ap)
    assert metrics["R@1"] == (100.0 if rank == 0 else 0.0)
    assert metrics["R@5"] == (100.0 if rank < 5 else 0.0)


def test_query_without_positive_counts_as_failure() -> None:
    # Query 0 (label 1) finds its positive first: R@1 = AP = 1. Query 1 (label 99) has none: 0 everywhere, but it
    # stays in the denominator, so R@1 = AP = 50% and even R@10 is 50%.
    q, g = features_for_scores([descending(4), descending(4)[::-1].copy()])
    metrics = retrieval_metrics(q, np.array([1, 99]), g, np.array([1, 2, 3, 4]))
    assert metrics["R@1"] == 50.0
    assert metrics["R@10"] == 50.0
    assert metrics["AP"] == 50.0
    assert metrics["R@top1%"] == 50.0
    assert metrics["n_queries_without_positive"] == 1


def test_sample4geo_junks_gallery_labels_no_query_has() -> None:
    # Gallery labels by index: [9, 1, 2, 8, 1, 2]; labels 8 and 9 are distractors (no query has them).
    # Query 0 (label 1), ranked by index: 9, 1, 2, 8, 1, 2.
    #   official:   positives at 1 and 4 -> AP = 1/4 (1/2 + 0) + 1/4 (2/5 + 1/4) = 0.2875; R@1 = 0.
    #   sample4geo: 1, 2, 1, 2 -> positives at 0 and 2 -> AP = 1/4 (1 + 1) + 1/4 (2/3 + 1/2) = 0.791667; R@1 = 1.
    # Query 1 (label 2), scores make the order idx 3 (8), 0 (9), 2 (2), 1 (1), 4 (1), 5 (2).
    #   official:   positives at 2 and 5 -> AP = 1/4 (1/3 + 0) + 1/4 (2/6 + 1/5) = 0.216667; R@1 = 0.
    #   sample4geo: 2, 1, 1, 2 -> positives at 0 and 3 -> AP = 1/4 (1 + 1) + 1/4 (2/4 + 1/3) = 0.708333; R@1 = 1.
    scores = [[0.6, 0.5, 0.4, 0.3, 0.2, 0.1], [0.5, 0.3, 0.4, 0.6, 0.2, 0.1]]
    q, g = features_for_scores(scores)
    q_labels, g_labels = np.array([1, 2]), np.array([9, 1, 2, 8, 1, 2])

    official = retrieval_metrics(q, q_labels, g, g_labels, protocol="official")
    assert official["R@1"] == 0.0
    assert official["R@5"] == 100.0
    assert official["AP"] == pytest.approx(100 * (0.2875 + 13 / 60) / 2)
    assert official["n_gallery_effective"] == 6

    sample4geo = retrieval_metrics(q, q_labels, g, g_labels, protocol="sample4geo")
    assert sample4geo["R@1"] == 100.0
    assert sample4geo["AP"] == pytest.approx(100 * (19 / 24 + 17 / 24) / 2)  # = 75%
    assert sample4geo["n_gallery_effective"] == 4
    assert sample4geo["protocol"] == "sample4geo"
    assert effective_gallery_mask(q_labels, g_labels, "sample4geo").tolist() == [0, 1, 1, 0, 1, 1]


def test_exact_ties_break_by_ascending_gallery_index() -> None:
    # Exactly representable vectors, so the scores tie bit for bit whatever the BLAS summation order:
    # query e0; gallery 2 scores 1.0, the other four 0.5 (one vector, four copies). Ranking: 2, 0, 1, 3, 4.
    # Positives (label 5) are 1, 2 and 4 -> ranks 2, 0 and 4 -> AP = 1/3 [(1 + 1)/2 + (2/3 + 1/2)/2 + (3/5 + 2/4)/2].
    half = [0.5, 0.5, 0.5, 0.5]
    gallery = np.array([half, half, [1, 0, 0, 0], half, half], dtype=np.float32)
    query = np.array([[1, 0, 0, 0]], dtype=np.float32)
    metrics = retrieval_metrics(query, np.array([5]), gallery, np.array([0, 5, 5, 0, 5]))
    assert metrics["AP"] == pytest.approx(100 / 3 * (1 + 7 / 12 + 11 / 20))
    assert ranked_indices(query, gallery, k=5).tolist() == [[2, 0, 1, 3, 4]]
    assert ranked_indices(query, gallery, k=2).tolist() == [[2, 0]]  # the k-th place is a four-way tie
    assert ranked_indices(query, gallery, k=3).tolist() == [[2, 0, 1]]
    mask = np.array([False, True, True, True, True])
    assert ranked_indices(query, gallery, k=2, gallery_mask=mask).tolist() == [[2, 1]]


def test_ties_at_the_kth_place_keep_lowest_indices() -> None:
    # 20 items tied at 0.5 except 19 (0.9) and 10 (0.75): the top 4 are 19, 10, 0, 1. np.argpartition alone
    # returns item 2 instead of 1 here, so this exercises the boundary-tie repair.
    scores = np.full(20, 0.5, dtype=np.float32)
    scores[[19, 10]] = [0.9, 0.75]
    q, g = features_for_scores([scores])
    assert ranked_indices(q, g, k=4).tolist() == [[19, 10, 0, 1]]
    labels = np.ones(20, dtype=np.int64)
    labels[1] = 0  # item 1 is 4th: AP = 1/(2*4)
    assert retrieval_metrics(q, np.array([0]), g, labels)["AP"] == pytest.approx(100 / 8)


# ---------------------------------------------------------------------------------------------- top 1%


@pytest.mark.parametrize(
    ("n_gallery", "k_top1", "k_legacy"),
    [
        # U1652 D->S: 1% of 951 = 9.51 -> K = 10; the reference reads CMC[round(9.51)] = CMC[10] = Recall@11.
        (951, 10, 11),
        # U1652 S->D: 1% of 51,355 = 513.55 -> K = 514; the reference reads CMC[514] = Recall@515.
        (51_355, 514, 515),
    ],
)
def test_top1_percent_correct_and_legacy(n_gallery: int, k_top1: int, k_legacy: int) -> None:
    q, g = features_for_scores([descending(n_gallery)])
    for rank in (k_top1 - 1, k_top1, k_top1 + 1):  # the last hit, the off-by-one place, a miss for both
        labels = np.ones(n_gallery, dtype=np.int64)
        labels[rank] = 0
        metrics = retrieval_metrics(q, np.array([0]), g, labels)
        assert metrics["top1%_k"] == k_top1
        assert metrics["top1%_legacy_k"] == k_legacy
        assert metrics["R@top1%"] == (100.0 if rank < k_top1 else 0.0)
        assert metrics["R@top1%_legacy"] == (100.0 if rank < k_legacy else 0.0)


def test_top1_percent_uses_effective_gallery_legacy_uses_full() -> None:
    # U1652 D->S under sample4geo: 951 satellites, 250 distractors junked -> 701 ranked -> K = round(7.01) = 7,
    # while the legacy value still reads CMC[round(0.01 * 951)] = Recall@11 (docs/datasets.md §4.3).
    g_labels = np.arange(951)
    q_labels = np.arange(701)
    q, g = features_for_scores([descending(951)])
    metrics = retrieval_metrics(q, q_labels[:1], g, g_labels, protocol="sample4geo")
    assert metrics["n_gallery_effective"] == 1  # only label 0 is a query label here
    metrics = retrieval_metrics(np.repeat(q, 701, axis=0), q_labels, g, g_labels, protocol="sample4geo", chunk_size=100)
    assert metrics["n_gallery_effective"] == 701
    assert metrics["top1%_k"] == 7
    assert metrics["top1%_legacy_k"] == 11
    # Every query scores the gallery in index order, so query label l sits at rank l of the 701 kept items.
    assert metrics["R@top1%"] == pytest.approx(100 * 7 / 701)
    assert metrics["R@top1%_legacy"] == pytest.approx(100 * 11 / 701)
    assert metrics["R@1"] == pytest.approx(100 / 701)


# ------------------------------------------------------------------------------- brute-force reference


def reference_ap_and_cmc(index: np.ndarray, good: np.ndarray, junk: np.ndarray) -> tuple[float, np.ndarray]:
    """One query of the reference ``compute_mAP``, written from docs/datasets.md §4.2 on a full ranking.

    Returns AP and the CMC row (length of the full ranking, ``cmc[0] = -1`` for a query without positive).
    """
    cmc = np.zeros(len(index), dtype=np.int64)
    if good.size == 0:
        cmc[0] = -1
        return 0.0, cmc
    index = index[~np.isin(index, junk)]
    hit_rows = np.flatnonzero(np.isin(index, good))
    cmc[hit_rows[0] :] = 1
    n_good = len(good)
    ap = 0.0
    for i, row in enumerate(hit_rows):
        precision = (i + 1) / (row + 1)
        previous = i / row if row != 0 else 1.0
        ap += (1.0 / n_good) * (previous + precision) / 2
    return ap, cmc


def reference_metrics(qf, ql, gf, gl, protocol: str) -> dict:
    """The reference evaluation loop over queries on a full score vector per query (argsort reversed)."""
    if protocol == "sample4geo":
        gl = np.where(np.isin(gl, ql), gl, -1)
    cmc_total = np.zeros(len(gl), dtype=np.int64)
    ap_total = 0.0
    for i in range(len(ql)):
        score = gf @ qf[i]
        index = np.argsort(score)[::-1]
        ap, cmc = reference_ap_and_cmc(index, np.flatnonzero(gl == ql[i]), np.flatnonzero(gl == -1))
        if cmc[0] == -1:
            continue
        cmc_total += cmc
        ap_total += ap
    cmc_rate = cmc_total / len(ql)
    k_top1 = max(1, int(math.floor(np.count_nonzero(gl != -1) / 100 + 0.5)))
    return {
        "R@1": 100 * cmc_rate[0],
        "R@5": 100 * cmc_rate[4],
        "R@10": 100 * cmc_rate[9],
        "R@top1%": 100 * cmc_rate[k_top1 - 1],
        "R@top1%_legacy": 100 * cmc_rate[round(len(gl) * 0.01)],
        "AP": 100 * ap_total / len(ql),
    }


def random_retrieval_set(seed: int, n_queries: int = 60, n_gallery: int = 420, dim: int = 24):
    """Clustered unit features: 40 query labels, 15 distractor labels, junk items, 0-6 positives per label."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((60, dim))
    q_labels = rng.integers(0, 40, n_queries)
    q_labels[:3] = 55  # a few queries whose label has no gallery item at all
    g_labels = rng.integers(0, 55, n_gallery)  # labels 40..54 are distractors no query has
    g_labels[rng.random(n_gallery) < 0.1] = -1
    qf = centres[np.where(q_labels < 60, q_labels, 0)] + 1.2 * rng.standard_normal((n_queries, dim))
    gf = centres[np.maximum(g_labels, 0)] + 1.2 * rng.standard_normal((n_gallery, dim))
    qf = (qf / np.linalg.norm(qf, axis=1, keepdims=True)).astype(np.float32)
    gf = (gf / np.linalg.norm(gf, axis=1, keepdims=True)).astype(np.float32)
    return qf, q_labels, gf, g_labels


@pytest.mark.parametrize("protocol", ["official", "sample4geo"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference(protocol: str, seed: int) -> None:
    qf, ql, gf, gl = random_retrieval_set(seed)
    expected = reference_metrics(qf, ql, gf, gl, protocol)
    got = retrieval_metrics(qf, ql, gf, gl, protocol=protocol)
    assert got["n_queries_without_positive"] >= 3
    for key in METRIC_KEYS:
        assert got[key] == pytest.approx(expected[key], abs=1e-9), key
    assert 0 < got["R@1"] < got["R@10"] < 100  # the data is neither trivial nor hopeless


def test_counting_and_sorting_rank_the_same(monkeypatch) -> None:
    # Both ways of finding a positive's rank (comparisons; binary search in sorted rows): the reference's metrics
    # on its data, and the same per-query ranks and APs as each other when an exact duplicate makes a tie (which
    # both break by gallery index, unlike the reference's unstable argsort).
    import geolink.evaluation.retrieval as retrieval

    qf, ql, gf, gl = random_retrieval_set(4)
    tied = gf.copy()
    tied[7] = tied[3]
    expected = reference_metrics(qf, ql, gf, gl, "official")
    outcomes = []
    for sort_above in (0, 100):
        monkeypatch.setattr(retrieval, "SORT_ABOVE_POSITIVES", sort_above)
        got = retrieval_metrics(qf, ql, gf, gl, chunk_size=13)
        for key in METRIC_KEYS:
            assert got[key] == pytest.approx(expected[key], abs=1e-9), (sort_above, key)
        outcomes.append(retrieval_metrics(qf, ql, tied, gl, chunk_size=13, per_query=True)["per_query"])
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("protocol", ["official", "sample4geo"])
def test_chunked_equals_unchunked(protocol: str) -> None:
    qf, ql, gf, gl = random_retrieval_set(3)
    whole = retrieval_metrics(qf, ql, gf, gl, ks=(1, 3, 5, 10, 50), protocol=protocol)
    for chunk_size in (1, 7, 59):
        assert (
            retrieval_metrics(qf, ql, gf, gl, ks=(1, 3, 5, 10, 50), protocol=protocol, chunk_size=chunk_size) == whole
        )


def test_ranked_indices_match_stable_full_sort() -> None:
    qf, _, gf, gl = random_retrieval_set(4)
    mask = gl != -1
    scores = np.where(mask, qf @ gf.T, -np.inf)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :25]
    assert np.array_equal(ranked_indices(qf, gf, k=25, gallery_mask=mask), expected)
    assert np.array_equal(ranked_indices(qf, gf, k=25, gallery_mask=mask, chunk_size=9), expected)
    full = ranked_indices(qf, gf, k=int(mask.sum()), gallery_mask=mask)
    assert not np.isin(full, np.flatnonzero(~mask)).any()


# ------------------------------------------------------------------------------------------- DenseUAV


def test_sdm_at_k_hand_example() -> None:
    # Query at (120, 30) deg; gallery 0 at the same place (d = 0, s = 1), gallery 1 1e-4 deg east
    # (s = exp(-0.5)), gallery 2 3e-4 deg north (s = exp(-1.5)). Weights for K = 3: 1, 2/3, 1/3 (sum 2).
    query = np.array([[120.0, 30.0]])
    gallery = np.array([[120.0, 30.0], [120.0001, 30.0], [120.0, 30.0003]])
    ranking = np.array([[0, 1, 2]])
    assert sdm_at_k(query, gallery, ranking, 1) == 1.0  # a correct top-1 scores 1
    assert sdm_at_k(query, gallery, ranking, 3) == pytest.approx((1 + 2 / 3 * math.exp(-0.5) + math.exp(-1.5) / 3) / 2)
    assert sdm_at_k(query, gallery, np.array([[1, 0, 2]]), 1) == pytest.approx(math.exp(-0.5))
    # Two queries average: the second is query 0 again with its list reversed.
    both = sdm_at_k(np.repeat(query, 2, axis=0), gallery, np.array([[0, 1, 2], [2, 1, 0]]), 2)
    assert both == pytest.approx((1 + 0.5 * math.exp(-0.5) + math.exp(-1.5) + 0.5 * math.exp(-0.5)) / 1.5 / 2)
    # float32 reproduces the reference's coordinate rounding (120.0001 becomes 120 + 13 ulps of 7.6e-6).
    d32 = float(np.float32(120.0001) - np.float32(120.0))
    assert sdm_at_k(query, gallery, np.array([[1]]), 1, dtype=np.float32) == pytest.approx(math.exp(-5000 * d32))


def test_meter_accuracy_at_k() -> None:
    # 1e-4 deg of latitude on a 6378.137 km sphere: 6378137 * 1e-4 * pi / 180 = 11.132 m.
    query = np.array([[120.0, 30.0], [120.0, 30.0]])
    gallery = np.array([[120.0, 30.0001], [120.0, 30.0]])
    ranking = np.array([[0, 1], [1, 0]])
    assert meter_accuracy_at_k(query, gallery, ranking, 1) == 0.5  # the exact hit is 0 m < 1 m
    assert meter_accuracy_at_k(query, gallery, ranking, 11.13) == 0.5
    assert meter_accuracy_at_k(query, gallery, ranking, 11.14) == 1.0


# -------------------------------------------------------------------------------------------- inputs


def test_rejects_unnormalised_features_and_bad_labels() -> None:
    q, g = features_for_scores([descending(4)])
    labels = np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match="not L2-normalised"):
        retrieval_metrics(2 * q, np.array([0]), g, labels)
    with pytest.raises(ValueError, match="not L2-normalised"):
        retrieval_metrics(q, np.array([0]), np.where(g == g.max(), np.nan, g), labels)
    with pytest.raises(ValueError, match="query_labels must be >= 0"):
        retrieval_metrics(q, np.array([-1]), g, labels)
    with pytest.raises(ValueError, match="protocol"):
        retrieval_metrics(q, np.array([0]), g, labels, protocol="market")
    with pytest.raises(ValueError, match="k must be"):
        ranked_indices(q, g, k=5)


def test_faiss_top_k_hand_example_with_ties_and_junk() -> None:
    from geolink.evaluation.search import top_k

    query = np.array([[1.0, 0.0]], dtype=np.float32)
    # scores 0, 1, 1, 0.6: items 1 and 2 tie exactly, so the lower index comes first
    gallery = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    scores, indices = top_k(query, gallery, 3)
    assert indices.tolist() == [[1, 2, 3]]
    np.testing.assert_allclose(scores, [[1.0, 1.0, 0.6]], atol=1e-6)
    # junk never appears, and indices still point into the full gallery
    _, indices = top_k(query, gallery, 3, gallery_mask=np.array([True, False, True, True]))
    assert indices.tolist() == [[2, 3, 0]]
    with pytest.raises(ValueError, match="k must be in 1..3"):
        top_k(query, gallery, 4, gallery_mask=np.array([True, False, True, True]))


def test_faiss_top_k_matches_the_metric_ranking() -> None:
    from geolink.evaluation.search import top_k

    queries, _, gallery, gallery_labels = random_retrieval_set(5)
    mask = gallery_labels != -1
    _, indices = top_k(queries, gallery, 7, gallery_mask=mask)
    np.testing.assert_array_equal(indices, ranked_indices(queries, gallery, k=7, gallery_mask=mask))
