"""Critic-free dependence penalties between the two groups of units: cheaper rivals of the
MINE estimate the paper minimizes (its Eq. 8).

Each takes the two groups' activity ``x`` ``(T, S, dx)`` and ``y`` ``(T, S, dy)`` (trials,
samples, units) and returns one differentiable value per trial ``(T,)``, zero (in expectation, up
to a stated finite-sample bias) for independent groups and growing with their dependence:

- :func:`gaussian_mi`: the MI of Gaussians with the samples' covariance, ½ (log det Σ_x +
  log det Σ_y − log det Σ), in nats — the true MI when the activity is jointly Gaussian;
- :func:`cross_correlation`: the mean squared correlation between the units of the two groups
  (decorrelation only: blind to nonlinear dependence);
- :func:`hsic`: the Hilbert–Schmidt independence criterion with Gaussian kernels (biased
  estimator, median-heuristic bandwidths), zero iff independent for such kernels;
- :func:`club`: CLUB (Cheng et al. 2020), the contrastive log-ratio *upper* bound, with a
  linear-Gaussian variational ``q(y | x)`` fitted by least squares in every call (so no second
  network to train): ``Σ_j R²_j / (1 − R²_j)`` over the units ``j`` of ``y``.

For more than two groups, :func:`of_groups` sums a penalty over every pair of groups, and
:func:`gaussian_total_correlation` gives the Gaussian total correlation of all groups at once.
:data:`PENALTIES` names them for configs.

A trial's value depends on its own samples only.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable, Sequence

import torch


def _check(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 3 or y.dim() != 3 or x.shape[:2] != y.shape[:2]:
        raise ValueError(f"parameter 'x, y': got shapes {tuple(x.shape)} and {tuple(y.shape)}; "
                         "allowed: (T, S, dx) and (T, S, dy) with the same T and S")
    if x.shape[1] < 3:
        raise ValueError(f"parameter 'x': got {x.shape[1]} samples; allowed: at least 3")


def _cov(z: torch.Tensor) -> torch.Tensor:
    zc = z - z.mean(1, keepdim=True)
    return zc.transpose(1, 2) @ zc / (z.shape[1] - 1)


def _ridged_cov(z: torch.Tensor, ridge: float) -> torch.Tensor:
    """The sample covariance of ``z`` with ``ridge`` × its mean variance (+ 1e-12) on the
    diagonal."""
    C = _cov(z)
    eye = torch.eye(C.shape[-1], dtype=C.dtype, device=C.device)
    return C + (ridge * C.diagonal(dim1=1, dim2=2).mean(1)[:, None, None] + 1e-12) * eye


def _logdet(M: torch.Tensor) -> torch.Tensor:
    return torch.linalg.cholesky(M).diagonal(dim1=1, dim2=2).log().sum(1) * 2


def gaussian_mi(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """½ (log det Σ_x + log det Σ_y − log det Σ_xy) per trial (nats), each covariance with
    ``ridge`` × its mean variance added to the diagonal (a silenced unit has zero variance).
    Its upward bias at S samples is about (dx·dy)/(2S) nats for independent groups
    (:func:`mifd.mine.logdet_bias` gives it exactly for Gaussians)."""
    _check(x, y)
    return gaussian_total_correlation([x, y], ridge)


def cross_correlation(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over unit pairs (one from each group) of their squared correlation, per trial. About
    1/S for independent groups; ρ² when every pair is correlated ρ."""
    _check(x, y)
    xc, yc = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    xs = xc / (xc.pow(2).sum(1, keepdim=True).sqrt() + eps)
    ys = yc / (yc.pow(2).sum(1, keepdim=True).sqrt() + eps)
    return (xs.transpose(1, 2) @ ys).pow(2).mean((1, 2))


def _rbf(z: torch.Tensor) -> torch.Tensor:
    d2 = torch.cdist(z, z).pow(2)
    n = z.shape[1]
    off = d2[:, ~torch.eye(n, dtype=torch.bool, device=z.device)].detach()
    bw = off.median(dim=1).values.clamp_min(1e-12)  # median heuristic, not differentiated
    return torch.exp(-d2 / bw[:, None, None])


def hsic(x: torch.Tensor, y: torch.Tensor, samples: int | None = 512) -> torch.Tensor:
    """Biased HSIC, tr(K H L H) / (m − 1)², with Gaussian kernels whose squared bandwidth is the
    (lower) median of the squared distances between distinct samples (per trial and group), on the first ``samples`` samples (all if
    ``None``; the cost is quadratic in m). Its bias for independent groups is O(1/m)."""
    _check(x, y)
    if samples is not None:
        if not isinstance(samples, int) or samples < 3:
            raise ValueError(f"parameter 'samples': got {samples!r}; allowed: an integer >= 3 "
                             "or None")
        x, y = x[:, :samples], y[:, :samples]
    m = x.shape[1]
    K, L = _rbf(x), _rbf(y)
    Kc = K - K.mean(1, keepdim=True) - K.mean(2, keepdim=True) + K.mean((1, 2), keepdim=True)
    return (Kc * L).sum((1, 2)) / (m - 1) ** 2


def club(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """CLUB with ``q(y | x) = N(Ax + b, diag σ²)`` fitted by least squares (σ² its residual
    variances), per trial: ``E_p(x,y) log q(y|x) − E_p(x)p(y) log q(y|x) = Σ_j R²_j / (1 − R²_j)``
    with ``R²_j`` the fraction of unit ``j``'s variance explained linearly by ``x``. An upper bound
    of the MI of Gaussians (one pair with correlation ρ: ρ²/(1 − ρ²) ≥ −½ log(1 − ρ²)); for
    independent groups about ``dx·dy / S``. ``ridge``: × the mean variance of x, added to its
    covariance before solving."""
    _check(x, y)
    xc, yc = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    n = x.shape[1]
    cxx = xc.transpose(1, 2) @ xc / n
    cxy = xc.transpose(1, 2) @ yc / n
    eye = torch.eye(cxx.shape[-1], dtype=x.dtype, device=x.device)
    cxx = cxx + (ridge * cxx.diagonal(dim1=1, dim2=2).mean(1)[:, None, None] + 1e-12) * eye
    coef = torch.linalg.solve(cxx, cxy)                       # (T, dx, dy)
    explained = (cxy * coef).sum(1)                           # var of the fit, per unit of y
    var_y = yc.pow(2).mean(1)
    resid = (var_y - explained).clamp_min(1e-12 * var_y.mean(1, keepdim=True) + 1e-30)
    return (explained / resid).sum(1)


Penalty = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: the critic-free penalties by the name a config gives them
PENALTIES: dict[str, Penalty] = {"gaussian": gaussian_mi, "xcorr": cross_correlation,
                                 "hsic": hsic, "club": club}


def split_groups(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    """The units of ``z`` ``(T, S, n)`` in ``k`` contiguous groups of sizes as equal as
    possible (the first ``n mod k`` one larger; ``k = 2`` with even ``n``: the paper's
    halves)."""
    n = z.shape[-1]
    if not 2 <= k <= n:
        raise ValueError(f"parameter 'k': got {k!r}; allowed: 2 ... {n} (the units)")
    sizes = [n // k + (i < n % k) for i in range(k)]
    return list(torch.split(z, sizes, dim=-1))


def of_groups(penalty: Penalty, groups: Sequence[torch.Tensor]) -> torch.Tensor:
    """``Σ_{i<j} penalty(group_i, group_j)`` per trial (one pair: the penalty itself)."""
    if len(groups) < 2:
        raise ValueError(f"parameter 'groups': got {len(groups)}; allowed: at least 2 groups")
    return sum(penalty(a, b) for a, b in combinations(groups, 2))


def gaussian_total_correlation(groups: Sequence[torch.Tensor], ridge: float = 1e-6
                               ) -> torch.Tensor:
    """``½ (Σ_k log det Σ_k − log det Σ)`` per trial (nats): the total correlation of Gaussians
    with the groups' sample covariance; for two groups :func:`gaussian_mi`."""
    if len(groups) < 2:
        raise ValueError(f"parameter 'groups': got {len(groups)}; allowed: at least 2 groups")
    for g in groups[1:]:
        _check(groups[0], g)
    C = _ridged_cov(torch.cat(list(groups), dim=2), ridge)
    out, i = -_logdet(C), 0
    for g in groups:
        d = g.shape[-1]
        out = out + _logdet(C[:, i:i + d, i:i + d])
        i += d
    return 0.5 * out
