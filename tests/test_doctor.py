"""The first hour on a GPU box, simulated: each failure mode gives the doctor's message and its fix, a job sent to a
GPU never runs on the CPU in silence, and the precision follows the GPU's capability."""

from __future__ import annotations

import logging
import re

import pytest
import torch

import geolink.device as device
from geolink.device import CudaStatus, GpuUnavailable, resolve_precision, select_device
from geolink.doctor import FAIL, OK, WARN, gpu_problem, run_checks, stages_here, vggt_memory_gb
from geolink.pipeline import Pipeline

ARCHS = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")  # the pinned torch 2.14.1+cu130 wheel


def gpu(capability, memory_gb=80.0, name="NVIDIA H100"):
    return {
        "index": 0,
        "name": name,
        "capability": capability,
        "memory_gb": memory_gb,
        "bf16": capability >= (8, 0),
        "supported": device._supported(capability, ARCHS),
    }


CPU_BUILD = CudaStatus("2.14.1+cpu", None, (), False)
OLD_DRIVER = CudaStatus("2.14.1+cu130", "13.0", ARCHS, False)  # torch finds no GPU: what an old driver looks like
V100 = CudaStatus("2.14.1+cu130", "13.0", ARCHS, True, (gpu((7, 0), 32.0, "Tesla V100"),))
T4 = CudaStatus("2.14.1+cu130", "13.0", ARCHS, True, (gpu((7, 5), 16.0, "Tesla T4"),))
SMALL = CudaStatus("2.14.1+cu130", "13.0", ARCHS, True, (gpu((8, 9), 8.0, "RTX 4060"),))
H100 = CudaStatus("2.14.1+cu130", "13.0", ARCHS, True, (gpu((9, 0)),))


@pytest.fixture()
def paper():
    return Pipeline.from_files([])


def test_compute_capability_support_follows_the_wheels_architectures():
    assert device._supported((7, 5), ARCHS) and device._supported((8, 9), ARCHS)  # sm_86 runs on 8.9
    assert not device._supported((7, 0), ARCHS)  # V100: no sm_70 in the CUDA 13 wheel
    assert device._supported((7, 0), ("compute_70",)) and not device._supported((6, 1), ("compute_70",))


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (CPU_BUILD, "CPU-only build"),
        (OLD_DRIVER, "driver is older than CUDA 13.0 needs"),
        (V100, "compute capability 7.0, which torch 2.14.1+cu130 has no kernels for"),
    ],
)
def test_a_gpu_job_stops_with_the_reason_and_the_fix(monkeypatch, status, says):
    monkeypatch.setattr(device, "cuda_status", lambda: status)
    with pytest.raises(GpuUnavailable, match=re.escape(says)) as raised:
        select_device("cuda", job="training")
    assert "compute.device: cpu" in str(raised.value) and "geolink doctor" in str(raised.value)
    assert select_device("cpu") == torch.device("cpu")  # the CPU is an explicit choice


def test_auto_falls_back_to_the_cpu_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(device, "cuda_status", lambda: OLD_DRIVER)
    with caplog.at_level(logging.WARNING, logger="geolink.device"):
        assert select_device("auto", job="training") == torch.device("cpu")
    assert "training runs on the CPU (compute.device: auto)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="geolink.device"):
        assert select_device("cpu", job="training") == torch.device("cpu")
    assert "training runs on the CPU by choice (compute.device: cpu); far slower at paper scale" in caplog.text


def test_precision_follows_the_capability(monkeypatch):
    assert resolve_precision(torch.device("cpu")) == "fp32"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Tesla T4")
    cuda = torch.device("cuda")
    assert resolve_precision(cuda) == "fp16"  # no bf16 below 8.0: fp16 with a gradient scaler
    with pytest.raises(Exception, match="Tesla T4 has no bf16"):
        resolve_precision(cuda, "bf16")
    assert device.grad_scaler(torch.device("cpu"), "fp32").is_enabled() is False
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 0))
    assert resolve_precision(cuda) == "bf16"


def test_vggt_memory_is_read_off_the_published_table():
    assert vggt_memory_gb(20) == pytest.approx(5.58) and vggt_memory_gb(8) == pytest.approx(3.23)
    assert vggt_memory_gb(32) == pytest.approx(5.58 + (11.41 - 5.58) * 12 / 30)  # between 20 and 50 frames


def by_name(checks):
    return {c.name: c for c in checks}


def test_the_doctor_reports_each_failure_with_its_fix(paper):
    cpu = by_name(run_checks(paper, status=CPU_BUILD, free_bytes=10**12, which=lambda _: None, token=None))
    assert cpu["CUDA"].status == FAIL and "CPU-only build" in cpu["CUDA"].fix
    assert cpu["conda"].status == WARN and "--sdm conda" in cpu["conda"].fix
    assert cpu["vggt weights"].status == WARN and "weights.vggt.revision" in cpu["vggt weights"].fix
    assert cpu["input data/raw/sues200/SUES-200-512x512"].status == FAIL
    # An 8 GB GPU: VGGT's default 32 frames per pass need about 7.9 GB (+10 %), training warns below 24 GB.
    small = by_name(run_checks(paper, status=SMALL, free_bytes=10**12, which=lambda _: "/usr/bin/conda", token=None))
    assert (
        small["GPU 0 memory for VGGT"].status == FAIL
        and "reconstruct.vggt.chunk_size" in small["GPU 0 memory for VGGT"].fix
    )
    assert small["GPU 0 memory for training"].status == WARN and small["conda"].status == OK
    t4 = by_name(run_checks(paper, status=T4, free_bytes=10**12, which=lambda _: None, token=None))
    assert t4["GPU 0 bf16"].status == WARN and "fp16 with a gradient scaler" in t4["GPU 0 bf16"].detail
    h100 = by_name(run_checks(paper, status=H100, free_bytes=10**12, which=lambda _: None, token=None))
    assert h100["GPU 0 memory for VGGT"].status == OK and "GPU 0 bf16" not in h100
    # Too little disk for the published download sizes (University-1652: 9.2 GB archive, extracted beside it).
    config = paper.config
    u1652 = {**config["datasets"]["university1652"], "source": "archive", "archive": "data/raw/u1652.zip"}
    config["datasets"]["university1652"] = u1652
    assert (
        by_name(run_checks(Pipeline(config), status=H100, free_bytes=10**9, which=lambda _: None))["disk"].status
        == FAIL
    )


def test_the_workflow_is_told_before_its_gpu_jobs_and_the_cpu_configuration_is_not(paper):
    problem = gpu_problem(paper, OLD_DRIVER)
    assert "runs reconstruct (university1652, VGGT)" in problem and "train, evaluate on a GPU" in problem
    assert gpu_problem(paper, H100) is None
    synthetic = Pipeline.from_files(["config/synthetic.yaml"])
    assert gpu_problem(synthetic, OLD_DRIVER) is None  # compute.device: cpu, by choice
    checks = run_checks(synthetic, status=OLD_DRIVER, free_bytes=10**12, which=lambda _: None, token="")
    assert by_name(checks)["CUDA"].status == WARN  # not needed: the configuration chose the CPU
    assert "the GPU stages (train, evaluate) run on the CPU" in stages_here(synthetic, checks, OLD_DRIVER)


def test_weights_staged_in_a_hub_cache_are_found_offline(paper, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    checks = by_name(run_checks(paper, status=H100, free_bytes=10**12, which=lambda _: None, token=None))
    assert checks["vggt weights staged"].status == FAIL
    assert (
        "huggingface-cli download facebook/VGGT-1B config.json model.safetensors" in checks["vggt weights staged"].fix
    )
    # The layout huggingface_hub writes: refs/main names the snapshot that holds the files.
    repo = tmp_path / "models--facebook--VGGT-1B"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    for name in ("config.json", "model.safetensors"):
        (repo / "snapshots" / ("0" * 40)).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / ("0" * 40) / name).write_text("{}")
    checks = by_name(run_checks(paper, status=H100, free_bytes=10**12, which=lambda _: None, token=None))
    assert checks["vggt weights staged"].status == OK
