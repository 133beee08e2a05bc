"""University-160k: its distractor folder in the University-1652 adapter, the synthetic copy, and the metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geolink.data.errors import DatasetError
from geolink.data.manifest import read_manifest
from geolink.data.release_counts import check_release_counts
from geolink.evaluation.retrieval import retrieval_metrics
from geolink.evaluation.run import location_labels, query_gallery
from geolink.synth import generate

TINY = {"seed": 3, "image_size": 40, "geometry_points": 500}
U1652 = {
    "domain": "campus",
    "n_train": 1,
    "n_test": 2,
    "n_distractors": 1,
    "drone_views": 2,
    "street_views": 0,
    "google_views": 0,
    "google_empty_fraction": 0.0,
    "google_noise_fraction": 0.0,
    "satellite_extent": 150.0,
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("u160k") / "university1652"
    generate("university1652", out, **TINY, **U1652, n_160k_distractors=3)
    return out / "University-Release"


def test_synthetic_distractors_sit_in_one_flat_folder_under_random_names(tree):
    files = sorted((tree / "test/gallery_satellite_160k").iterdir())
    assert len(files) == 3 and all(f.is_file() and f.suffix == ".jpg" for f in files)
    assert all(len(f.stem) == 15 and f.stem.isalnum() for f in files)


def test_distractors_join_the_satellite_gallery_only_when_asked(tree):
    plain = read_manifest("university1652", tree)
    assert not (plain["folder"] == "gallery_satellite_160k").any()
    extended = read_manifest("university1652", tree, distractors=True)
    added = extended[extended["folder"] == "gallery_satellite_160k"]
    assert len(extended) == len(plain) + 3 and len(added) == 3
    assert set(added[["split", "role", "view"]].itertuples(index=False, name=None)) == {
        ("test", "gallery", "satellite")
    }
    assert sorted(added["location"]) == sorted(
        "160k:" + p.stem for p in (tree / "test/gallery_satellite_160k").iterdir()
    )
    # drone -> satellite: the 3 satellites of University-1652's gallery (2 test + 1 distractor location) and the 3;
    # satellite -> drone is untouched
    _, gallery = query_gallery(extended, "drone_to_satellite")
    assert len(gallery) == 6
    assert len(query_gallery(extended, "satellite_to_drone")[1]) == len(query_gallery(plain, "satellite_to_drone")[1])


def test_a_missing_distractor_folder_is_named(tmp_path, tree):
    import shutil

    copy = tmp_path / "University-Release"
    shutil.copytree(tree, copy)
    shutil.rmtree(copy / "test/gallery_satellite_160k")
    with pytest.raises(DatasetError, match="gallery_satellite_160k.*distractors: false"):
        read_manifest("university1652", copy, distractors=True)


def test_published_count_of_distractors_is_checked_when_they_are_read():
    rows = pd.DataFrame({"folder": ["gallery_satellite_160k"] * 5, "altitude": [np.nan] * 5})
    problems = check_release_counts("university1652", rows)
    assert "gallery_satellite_160k: 5 images, published 167,486" in problems
    assert not any("160k" in p for p in check_release_counts("university1652", rows.iloc[:0]))


def test_a_distractor_is_never_a_positive_even_with_a_building_id_as_its_name():
    query = pd.DataFrame({"location": ["0001", "0002"]})
    gallery = pd.DataFrame({"location": ["0002", "160k:0001", "0001"]})
    q, g = location_labels(query, gallery)
    assert (q[0] == g).tolist() == [False, False, True] and (q[1] == g).tolist() == [True, False, False]
    # By hand: query 0 = [1, 0] scores the distractor (gallery 1) 1.0 > its own building (gallery 2) 0.6, so it
    # ranks second: R@1 0 % and trapezoid AP (1/2 + 0/1) / 2 = 25 %; query 1 finds gallery 0 first: 100 %, 100 %.
    qf = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    gf = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], np.float32)
    metrics = retrieval_metrics(qf, q, gf, g, ks=(1,))
    assert metrics["R@1"] == pytest.approx(50.0) and metrics["AP"] == pytest.approx(62.5)
