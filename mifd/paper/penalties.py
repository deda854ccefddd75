"""Beyond the paper: is MINE needed? The ``penalties`` experiment read as the chapter's tables —
the λ dose-response of MINE and the Gaussian penalty, the critic-free penalties against MINE at
matched strength, their cost, and K > 2 groups — with its questions answered by the stated rules
of :mod:`mifd.paper.rules` (:data:`~mifd.paper.rules.BEYOND_RULES`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..experiments.penalties import Condition
from . import rules

#: the per-trial metrics of the dose-response and the comparison
METRICS = ("Q_cor", "D_cor", "Q_str", "eval_mse", "success_rate", "gauss_mi_final", "mi_final")
#: what each metric is, for axis labels and table headers
LABELS = {"Q_cor": "Q_cor (functional modularity)", "D_cor": "D_cor (functional separation)",
          "Q_str": "Q_str (structural modularity)", "eval_mse": "task MSE (evaluation)",
          "success_rate": "success (accuracy > 0.9)",
          "gauss_mi_final": "Gaussian MI of the halves (nats)",
          "mi_final": "statistics network's DV (nats)"}
#: the critic-free rivals of MINE, in the order the tables list them
RIVALS = ("gaussian", "xcorr", "hsic", "club")


def conditions(rr: Any) -> dict[str, Condition]:
    """Each condition of the run, parsed."""
    return {c: Condition.parse(c) for c in rr.layout.conditions}


def trials_frame(rr: Any) -> pd.DataFrame:
    """One row per trial: condition, method, λ, k and every per-trial metric."""
    rows = []
    for name, c in conditions(rr).items():
        tr = rr.result["trials"][name]
        for t in range(rr.layout.per_condition):
            rows.append({"condition": name, "method": c.method, "λ": c.lam, "k": c.k,
                         **{m: tr[m][t] for m in tr}})
    return pd.DataFrame(rows)


def dose_response(rr: Any, methods: tuple[str, ...] = ("mine", "gaussian"),
                  metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per method of ``methods``, λ (0: the ``none`` trials, shared) and metric: mean, 95%
    t-interval and n over trials (two groups only)."""
    df = trials_frame(rr)
    none = df[df["method"] == "none"]
    rows = []
    for method in methods:
        sub = pd.concat([none.assign(method=method),
                         df[(df["method"] == method) & (df["k"] == 2)]])
        for lam, g in sub.groupby("λ"):
            for m in metrics:
                mean, _, lo, hi, n = rules.mean_ci(g[m])
                rows.append({"method": method, "λ": lam, "metric": m, "mean": mean,
                             "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows)


def trends(rr: Any, methods: tuple[str, ...] = ("mine", "gaussian"),
           metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per method and metric: Spearman's ρ between λ (0 for ``none``) and the metric over the
    trials, its p and the verdict (:func:`mifd.paper.rules.trend_verdict`)."""
    df = trials_frame(rr)
    rows = []
    for method in methods:
        sub = df[((df["method"] == method) & (df["k"] == 2)) | (df["method"] == "none")]
        for m in metrics:
            verdict, rho, p = rules.trend_verdict(sub["λ"], sub[m])
            rows.append({"method": method, "metric": m, "λ values": sub["λ"].nunique(),
                         "trials": int(np.isfinite(sub[m].astype(float)).sum()),
                         "Spearman ρ": rho, "p": p, "verdict": verdict})
    return pd.DataFrame(rows).set_index(["method", "metric"])


def cost(rr: Any) -> pd.DataFrame:
    """Seconds per trial and epoch, measured in the run: the statistics network's ``sm_per_mm``
    updates with their RNN passes (what MINE needs and a critic-free penalty does not), and each
    penalty's evaluation with its backward share of the MM step."""
    tm = rr.result["timing"]
    T = tm["trials"]
    counts = {f"{c.method}/K{c.k}": 0 for c in conditions(rr).values()}
    for c in conditions(rr).values():
        counts[f"{c.method}/K{c.k}"] += rr.layout.per_condition
    rows = [{"what": "statistics network (MINE): k SM updates and their RNN passes",
             "seconds per trial-epoch": tm["critic_per_epoch"] / T}]
    for key, sec in tm["penalty_per_epoch"].items():
        rows.append({"what": f"{key.replace('/K2', '')} penalty (forward)",
                     "seconds per trial-epoch": sec / max(1, counts.get(key, 1))})
    out = pd.DataFrame(rows).set_index("what")
    out["fraction of the critic's"] = out["seconds per trial-epoch"] / \
        out["seconds per trial-epoch"].iloc[0]
    return out


def rivals(rr: Any, metrics: tuple[str, ...] = ("Q_cor", "D_cor", "Q_str", "eval_mse",
                                                "gauss_mi_final")) -> pd.DataFrame:
    """Each critic-free penalty against MINE at the same λ (two groups): per metric the rival's
    mean, MINE's, no penalty's, and the verdict of :func:`mifd.paper.rules.rival_verdict`."""
    df = trials_frame(rr)
    base = df[df["method"] == "none"]
    rows = []
    for lam in sorted(df.loc[df["method"].isin(RIVALS), "λ"].unique()):
        ref = df[(df["method"] == "mine") & (df["λ"] == lam)]
        for method in RIVALS:
            alt = df[(df["method"] == method) & (df["λ"] == lam) & (df["k"] == 2)]
            if alt.empty or ref.empty:
                continue
            for m in metrics:
                rows.append({"λ": lam, "penalty": method, "metric": m,
                             "penalty mean": alt[m].mean(), "MINE mean": ref[m].mean(),
                             "no penalty": base[m].mean(),
                             "against MINE": rules.rival_verdict(alt[m], ref[m], base[m]),
                             "against no penalty (>)": _vs_none(alt[m], base[m], m)})
    return pd.DataFrame(rows).set_index(["λ", "penalty", "metric"])


def _vs_none(a: Any, b: Any, metric: str) -> str:
    """The one-sided comparison against no penalty, in the direction MINE moves ``metric``
    (modularity up; the MSE and the dependence down)."""
    direction = "less" if metric in ("eval_mse", "gauss_mi_final", "mi_final") else "greater"
    c = rules.comparison(a, b, direction)
    if not np.isfinite(c["welch_p"]):
        return rules.not_testable(min(len(a), len(b)))
    moved = (c["diff"] > 0) == (direction == "greater") and c["welch_p"] < rules.ALPHA
    return f"{'yes' if moved else 'no'} (p = {c['welch_p']:.2g})"


def _key(metric: str, k: int) -> str:
    """The per-trial key of ``metric`` (``Q_cor``, ``Q_str``, ``NMI_cor``) with ``k`` groups."""
    return metric if k == 2 and metric != "NMI_cor" else f"{metric}_{k}"


def groups(rr: Any) -> pd.DataFrame:
    """K > 2 groups: per condition with k groups (no penalty at every k; the Gaussian penalty
    with two groups at λ = 0.1, the reference), the modularity of ``|corr|`` with k fixed blocks
    (``Q_cor_k``), the NMI between the blocks and k detected communities (``NMI_cor_k``),
    ``Q_str_k``, the task MSE, each as mean ± sd (n), and whether ``Q_cor_k`` is above no
    penalty's at the same k (one-sided Welch)."""
    df = trials_frame(rr)
    base = df[df["method"] == "none"]
    rows = []
    for name, c in conditions(rr).items():
        if c.method == "none":
            ks = (2, 3, 4)
        elif c.k > 2 or (c.method == "gaussian" and c.lam == 0.1):
            ks = (c.k,)
        else:
            continue
        g = df[df["condition"] == name]
        for k in ks:
            row = {"condition": name, "k": k}
            for m in ("Q_cor", "NMI_cor", "Q_str", "eval_mse"):
                key = _key(m, k) if m != "eval_mse" else m
                mean, sd, _, _, n = rules.mean_ci(g[key])
                row[f"{m}_k" if m != "eval_mse" else m] = rules.fmt(mean, sd, n)
            row["Q_cor_k above no penalty"] = ("—" if c.method == "none" else
                                               _vs_none(g[_key("Q_cor", k)],
                                                        base[_key("Q_cor", k)], "Q_cor"))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["condition", "k"])


def answers(rr: Any) -> str:
    """The chapter's questions answered from the run (markdown), each by a stated rule."""
    lay = rr.layout
    trend = trends(rr, metrics=("Q_cor", "D_cor", "eval_mse", "gauss_mi_final"))
    out = []
    for method in ("mine", "gaussian"):
        if (method, "Q_cor") not in trend.index:
            continue
        parts = [f"{LABELS[m].split(' (')[0]} {trend.loc[(method, m), 'verdict']} "
                 f"(ρ = {trend.loc[(method, m), 'Spearman ρ']:+.2f}, "
                 f"p = {trend.loc[(method, m), 'p']:.2g})"
                 for m in ("Q_cor", "D_cor", "eval_mse", "gauss_mi_final")]
        name = "MINE" if method == "mine" else "the Gaussian penalty"
        out.append(f"**With λ, under {name}:** " + "; ".join(parts) + ".")
    riv = rivals(rr, metrics=("D_cor", "Q_cor"))
    if not riv.empty:
        lines = []
        for (lam, method), g in riv.groupby(level=[0, 1]):
            v = g.droplevel([0, 1])["against MINE"]
            lines.append(f"{method} at λ = {lam:g}: D_cor {v['D_cor']}, Q_cor {v['Q_cor']}")
        out.append("**Against MINE at the same matched λ:** " + "; ".join(lines) + ".")
    c = cost(rr)
    if len(c) > 1:
        fr = c["fraction of the critic's"].iloc[1:]
        out.append(f"**Cost:** the critic-free penalties took {fr.min():.1%} to {fr.max():.1%} "
                   "of the statistics network's time per trial and epoch.")
    out.append(f"(n = {lay.per_condition} trials per condition; rules: {rules.BEYOND_RULES})")
    return "\n\n".join(out)
