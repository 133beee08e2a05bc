"""Figure 1: same-area vs cross-area Recall@1 on SUES-200 at 150 m, drone → satellite."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geolink.plots.figure import figure_title, note_panel, plt, save_figure
from geolink.tables.cells import SHORT, Setting, cell

TARGET, HEIGHT, DIRECTION = "sues200", 150, "drone_to_satellite"
#: The training datasets, same area first.
SOURCES = ("sues200", "university1652", "denseuav")


def transfer_values(
    records: pd.DataFrame | None, models: dict[str, str], *, confidence: float = 0.95, n_resamples: int = 2000
) -> pd.DataFrame:
    """Recall@1 on SUES-200 at 150 m (drone → satellite) of each model trained on each source.

    Args:
        records: ``geolink.report.load_metrics`` of the evaluations.
        models: label -> training variant.

    Returns:
        One row per (model, source) that was run: ``model``, ``source``, ``area`` (``same`` / ``cross``), ``mean``,
        ``std`` (None for one seed), ``ci_low``, ``ci_high``, ``n_seeds``.
    """
    rows = []
    for label, variant in models.items():
        for source in SOURCES:
            if records is None:
                continue
            found = cell(
                records,
                variant,
                Setting(source, TARGET, DIRECTION, height=HEIGHT),
                "R@1",
                confidence=confidence,
                n_resamples=n_resamples,
            )
            if found is not None:
                rows.append(
                    {
                        "model": label,
                        "source": source,
                        "area": "same" if source == TARGET else "cross",
                        "mean": found.mean,
                        "std": found.std,
                        "ci_low": found.ci_low,
                        "ci_high": found.ci_high,
                        "n_seeds": found.n_seeds,
                    }
                )
    columns = ["model", "source", "area", "mean", "std", "ci_low", "ci_high", "n_seeds"]
    return pd.DataFrame(rows, columns=columns)


def transfer_figure(records: pd.DataFrame | None, settings: dict, out_path: str) -> pd.DataFrame:
    """Grouped bars: one group per model, one bar per training dataset; returns the values drawn."""
    values = transfer_values(
        records, settings["models"], confidence=settings["confidence"], n_resamples=settings["resamples"]
    )
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if values.empty:
        note_panel(ax, "No run of the GeoLink, CV-Cities or Sample4Geo variants in this configuration.")
    else:
        models = list(dict.fromkeys(values["model"]))
        width = 0.8 / len(SOURCES)
        colours = {"sues200": "#2b8cbe", "university1652": "#f16913", "denseuav": "#8c6bb1"}
        for i, source in enumerate(SOURCES):
            shown = values[values["source"] == source].set_index("model").reindex(models)
            x = np.arange(len(models)) + (i - (len(SOURCES) - 1) / 2) * width
            mean = shown["mean"].to_numpy(dtype=float)
            low = mean - shown["ci_low"].to_numpy(dtype=float)
            high = shown["ci_high"].to_numpy(dtype=float) - mean
            kind = "same area" if source == TARGET else "cross area"
            ax.bar(x, mean, width, color=colours[source], label=f"trained on {SHORT[source]} ({kind})")
            ax.errorbar(x, mean, yerr=np.nan_to_num(np.vstack([low, high])), fmt="none", ecolor="black", lw=0.8)
            for xi, m, n in zip(x, mean, shown["n_seeds"], strict=True):
                if not np.isnan(m):
                    ax.text(xi, m, f"{m:.1f}\n({int(n)}s)", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(np.arange(len(models)), models)
        ax.set_ylabel("Recall@1 (%)")
        top = float(np.nanmax(values["ci_high"].fillna(values["mean"])))
        ax.set_ylim(0, min(105.0, top * 1.25 + 2))
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title("SUES-200 at 150 m, drone → satellite (n s = seeds)", fontsize=8)
    figure_title(fig, "Figure 1: same-area vs cross-area Recall@1", settings["synthetic"])
    save_figure(fig, out_path)
    return values
