"""Top-k lists through faiss: the gallery items nearest a query, where only the first k are needed.

The retrieval examples figure, the challenge answer and ``geolink locate`` need each query's k best gallery items,
never a whole ranking; faiss's exact inner-product search (``faiss.knn``: blocked BLAS products and a k-heap per
query, no ``Q x G`` score matrix) gives them at the speed of the matrix product, on a GPU when faiss has one.
The metrics (``geolink.evaluation.retrieval``) keep their own exact ranking, because a metric must order exact
ties the reference way and faiss's order among equal scores is not specified.

Ordering: descending score, exact ties by ascending gallery index, as the metrics rank. faiss is asked for k + 1
items; a row whose (k+1)-th score equals its k-th (a tie across the list's end, where faiss may have kept any of
the tied items) is scored again in full and sorted stably, which rarely happens with real features.
"""

from __future__ import annotations

import numpy as np

#: Most queries searched at once: bounds faiss's result heaps and the caller's working memory.
QUERY_BLOCK = 16_384


def top_k(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    k: int,
    gallery_mask: np.ndarray | None = None,
    use_gpu: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k gallery items of highest inner product with each query, best first (faiss exact search).

    Args:
        query_features: ``[Q, D]`` float32 descriptors (L2-normalised, so inner product = cosine).
        gallery_features: ``[G, D]`` float32 descriptors.
        k: List length, ``1 <= k <=`` number of kept gallery items.
        gallery_mask: ``[G]`` bool, False for items never to be returned (junk); default: all kept. Kept rows
            are copied once when some are masked.
        use_gpu: search on a GPU (``True``), on the CPU (``False``) or on a GPU when faiss has one (``None``).

    Returns:
        ``scores [Q, k]`` float32 and ``indices [Q, k]`` int64 into the original gallery.
    """
    import faiss

    queries = np.ascontiguousarray(query_features, dtype=np.float32)
    gallery = np.ascontiguousarray(gallery_features, dtype=np.float32)
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1] or not len(gallery):
        raise ValueError(f"need [Q, D] queries and a non-empty [G, D] gallery, got {queries.shape} and {gallery.shape}")
    kept = None
    if gallery_mask is not None:
        mask = np.asarray(gallery_mask, dtype=bool)
        if mask.shape != (len(gallery),):
            raise ValueError(f"gallery_mask must be [{len(gallery)}], got shape {mask.shape}")
        if not mask.all():
            kept = np.flatnonzero(mask)
            gallery = np.ascontiguousarray(gallery[kept])
    if not 1 <= k <= len(gallery):
        raise ValueError(f"k must be in 1..{len(gallery)} (kept gallery items), got {k}")

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if use_gpu and not gpus:
        raise RuntimeError("use_gpu=True, but this faiss has no GPU (install a faiss GPU build, or use_gpu=None)")
    resources = faiss.StandardGpuResources() if gpus and use_gpu is not False else None
    scores = np.empty((len(queries), k), dtype=np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    asked = min(k + 1, len(gallery))  # one more, to see ties across the list's end
    for start in range(0, len(queries), QUERY_BLOCK):
        block = queries[start : start + QUERY_BLOCK]
        if resources is not None:
            d, i = faiss.knn_gpu(resources, block, gallery, asked, metric=faiss.METRIC_INNER_PRODUCT)
        else:
            d, i = faiss.knn(block, gallery, asked, metric=faiss.METRIC_INNER_PRODUCT)
        order = np.lexsort((i, -d), axis=1)  # descending score, ties by ascending index
        d, i = np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
        if asked > k:
            for row in np.flatnonzero(d[:, k] == d[:, k - 1]):
                row_scores = gallery @ block[row]
                i[row, :k] = np.argsort(-row_scores, kind="stable")[:k]
                d[row, :k] = row_scores[i[row, :k]]
        scores[start : start + len(block)] = d[:, :k]
        indices[start : start + len(block)] = i[:, :k]
    if kept is not None:
        indices = kept[indices]
    return scores, indices
