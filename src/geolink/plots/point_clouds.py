"""Point-cloud QC figure: a few reconstructed clouds per dataset, seen from above and from the side."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from geolink.plots.contact_sheet import TITLES  # noqa: E402
from geolink.plots.figure import save_figure  # noqa: E402
from geolink.recon.colmap_text import read_points3d_text  # noqa: E402


def plot_point_clouds(
    shard_dirs: dict[str, list[str]], qc: dict[str, pd.DataFrame], out_path: str | Path, per_dataset: int = 3
) -> None:
    """Draw ``per_dataset`` successful clouds of each dataset: top view (x, y) and side view (x, z), true colours.

    Args:
        shard_dirs: dataset -> its reconstruct shard folders.
        qc: dataset -> merged QC table (``geolink.recon.collect``).
        out_path: PNG, written atomically.
    """
    panels = []
    for dataset, table in qc.items():
        ok = table[table["status"] == "ok"].head(per_dataset)
        for row in ok.itertuples():
            name = f"{row.location}_group{row.group}"
            path = next(Path(d) / name / "points3D.txt" for d in shard_dirs[dataset] if (Path(d) / name).is_dir())
            panels.append((dataset, row, read_points3d_text(path)))
    fig, axes = plt.subplots(2, max(len(panels), 1), figsize=(2.6 * max(len(panels), 1), 5.4), squeeze=False)
    for col, (dataset, row, cloud) in enumerate(panels):
        keep = np.random.default_rng(0).permutation(len(cloud.xyz))[:20_000]
        xyz, rgb = cloud.xyz[keep], cloud.rgb[keep] / 255.0
        top, side = axes[0, col], axes[1, col]
        top.scatter(xyz[:, 0], xyz[:, 1], c=rgb, s=0.5, linewidths=0)
        side.scatter(xyz[:, 0], xyz[:, 2], c=rgb, s=0.5, linewidths=0)
        chamfer = "" if np.isnan(row.chamfer_1024) else f"\nChamfer {row.chamfer_1024:.1f} m"
        top.set_title(
            f"{TITLES.get(dataset, dataset)} {row.location} g{row.group}\n{row.backend}, {row.n_points} pts{chamfer}",
            fontsize=7,
        )
        for ax, label in ((top, "top (x, y)"), (side, "side (x, z)")):
            ax.set_aspect("equal", adjustable="datalim")
            ax.tick_params(labelsize=6)
            ax.set_xlabel(label, fontsize=7)
    save_figure(fig, out_path, dpi=120)
