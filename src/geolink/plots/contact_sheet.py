"""A contact sheet of dataset images, so a person can see what the pipeline feeds the models."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from geolink.plots.figure import label_row, save_figure  # noqa: E402

TITLES = {"university1652": "University-1652", "sues200": "SUES-200", "denseuav": "DenseUAV"}


def pick_views(manifest: pd.DataFrame, location: str, n_drone: int = 4, n_ground: int = 2) -> list[tuple[str, str]]:
    """One location's images for a row: satellite, drone views spread over altitude, street/web photos.

    Returns (label, path) pairs.
    """
    rows = manifest[manifest["location"] == location]
    picks = []
    sat = rows[rows["view"] == "satellite"].drop_duplicates("path")
    if len(sat):
        picks.append(("satellite", sat.iloc[0]["path"]))
    drone = (
        rows[rows["view"] == "drone"].drop_duplicates("path").sort_values(["altitude", "path"], ascending=[False, True])
    )
    if len(drone):
        index = np.unique(np.linspace(0, len(drone) - 1, min(n_drone, len(drone))).round().astype(int))
        for _, row in drone.iloc[index].iterrows():
            label = "drone" if np.isnan(row["altitude"]) else f"drone {row['altitude']:.0f} m"
            picks.append((label, row["path"]))
    for view in ("street", "google"):
        ground = rows[rows["view"] == view].drop_duplicates("path")
        picks += [(view, path) for path in ground["path"].head(n_ground if view == "street" else 1)]
    return picks


def contact_sheet(
    manifests: list[pd.DataFrame], out_path: str | Path, locations_per_dataset: int = 2, thumb: float = 1.6
) -> None:
    """Draw ``locations_per_dataset`` training locations of every manifest, one row each, to a PNG.

    Args:
        manifests: manifest tables (geolink.data.manifest), one per dataset.
        out_path: PNG to write (atomically).
        thumb: inches per thumbnail.
    """
    rows = []
    for manifest in manifests:
        train = manifest[manifest["role"] == "train"]
        for location in sorted(train["location"].unique())[:locations_per_dataset]:
            rows.append((manifest["dataset"].iloc[0], location, pick_views(train, location)))
    n_cols = max((len(picks) for _, _, picks in rows), default=1)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(thumb * n_cols, thumb * len(rows) + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, (dataset, location, picks) in enumerate(rows):
        for c, (label, path) in enumerate(picks):
            with Image.open(path) as img:
                axes[r, c].imshow(np.asarray(img.convert("RGB")))
            axes[r, c].set_title(label, fontsize=7)
        label_row(axes[r, 0], f"{TITLES.get(dataset, dataset)}\n{location}")
    fig.suptitle("Synthetic benchmark: one row per location", fontsize=10)
    save_figure(fig, out_path)
