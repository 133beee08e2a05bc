"""The ``geolink`` command: the pipeline's stages one at a time, outside Snakemake.

Snakemake runs the same package functions through its rules; this command is for trying a stage
by hand, scripting, and debugging. Every failure a user can cause (a bad configuration value, a
missing dataset folder, an unreadable image) ends with a one-paragraph message and exit status
2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from geolink import __version__
from geolink.config import ConfigError, load_config, validate_config
from geolink.data.errors import DatasetError
from geolink.recon.result import ReconstructionError

DATASETS = ("university1652", "sues200", "denseuav")


def _config(args: argparse.Namespace) -> dict:
    return load_config(*args.config) if args.config else validate_config({}, source="the built-in defaults")


def cmd_synth(args: argparse.Namespace) -> None:
    from geolink.synth import generate

    config = _config(args)
    synth = config["synth"]
    for dataset in args.dataset or DATASETS:
        out = Path(args.out_dir) / dataset
        options = {
            "seed": config["seed"],
            "image_size": synth["image_size"],
            "geometry_points": synth["geometry_points"],
        }
        records = generate(dataset, out, workers=args.workers, **options, **synth[dataset])
        print(f"{dataset}: {len(records)} locations written to {out}")


def cmd_split_sues200(args: argparse.Namespace) -> None:
    from geolink.data.sues200 import HEIGHTS, read_sues200_split_index, split_sues200

    train_ids = read_sues200_split_index(args.split_index) if args.split_index else None
    counts = split_sues200(
        args.raw_root, args.out, train_ids=train_ids, heights=args.heights or HEIGHTS, link=args.link
    )
    print(f"SUES-200 split written to {args.out}: {counts}")


def cmd_manifest(args: argparse.Namespace) -> None:
    from geolink.data.manifest import read_manifest, summarize_manifest, write_manifest

    kwargs = {"heights": args.heights} if args.heights and args.dataset == "sues200" else {}
    manifest = read_manifest(args.dataset, args.root, check_images=args.check_images, **kwargs)
    if args.out:
        write_manifest(manifest, args.out)
    print(summarize_manifest(manifest).to_string(index=False))
    print(f"{len(manifest)} images" + (f", written to {args.out}" if args.out else ""))


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from geolink.data.manifest import load_manifest
    from geolink.recon.run import reconstruct_shard

    options = {"threads": args.threads}
    if args.truth_dir:
        options["truth_dir"] = args.truth_dir
    if args.geolink3d_root:
        options["geolink3d_root"] = args.geolink3d_root
    if args.weights:
        options["weights"] = args.weights
    qc = reconstruct_shard(
        load_manifest(args.manifest),
        args.dataset,
        args.out,
        shard=args.shard,
        n_shards=args.n_shards,
        backend=args.backend,
        grouping=args.grouping,
        groups=args.groups,
        heights=args.heights,
        locations=args.locations,
        on_failure=args.on_failure,
        options=options,
    )
    print(qc.to_string(index=False))


def cmd_points(args: argparse.Namespace) -> None:
    from geolink.recon.collect import collect_point_bank

    qc = collect_point_bank(
        args.shards, args.bank, args.qc, n_points=args.n_points, n_draws=args.n_draws, seed=args.seed
    )
    print(f"{int(qc['in_bank'].sum())} of {len(qc)} clouds sampled into {args.bank}; QC table {args.qc}")


def cmd_train(args: argparse.Namespace) -> None:
    from geolink.train import train

    config = _config(args)
    if args.model:
        config["train"]["model"] = {"name": args.model, "kwargs": config["train"]["model"]["kwargs"]}
    for key in ("epochs", "batch_size", "image_size"):
        if getattr(args, key) is not None:
            config["train"][key] = getattr(args, key)
    summary = train(
        config,
        args.manifest,
        args.bank,
        args.out,
        args.logs or f"{args.out}/dvclive",
        resume=args.resume,
        device=args.device,
    )
    print(json.dumps(summary, indent=2))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from geolink.atomic import atomic_output
    from geolink.data.manifest import load_manifest
    from geolink.evaluation.run import evaluate_checkpoint
    from geolink.report import to_markdown
    from geolink.train import select_device

    records, _ = evaluate_checkpoint(
        args.checkpoint,
        load_manifest(args.manifest),
        directions=args.directions,
        protocol=args.protocol,
        batch_size=args.batch_size,
        device=select_device(args.device),
    )
    if args.out:
        with atomic_output(args.out) as tmp:
            tmp.write_text(
                json.dumps({"run": {"checkpoint": args.checkpoint}, "records": records}, indent=2, default=float)
            )
    import pandas as pd

    table = pd.DataFrame(records)
    print(
        to_markdown(
            table[[c for c in ("target", "direction", "height", "R@1", "R@5", "R@10", "R@top1%", "AP") if c in table]]
        )
    )


def cmd_complexity(args: argparse.Namespace) -> None:
    from geolink.complexity import complexity_report

    print(json.dumps(complexity_report(args.model, img_size=args.image_size), indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geolink",
        description=(
            "GeoLink pipeline stages, one at a time. The full pipeline runs through Snakemake: "
            "`snakemake --configfile config/synthetic.yaml` (CPU benchmark) or `snakemake` (paper)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"geolink {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = sub.add_parser(
        "synth",
        help="render the synthetic benchmark in the real datasets' layouts",
        description=(
            "Render synthetic towns into University-1652, SUES-200 (raw) and DenseUAV trees, each from its "
            "own visual domain, with every location's true point cloud and drone poses under geometry/. "
            "Sizes come from the `synth` section of the configuration (docs/synthetic.md)."
        ),
    )
    synth.add_argument(
        "--config",
        nargs="+",
        metavar="FILE",
        help="configuration files merged left to right, e.g. config/config.yaml config/synthetic.yaml "
        "(default: the schema's defaults, which are the synthetic benchmark's)",
    )
    synth.add_argument("--dataset", nargs="+", choices=DATASETS, help="datasets to render (default: all three)")
    synth.add_argument(
        "--out-dir", default="data/synthetic", help="parent folder; each dataset goes to OUT_DIR/<dataset>"
    )
    synth.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes rendering locations in parallel (output does not depend on it)",
    )
    synth.set_defaults(func=cmd_synth)

    split = sub.add_parser(
        "split-sues200",
        help="build SUES-200's per-height Training/ and Testing/ folders from the raw release",
        description=(
            "Reproduce the SUES-200 benchmark's split_datasets.py: per height, Training/ holds the training IDs "
            "and Testing/ the query IDs, with galleries of all locations. Built in a temporary folder and "
            "renamed into place, so OUT is never half-made."
        ),
    )
    split.add_argument("raw_root", help="the raw SUES-200-512x512 folder with drone_view_512/ and satellite-view/")
    split.add_argument("out", help="folder to create (must not exist)")
    split.add_argument("--split-index", help="indexs.yaml listing training IDs (default: the official 120/80 split)")
    split.add_argument(
        "--heights", nargs="+", type=int, choices=(150, 200, 250, 300), help="heights to keep (default: all four)"
    )
    split.add_argument(
        "--link", choices=("copy", "hardlink", "symlink"), default="copy", help="how split folders refer to raw images"
    )
    split.set_defaults(func=cmd_split_sues200)

    manifest = sub.add_parser(
        "manifest",
        help="index a dataset tree into a manifest table and print its counts",
        description=(
            "Read a dataset in its released layout (for SUES-200: the split folder) into one table with a row "
            "per image: dataset, split, role, view, location, altitude, folder, path, lon, lat."
        ),
    )
    manifest.add_argument("dataset", choices=DATASETS)
    manifest.add_argument("root", help="University-Release/, the SUES-200 split folder, or DenseUAV/")
    manifest.add_argument("--out", help="write the manifest to this .parquet file")
    manifest.add_argument(
        "--check-images",
        choices=("none", "header", "decode"),
        default="header",
        help="how hard to check that each image is readable (default: header)",
    )
    manifest.add_argument("--heights", nargs="+", type=int, help="SUES-200 heights to read (default: all four)")
    manifest.set_defaults(func=cmd_manifest)

    recon = sub.add_parser(
        "reconstruct",
        help="build training point clouds for one shard of a dataset's locations",
        description=(
            "Split each training location's drone images into view groups and reconstruct one cloud per group, "
            "writing <OUT>/<ID>_group<k>/points3D.txt (COLMAP text) and <OUT>/qc.csv. Resumable: rerunning after "
            "a crash redoes only missing locations. Use --locations to redo single locations into a new folder."
        ),
    )
    recon.add_argument("dataset", choices=DATASETS)
    recon.add_argument("manifest", help="the dataset's manifest (.parquet, from `geolink manifest --out`)")
    recon.add_argument("out", help="shard folder to create")
    recon.add_argument(
        "--backend",
        choices=("groundtruth", "colmap", "vggt", "geolink3d"),
        default="groundtruth",
        help="vggt needs a GPU and the vggt package; colmap runs on CPU; groundtruth needs synthetic data",
    )
    recon.add_argument(
        "--grouping",
        choices=("sequence", "interleaved", "all"),
        default="sequence",
        help="how drone images are split into view groups (docs/points.md)",
    )
    recon.add_argument("--groups", type=int, default=3, help="clouds per location (default 3)")
    recon.add_argument("--heights", nargs="+", type=int, help="use only drone images at these heights (SUES-200)")
    recon.add_argument("--shard", type=int, default=0, help="which shard (default 0)")
    recon.add_argument("--n-shards", type=int, default=1, help="number of shards (default 1: every location)")
    recon.add_argument("--locations", nargs="+", help="only these location IDs")
    recon.add_argument(
        "--on-failure",
        choices=("skip", "stop"),
        default="skip",
        help="skip: record a failed location in qc.csv and go on; stop: end with an error",
    )
    recon.add_argument("--truth-dir", help="synthetic geometry/ folder (groundtruth backend, Chamfer QC)")
    recon.add_argument("--geolink3d-root", help="folder with the released <ID>_group<k> folders (geolink3d backend)")
    recon.add_argument("--weights", help="VGGT weights: Hugging Face id or model.pt path")
    recon.add_argument("--threads", type=int, default=2, help="CPU threads for colmap (default 2)")
    recon.set_defaults(func=cmd_reconstruct)

    points = sub.add_parser(
        "points",
        help="sample reconstructed clouds into the point bank training reads",
        description="Farthest-point-sample every cloud of the given shard folders (once, not per training step).",
    )
    points.add_argument("shards", nargs="+", help="shard folders written by `geolink reconstruct`")
    points.add_argument("--bank", required=True, help="point bank to write (.npz)")
    points.add_argument("--qc", required=True, help="merged QC table to write (.csv)")
    points.add_argument("--n-points", type=int, default=1024, help="points per sample (default 1024)")
    points.add_argument("--n-draws", type=int, default=4, help="FPS draws per cloud (default 4)")
    points.add_argument("--seed", type=int, default=0)
    points.set_defaults(func=cmd_points)

    train = sub.add_parser(
        "train",
        help="train one run (source dataset) and write last.pt / best.pt checkpoints",
        description=(
            "Train the model of the `train` config section on one source dataset: AdamW with cosine decay, the "
            "losses of eq. 15, a trained vCLUB estimator, validation Recall@1 on held-out source locations after "
            "every epoch (best.pt), dvclive logs. --resume continues bit-identically from OUT/last.pt on CPU."
        ),
    )
    train.add_argument("--config", nargs="+", metavar="FILE", help="configuration files merged left to right")
    train.add_argument("--manifest", required=True, help="the source dataset's manifest (.parquet)")
    train.add_argument("--bank", help="the source dataset's point bank (.npz); needed by models with a 3D branch")
    train.add_argument("--out", required=True, help="checkpoint folder")
    train.add_argument("--logs", help="dvclive folder (default OUT/dvclive)")
    train.add_argument("--model", help="registered model name, overriding the config (e.g. geolink_tiny)")
    train.add_argument("--epochs", type=int, help="override train.epochs")
    train.add_argument("--batch-size", dest="batch_size", type=int, help="override train.batch_size")
    train.add_argument("--image-size", dest="image_size", type=int, help="override train.image_size")
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    train.add_argument(
        "--selection-manifest",
        help="OFFICIAL-CODE OPTION: choose best.pt on this target manifest's test set instead of held-out source "
        "locations (leaks the test set into model selection; for comparison with the official numbers only)",
    )
    train.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda:N")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="retrieval metrics of a checkpoint on a dataset's test set, both directions",
        description=(
            "Rebuild the model from CHECKPOINT alone and evaluate it with the 2D-only path on the test split of the "
            "dataset in MANIFEST: Recall@1/5/10, Recall@top1% (and the reference code's off-by-one value, labelled "
            "legacy), AP; SUES-200 per height and their mean; DenseUAV SDM@K."
        ),
    )
    evaluate.add_argument("checkpoint", help="best.pt or last.pt written by `geolink train`")
    evaluate.add_argument("manifest", help="the target dataset's manifest (.parquet)")
    evaluate.add_argument("--out", help="write the metrics JSON here")
    evaluate.add_argument(
        "--directions",
        nargs="+",
        choices=("drone_to_satellite", "satellite_to_drone"),
        default=["drone_to_satellite", "satellite_to_drone"],
    )
    evaluate.add_argument(
        "--protocol",
        choices=("official", "sample4geo"),
        default="official",
        help="sample4geo junks gallery items whose label has no query (default official)",
    )
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(func=cmd_evaluate)

    complexity = sub.add_parser(
        "complexity",
        help="parameters and FLOPs of a registered model (paper Table 6)",
        description=(
            "Total and trainable parameters, the thop-style count the paper reports, and FLOPs and MACs "
            "of the inference path."
        ),
    )
    complexity.add_argument("--model", default="geolink_dinov2_base", help="registered model name")
    complexity.add_argument("--image-size", type=int, default=448)
    complexity.set_defaults(func=cmd_complexity)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        args.func(args)
    except (ConfigError, DatasetError, ReconstructionError) as err:
        print(f"geolink {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # unwritable output folder, full disk, vanished file: the OS names the path
        print(f"geolink {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"geolink {args.command}: interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
