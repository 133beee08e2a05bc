"""Descriptors kept on disk per checkpoint and extraction setting, so each image is embedded once.

Rule ``evaluate`` embeds a target's test images (and the weather copies of its drone images) with a checkpoint;
the checkpoint figures (t-SNE, retrieval examples) look at the same images with the same checkpoints. With a
store, whichever job comes first extracts and the others read. It is a cache, never a product: deleting it only
costs time, and nothing in it is trusted unless it provably matches:

* its folder is named by the checkpoint's content (sha256) and the extraction setting (image size, test-time
  augmentation, device type, precision), so another checkpoint or setting never reads it;
* each image is matched by path, size and modification time (as ``make`` does): an image rewritten or restored
  by DVC since is embedded again.

Layout: ``<root>/<key>/<shard digest>.npz``, each shard holding ``paths [N]``, ``sizes [N]``, ``mtimes [N]``
(ns) and ``features [N, D]`` float32, written atomically and never modified. Jobs that run at once (evaluate and
a figure of the same checkpoint) may both extract an image; each writes its own shard, and either copy serves.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from geolink.atomic import atomic_output
from geolink.data.acquire import sha256_file


class FeatureStore:
    """The descriptors one checkpoint gave under one extraction setting.

    Args:
        root: Folder of all stores (``Layout.feature_cache``).
        checkpoint: The checkpoint file; its content names the store.
        image_size, tta, device, precision: what else decides a descriptor: the input size, test-time
            augmentation, the device type (``"cpu"``, ``"cuda"``) and the resolved precision (``"fp32"``,
            ``"bf16"``, ...). Every job that shares a store names them the same way through this signature.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        checkpoint: str | os.PathLike,
        *,
        image_size: int,
        tta: bool,
        device: str,
        precision: str,
    ):
        setting = {"image_size": image_size, "tta": tta, "device": device, "precision": precision}
        text = json.dumps({"checkpoint": sha256_file(checkpoint), **setting}, sort_keys=True)
        self.folder = Path(root) / hashlib.sha256(text.encode()).hexdigest()[:32]
        self._known: dict[str, tuple[int, int, np.ndarray]] | None = None

    def _load(self) -> dict[str, tuple[int, int, np.ndarray]]:
        if self._known is None:
            self._known = {}
            for shard in sorted(self.folder.glob("*.npz")):
                try:
                    with np.load(shard) as data:
                        rows = zip(data["paths"], data["sizes"], data["mtimes"], data["features"], strict=True)
                        for path, size, mtime, feature in rows:
                            self._known[str(path)] = (int(size), int(mtime), feature)
                except (OSError, ValueError, KeyError):  # a damaged shard is only a miss: its images are redone
                    continue
        return self._known

    def features(self, paths: Sequence[str], extract: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """``[len(paths), D]`` descriptors: stored ones where the image is unchanged, the rest from ``extract``
        (called once, with the missing paths in order) and then stored."""
        known = self._load()
        stats = {p: os.stat(p) for p in dict.fromkeys(paths)}

        def fresh(path: str) -> bool:
            entry = known.get(path)
            return entry is not None and entry[:2] == (stats[path].st_size, stats[path].st_mtime_ns)

        missing = [p for p in stats if not fresh(p)]
        if missing:
            extracted = np.asarray(extract(missing), dtype=np.float32)
            self._write(missing, [stats[p] for p in missing], extracted)
            for path, feature in zip(missing, extracted, strict=True):
                known[path] = (stats[path].st_size, stats[path].st_mtime_ns, feature)
        if not paths:
            return np.zeros((0, 1), np.float32)
        return np.stack([known[p][2] for p in paths])

    def _write(self, paths: list[str], stats: list[os.stat_result], features: np.ndarray) -> None:
        sizes = np.array([s.st_size for s in stats], dtype=np.int64)
        mtimes = np.array([s.st_mtime_ns for s in stats], dtype=np.int64)
        name = hashlib.sha256("\n".join(paths).encode() + mtimes.tobytes() + features.tobytes()).hexdigest()[:32]
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.folder / f"{name}.npz") as tmp:
            with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to the temporary name
                np.savez(handle, paths=np.array(paths), sizes=sizes, mtimes=mtimes, features=features)
