"""Percentile bootstrap intervals, shown beside the t-intervals of the claims tables for
information (the verdicts of :mod:`mifd.paper.rules` use the t-intervals)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


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
