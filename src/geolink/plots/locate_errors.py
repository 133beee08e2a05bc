"""The locate stage's error map: where each photo was, where it was placed, and how far off, on the map itself."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from geolink.locate.page import MapCanvas  # noqa: E402
from geolink.plots.figure import save_figure  # noqa: E402


def _cdf(errors) -> tuple[np.ndarray, np.ndarray]:
    """The errors in order and the share of photos within each: the points of an empirical CDF."""
    ordered = np.sort(errors)
    return ordered, np.arange(1, len(ordered) + 1) / len(ordered)


def locate_error_figure(
    answers: list[dict], index, summary: dict, out_path: str | Path, untuned: list[dict] | None = None
) -> None:
    """Left: the map with each photo's EXIF position (dot, coloured by error) joined to its estimate (cross).
    Right: the cumulative share of photos within each error, with the median, the 25 m and 50 m marks and the
    error of a random tile (and, when given, the same curve for the checkpoint before ``geolink tune``).

    Args:
        answers: ``geolink.locate.search.locate_photos``'s answers (the photos with a GPS truth are drawn).
        index: The :class:`geolink.locate.index.TileIndex` searched.
        summary: ``geolink.locate.search.error_summary`` of the answers, plus ``chance_median_m`` when known.
        untuned: The answers of the checkpoint the searched one was tuned from, for the same photos.
    """
    canvas = MapCanvas(index)
    known = [a for a in answers if a["error_m"] is not None]
    fig, (ax_map, ax_cdf) = plt.subplots(1, 2, figsize=(11, 5.2), gridspec_kw={"width_ratios": [1.15, 1]})
    ax_map.imshow(np.asarray(canvas.picture))
    if known:
        truth = canvas.points([a["truth_lat"] for a in known], [a["truth_lon"] for a in known])
        estimate = canvas.points([a["lat"] for a in known], [a["lon"] for a in known])
        errors = np.array([a["error_m"] for a in known])
        for (tu, tv), (eu, ev) in zip(truth, estimate, strict=True):
            ax_map.plot([tu, eu], [tv, ev], color="white", lw=1, alpha=0.8)
        ax_map.scatter(estimate[:, 0], estimate[:, 1], marker="x", color="cyan", s=30, label="estimate")
        dots = ax_map.scatter(truth[:, 0], truth[:, 1], c=errors, cmap="RdYlGn_r", s=40, edgecolors="black",
                              label="EXIF position")  # fmt: skip
        fig.colorbar(dots, ax=ax_map, fraction=0.046, pad=0.02, label="error (m)")
        ax_map.legend(loc="lower right", fontsize=8)
        ax_cdf.step(*_cdf(errors), where="post", color="black", label="tuned" if untuned else None)
        before = [a["error_m"] for a in untuned or [] if a["error_m"] is not None]
        if before:
            label = f"untuned (median {np.median(before):.0f} m)"
            ax_cdf.step(*_cdf(before), where="post", color="grey", label=label)
        ax_cdf.axvline(summary["median_m"], color="tab:blue", ls="--", label=f"median {summary['median_m']:.0f} m")
        for metres, colour in ((25, "tab:green"), (50, "tab:olive")):
            ax_cdf.axvline(
                metres, color=colour, ls=":", label=f"{metres} m: {100 * summary[f'within_{metres}m']:.0f} %"
            )
        if summary.get("chance_median_m") is not None:
            chance = summary["chance_median_m"]
            ax_cdf.axvline(chance, color="tab:red", ls="-.", label=f"random tile ~{chance:.0f} m")
        ax_cdf.legend(fontsize=8, loc="lower right")
    ax_map.set_axis_off()
    ax_cdf.set_xlabel("error (m)")
    ax_cdf.set_ylabel("share of photos")
    ax_cdf.set_ylim(0, 1.02)
    ax_cdf.set_xlim(left=0)
    ax_cdf.grid(alpha=0.3)
    title = f"geolink locate: {summary['n_with_gps']} photos"
    if known:
        title += f", median {summary['median_m']:.0f} m, 90th percentile {summary['p90_m']:.0f} m"
    fig.suptitle(title)
    save_figure(fig, out_path)
