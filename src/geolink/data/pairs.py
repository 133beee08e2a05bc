"""Training and evaluation samples from a manifest: cross-view pairs with their point clouds, and image lists.

A training sample is one *location*: a query image (drone for GeoLink, street for SkyLink), the satellite image
and one of the location's point clouds (a view group's FPS draw from the point bank, ``geolink.points``), or all of
them (SkyLink's multi-scale bridge, ``point_scales="all"``).
Indexing the dataset by location makes every batch hold distinct locations, which InfoNCE with
in-batch negatives needs, without the official code's rejection sampler (docs/official_code.md §1.5).

Randomness (which drone image, which satellite tile, which cloud, the joint flip and the image augmentation of
``geolink.data.augment``) comes from a generator seeded by (seed, epoch, index), so a sample does not depend on
worker count or on whether training was resumed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from geolink.data.augment import PairAugment, resize_normalise
from geolink.data.batches import Sample, training_samples
from geolink.data.images import read_rgb
from geolink.points import PointBank

log = logging.getLogger(__name__)


@dataclass
class TrainingLocation:
    """Everything one location contributes to training."""

    location: str
    label: int
    queries: list[str]  # query-view images: drone (GeoLink) or street (SkyLink)
    satellites: list[str]
    clouds: list[str] = field(default_factory=list)  # point-bank keys ``<ID>_group<k>``
    google: list[str] = field(default_factory=list)  # web photos (University-1652 train/google): SkyLink's candidates
    extra_queries: list[str] = field(default_factory=list)  # the web photos GREM kept (geolink.data.google_retrieval)

    @property
    def query_pool(self) -> list[str]:
        """The images a sample's query is drawn from: the query view's own, then the kept web photos."""
        return self.queries + self.extra_queries


def load_image(path: str, size: int) -> torch.Tensor:
    """Image file -> normalised ``[3, size, size]`` float tensor (bicubic resize, ImageNet mean/std).

    Raises:
        DatasetError: The file is missing, truncated or corrupt; the message gives its full path (PIL's own
            errors do not). Raised in a DataLoader worker, PyTorch re-raises it in the main process as a
            DatasetError whose message is the worker's traceback, which ends with this message.
    """
    return resize_normalise(read_rgb(path), size)


def training_locations(
    manifest: pd.DataFrame, bank: PointBank | None = None, heights: list[int] | None = None, query_view: str = "drone"
) -> list[TrainingLocation]:
    """Training locations with at least one query-view and one satellite image (and a cloud when ``bank`` is given).

    Args:
        manifest: one dataset's manifest; rows with role ``train`` are used.
        bank: the dataset's point bank; locations without any cloud are left out (and logged).
        heights: keep only drone images at these altitudes (SUES-200); None keeps all.
        query_view: ``"drone"`` (GeoLink) or ``"street"`` (SkyLink: a location also lists its ``google`` web
            photos, the candidates of the Google Retrieval Enhancement Module).
    """
    rows = manifest[manifest["role"] == "train"]
    if heights:  # SUES-200's per-height folders give satellite rows an altitude too; other rows have none (NaN)
        rows = rows[rows["altitude"].isna() | rows["altitude"].isin([float(h) for h in heights])]
    drones = rows[rows["view"] == query_view]
    # A location's satellite images are told apart by file name: SUES-200's per-height Training/ folders hold
    # the same tile (0.png) once per height, which would otherwise count as four satellite images.
    satellites = rows[rows["view"] == "satellite"].assign(name=lambda df: df["path"].map(_file_name))
    satellites = satellites.drop_duplicates(["location", "name"])
    clouds: dict[str, list[str]] = {}
    if bank is not None:
        for key in bank.keys:
            clouds.setdefault(key.rsplit("_group", 1)[0], []).append(key)
    drone_paths = drones.groupby("location")["path"].apply(lambda s: sorted(set(s))).to_dict()
    sat_paths = satellites.groupby("location")["path"].apply(sorted).to_dict()
    google = rows[rows["view"] == "google"] if query_view == "street" else rows.iloc[:0]
    google_paths = google.groupby("location")["path"].apply(sorted).to_dict()
    locations, missing_cloud = [], []
    for location in sorted(set(drone_paths) & set(sat_paths)):
        if bank is not None and location not in clouds:
            missing_cloud.append(location)
            continue
        locations.append(
            TrainingLocation(
                location,
                int(location),
                drone_paths[location],
                sat_paths[location],
                clouds.get(location, []),
                google_paths.get(location, []),
            )
        )
    if missing_cloud:
        log.warning(
            "%d training locations have no point cloud and are left out, e.g. %s", len(missing_cloud), missing_cloud[0]
        )
    return locations


def split_validation(
    locations: list[TrainingLocation], fraction: float, seed: int
) -> tuple[list[TrainingLocation], list[TrainingLocation]]:
    """Hold out a seeded ``fraction`` of the *source* training locations for model selection (at least one)."""
    if fraction <= 0:
        return locations, []
    order = np.random.default_rng([seed, 1652]).permutation(len(locations))
    n_val = max(1, round(fraction * len(locations)))
    held = set(order[:n_val].tolist())
    return [loc for i, loc in enumerate(locations) if i not in held], [
        loc for i, loc in enumerate(locations) if i in held
    ]


class CrossViewPairs(Dataset):
    """Training samples (``geolink.data.batches``; default one per location): query image, satellite image, point
    cloud(s), label.

    Returns dicts with ``<query_view>`` (``drone`` or ``street``) and ``satellite`` ``[3, S, S]``, ``points``
    ``[N, 3]`` (zeros ``[1, 3]`` when no bank is used) or, with ``point_scales="all"``, ``[G, N, 3]``: every cloud of
    the location, repeated in turn up to the most clouds any location has (``G``), so that a batch stacks; and
    ``label`` (int). Call :meth:`set_epoch` before each epoch.

    ``augment`` transforms the two images (``geolink.data.augment.build_augment`` builds the configured one);
    without it, the ``flip_rot90`` stack with ``flip_prob`` (default 0.5) and ``satellite_rot90`` (default True).
    """

    def __init__(
        self,
        locations: list[TrainingLocation],
        image_size: int,
        bank: PointBank | None = None,
        seed: int = 0,
        flip_prob: float | None = None,
        satellite_rot90: bool | None = None,
        samples: Sequence[Sample] | None = None,
        augment: PairAugment | None = None,
        query_view: str = "drone",
        point_scales: str = "one",
    ):
        if augment is None:
            augment = PairAugment.flip_rot90(
                image_size,
                0.5 if flip_prob is None else flip_prob,
                True if satellite_rot90 is None else satellite_rot90,
            )
        elif flip_prob is not None or satellite_rot90 is not None:
            raise ValueError("give either augment or flip_prob / satellite_rot90 (which build the flip_rot90 stack)")
        self.locations = locations
        self.image_size = image_size
        self.bank = bank
        self.seed = seed
        self.augment = augment
        self.epoch = 0
        self.samples = list(samples) if samples is not None else training_samples(locations, "one")
        if point_scales not in ("one", "all"):
            raise ValueError(f"point_scales must be 'one' or 'all', got {point_scales!r}")
        self.query_view = query_view
        self.point_scales = point_scales
        self.n_scales = max((len(loc.clouds) for loc in locations), default=1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        loc = self.locations[sample.location]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        # Every choice is drawn, then replaced where the sample fixes it, so the stream of draws (and the flip and
        # rotation below) is the same whatever an epoch's samples fix.
        pool = loc.query_pool
        query_index = _fixed_or(sample.query, rng.integers(len(pool)))
        satellite_index = _fixed_or(sample.satellite, rng.integers(len(loc.satellites)))
        query = read_rgb(pool[query_index])
        satellite = read_rgb(loc.satellites[satellite_index])
        if self.bank is not None and loc.clouds:
            cloud = _fixed_or(sample.cloud, loc.clouds[rng.integers(len(loc.clouds))])
            if self.point_scales == "all":  # every view group: the location's scales, in bank order
                clouds = [loc.clouds[k % len(loc.clouds)] for k in range(self.n_scales)]
                points = torch.from_numpy(np.stack([self.bank.draw_for(c, self.epoch) for c in clouds]))
            else:
                points = torch.from_numpy(self.bank.draw_for(cloud, self.epoch))
        else:
            points = torch.zeros(1, 3)
        # The joint flip, then each view's transform (geolink.data.augment), drawing from the same generator.
        query, satellite = self.augment(query, satellite, rng)
        return {self.query_view: query, "satellite": satellite, "points": points, "label": loc.label}


class ImageList(Dataset):
    """Images for feature extraction: ``[3, S, S]`` tensors in list order."""

    def __init__(self, paths: list[str], image_size: int):
        self.paths = list(paths)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return load_image(self.paths[index], self.image_size)


def _fixed_or(fixed, drawn):
    return drawn if fixed is None else fixed


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
