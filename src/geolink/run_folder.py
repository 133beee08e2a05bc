"""Where an unfinished training run keeps its work, so that no stop loses it and no half-trained model is published.

A run trains inside ``<checkpoint_dir>.partial/`` (its *work folder*): ``run.json`` (what the run is: its settings
and the digests of its input files), ``last.pt`` and ``best.pt`` after every epoch, and the dvclive logs. Only a
finished run is published to the places Snakemake and the user read (``checkpoint_dir/{best,last}.pt`` and the
log folder), and the work folder is removed after that. Snakemake deletes the declared outputs of a failed or
incomplete job (SIGTERM, Ctrl-C, ``--rerun-incomplete``), never the work folder, so starting the job again
continues from the last completed epoch; and because the outputs appear only at the end, ``--keep-incomplete``
cannot make a model from epoch 5 of 200 look finished.

Resuming is refused when the work folder belongs to another run: different settings or different input files
(the message names the differing keys), or a folder without ``run.json`` (nothing proves it is ours).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from geolink.atomic import OutputExistsError, atomic_output
from geolink.errors import UserError

log = logging.getLogger(__name__)

RUN_RECORD = "run.json"
LOG_FOLDER = "dvclive"


class TrainingRunError(UserError):
    """A training run's folder cannot be used as it is: foreign, from another configuration, or already finished."""


def work_folder(checkpoint_dir: str | os.PathLike) -> Path:
    """The work folder of the run whose checkpoints go to ``checkpoint_dir``: ``<checkpoint_dir>.partial``."""
    checkpoint_dir = Path(checkpoint_dir)
    return checkpoint_dir.with_name(checkpoint_dir.name + ".partial")


def differing_keys(old, new, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like trees (a key present in one only counts)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in differing_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _describe(tree, key: str) -> str:
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return "(unset)"
        tree = tree[part]
    return json.dumps(tree)


def open_work_folder(
    checkpoint_dir: str | os.PathLike, log_dir: str | os.PathLike, identity: dict
) -> tuple[Path, bool]:
    """Prepare the work folder of a run and say whether it resumes; refuse what is not this run's own.

    Args:
        checkpoint_dir: where the finished ``best.pt`` and ``last.pt`` will be published.
        log_dir: where the finished dvclive logs will be published.
        identity: JSON-able description of the run (settings, input digests); resuming needs an equal one.

    Returns:
        ``(work, resuming)``: the work folder, and True when it holds a checkpoint of this run to continue from.

    Raises:
        OutputExistsError: finished outputs already exist.
        TrainingRunError: the work folder is foreign, or belongs to a run with other settings or inputs.
    """
    checkpoint_dir, log_dir = Path(checkpoint_dir), Path(log_dir)
    work = work_folder(checkpoint_dir)
    finished = [p for p in (checkpoint_dir / "best.pt", checkpoint_dir / "last.pt") if p.exists()]
    if log_dir.is_dir() and any(p.name != ".snakemake_timestamp" for p in log_dir.iterdir()):
        finished.append(log_dir)
    if finished:  # a finished run of this or another configuration: never ours to replace
        raise OutputExistsError.at(finished[0], "--out", f" (the run's checkpoints are {checkpoint_dir})")
    record = work / RUN_RECORD
    if work.exists() and not record.is_file():
        raise TrainingRunError(
            f"{work} exists but holds no {RUN_RECORD}, so nothing shows it is the unfinished work of this run; "
            "it was left alone. Move or delete it, then start the run again."
        )
    if work.exists():
        previous = json.loads(record.read_text())
        changed = differing_keys(previous, identity)
        if changed:
            lines = "; ".join(f"{k}: {_describe(previous, k)} then, {_describe(identity, k)} now" for k in changed)
            raise TrainingRunError(
                f"{work} holds an unfinished run with other settings or inputs ({lines}), so it cannot be "
                f"resumed. Restore those values to continue it, or delete {work} to start this run over."
            )
        resuming = (work / "last.pt").is_file()
        if resuming:
            log.info("resuming the unfinished run in %s", work)
        return work, resuming
    work.mkdir(parents=True)
    with atomic_output(record) as tmp:
        tmp.write_text(json.dumps(identity, indent=2, sort_keys=True, default=str))
    return work, False


def rewind_logs(logs: str | os.PathLike, completed_epochs: int) -> None:
    """Drop dvclive plot rows logged after the last checkpoint, so a resumed run's logs match an uninterrupted one's.

    The training loop logs with dvclive's step equal to the epoch index; a run stopped during epoch k has rows
    of step k that the resumed run logs again.
    """
    for table in Path(logs).glob("plots/metrics/**/*.tsv"):
        header, *rows = table.read_text().splitlines(keepends=True)
        step = header.rstrip("\n").split("\t").index("step")
        kept = [row for row in rows if int(row.split("\t")[step]) < completed_epochs]
        with atomic_output(table) as tmp:
            tmp.write_text(header + "".join(kept))


def _publish_file(source: Path, dest: Path) -> None:
    """Put a copy of ``source`` at ``dest`` atomically (a hard link where the file system allows it)."""
    with atomic_output(dest) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:  # another file system, or links not supported
            shutil.copy2(source, tmp)


def publish(work: str | os.PathLike, checkpoint_dir: str | os.PathLike, log_dir: str | os.PathLike) -> None:
    """Publish a finished run from its work folder, then remove the work folder.

    Copies (never moves) until everything is in place, so a stop during publishing leaves the work folder
    whole and the next start publishes again.
    """
    work, checkpoint_dir, log_dir = Path(work), Path(checkpoint_dir), Path(log_dir)
    staged = log_dir.with_name(f".{log_dir.name}.publishing")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(work / LOG_FOLDER, staged)
    if log_dir.exists():  # only Snakemake's timestamp marker can be there (open_work_folder checked)
        shutil.rmtree(log_dir)
    os.replace(staged, log_dir)
    for name in ("best.pt", "last.pt"):
        _publish_file(work / name, checkpoint_dir / name)
    shutil.rmtree(work)
