"""Fault injection through Snakemake itself: a training job killed mid-run continues where it stopped.

A real ``snakemake`` process trains one run of the tiny configuration; as soon as the first epoch's checkpoint
exists, the whole process group gets SIGTERM (what a cluster's time limit and ``kill`` send) or SIGKILL (a
lost node). Starting the same command again must continue from the last completed epoch and end with
checkpoints byte-identical to an uninterrupted run's, and nothing half-trained may ever sit where the
evaluation reads a finished model.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import BIN, TINY, copy_workflow, snakemake

RUN = "sues200__geolink__s0"
CHECKPOINTS = Path(f"results/tiny/checkpoints/{RUN}")
WORK = Path(f"results/tiny/checkpoints/{RUN}.partial")
TARGET = str(CHECKPOINTS / "last.pt")
EPOCHS = 8
RESUME_CONFIG = ["--configfile", *TINY[1:], "epochs.yaml"]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Path:
    """A workflow copy whose training inputs (manifest, point bank) are built, with an 8-epoch override."""
    work = copy_workflow(tmp_path_factory.mktemp("resume") / "base")
    (work / "epochs.yaml").write_text(f"train:\n  epochs: {EPOCHS}\n")
    result = snakemake(work, f"results/tiny/points/{RUN.split('__')[0]}.npz", *RESUME_CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


def _clone(upstream: Path, dest: Path) -> Path:
    shutil.copytree(upstream, dest, symlinks=True)  # copy2 keeps mtimes: Snakemake sees the inputs as up to date
    return dest


@pytest.fixture(scope="module")
def uninterrupted(upstream, tmp_path_factory) -> Path:
    work = _clone(upstream, tmp_path_factory.mktemp("straight") / "w")
    result = snakemake(work, TARGET, *RESUME_CONFIG)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


def _kill_after_first_epoch(work: Path, sig: signal.Signals, *extra: str) -> subprocess.CompletedProcess:
    """Start the training job and send ``sig`` to Snakemake and the job once epoch 1 is checkpointed."""
    command = [str(BIN / "snakemake"), "--cores", "2", TARGET, *extra, *RESUME_CONFIG]
    process = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (work / WORK / "last.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "training never wrote a checkpoint"
        time.sleep(0.02)
    os.killpg(process.pid, sig)
    output, _ = process.communicate(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, output, "")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_training_job_resumes_through_snakemake_to_the_uninterrupted_checkpoint(
    sig, upstream, uninterrupted, tmp_path
):
    work = _clone(upstream, tmp_path / "w")
    # --keep-incomplete: even when Snakemake keeps a failed job's outputs, there is no half-trained model to keep.
    killed = _kill_after_first_epoch(work, sig, "--keep-incomplete")
    assert killed.returncode != 0
    stopped_at = torch.load(work / WORK / "last.pt", weights_only=True)["epoch"]
    assert 1 <= stopped_at < EPOCHS, "the kill came too late to test a resume"
    assert not (work / CHECKPOINTS / "best.pt").exists() and not (work / CHECKPOINTS / "last.pt").exists()

    if sig == signal.SIGKILL:  # Snakemake had no chance to release its lock (its own documented remedy)
        assert snakemake(work, TARGET, "--unlock", *RESUME_CONFIG).returncode == 0
    rerun = snakemake(work, TARGET, *RESUME_CONFIG)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (work / f"logs/tiny/train/{RUN}.log").read_text()
    assert f"after epoch {stopped_at}" in log  # continued, did not start over
    for name in ("best.pt", "last.pt"):
        assert (work / CHECKPOINTS / name).read_bytes() == (uninterrupted / CHECKPOINTS / name).read_bytes(), name
    assert not (work / WORK).exists()
    # A plain rerun after that has nothing to do: the published run is complete.
    again = snakemake(work, TARGET, *RESUME_CONFIG)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
