"""Load the Snakemake workflow of a configuration and build its job graph, exactly as ``snakemake -n`` does.

The DVC generator and the tests read the jobs, their inputs, outputs and params from here, so what they see is
what Snakemake schedules. The graph is built as a dry run: a dataset that is not on disk yet is listed
(rule ``missing_input`` stands in for it) instead of stopping the build, so the paper's graph can be built on a
machine without its data.

Pinned to snakemake 9 (``pyproject.toml``): ``WorkflowApi._workflow``, ``Workflow._prepare_dag`` and
``Workflow._build_dag`` are internal, the same calls ``snakemake --dag`` makes.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Sequence
from pathlib import Path


class WorkflowLoadError(Exception):
    """The workflow or its configuration cannot be turned into a job graph; the message says what to fix."""


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


def load_dag(configfiles: Sequence[str | Path] = (), repo: str | Path = "."):
    """The workflow of ``repo`` (the checkout holding the Snakefile) with ``--configfile configfiles``, its full
    job graph built (forceall, dry run).

    Returns:
        Snakemake's internal ``Workflow``: ``.config``, ``.configfiles``, ``.rules``, ``.included``,
        ``.globals["PIPELINE"]`` (the resolved :class:`geolink.pipeline.Pipeline`) and ``.dag`` (``.jobs``,
        ``.dependencies``).

    Raises:
        WorkflowLoadError: a configuration error, or a job whose input functions fail.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    repo = Path(repo).resolve()
    # Snakemake's own messages (DAG building, missing-input warnings) are for `snakemake` runs, not for callers:
    # they stay out of the caller's logging (Snakemake sets its logger's level itself, so only this holds them).
    snakemake_log = logging.getLogger("snakemake.logging")
    propagate, snakemake_log.propagate = snakemake_log.propagate, False
    api = SnakemakeApi(OutputSettings(quiet={Quietness.ALL}, enable_file_logging=False))
    try:
        with api:
            workflow_api = api.workflow(
                resource_settings=ResourceSettings(),
                config_settings=ConfigSettings(configfiles=[repo / f for f in configfiles]),
                snakefile=repo / "Snakefile",
                workdir=repo,
            )
            workflow_api.dag(DAGSettings(forceall=True))  # registers the DAG settings on the workflow
            workflow = workflow_api._workflow
            # A dry run, as `snakemake -n`: missing user data is listed, not fatal (common.smk asks).
            workflow._executor_plugin = ExecutorPluginRegistry().get_plugin("dryrun")
            # nolock: a read-only look at the graph must not collide with a run in the same checkout.
            workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
            workflow._build_dag()
            return workflow
    except Exception as exc:  # Snakemake reports configuration and input-function problems as exceptions
        raise WorkflowLoadError(error_message(exc)) from None
    finally:
        snakemake_log.propagate = propagate
