"""Figure 5: PCA maps of backbone feature maps on the same drone images, clean and under each weather condition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from geolink.data.errors import DatasetError
from geolink.data.manifest import load_manifest
from geolink.data.pairs import load_image
from geolink.plots.figure import figure_title, label_row, note_panel, plt, save_figure
from geolink.plots.model_views import NO_MODELS, compared_models, one_per_location, setting_label, test_split, thumbnail


def pca_rgb(maps: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Project feature maps on their first three principal components, scaled to RGB.

    The components are fitted on every position of every map together, so one colour means the same feature in
    every map (clean and corrupted images compare). Each component's sign is fixed (its largest loading
    positive) and it is scaled by its ``low``-``high`` percentiles over all positions, then clipped to [0, 1].

    Args:
        maps: ``[N, C, h, w]`` feature maps (``C >= 3``).

    Returns:
        ``[N, h, w, 3]`` float in [0, 1].
    """
    n, c, h, w = maps.shape
    x = maps.transpose(0, 2, 3, 1).reshape(-1, c).astype(np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    components = vt[:3]
    components *= np.sign(components[np.arange(3), np.abs(components).argmax(axis=1)])[:, None]
    projected = x @ components.T
    lo, hi = np.percentile(projected, low, axis=0), np.percentile(projected, high, axis=0)
    rgb = np.clip((projected - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0)
    return rgb.reshape(n, h, w, 3)


@torch.no_grad()
def backbone_maps(model, image_size: int, paths: list[str]) -> np.ndarray:
    """``[len(paths), C, h, w]`` last backbone feature maps (the input of MixVPR) of a GeoLink-family model."""
    images = torch.stack([load_image(p, image_size) for p in paths])
    return model.image_encoder.backbone(images).float().numpy()


def weather_paths(clean_rows, weather_manifests: dict[str, str]) -> dict[str, list[str]]:
    """condition -> the corrupted copies of ``clean_rows``' images (matched on location, height and file name)."""
    paths = {"clean": clean_rows["path"].tolist()}
    names = clean_rows["path"].map(lambda p: Path(p).name)
    keys = list(zip(clean_rows["location"], clean_rows["altitude"], names, strict=True))
    for condition, manifest_path in weather_manifests.items():
        corrupted = load_manifest(manifest_path)
        corrupted = corrupted[(corrupted["split"] == "test") & (corrupted["view"] == "drone")]
        by_key = {
            (loc, alt, Path(p).name): p
            for loc, alt, p in zip(corrupted["location"], corrupted["altitude"], corrupted["path"], strict=True)
        }
        paths[condition] = [by_key[key] for key in keys if key in by_key]
        if len(paths[condition]) != len(keys):
            missing = next(key for key in keys if key not in by_key)
            raise DatasetError(
                f"weather test set {manifest_path} has no copy of the clean drone image {missing[2]} of location "
                f"{missing[0]} at {missing[1]} m; it was built from another manifest. Delete it and rerun snakemake "
                "to rebuild it from the current one."
            )
    return paths


def feature_pca_figure(settings: dict, out_path: str) -> dict[str, np.ndarray]:
    """Rows: conditions; per image, columns: the photo and each model's PCA map. Returns label -> RGB maps
    ``[conditions, images, h, w, 3]``."""
    models = {
        label: m for label, m in compared_models(settings["checkpoints"]).items() if hasattr(m.model, "image_encoder")
    }
    query, _ = test_split(settings)
    picked = one_per_location(query, settings["n_images"])
    paths = weather_paths(picked, settings["weather"])
    conditions, n_images = list(paths), len(picked)
    maps = {}
    flat = [p for c in conditions for p in paths[c]]
    for label, compared in models.items():
        rgb = pca_rgb(backbone_maps(compared.model, compared.image_size, flat))
        maps[label] = rgb.reshape(len(conditions), n_images, *rgb.shape[1:])
    per_image = 1 + len(models)
    fig, axes = plt.subplots(
        len(conditions),
        n_images * per_image,
        figsize=(max(8.0, 1.5 * n_images * per_image + 0.8), 1.5 * len(conditions) + 0.9),  # title: 8 inches
        squeeze=False,
    )
    for r, condition in enumerate(conditions):
        for i in range(n_images):
            photo_ax = axes[r, i * per_image]
            photo_ax.imshow(thumbnail(paths[condition][i]))
            for j, label in enumerate(models):
                axes[r, i * per_image + 1 + j].imshow(maps[label][r, i], interpolation="nearest")
                if r == 0:
                    axes[r, i * per_image + 1 + j].set_title(label, fontsize=7)
            if r == 0:
                photo_ax.set_title(f"location {picked['location'].iloc[i]}", fontsize=7)
        label_row(axes[r, 0], condition.replace("_", "-"))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if not models:
        note_panel(axes[0, -1], NO_MODELS)
    figure_title(
        fig,
        f"Figure 5: PCA of feature maps, {setting_label(settings)}",
        settings["synthetic"],
    )
    save_figure(fig, out_path)
    return maps
