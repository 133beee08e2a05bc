"""What one training epoch is: the samples each location contributes, and batches that never repeat a location.

The official trainers (Sample4Geo's dataset classes) list one sample per (satellite image, point-cloud group) of
every location, so an epoch of SUES-200 at batch 4 is 120 x 1 x 3 / 4 = 90 steps, and build batches with a
rejection sampler that keeps location IDs unique within a batch (docs/official_code.md §1.2, §1.5). InfoNCE with
in-batch negatives needs that uniqueness: two samples of one location in a batch would be each other's false
negatives. ``train.samples_per_location`` chooses what an epoch is:

* ``one``: one sample per location (a random drone image, satellite image and cloud group);
* ``cloud_groups``: one per (satellite image, cloud group), the official count (a random drone image each);
* ``query_images``: one per query-view image (drone, or SkyLink's street, and the web photos SkyLink's GREM kept),
  with a random satellite image and cloud group each; ``drone_images`` is its older name.

Randomness is drawn from generators seeded by (seed, epoch), so an epoch's batches do not depend on the number
of DataLoader workers or on whether training was resumed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

SAMPLES_PER_LOCATION = ("one", "cloud_groups", "query_images", "drone_images")


@dataclass(frozen=True)
class Sample:
    """One training sample: a location and, where the epoch fixes them, which query image, satellite and cloud.

    ``None`` means "draw at random for this epoch" (``geolink.data.pairs.CrossViewPairs``).
    """

    location: int  # index into the list of training locations
    query: int | None = None  # index into the location's query images (drone or street)
    satellite: int | None = None
    cloud: str | None = None


def training_samples(locations: Sequence, per_location: str) -> list[Sample]:
    """The samples of one epoch, in location order (see the module docstring for ``per_location``).

    Args:
        locations: ``geolink.data.pairs.TrainingLocation`` objects (``query_pool``, ``satellites``, ``clouds``).
        per_location: one of ``SAMPLES_PER_LOCATION``. With ``cloud_groups``, a location without clouds (a 2D
            model trained without a point bank) counts as one group, so it contributes one sample per satellite.
    """
    if per_location not in SAMPLES_PER_LOCATION:
        raise ValueError(f"samples per location must be one of {SAMPLES_PER_LOCATION}, got {per_location!r}")
    samples = []
    for index, loc in enumerate(locations):
        if per_location == "one":
            samples.append(Sample(index))
        elif per_location in ("query_images", "drone_images"):
            samples += [Sample(index, query=q) for q in range(len(loc.query_pool))]  # GREM's kept photos too
        else:
            clouds = loc.clouds or [None]
            samples += [Sample(index, satellite=s, cloud=c) for s in range(len(loc.satellites)) for c in clouds]
    return samples


def unique_location_batches(sample_locations: Sequence[int], batch_size: int, order: Sequence[int]) -> list[list[int]]:
    """Cut ``order`` (a permutation of sample indices) into full batches whose samples have distinct locations.

    A sample whose location is already in the batch being filled waits in line for a later batch, as in the
    official sampler; filling stops when every waiting sample would repeat a location of the current batch, and
    an incomplete last batch is dropped. With one sample per location this is plain chunking of ``order``.

    Returns:
        Batches of sample indices, each of length ``batch_size``.
    """
    waiting = deque(order)
    batches, batch, in_batch, rejected = [], [], set(), 0
    while waiting and rejected < len(waiting):
        index = waiting.popleft()
        if sample_locations[index] in in_batch:
            waiting.append(index)
            rejected += 1
            continue
        batch.append(index)
        in_batch.add(sample_locations[index])
        rejected = 0
        if len(batch) == batch_size:
            batches.append(batch)
            batch, in_batch = [], set()
    return batches


class UniqueLocationBatchSampler(Sampler[list[int]]):
    """DataLoader ``batch_sampler``: each epoch, a seeded shuffle cut into batches of distinct locations.

    The shuffle is ``torch.randperm`` with a generator seeded by ``seed * 100_003 + epoch``; with one sample per
    location the batches are consecutive slices of it. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, samples: Sequence[Sample], batch_size: int, seed: int) -> None:
        self.sample_locations = [s.location for s in samples]
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.sample_locations), generator=generator).tolist()
        return unique_location_batches(self.sample_locations, self.batch_size, order)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
