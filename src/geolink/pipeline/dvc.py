"""``dvc.yaml`` generated from the Snakemake job graph: Snakemake owns the pipeline, DVC versions its products.

One DVC stage per job (``<rule>-<wildcard values>``)::

    synth-sues200:
      cmd: snakemake data/synthetic/sues200 --configfile config/synthetic.yaml --allowed-rules synth --cores all
      deps: [the job's inputs, its rule file, script and conda env, common.smk, src/geolink]
      params: [{config/config.yaml: [seed]}, {config/synthetic.yaml: [synth]}]
      outs: [the job's outputs]

plus top-level ``metrics`` (the metrics table JSON, each run's dvclive summary) and ``plots`` (each run's
validation curve, the figures), so ``dvc metrics show|diff`` and ``dvc plots show`` work.

Why the stages look like this (docs/workflow.md, "DVC"):

* **params are the keys the job's settings read** (``Pipeline.keys_read``), listed under every configuration
  file that defines them (``config/config.yaml`` first, then the ``--configfile`` files, the files Snakemake
  merges). DVC refuses a key a file does not define, so keys left at their schema default are not params:
  the schema is in ``src/geolink``, a dep of every stage. A key newly written into a file changes ``dvc.yaml``,
  and CI's ``--check`` says to regenerate.
* **deps include the code Snakemake does not watch** (``src/geolink``, ``common.smk``), so code edits rerun.
* **outs are not ``persist``**: DVC deletes them before a stage runs, so Snakemake runs the job; with persist,
  Snakemake would answer "Nothing to be done" for edits it does not track and DVC would record stale outputs.
* **``--allowed-rules``**: a stage's Snakemake call runs only its own job. After ``dvc pull`` mtimes are
  arbitrary, and Snakemake would otherwise rerun (and overwrite) other stages' outputs inside this one.
* **user-supplied inputs** (a dataset folder) are deps whether or not they are on disk: the graph is built as
  a dry run, where rule ``missing_input`` stands in for what is missing; its jobs are not stages.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Sequence
from pathlib import Path

import yaml

from geolink.config import DEFAULT_CONFIG, load_yaml
from geolink.pipeline.dag import load_dag

#: The package every script imports; Snakemake does not notice edits there, DVC does.
PACKAGE_SRC = "src/geolink"
#: Jobs of these rules are not stages: the default target, and the stand-in for missing user data.
NOT_STAGES = ("all", "missing_input")
_BAD_NAME_CHARS = set(string.punctuation) - {"_", "-"}  # DVC's rule for stage names (no '@', no '.')


class GeneratorError(Exception):
    """A configuration or workflow problem; the message says what to fix."""


def regenerate_command(configfiles: Sequence[str], output: str) -> str:
    args = ["geolink", "dvc", *(["--configfile", *configfiles] if configfiles else [])]
    return shlex.join(args + (["--output", output] if output != "dvc.yaml" else []))


def stage_name(job) -> str:
    parts = [job.rule.name, *map(str, job.wildcards_dict.values())]
    return "-".join("".join("_" if c in _BAD_NAME_CHARS else c for c in p) for p in parts)


def _get(mapping: dict, dotted: str):
    node = mapping
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def _defines(mapping: dict, dotted: str) -> bool:
    try:
        _get(mapping, dotted)
    except KeyError:
        return False
    return True


def generate(configfiles: Sequence[str], output: str = "dvc.yaml", repo: str | Path = ".") -> str:
    """The text of the ``dvc.yaml`` at ``output`` for ``--configfile configfiles`` (paths relative to ``repo``)."""
    repo = Path(repo).resolve()

    def rel(path) -> str:
        """A path as seen from the repository root, POSIX style (outside it: absolute)."""
        absolute = Path(os.path.normpath(Path(path) if Path(path).is_absolute() else repo / path))
        return absolute.relative_to(repo).as_posix() if absolute.is_relative_to(repo) else str(absolute)

    try:
        workflow = load_dag(configfiles, repo)
    except Exception as exc:
        raise GeneratorError(str(exc)) from None
    pipeline = workflow.globals["PIPELINE"]
    params_files = [DEFAULT_CONFIG, *configfiles]
    file_contents = {f: load_yaml(repo / f) for f in params_files}

    # Included files that define no rule (common.smk: input functions, settings) shape every job like code.
    rule_files = {rel(rule.snakefile) for rule in workflow.rules}
    included = [Path(f.get_path_or_uri(secret_free=True)) for f in workflow.included]
    helpers = {rel(f) for f in included if f.is_file()} - rule_files

    stages: dict[str, dict] = {}
    for job in workflow.dag.jobs:
        if job.rule.name in NOT_STAGES:
            continue
        rule = job.rule
        deps = {PACKAGE_SRC, *helpers, rel(rule.snakefile), *(rel(f) for f in job.input)}
        if rule.script:
            deps.add(rel(Path(str(rule.basedir)) / rule.script))
        if isinstance(rule.conda_env, str) and rule.conda_env.endswith((".yaml", ".yml")):
            deps.add(rel(Path(str(rule.basedir)) / rule.conda_env))
        keys = pipeline.keys_read(rule.name, **job.wildcards_dict)
        params = [{f: defined} for f in params_files if (defined := [k for k in keys if _defines(file_contents[f], k)])]
        outs = [rel(f) for f in job.output]
        cmd = ["snakemake", *outs, *(["--configfile", *configfiles] if configfiles else [])]
        cmd += ["--allowed-rules", rule.name, "--cores", "all"]
        name = stage_name(job)
        if name in stages:
            raise GeneratorError(f"two jobs map to the DVC stage name '{name}'; rename a wildcard value.")
        stage = {"cmd": shlex.join(cmd)}
        wdir = os.path.relpath(repo, (repo / output).parent)
        if wdir != ".":
            stage["wdir"] = Path(wdir).as_posix()
        stage["deps"] = sorted(deps)
        if params:
            stage["params"] = params
        stage["outs"] = outs
        stages[name] = stage
    if not stages:
        raise GeneratorError("the workflow has no jobs; nothing to version.")

    def from_output(path: str) -> str:  # top-level metrics and plots are relative to the dvc.yaml itself
        return Path(os.path.relpath(repo / path, (repo / output).parent)).as_posix()

    layout = pipeline.layout
    metrics = [layout.table("metrics", "json")] if pipeline.train_runs else []
    metrics += [f"{layout.train_logs(run)}/metrics.json" for run in pipeline.run_names]
    plots = [{from_output(f"{layout.train_logs(run)}/plots/metrics/val"): {"x": "step"}} for run in pipeline.run_names]
    plots += [from_output(f) for f in pipeline.final_targets() if f.endswith(".png")]
    header = (
        "# Generated from the Snakemake job graph by `geolink dvc`: do not edit by hand.\n"
        f"# Regenerate: {regenerate_command(list(configfiles), output)}\n"
        "# CI fails when this file is stale (the same command with --check). See docs/workflow.md.\n"
    )
    document = {"stages": {name: stages[name] for name in sorted(stages)}}
    if metrics:
        document["metrics"] = [from_output(m) for m in metrics]
    if plots:
        document["plots"] = plots
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)
