"""Analyses of a stored ``wm`` run: the paper-vs-ours table, trial classes, onset times."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import claims, paper
from .experiments.wm import by_condition

METRICS = ("success_rate", "accuracy", "mse", "D_cor", "Q_cor", "Q_str", "D_in", "D_out")
# comparisons the paper reports between the conditions (direction of mi vs no_mi)
COMPARISONS = {"D_cor": "greater", "Q_cor": "greater"}


def paper_table(rr: Any) -> pd.DataFrame:
    """Every number of the paper's working-memory section beside ours, with verdicts."""
    trials = rr.result["trials"]
    rows = []
    for cond in rr.config.conditions:
        for m in METRICS:
            ours = trials.get(cond, {}).get(m)
            if ours is None:
                continue
            mean, sd, lo, hi, n = claims.mean_ci(ours)
            rep = paper.WM.get(cond, {}).get(m)
            row = {"condition": cond, "quantity": m, "ours": claims.fmt(mean, sd, n),
                   "ours 95% CI": f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "—",
                   "paper": "—" if rep is None else
                   (f"{rep.mean:g} ± {rep.sd:g}" if rep.sd is not None else f"{rep.mean:g}"),
                   "verdict": "no paper value"}
            if rep is not None:
                if m == "success_rate":
                    row["verdict"] = ("consistent" if mean >= 0.9 else "differs") \
                        if n else "not testable"
                else:
                    row["verdict"] = claims.level_verdict(ours, rep.mean, rep.sd, rep.n)
            rows.append(row)
    if {"mi", "no_mi"} <= set(rr.config.conditions):
        for m, direction in COMPARISONS.items():
            c = claims.comparison(trials["mi"][m], trials["no_mi"][m], direction)
            rows.append({"condition": "mi vs no_mi", "quantity": m,
                         "ours": f"Δ = {c['diff']:+.3f}; Welch p = {c['welch_p']:.2g}, "
                                 f"Mann–Whitney p = {c['mw_p']:.2g}, d = {c['d']:.2f}",
                         "ours 95% CI": "—", "paper": "mi > no_mi",
                         "verdict": claims.comparison_verdict(trials["mi"][m],
                                                              trials["no_mi"][m], direction)})
        c = claims.comparison(trials["mi"]["mse"], trials["no_mi"]["mse"], "less")
        rows.append({"condition": "mi vs no_mi", "quantity": "mse (two-sided t-test)",
                     "ours": f"Δ = {c['diff']:+.3f}; t-test p = {c['t_p']:.2g}",
                     "ours 95% CI": "—", "paper": f"p = {paper.WM_MSE_TTEST_P} (n.s.)",
                     "verdict": ("consistent" if (np.isfinite(c["t_p"]) and c["t_p"] >= 0.05)
                                 else ("differs" if np.isfinite(c["t_p"]) else "not testable"))})
    if "mi" in rr.config.conditions:
        q = np.asarray(trials["mi"]["Q_str"])
        k, n = paper.WM_QSTR_BELOW_0_1
        rows.append({"condition": "mi", "quantity": "trials with Q_str < 0.1",
                     "ours": f"{int((q < 0.1).sum())}/{q.size}", "ours 95% CI": "—",
                     "paper": f"{k}/{n}", "verdict": _binomial_verdict(int((q < 0.1).sum()),
                                                                       q.size, k / n)})
        r, p = mi_loss_correlation(rr)
        rows.append({"condition": "mi", "quantity": "Pearson r(final MI, task loss)",
                     "ours": f"r = {r:.3f}, p = {p:.2g}" if np.isfinite(r) else "—",
                     "ours 95% CI": "—",
                     "paper": f"r = {paper.WM_MI_LOSS_PEARSON[0]}, p = {paper.WM_MI_LOSS_PEARSON[1]}",
                     "verdict": ("consistent" if p >= 0.05 else "differs") if np.isfinite(p)
                     else "not testable"})
    return pd.DataFrame(rows).set_index(["condition", "quantity"])


def _binomial_verdict(k: int, n: int, p0: float) -> str:
    if n == 0:
        return "not testable"
    return "consistent" if stats.binomtest(k, n, p0).pvalue >= 0.05 else "differs"


def mi_loss_correlation(rr: Any) -> tuple[float, float]:
    """Pearson r between the final MI estimate and the final task loss across MI trials."""
    t = rr.result["trials"]["mi"]
    x, y = np.asarray(t["mi_final"]), np.asarray(t["mse"])
    if x.size < 3:
        return math.nan, math.nan
    r, p = stats.pearsonr(x, y)
    return float(r), float(p)


SILENCED_RATIO = 0.25
FUNCTIONAL_D = 0.5
STRUCTURAL_Q = 0.1
CLASS_RULES = (
    f"silenced group: the less active group's mean rate s.d. is below {SILENCED_RATIO} × the "
    f"other's; differentiated: not silenced, D_cor ≥ {FUNCTIONAL_D} and Q_str > {STRUCTURAL_Q}; "
    f"functional only: not silenced, D_cor ≥ {FUNCTIONAL_D}, Q_str ≤ {STRUCTURAL_Q}; "
    "undifferentiated: the rest")


def classify(rr: Any) -> pd.DataFrame:
    """One row per trial: condition, measured quantities and the class by :data:`CLASS_RULES`."""
    res, cfg = rr.result, rr.config
    final = res["final"]
    sd = final["group_rate_sd"]  # (T, N)
    half = cfg.n // 2
    g1, g2 = sd[:, :half].mean(1), sd[:, half:].mean(1)
    ratio = np.minimum(g1, g2) / np.maximum(np.maximum(g1, g2), 1e-12)
    rows = []
    T = sd.shape[0]
    conds = [c for c in cfg.conditions for _ in range(cfg.trials)]
    for t in range(T):
        silenced = ratio[t] < SILENCED_RATIO
        dcor, qstr = float(final["D_cor"][t]), float(final["Q_str"][t])
        if silenced:
            cls = "silenced group"
        elif dcor >= FUNCTIONAL_D and qstr > STRUCTURAL_Q:
            cls = "differentiated"
        elif dcor >= FUNCTIONAL_D:
            cls = "functional only"
        else:
            cls = "undifferentiated"
        rows.append({"trial": t, "condition": conds[t], "seed": cfg.seed + t % cfg.trials,
                     "rate sd ratio": round(float(ratio[t]), 3), "D_cor": round(dcor, 3),
                     "Q_str": round(qstr, 3), "Q_cor": round(float(final["Q_cor"][t]), 3),
                     "accuracy": round(float(final["accuracy"][t]), 3), "class": cls})
    return pd.DataFrame(rows).set_index("trial")


def onset(series: np.ndarray, epochs: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """First epoch at which each trial's metric covers ``fraction`` of its rise from the first
    snapshot to the last; NaN where it does not rise (final ≤ initial)."""
    s = np.asarray(series, dtype=float)  # (snapshots, trials)
    start, end = s[0], s[-1]
    level = start + fraction * (end - start)
    out = np.full(s.shape[1], np.nan)
    for t in range(s.shape[1]):
        if not end[t] > start[t]:
            continue
        hit = np.flatnonzero(s[:, t] >= level[t])
        if hit.size:
            out[t] = epochs[hit[0]]
    return out


TIMING_PAIRS = (("Q_cor", "Q_str"), ("D_cor", "D_in"), ("D_cor", "D_out"))


def timing(rr: Any, condition: str = "mi", fraction: float = 0.5) -> pd.DataFrame:
    """Per pair (functional, structural): onsets per trial and a paired test that the
    functional onset comes first (Wilcoxon signed-rank, one-sided)."""
    res, cfg = rr.result, rr.config
    epochs = res["snap_epochs"]
    rows = []
    for f, s in TIMING_PAIRS:
        of = by_condition(onset(res["snaps"][f], epochs, fraction), cfg)[condition]
        os_ = by_condition(onset(res["snaps"][s], epochs, fraction), cfg)[condition]
        ok = np.isfinite(of) & np.isfinite(os_)
        lag = os_[ok] - of[ok]
        p = math.nan
        if ok.sum() >= 2 and np.any(lag != 0):
            p = float(stats.wilcoxon(lag, alternative="greater").pvalue)
        rows.append({"functional": f, "structural": s, "trials with both onsets": int(ok.sum()),
                     "functional first": int((lag > 0).sum()), "same snapshot": int((lag == 0).sum()),
                     "median lag (epochs)": float(np.median(lag)) if lag.size else math.nan,
                     "Wilcoxon p (functional first)": p})
    return pd.DataFrame(rows)
