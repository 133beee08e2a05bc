"""What an epoch is: samples per location, batches of distinct locations, and the official trainers' step counts."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO

from geolink.config import load_config
from geolink.data.batches import UniqueLocationBatchSampler, training_samples, unique_location_batches
from geolink.data.pairs import TrainingLocation, split_validation
from geolink.pipeline import Pipeline


def locations(n: int, drones: int = 3, satellites: int = 1, groups: int = 3) -> list[TrainingLocation]:
    return [
        TrainingLocation(
            location=f"{i:04d}",
            label=i,
            queries=[f"d{i}_{k}" for k in range(drones)],
            satellites=[f"s{i}_{k}" for k in range(satellites)],
            clouds=[f"{i:04d}_group{g}" for g in range(groups)],
        )
        for i in range(n)
    ]


def test_each_mode_enumerates_what_it_says():
    locs = locations(5, drones=4, satellites=2, groups=3)
    assert len(training_samples(locs, "one")) == 5
    assert len(training_samples(locs, "drone_images")) == 5 * 4
    groups = training_samples(locs, "cloud_groups")
    assert len(groups) == 5 * 2 * 3
    assert {(s.satellite, s.cloud) for s in groups if s.location == 2} == {
        (sat, f"0002_group{g}") for sat in range(2) for g in range(3)
    }
    # A location without clouds (a 2D model trained without a point bank) counts as one group.
    assert len(training_samples(locations(5, satellites=2, groups=0), "cloud_groups")) == 5 * 2
    with pytest.raises(ValueError, match="samples per location"):
        training_samples(locs, "all")


@pytest.mark.parametrize(
    ("dataset", "n_locations", "satellites", "batch", "official_steps"),
    [
        # The official trainers' optimiser steps per epoch (docs/official_code.md §1.2, §1.5, §4): every
        # (satellite image, cloud group) of every training location, full batches of distinct locations.
        ("university1652", 701, 1, 8, 2103 // 8),  # 262
        ("sues200", 120, 1, 4, 90),
        ("denseuav", 2256, 6, 4, 2256 * 6 * 3 // 4),  # 10,152
    ],
)
def test_cloud_groups_give_the_official_steps_per_epoch(dataset, n_locations, satellites, batch, official_steps):
    samples = training_samples(locations(n_locations, satellites=satellites), "cloud_groups")
    sampler = UniqueLocationBatchSampler(samples, batch, seed=0)
    batches = sampler.batches()
    assert len(batches) == len(sampler) == official_steps
    for batch_indices in batches:
        assert len({samples[i].location for i in batch_indices}) == batch  # never a location twice


@pytest.mark.parametrize(
    ("dataset", "n_locations", "satellites", "official_steps", "held_out_steps"),
    [
        # Without the hold-out: the official count. With the default 10 % source hold-out (train.val_fraction),
        # 631, 108 and 2,030 training locations: 236, 81 and 9,135 steps.
        ("university1652", 701, 1, 262, 631 * 3 // 8),
        ("sues200", 120, 1, 90, 108 * 3 // 4),
        ("denseuav", 2256, 6, 10_152, 2030 * 6 * 3 // 4),
    ],
)
def test_the_paper_configuration_takes_the_official_steps(
    dataset, n_locations, satellites, official_steps, held_out_steps
):
    settings = Pipeline(load_config(REPO / "config/config.yaml")).train_settings(dataset, "geolink", 0)
    steps = {}
    for fraction in (0.0, settings["val_fraction"]):
        train, _ = split_validation(locations(n_locations, satellites=satellites), fraction, settings["seed"])
        samples = training_samples(train, settings["samples_per_location"])
        steps[fraction] = len(UniqueLocationBatchSampler(samples, settings["batch_size"], seed=0))
    assert steps == {0.0: official_steps, 0.1: held_out_steps}


def test_every_sample_is_used_at_most_once_and_epochs_differ():
    samples = training_samples(locations(10), "cloud_groups")
    sampler = UniqueLocationBatchSampler(samples, 4, seed=3)
    first = sampler.batches()
    used = [i for batch in first for i in batch]
    assert len(used) == len(set(used)) == 28  # 30 samples, full batches of 4
    sampler.set_epoch(1)
    assert sampler.batches() != first
    sampler.set_epoch(0)
    assert sampler.batches() == first  # seeded by (seed, epoch): a resumed epoch repeats its batches


def test_one_sample_per_location_is_a_seeded_shuffle_cut_into_batches():
    samples = training_samples(locations(23), "one")
    sampler = UniqueLocationBatchSampler(samples, 4, seed=7)
    sampler.set_epoch(2)
    order = torch.randperm(23, generator=torch.Generator().manual_seed(7 * 100_003 + 2)).tolist()
    assert sampler.batches() == [order[i : i + 4] for i in range(0, 20, 4)]  # the last 3 are dropped


def test_a_sample_that_would_repeat_a_location_waits_for_the_next_batch():
    # Locations of samples 0..5: two samples each of locations 0, 1, 2, in an order that puts repeats together.
    sample_locations = [0, 0, 1, 1, 2, 2]
    batches = unique_location_batches(sample_locations, 3, order=[0, 1, 2, 3, 4, 5])
    assert batches == [[0, 2, 4], [5, 1, 3]]  # 1 and 3 waited behind 5
