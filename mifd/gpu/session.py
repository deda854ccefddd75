"""One prepared command for a lent GPU (``make gpu`` → ``mifd gpu-session``).

A GPU is lent here for about 15 minutes at a time, at most 10 minutes per command. In one call
this runs, against a wall-clock budget:

1. the CUDA tests (``tests/test_cuda.py``; a JUnit report), then the timing of the Triton GRU
   passes beside the loops they replace (:func:`mifd.perf.kernels.time_gru_states`,
   :func:`mifd.perf.kernels.time_gru_backward`; into the timing file);
2. a probe of the ``wm`` ``paper`` profile on this GPU (a few epochs of a small batch of trials)
   that measures seconds per epoch;
3. the ``wm`` ``paper`` run itself on the trials that fit the remaining budget (the whole 20 per
   condition if they fit; otherwise a *shard*: ``trials`` trials from ``seed``; a trial's result
   does not depend on its batch companions, so shards from several sessions add up to the 20,
   see :func:`mifd.results.merge.combine`);

and writes one results folder (:mod:`mifd.results.exchange`: the runs, ``timing-*.json`` with the
probe, the run's wall time and the projected whole-profile time, the test report) that
``mifd import-results`` checks and copies into ``results/committed``.

``experiment`` (:data:`mifd.gpu.shard.EXPERIMENTS`) runs another experiment built on the working-memory task
the same way (``bimt``: BIMT beside MI minimization at the published sizes; ``penalties``), and
``growing-brains`` (its published-size profile: 400 units on the 20 cognitive tasks; an "epoch"
there is one training step): their trials from the first seed (or ``--set seed=…``), as many
per condition as fit. ``separation`` (one MM step) runs its ``gpu`` profile
(:data:`mifd.gpu.shard.DEFAULT_PROFILES`) planned by measurement instead: all 20 trials per condition kept,
its sequence length and MM steps chosen to fit the budget
(:data:`mifd.gpu.plan.SESSION_PLANS`,
:func:`plan_by_measurement`), and the projected time of the published run recorded.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError
from .plan import PASS_GROUPS, RESERVE, SESSION_PLANS, choose_rung, out_of_memory, plan_ladder
from ..results.store import atomic_write_json, code_version, machine_info, now
from .shard import (COMPARISON, COMPARISON_TRIALS, DEFAULT_PROFILES, EXPERIMENTS,  # noqa: F401
                    check_session_profile, default_profile, next_shard, plan_args)

#: the epochs the probe times after one untimed epoch (graph capture, warm-up)
PROBE_EPOCHS = 3
#: seconds the CUDA tests may take in all (a hung test must not eat the run's budget)
TEST_TIMEOUT = 240
#: seconds the kernel timings may take in all (a pass is skipped once they are spent)
KERNEL_SECONDS = 90


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d")


def probe(experiment: str, cfg: Any, device: str) -> dict:
    """Seconds per epoch of ``cfg`` (all its trials batched) on ``device``: the pre-training
    step and one epoch untimed, then :data:`PROBE_EPOCHS` timed epochs; for separation also
    the seconds of one evaluation; on CUDA the peak memory allocated."""
    from ..perf.harness import unit_for
    name = next(n for n in ("epochs", "steps", "mm_steps") if hasattr(cfg, n))
    if getattr(cfg, name) < 2 + PROBE_EPOCHS:  # a short run is probed as a longer one (its
        cfg = dataclasses.replace(cfg, **{name: 2 + PROBE_EPOCHS})  # last step evaluates)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    u = unit_for(experiment, cfg, device)
    u.step(0)
    u.step(1)
    torch.cuda.synchronize() if device.startswith("cuda") else None
    t1 = time.perf_counter()
    for i in range(2, 2 + PROBE_EPOCHS):
        u.step(i)
    torch.cuda.synchronize() if device.startswith("cuda") else None
    per_epoch = (time.perf_counter() - t1) / PROBE_EPOCHS
    out = {}
    if experiment == "separation":  # evaluates every eval_every MM steps (held-out set)
        t2 = time.perf_counter()
        u._eval(1 + PROBE_EPOCHS)
        out["seconds_per_eval"] = time.perf_counter() - t2
    n = cfg.layout().size
    if cuda:
        out["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
    del u
    if cuda:
        torch.cuda.empty_cache()
    return {"trials_batched": n, "seconds_per_epoch": per_epoch,
            "seconds_per_trial_epoch": per_epoch / n, "setup_seconds": t1 - t0, **out}


def choose_trials(per_epoch_at: float, trials_at: int, epochs: int, seconds: float,
                  most: int) -> int:
    """Trials per condition that fit ``seconds``: the epoch time grows at most linearly with the
    batched trials (measured ``per_epoch_at`` with ``trials_at`` per condition), plus
    :data:`mifd.gpu.plan.RESERVE` for the rest of the run. 0 if not even one fits."""
    per_trial = per_epoch_at / trials_at * epochs * (1 + RESERVE)
    return max(0, min(most, int(seconds // per_trial)))


def plan_by_measurement(experiment: str, profile: str, overrides: dict, device: str,
                        deadline: float, most: int, memory_bytes: float | None = None) -> dict:
    """A session's settings chosen by measurement (:data:`mifd.gpu.plan.SESSION_PLANS`): probe all ``most``
    trials per condition at the plan's short probe settings (after running out of memory: fewer
    statistics-network passes per group, :data:`mifd.gpu.plan.PASS_GROUPS`, then half the trials), then take
    the first rung of :func:`mifd.gpu.plan.plan_ladder` whose projected time and memory fit what is left
    (:func:`mifd.gpu.plan.choose_rung`). If none fits, the trials that fit the last rung, probed again.
    Returns ``{"overrides", "probes", "trials", "rung", "projected_paper_minutes"}`` (trials 0:
    nothing fits; the projection: the published length and steps at ``most`` trials, linear
    in both, from the last probe). ``memory_bytes``: the device's memory (default: as CUDA
    reports it; on a CPU, not checked)."""
    from ..experiments import get_experiment
    exp = get_experiment(experiment)
    plan = SESSION_PLANS[(experiment, profile)]
    ladder = plan_ladder(plan["lengths"], plan["steps"])
    cuda = device.startswith("cuda")
    memory = memory_bytes if memory_bytes is not None else \
        torch.cuda.get_device_properties(device).total_memory if cuda else None
    length_at = plan["probe"]["length"]
    probes: list[dict] = []
    started = time.monotonic()
    k, gi = most, 0
    while True:
        group = PASS_GROUPS[gi]
        over = {**overrides, **plan["probe"], "trials": k, "sm_pass_group": group}
        try:
            pr = probe(experiment, exp.config(profile, over, device), device)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as e:
            if not out_of_memory(e):
                raise
            if cuda:
                torch.cuda.empty_cache()
            probes.append({"trials_per_condition": k, "sm_pass_group": group,
                           "length": length_at, "out_of_memory": True})
            print(f"probe: out of memory at {k} trials per condition, sm_pass_group {group}",
                  flush=True)
            if gi + 1 < len(PASS_GROUPS):
                gi += 1
            elif k > 1:
                k //= 2
            else:
                return {"overrides": overrides, "probes": probes, "trials": 0, "rung": None,
                        "projected_paper_minutes": None}
            continue
        probes.append({**pr, "trials_per_condition": k, "sm_pass_group": group,
                       "length": length_at})
        cfg = exp.config(profile, {**overrides, "trials": k}, device)
        extra = cfg.pre_steps / cfg.sm_per_mm  # the pre-training SM steps, in MM steps
        per_step = pr["seconds_per_epoch"]
        evals = pr.get("seconds_per_eval", 0.0) * (plan["snapshots"] + 2)  # + first, final
        left = deadline - time.monotonic()
        rung = choose_rung(per_step, length_at, pr.get("peak_memory_bytes", 0), left, ladder,
                           memory, extra, evals)
        if rung != choose_rung(per_step, length_at, 0, left, ladder, None, extra, evals) \
                and gi + 1 < len(PASS_GROUPS) and left > 2 * (time.monotonic() - started):
            # memory, not time, holds the run back: probe fewer passes per group
            print(f"probe: memory limits the run at sm_pass_group {group}; probing "
                  f"{PASS_GROUPS[gi + 1]}", flush=True)
            gi += 1
            continue
        projected = pr["seconds_per_epoch"] * plan["lengths"][0] / length_at \
            * plan["steps"][0] * most / k / 60
        print(f"probe: {pr['seconds_per_epoch']:.3f} s per MM step at {k} trials per condition,"
              f" length {length_at}; {left:.0f} s left -> length, steps {rung}", flush=True)
        if rung is not None:
            length, steps = rung
            chosen = {**overrides, "trials": k, "sm_pass_group": group, "length": length,
                      "mm_steps": steps, "eval_every": max(1, steps // plan["snapshots"])}
            return {"overrides": chosen, "probes": probes, "trials": k, "rung": rung,
                    "projected_paper_minutes": projected}
        length, steps = ladder[-1]
        need = (per_step * (steps + extra) + evals) * length / length_at * (1 + RESERVE)
        fit = int(k * left // need)
        if fit < 1 or fit >= k:
            return {"overrides": overrides, "probes": probes, "trials": 0, "rung": None,
                    "projected_paper_minutes": projected}
        k = fit


def training_length(cfg: Any) -> int:
    """Epochs (``wm``-style experiments) or training steps (``growing-brains``) of ``cfg``: what
    a probe's "epoch" (one unit step) counts."""
    for name in ("epochs", "steps", "mm_steps"):
        if hasattr(cfg, name):
            return int(getattr(cfg, name))
    raise ConfigError(f"parameter 'cfg': got {type(cfg).__name__} without epochs or steps")

@dataclasses.dataclass
class _Session:
    """What the phases of :func:`run_session` share: what runs where, the deadline, the log
    and the side files (test report, timing) the results folder brings back."""

    experiment: str
    profile: str
    dev: str
    exp: Any
    overrides: dict
    plan: str
    full: Any  # the config of all the profile's trials
    out: Path
    deadline: float
    planned: bool  # planned by measurement (mifd.gpu.plan.SESSION_PLANS)
    tag: str = ""
    log: dict = dataclasses.field(default_factory=dict)
    side: list = dataclasses.field(default_factory=list)

    def timing_path(self) -> Path:
        return self.out / f"timing-{self.experiment}-{self.profile}-{self.tag}.json"


def run_session(out: Path | str, minutes: float = 8.5, device: str = "cuda",
                profile: str | None = None, overrides: dict | None = None, tests: bool = True,
                probe_trials: int = 8, trials: int | None = None,
                experiment: str = "wm") -> Path:
    """The whole GPU session into the results folder ``out`` (see the module docstring);
    ``profile``: :func:`mifd.gpu.shard.default_profile` unless given."""
    from ..results import exchange
    s = _prepare(out, minutes, device, profile, overrides, trials, experiment)
    if tests:
        _cuda_tests(s)
    if s.dev.startswith("cuda") and importlib.util.find_spec("triton") is not None:
        _time_kernels(s)
    print(f"plan: {s.plan}", flush=True)
    if trials is not None:
        trials = min(trials, s.full.trials)
    if s.plan.startswith("complete"):
        s.log["finished"] = now()
        atomic_write_json(s.timing_path(), s.log)
        exchange.pack(s.out, [], s.side + [s.timing_path()], {"session": s.timing_path().name})
        return s.out
    probes, k = _plan_measured(s) if s.planned else _plan_probed(s, probe_trials, trials)
    s.log["probes"] = probes
    s.log["trials_per_condition"] = k
    entries = _train(s, k) if k > 0 else []
    s.log["finished"] = now()
    s.log["experiment"] = s.experiment
    timing = s.timing_path()
    atomic_write_json(timing, s.log)
    s.side.append(timing)
    exchange.pack(s.out, entries, s.side, {"session": timing.name})
    print(f"wrote {s.out} ({len(list(s.out.iterdir()))} files)", flush=True)
    return s.out


def _prepare(out: Path | str, minutes: float, device: str, profile: str | None,
             overrides: dict | None, trials: int | None, experiment: str) -> _Session:
    """Validate the session's arguments before any work, choose what it trains
    (:func:`mifd.gpu.shard.next_shard`) and make the results folder."""
    from ..experiments import get_experiment
    from ..results.runner import check_kernel, resolve_device
    deadline = time.monotonic() + 60 * minutes
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"parameter 'experiment': got {experiment!r}; allowed: one of "
                          + ", ".join(repr(e) for e in EXPERIMENTS))
    dev = resolve_device(device)
    exp = get_experiment(experiment)
    profile = profile or default_profile(experiment)
    check_session_profile(experiment, profile)
    # planned by measurement unless the caller fixed the length, the steps or the trials
    planned = (experiment, profile) in SESSION_PLANS and trials is None and \
        not {"length", "mm_steps", "trials"} & set(overrides or {})
    overrides = dict(overrides or {})
    check_kernel(exp.config(profile, overrides, dev), dev)  # all validated before any work
    overrides, plan = next_shard(profile, dev, dict(overrides or {}), trials, experiment)
    full = exp.config(profile, overrides, dev)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"parameter '--out': got {out} (not an empty folder); allowed: an "
                          "empty or new folder")
    out.mkdir(parents=True, exist_ok=True)
    s = _Session(experiment, profile, dev, exp, overrides, plan, full, out, deadline, planned)
    s.tag = f"{(machine_info(dev).get('gpu') or dev).split()[-1].lower()}-{_stamp()}"
    s.log = {"started": now(), "device": dev, "machine": machine_info(dev),
             "code": code_version(), "profile": profile, "budget_minutes": minutes,
             "overrides": overrides or {}, "plan": plan}
    return s


def _cuda_tests(s: _Session) -> None:
    """``tests/test_cuda.py`` in a subprocess (at most :data:`TEST_TIMEOUT` seconds), its JUnit
    report a side file."""
    t = time.monotonic()
    xml = s.out / f"cuda-tests-{s.tag}.xml"
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(root / "tests" / "test_cuda.py"), f"--junitxml={xml}"]
    if importlib.util.find_spec("pytest_timeout") is not None:
        cmd.append(f"--timeout={TEST_TIMEOUT // 2}")
    try:
        rc = subprocess.call(cmd, cwd=root, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        rc = "timeout"
    s.log["tests"] = {"returncode": rc, "seconds": time.monotonic() - t, "report": xml.name}
    print(f"CUDA tests: exit {rc} in {s.log['tests']['seconds']:.0f} s", flush=True)
    if xml.exists():
        s.side.append(xml)


def _time_kernels(s: _Session) -> None:
    """The Triton GRU passes timed beside the loops they replace (at most
    :data:`KERNEL_SECONDS`; a failure is logged and the session goes on)."""
    from ..perf.kernels import FULL_BATCH_SIZES, GRU_SIZES, time_gru_backward, time_gru_states
    t = time.monotonic()
    kernels = s.log["kernels"] = {}
    timings = (("gru_states", time_gru_states, GRU_SIZES),
               ("gru_backward", time_gru_backward, GRU_SIZES),
               ("gru_states_full_batch", time_gru_states, FULL_BATCH_SIZES["gru_states"]),
               ("gru_backward_full_batch", time_gru_backward,
                FULL_BATCH_SIZES["gru_backward"]))
    for name, f, sizes in timings:
        if time.monotonic() - t > KERNEL_SECONDS:
            kernels[name] = {"skipped": f"over {KERNEL_SECONDS} s of kernel timing"}
            continue
        try:
            kernels[name] = f(s.dev, **sizes, launches=name.endswith("full_batch"))
        except Exception as e:  # noqa: BLE001 (logged; the session goes on)
            kernels[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        if s.dev.startswith("cuda"):
            torch.cuda.empty_cache()
    kernels["seconds"] = time.monotonic() - t
    print(f"kernels: {json.dumps(kernels)}", flush=True)


def _plan_measured(s: _Session) -> tuple[list, int]:
    """Sequences and steps shortened to fit, trials kept where possible
    (:func:`plan_by_measurement`); if the Triton GRU fails there, planned again with the
    reference loop, said so in the log. Sets the session's overrides; returns the probes and
    the trials per condition."""
    try:
        chosen = plan_by_measurement(s.experiment, s.profile, dict(s.overrides or {}), s.dev,
                                     s.deadline, s.full.trials)
    except Exception as e:  # noqa: BLE001
        if getattr(s.full, "gru_kernel", "torch") == "torch":
            raise
        # the Triton GRU failed here (compiler, resources): the reference loop, said so
        s.log["fallback"] = {"error": f"{type(e).__name__}: {str(e)[:500]}",
                             "gru_kernel": "torch"}
        print(f"probe failed with gru_kernel={s.full.gru_kernel}: {s.log['fallback']['error']};"
              " planning again with the reference loop", flush=True)
        if s.dev.startswith("cuda"):
            torch.cuda.empty_cache()
        s.overrides = {**(s.overrides or {}), "gru_kernel": "torch"}
        try:
            chosen = plan_by_measurement(s.experiment, s.profile, s.overrides, s.dev,
                                         s.deadline, s.full.trials)
        except Exception as e2:  # noqa: BLE001 (e.g. a CUDA context the failure broke)
            s.log["plan_error"] = f"{type(e2).__name__}: {str(e2)[:500]}"
            print(f"planning failed again: {s.log['plan_error']}", flush=True)
            chosen = {"overrides": s.overrides, "probes": [], "trials": 0, "rung": None,
                      "projected_paper_minutes": None}
    s.overrides = chosen["overrides"]
    s.full = s.exp.config(s.profile, {**s.overrides, "trials": s.full.trials}, s.dev)
    s.log["plan_by_measurement"] = {
        "rung": chosen["rung"], "projected_paper_minutes": chosen["projected_paper_minutes"],
        "overrides": s.overrides,
        "rule": "the first (length, MM steps) from the published pair down, each rung "
                "shortening the larger fraction, whose time projected from the probe "
                f"(linear in the length, + {RESERVE:.0%}) and memory fit what is left"}
    return chosen["probes"], chosen["trials"]


def _plan_probed(s: _Session, probe_trials: int, trials: int | None) -> tuple[list, int]:
    """Probe ``probe_trials`` per condition; if fewer trials fit than were probed, probe again
    at that size (``trials``: as many as asked). Returns the probes and the trials."""
    probes = []
    k0 = min(probe_trials, s.full.trials)
    while True:
        pr = probe(s.experiment, s.exp.config(s.profile, {**(s.overrides or {}), "trials": k0},
                                              s.dev), s.dev)
        probes.append({**pr, "trials_per_condition": k0})
        left = s.deadline - time.monotonic()
        k = trials if trials is not None else choose_trials(
            pr["seconds_per_epoch"], k0, training_length(s.full), left, s.full.trials)
        print(f"probe: {pr['seconds_per_epoch']:.3f} s per epoch at {k0} trials per "
              f"condition; {left:.0f} s left -> {k} trials per condition", flush=True)
        if k >= k0 or k == 0 or trials is not None:
            return probes, k
        k0 = k


def _train(s: _Session, k: int) -> list[Path]:
    """The run of ``k`` trials per condition until the deadline (a pause or a failure is logged:
    the folder still brings back what was measured), and its whole-profile projection. Returns
    the store entries to pack."""
    from ..results.runner import RunPaused, run
    from ..results.store import Store
    entries = []
    over = {**(s.overrides or {}), "trials": k}
    store = Store(root=Path(os.environ.get("MIFD_STORE", s.out.parent / "gpu-store")))
    t = time.monotonic()
    try:
        rr = run(s.experiment, s.profile, s.dev, over, store=store, progress=False, verbose=True,
                 max_seconds=max(1.0, s.deadline - time.monotonic()))
        entries.append(rr.path)
        s.log["run"] = {"key": rr.key, "trials_per_condition": k, "seed": rr.config.seed,
                        "wall_seconds": rr.meta.get("wall_seconds"),
                        "epochs": training_length(rr.config), "loaded": rr.loaded}
    except RunPaused as e:
        s.log["run"] = {"paused": str(e), "trials_per_condition": k,
                        "seconds": time.monotonic() - t}
    except Exception as e:  # noqa: BLE001 (the folder still brings back what was measured)
        s.log["run"] = {"error": f"{type(e).__name__}: {str(e)[:500]}",
                        "trials_per_condition": k, "seconds": time.monotonic() - t}
        if s.dev.startswith("cuda"):
            torch.cuda.empty_cache()
    print(f"run: {json.dumps(s.log['run'])}", flush=True)
    r = s.log["run"]
    if "wall_seconds" in r and r["wall_seconds"]:
        full = s.full
        conds = full.layout().size // full.trials
        per = r["wall_seconds"] / (k * conds * training_length(full))
        s.log["projection"] = {
            "seconds_per_trial_epoch_whole_run": per,
            "projected_profile_minutes_at_this_batch": per * full.trials
            * conds * training_length(full) / 60,
            "note": "whole profile = trials × conditions × epochs at the per-trial-epoch "
                    "time of this run (snapshots, evaluation and audit included); larger "
                    "batches are faster per trial, so this is an upper bound"}
    return entries
