"""What every figure of the pipeline does the same way: label a row of thumbnails, save atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from geolink.atomic import atomic_output  # noqa: E402


def label_row(ax: plt.Axes, text: str, fontsize: float = 8) -> None:
    """Write ``text`` to the left of ``ax``, the first axes of a row of thumbnails."""
    ax.text(-0.08, 0.5, text, transform=ax.transAxes, ha="right", va="center", fontsize=fontsize)


def save_figure(fig: plt.Figure, out_path: str | Path, dpi: int = 110) -> None:
    """Lay out ``fig``, write it to ``out_path`` atomically (a killed job leaves no half PNG) and close it."""
    fig.tight_layout()
    with atomic_output(out_path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)


def figure_title(fig: plt.Figure, title: str, synthetic: bool) -> None:
    """The figure's title; on the synthetic benchmark with the label that it is not comparable with the paper."""
    from geolink.tables.render import SYNTHETIC_LABEL

    fig.suptitle(f"{title}\n{SYNTHETIC_LABEL}" if synthetic else title, fontsize=10)


def note_panel(ax: plt.Axes, text: str) -> None:
    """An empty panel that says why it is empty (a run the configuration does not train, a log without data)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8, wrap=True)
