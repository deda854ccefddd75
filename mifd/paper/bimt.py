"""Beyond the paper: BIMT's wiring cost beside MI minimization on the working-memory task (the
``bimt`` experiment) — final metrics per method, the timing of functional against structural
modularity, task error against active units, and the two questions of the chapter answered by
stated rules (:mod:`mifd.paper.rules`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import rules, task_criterion
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
    """Per condition and pair of :data:`TIMING_PAIRS`: the onset test (the snapshot at half the
    rise to the peak of the functional against the structural index,
    :func:`mifd.paper.timing.onset_test`) on the condition's networks that solve the task
    (:mod:`mifd.paper.task_criterion`; the others counted in "left out (fail the task)") and its
    verdict by :func:`mifd.paper.rules.timing_verdict` ("functional first")."""
    trials = rr.result["trials"]
    metric, level, _ = task_criterion.criterion(trials)
    frames = []
    for c in rr.layout.conditions:
        keep = task_criterion.meets(trials[c][metric], metric, level)
        t = onset_test(rr.result, c, TIMING_PAIRS, keep=keep)
        t.insert(0, "condition", c)
        t.insert(1, "left out (fail the task)", int((~keep).sum()))
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


def _units(values: np.ndarray, n: int) -> str:
    """``"all 40 in every trial"`` or ``"39.2 ± 1.3 (36–40; 3 of 5 trials silence units)"``."""
    v = np.asarray(values, float)
    if np.all(v == n):
        return f"all {n} in every trial"
    sd = f" ± {np.std(v, ddof=1):.1f}" if v.size > 1 else ""
    return (f"{np.mean(v):.1f}{sd} ({v.min():.0f}–{v.max():.0f}; {int((v < n).sum())} of "
            f"{v.size} trials silence units)")


def active_units_sentence(rr: Any) -> str:
    """Active units at the end of training, every condition named: the methods without MI
    minimization first (those of :func:`error_vs_active`), then those with it."""
    n = int(rr.config.n)
    trials = rr.result["trials"]
    conds = list(rr.layout.conditions)
    plain = [c for c in conds if not c.split("=")[0].startswith("mi")]
    mi = [c for c in conds if c not in plain]
    full = all(np.all(np.asarray(trials[c]["active_units"], float) == n) for c in plain)
    if plain and full:
        head = (f"Every network without MI minimization ({', '.join(plain)}) keeps all {n} "
                "units active at this wiring cost: no unit is silenced, so there is no "
                "trade-off to plot; the task errors are in the final table below.")
    else:
        head = (f"Active units (of {n}) without MI minimization: " + "; ".join(
            f"{c} {_units(trials[c]['active_units'], n)}" for c in plain) + ".")
    if not mi:
        return head
    return head + (" With MI minimization: " + "; ".join(
        f"{c} {_units(trials[c]['active_units'], n)}" for c in mi) + ".")


def _lags(rr: Any, condition: str, pair: tuple[str, str],
          keep: np.ndarray | None = None) -> np.ndarray:
    """Structural minus functional onset epoch per trial of ``condition`` (finite ones; with
    ``keep``, only the trials it marks)."""
    res = rr.result
    f, s = (rr.layout.split(onset(res["snaps"][k], res["snap_epochs"]))[condition]
            for k in pair)
    lag = s - f
    if keep is not None:
        lag = lag[keep]
    return lag[np.isfinite(lag)]


#: the conditions the chapter's questions compare
QUESTION_CONDITIONS = ("bimt", "mi", "mi_bimt")


def _structure_answer(trials: dict, masks: dict[str, np.ndarray]) -> tuple[str, dict, dict]:
    """Question 1 on the networks that meet the task criterion: (answer, Q_str comparison,
    Q_cor comparison); not testable below 2 such networks in ``bimt`` or ``mi``."""
    v = {c: {k: np.asarray(trials[c][k], float)[masks[c]] for k in ("Q_str", "Q_cor")}
         for c in ("bimt", "mi")}
    q_str = rules.comparison(v["bimt"]["Q_str"], v["mi"]["Q_str"], "greater")
    q_cor = rules.comparison(v["mi"]["Q_cor"], v["bimt"]["Q_cor"], "greater")
    k = int(min(masks["bimt"].sum(), masks["mi"].sum()))
    if k < 2:
        return rules.not_testable(k), q_str, q_cor
    holds = [c["diff"] > 0 and c["welch_p"] < rules.ALPHA for c in (q_str, q_cor)]
    return ("yes" if all(holds) else ("partly" if any(holds) else "no")), q_str, q_cor


def _timing_answer(rr: Any, masks: dict[str, np.ndarray]) -> tuple[str, str]:
    """Question 2 on the networks that meet the task criterion: (answer, numbers)."""
    a = _lags(rr, "mi_bimt", TIMING_PAIRS[0], masks["mi_bimt"])
    b = _lags(rr, "bimt", TIMING_PAIRS[0], masks["bimt"])
    if min(a.size, b.size) < 2:
        return (rules.not_testable(min(a.size, b.size)),
                f"too few networks that solve the task with both onsets ({a.size} with MI, "
                f"{b.size} without)")
    p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    floor = rules.rank_test_floor(a.size, b.size)
    two = ("changed" if np.isfinite(p) and p < rules.ALPHA else "no change detected"
           if floor < rules.ALPHA else f"not testable (n = {a.size} and {b.size})")
    return two, (f"median lag {np.median(a):+.0f} steps with MI against {np.median(b):+.0f} "
                 f"without (n = {a.size} and {b.size}, Mann–Whitney p = {p:.2g}"
                 + (f"; the smallest p these n can give is {floor:.2g}" if floor >= rules.ALPHA
                    else "") + ")")


def _mean(x: np.ndarray) -> str:
    return f"{np.nanmean(x):.3f}" if np.isfinite(x).any() else "— (no network)"


def _trial_list(k: np.ndarray) -> str:
    """``"1–4"``, ``"0, 2, 4"`` or ``"0–1, 3"``: trial indices, runs of three or more joined."""
    runs: list[list[int]] = []
    for i in (int(v) for v in k):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def _counted_mean(values: Any, mask: np.ndarray) -> str:
    """``"0.114 (n = 4: trials 1–4; all 5: 0.111)"``: the mean over the networks ``mask``
    keeps, how many and which (indices within the condition), and the mean over every trial
    (the final table's) where some are left out."""
    v, mask = np.asarray(values, float), np.asarray(mask, bool)
    if mask.all():
        return f"{_mean(v)} (n = {v.size}: every trial)"
    if not mask.any():
        return f"— (no network; all {v.size}: {_mean(v)})"
    return (f"{_mean(v[mask])} (n = {int(mask.sum())}: trial{'s' if mask.sum() > 1 else ''} "
            f"{_trial_list(np.flatnonzero(mask))}; all {v.size}: {_mean(v)})")


def _p(c: dict) -> str:
    return f"{c['welch_p']:.2g}" if np.isfinite(c["welch_p"]) else "—"


def questions(rr: Any) -> list[dict[str, str]]:
    """The chapter's two questions, answered from the run by stated rules, on the networks that
    meet the task criterion only (:mod:`mifd.paper.task_criterion`: accuracy > 0.9 on working
    memory, R² > :data:`~mifd.paper.task_criterion.R2_MIN` on separation); the others are
    counted and named in ``ours``, not pooled. One dict per question: ``question``, ``answer``
    (the verdict), ``ours`` (the numbers), ``rule``:

    1. *Does BIMT produce structural modularity where MI minimization gives mostly functional
       modularity?* **yes** when BIMT's Q_str is above MI's **and** MI's Q_cor above BIMT's,
       each by the comparison rule (one-sided Welch p < α); **partly** when one of the two
       holds; **no** otherwise; *not testable* below 2 networks that solve the task in either.
    2. *Does adding MI minimization to BIMT change the timing?* The lag (structural − functional
       onset, Q_cor/Q_str) of ``mi_bimt`` against ``bimt``: **changed** when a two-sided
       Mann–Whitney test gives p < α, **no change detected** otherwise; *not testable* below 2
       networks that solve the task with both onsets in either condition.

    Empty when the run lacks the conditions ``bimt``, ``mi`` and ``mi_bimt``."""
    trials = rr.result["trials"]
    if not set(QUESTION_CONDITIONS) <= set(rr.layout.conditions):
        return []
    metric, level, text = task_criterion.criterion(trials)
    masks = task_criterion.split(trials, QUESTION_CONDITIONS, metric, level)
    one, q_str, q_cor = _structure_answer(trials, masks)
    two, detail = _timing_answer(rr, masks)
    m = {c: {k: _counted_mean(trials[c][k], masks[c]) for k in ("Q_str", "Q_cor")}
         for c in ("bimt", "mi")}
    solved = (f"networks that solve the task ({text}): {task_criterion.counted(masks)}; "
              f"left out: {task_criterion.failed_names(trials, masks, metric)}")
    few = f"too few networks solve the task ({text}): {task_criterion.counted(masks)}"
    return [
        {"question": "Does BIMT produce structural modularity where MI minimization gives "
                     "mostly functional modularity?", "answer": one, "why": few,
         "ours": f"Q_str {m['bimt']['Q_str']} with BIMT against {m['mi']['Q_str']} with "
                 f"MI (one-sided Welch p = {_p(q_str)}); Q_cor {m['mi']['Q_cor']} "
                 f"with MI against {m['bimt']['Q_cor']} with BIMT (p = "
                 f"{_p(q_cor)}); {solved}",
         "rule": f"on the networks that solve the task ({text}): yes when both differences go "
                 f"that way with one-sided Welch p < {rules.ALPHA}, partly when one does"},
        {"question": "Does adding MI minimization to BIMT change the timing of functional "
                     "against structural modularity?", "answer": two, "why": detail,
         "ours": f"{detail}; {solved}",
         "rule": f"on the networks that solve the task ({text}): the lag between the Q_str and "
                 "Q_cor onsets (half the rise to the peak), MI + BIMT against BIMT, two-sided "
                 f"Mann–Whitney p < {rules.ALPHA}"}]


def answers(rr: Any) -> str:
    """:func:`questions` as the chapter's markdown."""
    qs = questions(rr)
    if not qs:
        return ("Not answerable from this run: it lacks one of the conditions bimt, mi, "
                "mi_bimt.")
    return "\n\n".join(f"**{q['question']} {q['answer']}.** {q['ours']}. (Rule: {q['rule']}.)"
                        for q in qs)


def own_settings(cfg: Any) -> set[str]:
    """The names of BIMT's own settings in a ``bimt`` or ``bimt-separation`` config: those its
    task's config (``wm``'s or ``separation``'s) does not have."""
    import dataclasses

    from ..experiments.separation import SeparationConfig
    from ..experiments.wm import WMConfig
    task = SeparationConfig if isinstance(cfg, SeparationConfig) else WMConfig
    return ({f.name for f in dataclasses.fields(cfg)}
            - {f.name for f in dataclasses.fields(task)})


def settings(cfg: Any, sep_cfg: Any = None) -> pd.DataFrame:
    """BIMT's own settings of a ``bimt`` config (:func:`own_settings`), with what each means;
    given ``sep_cfg`` (a ``bimt-separation`` config), its values beside them."""
    from ..config import describe
    own = own_settings(cfg)
    rows = [(k, v, doc) for k, v, _, doc in describe(cfg) if k in own]
    df = pd.DataFrame(rows, columns=["setting", "this run", "meaning"]).set_index("setting")
    if sep_cfg is None:
        return df
    other = {k: v for k, v, _, _ in describe(sep_cfg) if k in own_settings(sep_cfg)}
    df = df.rename(columns={"this run": "working memory"})
    df.insert(1, "chaotic separation", [other.get(k, "—") for k in df.index])
    return df


def reductions(exp: Any, cfg: Any) -> pd.DataFrame:
    """The experiment's reductions against its ``paper`` profile
    (:meth:`~mifd.experiments.base.Experiment.reductions`) without BIMT's own settings
    (:func:`own_settings`): the paper reproduced publishes none of them, and :func:`settings`
    lists them for both tasks."""
    table = exp.reductions(cfg)
    return table.loc[[k for k in table.index if k not in own_settings(cfg)]]


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


def findings(runs: dict[str, Any]) -> str:
    """The BIMT page's takeaway (Markdown): each run's two answers, by their rules; where an
    answer is *not testable*, why (how many networks of each method solve the task)."""
    out = []
    for label, rr in runs.items():
        qs = questions(rr)
        if qs:
            why = list(dict.fromkeys(q["why"] for q in qs
                                     if q["answer"].startswith("not testable")))
            out.append(f"**{label}** ({rr.profile} profile, {rr.config.trials} trials per "
                       "method): " + " ".join(f"{q['question']} **{q['answer']}**."
                                             for q in qs)
                       + (f" Not testable: {'; '.join(why)}." if why else ""))
    return "\n\n".join(out) or "Neither run has the conditions bimt, mi and mi_bimt."


def wiring_words(trials: dict[str, Any], masks: dict[str, np.ndarray]) -> str:
    """The shortest mean wiring length over the networks that solve the task (``masks``:
    :func:`mifd.paper.task_criterion.split`), against the longest; the methods none of whose
    networks solves the task are named apart, their wiring not counted."""
    wire = {c: float(np.mean(np.asarray(trials[c]["wiring_length"], float)[m]))
            for c, m in masks.items() if m.any()}
    none = [c for c, m in masks.items() if not m.any()]
    pron = "its" if len(none) == 1 else "their"
    left = (f" ({', '.join(none)}: no network solves the task, {pron} wiring not counted)"
            if none else "")
    if not wire:
        return "no method's networks solve the task: no wiring compared" + left
    short, long = min(wire, key=wire.get), max(wire, key=wire.get)
    return (f"of the networks that solve it, the shortest wiring is {short}'s "
            f"({wire[short]:.1f}, against {wire[long]:.1f} for {long})" + left)


def summary_points(runs: dict[str, Any]) -> list[str]:
    """The BIMT page's closing points: per run, which methods solve the task, the shortest
    wiring, and the two answers with their evidence."""
    out = []
    for label, rr in runs.items():
        trials = rr.result["trials"]
        conds = list(rr.layout.conditions)
        metric, level, text = task_criterion.criterion(trials)
        masks = task_criterion.split(trials, conds, metric, level)
        out.append(f"{label}: networks that solve the task ({text}) — "
                   + task_criterion.counted(masks) + "; " + wiring_words(trials, masks) + ".")
        out += [f"{label}: {q['question']} **{q['answer']}** (evidence in the section above)."
                for q in questions(rr)]
    return out
