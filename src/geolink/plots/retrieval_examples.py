"""The figure a user looks at first: for a few drone queries, each model's top-ranked satellites, hits and misses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geolink.evaluation.search import top_k
from geolink.plots.figure import figure_title, label_row, note_panel, plt, save_figure
from geolink.plots.model_views import (
    NO_MODELS,
    compared_models,
    embed,
    one_per_location,
    setting_label,
    test_split,
    thumbnail,
)

HIT, MISS = "#1a9850", "#d73027"


def top_k_with_rank(query: np.ndarray, gallery: np.ndarray, query_labels, gallery_labels, k: int):
    """Each query's ``k`` most similar gallery indices and the 1-based rank of its first right gallery item.

    The top ``k`` come from faiss's exact search (``geolink.evaluation.search.top_k``; ties among them keep gallery
    order). The rank counts gallery items scoring strictly higher than the best right one, plus one (0 when the
    gallery holds no right item).

    Args:
        query: ``[Q, D]``, gallery: ``[G, D]`` L2-normalised descriptors; labels ``[Q]`` and ``[G]``.

    Returns:
        ``top [Q, k]`` int indices and ``rank [Q]`` int.
    """
    _, top = top_k(query, gallery, k)
    scores = query @ gallery.T
    right = np.asarray(query_labels)[:, None] == np.asarray(gallery_labels)[None, :]
    best_right = np.where(right, scores, -np.inf).max(axis=1)
    rank = np.where(right.any(axis=1), (scores > best_right[:, None]).sum(axis=1) + 1, 0)
    return top, rank


def retrieval_examples_figure(settings: dict, out_path: str) -> pd.DataFrame:
    """Rows: (query, model); columns: the query and its top-k satellites. Returns the rows drawn: ``location``,
    ``model``, ``rank``, ``top`` (the top-k gallery locations)."""
    models = compared_models(settings["checkpoints"], feature_cache=settings.get("feature_cache"))
    query, gallery = test_split(settings)
    picked = one_per_location(query, settings["n_queries"])
    k = min(settings["top_k"], len(gallery))
    rows = []
    for label, model in models.items():
        q = embed(model, picked["path"].tolist())
        g = embed(model, gallery["path"].tolist())
        top, rank = top_k_with_rank(q, g, picked["location"].to_numpy(), gallery["location"].to_numpy(), k)
        for i, location in enumerate(picked["location"]):
            rows.append({"location": location, "model": label, "rank": int(rank[i]), "top": top[i].tolist()})
    shown = pd.DataFrame(rows, columns=["location", "model", "rank", "top"])
    order = shown.sort_values("location", kind="stable") if not shown.empty else shown
    fig, axes = plt.subplots(max(1, len(order)), k + 1, figsize=(1.25 * (k + 1) + 1.2, 1.3 * max(1, len(order)) + 0.8))
    axes = np.atleast_2d(axes)
    for r, row in enumerate(order.itertuples(index=False)):
        axes[r, 0].imshow(thumbnail(picked.loc[picked["location"] == row.location, "path"].iloc[0]))
        if r == 0:
            axes[r, 0].set_title("drone query", fontsize=7)
        for j, index in enumerate(row.top):
            ax = axes[r, j + 1]
            ax.imshow(thumbnail(gallery["path"].iloc[index]))
            right = gallery["location"].iloc[index] == row.location
            for spine in ax.spines.values():
                spine.set_edgecolor(HIT if right else MISS)
                spine.set_linewidth(3)
            if r == 0:
                ax.set_title(f"top {j + 1}", fontsize=7)
        label_row(axes[r, 0], f"{row.model}\nloc {row.location}\nfirst hit: {row.rank or '-'}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if shown.empty:
        note_panel(axes[0, 0], NO_MODELS)
    figure_title(
        fig,
        f"Top-{k} satellites of drone queries, {setting_label(settings)} (green: right location, red: wrong)",
        settings["synthetic"],
    )
    save_figure(fig, out_path)
    return shown
