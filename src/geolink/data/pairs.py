"""Training and evaluation samples from a manifest: cross-view pairs with their point clouds, and image lists.

A training sample is one *location*: a drone image, the satellite image and one of the
location's point clouds (a view group's FPS draw from the point bank, ``geolink.points``).
Indexing the dataset by location makes every batch hold distinct locations, which InfoNCE with
in-batch negatives needs, without the official code's rejection sampler (docs/official_code.md §1.5).

Randomness (which drone image, which satellite tile, which cloud, the joint flip) comes from a
generator seeded by (seed, epoch, index), so a sample does not depend on worker count or on
whether training was resumed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from geolink.data.images import read_rgb
from geolink.points import PointBank

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)  # built once, not on every image load
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


@dataclass
class TrainingLocation:
    """Everything one location contributes to training."""

    location: str
    label: int
    drones: list[str]
    satellites: list[str]
    clouds: list[str] = field(default_factory=list)  # point-bank keys ``<ID>_group<k>``


def load_image(path: str, size: int) -> torch.Tensor:
    """Image file -> normalised ``[3, size, size]`` float tensor (bicubic resize, ImageNet mean/std).

    Raises:
        DatasetError: The file is missing, truncated or corrupt; the message gives its full path (PIL's own
            errors do not). Raised in a DataLoader worker, PyTorch re-raises it in the main process as a
            DatasetError whose message is the worker's traceback, which ends with this message.
    """
    image = read_rgb(path).resize((size, size), Image.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    return (tensor - _MEAN) / _STD


def training_locations(
    manifest: pd.DataFrame, bank: PointBank | None = None, heights: list[int] | None = None
) -> list[TrainingLocation]:
    """Training locations with at least one drone and one satellite image (and a cloud when ``bank`` is given).

    Args:
        manifest: one dataset's manifest; rows with role ``train`` are used.
        bank: the dataset's point bank; locations without any cloud are left out (and logged).
        heights: keep only drone images at these altitudes (SUES-200); None keeps all.
    """
    rows = manifest[manifest["role"] == "train"]
    drones = rows[rows["view"] == "drone"]
    if heights:
        drones = drones[drones["altitude"].isin([float(h) for h in heights])]
    satellites = rows[rows["view"] == "satellite"].drop_duplicates("path")
    clouds: dict[str, list[str]] = {}
    if bank is not None:
        for key in bank.keys:
            clouds.setdefault(key.rsplit("_group", 1)[0], []).append(key)
    drone_paths = drones.groupby("location")["path"].apply(lambda s: sorted(set(s))).to_dict()
    sat_paths = satellites.groupby("location")["path"].apply(sorted).to_dict()
    locations, missing_cloud = [], []
    for location in sorted(set(drone_paths) & set(sat_paths)):
        if bank is not None and location not in clouds:
            missing_cloud.append(location)
            continue
        locations.append(
            TrainingLocation(
                location, int(location), drone_paths[location], sat_paths[location], clouds.get(location, [])
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
    """One sample per location: drone image, satellite image, point cloud, label.

    Returns dicts with ``drone`` and ``satellite`` ``[3, S, S]``, ``points`` ``[N, 3]`` (zeros when no
    bank is used) and ``label`` (int). Call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        locations: list[TrainingLocation],
        image_size: int,
        bank: PointBank | None = None,
        seed: int = 0,
        flip_prob: float = 0.5,
        satellite_rot90: bool = True,
    ):
        self.locations = locations
        self.image_size = image_size
        self.bank = bank
        self.seed = seed
        self.flip_prob = flip_prob
        self.satellite_rot90 = satellite_rot90
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.locations)

    def __getitem__(self, index: int) -> dict:
        loc = self.locations[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        drone = load_image(loc.drones[rng.integers(len(loc.drones))], self.image_size)
        satellite = load_image(loc.satellites[rng.integers(len(loc.satellites))], self.image_size)
        if self.bank is not None and loc.clouds:
            points = torch.from_numpy(self.bank.draw_for(loc.clouds[rng.integers(len(loc.clouds))], self.epoch))
        else:
            points = torch.zeros(1, 3)
        if rng.random() < self.flip_prob:  # joint flip keeps drone and satellite consistent (official code)
            drone, satellite = drone.flip(-1), satellite.flip(-1)
        if self.satellite_rot90:  # north-up tiles vs drones from any heading (official: RandomRotate90, p=1)
            satellite = torch.rot90(satellite, int(rng.integers(4)), dims=(1, 2))
        return {"drone": drone, "satellite": satellite, "points": points, "label": loc.label}


class ImageList(Dataset):
    """Images for feature extraction: ``[3, S, S]`` tensors in list order."""

    def __init__(self, paths: list[str], image_size: int):
        self.paths = list(paths)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return load_image(self.paths[index], self.image_size)
