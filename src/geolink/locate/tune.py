"""Fine-tuning a checkpoint's image encoder to place drone photos on a map (``geolink tune``).

A benchmark checkpoint learned from pre-cut pairs: a drone image and the satellite tile centred on the same target,
the drone at any heading. ``geolink locate`` asks another question of it: which tile of a grid, cut wherever the
grid falls, holds the photo? The best tile lies up to half a stride from where the photo was taken (a quarter of a
tile in each axis at the default overlap of 0.5), and nothing in a benchmark's pairs taught the encoder to match a
tile that much off centre. Flights over other areas, made while GNSS worked, teach it: their photos carry their
position (and heading) in the EXIF, and the map shows what lies there.

Pairs. Each photo whose EXIF records its position is paired with the map around that position: a context of
``1 + 2 jitter`` footprints, resampled so that one footprint is ``image_size`` pixels (the scale of the index's
tiles). At every step the photo's positive is a footprint-sized window of its context at a random offset of up to
``jitter`` footprints in each axis (uniform; 0.25 is where a tile of the 0.5-overlap grid can lie). Photos are
turned north-up by their heading (:func:`geolink.locate.maps.north_up`): the tiles are north-up, and a small
encoder learns a match far sooner than a match at every rotation. The tuned checkpoint records it
(``settings.north_up``), so ``geolink locate`` turns its photos the same way. Photos without a heading, or whose
position is off the map, are left out and counted.

Objective. The symmetric InfoNCE of Eq. 5 (:func:`geolink.losses.contrastive.info_nce`) with the model's learnable
temperature, the other pairs of the batch as negatives; both images of a pair get the same random quarter turn and
flip (north then points elsewhere, but the same way in both). AdamW with a cosine schedule, from the checkpoint's
weights: the image encoder alone is trained (the 3D branch and the heads stay as they were).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from geolink.locate.encoders import model_input
from geolink.locate.errors import LocateError
from geolink.locate.exif import read_gps, read_heading
from geolink.locate.maps import GeoTiffMap, north_up, read_photo
from geolink.locate.search import collect_photos

#: Training state of a benchmark run that does not carry over to the tuned weights.
_RUN_STATE = ("optimizer", "estimators", "club_optimizer", "scaler", "grem", "rng")


@dataclass
class PairSet:
    """Photos and the map around each, prepared for the encoder.

    Attributes:
        photos: ``[N, S, S, 3]`` uint8, north-up photos resized to the encoder's image size ``S``.
        contexts: ``[N, C, C, 3]`` uint8, the map around each photo, ``C = S + 2 * margin``. Kept as bytes, and
            normalised a batch at a time: a float copy would take four times the memory.
        margin: Pixels of context beyond the footprint on each side (``round(jitter * S)``).
        areas: Per area: its map, photos found, pairs made and photos left out (and why).
    """

    photos: np.ndarray
    contexts: np.ndarray
    margin: int
    areas: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.photos)


def collect_pairs(
    areas: list[tuple[str | Path, list[str | Path]]],
    footprint_m: float,
    image_size: int,
    jitter: float = 0.25,
    progress: bool = True,
) -> PairSet:
    """The pairs of ``areas``: each a GeoTIFF map and the photos (files or folders) taken over it.

    Raises:
        LocateError: a map or photo that cannot be read, a jitter outside [0, 0.5], or no usable pair at all.
    """
    if not 0 <= jitter <= 0.5:
        raise LocateError(f"jitter {jitter} is outside [0, 0.5] (0.25: where a tile of a 0.5-overlap grid lies).")
    margin = round(jitter * image_size)
    side_m = footprint_m * (image_size + 2 * margin) / image_size
    photos, contexts, report = [], [], []
    bar = tqdm(desc="pairs", unit="photo", disable=not progress)
    for map_path, inputs in areas:
        if Path(map_path).suffix.lower() == ".csv":
            raise LocateError(
                f"map {Path(map_path).absolute()} is a tile table; tuning needs a GeoTIFF, to cut the map around "
                "each photo wherever it was taken."
            )
        source = GeoTiffMap(map_path, footprint_m)
        found = collect_photos(inputs)
        left_out = {"no_gps": 0, "no_heading": 0, "off_map": 0}
        made = 0
        bar.total = (bar.total or 0) + len(found)
        for path in found:
            bar.update()
            position, heading = read_gps(path), read_heading(path)
            if position is None or heading is None:
                left_out["no_gps" if position is None else "no_heading"] += 1
                continue
            context = source.read_around(*position, side_m, image_size + 2 * margin)
            if context is None:
                left_out["off_map"] += 1
                continue
            # Turned at full size, then resized, as `geolink locate` prepares a photo for the encoder.
            turned = Image.fromarray(north_up(read_photo(path), heading))
            photos.append(np.asarray(turned.resize((image_size, image_size), Image.BICUBIC)))
            contexts.append(context)
            made += 1
        report.append({"map": str(Path(map_path).absolute()), "photos": len(found), "pairs": made, **left_out})
    bar.close()
    if not photos:
        total = {why: sum(area[why] for area in report) for why in ("photos", "no_gps", "no_heading", "off_map")}
        raise LocateError(
            f"none of the {total['photos']} photos gives a pair: {total['no_gps']} have no EXIF GPS, "
            f"{total['no_heading']} no heading (EXIF GPSImgDirection, or DJI's XMP GimbalYawDegree) and "
            f"{total['off_map']} lie off their map. Give photos taken with GNSS over the maps given."
        )
    return PairSet(np.stack(photos), np.stack(contexts), margin, report)


def tune(
    checkpoint: str | Path,
    areas: list[tuple[str | Path, list[str | Path]]],
    footprint_m: float,
    out: str | Path,
    *,
    jitter: float = 0.25,
    progress: bool = True,
    **optimisation,
) -> dict:
    """``geolink tune`` and rule ``locate_tune``: the pairs of ``areas`` (:func:`collect_pairs`) at the image size
    ``checkpoint`` was trained at, then :func:`tune_checkpoint` with ``optimisation`` (steps, batch size, ...)."""
    from geolink.checkpoint import load_checkpoint

    image_size = int(load_checkpoint(checkpoint, required=("settings",))["settings"]["image_size"])
    pairs = collect_pairs(areas, footprint_m, image_size, jitter=jitter, progress=progress)
    return tune_checkpoint(checkpoint, pairs, out, progress=progress, **optimisation)


def _crop(contexts: np.ndarray, margin: int, rng: np.random.Generator) -> np.ndarray:
    """A footprint-sized window of each context ``[B, C, C, 3]`` at a uniform random offset of up to ``margin``."""
    size = contexts.shape[1] - 2 * margin
    offsets = rng.integers(0, 2 * margin + 1, size=(len(contexts), 2))
    return np.stack([c[r : r + size, q : q + size] for c, (r, q) in zip(contexts, offsets, strict=True)])


def tune_checkpoint(
    checkpoint: str | Path,
    pairs: PairSet,
    out: str | Path,
    *,
    steps: int = 400,
    batch_size: int = 32,
    lr: float = 2e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Train the image encoder of ``checkpoint`` on ``pairs`` and write the result to ``out`` (atomically).

    Returns:
        What was done: the pairs, the settings, the loss at the start and the end, and the seconds taken.
    """
    import torch

    from geolink.checkpoint import save_checkpoint
    from geolink.data.acquire import sha256_file
    from geolink.evaluation.run import load_checkpoint
    from geolink.losses.contrastive import info_nce

    if len(pairs) < 2:
        raise LocateError(f"{len(pairs)} pair(s): InfoNCE needs at least two, to have a negative.")
    batch_size = min(batch_size, len(pairs))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, saved = load_checkpoint(str(checkpoint), device=device)
    # The model's own learnable temperature when it has one (GeoLink, Sample4Geo), else a fresh one at 1/0.07.
    scale = getattr(model, "logit_scale", None)
    if scale is None:
        scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
    encoder_params = [p for name, p in model.named_parameters() if name != "logit_scale"]
    optimizer = torch.optim.AdamW([*encoder_params, scale], lr=lr, weight_decay=weight_decay)
    model.train()
    losses, started = [], time.perf_counter()
    bar = tqdm(range(steps), desc="tune", unit="step", disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:  # cosine from lr to 0 over the steps
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        batch = rng.choice(len(pairs), batch_size, replace=False)
        query = torch.from_numpy(model_input(pairs.photos[batch]))
        tile = torch.from_numpy(model_input(_crop(pairs.contexts[batch], pairs.margin, rng)))
        turns = int(rng.integers(4))  # the same quarter turn and flip for both views of a pair
        query, tile = torch.rot90(query, turns, (2, 3)), torch.rot90(tile, turns, (2, 3))
        if rng.random() < 0.5:
            query, tile = query.flip(3), tile.flip(3)
        images = torch.cat([query, tile]).to(device)
        features = torch.nn.functional.normalize(model.encode_image(images).float(), dim=-1)
        loss = info_nce(features[:batch_size], features[batch_size:], scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()

    window = max(1, min(20, steps // 10))  # mean over a few steps: one batch's loss is noisy
    summary = {
        "tuned_from": str(Path(checkpoint).absolute()),
        "tuned_from_sha256": sha256_file(checkpoint),
        "pairs": len(pairs),
        "areas": pairs.areas,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "jitter": pairs.margin / pairs.photos.shape[1],
        "seed": seed,
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "seconds": round(time.perf_counter() - started, 1),
    }
    state = {key: value for key, value in saved.items() if key not in _RUN_STATE}
    state["model"] = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    state["settings"] = {**saved["settings"], "north_up": True, "tune": summary}
    save_checkpoint(out, state)
    return summary
