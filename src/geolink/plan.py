"""What a configuration will run before it runs: jobs per variant, optimiser steps, and an estimate of GPU hours.

``geolink plan`` prints it; ``snakemake -n`` lists the same jobs one by one. Steps come from the published image
counts of the real datasets (``geolink.data.release_counts``, docs/data.md) and the run's settings, exactly as
``geolink.train`` counts them: the training locations minus the validation hold-out, the samples of an epoch
(``train.samples_per_location``) cut into full batches of distinct locations. A synthetic dataset has no
published counts; its runs are listed without steps.

The GPU time is a model, not a measurement (no GPU was available to measure one): a training step costs three
forward passes' FLOPs (forward, and backward at twice the forward) of both views of every sample in the batch, an
evaluation costs one forward pass per test image, and a GPU sustains ``tflops`` of them per second. The FLOPs of a
forward pass are counted with attention (``geolink.complexity``); the 3D branch, data loading and the frozen
blocks' saved backward are ignored. The default of 60 TFLOP/s is about a third of an RTX 4090's 165 dense bf16
TFLOP/s (the paper's GPU), a usual utilisation for fine-tuning a ViT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from geolink.data.release_counts import PUBLISHED, SUES200_PER_HEIGHT
from geolink.data.sues200 import HEIGHTS

#: Assumed sustained throughput of one GPU, in TFLOP/s (see the module docstring).
DEFAULT_TFLOPS = 60.0

#: Training structure of the real releases: locations, satellite images per location, drone images per location
#: (University-1652: 37,854 / 701; SUES-200: 50 frames x 4 heights; DenseUAV: 6,768 / 2,256) and the authors'
#: three cloud groups per location (docs/official_code.md §1.2).
TRAINING = {
    "university1652": {"locations": 701, "satellites": 1, "drones": 54},
    "sues200": {"locations": 120, "satellites": 1, "drones": 50 * len(HEIGHTS)},
    "denseuav": {"locations": 2256, "satellites": 6, "drones": 3},
}
CLOUD_GROUPS = 3
#: University-1652's street training photos per location: the release lists no street count of its own, so this is
#: its training total less drone and satellite images, (50,218 - 37,854 - 701) / 701, street and web photos together
#: (docs/datasets.md §1.2): an upper bound for SkyLink's ``query_images`` epochs.
STREET_PER_LOCATION = (50_218 - 37_854 - 701) / 701
#: Views a SkyLink evaluation embeds per image (flip x rot90 test-time augmentation, ``skylink.tta``).
TTA_VIEWS = 4


def evaluation_images(dataset: str, weather_conditions: int = 0) -> int:
    """Images one evaluation embeds on a real target: its distinct test images (query and gallery folders; the
    drone ones once more per weather condition)."""
    counts = (
        {folder: n * len(HEIGHTS) for folder, n in SUES200_PER_HEIGHT.items()}
        if dataset == "sues200"
        else PUBLISHED[dataset]
    )
    drone = counts["query_drone"] + counts["gallery_drone"]
    satellite = counts["query_satellite"] + counts["gallery_satellite"]
    return drone * (1 + weather_conditions) + satellite


def steps_per_epoch(
    dataset: str, samples_per_location: str, batch_size: int, val_fraction: float, task: str = "drone_satellite"
) -> int:
    """Optimiser steps of one epoch on a real source (full batches only, as ``UniqueLocationBatchSampler``); a
    street run's query images are University-1652's street photos (``STREET_PER_LOCATION``)."""
    structure = TRAINING[dataset]
    locations = structure["locations"]
    if val_fraction > 0:
        locations -= max(1, round(val_fraction * locations))
    per_location = {
        "one": 1,
        "cloud_groups": structure["satellites"] * CLOUD_GROUPS,
        "query_images": structure["drones"] if task == "drone_satellite" else STREET_PER_LOCATION,
    }
    per_location["drone_images"] = per_location["query_images"]
    return int(locations * per_location[samples_per_location]) // batch_size


def street_evaluation_images(tta: bool) -> int:
    """Images a SkyLink evaluation embeds on University-1652: street queries and gallery, satellite queries and
    gallery, each once per test-time view."""
    counts = PUBLISHED["university1652"]
    images = sum(counts[f] for f in ("query_street", "gallery_street", "query_satellite", "gallery_satellite"))
    return images * (TTA_VIEWS if tta else 1)


def forward_flops(model: str, image_size: int, model_kwargs: dict) -> int:
    """FLOPs of one image through the model's image encoder, attention included (``geolink.complexity``)."""
    return _forward_flops(model, image_size, json.dumps(model_kwargs, sort_keys=True))


@cache
def _forward_flops(model: str, image_size: int, kwargs_json: str) -> int:  # kwargs as JSON: nested dicts hash
    from geolink.complexity import complexity_report

    return complexity_report(model, img_size=image_size, model_kwargs=json.loads(kwargs_json))["inference"]["flops"]


@dataclass
class RunPlan:
    source: str
    variant: str
    seed: int
    model: str
    image_size: int
    batch_size: int
    epochs: int
    steps: int | None  # None on a synthetic source
    train_hours: float | None
    eval_hours: float | None


def plan_runs(pipeline, tflops: float = DEFAULT_TFLOPS) -> list[RunPlan]:
    """One ``RunPlan`` per training run of the configuration (``Pipeline.train_runs``)."""
    plans = []
    throughput = tflops * 1e12
    for source, variant, seed in pipeline.train_runs:
        settings = pipeline.train_settings(source, variant, seed)
        model, size = settings["model"]["name"], settings["image_size"]
        steps = train_hours = eval_hours = None
        if not pipeline.is_synthetic(source):
            per_epoch = steps_per_epoch(
                source,
                settings["samples_per_location"],
                settings["batch_size"],
                settings["val_fraction"],
                settings["task"],
            )
            steps = per_epoch * settings["epochs"]
            flops = forward_flops(model, size, settings["model"]["kwargs"])
            train_hours = steps * 3 * 2 * settings["batch_size"] * flops / throughput / 3600
            if settings["task"] == "street_satellite":
                images = street_evaluation_images(pipeline.config["skylink"]["tta"])
            else:
                images = sum(
                    evaluation_images(t, len(pipeline.weather_conditions(t, source)))
                    for t in pipeline.datasets
                    if not pipeline.is_synthetic(t)
                )
            eval_hours = images * flops / throughput / 3600
        plans.append(
            RunPlan(
                source,
                variant,
                int(seed),
                model,
                size,
                settings["batch_size"],
                settings["epochs"],
                steps,
                train_hours,
                eval_hours,
            )
        )
    return plans


def summarise(plans: list[RunPlan]) -> list[dict]:
    """One line per variant: its runs, sources, steps per run and the GPU hours of all its runs."""
    lines: dict[str, dict] = {}
    for plan in plans:
        line = lines.setdefault(
            plan.variant,
            {
                "variant": plan.variant,
                "model": plan.model,
                "runs": 0,
                "sources": [],
                "seeds": [],
                "steps": {},
                "train_gpu_h": 0.0,
                "eval_gpu_h": 0.0,
            },
        )
        line["runs"] += 1
        line["sources"] += [plan.source] if plan.source not in line["sources"] else []
        line["seeds"] += [plan.seed] if plan.seed not in line["seeds"] else []
        line["steps"][plan.source] = plan.steps
        line["train_gpu_h"] += plan.train_hours or 0.0
        line["eval_gpu_h"] += plan.eval_hours or 0.0
    return list(lines.values())
