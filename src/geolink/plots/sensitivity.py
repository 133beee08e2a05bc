"""Figure 7: sensitivity of Recall@1 to λ (the L_sc weight, eq. 15) and to the hidden size of vCLUB's q_θ."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geolink.plots.figure import figure_title, note_panel, plt, save_figure
from geolink.tables.cells import cell
from geolink.tables.specs import TABLES

#: Fig. 7 is drawn in Table 7's two settings (the paper: "two generalization scenarios").
SETTINGS = TABLES[7].settings
AXES = {"lambda": "λ (weight of L_sc)", "vclub_hidden": "hidden size of q_θ (vCLUB)"}


def sensitivity_values(
    records: pd.DataFrame | None, sweeps: dict[str, list[dict]], *, confidence: float = 0.95, n_resamples: int = 2000
) -> pd.DataFrame:
    """Recall@1 of each sweep point in each setting.

    Args:
        records: ``geolink.report.load_metrics`` of the evaluations.
        sweeps: sweep name -> ``[{"variant", "x"}]`` in order (``Pipeline.paper_figure_settings``).

    Returns:
        One row per (sweep, setting, point) with a number: ``sweep``, ``setting`` (its label), ``variant``, ``x``,
        ``mean``, ``std``, ``ci_low``, ``ci_high``, ``n_seeds``.
    """
    rows = []
    for sweep, points in sweeps.items():
        for setting in SETTINGS:
            for point in points:
                found = None
                if records is not None:
                    found = cell(
                        records, point["variant"], setting, "R@1", confidence=confidence, n_resamples=n_resamples
                    )
                if found is not None:
                    rows.append(
                        {
                            "sweep": sweep,
                            "setting": setting.label(),
                            "variant": point["variant"],
                            "x": point["x"],
                            "mean": found.mean,
                            "std": found.std,
                            "ci_low": found.ci_low,
                            "ci_high": found.ci_high,
                            "n_seeds": found.n_seeds,
                        }
                    )
    columns = ["sweep", "setting", "variant", "x", "mean", "std", "ci_low", "ci_high", "n_seeds"]
    return pd.DataFrame(rows, columns=columns)


def sensitivity_figure(records: pd.DataFrame | None, settings: dict, out_path: str) -> pd.DataFrame:
    """One panel per sweep, one line per setting; returns the values drawn."""
    sweeps = settings["sweeps"]
    values = sensitivity_values(records, sweeps, confidence=settings["confidence"], n_resamples=settings["resamples"])
    fig, axes = plt.subplots(1, len(AXES), figsize=(9, 3.4), squeeze=False)
    for ax, (sweep, label) in zip(axes[0], AXES.items(), strict=True):
        shown = values[values["sweep"] == sweep]
        if shown.empty:
            note_panel(ax, f"{label}: no variant of figures.sensitivity.{sweep} is trained in this configuration.")
            continue
        for setting, line in shown.groupby("setting", sort=False):
            line = line.sort_values("x")
            x, mean = line["x"].to_numpy(dtype=float), line["mean"].to_numpy(dtype=float)
            yerr = np.nan_to_num(
                np.vstack([mean - line["ci_low"].to_numpy(float), line["ci_high"].to_numpy(float) - mean])
            )
            ax.errorbar(x, mean, yerr=yerr, marker="o", capsize=3, lw=1, label=setting)
            default = line[line["variant"] == settings["default_variant"]]
            ax.scatter(default["x"], default["mean"], s=120, facecolors="none", edgecolors="black", zorder=3)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(shown["x"].unique()), [f"{v:g}" for v in sorted(shown["x"].unique())])
        ax.set_xlabel(label)
        ax.set_ylabel("Recall@1 (%)")
        ax.legend(fontsize=7)
        missing = [p["variant"] for p in sweeps[sweep] if p["variant"] not in set(shown["variant"])]
        ax.set_title("circled: the default" + (f"; not run: {', '.join(missing)}" if missing else ""), fontsize=7)
    figure_title(fig, "Figure 7: sensitivity to λ and to the vCLUB hidden size", settings["synthetic"])
    save_figure(fig, out_path)
    return values
