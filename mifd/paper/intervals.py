"""Intervals: the t-interval of a mean (:func:`mean_ci`, which the level verdicts of
:mod:`mifd.paper.rules` use) and the Fisher-z interval of a correlation (:func:`correlation_ci`);
percentile bootstrap intervals, shown beside the t-intervals of the claims tables for
information; and Wilson score intervals for proportions (a success rate, k of n trials with a
property), which every rate shown and the count rule use: a proportion's interval stays inside
[0, 1], where a t-interval of 0/1 outcomes can leave it (0.9 ± 0.226 at 18 of 20)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


def bootstrap_ci(x: Sequence[float], level: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = rng.choice(x, size=(n_boot, x.size), replace=True).mean(1)
    return tuple(np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]).tolist())


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95,
                      n_boot: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) − mean(b), each group resampled on its own."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    d = (rng.choice(a, size=(n_boot, a.size)).mean(1) - rng.choice(b, size=(n_boot, b.size)).mean(1))
    return tuple(np.quantile(d, [0.5 - level / 2, 0.5 + level / 2]).tolist())


def wilson_ci(k: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n``: the proportions p whose score test
    ``|k/n − p| ≤ z·√(p(1 − p)/n)`` does not reject at ``level``; always inside [0, 1], exactly
    [·, 1] at k = n and [0, ·] at k = 0 (NaN for n = 0). ``k`` is rounded to a whole count."""
    if n <= 0:
        return math.nan, math.nan
    k = int(round(k))
    z = float(stats.norm.ppf(0.5 + level / 2))
    phat, z2 = k / n, z * z
    centre = (phat + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(phat * (1 - phat) / n + z2 / (4 * n * n))
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def proportion(x: Sequence[float]) -> tuple[int, int]:
    """``(k, n)`` of a per-trial 0/1 outcome (e.g. ``success_rate`` per trial), non-finite
    entries left out."""
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    return int(round(float(a.sum()))), int(a.size)


def mean_ci(x: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float, int]:
    """Mean, sd (ddof 1), and the t-interval of the mean; NaN where undefined."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan, math.nan, n
    sd = float(x.std(ddof=1))
    h = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return m, sd, m - h, m + h, n


#: the range a metric can take where it is bounded (a t-interval of its mean is clipped to it)
BOUNDS = {"R2": (-math.inf, 1.0), "NMI": (0.0, 1.0), "NMI_cor": (0.0, 1.0), "NMI_str": (0.0, 1.0),
          "accuracy": (0.0, 1.0), "eval_accuracy": (0.0, 1.0), "success_rate": (0.0, 1.0),
          "Q_cor": (-0.5, 1.0), "Q_str": (-0.5, 1.0)}


def clipped(lo: float, hi: float, metric: str) -> tuple[float, float, bool]:
    """``(lo, hi)`` clipped to :data:`BOUNDS` of ``metric`` (unbounded metrics unchanged), and
    whether anything was clipped: a t-interval can reach past what a bounded metric can be."""
    a, b = BOUNDS.get(metric, (-math.inf, math.inf))
    lo2, hi2 = (max(lo, a), min(hi, b)) if np.isfinite(lo) else (lo, hi)
    return lo2, hi2, (lo2, hi2) != (lo, hi)


def ci_from_stats(mean: float, sd: float | None, n: int, level: float = 0.95):
    if sd is None or n < 2:
        return mean, mean
    h = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean - h, mean + h


def _fisher_z(r: float) -> float:
    return math.atanh(max(min(r, 1 - 1e-12), -1 + 1e-12))


def correlation_ci(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Fisher-z interval of a Pearson r over n pairs (NaN for n < 4)."""
    if n < 4 or not np.isfinite(r):
        return math.nan, math.nan
    z, h = _fisher_z(r), stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return math.tanh(z - h), math.tanh(z + h)
