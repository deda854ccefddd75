"""The chaotic-separation section of the paper against a stored ``separation`` run: the
paper-vs-ours table, the L2 sweep, onset times (Fig. 16)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import reported, rules
from .timing import onset_test

METRICS = ("R2", "D_cor", "Q_cor", "D_out", "Q_str", "NMI", "NMI_str")


def paper_table(rr: Any) -> pd.DataFrame:
    """Every number of the paper's separation section beside ours, with verdicts."""
    trials = rr.result["trials"]
    tails = rules.tail_changes(rr.result)
    extra = rules.more_tails(rr.result, reported.SEPARATION_TRAINING)
    rows = rules.level_rows(trials, reported.SEPARATION, METRICS, tails, extra)
    rows += rules.comparison_rows(trials, reported.SEPARATION_COMPARISONS, reported.SEPARATION)
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
