"""``geolink doctor``: what this machine can and cannot do for a configuration, each line with its fix.

The checks read the machine (torch's CUDA build and the visible GPUs, free disk, ``conda`` on PATH, a Hugging Face
token) and the configuration (which jobs need a GPU, the VGGT chunk size, the weights and dataset roots). Nothing
is downloaded and no kernel is launched. The workflow runs the GPU part (:func:`gpu_problem`) before its first GPU
job, so a job configured for a GPU never runs on the CPU in silence (``geolink.device``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from geolink.device import CPU_COST, CudaStatus, cuda_status

OK, WARN, FAIL = "ok", "warn", "FAIL"

#: Peak GPU memory of VGGT-1B by number of input frames on an H100 (facebookresearch/vggt README, "Runtime and GPU
#: Memory", flash-attention 3, bf16): frames -> GB. Linear interpolation in between, extrapolation beyond.
VGGT_MEMORY_GB = {1: 1.88, 2: 2.07, 4: 2.45, 8: 3.23, 10: 3.63, 20: 5.58, 50: 11.41, 100: 21.15, 200: 40.63}

#: The GPU memory a training step needs is not measured on a GPU here. The paper trains on "a single NVIDIA 4090
#: GPU" (24 GB, §4.1), so a smaller GPU gets a warning.
TRAIN_MEMORY_GB = 24.0


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    status: str  # ok, warn or FAIL
    detail: str
    fix: str = ""


def vggt_memory_gb(frames: int) -> float:
    """VGGT-1B's published peak memory for ``frames`` input frames (interpolated between the README's rows)."""
    points = sorted(VGGT_MEMORY_GB.items())
    for (f0, m0), (f1, m1) in zip(points, points[1:], strict=False):
        if frames <= f1:
            return m0 + (m1 - m0) * (max(frames, f0) - f0) / (f1 - f0)
    (f0, m0), (f1, m1) = points[-2], points[-1]
    return m1 + (m1 - m0) * (frames - f1) / (f1 - f0)


def gpu_jobs(pipeline) -> list[str]:
    """The stages of the configuration that the workflow tags as GPU jobs."""
    stages = [f"reconstruct ({d}, VGGT)" for d in pipeline.datasets if pipeline.reconstruct_needs_gpu(d)]
    return stages + (["train", "evaluate"] if pipeline.train_runs else [])


def gpu_problem(pipeline, status: CudaStatus | None = None) -> str | None:
    """Why the configuration's GPU jobs cannot run here (``compute.device: cuda`` and no usable GPU), with the fix;
    None when they can, or when the configuration runs them on the CPU by choice."""
    device = pipeline.config["compute"]["device"]
    jobs = gpu_jobs(pipeline)
    if device != "cuda" or not jobs:
        return None
    problem = (status or cuda_status()).problem()
    if problem is None:
        return None
    return (
        f"the configuration runs {', '.join(jobs)} on a GPU (compute.device: cuda), but {problem} Run `geolink doctor` "
        f"for the whole check; to run on the CPU instead ({CPU_COST}) set compute.device: cpu."
    )


def _cuda_checks(pipeline, status: CudaStatus) -> list[Check]:
    device = pipeline.config["compute"]["device"]
    jobs = gpu_jobs(pipeline)
    build = f"torch {status.torch_version}, " + (
        f"CUDA {status.torch_cuda} build" if status.torch_cuda else "CPU build"
    )
    checks = [Check("torch", OK, f"{build}; kernels for {', '.join(status.arch_list) or 'no GPU'}")]
    problem = status.problem()
    needed = device == "cuda" and bool(jobs)
    if problem is not None:
        status_word = FAIL if needed else WARN
        why = f"GPU stages: {', '.join(jobs) or 'none'}; compute.device: {device}"
        checks.append(Check("CUDA", status_word, f"not usable ({why})", problem))
        return checks
    for gpu in status.devices:
        major, minor = gpu["capability"]
        name = f"GPU {gpu['index']}"
        checks.append(Check(name, OK, f"{gpu['name']}, compute capability {major}.{minor}, {gpu['memory_gb']:.1f} GB"))
        if not gpu["bf16"]:
            checks.append(
                Check(
                    f"{name} bf16",
                    WARN,
                    "no bf16 (capability below 8.0): compute.precision auto trains in fp16 with a gradient scaler",
                    "nothing to do; or set compute.precision: fp32 (slower, twice the memory)",
                )
            )
        chunk = pipeline.config["reconstruct"]["vggt"]["chunk_size"]
        if any(pipeline.reconstruct_needs_gpu(d) for d in pipeline.datasets):
            need = vggt_memory_gb(chunk)
            ok = gpu["memory_gb"] >= need * 1.1
            checks.append(
                Check(
                    f"{name} memory for VGGT",
                    OK if ok else FAIL,
                    f"{chunk} frames per pass need about {need:.1f} GB (VGGT README), {gpu['memory_gb']:.1f} GB here",
                    "" if ok else "lower reconstruct.vggt.chunk_size (20 frames: 5.6 GB, 8: 3.2 GB)",
                )
            )
        if pipeline.train_runs and gpu["memory_gb"] < TRAIN_MEMORY_GB:
            checks.append(
                Check(
                    f"{name} memory for training",
                    WARN,
                    f"{gpu['memory_gb']:.1f} GB; the paper trains on one 24 GB RTX 4090 (not measured here)",
                    "if training runs out of memory, lower train.batch_size (fewer negatives, more steps)",
                )
            )
    return checks


#: Published download sizes in GB (docs/data.md): University-1652's archive (9,204,115,162 bytes) and VGGT-1B's
#: model.pt (about 5 GB). SUES-200's and DenseUAV's archive sizes are not published.
DOWNLOAD_GB = {"university1652": 9.2, "vggt": 5.0}


def _disk_check(pipeline, free_bytes: int) -> Check:
    acquired = [d for d in pipeline.datasets if pipeline.source(d) in ("archive", "download", "huggingface")]
    # An archive is extracted beside itself, so a dataset takes about twice its archive.
    need_gb = sum(2 * DOWNLOAD_GB[d] for d in acquired if d in DOWNLOAD_GB)
    need_gb += DOWNLOAD_GB["vggt"] * bool(pipeline.config["weights"]["vggt"]["revision"])
    unknown = [d for d in acquired if d not in DOWNLOAD_GB]
    free_gb = free_bytes / 1e9
    ok = free_gb >= need_gb
    detail = f"{free_gb:.0f} GB free here; the downloads with published sizes need about {need_gb:.0f} GB"
    if unknown:
        detail += f" (plus {', '.join(unknown)}, whose archive sizes are not published)"
    return Check(
        "disk",
        OK if ok else FAIL,
        detail,
        "" if ok else "free space, or point data/ at a larger disk (a symbolic link works)",
    )


def _weights_checks(pipeline, token: str | None) -> list[Check]:
    checks = []
    weights = pipeline.config["weights"]
    needs_vggt = any(pipeline.reconstruct_needs_gpu(d) for d in pipeline.datasets)
    pretrained = pipeline.config["train"]["model"]["kwargs"].get("pretrained", False) and bool(pipeline.train_runs)
    for name, used in (("dinov2", pretrained), ("vggt", needs_vggt)):
        if not used:
            continue
        spec = weights[name]
        if spec["revision"]:
            path = Path(pipeline.fetched_weights(name))
            state = "downloaded" if path.is_file() else "rule weights downloads it"
            checks.append(Check(f"{name} weights", OK, f"{spec['repo']} pinned at {spec['revision'][:12]}; {state}"))
        else:
            checks.append(
                Check(
                    f"{name} weights",
                    WARN,
                    "unpinned: read from the local Hugging Face cache or a file, whatever revision it holds",
                    f"pin weights.{name}.revision to a 40-character commit of {spec['repo']} (docs/data.md)",
                )
            )
            staged = _staged(pipeline, name)
            if staged is not None:
                checks.append(staged)
        gated = "Commercial" in spec["repo"]
        if gated and not token:
            checks.append(
                Check(
                    f"{name} access",
                    FAIL,
                    f"{spec['repo']} is gated and no Hugging Face token is set",
                    "accept the licence on its Hub page, then `huggingface-cli login` or set HF_TOKEN",
                )
            )
    return checks


def _staged(pipeline, name: str) -> Check | None:
    """Whether unpinned weights are where the jobs read them (the local Hugging Face cache, or a file), offline."""
    if name == "vggt":
        weights = pipeline.config["reconstruct"]["vggt"]["weights"]
        if Path(weights).exists():
            return Check("vggt weights staged", OK, f"{weights} (a local file or folder)")
        from huggingface_hub import try_to_load_from_cache

        from geolink.recon.vggt import HUB_FILES

        missing = [f for f in HUB_FILES if not isinstance(try_to_load_from_cache(weights, f), str)]
        if not missing:
            return Check("vggt weights staged", OK, f"{weights}: {', '.join(HUB_FILES)} in the Hugging Face cache")
        return Check(
            "vggt weights staged",
            FAIL,
            f"{weights}: {', '.join(missing)} not in the Hugging Face cache (VGGT.from_pretrained reads them)",
            f"`huggingface-cli download {weights} {' '.join(HUB_FILES)}` where the Hub is reachable, or point "
            "reconstruct.vggt.weights at a model.pt",
        )
    kwargs = pipeline.config["train"]["model"]["kwargs"]
    if kwargs.get("weights_path"):
        present = Path(kwargs["weights_path"]).is_file()
        fix = "" if present else "put the file there, or unset weights_path to read the Hugging Face cache"
        return Check("dinov2 weights staged", OK if present else FAIL, kwargs["weights_path"], fix)
    from geolink.models.backbone import find_cached_weights

    backbone = kwargs.get("backbone", "vit_base_patch14_dinov2")
    try:
        path = find_cached_weights(backbone)
    except (FileNotFoundError, ValueError) as err:
        return Check("dinov2 weights staged", FAIL, f"{backbone}: not in the Hugging Face cache", str(err))
    return Check("dinov2 weights staged", OK, str(path))


def run_checks(
    pipeline,
    *,
    status: CudaStatus | None = None,
    free_bytes: int | None = None,
    which=shutil.which,
    token: str | None = None,
) -> list[Check]:
    """Every check for ``pipeline``'s configuration on this machine (arguments: stand-ins for tests)."""
    status = status or cuda_status()
    free_bytes = free_bytes if free_bytes is not None else shutil.disk_usage(".").free
    if token is None:
        token = os.environ.get("HF_TOKEN") or _hub_token()
    checks = _cuda_checks(pipeline, status)
    checks.append(_disk_check(pipeline, free_bytes))
    checks += _weights_checks(pipeline, token)
    conda = which("conda")
    checks.append(
        Check(
            "conda",
            OK if conda else WARN,
            conda or "not on PATH: `snakemake --sdm conda` cannot build the envs/ environments",
            "" if conda else "needed only for --sdm conda; install Miniforge, or run in this virtualenv",
        )
    )
    for path, advice in pipeline.external_inputs().items():
        present = Path(path).exists()
        checks.append(Check(f"input {path}", OK if present else FAIL, "present" if present else "missing", advice))
    return checks


def _hub_token() -> str | None:
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover - pinned dependency
        return None
    return get_token()


def stages_here(pipeline, checks: list[Check], status: CudaStatus) -> str:
    """One sentence: which stages can run on this machine with this configuration."""
    device = pipeline.config["compute"]["device"]
    gpu = gpu_jobs(pipeline)
    missing = [c.name.removeprefix("input ") for c in checks if c.name.startswith("input ") and c.status == FAIL]
    parts = []
    if missing:
        parts.append(f"stages reading {', '.join(missing)} wait for those inputs")
    if not gpu:
        parts.append("no stage needs a GPU")
    elif status.problem() is None:
        parts.append(f"the GPU stages ({', '.join(gpu)}) can run on the GPU")
    elif device == "cuda":
        parts.append(f"the GPU stages ({', '.join(gpu)}) cannot run here (no usable GPU, compute.device: cuda)")
    else:
        parts.append(f"the GPU stages ({', '.join(gpu)}) run on the CPU (compute.device: {device}; {CPU_COST})")
    parts.append("the CPU stages (data, weather, tables, figures) can run")
    return f"Configuration '{pipeline.name}': " + "; ".join(parts) + "."


def format_table(checks: list[Check]) -> str:
    """The checks as an aligned text table: status, check, what was found, and the fix."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    return "\n".join(lines)
