"""The committed GPU sessions as tables for the performance page: each session's probes, run,
the settings its run had (from the run's stored config) and projections (:func:`session_table`)
and its timings of the Triton GRU (:func:`kernel_table`), read from the timing files
:mod:`mifd.gpu.session` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def committed_root(committed: Path | str | None = None) -> Path:
    """``committed``, or the checkout's ``results/committed``."""
    from ..results.store import default_roots
    if committed is None:
        roots = default_roots()[1]
        committed = roots[0] if roots else Path("results/committed")
    return Path(committed)


def committed_sessions(committed: Path | str | None = None) -> list[tuple[Path, dict]]:
    """Every committed GPU session's timing file (``results/committed/bench/sessions/*/
    timing-*.json``, or under ``committed``) and its contents, in date order."""
    from ..results.exchange import SESSIONS
    return [(f, json.loads(f.read_text()))
            for f in sorted((committed_root(committed) / SESSIONS).glob("*/timing-*.json"))]


def run_config(session: dict, committed: Path) -> Any | None:
    """The stored config of a session's run (``results/committed/<experiment>/<key>``), or
    ``None`` for a session that trained nothing."""
    from ..config import stored_config
    from ..experiments import get_experiment
    key = (session.get("run") or {}).get("key")
    exp = session.get("experiment", "wm")
    path = Path(committed) / exp / str(key) / "config.json"
    if not key or not path.exists():
        return None
    return stored_config(get_experiment(exp).config_cls, json.loads(path.read_text())["config"])


def profile_differences(cfg: Any, experiment: str, profile: str, device: str = "cuda"
                        ) -> list[str]:
    """The settings in which ``cfg`` differs from ``profile`` as it is today on ``device``, in
    words (:data:`mifd.paper.options.NAMED_SETTINGS`, else ``field=value``); the fields a shard
    or a session's plan chooses are left out."""
    from ..config import to_dict
    from ..experiments import get_experiment
    from ..paper.options import NAMED_SETTINGS
    from ..results.exchange import PLANNED_FIELDS
    from ..results.merge import SHARD_FIELDS
    ref = to_dict(get_experiment(experiment).config(profile, device=device))
    got = to_dict(cfg)
    skip = (*SHARD_FIELDS, *PLANNED_FIELDS.get(profile, ()))
    return [NAMED_SETTINGS[k](got[k]) if k in NAMED_SETTINGS else f"{k}={got[k]}"
            for k in ref if k not in skip and got.get(k) != ref[k]]


def settings_label(cfg: Any | None, experiment: str, profile: str) -> str:
    """The sessions table's *settings* cell: where the session's run differs from the profile
    today, "as the profile today", or "—" without a run."""
    if cfg is None:
        return "— (no run)"
    diff = profile_differences(cfg, experiment, profile)
    return "; ".join(diff) if diff else f"as the {profile} profile today"


def session_runs(committed: Path | str | None = None) -> list[tuple[str, str, Any]]:
    """``(experiment, profile, stored config)`` of each committed GPU session's run (sessions
    that trained)."""
    root = committed_root(committed)
    runs = [(s.get("experiment", "wm"), s.get("profile", "paper"), run_config(s, root))
            for _, s in committed_sessions(root)]
    return [r for r in runs if r[2] is not None]


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
    device, the settings its run ran with where they differ from the profile today
    (:func:`settings_label` of the run's stored config), the probes, the
    run's trials and wall time, seconds per trial-epoch and the projected time of the whole
    profile at that batch size."""
    import pandas as pd
    rows = []
    for f, s in committed_sessions(committed):
        run = s.get("run", {})
        pr = s.get("probes", [])
        k = run.get("trials_per_condition")
        exp = s.get("experiment", "wm")
        rows.append({
            "session": f.parent.name, "experiment": exp,
            "device": s.get("machine", {}).get("gpu", s.get("device")),
            "run: settings other than today's profile": settings_label(
                run_config(s, committed_root(committed)), exp, s.get("profile", "paper")),
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
