"""How the claims tables write numbers: means ± s.d. with n, intervals, proportions."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _fmt_num(x: float) -> str:
    return f"{x:.3f}" if np.isfinite(x) else "—"


def fmt_ci(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "—"


def fmt_rate(k: int, n: int) -> str:
    """A proportion as ``"k/n = 0.900"`` (its interval: :func:`mifd.paper.intervals.wilson_ci`)."""
    return f"{k}/{n} = {k / n:.3f}" if n else "—"


def fmt(m: float, s: float, n: int, digits: int = 3) -> str:
    if not np.isfinite(m):
        return "—"
    if not np.isfinite(s):
        return f"{m:.{digits}f} (n={n})"
    return f"{m:.{digits}f} ± {s:.{digits}f} (n={n})"


def agree(k: int, one: str, many: str) -> str:
    """The verb phrase that agrees with a count ``k``: ``one`` for 1, ``many`` otherwise (``"1
    keeps its modules"``, ``"3 keep their modules"``, ``"1 of 10 trials keeps"``)."""
    return one if int(k) == 1 else many


def and_list(names: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``: names in running text."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
