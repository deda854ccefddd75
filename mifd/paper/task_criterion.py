"""Which networks solve their task: the criterion a beyond-paper "yes" about structure or timing
is conditioned on. A structure that comes with failing the task is not the structure the
question asks about, so those answers count only the networks that meet the criterion; the
others are counted and named beside the answer, never pooled into it."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: working memory (flip-flop): the paper's own success criterion, accuracy > 0.9 (its "20/20
#: trials with accuracy > 0.9")
ACCURACY_MIN = 0.9
#: chaotic separation: the mean R² over the outputs must exceed this — more than half of the
#: separated signals' variance explained. Unregularized networks of the committed BIMT run reach
#: 0.52–0.80 (the paper's MI + L2 0.973); networks that collapsed to a handful of active units
#: (BIMT, distance, MI + BIMT) reach 0.21–0.32, a level a readout with little memory of the
#: mixed input already gives
R2_MIN = 0.5
#: Growing Brains (20 cognitive tasks): a network's mean performance must reach this fraction
#: of the median performance of the run's unregularized (``none``) networks — it solves the
#: tasks about as well as without a penalty (Growing Brains reads its structure at networks
#: that keep their performance, its Fig. 2g)
PERFORMANCE_FRACTION = 0.9


def criterion(trials: dict[str, dict[str, Any]]) -> tuple[str, float, str]:
    """``(metric, threshold, text)`` of the task criterion for a run's per-trial results: the
    flip-flop task's ``eval_accuracy`` > :data:`ACCURACY_MIN`, the separation's ``R2`` >
    :data:`R2_MIN`, or Growing Brains' ``performance`` ≥ :data:`PERFORMANCE_FRACTION` × the
    median of the ``none`` networks (``none`` must be a condition)."""
    first = next(iter(trials.values()))
    if "eval_accuracy" in first:
        return "eval_accuracy", ACCURACY_MIN, f"accuracy > {ACCURACY_MIN:g}"
    if "R2" in first:
        return "R2", R2_MIN, f"R² > {R2_MIN:g}"
    if "performance" in first and "none" in trials:
        base = float(np.nanmedian(np.asarray(trials["none"]["performance"], float)))
        level = PERFORMANCE_FRACTION * base
        return ("performance", level, f"performance ≥ {level:.3f} ({PERFORMANCE_FRACTION:.0%} "
                f"of the unregularized networks' median {base:.3f})")
    raise KeyError("no task criterion for this run: no eval_accuracy, R2 or performance")


def meets(values: Sequence[float], metric: str, threshold: float) -> np.ndarray:
    """Per network, whether it meets the criterion (NaN: it does not). Accuracy and R² must
    exceed the threshold, performance must reach it."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = v >= threshold if metric == "performance" else v > threshold
    return ok & np.isfinite(v)


def split(trials: dict[str, dict[str, Any]], conditions: Sequence[str],
          metric: str, threshold: float) -> dict[str, np.ndarray]:
    """``{condition: mask of the networks that meet the criterion}``."""
    return {c: meets(trials[c][metric], metric, threshold) for c in conditions}


def failed_names(trials: dict[str, dict[str, Any]], masks: dict[str, np.ndarray],
                 metric: str) -> str:
    """The networks left out, named: ``"bimt trial 0 (eval_accuracy 0.862); …"`` or ``"none"``."""
    out = [f"{c} trial {int(k)} ({metric} {float(np.asarray(trials[c][metric], float)[k]):.3f})"
           for c, m in masks.items() for k in np.flatnonzero(~m)]
    return "; ".join(out) if out else "none"


def counted(masks: dict[str, np.ndarray]) -> str:
    """``"bimt 4 of 5, mi 5 of 5"``: per condition, the networks that meet the criterion."""
    return ", ".join(f"{c} {int(m.sum())} of {m.size}" for c, m in masks.items())
