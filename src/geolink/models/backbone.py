"""The shared 2D encoder: a timm DINOv2 ViT that returns its last-block patch tokens as a feature map.

GeoLink (arXiv 2604.13183, §4.1) uses DINOv2-Base at 448x448 with MixVPR aggregation, on the CV-Cities baseline
(§3.1). The official code (docs/official_code.md §2.1) freezes ``patch_embed`` and blocks 0-7, keeps ``cls_token``
and ``pos_embed`` trainable, and removes the final LayerNorm, so MixVPR sees the un-normalised block-11 patch
tokens (CLS dropped) as a ``[B, 768, 32, 32]`` map. timm's ``vit_base_patch14_dinov2`` keeps the final norm
(docs/components.md §3.3), so it is replaced by an identity here; the map comes from timm's public
``forward_intermediates(..., norm=False, output_fmt="NCHW")``, not from the model's internals.

Weights (no download ever happens here):

- ``pretrained=True`` reads the timm DINOv2 checkpoint from the local Hugging Face cache only
  (``local_files_only``, i.e. HF_HUB_OFFLINE semantics) and raises ``FileNotFoundError`` if it is absent.
  An unusable ``weights_path`` (missing, truncated, foreign) raises ``geolink.checkpoint.CheckpointError``.
- ``weights_path`` loads a local file: a timm state dict or the original ``dinov2_vit*14_pretrain.pth``
  (``.safetensors`` or a torch pickle). timm's ``checkpoint_filter_fn`` converts the original layout and
  resamples ``pos_embed`` from the 518 px grid (37x37) to the model's (32x32 at 448 px).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from torch import Tensor, nn

from geolink.checkpoint import CheckpointError, CheckpointNotFoundError, load_checkpoint
from geolink.config import ConfigError
from geolink.models.registry import BACKBONES

__all__ = ["DinoV2Backbone", "find_cached_weights", "load_vit_weights"]

#: Pretrained tag of each timm architecture that has DINOv2 weights (LVD-142M).
PRETRAINED_TAGS = {
    "vit_base_patch14_dinov2": "vit_base_patch14_dinov2.lvd142m",
    "vit_small_patch14_dinov2": "vit_small_patch14_dinov2.lvd142m",
    "vit_large_patch14_dinov2": "vit_large_patch14_dinov2.lvd142m",
}
#: Keys a weight file may lack (we drop the final norm anyway) or carry without use (classifier, DINOv2 mask).
_OPTIONAL_MISSING = {"norm.weight", "norm.bias"}


def find_cached_weights(arch: str, cache_dir: str | Path | None = None) -> Path:
    """Path of the cached DINOv2 weights of timm architecture ``arch``, never downloading.

    Raises:
        ConfigError: ``arch`` has no pretrained DINOv2 weights (e.g. the tiny CPU test ViT); a ``ValueError``.
        FileNotFoundError: the weights are not in the local Hugging Face cache.
    """
    if arch not in PRETRAINED_TAGS:
        raise ConfigError(
            f"no pretrained weights exist for backbone {arch!r} (they exist for {', '.join(PRETRAINED_TAGS)}), but "
            f"the model was asked for them (train.model.kwargs.pretrained: true). Set pretrained: false, or set "
            f"weights_path to a weight file that fits this backbone."
        )
    return cached_timm_weights(PRETRAINED_TAGS[arch], cache_dir)


def cached_timm_weights(tagged_arch: str, cache_dir: str | Path | None = None) -> Path:
    """Path of the cached weights of a timm ``arch.tag`` (e.g. ``convnext_base.fb_in22k_ft_in1k_384``), never
    downloading; ``FileNotFoundError`` with the command that stages them when they are not cached."""
    from huggingface_hub import hf_hub_download  # imported lazily: only the pretrained path needs it

    arch = tagged_arch
    repo_id = timm.models.get_pretrained_cfg(tagged_arch).hf_hub_id
    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            return Path(hf_hub_download(repo_id, filename, cache_dir=cache_dir, local_files_only=True))
        except Exception:  # LocalEntryNotFoundError, or an offline error: try the next file name
            continue
    raise FileNotFoundError(
        f"pretrained weights for {arch!r} ({repo_id}) are not in the local Hugging Face cache"
        f"{f' {cache_dir}' if cache_dir else ''}; nothing is downloaded here. Stage them in advance "
        f"(`huggingface-cli download {repo_id}`) or pass weights_path=<local .pth/.safetensors>."
    )


def load_vit_weights(vit: VisionTransformer, path: str | Path) -> None:
    """Load a local timm or original-DINOv2 state dict into ``vit`` (strict up to the final norm and head).

    Raises:
        CheckpointNotFoundError: ``path`` does not exist (a ``FileNotFoundError``).
        CheckpointError: the file is not a readable weight file (``geolink.checkpoint.load_checkpoint``), lacks
            weights the model needs or has weights it cannot place.
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"weights file not found: {path} (train.model.kwargs.weights_path, or the file of rule weights). Point "
            f"weights_path at an existing .pth/.safetensors file, or pin weights.dinov2.revision so that rule "
            f"weights downloads it."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # safetensors' own SafetensorError, or an OSError: the file is at fault
            raise CheckpointError(
                f"weights file {path} is not a readable safetensors file ({str(err).splitlines()[0]}); it is "
                f"truncated or not what its name says. Download it again (delete it and rerun snakemake)."
            ) from None
    else:
        state = load_checkpoint(path)
    state = checkpoint_filter_fn(state, vit)  # unwraps 'model'/'state_dict', converts DINOv2, resamples pos_embed
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing, unexpected = vit.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in _OPTIONAL_MISSING]
    if missing or unexpected:
        raise CheckpointError(
            f"weights file {path} does not fit the model's backbone: missing {_few(missing)}, unexpected "
            f"{_few(unexpected)}. It holds weights of another architecture: point weights_path at DINOv2 weights "
            f"of the configured backbone (train.model.name), e.g. the file of rule weights."
        )


def _few(keys: list[str], n: int = 5) -> str:
    """Up to ``n`` key names, and how many more (a foreign file can mismatch hundreds)."""
    shown = ", ".join(keys[:n]) or "none"
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")


class DinoV2Backbone(nn.Module):
    """A timm ViT with the patch embedding and the first blocks frozen and the final LayerNorm removed."""

    def __init__(
        self,
        arch: str = "vit_base_patch14_dinov2",  # timm architecture name
        img_size: int = 448,  # input side H = W in pixels; the map is img_size / patch_size per side
        frozen_blocks: int = 8,  # blocks 0 .. frozen_blocks-1 frozen with patch_embed (official: layer1 = 7)
        pretrained: bool = False,  # load DINOv2 weights from the local Hugging Face cache
        weights_path: str | Path | None = None,  # or from this local file (takes precedence)
        **vit_kwargs: Any,  # architecture overrides for timm (embed_dim, depth, num_heads, patch_size, ...)
    ) -> None:
        super().__init__()
        self.vit: VisionTransformer = timm.create_model(
            arch, pretrained=False, img_size=img_size, num_classes=0, **vit_kwargs
        )
        if weights_path is None and pretrained:
            weights_path = find_cached_weights(arch)
        if weights_path is not None:
            load_vit_weights(self.vit, weights_path)
        self.vit.norm = nn.Identity()  # GeoLink/CV-Cities feed MixVPR un-normalised last-block tokens
        if not 0 <= frozen_blocks <= len(self.vit.blocks):
            raise ValueError(f"frozen_blocks must be in [0, {len(self.vit.blocks)}], got {frozen_blocks}")
        for module in [self.vit.patch_embed, *self.vit.blocks[:frozen_blocks]]:
            module.requires_grad_(False)
        self.frozen_blocks = frozen_blocks
        self.out_channels: int = self.vit.embed_dim  # C
        self.grid_size: tuple[int, int] = tuple(self.vit.patch_embed.grid_size)  # (H/p, W/p)

    def forward(self, x: Tensor) -> Tensor:
        """Patch-token map of the last block, prefix (CLS/register) tokens removed, no final norm.

        Args:
            x: ``[B, 3, H, W]`` ImageNet-normalised images, ``H = W = img_size``.

        Returns:
            ``[B, C, H/p, W/p]`` feature map (``[B, 768, 32, 32]`` for ViT-B/14 at 448 px).
        """
        (tokens,) = self.vit.forward_intermediates(x, indices=1, norm=False, output_fmt="NCHW", intermediates_only=True)
        return tokens


@BACKBONES.register
def vit_base_patch14_dinov2(**kwargs: Any) -> DinoV2Backbone:
    """DINOv2 ViT-B/14 (paper backbone): 768 channels, 32x32 map at 448 px, blocks 0-7 frozen."""
    return DinoV2Backbone(**{"arch": "vit_base_patch14_dinov2", "img_size": 448, "frozen_blocks": 8, **kwargs})


@BACKBONES.register
def vit_small_patch14_dinov2(**kwargs: Any) -> DinoV2Backbone:
    """DINOv2 ViT-S/14: 384 channels, 32x32 map at 448 px, blocks 0-7 frozen (same recipe as the base)."""
    return DinoV2Backbone(**{"arch": "vit_small_patch14_dinov2", "img_size": 448, "frozen_blocks": 8, **kwargs})


@BACKBONES.register
def vit_large_patch14_dinov2(**kwargs: Any) -> DinoV2Backbone:
    """DINOv2 ViT-L/14 (SkyLink's backbone): 1024 channels, 24 blocks, 32x32 map at 448 px, blocks 0-7 frozen
    (the SkyLink release's ``layer1 = 7``, as GeoLink's)."""
    return DinoV2Backbone(**{"arch": "vit_large_patch14_dinov2", "img_size": 448, "frozen_blocks": 8, **kwargs})


@BACKBONES.register
def vit_tiny_patch8_test(**kwargs: Any) -> DinoV2Backbone:
    """CPU-sized DINOv2-style ViT (random init only): 96 channels, depth 4, 3 heads, 16x16 map at 128 px."""
    if kwargs.get("pretrained"):
        raise ConfigError(
            "backbone vit_tiny_patch8_test has no pretrained weights, but the model was asked for them "
            "(train.model.kwargs.pretrained: true, the schema's default). Set train.model.kwargs.pretrained: false, "
            "or give weights_path."
        )
    arch = {"embed_dim": 96, "depth": 4, "num_heads": 3, "patch_size": 8}
    return DinoV2Backbone(**{"arch": "vit_small_patch14_dinov2", "img_size": 128, "frozen_blocks": 2, **arch, **kwargs})


class ResNetBackbone(nn.Module):
    """A small timm ResNet cut after ``out_stage`` stages: a CPU stand-in that learns from few images.

    A ViT trained from random initialisation needs far more images and steps than a CPU run of the
    synthetic benchmark has; a convolutional network's locality prior learns from tens of locations in
    minutes (``docs/synthetic.md``, "Why a small CNN on CPU"). Same contract as ``DinoV2Backbone``:
    ``[B, 3, H, W]`` in, ``[B, C, h, w]`` map out, ``out_channels`` and ``grid_size`` attributes.
    """

    def __init__(
        self,
        img_size: int = 128,  # input side H = W in pixels
        channels: tuple[int, ...] = (32, 64, 128, 256),  # widths of the four ResNet stages
        out_stage: int = 3,  # stages run; the map has stride 4 * 2**(out_stage - 1)
        frozen_blocks: int = 0,  # leading stages frozen with the stem (0: train everything)
        pretrained: bool = False,
        weights_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        if pretrained or weights_path is not None:
            raise ConfigError(
                "the tiny ResNet backbone has no pretrained weights and reads no weight file (random init only), "
                "but the model was asked for them (train.model.kwargs.pretrained: true, the schema's default, or "
                "a weights_path). Set train.model.kwargs.pretrained: false and remove weights_path."
            )
        from timm.models.resnet import BasicBlock, ResNet

        net = ResNet(BasicBlock, (1,) * len(channels), channels=tuple(channels), num_classes=0)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.act1, net.maxpool)
        self.stages = nn.Sequential(*[net.layer1, net.layer2, net.layer3, net.layer4][:out_stage])
        for module in [self.stem, *self.stages[:frozen_blocks]] if frozen_blocks else []:
            module.requires_grad_(False)
        stride = 4 * 2 ** (out_stage - 1)
        self.img_size = img_size
        self.frozen_blocks = frozen_blocks
        self.out_channels: int = channels[out_stage - 1]
        self.grid_size: tuple[int, int] = (img_size // stride, img_size // stride)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, H, W]`` -> ``[B, C, H/s, W/s]`` (``[B, 128, 8, 8]`` at 128 px with the defaults)."""
        return self.stages(self.stem(x))


@BACKBONES.register
def resnet_tiny_test(**kwargs: Any) -> ResNetBackbone:
    """CPU-sized ResNet (random init only): 3 stages of one basic block, 128 channels, 8x8 map at 128 px."""
    return ResNetBackbone(**kwargs)
