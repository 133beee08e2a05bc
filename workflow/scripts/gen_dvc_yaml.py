#!/usr/bin/env python
"""Generate dvc.yaml from the Snakemake DAG: Snakemake owns the pipeline, DVC versions its products.

One DVC stage per job of each rule listed under ``dvc.stages`` in the resolved configuration
(rule name -> the config sections the rule depends on). Jobs of unlisted rules are folded into
the next listed stage downstream: they run inside that stage's Snakemake call, their code files
become its deps and their outputs stay Snakemake-only. See docs/workflow.md ("DVC: versioning
data, point clouds and checkpoints") for the design and the day-to-day commands.

Every stage looks like::

    synth-sues200:
      cmd: snakemake data/synthetic/sues200 --configfile config/synthetic.yaml --allowed-rules synth --cores all
      deps: [inputs made by other stages, source inputs, rule .smk, script, conda env,
             helper .smk files such as common.smk, src/geolink]
      params: [{config/config.yaml: [seed]}, {config/synthetic.yaml: [synth]}]
      outs: [data/synthetic/sues200]

Design notes (why the stage looks like this):

* params: every config section listed for the rule is tracked in *each* configuration file that
  defines it (config/config.yaml first, then the --configfile files in order), i.e. exactly the
  files Snakemake merges. No resolved copy of the config is written: a copy would go stale the
  moment someone edits a config file and runs ``dvc repro`` without regenerating, silently hiding a
  change. Tracking the real files means any edit to a tracked section (including a new sub-key)
  reruns the stage, and ``dvc exp run -S config/synthetic.yaml:synth.image_size=64`` works. DVC
  refuses params that are missing from a file, so a section is listed only against the files that
  define it; when a section newly appears in another file, dvc.yaml changes and ``--check`` fails.
  Values a file defines but a later file overrides are tracked too: such an edit reruns the stage
  needlessly, never the other way round. Schema defaults live in src/geolink (a dep of all stages).
* deps include code Snakemake does not watch (src/geolink, common.smk's input and params
  functions) so that code changes rerun stages; edits anywhere in the package rerun every stage.
* outs are not ``persist``: DVC deletes them before running the stage, which forces Snakemake to
  run the job. With persist, Snakemake would answer "Nothing to be done" for changes it does not
  track (edits under src/geolink) and DVC would record stale outputs as new; persist would also
  disable the run-cache that restores previous results when a parameter is reverted.
* ``--allowed-rules``: a stage's Snakemake call may only run the stage's own rule and the rules
  folded into it. Outputs of other stages are DVC's business; after ``dvc pull`` their mtimes are
  arbitrary and Snakemake would otherwise rerun (and overwrite) them inside the wrong stage.

Pinned to snakemake <10: the DAG is built with the internal ``WorkflowApi._workflow``,
``Workflow._prepare_dag`` and ``Workflow._build_dag`` (what ``snakemake --dag`` does).
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import string
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
GENERATOR = "workflow/scripts/gen_dvc_yaml.py"
# The package every script imports; Snakemake does not notice edits there, DVC does.
PACKAGE_SRC = "src/geolink"
EXIT_STALE, EXIT_ERROR = 1, 2
_BAD_NAME_CHARS = set(string.punctuation) - {"_", "-"}  # DVC's rule for stage names (no '@', no '.')


class GeneratorError(Exception):
    """A configuration or workflow problem; the message says what to fix."""


def repo_path(path: str | os.PathLike) -> str:
    """A path as dvc.yaml writes it: relative to the repository root when inside it, POSIX style."""
    path = Path(path)
    absolute = path if path.is_absolute() else REPO / path
    absolute = Path(os.path.normpath(absolute))
    try:
        return absolute.relative_to(REPO).as_posix()
    except ValueError:
        return str(absolute)


def regenerate_command(configfiles: Sequence[str]) -> str:
    args = ["python", GENERATOR] + (["--configfile", *configfiles] if configfiles else [])
    return shlex.join(args)


def error_message(exc: BaseException) -> str:
    """The actionable part of a Snakemake error, without its Snakefile traceback."""
    text = str(exc).strip()
    if type(exc).__name__ == "InputFunctionException":
        # Layout: "Error:\n  WorkflowError:\n    <message>\nWildcards:\n  k=v\nTraceback:\n  ..."
        head, _, rest = text.partition("\nWildcards:\n")
        inner = textwrap.dedent(head.removeprefix("Error:\n"))
        kind, _, body = inner.partition("\n")
        if kind.endswith(":") and body:
            inner = textwrap.dedent(body)
        wildcards = ", ".join(rest.partition("\nTraceback:")[0].split())
        rule = getattr(getattr(exc, "rule", None), "name", "?")
        text = f"{inner.strip()}\n(raised while building the job of rule {rule} with {wildcards or 'no wildcards'})"
    return text


def build_dag(configfiles: Sequence[str]):
    """Load the workflow like ``snakemake --configfile ...`` and build the full DAG (forceall).

    Returns the internal Workflow object (``.config``, ``.configfiles``, ``.rules``, ``.dag``).
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    api = SnakemakeApi(OutputSettings(quiet={Quietness.ALL}, enable_file_logging=False))
    with api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / f for f in configfiles]),
            snakefile=SNAKEFILE,
            workdir=REPO,
        )
        workflow_api.dag(DAGSettings(forceall=True))  # registers the DAG settings on the workflow
        # Internal API (snakemake 9): the same two calls `snakemake --dag` makes. nolock: a
        # read-only look at the DAG must not collide with a Snakemake run in the same checkout.
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        return workflow


def _get(mapping: dict, dotted: str):
    node = mapping
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def load_yaml(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text()) or {}


def stage_name(job) -> str:
    parts = [job.rule.name, *map(str, job.wildcards_dict.values())]
    return "-".join("".join("_" if c in _BAD_NAME_CHARS else c for c in p) for p in parts)


def code_files(job) -> set[str]:
    """The files whose edits change what a job does: rule file, script, conda env file."""
    rule = job.rule
    files = {repo_path(rule.snakefile)}
    if rule.script:
        files.add(repo_path(os.path.join(str(rule.basedir), rule.script)))
    env = rule.conda_env
    if isinstance(env, str) and env.endswith((".yaml", ".yml")):
        files.add(repo_path(os.path.join(str(rule.basedir), env)))
    return files


def generate(configfiles: Sequence[str]) -> str:
    """The text of dvc.yaml for the given --configfile list (repo-relative paths)."""
    try:
        workflow = build_dag(configfiles)
    except Exception as exc:  # Snakemake reports config and input-function problems as exceptions
        raise GeneratorError(error_message(exc)) from None

    # Precedence as Snakemake merges: the Snakefile's `configfile:` first, then --configfile files.
    given = {repo_path(f) for f in configfiles}
    params_files = [repo_path(f) for f in workflow.configfiles if repo_path(f) not in given]
    params_files += [f for f in configfiles if f not in params_files]
    file_contents = {f: load_yaml(f) for f in params_files}

    listed: dict[str, list[str]] = workflow.config.get("dvc", {}).get("stages", {})
    rule_names = {rule.name for rule in workflow.rules}
    for rule, sections in listed.items():
        if rule not in rule_names:
            raise GeneratorError(
                f"dvc.stages lists rule '{rule}', which the workflow does not define "
                f"(rules: {', '.join(sorted(rule_names))}). Fix the name in the configuration."
            )
        for section in sections:
            try:
                _get(workflow.config, section)
            except KeyError:
                raise GeneratorError(
                    f"dvc.stages.{rule} lists '{section}', which is not a key of the resolved "
                    f"configuration. Use dotted keys such as 'datasets.sues200'."
                ) from None

    # Included files that define no rule (common.smk: input functions, params builders) shape
    # every job like code does, so they are deps of every stage.
    rule_files = {repo_path(str(rule.snakefile)) for rule in workflow.rules}
    included = [Path(f.get_path_or_uri(secret_free=True)) for f in workflow.included]
    helper_files = {repo_path(f) for f in included if f.is_file()} - rule_files

    dag = workflow.dag
    stages: dict[str, dict] = {}
    for job in dag.jobs:
        if job.rule.name not in listed:
            continue
        # The stage = this job + the unlisted jobs upstream of it, up to the next listed jobs.
        members, queue, deps = [], [job], {PACKAGE_SRC, *helper_files}
        while queue:
            member = queue.pop()
            if member in members:
                continue
            members.append(member)
            produced: set[str] = set()
            for upstream, files in dag.dependencies[member].items():
                produced.update(map(str, files))
                if upstream.rule.name in listed:
                    deps.update(repo_path(f) for f in files)  # made by another stage
                else:
                    queue.append(upstream)  # folded into this stage
            deps.update(repo_path(f) for f in member.input if str(f) not in produced)  # source files
            deps |= code_files(member)
        name = stage_name(job)
        if name in stages:
            raise GeneratorError(f"two jobs map to the DVC stage name '{name}'; rename a wildcard value.")
        outs = [repo_path(f) for f in job.output if not f.is_temp]
        params = []
        for path in params_files:
            keys = []
            for section in listed[job.rule.name]:
                try:
                    _get(file_contents[path], section)
                except KeyError:
                    continue
                keys.append(section)
            if keys:
                params.append({path: keys})
        allowed = sorted({m.rule.name for m in members})
        cmd = ["snakemake", *outs]
        if configfiles:
            cmd += ["--configfile", *configfiles]
        cmd += ["--allowed-rules", *allowed, "--cores", "all"]
        stage = {"cmd": shlex.join(cmd), "deps": sorted(deps)}
        if params:
            stage["params"] = params
        stage["outs"] = outs
        stages[name] = stage

    if not stages:
        raise GeneratorError("no job of the rules listed under dvc.stages is in the DAG; nothing to version.")
    header = (
        "# Generated from the Snakemake DAG by workflow/scripts/gen_dvc_yaml.py: do not edit by hand.\n"
        f"# Regenerate: {regenerate_command(configfiles)}\n"
        "# CI fails when this file is stale (same command with --check). See docs/workflow.md.\n"
    )
    body = yaml.safe_dump(
        {"stages": {name: stages[name] for name in sorted(stages)}},
        sort_keys=False,
        default_flow_style=False,
        width=1000,
    )
    return header + body


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Generate dvc.yaml from the Snakemake DAG: one DVC stage per job of each rule listed\n"
            "under dvc.stages in the configuration, with the job's outputs as outs, its inputs and\n"
            "code as deps and the listed config sections as params. Run from anywhere; paths are\n"
            "written relative to the repository root."
        ),
        epilog=(
            "Examples:\n"
            "  python workflow/scripts/gen_dvc_yaml.py --configfile config/synthetic.yaml\n"
            "  python workflow/scripts/gen_dvc_yaml.py --configfile config/synthetic.yaml --check\n"
            "Exit status: 0 written or up to date, 1 dvc.yaml is stale (--check), "
            "2 the workflow or configuration cannot be turned into a DAG."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--configfile",
        nargs="+",
        default=[],
        metavar="FILE",
        help=(
            "configuration files loaded after config/config.yaml, exactly as `snakemake --configfile` "
            "does; the stage commands repeat them (default: config/config.yaml only)"
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "dvc.yaml",
        metavar="FILE",
        help="where to write (default: dvc.yaml at the repository root)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if FILE differs from what would be generated (for CI)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configfiles = []
    for f in args.configfile:
        path = Path(f).resolve()
        if not path.is_file():
            print(f"gen_dvc_yaml.py: configuration file {f} does not exist.", file=sys.stderr)
            return EXIT_ERROR
        if not path.is_relative_to(REPO):
            print(
                f"gen_dvc_yaml.py: configuration file {f} is outside the repository {REPO}; "
                "DVC can only track params in files inside it.",
                file=sys.stderr,
            )
            return EXIT_ERROR
        configfiles.append(path.relative_to(REPO).as_posix())
    try:
        text = generate(configfiles)
    except GeneratorError as err:
        where = " + ".join(["config/config.yaml", *configfiles])
        print(f"gen_dvc_yaml.py: cannot generate dvc.yaml for {where}:\n{err}", file=sys.stderr)
        return EXIT_ERROR

    output = args.output
    if args.check:
        current = output.read_text() if output.is_file() else None
        if current == text:
            print(f"{output} is up to date.")
            return 0
        state = "does not exist" if current is None else "is stale"
        print(f"{output} {state}: run {regenerate_command(configfiles)}", file=sys.stderr)
        if current is not None:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True), str(output), "generated"
            )
            sys.stderr.writelines(diff)
        return EXIT_STALE
    output.write_text(text)
    print(f"Wrote {output} ({len(yaml.safe_load(text)['stages'])} stages).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
