"""Analyses of a stored ``separation`` run: the paper-vs-ours table and the L2 sweep."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import analysis, claims, paper

METRICS = ("R2", "D_cor", "Q_cor", "D_out", "Q_str", "NMI", "NMI_str")
COMPARISONS = [("mi_l2", "no_mi", "D_out", "greater"), ("mi_l2", "no_mi", "Q_str", "greater"),
               ("mi_l2", "no_mi", "NMI", "greater"), ("mi_l2", "mi_no_l2", "Q_str", "greater"),
               ("mi_l2", "mi_no_l2", "D_out", "greater")]
TIMING_PAIRS = (("Q_cor", "Q_str"), ("D_cor", "D_out"))


def paper_table(rr: Any) -> pd.DataFrame:
    """Every number of the paper's separation section beside ours, with verdicts."""
    trials = rr.result["trials"]
    tails = claims.tail_changes(rr.result, rr.result.get("conditions", rr.config.conditions))
    extra = claims.more_tails(rr.result, paper.SEPARATION_TRAINING)
    rows = claims.level_rows(trials, paper.SEPARATION, METRICS, tails, extra)
    rows += claims.comparison_rows(trials, COMPARISONS, paper.SEPARATION)
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
                     **{m: claims.fmt(*claims.mean_ci(t[m])[:2], len(t[m])) for m in
                        ("R2", "Q_cor", "D_cor", "Q_str", "D_out")}})
    return pd.DataFrame(rows).sort_values("L2 (Keras c)").set_index("condition")


def timing(rr: Any, condition: str = "mi_l2", fraction: float = 0.5) -> pd.DataFrame:
    return analysis.timing(rr.result, condition, TIMING_PAIRS, fraction)
