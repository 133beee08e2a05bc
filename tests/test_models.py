"""Models: registry, every registered model's forward/backward, Point-NN invariances, MME, MixVPR, complexity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from geolink.complexity import complexity_report, flop_counts, parameter_counts, thop_style_params
from geolink.config import ConfigError
from geolink.models import (
    BACKBONES,
    MODELS,
    POINT_ENCODERS,
    GeoLinkModel,
    MixVPR,
    MMEBlock,
    create_model,
    farthest_point_sample,
    list_models,
    register_model,
)
from geolink.models.backbone import find_cached_weights
from geolink.models.pointnn import trig_pos_embed
from geolink.points import farthest_point_sample as numpy_fps

#: Paper model's thop / torchsummary-style parameter count (GeoLink Table 6: 90.50M; docs/components.md §3.4).
PAPER_THOP_PARAMS = 90_500_868


def unit_clouds(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    """``[batch, n, 3]`` random clouds, centred and scaled into the unit sphere like ``geolink.points`` does."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(batch, n, 3, generator=g) * torch.tensor([1.0, 0.3, 0.8])
    p = p - p.mean(dim=1, keepdim=True)
    return p / p.norm(dim=-1).amax(dim=1)[:, None, None]


def tiny_kwargs(name: str) -> dict:
    """Smallest inputs each registered model accepts: 4x4 patch maps (56 px at patch 14, 32 px at patch 8), and 4x4
    for the tiny CNN with SkyLink's two PAFA rings (64 px at stride 16; 32 px gives 2x2, one ring)."""
    if name.startswith("skylink_tiny"):
        return {"img_size": 64}
    return {"img_size": 32 if "tiny" in name else 56}


# ---------------------------------------------------------------- registry


def test_registry_lists_every_variant():
    names = list_models()
    assert names == sorted(names)
    for expected in ("geolink_dinov2_base", "geolink_dinov2_small", "geolink_tiny", "baseline_dinov2_base"):
        assert expected in names
    assert list_models("baseline_*") == [n for n in names if n.startswith("baseline_")]
    assert "point_nn" in POINT_ENCODERS.list() and "vit_base_patch14_dinov2" in BACKBONES.list()


def test_unknown_name_lists_known_names():
    with pytest.raises(KeyError, match="geolink_tiny"):
        create_model("geolink_huge")
    with pytest.raises(KeyError, match="point_nn"):
        POINT_ENCODERS.create("pointnet")


def test_duplicate_registration_is_rejected():
    with pytest.raises(ValueError, match="already registered"):

        @register_model
        def geolink_tiny(**kwargs):  # same name as the real entrypoint
            return nn.Identity()

    assert MODELS.create("geolink_tiny", img_size=32).__class__ is GeoLinkModel


def test_none_kwargs_are_dropped_and_kwargs_rebuild_the_model():
    model = create_model("geolink_tiny", img_size=32, n_experts=None, pretrained=False, weights_path=None)
    assert model.model_name == "geolink_tiny"
    assert model.model_kwargs == {"img_size": 32}  # None dropped; weight-choosing kwargs not recorded
    assert model.mme.n_experts == 3  # the entrypoint default survived the None
    rebuilt = create_model(model.model_name, **model.model_kwargs)
    rebuilt.load_state_dict(model.state_dict())  # strict: same architecture


# ---------------------------------------------------------------- every registered model


@pytest.mark.parametrize("name", [n for n in list_models() if not n.startswith("sample4geo")])  # own test below
def test_forward_backward_on_tiny_input(name):
    torch.manual_seed(0)
    model = create_model(name, pretrained=False, **tiny_kwargs(name))
    backbone = model.image_encoder.backbone
    side = backbone.img_size if hasattr(backbone, "img_size") else backbone.vit.patch_embed.img_size[0]
    drone, satellite = torch.randn(2, 2, 3, side, side).unbind(0)
    out = model(drone, satellite, unit_clouds(2, 64))
    dim = model.descriptor_dim
    assert out["drone"].shape == out["satellite"].shape == (2, dim)
    for key in ("drone", "satellite"):
        torch.testing.assert_close(out[key].norm(dim=-1), torch.ones(2))
    assert out["logit_scale"].item() == pytest.approx(1 / 0.07, rel=1e-5)
    if model.has_3d:
        assert out["pc"].shape == (2, model.point_encoder.out_dim)
        assert out["pc_prime"].shape == out["pc_prime_raw"].shape == (2, dim)
        torch.testing.assert_close(out["pc_prime"].norm(dim=-1), torch.ones(2))
        torch.testing.assert_close(out["gates"].sum(dim=-1), torch.ones(2))
    else:
        assert "pc" not in out and "pc_prime" not in out
    for key, value in out.items():
        assert torch.isfinite(value).all(), key

    loss = (out["drone"] * out["satellite"]).sum() * out["logit_scale"]
    if model.has_3d:
        loss = loss + (out["pc_prime"] * out["drone"]).sum()
    loss.backward()
    if not hasattr(backbone, "vit"):  # the CPU ResNet stand-in trains every layer
        last = list(backbone.stages[-1].parameters())
        assert all(p.grad is not None for p in [*last, *backbone.stem.parameters()])
        return
    vit = backbone.vit
    frozen = [vit.patch_embed, *vit.blocks[: model.image_encoder.backbone.frozen_blocks]]
    for module in frozen:  # patch embedding and the first blocks are frozen (official: blocks 0-7)
        assert all(not p.requires_grad and p.grad is None for p in module.parameters())
    for p in [*vit.blocks[-1].parameters(), *model.image_encoder.aggregator.parameters(), model.logit_scale]:
        assert p.grad is not None and torch.isfinite(p.grad).all()
    if model.has_3d:
        assert all(p.grad is not None for p in model.mme.parameters())


def test_two_d_path_never_touches_the_3d_branch():
    class Poison(nn.Module):
        def forward(self, *args):
            raise AssertionError("the 3D branch was called on the 2D-only path")

    torch.manual_seed(0)
    model = create_model("geolink_tiny", img_size=32).eval()
    images = torch.randn(3, 3, 32, 32)
    reference = model.encode_image(images)
    model.point_encoder, model.mme = Poison(), Poison()
    torch.testing.assert_close(model.encode_image(images), reference, rtol=0, atol=0)
    out = model(images, images)  # no points: the training forward also stays 2D
    assert set(out) == {"drone", "satellite", "logit_scale"}
    with pytest.raises(AssertionError, match="3D branch was called"):
        model(images, images, unit_clouds(3, 64))


def test_baseline_loads_the_image_encoder_of_a_geolink_checkpoint():
    geolink = create_model("geolink_tiny", img_size=32)
    baseline = create_model("baseline_tiny", img_size=32)
    two_d = {k: v for k, v in geolink.state_dict().items() if not k.startswith(("point_encoder.", "mme."))}
    baseline.load_state_dict(two_d)  # strict: the 2D graph and the temperature are the same modules
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(baseline.encode_image(images), geolink.encode_image(images))
    with pytest.raises(RuntimeError, match="without a 3D branch"):
        baseline.encode_points(unit_clouds(2, 64))


# ---------------------------------------------------------------- backbone


def test_backbone_map_is_the_unnormalised_last_block_without_prefix_tokens():
    torch.manual_seed(0)
    backbone = BACKBONES.create("vit_tiny_patch8_test", img_size=32).eval()
    assert isinstance(backbone.vit.norm, nn.Identity)
    x = torch.randn(2, 3, 32, 32)
    fmap = backbone(x)
    assert fmap.shape == (2, 96, 4, 4)
    tokens = backbone.vit.forward_features(x)[:, backbone.vit.num_prefix_tokens :]  # norm is the identity now
    torch.testing.assert_close(fmap, tokens.transpose(1, 2).reshape(2, 96, 4, 4))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_backbone_loads_a_local_weights_file(tmp_path, suffix):
    source = BACKBONES.create("vit_tiny_patch8_test", img_size=32)
    state = {k: v.contiguous() for k, v in source.vit.state_dict().items()}
    state["norm.weight"], state["norm.bias"] = torch.ones(96), torch.zeros(96)  # a full timm dict has the norm
    path = tmp_path / f"vit{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    loaded = BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=path)
    for (name, a), b in zip(source.vit.state_dict().items(), loaded.vit.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    blocks = loaded.vit.blocks
    assert not blocks[0].attn.qkv.weight.requires_grad and blocks[-1].attn.qkv.weight.requires_grad


def test_backbone_loads_an_original_dinov2_checkpoint_at_another_resolution(tmp_path):
    """Hub-style file (``mask_token``, pos_embed for a larger grid, as dinov2_vitb14_pretrain.pth at 518 px)."""
    source = BACKBONES.create("vit_tiny_patch8_test", img_size=64)  # 8x8 grid
    state = dict(source.vit.state_dict(), mask_token=torch.zeros(1, 96))
    state["norm.weight"], state["norm.bias"] = torch.ones(96), torch.zeros(96)
    torch.save({"model": state}, tmp_path / "hub.pth")
    loaded = BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=tmp_path / "hub.pth")  # 4x4 grid
    assert loaded.vit.pos_embed.shape == (1, 1 + 16, 96)  # resampled by timm's checkpoint_filter_fn
    torch.testing.assert_close(loaded.vit.blocks[2].mlp.fc1.weight, source.vit.blocks[2].mlp.fc1.weight)
    torch.testing.assert_close(loaded.vit.cls_token, source.vit.cls_token)


def test_missing_weights_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache"):
        find_cached_weights("vit_small_patch14_dinov2", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        BACKBONES.create("vit_tiny_patch8_test", img_size=32, weights_path=tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model("geolink_tiny", pretrained=True)


# ---------------------------------------------------------------- Point-NN


def test_fps_starts_at_the_centroid_and_matches_the_numpy_fps():
    clouds = unit_clouds(3, 200, seed=1)
    idx = farthest_point_sample(clouds, 50)
    for b in range(3):
        xyz = clouds[b].double().numpy()
        start = int(np.argmin(((xyz - xyz.mean(0)) ** 2).sum(1)))
        assert idx[b, 0].item() == start
        np.testing.assert_array_equal(idx[b].numpy(), numpy_fps(xyz, 50, start=start))


def test_knn_distances_are_the_explicit_differences_and_the_neighbours_the_nearest():
    from geolink.models.pointnn import knn_indices, squared_distances

    clouds = unit_clouds(2, 64, seed=3)
    centres = clouds[:, :5]
    expected = ((centres[:, :, None, :] - clouds[:, None, :, :]) ** 2).sum(-1)  # [B, G, N], the plain formula
    assert torch.equal(squared_distances(centres, clouds), expected)  # bit-identical, not just close
    idx = knn_indices(4, clouds, centres)
    for b in range(2):
        for g in range(5):
            by_distance = np.argsort(expected[b, g].numpy(), kind="stable")[:4]
            assert sorted(idx[b, g].tolist()) == sorted(by_distance.tolist())
            assert idx[b, g, 0].item() == g  # a centre taken from the cloud is its own nearest point


def test_point_nn_remembers_clouds_without_changing_a_feature():
    from geolink.models.pointnn import point_nn_tiny

    clouds = unit_clouds(6, 64, seed=4)
    fresh = point_nn_tiny(memo_size=0)(clouds)  # encoded every call: the reference
    encoder = point_nn_tiny(memo_size=4)
    calls = []
    encode = encoder._encode
    encoder._encode = lambda points: calls.append(len(points)) or encode(points)
    assert torch.equal(encoder(clouds[:3]), fresh[:3])
    # Two remembered clouds, one new one and a duplicate within the batch: only the new cloud is encoded.
    batch = clouds[[1, 3, 0, 3]]
    assert torch.equal(encoder(batch), fresh[[1, 3, 0, 3]])
    assert calls == [3, 1]
    # Full at 4: clouds 4 and 5 push out the two oldest (0 and 1), which are encoded again when they come back.
    encoder(clouds[4:6])
    assert torch.equal(encoder(clouds[:2]), fresh[:2]) and calls == [3, 1, 2, 2]
    # A cloud that carries gradients is never remembered (its feature must stay differentiable).
    with_grad = clouds[:1].clone().requires_grad_(True)
    encoder(with_grad).sum().backward()
    assert with_grad.grad is not None and calls[-1] == 1


def test_trig_pos_embed_formula():
    xyz = torch.tensor([[0.1, -0.2, 0.3]])
    alpha, beta = 1000.0, 100.0
    pe = trig_pos_embed(xyz, 12, alpha, beta)  # F = 2 frequencies per coordinate
    expected = [f(beta * u / alpha ** (j / 2)) for u in (0.1, -0.2, 0.3) for j in (0, 1) for f in (math.sin, math.cos)]
    torch.testing.assert_close(pe[0], torch.tensor(expected))
    blocked = trig_pos_embed(xyz, 12, alpha, beta, interleave=False)  # Point-PN order: sines then cosines
    torch.testing.assert_close(blocked[0, :4], torch.tensor(expected)[[0, 2, 1, 3]])


def test_point_nn_is_parameter_free_and_paper_sized():
    encoder = POINT_ENCODERS.create("point_nn")
    assert list(encoder.parameters()) == [] and list(encoder.buffers()) == []
    config = (encoder.embed_dim, encoder.n_stages, encoder.k_neighbors, encoder.alpha, encoder.beta)
    assert config == (72, 4, 90, 1000, 100)  # run_nn_cls.py: dim 72, 4 stages, k 90, alpha 1000, beta 100
    feature = encoder(unit_clouds(1, 1024))
    assert feature.shape == (1, 1152) and torch.isfinite(feature).all()


@pytest.mark.parametrize("name", ["point_nn", "point_nn_tiny"])
def test_point_nn_invariant_to_point_order_and_batch_composition(name):
    encoder = POINT_ENCODERS.create(name)
    clouds = unit_clouds(3, 256, seed=2)
    batch = encoder(clouds)
    torch.testing.assert_close(encoder(clouds), batch, rtol=0, atol=0)  # deterministic
    permuted = clouds[:, torch.randperm(256, generator=torch.Generator().manual_seed(3))]
    torch.testing.assert_close(encoder(permuted), batch, rtol=1e-5, atol=1e-5)
    alone = encoder(clouds[1:2])
    torch.testing.assert_close(alone, batch[1:2], rtol=1e-5, atol=1e-5)
    others = encoder(torch.cat([unit_clouds(2, 256, seed=4), clouds[1:2]]))
    torch.testing.assert_close(others[-1:], alone, rtol=1e-5, atol=1e-5)


def test_point_pn_is_learnable_and_batch_independent_in_eval():
    encoder = POINT_ENCODERS.create("point_pn_tiny").eval()
    assert encoder.out_dim == 48 * 8 and all(p.requires_grad for p in encoder.parameters())
    clouds = unit_clouds(3, 64)
    torch.testing.assert_close(encoder(clouds[1:2]), encoder(clouds)[1:2], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- MME and MixVPR


@pytest.mark.parametrize("n_experts", [1, 3, 7, 15])
@pytest.mark.parametrize("expert", ["linear", "conv"])
def test_mme_output_dim_and_gating(n_experts, expert):
    torch.manual_seed(0)
    mme = MMEBlock(in_dim=1152, out_dim=4096, n_experts=n_experts, expert=expert)
    f_pc = torch.randn(4, 1152)
    out = mme(f_pc)
    part = 4096 // (n_experts + 1)
    assert out["f_pc_prime"].shape == (4, 4096) and out["gates"].shape == (4, n_experts)
    torch.testing.assert_close(out["gates"].sum(-1), torch.ones(4))
    if expert == "conv":
        signal = f_pc[:, None, :]  # the official design reads F_pc as a 1-channel signal
    else:  # per-cloud standardisation, computed independently here
        signal = (f_pc - f_pc.mean(-1, keepdim=True)) / torch.sqrt(f_pc.var(-1, unbiased=False, keepdim=True) + 1e-5)
    for i, expert in enumerate(mme.experts):  # Eq. 3: each gated part is g_i * E_i(F_pc)
        gated = out["f_pc_prime"][:, i * part : (i + 1) * part]
        torch.testing.assert_close(gated, out["gates"][:, i : i + 1] * expert(signal))
    torch.testing.assert_close(out["f_pc_prime"][:, -part:], mme.shared(signal))  # Eq. 4: shared part last, ungated


@pytest.mark.parametrize("n_experts", [1, 3, 7, 15])
def test_geolink_tiny_with_table7_expert_counts(n_experts):
    model = create_model("geolink_tiny", img_size=32, n_experts=n_experts)
    out = model.encode_points(unit_clouds(2, 64))
    assert out["f_pc_prime"].shape == (2, model.descriptor_dim) and out["gates"].shape == (2, n_experts)


def test_linear_mme_separates_clouds_that_share_a_large_common_component():
    # Point-NN features of different clouds share a big common offset (cosine ~0.997 on synthetic scenes);
    # per-cloud standardisation must remove the offset and scale before the experts see the feature.
    torch.manual_seed(0)
    base = torch.randn(1152) * 0.7 + 12.0
    f_pc = base + 0.5 * torch.randn(4, 1152)
    mme = MMEBlock(1152, 256, 3, expert="linear")
    with torch.no_grad():
        shifted = mme(f_pc * 3.0 + 5.0)["f_pc_prime"]
        torch.testing.assert_close(shifted, mme(f_pc)["f_pc_prime"], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="unknown MME expert"):
        MMEBlock(1152, 256, 3, expert="mlp")


def test_mme_rejects_widths_it_cannot_split():
    with pytest.raises(ValueError, match="not divisible"):
        MMEBlock(in_dim=1152, out_dim=4096, n_experts=2)


def test_mixvpr_paper_config():
    agg = MixVPR(in_channels=768, in_h=32, in_w=32, out_channels=1024, mix_depth=2, mlp_ratio=1, out_rows=4)
    assert sum(p.numel() for p in agg.parameters()) == 4_994_052  # docs/components.md §3.1
    out = agg(torch.randn(2, 768, 32, 32))
    assert out.shape == (2, 4096)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2))
    with pytest.raises(ValueError, match="expected"):
        agg(torch.randn(2, 768, 16, 16))


# ---------------------------------------------------------------- complexity (Table 6)


def test_paper_model_thop_style_params_are_90_50M():
    model = create_model("geolink_dinov2_base")  # on CPU, random init, 448 px
    encoder = model.image_encoder
    assert thop_style_params(encoder) == PAPER_THOP_PARAMS
    counts = parameter_counts(encoder)
    assert counts["total"] == counts["trainable"] + counts["frozen"]
    vit = encoder.backbone.vit
    trainable_vit = sum(p.numel() for b in vit.blocks[8:] for p in b.parameters()) + vit.cls_token.numel()
    assert counts["trainable"] == trainable_vit + vit.pos_embed.numel() + 4_994_052
    whole = parameter_counts(model)
    three_d = sum(p.numel() for p in model.mme.parameters())  # Point-NN has none
    assert whole["total"] == counts["total"] + three_d + 1  # + logit_scale


def test_complexity_report_flops_with_and_without_attention():
    report = complexity_report("geolink_dinov2_base")  # built on the meta device
    inference = report["inference"]
    assert inference["thop_style"] == PAPER_THOP_PARAMS and report["img_size"] == [448, 448]
    tokens, width, depth = 32 * 32 + 1, 768, 12
    assert inference["flops_attention"] == 2 * 2 * tokens**2 * width * depth  # q k^T and attn v per block
    assert inference["flops"] == inference["flops_attention"] + inference["flops_no_attention"]
    assert inference["macs_no_attention"] / 1e9 == pytest.approx(91.55, abs=0.01)  # paper's "91.72 GFLOPs"
    assert report["headline"]["gflops_with_attention_G"] == pytest.approx(221.83, abs=0.01)
    assert report["parts"]["point_encoder"]["total"] == 0
    flags = [m.fused_attn for m in create_model("baseline_tiny", img_size=32).modules() if hasattr(m, "fused_attn")]
    model = create_model("baseline_tiny", img_size=32)
    flop_counts(model.image_encoder, [torch.randn(1, 3, 32, 32)])
    assert [m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")] == flags  # restored


# ---------------------------------------------------------------- Sample4Geo (the re-run peer)


def test_sample4geo_convnext_base_is_the_papers_87_51M():
    # Paper Table 6: 87.51M for Sample4Geo, which is thop's count of timm's ConvNeXt-B (thop matches exact layer
    # types, so timm's LayerNorm and LayerNorm2d subclasses and the layer-scale gammas are not counted).
    report = complexity_report("sample4geo_convnext_base")
    assert report["inference"]["thop_exact"] == 87_508_224 and report["img_size"] == [384, 384]
    assert report["inference"]["thop_style"] == 87_508_224 + 40_192  # + 2 x (18,048 block norms + 2,048 + 2,048 LN2d)
    assert report["inference"]["macs_no_attention"] / 1e9 == pytest.approx(45.12, abs=0.01)  # thop MACs at 384 px
    assert report["descriptor_dim"] == 1024 and "point_encoder" not in report["parts"]


def test_sample4geo_model_has_the_training_contract_and_no_3d_branch():
    model = create_model("sample4geo_tiny", img_size=64)
    drone, satellite = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    out = model(drone, satellite, points=torch.randn(2, 16, 3))  # points are ignored
    assert set(out) == {"drone", "satellite", "logit_scale"} and not model.has_3d
    assert out["drone"].shape == (2, model.descriptor_dim) == (2, 320)
    assert torch.allclose(out["drone"].norm(dim=-1), torch.ones(2), atol=1e-5)
    assert out["logit_scale"].item() == pytest.approx(1 / 0.07, rel=1e-5)
    (out["drone"] * out["satellite"]).sum().backward()
    assert all(p.grad is not None for p in model.encoder.parameters() if p.requires_grad)
    with pytest.raises(ConfigError, match="random init only"):  # the CPU stand-in has no weights to ask for
        create_model("sample4geo_tiny", pretrained=True)
    with pytest.raises(FileNotFoundError, match="huggingface-cli download timm/convnext_base.fb_in22k_ft_in1k_384"):
        create_model("sample4geo_convnext_base", pretrained=True)  # not in this machine's cache; never downloaded
