"""Training on several GPUs (or CPU processes) through ``torchrun``, with every batch-dependent term over the
global batch.

GeoLink's losses depend on the batch: InfoNCE's negatives are the other samples of the batch, the intra-view
terms and the relational distillation compare every pair of it, vCLUB's estimator learns from its sample pairs,
and the MME normalises its activations with batch statistics. A plain ``DistributedDataParallel`` port would give
each GPU only its own slice of the batch and silently change all of them. Here the method stays what it is on one
device with the global batch:

* every rank draws the same global batches (``UniqueLocationBatchSampler``, seeded) and loads its contiguous
  slice (:class:`RankSlices`), so the global batch is the single-process batch, in order;
* the features of the slices are gathered with their gradients (:func:`gather_with_grad`) and every rank computes
  the same losses on the global batch, the vCLUB estimator step included;
* batch normalisation layers normalise the gathered batch (:func:`gather_batch_norms`), on the CPU too, where
  ``torch.nn.SyncBatchNorm`` does not run;
* gradients: the gather's backward sums each rank's gradient of the (identical) loss, so every rank holds
  ``world_size`` times its share of the full gradient, and DDP's average across ranks divides it back: the update
  is the single-process update, up to float rounding (``tests/test_distributed.py`` checks it with 2 gloo ranks).

Rank 0 alone writes checkpoints, logs and the finished run; a resumed run is resumed by every rank from rank 0's
``last.pt``. Rule ``train`` launches this when its job gets more than one GPU (:func:`launch`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import types
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

#: How long a rank waits for the others at a collective (rank 0 validates and saves while the others wait).
COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks_from_env() -> Ranks:
    """The ranks ``torchrun`` gives this process (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); one process without."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Ranks(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on the CPU); returns this rank's device (``cuda:<local rank>``)."""
    if not ranks.distributed:
        return device
    if device.type == "cuda":
        torch.cuda.set_device(ranks.local_rank)
        device = torch.device("cuda", ranks.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return device


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """``[W * n, ...]``: every rank's ``[n, ...]`` slice in rank order, differentiable (the backward sums each
    rank's gradient of its slice). One process: the tensor itself."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()), dim=0)


def gather_outputs(out: dict) -> dict:
    """The model's per-sample outputs (tensors with a batch dimension) over the global batch; scalars such as the
    logit scale are the same on every rank and stay as they are."""
    return {k: gather_with_grad(v) if torch.is_tensor(v) and v.dim() > 0 else v for k, v in out.items()}


def _gathered_batch_norm_forward(self, x: torch.Tensor) -> torch.Tensor:
    if not self.training:
        return type(self).forward(self, x)
    n = x.shape[0]
    full = type(self).forward(self, gather_with_grad(x))  # the global batch's statistics, the same on every rank
    rank = dist.get_rank()
    return full[rank * n : (rank + 1) * n]


def gather_batch_norms(model: torch.nn.Module) -> int:
    """Make every batch normalisation layer of ``model`` normalise the global batch in training; returns how many.

    The layers keep their class and parameters (checkpoints are unchanged); in training, each normalises the
    gathered batch and returns this rank's rows, so its statistics and running averages are the single-process
    ones. Needs equal slices on every rank (:class:`RankSlices`).
    """
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.forward = types.MethodType(_gathered_batch_norm_forward, layer)
    return len(layers)


class RankSlices:
    """This rank's contiguous slice of each global batch of ``batches`` (a batch sampler every rank draws alike).

    Raises:
        ValueError: the global batch size does not divide evenly among the ranks.
    """

    def __init__(self, batches, ranks: Ranks, batch_size: int):
        if batch_size % ranks.world_size:
            raise ValueError(
                f"train.batch_size {batch_size} does not divide among {ranks.world_size} processes; the global "
                f"batch must split evenly (e.g. {batch_size - batch_size % ranks.world_size or ranks.world_size})."
            )
        self.batches, self.ranks, self.per_rank = batches, ranks, batch_size // ranks.world_size

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def __iter__(self):
        start = self.ranks.rank * self.per_rank
        for batch in self.batches:
            yield batch[start : start + self.per_rank]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(value, ranks: Ranks):
    """Rank 0's ``value`` on every rank."""
    if not ranks.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---- launching ---------------------------------------------------------------------------------------------


def launch(spec: dict, processes: int, spec_path: str | os.PathLike) -> None:
    """Run ``geolink.train.train(**spec)`` in ``processes`` processes through ``torchrun`` (one machine).

    ``spec`` holds ``train``'s arguments (JSON-able); it is written to ``spec_path`` for the ranks to read. Output
    of every rank goes to this process's stdout and stderr (the job's log). A rank that fails or is killed makes
    ``torchrun`` stop the others; the run's ``last.pt`` stays, and running the job again resumes from it.

    Raises:
        TrainingRunError: ``torchrun`` ended with a failure.
    """
    from geolink.run_folder import TrainingRunError

    path = Path(spec_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "geolink.distributed",
        str(path),
    ]
    log.info("launching %d training processes: %s", processes, " ".join(command))
    completed = subprocess.run(command)
    if completed.returncode:
        raise TrainingRunError(
            f"distributed training ({processes} processes, torchrun) failed with exit status "
            f"{completed.returncode}; each rank's error is in the log above. Its last finished epoch is kept: "
            "run the job again to resume from it."
        )


def main(argv: list[str] | None = None) -> None:
    """One rank's entry point under ``torchrun``: ``python -m geolink.distributed SPEC.json``."""
    from geolink.train import train

    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    logging.basicConfig(level=logging.INFO, format=f"[rank {os.environ.get('RANK', '0')}] %(message)s")
    train(**spec)


if __name__ == "__main__":
    main()
