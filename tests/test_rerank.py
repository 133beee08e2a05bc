"""k-reciprocal re-ranking (geolink.evaluation.rerank) against hand-computed cases and independent properties."""

from __future__ import annotations

import numpy as np
import pytest

from geolink.evaluation.rerank import (
    _expanded_reciprocal_mask,
    _neighbour_order,
    _original_distances,
    _reciprocal_mask,
    k_reciprocal_distances,
    rerank_top_k,
)


def _on_circle(degrees: list[float]) -> np.ndarray:
    """Unit vectors in 2-D at the given angles: ||a - b||^2 = 2 - 2 cos(angle between them)."""
    radians = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_lambda_one_returns_row_max_normalised_original_distance() -> None:
    rng = np.random.default_rng(7)
    queries, gallery = _unit_rows(rng, 9, 16), _unit_rows(rng, 13, 16)
    got = k_reciprocal_distances(queries, gallery, k1=5, k2=3, lambda_value=1.0)

    # From the definition, in float64: squared Euclidean distance from query i to every pooled item (queries and
    # gallery), divided by the largest of them; then the gallery columns.
    q64, g64 = queries.astype(np.float64), gallery.astype(np.float64)
    pooled = np.concatenate([q64, g64])
    expected = np.empty((9, 13))
    for i in range(9):
        to_all = ((pooled - q64[i]) ** 2).sum(axis=1)
        expected[i] = ((g64 - q64[i]) ** 2).sum(axis=1) / to_all.max()
    assert got.dtype == np.float32
    assert got.shape == (9, 13)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_hand_computed_tiny_case() -> None:
    # Pooled items (angles in degrees): 0 = query q at 0; gallery g0 at 40, g1 at 90, g2 at 150, g3 at -75.
    # Angle between pairs (distance grows with it): q-g0 40, q-g3 75, q-g1 90, q-g2 150; g0-g1 50, g0-g2 110,
    # g0-g3 115; g1-g2 60, g1-g3 165; g2-g3 135. No ties.
    #
    # k1 = 2, N(p, 2) = p and its 2 nearest others:
    #   N(q) = {q, g0, g3}   N(g0) = {g0, q, g1}   N(g1) = {g1, g0, g2}   N(g2) = {g2, g1, g0}   N(g3) = {g3, q, g0}
    # R(p, 2) keeps g in N(p) with p in N(g):
    #   R(q) = {q, g0, g3}   R(g0) = {g0, q, g1}   R(g1) = {g1, g0, g2}   R(g2) = {g2, g1} (g2 not in N(g0))
    #   R(g3) = {g3, q} (g3 not in N(g0))
    # k1/2 = 1: N(q,1) = {q,g0}, N(g0,1) = {g0,q}, N(g1,1) = {g1,g0}, N(g2,1) = {g2,g1}, N(g3,1) = {g3,q}, so
    #   R(q,1) = R(g0,1) = {q, g0} and R(g1,1) = {g1}, R(g2,1) = {g2}, R(g3,1) = {g3}.
    # Eq. 6 adds nothing: every R(c,1) of a candidate c is either inside R(p) or fails 2/3 (R(g0,1) vs R(g1):
    # overlap 1 < 4/3). So R* = R.
    # k2 = 1: no query expansion. V_p = exp(-d(p, .)) on R*(p), scaled to sum 1, with d row-max normalised.
    # Jaccard of q with each gallery item, shared support:
    #   g0: {q, g0}      g1: {g0}      g2: none, so d_J = 1 exactly      g3: {q, g3}
    angles = [0.0, 40.0, 90.0, 150.0, -75.0]
    got = k_reciprocal_distances(_on_circle(angles[:1]), _on_circle(angles[1:]), k1=2, k2=1, lambda_value=0.3)

    a = np.deg2rad(np.array(angles))
    squared = 2.0 - 2.0 * np.cos(a[:, None] - a[None, :])
    d = squared / squared.max(axis=1, keepdims=True)
    supports = [[0, 1, 4], [1, 0, 2], [2, 1, 3], [3, 2], [4, 0]]  # R*(q), R*(g0), ..., R*(g3) from above
    v = np.zeros((5, 5))
    for p, support in enumerate(supports):
        v[p, support] = np.exp(-d[p, support])
        v[p] /= v[p].sum()
    jaccard = np.array([1.0 - np.minimum(v[0], v[g]).sum() / np.maximum(v[0], v[g]).sum() for g in range(1, 5)])
    assert jaccard[2] == 1.0
    expected = 0.7 * jaccard + 0.3 * d[0, 1:]
    np.testing.assert_allclose(got, expected[None, :], rtol=0, atol=1e-6)

    # k2 = 2: each V_p becomes the mean of V_p and V of p's nearest other item (from the N(p, 1) above):
    # q -> g0, g0 -> q, g1 -> g0, g2 -> g1, g3 -> q. Now q shares support with g2 through g1.
    nearest = [1, 0, 1, 2, 0]
    v2 = (v + v[nearest]) / 2.0
    jaccard2 = np.array([1.0 - np.minimum(v2[0], v2[g]).sum() / np.maximum(v2[0], v2[g]).sum() for g in range(1, 5)])
    assert jaccard2[2] < 1.0
    got2 = k_reciprocal_distances(_on_circle(angles[:1]), _on_circle(angles[1:]), k1=2, k2=2, lambda_value=0.3)
    np.testing.assert_allclose(got2, (0.7 * jaccard2 + 0.3 * d[0, 1:])[None, :], rtol=0, atol=1e-6)


def test_expansion_adds_half_neighbourhood_at_the_two_thirds_boundary() -> None:
    # Items at angles 0, 4, 11, 20, 33, 38, 39 degrees (indices 0..6), k1 = 3, k1/2 rounded up = 2.
    # N(0,3) = {0,1,2,3}, but N(3,3) = {3,2,4,1} lacks 0, so R(0,3) = {0,1,2}.
    # Candidate 2: N(2,2) = {2,1,3}; 1 has 2 in N(1,2) = {1,0,2} and 3 has 2 in N(3,2) = {3,2,4}, so
    # R(2,2) = {1,2,3}. Its overlap with R(0,3) is {1,2}: 2 >= 2/3 * 3 (equality), so 3 joins: R*(0,3) = {0,1,2,3}.
    order = _neighbour_order(_original_distances(_on_circle([0, 4, 11, 20, 33, 38, 39])))
    assert np.flatnonzero(_reciprocal_mask(order, 3)[0]).tolist() == [0, 1, 2]
    assert np.flatnonzero(_expanded_reciprocal_mask(order, 3)[0]).tolist() == [0, 1, 2, 3]


def test_reranking_replaces_a_non_reciprocal_nearest_neighbour() -> None:
    # Query 0 at 0 deg, with its own group of queries at -2, -3, -8, -9. The false match f (gallery 0, at 5 deg)
    # is the nearest gallery item but sits in front of a dense group of queries at 7..9 deg: those are nearer
    # to f than q is, so q is not in N(f, 4) and f is not a k-reciprocal neighbour of q. The true match t
    # (gallery 1, at -6 deg) is farther than f but inside q's group, so R*(q) and R*(t) share members.
    queries = _on_circle([0, -2, -3, -8, -9, 7, 7.5, 8, 8.5, 9])
    gallery = _on_circle([5, -6, 90])

    original = k_reciprocal_distances(queries, gallery, k1=4, k2=2, lambda_value=1.0)
    assert int(original[0].argmin()) == 0  # by the plain distance the false match wins

    reranked = k_reciprocal_distances(queries, gallery, k1=4, k2=2, lambda_value=0.3)
    assert int(reranked[0].argmin()) == 1
    # No shared k-reciprocal support with f: its Jaccard distance is exactly 1.
    np.testing.assert_allclose(reranked[0, 0], 0.7 + 0.3 * original[0, 0], rtol=0, atol=1e-6)
    assert rerank_top_k(queries, gallery, k=1, k1=4, k2=2, lambda_value=0.3)[0, 0] == 1
    assert rerank_top_k(queries, gallery, k=1, k1=4, k2=2, lambda_value=1.0)[0, 0] == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"k1": 0}, "k1"),
        ({"k1": 2.5}, "k1"),
        ({"k2": 0}, "k2"),
        ({"k2": -3}, "k2"),
        ({"lambda_value": -0.1}, "lambda_value"),
        ({"lambda_value": 1.5}, "lambda_value"),
        ({"lambda_value": float("nan")}, "lambda_value"),
    ],
)
def test_invalid_parameters_raise_naming_the_argument(kwargs: dict[str, float], name: str) -> None:
    features = _on_circle([0, 10, 20])
    with pytest.raises(ValueError, match=name) as info:
        k_reciprocal_distances(features[:1], features[1:], **kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_invalid_features_raise_naming_the_argument() -> None:
    features = _on_circle([0, 10, 20])
    with pytest.raises(ValueError, match="query_features"):
        k_reciprocal_distances(features[0], features[1:])
    with pytest.raises(ValueError, match="gallery_features"):
        k_reciprocal_distances(features[:1], features[1:, :, None])
    with pytest.raises(ValueError, match="feature dimension D"):
        k_reciprocal_distances(features[:1], np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="query_features"):
        k_reciprocal_distances(np.full((1, 2), np.nan), features[1:])
    with pytest.raises(ValueError, match="k"):
        rerank_top_k(features[:1], features[1:], k=0)


def test_k1_above_pool_size_is_clipped() -> None:
    rng = np.random.default_rng(3)
    queries, gallery = _unit_rows(rng, 3, 4), _unit_rows(rng, 4, 4)
    # With k1 >= Q + G - 1 every item is in every neighbourhood, so clipping cannot change the result.
    np.testing.assert_array_equal(
        k_reciprocal_distances(queries, gallery, k1=1000, k2=2),
        k_reciprocal_distances(queries, gallery, k1=7, k2=2),
    )


def test_rerank_top_k_orders_by_distance_and_breaks_ties_by_lower_index() -> None:
    # Coordinates whose products are exact, so gallery 1 and 2 are at exactly the same distance from the query.
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    gallery = np.array([[0.0, 1.0], [0.6, 0.8], [0.6, -0.8], [-1.0, 0.0]], dtype=np.float32)
    # Distances 2, 0.8, 0.8, 4 (row max 4): order 1, 2 (tie, lower index first), 0, 3.
    assert rerank_top_k(query, gallery, k=3, lambda_value=1.0).tolist() == [[1, 2, 0]]
    assert rerank_top_k(query, gallery[[0, 2, 1, 3]], k=3, lambda_value=1.0).tolist() == [[1, 2, 0]]

    # k > G gives every gallery item once, in the order of the re-ranked distances.
    rng = np.random.default_rng(11)
    queries, many = _unit_rows(rng, 5, 8), _unit_rows(rng, 6, 8)
    top = rerank_top_k(queries, many, k=50, k1=4, k2=2)
    assert top.shape == (5, 6)
    distances = k_reciprocal_distances(queries, many, k1=4, k2=2)
    for row, dist in zip(top, distances, strict=True):
        assert sorted(row.tolist()) == list(range(6))
        assert np.all(np.diff(dist[row]) >= 0)
