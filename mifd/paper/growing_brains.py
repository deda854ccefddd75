"""Growing Brains reproduced: the ``growing-brains`` experiment read as the chapter's tables —
task error against active units beside the paper's figure, the anatomical measures against
their shuffle nulls beside the paper's readings, the timing of functional against anatomical
clustering, and (beyond Growing Brains) whether minimizing the dependence between the grid's
halves aligns the task-variance clusters with them — each judged by a stated rule
(:mod:`mifd.paper.rules`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import reported, rules, task_criterion
from .timing import onset

#: the methods, in the order of the tables (``gauss``: the Gaussian MI between the grid halves,
#: not in Growing Brains)
METHODS = ("none", "l1", "bimt", "gauss")
#: the per-trial metrics of the final table
METRICS = ("performance", "performance_strict", "active_units", "wiring_length", "clusters", "silhouette",
           "isolated", "isolated_null", "index_var", "index_var_null", "Q_str_clusters",
           "Q_cor_clusters", "NMI_halves", "mi_halves")
#: fewest trials of a method for the below-chance test (a one-sided Wilcoxon test cannot reach
#: p < 0.05 with fewer)
MIN_TRIALS = 5


def method_of(condition: str) -> tuple[str, float]:
    """``"bimt=0.001"`` → ``("bimt", 0.001)``; ``"none"`` → ``("none", 0.0)``."""
    m, _, v = condition.partition("=")
    return m, float(v) if v else 0.0


def final_table(rr: Any) -> pd.DataFrame:
    """Mean ± sd (n) of :data:`METRICS` per condition at the end of training."""
    trials = rr.result["trials"]
    return pd.DataFrame({c: {m: rules.fmt(*rules.mean_ci(trials[c][m])[:2],
                                          len(trials[c][m])) for m in METRICS}
                         for c in rr.layout.conditions}).T


def error_vs_active(rr: Any) -> pd.DataFrame:
    """One row per trial: method, λ, active units, task error (1 − mean performance over the
    20 tasks)."""
    rows = []
    for c in rr.layout.conditions:
        method, lam = method_of(c)
        tr = rr.result["trials"][c]
        rows += [{"condition": c, "method": method, "λ_w": lam, "active units": a, "error": e}
                 for a, e in zip(tr["active_units"], tr["error"])]
    return pd.DataFrame(rows)


def paper_error_vs_active(units: int | None = None) -> pd.DataFrame:
    """The paper's points (:data:`mifd.paper.reported.GROWING_BRAINS_ERROR_VS_ACTIVE`); with
    ``units``, active units rescaled to a network of that size (× units / 400)."""
    scale = 1.0 if units is None else units / reported.GROWING_BRAINS_UNITS
    return pd.DataFrame([{"method": m, "active units": a * scale, "error": e}
                         for m, pts in reported.GROWING_BRAINS_ERROR_VS_ACTIVE.items()
                         for a, e in pts])


def below_chance(stat: Any, null: Any) -> tuple[str, float, int]:
    """Is a statistic below its shuffle null? One-sided Wilcoxon signed-rank test of
    ``stat − null`` < 0 over trials: *below chance* when p < α, *not below chance* otherwise,
    *not testable (n = k)* below :data:`MIN_TRIALS` trials. Returns (verdict, p, n)."""
    d = np.asarray(stat, float) - np.asarray(null, float)
    d = d[np.isfinite(d)]
    if d.size < MIN_TRIALS:
        return rules.not_testable(int(d.size)), math.nan, int(d.size)
    if not np.any(d != 0):
        return "not below chance", 1.0, int(d.size)
    p = float(stats.wilcoxon(d, alternative="less").pvalue)
    return ("below chance" if p < rules.ALPHA else "not below chance"), p, int(d.size)


def anatomy_table(rr: Any) -> pd.DataFrame:
    """Per method (all its strengths pooled, the networks that solve the task only:
    :func:`solves`; the others counted): the isolated ratio and the index variance as fractions
    of their nulls (ours: mean over networks; the paper's: from its readings), and whether ours
    is below chance (:func:`below_chance`)."""
    keep, _ = solves(rr)
    rows = []
    for method in METHODS:
        conds = [c for c in rr.layout.conditions if method_of(c)[0] == method]
        if not conds:
            continue
        row: dict[str, Any] = {"method": method, "networks that solve the task": (
            f"{sum(int(keep[c].sum()) for c in conds)} of {sum(keep[c].size for c in conds)}")}
        for stat in ("isolated", "index_var"):
            s = _pooled(rr, stat, (method,), keep)
            n = _pooled(rr, f"{stat}_null", (method,), keep)
            v, p, k = below_chance(s, n)
            ps, pn = reported.GROWING_BRAINS_ANATOMY.get(method, {}).get(stat,
                                                                        (math.nan, 1.0))
            row[f"{stat} / null (ours)"] = float(np.nanmean(s / n)) if s.size else math.nan
            row[f"{stat} / null (paper)"] = ps / pn
            row[f"{stat}: below chance?"] = v + (f" (p = {p:.2g}, n = {k})"
                                                 if np.isfinite(p) else "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def clustering_courses(rr: Any) -> dict[str, np.ndarray]:
    """Per snapshot and trial: functional clustering (the silhouette of the task-variance
    clusters) and anatomical clustering (``1 − isolated / null``), NaN where no clusters."""
    s = rr.result["snaps"]
    return {"functional": np.asarray(s["silhouette"], float),
            "anatomical": 1 - np.asarray(s["isolated"], float) / np.asarray(s["isolated_null"],
                                                                           float)}


#: the metrics of the chapter's time-course figure, with their axis labels
COURSES = {"performance": "performance (mean over tasks)", "functional":
           "functional clustering\n(silhouette)", "anatomical":
           "anatomical clustering\n(1 − isolated / null)", "NMI_halves": "NMI(clusters, halves)",
           "mi_halves": "Gaussian MI between\nhalves (nats)"}


def courses_by_method(rr: Any) -> dict[str, dict[str, np.ndarray]]:
    """Per method, per metric of :data:`COURSES`: its values ``(snapshots, networks)``, the
    method's strengths and trials pooled."""
    s = rr.result["snaps"]
    per = {**clustering_courses(rr), **{k: np.asarray(s[k], float) for k in
                                        ("performance", "NMI_halves", "mi_halves") if k in s}}
    out: dict[str, dict[str, np.ndarray]] = {}
    for method in METHODS:
        idx = [i for c in rr.layout.conditions if method_of(c)[0] == method
               for i in rr.layout.index(c)]
        if idx:
            out[method] = {k: v[:, idx] for k, v in per.items() if k in COURSES}
    return out


def timing_table(rr: Any) -> pd.DataFrame:
    """Per method, on its networks that solve the task (:func:`solves`; the others counted in
    "left out (fail the task)"): the onset (:func:`mifd.paper.timing.onset`: half the rise
    to the peak) of functional and of anatomical clustering per network, the lag (anatomical −
    functional), and a two-sided Wilcoxon test of the lag; *one leads* when p < α (naming
    which), *together or not resolved* otherwise, *not testable (n = k)* below
    :data:`MIN_TRIALS` networks with both onsets."""
    courses = clustering_courses(rr)
    epochs = rr.result["snap_epochs"]
    on = {k: rr.layout.split(onset(np.nan_to_num(v, nan=0.0), epochs)) for k, v in
          courses.items()}
    keep, _ = solves(rr)
    rows = []
    for method in METHODS:
        conds = [c for c in rr.layout.conditions if method_of(c)[0] == method]
        if not conds:
            continue
        f = np.concatenate([on["functional"][c][keep[c]] for c in conds])
        a = np.concatenate([on["anatomical"][c][keep[c]] for c in conds])
        ok = np.isfinite(f) & np.isfinite(a)
        lag = a[ok] - f[ok]
        if lag.size < MIN_TRIALS:
            verdict, p = rules.not_testable(int(lag.size)), math.nan
        elif not np.any(lag != 0):
            verdict, p = "together or not resolved", 1.0
        else:
            p = float(stats.wilcoxon(lag).pvalue)
            verdict = ("together or not resolved" if p >= rules.ALPHA else
                       "functional leads" if np.median(lag) > 0 else "anatomical leads")
        rows.append({"method": method,
                     "left out (fail the task)": sum(int((~keep[c]).sum()) for c in conds),
                     "trials with both onsets": int(ok.sum()),
                     "median lag (steps)": float(np.median(lag)) if lag.size else math.nan,
                     "Wilcoxon p (two-sided)": p, "verdict": verdict})
    return pd.DataFrame(rows).set_index("method")


def representatives(rr: Any) -> dict[str, int]:
    """One network per method to draw: ``none``, and of every other method the last trial at
    its median strength; ``{condition: trial index}``."""
    out = {}
    for method in METHODS:
        conds = sorted((c for c in rr.layout.conditions if method_of(c)[0] == method),
                       key=lambda c: method_of(c)[1])
        if conds:
            c = conds[(len(conds) - 1) // 2]
            out[c] = int(rr.layout.index(c)[-1])
    return out


def solves(rr: Any) -> tuple[dict[str, np.ndarray], str]:
    """Per condition, which networks meet the task criterion
    (:data:`mifd.paper.task_criterion.PERFORMANCE_FRACTION` of the unregularized networks'
    median performance), and the criterion in words; every network when the run has no
    ``none`` networks to measure it against."""
    trials = rr.result["trials"]
    try:
        metric, level, text = task_criterion.criterion(trials)
    except KeyError:
        return ({c: np.ones(len(trials[c]["performance"]), bool) for c in rr.layout.conditions},
                "no criterion (no unregularized networks in the run)")
    return task_criterion.split(trials, rr.layout.conditions, metric, level), text


def _pooled(rr: Any, metric: str, methods: tuple[str, ...],
            keep: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``metric`` of every network of ``methods`` (with ``keep``: only those it marks)."""
    trials = rr.result["trials"]
    return np.concatenate([np.asarray(trials[c][metric], float)[
        keep[c] if keep is not None else slice(None)] for c in rr.layout.conditions
        if method_of(c)[0] in methods] or [np.zeros(0)])


def _left_out(rr: Any, keep: dict[str, np.ndarray], methods: tuple[str, ...]) -> str:
    """The networks of ``methods`` that fail the task, named (``"bimt=1e-05 trial 0 (…)"``)."""
    sub = {c: m for c, m in keep.items() if method_of(c)[0] in methods}
    return task_criterion.failed_names(rr.result["trials"], sub, "performance")


def halves_table(rr: Any) -> pd.DataFrame:
    """Per method (strengths and trials pooled), at the end of training: the Gaussian MI between
    the grid halves' rates on the evaluation batch (nats), and the NMI between the task-variance
    clusters and the halves (0: the clusters ignore the halves; 1: they are the halves)."""
    rows = []
    for method in METHODS:
        mi, nmi = _pooled(rr, "mi_halves", (method,)), _pooled(rr, "NMI_halves", (method,))
        if mi.size:
            rows.append({"method": method, "networks": int(mi.size),
                         "MI between halves (nats)": rules.fmt(*rules.mean_ci(mi)[:2], mi.size),
                         "NMI(clusters, halves)": rules.fmt(*rules.mean_ci(nmi)[:2], nmi.size)})
    return pd.DataFrame(rows).set_index("method")


def _answer(c: dict, direction: str, yes: str, no: str) -> str:
    """``yes`` when the comparison (:func:`mifd.paper.rules.comparison`) goes in ``direction``
    with one-sided Welch p < α, ``no`` otherwise; not testable below 2 networks a side."""
    if not np.isfinite(c["welch_p"]):
        return rules.not_testable(int(c.get("n", 0)))
    right = c["diff"] > 0 if direction == "greater" else c["diff"] < 0
    return yes if right and c["welch_p"] < rules.ALPHA else no


def _bimt_questions(rr: Any, keep: dict[str, np.ndarray], text: str) -> list[dict[str, str]]:
    """Questions 1 and 2 of :func:`questions`, on BIMT's networks that solve the task."""
    iso = _pooled(rr, "isolated", ("bimt",), keep)
    null = _pooled(rr, "isolated_null", ("bimt",), keep)
    v, p, k = below_chance(iso, null)
    solved = (f"networks that solve the task ({text}): {iso.size} of "
              f"{_pooled(rr, 'isolated', ('bimt',)).size}; left out: "
              f"{_left_out(rr, keep, ('bimt',))}")
    row = timing_table(rr).loc["bimt"]
    return [
        {"question": "Under BIMT, are the functional clusters anatomically clustered (fewer "
                     "isolated units than chance)?", "answer": v,
         "ours": (f"isolated ratio {np.nanmean(iso):.2f} against {np.nanmean(null):.2f} for "
                  f"shuffled positions (n = {k}" + (f", p = {p:.2g}); " if np.isfinite(p)
                                                     else "); ") if iso.size else "") + solved,
         "rule": f"one-sided Wilcoxon signed-rank p < {rules.ALPHA}, at least {MIN_TRIALS} "
                 "networks that solve the task"},
        {"question": "Under BIMT, do functional and anatomical clustering emerge together?",
         "answer": row["verdict"],
         "ours": (f"median lag {row['median lag (steps)']:+.0f} steps "
                  if np.isfinite(row["median lag (steps)"]) else "no lag: ")
         + f"(anatomical − functional onset, n = {row['trials with both onsets']} networks "
           f"with both onsets); {solved}",
         "rule": f"two-sided Wilcoxon on the lags, p < {rules.ALPHA}; at least {MIN_TRIALS} "
                 "networks that solve the task with both onsets (onset: half the rise to the "
                 "peak)"}]


def _gauss_questions(rr: Any, keep: dict[str, np.ndarray], text: str) -> list[dict[str, str]]:
    """Questions 3 (every network: the penalty's own objective) and 4 (a structure of the
    clusters: the networks that solve the task only) of :func:`questions`."""
    others = tuple(m for m in METHODS if m != "gauss")
    out = []
    for metric, q, yes, no, what, sel in (
            ("mi_halves", "Does minimizing the Gaussian MI between the grid halves lower it at "
             "the end of training?", "lower", "no difference detected", "less", None),
            ("NMI_halves", "Does minimizing the MI between the grid halves align the "
             "task-variance clusters with the halves?", "yes", "not detected", "greater", keep)):
        g, o = _pooled(rr, metric, ("gauss",), sel), _pooled(rr, metric, others, sel)
        c = {**rules.comparison(g, o, what),
             "n": int(min(np.isfinite(g).sum(), np.isfinite(o).sum()))}
        scope = ("every network" if sel is None else
                 f"networks that solve the task ({text}); left out: "
                 f"{_left_out(rr, keep, METHODS)}")
        out.append({"question": q, "answer": _answer(c, what, yes, no),
                    "ours": (f"{metric} {np.nanmean(g):.3f} with the penalty against "
                             f"{np.nanmean(o):.3f} without " if g.size and o.size else "")
                    + (f"(n = {g.size} and {o.size}, one-sided Welch p = {c['welch_p']:.2g}); "
                       if np.isfinite(c["welch_p"]) else
                       f"(not testable at n = {g.size} and {o.size}); ")
                    + scope,
                    "rule": f"one-sided Welch p < {rules.ALPHA}, the penalized networks against "
                            "every other network of the run"
                            + ("" if sel is None else ", both that solve the task")})
    return out


def questions(rr: Any) -> list[dict[str, str]]:
    """The chapter's questions, answered from the run by stated rules (one dict per question:
    ``question``, ``answer``, ``ours``, ``rule``). The structural and timing questions (1, 2, 4)
    count only the networks that solve the task (:func:`solves`); the others are counted and
    named in ``ours``, not pooled.

    1. *Under BIMT, are the functional clusters anatomically clustered?* The isolated ratio
       against its shuffle null, BIMT's networks pooled (:func:`below_chance`).
    2. *Do functional and anatomical clustering emerge together under BIMT?* The lag's verdict
       of :func:`timing_table`.
    3. *Does minimizing the MI between the grid halves lower it?* ``mi_halves`` of the ``gauss``
       networks against every network trained without it, one-sided Welch p < α: **lower**;
       **no difference detected** otherwise.
    4. *Does it align the task-variance clusters with the halves?* ``NMI_halves`` the same way:
       **yes** / **not detected**.

    Questions whose method the run lacks are left out."""
    keep, text = solves(rr)
    methods = {method_of(c)[0] for c in rr.layout.conditions}
    return ((_bimt_questions(rr, keep, text) if "bimt" in methods else [])
            + (_gauss_questions(rr, keep, text) if "gauss" in methods else []))


def scale_note(rr: Any) -> str:
    """The run's size against Growing Brains' and whether its networks still improved at the
    end: the mean change of performance over the last :data:`~mifd.paper.rules.TAIL` of
    training, per condition (:func:`mifd.paper.rules.tail_changes`)."""
    tails = rules.tail_changes(rr.result, rules.TAIL)
    up = {c: d["performance"] for c, d in tails.items() if "performance" in d}
    rising = [c for c, d in up.items() if d > rules.CONVERGED_TOL * 0.1]
    return (f"{rr.profile} profile: {rr.config.n} units (Growing Brains: 400), "
            f"{int(rr.result['snap_epochs'][-1])} training steps, "
            f"{rr.layout.per_condition} networks per condition; performance still rose by more "
            f"than {rules.CONVERGED_TOL * 0.1:.0%} over the last {rules.TAIL:.0%} of training in "
            f"{len(rising)} of {len(up)} conditions (largest rise "
            f"{max(up.values()):+.3f})")


def findings(rr: Any) -> str:
    """The page's takeaway (Markdown): each question's answer, and the scale."""
    return ("\n\n".join(f"{q['question']} **{q['answer']}**." for q in questions(rr))
            + f"\n\n*Scale*: {scale_note(rr)} — an answer here is not a test of Growing Brains' "
            "claims at their scale.")


def summary_points(rr: Any) -> list[str]:
    """The page's closing points: the task criterion's count and each answer with its
    evidence."""
    keep, text = solves(rr)
    n = sum(int(m.sum()) for m in keep.values())
    total = sum(m.size for m in keep.values())
    return ([f"{n} of {total} networks solve the tasks ({text})."]
            + [f"{q['question']} **{q['answer']}** — {q['ours'].split('; networks that')[0]}."
               for q in questions(rr)]
            + [f"Scale: {scale_note(rr)}."])
