"""How a GPU session sizes a run it cannot shorten by dropping trials (separation's ``gpu``
profile): the ladder of (sequence length, MM steps) from the published pair down, and the rule
that picks the first rung whose projected time and memory fit the call
(:func:`mifd.gpu.session.plan_by_measurement` measures, this module decides). No training code
is imported here.
"""

from __future__ import annotations

from typing import Any

import torch

#: fraction of the projected time kept in reserve for snapshots, the audit, final evaluation
RESERVE = 0.25

#: per (experiment, profile), a session that shortens sequences and training to fit its budget
#: rather than dropping trials (issue: separation at the published scale — "shorten sequences
#: and steps before anything else"): the probe's sequence length and MM steps, the published
#: lengths and step counts and the shorter ones a session may take (each list from the
#: published value down), and the snapshots a run keeps
SESSION_PLANS: dict[tuple[str, str], dict[str, Any]] = {
    ("separation", "gpu"): {"probe": {"length": 1000, "mm_steps": 8, "pre_steps": 1},
                              "lengths": (10000, 5000, 2000, 1000, 500, 250),
                              "steps": (4000, 2000, 1000, 500, 250, 100),
                              "snapshots": 20},
}
#: fraction of the device's memory a planned run may be projected to use
MEMORY_FRACTION = 0.85


def plan_ladder(lengths: tuple[int, ...], steps: tuple[int, ...]) -> list[tuple[int, int]]:
    """(sequence length, MM steps) from the published pair down: each rung shortens, by one
    place in its list, whichever of the two is the larger fraction of its published value (the
    sequence on a tie), so the two shrink together."""
    i = j = 0
    out = [(lengths[0], steps[0])]
    while i < len(lengths) - 1 or j < len(steps) - 1:
        longer = lengths[i] / lengths[0] >= steps[j] / steps[0]
        if (longer and i < len(lengths) - 1) or j == len(steps) - 1:
            i += 1
        else:
            j += 1
        out.append((lengths[i], steps[j]))
    return out


def choose_rung(per_step: float, length_at: int, peak_bytes: float, seconds: float,
                ladder: list[tuple[int, int]], memory_bytes: float | None,
                extra_steps: float = 0.0, fixed_seconds: float = 0.0) -> tuple[int, int] | None:
    """The first rung of ``ladder`` that fits: its projected time — ``per_step`` seconds per MM
    step measured at sequence length ``length_at``, times the MM steps plus ``extra_steps``
    (the pre-training SM steps in MM-step units), plus ``fixed_seconds`` (the evaluations, at
    ``length_at``), all growing linearly with the length (the recurrence, the critic's samples
    and the evaluation all do), plus :data:`RESERVE` — within ``seconds``, and its projected
    peak memory (``peak_bytes`` at ``length_at``, linear in the length) within
    :data:`MEMORY_FRACTION` of ``memory_bytes`` (unknown: not checked). None if no rung fits."""
    for length, steps in ladder:
        scale = length / length_at
        if (per_step * (steps + extra_steps) + fixed_seconds) * scale * (1 + RESERVE) > seconds:
            continue
        if memory_bytes is not None and peak_bytes * scale > MEMORY_FRACTION * memory_bytes:
            continue
        return length, steps
    return None


#: the statistics network's passes per group a probe tries after running out of memory
#: (0: all of an MM step's passes at once)
PASS_GROUPS = (0, 10, 5, 2, 1)


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is the device running out of memory (PyTorch's error, or a message saying
    so from a library below it)."""
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e)
