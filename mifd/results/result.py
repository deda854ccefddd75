"""What a run gives back: :class:`RunResult` (a stored or fresh result with its config, provenance
and the views the pages read) and :func:`summarize` (per condition and metric: mean, sd, n).

Nothing here changes what a run computes: the module is outside every experiment's code hash
(:mod:`mifd.results.fingerprint`), so editing how a result is described stales no result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..experiments.base import Layout


def summarize(trials: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per condition and metric: mean, sd (ddof = 1) and n over the finite values, and how
    many were not finite (``nonfinite``: none is dropped silently; ``None`` where undefined,
    so the JSON stays valid)."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for cond, metrics in trials.items():
        out[cond] = {}
        for m, vals in metrics.items():
            v = np.asarray(vals, dtype=float).ravel()
            bad = int((~np.isfinite(v)).sum())
            v = v[np.isfinite(v)]
            out[cond][m] = {"mean": float(v.mean()) if v.size else None,
                            "sd": float(v.std(ddof=1)) if v.size > 1 else None,
                            "n": int(v.size), "nonfinite": bad}
    return out


@dataclass
class RunResult:
    experiment: str
    profile: str
    config: Any
    key: str
    result: dict
    meta: dict
    summary: dict
    loaded: bool
    path: Path = field(default_factory=Path)
    #: the code hash that made a committed result when it is not this checkout's (the result
    #: is shown, with a note); ``None`` when current
    code_changed: str | None = None

    def describe(self) -> str:
        """One line for the rendered page: what ran, where and when, or where it was loaded from."""
        m = self.meta
        committed = "committed" in self.path.parts
        how = ("loaded from the committed results" if self.loaded and committed else
               "loaded from the results store" if self.loaded else "trained now")
        dev = m.get("machine", {}).get("gpu") or m.get("machine", {}).get("device", "?")
        commit = m.get("code", {}).get("git_commit", "")[:10] or "no git"
        return (f"{self.experiment} [profile {self.profile}] {how}: key {self.key}, "
                f"mifd {m.get('code', {}).get('mifd', '?')} ({commit}), device {dev}, "
                f"finished {m.get('finished', '?')}, {m.get('wall_seconds', float('nan')):.0f} s"
                + (f"; NOTE: made by other code than this checkout's (code hash "
                   f"{self.code_changed}); `make results` recomputes it"
                   if self.code_changed else ""))

    @property
    def layout(self) -> Layout:
        """Conditions and trials per condition of this run (seeds from its config)."""
        lay = Layout.of(self.result)
        return Layout(lay.conditions, lay.per_condition, getattr(self.config, "seed", None))

    def trials(self, condition: str) -> dict[str, np.ndarray]:
        """The final metrics of ``condition``: ``{metric: one value per trial}``."""
        self.layout.check(condition)
        return {m: np.asarray(v, dtype=float) for m, v in self.result["trials"][condition].items()}

    def split(self, values: Any, axis: int = -1) -> dict[str, np.ndarray]:
        """``values`` with a trial axis, split by condition (see :meth:`~mifd.experiments.base.Layout.split`)."""
        return self.layout.split(values, axis)

    def best_trial(self, metric: str, condition: str) -> int:
        """Batch position of the trial of ``condition`` with the highest final ``metric``
        (``result["final"]``), e.g. the trial a figure shows."""
        idx = self.layout.index(condition)
        return int(idx[np.nanargmax(np.asarray(self.result["final"][metric], dtype=float)[idx])])


