"""How far a run is from the published settings: the settings that set its *scale* (sequence
length, training length, network size), each as a fraction of the paper's.

A run whose scale is below :data:`FAR` of the paper's in any of them is *far-reduced*: its level
verdicts (our value against the paper's number) are shown with that label and are not counted
as tests of the paper (:mod:`mifd.paper.landing`); comparisons between its own conditions and the
timing of its own curves still are.
"""

from __future__ import annotations

import re
from typing import Any

#: the config fields that set a run's scale (each experiment's reductions table names them)
SCALE_FIELDS = ("length", "steps", "epochs", "mm_steps", "n")
#: below this fraction of the paper's value in any scale field, a run is far-reduced
FAR = 0.1


def _fraction(x: float) -> str:
    """``0.02`` → ``"1/50"``; ``0.5`` → ``"1/2"``; ``0.16`` → ``"0.16"``."""
    k = 1 / x
    return f"1/{round(k):d}" if abs(k - round(k)) < 0.02 * k else f"{x:.2g}"


def reduced(rr: Any) -> list[dict]:
    """The scale fields in which ``rr`` is smaller than the published run, smallest fraction
    first: ``{"field", "meaning", "ours", "paper", "fraction"}``."""
    from ..experiments import get_experiment
    try:
        table = get_experiment(rr.experiment).reductions(rr.config)
    except (KeyError, AttributeError, TypeError):
        return []
    out = []
    for field in SCALE_FIELDS:
        if field not in table.index:
            continue
        ours, paper = table.loc[field, "this run"], table.loc[field, "published (paper profile)"]
        try:
            ours, paper = float(ours), float(paper)
        except (TypeError, ValueError):
            continue
        if paper > 0 and 0 < ours < paper:
            meaning = re.sub(r"\s*\([^()]*\)$", "", str(table.loc[field, "meaning"]))
            out.append({"field": field, "meaning": meaning, "ours": ours, "paper": paper,
                        "fraction": ours / paper})
    return sorted(out, key=lambda r: r["fraction"])


def describe(rows: list[dict]) -> str:
    """``"steps per sequence 200 of the paper's 10000 (1/50)"``, each reduced field, joined."""
    return "; ".join(f"{r['meaning']} {r['ours']:g} of the paper's {r['paper']:g} "
                     f"({_fraction(r['fraction'])})" for r in rows)


def far_note(rr: Any, far: float = FAR) -> str:
    """The fields in which ``rr`` is below ``far`` of the paper's scale, described
    (:func:`describe`); ``""`` when none is (the run is near the published scale)."""
    return describe([r for r in reduced(rr) if r["fraction"] < far])
