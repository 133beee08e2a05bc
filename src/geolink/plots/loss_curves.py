"""Figure 4: the InfoNCE between point-cloud and drone / satellite features over training, with and without L_ga.

Read from the dvclive folder each training run publishes: ``plots/metrics/epoch_loss/<term>.tsv`` holds the mean of
one loss term over each epoch's steps (``geolink.train``). ``cc_dro_pc`` and ``cc_sat_pc`` are the cross-view
InfoNCE terms between F'_pc and the drone and satellite descriptors (eq. 11).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from geolink.plots.figure import figure_title, note_panel, plt, save_figure

TERMS = {"cc_dro_pc": "InfoNCE 3D ↔ drone", "cc_sat_pc": "InfoNCE 3D ↔ satellite"}


def epoch_losses(log_dir: str | Path, term: str) -> pd.Series | None:
    """One run's epoch means of a loss term, indexed by epoch (1, 2, ...); None when the run did not log it."""
    path = Path(log_dir) / "plots" / "metrics" / "epoch_loss" / f"{term}.tsv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, sep="\t")
    return pd.Series(table[term].to_numpy(dtype=float), index=table["step"].to_numpy() + 1, name=term)


def curve_table(curves: dict[str, list[str]]) -> pd.DataFrame:
    """Long table of every run's curves: ``curve`` (label), ``run`` (its log folder), ``term``, ``epoch``, ``value``."""
    rows = []
    for label, log_dirs in curves.items():
        for log_dir in log_dirs:
            for term in TERMS:
                series = epoch_losses(log_dir, term)
                if series is not None:
                    rows += [
                        {"curve": label, "run": str(log_dir), "term": term, "epoch": int(e), "value": float(v)}
                        for e, v in series.items()
                    ]
    return pd.DataFrame(rows, columns=["curve", "run", "term", "epoch", "value"])


def loss_curve_figure(settings: dict, out_path: str) -> pd.DataFrame:
    """One panel per term, one line per curve (mean over seeds, band: their range); returns the values drawn."""
    curves = settings["curves"]
    table = curve_table(curves)
    fig, axes = plt.subplots(1, len(TERMS), figsize=(9, 3.4), squeeze=False)
    for ax, (term, title) in zip(axes[0], TERMS.items(), strict=True):
        shown = table[table["term"] == term]
        if shown.empty:
            reasons = [f"{label}: {'no run' if not dirs else 'no epoch_loss log'}" for label, dirs in curves.items()]
            note_panel(
                ax, f"{title}\n" + "\n".join(reasons) + "\n(runs trained before epoch losses were logged: retrain)"
            )
            continue
        for label, lines in shown.groupby("curve", sort=False):
            by_epoch = lines.groupby("epoch")["value"]
            mean, low, high = by_epoch.mean(), by_epoch.min(), by_epoch.max()
            n_runs = lines["run"].nunique()
            (line,) = ax.plot(
                mean.index, mean.to_numpy(), marker=".", label=f"{label} ({n_runs} seed{'s' * (n_runs > 1)})"
            )
            if n_runs > 1:
                ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=line.get_color(), alpha=0.2)
        if settings.get("batch_size"):  # InfoNCE of uniform scores is log(batch) for any (smoothed) target
            ax.axhline(
                math.log(settings["batch_size"]), color="grey", ls="--", lw=0.8, label="log(batch): no information"
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (epoch mean)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
    figure_title(
        fig,
        f"Figure 4: the effect of L_ga on the point-image InfoNCE (trained on {settings['source']})",
        settings["synthetic"],
    )
    save_figure(fig, out_path)
    return table
