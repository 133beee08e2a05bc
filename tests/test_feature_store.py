"""The feature store: each image embedded once per checkpoint and setting, and never a stale descriptor."""

from __future__ import annotations

import os

import numpy as np

from geolink.evaluation.feature_store import FeatureStore


class CountingExtractor:
    """A stand-in for a model: descriptor = [file size, call number], recording which paths it embedded."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, paths: list[str]) -> np.ndarray:
        self.calls.append(list(paths))
        return np.array([[os.path.getsize(p), len(self.calls)] for p in paths], dtype=np.float32)


def make_files(tmp_path, names):
    paths = []
    for n, name in enumerate(names):
        path = tmp_path / name
        path.write_bytes(b"x" * (n + 1))
        paths.append(str(path))
    return paths


def test_each_image_is_embedded_once_across_jobs_and_again_when_it_changes(tmp_path):
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(b"weights")
    a, b, c = make_files(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    setting = {"image_size": 64, "tta": False, "device": "cpu", "precision": "fp32"}
    extract = CountingExtractor()

    first = FeatureStore(tmp_path / "cache", checkpoint, **setting).features([a, b, a], extract)
    assert extract.calls == [[a, b]]  # duplicates embedded once
    assert first.tolist() == [[1, 1], [2, 1], [1, 1]]

    # A later job (a new store object) reads a and b, and embeds only c.
    later = FeatureStore(tmp_path / "cache", checkpoint, **setting).features([c, b, a], extract)
    assert extract.calls[1:] == [[c]]
    assert later.tolist() == [[3, 2], [2, 1], [1, 1]]

    # b touched (a new modification time): embedded again; nothing else is.
    os.utime(b, ns=(1, 1))
    again = FeatureStore(tmp_path / "cache", checkpoint, **setting).features([a, b], extract)
    assert extract.calls[2:] == [[b]]
    assert again.tolist() == [[1, 1], [2, 3]]


def test_another_checkpoint_or_setting_never_reads_the_store(tmp_path):
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(b"weights")
    (a,) = make_files(tmp_path, ["a.jpg"])
    setting = {"image_size": 64, "tta": False, "device": "cpu", "precision": "fp32"}
    extract = CountingExtractor()
    FeatureStore(tmp_path / "cache", checkpoint, **setting).features([a], extract)
    FeatureStore(tmp_path / "cache", checkpoint, **setting | {"tta": True}).features([a], extract)
    checkpoint.write_bytes(b"retrained")  # same path, other weights
    FeatureStore(tmp_path / "cache", checkpoint, **setting).features([a], extract)
    assert extract.calls == [[a], [a], [a]]


def test_a_damaged_shard_is_a_miss_not_a_crash(tmp_path):
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(b"weights")
    (a,) = make_files(tmp_path, ["a.jpg"])
    setting = {"image_size": 64, "tta": False, "device": "cpu", "precision": "fp32"}
    extract = CountingExtractor()
    store = FeatureStore(tmp_path / "cache", checkpoint, **setting)
    store.features([a], extract)
    for shard in store.folder.glob("*.npz"):
        shard.write_bytes(b"not an npz")
    assert FeatureStore(tmp_path / "cache", checkpoint, **setting).features([a], extract).tolist() == [[1, 2]]
    assert extract.calls == [[a], [a]]
