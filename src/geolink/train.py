"""The GeoLink training loop, in one readable file (paper §3.5 and §4.1).

Read top to bottom: build data, model, losses and optimisers from the run's settings;
then for every step: learning rate, forward under autocast, one step of the vCLUB estimators on
detached features (they are *trained*, unlike in the official code), the encoder step on the
total loss of eq. 15, clipping; after every epoch: validation Recall@1 on held-out *source*
locations, and a checkpoint that holds everything needed to resume bit-identically on CPU
and to rebuild the model for evaluation (name, kwargs, the run's settings, optimiser and RNG states).
The run works in its own folder (``geolink.run_folder``): a stopped run continues from its last completed
epoch when started again, and only a finished run is published.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from geolink.checkpoint import load_checkpoint, save_checkpoint
from geolink.config import ConfigError
from geolink.data.acquire import sha256_file
from geolink.data.augment import build_augment
from geolink.data.batches import UniqueLocationBatchSampler, training_samples
from geolink.data.google_retrieval import retrieve_google
from geolink.data.manifest import load_manifest
from geolink.data.pairs import CrossViewPairs, split_validation, training_locations
from geolink.device import grad_scaler, mixed_precision, resolve_precision, select_device
from geolink.distributed import (
    RankSlices,
    barrier,
    broadcast_object,
    gather_batch_norms,
    gather_outputs,
    init_distributed,
    ranks_from_env,
    shutdown,
)
from geolink.evaluation.retrieval import retrieval_metrics
from geolink.evaluation.run import extract_features
from geolink.losses import VCLUB, GeoLinkLoss, geometric_aware_estimator_step, info_nce
from geolink.models import create_model
from geolink.points import load_point_bank
from geolink.run_folder import LOG_FOLDER, open_work_folder, publish, rewind_logs

log = logging.getLogger(__name__)

#: The query view of each training task (``train.task``), and its short name in the loss terms' names.
TASK_QUERY_VIEW = {"drone_satellite": "drone", "street_satellite": "street"}
SHORT_VIEW = {"drone": "dro", "street": "str"}


def seed_everything(seed: int) -> None:
    """Seed the global generators that libraries may use (our own sampling uses explicit generators)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may draw from the legacy global generator
    torch.manual_seed(seed)


def get_lr(step: int, total_steps: int, warmup_steps: int, lr: float, min_lr: float) -> float:
    """Linear warmup to ``lr`` over ``warmup_steps``, then cosine decay to ``min_lr`` at ``total_steps`` (§4.1)."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def source_validation_set(locations) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Held-out source locations: every query-view image (drone or street) queries all their satellite images."""
    query_paths = [p for loc in locations for p in loc.queries]
    query_labels = np.array([loc.label for loc in locations for _ in loc.queries])
    gallery_paths = [p for loc in locations for p in loc.satellites]
    gallery_labels = np.array([loc.label for loc in locations for _ in loc.satellites])
    return query_paths, query_labels, gallery_paths, gallery_labels


def target_test_set(manifest_path: str) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """The target's official drone -> satellite test set (only for ``selection: target_test``)."""
    from geolink.evaluation.run import query_gallery

    query, gallery = query_gallery(load_manifest(manifest_path), "drone_to_satellite")
    return (
        query["path"].tolist(),
        query["location"].astype(int).to_numpy(),
        gallery["path"].tolist(),
        gallery["location"].astype(int).to_numpy(),
    )


@torch.no_grad()
def validation_scores(model, validation_set, image_size: int, device, batch_size: int) -> tuple[float, float]:
    """Drone -> satellite ``(Recall@1, AP)`` (percent) of the model on a (query, gallery) validation set."""
    query_paths, query_labels, gallery_paths, gallery_labels = validation_set
    queries = extract_features(model, query_paths, image_size, batch_size, device)
    gallery = extract_features(model, gallery_paths, image_size, batch_size, device)
    model.train()
    metrics = retrieval_metrics(queries, query_labels, gallery, gallery_labels, ks=(1,))
    return metrics["R@1"], metrics["AP"]


def loader_options(cfg: dict, device: torch.device) -> dict:
    """How batches reach the device: ``loader`` (DataLoader keywords), ``copy`` (``Tensor.to`` keywords) and
    ``channels_last``, from ``train.num_workers``, ``prefetch_factor``, ``pin_memory`` and ``channels_last``.

    Pinned memory, asynchronous copies and channels-last apply on CUDA only: on the CPU they buy nothing (and
    channels-last would change the rounding of the CPU results). Workers are not persistent, because each epoch's
    augmentation is seeded by the dataset's epoch (``CrossViewPairs.set_epoch``), which a persistent worker's
    copy of the dataset would not see.
    """
    cuda = device.type == "cuda"
    workers = cfg["num_workers"]
    loader = {"num_workers": workers, "pin_memory": cfg["pin_memory"] and cuda}
    if workers:
        loader["prefetch_factor"] = cfg["prefetch_factor"]
    channels_last = cfg["channels_last"] and cuda
    copy: dict = {"non_blocking": loader["pin_memory"]}
    if channels_last:
        copy["memory_format"] = torch.channels_last
    return {"loader": loader, "copy": copy, "channels_last": channels_last}


def is_better(recall: float, ap: float, best: dict) -> bool:
    """Model selection: higher Recall@1, ties broken by AP, and a later epoch wins an exact tie.

    A small validation gallery (SUES-200's 10 % hold-out has 12 satellite images) saturates Recall@1 within a
    few epochs; with a strict comparison on it alone the first epoch to reach the maximum would be kept for
    the rest of training. AP keeps ranking models after that.
    """
    return (recall, ap) >= (best["metric"], best.get("ap", -1.0))


def build_estimators(model_dim: int, point_dim: int, train_cfg: dict, device) -> dict[str, VCLUB]:
    """The two q_θ of eq. 10 (drone and satellite given the 3D feature), hidden size from config (paper 4096)."""
    trainable = train_cfg["vclub"]["trainable"]
    hidden, logvar = train_cfg["vclub"]["hidden_dim"], train_cfg["vclub"]["logvar"]
    return {view: VCLUB(point_dim, model_dim, hidden, trainable, logvar).to(device) for view in ("dro", "sat")}


#: Parameters that timm and DINOv2 train without weight decay besides biases and norms: the class, register and
#: mask tokens and the position embedding (fnmatch patterns on parameter names).
NO_DECAY_PATTERNS = ("*token", "*pos_embed")


def optimizer_groups(model: torch.nn.Module, weight_decay: float, scope: str) -> list[dict]:
    """AdamW parameter groups: ``scope`` ``matrices`` decays only weight matrices and kernels (timm's
    ``param_groups_weight_decay``: no decay on biases, norms, the temperature and other 0-/1-d parameters, nor
    on tokens and position embeddings); ``all`` decays every trainable parameter (PyTorch's default)."""
    if scope == "all":
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    from timm.optim import param_groups_weight_decay

    return param_groups_weight_decay(model, weight_decay, no_weight_decay_list=NO_DECAY_PATTERNS)


def batch_losses(
    out: dict,
    criterion: GeoLinkLoss,
    estimators: dict[str, VCLUB],
    club_optimizer,
    label_smoothing: float,
    query_view: str = "drone",
) -> dict:
    """The named loss terms of one batch (eq. 15), after one step of the vCLUB estimators.

    q_θ steps first, on detached features: it estimates the mutual information, it does not shape the
    encoders. Every 3D term uses F'_pc, the MME output: it has the 2D features' width and, unlike the
    non-parametric Point-NN feature F_pc, parameters to train (docs/fidelity.md). Models without a 3D
    branch (``out`` has no ``pc_prime``) get the query-satellite InfoNCE alone. ``query_view`` is the key of the
    query features in ``out``: ``drone`` (GeoLink) or ``street`` (SkyLink, whose terms the criterion names ``str``).
    """
    if "pc_prime" not in out:
        pair = info_nce(out[query_view], out["satellite"], out["logit_scale"], label_smoothing)
        return {f"cc/{SHORT_VIEW[query_view]}_sat": pair, "total": pair}
    if club_optimizer is not None:
        geometric_aware_estimator_step(
            estimators["dro"], estimators["sat"], club_optimizer, out[query_view], out["satellite"], out["pc_prime"]
        )
    return criterion(
        out[query_view],
        out["satellite"],
        out["pc_prime"],
        out["pc_prime"],
        out["logit_scale"],
        club_dro=estimators.get("dro"),
        club_sat=estimators.get("sat"),
    )


class SilentLive:
    """What the ranks other than 0 log to: nothing (rank 0 keeps the run's logs). GREM's tables go to a scratch
    folder, removed by :meth:`end`."""

    def __init__(self):
        import tempfile

        self._scratch = tempfile.TemporaryDirectory(prefix="geolink-rank-")
        self.dir = self._scratch.name
        self.step = 0

    def log_params(self, *args, **kwargs) -> None:
        pass

    def log_metric(self, *args, **kwargs) -> None:
        pass

    def next_step(self) -> None:
        self.step += 1

    def end(self) -> None:
        self._scratch.cleanup()


def open_live(work: Path, resuming: bool, start_epoch: int, main: bool = True):
    """The run's dvclive logger in ``<work>/logs``, rewound to ``start_epoch`` when resuming; a silent one on the
    ranks other than 0."""
    if not main:
        return SilentLive()
    from dvclive import Live

    # dvcyaml=None and save_dvc_exp=False: dvc.yaml is generated from the Snakemake DAG, not by dvclive.
    live_dir = work / LOG_FOLDER
    if resuming:
        rewind_logs(live_dir, start_epoch)
    live = Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, resume=resuming, report=None)
    live.step = start_epoch  # dvclive's step is the epoch index; its own resume guesses from the summary file
    return live


def is_grem_epoch(grem: dict, epoch: int) -> bool:
    """Whether GREM selects the web photos again before ``epoch`` (0-based): from ``start_epoch`` on, every
    ``every`` epochs."""
    return grem["enabled"] and epoch >= grem["start_epoch"] and (epoch - grem["start_epoch"]) % grem["every"] == 0


def refresh_google_selection(model, locations, cfg: dict, device, live, epoch: int) -> None:
    """One pass of SkyLink's Google Retrieval Enhancement Module with the current encoder: each location's kept web
    photos become extra street samples (``geolink.data.google_retrieval``). Logs the total kept and writes how many
    each location kept to ``grem/epoch_<k>.csv`` in the run's log folder (``k`` = the epoch about to train, 1-based).
    """
    import pandas as pd

    from geolink.atomic import atomic_output

    def embed(paths: list[str]) -> np.ndarray:
        return extract_features(model, paths, cfg["image_size"], cfg["eval_batch_size"], device)

    grem = cfg["grem"]
    selection = retrieve_google(locations, embed, top_k=grem["top_k"], min_pixel_std=grem["min_pixel_std"])
    model.train()
    for index, loc in enumerate(locations):
        loc.extra_queries = selection.kept.get(index, [])
    log.info(
        "GREM before epoch %d: kept %d of %d web photos (%d locations have some)",
        epoch + 1,
        selection.n_kept,
        selection.n_google,
        len(selection.rows),
    )
    live.log_metric("grem/kept", selection.n_kept, plot=False)
    live.log_metric("grem/candidates", selection.n_google, plot=False)
    table = Path(live.dir) / "grem" / f"epoch_{epoch + 1:03d}.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(table) as tmp:
        pd.DataFrame(selection.rows, columns=["location", "n_google", "n_empty", "n_kept"]).to_csv(tmp, index=False)


def restore_google_selection(locations, kept: dict[str, list[str]]) -> None:
    """Give each location the web photos GREM had kept when the checkpoint was written (a resumed run)."""
    for loc in locations:
        loc.extra_queries = list(kept.get(loc.location, []))


def train(
    settings: dict,
    manifest_path: str,
    bank_path: str | None,
    checkpoint_dir: str,
    log_dir: str,
    *,
    device: str = "auto",
    precision: str = "auto",
    selection_manifest_path: str | None = None,
) -> dict:
    """Train one run and return its summary (best validation Recall@1 and epoch).

    Args:
        settings: the run's settings, ``geolink.pipeline.Pipeline.train_settings``: the ``train`` section of
            the configuration with the variant's overrides, ``heights`` of the source (None: all) and ``seed``.
        manifest_path: the source dataset's manifest.
        bank_path: the source dataset's point bank (None for 2D-only models).
        checkpoint_dir: where ``last.pt`` and ``best.pt`` are published when the run has finished.
        log_dir: where the dvclive folder (metrics per step and epoch) is published when the run has finished.
        device: ``cuda[:i]`` (stops with the reason when no GPU is usable), ``cpu`` or ``auto``
            (``compute.device``; ``geolink.device.select_device``).
        precision: ``auto`` (bf16 on GPUs that have it, fp16 with a gradient scaler on older ones, fp32 on the
            CPU), ``bf16``, ``fp16`` or ``fp32`` (``compute.precision``); recorded in the checkpoint and the log.
        selection_manifest_path: the target's manifest, used only with ``train.selection: target_test``
            (the official code's practice of selecting checkpoints on the target test set; it leaks the
            test set into model selection and is logged under its own name).

    The run trains in ``<checkpoint_dir>.partial/`` and continues from its ``last.pt`` when that folder holds an
    unfinished run with the same settings and inputs (see ``geolink.run_folder``).

    Raises:
        TrainingRunError: finished outputs exist, or the work folder belongs to another run.
        ConfigError: the settings cannot train on this data (3D model without a point bank, too few locations).
    """
    cfg, seed = settings, settings["seed"]
    query_view = TASK_QUERY_VIEW[cfg["task"]]
    ranks = ranks_from_env()  # several processes under torchrun (geolink.distributed), else one
    dev = init_distributed(ranks, select_device(device, job="training"))
    precision = resolve_precision(dev, precision)
    seed_everything(seed)
    checkpoint_dir = Path(checkpoint_dir)

    # ---- data: one sample per location; a held-out slice of the source for model selection
    model = create_model(cfg["model"]["name"], **cfg["model"]["kwargs"]).to(dev)
    loading = loader_options(cfg, dev)
    if loading["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    uses_points = model.has_3d
    if uses_points and not bank_path:
        raise ConfigError(
            f"train.model.name {cfg['model']['name']} has a 3D branch and needs the source's point bank (rule "
            "points, results/<name>/points/<source>.npz); give it, or train a baseline_* model."
        )
    if cfg["selection"] == "target_test" and selection_manifest_path is None:
        raise ConfigError(
            "train.selection is target_test but no target manifest was given (selection_manifest_path); "
            "set train.selection_target to the dataset whose test set selects the checkpoint."
        )
    # The point bank also says how many cloud groups a location has, which sets the samples of an epoch
    # (train.samples_per_location: cloud_groups), so a 2D model given the bank trains on the same samples.
    enumerates_clouds = uses_points or bool(bank_path and Path(bank_path).is_file())
    inputs = {
        "manifest": manifest_path,
        "point_bank": bank_path if enumerates_clouds else None,
        "selection_manifest": selection_manifest_path,
    }
    for path in filter(None, inputs.values()):
        if not Path(path).is_file():
            raise ConfigError(
                f"training input {path} does not exist; build it with the workflow first "
                f"(snakemake --configfile ... {path})."
            )
    # What the run is: resuming needs the same settings and the same bytes of every input (not only paths).
    identity = {"settings": settings, "inputs": {k: sha256_file(p) if p else None for k, p in inputs.items()}}
    # Rank 0 owns the run's folders; the other ranks learn where it is and whether it resumes (should rank 0 fail
    # here, torchrun stops the others).
    work, resuming = broadcast_object(
        open_work_folder(checkpoint_dir, log_dir, identity) if ranks.main else None, ranks
    )
    bank = load_point_bank(bank_path) if enumerates_clouds else None
    manifest = load_manifest(manifest_path)
    locations = training_locations(manifest, bank, cfg["heights"], query_view)
    train_locs, val_locs = split_validation(locations, cfg["val_fraction"], seed)
    if cfg["selection"] == "target_test":
        validation_set, metric_name = target_test_set(selection_manifest_path), "selection/target_test_R@1"
    else:
        validation_set, metric_name = source_validation_set(val_locs), "val/R@1"
    has_validation = len(validation_set[0]) > 0
    if len(train_locs) < cfg["batch_size"]:
        raise ConfigError(
            f"train.batch_size {cfg['batch_size']} is more than the {len(train_locs)} training locations of "
            f"{manifest_path} (after train.val_fraction {cfg['val_fraction']}); lower train.batch_size."
        )
    samples = training_samples(train_locs, cfg["samples_per_location"])
    dataset = CrossViewPairs(
        train_locs,
        cfg["image_size"],
        bank if uses_points else None,
        samples=samples,
        seed=seed,
        augment=build_augment(cfg),  # joint flip + per-view transforms (train.flip_prob, satellite_rot90, augmentation)
        query_view=query_view,
        point_scales=cfg["point_scales"],  # SkyLink's multi-scale bridge: every cloud group of a location at once
    )
    batches = UniqueLocationBatchSampler(samples, cfg["batch_size"], seed)
    if ranks.distributed:
        RankSlices(batches, ranks, cfg["batch_size"])  # a global batch that does not split stops the run here
    # The schedule's length comes from the first epoch's batches, as the official trainers take len(loader) once.
    steps_per_epoch = len(batches)
    total_steps = steps_per_epoch * cfg["epochs"]
    warmup_steps = max(1, round(cfg["warmup_epochs"] * steps_per_epoch))
    log.info(
        "%d training locations, %d samples per epoch (train.samples_per_location: %s), batch %d: %d steps per "
        "epoch, %d steps in %d epochs",
        len(train_locs),
        len(samples),
        cfg["samples_per_location"],
        cfg["batch_size"],
        steps_per_epoch,
        total_steps,
        cfg["epochs"],
    )

    # ---- losses and optimisers
    weights = cfg["loss"]["weights"]
    criterion = GeoLinkLoss(
        weights=weights,
        label_smoothing=cfg["loss"]["label_smoothing"],
        rd_normalization=cfg["loss"]["rd_normalization"],
        detach_teacher=cfg["loss"]["detach_teacher"],
        query_view=SHORT_VIEW[query_view],
    )
    estimators = {}
    if uses_points and weights["ga"] > 0:
        estimators = build_estimators(model.descriptor_dim, model.descriptor_dim, cfg, dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(optimizer_groups(model, cfg["weight_decay"], cfg["weight_decay_scope"]), lr=cfg["lr"])
    club_params = [p for club in estimators.values() if club.trainable for p in club.parameters()]
    club_optimizer = torch.optim.Adam(club_params, lr=cfg["vclub"]["lr"]) if club_params else None

    scaler = grad_scaler(dev, precision)  # fp16 only: scales the loss so small gradients do not underflow
    start_epoch, step, best = 0, 0, {"metric": -1.0, "epoch": -1}
    last = work / "last.pt"
    if resuming:
        state = load_checkpoint(last, map_location=dev)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for name, club in estimators.items():
            club.load_state_dict(state["estimators"][name])
        if club_optimizer is not None:
            club_optimizer.load_state_dict(state["club_optimizer"])
        start_epoch, step, best = state["epoch"], state["step"], state["best"]
        restore_google_selection(train_locs, state.get("grem", {}))
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        log.info("resumed from %s after epoch %d", last, start_epoch)

    live = open_live(work, resuming, start_epoch, ranks.main)
    live.log_params({"device": dev.type, "precision": precision})  # params.yaml beside the metrics
    autocast = mixed_precision(dev, precision)
    log.info("training on %s in %s", dev, precision)

    # The training forward: the model itself, or under torchrun its DDP wrapper, with batch norms over the global
    # batch (geolink.distributed). Checkpoints, validation and GREM use the model itself.
    forward = model
    if ranks.distributed:
        gather_batch_norms(model)
        forward = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[dev.index] if dev.type == "cuda" else None,
            forward_sync_buffers=False,  # every rank computes the same buffers (global-batch statistics)
            find_unused_parameters=True,  # variants with a loss weight of 0 leave some heads without gradient
        )
        log.info(
            "rank %d of %d on %s, %d samples of each global batch of %d",
            ranks.rank,
            ranks.world_size,
            dev,
            cfg["batch_size"] // ranks.world_size,
            cfg["batch_size"],
        )

    model.train()
    for epoch in range(start_epoch, cfg["epochs"]):
        if is_grem_epoch(cfg["grem"], epoch):
            refresh_google_selection(model, train_locs, cfg, dev, live, epoch)
        if cfg["grem"]["enabled"]:  # the kept web photos (restored on resume) are samples of their own (query_images)
            dataset.samples = training_samples(train_locs, cfg["samples_per_location"])
            batches = UniqueLocationBatchSampler(dataset.samples, cfg["batch_size"], seed)
        dataset.set_epoch(epoch)
        batches.set_epoch(epoch)  # seeded by (seed, epoch): the same batches after a resume, and on every rank
        rank_batches = RankSlices(batches, ranks, cfg["batch_size"]) if ranks.distributed else batches
        loader = DataLoader(dataset, batch_sampler=rank_batches, **loading["loader"])
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg['epochs']}", unit="step", disable=not ranks.main)
        # Each loss term summed over the epoch's steps, on the device (no sync per step): the curves of Fig. 4.
        epoch_sums: dict[str, torch.Tensor] = {}
        epoch_steps = 0
        for batch in bar:
            lr = get_lr(step, total_steps, warmup_steps, cfg["lr"], cfg["min_lr"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            query, satellite = (batch[view].to(dev, **loading["copy"]) for view in (query_view, "satellite"))
            points = batch["points"].to(dev) if uses_points else None
            with autocast:
                out = forward(query, satellite, points, query_view=query_view)
            if ranks.distributed:  # every loss term over the global batch, with gradients to every rank's slice
                out = gather_outputs(out)
            out = {k: v.float() if torch.is_tensor(v) else v for k, v in out.items()}
            losses = batch_losses(
                out, criterion, estimators, club_optimizer, cfg["loss"]["label_smoothing"], query_view
            )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            scaler.unscale_(optimizer)  # clip the true gradients (a no-op unless fp16)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
            scaler.step(optimizer)  # skips the step when fp16 gradients overflowed
            scaler.update()
            step += 1
            epoch_steps += 1
            for name, value in losses.items():
                epoch_sums[name] = epoch_sums.get(name, 0.0) + value.detach()
            if step % cfg["log_every"] == 0 or step == total_steps:
                for name, value in losses.items():
                    live.log_metric(f"train/{name.replace('/', '_')}", value.item(), plot=False)  # a/b would nest
                live.log_metric("train/lr", lr, plot=False)
                live.log_metric("train/grad_norm", float(grad_norm), plot=False)
                live.log_metric("train/logit_scale", out["logit_scale"].item(), plot=False)
            bar.set_postfix(loss=f"{losses['total'].item():.3f}", lr=f"{lr:.2e}")

        metric = ap = float("nan")
        if has_validation and ranks.main:
            metric, ap = validation_scores(model, validation_set, cfg["image_size"], dev, cfg["eval_batch_size"])
        live.log_metric(metric_name, metric)
        live.log_metric(metric_name.replace("R@1", "AP"), ap)
        # One point per epoch and term (plots/metrics/epoch_loss/<term>.tsv): the training curves, e.g. the
        # InfoNCE between points and drone (cc_dro_pc) or satellite (cc_sat_pc) views that Fig. 4 draws.
        for name, total in epoch_sums.items():
            live.log_metric(f"epoch_loss/{name.replace('/', '_')}", total.item() / epoch_steps)
        live.log_metric("epoch", epoch + 1, plot=False)
        live.next_step()
        improved = has_validation and is_better(metric, ap, best)
        if improved:
            best = {"metric": metric, "ap": ap, "epoch": epoch + 1}
        state = {
            "model_name": cfg["model"]["name"],
            "model_kwargs": cfg["model"]["kwargs"],
            "settings": settings,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "estimators": {name: club.state_dict() for name, club in estimators.items()},
            "club_optimizer": club_optimizer.state_dict() if club_optimizer is not None else {},
            "epoch": epoch + 1,
            "step": step,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "best": best,
            "val_recall@1": metric,
            "val_ap": ap,
            "selection": cfg["selection"],
            "device": dev.type,
            "precision": precision,
            "scaler": scaler.state_dict(),
            "grem": {loc.location: loc.extra_queries for loc in train_locs if loc.extra_queries},
            "rng": {"torch": torch.get_rng_state()},
        }
        # best.pt first: a last.pt of epoch k then always comes with the best.pt of epochs 1..k, which a resume keeps.
        if ranks.main:
            if improved or not has_validation:
                save_checkpoint(work / "best.pt", state)
            save_checkpoint(last, state)
        log.info(
            "epoch %d: validation R@1 %.2f, AP %.2f (best R@1 %.2f at epoch %d)",
            epoch + 1,
            metric,
            ap,
            best["metric"],
            best["epoch"],
        )
    live.end()
    barrier()  # every rank has finished its last step before rank 0 publishes the run
    if not ranks.main:
        shutdown()
        return {"best_val_recall@1": float("nan"), "best_epoch": -1, "epochs": cfg["epochs"], "steps": step}
    if not (work / "best.pt").exists():  # validation never gave a number (NaN): the last epoch stands in
        save_checkpoint(work / "best.pt", load_checkpoint(last))
    publish(work, checkpoint_dir, log_dir)
    shutdown()
    return {"best_val_recall@1": best["metric"], "best_epoch": best["epoch"], "epochs": cfg["epochs"], "steps": step}
