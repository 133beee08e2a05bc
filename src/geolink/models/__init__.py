"""GeoLink models built by name with a timm-style registry (docs/components.md §3.3).

Importing this package imports every model module, which registers its entrypoints:

- ``registry``: ``register_model`` / ``create_model`` / ``list_models`` and the component registries.
- ``backbone``: the shared DINOv2 ViT image encoder (final norm removed, first blocks frozen).
- ``mixvpr``: the MixVPR aggregator.
- ``pointnn``: the Point-NN (non-parametric) and Point-PN (learnable) point-cloud encoders.
- ``mme``: the Mixture of Multi-Expert block.
- ``geolink``: ``GeoLinkModel`` and the ``geolink_*`` / ``baseline_*`` entrypoints.
- ``sample4geo``: ``Sample4GeoModel`` (ConvNeXt, the re-run peer) and the ``sample4geo_*`` entrypoints.
- ``pafa``: SkyLink's Patch-Aware Feature Aggregation.
- ``skylink``: the ``skylink_*`` entrypoints (``GeoLinkModel`` with PAFA and the multi-scale 3D bridge).
"""

from geolink.models import backbone, geolink, mixvpr, mme, pafa, pointnn, sample4geo, skylink  # noqa: F401  (registers)
from geolink.models.backbone import DinoV2Backbone
from geolink.models.geolink import GeoLinkModel, ImageEncoder
from geolink.models.mixvpr import MixVPR
from geolink.models.mme import MMEBlock
from geolink.models.pafa import PatchAwareAggregation
from geolink.models.pointnn import PointNN, PointPN, farthest_point_sample
from geolink.models.registry import BACKBONES, MODELS, POINT_ENCODERS, create_model, list_models, register_model
from geolink.models.sample4geo import Sample4GeoModel

__all__ = [
    "BACKBONES",
    "MODELS",
    "POINT_ENCODERS",
    "DinoV2Backbone",
    "GeoLinkModel",
    "ImageEncoder",
    "MMEBlock",
    "MixVPR",
    "PatchAwareAggregation",
    "PointNN",
    "PointPN",
    "Sample4GeoModel",
    "create_model",
    "farthest_point_sample",
    "list_models",
    "register_model",
]
