"""Is the dependence gone when the modules fade? The trained critic against critic-free estimates.

The RNN is trained to lower *its* statistics network's estimate, and it can do so in two ways:
by removing the dependence between its groups, or by hiding it from that one critic. Every
``wm`` run ends with an audit of its trained networks (``mifd.experiments.wm.AuditUnit``,
the ``audit_*`` settings): on the rates of fresh sequences it computes two MI estimates that need
no critic — the Gaussian-copula MI (ranks → normal scores per unit, then the log-det estimate,
:func:`mifd.mine.copula_mi_estimate`: unchanged by a monotone change of any unit's rate) and the
Gaussian (log-det) MI of the rates — and the estimate of a fresh critic trained on other
fresh sequences. This module puts them beside the trained critic's own estimate at the end of
training (smoothed over :data:`mifd.paper.mechanism.SMOOTH` epochs), per MI trial, with whether
the trial kept its modules (:func:`mifd.paper.persistence.kept`) and the same numbers for the
networks trained without MI minimization, the level of an unminimized dependence.

One rule decides: an estimate counts as *minimized* below :data:`mifd.paper.mechanism.MINIMIZED` × its own median
over the no-MI trials (the rule of :mod:`mifd.paper.mechanism`). A trial whose critic's estimate is
minimized while its copula MI is not has a dependence between its groups that its critic no
longer reports: the network escaped its critic. Neither critic-free estimate is the MI itself
(the copula MI sees only the dependence that the correlations of the rank-normalized rates
carry; the Gaussian one also responds to the rates' marginal shapes), so they are references, not ground truth.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .mechanism import MINIMIZED, smoothed, smoothed_history
from .persistence import kept, trial_series

#: the columns of :func:`table`: the trained critic, the fresh critic, the critic-free estimates
ESTIMATES = {"critic (trained)": "the run's statistics network, end of training (smoothed)",
             "critic (fresh)": "a fresh critic trained after training, on held-out sequences",
             "copula MI": "Gaussian-copula MI of fresh rates",
             "Gaussian MI": "Gaussian (log-det) MI of fresh rates"}
#: the two estimates that the rule compares
CRITIC, FREE = "critic (trained)", "copula MI"
#: fewer trials than this in a group: no test between groups
MIN_TEST = 4


#: what became of a trial's functional modules (:func:`modules_state`)
NEVER = "never formed"


def modules_state(q: np.ndarray) -> np.ndarray:
    """Per trial (the columns of ``q``, Q_cor over training): :data:`NEVER` where its peak stays
    below the paper's band (:func:`mifd.paper.reported.band_floor`: no modules to keep or
    lose), else ``"kept"`` or ``"faded"`` (:func:`mifd.paper.persistence.kept`)."""
    from . import reported
    q = np.asarray(q, dtype=float)
    formed = np.nanmax(q, axis=0) >= reported.band_floor(reported.WM["mi"]["Q_cor"])
    return np.where(~formed, NEVER, np.where(kept(q), "kept", "faded"))


def end_estimates(rr: Any, condition: str) -> pd.DataFrame:
    """Per trial of ``condition`` (index: seed): each of :data:`ESTIMATES` at the end of
    training and Q_cor at its peak and at the end. ``rr`` must hold the run's audit."""
    if "audit" not in rr.result:
        raise ValueError(f"parameter 'rr': the run {getattr(rr, 'key', '?')} has no audit "
                         "(audit_steps=0); allowed: a wm run with its end-of-training audit")
    lay, a = rr.layout, rr.result["audit"]
    per = {name: lay.split(np.asarray(a[k], float))[condition]
           for name, k in (("critic (fresh)", "held_out_dv"), ("copula MI", "copula"),
                           ("Gaussian MI", "gaussian"))}
    trained = smoothed_history(rr, "sm_mi", condition)[-1]
    ep, seeds, q = trial_series(rr, "Q_cor", condition)
    df = pd.DataFrame({"Q_cor peak": np.nanmax(q, axis=0), "Q_cor end": q[-1],
                       "critic (trained)": trained, **per}, index=pd.Index(seeds, name="seed"))
    return df


def record_estimates(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """:func:`end_estimates` of the authors' code, per record with an audit
    (:func:`mifd.authors.record.audit_record`; index: seed), with whether it kept its modules:
    their statistics network's estimate (``hist["sm_mi"]``, smoothed alike) and mifd's
    end-of-training audit of their final weights."""
    rows = {}
    for r in records:
        if "audit" not in r:
            continue
        a, q = r["audit"], np.asarray(r["snaps"]["Q_cor"], float)[:, None]
        sm = smoothed(np.asarray(r["hist"]["sm_mi"], float)[:, None])[-1, 0]
        rows[int(r["seed"])] = {
            "modules": str(modules_state(q)[0]), "Q_cor peak": float(q.max()),
            "Q_cor end": float(q[-1, 0]), "critic (trained)": float(sm),
            "critic (fresh)": float(a["held_out_dv"][0]), "copula MI": float(a["copula"][0]),
            "Gaussian MI": float(a["gaussian"][0])}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "seed"
    return df


def table(runs: Mapping[str, Any], no_mi: Any,
          records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> pd.DataFrame:
    """One row per MI trial of each run (``runs``: label → a ``wm`` run with the MI condition),
    per audited record of the authors' code (``records``: label → records) and per no-MI trial
    of ``no_mi``: the estimates at the end, whether the trial kept its modules, and whether
    each of :data:`CRITIC` and :data:`FREE` counts as minimized (against ``no_mi``'s level)."""
    ref = end_estimates(no_mi, "no_mi")
    level = {c: float(ref[c].median()) for c in (CRITIC, FREE)}
    parts = []
    for label, rr in runs.items():
        d = end_estimates(rr, "mi")
        _, _, q = trial_series(rr, "Q_cor", "mi")
        d.insert(0, "modules", modules_state(q))
        d.insert(0, "run", label)
        parts.append(d)
    for label, recs in (records or {}).items():
        d = record_estimates(recs)
        if len(d):
            d.insert(0, "run", label)
            parts.append(d)
    r = ref.copy()
    r.insert(0, "modules", "(no MI minimization)")
    r.insert(0, "run", "no MI minimization")
    df = pd.concat([*parts, r]).reset_index()
    for c in (CRITIC, FREE):
        df[f"{c} minimized"] = df[c] < MINIMIZED * level[c]
    return df


def escaped(df: pd.DataFrame) -> pd.Series:
    """Per row of :func:`table`: the critic's estimate minimized, the copula MI not."""
    return df[f"{CRITIC} minimized"] & ~df[f"{FREE} minimized"]


def broken_escapes(df: pd.DataFrame) -> pd.Series:
    """Per row of :func:`table`: escaped (:func:`escaped`) with the critic's estimate below
    zero — a lower bound on the MI below zero, a critic that broke down rather than one that was
    fooled."""
    return escaped(df) & (df[CRITIC] < 0)


def summary(runs: Mapping[str, Any], no_mi: Any,
            records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> pd.DataFrame:
    """What :func:`sentence` says per run, one row per run (index: its label and MI trials; and
    per set of ``records`` of the authors' code): how many of its trials each estimate of the
    rule counts as minimized, how many escaped their critic — of them, how many with the critic's estimate
    below zero (a lower bound on the MI below zero: the critic has broken down rather than been
    fooled), how many among the trials whose modules formed and faded and among those that kept
    them — how many never formed modules, and the median copula MI of the faded and the kept
    trials with the Mann–Whitney p between them (at least :data:`MIN_TEST` in each, else not
    testable)."""
    df = table(runs, no_mi, records)
    rows = []
    for label in [lbl for lbl in df["run"].unique() if lbl != "no MI minimization"]:
        d = df[df["run"] == label]
        esc = escaped(d)
        fad, kep = d["modules"] == "faded", d["modules"] == "kept"
        a, b = d.loc[fad, FREE].to_numpy(), d.loc[kep, FREE].to_numpy()
        broken = int(broken_escapes(d).sum())
        medians = " / ".join(f"{np.median(x):.2f}" if x.size else "–" for x in (a, b))
        rows.append({
            "setting": f"{label} (n = {len(d)})",
            "minimized: critic / copula MI": f"{int(d[f'{CRITIC} minimized'].sum())} / "
                                             f"{int(d[f'{FREE} minimized'].sum())}",
            "escaped (critic < 0)": f"{int(esc.sum())} ({broken})",
            "escaped among faded / kept": f"{int((esc & fad).sum())} of {int(fad.sum())} / "
                                          f"{int((esc & kep).sum())} of {int(kep.sum())}",
            "never formed": int((d["modules"] == NEVER).sum()),
            "copula MI, faded / kept": medians + (
                f" (p = {stats.mannwhitneyu(a, b).pvalue:.2g})" if min(a.size, b.size) >= MIN_TEST
                else f" (not testable at n = {a.size}, {b.size})")})
    return pd.DataFrame(rows).set_index("setting")


def sentence(runs: Mapping[str, Any], no_mi: Any,
             records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
             per_run: bool = True) -> str:
    """What the end-of-training estimates say, computed: the levels that the rule compares and
    (``per_run``; a page that shows :func:`summary` instead leaves it out) per run (and per set
    of ``records`` of the authors' code) how many MI trials each estimate counts as minimized,
    how many trials escaped their critic and whether those are the ones whose modules faded,
    with the medians; where any escaped, what that means and how many of those critics
    estimate below zero."""
    df = table(runs, no_mi, records)
    ref = df[df["run"] == "no MI minimization"]
    lc, lf = ref[CRITIC].median(), ref[FREE].median()
    text = [f"Without MI minimization ({len(ref)} trials) the trained critic estimates "
            f"{lc:.2f} nats at the end of training and the copula MI of fresh rates is "
            f"{lf:.2f} nats (medians); an estimate counts as minimized below "
            f"{MINIMIZED:.0%} of its own level there."]
    labels = [lbl for lbl in df["run"].unique() if lbl != "no MI minimization"]
    for label in labels if per_run else []:
        d = df[df["run"] == label]
        n, esc = len(d), escaped(d)
        fad, kep = d["modules"] == "faded", d["modules"] == "kept"
        never = int((d["modules"] == NEVER).sum())
        s = (f"**{label}** (n = {n}): the trained critic's estimate is minimized in "
             f"{int(d[f'{CRITIC} minimized'].sum())} trials, the copula MI in "
             f"{int(d[f'{FREE} minimized'].sum())}; "
             + (f"{int(esc.sum())} trials escaped their critic" if esc.sum() > 1 else
                "1 trial escaped its critic")
             + f" (copula MI median {d.loc[esc, FREE].median():.2f} nats against the "
             f"critic's {d.loc[esc, CRITIC].median():.2f})" if esc.any() else
             f"**{label}** (n = {n}): the trained critic's estimate is minimized in "
             f"{int(d[f'{CRITIC} minimized'].sum())} trials, the copula MI in "
             f"{int(d[f'{FREE} minimized'].sum())}; no trial escaped its critic")
        if esc.sum() > 1:
            s += (f", {int((esc & fad).sum())} of them among the {int(fad.sum())} whose modules "
                  f"formed and faded and {int((esc & kep).sum())} among the {int(kep.sum())} "
                  f"that kept them")
        elif esc.any():
            s += (f", one of the {int(fad.sum())} whose modules formed and faded"
                  if (esc & fad).any() else f", one of the {int(kep.sum())} that kept them"
                  if (esc & kep).any() else ", one whose modules never formed")
        if never:
            s += (f" ({never} {'trial' if never == 1 else 'trials'} never formed modules: "
                  "Q_cor peaked below the paper's band)")
        a, b = d.loc[fad, FREE].to_numpy(), d.loc[kep, FREE].to_numpy()
        if min(a.size, b.size) >= MIN_TEST:
            p = float(stats.mannwhitneyu(a, b).pvalue)
            s += (f"; copula MI faded against kept: {np.median(a):.2f} against "
                  f"{np.median(b):.2f} nats (Mann–Whitney p = {p:.2g})")
        else:
            s += (f"; copula MI of faded against kept trials not testable at n = "
                  f"{a.size} and {b.size}")
        text.append(s + ".")
    mi = df[df["run"] != "no MI minimization"]
    total = escaped(mi)
    if total.any():
        broken = int(broken_escapes(mi).sum())
        text.append("Where the critic's estimate is low and the copula MI is not, the "
                    "dependence between the groups has not gone: the critic the network was "
                    "trained against no longer detects it, so a low trained-critic estimate "
                    "late in training is no evidence that the MI stayed minimized"
                    + (f" (in {broken} of the {int(total.sum())} such trials above the critic's "
                       "estimate is below zero, impossible for a lower bound on the MI of a "
                       "working critic: those critics broke down rather than being fooled)"
                       if broken else "") + ". The copula "
                    "MI rises with the same between-group correlations that lower Q_cor, so a "
                    "faded trial has a high copula MI almost by construction; what the "
                    "comparison adds is the critic's low estimate beside it.")
    return " ".join(text)


def figure(runs: Mapping[str, Any], no_mi: Any):
    """The trained critic's estimate against the copula MI of fresh rates at the end of
    training: one point per trial (a colour per setting; filled: kept its modules; open: formed
    and faded; cross: never formed; grey: no MI minimization), the diagonal, and the two
    thresholds of the rule (dotted). The legend, beside the axes, names each setting once and
    each state once, so that it stays one column however many settings the screen holds."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    df = table(runs, no_mi)
    ref = df[df["run"] == "no MI minimization"]
    fig, ax = plt.subplots(figsize=(7.6, 3.6), layout="constrained")
    ax.scatter(ref[FREE], ref[CRITIC], color="0.75", s=20)
    for i, label in enumerate(runs):
        d = df[df["run"] == label]
        colour, mark = _look(i)
        for state, face in (("kept", colour), ("faded", "none"), (NEVER, "none")):
            e = d[d["modules"] == state]
            if e.empty:
                continue
            style = ({"marker": "x", "color": colour} if state == NEVER else
                     {"marker": mark, "edgecolors": colour, "facecolors": face})
            ax.scatter(e[FREE], e[CRITIC], s=28, **style)
    hi = float(np.nanmax(df[[FREE, CRITIC]].to_numpy())) * 1.05
    lo = min(0.0, float(np.nanmin(df[CRITIC])) * 1.05)
    ax.plot([0, hi], [0, hi], color="0.3", lw=0.8)
    ax.axvline(MINIMIZED * ref[FREE].median(), color="0.3", ls=":", lw=1)
    ax.axhline(MINIMIZED * ref[CRITIC].median(), color="0.3", ls=":", lw=1)
    ax.text(0.98, 0.02, "escaped the critic:\ncritic minimized,\ncopula MI not",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.3")
    ax.set_xlim(0, hi), ax.set_ylim(lo, hi)
    ax.set_xlabel("copula MI between the groups, fresh rates (nats)")
    ax.set_ylabel("trained critic's MI estimate (nats)")
    dot = dict(ls="none", marker="o", markersize=5)
    handles = ([Line2D([], [], color=_look(i)[0], label=label, **{**dot, "marker": _look(i)[1]})
                for i, label in enumerate(runs)]
               + [Line2D([], [], color="0.75", label="no MI minimization", **dot),
                  Line2D([], [], color="0.5", label="modules kept (filled)", **dot),
                  Line2D([], [], color="0.5", markerfacecolor="none",
                         label="modules formed and faded (open)", **dot),
                  Line2D([], [], color="0.5", ls="none", marker="x", label="modules never formed"),
                  Line2D([], [], color="0.3", lw=0.8, label="critic = copula MI")])
    fig.legend(handles=handles, loc="outside right upper")
    return fig


def _look(i: int) -> tuple[str, str]:
    """The ``i``-th setting's colour and marker: the style's colour cycle, then the same colours
    with the next marker (no two settings alike however many the screen holds)."""
    import matplotlib.pyplot as plt
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return colours[i % len(colours)], "os^Dv"[(i // len(colours)) % 5]


def _failing(rr: Any, rows: np.ndarray) -> str:
    """``" (k of them fail the task: accuracy ≤ 0.9)"`` of the MI trials selected by ``rows``
    (in trial order) where some fail it (:data:`mifd.paper.task_criterion.ACCURACY_MIN`, as the
    success rate counts), else ``""``."""
    from .task_criterion import ACCURACY_MIN
    acc = np.asarray(rr.result.get("trials", {}).get("mi", {}).get("accuracy", ()), dtype=float)
    if acc.size != rows.size:
        return ""
    k = int((acc[rows] <= ACCURACY_MIN).sum())
    return f" ({k} of them fail the task: accuracy ≤ {ACCURACY_MIN:g})" if k else ""


def headline(rr: Any) -> str:
    """One sentence for the page's opening: how many of ``rr``'s MI trials whose modules
    formed (:func:`modules_state`) and faded escaped their critic (``rr`` holds both
    conditions and its audit; ``""`` if not)."""
    if "no_mi" not in rr.config.conditions or "mi" not in rr.config.conditions or \
            "audit" not in rr.result:
        return ""
    df = table({"run": rr}, rr)
    d = df[df["run"] == "run"]
    fad = d["modules"] == "faded"
    esc = escaped(d) & fad
    if not fad.any():
        return ""
    if not esc.any():
        return (f"In none of the {int(fad.sum())} trials whose modules formed and faded did the "
                "network escape its critic: the critic-free copula MI stays minimized with it.")
    rest = int(fad.sum() - esc.sum())
    return (f"In {int(esc.sum())} of the {int(fad.sum())} trials whose modules formed and "
            f"faded the network escaped its critic{_failing(rr, esc.to_numpy())}: the critic's "
            "estimate stays minimized "
            f"({d.loc[esc, CRITIC].median():.2f} nats, median) while the critic-free copula MI "
            f"of fresh rates is {d.loc[esc, FREE].median():.2f} nats at the end (without MI "
            f"minimization {df.loc[df['run'] == 'no MI minimization', FREE].median():.2f})"
            + (f"; in the other {rest} the copula MI is minimized too: the escape comes with some "
               "of the fades, not all" if rest else "")
            + " (a faded trial's copula MI is high almost by construction, since the same "
              "between-group correlations lower Q_cor: what marks the escape is the critic's low "
              "estimate beside it).")
