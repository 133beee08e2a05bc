"""Image loading, as upstream ``vggt/utils/load_fn.py`` in "crop" mode, at a small width for fast tests."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

#: Preprocessed width; upstream uses 518. A multiple of 14, like every VGGT input size.
TARGET_SIZE = 42


def load_and_preprocess_images(image_path_list: list[str], mode: str = "crop") -> torch.Tensor:
    """Load images as ``[S, 3, H, W]`` floats in [0, 1].

    "crop": width -> TARGET_SIZE, height -> ``round(h * TARGET_SIZE / w / 14) * 14``, centre-cropped to
    TARGET_SIZE when taller; images are then padded (white, centred) to the tallest. Resampling is nearest
    (upstream: bicubic) so that uniform test images keep their exact colour. "pad" is not implemented.
    """
    if len(image_path_list) == 0:
        raise ValueError("At least 1 image is required")
    if mode not in ("crop", "pad"):
        raise ValueError("Mode must be either 'crop' or 'pad'")
    if mode == "pad":
        raise NotImplementedError("the fake vggt implements only mode='crop'")
    images = []
    for path in image_path_list:
        with Image.open(path) as image:
            image.load()
            if image.mode == "RGBA":  # as upstream: composite onto white (other modes just drop their alpha)
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            rgb = image.convert("RGB")
        width, height = rgb.size
        new_height = round(height * (TARGET_SIZE / width) / 14) * 14
        tensor = pil_to_tensor(rgb.resize((TARGET_SIZE, new_height), Image.Resampling.NEAREST)).float() / 255
        if new_height > TARGET_SIZE:
            top = (new_height - TARGET_SIZE) // 2
            tensor = tensor[:, top : top + TARGET_SIZE, :]
        images.append(tensor)
    tallest = max(image.shape[1] for image in images)
    padded = []
    for image in images:
        missing = tallest - image.shape[1]
        padded.append(torch.nn.functional.pad(image, (0, 0, missing // 2, missing - missing // 2), value=1.0))
    return torch.stack(padded)
