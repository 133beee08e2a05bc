"""SkyLink's modules, each pinned on a hand-made case: PAFA's regions, GREM's selection, the multi-scale bridge, the
street loss names, the flip x rot90 test-time augmentation and the challenge's answer file."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from geolink.challenge import answer_recall, answer_rows, order_queries, read_query_list, write_answer
from geolink.data.google_retrieval import is_informative, location_prototypes, retrieve_google, select_matching
from geolink.errors import UserError
from geolink.evaluation.tta import flip_rot90_views, tta_descriptors
from geolink.losses import GeoLinkLoss
from geolink.models import create_model
from geolink.models.pafa import PatchAwareAggregation, region_masks

# ---- Patch-Aware Feature Aggregation -------------------------------------------------------------------------


def test_rings_on_a_4x4_grid_are_the_centre_block_and_the_border():
    centre, border = region_masks("rings", 2, 4, 4)
    expected_centre = torch.zeros(4, 4, dtype=torch.bool)
    expected_centre[1:3, 1:3] = True
    assert torch.equal(centre, expected_centre)
    assert torch.equal(border, ~expected_centre)
    # A 5 x 5 grid has three rings: the centre token, the 8 around it, the 16 on the border.
    assert region_masks("rings", 3, 5, 5).sum(dim=(1, 2)).tolist() == [1, 8, 16]
    # Bands of a 4-row grid cut in two: rows 0-1 and rows 2-3.
    top, bottom = region_masks("grid", 2, 4, 4)
    assert top[:2].all() and not top[2:].any() and bottom[2:].all()
    with pytest.raises(ValueError, match="n_parts"):
        region_masks("rings", 3, 4, 4)  # a 4 x 4 grid has two rings


@pytest.mark.parametrize("layout", ["rings", "grid"])
def test_each_region_descriptor_depends_only_on_the_tokens_of_its_region(layout):
    torch.manual_seed(0)
    pafa = PatchAwareAggregation(8, (4, 4), layout, n_parts=2, part_dim=5)
    masks = region_masks(layout, 2, 4, 4)
    feature_map = torch.randn(1, 8, 4, 4)
    before = pafa.parts(feature_map)
    for region in range(2):
        outside = feature_map.clone()
        outside[:, :, ~masks[region]] = torch.randn(8, int((~masks[region]).sum()))
        after = pafa.parts(outside)
        assert torch.allclose(after[:, region], before[:, region], atol=1e-6)  # its own tokens did not change
        assert not torch.allclose(after[:, 1 - region], before[:, 1 - region], atol=1e-3)  # the other's did
    # And a region's descriptor is the projection of its tokens' mean, normalised: checked against a direct sum.
    centre = feature_map[0][:, masks[0]].mean(dim=1)
    assert torch.allclose(before[0, 0], F.normalize(pafa.proj(centre), dim=0), atol=1e-6)


def test_combined_similarity_averages_global_and_mean_regional_similarity():
    torch.manual_seed(1)
    pafa = PatchAwareAggregation(6, (4, 4), "rings", n_parts=2, part_dim=3, part_weight=1.0)
    maps = torch.randn(2, 6, 4, 4)
    global_ = F.normalize(torch.randn(2, 7), dim=-1)
    combined = pafa(global_, maps)
    parts = pafa.parts(maps)
    regional = (parts[0] * parts[1]).sum(dim=-1).mean()
    expected = (global_[0] @ global_[1] + regional) / 2  # part_weight 1: equal shares
    assert torch.allclose(combined[0] @ combined[1], expected, atol=1e-6)
    assert combined.shape == (2, 7 + 2 * 3)


def test_skylink_models_and_their_ablations_are_built_by_name():
    kwargs = {"pretrained": False, "img_size": 64}
    full = create_model("skylink_tiny_cnn", **kwargs)
    no_pafa = create_model("skylink_tiny_cnn", n_parts=0, **kwargs)
    no_3d = create_model("skylink_tiny_cnn_2d", **kwargs)
    assert full.descriptor_dim == 256 + 2 * 64 and full.image_encoder.parts is not None
    assert no_pafa.descriptor_dim == 256 and no_pafa.image_encoder.parts is None
    assert full.has_3d and not no_3d.has_3d and no_3d.image_encoder.parts is not None


def test_the_multi_scale_bridge_is_the_renormalised_mean_of_each_clouds_feature():
    torch.manual_seed(2)
    model = create_model("skylink_tiny_cnn", pretrained=False, img_size=64).eval()
    clouds = torch.randn(2, 3, 128, 3)  # 2 locations x 3 view groups
    fused = model.encode_point_scales(clouds)["f_pc_prime"]
    for b in range(2):
        one_by_one = torch.stack([model.encode_points(clouds[b, s : s + 1])["f_pc_prime"][0] for s in range(3)])
        assert torch.allclose(fused[b], F.normalize(one_by_one.mean(dim=0), dim=0), atol=1e-5)
    images = torch.randn(2, 3, 64, 64)
    out = model(images, images, clouds, query_view="street")
    assert set(out) >= {"street", "satellite", "pc_prime"} and torch.allclose(out["pc_prime"], fused, atol=1e-5)


def test_street_queries_take_the_drone_place_in_every_loss_term_name():
    torch.manual_seed(3)
    f = [F.normalize(torch.randn(4, 8), dim=-1) for _ in range(3)]
    drone = GeoLinkLoss(weights={"ga": 0.0})(*f, None, 10.0)
    street = GeoLinkLoss(weights={"ga": 0.0}, query_view="str")(*f, None, 10.0)
    assert {k.replace("dro", "str") for k in drone} == set(street)
    assert {"cc/str_sat", "cc/str_pc", "sc/str", "rd/str"} <= set(street)
    assert torch.equal(drone["cc/dro_sat"], street["cc/str_sat"]) and torch.equal(drone["total"], street["total"])


# ---- Google Retrieval Enhancement Module ---------------------------------------------------------------------


def test_a_flat_placeholder_is_empty_and_a_photo_is_not():
    flat = np.full((32, 32, 3), 200, dtype=np.uint8)
    assert not is_informative(flat, 2.0)
    stripes = flat.copy()
    stripes[::2] = 100  # grey levels 200 and 100 in equal shares: standard deviation 50
    assert is_informative(stripes, 2.0) and not is_informative(stripes, 50.5)


def test_a_photo_is_kept_when_it_retrieves_its_own_location():
    # Two locations on the x and y axes; prototypes are the normalised means of their references.
    references = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    prototypes, labels = location_prototypes(references, [0, 0, 1])
    assert labels.tolist() == [0, 1]
    np.testing.assert_allclose(prototypes[0], np.array([1.8, 0.6]) / math.hypot(1.8, 0.6), rtol=1e-6)
    photos = np.array([[0.96, 0.28], [0.0, 1.0], [0.5, 0.866]], dtype=np.float32)
    # Photo 0 (location 0) is nearest prototype 0: kept. Photo 1 (filed under 0) shows location 1: dropped.
    # Photo 2 (location 0) is nearer prototype 1 (0.87 against 0.75): dropped at top_k 1, kept at top_k 2.
    assert select_matching(photos, [0, 0, 0], prototypes, labels, top_k=1).tolist() == [True, False, False]
    assert select_matching(photos, [0, 0, 0], prototypes, labels, top_k=2).tolist() == [True, True, True]
    assert select_matching(photos, [5, 0, 0], prototypes, labels).tolist() == [False, False, False]  # no prototype


def _photo(path: Path, colour: tuple[int, int, int], textured: bool = True) -> str:
    image = np.zeros((16, 16, 3), dtype=np.uint8) + np.array(colour, dtype=np.uint8)
    if textured:
        image[::2] = image[::2] // 2  # stripes: a photo, not a placeholder
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return str(path)


def test_grem_keeps_a_matching_photo_and_drops_an_empty_and_a_foreign_one(tmp_path):
    red, blue = (240, 20, 20), (20, 20, 240)
    locations = [
        SimpleNamespace(
            location="0001",
            queries=[_photo(tmp_path / "street/0001/a.png", red)],
            satellites=[_photo(tmp_path / "sat/0001/s.png", red)],
            google=[
                _photo(tmp_path / "google/0001/0.png", (220, 40, 30)),  # the same red building: kept
                _photo(tmp_path / "google/0001/1.png", blue),  # another (blue) building: dropped
                _photo(tmp_path / "google/0001/2.png", (128, 128, 128), textured=False),  # a blank placeholder
            ],
        ),
        SimpleNamespace(
            location="0002",
            queries=[_photo(tmp_path / "street/0002/a.png", blue)],
            satellites=[_photo(tmp_path / "sat/0002/s.png", blue)],
            google=[],
        ),
    ]
    seen = []

    def embed(paths):  # a hand-made encoder: the mean colour, L2-normalised
        seen.extend(paths)
        means = np.stack([np.asarray(Image.open(p), dtype=np.float32).reshape(-1, 3).mean(axis=0) for p in paths])
        return means / np.linalg.norm(means, axis=1, keepdims=True)

    selection = retrieve_google(locations, embed, top_k=1, min_pixel_std=2.0)
    assert selection.kept == {0: [str(tmp_path / "google/0001/0.png")]}
    assert selection.rows == [{"location": "0001", "n_google": 3, "n_empty": 1, "n_kept": 1}]
    assert str(tmp_path / "google/0001/2.png") not in seen  # the empty photo never reaches the encoder


def test_kept_web_photos_are_street_samples_of_their_own(tmp_path):
    from geolink.data.batches import training_samples
    from geolink.data.pairs import CrossViewPairs, TrainingLocation

    red, blue = (240, 20, 20), (20, 20, 240)
    street = [_photo(tmp_path / f"street/0001/{k}.png", red) for k in range(2)]
    web = _photo(tmp_path / "google/0001/0.png", (30, 200, 30))
    locations = [
        TrainingLocation("0001", 0, street, [_photo(tmp_path / "sat/0001.png", red)], google=[web]),
        TrainingLocation("0002", 1, [_photo(tmp_path / "street/0002/0.png", blue)], [_photo(tmp_path / "2.png", blue)]),
    ]
    assert len(training_samples(locations, "query_images")) == 3  # before GREM: the street photos only
    locations[0].extra_queries = [web]  # what GREM keeps
    samples = training_samples(locations, "query_images")
    assert [(s.location, s.query) for s in samples] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    pairs = CrossViewPairs(locations, 16, samples=samples, query_view="street", flip_prob=0.0, satellite_rot90=False)
    green = pairs[2]["street"].mean(dim=(1, 2))  # the third sample of location 0 shows the web photo (green)
    assert green[1] > green[0] and green[1] > green[2]
    assert len(training_samples(locations, "one")) == 2  # one per location: the photo joins the drawing pool instead


# ---- test-time augmentation ----------------------------------------------------------------------------------


def test_the_four_views_are_identity_rot90_flip_and_flip_then_rot90():
    image = torch.arange(4.0).reshape(1, 1, 2, 2)  # [[0, 1], [2, 3]]
    views = [v[0, 0].tolist() for v in flip_rot90_views(image)]
    assert views == [[[0, 1], [2, 3]], [[1, 3], [0, 2]], [[1, 0], [3, 2]], [[0, 2], [1, 3]]]


def test_tta_descriptors_are_the_normalised_mean_of_the_views_descriptors():
    image = torch.arange(4.0).reshape(1, 1, 2, 2)

    def encode(x):  # descriptor = the first row of the view, and a constant
        return torch.cat([x[:, 0, 0, :], torch.ones(x.shape[0], 1)], dim=1)

    # Views' first rows: [0, 1], [1, 3], [1, 0], [0, 2]; each [row, 1] normalised, averaged, normalised.
    rows = torch.tensor([[0.0, 1, 1], [1, 3, 1], [1, 0, 1], [0, 2, 1]])
    expected = F.normalize(F.normalize(rows, dim=-1).mean(dim=0), dim=0)
    assert torch.allclose(tta_descriptors(encode, image)[0], expected, atol=1e-6)


# ---- the challenge's answer file -----------------------------------------------------------------------------


def test_the_answer_file_matches_a_hand_written_one(tmp_path):
    gallery_names = ["ptHYAN3piG3YwOft", "I9bzP8jnLlz9zpMi", "c3vVTLCzTAVzuapU", "gO2hUfIHC8N4ZWKz"]
    gallery = np.eye(4, dtype=np.float32)
    # Query 0 is nearest gallery 2, then 0, then 1 (3 last); query 1 ties galleries 1 and 3 (lower index first).
    queries = np.array([[0.5, 0.3, 0.8, 0.0], [0.0, 0.7, 0.0, 0.7]], dtype=np.float32)
    rows = answer_rows(queries, gallery, gallery_names, top_k=3)
    answer, archive = write_answer(tmp_path, rows)
    hand_written = (
        "c3vVTLCzTAVzuapU\tptHYAN3piG3YwOft\tI9bzP8jnLlz9zpMi\nI9bzP8jnLlz9zpMi\tgO2hUfIHC8N4ZWKz\tptHYAN3piG3YwOft\n"
    )
    assert answer.read_bytes() == hand_written.encode()
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["answer.txt"] and z.read("answer.txt") == hand_written.encode()
    assert answer_recall(rows, ["ptHYAN3piG3YwOft", "gO2hUfIHC8N4ZWKz"], ks=(1, 2)) == {"R@1": 0.0, "R@2": 100.0}


def test_query_order_follows_the_challenge_list(tmp_path):
    images = [tmp_path / name for name in ("b.jpeg", "a.jpeg", "c.jpeg")]
    listing = tmp_path / "query_street_name.txt"
    listing.write_text("c.jpeg\n\na.jpeg\nb.jpeg\n")
    assert order_queries(images, read_query_list(listing)) == [images[2], images[1], images[0]]
    assert order_queries(images, None) == [images[1], images[0], images[2]]  # no list: name order
    with pytest.raises(UserError, match="'d.jpeg'"):
        order_queries(images, ["d.jpeg"])
    listing.write_text("a.jpeg\na.jpeg\n")
    with pytest.raises(UserError, match="more than once"):
        read_query_list(listing)
