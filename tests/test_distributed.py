"""Training through torchrun: two gloo ranks on the CPU train as one process does on the global batch."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
from conftest import build_training_source, tiny_train_settings

from geolink.distributed import Ranks, RankSlices, launch
from geolink.run_folder import TrainingRunError
from geolink.train import train


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    # 18 training locations: 16 after the 10 % validation hold-out, so one epoch of one sample per location is one
    # step at the global batch of 16.
    root = tmp_path_factory.mktemp("ddp_source")
    build_training_source(root, seed=4, n_points=64, n_train=18, n_test=2, n_distractors=0)
    return root


def settings(**train) -> dict:
    """GeoLink's full loss (InfoNCE, intra-view terms, relational distillation, vCLUB) on the tiny ViT: one epoch of
    one sample per location, one step at the global batch of 16."""
    return tiny_train_settings(
        **{"epochs": 1, "batch_size": 16, "val_fraction": 0.1, "samples_per_location": "one"} | train
    )


def spec(source: Path, out: Path, **train) -> dict:
    return {
        "settings": settings(**train),
        "manifest_path": str(source / "manifest.parquet"),
        "bank_path": str(source / "bank.npz"),
        "checkpoint_dir": str(out / "checkpoints"),
        "log_dir": str(out / "logs"),
        "device": "cpu",
        "precision": "fp32",
    }


def logged(log_dir: Path) -> dict[str, float]:
    """The loss terms of the last logged step (dvclive's summary)."""
    return json.loads((log_dir / "metrics.json").read_text())["train"]


def test_rank_slices_split_each_global_batch_in_order():
    batches = [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(RankSlices(batches, Ranks(1, 2), 4)) == [[2, 3], [6, 7]]
    with pytest.raises(ValueError, match="batch_size 6 does not divide among 4"):
        RankSlices(batches, Ranks(0, 4), 6)


#: The tiny ViT (layer norms only) and the synthetic benchmark's tiny ResNet, whose 10 batch norms must see the
#: global batch.
MODELS = {
    "vit": {"name": "geolink_tiny", "kwargs": {"img_size": 32, "frozen_blocks": 0}},
    "cnn_batch_norm": {"name": "geolink_tiny_cnn", "kwargs": {"pretrained": False, "img_size": 32}},
}


@pytest.mark.parametrize("model", MODELS)
def test_two_ranks_take_the_single_process_step_at_the_global_batch(source, tmp_path, model):
    one, two = tmp_path / "one", tmp_path / "two"
    before = settings(model=MODELS[model])
    train(**spec(source, one, model=MODELS[model]))
    launch(spec(source, two, model=MODELS[model]), processes=2, spec_path=tmp_path / "spec.json")
    # The same loss terms and gradient norm, from the same global batch of 16 (one step)
    for term in ("total", "cc_dro_sat", "cc_dro_pc", "cc_sat_pc", "sc_pc", "ga_dro", "rd_sat", "grad_norm"):
        assert logged(two / "logs")[term] == pytest.approx(logged(one / "logs")[term], rel=1e-5, abs=1e-6), term
    a = torch.load(one / "checkpoints" / "last.pt", weights_only=False)
    b = torch.load(two / "checkpoints" / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 1 and before["batch_size"] == 16
    # The same update: every parameter and buffer (the MME's batch-norm statistics of the global batch), and the
    # same vCLUB estimator step. Tolerance: AdamW's first step moves each element by lr * g / (|g| + eps), so an
    # element whose gradient is near eps (1e-8) turns the last-bit differences of the ranks' summation order into
    # up to about 1 % of lr (measured: 6e-6 at lr 1e-3 in the MME); a missing negative or batch statistic moves
    # elements by the whole lr.
    lr = before["lr"]
    assert a["model"].keys() == b["model"].keys()  # the checkpoint format of one process
    for name in a["model"]:
        torch.testing.assert_close(b["model"][name], a["model"][name], rtol=0, atol=0.01 * lr, msg=name)
    for view in ("dro", "sat"):
        for name, value in a["estimators"][view].items():
            torch.testing.assert_close(b["estimators"][view][name], value, rtol=0, atol=0.01 * lr, msg=name)


def kill_rank_once_epoch_done(partial: Path, stop: threading.Event) -> None:
    """Kill rank 1 (SIGKILL, as a lost node would) as soon as rank 0 has written the first epoch's last.pt."""
    while not stop.is_set():
        if (partial / "last.pt").exists():
            for proc in psutil.Process(os.getpid()).children(recursive=True):
                try:
                    if proc.environ().get("RANK") == "1":
                        proc.send_signal(signal.SIGKILL)
                        return
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
        time.sleep(0.01)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the ranks' environment through /proc")
def test_a_killed_rank_fails_the_job_and_the_rerun_resumes(source, tmp_path):
    # 3 drone images per location: 48 samples, 3 steps per epoch; 4 epochs
    job = spec(source, tmp_path / "run", epochs=4, samples_per_location="query_images")
    partial = tmp_path / "run" / "checkpoints.partial"
    stop = threading.Event()
    killer = threading.Thread(target=kill_rank_once_epoch_done, args=(partial, stop))
    killer.start()
    try:
        with pytest.raises(TrainingRunError, match="run the job again to resume"):
            launch(job, processes=2, spec_path=tmp_path / "spec.json")
    finally:
        stop.set()
        killer.join()
    interrupted = torch.load(partial / "last.pt", weights_only=False)["epoch"]
    assert 1 <= interrupted < 4
    launch(job, processes=2, spec_path=tmp_path / "spec.json")  # the rerun
    final = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)
    assert final["epoch"] == 4 and final["step"] == 12
    assert logged(tmp_path / "run" / "logs")["total"] > 0  # rank 0's logs, continued, published with the run
