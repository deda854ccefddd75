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
   see :func:`mifd.results.shards.combine`);

and writes one results folder (:mod:`mifd.results.exchange`: the runs, ``timing-*.json`` with the
probe, the run's wall time and the projected whole-profile time, the test report) that
``mifd import-results`` checks and copies into ``results/committed``.

``experiment`` (:data:`EXPERIMENTS`) runs another experiment built on the working-memory task
the same way (``bimt``: BIMT beside MI minimization at the published sizes; ``penalties``), and
``growing-brains`` (its published-size profile: 400 units on the 20 cognitive tasks; an "epoch"
there is one training step): their trials from the first seed (or ``--set seed=…``), as many
per condition as fit. ``separation`` (one MM step) runs its ``gpu`` profile
(:data:`DEFAULT_PROFILES`) planned by measurement instead: all 20 trials per condition kept,
its sequence length and MM steps chosen to fit the budget
(:data:`mifd.gpu.plan.SESSION_PLANS`,
:func:`plan_by_measurement`), and the projected time of the published run recorded.
"""

from __future__ import annotations

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
    import dataclasses

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


#: the experiments a session can run: the working-memory task's, stepped one epoch at a time,
#: Growing Brains (one training step) and chaotic separation (one MM step)
EXPERIMENTS = ("wm", "bimt", "penalties", "growing-brains", "separation")
#: the profile a session runs when the caller names none: ``paper`` (its trials sharded over
#: sessions), or the profile made for one GPU call where the published run cannot be sharded
#: into calls (separation: 34 GPU-hours, ≈ 2 h per trial)
DEFAULT_PROFILES = {"separation": "gpu"}


def default_profile(experiment: str) -> str:
    """The profile a session of ``experiment`` runs unless told (:data:`DEFAULT_PROFILES`)."""
    return DEFAULT_PROFILES.get(experiment, "paper")


def check_session_profile(experiment: str, profile: str) -> None:
    """Refuse, in one line, a profile that no session can run: the ``paper`` profile of an
    experiment whose session runs another (:data:`DEFAULT_PROFILES`), since one of its trials
    alone outlasts a call."""
    if profile == "paper" and DEFAULT_PROFILES.get(experiment, "paper") != "paper":
        raise ConfigError(f"parameter 'profile': got 'paper' for a {experiment} GPU session "
                          "(the published run takes GPU-hours and cannot be split into calls); "
                          f"allowed: {DEFAULT_PROFILES[experiment]!r} (the default)")


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

#: trials per condition of the comparison run at the other critic precision (TF32 beside the
#: profile's fp32: the authors' wm runs set NVIDIA_TF32_OVERRIDE=0, so TF32 is a measured option)
COMPARISON_TRIALS = 4
#: the precision each profile precision is compared with
COMPARISON = {"fp32": "tf32", "tf32": "fp32"}


def next_shard(profile: str, device: str, overrides: dict, trials: int | None,
               experiment: str = "wm") -> tuple[dict, str]:
    """What this session should train when the caller names no seed: the next consecutive
    seeds after the committed shards of the profile (as it runs on ``device``); once all of
    its trials are committed, the precision comparison (:data:`COMPARISON_TRIALS` trials per
    condition from the first seed at the other precision, :data:`COMPARISON`); once that is
    committed too, nothing. Returns the overrides (``seed``, ``trials`` = the most that may
    run) and a one-line plan."""
    from ..experiments import get_experiment
    from ..results.shards import committed_shards
    if "seed" in overrides:
        return overrides, f"as asked: seed {overrides['seed']}"
    if experiment != "wm":
        return overrides, f"{experiment} from the first seed"
    exp = get_experiment("wm")
    cfg = exp.config(profile, overrides, device)
    if not device.startswith("cuda"):
        return overrides, "from the first seed (not on CUDA: no committed shards to continue)"
    done = committed_shards("wm", profile, "cuda", where={"sm_precision": cfg.sm_precision})
    have = done.config.trials if done is not None else 0
    if have < cfg.trials:
        seed = cfg.seed + have
        n = cfg.trials - have if trials is None else min(trials, cfg.trials - have)
        return ({**overrides, "seed": seed, "trials": n},
                f"the next shard: seeds from {seed} ({have} of {cfg.trials} per condition "
                "committed)")
    other = COMPARISON.get(cfg.sm_precision)
    if other is not None and "sm_precision" not in overrides:
        cmp_run = committed_shards("wm", profile, "cuda", where={"sm_precision": other})
        if cmp_run is None or cmp_run.config.trials < COMPARISON_TRIALS:
            have_o = cmp_run.config.trials if cmp_run is not None else 0
            return ({**overrides, "sm_precision": other, "seed": cfg.seed + have_o,
                     "trials": COMPARISON_TRIALS - have_o},
                    f"all {cfg.trials} trials committed; the {other} comparison "
                    f"({have_o} of {COMPARISON_TRIALS} per condition committed)")
    return overrides, "complete: nothing to train"


def plan_args(profile: str | None = None, overrides: dict | None = None,
              experiment: str = "wm") -> list[str]:
    """The arguments of a GPU session (``GPU_ARGS``) planned here, from the committed results,
    for a call whose tree travels without them (:mod:`mifd.gpu.tree`): the experiment and every
    override :func:`next_shard` chooses, as ``--set``. Refused in one line when nothing is left
    to train."""
    profile = profile or default_profile(experiment)
    check_session_profile(experiment, profile)
    over, plan = next_shard(profile, "cuda", dict(overrides or {}), None, experiment)
    if plan.startswith("complete"):
        raise ConfigError(f"parameter 'experiment': got {experiment!r} with every trial of its "
                          f"{profile!r} profile committed; allowed: another experiment or "
                          "--set seed=… by hand")
    args = [] if experiment == "wm" else ["--experiment", experiment]
    args += [] if profile == default_profile(experiment) else ["--profile", profile]
    for k, v in over.items():
        v = ",".join(map(repr if isinstance(v, float) else str, v)) \
            if isinstance(v, (tuple, list)) else (repr(v) if isinstance(v, float) else str(v))
        args += ["--set", f"{k}={v}"]
    return args


def run_session(out: Path | str, minutes: float = 8.5, device: str = "cuda",
                profile: str | None = None, overrides: dict | None = None, tests: bool = True,
                probe_trials: int = 8, trials: int | None = None,
                experiment: str = "wm") -> Path:
    """The whole GPU session into the results folder ``out`` (see the module docstring);
    ``profile``: :func:`default_profile` unless given."""
    from ..results import exchange
    from ..experiments import get_experiment
    from ..results.runner import RunPaused, check_kernel, resolve_device, run
    from ..results.store import Store
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
    tag = f"{(machine_info(dev).get('gpu') or dev).split()[-1].lower()}-{_stamp()}"
    log: dict[str, Any] = {"started": now(), "device": dev, "machine": machine_info(dev),
                           "code": code_version(), "profile": profile, "budget_minutes": minutes,
                           "overrides": overrides or {}, "plan": plan}
    side = []
    if tests:
        t = time.monotonic()
        xml = out / f"cuda-tests-{tag}.xml"
        root = Path(__file__).resolve().parents[2]
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(root / "tests" / "test_cuda.py"), f"--junitxml={xml}"]
        if importlib.util.find_spec("pytest_timeout") is not None:
            cmd.append(f"--timeout={TEST_TIMEOUT // 2}")
        try:
            rc = subprocess.call(cmd, cwd=root, timeout=TEST_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = "timeout"
        log["tests"] = {"returncode": rc, "seconds": time.monotonic() - t, "report": xml.name}
        side.append(xml)
        print(f"CUDA tests: exit {rc} in {log['tests']['seconds']:.0f} s", flush=True)
        if not xml.exists():
            side.remove(xml)
    if dev.startswith("cuda") and importlib.util.find_spec("triton") is not None:
        from ..perf.kernels import FULL_BATCH_SIZES, GRU_SIZES, time_gru_backward, time_gru_states
        t = time.monotonic()
        log["kernels"] = {}
        timings = (("gru_states", time_gru_states, GRU_SIZES),
                   ("gru_backward", time_gru_backward, GRU_SIZES),
                   ("gru_states_full_batch", time_gru_states, FULL_BATCH_SIZES["gru_states"]),
                   ("gru_backward_full_batch", time_gru_backward,
                    FULL_BATCH_SIZES["gru_backward"]))
        for name, f, sizes in timings:  # the Triton GRU beside the loops it replaces
            if time.monotonic() - t > KERNEL_SECONDS:
                log["kernels"][name] = {"skipped": f"over {KERNEL_SECONDS} s of kernel timing"}
                continue
            try:
                log["kernels"][name] = f(dev, **sizes, launches=name.endswith("full_batch"))
            except Exception as e:  # noqa: BLE001 (logged; the session goes on)
                log["kernels"][name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            if dev.startswith("cuda"):
                torch.cuda.empty_cache()
        log["kernels"]["seconds"] = time.monotonic() - t
        print(f"kernels: {json.dumps(log['kernels'])}", flush=True)
    print(f"plan: {plan}", flush=True)
    if trials is not None:
        trials = min(trials, full.trials)
    if plan.startswith("complete"):
        log["finished"] = now()
        timing = out / f"timing-{experiment}-{profile}-{tag}.json"
        atomic_write_json(timing, log)
        exchange.pack(out, [], side + [timing], {"session": timing.name})
        return out
    probes = []
    k0 = min(probe_trials, full.trials)
    if planned:  # sequences and steps shortened to fit, trials kept where possible
        try:
            chosen = plan_by_measurement(experiment, profile, dict(overrides or {}), dev,
                                         deadline, full.trials)
        except Exception as e:  # noqa: BLE001
            if getattr(full, "gru_kernel", "torch") == "torch":
                raise
            # the Triton GRU failed here (compiler, resources): the reference loop, said so
            log["fallback"] = {"error": f"{type(e).__name__}: {str(e)[:500]}",
                               "gru_kernel": "torch"}
            print(f"probe failed with gru_kernel={full.gru_kernel}: {log['fallback']['error']};"
                  " planning again with the reference loop", flush=True)
            if dev.startswith("cuda"):
                torch.cuda.empty_cache()
            overrides = {**(overrides or {}), "gru_kernel": "torch"}
            try:
                chosen = plan_by_measurement(experiment, profile, overrides, dev, deadline,
                                             full.trials)
            except Exception as e2:  # noqa: BLE001 (e.g. a CUDA context the failure broke)
                log["plan_error"] = f"{type(e2).__name__}: {str(e2)[:500]}"
                print(f"planning failed again: {log['plan_error']}", flush=True)
                chosen = {"overrides": overrides, "probes": [], "trials": 0, "rung": None,
                          "projected_paper_minutes": None}
        probes, k = chosen["probes"], chosen["trials"]
        overrides = chosen["overrides"]
        full = exp.config(profile, {**overrides, "trials": full.trials}, dev)
        log["plan_by_measurement"] = {
            "rung": chosen["rung"], "projected_paper_minutes": chosen["projected_paper_minutes"],
            "overrides": overrides,
            "rule": "the first (length, MM steps) from the published pair down, each rung "
                    "shortening the larger fraction, whose time projected from the probe "
                    f"(linear in the length, + {RESERVE:.0%}) and memory fit what is left"}
    else:
        while True:  # probe; if fewer trials fit than were probed, probe again at that size
            pr = probe(experiment, exp.config(profile, {**(overrides or {}), "trials": k0},
                                              dev), dev)
            probes.append({**pr, "trials_per_condition": k0})
            left = deadline - time.monotonic()
            k = trials if trials is not None else choose_trials(
                pr["seconds_per_epoch"], k0, training_length(full), left, full.trials)
            print(f"probe: {pr['seconds_per_epoch']:.3f} s per epoch at {k0} trials per "
                  f"condition; {left:.0f} s left -> {k} trials per condition", flush=True)
            if k >= k0 or k == 0 or trials is not None:
                break
            k0 = k
    log["probes"] = probes
    log["trials_per_condition"] = k
    entries = []
    if k > 0:
        over = {**(overrides or {}), "trials": k}
        store = Store(root=Path(os.environ.get("MIFD_STORE", out.parent / "gpu-store")))
        t = time.monotonic()
        try:
            rr = run(experiment, profile, dev, over, store=store, progress=False, verbose=True,
                     max_seconds=max(1.0, deadline - time.monotonic()))
            entries.append(rr.path)
            log["run"] = {"key": rr.key, "trials_per_condition": k, "seed": rr.config.seed,
                          "wall_seconds": rr.meta.get("wall_seconds"),
                          "epochs": training_length(rr.config), "loaded": rr.loaded}
        except RunPaused as e:
            log["run"] = {"paused": str(e), "trials_per_condition": k,
                          "seconds": time.monotonic() - t}
        except Exception as e:  # noqa: BLE001 (the folder still brings back what was measured)
            log["run"] = {"error": f"{type(e).__name__}: {str(e)[:500]}",
                          "trials_per_condition": k, "seconds": time.monotonic() - t}
            if dev.startswith("cuda"):
                torch.cuda.empty_cache()
        print(f"run: {json.dumps(log['run'])}", flush=True)
        r = log["run"]
        if "wall_seconds" in r and r["wall_seconds"]:
            conds = full.layout().size // full.trials
            per = r["wall_seconds"] / (k * conds * training_length(full))
            log["projection"] = {
                "seconds_per_trial_epoch_whole_run": per,
                "projected_profile_minutes_at_this_batch": per * full.trials
                * conds * training_length(full) / 60,
                "note": "whole profile = trials × conditions × epochs at the per-trial-epoch "
                        "time of this run (snapshots, evaluation and audit included); larger "
                        "batches are faster per trial, so this is an upper bound"}
    log["finished"] = now()
    log["experiment"] = experiment
    timing = out / f"timing-{experiment}-{profile}-{tag}.json"
    atomic_write_json(timing, log)
    side.append(timing)
    exchange.pack(out, entries, side, {"session": timing.name})
    print(f"wrote {out} ({len(list(out.iterdir()))} files)", flush=True)
    return out
