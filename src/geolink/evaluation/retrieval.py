"""Retrieval metrics for cross-view geo-localization, computed as the official University-1652 code does.

The reference is the ``evaluate`` / ``compute_mAP`` pair shared by University-1652, SUES-200 and DenseUAV (and
copied into Sample4Geo and GeoLink); its semantics are in ``docs/datasets.md`` §4.2-4.5. Per query: score =
dot product of L2-normalised features, ranking by descending score, gallery items labelled -1 (junk) removed
from the ranking, CMC from the first positive, AP by the trapezoid rule over all positives, and a query with
no positive scored 0 but kept in the denominator. Differences from the reference, all deliberate:

* "Recall@top1%". The reference prints CMC[round(0.01 * N_gallery)], i.e. Recall@(round(0.01 N) + 1) (an
  off-by-one), with N the full gallery length even when Sample4Geo-style junking shrank the ranked list. We
  report ``R@top1%`` = Recall@K with K = max(1, round_half_up(N_eff / 100)) over the *effective* gallery
  (junk removed): the K nearest to 1% of the items actually ranked. The reference value is kept, labelled,
  as ``R@top1%_legacy``. University-1652: D->S N = 951 gives K = 10 vs legacy 11; S->D N = 51,355 gives
  K = 514 vs legacy 515.
* Ties. Ranking is by descending score, exact ties broken by ascending gallery index (what a stable sort of
  ``-score`` gives). The reference reverses ``np.argsort(score)`` (unstable), so its order of exact ties
  depends on numpy's sort implementation. Exact ties are not limited to duplicate features: float32 scores
  near 0.02 are spaced ~2e-9 apart, so in a 51k gallery a positive sometimes ties a negative by chance
  (benchmarks/bench_retrieval.py counts them); each such tie can move one positive by one place.
* Memory and time. Queries are processed in chunks and no ranking is materialised: the 0-based rank of a
  positive is the number of non-junk gallery scores above it, plus the equal scores at lower gallery indices,
  counted by comparison when queries have few positives and by binary search in sorted score rows when they
  have many.

Scores are float32 matrix products as in the reference (``torch.mm`` on float32 features). Different chunk
sizes may let BLAS round a dot product differently in the last bit, which can only swap items whose scores
agree to float32 precision.

DenseUAV's SDM@K and MA@K (``evaluateDistance.py``) are ``sdm_at_k`` and ``meter_accuracy_at_k`` over the
top-K lists of ``ranked_indices``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from geolink.locate.geo import haversine_m

#: Gallery label of junk items: removed from every ranking, neither positive nor negative (reference code).
JUNK_LABEL = -1
#: ``"official"``: every gallery item is ranked. ``"sample4geo"``: gallery items whose label no query has are
#: junk too (Sample4Geo's ``U1652DatasetEval``, also GeoLink's released code; docs/datasets.md §4.3).
PROTOCOLS = ("official", "sample4geo")
#: Default working memory of one chunk of queries: its float32 scores plus a row copy and a comparison mask
#: (``retrieval_metrics``) or the int64 partition indices (``ranked_indices``).
SCORE_BUDGET_BYTES = 256 * 2**20
#: Working bytes per score of ``retrieval_metrics``: the float32 score, a float32 row copy and a bool mask.
METRIC_BYTES_PER_SCORE = 9
#: Most positives per query for which a positive's rank is counted by comparisons (two passes over the query's
#: scores per positive); above it the score rows are sorted once and searched (satellite -> drone: 54 per query).
SORT_ABOVE_POSITIVES = 8
#: Largest accepted deviation of a feature row's L2 norm from 1.
NORM_TOLERANCE = 1e-3
#: DenseUAV's SDM decay constant, per degree of (lon, lat) distance (evaluateDistance.py, ``5e3``).
SDM_DECAY_PER_DEGREE = 5000.0
#: Earth radius of DenseUAV's MA@K haversine distance (evaluateDistance.py ``latlog2meter``), in metres.
EARTH_RADIUS_M = 6378137.0


# ---- Recall@K, Recall@top1% and mAP ------------------------------------------------------------------------


def retrieval_metrics(
    query_features: np.ndarray,
    query_labels: np.ndarray,
    gallery_features: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    protocol: str = "official",
    chunk_size: int | None = None,
    per_query: bool = False,
) -> dict:
    """Recall@K, Recall@top1% (corrected and legacy) and mAP of a query set against a gallery, in percent.

    Features must already be L2-normalised (the reference scores are plain dot products); rows whose norm
    differs from 1 by more than ``NORM_TOLERANCE`` raise, rather than being silently renormalised, because an
    unnormalised feature usually means the caller skipped a step the reference performs.

    Args:
        query_features: ``[Q, D]`` L2-normalised rows (computed in float32).
        query_labels: ``[Q]`` integer location labels, all >= 0.
        gallery_features: ``[G, D]`` L2-normalised rows.
        gallery_labels: ``[G]`` integer labels, >= 0 or ``JUNK_LABEL`` (-1) for junk.
        ks: The K of each ``R@K`` key, each >= 1. K larger than the gallery is allowed (it counts every query
            that has a positive).
        protocol: One of ``PROTOCOLS``; ``"sample4geo"`` also junks gallery items whose label no query has.
        chunk_size: Queries scored at once; default: as many as keep the chunk's scores, a copy of them and a
            comparison mask within ``SCORE_BUDGET_BYTES``.
        per_query: Also return each query's outcome, from which every metric above is a mean (the bootstrap
            intervals of ``geolink.evaluation.bootstrap`` resample them).

    Returns:
        ``R@<k>`` for each k, ``R@top1%``, ``R@top1%_legacy`` and ``AP`` (mAP), all in percent over all Q
        queries, a query with no positive in the effective gallery counting 0; ``top1%_k`` and
        ``top1%_legacy_k`` (the K of those two recalls); counts ``n_queries``, ``n_queries_without_positive``,
        ``n_gallery`` (G), ``n_gallery_effective`` (G minus junk); and ``protocol``. With ``per_query``, also
        ``per_query``: ``{"rank": [Q] 0-based rank of the first positive (-1 without positive), "AP": [Q]
        average precision in percent}``, plain lists so the record stays JSON.

    Raises:
        ValueError: Bad shapes, labels, protocol, ks or chunk size, or rows that are not unit length.
    """
    queries = _unit_rows(query_features, "query_features")
    gallery = _unit_rows(gallery_features, "gallery_features")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery dimensions differ: {queries.shape[1]} vs {gallery.shape[1]}")
    q_labels = _labels(query_labels, len(queries), "query_labels", minimum=0)
    g_labels = _labels(gallery_labels, len(gallery), "gallery_labels", minimum=JUNK_LABEL)
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {ks}")
    keep = effective_gallery_mask(q_labels, g_labels, protocol)
    n_effective = int(keep.sum())

    rows, cols = _positive_pairs(q_labels, g_labels, keep)
    ranks = np.empty(len(rows), dtype=np.int64)
    chunk = _chunk_rows(chunk_size, len(gallery), METRIC_BYTES_PER_SCORE)
    for start, stop, scores in _score_chunks(queries, gallery, chunk, keep):
        lo, hi = np.searchsorted(rows, [start, stop])  # pairs are sorted by query
        ranks[lo:hi] = _positive_ranks(scores, rows[lo:hi] - start, cols[lo:hi])

    first_rank, average_precision = _first_rank_and_ap(rows, ranks, len(queries))
    k_top1 = max(1, (n_effective + 50) // 100)  # round half up, in integers so 1% of N is exact
    legacy_index = round(len(gallery) * 0.01)  # the reference's expression, banker's rounding and all

    def recall(k: int) -> float:
        return 100.0 * float(np.count_nonzero(first_rank < k)) / len(queries)

    metrics: dict = {f"R@{k}": recall(k) for k in ks}
    metrics |= {
        "R@top1%": recall(k_top1),
        "R@top1%_legacy": recall(legacy_index + 1),
        "AP": 100.0 * float(average_precision.mean()),
        "top1%_k": k_top1,
        "top1%_legacy_k": legacy_index + 1,
        "n_queries": len(queries),
        "n_queries_without_positive": int(np.count_nonzero(first_rank == _NO_POSITIVE)),
        "n_gallery": len(gallery),
        "n_gallery_effective": n_effective,
        "protocol": protocol,
    }
    if per_query:
        rank = np.where(first_rank == _NO_POSITIVE, -1, first_rank)
        metrics["per_query"] = {"rank": rank.tolist(), "AP": (100.0 * average_precision).tolist()}
    return metrics


def effective_gallery_mask(query_labels: np.ndarray, gallery_labels: np.ndarray, protocol: str) -> np.ndarray:
    """Which gallery items are ranked (not junk) under a protocol.

    Args:
        query_labels: ``[Q]`` integer labels.
        gallery_labels: ``[G]`` integer labels, ``JUNK_LABEL`` for junk.
        protocol: ``"official"`` (only label -1 is junk) or ``"sample4geo"`` (also every label no query has).

    Returns:
        ``[G]`` bool, True for items kept in the ranking.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    gallery_labels = np.asarray(gallery_labels)
    keep = gallery_labels != JUNK_LABEL
    if protocol == "sample4geo":
        keep &= np.isin(gallery_labels, np.asarray(query_labels))
    return keep


# Rank given to queries without any positive: never below any K.
_NO_POSITIVE = np.iinfo(np.int64).max


def _positive_pairs(query_labels: np.ndarray, gallery_labels: np.ndarray, keep: np.ndarray):
    """All (query, gallery) positive pairs, sorted by query then gallery index, without a Q x G mask.

    Returns:
        ``rows [P]`` query indices and ``cols [P]`` gallery indices, int64.
    """
    kept = np.flatnonzero(keep)
    # A stable sort keeps gallery indices ascending inside each label block.
    by_label = kept[np.argsort(gallery_labels[kept], kind="stable")]
    sorted_labels = gallery_labels[by_label]
    starts = np.searchsorted(sorted_labels, query_labels, side="left")
    counts = np.searchsorted(sorted_labels, query_labels, side="right") - starts
    rows = np.repeat(np.arange(len(query_labels), dtype=np.int64), counts)
    offset_in_block = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = by_label[np.repeat(starts, counts) + offset_in_block]
    return rows, cols.astype(np.int64)


def _score_chunks(queries: np.ndarray, gallery: np.ndarray, chunk: int, keep: np.ndarray):
    """Yield ``(start, stop, scores)`` for consecutive chunks of at most ``chunk`` queries.

    ``scores [stop - start, G]`` = ``queries[start:stop] @ gallery^T`` in float32 through ``torch.mm``, as the
    reference scores (torch's BLAS is several times faster than NumPy's bundled OpenBLAS on these shapes), with
    junk columns (``keep`` False) at -inf, so they never count as above, equal or among the top k. One buffer
    serves every chunk (no page faults per chunk); the caller may overwrite it but not keep it past the next chunk.
    """
    import torch

    buffer = np.empty((min(chunk, len(queries)), len(gallery)), dtype=np.float32)
    gallery_t = torch.from_numpy(gallery).T
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        scores = buffer[: stop - start]
        torch.mm(torch.from_numpy(queries[start:stop]), gallery_t, out=torch.from_numpy(scores))
        if not keep.all():
            scores[:, ~keep] = -np.inf
        yield start, stop, scores


def _positive_ranks(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """0-based rank of each positive in its query's ranking after junk removal.

    rank = #{kept j: s_j > s} + #{kept j < col: s_j == s}, i.e. descending score, ties by ascending index. With
    few positives per query (drone -> satellite: one) the scores above each positive are counted by comparison, in
    passes: pass j compares every query that has a j-th positive with its j-th positive's score, on the chunk's
    own rows when every query has one (no copy). With more than ``SORT_ABOVE_POSITIVES``, each score row is
    sorted once and every positive's count found by binary search.

    Args:
        scores: ``[C, G]`` float32 scores of a chunk of queries, junk at -inf (positives are finite, so junk never
            counts as above or equal).
        rows: ``[P]`` chunk-local query index of each positive, sorted; cols: ``[P]`` its gallery index.

    Returns:
        ``[P]`` int64 ranks.
    """
    n_queries, n_gallery = scores.shape
    values = scores[rows, cols]
    block_start = np.searchsorted(rows, rows, side="left")
    offset = np.arange(len(rows)) - block_start  # which positive of its query each pair is
    n_passes = int(offset.max(initial=-1)) + 1
    if n_passes > SORT_ABOVE_POSITIVES:  # many positives per query (satellite -> drone): sorting is cheaper
        ordered = np.sort(scores, axis=1)
        at_least = n_gallery - _count_sorted(ordered, rows, values, strict=True)
        ranks = n_gallery - _count_sorted(ordered, rows, values, strict=False)
        del ordered
    else:
        ranks = np.empty(len(rows), dtype=np.int64)
        at_least = np.empty(len(rows), dtype=np.int64)
        for j in range(n_passes):
            pairs = np.flatnonzero(offset == j)
            r = rows[pairs]
            every_row = len(r) == n_queries  # rows are sorted and distinct within a pass: then r is 0..C-1
            block = scores if every_row else scores[r]
            threshold = values[pairs, None]
            ranks[pairs] = np.count_nonzero(block > threshold, axis=1)
            at_least[pairs] = np.count_nonzero(block >= threshold, axis=1)
    # Equal scores other than the positive itself are rare (duplicate features): count those before it directly.
    tied = np.flatnonzero(at_least - ranks > 1)
    if len(tied):
        batch = max(1, SCORE_BUDGET_BYTES // (8 * n_gallery))  # a float32 row copy and three bool masks
        for start in range(0, len(tied), batch):
            t = tied[start : start + batch]
            equal = scores[rows[t]] == values[t, None]
            before = np.arange(n_gallery)[None, :] < cols[t, None]
            ranks[t] += np.count_nonzero(equal & before, axis=1)
    return ranks


def _count_sorted(ordered: np.ndarray, rows: np.ndarray, values: np.ndarray, strict: bool) -> np.ndarray:
    """How many entries of ``ordered[row]`` are <= value (< value when strict), for every (row, value) pair.

    A binary search vectorised over the pairs, so a chunk needs no Python loop over its queries.

    Args:
        ordered: ``[C, G]`` rows sorted ascending.
        rows: ``[P]`` row of each pair; values: ``[P]`` value of each pair.

    Returns:
        ``[P]`` int64 counts in ``0..G``.
    """
    n = ordered.shape[1]
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = np.full(len(rows), n, dtype=np.int64)
    for _ in range(n.bit_length()):  # each step at least halves hi - lo, which starts at n
        mid = (lo + hi) // 2
        probe = ordered[rows, np.minimum(mid, n - 1)]
        below = probe < values if strict else probe <= values
        active = lo < hi
        lo = np.where(active & below, mid + 1, lo)
        hi = np.where(active & ~below, mid, hi)
    return lo


def _first_rank_and_ap(rows: np.ndarray, ranks: np.ndarray, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each query's first positive and its trapezoid AP (docs/datasets.md §4.2).

    With the positives at 0-based ranks r_1 < ... < r_n, AP = sum_i (1/n) (i/(r_i+1) + (i-1)/r_i) / 2, the
    second term taken as 1 when r_i = 0 (the reference ``compute_mAP``).

    Args:
        rows: ``[P]`` query of each positive, sorted; ranks: ``[P]`` its 0-based rank.
        n_queries: Q.

    Returns:
        ``first_rank [Q]`` int64 (``_NO_POSITIVE`` for a query without positive) and ``ap [Q]`` float64 in [0, 1].
    """
    order = np.lexsort((ranks, rows))
    rows, ranks = rows[order], ranks[order]
    n_positive = np.bincount(rows, minlength=n_queries)
    block_start = np.cumsum(n_positive) - n_positive
    i = (np.arange(len(rows)) - block_start[rows] + 1).astype(np.float64)  # 1-based index among positives
    precision = i / (ranks + 1)
    previous_precision = np.where(ranks == 0, 1.0, (i - 1) / np.maximum(ranks, 1))
    terms = (precision + previous_precision) / 2 / n_positive[rows]
    ap = np.bincount(rows, weights=terms, minlength=n_queries)
    first_rank = np.full(n_queries, _NO_POSITIVE, dtype=np.int64)
    has_positive = n_positive > 0
    first_rank[has_positive] = ranks[block_start[has_positive]]
    return first_rank, ap


# ---- top-K lists -------------------------------------------------------------------------------------------


def ranked_indices(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    k: int,
    gallery_mask: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> np.ndarray:
    """The top-k gallery items of every query, best first, with junk skipped.

    Same ranking as ``retrieval_metrics``: float32 dot products of L2-normalised features, descending score,
    exact ties by ascending gallery index. Inputs are checked for unit norm the same way.

    Args:
        query_features: ``[Q, D]`` L2-normalised rows.
        gallery_features: ``[G, D]`` L2-normalised rows.
        k: List length, ``1 <= k <=`` number of kept gallery items.
        gallery_mask: ``[G]`` bool, False for junk items never to be returned (e.g. ``gallery_labels != -1``,
            or ``effective_gallery_mask``); default: keep all.
        chunk_size: Queries scored at once; default from ``SCORE_BUDGET_BYTES``.

    Returns:
        ``[Q, k]`` int64 indices into the original gallery (junk never appears), so ``sdm_at_k`` can look up
        the gallery positions directly.
    """
    queries = _unit_rows(query_features, "query_features")
    gallery = _unit_rows(gallery_features, "gallery_features")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery dimensions differ: {queries.shape[1]} vs {gallery.shape[1]}")
    keep = np.ones(len(gallery), dtype=bool) if gallery_mask is None else np.asarray(gallery_mask, dtype=bool)
    if keep.shape != (len(gallery),):
        raise ValueError(f"gallery_mask must be [{len(gallery)}], got shape {keep.shape}")
    if not 1 <= k <= keep.sum():
        raise ValueError(f"k must be in 1..{int(keep.sum())} (kept gallery items), got {k}")

    top = np.empty((len(queries), k), dtype=np.int64)
    chunk = _chunk_rows(chunk_size, len(gallery), bytes_per_score=12)  # scores and int64 partition indices
    for start, stop, scores in _score_chunks(queries, gallery, chunk, keep):
        top[start:stop] = _top_k_rows(scores, k)
    return top


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """``[C, k]`` column indices of the k largest scores per row: descending score, ties by ascending index.

    ``scores`` is negated in place (so the partition needs no negated copy) and left that way.
    """
    costs = np.negative(scores, out=scores)
    if k == costs.shape[1]:
        return np.argsort(costs, axis=1, kind="stable")
    candidates = np.argpartition(costs, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(costs, candidates, axis=1)
    top = np.take_along_axis(candidates, np.lexsort((candidates, values), axis=1), axis=1)
    # argpartition picks arbitrarily among scores equal to the k-th; redo those rows with the index tie-break.
    kth = values.max(axis=1)
    for row in np.flatnonzero(np.count_nonzero(costs <= kth[:, None], axis=1) > k):
        cols = np.flatnonzero(costs[row] <= kth[row])
        top[row] = cols[np.lexsort((cols, costs[row, cols]))[:k]]
    return top


# ---- DenseUAV position metrics -----------------------------------------------------------------------------


def sdm_at_k(
    query_lonlat: np.ndarray,
    gallery_lonlat: np.ndarray,
    ranking: np.ndarray,
    k: int,
    dtype: npt.DTypeLike = np.float64,
) -> float:
    """DenseUAV's Spatial Distance Metric SDM@K, in [0, 1] (the reference prints it x100).

    For each query, d_i = Euclidean distance in degrees between its (lon, lat) and that of its i-th retrieved
    gallery item, s_i = exp(-5000 d_i), w_i = 1 - (i-1)/K; SDM@K = sum_i w_i s_i / sum_i w_i, averaged over the
    queries. A retrieval at the query's own position scores 1.

    Args:
        query_lonlat: ``[Q, 2]`` (longitude, latitude) in degrees.
        gallery_lonlat: ``[G, 2]`` (longitude, latitude) in degrees.
        ranking: ``[Q, >= k]`` gallery indices, best first, junk already skipped (``ranked_indices``).
        k: K >= 1.
        dtype: Precision of the coordinate arithmetic. The reference casts coordinates to float32, which
            rounds DenseUAV longitudes (~120 deg) to about 8e-6 deg (~1 m) and moves s_i by up to ~4%;
            ``np.float32`` reproduces that, the float64 default does not.

    Returns:
        The mean SDM@K over queries.
    """
    query, gallery, ranking = _positions(query_lonlat, gallery_lonlat, ranking, k, dtype)
    retrieved = gallery[ranking[:, :k]]  # [Q, k, 2]
    distance = np.sqrt(((retrieved - query[:, None, :]) ** 2).sum(axis=2))
    similarity = np.exp(-SDM_DECAY_PER_DEGREE * distance)
    weight = 1.0 - np.arange(k) / k
    return float(((similarity * weight).sum(axis=1) / weight.sum()).mean())


def meter_accuracy_at_k(
    query_lonlat: np.ndarray,
    gallery_lonlat: np.ndarray,
    ranking: np.ndarray,
    meters: float,
) -> float:
    """DenseUAV's MA@K: the fraction of queries whose top-1 retrieval lies less than ``meters`` away.

    Distance is the haversine great-circle distance on a sphere of radius 6378.137 km, as the reference's
    ``latlog2meter``; the comparison is strict (``distance < K``), as there.

    Args:
        query_lonlat: ``[Q, 2]`` (longitude, latitude) in degrees.
        gallery_lonlat: ``[G, 2]`` (longitude, latitude) in degrees.
        ranking: ``[Q, >= 1]`` gallery indices, best first (only the first column is used).
        meters: The threshold K in metres (the reference sweeps 1..100).

    Returns:
        MA@K in [0, 1].
    """
    query, gallery, ranking = _positions(query_lonlat, gallery_lonlat, ranking, 1, np.float64)
    best = gallery[ranking[:, 0]]
    distance = haversine_m(query[:, 1], query[:, 0], best[:, 1], best[:, 0], radius_m=EARTH_RADIUS_M)
    return float(np.count_nonzero(distance < meters)) / len(query)


# ---- input checks ------------------------------------------------------------------------------------------


def _unit_rows(features: np.ndarray, name: str) -> np.ndarray:
    """``features`` as a C-contiguous float32 ``[N, D]`` array (no copy if already one), rows checked unit."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {features.shape}")
    norms = np.sqrt(np.einsum("ij,ij->i", features, features))
    bad = ~(np.abs(norms - 1.0) <= NORM_TOLERANCE)  # written so NaN and inf rows count as bad
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: {int(bad.sum())} of {len(features)} rows are not L2-normalised (row {first} has norm "
            f"{norms[first]:.6g}); the reference scores are dot products of unit vectors, so normalise first: "
            "features / np.linalg.norm(features, axis=1, keepdims=True)"
        )
    return features


def _labels(labels: np.ndarray, n: int, name: str, minimum: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be [{n}] integers, got shape {labels.shape} dtype {labels.dtype}")
    if n and labels.min() < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {labels.min()}")
    return labels.astype(np.int64, copy=False)


def _chunk_rows(chunk_size: int | None, n_gallery: int, bytes_per_score: int) -> int:
    if chunk_size is None:
        return max(1, SCORE_BUDGET_BYTES // (bytes_per_score * n_gallery))
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


def _positions(query_lonlat, gallery_lonlat, ranking, k: int, dtype: npt.DTypeLike):
    query = np.asarray(query_lonlat, dtype=dtype)
    gallery = np.asarray(gallery_lonlat, dtype=dtype)
    ranking = np.asarray(ranking)
    if query.ndim != 2 or query.shape[1] != 2 or len(query) == 0 or gallery.ndim != 2 or gallery.shape[1] != 2:
        raise ValueError(f"lon/lat arrays must be [N, 2], got {query.shape} and {gallery.shape}")
    if k < 1 or ranking.ndim != 2 or ranking.shape[0] != len(query) or ranking.shape[1] < k:
        raise ValueError(f"ranking must be [{len(query)}, >= {k}] with k >= 1, got shape {ranking.shape}")
    return query, gallery, ranking
