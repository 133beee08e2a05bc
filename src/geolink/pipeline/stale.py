"""Tables that no longer match the files they summarise are deleted, not left standing.

A table of the metrics of every run is made from one file per (run, target). When an evaluation fails,
Snakemake removes that job's output, but not the table made from it earlier; and it does not rebuild a
table whose output exists just because an input is missing. The old numbers would then stand beside a
failed run and the next ``snakemake`` would say "Nothing to be done". Deleting the table whenever one of its
inputs is missing (when the workflow starts and when it fails) makes the next run rebuild it from the
metrics that exist then.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def stale_aggregates(aggregates: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The existing products among ``aggregates`` (product -> inputs) that have missing inputs, with those inputs."""
    stale = {}
    for product, inputs in aggregates.items():
        missing = [path for path in inputs if not Path(path).exists()]
        if missing and Path(product).exists():
            stale[product] = missing
    return stale


def remove_stale(aggregates: Mapping[str, Sequence[str]], *, dry_run: bool = False) -> list[str]:
    """Delete every product whose inputs are not all there (only report them when ``dry_run``).

    Returns:
        One message per stale product, saying what was (or would be) deleted and why.
    """
    messages = []
    for product, missing in stale_aggregates(aggregates).items():
        action = "a real run deletes and rebuilds" if dry_run else "deleted"
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        messages.append(f"{action} {product}: its input {missing[0]}{more} is missing, so it no longer shows them")
        if not dry_run:
            Path(product).unlink()
    return messages
