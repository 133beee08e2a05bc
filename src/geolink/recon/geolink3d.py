"""The ``geolink3d`` backend: the authors' released point clouds (Hugging Face ``ZhangHY/GeoLink-3D``).

The release holds, per dataset, one folder per location and group, ``<ID>_group{0,1,2}``, each with
a COLMAP ``points3D.txt`` (``docs/official_code.md`` §7). Importing means reading those
files through our validating reader, so a damaged download fails here with the file and line,
not inside training. Where the files come from (download, unpacking) is the acquisition stage's
business; this backend takes the folder that directly contains the group folders.
"""

from __future__ import annotations

import re
from pathlib import Path

from geolink.recon.colmap_text import ColmapTextError, read_points3d_text
from geolink.recon.result import ReconstructionError, ReconstructionResult

GROUP_FOLDER = re.compile(r"^(?P<location>.+)_group(?P<group>\d+)$")


def list_released_groups(root: str | Path) -> dict[str, list[int]]:
    """Location ID -> sorted group indices found under ``root`` (``<ID>_group<k>/points3D.txt``)."""
    root = Path(root)
    if not root.is_dir():
        raise ReconstructionError(
            f"GeoLink-3D folder {root} does not exist. Download the authors' clouds (Hugging Face dataset "
            f"ZhangHY/GeoLink-3D) and set reconstruct.geolink3d.<dataset> to the folder holding the "
            f"<ID>_group0, <ID>_group1, <ID>_group2 folders."
        )
    found: dict[str, list[int]] = {}
    for folder in root.iterdir():
        match = GROUP_FOLDER.match(folder.name)
        if match and (folder / "points3D.txt").is_file():
            found.setdefault(match["location"], []).append(int(match["group"]))
    return {location: sorted(groups) for location, groups in sorted(found.items())}


def import_geolink3d(root: str | Path, location: str, group: int) -> ReconstructionResult:
    """Read one released cloud as a ReconstructionResult (no cameras: the release has none)."""
    path = Path(root) / f"{location}_group{group}" / "points3D.txt"
    if not path.is_file():
        raise ReconstructionError(f"GeoLink-3D has no cloud for location {location}, group {group}: {path} is missing")
    try:
        points = read_points3d_text(path)
    except ColmapTextError as err:  # a damaged download is this location's failure, under on_failure
        raise ReconstructionError(str(err)) from err
    return ReconstructionResult(
        xyz=points.xyz,
        rgb=points.rgb,
        error=points.known_error,
        n_images=0,
        n_registered=0,
        backend="geolink3d",
        info={"source": str(path)},
    )
