"""When a metric rises: onset times per trial (against each trial's peak: :data:`ONSET_RULE`) and
the paired test that a functional metric rises before a structural one (the paper's "functional
first" claims, Figs. 9 and 16)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..experiments.base import Layout


#: the onset rule in one sentence, printed where the timing verdicts are
ONSET_RULE = ("a curve's onset is the first snapshot at which it has covered half of its rise "
              "from the first snapshot to its peak (its highest snapshot), so a curve that rises "
              "and then falls is timed by its rise; a curve whose peak is its first snapshot "
              "never rises, has no onset and is counted as such")


def rises(series: np.ndarray) -> np.ndarray:
    """Per trial (columns of ``series``, ``(snapshots, trials)``): whether some snapshot is above
    the first (NaN snapshots ignored; a trial with a NaN first snapshot never rises)."""
    s = np.asarray(series, dtype=float)
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.where(np.isfinite(s), s, -np.inf), axis=0)
    return np.isfinite(s[0]) & (peak > s[0])


def onset(series: np.ndarray, epochs: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Per trial, the first epoch at which the metric covers ``fraction`` of its rise from the
    first snapshot to its peak over training (:data:`ONSET_RULE`): a rise-then-fall curve is
    timed by its rise, not by its net change; NaN where it never rises (:func:`rises`)."""
    s = np.asarray(series, dtype=float)  # (snapshots, trials)
    epochs = np.asarray(epochs)
    up = rises(s)
    out = np.full(s.shape[1], np.nan)
    for t in np.flatnonzero(up):
        col = s[:, t]
        peak = float(np.nanmax(col))
        level = col[0] + fraction * (peak - col[0])
        out[t] = epochs[np.flatnonzero(col >= level)[0]]  # the peak itself qualifies
    return out


def onset_test(res: Mapping[str, Any], condition: str, pairs: Sequence[tuple[str, str]],
               fraction: float = 0.5, keep: np.ndarray | None = None) -> pd.DataFrame:
    """Per (functional, structural) pair: onsets per trial of ``condition`` (:func:`onset`,
    against each trial's peak), the trials whose functional or structural curve never rises
    (no onset: left out of the test, counted), and a paired test that the functional onset
    comes first (Wilcoxon signed-rank on the lag, one-sided). ``keep``: a mask over the trials
    of ``condition``; only those it marks are counted (e.g. the networks that solve the task)."""
    epochs, lay = res["snap_epochs"], Layout.of(res)
    rows = []
    for f, s in pairs:
        of = lay.split(onset(res["snaps"][f], epochs, fraction))[condition]
        os_ = lay.split(onset(res["snaps"][s], epochs, fraction))[condition]
        if keep is not None:
            of, os_ = of[keep], os_[keep]
        ok = np.isfinite(of) & np.isfinite(os_)
        lag = os_[ok] - of[ok]
        p = math.nan
        if ok.sum() >= 2 and np.any(lag != 0):
            p = float(stats.wilcoxon(lag, alternative="greater").pvalue)
        rows.append({"functional": f, "structural": s, "trials with both onsets": int(ok.sum()),
                     "functional never rises": int((~np.isfinite(of)).sum()),
                     "structural never rises": int((~np.isfinite(os_)).sum()),
                     "functional first": int((lag > 0).sum()), "same snapshot": int((lag == 0).sum()),
                     "median lag": float(np.median(lag)) if lag.size else math.nan,
                     "Wilcoxon p (functional first)": p})
    return pd.DataFrame(rows)


def peaks(res: Mapping[str, Any], condition: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Per trial of ``condition`` and metric: the snapshot epoch and value of its peak over
    training, its final value and ``final / peak``; *declined* when the final value is below
    (1 − :data:`~mifd.paper.rules.DECLINE`) × a positive peak."""
    from .rules import DECLINE
    epochs, lay = np.asarray(res["snap_epochs"]), Layout.of(res)
    seeds = lay.seeds() if lay.seed is not None else None
    rows = []
    for m in metrics:
        s = lay.split(np.asarray(res["snaps"][m], dtype=float))[condition]  # (snapshots, trials)
        for t in range(s.shape[1]):
            col = s[:, t]
            if not np.isfinite(col).any():
                continue
            i = int(np.nanargmax(col))
            peak, final = float(col[i]), float(col[-1])
            rows.append({"metric": m, "trial": t, "peak epoch": int(epochs[i]), "peak": peak,
                         "final": final, "final / peak": final / peak if peak > 0 else math.nan,
                         "declined": bool(peak > 0 and final < (1 - DECLINE) * peak)})
    return pd.DataFrame(rows)


def decline_summary(res: Mapping[str, Any], condition: str, metrics: Sequence[str],
                    where: str = "") -> str:
    """One computed sentence per metric from :func:`peaks`: how many trials declined, the
    median peak epoch and the median final/peak ratio."""
    from .rules import DECLINE
    t = peaks(res, condition, metrics)
    if t.empty:
        return f"{where}: no snapshots of {condition}."
    last = int(np.asarray(res["snap_epochs"])[-1])
    out = []
    for m, g in t.groupby("metric", sort=False):
        ratio = g["final / peak"].dropna()  # NaN where a trial has no positive peak
        out.append(f"{m}: {int(g['declined'].sum())} of {len(g)} trials fell more than "
                   f"{DECLINE:.0%} below their peak (median peak at epoch "
                   f"{g['peak epoch'].median():.0f} of {last}; "
                   + (f"median final / peak {ratio.median():.2f})" if len(ratio) else
                      "no trial with a positive peak)"))
    return (f"{where + ' — ' if where else ''}{condition}: " + "; ".join(out) + ".")


def order_sentence(table: pd.DataFrame, label: str, unit: str = "epochs") -> str:
    """One sentence from an :func:`onset_test` table: per functional/structural pair, in how
    many trials the functional onset came first, the median lag and the one-sided p."""
    parts = [f"{r['functional']} before {r['structural']} in {r['functional first']} of "
             f"{r['trials with both onsets']} trials (median lag {r['median lag']:g} {unit}, "
             f"p = {r['Wilcoxon p (functional first)']:.2g})" for _, r in table.iterrows()]
    return f"**{label}**: " + "; ".join(parts) + "."


def findings(tables: Sequence[tuple[str, pd.DataFrame, str]]) -> str:
    """The timing page's takeaway (Markdown): in how many runs most functional/structural onset
    pairs have the functional onset first, in how many of each run's pairs that order is
    shown (one-sided Wilcoxon p < :data:`mifd.paper.rules.ALPHA`), then one
    :func:`order_sentence` per run (``(label, onset table, unit of the lag)``)."""
    from .rules import ALPHA
    counts = [(label.split(" (")[0], int(t["functional first"].sum()),
               int(t["trials with both onsets"].sum()),
               int((t["Wilcoxon p (functional first)"] < ALPHA).sum()), len(t))
              for label, t, _ in tables]
    first = [2 * f > b for _, f, b, _, _ in counts]
    lead = ("In every run most trials have the functional onset first" if all(first) else
            f"In {sum(first)} of {len(first)} runs most trials have the functional onset first")
    return (f"{lead} (onset pairs with the functional onset first: "
            + "; ".join(f"{label} {f} of {b}" for label, f, b, _, _ in counts)
            + f"); the order is shown (one-sided p < {ALPHA:g}) in "
            + "; ".join(f"{k} of {n} pairs of measures in {label}"
                        for label, _, _, k, n in counts) + ".\n\n"
            + "\n\n".join(order_sentence(t, label, unit) for label, t, unit in tables))


def summary_points(tables: Sequence[tuple[str, pd.DataFrame, str]],
                   declines: Sequence[str] = ()) -> list[str]:
    """The timing page's closing points: the onset order of every run, then whether the
    functional measures stay (:func:`decline_summary` sentences)."""
    return [order_sentence(t, label, unit).replace("**", "") for label, t, unit in tables] + \
        list(declines)
