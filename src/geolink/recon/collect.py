"""Collect a dataset's reconstructed clouds into one point bank for training, with the merged QC table.

Parsing COLMAP text and farthest-point sampling happen here, once, never in the training data
loader (the official loader re-reads ``points3D.txt`` and runs numpy FPS on every sample). The
bank holds ``n_draws`` FPS samples per cloud with different random starts, so training still
sees a different subset each epoch, as the official code intends, at the cost of an array lookup.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from geolink.atomic import atomic_output
from geolink.points import PointCloudTooSmall, sample_draws, save_point_bank
from geolink.recon.colmap_text import read_points3d_text
from geolink.recon.result import ReconstructionError

log = logging.getLogger(__name__)


def collect_point_bank(
    shard_dirs: list[str | Path],
    bank_path: str | Path,
    qc_path: str | Path,
    *,
    n_points: int = 1024,
    n_draws: int = 4,
    presample: int = 20_000,
    min_points: int = 16,
    seed: int = 0,
) -> pd.DataFrame:
    """Sample every successful cloud of the shards into ``bank_path`` (``.npz``) and write the QC table.

    Clouds with fewer than ``min_points`` points are marked ``failed`` in the QC table (reason
    given) and left out of the bank; clouds with fewer than ``n_points`` points are padded by
    repeating their FPS order and flagged ``padded`` (``geolink.points``).

    Returns:
        The merged QC table, one row per (location, group), with ``in_bank`` and ``padded`` columns.
    """
    tables = [pd.read_csv(Path(d) / "qc.csv", dtype={"location": str, "reason": str}) for d in shard_dirs]
    qc = pd.concat(tables, ignore_index=True)
    qc["reason"] = qc["reason"].fillna("")
    qc = qc.sort_values(["location", "group"]).reset_index(drop=True)
    folders = {}
    for d in shard_dirs:
        for folder in Path(d).iterdir():
            if folder.is_dir() and (folder / "points3D.txt").is_file():
                folders[folder.name] = folder
    keys, draws, in_bank, padded = [], [], [], []
    for index, row in enumerate(qc.itertuples()):
        key = f"{row.location}_group{row.group}"
        ok = row.status == "ok" and key in folders
        if ok:
            xyz = read_points3d_text(folders[key] / "points3D.txt").xyz
            try:
                draws.append(
                    sample_draws(
                        xyz,
                        n_points=n_points,
                        n_draws=n_draws,
                        seed=seed + index,
                        presample=presample,
                        min_points=min_points,
                    )
                )
                keys.append(key)
            except PointCloudTooSmall as err:
                qc.loc[index, ["status", "reason"]] = ["failed", str(err)]
                log.warning("%s: %s", key, err)
                ok = False
        in_bank.append(ok)
        padded.append(ok and len(xyz) < n_points)
    qc["in_bank"] = in_bank
    qc["padded"] = padded
    with atomic_output(qc_path) as tmp:
        qc.to_csv(tmp, index=False)
    if not keys:
        raise ReconstructionError(f"no usable point cloud among {len(qc)} reconstructions; see the QC table {qc_path}")
    meta = {"n_points": n_points, "n_draws": n_draws, "presample": presample, "seed": seed}
    save_point_bank(bank_path, keys, np.stack(draws), meta)
    return qc
