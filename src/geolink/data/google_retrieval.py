"""SkyLink's Google Retrieval Enhancement Module (GREM): keep the web photos that show their location.

University-1652's ``train/google/<ID>`` folders hold web photos of each building, found by a search engine: some
folders are empty, and many photos are blank placeholders or show another building (docs/datasets.md, §1.2).
SkyLink (arXiv 2509.24783, abstract) "utilize[s] the Google Retrieval Enhancement Module to perform data enhancement
on street images"; its release has no such module (docs/official_code.md, SkyLink). Our reading, the simplest that
does what the sentence says (docs/fidelity.md, S1):

1. **Empty photos out.** A photo whose pixels barely vary (grey-level standard deviation below ``min_pixel_std``,
   out of 255) carries no scene: a blank or placeholder image. It is dropped without asking the encoder.
2. **Retrieval with the current encoder.** Each location gets a *prototype*: the mean of the L2-normalised
   descriptors of its street and satellite training images, renormalised. Each remaining web photo is a query
   against every location's prototype; it is kept when its own location is among the ``top_k`` most similar
   (strictly more similar prototypes are counted, so a tie keeps it). A photo of another building retrieves that
   building, not its own, and is dropped.
3. **Use: extra street samples.** The kept photos join their location's street images, from which each training
   sample draws its query (``TrainingLocation.extra_queries``). Not fused street features: the test queries are
   single street photos with no web photos beside them, so a model trained on fused features would meet a
   different input at test time; extra samples keep training and test inputs alike.

The selection is redone every ``train.grem.every`` epochs from ``train.grem.start_epoch`` on (with a randomly
initialised encoder the first retrievals would be chance), and how many photos each location kept is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geolink.data.images import read_rgb

log = logging.getLogger(__name__)

__all__ = ["GoogleSelection", "is_informative", "location_prototypes", "retrieve_google", "select_matching"]

#: ITU-R BT.601 luma weights: the grey level whose spread decides whether a photo is empty.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def is_informative(image: np.ndarray, min_pixel_std: float) -> bool:
    """Whether an ``[H, W, 3]`` uint8 photo (array or PIL image) shows anything: the standard deviation of its grey levels (0-255) is at
    least ``min_pixel_std``. A blank or single-colour placeholder has a standard deviation near 0."""
    grey = np.asarray(image, dtype=np.float32) @ _LUMA
    return float(grey.std()) >= min_pixel_std


def location_prototypes(features: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """One L2-normalised mean descriptor per location.

    Args:
        features: ``[R, D]`` L2-normalised descriptors of the locations' reference images (street and satellite).
        labels: ``[R]`` location label of each row.

    Returns:
        ``(prototypes [L, D], prototype_labels [L])``, locations in ascending label order.
    """
    labels = np.asarray(labels)
    unique = np.unique(labels)
    sums = np.zeros((len(unique), features.shape[1]), dtype=np.float64)
    np.add.at(sums, np.searchsorted(unique, labels), features)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32), unique


def select_matching(
    google_features: np.ndarray,
    google_labels: Sequence[int],
    prototypes: np.ndarray,
    prototype_labels: Sequence[int],
    top_k: int = 1,
) -> np.ndarray:
    """Which web photos retrieve their own location among the ``top_k`` nearest prototypes.

    Args:
        google_features: ``[M, D]`` L2-normalised descriptors of the web photos.
        google_labels: ``[M]`` the location each photo was filed under.
        prototypes: ``[L, D]`` ``location_prototypes``.
        prototype_labels: ``[L]`` their locations.
        top_k: how far down the ranking the own location may be (1: it must be the nearest).

    Returns:
        ``[M]`` bool, True for a photo to keep. A photo whose location has no prototype is dropped.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    google_labels = np.asarray(google_labels)
    if len(google_labels) == 0:
        return np.zeros(0, dtype=bool)
    prototype_labels = np.asarray(prototype_labels)
    scores = google_features @ prototypes.T  # [M, L] cosine similarities
    own_column = {label: column for column, label in enumerate(prototype_labels.tolist())}
    keep = np.zeros(len(google_labels), dtype=bool)
    for row, label in enumerate(google_labels.tolist()):
        column = own_column.get(label)
        if column is not None:
            keep[row] = int((scores[row] > scores[row, column]).sum()) < top_k  # rank of the own location, 0-based
    return keep


@dataclass(frozen=True)
class GoogleSelection:
    """What one GREM pass kept: per location (its index in the training list), the web photos kept, and counts."""

    kept: dict[int, list[str]]
    rows: list[dict]  # one per location with web photos: location, n_google, n_empty, n_kept

    @property
    def n_kept(self) -> int:
        return sum(len(paths) for paths in self.kept.values())

    @property
    def n_google(self) -> int:
        return sum(row["n_google"] for row in self.rows)


def retrieve_google(
    locations: Sequence,
    embed,
    *,
    top_k: int = 1,
    min_pixel_std: float = 2.0,
) -> GoogleSelection:
    """One GREM pass over the training locations (module docstring).

    Args:
        locations: ``geolink.data.pairs.TrainingLocation`` objects; ``google`` are the candidates, ``queries``
            (street) and ``satellites`` the references.
        embed: ``paths -> [len(paths), D]`` L2-normalised descriptors with the current encoder
            (``geolink.evaluation.run.extract_features`` bound to the model).
        top_k: see ``select_matching``.
        min_pixel_std: see ``is_informative``.

    Raises:
        DatasetError: a web photo cannot be read (the message names the file).
    """
    candidates, candidate_labels, rows = [], [], []
    for index, loc in enumerate(locations):
        if not loc.google:
            continue
        informative = [path for path in loc.google if is_informative(read_rgb(path), min_pixel_std)]
        candidates += informative
        candidate_labels += [index] * len(informative)
        rows.append({"location": loc.location, "n_google": len(loc.google), "n_empty": len(loc.google) - len(informative)})
    kept: dict[int, list[str]] = {}
    if candidates:
        references = [(index, path) for index, loc in enumerate(locations) for path in loc.queries + loc.satellites]
        reference_features = embed([path for _, path in references])
        prototypes, prototype_labels = location_prototypes(reference_features, [index for index, _ in references])
        keep = select_matching(embed(candidates), candidate_labels, prototypes, prototype_labels, top_k)
        for path, index, keep_it in zip(candidates, candidate_labels, keep, strict=True):
            if keep_it:
                kept.setdefault(index, []).append(path)
    for row, index in zip(rows, [i for i, loc in enumerate(locations) if loc.google], strict=True):
        row["n_kept"] = len(kept.get(index, []))
    return GoogleSelection(kept, rows)
