"""The chaotic-separation section of the paper against a stored ``separation`` run: the
paper-vs-ours table, the L2 sweep and which L2 weight matches which paper row, the growth of
structure with training, onset times (Fig. 16)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from . import reported, rules
from .rows import comparison_rows, level_rows
from .timing import onset_test

METRICS = ("R2", "D_cor", "Q_cor", "D_out", "Q_str", "NMI", "NMI_str")


def paper_table(rr: Any) -> pd.DataFrame:
    """Every number of the paper's separation section beside ours, with verdicts."""
    trials = rr.result["trials"]
    tails = rules.tail_changes(rr.result)
    extra = rules.more_tails(rr.result, reported.SEPARATION_TRAINING)
    rows = level_rows(trials, reported.SEPARATION, METRICS, tails, extra)
    rows += comparison_rows(trials, reported.SEPARATION_COMPARISONS, reported.SEPARATION)
    return pd.DataFrame(rows).fillna("—").set_index(["condition", "quantity"])


def l2_sweep(rr: Any) -> pd.DataFrame:
    """Structural and functional metrics (mean ± sd) per MI condition ordered by L2 weight."""
    cfg, trials = rr.config, rr.result["trials"]
    rows = []
    for name, lam, l2 in cfg.all_conditions():
        if lam == 0:
            continue
        t = trials[name]
        rows.append({"condition": name, "L2 (Keras c)": l2,
                     **{m: rules.fmt(*rules.mean_ci(t[m])[:2], len(t[m])) for m in
                        ("R2", "Q_cor", "D_cor", "Q_str", "D_out")}})
    return pd.DataFrame(rows).sort_values("L2 (Keras c)").set_index("condition")


def timing(rr: Any, condition: str = "mi_l2", fraction: float = 0.5) -> pd.DataFrame:
    """Functional-before-structural test for the separation pairs
    (:data:`~mifd.paper.reported.SEPARATION_TIMING_PAIRS`)."""
    return onset_test(rr.result, condition, reported.SEPARATION_TIMING_PAIRS, fraction)


#: the structural and functional metrics whose growth with training :func:`emergence` follows
EMERGENCE_METRICS = ("Q_str", "D_out", "NMI_str", "Q_cor", "D_cor", "R2")
#: fractions of the run's MM steps at which :func:`emergence` reads the time courses
EMERGENCE_AT = (0.1, 0.25, 0.5, 1.0)


def _at(result: dict, fraction: float) -> tuple[int, int]:
    """Index and MM step of the evaluation nearest to ``fraction`` of the run."""
    steps = np.asarray(result["snap_epochs"], dtype=float)
    i = int(np.argmin(np.abs(steps - fraction * steps[-1])))
    return i, int(steps[i])


def emergence(rr: Any, metrics: tuple[str, ...] = EMERGENCE_METRICS) -> pd.DataFrame:
    """Per condition and metric, the mean over trials at :data:`EMERGENCE_AT` of the run (the
    evaluation nearest each), and its change over the last :data:`~mifd.paper.rules.TAIL` of
    training with the rule's reading: "still rising/falling" when that change exceeds
    :data:`~mifd.paper.rules.CONVERGED_TOL` × the metric's final spread or level, else
    "plateau"."""
    res = rr.result
    lay = rr.layout
    tails = rules.tail_changes(res)
    points = [_at(res, f) for f in EMERGENCE_AT]
    rows = []
    for c in lay.conditions:
        for m in metrics:
            v = lay.split(np.asarray(res["snaps"][m], dtype=float), axis=1)[c]  # (evals, trials)
            row = {"condition": c, "metric": m}
            for i, step in points:
                row[f"step {step}"] = float(np.nanmean(v[i]))
            last = v[-1][np.isfinite(v[-1])]
            scale = max(abs(float(last.mean())), float(last.std(ddof=1))) if last.size > 1 else \
                abs(float(last.mean())) if last.size else math.nan
            d = tails.get(c, {}).get(m, math.nan)
            row["change, last 10%"] = d
            row["reading"] = ("—" if not np.isfinite(d) else "plateau"
                              if abs(d) <= rules.CONVERGED_TOL * scale else
                              "still rising" if d > 0 else "still falling")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["condition", "metric"])


def _peak_words(rr: Any, condition: str, metric: str) -> str:
    """``" (its peak 0.205 at MM step 2000)"`` where the condition's mean curve of ``metric``
    peaks before its last evaluation and ends below the peak, else ``""``."""
    res, lay = rr.result, rr.layout
    v = np.nanmean(lay.split(np.asarray(res["snaps"][metric], float), axis=1)[condition], axis=1)
    i = int(np.nanargmax(v))
    steps = np.asarray(res["snap_steps"] if "snap_steps" in res else res["snap_epochs"])
    if i == len(v) - 1 or not v[-1] < v[i]:
        return ""
    return f" (its peak {v[i]:.3f} at MM step {int(steps[i])})"


def emergence_sentence(rr: Any, condition: str = "mi_l2",
                       metrics: tuple[str, ...] = ("Q_str", "D_out", "NMI_str")) -> str:
    """One computed sentence on whether structure emerges with training time in ``condition``."""
    t = emergence(rr, metrics).loc[condition]
    cols = [c for c in t.columns if c.startswith("step ")]
    parts = [f"{m} {t.loc[m, cols[0]]:.3f} at {cols[0]} → {t.loc[m, cols[-1]]:.3f} at "
             f"{cols[-1]} ({t.loc[m, 'reading']})" for m in metrics]
    return (f"{condition}, mean of {rr.layout.per_condition} trials: " + "; ".join(parts) + ".")


def l2_match(rr: Any, metrics: tuple[str, ...] = ("Q_str", "D_out")) -> pd.DataFrame:
    """Each MI condition (by L2 weight) against the paper's "with L2" (``mi_l2``) and "without
    L2" (``mi_no_l2``) rows, by the level rule of :mod:`mifd.paper.rules`: which L2 weight
    reproduces which row."""
    cfg, trials = rr.config, rr.result["trials"]
    tails = rules.tail_changes(rr.result)
    extra = rules.more_tails(rr.result, reported.SEPARATION_TRAINING)
    rows = []
    for name, lam, l2 in cfg.all_conditions():
        if lam == 0:
            continue
        row: dict[str, Any] = {"condition": name, "L2 (Keras c)": l2}
        for m in metrics:
            ours = trials[name][m]
            row[f"{m} ours"] = rules.fmt(*rules.mean_ci(ours)[:2], len(ours))
            for paper_row, label in (("mi_l2", "with L2"), ("mi_no_l2", "without L2")):
                rep = reported.SEPARATION[paper_row][m]
                row[f"{m} vs paper {label} ({rep.mean:g})"] = rules.level_verdict(
                    ours, rep.mean, rep.sd, rep.n, tails.get(name, {}).get(m), extra)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("L2 (Keras c)").set_index("condition")


def _mean(rr: Any, cond: str, metric: str) -> float:
    return float(np.nanmean(rr.result["trials"][cond][metric]))


def train_loss(rr: Any, cond: str, tail: float = 0.01) -> float:
    """The mean task loss on the training batches over the last ``tail`` of the MM steps (at
    least 10), over ``cond``'s trials: what the network fits, beside the test R²."""
    from ..experiments.base import Layout
    h = np.asarray(rr.result["hist"]["task"], dtype=float)
    lay = Layout.of(rr.result) if getattr(rr, "layout", None) is None else rr.layout
    k = max(10, int(round(tail * h.shape[0])))
    return float(np.nanmean(lay.split(h)[cond][-k:]))


def _function_point(rr: Any, main: str, base: str) -> str:
    """The summary's first point: do the groups separate functionally (community NMI more than
    0.3 above the no-MI trials'), with D_cor, and the test R² beside the training loss (a gap
    in R² where the training loss is lower without MI is generalization, not separation)."""
    sep = _mean(rr, main, "NMI") > _mean(rr, base, "NMI") + 0.3
    r_main, r_base = _mean(rr, main, "R2"), _mean(rr, base, "R2")
    text = (f"The groups {'separate' if sep else 'do not clearly separate'} functionally: "
            f"community NMI {_mean(rr, main, 'NMI'):.2f} with MI + L2 against "
            f"{_mean(rr, base, 'NMI'):.2f} without MI, D_cor {_mean(rr, main, 'D_cor'):.3f} "
            f"against {_mean(rr, base, 'D_cor'):.3f}. On the test sequences R² is {r_main:.2f} "
            f"against {r_base:.2f}")
    if "hist" not in rr.result or "task" not in rr.result["hist"]:
        return text + "."
    l_main, l_base = train_loss(rr, main), train_loss(rr, base)
    text += (f", and the training loss ends at {l_main:.2g} against {l_base:.2g}")
    if l_base < l_main and r_base < r_main:
        text += (": without MI the network fits its training sequences best and the test ones "
                 "worst, so the R² gap is generalization at this scale, not a measure of the "
                 "separation")
    return text + "."


def _reduced(cfg: Any, pub: Any) -> list[tuple[str, str, Any, Any]]:
    """(this run's words, the published value, ours, theirs) of every setting
    :func:`scale_note` reads: sequence length, MM steps, trials, batch, SM steps, the critic's
    data and the RNN's MI term's (``sm_samples`` draws a random subset from every estimate
    larger than it, the SM step's and the MM step's alike)."""
    def seen(sequences: int) -> int:
        n = sequences * cfg.length
        return min(cfg.sm_samples, n) if cfg.sm_samples else n
    seqs, whole = cfg.sm_batch or cfg.batch, cfg.batch * cfg.length
    return [(f"sequences of {cfg.length} steps", f"{pub.length}", cfg.length, pub.length),
            (f"{cfg.mm_steps} MM steps", f"{pub.mm_steps}", cfg.mm_steps, pub.mm_steps),
            (f"{cfg.trials} trials per condition", f"{pub.trials}", cfg.trials, pub.trials),
            (f"batch {cfg.batch}", f"{pub.batch}", cfg.batch, pub.batch),
            (f"{cfg.sm_per_mm} SM steps per MM step", f"{pub.sm_per_mm}", cfg.sm_per_mm,
             pub.sm_per_mm),
            (f"the critic on {seqs} sequences and {seen(seqs):,} samples per SM step",
             f"{pub.batch} and {pub.batch * pub.length:,}", (seqs, seen(seqs)),
             (pub.batch, pub.batch * pub.length)),
            (f"the RNN's MI term on {seen(cfg.batch):,} of its batch's {whole:,} samples",
             "all", seen(cfg.batch), whole)]


def _published() -> Any:
    from ..experiments import get_experiment
    return get_experiment("separation").config("paper")


def scale_note(rr: Any) -> str:
    """How far this run is from the published one (sequence length, MM steps, trials)."""
    cfg, pub = rr.config, _published()
    far = cfg.length < pub.length / 5
    reduced = [f"{ours} (published {theirs})" for ours, theirs, a, b in _reduced(cfg, pub)
               if a != b]
    return (f"{rr.profile} profile: " + (", ".join(reduced) if reduced else "the published "
                                         "settings")
            + ("; at this scale a level verdict is not a test of the published run" if far
               else ""))


def emergence_scale(rr: Any) -> str:
    """What the emergence table can tell at this run's training length: a run of fewer MM steps
    than the paper's cannot tell late emergence from none; a run of the paper's MM steps
    names what else is reduced."""
    cfg, pub = rr.config, _published()
    if cfg.mm_steps < pub.mm_steps:
        return (f"The paper trains {pub.mm_steps} MM steps, this run {cfg.mm_steps}: a shorter "
                "run cannot tell whether the structural measures emerge late or not at all.")
    rest = [r for r in _reduced(cfg, pub) if not r[0].endswith(" MM steps")]
    other = [f"{ours} (published {theirs})" for ours, theirs, a, b in rest if a != b]
    if not other:
        return (f"This run trains the paper's {cfg.mm_steps} MM steps at the published "
                "settings: the table follows the measures over the published training.")
    return (f"This run trains the paper's {cfg.mm_steps} MM steps, reduced in the rest: "
            + ", ".join(other) + ". The table follows the measures over the published number "
            "of MM steps at this reduced scale.")


def communities(rr: Any, picks: dict[str, int]) -> dict[str, np.ndarray]:
    """Per condition and picked trial (its batch position): the ``|corr|`` matrix the page
    draws (the mean over the test sequences of ``|corr|``, ``final["abs_corr"]``) reordered by
    the two communities greedy modularity finds in it, titled with the NMI of those
    communities with the groups and, where the table's NMI is found on another matrix
    (``nmi_matrix``), the trial's NMI of the table (``final["NMI"]``) in brackets."""
    from .. import metrics
    res, lay = rr.result, rr.layout
    same = getattr(rr.config, "nmi_matrix", "signed_mean") == "abs_mean"
    out = {}
    for c, t in picks.items():
        C = np.asarray(res["final"]["abs_corr"][t])
        labels = metrics.two_communities(C)
        order = np.argsort(labels, kind="stable")
        here = metrics.nmi(labels, metrics.halves(C.shape[-1]))
        k = int(np.flatnonzero(lay.index(c) == t)[0])
        table = float(res["final"]["NMI"][t])
        out[f"{c}, trial {k}\nNMI {here:.2f}" + ("" if same else f" (table's {table:.2f})")] = \
            C[np.ix_(order, order)]
    return out


def communities_note(rr: Any) -> str:
    """Which matrix each NMI of :func:`communities`' titles is found on, and what the table
    averages."""
    cfg = rr.config
    drawn = (f"the mean over the {cfg.n_test} test sequences of |corr|, the matrix drawn")
    per = f"the mean of the {rr.layout.per_condition} trials' NMI"
    if getattr(cfg, "nmi_matrix", "signed_mean") == "abs_mean":
        return (f"Each title: the trial (its index within its condition) and the NMI of the "
                f"communities found on {drawn} — the matrix the table's NMI uses too "
                f"(nmi_matrix = abs_mean); the table gives {per}.")
    return (f"Each title: the trial (its index within its condition), the NMI of the "
            f"communities found on {drawn}, and in brackets the trial's NMI as the table "
            "below counts it: found on |mean over the test sequences of the signed corr| "
            "(nmi_matrix = signed_mean, the authors' code), where correlations of opposite sign "
            f"in different sequences cancel; the table gives {per}.")


def findings(rr: Any, main: str = "mi_l2") -> str:
    """The page's takeaway (Markdown), written from the run."""
    conds = rr.result["conditions"]
    base = "no_mi" if "no_mi" in conds else conds[-1]
    mis = [c for c, lam, _ in rr.config.all_conditions() if lam > 0]
    best = max(mis, key=lambda c: _mean(rr, c, "Q_str"))
    return (f"With MI minimization each group of the GRU comes to carry one system: the "
            f"communities found in the units' correlations match the two groups (NMI "
            f"{_mean(rr, main, 'NMI'):.2f} with MI + L2, {_mean(rr, base, 'NMI'):.2f} without MI). "
            f"The weights follow far less: Q_str {_mean(rr, main, 'Q_str'):.3f} at the code's "
            f"L2 weight ({rr.config.l2:g}; which weight gave the paper's rows is not known); "
            f"the most structural MI condition ({best}) ends at Q_str "
            f"{_mean(rr, best, 'Q_str'):.3f}{_peak_words(rr, best, 'Q_str')}, with NMI "
            f"{_mean(rr, best, 'NMI'):.2f}.\n\n"
            f"*Scale*: {scale_note(rr)}.")


def summary_points(rr: Any, main: str = "mi_l2") -> list[str]:
    """The page's closing points, written from the run."""
    conds = rr.result["conditions"]
    base = "no_mi" if "no_mi" in conds else conds[-1]
    verdicts = paper_table(rr)["verdict"].value_counts()
    counted = ", ".join(f"{n} {v}" for v, n in verdicts.items() if v != "no paper value")
    tim = timing(rr, main).set_index("functional")
    first = "; ".join(f"{f} before {r['structural']} in {r['functional first']} of "
                      f"{r['trials with both onsets']} trials (Wilcoxon p = "
                      f"{r['Wilcoxon p (functional first)']:.3g})" for f, r in tim.iterrows())
    follows = _mean(rr, main, "Q_str") >= 0.05
    return [
        _function_point(rr, main, base),
        f"Structure {'follows' if follows else 'barely follows'} at the code's L2 weight "
        f"({rr.config.l2:g}): "
        f"Q_str {_mean(rr, main, 'Q_str'):.3f}, "
        f"D_out {_mean(rr, main, 'D_out'):.3f} (without MI {_mean(rr, base, 'Q_str'):.3f} and "
        f"{_mean(rr, base, 'D_out'):.3f}); the L2 sweep above shows what a stronger weight does.",
        f"Functional first: {first}.",
        f"Against the paper's numbers: {counted} — {scale_note(rr)}.",
    ]
