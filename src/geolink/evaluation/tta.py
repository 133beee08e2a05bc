"""Test-time augmentation of SkyLink's release: every image seen four ways, the descriptors averaged.

The release's test script wraps the model in ``ttach`` with ``HorizontalFlip`` and ``Rotate90([0, 90])``: the
product of the two is four views of each image (as is, rotated by 90 degrees, flipped, flipped then rotated), whose
descriptors are mean-merged and then L2-normalised (docs/official_code.md, SkyLink). ``ttach`` is not a dependency:
the four views are two ``torch`` calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["flip_rot90_views", "tta_descriptors"]


def flip_rot90_views(images: Tensor) -> list[Tensor]:
    """The four views of ``[B, 3, H, W]`` images: identity, rot90, horizontal flip, flip then rot90 (square images;
    ``torch.rot90`` with ``k=1`` over the spatial axes, counter-clockwise, as ``ttach.Rotate90``)."""
    flipped = images.flip(-1)
    return [images, images.rot90(1, dims=(2, 3)), flipped, flipped.rot90(1, dims=(2, 3))]


def tta_descriptors(encode, images: Tensor) -> Tensor:
    """``[B, D]`` L2-normalised mean of the L2-normalised descriptors of the four views (``flip_rot90_views``).

    Args:
        encode: ``[N, 3, H, W] -> [N, D]`` descriptors (``model.encode_image``).
        images: ``[B, 3, H, W]``.
    """
    views = flip_rot90_views(images)
    descriptors = F.normalize(encode(torch.cat(views)).float(), dim=-1)  # one pass over the 4B views
    return F.normalize(descriptors.unflatten(0, (len(views), images.shape[0])).mean(dim=0), dim=-1)
