"""Which device a job runs on, and the precision it computes in there.

A job that the configuration sends to a GPU (``compute.device: cuda``, the paper's default) never falls back to
the CPU in silence: :func:`select_device` stops it with an explanation of why CUDA is not usable here and how to
fix it (the same text ``geolink doctor`` prints). Running on the CPU is an explicit choice
(``compute.device: cpu``), and ``auto`` falls back with a warning.

The precision follows the GPU's capability (:func:`resolve_precision`): bf16 autocast where the GPU has bf16
(compute capability 8.0 and later), fp16 autocast with a gradient scaler below that (e.g. T4, V100), fp32 on the
CPU, where half precision is slow and buys nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch

from geolink.errors import UserError

log = logging.getLogger(__name__)

#: What running a GPU job on the CPU costs, for the warnings. A paper-model training step (GeoLink with DINOv2-B at
#: 448 px, SUES-200's batch of 4) took 33.8 s on 2 CPU cores (benchmarks/results.jsonl, record `train_step` of
#: geolink_dinov2_base); `geolink plan` models the same step at 0.089 s on a GPU sustaining 60 TFLOP/s.
CPU_COST = (
    "far slower at paper scale: about 380 times on 2 CPU cores against the GPU `geolink plan` models (a GeoLink "
    "training step at 448 px: 33.8 s on 2 cores, 0.089 s modelled at 60 TFLOP/s)"
)


class GpuUnavailable(UserError):
    """The configuration sends a job to a GPU and none is usable; the message says why and how to fix it."""


@dataclass(frozen=True)
class CudaStatus:
    """What this process can do with CUDA, from torch alone (no kernel is launched)."""

    torch_version: str
    torch_cuda: str | None  # the CUDA version the installed torch was built for (None: a CPU-only build)
    arch_list: tuple[str, ...]  # the compute capabilities it has kernels for, e.g. ("sm_75", ..., "sm_120")
    available: bool
    devices: tuple[dict, ...] = field(default_factory=tuple)  # name, capability, memory_gb, bf16 per GPU

    @property
    def usable(self) -> bool:
        return self.available and bool(self.devices) and all(d["supported"] for d in self.devices)

    def problem(self) -> str | None:
        """Why CUDA cannot run this project's jobs here, with the fix; None when it can."""
        if self.torch_cuda is None:
            return (
                f"the installed torch {self.torch_version} is a CPU-only build. Install the pinned CUDA build "
                "(`make install`, or `pip install torch==2.14.1` from PyPI, which is built for CUDA 13.0)."
            )
        if not self.available:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            hidden = f" CUDA_VISIBLE_DEVICES is {visible!r}, which may hide every GPU." if visible is not None else ""
            # NVIDIA's "Supported Drivers and CUDA Toolkit Versions": R580 is the first branch for CUDA 13.x.
            branch = "; CUDA 13 needs the R580 driver branch or later" if self.torch_cuda.startswith("13.") else ""
            return (
                f"torch {self.torch_version} (built for CUDA {self.torch_cuda}) finds no usable GPU: no NVIDIA GPU "
                f"is visible, or the NVIDIA driver is older than CUDA {self.torch_cuda} needs (`nvidia-smi` shows "
                f"the driver and the highest CUDA version it supports{branch}). Update the driver, or install a "
                f"torch build for the CUDA version the driver supports "
                f"(https://pytorch.org/get-started/previous-versions/).{hidden}"
            )
        unsupported = [d for d in self.devices if not d["supported"]]
        if unsupported:
            d = unsupported[0]
            major, minor = d["capability"]
            return (
                f"GPU {d['index']} ({d['name']}) has compute capability {major}.{minor}, which torch "
                f"{self.torch_version} has no kernels for (it supports {', '.join(self.arch_list)}); its first "
                "kernel would fail. Use a GPU whose capability the build lists, or install a torch build whose "
                f"`torch.cuda.get_arch_list()` has sm_{major}{minor}."
            )
        return None


def _supported(capability: tuple[int, int], arch_list: tuple[str, ...]) -> bool:
    """Whether torch has kernels for a GPU: a ``sm_XY`` of the same major version and at most its minor (binary
    compatible), or PTX (``compute_XY``) of a lower or equal capability, which the driver compiles."""
    major, minor = capability
    for arch in arch_list:
        kind, _, number = arch.partition("_")
        if not number.isdigit():
            continue
        a_major, a_minor = int(number[:-1]), int(number[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return False


def cuda_status() -> CudaStatus:
    """Query torch for CUDA: the build, the visible GPUs, their capability, memory and bf16 support."""
    arch_list = tuple(torch.cuda.get_arch_list()) if torch.version.cuda else ()
    available = torch.version.cuda is not None and torch.cuda.is_available()
    devices = []
    if available:
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            capability = (properties.major, properties.minor)
            devices.append(
                {
                    "index": index,
                    "name": properties.name,
                    "capability": capability,
                    "memory_gb": properties.total_memory / 1e9,
                    "bf16": capability >= (8, 0),
                    "supported": _supported(capability, arch_list),
                }
            )
    return CudaStatus(torch.__version__, torch.version.cuda, arch_list, available, tuple(devices))


def select_device(device: str | torch.device = "auto", *, job: str = "this job") -> torch.device:
    """The device to run on.

    Args:
        device: ``"cuda"`` (or ``"cuda:N"``): a GPU, and :class:`GpuUnavailable` when none is usable; ``"cpu"``:
            the CPU by choice; ``"auto"``: CUDA when usable, else the CPU with a warning.
        job: What runs, for the messages.

    Raises:
        GpuUnavailable: ``device`` asks for CUDA and CUDA is not usable here (the message says why and how to fix
            it, or how to choose the CPU explicitly).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "cpu":
        log.warning("%s runs on the CPU by choice (compute.device: cpu); %s", job, CPU_COST)
        return torch.device("cpu")
    status = cuda_status()
    problem = status.problem()
    if device == "auto":
        if problem is None:
            return torch.device("cuda")
        log.warning("%s runs on the CPU (compute.device: auto) because %s", job, problem)
        return torch.device("cpu")
    if problem is not None:
        raise GpuUnavailable(
            f"{job} is configured to run on a GPU (compute.device: cuda), but {problem} `geolink doctor` checks the "
            f"whole machine. To run on the CPU instead ({CPU_COST}), set compute.device: cpu."
        )
    return torch.device(device)


def resolve_precision(device: torch.device, requested: str = "auto") -> str:
    """``bf16``, ``fp16`` or ``fp32``: ``auto`` is bf16 on GPUs that have it (capability 8.0+), fp16 on older ones,
    fp32 on the CPU. An explicit ``bf16`` on a GPU without it is refused rather than emulated slowly.

    Raises:
        UserError: ``bf16`` asked for on a GPU of capability below 8.0.
    """
    if device.type != "cuda":
        return "fp32"
    has_bf16 = torch.cuda.get_device_capability(device) >= (8, 0)
    if requested == "auto":
        return "bf16" if has_bf16 else "fp16"
    if requested == "bf16" and not has_bf16:
        raise UserError(
            f"compute.precision is bf16, but {torch.cuda.get_device_name(device)} has no bf16 (compute capability "
            "below 8.0); set compute.precision: auto (fp16 with loss scaling) or fp32."
        )
    return requested


#: The autocast dtype of each half precision (fp32 has none: no autocast).
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def mixed_precision(device: torch.device, precision: str | None = None):
    """The autocast context of ``precision`` (default: :func:`resolve_precision` ``auto``) on ``device``."""
    precision = precision or resolve_precision(device)
    if device.type == "cuda" and precision in AUTOCAST_DTYPES:
        return torch.autocast("cuda", dtype=AUTOCAST_DTYPES[precision])
    return torch.autocast(device.type if device.type in ("cpu", "cuda") else "cpu", enabled=False)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (whose small gradients underflow without it)."""
    return torch.amp.GradScaler(device.type, enabled=device.type == "cuda" and precision == "fp16")
