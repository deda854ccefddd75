"""Mutual-information estimators: statistics networks, variational bounds, negative sampling,
and non-neural references.

Notation: a critic (statistics network) ``T_θ(x, y)`` scores pairs. Aligned pairs ``(x_i, y_i)``
are samples of the joint P; pairs whose ``y`` was drawn from another sample are samples of the
product of marginals Q. All critics here carry a leading *trial* dimension ``T`` (independent
critics trained in one program; see ``mifd.nn``): inputs are ``(T, n, d)``, scores ``(T, n)``
or ``(T, n, n)``, and every bound returns one value per trial.

Bounds (paper Eqs. 11–14 for DV; Poole et al. 2019 and Song & Ermon 2020 for the rest):

* ``dv``: Donsker–Varadhan, ``E_P[T] − log E_Q[e^T]`` with a log-sum-exp.
* ``mine``: the DV value, trained with MINE's bias-corrected gradient (moving average of
  ``E_Q[e^T]``). Its surrogate loss equals, with the average held fixed, minus the TUBA bound
  ``1 + E_P[T] − log m − E_Q[e^T]/m`` (reported as ``tuba``).
* ``nwj``: NWJ / MINE-f, ``E_P[T] − E_Q[e^{T−1}]``.
* ``infonce``: ``E[T_ii − log mean_j e^{T_ij}]`` on all n×n pairs (≤ log n).
* ``smile``: critic trained with the Jensen–Shannon objective; value = DV with ``T`` clipped to
  ``[−τ, τ]`` on the marginal term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .nn import TrialLinear, TrialMLP, activation, clip_grad_norm_per_trial

BOUNDS = ("dv", "mine", "nwj", "infonce", "smile")
#: each bound's name in tables and legends
BOUND_LABELS = {"mine": "MINE (EMA)", "dv": "DV", "nwj": "NWJ", "infonce": "InfoNCE",
                "smile": "SMILE (τ=5)"}
NEGATIVES = ("permutation", "derangement", "all_pairs")


class NonFiniteError(FloatingPointError):
    """An estimate or loss became inf/nan; the message names the term."""


# --------------------------------------------------------------------------- critics

class JointCritic(nn.Module):
    """The paper's statistics network ``T(x, y) = MLP(Dense(x) + Dense(y))``.

    ``widths[0]`` is the width of the joint first layer, the remaining widths are hidden layers
    before a scalar output. The authors' working-memory network is ``widths=(512, 512)``, ReLU,
    output bias; their separation network ``widths=(100, 100)``, leaky-ReLU 0.25, no output bias.
    (The sum of two dense layers is a dense layer on the concatenation ``[x, y]``, so this is
    also the "concat" critic of Poole et al.)
    """

    def __init__(self, gens: Sequence[torch.Generator], dx: int, dy: int,
                 widths: Sequence[int] = (512, 512), act: str = "relu",
                 out_bias: bool = True, init: str = "glorot", double_bias: bool = False):
        super().__init__()
        if len(widths) < 1:
            raise ValueError("parameter 'widths': got (); allowed: at least one width")
        self.fx = TrialLinear(gens, dx, widths[0], True, init)
        # double_bias: both first-layer Dense layers carry a bias, as in the authors' code (the
        # same function; under Adam or RMSprop their sum moves about twice as fast as one bias)
        self.fy = TrialLinear(gens, dy, widths[0], double_bias, init)
        self.head = TrialMLP(gens, widths[0], widths[1:], 1, act, out_bias, init)
        self.act = activation(act)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First-layer projections, shareable between joint and shuffled pairs."""
        return self.fx(x), self.fy(y)

    def from_projections(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(a + b)).squeeze(-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores of aligned pairs, ``(T, n)``."""
        return self.from_projections(*self.project(x, y))

    def joint_and_shuffled(self, x: torch.Tensor, y: torch.Tensor, y_sh: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of ``(x, y)`` and ``(x, y_sh)`` in one pass: the first layer as one matmul on
        ``[x, y]`` stacked over ``[x, y_sh]`` (equal to :meth:`forward` twice up to rounding;
        fewer passes over the ``(n, width)`` activations)."""
        n = x.shape[1]
        W = torch.cat([self.fx.weight, self.fy.weight], dim=1)
        z = torch.cat([torch.cat([x, y], dim=2), torch.cat([x, y_sh], dim=2)], dim=1)
        bias = self.fx.bias if self.fy.bias is None else self.fx.bias + self.fy.bias
        s = self.head(self.act(torch.baddbmm(bias, z, W))).squeeze(-1)
        return s[:, :n], s[:, n:]

    def pair_scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """All pairs ``S[t, i, j] = T(x_i, y_j)``, ``(T, n, n)``."""
        a, b = self.project(x, y)
        T, n, w = a.shape
        h = self.act(a[:, :, None, :] + b[:, None, :, :]).reshape(T, n * n, w)
        return self.head(h).reshape(T, n, n)


class SeparableCritic(nn.Module):
    """``T(x, y) = g(x)ᵀ h(y)`` with two MLP embeddings (Poole et al. 2019)."""

    def __init__(self, gens: Sequence[torch.Generator], dx: int, dy: int,
                 widths: Sequence[int] = (256, 256), embed: int = 32, act: str = "relu",
                 init: str = "glorot"):
        super().__init__()
        self.g = TrialMLP(gens, dx, widths, embed, act, True, init)
        self.h = TrialMLP(gens, dy, widths, embed, act, True, init)

    def project(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.g(x), self.h(y)

    def from_projections(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.from_projections(*self.project(x, y))

    def pair_scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        a, b = self.project(x, y)
        return torch.bmm(a, b.transpose(1, 2))


def make_critic(kind: str, seeds: Sequence[int], dx: int, dy: int, widths: Sequence[int],
                act: str = "relu", out_bias: bool = True, embed: int = 32,
                init: str = "glorot", double_bias: bool = False) -> nn.Module:
    """Build ``len(seeds)`` independent critics of ``kind`` ('joint' | 'separable');
    ``double_bias``: see :class:`JointCritic`."""
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    if kind == "joint":
        return JointCritic(gens, dx, dy, widths, act, out_bias, init, double_bias)
    if kind == "separable":
        return SeparableCritic(gens, dx, dy, widths, embed, act, init)
    raise ValueError(f"parameter 'critic': got {kind!r}; allowed: 'joint', 'separable'")


# --------------------------------------------------------------------------- negatives

def derangement(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random permutation with no fixed point (rejection sampling, ≈e tries)."""
    if n < 2:
        raise ValueError(f"parameter 'n': got {n}; allowed: an integer >= 2")
    device = generator.device if generator is not None else None
    while True:
        p = torch.randperm(n, generator=generator, device=device)
        if not bool((p == torch.arange(n, device=p.device)).any()):
            return p


def negative_index(n: int, mode: str, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """``(T, n)`` indices of the y partnered with each x for the marginal sample, per trial.
    Each draw is made on the device of its generator (a CUDA generator draws on the GPU)."""
    if mode == "permutation":
        return torch.stack([torch.randperm(n, generator=g, device=None if g is None else g.device)
                            for g in gens])
    if mode == "derangement":
        return torch.stack([derangement(n, g) for g in gens])
    raise ValueError(f"parameter 'negatives': got {mode!r}; allowed: one of {NEGATIVES}")


def joint_and_marginal_scores(critic: nn.Module, x: torch.Tensor, y: torch.Tensor,
                              negatives: str = "permutation",
                              gens: Sequence[torch.Generator] | None = None,
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Scores on P and on Q. Returns ``(t_joint (T,n), t_marg (T,m), pair matrix or None)``.

    ``permutation`` (the paper's choice: y rows shuffled over all samples) and ``derangement``
    reuse the first-layer projections of y for the shuffled pairs (exact, and cheaper);
    ``all_pairs`` scores all n² pairs (off-diagonal = Q).
    """
    if negatives == "all_pairs":
        s = critic.pair_scores(x, y)
        n = s.shape[-1]
        t_joint = torch.diagonal(s, dim1=-2, dim2=-1)
        off = ~torch.eye(n, dtype=torch.bool, device=s.device)
        return t_joint, s[:, off], s
    if negatives not in NEGATIVES:
        raise ValueError(f"parameter 'negatives': got {negatives!r}; allowed: one of {NEGATIVES}")
    T, n = x.shape[0], x.shape[1]
    if gens is None:
        gens = [None] * T  # type: ignore[list-item]
    idx = negative_index(n, negatives, gens).to(x.device)
    a, b = critic.project(x, y)
    b_shuf = torch.take_along_dim(b, idx[:, :, None], dim=1)
    return critic.from_projections(a, b), critic.from_projections(a, b_shuf), None


# --------------------------------------------------------------------------- bounds

def _check(name: str, value: torch.Tensor, **terms: torch.Tensor) -> torch.Tensor:
    if not bool(torch.isfinite(value).all()):
        bad = [k for k, v in terms.items() if not bool(torch.isfinite(v).all())]
        which = ", ".join(bad) if bad else "the combination of finite terms"
        raise NonFiniteError(f"{name} is not finite: non-finite term(s): {which}")
    return value


def log_mean_exp(t: torch.Tensor) -> torch.Tensor:
    """``log mean e^t`` over the last dimension, computed with logsumexp."""
    return torch.logsumexp(t, dim=-1) - math.log(t.shape[-1])


def dv(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """Donsker–Varadhan: ``mean T_joint − log mean exp T_marg`` (paper Eq. 14)."""
    ej, lme = t_joint.mean(-1), log_mean_exp(t_marg)
    return _check("DV bound", ej - lme, mean_T_joint=ej, log_mean_exp_T_marginal=lme)


def nwj(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """NWJ / MINE-f: ``mean T_joint − mean exp(T_marg − 1)``."""
    ej, em = t_joint.mean(-1), torch.exp(t_marg - 1).mean(-1)
    return _check("NWJ bound", ej - em, mean_T_joint=ej, mean_exp_T_marginal_minus_1=em)


def tuba(t_joint: torch.Tensor, t_marg: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """TUBA with baseline ``m``: ``1 + mean T_joint − log m − mean(e^{T_marg})/m``."""
    ej = t_joint.mean(-1)
    ratio = torch.exp(log_mean_exp(t_marg) - log_m)
    return _check("TUBA bound", 1 + ej - log_m - ratio, mean_T_joint=ej, exp_ratio=ratio)


def infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE on an all-pairs score matrix ``(T, n, n)``: at most ``log n``."""
    n = scores.shape[-1]
    diag = torch.diagonal(scores, dim1=-2, dim2=-1)
    lse = torch.logsumexp(scores, dim=-1)
    val = (diag - lse).mean(-1) + math.log(n)
    return _check("InfoNCE bound", val, diagonal=diag, row_logsumexp=lse)


def js_objective(t_joint: torch.Tensor, t_marg: torch.Tensor) -> torch.Tensor:
    """f-GAN Jensen–Shannon objective ``E_P[−softplus(−T)] − E_Q[softplus(T)]``."""
    f = nn.functional.softplus
    return _check("JS objective", (-f(-t_joint)).mean(-1) - f(t_marg).mean(-1),
                  t_joint=t_joint, t_marg=t_marg)


def smile(t_joint: torch.Tensor, t_marg: torch.Tensor, tau: float = 5.0) -> torch.Tensor:
    """SMILE value: DV with ``T_marg`` clipped to ``[−τ, τ]`` (Song & Ermon 2020)."""
    return dv(t_joint, torch.clamp(t_marg, -tau, tau))


class MovingAverage:
    """MINE's moving average of ``E_Q[e^T]``, kept in log space (one value per trial)."""

    def __init__(self, rate: float = 0.01):
        if not 0 < rate <= 1:
            raise ValueError(f"parameter 'ema_rate': got {rate}; allowed: a number in (0, 1]")
        self.rate = rate
        self.log_m: torch.Tensor | None = None

    def update(self, t_marg: torch.Tensor) -> torch.Tensor:
        lme = log_mean_exp(t_marg.detach())
        if self.log_m is None or self.rate == 1:
            self.log_m = lme
        else:
            self.log_m = torch.logaddexp(self.log_m + math.log1p(-self.rate),
                                         lme + math.log(self.rate))
        return self.log_m

    def state_dict(self) -> dict:
        return {"rate": self.rate, "log_m": self.log_m}

    def load_state_dict(self, d: dict) -> None:
        self.rate, self.log_m = d["rate"], d["log_m"]


def mine_surrogate(t_joint: torch.Tensor, t_marg: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """Loss whose gradient is MINE's bias-corrected DV gradient (to be *minimized*).

    ``−(mean T_joint − mean(e^{T_marg}) / m)`` with ``m`` a constant; its gradient equals the
    gradient of ``−tuba(t_joint, t_marg, log_m)``.
    """
    return -(t_joint.mean(-1) - torch.exp(log_mean_exp(t_marg) - log_m.detach()))


@dataclass
class Estimate:
    """One evaluation of a bound: ``value`` is the reported MI (nats) per trial, ``loss`` the
    per-trial quantity the critic minimizes (sum it over trials before ``backward``)."""
    value: torch.Tensor
    loss: torch.Tensor
    tuba: torch.Tensor | None = None


def bound(name: str, t_joint: torch.Tensor, t_marg: torch.Tensor,
          scores: torch.Tensor | None = None, *, ema: MovingAverage | None = None,
          tau: float = 5.0) -> Estimate:
    """Evaluate bound ``name`` (one of ``BOUNDS``) and the critic's training loss."""
    if name == "dv":
        v = dv(t_joint, t_marg)
        return Estimate(v, -v)
    if name == "mine":
        if ema is None:
            raise ValueError("bound 'mine' needs a MovingAverage (ema=...)")
        v = dv(t_joint, t_marg)
        log_m = ema.update(t_marg)
        loss = _check("MINE surrogate loss", mine_surrogate(t_joint, t_marg, log_m))
        return Estimate(v, loss, tuba(t_joint.detach(), t_marg.detach(), log_m))
    if name == "nwj":
        v = nwj(t_joint, t_marg)
        return Estimate(v, -v)
    if name == "infonce":
        if scores is None:
            raise ValueError("bound 'infonce' needs all-pair scores (negatives='all_pairs')")
        v = infonce(scores)
        return Estimate(v, -v)
    if name == "smile":
        v = smile(t_joint, t_marg, tau)
        return Estimate(v.detach(), -js_objective(t_joint, t_marg))
    raise ValueError(f"parameter 'bound': got {name!r}; allowed: one of {BOUNDS}")


def dv_estimate(critic: nn.Module, x: torch.Tensor, y: torch.Tensor,
                gens: Sequence[torch.Generator] | None = None,
                negatives: str = "permutation") -> torch.Tensor:
    """The DV bound of ``critic`` on ``(x, y)`` per trial (the paper's estimator, Eq. 14)."""
    tj, tm, _ = joint_and_marginal_scores(critic, x, y, negatives, gens)
    return dv(tj, tm)


def dv_step(critic: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
            gens: Sequence[torch.Generator] | None = None, clip: float = 0.0,
            negatives: str = "permutation") -> torch.Tensor:
    """One ascent step of the DV bound (per-trial, per-variable clip-norm ``clip`` if > 0);
    returns the DV per trial before the step."""
    v = dv_estimate(critic, x, y, gens, negatives)
    opt.zero_grad(set_to_none=True)
    (-v).sum().backward()
    if clip > 0:
        clip_grad_norm_per_trial(list(critic.parameters()), clip)
    opt.step()
    return v.detach()


# --------------------------------------------------------------------------- references

def gaussian_mi(rho: float | np.ndarray, d: int = 1) -> float:
    """Closed form for ``y = ρx + √(1−ρ²)ε`` in ``d`` independent pairs: ``−(d/2) ln(1−ρ²)``."""
    rho = np.asarray(rho, dtype=float)
    if rho.ndim == 0:
        return float(-0.5 * d * np.log1p(-rho ** 2))
    return float(-0.5 * np.log1p(-rho ** 2).sum())


def rho_for_mi(mi: float, d: int) -> float:
    """Correlation that gives ``mi`` nats across ``d`` independent pairs."""
    return float(np.sqrt(1 - np.exp(-2 * mi / d)))


def sample_correlated_gaussian(n: int, d: int, rho: float, generator: torch.Generator | None = None,
                               cubic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``x ~ N(0, I_d)``, ``y = ρx + √(1−ρ²)ε``; ``cubic`` maps ``y → y³`` (MI unchanged)."""
    x = torch.randn(n, d, generator=generator)
    y = rho * x + math.sqrt(1 - rho ** 2) * torch.randn(n, d, generator=generator)
    return x, (y ** 3 if cubic else y)


def optimal_gaussian_critic(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """The log density ratio ``log p(x,y) / (p(x)p(y))`` of :func:`sample_correlated_gaussian`
    (the critic that makes DV tight), summed over the last dimension."""
    s = 1 - rho ** 2
    q = (x ** 2 + y ** 2 - 2 * rho * x * y) / (2 * s) - (x ** 2 + y ** 2) / 2
    return (-q - 0.5 * math.log(s)).sum(-1)


def gaussian_mi_from_cov(cov: np.ndarray, dx: int) -> float:
    """``½[ln|Σ_xx| + ln|Σ_yy| − ln|Σ|]`` for a joint covariance whose first ``dx`` rows are x."""
    cov = np.asarray(cov, dtype=float)
    lx = np.linalg.slogdet(cov[:dx, :dx])[1]
    ly = np.linalg.slogdet(cov[dx:, dx:])[1]
    lj = np.linalg.slogdet(cov)[1]
    return float(0.5 * (lx + ly - lj))


def logdet_bias(p: int, n: int) -> float:
    """``E[ln|S|] − ln|Σ|`` for the sample covariance ``S`` (ddof 1) of ``n`` Gaussian samples
    in ``p`` dimensions: ``Σ_{i=1..p} ψ((n−i)/2) − p ln((n−1)/2)``."""
    from scipy.special import digamma
    return float(digamma((n - np.arange(1, p + 1)) / 2).sum() - p * np.log((n - 1) / 2))


def gaussian_mi_estimate(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                         bias_correct: bool = True) -> float:
    """Gaussian (log-det) MI from samples ``(n, dx)``, ``(n, dy)``.

    Exact for Gaussians up to sampling error; ``bias_correct`` removes the expected bias of each
    log-determinant (:func:`logdet_bias`), which otherwise inflates the estimate by about
    ``dx·dy/(2n)`` nats.
    """
    x, y = _np(x), _np(y)
    n, dx, dy = x.shape[0], x.shape[1], y.shape[1]
    if n <= dx + dy:
        raise ValueError(f"parameter 'n': got {n} samples; allowed: more than dx + dy = {dx + dy}")
    cov = np.cov(np.concatenate([x, y], axis=1), rowvar=False)
    mi = gaussian_mi_from_cov(cov, dx)
    if bias_correct:
        mi -= 0.5 * (logdet_bias(dx, n) + logdet_bias(dy, n) - logdet_bias(dx + dy, n))
    return mi


def copula_mi_estimate(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Gaussian-copula MI: ranks → normal scores per variable, then the log-det estimate.

    Invariant to strictly monotone transforms of each variable (e.g. ``y³``, ``tanh``).
    """
    from scipy.stats import norm, rankdata
    x, y = _np(x), _np(y)
    n = x.shape[0]

    def scores(a: np.ndarray) -> np.ndarray:
        return norm.ppf(rankdata(a, axis=0) / (n + 1))

    return gaussian_mi_estimate(scores(x), scores(y))


def _np(a: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=float)
