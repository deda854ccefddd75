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
  estimator, median-heuristic bandwidths), zero iff independent for such kernels.

A trial's value depends on its own samples only.
"""

from __future__ import annotations

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


def gaussian_mi(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """½ (log det Σ_x + log det Σ_y − log det Σ_xy) per trial (nats), each covariance with
    ``ridge`` × its mean variance added to the diagonal (a silenced unit has zero variance).
    Its upward bias at S samples is about (dx·dy)/(2S) nats for independent groups
    (:func:`mifd.mine.logdet_bias` gives it exactly for Gaussians)."""
    _check(x, y)
    dx = x.shape[2]
    C = _cov(torch.cat([x, y], dim=2))
    eye = torch.eye(C.shape[-1], dtype=C.dtype, device=C.device)
    C = C + (ridge * C.diagonal(dim1=1, dim2=2).mean(1)[:, None, None] + 1e-12) * eye
    ld = lambda M: torch.linalg.cholesky(M).diagonal(dim1=1, dim2=2).log().sum(1) * 2  # noqa: E731
    return 0.5 * (ld(C[:, :dx, :dx]) + ld(C[:, dx:, dx:]) - ld(C))


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
