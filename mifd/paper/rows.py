"""The rows of the paper-vs-ours tables (:mod:`mifd.paper.wm`, :mod:`mifd.paper.separation`):
our level of each metric against the paper's, and the comparisons the paper reports, each with
its verdict by :mod:`mifd.paper.rules`."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .formatting import _fmt_num, fmt, fmt_ci, fmt_rate
from .intervals import bootstrap_ci, bootstrap_diff_ci, clipped, mean_ci, proportion, wilson_ci
from .rules import comparison, comparison_verdict, count_verdict, detectable, level_verdict


def level_rows(trials: dict, reported: dict, metrics: Sequence[str],
               tails: dict[str, dict[str, float]] | None = None,
               extra: float = 0.0) -> list[dict]:
    """Rows 'ours vs the paper's level' for every condition and metric present in ``trials``;
    ``tails``: :func:`mifd.paper.rules.tail_changes` of the run and ``extra``:
    :func:`mifd.paper.rules.more_tails` (for *not converged*)."""
    rows = []
    for cond, per_metric in trials.items():
        for m in metrics:
            ours = per_metric.get(m)
            if ours is None:
                continue
            mean, sd, lo, hi, n = mean_ci(ours)
            lo, hi, cut = clipped(lo, hi, m)
            rep = reported.get(cond, {}).get(m)
            dropped = int(np.size(ours)) - n
            rate = m == "success_rate"  # a proportion: k of n, with its Wilson interval
            row = {"condition": cond, "quantity": m,
                   "ours": (fmt_rate(*proportion(ours)) if rate else fmt(mean, sd, n)) + (
                       f"; {dropped} non-finite left out" if dropped else ""),
                   "ours 95% CI": fmt_ci(*(wilson_ci(*proportion(ours)) if rate else (lo, hi)))
                   + (" (clipped to the metric's range)" if cut and not rate else ""),
                   "bootstrap 95% CI": "—" if rate else fmt_ci(*bootstrap_ci(ours)),
                   "detectable Δ": "—" if rep is None or m == "success_rate" else
                   _fmt_num(detectable(ours, rep.sd, rep.n)),
                   "paper": "—" if rep is None else
                   (f"{rep.mean:g} ± {rep.sd:g}" if rep.sd is not None else f"{rep.mean:g}")
                   + (f" ({rep.note})" if rep.note else ""),  # e.g. a possible copy error
                   "verdict": "no paper value"}
            if rep is not None:
                if rate:  # a count: trials with accuracy > 0.9
                    row["verdict"] = count_verdict(*proportion(ours),
                                                   int(round(rep.mean * rep.n)), rep.n)
                else:
                    tail = (tails or {}).get(cond, {}).get(m)
                    row["verdict"] = level_verdict(ours, rep.mean, rep.sd, rep.n, tail, extra)
            rows.append(row)
    return rows


def comparison_rows(trials: dict, comparisons: Sequence[tuple[str, str, str, str]],
                    reported: dict | None = None) -> list[dict]:
    """Rows for ``(a, b, metric, direction)`` comparisons the paper reports (a vs b);
    ``reported``: the paper's levels, for the size of its difference where it gives both."""
    rows = []
    for a, b, m, direction in comparisons:
        if a not in trials or b not in trials:
            continue
        ra, rb = (reported or {}).get(a, {}).get(m), (reported or {}).get(b, {}).get(m)
        paper_diff = ra.mean - rb.mean if ra is not None and rb is not None else None
        c = comparison(trials[a][m], trials[b][m], direction)
        rows.append({"condition": f"{a} vs {b}", "quantity": m,
                     "ours": f"Δ = {c['diff']:+.3f}; Welch p = {c['welch_p']:.2g}, "
                             f"Mann–Whitney p = {c['mw_p']:.2g}, d = {c['d']:.2f}",
                     "ours 95% CI": "—",
                     "bootstrap 95% CI": "Δ in " + fmt_ci(*bootstrap_diff_ci(trials[a][m], trials[b][m])),
                     "paper": f"{a} {'>' if direction == 'greater' else '<'} {b}" + (
                         f" (Δ = {paper_diff:+.3g})" if paper_diff is not None else ""),
                     "verdict": comparison_verdict(trials[a][m], trials[b][m], direction,
                                                   paper_diff)})
    return rows
