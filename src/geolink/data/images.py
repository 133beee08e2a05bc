"""Reading image files strictly: every pixel decoded, a truncated file an error, a failure naming the file.

PIL decodes lazily and, when its module-wide ``ImageFile.LOAD_TRUNCATED_IMAGES`` flag is on, decodes what
a truncated file holds and leaves the rest of the image blank instead of failing. Some training scripts and
libraries switch that flag on to skip over bad files; here a truncated image must fail loudly wherever it is
read (the manifest's ``decode`` check, training, evaluation), so every read goes through :func:`decode_rgb`,
which forces the flag off for the duration of the read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from geolink.data.errors import DatasetError, full_path

#: What to do about an image that training or evaluation cannot read.
UNREADABLE_IMAGE_FIX = (
    "The file is missing, truncated or corrupt (an interrupted download or unzip is the usual cause): "
    "re-extract or re-download the dataset (for a generated copy such as a weather set, delete its folder "
    "and rerun the rule that wrote it), and rebuild the manifest with `manifest.check_images: decode`, "
    "which decodes every image while indexing so that any other bad file is named there, before training "
    "or evaluation starts."
)

#: ImageNet channel statistics every model of the project is normalised with (as timm's pretrained backbones).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)  # built once, not on every image
_STD = np.array(IMAGENET_STD, dtype=np.float32)


def normalise_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """RGB image (PIL or ``[H, W, 3]`` uint8) -> ``[H, W, 3]`` float32 with ImageNet mean/std, in NumPy.

    Torch-free, so ``geolink locate --onnx`` prepares its inputs exactly as training and evaluation do
    (``geolink.data.augment.normalise`` is this plus the move to a ``[3, H, W]`` tensor).
    """
    return (np.asarray(image, dtype=np.float32) / 255.0 - _MEAN) / _STD


@contextmanager
def strict_decoding() -> Iterator[None]:
    """Make PIL refuse truncated files inside the block, whatever ``ImageFile.LOAD_TRUNCATED_IMAGES`` was.

    The previous value is restored afterwards, so code that chose leniency for its own files keeps it.
    The flag is module-wide state: a thread that switches it on while another is inside this block would
    make that read lenient again, which is why every strict read sets it itself rather than once at import.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def decode_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode every pixel of an image file into a new RGB image, refusing truncated files.

    Only the first frame of a multi-frame file (a TIFF page, an animated WebP) is decoded: it is the one
    training and evaluation use.

    Args:
        path: The image file.

    Returns:
        A fully loaded RGB image, independent of the (closed) file.

    Raises:
        Exception: Whatever PIL raises for a missing, foreign, truncated or corrupt file (OSError,
            SyntaxError, ValueError, EOFError, struct.error, DecompressionBombError, ...); callers turn it
            into a DatasetError naming the file (:func:`read_rgb` does).
    """
    with strict_decoding(), Image.open(path) as image:
        # convert() loads (decodes) the pixels first and then copies them, so nothing is read lazily later.
        return image.convert("RGB")


def read_rgb(path: str | os.PathLike) -> Image.Image:
    """Like :func:`decode_rgb`, but any failure raises a DatasetError naming the file and the fix.

    Raises:
        DatasetError: The file is missing or unreadable; the message gives its full path.
    """
    try:
        return decode_rgb(path)
    # PIL reports corrupt data through many exception types; for a reader they all mean "cannot use this file".
    except Exception as exc:
        raise unreadable_image_error(path, exc) from exc


def unreadable_image_error(path: str | Path, exc: BaseException) -> DatasetError:
    """The DatasetError for an image that cannot be read: its full path, PIL's reason, and the fix."""
    return DatasetError(
        f"Cannot read image {full_path(path)} ({type(exc).__name__}: {exc}). {UNREADABLE_IMAGE_FIX}",
        path=path,
    )
