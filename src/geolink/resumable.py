"""Build a tree of per-location outputs: in parallel, resumable, and published atomically.

Work goes into ``<out>.partial/``; each finished location leaves a small JSON record under
``<out>.partial/.done/``. A crashed or interrupted run is resumed by calling again with the same
parameters (a fingerprint of them guards against mixing two configurations); the finished tree
is moved to ``<out>`` with one rename, so ``<out>`` is either absent or complete. Used by the
synthetic benchmark and by reconstruction.

Nothing the project did not make is deleted: an existing ``<out>`` is refused before any work (Snakemake
removes a rule's old directory output itself before it reruns the job), and so is a ``<out>.partial`` that
holds no fingerprint, since only the fingerprint shows a folder is this code's unfinished work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from geolink.atomic import OutputExistsError, check_writable

log = logging.getLogger(__name__)

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

    Raises:
        OutputExistsError: ``out_dir`` exists, or ``<out>.partial`` exists without a fingerprint (before any work).
        OutputNotWritableError: the folder of ``out_dir`` cannot be written (before any work).
    """
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    if os.path.lexists(out_dir):
        raise OutputExistsError.at(out_dir)
    check_writable([out_dir])
    _open_partial(partial, fingerprint(params))

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
    # A run killed between these two lines leaves a complete but unmarked partial tree, which the next run
    # refuses rather than deletes (it cannot tell it from someone's folder); nothing is lost either way.
    (partial / _FINGERPRINT).unlink()
    # os.replace fails on a non-empty folder, so a tree someone made meanwhile is never clobbered.
    os.replace(partial, out_dir)
    return records


def _open_partial(partial: Path, stamp: str) -> None:
    """Make ``partial`` the work folder for parameters ``stamp``: resume it, start it afresh, or refuse it."""
    marker = partial / _FINGERPRINT
    if partial.is_symlink() or (partial.exists() and not partial.is_dir()):
        raise OutputExistsError(
            f"{os.path.abspath(partial)} exists but is not a folder of unfinished work, so it was left alone. "
            "Delete or move it, then run again.",
            path=partial,
        )
    if partial.is_dir():
        if marker.is_file():
            previous = marker.read_text()
            if previous == stamp:
                (partial / _DONE).mkdir(exist_ok=True)
                return  # this configuration's own unfinished work: resume it
            # Unfinished work of this code (it carries our fingerprint) for other parameters: useless now, and
            # mixing it in would give a tree of two configurations.
            log.warning(
                "Discarding %s: unfinished work made with other parameters (fingerprint %s, now %s); starting afresh.",
                partial,
                previous,
                stamp,
            )
            shutil.rmtree(partial)
        else:
            try:
                # Empty: a run killed between creating the folder and marking it. Removing it loses nothing.
                partial.rmdir()
            except OSError:
                raise OutputExistsError(
                    f"{os.path.abspath(partial)} exists but holds no {_FINGERPRINT} file, so nothing shows it is "
                    "the unfinished work of this command, and it was left alone. Move or delete it, then run "
                    "again.",
                    path=partial,
                ) from None
    partial.mkdir(parents=True)
    # The fingerprint goes in before any work, so every non-empty work folder of ours carries it.
    marker.write_text(stamp)
    (partial / _DONE).mkdir()


def _mark_done(partial: Path, key: str, record) -> None:
    tmp = partial / _DONE / f"{key}.json.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, partial / _DONE / f"{key}.json")
