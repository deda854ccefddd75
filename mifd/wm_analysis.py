"""Analyses of a stored ``wm`` run: the paper-vs-ours table, trial classes, onset times."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import analysis, claims, paper

METRICS = ("success_rate", "accuracy", "mse", "D_cor", "Q_cor", "Q_str", "D_in", "D_out")
# comparisons the paper reports between the conditions (direction of mi vs no_mi)
COMPARISONS = {"D_cor": "greater", "Q_cor": "greater"}


def paper_table(rr: Any) -> pd.DataFrame:
    """Every number of the paper's working-memory section beside ours, with verdicts."""
    trials = rr.result["trials"]
    tails = claims.tail_changes(rr.result, rr.config.conditions)
    extra = claims.more_tails(rr.result, paper.WM_TRAINING)
    rows = claims.level_rows(trials, paper.WM, METRICS, tails, extra)
    if {"mi", "no_mi"} <= set(rr.config.conditions):
        rows += claims.comparison_rows(
            trials, [("mi", "no_mi", m, d) for m, d in COMPARISONS.items()], paper.WM)
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
                     "paper": f"{k}/{n}",
                     "verdict": claims.count_verdict(int((q < 0.1).sum()), q.size, k, n)})
        r, p = mi_loss_correlation(rr)
        n_r = int(np.isfinite(np.asarray(trials["mi"]["mi_final"], float)).sum())
        rows.append({"condition": "mi", "quantity": "Pearson r(final MI, task loss)",
                     "ours": f"r = {r:.3f}, p = {p:.2g}" if np.isfinite(r) else "—",
                     "ours 95% CI": claims.fmt_ci(*claims.correlation_ci(r, n_r)),
                     "paper": f"r = {paper.WM_MI_LOSS_PEARSON[0]}, p = {paper.WM_MI_LOSS_PEARSON[1]}",
                     "verdict": claims.correlation_verdict(r, n_r, paper.WM_MI_LOSS_PEARSON[0])})
    return pd.DataFrame(rows).fillna("—").set_index(["condition", "quantity"])


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


TIMING_PAIRS = (("Q_cor", "Q_str"), ("D_cor", "D_in"), ("D_cor", "D_out"))


def timing(rr: Any, condition: str = "mi", fraction: float = 0.5) -> pd.DataFrame:
    """Functional-before-structural test for the working-memory pairs (see :func:`mifd.analysis.timing`)."""
    return analysis.timing(rr.result, condition, TIMING_PAIRS, fraction)
