"""Known-answer problems shared by the estimator, metric and rule tests (as torchdiffeq's
``tests/problems.py``): each problem comes with the answer a correct implementation gives.

* **Correlated Gaussians** (:func:`gaussian_pair`, :func:`gaussian_trials`, :func:`gaussian_cov`): ``x`` and ``y`` in
  ``d`` dimensions, coordinate ``i`` of each correlated by ``rho`` with the same coordinate of
  the other and with nothing else; the mutual information is ``-d/2 log(1 - rho²)`` nats
  (:func:`mifd.mine.gaussian_mi`), the optimal critic is known
  (:func:`mifd.mine.optimal_gaussian_critic`).
* **A silenced network** (:func:`two_groups`, :func:`silence`): the activity of two groups of
  units, each group following a latent of its own (correlated within, independent across:
  ``Q_cor`` well above 0), and the same activity with one group silenced (constant zero: its
  correlations are undefined, and every metric must stay finite).
* **Rise-and-fall curves** (:data:`CURVES` over :data:`EPOCHS`): a metric's time course per
  trial that rises to a peak and falls back, rises and stays, never rises (peak at the start)
  or stays flat, with the onset (half the rise from the first snapshot to the peak), the peak
  epoch and whether it declined (:data:`mifd.paper.rules.DECLINE`) that each must give.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from mifd import mine


# --- correlated Gaussians ---------------------------------------------------------------------

def gaussian_pair(n: int, d: int, mi: float | None = None, rho: float | None = None,
                  seed: int = 0, gen: torch.Generator | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``n`` draws of ``(x, y)`` with ``d`` coordinates each, correlated by ``rho`` (or by the
    ``rho`` whose closed-form MI is ``mi`` nats), from ``gen`` (default: a generator seeded
    ``seed``); returns ``x, y, rho``."""
    if rho is None:
        rho = mine.rho_for_mi(mi, d)
    gen = gen if gen is not None else torch.Generator().manual_seed(seed)
    x, y = mine.sample_correlated_gaussian(n, d, rho, gen)
    return x, y, rho


def gaussian_trials(trials: int, n: int, d: int, rho: float, seed: int = 0,
                    cubic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``trials`` independent draws of :func:`gaussian_pair` (float64, ``(trials, n, d)`` each)
    from one generator seeded ``seed``; ``cubic``: ``y`` cubed (the same MI, not Gaussian)."""
    g = torch.Generator().manual_seed(seed)
    xs, ys = zip(*(mine.sample_correlated_gaussian(n, d, rho, g, cubic) for _ in range(trials)))
    return torch.stack(xs).double(), torch.stack(ys).double()


def gaussian_cov(d: int, rho: float) -> np.ndarray:
    """The joint covariance of :func:`gaussian_pair` (``2d × 2d``; MI
    ``mine.gaussian_mi(rho, d)``)."""
    return np.block([[np.eye(d), rho * np.eye(d)], [rho * np.eye(d), np.eye(d)]])


# --- a silenced network -----------------------------------------------------------------------

def two_groups(n: int = 2000, per_group: int = 3, noise: float = 0.1,
               seed: int = 3) -> np.ndarray:
    """Activity ``(n, 2 * per_group)``: units ``:per_group`` follow one latent, the rest another,
    each with independent noise of sd ``noise`` (``Q_cor`` > 0.45 at the defaults)."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 1)), rng.standard_normal((n, 1))
    return np.concatenate([a + noise * rng.standard_normal((n, per_group)),
                           b + noise * rng.standard_normal((n, per_group))], axis=1)


def silence(x: np.ndarray, group: int = 1) -> np.ndarray:
    """``x`` (from :func:`two_groups`) with one group's units constant zero."""
    x = x.copy()
    half = x.shape[1] // 2
    x[:, half * group:half * (group + 1)] = 0.0
    return x


# --- rise-and-fall curves ---------------------------------------------------------------------

#: the snapshot epochs of :data:`CURVES`
EPOCHS = np.arange(0, 1000, 100)


@dataclasses.dataclass(frozen=True)
class Curve:
    """A metric's time course over :data:`EPOCHS` and what the timing rules must read from it."""

    values: np.ndarray
    onset: float       #: the first epoch at half the rise to the peak (NaN: never rises)
    peak_epoch: int    #: the epoch of the (first) maximum
    declined: bool     #: ends below (1 − DECLINE) × a positive peak

    @property
    def rises(self) -> bool:
        return not math.isnan(self.onset)


#: rise to 1.0 by epoch 300, fall back to 0.1 (net rise 0.1: half of it is reached at epoch 100;
#: half of the rise to the peak, 0.5, at epoch 200); rise and stay; peak at the start; flat
CURVES = {
    "rise and fall": Curve(np.array([0.0, 0.3, 0.6, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.1]),
                           onset=200, peak_epoch=300, declined=True),
    "rise and stay": Curve(np.array([0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.0, 1.0]),
                           onset=400, peak_epoch=700, declined=False),
    "never rises": Curve(np.array([0.5, 0.4, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1, 0.0, 0.0]),
                         onset=math.nan, peak_epoch=0, declined=True),
    "flat": Curve(np.full(10, 0.2), onset=math.nan, peak_epoch=0, declined=False),
}


def curves(*names: str) -> np.ndarray:
    """The named :data:`CURVES` as columns ``(snapshots, trials)`` (all of them by default)."""
    return np.stack([CURVES[n].values for n in (names or CURVES)], 1)
