"""Training samples: locations from the manifest, validation hold-out, deterministic per-sample randomness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from geolink.data.pairs import CrossViewPairs, ImageList, load_image, split_validation, training_locations
from geolink.points import load_point_bank, save_point_bank


def write_image(path, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 10), color).save(path)
    return str(path)


@pytest.fixture
def tiny(tmp_path):
    rows = []
    for loc, color in (("0001", (255, 0, 0)), ("0002", (0, 255, 0)), ("0003", (0, 0, 255))):
        for k, alt in enumerate((150.0, 300.0)):
            rows.append(("train", "train", "drone", loc, alt, write_image(tmp_path / f"d/{loc}/{k}.png", color)))
        rows.append(("train", "train", "satellite", loc, np.nan, write_image(tmp_path / f"s/{loc}.png", color)))
    rows.append(("test", "query", "drone", "0009", 150.0, write_image(tmp_path / "q/0009.png", (9, 9, 9))))
    rows.append(
        ("train", "train", "drone", "0004", 150.0, write_image(tmp_path / "d/0004/0.png", (1, 1, 1)))
    )  # no satellite
    manifest = pd.DataFrame(rows, columns=["split", "role", "view", "location", "altitude", "path"])
    keys = ["0001_group0", "0001_group1", "0002_group0"]  # 0003 has no cloud
    draws = np.random.default_rng(0).normal(size=(3, 2, 16, 3)).astype(np.float32)
    save_point_bank(tmp_path / "bank.npz", keys, draws, {})
    return manifest, load_point_bank(tmp_path / "bank.npz")


def test_training_locations_need_drone_satellite_and_cloud(tiny):
    manifest, bank = tiny
    without_bank = training_locations(manifest)
    assert [loc.location for loc in without_bank] == ["0001", "0002", "0003"]
    with_bank = training_locations(manifest, bank)
    assert [loc.location for loc in with_bank] == ["0001", "0002"]
    assert with_bank[0].clouds == ["0001_group0", "0001_group1"] and with_bank[0].label == 1
    assert len(training_locations(manifest, heights=[300])[0].queries) == 1


def test_sues200_per_height_satellite_copies_count_once(tmp_path):
    """SUES-200's Training/<height>/satellite/<ID>/0.png holds one tile per height; it is one satellite image."""
    rows = [
        ("train", "train", view, "0001", alt, write_image(tmp_path / f"{alt:.0f}/{view}/0001/0.png", (5, 5, 5)))
        for alt in (150.0, 200.0, 250.0, 300.0)
        for view in ("drone", "satellite")
    ]
    manifest = pd.DataFrame(rows, columns=["split", "role", "view", "location", "altitude", "path"])
    (every_height,) = training_locations(manifest)
    assert len(every_height.queries) == 4 and len(every_height.satellites) == 1
    (at_300,) = training_locations(manifest, heights=[300])
    assert at_300.queries == [str(tmp_path / "300/drone/0001/0.png")]
    assert at_300.satellites == [str(tmp_path / "300/satellite/0001/0.png")]  # the copy of the kept height


def test_validation_split_is_seeded_and_disjoint():
    locations = training_locations(
        pd.DataFrame(
            [("train", v, f"{i:04d}", 1.0, f"{v}{i}") for i in range(10) for v in ("drone", "satellite")],
            columns=["role", "view", "location", "altitude", "path"],
        )
    )
    train, val = split_validation(locations, 0.2, seed=3)
    again, val_again = split_validation(locations, 0.2, seed=3)
    assert len(val) == 2 and [v.location for v in val] == [v.location for v in val_again]
    assert not {t.location for t in train} & {v.location for v in val}
    assert split_validation(locations, 0.0, seed=3) == (locations, [])


def test_samples_depend_only_on_seed_epoch_and_index(tiny):
    manifest, bank = tiny
    locations = training_locations(manifest, bank)
    a = CrossViewPairs(locations, 14, bank, seed=1, flip_prob=0.5)
    b = CrossViewPairs(locations, 14, bank, seed=1, flip_prob=0.5)
    a.set_epoch(2)
    b.set_epoch(2)
    first = a[1]
    _ = b[0]  # another access order must not change sample 1
    second = b[1]
    for key in ("drone", "satellite", "points"):
        torch.testing.assert_close(first[key], second[key])
    assert first["label"] == 2 and first["points"].shape == (16, 3)
    # The point cloud is the bank's draw for this epoch (draw = epoch mod 2 = 0).
    assert any(torch.equal(first["points"], torch.from_numpy(bank.get(k, 0))) for k in locations[1].clouds)


def test_joint_flip_flips_both_views(tmp_path):
    left = np.zeros((14, 14, 3), np.uint8)
    left[:, :7] = 255  # white on the left half
    Image.fromarray(left).save(tmp_path / "x.png")
    loc = training_locations(
        pd.DataFrame(
            [
                ("train", "drone", "0001", 1.0, str(tmp_path / "x.png")),
                ("train", "satellite", "0001", 1.0, str(tmp_path / "x.png")),
            ],
            columns=["role", "view", "location", "altitude", "path"],
        )
    )
    sample = CrossViewPairs(loc, 14, None, flip_prob=1.0, satellite_rot90=False)[0]
    assert sample["drone"][0, 0, -1] > sample["drone"][0, 0, 0]  # white now on the right
    assert torch.equal(sample["drone"], sample["satellite"])
    # With rot90 (the default, as the official code), the satellite is the flipped tile turned by a
    # multiple of 90 degrees, and the drone image is not rotated.
    rotated = CrossViewPairs(loc, 14, None, flip_prob=1.0)
    turns = set()
    for index_seed in range(8):
        rotated.seed = index_seed
        sample = rotated[0]
        k = [k for k in range(4) if torch.equal(torch.rot90(sample["drone"], k, dims=(1, 2)), sample["satellite"])]
        assert k, "satellite is not a 90-degree rotation of the (identical) drone image"
        turns.add(k[0])
    assert len(turns) > 1


def test_load_image_normalises_with_imagenet_statistics(tmp_path):
    Image.new("RGB", (8, 8), (255, 255, 255)).save(tmp_path / "w.png")
    image = load_image(str(tmp_path / "w.png"), 4)
    expected = torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    torch.testing.assert_close(image[:, 0, 0], expected)
    assert len(ImageList([str(tmp_path / "w.png")] * 3, 4)) == 3
