"""What the checkpoint figures (5, 6 and the retrieval examples) share: the compared models, rebuilt from their
checkpoints, and the test images they look at, picked the same way on every build."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from PIL import Image

from geolink.data.manifest import load_manifest
from geolink.evaluation.feature_store import FeatureStore
from geolink.evaluation.run import extract_features, load_checkpoint, query_gallery

#: What a checkpoint figure says when the configuration trains neither compared model on its source.
NO_MODELS = "No GeoLink or CV-Cities run on the figures.robustness source."


def setting_label(settings: dict) -> str:
    """``university1652 → sues200 at 150 m``: where a checkpoint figure looks."""
    height = f" at {settings['height']:g} m" if settings["height"] is not None else ""
    return f"{settings['source']} → {settings['target']}{height}"


class ComparedModel(NamedTuple):
    """A model rebuilt from its checkpoint, in eval mode, with its training image size and its feature store."""

    model: torch.nn.Module
    image_size: int
    store: FeatureStore | None = None


def compared_models(
    checkpoints: dict[str, str], device: str = "cpu", feature_cache: str | None = None
) -> dict[str, ComparedModel]:
    """label -> the model of each checkpoint; with ``feature_cache`` (``Layout.feature_cache``), descriptors rule
    ``evaluate`` already extracted on this device are read, not recomputed."""
    models = {}
    for label, path in checkpoints.items():
        model, state = load_checkpoint(path, device)
        size = state["settings"]["image_size"]
        store = None
        if feature_cache is not None:  # what rule evaluate's store holds on this device (fp32, no TTA)
            device_type = torch.device(device).type
            store = FeatureStore(feature_cache, path, image_size=size, tta=False, device=device_type, precision="fp32")
        models[label] = ComparedModel(model, size, store)
    return models


def test_split(settings: dict, direction: str = "drone_to_satellite") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The official query and gallery rows of ``settings["target"]`` at ``settings["height"]`` (``query_gallery``)."""
    manifest = load_manifest(settings["manifest"])
    return query_gallery(manifest, direction, settings["height"])


def spread(items: list, n: int) -> list:
    """``n`` items evenly spread over ``items`` (all when there are fewer): the same picks on every build."""
    if n >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def one_per_location(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first row of each of ``n`` locations spread over the sorted locations of ``rows``."""
    locations = spread(sorted(rows["location"].unique()), n)
    return rows.groupby("location", sort=True).head(1).set_index("location").loc[locations].reset_index()


def embed(compared: ComparedModel, paths: list[str], device: str = "cpu") -> np.ndarray:
    """``[len(paths), D]`` L2-normalised descriptors of the model's 2D inference path (from its store when kept)."""
    extract = partial(extract_features, compared.model, image_size=compared.image_size, batch_size=32, device=device)
    return compared.store.features(paths, extract) if compared.store is not None else extract(paths)


def thumbnail(path: str, size: int = 96) -> np.ndarray:
    """An RGB image as ``[size, size, 3]`` uint8 (what the figures show, not what the model reads)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
