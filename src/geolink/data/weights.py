"""Pretrained weights the paper's runs need (DINOv2-B/14 for the 2D encoder, VGGT-1B for reconstruction).

Two ways in, chosen per checkpoint in ``weights.<name>`` of the configuration:

* ``revision: null`` (default): nothing is fetched by the pipeline. The consumers read the local Hugging Face cache
  (``huggingface-cli download <repo>`` beforehand) or a file path (``train.model.kwargs.weights_path``,
  ``reconstruct.vggt.weights``), which is what offline machines use.
* ``revision: <commit id>``: rule ``weights`` downloads ``file`` of model repository ``repo`` at that commit into
  ``data/weights/<name>/`` with :func:`geolink.data.huggingface.download_repo` (resumable, checked against the
  SHA-256 the Hub publishes), records what it fetched in ``weights.json`` and prints the licence; the consumers are
  then pointed at that file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from geolink.atomic import atomic_output
from geolink.data.acquire import sha256_file
from geolink.data.huggingface import download_repo

log = logging.getLogger(__name__)

INFO_NAME = "weights.json"

#: Licence of each checkpoint the pipeline knows, by Hugging Face repo id (docs/data.md).
LICENCES: dict[str, str] = {
    "timm/vit_base_patch14_dinov2.lvd142m": "Apache-2.0 (Meta's DINOv2 weights, repackaged by timm)",
    "timm/vit_small_patch14_dinov2.lvd142m": "Apache-2.0 (Meta's DINOv2 weights, repackaged by timm)",
    "timm/vit_large_patch14_dinov2.lvd142m": "Apache-2.0 (Meta's DINOv2 weights, repackaged by timm)",
    "facebook/VGGT-1B": "CC BY-NC 4.0: non-commercial use only",
    "facebook/VGGT-1B-Commercial": (
        "VGGT commercial licence: commercial use permitted except military use; gated on the Hugging Face hub "
        "(access is granted through an application form)"
    ),
}


def licence_of(repo: str) -> str:
    """The licence of checkpoint repository ``repo``, or a pointer to its model card when it is not one we know."""
    return LICENCES.get(repo, f"not recorded here: read https://huggingface.co/{repo} before use")


def fetch_weights(name: str, spec: dict[str, Any], dest: str | Path, progress: bool = True) -> Path:
    """Download one checkpoint at a pinned commit into ``dest`` and describe it in ``dest/weights.json``.

    Args:
        name: The checkpoint's name in the configuration (``dinov2``, ``vggt``).
        spec: ``{"repo": ..., "revision": <commit id>, "file": <path in the repository>}``.
        dest: Folder to hold the file (under its repository path) and ``weights.json``.
        progress: Show a download progress bar.

    Returns:
        The path of the weight file.

    Raises:
        DatasetError: The revision is not pinned, or the download fails or does not match its checksum.
    """
    dest = Path(dest)
    (path,) = download_repo(
        spec["repo"], spec["revision"], dest, patterns=[spec["file"]], repo_type="model", progress=progress
    )
    licence = licence_of(spec["repo"])
    # Printed, not only logged: using a checkpoint means accepting its terms (VGGT-1B is non-commercial).
    log.warning("%s weights %s@%s: licence %s", name, spec["repo"], spec["revision"][:12], licence)
    info = {
        "name": name,
        "repo": spec["repo"],
        "revision": spec["revision"],
        "file": spec["file"],
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
        "licence": licence,
    }
    with atomic_output(dest / INFO_NAME) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return path


def recorded_repo(weight_file: str | Path) -> str | None:
    """The repository a file fetched by :func:`fetch_weights` came from (its ``weights.json``), else None."""
    for folder in list(Path(weight_file).resolve().parents)[:4]:  # the file may sit in its repository's subfolders
        info = folder / INFO_NAME
        if info.is_file():
            try:
                return json.loads(info.read_text()).get("repo")
            except (OSError, ValueError):
                return None
    return None
