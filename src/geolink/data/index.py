"""Index one dataset tree into its manifest table and summary, checked against the published counts.

The body of rule ``manifest`` and of ``geolink manifest``: both pass the settings the resolved pipeline gives
(``geolink.pipeline.Pipeline.manifest_settings``), so a manifest built by hand is the one the workflow builds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from geolink.atomic import atomic_output
from geolink.data.errors import DISPLAY_NAMES, DatasetError
from geolink.data.manifest import read_manifest, summarize_manifest, write_manifest
from geolink.data.release_counts import check_release_counts

log = logging.getLogger(__name__)


def index_dataset(
    dataset: str, root: str | Path, options: dict, check_counts: str, manifest_path: str | Path, summary_path: str | Path
) -> pd.DataFrame:
    """Read ``root`` into a manifest, check its counts, and write the manifest and its per-folder summary.

    Args:
        dataset: ``university1652``, ``sues200`` or ``denseuav``.
        root: The released tree (for SUES-200: the split folder).
        options: ``read_manifest`` keywords (``check_images``, SUES-200 ``heights``).
        check_counts: ``error``, ``warn`` or ``off`` (``manifest.check_counts``): what a real dataset whose image
            counts differ from the published release does.
        manifest_path, summary_path: Where the ``.parquet`` manifest and the ``.csv`` summary go (atomically).

    Raises:
        DatasetError: An unreadable tree, or counts that differ from the release under ``check_counts: error``.
    """
    manifest = read_manifest(dataset, root, **options)
    summary = summarize_manifest(manifest)
    log.info("%d images\n%s", len(manifest), summary.to_string())
    if check_counts != "off":
        problems = check_release_counts(dataset, manifest, options.get("heights"))
        if problems:
            message = (
                f"{DISPLAY_NAMES[dataset]} in {root} differs from the published release: {'; '.join(problems)}. "
                "An interrupted download or extraction, or another version of the dataset? Obtain it again "
                "(docs/data.md), or set manifest.check_counts: warn to go on anyway."
            )
            if check_counts == "error":
                raise DatasetError(message, dataset=dataset)
            log.warning("%s", message)
        else:
            log.info("image counts match the published release")
    write_manifest(manifest, manifest_path)
    with atomic_output(summary_path) as tmp:
        summary.to_csv(tmp, index=False)
    return manifest
