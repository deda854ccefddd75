"""The failure-modes page's text (paper Fig. 8): its takeaway and closing summary, written from
the trial classes of :func:`mifd.paper.wm.classify` and the silencing rule's calibration
(:mod:`mifd.paper.silencing`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import silencing
from .wm import failure_summary


def _run_label(rr: Any) -> str:
    return f"{rr.profile} profile, {rr.config.trials} trials per condition"


def findings(classes: pd.DataFrame, rr: Any, gpu_classes: pd.DataFrame | None = None,
             gpu: Any = None) -> str:
    """The failure-modes page's takeaway (Markdown): the computed failure paragraph of each run
    (:func:`mifd.paper.wm.failure_summary`), the published-settings run's when committed."""
    text = f"**{_run_label(rr)}**: {failure_summary(classes, _main(classes))}"
    if gpu_classes is not None:
        text += (f"\n\n**{_run_label(gpu)}, on a GPU**: "
                 f"{failure_summary(gpu_classes, _main(gpu_classes))}")
    return text


def _main(classes: pd.DataFrame) -> str:
    conds = list(dict.fromkeys(classes["condition"]))
    return "mi" if "mi" in conds else conds[0]


def summary_points(classes: pd.DataFrame, hand: pd.DataFrame, rr: Any,
                   gpu_classes: pd.DataFrame | None = None, gpu: Any = None) -> list[str]:
    """The failure-modes page's closing points, written from its tables."""
    conf = silencing.confusion(hand)
    right = int(conf.loc["one group cut off", "silenced"] if "silenced" in conf else 0)
    cut = int(conf.loc["one group cut off"].sum())
    alarms = int(conf.drop(index="one group cut off").get("silenced", pd.Series([0])).sum())
    others = int(conf.drop(index="one group cut off").to_numpy().sum())
    out = [f"The silencing rule finds the cut-off group in {right} of {cut} hand-built networks "
           f"with one group cut off, and a silenced group in {alarms} of the {others} others."]
    for label, tab in ((_run_label(rr), classes),
                       (f"{_run_label(gpu)}, on a GPU" if gpu is not None else "", gpu_classes)):
        if tab is None:
            continue
        counts = pd.crosstab(tab["condition"], tab["class"])
        per = "; ".join(f"{c}: " + ", ".join(f"{int(n)} {k}" for k, n in row.items() if n)
                        for c, row in counts.iterrows())
        out.append(f"{label} — trials by class: {per}.")
    return out
