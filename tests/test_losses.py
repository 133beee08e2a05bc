"""GeoLink losses against independent computations: hand-worked InfoNCE, Gaussian MI, loop-based distillation."""

from __future__ import annotations

import math
from typing import Literal

import pytest
import torch
import torch.nn.functional as F

from geolink.losses import (
    DEFAULT_WEIGHTS,
    VCLUB,
    GeoLinkLoss,
    cross_view_loss,
    estimator_step,
    geometric_aware_estimator_step,
    geometric_aware_loss,
    info_nce,
    intra_view_loss,
    pairwise_distances,
    relational_distillation,
    relational_distillation_loss,
)

# ----------------------------------------------------------------------------------------------------------------
# InfoNCE

#: Similarities S[i][j] = q_i . r_j of a 3-location batch; built below as Q = I, R = S^T so that Q R^T = S.
SIMILARITY = [[0.9, 0.1, -0.3], [0.2, 0.5, 0.4], [-0.1, 0.7, 0.6]]
SCALE = 2.0


def hand_cross_entropy(rows: list[list[float]], scale: float, smoothing: float) -> float:
    """Mean over rows of -[(1 - eps) log p_ii + eps/K sum_k log p_ik], p = softmax(scale * row), explicit loops."""
    total = 0.0
    k = len(rows)
    for i, row in enumerate(rows):
        log_norm = math.log(sum(math.exp(scale * value) for value in row))
        log_p = [scale * value - log_norm for value in row]
        total += -((1 - smoothing) * log_p[i] + smoothing / k * sum(log_p))
    return total / k


def similarity_features() -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.tensor(SIMILARITY, dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64), s.T.clone()


def transpose(rows: list[list[float]]) -> list[list[float]]:
    return [list(column) for column in zip(*rows, strict=True)]


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_info_nce_one_directional_matches_hand_cross_entropy(smoothing: float) -> None:
    query, reference = similarity_features()
    assert torch.allclose(query @ reference.T, torch.tensor(SIMILARITY, dtype=torch.float64))
    got = info_nce(query, reference, torch.tensor(SCALE), label_smoothing=smoothing, symmetric=False)
    assert got.item() == pytest.approx(hand_cross_entropy(SIMILARITY, SCALE, smoothing), rel=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_info_nce_symmetric_averages_rows_and_columns(smoothing: float) -> None:
    query, reference = similarity_features()
    expected = 0.5 * (
        hand_cross_entropy(SIMILARITY, SCALE, smoothing) + hand_cross_entropy(transpose(SIMILARITY), SCALE, smoothing)
    )
    got = info_nce(query, reference, SCALE, label_smoothing=smoothing, symmetric=True)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # S is not symmetric, so the two directions really differ here.
    assert hand_cross_entropy(SIMILARITY, SCALE, 0) != pytest.approx(
        hand_cross_entropy(transpose(SIMILARITY), SCALE, 0)
    )


def test_info_nce_equation_5_literally() -> None:
    """Eq. 5 for query 1 alone: -log(exp(q.r+/tau) / sum_i exp(q.r_i/tau)), tau = 1/SCALE."""
    row = SIMILARITY[1]
    expected_row1 = -math.log(math.exp(row[1] * SCALE) / sum(math.exp(v * SCALE) for v in row))
    query, reference = similarity_features()
    logits = SCALE * query @ reference.T
    per_row = F.cross_entropy(logits, torch.arange(3), reduction="none")
    assert per_row[1].item() == pytest.approx(expected_row1, rel=1e-12)
    assert info_nce(query, reference, SCALE, symmetric=False).item() == pytest.approx(per_row.mean().item())


def test_info_nce_gradient_reaches_features_and_logit_scale() -> None:
    torch.manual_seed(0)
    query = F.normalize(torch.randn(5, 8), dim=-1).requires_grad_()
    reference = F.normalize(torch.randn(5, 8), dim=-1).requires_grad_()
    log_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    info_nce(query, reference, log_scale.exp(), label_smoothing=0.1).backward()
    for tensor in (query, reference, log_scale):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_cross_and_intra_view_terms() -> None:
    torch.manual_seed(1)
    f_dro, f_sat, f_pc = (F.normalize(torch.randn(4, 6, dtype=torch.float64), dim=-1) for _ in range(3))
    cc = cross_view_loss(f_dro, f_sat, f_pc, SCALE, label_smoothing=0.1)
    assert set(cc) == {"dro_sat", "dro_pc", "sat_pc", "cc"}
    assert cc["dro_pc"] == info_nce(f_dro, f_pc, SCALE, 0.1, symmetric=True)
    assert cc["cc"] == pytest.approx((cc["dro_sat"] + cc["dro_pc"] + cc["sat_pc"]).item())

    sc = intra_view_loss(f_dro, f_sat, f_pc, SCALE, label_smoothing=0.1)
    assert set(sc) == {"dro", "sat", "pc", "sc"}
    # The anchor itself is the positive: CE over s F F^T with diagonal targets (both directions coincide).
    gram = SCALE * f_sat @ f_sat.T
    expected = hand_cross_entropy(gram.tolist(), 1.0, 0.1)
    assert sc["sat"].item() == pytest.approx(expected, rel=1e-12)
    assert sc["sc"].item() == pytest.approx((sc["dro"] + sc["sat"] + sc["pc"]).item())
    with pytest.raises(ValueError, match="self"):
        intra_view_loss(f_dro, f_sat, f_pc, SCALE, positive="augmented")


def test_intra_view_loss_only_repels() -> None:
    """With unit features the positive logit is constant, so the loss falls as other locations move apart."""
    close = F.normalize(torch.tensor([[1.0, 0.1], [1.0, -0.1]]), dim=-1)
    apart = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    loss = {name: intra_view_loss(f, f, f, SCALE, 0.0)["dro"] for name, f in (("close", close), ("apart", apart))}
    assert loss["apart"] < loss["close"]


# ----------------------------------------------------------------------------------------------------------------
# vCLUB

RHO = torch.tensor([0.2, 0.4, 0.6, 0.7], dtype=torch.float64)  # per-dimension correlation; 1 - rho^2 in (e^-1, e)


def gaussian_pairs(n: int, generator: torch.Generator, independent: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I); y = rho x + sqrt(1 - rho^2) e per dimension (or y = e), so I(x; y) = -1/2 sum log(1 - rho^2)."""
    x = torch.randn(n, len(RHO), generator=generator, dtype=torch.float64)
    noise = torch.randn(n, len(RHO), generator=generator, dtype=torch.float64)
    return x, noise if independent else RHO * x + (1 - RHO**2).sqrt() * noise


def fitted_estimate(independent: bool) -> float:
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    club = VCLUB(len(RHO), len(RHO), hidden_dim=32).double()
    optimizer = torch.optim.Adam(club.parameters(), lr=1e-2)
    for _ in range(300):
        estimator_step(club, optimizer, *gaussian_pairs(256, generator, independent))
    with torch.no_grad():
        return torch.stack([club(*gaussian_pairs(512, generator, independent)) for _ in range(10)]).mean().item()


def test_vclub_upper_bounds_gaussian_mutual_information() -> None:
    true_mi = -0.5 * torch.log(1 - RHO**2).sum().item()  # 0.667 nats
    # vCLUB with the exact q(y|x) = N(rho x, 1 - rho^2) is sum rho^2 / (1 - rho^2) (1.755 nats): a loose but
    # valid bound, so a well-fitted q must land there, not on the MI itself.
    bound_at_true_q = (RHO**2 / (1 - RHO**2)).sum().item()
    estimate = fitted_estimate(independent=False)
    assert estimate >= true_mi - 0.05
    assert estimate == pytest.approx(bound_at_true_q, rel=0.1)  # seeds 0-5 give 1.64-1.81


def test_vclub_is_about_zero_for_independent_variables() -> None:
    assert abs(fitted_estimate(independent=True)) < 0.02


def test_vclub_forward_matches_all_pairs_reference() -> None:
    """The O(B D) negative term equals CLUB's explicit [B, B, D] form (Linear95/CLUB ``CLUB.forward``)."""
    torch.manual_seed(2)
    club = VCLUB(5, 3, hidden_dim=16).double()
    x, y = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    mu, logvar = club.gaussian(x)
    positive = -((mu - y) ** 2) / 2 / logvar.exp()
    negative = -((y[None, :, :] - mu[:, None, :]) ** 2).mean(dim=1) / 2 / logvar.exp()
    expected = (positive.sum(dim=-1) - negative.sum(dim=-1)).mean()
    assert club(x, y).item() == pytest.approx(expected.item(), rel=1e-12)
    # Log-likelihood: log N(y; mu, var) summed over dims, plus the dropped constant.
    density = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(y).sum(dim=-1).mean()
    assert club.log_likelihood(x, y).item() == pytest.approx(density.item() + 1.5 * math.log(2 * math.pi))
    assert club.learning_loss(x, y).item() == pytest.approx(-club.log_likelihood(x, y).item())


def test_vclub_architecture_options() -> None:
    mlp = VCLUB(6, 4, hidden_dim=8, logvar="tanh")
    assert [m.out_features for m in mlp.p_mu if isinstance(m, torch.nn.Linear)] == [8, 4]
    linear = VCLUB(6, 4, hidden_dim=None)
    assert isinstance(linear.p_mu, torch.nn.Linear) and isinstance(linear.p_logvar, torch.nn.Linear)
    x = 100 * torch.randn(3, 6)
    assert mlp.gaussian(x)[1].abs().le(1).all()  # Tanh-bounded (saturates to 1.0 in float32)
    assert VCLUB(6, 4, hidden_dim=8, logvar="free").gaussian(x)[1].abs().max() > 1


def test_estimator_step_detaches_and_frozen_estimator_is_never_stepped() -> None:
    torch.manual_seed(3)
    x, y = torch.randn(8, 4, requires_grad=True), torch.randn(8, 4, requires_grad=True)
    club = VCLUB(4, 4, hidden_dim=8)
    before = [p.clone() for p in club.parameters()]
    loss = estimator_step(club, torch.optim.SGD(club.parameters(), lr=0.1), x, y)
    assert loss is not None and x.grad is None and y.grad is None
    assert any(not torch.equal(a, b) for a, b in zip(before, club.parameters(), strict=True))

    frozen = VCLUB(4, 4, hidden_dim=8, trainable=False)
    assert not any(p.requires_grad for p in frozen.parameters())
    before = [p.clone() for p in frozen.parameters()]
    assert estimator_step(frozen, torch.optim.SGD(frozen.parameters(), lr=0.1), x, y) is None
    assert all(torch.equal(a, b) for a, b in zip(before, frozen.parameters(), strict=True))
    # The frozen q still passes gradients to the features (the official code's behaviour).
    frozen(x, y).backward()
    assert x.grad is not None and y.grad is not None


def test_geometric_aware_loss_conditions_on_the_3d_feature() -> None:
    torch.manual_seed(4)
    f_dro, f_sat, f_pc_prime = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 5)  # 3D width differs on purpose
    club_dro, club_sat = VCLUB(5, 4, hidden_dim=8), VCLUB(5, 4, hidden_dim=8, trainable=False)
    terms = geometric_aware_loss(club_dro, club_sat, f_dro, f_sat, f_pc_prime)
    assert terms["dro"] == club_dro(f_pc_prime, f_dro) and terms["sat"] == club_sat(f_pc_prime, f_sat)
    assert terms["ga"] == terms["dro"] + terms["sat"]
    before = club_dro.learning_loss(f_pc_prime, f_dro).item()
    optimizer = torch.optim.SGD(club_dro.parameters(), lr=1e-2)
    fitted = geometric_aware_estimator_step(club_dro, club_sat, optimizer, f_dro, f_sat, f_pc_prime)
    assert set(fitted) == {"dro"}  # the frozen estimator is skipped
    assert fitted["dro"].item() == pytest.approx(before)
    # One small gradient step on q(F_dro | F'_pc) lowers its own negative log-likelihood.
    assert club_dro.learning_loss(f_pc_prime, f_dro).item() < before


# ----------------------------------------------------------------------------------------------------------------
# Relational distillation


def loop_paper_rd(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Eqs. 11-13 with explicit loops over pairs and math.dist."""
    b = len(student)
    s_rows, t_rows = student.tolist(), teacher.tolist()
    pairs = [(i, j) for i in range(b) for j in range(b) if i != j]
    s_sum = sum(math.dist(s_rows[m], s_rows[n]) for m, n in pairs)
    t_sum = sum(math.dist(t_rows[m], t_rows[n]) for m, n in pairs)
    return sum(
        (math.dist(s_rows[i], s_rows[j]) / s_sum - math.dist(t_rows[i], t_rows[j]) / t_sum) ** 2 for i, j in pairs
    ) / (b * (b - 1))


def test_relational_distillation_matches_loop() -> None:
    torch.manual_seed(5)
    student, teacher = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    got = relational_distillation(student, teacher, "paper", eps=0.0)
    assert got.item() == pytest.approx(loop_paper_rd(student, teacher), rel=1e-12)
    assert got.item() > 1e-6  # unrelated geometry gives a positive loss
    assert relational_distillation(student, teacher, "paper").item() == pytest.approx(got.item(), rel=1e-9)
    # "mean" (the default): the sum over m != n replaced by the mean, i.e. each relation B(B-1) = 20 times larger.
    mean = relational_distillation(student, teacher, eps=0.0)
    assert mean.item() == pytest.approx(loop_paper_rd(student, teacher) * 20**2, rel=1e-12)
    with pytest.raises(ValueError, match="normalization"):
        relational_distillation(student, teacher, "sum")  # type: ignore[arg-type]


@pytest.mark.parametrize("normalization", ["mean", "paper", "official"])
def test_relational_distillation_is_zero_for_similar_geometry(
    normalization: Literal["mean", "paper", "official"],
) -> None:
    """student = c R teacher + shift (R with orthonormal columns, c > 0) has proportional distances."""
    torch.manual_seed(6)
    teacher = torch.randn(8, 5, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(9, 5, dtype=torch.float64))  # [9, 5], R^T R = I
    for c in (0.01, 1.0, 37.0):
        student = c * teacher @ rotation.T + torch.randn(9, dtype=torch.float64)
        exact = relational_distillation(student, teacher, normalization, eps=0.0)
        assert exact.item() < 1e-24  # float64 rounding only
        # The default eps biases distances by relative eps / d^2 (1e-9 at c = 0.01): still negligible.
        assert relational_distillation(student, teacher, normalization).item() < 1e-15
    perturbed = teacher @ rotation.T
    perturbed[0] += 0.3
    assert relational_distillation(perturbed, teacher, normalization).item() > 1e-8


def test_relational_distillation_gradient_is_finite_when_features_coincide() -> None:
    torch.manual_seed(7)
    teacher = torch.randn(4, 6)
    normalizations: tuple[Literal["mean", "paper", "official"], ...] = ("mean", "paper", "official")
    for student in (torch.randn(4, 6), torch.ones(4, 6)):  # one duplicated pair, then a fully collapsed batch
        student[1] = student[0]
        student.requires_grad_()
        for normalization in normalizations:
            loss = relational_distillation(student, teacher, normalization)
            (grad,) = torch.autograd.grad(loss, student)
            assert torch.isfinite(loss) and torch.isfinite(grad).all()
        # Why eps is there: the plain norm's gradient at a zero distance is 0/0.
        (grad,) = torch.autograd.grad(relational_distillation(student, teacher, eps=0.0), student)
        assert torch.isnan(grad).any()
    distances = pairwise_distances(torch.zeros(3, 2, requires_grad=True))
    assert torch.equal(distances.diagonal(), torch.zeros(3))


@pytest.mark.parametrize("batch", [4, 8])
def test_official_normalization_is_b3_b_minus_1_times_the_paper(batch: int) -> None:
    torch.manual_seed(batch)
    student, teacher = torch.randn(batch, 6, dtype=torch.float64), torch.randn(batch, 6, dtype=torch.float64)
    paper = relational_distillation(student, teacher, "paper")
    official = relational_distillation(student, teacher, "official")
    assert (official / paper).item() == pytest.approx(batch**3 * (batch - 1), rel=1e-9)  # 192 and 3584
    mean = relational_distillation(student, teacher, "mean")
    assert (mean / paper).item() == pytest.approx((batch * (batch - 1)) ** 2, rel=1e-9)  # 144 and 3136
    assert (official / mean).item() == pytest.approx(batch / (batch - 1), rel=1e-9)  # the diagonal zeros


def test_relational_distillation_teacher_detach() -> None:
    torch.manual_seed(8)
    student, teacher = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    relational_distillation(student, teacher).backward()
    assert student.grad is not None and teacher.grad is None
    relational_distillation(student, teacher, detach_teacher=False).backward()
    assert teacher.grad is not None and teacher.grad.abs().sum() > 0
    terms = relational_distillation_loss(student, student * 2, teacher)
    assert set(terms) == {"sat", "dro", "rd"} and terms["rd"] == terms["sat"] + terms["dro"]


# ----------------------------------------------------------------------------------------------------------------
# GeoLinkLoss


def geolink_inputs(seed: int = 9) -> dict:
    torch.manual_seed(seed)
    feats = {
        name: F.normalize(torch.randn(6, 16), dim=-1).requires_grad_() for name in ("f_dro", "f_sat", "f_pc", "pc_")
    }
    return {
        "f_dro": feats["f_dro"],
        "f_sat": feats["f_sat"],
        "f_pc": feats["f_pc"],
        "f_pc_prime": feats["pc_"],
        "log_scale": torch.tensor(math.log(1 / 0.07), requires_grad=True),
        "club_dro": VCLUB(16, 16, hidden_dim=8),
        "club_sat": VCLUB(16, 16, hidden_dim=8),
    }


def call(loss: GeoLinkLoss, inputs: dict) -> dict[str, torch.Tensor]:
    return loss(
        inputs["f_dro"],
        inputs["f_sat"],
        inputs["f_pc"],
        inputs["f_pc_prime"],
        inputs["log_scale"].exp(),
        inputs["club_dro"],
        inputs["club_sat"],
    )


def test_geolink_total_is_weighted_sum_of_families() -> None:
    inputs = geolink_inputs()
    out = call(GeoLinkLoss(), inputs)
    assert set(out) == {
        *("cc/dro_sat", "cc/dro_pc", "cc/sat_pc", "sc/dro", "sc/sat", "sc/pc"),
        *("ga/dro", "ga/sat", "rd/sat", "rd/dro", "cc", "sc", "ga", "rd", "total"),
    }
    for family, weight in DEFAULT_WEIGHTS.items():
        parts = sum(value for key, value in out.items() if key.startswith(f"{family}/"))
        assert out[family].item() == pytest.approx(weight * parts.item(), rel=1e-6)
    assert out["total"].item() == pytest.approx(sum(out[f].item() for f in DEFAULT_WEIGHTS), rel=1e-6)
    # Each term is the stand-alone function's value, with the 3D features wired as documented.
    scale = inputs["log_scale"].exp()
    f_dro, f_sat, f_pc, f_pc_prime = (inputs[k] for k in ("f_dro", "f_sat", "f_pc", "f_pc_prime"))
    assert out["cc/sat_pc"] == cross_view_loss(f_dro, f_sat, f_pc, scale)["sat_pc"]
    assert out["sc/pc"] == intra_view_loss(f_dro, f_sat, f_pc, scale)["pc"]
    assert out["ga/sat"] == inputs["club_sat"](f_pc_prime, f_sat)
    assert out["rd/dro"] == relational_distillation(f_dro, f_pc)


def test_geolink_f_pc_prime_defaults_to_f_pc() -> None:
    inputs = geolink_inputs()
    inputs["f_pc_prime"] = None
    out = call(GeoLinkLoss(), inputs)
    assert out["ga/dro"] == inputs["club_dro"](inputs["f_pc"], inputs["f_dro"])


def test_geolink_gradients_reach_features_and_logit_scale() -> None:
    inputs = geolink_inputs()
    call(GeoLinkLoss(), inputs)["total"].backward()
    for key in ("f_dro", "f_sat", "f_pc", "f_pc_prime", "log_scale"):
        grad = inputs[key].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, key


def test_geolink_zero_weight_removes_the_term_and_its_graph() -> None:
    inputs = geolink_inputs()
    inputs["club_dro"] = inputs["club_sat"] = None  # ga off: no estimators needed
    out = call(GeoLinkLoss({"ga": 0.0}), inputs)
    assert not any(key == "ga" or key.startswith("ga/") for key in out)

    # rd alone: the logit scale is not in the graph, and the (detached) teacher f_pc gets no gradient.
    out = call(GeoLinkLoss({"cc": 0, "sc": 0, "ga": 0}), inputs)
    assert set(out) == {"rd/sat", "rd/dro", "rd", "total"}
    grads = torch.autograd.grad(out["total"], [inputs["log_scale"], inputs["f_pc"], inputs["f_dro"]], allow_unused=True)
    assert grads[0] is None and grads[1] is None and grads[2] is not None

    with pytest.raises(ValueError, match="club"):
        call(GeoLinkLoss(), inputs)
    with pytest.raises(ValueError, match="unknown"):
        GeoLinkLoss({"lambda": 4.0})
    with pytest.raises(ValueError, match="every loss weight"):
        GeoLinkLoss(dict.fromkeys(DEFAULT_WEIGHTS, 0.0))


def test_geolink_teacher_detach_option() -> None:
    inputs = geolink_inputs()
    inputs["club_dro"] = inputs["club_sat"] = None
    out = call(GeoLinkLoss({"cc": 0, "sc": 0, "ga": 0}, detach_teacher=False), inputs)
    (grad,) = torch.autograd.grad(out["total"], inputs["f_pc"])
    assert grad.abs().sum() > 0
    official = call(GeoLinkLoss({"cc": 0, "sc": 0, "ga": 0}, rd_normalization="official"), inputs)
    assert (official["rd"] / out["rd"]).item() == pytest.approx(6 / 5, rel=1e-4)  # out: the default, "mean"
    paper = call(GeoLinkLoss({"cc": 0, "sc": 0, "ga": 0}, rd_normalization="paper"), inputs)
    assert (official["rd"] / paper["rd"]).item() == pytest.approx(6**3 * 5, rel=1e-4)
