# What only Snakemake can do with the configuration: validate it on load, hand the resolved pipeline
# (geolink.pipeline.Pipeline: targets, paths, settings) to the rules, and decide at DAG time what a
# missing user-supplied input means. Everything else lives in the package.

import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from geolink.config import ConfigError, validate_config
from geolink.data.manifest import DATASETS
from geolink.data.weather import CONDITIONS
from geolink.pipeline import Pipeline, run_name
from geolink.pipeline.stale import remove_stale


def config_sources():
    """Where the configuration came from, in the order Snakemake merged it (later wins), for messages that
    name the file setting a bad value. `workflow.configfiles` is no merge order: it lists the --configfile
    files first and appends the Snakefile's `configfile:` after them, although Snakemake applies the
    command line on top of that file. --config values come last, under their own name.
    """
    command_line = [Path(f) for f in workflow.overwrite_configfiles]  # absolute
    directive = [
        f for f in workflow.configfiles if Path(f).absolute() not in command_line
    ]
    here = Path.cwd()
    sources = directive + [
        f.relative_to(here) if f.is_relative_to(here) else f for f in command_line
    ]
    if workflow.config_settings.config:
        sources.append(("the --config option", dict(workflow.config_settings.config)))
    return sources


try:
    CONFIG_SOURCES = config_sources()
    config.update(
        validate_config(
            config,
            source=" + ".join(
                s[0] if isinstance(s, tuple) else str(s) for s in CONFIG_SOURCES
            )
            or "the configuration",
            files=CONFIG_SOURCES,
        )
    )
    PIPELINE = Pipeline(config)
    # User-supplied files and folders (dataset roots, archives) with the advice for when they are missing.
    EXTERNAL = PIPELINE.external_inputs()
except ConfigError as err:
    raise WorkflowError(str(err)) from None
LAYOUT = PIPELINE.layout


def remove_stale_tables():
    """Delete tables whose inputs are missing (a failed evaluation), so no old numbers stand as current.
    Called while the DAG is built (workflow.dryrun is known only then) and when a run fails.
    """
    for message in remove_stale(PIPELINE.aggregates(), dry_run=workflow.dryrun):
        logger.warning(f"Stale table: {message}.")


onerror:
    remove_stale_tables()


onstart:
    # The GPU part of `geolink doctor`: when compute.device is cuda and no GPU is usable, say so before the first
    # job; each GPU job then stops with the same explanation instead of running on the CPU (geolink.device).
    if PIPELINE.config["compute"]["device"] == "cuda":
        from geolink.doctor import gpu_problem

        if (problem := gpu_problem(PIPELINE)) is not None:
            logger.warning(f"GPU jobs of this run will stop: {problem}")


# Missing now: `snakemake -n` lists them as jobs of rule missing_input, so the whole run can be seen
# before the data is there; a real run stops at the first one, before any job starts.
MISSING = sorted(path for path in EXTERNAL if not Path(path).exists())
_warned = set()


def checked(path):
    """A path a job reads. A user-supplied one that is missing stops a real run, before any job starts;
    a dry run warns and goes on (rule missing_input stands in for it)."""
    if path in MISSING:
        if not workflow.dryrun:
            raise WorkflowError(EXTERNAL[path])
        if path not in _warned:
            _warned.add(path)
            logger.warning(f"Missing input (a real run stops here): {EXTERNAL[path]}")
    return path


def missing_input_message(wildcards):
    return EXTERNAL[wildcards.missing]


def settings_of(rule):
    """The params function of `rule`: its job's settings from the resolved pipeline."""

    def settings(wildcards):
        return PIPELINE.settings(rule, **dict(wildcards.items()))

    return settings


def acquire_input(wildcards):
    return [checked(p) for p in PIPELINE.acquire_inputs(wildcards.dataset)]


def sues200_split_input(wildcards):
    return [checked(p) for p in PIPELINE.sues200_split_inputs()]


def manifest_input(wildcards):
    return checked(PIPELINE.manifest_input(wildcards.dataset))


def reconstruct_extra_input(wildcards):
    return [checked(p) for p in PIPELINE.reconstruct_extra_input(wildcards.dataset)]


def train_gpus(wildcards):
    return PIPELINE.train_gpus()


def reconstruct_gpus(wildcards):
    return int(PIPELINE.reconstruct_needs_gpu(wildcards.dataset))


def reconstruct_env(wildcards):
    gpu = PIPELINE.reconstruct_needs_gpu(wildcards.dataset)
    return "../../envs/vggt.yaml" if gpu else "../../envs/recon.yaml"


def reconstruct_shards(wildcards):
    return PIPELINE.recon_shards(wildcards.dataset)


def train_weights_input(wildcards):
    return PIPELINE.train_weights_input(**dict(wildcards.items()))


def selection_input(wildcards):
    return PIPELINE.selection_manifest(**dict(wildcards.items())) or []


def evaluate_checkpoint(wildcards):
    return PIPELINE.evaluate_checkpoint(
        wildcards.source, wildcards.variant, wildcards.seed
    )


def evaluate_weather_input(wildcards):
    """The weather test sets a run is evaluated on, target by target (the order rule evaluate's script reads)."""
    manifests = (
        PIPELINE.weather_manifests(t, wildcards.source, wildcards.variant)
        for t in PIPELINE.datasets
    )
    return [path for by_condition in manifests for path in by_condition.values()]


def metrics_table_input(wildcards):
    remove_stale_tables()  # before Snakemake looks at the table: a deleted one is rebuilt in this run
    return PIPELINE.metrics_files()


def paper_table_input(wildcards):
    remove_stale_tables()
    return PIPELINE.metrics_files()


def paper_figure_input(wildcards):
    """Named inputs of one figure: metrics, training logs, or checkpoints and test sets."""
    remove_stale_tables()
    return PIPELINE.paper_figure_input(wildcards.figure)


def challenge_answer_input(wildcards):
    return PIPELINE.challenge_answer_input()


def locate_input(wildcards):
    return {key: checked(path) for key, path in PIPELINE.locate_input().items()}


def locate_tune_input(wildcards):
    return {key: checked(path) for key, path in PIPELINE.locate_tune_input().items()}
