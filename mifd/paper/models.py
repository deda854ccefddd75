"""The models-and-tasks chapter's summary, written from what its figures computed (untrained
networks and the tasks' data): how far the paper's text and the authors' code differ in the
noise, the target and the training schedule."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def summary_points(rates: Mapping[str, np.ndarray], step_target: np.ndarray,
                   ramp_target: np.ndarray, transient: int, wm_cfg: Any,
                   sep_cfg: Any) -> list[str]:
    """The page's closing points. ``rates``: untrained rates ``(steps, units)`` per noise
    placement (``"outside"``, ``"inside"``); the two targets ``(steps, 2)`` of one sequence;
    ``transient``: its untrained steps; the working-memory and separation ``paper`` configs."""
    sd = {k: float(np.std(np.diff(v, axis=0))) for k, v in rates.items()}
    diff = np.abs(np.asarray(step_target) - np.asarray(ramp_target))[transient:]
    off = float(np.mean(diff.max(axis=1) > 0.05))
    return [
        f"Noise outside the leak α (authors' code) moves an untrained unit's rate by "
        f"{sd['outside']:.3f} per step (s.d. of the step-to-step change), inside α (paper Eq. 1) "
        f"by {sd['inside']:.3f}: the code's network is {sd['outside'] / sd['inside']:.1f}× "
        "noisier.",
        f"The ramped target of the code and the stepped target of the text differ by more than "
        f"0.05 on {off:.1%} of the trained steps of the sequence shown (after each pulse, while "
        "the ramp climbs).",
        f"Training alternates {wm_cfg.sm_per_mm} SM steps (statistics network) with one MM step "
        f"(RNN) in working memory, {sep_cfg.sm_per_mm} in chaotic separation, after "
        + (f"{wm_cfg.pre_steps} SM steps of pre-training in both"
           if wm_cfg.pre_steps == sep_cfg.pre_steps else
           f"{wm_cfg.pre_steps} and {sep_cfg.pre_steps} SM steps of pre-training")
        + "; the published "
        f"runs take {wm_cfg.epochs} and {sep_cfg.mm_steps} MM steps.",
    ]
