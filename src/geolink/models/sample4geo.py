"""Sample4Geo (Deuser et al., ICCV 2023): one shared ConvNeXt, global-average-pooled, and symmetric InfoNCE.

The re-run peer of the paper's Tables 2-4 (docs/results.md). What the model is, from its release
(Skyy93/Sample4Geo ``sample4geo/model.py``, ``train_university.py``; docs/method.md):

- one timm ConvNeXt for both views (``num_classes=0``: global average pooling, the head's LayerNorm
  kept), descriptors L2-normalised by the loss; ``convnext_base.fb_in22k_ft_in1k_384`` at 384 px for
  University-1652;
- a learnable temperature ``logit_scale`` = log(1/0.07), as GeoLink's;
- no 3D branch: trained with the cross-view InfoNCE term only (label smoothing 0.1).

Same contract as ``GeoLinkModel`` (``encode_image``, ``forward``, ``descriptor_dim``, ``has_3d``), so the
training loop, evaluation and checkpoints treat both alike.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geolink.config import ConfigError
from geolink.models.backbone import cached_timm_weights
from geolink.models.registry import register_model

__all__ = ["Sample4GeoModel"]


class Sample4GeoModel(nn.Module):
    """A timm image classifier without its classifier, shared by drone and satellite views."""

    def __init__(
        self,
        arch: str = "convnext_base.fb_in22k_ft_in1k_384",  # timm name (with pretrained tag)
        img_size: int = 384,  # the release's University-1652 input side (ConvNeXt itself takes any size)
        pretrained: bool = False,  # timm weights of the arch's tag from the local Hugging Face cache
        weights_path: str | Path | None = None,  # or from this local file
        logit_scale_init: float = 1 / 0.07,  # initial 1/tau
        **timm_kwargs: Any,  # architecture overrides for timm (dims, depths, ...)
    ) -> None:
        super().__init__()
        if weights_path is None and pretrained:
            if "." not in arch:
                raise ConfigError(
                    f"no pretrained weights are configured for {arch!r} (random init only), but the model was asked "
                    "for them (train.model.kwargs.pretrained: true, the schema's default). Set pretrained: false."
                )
            weights_path = cached_timm_weights(arch)  # the local Hugging Face cache; nothing is downloaded
        overlay = {"file": str(weights_path)} if weights_path is not None else None
        self.encoder = timm.create_model(
            arch,
            pretrained=weights_path is not None,
            pretrained_cfg_overlay=overlay,
            num_classes=0,
            **timm_kwargs,
        )
        self.img_size = img_size
        self.descriptor_dim: int = self.encoder.num_features  # D (1024 for ConvNeXt-B)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale_init)))

    has_3d = False

    def encode_image(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` ImageNet-normalised images -> ``[B, D]`` L2-normalised descriptors."""
        return F.normalize(self.encoder(images), dim=-1)

    def forward(
        self, query: Tensor, satellite: Tensor, points: Tensor | None = None, *, query_view: str = "drone"
    ) -> dict[str, Tensor]:
        """Both views through the shared encoder (``points`` ignored: no 3D branch).

        Returns:
            ``<query_view>`` (``drone`` or ``street``), ``satellite``: ``[B, D]`` L2-normalised; ``logit_scale``:
            scalar 1/tau.
        """
        return {
            query_view: self.encode_image(query),
            "satellite": self.encode_image(satellite),
            "logit_scale": self.logit_scale.exp(),
        }


@register_model
def sample4geo_convnext_base(**kwargs: Any) -> Sample4GeoModel:
    """Sample4Geo's University-1652 model: ConvNeXt-B (ImageNet-22k, fine-tuned on 1k at 384 px), 1024-d."""
    return Sample4GeoModel(**{"arch": "convnext_base.fb_in22k_ft_in1k_384", **kwargs})


@register_model
def sample4geo_tiny(**kwargs: Any) -> Sample4GeoModel:
    """CPU stand-in for the synthetic benchmark: timm ConvNeXt-Atto (3.4M parameters, 320-d), random init."""
    return Sample4GeoModel(**{"arch": "convnext_atto", **kwargs})
