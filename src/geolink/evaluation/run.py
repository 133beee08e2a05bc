"""Evaluate a trained model on a target dataset: extract 2D features, rank, score, in both directions, clean and
under each weather condition.

Only the image encoder runs here (``model.encode_image``): GeoLink's 3D branch exists for training
only. Query and gallery sets come from the target's manifest exactly as the official protocols
define them (``docs/datasets.md`` §1.3, §2.3, §3.3): University-1652 and DenseUAV
``query_*``/``gallery_*`` folders, SUES-200 per height plus the mean over heights (paper §4.1).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from geolink.data.pairs import ImageList
from geolink.device import mixed_precision
from geolink.evaluation.feature_store import FeatureStore
from geolink.evaluation.retrieval import effective_gallery_mask, ranked_indices, retrieval_metrics, sdm_at_k
from geolink.evaluation.tta import tta_descriptors

#: Retrieval direction -> (query view, gallery view). The street ones are SkyLink's (University-1652 only).
DIRECTIONS = {
    "drone_to_satellite": ("drone", "satellite"),
    "satellite_to_drone": ("satellite", "drone"),
    "street_to_satellite": ("street", "satellite"),
    "satellite_to_street": ("satellite", "street"),
}
METRIC_KEYS = ("R@1", "R@5", "R@10", "R@top1%", "R@top1%_legacy", "AP")


@torch.no_grad()
def extract_features(
    model,
    paths: list[str],
    image_size: int,
    batch_size: int,
    device,
    num_workers: int = 0,
    precision: str | None = None,
    tta: bool = False,
) -> np.ndarray:
    """L2-normalised 2D descriptors ``[len(paths), D]`` float32 from ``model.encode_image`` (with ``tta``, the mean
    over four flipped and rotated views: ``geolink.evaluation.tta``).

    Raises:
        DatasetError: An image cannot be read (``geolink.data.pairs.load_image``); the message names the file,
            also when ``num_workers > 0`` (it then holds the worker's traceback).
    """
    model.eval()
    loader = DataLoader(ImageList(paths, image_size), batch_size=batch_size, num_workers=num_workers)
    chunks = []
    autocast = mixed_precision(torch.device(device), precision)  # None: the device's default (geolink.device)
    for images in loader:
        with autocast:
            images = images.to(device)
            features = tta_descriptors(model.encode_image, images) if tta else model.encode_image(images)
        chunks.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)


#: What evaluation reads from a checkpoint of ``geolink.train`` (the model, its image size, the epoch and score).
CHECKPOINT_KEYS = ("model_name", "model_kwargs", "model", "settings", "epoch", "val_recall@1")


def load_checkpoint(path: str, device="cpu"):
    """Rebuild a model from a checkpoint alone (registry name + kwargs + weights); returns (model, checkpoint).

    Raises:
        CheckpointError: the file is unusable (``geolink.checkpoint.load_checkpoint``), or its model cannot be
            rebuilt from it (a model name this version does not register, weights that do not fit).
    """
    from geolink.checkpoint import CheckpointError
    from geolink.checkpoint import load_checkpoint as read_checkpoint
    from geolink.models import create_model, list_models

    checkpoint = read_checkpoint(path, map_location=device, required=CHECKPOINT_KEYS)
    full, name = Path(path).absolute(), checkpoint["model_name"]
    if name not in list_models():
        raise CheckpointError(
            f"checkpoint {full} was trained with model {name!r}, which this version of geolink does not have "
            f"(registered: {', '.join(list_models())}). Evaluate it with the version that trained it, or retrain "
            f"it (delete it and rerun snakemake)."
        )
    try:
        model = create_model(name, **checkpoint["model_kwargs"])
        model.load_state_dict(checkpoint["model"])
    except (TypeError, ValueError, RuntimeError) as err:  # kwargs or weights another version wrote
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        # load_state_dict's first line only says "Error(s) in loading state_dict for X:"; the next one says which.
        detail = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
        detail = detail if len(detail) <= 300 else detail[:300] + "..."
        raise CheckpointError(
            f"checkpoint {full} does not rebuild its model {name!r} ({detail}): it was written by another version "
            f"of geolink. Evaluate it with that version, or retrain it (delete it and rerun snakemake)."
        ) from None
    return model.to(device).eval(), checkpoint


def query_gallery(
    manifest: pd.DataFrame, direction: str, altitude: float | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The official query and gallery rows of a test set for one direction (and one SUES-200 height)."""
    query_view, gallery_view = DIRECTIONS[direction]
    test = manifest[manifest["split"] == "test"]
    if altitude is not None:
        test = test[test["altitude"] == altitude]
    query = test[(test["role"] == "query") & (test["view"] == query_view)]
    gallery = test[(test["role"] == "gallery") & (test["view"] == gallery_view)]
    return query.reset_index(drop=True), gallery.reset_index(drop=True)


def location_labels(query: pd.DataFrame, gallery: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Integer retrieval labels ``[Q]``, ``[G]``: equal exactly where the ``location`` strings are equal.

    Codes over both sets at once, so any location names serve (University-160k's distractors are ``160k:<stem>``).
    """
    codes, _ = pd.factorize(pd.concat([query["location"], gallery["location"]], ignore_index=True))
    return codes[: len(query)].astype(np.int64), codes[len(query) :].astype(np.int64)


def evaluate_model(
    model,
    manifest: pd.DataFrame,
    *,
    image_size: int,
    directions=tuple(DIRECTIONS),
    protocol: str = "official",
    batch_size: int = 64,
    device="cpu",
    weather: dict[str, pd.DataFrame] | None = None,
    precision: str | None = None,
    tta: bool = False,
    store: FeatureStore | None = None,
    num_workers: int = 0,
) -> list[dict]:
    """Metrics records for every condition, direction and SUES-200 height (plus the mean over heights) of one target.

    The clean test set is condition ``"clean"``; ``weather`` maps each further condition to its weather test set
    (``geolink.data.weather.weather_manifest``: the same rows, drone images corrupted). Features of an image are
    extracted once and shared, so the clean satellites serve every condition and both directions; with a
    ``store`` (``geolink.evaluation.feature_store``), they are also kept for the next job that needs them.
    ``num_workers`` DataLoader workers decode images while the model embeds others.

    Each record: ``target, condition, direction, height`` (None or metres, ``"mean"`` for the SUES-200 average),
    the metrics of ``retrieval_metrics`` in percent with each query's outcome (``per_query``; not on the mean
    record, whose heights' records hold them), ``protocol``, ``n_queries``, ``n_gallery``, and for DenseUAV
    drone -> satellite ``SDM@1/3/5/10``.
    """
    cache: dict[str, np.ndarray] = {}

    def features(paths: list[str]) -> np.ndarray:
        todo = [p for p in dict.fromkeys(paths) if p not in cache]
        if todo:
            extract = partial(
                extract_features,
                model,
                image_size=image_size,
                batch_size=batch_size,
                device=device,
                num_workers=num_workers,
                precision=precision,
                tta=tta,
            )
            extracted = store.features(todo, extract) if store is not None else extract(todo)
            for path, feature in zip(todo, extracted, strict=True):
                cache[path] = feature
        return np.stack([cache[p] for p in paths])

    records = []
    for condition, test_set in {"clean": manifest, **(weather or {})}.items():
        records += _condition_records(test_set, condition, directions, protocol, features)
    return records


def _condition_records(manifest: pd.DataFrame, condition: str, directions, protocol: str, features) -> list[dict]:
    dataset = manifest["dataset"].iloc[0]
    heights = (
        sorted(manifest.loc[manifest["split"] == "test", "altitude"].dropna().unique())
        if dataset == "sues200"
        else [None]
    )
    records = []
    for direction in directions:
        per_height = []
        for height in heights:
            query, gallery = query_gallery(manifest, direction, height)
            if query.empty or gallery.empty:
                continue
            q, g = features(query["path"].tolist()), features(gallery["path"].tolist())
            q_labels, g_labels = location_labels(query, gallery)
            metrics = retrieval_metrics(q, q_labels, g, g_labels, protocol=protocol, per_query=True)
            record = {"target": dataset, "condition": condition, "direction": direction, "height": height, **metrics}
            if dataset == "denseuav" and direction == "drone_to_satellite" and query["lon"].notna().all():
                mask = effective_gallery_mask(q_labels, g_labels, protocol)  # SDM ranks the same gallery
                top = ranked_indices(q, g, k=10, gallery_mask=mask)
                for k in (1, 3, 5, 10):
                    record[f"SDM@{k}"] = 100 * sdm_at_k(
                        query[["lon", "lat"]].to_numpy(), gallery[["lon", "lat"]].to_numpy(), top, k
                    )
            records.append(record)
            per_height.append(record)
        if len(per_height) > 1:  # paper §4.1: SUES-200 numbers are the mean over the four heights
            mean = {key: float(np.mean([r[key] for r in per_height])) for key in METRIC_KEYS if key in per_height[0]}
            records.append(
                {
                    "target": dataset,
                    "condition": condition,
                    "direction": direction,
                    "height": "mean",
                    "protocol": protocol,
                    **mean,
                }
            )
    return records


def evaluate_checkpoint(
    checkpoint_path: str,
    manifest: pd.DataFrame,
    *,
    directions=tuple(DIRECTIONS),
    protocol: str = "official",
    batch_size: int = 64,
    device="cpu",
    weather: dict[str, pd.DataFrame] | None = None,
) -> tuple[list[dict], dict]:
    """Rebuild the model from a checkpoint and evaluate it at its training image size; returns (records, checkpoint)."""
    model, checkpoint = load_checkpoint(checkpoint_path, device)
    records = evaluate_model(
        model,
        manifest,
        image_size=checkpoint["settings"]["image_size"],
        directions=directions,
        protocol=protocol,
        batch_size=batch_size,
        device=device,
        weather=weather,
    )
    return records, checkpoint


def evaluate_run(
    checkpoint_path: str,
    targets: dict[str, dict],
    *,
    run: dict,
    directions: list[str],
    protocol: str,
    batch_size: int,
    checkpoint: str,
    device: str = "auto",
    precision: str = "auto",
    tta: bool = False,
    feature_cache: str | None = None,
    num_workers: int = 0,
) -> dict[str, list[dict]]:
    """Evaluate one checkpoint on several targets and write one metrics JSON per target (rule evaluate).

    The model is built once for all targets. ``targets`` maps a target dataset to ``{"manifest": path,
    "weather": {condition: manifest path}, "out": path}`` (``weather`` may be empty: rule weather's test sets of
    that target). Each JSON holds ``run`` (what was evaluated: ``run`` plus the checkpoint choice, its epoch and
    validation Recall@1) and ``records``, one per (condition, direction, height) with every metric in percent
    and each query's outcome, so tables never recompute anything. ``directions``, ``protocol``, ``batch_size``,
    ``num_workers`` and ``checkpoint`` are the ``evaluate`` section of the configuration (a SkyLink run:
    ``skylink.directions`` and ``tta``, the flip x rot90 test-time augmentation); ``device`` and ``precision`` its
    ``compute`` section (a GPU that is not usable stops the job with the reason: ``geolink.device.select_device``).
    ``feature_cache`` is the folder of the feature stores (``geolink.evaluation.feature_store``; None: keep
    nothing). Returns the records per target.
    """
    from geolink.atomic import atomic_output
    from geolink.data.manifest import load_manifest
    from geolink.device import resolve_precision, select_device

    name = "__".join(str(run[k]) for k in ("source", "variant", "seed") if k in run) or checkpoint_path
    dev = select_device(device, job=f"evaluation of {name}")
    precision = resolve_precision(dev, precision)
    model, state = load_checkpoint(checkpoint_path, dev)
    run = {
        **run,
        "checkpoint": checkpoint,
        "epoch": state["epoch"],
        "val_recall@1": state["val_recall@1"],
        "device": dev.type,
        "precision": precision,
        "tta": tta,
    }
    store = None
    if feature_cache is not None:
        size = state["settings"]["image_size"]
        store = FeatureStore(
            feature_cache, checkpoint_path, image_size=size, tta=tta, device=dev.type, precision=precision
        )
    results = {}
    for target, paths in targets.items():
        records = evaluate_model(
            model,
            load_manifest(paths["manifest"]),
            image_size=state["settings"]["image_size"],
            directions=directions,
            protocol=protocol,
            batch_size=batch_size,
            device=dev,
            weather={c: load_manifest(path) for c, path in paths.get("weather", {}).items()},
            precision=precision,
            tta=tta,
            store=store,
            num_workers=num_workers,
        )
        with atomic_output(paths["out"]) as tmp:
            tmp.write_text(json.dumps({"run": run, "records": records}, default=float))
        results[target] = records
    return results


def evaluate_to_file(
    checkpoint_path: str,
    manifest_path: str,
    out_path: str,
    *,
    weather: dict[str, str] | None = None,
    **options,
) -> list[dict]:
    """Evaluate one checkpoint on one target and write its metrics JSON (``geolink evaluate``); ``options`` are
    those of :func:`evaluate_run`."""
    targets = {"target": {"manifest": manifest_path, "weather": weather or {}, "out": out_path}}
    return evaluate_run(checkpoint_path, targets, **options)["target"]
