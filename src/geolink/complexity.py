"""Model complexity as in GeoLink's Table 6: parameters and FLOPs/MACs of the 2D inference graph.

GeoLink (arXiv 2604.13183, §4.5, Table 6) reports 90.50M "trainable parameters" and 91.72 GFLOPs, the same
parameters as CV-Cities. docs/components.md §3.4 shows what these are:

- 90.50M = 90,500,868 is a thop / torchsummary-style count of the inference graph (DINOv2 ViT-B/14 without its
  final norm + MixVPR): the weight and bias of Linear, Conv and Norm layers only, so ``cls_token``,
  ``pos_embed`` (whose size depends on the input grid), ``mask_token`` and the LayerScale gammas are left out.
  It is a total, not a trainable count: with blocks 0-7 frozen far fewer parameters train. ``thop_style_params``
  counts exactly that (by ``isinstance``, so timm's ``LayerNorm`` subclass is included; thop itself matches exact
  types and misses it).
- 91.72 "GFLOPs" matches per-image multiply-accumulates of the linear and conv layers, i.e. a hook-based counter
  that never sees the attention matmuls q k^T and attn v. ``flop_counts`` uses
  ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per MAC) with timm's fused attention switched off, so the
  two attention matmuls appear as ``bmm`` and can be reported separately; CPU SDPA kernels are not counted by
  FlopCounterMode at all.

Run ``geolink complexity --model geolink_dinov2_base --json`` for the JSON report. Models are built on
the ``meta`` device by default: no memory, no weights, the same shapes and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from geolink.models import create_model

__all__ = ["complexity_report", "flop_counts", "parameter_counts", "thop_exact_params", "thop_style_params"]

#: Layer types whose weight and bias a thop / torchsummary-style count includes.
COUNTED_LAYERS = (nn.Linear, nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
#: Aten ops that are attention score / value products (timm's unfused attention uses bmm; fused kernels SDPA).
ATTENTION_OPS = (
    "aten.bmm",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_cudnn_attention",
)


def thop_style_params(module: nn.Module) -> int:
    """Sum of the ``weight`` and ``bias`` sizes of every Linear, Conv and Norm layer (thop / torchsummary)."""
    return sum(
        p.numel()
        for m in module.modules()
        if isinstance(m, COUNTED_LAYERS)
        for name, p in m.named_parameters(recurse=False)
        if name in ("weight", "bias")
    )


#: The layer types thop's ``profile`` hooks, matched by exact type as thop does (``type(m) in register_hooks``).
THOP_EXACT_TYPES = frozenset(
    {nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm}
    | {nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d}
)


def thop_exact_params(module: nn.Module) -> int:
    """As ``thop_style_params``, but norm subclasses (timm's ``LayerNorm``, ``LayerNorm2d``) are missed, as thop
    misses them. Sample4Geo's 87.51M is this count of timm's ConvNeXt-B (87,508,224); GeoLink's 90.50M is not,
    since today's timm builds DINOv2 with its own ``LayerNorm`` (90,464,004 here)."""
    return sum(
        p.numel()
        for m in module.modules()
        if type(m) in THOP_EXACT_TYPES
        for name, p in m.named_parameters(recurse=False)
        if name in ("weight", "bias")
    )


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Total, trainable (``requires_grad``), frozen, thop-style and thop-exact parameter counts of ``module``."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {
        "total": total,
        "trainable": trainable,
        "frozen": total - trainable,
        "thop_style": thop_style_params(module),
        "thop_exact": thop_exact_params(module),
    }


@contextmanager
def _unfused_attention(module: nn.Module):
    """Switch timm attention to explicit matmuls (counted as ``bmm``), restoring the flags afterwards."""
    flagged = [m for m in module.modules() if hasattr(m, "fused_attn")]
    saved = [m.fused_attn for m in flagged]
    for m in flagged:
        m.fused_attn = False
    try:
        yield
    finally:
        for m, flag in zip(flagged, saved, strict=True):
            m.fused_attn = flag


def flop_counts(module: nn.Module, inputs: Sequence[torch.Tensor]) -> dict[str, Any]:
    """FLOPs and MACs of one forward of ``module(*inputs)``, with and without the attention matmuls.

    Args:
        module: Any module; timm attention is run unfused for the count.
        inputs: Its positional inputs (e.g. a ``[1, 3, 448, 448]`` image, on the module's device).

    Returns:
        ``flops`` (all counted ops), ``flops_attention`` (q k^T and attn v), ``flops_no_attention``, the same three
        as ``macs_*`` (FLOPs / 2: every counted op is a multiply-accumulate kernel) and ``by_op`` {op: FLOPs}.
    """
    with _unfused_attention(module), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    total = sum(by_op.values())
    attention = sum(n for op, n in by_op.items() if op in ATTENTION_OPS)
    return {
        "flops": total,
        "flops_attention": attention,
        "flops_no_attention": total - attention,
        "macs": total // 2,
        "macs_attention": attention // 2,
        "macs_no_attention": (total - attention) // 2,
        "by_op": by_op,
    }


def complexity_report(
    name: str = "geolink_dinov2_base",
    img_size: int | None = None,
    device: str = "meta",
    model_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Table 6 numbers for a registered model: parameters of each part and FLOPs of the inference graph.

    Args:
        name: Registered model name.
        img_size: Input side; None -> the model's default (448 for the DINOv2 models, 384 for Sample4Geo).
        device: Where to build the model; ``"meta"`` needs no memory and gives the same counts.
        model_kwargs: Further ``create_model`` kwargs, e.g. a run's ``train.model.kwargs`` as they are:
            ``pretrained``, ``weights_path`` and ``img_size`` are ignored (counts need no weights; the side is
            ``img_size`` above).

    Returns:
        JSON-friendly dict: ``inference`` (the image encoder, e.g. backbone + MixVPR: parameter counts and
        FLOPs/MACs for one image), ``training`` (the whole model, 3D branch and temperature included), per-part
        parameter counts, and the headline numbers in millions / billions (``*_M``, ``*_G``).
    """
    # Counts need no weights: a run's kwargs that choose them (and its own image size) are ignored here.
    kwargs = {k: v for k, v in (model_kwargs or {}).items() if k not in ("pretrained", "weights_path", "img_size")}
    with torch.device(device):
        model = create_model(name, pretrained=False, img_size=img_size, **kwargs)
    if hasattr(model, "image_encoder"):  # GeoLink and its 2D baseline: backbone + MixVPR
        encoder = model.image_encoder
        backbone = encoder.backbone
        side = backbone.vit.patch_embed.img_size if hasattr(backbone, "vit") else (backbone.img_size,) * 2
        parts = {"backbone": encoder.backbone, "aggregator": encoder.aggregator}
    else:  # Sample4Geo: one pooled classifier network
        encoder = model.encoder
        side = (model.img_size,) * 2
        parts = {"backbone": encoder}
    image = torch.empty(1, 3, *side, device=device)
    inference = {**parameter_counts(encoder), **flop_counts(encoder, [image])}
    if model.has_3d:
        parts.update(point_encoder=model.point_encoder, mme=model.mme)
    return {
        "model": name,
        "img_size": list(side),
        "descriptor_dim": model.descriptor_dim,
        "inference": inference,
        "training": parameter_counts(model),
        "parts": {part: parameter_counts(m) for part, m in parts.items()},
        "headline": {
            "params_thop_style_M": round(inference["thop_style"] / 1e6, 2),
            "params_total_M": round(inference["total"] / 1e6, 2),
            "params_trainable_M": round(inference["trainable"] / 1e6, 2),
            "gflops_with_attention_G": round(inference["flops"] / 1e9, 2),
            "gflops_no_attention_G": round(inference["flops_no_attention"] / 1e9, 2),
            "gmacs_with_attention_G": round(inference["macs"] / 1e9, 2),
            "gmacs_no_attention_G": round(inference["macs_no_attention"] / 1e9, 2),
        },
    }
