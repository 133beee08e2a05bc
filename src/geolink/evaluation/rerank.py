"""k-reciprocal re-ranking of a query x gallery retrieval, as a plain numpy function.

Reference: Z. Zhong, L. Zheng, D. Cao, S. Li, "Re-ranking Person Re-identification with k-reciprocal Encoding",
CVPR 2017 (arXiv:1701.08398). Written here from the paper's definitions; equation numbers below are the paper's.

Queries and gallery items are pooled into one set of N = Q + G items. For each item p:

* ``N(p, k)``: p itself followed by its k nearest other items under the original distance d;
* ``R(p, k)``: the k-reciprocal neighbours, the g in N(p, k) that also have p in N(g, k) (Eq. 4);
* ``R*(p, k)``: R(p, k) joined with R(q, k/2) of every candidate q in R(p, k) for which
  |R(q, k/2) ∩ R(p, k)| >= 2/3 |R(q, k/2)| (Eq. 6), which takes back true matches that a hard positive or a
  crowd of near negatives pushed just out of the strict reciprocal set;
* ``V_p``: the k-reciprocal feature, weight exp(-d(p, g)) on g in R*(p, k) and 0 elsewhere, scaled to sum 1
  (Eq. 7-8);
* local query expansion (Eq. 10): V_p replaced by the mean of V_g over the k2 nearest items g of p (p included,
  so ``k2 = 1`` leaves V unchanged);
* Jaccard distance d_J(p, g) = 1 - sum_i min(V_p,i, V_g,i) / sum_i max(V_p,i, V_g,i) (Eq. 9-11);
* final distance d*(p, g) = (1 - lambda) d_J(p, g) + lambda d(p, g) (Eq. 12).

Parameters:

* ``k1`` (default 20): the k of the k-reciprocal neighbourhood R*(p, k1). Larger values reach further into a
  cluster but let more negatives in.
* ``k2`` (default 6): the size of the local query expansion; 1 switches it off.
* ``lambda_value`` (default 0.3): the weight of the original distance in the final one; 1 returns the
  original distance unchanged, 0 the Jaccard distance alone.

Use in this project: re-ranking the street -> satellite top-k lists of the UAVM challenge answer file.
SkyLink's release defines a re-ranking function with k1 = 20, k2 = 6, lambda = 0.3 but never calls it; these
are the defaults here, and ``rerank_top_k`` gives the re-ranked lists.

Memory: the pooled distance matrix, the neighbour-membership masks and the V matrix are each (Q + G)^2
(float32 or bool), so the peak is a small multiple of 4 (Q + G)^2 bytes: about 50 MB per matrix for the
challenge's 2,579 street queries x 951 satellites. Nothing of size Q x G x (Q + G) is ever formed.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

__all__ = ["k_reciprocal_distances", "rerank_top_k"]


def _check_features(name: str, features: np.ndarray) -> np.ndarray:
    """Validate one feature matrix and return it as float32 ``[n, D]``."""
    array = np.asarray(features)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, D], got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return array


def _check_positive_int(name: str, value: object) -> int:
    # bool is an Integral; k1=True is almost certainly a mistake, so it is refused.
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _original_distances(features: np.ndarray) -> np.ndarray:
    """Row-normalised squared Euclidean distances between all pooled items.

    Args:
        features: ``[N, D]`` float32, L2-normalised (then ||a - b||^2 = 2 - 2 cos(a, b)).

    Returns:
        ``[N, N]`` float32 in [0, 1]; row p is d(p, .) divided by max_g d(p, g). Not symmetric.
    """
    squared_norms = np.einsum("nd,nd->n", features, features)
    dist = features @ features.T
    dist *= -2.0
    dist += squared_norms[:, None]
    dist += squared_norms[None, :]
    # Cancellation in ||a||^2 + ||b||^2 - 2ab can leave tiny negatives; a distance is >= 0 and d(p, p) = 0.
    np.maximum(dist, 0.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    # The paper's implementation note: each row is divided by its maximum, so every item's distances lie in
    # [0, 1] and the Gaussian weights exp(-d) of Eq. 7 are on the same scale for every item.
    row_max = dist.max(axis=1, keepdims=True)
    # A row of zeros (every item identical to p) stays zeros instead of becoming NaN.
    dist /= np.where(row_max > 0.0, row_max, 1.0)
    return dist


def _neighbour_order(dist: np.ndarray) -> np.ndarray:
    """``[N, N]`` int: row p lists the items by increasing d(p, .), p itself first, ties by lower index."""
    # p is put first explicitly: with duplicate features another item is also at distance 0 and a plain sort
    # could rank it before p, which would drop p from its own neighbourhood.
    keyed = dist.copy()
    np.fill_diagonal(keyed, -1.0)
    return np.argsort(keyed, axis=1, kind="stable")


def _reciprocal_mask(order: np.ndarray, k: int) -> np.ndarray:
    """``[N, N]`` bool, row p marks R(p, k): g in N(p, k) and p in N(g, k).

    N(p, k) is the first k + 1 entries of ``order[p]`` (p and its k nearest others), clipped to N items.
    """
    n = order.shape[0]
    size = min(k + 1, n)
    in_neighbourhood = np.zeros((n, n), dtype=bool)
    np.put_along_axis(in_neighbourhood, order[:, :size], True, axis=1)
    # Row p of the transpose says which g have p in their neighbourhood.
    return in_neighbourhood & in_neighbourhood.T


def _expanded_reciprocal_mask(order: np.ndarray, k1: int) -> np.ndarray:
    """``[N, N]`` bool, row p marks R*(p, k1) of Eq. 6.

    Args:
        order: ``[N, N]`` neighbour order from ``_neighbour_order``.
        k1: neighbourhood size k; the candidates' sets use k/2 rounded up (at least 1).
    """
    strict = _reciprocal_mask(order, k1)
    half = _reciprocal_mask(order, (k1 + 1) // 2)
    half_sizes = half.sum(axis=1)
    expanded = strict.copy()
    for p in range(order.shape[0]):
        candidates = np.flatnonzero(strict[p])
        candidate_sets = half[candidates]  # [c, N]
        overlap = (candidate_sets & strict[p]).sum(axis=1)
        # |R(q, k/2) ∩ R(p, k)| >= 2/3 |R(q, k/2)|, in integers so that 3 * overlap == 2 * size is not lost to
        # rounding.
        accepted = 3 * overlap >= 2 * half_sizes[candidates]
        if accepted.any():
            expanded[p] |= candidate_sets[accepted].any(axis=0)
    return expanded


def k_reciprocal_distances(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """Re-ranked distances between queries and gallery items (Zhong et al., CVPR 2017).

    Args:
        query_features: ``[Q, D]`` L2-normalised float features of the queries.
        gallery_features: ``[G, D]`` L2-normalised float features of the gallery.
        k1: k-reciprocal neighbour count (>= 1); values above Q + G are clipped to Q + G.
        k2: local query expansion size (>= 1), p itself included; 1 disables the expansion. Clipped to Q + G.
        lambda_value: weight of the original distance in [0, 1].

    Returns:
        ``[Q, G]`` float32 distances d* = (1 - lambda) d_J + lambda d, smaller = closer, where d is the squared
        Euclidean distance with each pooled row divided by its maximum.

    Raises:
        ValueError: an argument is out of range or the feature arrays are not 2-D with the same D.
    """
    queries = _check_features("query_features", query_features)
    gallery = _check_features("gallery_features", gallery_features)
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query_features and gallery_features must have the same feature dimension D, "
            f"got {queries.shape[1]} and {gallery.shape[1]}"
        )
    k1 = _check_positive_int("k1", k1)
    k2 = _check_positive_int("k2", k2)
    if isinstance(lambda_value, bool) or not isinstance(lambda_value, Real) or not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be a number in [0, 1], got {lambda_value!r}")

    n_query, n_gallery = queries.shape[0], gallery.shape[0]
    if n_query == 0 or n_gallery == 0:
        return np.zeros((n_query, n_gallery), dtype=np.float32)
    n_total = n_query + n_gallery
    k1 = min(k1, n_total)
    k2 = min(k2, n_total)

    dist = _original_distances(np.concatenate([queries, gallery], axis=0))
    order = _neighbour_order(dist)
    reciprocal = _expanded_reciprocal_mask(order, k1)

    # Eq. 7-8: Gaussian kernel of the original distance on R*(p, k1), then each row scaled to sum 1.
    # d is in [0, 1], so every weight on the support is >= exp(-1) and the support of V is exactly R*.
    weights = np.where(reciprocal, np.exp(-dist), np.float32(0.0)).astype(np.float32, copy=False)
    weights /= weights.sum(axis=1, keepdims=True)  # p is always in R*(p), so no row sums to 0

    if k2 > 1:
        # Eq. 10: the mean over N(p, k2) = p and its k2 - 1 nearest others. Accumulated one neighbour rank at
        # a time so that no [N, k2, N] array is formed.
        expanded = np.zeros_like(weights)
        for rank in range(k2):
            expanded += weights[order[:, rank]]
        expanded /= np.float32(k2)
        weights = expanded

    # Eq. 9-11. Each V row sums to 1, and min(a, b) + max(a, b) = a + b, so
    # sum max(V_p, V_g) = 2 - sum min(V_p, V_g): only the sum of minima is needed. The minima are taken only
    # over the support of V_p, which is a few k1 items, so a query costs G x |support| work.
    gallery_weights = weights[n_query:]
    shared = np.empty((n_query, n_gallery), dtype=np.float64)
    for p in range(n_query):
        support = np.flatnonzero(weights[p])
        shared[p] = np.minimum(gallery_weights[:, support], weights[p, support]).sum(axis=1, dtype=np.float64)
    jaccard = 1.0 - shared / (2.0 - shared)

    # Eq. 12, on the query rows x gallery columns of the pooled matrix.
    final = (1.0 - lambda_value) * jaccard + lambda_value * dist[:n_query, n_query:].astype(np.float64)
    return final.astype(np.float32)


def rerank_top_k(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    k: int,
    **params: float,
) -> np.ndarray:
    """The k best gallery items of each query under the re-ranked distance.

    Args:
        query_features: ``[Q, D]`` L2-normalised float features.
        gallery_features: ``[G, D]`` L2-normalised float features.
        k: list length (>= 1); values above G give all G items.
        **params: ``k1``, ``k2``, ``lambda_value`` of ``k_reciprocal_distances``.

    Returns:
        ``[Q, min(k, G)]`` int64 gallery indices by increasing re-ranked distance, exact ties by lower index.
    """
    k = _check_positive_int("k", k)
    distances = k_reciprocal_distances(query_features, gallery_features, **params)
    # Stable sort: exact ties keep the ascending gallery-index order, as the retrieval metrics assume.
    order = np.argsort(distances, axis=1, kind="stable")
    return order[:, : min(k, distances.shape[1])].astype(np.int64, copy=False)
