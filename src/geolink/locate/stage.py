"""The locate stage of the workflow: localise the photos with a checkpoint and with its ONNX export, and compare.

Rule ``locate`` runs ``geolink locate`` twice over the same photos and index (torch, then onnxruntime), writes both
answer folders, and summarises: the error distribution of each (median, 90th percentile, shares within 25 m and
50 m), whether the two runtimes gave the same answers (same ranked tiles; estimates within a centimetre), and the
error a random tile would give (the mean great-circle distance from each photo to every tile centre, its median
over photos), the level a model that learned nothing reaches. When the checkpoint was tuned (``geolink tune``),
the checkpoint it was tuned from is run over the same map and photos too (:func:`untuned_answers`), so the summary
shows what tuning changed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from geolink.atomic import atomic_output
from geolink.locate.geo import haversine_m
from geolink.locate.search import collect_photos, error_summary, locate_photos, write_answers

#: Estimates closer than this (metres) count as the same answer.
SAME_ANSWER_M = 0.01


def chance_median_m(answers: list[dict], tiles) -> float | None:
    """Median over photos with a GPS truth of the mean distance to all tile centres (a random tile's error)."""
    truths = np.array([(a["truth_lat"], a["truth_lon"]) for a in answers if a["truth_lat"] is not None])
    if not len(truths):
        return None
    lat, lon = tiles["lat"].to_numpy(), tiles["lon"].to_numpy()
    distances = haversine_m(truths[:, :1], truths[:, 1:], lat[None], lon[None])
    return float(np.median(distances.mean(axis=1)))


def compare_answers(first: list[dict], second: list[dict]) -> dict:
    """How many photos got the same answer (same tiles in the same order, estimates within :data:`SAME_ANSWER_M`)."""
    same = 0
    for a, b in zip(first, second, strict=True):
        tiles_equal = [m["tile"] for m in a["matches"]] == [m["tile"] for m in b["matches"]]
        moved = float(haversine_m(a["lat"], a["lon"], b["lat"], b["lon"]))
        same += tiles_equal and moved <= SAME_ANSWER_M
    return {"n_photos": len(first), "n_same": same, "same_answers": same == len(first)}


def untuned_answers(checkpoint: str | Path, index, photos: list[Path], device: str, top_k: int, radius_m) -> list:
    """``photos`` localised with ``checkpoint`` (torch) on the map of ``index``, indexed anew with that checkpoint
    at the same footprint and overlap (an index holds one encoder's descriptors), in a folder removed afterwards."""
    from geolink.locate.encoders import TorchEncoder
    from geolink.locate.index import TileIndex, build_index
    from geolink.locate.maps import open_map

    described = index.meta["map"]
    encoder = TorchEncoder(checkpoint, device)
    with tempfile.TemporaryDirectory(prefix="untuned-index-") as tmp:
        source = open_map(described["path"], described["footprint_m"], described.get("overlap", 0.5))
        build_index(source, encoder, Path(tmp) / "index", progress=False)
        return locate_photos(
            photos, TileIndex(Path(tmp) / "index"), encoder, k=top_k, radius_m=radius_m, progress=False
        )


def run_locate_stage(
    index,
    photos_dir: str,
    encoders: dict,
    outs: dict,
    summary_path: str | Path,
    top_k: int,
    radius_m: float | None,
    untuned: str | Path | None = None,
    device: str = "cpu",
) -> tuple[dict, dict[str, list[dict]]]:
    """Localise every photo of ``photos_dir`` with each encoder (``{"torch": ..., "onnx": ...}``), write each one's
    answers into ``outs[name]`` and the summary JSON; returns the summary and each encoder's answers (and, with
    ``untuned``, the checkpoint the torch encoder's was tuned from, run on ``device``, under ``"untuned"``)."""
    photos = collect_photos([photos_dir])
    answers = {}
    for name, encoder in encoders.items():
        answers[name] = locate_photos(photos, index, encoder, k=top_k, radius_m=radius_m, progress=False)
        write_answers(answers[name], outs[name], {"index": str(index.folder), "encoder": encoder.description})
    names = list(answers)
    summary = {
        "index": str(index.folder),
        "n_tiles": len(index.tiles),
        "footprint_m": index.meta["map"]["footprint_m"],
        "overlap": index.meta["map"].get("overlap"),
        "chance_median_m": chance_median_m(answers[names[0]], index.tiles),
        **{name: error_summary(a) for name, a in answers.items()},
    }
    if len(names) == 2:
        summary["agreement"] = compare_answers(answers[names[0]], answers[names[1]])
    if untuned is not None:
        answers["untuned"] = untuned_answers(untuned, index, photos, device, top_k, radius_m)
        summary["untuned"] = {"checkpoint": str(Path(untuned).absolute()), **error_summary(answers["untuned"])}
    with atomic_output(summary_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary, answers
