"""GeoLink: a shared 2D image encoder trained with a 3D point-cloud branch that inference never uses.

Composition (arXiv 2604.13183, Fig. 3, §3.1-3.2, §3.5, §4.1; official ``TimmModel``, docs/official_code.md §2):

- One image encoder for drone and satellite views (shared weights): DINOv2 ViT (``backbone.py``) + MixVPR
  (``mixvpr.py``) -> L2-normalised F_dro, F_sat in R^D (D = 4096 for the paper model).
- The 3D branch, used only in training: point encoder (``pointnn.py``) -> F_pc in R^{D_pc}, then the MME block
  (``mme.py``) -> F'_pc in R^D.
- A learnable temperature: ``logit_scale`` stores log(1/tau), initialised to log(1/0.07) (CLIP, Sample4Geo,
  official code; the paper gives no value); ``forward`` returns ``exp(logit_scale)`` = 1/tau, as open_clip does.

Which 3D tensor is which (paper notation):

- F_pc (``"pc"``, ``encode_points()["f_pc"]``): the point encoder's global max + mean pooled feature, unprojected,
  ``[B, D_pc]`` (1152 for Point-NN E=72, 4608 for Point-PN E=576). It is the input of Eq. 3 ("F_pc in R^{B x D}").
  With Point-NN it is a fixed function of the cloud (no parameters), so no loss can train it.
- F'_pc (``"pc_prime"``): the MME output (Eq. 4), ``[B, D]`` with D the image descriptor size, L2-normalised like
  F_dro and F_sat (``"pc_prime_raw"`` is the same before normalisation). It is the trainable 3D feature in the
  image descriptor space, so it is what the 2D features can be compared with: the paper uses it for L_ga (Eqs.
  9-10), and it is also the only 3D feature that fits L_cc, L_sc and the L_rd teacher (the official code feeds
  its MME output to all of them; docs/official_code.md §2.1, §3.4).

Checkpoints: ``create_model`` stores ``model_name`` and ``model_kwargs`` (weights-choosing kwargs excluded), so
``create_model(ckpt["model_name"], **ckpt["model_kwargs"])`` rebuilds the architecture before
``load_state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geolink.models.mixvpr import MixVPR
from geolink.models.mme import MMEBlock
from geolink.models.pafa import PatchAwareAggregation
from geolink.models.registry import BACKBONES, POINT_ENCODERS, register_model

__all__ = ["GeoLinkModel", "ImageEncoder"]


class ImageEncoder(nn.Module):
    """The 2D inference graph: backbone feature map -> MixVPR descriptor (and, for SkyLink, its region
    descriptors concatenated: ``geolink.models.pafa``)."""

    def __init__(self, backbone: nn.Module, aggregator: MixVPR, parts: PatchAwareAggregation | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.aggregator = aggregator
        self.parts = parts

    def forward(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` images -> ``[B, D]`` L2-normalised descriptors."""
        feature_map = self.backbone(images)
        descriptor = self.aggregator(feature_map)
        return descriptor if self.parts is None else self.parts(descriptor, feature_map)


class GeoLinkModel(nn.Module):
    """Shared image encoder + training-only 3D branch (point encoder + MME) + learnable temperature."""

    def __init__(
        self,
        backbone: str = "vit_base_patch14_dinov2",  # BACKBONES name of the 2D encoder
        img_size: int | None = None,  # input side in pixels; None -> the backbone's default (448 for DINOv2)
        pretrained: bool = False,  # DINOv2 weights from the local Hugging Face cache
        weights_path: str | Path | None = None,  # or from this local file
        frozen_blocks: int | None = None,  # leading ViT blocks frozen with patch_embed; None -> backbone default
        out_channels: int = 1024,  # MixVPR d (channel projection)
        mix_depth: int = 2,  # MixVPR L (Feature-Mixer layers)
        mlp_ratio: float = 1.0,  # MixVPR mixer hidden width / (H*W)
        out_rows: int = 4,  # MixVPR r (row projection); D = d * r
        point_encoder: str | None = "point_nn",  # POINT_ENCODERS name; None -> 2D-only baseline
        point_kwargs: dict[str, Any] | None = None,  # overrides for the point encoder (embed_dim, k_neighbors, ...)
        n_experts: int = 3,  # MME gated experts n (Table 7)
        mme_dilations: Sequence[int] | None = None,  # MME expert dilations (conv experts); None -> 1, ..., n
        mme_expert: str = "linear",  # MME expert type: "linear" (default) or "conv" (the official code's)
        logit_scale_init: float = 1 / 0.07,  # initial 1/tau
        part_layout: str | None = None,  # SkyLink's patch-aware regions ("rings", "grid"); None: global only
        n_parts: int = 2,  # PAFA regions k; 0: none (global descriptor only)
        part_dim: int = 256,  # PAFA region descriptor width
        part_weight: float = 1.0,  # PAFA share of the regional similarity
    ) -> None:
        super().__init__()
        bb = BACKBONES.create(
            backbone, img_size=img_size, pretrained=pretrained, weights_path=weights_path, frozen_blocks=frozen_blocks
        )
        h, w = bb.grid_size
        agg = MixVPR(bb.out_channels, h, w, out_channels, mix_depth, mlp_ratio, out_rows)
        parts = None
        if part_layout is not None and n_parts > 0:  # n_parts 0 turns PAFA off (SkyLink's "w/o PAFA" ablation)
            parts = PatchAwareAggregation(bb.out_channels, (h, w), part_layout, n_parts, part_dim, part_weight)
        self.image_encoder = ImageEncoder(bb, agg, parts)
        self.descriptor_dim = agg.out_dim + (parts.extra_dim if parts else 0)  # D
        self.point_encoder: nn.Module | None = None
        self.mme: MMEBlock | None = None
        if point_encoder is not None:
            self.point_encoder = POINT_ENCODERS.create(point_encoder, **(point_kwargs or {}))
            self.mme = MMEBlock(
                self.point_encoder.out_dim, self.descriptor_dim, n_experts, dilations=mme_dilations, expert=mme_expert
            )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(logit_scale_init)))  # log(1/tau)

    @property
    def has_3d(self) -> bool:
        """Whether the model has the training-only 3D branch (False for the ``baseline_*`` models)."""
        return self.point_encoder is not None

    def encode_image(self, images: Tensor) -> Tensor:
        """The 2D-only inference path (paper §3.5); never touches the 3D branch.

        Args:
            images: ``[B, 3, H, W]`` drone or satellite images.

        Returns:
            ``[B, D]`` L2-normalised descriptors.
        """
        return self.image_encoder(images)

    def encode_points(self, points: Tensor) -> dict[str, Tensor]:
        """Encode point clouds with the 3D branch (in float32, outside autocast: PosE needs the precision).

        Args:
            points: ``[B, N, 3]`` xyz, centred and unit-sphere scaled.

        Returns:
            ``f_pc``: ``[B, D_pc]`` F_pc, the point encoder's global feature;
            ``f_pc_prime``: ``[B, D]`` F'_pc = MME(F_pc) (Eq. 4), L2-normalised;
            ``f_pc_prime_raw``: ``[B, D]`` the same before normalisation;
            ``gates``: ``[B, n]`` MME expert weights.
        """
        if self.point_encoder is None or self.mme is None:
            raise RuntimeError(f"{type(self).__name__} was built without a 3D branch (a 2D-only baseline)")
        with torch.autocast(device_type=points.device.type, enabled=False):
            f_pc = self.point_encoder(points.float())
        mme = self.mme(f_pc)
        raw = mme["f_pc_prime"]
        return {"f_pc": f_pc, "f_pc_prime": F.normalize(raw, dim=-1), "f_pc_prime_raw": raw, "gates": mme["gates"]}

    def forward(
        self, query: Tensor, satellite: Tensor, points: Tensor | None = None, *, query_view: str = "drone"
    ) -> dict[str, Tensor]:
        """Training forward: both views through the shared encoder, the clouds through the 3D branch.

        Args:
            query: ``[B, 3, H, W]`` query-view images: drone (GeoLink) or street (SkyLink) images.
            satellite: ``[B, 3, H, W]`` satellite images of the same locations.
            points: ``[B, N, 3]`` one cloud per location, or ``[B, S, N, 3]`` ``S`` clouds per location (SkyLink's
                multi-scale bridge: the view groups of the location's drone flight, ``encode_point_scales``);
                ignored (may be None) without a 3D branch.
            query_view: the key the query features are returned under (``"drone"`` or ``"street"``).

        Returns:
            ``<query_view>``, ``satellite``: ``[B, D]`` L2-normalised query and satellite features (F_dro, F_sat);
            ``logit_scale``: scalar ``exp(logit_scale)`` = 1/tau;
            with a 3D branch and points: ``pc`` ``[B, D_pc]`` F_pc, ``pc_prime`` ``[B, D]`` L2-normalised F'_pc,
            ``pc_prime_raw`` ``[B, D]``, ``gates`` ``[B, n]`` (see ``encode_points``; with ``S`` clouds, each is
            the mean over the clouds, ``pc_prime`` renormalised).
        """
        if query.shape == satellite.shape:  # one pass over both views; the encoder has no batch statistics
            f_query, f_sat = self.encode_image(torch.cat([query, satellite])).chunk(2)
        else:
            f_query, f_sat = self.encode_image(query), self.encode_image(satellite)
        out = {query_view: f_query, "satellite": f_sat, "logit_scale": self.logit_scale.exp()}
        if self.has_3d and points is not None:
            p = self.encode_points(points) if points.ndim == 3 else self.encode_point_scales(points)
            out.update(pc=p["f_pc"], pc_prime=p["f_pc_prime"], pc_prime_raw=p["f_pc_prime_raw"], gates=p["gates"])
        return out

    def encode_point_scales(self, points: Tensor) -> dict[str, Tensor]:
        """SkyLink's multi-scale 3D bridge: each location's clouds encoded one by one and their features averaged.

        The clouds of a location are the view groups of its drone flight (on University-1652's descending spiral,
        altitude bands: the scales). Each goes through the point encoder and the MME; the location's 3D feature is
        the mean of the L2-normalised F'_pc over its clouds, renormalised (docs/fidelity.md, S3).

        Args:
            points: ``[B, S, N, 3]``.

        Returns:
            The keys of ``encode_points``, each averaged over the ``S`` clouds: ``f_pc`` ``[B, D_pc]``,
            ``f_pc_prime`` ``[B, D]`` (renormalised), ``f_pc_prime_raw`` ``[B, D]``, ``gates`` ``[B, n]``.
        """
        b, s = points.shape[:2]
        encoded = self.encode_points(points.flatten(0, 1))  # every cloud of every location in one batch
        mean = {key: value.unflatten(0, (b, s)).mean(dim=1) for key, value in encoded.items()}
        mean["f_pc_prime"] = F.normalize(mean["f_pc_prime"], dim=-1)
        return mean


_BASE = {"backbone": "vit_base_patch14_dinov2"}
_SMALL = {"backbone": "vit_small_patch14_dinov2"}
_TINY = {"backbone": "vit_tiny_patch8_test", "out_channels": 64}  # 128 px, 16x16 map, D = 64 * 4 = 256
_TINY_CNN = {"backbone": "resnet_tiny_test", "out_channels": 64}  # 128 px, 8x8 map, D = 64 * 4 = 256


@register_model
def geolink_dinov2_base(**kwargs: Any) -> GeoLinkModel:
    """Paper GeoLink: DINOv2 ViT-B/14 @ 448 + MixVPR (4096), Point-NN (1152) + MME (3 experts) -> 4096."""
    return GeoLinkModel(**{**_BASE, "point_encoder": "point_nn", **kwargs})


@register_model
def geolink_dinov2_base_pn(**kwargs: Any) -> GeoLinkModel:
    """Official-code GeoLink: as ``geolink_dinov2_base`` with Point-PN (E 576, 4608) + MME -> 4096."""
    return GeoLinkModel(**{**_BASE, "point_encoder": "point_pn", **kwargs})


@register_model
def geolink_dinov2_small(**kwargs: Any) -> GeoLinkModel:
    """GeoLink with DINOv2 ViT-S/14 @ 448 (384 ch) + MixVPR (4096), Point-NN + MME (3 experts) -> 4096."""
    return GeoLinkModel(**{**_SMALL, "point_encoder": "point_nn", **kwargs})


@register_model
def geolink_tiny(**kwargs: Any) -> GeoLinkModel:
    """CPU GeoLink: tiny ViT (96 ch, depth 4) @ 128 + MixVPR (256), Point-NN tiny (384) + MME (3 experts) -> 256."""
    return GeoLinkModel(**{**_TINY, "point_encoder": "point_nn_tiny", **kwargs})


@register_model
def baseline_dinov2_base(**kwargs: Any) -> GeoLinkModel:
    """2D-only baseline (CV-Cities): DINOv2 ViT-B/14 @ 448 + MixVPR (4096), no 3D branch."""
    return GeoLinkModel(**{**_BASE, **kwargs, "point_encoder": None})


@register_model
def baseline_dinov2_small(**kwargs: Any) -> GeoLinkModel:
    """2D-only baseline: DINOv2 ViT-S/14 @ 448 + MixVPR (4096), no 3D branch."""
    return GeoLinkModel(**{**_SMALL, **kwargs, "point_encoder": None})


@register_model
def baseline_tiny(**kwargs: Any) -> GeoLinkModel:
    """2D-only CPU baseline: tiny ViT @ 128 + MixVPR (256), no 3D branch."""
    return GeoLinkModel(**{**_TINY, **kwargs, "point_encoder": None})


@register_model
def geolink_tiny_cnn(**kwargs: Any) -> GeoLinkModel:
    """CPU GeoLink for the synthetic benchmark: tiny ResNet @ 128 + MixVPR (256), Point-NN tiny + MME -> 256."""
    return GeoLinkModel(**{**_TINY_CNN, "point_encoder": "point_nn_tiny", **kwargs})


@register_model
def baseline_tiny_cnn(**kwargs: Any) -> GeoLinkModel:
    """2D-only CPU baseline: tiny ResNet @ 128 + MixVPR (256), no 3D branch."""
    return GeoLinkModel(**{**_TINY_CNN, **kwargs, "point_encoder": None})
