"""SkyLink (arXiv 2509.24783): street -> satellite retrieval with a multi-scale UAV 3D bridge, as registered models.

SkyLink is GeoLink's sibling for street-view queries, from the same group and code base (docs/method.md, "SkyLink").
Its model is ``GeoLinkModel`` with two changes, so everything GeoLink has (the training-only 3D branch, the 2D-only
inference path, checkpoints rebuilt by name) holds for it too:

- Patch-Aware Feature Aggregation (``geolink.models.pafa``): region descriptors of the backbone map, concatenated
  with the MixVPR descriptor (``part_layout``; ``None`` turns it off, the "w/o PAFA" ablation).
- The multi-scale 3D bridge: the point clouds of all of a location's drone view groups, each encoded, averaged
  (``GeoLinkModel.encode_point_scales``; the data side gives ``[B, S, N, 3]`` with ``train.point_scales: all``).

The release's configuration (docs/official_code.md, SkyLink): DINOv2 ViT-L/14 at 448 px with blocks 0-7 frozen,
MixVPR 1024 channels x 4 rows = 4096. The ``*_2d`` entrypoints have no 3D branch (the "w/o 3D" ablation), the
``*_tiny_cnn`` ones are the CPU models of the synthetic benchmark.
"""

from __future__ import annotations

from typing import Any

from geolink.models.geolink import GeoLinkModel
from geolink.models.registry import register_model

__all__: list[str] = []

#: PAFA defaults: LPN's two square rings, 512-d each (release model) or 64-d (CPU model); equal shares of global and
#: regional similarity.
_PARTS = {"part_layout": "rings", "n_parts": 2, "part_dim": 512}
_LARGE = {"backbone": "vit_large_patch14_dinov2", **_PARTS}
_TINY_CNN = {"backbone": "resnet_tiny_test", "out_channels": 64, **_PARTS, "part_dim": 64}


@register_model
def skylink_dinov2_large(**kwargs: Any) -> GeoLinkModel:
    """SkyLink: DINOv2 ViT-L/14 @ 448 + MixVPR (4096) + PAFA (2 rings x 512), Point-NN + MME -> 5120."""
    return GeoLinkModel(**{**_LARGE, "point_encoder": "point_nn", **kwargs})


@register_model
def skylink_dinov2_large_2d(**kwargs: Any) -> GeoLinkModel:
    """SkyLink without its 3D branch (the "w/o 3D" ablation): DINOv2 ViT-L/14 @ 448 + MixVPR + PAFA."""
    return GeoLinkModel(**{**_LARGE, **kwargs, "point_encoder": None})


@register_model
def skylink_tiny_cnn(**kwargs: Any) -> GeoLinkModel:
    """CPU SkyLink: tiny ResNet + MixVPR (256) + PAFA (2 rings x 64), Point-NN tiny + MME -> 384."""
    return GeoLinkModel(**{**_TINY_CNN, "point_encoder": "point_nn_tiny", **kwargs})


@register_model
def skylink_tiny_cnn_2d(**kwargs: Any) -> GeoLinkModel:
    """CPU SkyLink without its 3D branch: tiny ResNet + MixVPR (256) + PAFA (2 rings x 64)."""
    return GeoLinkModel(**{**_TINY_CNN, **kwargs, "point_encoder": None})
