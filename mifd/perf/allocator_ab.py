"""The allocator A/B: one working-memory statistics-network step with freed host memory
retained and with glibc's default, each in a fresh process, alternating, with the page faults
and system CPU time of the step (what the setting of :mod:`mifd.accel.allocator` changes). CPU only.
"""

from __future__ import annotations

import resource
import time
from typing import Any, Mapping

from ..accel.allocator import retain_freed_memory
from ..experiments import get_experiment
from .costs import critic_samples
from .harness import BENCH_OVERRIDES, in_fresh_process, unit_for


def _ab_step(retain: bool, trials: int, overrides: Mapping[str, Any]) -> dict:
    """One working-memory SM step, measured after two warm-up steps, in a process whose
    allocator was untouched before (``retain``: then set to retain freed memory)."""
    if retain and not retain_freed_memory(True):
        return {"available": False}
    cfg = get_experiment("wm").config("paper", {**BENCH_OVERRIDES["wm"], "trials": trials,
                                                "epochs": 1, **overrides})
    tr = unit_for("wm", cfg, "cpu").trainer
    x, y = next(tr.sm_batches(1, "sm"))
    for _ in range(2):
        tr.sm_update(x, y)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    tr.sm_update(x, y)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    return {"available": True, "seconds": t1 - t0, "minor_faults": r1.ru_minflt - r0.ru_minflt,
            "system_seconds": r1.ru_stime - r0.ru_stime,
            "samples_per_step": critic_samples(cfg, x.shape[1]), "sm_width": cfg.sm_width}


def allocator_ab(trials: int = 1, reps: int = 3, overrides: Mapping[str, Any] | None = None
                 ) -> dict:
    """One working-memory statistics-network step at the published sizes (unless
    ``overrides``), with freed host memory retained and with glibc's default, each measured in
    a fresh process (after two warm-up steps), the two alternating ``reps`` times so that
    drift of the machine's speed hits both alike. Besides seconds, the minor page faults and
    the system CPU time of the step (``getrusage``), which do not depend on the machine's
    speed. CPU only."""
    out: dict[str, dict[str, list[float]]] = {
        mode: {"seconds": [], "minor_faults": [], "system_seconds": []}
        for mode in ("retained", "glibc default")}
    last: dict = {}
    for _ in range(reps):
        for mode, retain in (("retained", True), ("glibc default", False)):
            last = in_fresh_process(_ab_step, retain=retain, trials=trials,
                                    overrides=dict(overrides or {}))
            if not last["available"]:
                return {"available": False}
            for key in out[mode]:
                out[mode][key].append(last[key])
    return {"available": True, "experiment": "wm", "trials": trials, "reps": reps,
            "samples_per_step": last["samples_per_step"], "sm_width": last["sm_width"],
            "overrides": dict(overrides or {}), "per_step": out}
