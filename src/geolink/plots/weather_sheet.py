"""A contact sheet of the frozen weather test sets: the same drone images, clean and under each condition."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from geolink.plots.contact_sheet import TITLES  # noqa: E402
from geolink.plots.figure import label_row, save_figure  # noqa: E402


def pick_drone_images(manifest: pd.DataFrame, n_images: int = 4) -> pd.DataFrame:
    """Drone query images spread over altitudes and locations: one row of the sheet each.

    Args:
        manifest: A clean or weather manifest restricted to one split.
        n_images: Rows wanted.

    Returns:
        Up to ``n_images`` manifest rows, highest altitude first.
    """
    drone = manifest[(manifest["view"] == "drone") & (manifest["role"] == "query")]
    if drone.empty:
        drone = manifest[manifest["view"] == "drone"]
    drone = drone.sort_values(["altitude", "location", "path"], ascending=[False, True, True], na_position="last")
    if drone.empty:
        return drone
    index = np.unique(np.linspace(0, len(drone) - 1, min(n_images, len(drone))).round().astype(int))
    return drone.iloc[index]


def weather_sheet(
    clean: pd.DataFrame,
    weather: dict[str, pd.DataFrame],
    out_path: str | Path,
    n_images: int = 4,
    thumb: float = 1.7,
) -> None:
    """Draw a grid of drone images (rows) clean and under every weather condition (columns) to a PNG.

    Rows are matched by position: the weather manifests (geolink.data.weather.weather_manifest) keep the clean
    table's row order, so the ``i``-th drone row of each is the same image.

    Args:
        clean: The clean manifest restricted to the weather split.
        weather: ``{condition: weather manifest}`` in column order.
        out_path: PNG to write (atomically).
        n_images: Rows of the sheet.
        thumb: Inches per thumbnail.

    Raises:
        ValueError: If the manifests do not list the same drone images.
    """
    picks = pick_drone_images(clean.reset_index(drop=True), n_images)
    columns = [("clean", clean.reset_index(drop=True))] + [(c, t.reset_index(drop=True)) for c, t in weather.items()]
    for condition, table in columns[1:]:
        if len(table) != len(clean) or not (table["location"].to_numpy() == clean["location"].to_numpy()).all():
            raise ValueError(f"the {condition} manifest does not list the clean manifest's images in the same order")
    fig, axes = plt.subplots(
        max(len(picks), 1),
        len(columns),
        figsize=(thumb * len(columns), thumb * max(len(picks), 1) + 0.5),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    for r, (i, row) in enumerate(picks.iterrows()):
        for c, (condition, table) in enumerate(columns):
            with Image.open(table.loc[i, "path"]) as img:
                axes[r, c].imshow(np.asarray(img.convert("RGB")))
            if r == 0:
                axes[r, c].set_title(condition.replace("_", "-"), fontsize=9)
        altitude = "" if pd.isna(row["altitude"]) else f"\n{row['altitude']:.0f} m"
        label_row(axes[r, 0], f"{row['location']}{altitude}")
    dataset = clean["dataset"].iloc[0] if len(clean) else ""
    fig.suptitle(f"{TITLES.get(dataset, dataset)}: drone images, clean and under each weather condition", fontsize=10)
    save_figure(fig, out_path)
