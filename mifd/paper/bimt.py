"""Beyond the paper: BIMT's wiring cost beside MI minimization on the working-memory task (the
``bimt`` experiment) — final metrics per method, the timing of functional against structural
modularity, task error against active units, and the two questions of the chapter answered by
stated rules (:mod:`mifd.paper.rules`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import rules
from .timing import onset, onset_test

#: the final metrics of the comparison (per trial)
METRICS = ("error", "eval_accuracy", "R2", "Q_cor", "D_cor", "Q_str", "D_in", "D_out", "NMI_cor",
           "NMI_str", "wiring_length", "active_units")
#: (functional, structural) pairs of the onset test: modularity by Newman's Q, and the NMI of
#: the two communities with the grid halves
TIMING_PAIRS = (("Q_cor", "Q_str"), ("NMI_cor", "NMI_str"))


def final_table(rr: Any) -> pd.DataFrame:
    """Mean ± sd (n) of :data:`METRICS` (those the task has) per condition at the end of
    training; ``error`` is the task error (the flip-flop task's evaluation MSE, the
    separation's ``1 − R²``)."""
    trials = rr.result["trials"]
    return pd.DataFrame({c: {m: rules.fmt(*rules.mean_ci(trials[c][m])[:2], len(trials[c][m]))
                             for m in METRICS if m in trials[c]}
                         for c in rr.layout.conditions}).T


def timing_table(rr: Any) -> pd.DataFrame:
    """Per condition and pair of :data:`TIMING_PAIRS`: the onset test (half-rise snapshot of the
    functional against the structural index, :func:`mifd.paper.timing.onset_test`) and its
    verdict by :func:`mifd.paper.rules.timing_verdict` ("functional first")."""
    frames = []
    for c in rr.layout.conditions:
        t = onset_test(rr.result, c, TIMING_PAIRS)
        t.insert(0, "condition", c)
        t["functional first?"] = [rules.timing_verdict(r["trials with both onsets"],
                                                       r["functional first"],
                                                       r["Wilcoxon p (functional first)"])
                                  for _, r in t.iterrows()]
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def error_vs_active(rr: Any) -> pd.DataFrame:
    """Per trial of the conditions without MI minimization: method (``none``, ``l1``, ``bimt``,
    ``distance``), λ_w, active units and task error (Growing Brains' Fig. 2g)."""
    lam = {name: w for name, _, _, w, _, _ in rr.config.all_conditions()}
    rows = []
    for c in rr.layout.conditions:
        method = c.split("=")[0]
        if method.startswith("mi"):
            continue
        tr = rr.result["trials"][c]
        for a, e in zip(tr["active_units"], tr["error"]):
            rows.append({"condition": c, "method": method, "λ_w": lam[c],
                         "active units": a, "error": e})
    return pd.DataFrame(rows)


def _lags(rr: Any, condition: str, pair: tuple[str, str]) -> np.ndarray:
    """Structural minus functional onset epoch per trial of ``condition`` (finite ones)."""
    res = rr.result
    f, s = (rr.layout.split(onset(res["snaps"][k], res["snap_epochs"]))[condition]
            for k in pair)
    lag = s - f
    return lag[np.isfinite(lag)]


def questions(rr: Any) -> list[dict[str, str]]:
    """The chapter's two questions, answered from the run by stated rules (one dict per
    question: ``question``, ``answer`` (the verdict), ``ours`` (the numbers), ``rule``):

    1. *Does BIMT produce structural modularity where MI minimization gives mostly functional
       modularity?* **yes** when BIMT's Q_str is above MI's **and** MI's Q_cor above BIMT's,
       each by the comparison rule (one-sided Welch p < α); **partly** when one of the two
       holds; **no** otherwise.
    2. *Does adding MI minimization to BIMT change the timing?* The lag (structural − functional
       onset, Q_cor/Q_str) of ``mi_bimt`` against ``bimt``: **changed** when a two-sided
       Mann–Whitney test gives p < α, **no change detected** otherwise; *not testable* below 2
       trials with both onsets in either condition.

    Empty when the run lacks the conditions ``bimt``, ``mi`` and ``mi_bimt``."""
    trials = rr.result["trials"]
    if not {"bimt", "mi", "mi_bimt"} <= set(rr.layout.conditions):
        return []
    q_str = rules.comparison(trials["bimt"]["Q_str"], trials["mi"]["Q_str"], "greater")
    q_cor = rules.comparison(trials["mi"]["Q_cor"], trials["bimt"]["Q_cor"], "greater")
    holds = [c["diff"] > 0 and c["welch_p"] < rules.ALPHA for c in (q_str, q_cor)]
    one = "yes" if all(holds) else ("partly" if any(holds) else "no")
    m = {c: {k: float(np.nanmean(trials[c][k])) for k in ("Q_str", "Q_cor")}
         for c in ("bimt", "mi")}
    a, b = _lags(rr, "mi_bimt", TIMING_PAIRS[0]), _lags(rr, "bimt", TIMING_PAIRS[0])
    if min(a.size, b.size) < 2:
        two, detail = rules.not_testable(min(a.size, b.size)), "too few trials with both onsets"
    else:
        p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
        two = "changed" if np.isfinite(p) and p < rules.ALPHA else "no change detected"
        detail = (f"median lag {np.median(a):+.0f} with MI against {np.median(b):+.0f} without "
                  f"(n = {a.size} and {b.size}, Mann–Whitney p = {p:.2g})")
    n = rr.config.trials
    return [
        {"question": "Does BIMT produce structural modularity where MI minimization gives "
                     "mostly functional modularity?", "answer": one,
         "ours": f"Q_str {m['bimt']['Q_str']:.3f} with BIMT against {m['mi']['Q_str']:.3f} with "
                 f"MI (one-sided Welch p = {q_str['welch_p']:.2g}); Q_cor {m['mi']['Q_cor']:.3f} "
                 f"with MI against {m['bimt']['Q_cor']:.3f} with BIMT (p = "
                 f"{q_cor['welch_p']:.2g}); n = {n} per condition",
         "rule": f"yes when both differences go that way with one-sided Welch p < {rules.ALPHA}, "
                 "partly when one does"},
        {"question": "Does adding MI minimization to BIMT change the timing of functional "
                     "against structural modularity?", "answer": two, "ours": detail,
         "rule": "the lag between the Q_str and Q_cor half-rise snapshots, MI + BIMT against "
                 f"BIMT, two-sided Mann–Whitney p < {rules.ALPHA}"}]


def answers(rr: Any) -> str:
    """:func:`questions` as the chapter's markdown."""
    qs = questions(rr)
    if not qs:
        return ("Not answerable from this run: it lacks one of the conditions bimt, mi, "
                "mi_bimt.")
    return "\n\n".join(f"**{q['question']} {q['answer']}.** {q['ours']}. (Rule: {q['rule']}.)"
                        for q in qs)


def settings(cfg: Any) -> pd.DataFrame:
    """BIMT's own settings of a ``bimt`` config (those the ``wm`` config does not have), with
    what each means."""
    import dataclasses

    from ..config import describe
    from ..experiments.wm import WMConfig
    wm = {f.name for f in dataclasses.fields(WMConfig)}
    rows = [(k, v, doc) for k, v, _, doc in describe(cfg) if k not in wm]
    return pd.DataFrame(rows, columns=["setting", "this run", "meaning"]).set_index("setting")


def recurrent_weights(rr: Any, condition: str, trial: int = 0) -> np.ndarray:
    """The recurrent unit-to-unit weights ``(n, n)`` of one trial at the end of training: the
    leaky RNN's ``W_rec`` (last snapshot), or a GRU's ``|U|`` with its three gate blocks summed
    (as the wiring cost counts them)."""
    t = rr.layout.index(condition)[trial]
    w = rr.result["weights"]
    if "W_rec" in w:
        return np.asarray(w["W_rec"][-1][t])
    U = np.abs(np.asarray(w["U"][t]))
    n = U.shape[0]
    return U.reshape(n, 3, n).sum(1)
