"""The ``geolink`` command: the pipeline's stages one at a time, outside Snakemake.

Snakemake runs the same package functions through its rules; this command is for trying a stage
by hand, scripting, and debugging. Every failure a user can cause (a bad configuration value, a
missing dataset folder, an unreadable image) ends with a one-paragraph message and exit status
2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from geolink import __version__
from geolink.config import ConfigError, load_config, validate_config
from geolink.data.errors import DatasetError

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        args.func(args)
    except (ConfigError, DatasetError) as err:
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
