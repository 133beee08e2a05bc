"""The ``geolink`` command: one job of the pipeline at a time, resolved exactly as the workflow resolves it.

Every stage command loads the configuration the way ``snakemake --configfile`` does (``config/config.yaml``, then
the ``--configfile`` files), builds the same :class:`geolink.pipeline.Pipeline`, and runs the job of the rule
with the same settings, reading and writing the same files under ``results/<name>/`` and ``data/<name>/``
(options override the paths). ``geolink train --configfile config/synthetic.yaml --source sues200`` trains what
rule ``train`` trains for ``sues200__geolink__s0``. Run it from the repository root.

Every failure a user can cause (a bad configuration value, a missing dataset folder, an unreadable image) ends
with a one-paragraph message and exit status 2, never a traceback.

No command overwrites or deletes an existing output (``geolink dvc``, whose file is generated, excepted): each
refuses one before any work, and checks that its output folders are writable, so nothing computed is lost to a
clash found at the end. A command's own unfinished work (``OUT.partial``) is resumed, not refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from geolink import __version__
from geolink.atomic import check_writable, refuse_existing
from geolink.config import ConfigError
from geolink.data.manifest import DATASETS
from geolink.errors import UserError, user_message
from geolink.pipeline import Pipeline, run_name
from geolink.rule_runner import exit_on_sigterm


def _pipeline(args: argparse.Namespace) -> Pipeline:
    return Pipeline.from_files(args.configfile)


def _run(args: argparse.Namespace) -> tuple[Pipeline, str]:
    """The pipeline and the name of the training run ``--source/--variant/--seed`` pick (default: the first
    variant and seed of the configuration)."""
    pipeline = _pipeline(args)
    train = pipeline.config["train"]
    if args.variant is None:
        args.variant = next(iter(train["variants"]), "")
    if args.seed is None:
        args.seed = train["seeds"][0] if train["seeds"] else 0
    if (args.source, args.variant, args.seed) not in pipeline.train_runs:
        known = ", ".join(pipeline.run_names) or "none (train.sources has no active dataset)"
        raise ConfigError(
            f"{run_name(args.source, args.variant, args.seed)} is not a training run of configuration "
            f"'{pipeline.name}' (train.sources, train.variants, train.seeds). Its runs: {known}."
        )
    return pipeline, run_name(args.source, args.variant, args.seed)


def _claim_outputs(outputs: list[tuple[str | Path, str]], extra: str = "") -> None:
    """Before any work, refuse an output that exists and an output folder that cannot be written.

    A command never overwrites: an existing output may be someone's only copy, and a command cannot prove it is
    its own (the workflow's rules never meet this, since Snakemake removes a job's old outputs itself).
    ``outputs`` pairs each output path with the option that picks another one, named in the message.
    """
    for path, option in outputs:
        refuse_existing([path], option, extra)
    check_writable(path for path, _ in outputs)


def _require_inputs(paths: list[str | Path], args: argparse.Namespace) -> None:
    """Refuse to start without an input the workflow builds, and say which target builds it."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        configs = " ".join(args.configfile or [])
        raise UserError(
            f"input {missing[0]} does not exist"
            + (f" (nor {len(missing) - 1} more: {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + f"; build it first: snakemake {' '.join(missing)}"
            + (f" --configfile {configs}" if configs else "")
        )


def cmd_config(args: argparse.Namespace) -> None:
    config = _pipeline(args).config
    for part in args.key.split(".") if args.key else []:
        if not isinstance(config, dict) or part not in config:
            raise ConfigError(f"the configuration has no key {args.key!r}; `geolink config` prints all of them.")
        config = config[part]
    print(yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100).rstrip())


def cmd_synth(args: argparse.Namespace) -> None:
    from geolink.synth import generate

    pipeline = _pipeline(args)
    datasets = args.dataset or pipeline.synthetic_datasets
    outs = {d: Path(args.out_dir) / d if args.out_dir else Path(pipeline.layout.synthetic_tree(d)) for d in datasets}
    # All datasets are checked before the first is rendered; a finished one stands in the way of a rerun of the
    # whole command, so the message says how to render only the others.
    _claim_outputs([(out, "--out-dir") for out in outs.values()], ", or leave that dataset out of --dataset")
    for dataset, out in outs.items():
        records = generate(dataset, out, workers=args.workers, **pipeline.synth_settings(dataset))
        print(f"{dataset}: {len(records)} locations written to {out}")


def cmd_split_sues200(args: argparse.Namespace) -> None:
    from geolink.data.sues200 import split_sues200

    pipeline = _pipeline(args)
    out = args.out or pipeline.layout.sues200_split()
    _claim_outputs([(out, "--out")])
    counts = split_sues200(out_root=out, **pipeline.sues200_split_settings())
    print(f"SUES-200 split written to {out}: {counts}")


def cmd_manifest(args: argparse.Namespace) -> None:
    from geolink.data.index import index_dataset
    from geolink.data.manifest import summarize_manifest

    pipeline = _pipeline(args)
    settings = pipeline.manifest_settings(args.dataset)
    out = Path(args.out or pipeline.layout.manifest(args.dataset))
    summary = out.with_name(f"{out.stem}_summary.csv") if args.out else pipeline.layout.manifest_summary(args.dataset)
    _claim_outputs([(out, "--out"), (summary, "--out (the summary goes beside it)")])
    manifest = index_dataset(
        args.dataset, args.root or settings["root"], settings["options"], settings["check_counts"], out, summary
    )
    print(summarize_manifest(manifest).to_string(index=False))
    print(f"{len(manifest)} images, written to {out}")


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from geolink.data.manifest import load_manifest
    from geolink.recon.run import reconstruct_shard

    pipeline = _pipeline(args)
    layout = pipeline.layout
    settings = pipeline.reconstruct_settings(args.dataset, args.shard)
    settings["options"] = {**settings["options"], "threads": args.threads}
    out = args.out or layout.recon_shard(args.dataset, args.shard)
    # Its own unfinished work (OUT.partial) is not in the way: reconstruct_shard resumes it.
    _claim_outputs([(out, "--out")])
    manifest = load_manifest(args.manifest or layout.manifest(args.dataset))
    qc = reconstruct_shard(manifest, args.dataset, out, locations=args.locations, **settings)
    print(qc.to_string(index=False))


def cmd_points(args: argparse.Namespace) -> None:
    from geolink.recon.collect import collect_point_bank

    pipeline = _pipeline(args)
    bank = args.bank or pipeline.layout.point_bank(args.dataset)
    beside_bank = str(Path(bank).with_name(f"{Path(bank).stem}_qc.csv"))
    qc_path = args.qc or (beside_bank if args.bank else pipeline.layout.point_qc(args.dataset))
    shards = args.shards or pipeline.recon_shards(args.dataset)
    _claim_outputs([(bank, "--bank"), (qc_path, "--qc")])
    qc = collect_point_bank(shards, bank, qc_path, **pipeline.points_settings())
    print(f"{int(qc['in_bank'].sum())} of {len(qc)} clouds sampled into {bank}; QC table {qc_path}")


def train_job(args: argparse.Namespace) -> dict:
    """Everything ``geolink train`` passes to ``geolink.train.train``: the rule's settings and files."""
    pipeline, run = _run(args)
    layout = pipeline.layout
    return {
        "settings": pipeline.train_settings(args.source, args.variant, args.seed),
        "manifest_path": layout.manifest(args.source),
        "bank_path": layout.point_bank(args.source),
        "checkpoint_dir": args.out or layout.checkpoint_dir(run),
        "log_dir": args.logs or (f"{args.out}/dvclive" if args.out else layout.train_logs(run)),
        "selection_manifest_path": pipeline.selection_manifest(args.source, args.variant, args.seed),
    }


def cmd_train(args: argparse.Namespace) -> None:
    job = train_job(args)
    if args.show:
        print(json.dumps(job, indent=2))
        return
    from geolink.train import train

    compute = _pipeline(args).compute_settings()
    device = args.device or compute["device"]
    print(json.dumps(train(**job, device=device, precision=compute["precision"]), indent=2))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from geolink.evaluation.run import evaluate_to_file
    from geolink.report import to_markdown

    pipeline, run = _run(args)
    layout = pipeline.layout
    settings = pipeline.evaluate_settings(args.source, args.variant)
    settings.pop("targets")
    weather = pipeline.weather_manifests(args.target, args.source, args.variant)
    checkpoint = args.checkpoint or pipeline.evaluate_checkpoint(args.source, args.variant, args.seed)
    out = args.out or layout.metrics(run, args.target)
    _claim_outputs([(out, "--out")])
    _require_inputs([checkpoint, layout.manifest(args.target), *weather.values()], args)
    identity = {"source": args.source, "variant": args.variant, "seed": int(args.seed)}
    if args.device:
        settings["device"] = args.device
    records = evaluate_to_file(checkpoint, layout.manifest(args.target), out, run=identity, weather=weather, **settings)
    import pandas as pd

    table = pd.DataFrame(records)
    columns = ("target", "condition", "direction", "height", "R@1", "R@5", "R@10", "R@top1%", "AP")
    columns = [c for c in columns if c in table]
    print(to_markdown(table[columns]))
    print(f"written to {out}")


def cmd_answer(args: argparse.Namespace) -> None:
    from geolink.challenge import write_challenge_answer

    pipeline = _pipeline(args)
    settings = pipeline.challenge_answer_settings()
    checkpoint = args.checkpoint
    if checkpoint is None:
        if pipeline.challenge_run is None:
            raise UserError(
                f"no --checkpoint given and the configuration does not train skylink.answer.variant "
                f"({pipeline.config['skylink']['answer']['variant']!r}) on university1652; give --checkpoint."
            )
        checkpoint = pipeline.challenge_answer_input()["checkpoint"]
    out = args.out or str(Path(pipeline.layout.challenge("answer.txt")).parent)
    if args.rerank and settings["rerank"] is None:  # --rerank with the configuration's k1, k2 and lambda
        configured = pipeline.config["skylink"]["answer"]["rerank"]
        settings["rerank"] = {key: configured[key] for key in ("k1", "k2", "lambda")}
    _require_inputs([checkpoint], args)
    summary = write_challenge_answer(
        checkpoint,
        args.queries or settings["query_dir"],
        args.gallery or settings["gallery_dir"],
        out,
        query_list=args.query_list or settings["query_list"],
        top_k=args.top_k or settings["top_k"],
        tta=settings["tta"] and not args.no_tta,
        rerank=settings["rerank"],
        device=args.device or settings["device"],
        precision=settings["precision"],
        batch_size=settings["batch_size"],
    )
    print(json.dumps(summary, indent=2))
    print(f"written to {out}/answer.txt and {out}/answer.zip (submit the zip)")


def cmd_plan(args: argparse.Namespace) -> None:
    from geolink.plan import plan_runs, summarise
    from geolink.report import to_markdown

    pipeline = _pipeline(args)
    plans = plan_runs(pipeline, tflops=args.tflops)
    if args.json:
        print(json.dumps([vars(p) for p in plans], indent=2))
        return
    import pandas as pd

    lines = summarise(plans)
    for line in lines:
        line["sources"] = ", ".join(line["sources"])
        line["seeds"] = ", ".join(map(str, line["seeds"]))
        line["steps"] = ", ".join(
            f"{s}: {n:,}" if n is not None else f"{s}: synthetic" for s, n in line["steps"].items()
        )
    weather = pipeline.weather_datasets
    conditions = f", and {', '.join(pipeline.conditions)} on {', '.join(weather)}" if weather else ""
    print(
        f"Configuration '{pipeline.name}': {len(plans)} training runs, each evaluated on "
        f"{', '.join(pipeline.datasets)} (clean{conditions})."
    )
    print(to_markdown(pd.DataFrame(lines)))
    train = sum(p.train_hours or 0 for p in plans)
    evaluate = sum(p.eval_hours or 0 for p in plans)
    if any(p.steps is not None for p in plans):
        print(
            f"Estimated GPU time: {train:,.0f} h training + {evaluate:,.0f} h evaluation = {train + evaluate:,.0f} h "
            f"at {args.tflops:g} TFLOP/s sustained (a model of the FLOPs, not a measurement: geolink/plan.py). "
            "Reconstruction (VGGT) is not included. snakemake -n lists every job."
        )


def cmd_complexity(args: argparse.Namespace) -> None:
    from geolink.complexity import complexity_report

    train = _pipeline(args).config["train"]
    report = complexity_report(args.model or train["model"]["name"], img_size=args.image_size or train["image_size"])
    print(json.dumps(report if args.json else report["headline"], indent=2, default=str))


def cmd_doctor(args: argparse.Namespace) -> int:
    from geolink.device import cuda_status
    from geolink.doctor import FAIL, format_table, run_checks, stages_here

    pipeline = _pipeline(args)
    status = cuda_status()
    checks = run_checks(pipeline, status=status)
    print(format_table(checks))
    print()
    print(stages_here(pipeline, checks, status))
    return 1 if any(c.status == FAIL for c in checks) else 0


def cmd_report(args: argparse.Namespace) -> None:
    import os
    import shutil
    import subprocess

    pipeline = _pipeline(args)
    out = Path(args.output or pipeline.layout.report())
    products = [Path(p) for p in pipeline.final_targets()]
    configs = f" --configfile {' '.join(args.configfile)}" if args.configfile else ""
    missing = [str(p) for p in products if not p.exists()]
    if missing:
        raise UserError(
            f"{len(missing)} product(s) of configuration '{pipeline.name}' do not exist yet (first: {missing[0]}); "
            f"the report shows what the workflow made, so build it first: snakemake{configs}"
        )
    newest = max(p.stat().st_mtime for p in products)
    if out.is_file() and out.stat().st_mtime >= newest and not args.force:
        print(f"{out} is up to date (newer than every product of configuration '{pipeline.name}').")
        return
    # Snakemake from this environment (its own dependencies), else the one on PATH.
    local = Path(sys.executable).with_name("snakemake")
    snakemake = str(local) if local.exists() else shutil.which("snakemake")
    if snakemake is None:
        raise UserError("snakemake is not installed in this environment; install geolink with `make install`")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.stem + ".partial.html")  # --report picks the format from the suffix
    command = [snakemake, "--report", str(partial), *(["--configfile", *args.configfile] if args.configfile else [])]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise UserError(f"`{' '.join(command)}` failed:\n{(result.stderr or result.stdout).strip()[-2000:]}")
    os.replace(partial, out)
    print(f"Wrote {out}: every table and figure of configuration '{pipeline.name}' with its caption.")


def cmd_dvc(args: argparse.Namespace) -> int:
    import difflib

    from geolink.pipeline.dvc import generate, regenerate_command

    configfiles = [Path(f).as_posix() for f in args.configfile]
    text = generate(configfiles, args.output)
    output = Path(args.output)
    if not args.check:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"Wrote {output} ({len(yaml.safe_load(text)['stages'])} stages).")
        return 0
    current = output.read_text() if output.is_file() else None
    if current == text:
        print(f"{output} is up to date.")
        return 0
    state = "does not exist" if current is None else "is stale"
    print(f"{output} {state}: run {regenerate_command(configfiles, args.output)}", file=sys.stderr)
    if current is not None:
        diff = difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(output), "generated")
        sys.stderr.writelines(diff)
    return 1


def cmd_export_onnx(args: argparse.Namespace) -> None:
    from geolink.locate.encoders import export_onnx

    _claim_outputs([(args.out, "--out")])
    summary = export_onnx(args.checkpoint, args.out)
    print(
        f"Wrote {args.out}: the 2D encoder of {args.checkpoint} ({summary['model_name']}, {summary['image_size']} px "
        f"input, {summary['dim']}-d descriptors); onnxruntime and torch agree to cosine {summary['min_cosine']:.6f}."
    )


def cmd_index(args: argparse.Namespace) -> None:
    from geolink.locate.encoders import open_encoder
    from geolink.locate.index import build_index
    from geolink.locate.maps import open_map

    # Its own unfinished build (OUT.partial) is not in the way: build_index resumes it.
    _claim_outputs([(args.out, "--out")])
    source = open_map(args.map, args.footprint, args.overlap)
    encoder = open_encoder(args.checkpoint, args.onnx, args.device)
    meta = build_index(source, encoder, args.out, chunk=args.chunk)
    print(
        f"Indexed {meta['n_tiles']} tiles of {args.map} ({args.footprint:g} m, overlap {args.overlap:g}, "
        f"{meta['dim']}-d descriptors by {encoder.description}) into {args.out}"
    )


def cmd_locate(args: argparse.Namespace) -> None:
    from geolink.locate.encoders import open_encoder
    from geolink.locate.index import TileIndex
    from geolink.locate.page import write_page
    from geolink.locate.search import collect_photos, error_summary, format_answer, locate_photos, write_answers

    _claim_outputs([(args.out, "--out")])
    index = TileIndex(args.index)
    photos = collect_photos(args.images)
    encoder = open_encoder(args.checkpoint, args.onnx, args.device)
    answers = locate_photos(photos, index, encoder, k=args.top_k, radius_m=args.radius)
    context = {"index": str(Path(args.index).absolute()), "encoder": encoder.description, "top_k": args.top_k}
    paths = write_answers(answers, args.out, context)
    if not args.no_html:
        paths["html"] = write_page(answers, index, Path(args.out) / "answers.html")
    for answer in answers[: args.print_max]:
        print(format_answer(answer))
    if len(answers) > args.print_max:
        print(f"... and {len(answers) - args.print_max} more (all in {paths['csv']})")
    summary = error_summary(answers)
    unturned = sum(a["heading"] is None for a in answers) if encoder.identity.north_up else 0
    if unturned:
        print(
            f"{unturned} of {len(answers)} photos record no heading (EXIF GPSImgDirection or DJI's XMP "
            "GimbalYawDegree), so they were used as taken; this encoder was tuned on north-up photos and may place "
            "them worse."
        )
    if summary["n_with_gps"]:
        print(
            f"{summary['n_with_gps']} of {summary['n_photos']} photos carry EXIF GPS: median error "
            f"{summary['median_m']:.1f} m, 90th percentile {summary['p90_m']:.1f} m, within 25 m "
            f"{100 * summary['within_25m']:.0f} %, within 50 m {100 * summary['within_50m']:.0f} %"
        )
    print("Wrote " + ", ".join(str(p) for p in paths.values()))


def cmd_tune(args: argparse.Namespace) -> None:
    from geolink.locate.tune import tune

    _claim_outputs([(args.out, "--out")])
    summary = tune(
        args.checkpoint,
        [(m, [p]) for m, p in args.area],
        args.footprint,
        args.out,
        jitter=args.jitter,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
    )
    for area in summary["areas"]:
        skipped = ", ".join(
            f"{n} {why.replace('_', ' ')}" for why in ("no_gps", "no_heading", "off_map") if (n := area[why])
        )
        print(
            f"{area['map']}: {area['pairs']} pairs of {area['photos']} photos"
            + (f" (left out: {skipped})" if skipped else "")
        )
    print(
        f"Tuned {args.checkpoint} on {summary['pairs']} pairs for {summary['steps']} steps in "
        f"{summary['seconds']:.0f} s "
        f"(InfoNCE {summary['loss_first']:.3f} -> {summary['loss_last']:.3f}); wrote {args.out}, which expects "
        "north-up photos (geolink locate turns them by their EXIF heading)."
    )


def _positive_int(text: str) -> int:
    """argparse type of counts and sizes: a value below 1 is refused with a usage message, not a traceback later."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number (1 or more)")
    return value


def _count(text: str) -> int:
    """argparse type of a count that may be 0."""
    if text.strip() == "0":
        return 0
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 or more)") from None


def _add_configfile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--configfile",
        nargs="+",
        default=[],
        metavar="FILE",
        help="configuration files merged on top of config/config.yaml, as `snakemake --configfile` takes them "
        "(e.g. config/synthetic.yaml; default: config/config.yaml alone, the paper)",
    )


def _add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, choices=DATASETS, help="the training run's source dataset")
    parser.add_argument("--variant", help="the run's variant (train.variants; default: the first)")
    parser.add_argument("--seed", type=int, help="the run's seed (train.seeds; default: the first)")
    parser.add_argument(
        "--device",
        help="cuda[:N], cpu or auto (default: compute.device of the configuration; cuda stops with the reason when no "
        "GPU is usable, see `geolink doctor`)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geolink",
        description=(
            "GeoLink pipeline jobs, one at a time, resolved exactly as the Snakemake workflow resolves them. The "
            "whole pipeline runs through Snakemake: `snakemake --configfile config/synthetic.yaml` (CPU "
            "benchmark) or `snakemake` (paper). Run from the repository root."
        ),
    )
    parser.add_argument("--version", action="version", version=f"geolink {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description)
        _add_configfile(p)
        p.set_defaults(func=func)
        return p

    config = command(
        "config",
        cmd_config,
        "print the resolved configuration (every default filled in)",
        "Load config/config.yaml and the --configfile files as Snakemake does, validate them against "
        "workflow/schemas/config.schema.yaml (which describes every key) and print the result as YAML.",
    )
    config.add_argument("--key", help="print only this dotted key, e.g. train.loss")

    synth = command(
        "synth",
        cmd_synth,
        "render the synthetic benchmark in the real datasets' layouts (rule synth)",
        "Render synthetic towns into University-1652, SUES-200 (raw) and DenseUAV trees, each from its own "
        "visual domain, with every location's true point cloud and drone poses under geometry/. Sizes come from "
        "the `synth` section of the configuration (docs/synthetic.md).",
    )
    synth.add_argument(
        "--dataset", nargs="+", choices=DATASETS, help="datasets to render (default: the synthetic ones)"
    )
    synth.add_argument("--out-dir", help="parent folder, each dataset in OUT_DIR/<dataset> (default: data/<name>)")
    synth.add_argument(
        "--workers", type=int, default=2, help="processes rendering locations (output does not depend on it)"
    )

    split = command(
        "split-sues200",
        cmd_split_sues200,
        "build SUES-200's per-height Training/ and Testing/ folders from the raw release (rule sues200_split)",
        "Reproduce the SUES-200 benchmark's split_datasets.py: per height, Training/ holds the training IDs and "
        "Testing/ the query IDs, with galleries of all locations. Built in a temporary folder and renamed into "
        "place, so the output is never half-made. Heights, split index and link mode come from datasets.sues200.",
    )
    split.add_argument("--out", help="folder to create, which must not exist (default: the workflow's)")

    manifest = command(
        "manifest",
        cmd_manifest,
        "index a dataset tree into a manifest table and print its counts (rule manifest)",
        "Read a dataset in its released layout (for SUES-200: the split folder) into one table with a row per "
        "image: dataset, split, role, view, location, altitude, folder, path, lon, lat; check the counts of a "
        "real dataset against the published release (manifest.check_counts).",
    )
    manifest.add_argument("--dataset", required=True, choices=DATASETS)
    manifest.add_argument("--root", help="read this tree instead of the configured one")
    manifest.add_argument("--out", help="write the manifest here, the summary beside it (default: the workflow's)")

    recon = command(
        "reconstruct",
        cmd_reconstruct,
        "build training point clouds for one shard of a dataset's locations (rule reconstruct)",
        "Split each training location's drone images into view groups and reconstruct one cloud per group with "
        "the configured backend (reconstruct.<dataset>), writing <OUT>/<ID>_group<k>/points3D.txt (COLMAP text) "
        "and <OUT>/qc.csv. Resumable: rerunning after a crash redoes only missing locations. Use --locations "
        "with --out to redo single locations into a new folder.",
    )
    recon.add_argument("--dataset", required=True, choices=DATASETS)
    recon.add_argument("--shard", type=int, default=0, help="which of reconstruct.n_shards shards (default 0)")
    recon.add_argument("--locations", nargs="+", help="only these location IDs")
    recon.add_argument("--manifest", help="read this manifest instead of the workflow's")
    recon.add_argument("--out", help="shard folder to create (default: the workflow's)")
    recon.add_argument("--threads", type=_positive_int, default=2, help="CPU threads for colmap (default 2)")

    points = command(
        "points",
        cmd_points,
        "sample reconstructed clouds into the point bank training reads (rule points)",
        "Farthest-point-sample every cloud of a dataset's shards once, as configured in `points`.",
    )
    points.add_argument("--dataset", required=True, choices=DATASETS)
    points.add_argument("--shards", nargs="+", help="shard folders to read (default: the workflow's)")
    points.add_argument("--bank", help="point bank to write (.npz; default: the workflow's)")
    points.add_argument("--qc", help="QC table to write (.csv; default: beside the bank)")

    train = command(
        "train",
        cmd_train,
        "train one run and write its last.pt / best.pt checkpoints (rule train)",
        "Train one run of the configuration (source dataset, variant, seed) with the settings rule train uses: "
        "the `train` section with the variant's overrides; AdamW with cosine decay, the losses of eq. 15, a "
        "trained vCLUB estimator, validation Recall@1 on held-out source locations after every epoch (best.pt), "
        "dvclive logs. The run works in OUT.partial/ and publishes OUT/best.pt and OUT/last.pt when it has finished; "
        "started again after a stop, it continues from its last completed epoch (bit-identically on CPU), and it "
        "refuses to resume work of other settings or to overwrite a finished run.",
    )
    _add_run(train)
    train.add_argument("--out", help="checkpoint folder (default: the workflow's)")
    train.add_argument("--logs", help="dvclive folder (default: the workflow's, or OUT/dvclive with --out)")
    train.add_argument("--show", action="store_true", help="print the resolved settings and files, train nothing")

    evaluate = command(
        "evaluate",
        cmd_evaluate,
        "retrieval metrics of a run on a dataset's test set, both directions (rule evaluate)",
        "Rebuild the model from the run's checkpoint alone and evaluate it with the 2D-only path on the target's "
        "test split, as configured in `evaluate`: Recall@1/5/10, Recall@top1% (and the reference code's "
        "off-by-one value, labelled legacy), AP; SUES-200 per height and their mean; DenseUAV SDM@K.",
    )
    _add_run(evaluate)
    evaluate.add_argument("--target", required=True, choices=DATASETS, help="the dataset whose test set is ranked")
    evaluate.add_argument("--checkpoint", help="evaluate this checkpoint instead (default: evaluate.checkpoint)")
    evaluate.add_argument("--out", help="metrics JSON to write (default: the workflow's)")

    answer = command(
        "answer",
        cmd_answer,
        "write the UAVM 2025 challenge's answer.txt / answer.zip from a street -> satellite checkpoint",
        "Embed every street query and satellite image with the checkpoint's 2D encoder (with the SkyLink release's "
        "flip x rot90 test-time augmentation unless --no-tta), rank the satellites of each query, optionally "
        "re-rank them (k-reciprocal, skylink.answer.rerank), and write one line per query (in the order of the "
        "challenge's query_street_name.txt) holding the top-k satellite names separated by TABs: answer.txt, and "
        "answer.zip with answer.txt at its root, which is what the challenge accepts. Defaults: the configuration's "
        "SkyLink run and University-1652's unmasked test set (query_street, gallery_satellite); for the challenge, "
        "give its workshop_query_street and workshop_gallery_satellite folders and its query list.",
    )
    answer.add_argument("--checkpoint", help="checkpoint to use (default: the first seed of skylink.answer.variant)")
    answer.add_argument("--queries", help="folder of street queries (flat, or <ID>/ sub-folders)")
    answer.add_argument("--gallery", help="folder of satellite images; their names without extension are written")
    answer.add_argument(
        "--query-list", help="the challenge's query_street_name.txt (default: skylink.answer.query_list)"
    )
    answer.add_argument("--top-k", type=_positive_int, help="names per line (default: skylink.answer.top_k, 10)")
    answer.add_argument("--no-tta", action="store_true", help="one view per image instead of flip x rot90")
    answer.add_argument(
        "--rerank", action="store_true", help="k-reciprocal re-ranking (default: skylink.answer.rerank)"
    )
    answer.add_argument("--device", help="cuda, cpu or auto (default: compute.device)")
    answer.add_argument("--out", help="folder for answer.txt, answer.zip, summary.json (default: the workflow's)")

    complexity = command(
        "complexity",
        cmd_complexity,
        "parameters and FLOPs of a registered model (paper Table 6)",
        "Total and trainable parameters, the thop-style count the paper reports, and FLOPs and MACs of the "
        "inference path, for the configuration's model (train.model.name) or another registered one.",
    )
    complexity.add_argument("--model", help="registered model name (default: train.model.name)")
    complexity.add_argument("--image-size", type=_positive_int, help="input side in pixels (default: train.image_size)")
    complexity.add_argument("--json", action="store_true", help="the full report instead of the headline numbers")

    plan = command(
        "plan",
        cmd_plan,
        "count the training and evaluation jobs of a configuration and estimate their GPU hours",
        "Per variant of train.variants that the configuration runs (train.run_variants): its runs (sources x "
        "seeds), the optimiser steps of each run from the published dataset sizes, and an estimate of the GPU "
        "hours of training and evaluation from the FLOPs of the model (geolink/plan.py states the model). "
        "Synthetic sources are listed without steps. Nothing is run; snakemake -n lists every job.",
    )
    plan.add_argument(
        "--tflops", type=float, default=60.0, help="sustained TFLOP/s of one GPU (default 60: a third of an RTX 4090)"
    )
    plan.add_argument("--json", action="store_true", help="one record per run instead of the table")

    command(
        "doctor",
        cmd_doctor,
        "check what this machine can and cannot do for a configuration, each problem with its fix",
        "One table: the torch build and the GPUs it can use (compute capability, bf16, memory against the VGGT "
        "chunk size and training), free disk against the downloads, the weights (pinned, present, gated access), "
        "conda for --sdm conda, and the dataset roots; then which stages can run here. Nothing is downloaded and "
        "no GPU kernel is launched. Exit status 1 when a check fails. The workflow runs the GPU part before its "
        "first GPU job when compute.device is cuda.",
    )

    report = command(
        "report",
        cmd_report,
        "build the HTML report of every table and figure (snakemake --report)",
        "Write results/<name>/report.html, one self-contained page with every table and figure of the "
        "configuration and a caption that says what was run (Snakemake's report of the finished workflow: its "
        "rule graph, run times and configuration too). Run it after `snakemake`; it does nothing when the report "
        "is newer than every product, and refuses while a product is missing.",
    )
    report.add_argument("--output", help="the HTML file to write (default: results/<name>/report.html)")
    report.add_argument("--force", action="store_true", help="rebuild even when the report is up to date")

    dvc = command(
        "dvc",
        cmd_dvc,
        "generate the configuration's dvc.yaml from the Snakemake job graph",
        "One DVC stage per job, with the job's inputs and code as deps, the configuration keys its settings read "
        "as params and its outputs as outs, plus the metrics and plots; docs/workflow.md explains the design.",
    )
    dvc.add_argument("--output", default="dvc.yaml", help="the file to write (default: dvc.yaml)")
    dvc.add_argument("--check", action="store_true", help="write nothing; exit 1 if OUTPUT is stale (for CI)")

    def encoder_options(p: argparse.ArgumentParser) -> None:
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--checkpoint", help="a training checkpoint (best.pt); its 2D encoder runs in torch")
        which.add_argument("--onnx", help="the checkpoint's encoder exported by `geolink export-onnx` (onnxruntime)")
        p.add_argument(
            "--device", default="auto", help="torch device for --checkpoint: auto (a GPU when usable), cpu, cuda"
        )

    index = sub.add_parser(
        "index",
        help="cut a georeferenced map into tiles and index them with a checkpoint's encoder (for geolink locate)",
        description="Cut MAP into overlapping tiles of --footprint metres of ground (the ground one satellite image "
        "of the model's training data covers), embed each with the 2D encoder of --checkpoint (or --onnx), and write "
        "a faiss index with the table of tile centres (WGS 84 and the map's CRS) into --out. MAP is a GeoTIFF in any "
        "CRS (RGB or grey, 8 bits, north-up), or a CSV table of pre-cut tiles with columns path, lat, lon. Large maps "
        "stream in chunks; an interrupted build continues when the same command runs again (docs/locate.md).",
    )
    index.add_argument("map", help="GeoTIFF (any CRS) or tile table (.csv: path, lat, lon)")
    encoder_options(index)
    index.add_argument("--footprint", type=float, required=True, help="ground side of a tile in metres")
    index.add_argument("--overlap", type=float, default=0.5, help="share of a tile its neighbour covers (default 0.5)")
    index.add_argument("--out", required=True, help="index folder to create")
    index.add_argument("--chunk", type=_positive_int, default=256, help="tiles embedded between saves (default 256)")
    index.set_defaults(func=cmd_index)

    locate = sub.add_parser(
        "locate",
        help="find where drone photos were taken on an indexed map",
        description="Embed each photo with the encoder that built --index (--checkpoint, or its --onnx export: "
        "no torch needed), rank the map's tiles by cosine, and estimate the position: the score-weighted mean of "
        "the centres of the top-k tiles within --radius of the best one (its centre alone when none agrees). Where a "
        "photo's EXIF records GPS, the estimate's error in metres is given too. Writes answers.json, answers.csv and "
        "answers.html (each photo beside its tiles and on the map) into --out (docs/locate.md).",
    )
    locate.add_argument(
        "images", nargs="+", metavar="IMAGE", help="photos, or folders of photos (searched recursively)"
    )
    locate.add_argument("--index", required=True, help="folder written by `geolink index`")
    encoder_options(locate)
    locate.add_argument("--top-k", type=_positive_int, default=5, help="tiles listed per photo (default 5)")
    locate.add_argument(
        "--radius", type=float, help="agreement radius in metres (default: 3/4 of the index's tile footprint)"
    )
    locate.add_argument("--out", default="locate_results", help="folder to create (default: locate_results)")
    locate.add_argument("--no-html", action="store_true", help="skip the HTML page (faster for many photos)")
    locate.add_argument(
        "--print-max", type=_count, default=20, help="answers printed (default 20, 0: none; all are written)"
    )
    locate.set_defaults(func=cmd_locate)

    tune = sub.add_parser(
        "tune",
        help="fine-tune a checkpoint's encoder on drone photos with GPS over maps, for geolink locate",
        description="Pair every photo whose EXIF records its position and heading with the map around that "
        "position, and train the 2D encoder of --checkpoint to find each photo's ground among the other pairs' "
        "(InfoNCE), the ground window shifted at random by up to --jitter tiles, as the tiles of an index lie from "
        "a photo. Photos are turned north-up by their heading; the checkpoint written to --out records that, and "
        "geolink index / locate / export-onnx take it like any other (docs/locate.md).",
    )
    tune.add_argument(
        "--area",
        nargs=2,
        action="append",
        required=True,
        metavar=("MAP", "PHOTOS"),
        help="a GeoTIFF and the photos (a folder or one file) taken over it; repeat for more areas",
    )
    tune.add_argument("--checkpoint", required=True, help="training checkpoint (best.pt) to start from")
    tune.add_argument("--footprint", type=float, required=True, help="ground side of a tile in metres (as for index)")
    tune.add_argument("--out", required=True, help="the checkpoint to write")
    tune.add_argument("--steps", type=_positive_int, default=400, help="optimizer steps (default 400)")
    tune.add_argument("--batch-size", type=_positive_int, default=32, help="pairs per step (default 32)")
    tune.add_argument("--lr", type=float, default=2e-3, help="peak learning rate, cosine to 0 (default 2e-3)")
    tune.add_argument(
        "--jitter", type=float, default=0.25, help="largest shift of the ground window, in tiles (default 0.25)"
    )
    tune.add_argument("--seed", type=int, default=0, help="seed of the batches, shifts and turns (default 0)")
    tune.add_argument("--device", default="auto", help="torch device: auto (a GPU when usable), cpu, cuda")
    tune.set_defaults(func=cmd_tune)

    export = sub.add_parser(
        "export-onnx",
        help="export a checkpoint's 2D encoder to ONNX, for geolink locate without torch",
        description="Write the image encoder of --checkpoint (with its L2 normalisation) as an ONNX graph with a "
        "dynamic batch, recording which checkpoint and image size it holds, and check that onnxruntime reproduces "
        "torch's descriptors (cosine >= 0.9999) before publishing it.",
    )
    export.add_argument("--checkpoint", required=True, help="training checkpoint (best.pt)")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.set_defaults(func=cmd_export_onnx)
    return parser


def main(argv: list[str] | None = None) -> int:
    from geolink.pipeline.dag import WorkflowLoadError
    from geolink.pipeline.dvc import GeneratorError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    exit_on_sigterm()
    try:
        return args.func(args) or 0
    except (UserError, GeneratorError, WorkflowLoadError) as err:
        print(f"geolink {args.command}: error: {user_message(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # unwritable output folder, full disk, vanished file: the OS names the path
        print(f"geolink {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"geolink {args.command}: interrupted. No half-written output was kept; train, synth and reconstruct "
            "keep their unfinished work beside the output and continue from it when the same command runs again.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
