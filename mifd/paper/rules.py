"""Verdicts comparing our trials with the paper's numbers, by rules stated here and on the pages
(:data:`RULES` is the one text the pages print).

* **Level** (a paper mean ± sd over N trials): Welch's test of our mean against the paper's, from
  our trials and the paper's mean, sd and N, two-sided. p < 0.05: *differs*, or *not converged*
  when the run's own time course still moved over the last :data:`TAIL` of training by more
  than :data:`CONVERGED_TOL` × the larger of the paper's absolute mean and its sd, or, for a
  run shorter than the paper's, when that last change continued linearly to the paper's
  training length would reach the paper's interval (its mean ± its 95% half-width). Otherwise
  *consistent* only when an equivalence test (two one-sided tests, each at 0.05) shows the
  difference smaller than :data:`EQUIVALENCE` × the paper's sd, i.e. the 90% interval of the
  difference lies inside that margin; else *not testable (n = k)*: our n could not have told a
  difference of that size from none (the paper's own N limits this too). Each row also gives
  the smallest difference our n detects with 80% power (:func:`detectable`). With fewer than 2
  of our trials, or a paper value without an sd: *not testable (n = k)*.
* **Count** (k of n trials with a property against the paper's K of N): Fisher's exact test,
  two-sided. p < 0.05: *differs (fewer)* or *differs (more)*; otherwise *consistent* when our
  proportion's 95% Wilson score interval (:func:`mifd.paper.intervals.wilson_ci`) contains the
  paper's proportion and is at most :data:`COUNT_RESOLUTION` wide, else *not testable (n = n)*.
  Every rate shown (a success rate: trials with accuracy > 0.9) carries its Wilson interval,
  never a t-interval, so it stays inside [0, 1].
* **Correlation** (our Pearson r over n trials against the paper's r over N): Fisher's z-test,
  two-sided; p < 0.05: *differs*; otherwise *consistent* when our r's 95% interval is at most
  :data:`CORR_RESOLUTION` wide, else *not testable (n = n)*.
* **Comparison** (condition A vs B in the direction the paper reports): *reproduced* when our
  means differ in the paper's direction, the one-sided Welch t-test gives p < 0.05, and the
  difference is at least :data:`MATTERS` × the paper's difference (from its two levels, where
  it gives both); *same direction, small* when only the size falls short; *same direction,
  n.s.* when only the direction matches; *not reproduced* otherwise.
* **No difference** (the paper reports a non-significant difference): *differs* when our
  two-sided t-test gives p < 0.05; *consistent* only when the 95% interval of our difference
  lies within ± :data:`MATTERS` × the paper's level; *not testable (n = k)* otherwise.
* **Timing** (functional before structural): onsets against each trial's peak
  (:data:`mifd.paper.timing.ONSET_RULE`); **majority** (a property of the failed trials)
  and **all of** (a claim made of parts): :func:`timing_verdict`, :func:`majority_verdict`,
  :func:`all_of`.
* Beside the t-interval each row shows the percentile bootstrap interval of the mean (10 000
  resamples; of the difference of means for comparisons), for information; verdicts use the
  t-interval.

A verdict's *category* (:func:`category`) drops its bracket: counts are by category.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

from ..experiments.base import Layout
from . import task_criterion
from .formatting import _fmt_num, fmt, fmt_ci, fmt_rate  # noqa: F401 (rules.fmt … stay the API)
from .intervals import (bootstrap_ci, bootstrap_diff_ci, ci_from_stats,  # noqa: F401 (rules.mean_ci …
                        correlation_ci, _fisher_z, mean_ci, proportion, wilson_ci)  # stay the API)

#: the significance level of every test
ALPHA = 0.05
#: a level is *consistent* when the difference from the paper's mean is shown (equivalence test)
#: to be smaller than this many paper sds (the paper's own N limits what can be shown: at our
#: n = 20 against its 20 trials of equal spread, differences up to about 0.47 sd can be)
EQUIVALENCE = 1.0
#: the power at which :func:`detectable` states the smallest detectable difference
POWER = 0.8
#: a count's 95% Wilson interval must be at most this wide (and hold the paper's proportion) for
#: "consistent": from 4 trials at a proportion of 0 or 1, from 12 at one half
COUNT_RESOLUTION = 0.5
#: a correlation's 95% interval must be at most this wide for "consistent" (about 60 trials
#: around r = 0)
CORR_RESOLUTION = 0.5
#: a comparison's difference matters from this fraction of the paper's difference on
MATTERS = 0.25
#: the last fraction of training whose change decides "not converged"
TAIL = 0.1
#: the change over that last fraction, relative to the larger of the paper's absolute mean and
#: its sd, that counts
CONVERGED_TOL = 0.1
#: a metric that ends below (1 − DECLINE) × its peak over training has *declined* (rise, then
#: fall: :func:`mifd.paper.timing.peaks`)
DECLINE = 0.25
#: a critic-free MI estimate (nats) up to which the dependence between the groups counts as removed
RESIDUAL_MI = 0.1
#: the rules in one text, printed on the pages
RULES = (
    f"level: Welch's test of our mean against the paper's (mean, sd, N), two-sided; p < {ALPHA}: "
    f"differs, or not converged when our metric still changed over the last {TAIL:.0%} of "
    f"training by more than {CONVERGED_TOL:g} × max(|paper mean|, paper sd), or (a run shorter "
    "than the paper's) when that change continued linearly to the paper's training length would "
    "reach the paper's interval; otherwise consistent only when two one-sided tests (each at "
    f"{ALPHA}) show the difference smaller than {EQUIVALENCE:g} × the paper's sd, else not "
    f"testable at our n (each row gives the smallest difference our n detects with "
    f"{POWER:.0%} power). "
    f"count: Fisher's exact test (two-sided, p < {ALPHA}: differs, naming the direction); "
    f"consistent only when our proportion's 95% Wilson interval holds the paper's proportion "
    f"and is ≤ {COUNT_RESOLUTION:g} wide (every rate shown carries its Wilson interval). "
    f"correlation: Fisher's z-test against the paper's r; consistent only when our r's 95% "
    f"interval is ≤ {CORR_RESOLUTION:g} wide. comparison: reproduced when the difference has "
    f"the paper's sign, one-sided Welch p < {ALPHA} and at least {MATTERS:.0%} of the paper's "
    "difference; same direction, small / same direction, n.s. / not reproduced otherwise. "
    f"no difference (the paper's test was n.s.): differs when our two-sided t-test gives "
    f"p < {ALPHA}; consistent only when the 95% interval of our difference lies within "
    f"± {MATTERS:.0%} of the paper's level; else not testable. "
    "timing: a curve's onset is the first snapshot that covers half of its rise from the first "
    "snapshot to its peak (a curve whose peak is its first snapshot never rises: no onset, "
    "counted); reproduced when most trials with both onsets reach the functional onset first and "
    f"a one-sided Wilcoxon test on the lags gives p < {ALPHA}; same direction, n.s. when only "
    "most are; not reproduced otherwise. failed trials: reproduced when the 95% Wilson interval of "
    "the share of failed trials with the property lies above one half, not reproduced when below, "
    "else not testable. a claim made of parts: reproduced when every part is, partly when some are. "
    "The intervals shown are 95% (the equivalence test reads the 90% interval of the "
    "difference); the bootstrap intervals (percentile, 10 000 resamples) are for information.")
#: every verdict category, in the order the tables count them
VERDICTS = ("reproduced", "consistent", "partly", "same direction, small",
            "same direction, n.s.", "differs", "not converged", "not reproduced", "not testable")


def category(verdict: str) -> str:
    """The verdict without its bracket (``"not testable (n = 4)"`` → ``"not testable"``)."""
    return verdict.split(" (")[0]


def not_testable(n: int) -> str:
    return f"not testable (n = {n})"


def rank_test_floor(n1: int, n2: int, two_sided: bool = True) -> float:
    """The smallest p-value an exact Mann–Whitney test of samples of ``n1`` and ``n2`` can give
    (no ties: the most extreme of the C(n1 + n2, n1) rank arrangements, counted twice when
    two-sided). Where it is not below :data:`ALPHA` the test can never detect a difference:
    its result is *not testable*, not *no difference*."""
    if min(n1, n2) < 1:
        return 1.0
    return min(1.0, (2.0 if two_sided else 1.0) / math.comb(int(n1) + int(n2), int(n1)))


def signed_rank_floor(n: int, two_sided: bool = True) -> float:
    """The smallest p-value an exact Wilcoxon signed-rank test of ``n`` paired differences can
    give (every difference of one sign: one of the 2ⁿ sign patterns, counted twice when
    two-sided). Where it is not below :data:`ALPHA` the test can never detect a difference:
    *not testable* at that n."""
    if n < 1:
        return 1.0
    return min(1.0, (2.0 if two_sided else 1.0) / 2 ** int(n))


def _welch(ours: np.ndarray, mean: float, sd: float | None, n: int) -> tuple[float, float, float]:
    """Our mean minus the paper's, its standard error and Welch's degrees of freedom (the paper's
    mean taken as exact when it gives no sd)."""
    k = ours.size
    va = ours.var(ddof=1) / k
    vb = (sd ** 2 / n) if sd is not None and n >= 2 else 0.0
    se = math.sqrt(va + vb)
    if se == 0:
        return float(ours.mean() - mean), 0.0, float(k - 1)
    dof = (va + vb) ** 2 / (va ** 2 / (k - 1) + (vb ** 2 / (n - 1) if vb else 0.0))
    return float(ours.mean() - mean), se, dof


def detectable(ours: Sequence[float], sd: float | None, n: int = 20, power: float = POWER) -> float:
    """The smallest difference between our mean and the paper's that Welch's two-sided test at
    :data:`ALPHA` detects with probability ``power``: ``(t_{1−α/2} + t_power) × SE`` (NaN below
    2 finite trials)."""
    x = np.asarray(ours, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan
    _, se, dof = _welch(x, 0.0, sd, n)
    return float((stats.t.ppf(1 - ALPHA / 2, dof) + stats.t.ppf(power, dof)) * se)


def level_verdict(ours: Sequence[float], mean: float, sd: float | None, n: int = 20,
                  tail_change: float | None = None, more_tails: float = 0.0) -> str:
    """The level rule (module docstring); ``tail_change``: our mean change of the metric over the
    last :data:`TAIL` of training, if the run has a time course; ``more_tails``: how many such
    stretches the paper trained beyond our run (:func:`more_tails`)."""
    x = np.asarray(ours, dtype=float)
    x = x[np.isfinite(x)]
    k = x.size
    if k < 2 or not np.isfinite(mean):
        return not_testable(k)
    diff, se, dof = _welch(x, mean, sd, n)
    p = 2 * stats.t.sf(abs(diff) / se, dof) if se > 0 else (0.0 if diff else 1.0)
    if p >= ALPHA:
        if sd is None:  # no spread to measure a margin in: agreement cannot be shown
            return not_testable(k)
        return "consistent" if abs(diff) + stats.t.ppf(1 - ALPHA, dof) * se < EQUIVALENCE * sd \
            else not_testable(k)
    scale = max(abs(mean), sd or 0.0)
    if tail_change is not None and np.isfinite(tail_change):
        if abs(tail_change) > CONVERGED_TOL * scale:
            return "not converged"
        # continued linearly over the paper's extra training, would the run reach the paper's
        # interval (its mean ± the 95% half-width)?
        projected = tail_change * max(more_tails, 0.0)
        plo, phi = ci_from_stats(mean, sd, n)
        if np.sign(projected) == -np.sign(diff) and abs(projected) >= abs(diff) - (phi - mean):
            return "not converged"
    return "differs"


def more_tails(result: dict, paper_length: float, tail: float = TAIL) -> float:
    """How many stretches of :data:`TAIL` × our training length the paper trained beyond our
    run (0 when ours is as long): ``(paper − ours) / (tail × ours)``, lengths in the units of
    ``result["snap_epochs"]``."""
    epochs = result.get("snap_epochs")
    if epochs is None or len(epochs) < 2 or not epochs[-1] > 0:
        return 0.0
    ours = float(epochs[-1])
    return max(0.0, (paper_length - ours) / (tail * ours))


def count_verdict(k: int, n: int, k_paper: int, n_paper: int) -> str:
    """The count rule: ``k`` of ``n`` against the paper's ``k_paper`` of ``n_paper``."""
    if n == 0:
        return not_testable(0)
    p = stats.fisher_exact([[k, n - k], [k_paper, n_paper - k_paper]]).pvalue
    if p < ALPHA:
        return "differs (fewer)" if k / n < k_paper / n_paper else "differs (more)"
    lo, hi = wilson_ci(k, n)
    inside = lo <= k_paper / n_paper <= hi if n_paper else False
    return "consistent" if inside and hi - lo <= COUNT_RESOLUTION else not_testable(n)


def correlation_verdict(r: float, n: int, r_paper: float, n_paper: int = 20) -> str:
    """The correlation rule: Fisher's z-test of our r against the paper's."""
    if n < 4 or not np.isfinite(r):
        return not_testable(n)
    z = (_fisher_z(r) - _fisher_z(r_paper)) / math.sqrt(1 / (n - 3) + 1 / (n_paper - 3))
    if 2 * stats.norm.sf(abs(z)) < ALPHA:
        return "differs"
    lo, hi = correlation_ci(r, n)
    return "consistent" if hi - lo <= CORR_RESOLUTION else not_testable(n)


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


def comparison_verdict(a: Sequence[float], b: Sequence[float], direction: str = "greater",
                       paper_diff: float | None = None) -> str:
    """The comparison rule; ``paper_diff``: the paper's difference of the two levels, if known."""
    c = comparison(a, b, direction)
    if not np.isfinite(c["welch_p"]):
        return not_testable(min(np.isfinite(np.asarray(a, float)).sum(),
                                np.isfinite(np.asarray(b, float)).sum()))
    right = c["diff"] > 0 if direction == "greater" else c["diff"] < 0
    if right and c["welch_p"] < ALPHA:
        if paper_diff is not None and abs(c["diff"]) < MATTERS * abs(paper_diff):
            return "same direction, small"
        return "reproduced"
    return "same direction, n.s." if right else "not reproduced"


def tail_changes(result: dict, tail: float = TAIL) -> dict[str, dict[str, float]]:
    """Per condition and snapshotted metric, the mean over trials of (last snapshot − the
    snapshot at ``1 − tail`` of training): how much the metric still moved at the end."""
    snaps, epochs = result.get("snaps"), result.get("snap_epochs")
    if not snaps or epochs is None or len(epochs) < 2:
        return {}
    epochs = np.asarray(epochs, dtype=float)
    i = int(np.searchsorted(epochs, epochs[-1] - tail * (epochs[-1] - epochs[0])))
    i = min(i, len(epochs) - 2)
    lay = Layout.of(result)
    out: dict[str, dict[str, float]] = {c: {} for c in lay.conditions}
    for m, v in snaps.items():
        v = np.asarray(v, dtype=float)
        for c, d in lay.split(v[-1] - v[i], axis=0).items():  # (trials, ...)
            d = d[np.isfinite(d)]
            out[c][m] = float(d.mean()) if d.size else math.nan
    return out


def no_difference_verdict(a: Sequence[float], b: Sequence[float], level: float) -> str:
    """A paper's *non*-significant difference (e.g. the task MSE with and without MI; ``level``:
    the paper's value of the quantity): *differs* when our two-sided t-test of ``a`` against
    ``b`` gives p < :data:`ALPHA`; *consistent* only when the 95% t-interval of our difference
    lies within ± :data:`MATTERS` × ``level``; *not testable (n = k)* otherwise and below 2
    trials per condition."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    k = min(a.size, b.size)
    if k < 2:
        return not_testable(k)
    c = comparison(a, b)
    if not np.isfinite(c["t_p"]):
        return not_testable(k)
    if c["t_p"] < ALPHA:
        return "differs"
    dof = a.size + b.size - 2
    pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / dof
    half = stats.t.ppf(1 - ALPHA / 2, dof) * math.sqrt(pooled * (1 / a.size + 1 / b.size))
    return "consistent" if abs(c["diff"]) + half <= MATTERS * abs(level) else not_testable(k)


def timing_verdict(n: int, first: int, p: float) -> str:
    """Functional before structural over ``n`` trials with both onsets, ``first`` of them
    functional first, one-sided Wilcoxon ``p``: *reproduced* when most trials are functional
    first and p < :data:`ALPHA`; *same direction, n.s.* when most are but p is not; *not
    reproduced* otherwise; *not testable* below 2 trials."""
    if n < 2:
        return not_testable(n)
    if first > n / 2 and np.isfinite(p) and p < ALPHA:
        return "reproduced"
    return "same direction, n.s." if first > n / 2 else "not reproduced"


def majority_verdict(k: int, n_failed: int, n_other: int, n: int) -> str:
    """A property the paper reports of its failed trials (e.g. "a group is silenced"), held by
    ``k`` of our ``n_failed`` failed trials: *reproduced* when the 95% Wilson interval of the
    share lies above one half (most failed trials have it), *not reproduced* when it lies below;
    otherwise, and unless some trials failed and some did not (``n_other``; ``n`` in all),
    *not testable* (4 of 10 is both "fewer than half" and "within chance of half")."""
    if not (n_failed and n_other):
        return not_testable(n)
    lo, hi = wilson_ci(k, n_failed)
    return "reproduced" if lo > 0.5 else "not reproduced" if hi < 0.5 else \
        not_testable(n_failed)


def all_of(verdicts: Sequence[str]) -> str:
    """A claim made of parts: *reproduced* when every part is, *partly* when some are, *not
    reproduced* when none is."""
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "partly" if any(v == "reproduced" for v in verdicts) else "not reproduced"


def dependence_verdict(with_mi: Sequence[float], without: Sequence[float],
                       held_out: Sequence[float], p_perm: Sequence[float] | None = None) -> str:
    """What minimizing the MI did to the dependence between the groups, judged after training by
    estimators the training never saw: ``with_mi`` and ``without`` are a critic-free estimate
    (e.g. the Gaussian MI, nats) per trial of the two conditions, ``held_out`` a fresh critic's
    held-out estimate per MI trial, ``p_perm`` (optional) its permutation-test p-value per MI
    trial. *reduced* when the critic-free estimate is lower with MI (one-sided Welch p <
    :data:`ALPHA`); *removed* when, besides, its mean with MI is at most :data:`RESIDUAL_MI` and
    the fresh critic finds no dependence: with ``p_perm``, significant (p < :data:`ALPHA`) in
    fewer than half of the MI trials; without, its held-out estimate's 95% t-interval reaches
    zero; *not reduced* otherwise; *not testable (n = k)* below 2 trials per condition."""
    a, b = np.asarray(with_mi, float), np.asarray(without, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if min(a.size, b.size) < 2:
        return not_testable(min(a.size, b.size))
    lower = comparison(a, b, "less")
    if not (lower["diff"] < 0 and lower["welch_p"] < ALPHA):
        return "not reduced"
    if a.mean() > RESIDUAL_MI:
        return "reduced"
    if p_perm is not None:
        p = np.asarray(p_perm, float)
        p = p[np.isfinite(p)]
        return "removed" if p.size and (p < ALPHA).sum() < p.size / 2 else "reduced"
    h = np.asarray(held_out, float)
    h = h[np.isfinite(h)]
    return "removed" if h.size >= 2 and mean_ci(h)[2] <= 0 else "reduced"


def trend_verdict(x: Sequence[float], y: Sequence[float]) -> tuple[str, float, float]:
    """A dose-response over trials (``x``: each trial's dose, e.g. λ; ``y``: its metric):
    Spearman's ρ and its two-sided p. *increases* / *decreases* when p < :data:`ALPHA`, *no
    trend detected* otherwise; *not testable (n = k)* below 4 finite pairs or with one dose.
    Returns ``(verdict, ρ, p)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 4 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return not_testable(int(x.size)), math.nan, math.nan
    res = stats.spearmanr(x, y)
    rho, p = float(res.statistic), float(res.pvalue)
    if p < ALPHA:
        return ("increases" if rho > 0 else "decreases"), rho, p
    return "no trend detected", rho, p


def rival_verdict(alt: Sequence[float], ref: Sequence[float], base: Sequence[float]) -> str:
    """A rival method (``alt``) against a reference method (``ref``), both measured against no
    treatment (``base``), per trial: *higher* / *lower* than the reference when a two-sided
    Welch test of alt against ref gives p < :data:`ALPHA`; *as large* when it does not **and** the
    95% t-interval of the difference lies within ± :data:`MATTERS` × the reference's effect
    ``|mean(ref) − mean(base)|``; *not testable (n = k)* otherwise (the interval is too wide to
    tell), and below 2 trials in any group."""
    a, r, b = (np.asarray(v, float) for v in (alt, ref, base))
    a, r, b = a[np.isfinite(a)], r[np.isfinite(r)], b[np.isfinite(b)]
    n = min(a.size, r.size, b.size)
    if n < 2:
        return not_testable(n)
    p = float(stats.ttest_ind(a, r, equal_var=False).pvalue)
    diff = a.mean() - r.mean()
    if np.isfinite(p) and p < ALPHA:
        return "higher" if diff > 0 else "lower"
    va, vr = a.var(ddof=1) / a.size, r.var(ddof=1) / r.size
    se = math.sqrt(va + vr)
    dof = (va + vr) ** 2 / (va ** 2 / (a.size - 1) + vr ** 2 / (r.size - 1)) if se > 0 else 1.0
    half = stats.t.ppf(1 - ALPHA / 2, dof) * se
    effect = abs(r.mean() - b.mean())
    if abs(diff) + half <= MATTERS * effect:
        return "as large"
    return not_testable(n)


#: the rules of the chapters beyond the paper, in one text
BEYOND_RULES = (
    f"trend: Spearman's ρ between each trial's dose and its metric, two-sided p < {ALPHA} "
    f"(increases / decreases; no trend detected otherwise; not testable below 4 trials). "
    f"rival against MINE at the same λ: higher / lower when a two-sided Welch test gives "
    f"p < {ALPHA}; as large when it does not and the 95% interval of the difference lies within "
    f"± {MATTERS:.0%} of MINE's own effect (MINE against no penalty); not testable otherwise. "
    f"comparison against no penalty: the one-sided Welch test, p < {ALPHA}. "
    "structure and timing answers (BIMT, Growing Brains) count only the networks that solve "
    f"the task (working memory: accuracy > {task_criterion.ACCURACY_MIN:g}; separation: R² > "
    f"{task_criterion.R2_MIN:g}; Growing Brains: mean performance ≥ "
    f"{task_criterion.PERFORMANCE_FRACTION:.0%} of the unregularized networks' median), "
    "the others counted and named beside the answer; onsets: half the rise from the first "
    "snapshot to the peak, none for a curve that never rises.")
