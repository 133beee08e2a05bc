"""Training image augmentation: determinism, the official stack's ops and their rates, the flip_rot90 stack."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from geolink.config import ConfigError, merge, validate_config
from geolink.data.augment import (
    FlipRot90,
    OfficialStack,
    PairAugment,
    advanced_blur_kernel,
    build_augment,
    grid_holes,
    sharpen_kernel,
)
from geolink.data.images import IMAGENET_MEAN, IMAGENET_STD
from geolink.data.pairs import CrossViewPairs, training_locations

SIZE = 32
OFF = {  # every optional op of the official stack switched off
    "jpeg": {"prob": 0.0},
    "color_jitter": {"prob": 0.0},
    "blur_sharpen": {"prob": 0.0},
    "dropout": {"prob": 0.0},
    "sepia_solarize": {"prob": 0.0},
}


def train_settings(augmentation: dict | None = None, **train) -> dict:
    """The ``train`` section with the schema's defaults, as a run sees it."""
    section = {"image_size": SIZE, "augmentation": augmentation or {}, **train}
    return validate_config({"name": "t", "train": section})["train"]


def picture(seed: int = 0, size: int = 40) -> Image.Image:
    """A textured RGB image: smooth gradients plus noise, so every op has something to change."""
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 / size, y * 255 / size, (x + y) * 127 / size], axis=-1)
    noise = np.random.default_rng(seed).normal(0, 20, base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def old_pair(drone: Image.Image, satellite: Image.Image, rng, size, flip_prob=0.5, satellite_rot90=True):
    """CrossViewPairs' image code before geolink.data.augment: load_image, joint flip, satellite rot90."""

    def load(image):
        array = np.asarray(image.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array).permute(2, 0, 1)
        return (tensor - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)

    d, s = load(drone), load(satellite)
    if rng.random() < flip_prob:
        d, s = d.flip(-1), s.flip(-1)
    if satellite_rot90:
        s = torch.rot90(s, int(rng.integers(4)), dims=(1, 2))
    return d, s


def test_the_default_is_the_official_stack_with_the_rotation_on_the_satellite():
    augment = build_augment(train_settings())
    assert isinstance(augment.drone, OfficialStack) and isinstance(augment.satellite, OfficialStack)
    assert augment.satellite.rot90 and not augment.drone.rot90 and augment.flip_prob == 0.5
    assert (augment.drone.jpeg_quality, augment.drone.holes, augment.drone.hole_size) == (
        (90, 100),
        (10, 25),
        (0.1, 0.2),
    )
    swapped = build_augment(train_settings({"swap_views": True}))  # the official scripts' assignment
    assert swapped.drone.rot90 and not swapped.satellite.rot90
    assert not build_augment(train_settings(satellite_rot90=False)).satellite.rot90


def test_same_seed_epoch_and_index_give_identical_tensors_and_other_epochs_differ():
    augment = build_augment(train_settings())
    drone, satellite = picture(1), picture(2)
    first = augment(drone, satellite, np.random.default_rng([7, 3, 5]))
    again = augment(drone, satellite, np.random.default_rng([7, 3, 5]))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    others = [augment(drone, satellite, np.random.default_rng([7, epoch, 5])) for epoch in range(4, 10)]
    assert all(not torch.equal(first[0], o[0]) or not torch.equal(first[1], o[1]) for o in others)


@pytest.fixture
def pairs_dataset(tmp_path):
    rows = []
    for loc in range(6):
        for view in ("drone", "satellite"):
            path = tmp_path / f"{view}{loc}.png"
            picture(10 * loc + (view == "drone"), size=48).save(path)
            rows.append(("train", view, f"{loc:04d}", 1.0, str(path)))
    manifest = pd.DataFrame(rows, columns=["role", "view", "location", "altitude", "path"])
    locations = training_locations(manifest)
    return CrossViewPairs(locations, SIZE, None, seed=3, augment=build_augment(train_settings()))


def test_samples_do_not_depend_on_worker_count_or_access_order(pairs_dataset):
    pairs_dataset.set_epoch(2)
    direct = [pairs_dataset[i] for i in reversed(range(len(pairs_dataset)))][::-1]
    for workers in (0, 2):
        loader = DataLoader(pairs_dataset, batch_size=3, num_workers=workers)
        batches = list(loader)
        for key in ("drone", "satellite"):
            stacked = torch.cat([b[key] for b in batches])
            assert torch.equal(stacked, torch.stack([d[key] for d in direct])), (workers, key)
    pairs_dataset.set_epoch(3)
    assert not torch.equal(pairs_dataset[0]["drone"], direct[0]["drone"])


def test_crossviewpairs_takes_either_an_augment_or_the_flip_rot90_arguments(pairs_dataset):
    with pytest.raises(ValueError, match="either augment or flip_prob"):
        CrossViewPairs(pairs_dataset.locations, SIZE, augment=pairs_dataset.augment, flip_prob=0.5)
    default = CrossViewPairs(pairs_dataset.locations, SIZE).augment
    assert default == PairAugment(FlipRot90(SIZE, False), FlipRot90(SIZE, True), 0.5)


@pytest.mark.parametrize("satellite_rot90", [True, False])
@pytest.mark.parametrize("flip_prob", [0.0, 0.5, 1.0])
def test_the_flip_rot90_stack_is_the_old_behaviour(flip_prob, satellite_rot90):
    settings = train_settings({"stack": "flip_rot90"}, flip_prob=flip_prob, satellite_rot90=satellite_rot90)
    augment = build_augment(settings)
    drone, satellite = picture(3, size=50), picture(4, size=50)
    for index in range(8):
        new_rng, old_rng = np.random.default_rng([0, 1, index]), np.random.default_rng([0, 1, index])
        new = augment(drone, satellite, new_rng)
        old = old_pair(drone, satellite, old_rng, SIZE, flip_prob, satellite_rot90)
        assert all(torch.equal(a, b) for a, b in zip(new, old, strict=True))
        assert new_rng.random() == old_rng.random()  # the same number of draws: later draws do not shift


def test_output_shape_dtype_and_normalisation():
    colour = (200, 100, 50)
    image = Image.new("RGB", (45, 45), colour)
    expected = (torch.tensor(colour) / 255.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    augment = build_augment(train_settings(OFF))
    for out in augment(image, image, np.random.default_rng(0)):
        assert out.shape == (3, SIZE, SIZE) and out.dtype == torch.float32
        torch.testing.assert_close(out, expected.view(3, 1, 1).expand(3, SIZE, SIZE), rtol=0, atol=1e-6)
    # A dropout hole is black before normalisation, as in albumentations.
    holes = build_augment(train_settings({**OFF, "dropout": {"prob": 1.0}})).drone
    out = holes(image, np.random.default_rng(1), flip=False)
    black = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).view(3, 1)
    flat = out.reshape(3, -1)
    is_black = torch.isclose(flat, black, atol=1e-6).all(0)
    assert 0 < is_black.float().mean() < 1


@pytest.mark.parametrize("op", ["jpeg", "color_jitter", "blur_sharpen", "dropout", "sepia_solarize"], ids=lambda op: op)
def test_each_official_op_changes_pixels(op):
    plain = build_augment(train_settings(OFF)).drone
    alone = build_augment(train_settings(merge(OFF, {op: {"prob": 1.0}}))).drone
    image = picture(5, size=64)
    base = plain(image, np.random.default_rng(0), flip=False)
    changed = [not torch.equal(alone(image, np.random.default_rng(k), flip=False), base) for k in range(10)]
    # A blur with both sigmas near 0.2 is almost the identity kernel and can leave every pixel as it was.
    assert sum(changed) >= 7


def test_the_official_stack_changes_pixels_and_keeps_the_joint_flip():
    official = build_augment(train_settings())
    flip_rot90 = build_augment(train_settings({"stack": "flip_rot90"}))
    drone, satellite = picture(6), picture(7)
    differ = 0
    for index in range(20):
        a = official(drone, satellite, np.random.default_rng([0, 0, index]))
        b = flip_rot90(drone, satellite, np.random.default_rng([0, 0, index]))
        differ += not torch.equal(a[0], b[0])
    assert differ >= 15  # P(no op fires on a view) = 0.5 * 0.5 * 0.7 * 0.7 * 0.9 = 0.11
    # With every optional op off, the official stack flips both views together, like the flip_rot90 stack.
    bare = build_augment(train_settings({**OFF, "swap_views": False}, satellite_rot90=False, flip_prob=1.0))
    image = picture(8)
    drone_out, satellite_out = bare(image, image, np.random.default_rng(0))
    assert torch.equal(drone_out, satellite_out)
    expected = build_augment(train_settings(OFF, flip_prob=0.0, satellite_rot90=False))(
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image, np.random.default_rng(0)
    )[0]
    assert torch.equal(drone_out, expected)


def test_rot90_turns_the_view_that_gets_the_satellite_transform():
    image = picture(9)
    for swap, rotated in ((False, "satellite"), (True, "drone")):
        augment = build_augment(train_settings({**OFF, "swap_views": swap}, flip_prob=0.0))
        turns = set()
        for index in range(40):
            drone, satellite = augment(image, image, np.random.default_rng(index))
            still, turned = (drone, satellite) if rotated == "satellite" else (satellite, drone)
            k = [k for k in range(4) if torch.equal(torch.rot90(still, k, dims=(1, 2)), turned)]
            assert k, "not a quarter turn of the other view"
            turns.add(k[0])
        assert turns == {0, 1, 2, 3}


def test_each_official_op_fires_at_its_configured_probability():
    n = 4000
    rates = {"jpeg": 0.5, "color_jitter": 0.5, "blur_sharpen": 0.3, "dropout": 0.3, "sepia_solarize": 0.1}
    for scale in (1.0, 0.5):  # the defaults, and every probability halved in the config
        section = {op: {"prob": p * scale} for op, p in rates.items()}
        view = build_augment(train_settings(section, image_size=448)).satellite
        rng = np.random.default_rng([2026, int(scale * 10)])
        draws = [view.draw(rng) for _ in range(n)]
        fired = {
            "jpeg": np.mean([d.jpeg_quality is not None for d in draws]),
            "color_jitter": np.mean([d.jitter is not None for d in draws]),
            "blur_sharpen": np.mean([d.filter is not None for d in draws]),
            "dropout": np.mean([d.dropout is not None for d in draws]),
            "sepia_solarize": np.mean([d.tone is not None for d in draws]),
        }
        for op, p in rates.items():
            tolerance = 4 * np.sqrt(p * scale * (1 - p * scale) / n)  # 4 standard errors
            assert abs(fired[op] - p * scale) < tolerance, (op, scale, fired[op])
        # OneOf picks each alternative half the time; rot90 picks each quarter turn a quarter of the time.
        for attribute, pair in (
            ("filter", ("blur", "sharpen")),
            ("dropout", ("grid", "coarse")),
            ("tone", ("sepia", "solarize")),
        ):
            counts = Counter(getattr(d, attribute) for d in draws if getattr(d, attribute) is not None)
            share = counts[pair[0]] / sum(counts.values())
            assert abs(share - 0.5) < 4 * np.sqrt(0.25 / sum(counts.values())), (attribute, share)
        turns = np.bincount([d.rot90 for d in draws], minlength=4) / n
        assert np.abs(turns - 0.25).max() < 4 * np.sqrt(0.25 * 0.75 / n)
    # Parameters stay inside their configured ranges (and reach both ends where they are integers).
    qualities = {d.jpeg_quality for d in draws if d.jpeg_quality is not None}
    assert min(qualities) == 90 and max(qualities) == 100
    jitter = np.array([d.jitter for d in draws if d.jitter is not None])
    assert (np.abs(jitter[:, :3] - 1) <= 0.15).all() and (np.abs(jitter[:, 3]) <= 0.15).all()
    assert all(sorted(d.jitter_order) == [0, 1, 2, 3] for d in draws if d.jitter is not None)
    coarse = [d.holes for d in draws if d.dropout == "coarse"]
    assert min(map(len, coarse)) == 10 and max(map(len, coarse)) == 25
    sides = np.array([(x2 - x1, y2 - y1) for holes in coarse for x1, y1, x2, y2 in holes])
    assert sides.min() == int(0.1 * 448) and sides.max() == int(0.2 * 448)
    assert all(0 <= x1 and x2 <= 448 and 0 <= y1 and y2 <= 448 for h in coarse for x1, y1, x2, y2 in h)


def test_filters_and_grid_follow_albumentations():
    rng = np.random.default_rng(0)
    for _ in range(50):
        kernel = advanced_blur_kernel(rng)
        assert kernel.shape[0] in (3, 5, 7) and kernel.shape[0] == kernel.shape[1]
        centre = kernel.shape[0] // 2
        assert (kernel >= 0).all() and kernel[centre, centre] > 0 and abs(kernel.sum() - 1) < 1e-5
        sharpen = sharpen_kernel(rng)
        assert sharpen.shape == (3, 3) and 0.5 <= sharpen.sum() <= 1.0  # sums to 1 - alpha + alpha * lightness
    # GridDropout(ratio=0.4) at 448 px: 44 px units, 17 px holes from the top-left corner, 11 x 11 of them.
    holes = grid_holes(448, 0.4)
    assert len(holes) == 121 and holes[0] == (0, 0, 17, 17) and (44, 0, 61, 17) in holes


def test_ranges_must_be_ordered():
    with pytest.raises(ConfigError, match=r"train\.augmentation\.jpeg\.quality is \[100, 90\]"):
        build_augment(train_settings({"jpeg": {"quality": [100, 90]}}))
    with pytest.raises(ConfigError, match=r"dropout\.hole_size"):
        build_augment(train_settings({"dropout": {"hole_size": [0.3, 0.2]}}))
    with pytest.raises(ConfigError, match="stack"):
        train_settings({"stack": "albumentations"})
