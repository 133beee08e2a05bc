"""Image writing for the synthetic benchmark (the trees themselves are built by ``geolink.resumable``)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def save_image(array, path: Path, **save_kwargs) -> None:
    """Write an ``uint8 [H, W, 3]`` image; the format follows the suffix (JPEG quality 92 by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        save_kwargs.setdefault("quality", 92)
    Image.fromarray(array).save(path, **save_kwargs)
