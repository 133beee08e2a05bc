"""Training image augmentation: one transform per view, and the joint flip of a (drone, satellite) pair.

The paper does not describe augmentation (it gives only the 448 px input), so the official trainers' stack
is the reference (docs/official_code.md §1.4): Sample4Geo's albumentations 1.3.1 pipeline. Per view, in order:

1. JPEG compression, quality 90-100, p 0.5 (of the image as read, before resizing);
2. resize to the input size;
3. colour jitter: brightness, contrast and saturation factors in [0.85, 1.15], hue shift in [-0.15, 0.15],
   in random order, p 0.5;
4. one of AdvancedBlur (a generalised-Gaussian kernel, anisotropic, rotated, with multiplicative noise) or
   Sharpen, p 0.3;
5. one of GridDropout (ratio 0.4: a fixed grid of black squares, albumentations 1.3.1 has no random offset) or
   CoarseDropout (10-25 black holes with sides 0.1-0.2 of the input size), p 0.3;
6. one of sepia or solarize (threshold 128), p 0.1 (the SUES-200 and DenseUAV trainers; University-1652's has it
   commented out);
7. rotation by a random multiple of 90 degrees, in the "satellite" transform only (``satellite_rot90``);
8. ImageNet normalisation.

Before the two views' transforms, both images are flipped horizontally together (``flip_prob``).

**Which view is rotated.** Sample4Geo, whose stack this is, gives the satellite tile the transform with the
rotation. GeoLink's scripts keep the argument order but point the query folder at the drone images, so there
the *drone* image is rotated and the satellite is not (docs/official_code.md §1.4). We keep each view's
own transform (``swap_views: false``): a tile seen from straight above is plausible at any of the four
rotations, an oblique drone view turned by 90 degrees (University-1652, SUES-200) shows a sideways horizon no
test image has, and the relative orientation the pair learns to ignore is random either way.
``swap_views: true`` reproduces the official assignment.

**Library.** albumentations is not used: every release with AdvancedBlur (1.1.0 on) declares
``opencv-python-headless``, a second distribution of the ``cv2`` module next to the pinned ``opencv-python``
(imgaug's), and pip would install one over the other. The ops here follow albumentations 1.3.1's parameter
sampling. Colour jitter is torchvision's ``transforms.v2.functional`` on PIL images (as albumentations documents
for its own ColorJitter, OpenCV's HSV conversion gives slightly different hues). JPEG and resizing are PIL,
bicubic as evaluation resizes every image (the official code uses OpenCV's INTER_LINEAR_EXACT for both). Blur and
sharpen are ``scipy.ndimage.correlate`` with mirrored borders (OpenCV's default BORDER_REFLECT_101); dropout and
sepia are a few lines of NumPy.

**Randomness.** Every draw comes from the generator the caller passes (the dataset seeds it with (seed, epoch,
index)), and all pixel work is single-threaded PIL, NumPy or SciPy code, so a sample does not depend on global
random state, on PyTorch's thread count (which differs between the main process and DataLoader workers) or on
resuming. Each transform first draws its choices (:class:`ViewDraw`), then applies them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from scipy import ndimage

from geolink.config import ConfigError
from geolink.data.images import normalise_array


STACKS = ("official", "flip_rot90")

# albumentations 1.3.1 defaults of the two filters (the official stack sets no arguments).
BLUR_KERNEL_SIZES = (3, 5, 7)
BLUR_SIGMA = (0.2, 1.0)
BLUR_ROTATION_DEGREES = (-90.0, 90.0)
BLUR_BETA = (0.5, 8.0)  # shape: < 1 heavier tails than a Gaussian, > 1 lighter; each side drawn half the time
BLUR_NOISE = (0.9, 1.1)
SHARPEN_ALPHA = (0.2, 0.5)
SHARPEN_LIGHTNESS = (0.5, 1.0)
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)


def normalise(image: Image.Image | np.ndarray) -> torch.Tensor:
    """RGB image (PIL or ``[H, W, 3]`` uint8) -> ``[3, H, W]`` float tensor with ImageNet mean/std.

    In NumPy, which is single-threaded: PyTorch's intra-op threads made this ten times slower on a busy machine.
    """
    return torch.from_numpy(normalise_array(image)).permute(2, 0, 1)


def resize_normalise(image: Image.Image, size: int) -> torch.Tensor:
    """Bicubic resize to ``size`` x ``size``, then :func:`normalise` (what evaluation does to every image)."""
    return normalise(image.resize((size, size), Image.BICUBIC))


@dataclass
class ViewDraw:
    """The random choices of one view's transform for one sample; None or empty = that op does not fire."""

    jpeg_quality: int | None = None
    jitter: tuple[float, float, float, float] | None = None  # brightness, contrast, saturation factors; hue shift
    jitter_order: tuple[int, ...] = ()  # indices into ``jitter``, in the order they are applied
    filter: str | None = None  # "blur" or "sharpen"
    kernel: np.ndarray | None = None
    dropout: str | None = None  # "grid" or "coarse"
    holes: tuple[tuple[int, int, int, int], ...] = ()  # (x1, y1, x2, y2), set to black
    tone: str | None = None  # "sepia" or "solarize"
    rot90: int = 0  # counter-clockwise quarter turns


class ViewTransform(Protocol):
    """One view's transform: ``apply(image, flip, draw(rng))``; ``__call__`` does both."""

    size: int

    def draw(self, rng: np.random.Generator) -> ViewDraw: ...

    def apply(self, image: Image.Image, flip: bool, draw: ViewDraw) -> torch.Tensor: ...

    def __call__(self, image: Image.Image, rng: np.random.Generator, flip: bool) -> torch.Tensor: ...


@dataclass(frozen=True)
class FlipRot90:
    """The stack without photometric ops: resize, normalisation, the joint flip, optionally a random rot90."""

    size: int
    rot90: bool

    def draw(self, rng: np.random.Generator) -> ViewDraw:
        return ViewDraw(rot90=int(rng.integers(4)) if self.rot90 else 0)

    def apply(self, image: Image.Image, flip: bool, draw: ViewDraw) -> torch.Tensor:
        tensor = resize_normalise(image, self.size)
        if flip:
            tensor = tensor.flip(-1)
        return torch.rot90(tensor, draw.rot90, dims=(1, 2)) if self.rot90 else tensor

    def __call__(self, image: Image.Image, rng: np.random.Generator, flip: bool) -> torch.Tensor:
        return self.apply(image, flip, self.draw(rng))


@dataclass(frozen=True)
class OfficialStack:
    """The official trainers' per-view stack (module docstring); probabilities and ranges from the config."""

    size: int
    rot90: bool
    jpeg_prob: float
    jpeg_quality: tuple[int, int]
    jitter_prob: float
    jitter: float
    blur_sharpen_prob: float
    dropout_prob: float
    grid_ratio: float
    holes: tuple[int, int]
    hole_size: tuple[float, float]
    sepia_solarize_prob: float
    solarize_threshold: int

    def draw(self, rng: np.random.Generator) -> ViewDraw:
        """Every choice of one application, in the stack's order (each op's firing, then its parameters)."""
        draw = ViewDraw()
        if rng.random() < self.jpeg_prob:
            draw.jpeg_quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        if rng.random() < self.jitter_prob:
            s = self.jitter
            factors = rng.uniform(max(0.0, 1 - s), 1 + s, size=3)
            draw.jitter = (*(float(f) for f in factors), float(rng.uniform(-s, s)))
            draw.jitter_order = tuple(int(i) for i in rng.permutation(4))
        if rng.random() < self.blur_sharpen_prob:
            if rng.random() < 0.5:
                draw.filter, draw.kernel = "blur", advanced_blur_kernel(rng)
            else:
                draw.filter, draw.kernel = "sharpen", sharpen_kernel(rng)
        if rng.random() < self.dropout_prob:
            if rng.random() < 0.5:
                draw.dropout, draw.holes = "grid", grid_holes(self.size, self.grid_ratio)
            else:
                draw.dropout, draw.holes = "coarse", self._coarse_holes(rng)
        if rng.random() < self.sepia_solarize_prob:
            draw.tone = "sepia" if rng.random() < 0.5 else "solarize"
        if self.rot90:
            draw.rot90 = int(rng.integers(4))
        return draw

    def apply(self, image: Image.Image, flip: bool, draw: ViewDraw) -> torch.Tensor:
        if flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if draw.jpeg_quality is not None:
            image = jpeg(image, draw.jpeg_quality)
        image = image.resize((self.size, self.size), Image.BICUBIC)
        if draw.jitter is not None:
            image = color_jitter(image, draw.jitter, draw.jitter_order)
        pixels = np.array(image, dtype=np.uint8)  # [S, S, 3], a writable copy
        if draw.kernel is not None:
            pixels = filter2d(pixels, draw.kernel)
        for x1, y1, x2, y2 in draw.holes:
            pixels[y1:y2, x1:x2] = 0
        if draw.tone == "sepia":
            pixels = sepia(pixels)
        elif draw.tone == "solarize":
            pixels = np.where(pixels >= self.solarize_threshold, 255 - pixels, pixels)
        if draw.rot90:
            pixels = np.rot90(pixels, draw.rot90)  # counter-clockwise in the image plane, as torch.rot90
        return normalise(pixels)

    def __call__(self, image: Image.Image, rng: np.random.Generator, flip: bool) -> torch.Tensor:
        return self.apply(image, flip, self.draw(rng))

    def _coarse_holes(self, rng: np.random.Generator) -> tuple[tuple[int, int, int, int], ...]:
        """CoarseDropout: 10-25 holes, each side 0.1-0.2 of the input size (whole pixels), anywhere inside."""
        low, high = (int(f * self.size) for f in self.hole_size)
        holes = []
        for _ in range(int(rng.integers(self.holes[0], self.holes[1] + 1))):
            height, width = (int(v) for v in rng.integers(low, high + 1, size=2))
            y1 = int(rng.integers(self.size - height + 1))
            x1 = int(rng.integers(self.size - width + 1))
            holes.append((x1, y1, x1 + width, y1 + height))
        return tuple(holes)


@dataclass(frozen=True)
class PairAugment:
    """The transforms of a training pair: the joint flip, then the drone's and the satellite's own transform."""

    drone: ViewTransform
    satellite: ViewTransform
    flip_prob: float

    def __call__(
        self, drone: Image.Image, satellite: Image.Image, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        flip = bool(rng.random() < self.flip_prob)  # both views together, so they stay consistent
        return self.drone(drone, rng, flip), self.satellite(satellite, rng, flip)

    @classmethod
    def flip_rot90(cls, size: int, flip_prob: float = 0.5, satellite_rot90: bool = True) -> PairAugment:
        """The ``flip_rot90`` stack: no photometric ops, the satellite tile turned by a random multiple of 90°."""
        return cls(FlipRot90(size, False), FlipRot90(size, satellite_rot90), flip_prob)


def build_augment(train: dict) -> PairAugment:
    """The pair transform of a run's ``train`` settings (``image_size``, ``flip_prob``, ``satellite_rot90`` and
    the ``augmentation`` section; defaults in the config schema).

    Raises:
        ConfigError: a range of ``train.augmentation`` whose low end is above its high end.
    """
    section, size = train["augmentation"], train["image_size"]
    if section["stack"] == "flip_rot90":

        def make(rot90: bool) -> ViewTransform:
            return FlipRot90(size, rot90)

    else:
        jpeg_quality = _range(section, "jpeg", "quality")
        holes = _range(section, "dropout", "holes")
        hole_size = _range(section, "dropout", "hole_size")

        def make(rot90: bool) -> ViewTransform:
            return OfficialStack(
                size=size,
                rot90=rot90,
                jpeg_prob=section["jpeg"]["prob"],
                jpeg_quality=jpeg_quality,
                jitter_prob=section["color_jitter"]["prob"],
                jitter=section["color_jitter"]["strength"],
                blur_sharpen_prob=section["blur_sharpen"]["prob"],
                dropout_prob=section["dropout"]["prob"],
                grid_ratio=section["dropout"]["grid_ratio"],
                holes=holes,
                hole_size=hole_size,
                sepia_solarize_prob=section["sepia_solarize"]["prob"],
                solarize_threshold=section["sepia_solarize"]["solarize_threshold"],
            )

    satellite_transform, drone_transform = make(train["satellite_rot90"]), make(False)
    if section["swap_views"]:  # the official scripts: drones get the satellite transform, and the reverse
        drone_transform, satellite_transform = satellite_transform, drone_transform
    return PairAugment(drone_transform, satellite_transform, train["flip_prob"])


def _range(section: dict, group: str, key: str) -> tuple:
    low, high = section[group][key]
    if low > high:
        raise ConfigError(
            f"train.augmentation.{group}.{key} is [{low}, {high}]: a range [low, high] needs low <= high."
        )
    return low, high


# ---- the ops


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG at ``quality`` (PIL's defaults: 4:2:0 chroma subsampling, as OpenCV's) and decode again."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def color_jitter(image: Image.Image, jitter: tuple[float, ...], order: tuple[int, ...]) -> Image.Image:
    """torchvision's brightness, contrast, saturation and hue adjustments (PIL kernels), in ``order``."""
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for i in order:
        image = ops[i](image, jitter[i])
    return image


def advanced_blur_kernel(rng: np.random.Generator) -> np.ndarray:
    """albumentations' AdvancedBlur kernel: exp(-0.5 (x^T Σ^-1 x)^β) on a k x k grid, Σ an axis-aligned
    covariance rotated by a random angle, times uniform noise, normalised to sum 1."""
    size = int(rng.choice(BLUR_KERNEL_SIZES))
    sigma_x, sigma_y = rng.uniform(*BLUR_SIGMA, size=2)
    angle = np.deg2rad(rng.uniform(*BLUR_ROTATION_DEGREES))
    beta = rng.uniform(BLUR_BETA[0], 1.0) if rng.random() < 0.5 else rng.uniform(1.0, BLUR_BETA[1])
    noise = rng.uniform(*BLUR_NOISE, size=(size, size))
    axis = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1)  # [k, k, 2] offsets (x, y)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    inverse_sigma = np.linalg.inv(rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T)
    kernel = np.exp(-0.5 * np.power(np.sum((grid @ inverse_sigma) * grid, axis=-1), beta)) * noise
    return (kernel / kernel.sum()).astype(np.float32)


def sharpen_kernel(rng: np.random.Generator) -> np.ndarray:
    """albumentations' Sharpen kernel: (1 - α) identity + α [[-1,-1,-1], [-1, 8 + lightness, -1], [-1,-1,-1]]."""
    alpha = rng.uniform(*SHARPEN_ALPHA)
    lightness = rng.uniform(*SHARPEN_LIGHTNESS)
    identity = np.zeros((3, 3))
    identity[1, 1] = 1.0
    effect = np.full((3, 3), -1.0)
    effect[1, 1] = 8.0 + lightness
    return ((1 - alpha) * identity + alpha * effect).astype(np.float32)


def filter2d(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """OpenCV's ``filter2D`` on a ``[H, W, 3]`` uint8 image: correlation with the kernel centred on each pixel,
    mirrored borders (BORDER_REFLECT_101 = scipy's ``mirror``), rounded and clipped to uint8."""
    out = ndimage.correlate(pixels.astype(np.float32), kernel[:, :, None], mode="mirror")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def grid_holes(size: int, ratio: float) -> tuple[tuple[int, int, int, int], ...]:
    """albumentations 1.3.1 GridDropout with default arguments: units of ``size // 10`` pixels (at least 2),
    a square hole of ``int(unit * ratio)`` pixels at the top left of each unit, no offset."""
    unit = max(2, size // 10)
    hole = min(max(int(unit * ratio), 1), unit - 1)
    starts = [min(unit * i, size) for i in range(size // unit + 1)]
    return tuple((x, y, min(x + hole, size), min(y + hole, size)) for x in starts for y in starts)


def sepia(pixels: np.ndarray) -> np.ndarray:
    """albumentations' ToSepia: each output channel a fixed mix of R, G, B, rounded and clipped to uint8."""
    rgb = pixels.astype(np.float32)
    out = np.stack([rgb[..., 0] * m[0] + rgb[..., 1] * m[1] + rgb[..., 2] * m[2] for m in SEPIA], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
