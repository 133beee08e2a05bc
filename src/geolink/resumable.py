"""Build a tree of per-location outputs: in parallel, resumable, and published atomically.

Work goes into ``<out>.partial/``; each finished location leaves a small JSON record under
``<out>.partial/.done/``. A crashed or interrupted run is resumed by calling again with the same
parameters (a fingerprint of them guards against mixing two configurations); the finished tree
is moved to ``<out>`` with one rename, so ``<out>`` is either absent or complete. Used by the
synthetic benchmark and by reconstruction.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

_DONE = ".done"
_FINGERPRINT = ".fingerprint"


def fingerprint(params: dict) -> str:
    """Stable hash of JSON-serialisable parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _run_job(job):
    fn, partial, key, args = job
    return key, fn(Path(partial), *args)


def build_tree(
    out_dir: str | os.PathLike,
    params: dict,
    jobs: Sequence[tuple[str, tuple]],
    location_fn: Callable,
    finalize: Callable[[Path, dict], None],
    workers: int = 1,
    desc: str = "locations",
) -> dict:
    """Run ``location_fn(partial_dir, *args)`` for every ``(key, args)`` job, then ``finalize(partial_dir, records)``.

    Args:
        out_dir: the tree to publish.
        params: everything the output depends on; a change discards stale partial work.
        jobs: one per location; ``key`` names its record, ``args`` must be picklable.
        location_fn: module-level function writing one location's files; returns a JSON-able record.
        finalize: writes the files that need every location (split lists, GPS tables).
        workers: processes; the output does not depend on it (each location has its own RNG).

    Returns:
        The records of all locations, by key.
    """
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    stamp = fingerprint(params)
    if partial.exists() and (not (partial / _FINGERPRINT).exists() or (partial / _FINGERPRINT).read_text() != stamp):
        shutil.rmtree(partial)
    (partial / _DONE).mkdir(parents=True, exist_ok=True)
    (partial / _FINGERPRINT).write_text(stamp)

    todo = [
        (location_fn, str(partial), key, args) for key, args in jobs if not (partial / _DONE / f"{key}.json").exists()
    ]
    progress = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, unit="loc")
    if workers > 1 and len(todo) > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.imap_unordered(_run_job, todo)
            for key, record in results:
                _mark_done(partial, key, record)
                progress.update()
    else:
        for job in todo:
            key, record = _run_job(job)
            _mark_done(partial, key, record)
            progress.update()
    progress.close()

    records = {key: json.loads((partial / _DONE / f"{key}.json").read_text()) for key, _ in jobs}
    finalize(partial, records)
    shutil.rmtree(partial / _DONE)
    (partial / _FINGERPRINT).unlink()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(partial, out_dir)
    return records


def _mark_done(partial: Path, key: str, record) -> None:
    tmp = partial / _DONE / f"{key}.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, partial / _DONE / f"{key}.json")
