"""Figure 6: t-SNE of the drone and satellite descriptors of a few locations, false matches marked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geolink.plots.figure import figure_title, note_panel, plt, save_figure
from geolink.plots.model_views import (
    NO_MODELS,
    ComparedModel,
    compared_models,
    embed,
    setting_label,
    spread,
    test_split,
)


def false_matches(query: np.ndarray, query_labels: np.ndarray, gallery: np.ndarray, gallery_labels: np.ndarray):
    """Whether each query's most similar gallery item (inner product of unit descriptors) is another location's.

    Args:
        query: ``[Q, D]``; gallery: ``[G, D]`` L2-normalised descriptors, with their location labels.

    Returns:
        ``[Q]`` bool.
    """
    nearest = (query @ gallery.T).argmax(axis=1)
    return gallery_labels[nearest] != query_labels


def tsne_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """``[N, D]`` -> ``[N, 2]`` t-SNE (scikit-learn, PCA initialisation; perplexity capped for small N).

    Below four points t-SNE has no neighbourhoods to keep; the first two centred coordinates stand in.
    """
    if len(features) < 4:
        return (features - features.mean(axis=0))[:, :2]
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    return TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed).fit_transform(features)


def tsne_points(compared: ComparedModel, query: pd.DataFrame, gallery: pd.DataFrame, n_locations: int) -> pd.DataFrame:
    """One model's points: the drone queries and satellites of ``n_locations`` locations spread over those with
    both, their t-SNE coordinates, and whether each drone image's nearest satellite in the whole gallery is false.

    Returns:
        ``location``, ``view`` (drone / satellite), ``x``, ``y``, ``false`` (False for satellites).
    """
    shared = sorted(set(query["location"]) & set(gallery["location"]))
    locations = spread(shared, n_locations)
    g = embed(compared, gallery["path"].tolist())
    shown_query = query[query["location"].isin(locations)]
    q = embed(compared, shown_query["path"].tolist())
    g_labels = gallery["location"].to_numpy()
    wrong = false_matches(q, shown_query["location"].to_numpy(), g, g_labels)
    in_shown = gallery["location"].isin(locations).to_numpy()
    features = np.concatenate([q, g[in_shown]])
    xy = tsne_2d(features)
    return pd.DataFrame(
        {
            "location": [*shown_query["location"], *gallery["location"][in_shown]],
            "view": ["drone"] * len(q) + ["satellite"] * int(in_shown.sum()),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "false": [*wrong, *([False] * int(in_shown.sum()))],
        }
    )


def tsne_figure(settings: dict, out_path: str) -> dict[str, pd.DataFrame]:
    """One panel per model; returns label -> its points."""
    models = compared_models(settings["checkpoints"], feature_cache=settings.get("feature_cache"))
    query, gallery = test_split(settings)
    # At least 8 inches wide: the title is one line of that length.
    fig, axes = plt.subplots(1, max(1, len(models)), figsize=(max(8.0, 4.2 * len(models)), 4.2), squeeze=False)
    points = {}
    for ax, (label, model) in zip(axes[0], models.items(), strict=False):
        shown = points[label] = tsne_points(model, query, gallery, settings["n_locations"])
        colours = {loc: plt.cm.tab10(i % 10) for i, loc in enumerate(sorted(shown["location"].unique()))}
        for view, marker, size in (("drone", "*", 60), ("satellite", "X", 80)):
            part = shown[shown["view"] == view]
            ax.scatter(part["x"], part["y"], c=[colours[loc] for loc in part["location"]], marker=marker, s=size)
        wrong = shown[shown["false"]]
        ax.scatter(wrong["x"], wrong["y"], s=220, facecolors="none", edgecolors="#1f3cff", linewidths=1.2)
        n_drone = int((shown["view"] == "drone").sum())
        ax.set_title(f"{label}: {len(wrong)} of {n_drone} drone images matched falsely", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if not models:
        note_panel(axes[0, 0], NO_MODELS)
    figure_title(
        fig,
        f"Figure 6: t-SNE, {setting_label(settings)} (stars: drone, crosses: satellite, circles: false)",
        settings["synthetic"],
    )
    save_figure(fig, out_path)
    return points
