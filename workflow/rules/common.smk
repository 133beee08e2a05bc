# Configuration loading and validation, and the small helpers that turn it into inputs,
# params and targets. Paths live here and in the rules; logic lives in the geolink package.

import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

from geolink.config import ConfigError, validate_config
from geolink.data.errors import HOW_TO_OBTAIN
from geolink.data.weather import CONDITIONS
from geolink.synth import LAYOUT_ROOTS

DATASETS = ["university1652", "sues200", "denseuav"]

try:
    config.update(
        validate_config(
            config,
            source=" + ".join(map(str, workflow.configfiles)) or "the configuration",
            files=list(workflow.configfiles),
        )
    )
except ConfigError as err:
    raise WorkflowError(str(err)) from None


def dataset_config(dataset):
    return config["datasets"][dataset]


def active_datasets():
    return [d for d in DATASETS if dataset_config(d)["activate"]]


def is_synthetic(dataset):
    return dataset_config(dataset)["source"] == "synthetic"


def synthetic_dir(dataset):
    return f"data/synthetic/{dataset}"


def is_acquired(dataset):
    """Whether the workflow obtains the dataset itself (rule acquire) from an archive or a URL."""
    return dataset_config(dataset)["source"] in ("archive", "download", "huggingface")


def acquired_dir(dataset):
    return f"data/raw/{dataset}/extracted"


def released_root(dataset):
    """The dataset folder in its released layout (for SUES-200: the raw, unsplit tree)."""
    if is_synthetic(dataset):
        return f"{synthetic_dir(dataset)}/{LAYOUT_ROOTS[dataset]}"
    if is_acquired(dataset):
        subdir = dataset_config(dataset)["subdir"] or LAYOUT_ROOTS[dataset]
        return f"{acquired_dir(dataset)}/{subdir}"
    return dataset_config(dataset)["root"]


def local_root(dataset):
    """The configured folder of a local dataset; stops with advice when it is missing.

    Checked when a job needs the dataset (input functions run while the DAG is built), so
    `snakemake --lint` and runs with the dataset deactivated never trip over it.
    """
    root = dataset_config(dataset)["root"]
    if not root or not Path(root).is_dir():
        raise WorkflowError(
            f"Dataset '{dataset}' is configured with source: local, but its root folder "
            f"{root!r} does not exist. {HOW_TO_OBTAIN[dataset]} Then set datasets.{dataset}.root "
            f"to the folder, or run the synthetic benchmark instead with "
            f"`snakemake --configfile config/synthetic.yaml`, or set datasets.{dataset}.activate: false."
        )
    return root


def released_input(dataset):
    """Input of the jobs that read the released tree: the synthesis or acquisition output, or the local folder."""
    if is_synthetic(dataset):
        return synthetic_dir(dataset)
    if is_acquired(dataset):
        return acquired_dir(dataset)
    return local_root(dataset)


def acquire_source(wildcards):
    """The source entry geolink.data.acquire.acquire expects, from the dataset's configuration."""
    cfg = dataset_config(wildcards.dataset)
    if cfg["source"] == "huggingface":
        spec = {"repo": cfg["repo"], "revision": cfg["revision"], "files": cfg["files"]}
        return {"dataset": wildcards.dataset, "huggingface": spec}
    key = {"archive": "archive", "download": "url"}[cfg["source"]]
    return {"dataset": wildcards.dataset, key: cfg[key], "sha256": cfg["sha256"]}


def sues200_raw_input(wildcards):
    return released_input("sues200")


def sues200_split_index():
    if is_synthetic("sues200"):
        return f"{synthetic_dir('sues200')}/indexs.yaml"
    return dataset_config("sues200")["split_index"]


def manifest_input(wildcards):
    if wildcards.dataset == "sues200":
        return rules.sues200_split.output.split
    return released_input(wildcards.dataset)


def manifest_root(wildcards):
    if wildcards.dataset == "sues200":
        return str(rules.sues200_split.output.split)
    return released_root(wildcards.dataset)


def manifest_options(wildcards):
    options = {"check_images": config["manifest"]["check_images"]}
    if wildcards.dataset == "sues200":
        options["heights"] = dataset_config("sues200")["heights"]
    return options


def manifest_check_counts(wildcards):
    """How to react to counts that differ from the published release; synthetic trees are never checked."""
    return (
        "off" if is_synthetic(wildcards.dataset) else config["manifest"]["check_counts"]
    )


def synth_options(wildcards):
    return {
        "seed": config["seed"],
        "image_size": config["synth"]["image_size"],
        "geometry_points": config["synth"]["geometry_points"],
        **config["synth"][wildcards.dataset],
    }


def synthetic_datasets():
    return [d for d in active_datasets() if is_synthetic(d)]


def final_outputs():
    targets = expand("results/manifests/{dataset}.parquet", dataset=active_datasets())
    targets += expand(
        "results/manifests/{dataset}_summary.csv", dataset=active_datasets()
    )
    if synthetic_datasets():
        targets.append("results/figures/synthetic_contact_sheet.png")
    targets += expand(
        "results/manifests/weather/{dataset}/{condition}.parquet",
        dataset=weather_datasets(),
        condition=config["weather"]["conditions"],
    )
    targets += expand(
        "results/figures/weather_{dataset}.png", dataset=weather_datasets()
    )
    targets += expand("results/points/{dataset}.npz", dataset=active_datasets())
    targets.append("results/figures/point_clouds.png")
    if train_runs():
        targets.append("results/tables/metrics.csv")
    return targets


def weather_datasets():
    """Active datasets that get frozen weather test sets (none when no condition is configured)."""
    if not config["weather"]["conditions"]:
        return []
    return [d for d in config["weather"]["datasets"] if d in active_datasets()]


def weather_manifests(wildcards):
    return expand(
        "results/manifests/weather/{dataset}/{condition}.parquet",
        dataset=wildcards.dataset,
        condition=config["weather"]["conditions"],
    )


def reconstruct_config(dataset):
    return config["reconstruct"][dataset]


def reconstruct_settings(wildcards):
    """Everything geolink.recon.run.reconstruct_shard needs besides the manifest and paths."""
    dataset = wildcards.dataset
    settings = reconstruct_config(dataset)
    backend = settings["backend"]
    options = dict(config["reconstruct"].get(backend, {}))
    if backend == "geolink3d":
        options = {"geolink3d_root": geolink3d_root(dataset)}
    if backend == "vggt" and fetched_weights("vggt"):
        options["weights"] = fetched_weights("vggt")
    if is_synthetic(dataset):
        options["truth_dir"] = f"{synthetic_dir(dataset)}/geometry"
    return {
        "shard": int(wildcards.shard),
        "n_shards": config["reconstruct"]["n_shards"],
        "backend": backend,
        "grouping": settings["grouping"],
        "groups": settings["groups"],
        "heights": settings["heights"],
        "on_failure": config["reconstruct"]["on_failure"],
        "options": options,
    }


GEOLINK3D_DIR = "data/raw/geolink3d/extracted"


def geolink3d_from_hub():
    return bool(config["reconstruct"]["geolink3d_hub"]["revision"])


def geolink3d_source(wildcards):
    """The source entry geolink.data.acquire.acquire expects for the authors' released clouds."""
    hub = config["reconstruct"]["geolink3d_hub"]
    return {"dataset": "GeoLink-3D", "huggingface": dict(hub)}


def geolink3d_root(dataset):
    root = config["reconstruct"]["geolink3d"].get(dataset)
    if geolink3d_from_hub():
        if not root or Path(root).is_absolute():
            raise WorkflowError(
                f"reconstruct.geolink3d_hub.revision is set, so reconstruct.geolink3d.{dataset} must "
                f"name the folder inside the downloaded repository that holds <ID>_group0..2 "
                f"(a relative path), but it is {root!r}."
            )
        return f"{GEOLINK3D_DIR}/{root}"
    if not root or not Path(root).is_dir():
        raise WorkflowError(
            f"reconstruct.{dataset}.backend is geolink3d, but reconstruct.geolink3d.{dataset} "
            f"({root!r}) is not an existing folder. Download the authors' clouds (Hugging Face "
            f"dataset ZhangHY/GeoLink-3D) and point it at the folder holding <ID>_group0..2."
        )
    return root


def reconstruct_extra_input(wildcards):
    """The released clouds, or the synthetic truth (Chamfer QC, groundtruth backend) and the fetched VGGT weights."""
    dataset = wildcards.dataset
    backend = reconstruct_config(dataset)["backend"]
    if backend == "geolink3d":
        return GEOLINK3D_DIR if geolink3d_from_hub() else geolink3d_root(dataset)
    inputs = [synthetic_dir(dataset)] if is_synthetic(dataset) else []
    if backend == "vggt" and fetched_weights("vggt"):
        inputs.append("data/weights/vggt")
    return inputs


def reconstruct_gpus(wildcards):
    return 1 if reconstruct_config(wildcards.dataset)["backend"] == "vggt" else 0


def reconstruct_env(wildcards):
    backend = reconstruct_config(wildcards.dataset)["backend"]
    return "../../envs/vggt.yaml" if backend == "vggt" else "../../envs/recon.yaml"


def reconstruct_shards(wildcards):
    return expand(
        "results/recon/{dataset}/shard{shard}",
        dataset=wildcards.dataset,
        shard=range(config["reconstruct"]["n_shards"]),
    )


def all_reconstruct_shards(wildcards):
    return expand(
        "results/recon/{dataset}/shard{shard}",
        dataset=active_datasets(),
        shard=range(config["reconstruct"]["n_shards"]),
    )


def train_runs():
    """(source, variant, seed) of every training run."""
    sources = [s for s in config["train"]["sources"] if s in active_datasets()]
    return [
        (source, variant, seed)
        for source in sources
        for variant in config["train"]["variants"]
        for seed in config["train"]["seeds"]
    ]


def fetched_weights(checkpoint):
    """The weight file rule weights downloads for `checkpoint`, or None when it is not pinned."""
    spec = config["weights"][checkpoint]
    return f"data/weights/{checkpoint}/{spec['file']}" if spec["revision"] else None


def variant_train_config(wildcards):
    """The train section with the variant's overrides merged in, and the run's seed.

    A pretrained model without its own weights_path gets the DINOv2 file of rule weights when
    weights.dinov2 is pinned (otherwise the model reads the local Hugging Face cache).
    """
    from geolink.config import merge

    overrides = config["train"]["variants"][wildcards.variant]
    train_config = merge(config["train"], overrides) | {"run_seed": int(wildcards.seed)}
    kwargs = train_config["model"]["kwargs"]
    if (
        kwargs.get("pretrained")
        and not kwargs.get("weights_path")
        and fetched_weights("dinov2")
    ):
        train_config = merge(
            train_config,
            {"model": {"kwargs": {"weights_path": fetched_weights("dinov2")}}},
        )
    return train_config


def train_weights_input(wildcards):
    weights_path = variant_train_config(wildcards)["model"]["kwargs"].get(
        "weights_path"
    )
    if weights_path and weights_path == fetched_weights("dinov2"):
        return "data/weights/dinov2"
    return []


def selection_input(wildcards):
    """The target manifest, only when checkpoints are chosen on a target test set (labelled option)."""
    train_config = variant_train_config(wildcards)
    if train_config["selection"] != "target_test":
        return []
    target = train_config["selection_target"]
    if not target:
        raise WorkflowError(
            "train.selection is target_test: set train.selection_target to a dataset name."
        )
    return f"results/manifests/{target}.parquet"


def evaluate_checkpoint(wildcards):
    name = config["evaluate"]["checkpoint"]
    return f"results/checkpoints/{wildcards.source}__{wildcards.variant}__s{wildcards.seed}/{name}.pt"


def all_metrics(wildcards):
    return [
        f"results/metrics/{source}__{variant}__s{seed}/{target}.json"
        for source, variant, seed in train_runs()
        for target in active_datasets()
    ]
