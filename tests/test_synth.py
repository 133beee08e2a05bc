"""The synthetic benchmark: renderer geometry, determinism, layouts, ground truth, resumability."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from geolink.data.manifest import read_manifest
from geolink.data.sues200 import read_sues200_split_index, split_sues200
from geolink.resumable import build_tree
from geolink.synth import generate
from geolink.synth.camera import look_at, nadir_orthographic
from geolink.synth.domains import DOMAINS, get_domain
from geolink.synth.noise import fbm, value_noise
from geolink.synth.render import BOX, GROUND, ShadowMap, Sun, render, trace
from geolink.synth.scene import BUILDING, Scene, generate_scene

TINY = {"seed": 3, "image_size": 40, "geometry_points": 1500}
U1652 = {
    "domain": "campus",
    "n_train": 3,
    "n_test": 2,
    "n_distractors": 1,
    "drone_views": 3,
    "street_views": 1,
    "google_views": 2,
    "google_empty_fraction": 0.0,
    "google_noise_fraction": 0.0,
    "satellite_extent": 150.0,
}
SUES = {
    "domain": "suburb",
    "n_locations": 5,
    "train_fraction": 0.6,
    "heights": [150, 300],
    "frames_per_height": 2,
    "satellite_extent": 160.0,
}
DENSE = {"domain": "garden_city", "n_train": 3, "n_test": 2, "heights": [80, 90, 100]}


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_box_scene(height: float = 20.0, yaw: float = 0.0) -> Scene:
    """A 10 m x 10 m box of the given height centred on the origin, nothing else."""
    return Scene(
        domain=get_domain("campus"),
        seed=1,
        yaw=yaw,
        half_extent=50.0,
        box_lo=np.array([[-5.0, -5.0, 0.0]]),
        box_hi=np.array([[5.0, 5.0, height]]),
        box_kind=np.array([BUILDING], dtype=np.int8),
        wall_color=np.array([[0.5, 0.5, 0.5]]),
        roof_color=np.array([[0.6, 0.2, 0.2]]),
        window=np.array([[3.0, 3.0]]),
        tree_center=np.zeros((0, 3)),
        tree_radii=np.zeros((0, 3)),
        tree_color=np.zeros((0, 3)),
        roads=np.zeros((0, 3)),
        parking=np.zeros((0, 4)),
    )


# --------------------------------------------------------------------------------------------
# Renderer geometry against hand-computed values
# --------------------------------------------------------------------------------------------


def test_nadir_ray_hits_roof_at_hand_computed_distance():
    # Camera 100 m above the origin looking down: the centre ray meets the 20 m roof after 80 m,
    # and a ray far off to the side meets the ground after 100 m / cos(angle).
    scene = one_box_scene(height=20.0)
    cam = look_at([0, 0, 100.0], [0, 0, 0], fov_deg=60, width=21, height=21)
    hits = trace(scene, cam)
    assert hits.kind[10, 10] == BOX
    assert hits.t[10, 10] == pytest.approx(80.0, abs=1e-6)
    assert hits.kind[0, 0] == GROUND
    _, directions = cam.rays()
    cos_angle = -directions[0, 0, 2]
    assert hits.t[0, 0] == pytest.approx(100.0 / cos_angle, rel=1e-9)


def test_hit_points_project_back_to_their_pixel_centres():
    # Ray generation (inverse intrinsics) and projection (K [R|t]) are written independently.
    scene = generate_scene(np.random.default_rng(0), get_domain("campus"))
    cam = look_at([60.0, -80.0, 90.0], scene.target_center(), fov_deg=60, width=32, height=24)
    hits = trace(scene, cam)
    world = scene.to_world(hits.point.reshape(-1, 3))
    pixels, depth = cam.project(world)
    u, v = np.meshgrid(np.arange(32) + 0.5, np.arange(24) + 0.5)
    assert np.all(depth > 0)
    np.testing.assert_allclose(pixels, np.c_[u.ravel(), v.ravel()], atol=1e-6)


def test_yaw_rotates_the_block_but_not_the_satellite_frame():
    # A long thin box along block x, rotated by 90 degrees, must appear along world north (image rows).
    scene = one_box_scene()
    scene.box_lo[0] = [-30.0, -2.0, 0.0]
    scene.box_hi[0] = [30.0, 2.0, 10.0]
    scene.yaw = np.pi / 2
    hits = trace(scene, nadir_orthographic(np.zeros(2), extent=80.0, size=40))
    rows, cols = np.nonzero(hits.kind == BOX)
    assert np.ptp(rows) > 25 and np.ptp(cols) < 5


def test_shadow_falls_on_the_side_away_from_the_sun():
    # Sun in the south-east at 45 degrees: a 20 m box casts a 20 m shadow towards the north-west.
    scene = one_box_scene(height=20.0)
    sun = Sun.from_angles(azimuth_deg=135.0, elevation_deg=45.0)
    shadows = ShadowMap(scene, sun)
    lit = shadows.lit(np.array([[-9.0, 5.0, 0.0], [10.0, -10.0, 0.0], [-25.0, 25.0, 0.0]]))
    # The sun ray from (-9, 5) enters the box's west wall at z = 5.7 m: dark. The sunny side is lit,
    # and so is (-25, 25), whose sun ray reaches x = -5 only at z = 28 m, above the 20 m roof.
    assert lit.tolist() == [0.0, 1.0, 1.0]


def test_noise_is_deterministic_bounded_and_seed_dependent():
    x, y = np.meshgrid(np.linspace(0, 20, 50), np.linspace(0, 20, 50))
    a, b, c = value_noise(x, y, 1), value_noise(x, y, 1), value_noise(x, y, 2)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < 1
    assert np.abs(a - c).mean() > 0.1
    assert 0 <= fbm(x, y, 5).min() and fbm(x, y, 5).max() < 1


def test_scene_buildings_do_not_overlap_and_target_is_central():
    for name in DOMAINS:
        scene = generate_scene(np.random.default_rng(7), get_domain(name))
        buildings = scene.box_kind == BUILDING
        lo, hi = scene.box_lo[buildings], scene.box_hi[buildings]
        assert lo[0, 0] < 0 < hi[0, 0] and lo[0, 1] < 0 < hi[0, 1]
        for i in range(len(lo)):
            for j in range(i + 1, len(lo)):
                apart = (hi[i, :2] <= lo[j, :2]) | (hi[j, :2] <= lo[i, :2])
                assert apart.any(), f"{name}: buildings {i} and {j} overlap"


def test_each_building_is_one_material_seen_from_the_street_and_from_above():
    # Street photos see walls, satellite tiles roofs: the cue they share is that a building's wall and roof colours
    # are the same palette entry (facades[m], roofs[m]) times the same tint, so wall / facade == roof / roof entry
    # (in the channels that the clip to [0, 1] left alone).
    for name in DOMAINS:
        domain = get_domain(name)
        scene = generate_scene(np.random.default_rng(3), domain)
        facades, roofs = np.asarray(domain.facades), np.asarray(domain.roofs)
        tints = []
        for k in np.flatnonzero(scene.box_kind == BUILDING):
            wall, roof = scene.wall_color[k], scene.roof_color[k]
            unclipped = (wall < 1) & (roof < 1)
            ratios = [(wall / facades[m], roof / roofs[m]) for m in range(len(facades))]
            matches = [w for w, r in ratios if np.allclose(w[unclipped], r[unclipped])]
            assert matches, f"{name}: building {k} has wall {wall} and roof {roof}"
            tints.append(matches[0])
        assert np.ptp(np.asarray(tints), axis=0).max() > 0.05  # the tint differs between buildings


def test_domains_look_different():
    # Mean colour of satellite tiles from each domain: the palettes must be far apart.
    means = {}
    for name in DOMAINS:
        tiles = []
        for seed in range(3):
            scene = generate_scene(np.random.default_rng(seed), get_domain(name))
            cam = nadir_orthographic(scene.target_center()[:2], 150.0, 48)
            tiles.append(render(scene, cam, Sun.from_angles(180, 50), haze=False).reshape(-1, 3).mean(0))
        means[name] = np.mean(tiles, axis=0)
    names = list(means)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(means[names[i]] - means[names[j]]).max() > 8, (names[i], names[j], means)


# --------------------------------------------------------------------------------------------
# Layouts, determinism, resumability
# --------------------------------------------------------------------------------------------


def test_university1652_layout_counts(tmp_path):
    generate("university1652", tmp_path / "u", workers=1, **TINY, **U1652)
    root = tmp_path / "u" / "University-Release"
    manifest = read_manifest("university1652", root)
    counts = manifest.groupby(["folder"]).size().to_dict()
    # 3 train locations; 2 query + 1 distractor test locations; 3 drone views each.
    assert counts["drone"] == 3 * 3
    assert counts["satellite"] == 3
    assert counts["street"] == 3 * 1
    assert counts["google"] == 3 * 2
    assert counts["query_drone"] == 2 * 3
    assert counts["gallery_drone"] == (2 + 1) * 3
    assert counts["query_satellite"] == 2
    assert counts["gallery_satellite"] == 3
    assert counts["query_street"] == 2
    assert sorted(p.name for p in (root / "test/query_drone").iterdir()) == sorted(
        manifest[manifest.folder == "query_drone"].location.unique()
    )
    # Train and test locations are disjoint; distractors are gallery-only.
    train_ids = set(manifest[manifest.split == "train"].location)
    test_ids = set(manifest[manifest.split == "test"].location)
    assert not train_ids & test_ids
    assert len(set(manifest[manifest.folder == "gallery_satellite"].location)) == 3
    sat = manifest[manifest.folder == "query_satellite"].iloc[0]
    assert Path(sat.path).name == f"{sat.location}.jpg"
    assert sorted(Path(p).name for p in manifest[manifest.folder == "query_drone"].path)[:3] == [
        "image-01.jpeg",
        "image-01.jpeg",
        "image-02.jpeg",
    ]


def test_university1652_keeps_empty_google_folders(tmp_path):
    generate("university1652", tmp_path / "u", workers=1, **TINY, **{**U1652, "google_empty_fraction": 1.0})
    google = tmp_path / "u" / "University-Release" / "train" / "google"
    assert len(list(google.iterdir())) == 3
    assert not any(p.is_file() for p in google.rglob("*"))


def test_sues200_raw_tree_goes_through_the_official_split(tmp_path):
    generate("sues200", tmp_path / "s", workers=1, **TINY, **SUES)
    raw = tmp_path / "s" / "SUES-200-512x512"
    assert sorted(p.name for p in (raw / "drone_view_512" / "0001").iterdir()) == ["150", "300"]
    assert (raw / "satellite-view" / "0005" / "0.png").is_file()
    train = read_sues200_split_index(tmp_path / "s" / "indexs.yaml")
    assert len(train) == 3  # round(5 * 0.6)
    split_sues200(raw, tmp_path / "split", train_ids=train, heights=(150, 300))
    manifest = read_manifest("sues200", tmp_path / "split", heights=(150, 300))
    per_height = manifest[manifest.altitude == 150].groupby("folder").size().to_dict()
    assert per_height == {
        "drone": 3 * 2,
        "satellite": 3,
        "query_drone": 2 * 2,
        "query_satellite": 2,
        "gallery_drone": 5 * 2,
        "gallery_satellite": 5,
    }


def test_denseuav_layout_gps_and_two_dates(tmp_path):
    generate("denseuav", tmp_path / "d", workers=1, **TINY, **DENSE)
    root = tmp_path / "d" / "DenseUAV"
    manifest = read_manifest("denseuav", root)
    counts = manifest.groupby("folder").size().to_dict()
    assert counts == {
        "drone": 3 * 3,
        "satellite": 3 * 6,
        "query_drone": 2 * 3,
        "query_satellite": 2 * 6,
        "gallery_drone": 5 * 3,
        "gallery_satellite": 5 * 6,
    }
    assert sorted(p.name for p in (root / "train/satellite/000000").iterdir()) == [
        "H100.tif",
        "H100_old.tif",
        "H80.tif",
        "H80_old.tif",
        "H90.tif",
        "H90_old.tif",
    ]
    assert manifest.lon.notna().all() and manifest.lat.notna().all()
    assert sorted(manifest[manifest.view == "drone"].altitude.unique()) == [80.0, 90.0, 100.0]
    # Test classes are numbered after the training classes.
    assert sorted(manifest[manifest.folder == "query_drone"].location.unique()) == ["000003", "000004"]


def test_output_is_a_pure_function_of_the_seed_not_of_the_worker_count(tmp_path):
    generate("sues200", tmp_path / "one", workers=1, **TINY, **SUES)
    generate("sues200", tmp_path / "two", workers=2, **TINY, **SUES)
    a, b = tree_hashes(tmp_path / "one"), tree_hashes(tmp_path / "two")
    assert a.keys() == b.keys()
    # Images and the split index are byte-identical; .npz archives embed zip timestamps, so compare contents.
    for name in a:
        if name.endswith(".npz"):
            with np.load(tmp_path / "one" / name) as x, np.load(tmp_path / "two" / name) as y:
                for key in x.files:
                    np.testing.assert_array_equal(x[key], y[key])
        else:
            assert a[name] == b[name], name
    generate("sues200", tmp_path / "other", workers=1, **{**TINY, "seed": 4}, **SUES)
    assert (
        tree_hashes(tmp_path / "other")["SUES-200-512x512/satellite-view/0001/0.png"]
        != a["SUES-200-512x512/satellite-view/0001/0.png"]
    )


def test_geometry_truth_matches_the_rendered_views(tmp_path):
    generate("university1652", tmp_path / "u", workers=1, **TINY, **U1652)
    manifest = read_manifest("university1652", tmp_path / "u" / "University-Release")
    location = manifest[manifest.split == "train"].location.iloc[0]
    with np.load(tmp_path / "u" / "geometry" / f"{location}.npz") as truth:
        points, names, K, R, t = truth["points"], truth["image_names"], truth["K"], truth["R"], truth["t"]
        assert points.shape == (1500, 3) and truth["colors"].shape == (1500, 3)
        assert len(names) == 3 and all((tmp_path / "u" / "University-Release" / n).is_file() for n in names)
    assert points[:, 2].min() >= -1e-4  # nothing below the ground
    # Every drone camera looks at the scene: the cloud's centroid projects inside the image,
    # in front of the camera, and the camera flies above the ground.
    for k in range(3):
        cam = points.mean(0) @ R[k].T + t[k]
        u, v = (K[k] @ cam)[:2] / cam[2]
        assert cam[2] > 0 and 0 < u < 40 and 0 < v < 40
        assert (-R[k].T @ t[k])[2] > 30


def _flaky_location(partial, key, fail_on):
    if key == fail_on and not (partial / "allow").exists():
        raise RuntimeError("simulated crash")
    (partial / f"{key}.txt").write_text(key)
    return {"key": key}


def test_interrupted_build_resumes_and_publishes_atomically(tmp_path):
    out = tmp_path / "tree"
    jobs = [(k, (k, "c")) for k in ("a", "b", "c", "d")]
    with pytest.raises(RuntimeError):
        build_tree(out, {"p": 1}, jobs, _flaky_location, finalize=lambda p, r: None, workers=1)
    assert not out.exists()  # nothing half-made is visible
    partial = tmp_path / "tree.partial"
    assert sorted(p.name for p in (partial / ".done").iterdir()) == ["a.json", "b.json"]
    (partial / "allow").write_text("")
    (partial / "a.txt").write_text("kept")  # a finished location is not redone on resume
    records = build_tree(out, {"p": 1}, jobs, _flaky_location, finalize=lambda p, r: None, workers=1)
    assert sorted(records) == ["a", "b", "c", "d"]
    assert (out / "a.txt").read_text() == "kept" and (out / "d.txt").read_text() == "d"
    assert not partial.exists() and not (out / ".done").exists()


def test_changed_parameters_discard_stale_partial_work(tmp_path):
    out = tmp_path / "tree"
    jobs = [(k, (k, "b")) for k in ("a", "b")]
    with pytest.raises(RuntimeError):
        build_tree(out, {"p": 1}, jobs, _flaky_location, finalize=lambda p, r: None, workers=1)
    (tmp_path / "tree.partial" / "a.txt").write_text("stale")
    jobs = [(k, (k, "none")) for k in ("a", "b")]
    build_tree(out, {"p": 2}, jobs, _flaky_location, finalize=lambda p, r: None, workers=1)
    assert (out / "a.txt").read_text() == "a"


def test_university1652_web_photos_carry_noise_and_its_truth(tmp_path):
    import csv

    import numpy as np
    from PIL import Image

    generate("university1652", tmp_path / "u", workers=1, **TINY, **{**U1652, "google_noise_fraction": 1.0})
    truth = list(csv.DictReader((tmp_path / "u" / "geometry" / "google.csv").open()))
    assert len(truth) == 3 * 2 and {row["kind"] for row in truth} <= {"blank", "foreign"}
    google = tmp_path / "u" / "University-Release" / "train" / "google"
    for row in truth:
        grey = np.asarray(Image.open(google / row["location"] / row["file"]).convert("L"), dtype=np.float32)
        assert (grey.std() < 1.0) == (row["kind"] == "blank")  # a placeholder is one flat colour, a photo is not
    clean = generate("university1652", tmp_path / "c", workers=1, **TINY, **U1652)
    assert clean and {row.split(",")[2] for row in (tmp_path / "c/geometry/google.csv").read_text().split()[1:]} == {
        "match"
    }
