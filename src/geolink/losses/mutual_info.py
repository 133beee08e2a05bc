"""vCLUB mutual-information upper bound and the geometric-aware regulariser L_ga of GeoLink.

GeoLink (arXiv 2604.13183, §3.3.2, Eqs. 8-10) penalises the dependency between each 2D feature and the 3D
feature F'_pc with the variational Contrastive Log-ratio Upper Bound (vCLUB; Cheng et al., ICML 2020; reference
code Linear95/CLUB:mi_estimators.py ``CLUB``, docs/components.md §4):

    I_vCLUB(x; y) = E_p(x,y)[log q_θ(y|x)] - E_p(x) E_p(y)[log q_θ(y|x)]            (Eq. 8)

It bounds I(x; y) from above only while q_θ(y|x) approximates p(y|x), so q_θ has its own optimiser that
maximises the log-likelihood of the paired features (``learning_loss``), alternating with the encoder step that
minimises the bound (CLUB's MI-minimisation recipe). The official GeoLink code never trains q_θ
(docs/official_code.md §3.3): its "vCLUB" is a frozen, randomly initialised q. That behaviour is kept as the
named option ``VCLUB(..., trainable=False)``; it is then a fixed random penalty, not an estimate of MI.

q_θ's log-variance is free (softly clamped to a wide range) by default, because the reference's Tanh bound keeps
the variance above e^-1 and L2-normalised features have per-coordinate variances near 1/width: the Tanh-bounded
estimate is then no MI bound at all. ``VCLUB(..., logvar="tanh")`` keeps the reference's Tanh (see ``VCLUB``).

Usage per training iteration (features from the current forward pass)::

    geometric_aware_estimator_step(club_dro, club_sat, club_optimizer, f_dro, f_sat, f_pc_prime)  # fits q_θ
    loss = GeoLinkLoss(...)(f_dro, f_sat, f_pc, f_pc_prime, scale, club_dro, club_sat)["total"]     # encoder step

The estimator's parameters must not be in the encoder optimiser; the encoder backward does leave gradients on
them, which the next estimator step clears before its own backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "FREE_LOGVAR_RANGE",
    "LOGVAR_MODES",
    "VCLUB",
    "estimator_step",
    "geometric_aware_estimator_step",
    "geometric_aware_loss",
    "soft_clamp",
]

#: Parameterisations of q_θ's log-variance (``VCLUB(logvar=...)``, config ``train.vclub.logvar``).
LOGVAR_MODES = ("free", "tanh")

#: Range the ``free`` log-variance is softly clamped to: variances from e^-20 (2e-9) to e^5 (148). Unit-norm 4096-d
#: features have per-coordinate variance 1/4096 (log -8.3); a conditional variance 1e-6 (log -13.8) is still well
#: inside, so the clamp only guards the arithmetic (1/var at most 5e8, finite in float32).
FREE_LOGVAR_RANGE = (-20.0, 5.0)


def soft_clamp(t: Tensor, low: float, high: float) -> Tensor:
    """Smooth clamp of ``t`` into ``(low, high)``: ``low + softplus(high - softplus(high - t) - low)``.

    Within the range it is the identity up to about ``e^-(distance to the nearer bound)`` (about 1e-4 at 9 from a
    bound) and its gradient never vanishes, so a log-variance pushed against a bound can still come back.
    """
    return low + F.softplus(high - F.softplus(high - t) - low)


def _head(in_dim: int, out_dim: int, hidden_dim: int | None) -> nn.Module:
    """A linear layer (``hidden_dim=None``) or CLUB's two-layer ReLU MLP."""
    if hidden_dim is None:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))


class VCLUB(nn.Module):
    """vCLUB estimator with a diagonal-Gaussian variational q_θ(y|x) = N(μ(x), diag exp(logvar(x))) (Eqs. 8-9).

    Architecture: as in the CLUB reference, μ and logvar come from two separate heads on x, each a two-layer MLP
    ``Linear(x_dim, hidden_dim) -> ReLU -> Linear(hidden_dim, y_dim)``. ``hidden_dim`` is the width of the hidden
    layer: the paper sets "the hidden dimension of q_θ" to 4096 (§4.1, Fig. 7b). The official code calls
    ``CLUB(4096, 4096, hidden_size=4096)``, whose layers are ``hidden_size // 2 = 2048`` wide, so
    ``hidden_dim=2048`` reproduces the code. The paper also says q_θ is "implemented by a linear layer" (after
    Eq. 9); ``hidden_dim=None`` gives that reading, one linear layer per head (μ = W x + b, logvar from W' x + b').

    Log-variance (``logvar``), the choice that decides whether the estimate is an upper bound at our scale:

    - ``"free"`` (default): the logvar head's output, softly clamped to ``FREE_LOGVAR_RANGE`` = (-20, 5) only to
      keep 1/var finite (``soft_clamp``: within 0.01 of the identity for logvar in [-15, 0]).
    - ``"tanh"``: ``tanh`` of the head's output, so logvar ∈ (-1, 1) and var ∈ (e^-1, e): the CLUB reference and
      the official GeoLink code.

    Why ``free``: vCLUB is an upper bound on I(x; y) when q_θ(y|x) is close to p(y|x) (Cheng et al., Thm 3.2); with
    the exact conditional it equals I(x; y) plus a non-negative gap (for per-coordinate Gaussians with correlation
    ρ it is Σ ρ²/(1-ρ²) ≥ -½ Σ log(1-ρ²)). q_θ is fitted by maximum likelihood, so it can only get close to
    p(y|x) if the conditional variance is inside the family. L2-normalised 4096-d features have per-coordinate
    variance near 1/4096 and conditional variances smaller still, far below the Tanh floor e^-1: the best
    Tanh-bounded q over-estimates every variance by a factor of about 4096 / (1 - ρ²). With var pinned at e^-1 the
    estimate is e/2 · Σ_d [Var_batch(y_d) + Var_batch(μ_d) - mean_i (y_id - μ_id)²] (2ρ² Var(y_d) per coordinate
    for Gaussians): a batch-spread term that is near 0 at this scale, not an MI bound. The ``free`` range holds
    every conditional variance of such features down to e^-20 (1 - ρ² ≥ 1e-5 at variance 1/4096), so the fitted
    q reaches p(y|x) and the estimate is a bound again. Measured on Gaussians of that scale (tests/test_vclub.py:
    d = 32, ρ = 0.8, std 1/64, true MI 16.3 nats, exact-q value 56.9): after 400 estimator steps ``free`` gives
    39.7 (MLP) and 47.6 (linear) nats, ``tanh`` 0.010 and 0.013.

    Direction: Eq. 9 writes v_θ(F_dro | F'_pc), so x is the conditioning 3D feature F'_pc and y the 2D feature.
    (The official code conditions the other way, q(point | image); swap the arguments to reproduce it.)

    Args:
        x_dim: Width of the conditioning feature x (F'_pc: 4096).
        y_dim: Width of the predicted feature y (F_dro or F_sat: 4096).
        hidden_dim: Hidden width of the μ and logvar MLPs, or None for single linear layers.
        trainable: False freezes q_θ at its random initialisation (official-code behaviour): the parameters get
            ``requires_grad=False`` and the estimator steps skip it.
        logvar: ``"free"`` (softly clamped to ``FREE_LOGVAR_RANGE``) or ``"tanh"`` (CLUB reference), see above.
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden_dim: int | None = 4096,
        trainable: bool = True,
        logvar: str = "free",
    ) -> None:
        super().__init__()
        if logvar not in LOGVAR_MODES:
            raise ValueError(f"logvar must be one of {LOGVAR_MODES}, got {logvar!r}")
        self.trainable = trainable
        self.logvar = logvar
        self.p_mu = _head(x_dim, y_dim, hidden_dim)
        self.p_logvar = _head(x_dim, y_dim, hidden_dim)
        if not trainable:
            self.requires_grad_(False)

    def gaussian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of q_θ(y|x).

        Args:
            x: ``[B, x_dim]`` conditioning features.

        Returns:
            ``(mu, logvar)``, each ``[B, y_dim]``.
        """
        raw = self.p_logvar(x)
        logvar = torch.tanh(raw) if self.logvar == "tanh" else soft_clamp(raw, *FREE_LOGVAR_RANGE)
        return self.p_mu(x), logvar

    def log_likelihood(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean log q_θ(y_i|x_i) over the paired batch, without the constant ``-y_dim/2 log 2π``.

        This is the objective the estimator's own optimiser maximises. It is half of the reference's ``loglikeli``
        (which drops the 1/2 as well); the maximiser is the same.

        Args:
            x: ``[B, x_dim]`` conditioning features.
            y: ``[B, y_dim]`` paired features; row i goes with row i of x.

        Returns:
            Scalar ``1/B sum_i sum_d [-(y_id - mu_id)^2 / (2 var_id) - logvar_id / 2]``.
        """
        mu, logvar = self.gaussian(x)
        return (-0.5 * (y - mu) ** 2 / logvar.exp() - 0.5 * logvar).sum(dim=-1).mean()

    def learning_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Negative log-likelihood ``-log_likelihood(x, y)``, minimised by the estimator's optimiser."""
        return -self.log_likelihood(x, y)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """vCLUB estimate of I(x; y) on a batch (Eq. 8; Eq. 9 with x = F'_pc, y = F_dro or F_sat).

        Positive term: log q(y_i|x_i). Negative term: as in the reference ``CLUB.forward``, the mean over all B
        pairs (j = i included) of log q(y_j|x_i). The logvar and constant parts of the log-densities cancel in the
        difference, leaving
        ``1/B sum_i sum_d [mean_j (y_jd - mu_id)^2 - (y_id - mu_id)^2] / (2 var_id)``.
        ``mean_j (y_jd - mu_id)^2 = Var_j(y_jd) + (mean_j y_jd - mu_id)^2``, which avoids the reference's
        ``[B, B, y_dim]`` tensor and is exact.

        Gradients reach x, y and (if trainable) θ; only the encoder optimiser should act on this value.

        Args:
            x: ``[B, x_dim]`` conditioning features.
            y: ``[B, y_dim]`` paired features.

        Returns:
            Scalar estimate (nats).
        """
        mu, logvar = self.gaussian(x)
        inv_var = 0.5 * (-logvar).exp()  # 1 / (2 var), [B, y_dim]
        positive = -((mu - y) ** 2 * inv_var).sum(dim=-1)  # [B]
        all_pairs = y.var(dim=0, unbiased=False) + (y.mean(dim=0) - mu) ** 2  # [B, y_dim]: mean_j (y_j - mu_i)^2
        negative = -(all_pairs * inv_var).sum(dim=-1)  # [B]
        return (positive - negative).mean()

    def extra_repr(self) -> str:
        return f"trainable={self.trainable}, logvar={self.logvar!r}"


def _fit_step(optimizer: torch.optim.Optimizer, losses: dict[str, Tensor]) -> dict[str, Tensor]:
    """Zero, backward and step once on the summed estimator losses; returns them detached."""
    if not losses:
        return {}
    # zero first: the encoder's backward through the bound has left gradients on θ.
    optimizer.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    optimizer.step()
    return {name: loss.detach() for name, loss in losses.items()}


def estimator_step(club: VCLUB, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> Tensor | None:
    """One maximum-likelihood step of q_θ on detached features (skipped for ``trainable=False``).

    Args:
        club: The estimator.
        optimizer: Optimiser over ``club``'s parameters only.
        x: ``[B, x_dim]`` conditioning features (detached here, so the encoders are untouched).
        y: ``[B, y_dim]`` paired features (detached here).

    Returns:
        The learning loss before the step (detached), or None if the estimator is frozen.
    """
    if not club.trainable:
        return None
    return _fit_step(optimizer, {"loss": club.learning_loss(x.detach(), y.detach())})["loss"]


def geometric_aware_estimator_step(
    club_dro: VCLUB,
    club_sat: VCLUB,
    optimizer: torch.optim.Optimizer,
    f_dro: Tensor,
    f_sat: Tensor,
    f_pc_prime: Tensor,
) -> dict[str, Tensor]:
    """One estimator step for both q_θ of L_ga, conditioned the way ``geometric_aware_loss`` uses them.

    The two estimators have disjoint parameters, so one step on the summed losses equals two separate steps.
    Frozen estimators are left out.

    Args:
        club_dro: Estimator of q(F_dro | F'_pc).
        club_sat: Estimator of q(F_sat | F'_pc).
        optimizer: Optimiser over the trainable estimators' parameters.
        f_dro: ``[B, D]`` drone features.
        f_sat: ``[B, D]`` satellite features.
        f_pc_prime: ``[B, D_pc]`` MME output F'_pc.

    Returns:
        ``{"dro", "sat"}`` learning losses before the step (detached), for the trainable estimators only.
    """
    losses = {
        name: club.learning_loss(f_pc_prime.detach(), f_2d.detach())
        for name, club, f_2d in (("dro", club_dro, f_dro), ("sat", club_sat, f_sat))
        if club.trainable
    }
    return _fit_step(optimizer, losses)


def geometric_aware_loss(
    club_dro: VCLUB, club_sat: VCLUB, f_dro: Tensor, f_sat: Tensor, f_pc_prime: Tensor
) -> dict[str, Tensor]:
    """Geometric-aware regulariser L_ga = L_vCLUB(F_dro; F'_pc) + L_vCLUB(F_sat; F'_pc) (Eq. 10).

    Each term is the vCLUB bound of Eq. 9 with q conditioned on the 3D feature, v_θ(F_2D | F'_pc). Each view has
    its own estimator, since p(F_dro | F'_pc) and p(F_sat | F'_pc) differ.

    Args:
        club_dro: Estimator of q(F_dro | F'_pc).
        club_sat: Estimator of q(F_sat | F'_pc).
        f_dro: ``[B, D]`` drone features.
        f_sat: ``[B, D]`` satellite features.
        f_pc_prime: ``[B, D_pc]`` MME output F'_pc.

    Returns:
        ``{"dro", "sat"}`` scalar bounds and ``"ga"``, their sum.
    """
    terms = {"dro": club_dro(f_pc_prime, f_dro), "sat": club_sat(f_pc_prime, f_sat)}
    terms["ga"] = terms["dro"] + terms["sat"]
    return terms
