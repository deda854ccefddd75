"""Verdicts comparing our trials with the paper's numbers, by rules stated here and on the pages.

* **Level** (a paper mean ± sd over n trials): *consistent* if the 95% t-interval of our mean
  overlaps the paper's 95% t-interval of its mean; otherwise *differs*. With fewer than 2 of our
  trials: *not testable*.
* Beside the t-interval each row shows the percentile bootstrap interval of the mean (10 000
  resamples; of the difference of means for comparisons). With n = 3–4 trials it is narrower
  than the t-interval and is shown for information; the verdicts use the t-interval.
* **Comparison** (condition A vs B, with the direction the paper reports): *reproduced* if our
  means differ in the paper's direction and the one-sided Welch t-test gives p < 0.05;
  *same direction, n.s.* if only the direction matches; *not reproduced* otherwise.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05


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


def ci_from_stats(mean: float, sd: float | None, n: int, level: float = 0.95):
    if sd is None or n < 2:
        return mean, mean
    h = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean - h, mean + h


def level_verdict(ours: Sequence[float], mean: float, sd: float | None, n: int = 20) -> str:
    m, s, lo, hi, k = mean_ci(ours)
    if k < 2:
        return "not testable"
    plo, phi = ci_from_stats(mean, sd, n)
    return "consistent" if (lo <= phi and plo <= hi) else "differs"


def comparison(a: Sequence[float], b: Sequence[float], direction: str = "greater") -> dict:
    """Welch (one-sided, in ``direction`` for a vs b), Mann–Whitney and Cohen's d."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    out = {"diff": float(a.mean() - b.mean()) if a.size and b.size else math.nan}
    if a.size < 2 or b.size < 2:
        return {**out, "welch_p": math.nan, "t_p": math.nan, "mw_p": math.nan, "d": math.nan}
    alt = "greater" if direction == "greater" else "less"
    out["welch_p"] = float(stats.ttest_ind(a, b, equal_var=False, alternative=alt).pvalue)
    out["t_p"] = float(stats.ttest_ind(a, b).pvalue)  # two-sided, as the paper's t-tests
    out["mw_p"] = float(stats.mannwhitneyu(a, b, alternative=alt).pvalue)
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1))
                       / (a.size + b.size - 2))
    out["d"] = out["diff"] / pooled if pooled > 0 else math.nan
    return out


def comparison_verdict(a: Sequence[float], b: Sequence[float], direction: str = "greater") -> str:
    c = comparison(a, b, direction)
    if not np.isfinite(c["welch_p"]):
        return "not testable"
    right = c["diff"] > 0 if direction == "greater" else c["diff"] < 0
    if right and c["welch_p"] < ALPHA:
        return "reproduced"
    return "same direction, n.s." if right else "not reproduced"


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


def fmt_ci(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "—"


def fmt(m: float, s: float, n: int, digits: int = 3) -> str:
    if not np.isfinite(m):
        return "—"
    if not np.isfinite(s):
        return f"{m:.{digits}f} (n={n})"
    return f"{m:.{digits}f} ± {s:.{digits}f} (n={n})"


def level_rows(trials: dict, reported: dict, metrics: Sequence[str]) -> list[dict]:
    """Rows 'ours vs the paper's level' for every condition and metric present in ``trials``."""
    rows = []
    for cond, per_metric in trials.items():
        for m in metrics:
            ours = per_metric.get(m)
            if ours is None:
                continue
            mean, sd, lo, hi, n = mean_ci(ours)
            rep = reported.get(cond, {}).get(m)
            row = {"condition": cond, "quantity": m, "ours": fmt(mean, sd, n),
                   "ours 95% CI": fmt_ci(lo, hi),
                   "bootstrap 95% CI": fmt_ci(*bootstrap_ci(ours)),
                   "paper": "—" if rep is None else
                   (f"{rep.mean:g} ± {rep.sd:g}" if rep.sd is not None else f"{rep.mean:g}"),
                   "verdict": "no paper value"}
            if rep is not None:
                if m == "success_rate":  # the paper: every trial succeeded
                    row["verdict"] = ("consistent" if mean == 1.0 else "differs") \
                        if n else "not testable"
                else:
                    row["verdict"] = level_verdict(ours, rep.mean, rep.sd, rep.n)
            rows.append(row)
    return rows


def comparison_rows(trials: dict, comparisons: Sequence[tuple[str, str, str, str]]) -> list[dict]:
    """Rows for ``(a, b, metric, direction)`` comparisons the paper reports (a vs b)."""
    rows = []
    for a, b, m, direction in comparisons:
        if a not in trials or b not in trials:
            continue
        c = comparison(trials[a][m], trials[b][m], direction)
        rows.append({"condition": f"{a} vs {b}", "quantity": m,
                     "ours": f"Δ = {c['diff']:+.3f}; Welch p = {c['welch_p']:.2g}, "
                             f"Mann–Whitney p = {c['mw_p']:.2g}, d = {c['d']:.2f}",
                     "ours 95% CI": "—",
                     "bootstrap 95% CI": "Δ in " + fmt_ci(*bootstrap_diff_ci(trials[a][m], trials[b][m])),
                     "paper": f"{a} {'>' if direction == 'greater' else '<'} {b}",
                     "verdict": comparison_verdict(trials[a][m], trials[b][m], direction)})
    return rows
