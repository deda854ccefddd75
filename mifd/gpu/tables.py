"""The committed GPU sessions as tables for the performance page: each session's probes, run
and projections (:func:`session_table`) and its timings of the Triton GRU
(:func:`kernel_table`), read from the timing files :mod:`mifd.gpu.session` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def committed_sessions(committed: Path | str | None = None) -> list[tuple[Path, dict]]:
    """Every committed GPU session's timing file (``results/committed/bench/sessions/*/
    timing-*.json``, or under ``committed``) and its contents, in date order."""
    from ..results.exchange import SESSIONS
    from ..results.store import default_roots
    if committed is None:
        roots = default_roots()[1]
        committed = roots[0] if roots else Path("results/committed")
    return [(f, json.loads(f.read_text()))
            for f in sorted((Path(committed) / SESSIONS).glob("*/timing-*.json"))]


def kernel_table(committed: Path | str | None = None) -> "pd.DataFrame":
    """The Triton GRU timings of every committed GPU session
    (:func:`mifd.perf.kernels.timing_table` of each session's ``kernels`` record), with the
    session and device."""
    import pandas as pd
    from ..perf.kernels import timing_table
    frames = []
    for f, s in committed_sessions(committed):
        if not isinstance(s.get("kernels"), dict):
            continue
        t = timing_table(s["kernels"])
        if len(t):
            t.insert(0, "device", s.get("machine", {}).get("gpu", s.get("device")))
            t.insert(0, "session", f.parent.name)
            frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def session_table(committed: Path | str | None = None) -> "pd.DataFrame":
    """One row per committed GPU session (``results/committed/bench/sessions/*/timing-*.json``):
    device, the probes, the run's trials and wall time, seconds per trial-epoch and the
    projected time of the whole profile at that batch size."""
    import pandas as pd
    rows = []
    for f, s in committed_sessions(committed):
        run = s.get("run", {})
        pr = s.get("probes", [])
        k = run.get("trials_per_condition")
        rows.append({
            "session": f.parent.name, "experiment": s.get("experiment", "wm"),
            "device": s.get("machine", {}).get("gpu", s.get("device")),
            "commit": s.get("code", {}).get("git_commit", "?")[:10],
            "CUDA tests": ("—" if "tests" not in s else "passed" if s["tests"]["returncode"] == 0
                           else f"exit {s['tests']['returncode']}"),
            "probe s/epoch (trials per condition)": "; ".join(
                f"{p['seconds_per_epoch']:.3f} ({p['trials_per_condition']})"
                if "seconds_per_epoch" in p else
                f"out of memory ({p.get('trials_per_condition')})" for p in pr),
            "run: trials per condition": k if k else "none fitted",
            "run: seeds": (f"{run['seed']}–{run['seed'] + k - 1}" if k and "seed" in run
                           else "—"),
            "run: wall s": round(run["wall_seconds"]) if run.get("wall_seconds") else "—",
            "s per trial-epoch (whole run)": (
                round(s["projection"]["seconds_per_trial_epoch_whole_run"], 4)
                if "projection" in s else "—"),
            "projected whole profile, min (at this batch)": (
                round(s["projection"]["projected_profile_minutes_at_this_batch"], 1)
                if "projection" in s else "—"),
            "planned (length, MM steps)": (
                tuple(s["plan_by_measurement"]["rung"])
                if (s.get("plan_by_measurement") or {}).get("rung") else "—"),
            "projected published run, min": (
                round(s["plan_by_measurement"]["projected_paper_minutes"], 1)
                if (s.get("plan_by_measurement") or {}).get("projected_paper_minutes")
                else "—")})
    return pd.DataFrame(rows)
