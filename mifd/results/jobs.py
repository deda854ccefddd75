"""Long CPU runs in the background: a list of runs, a few processes at a time, one thread each,
each committed as soon as it finishes.

A session lasts three hours; a working-memory shard of 10 trials × 1000 epochs takes about 80
minutes of one core. Runs therefore go out as separate processes, one per core and one thread
each (two processes with torch's default two threads on two cores, beside other work, ran at
about an eighth of the one-thread speed), and each
is copied to ``results/committed`` the moment it finishes, so that what a session finishes is
kept whatever happens to the rest. :func:`planned` is the list the open work needs (issue 39):
the shards of the screen (:data:`mifd.paper.persistence.SCREEN`) and of the 20-trial no-MI
condition, our side of the comparison with the authors' code, the ``wm-mechanism`` runs, the
audit, the variants and the experiments built on the working-memory loop — those not committed
yet; :func:`select` cuts the list for one worktree or core (``mifd jobs --only TEXT``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import ConfigError
from ..experiments import get_experiment
from . import stored
from .store import Store


@dataclass(frozen=True)
class Job:
    """One run: ``mifd run EXPERIMENT --profile PROFILE --set …`` (``sets``: ``key=value``)."""

    experiment: str
    profile: str
    overrides: tuple[tuple[str, Any], ...]
    label: str = ""

    def sets(self) -> list[str]:
        return stored.sets(dict(self.overrides))

    def command(self) -> list[str]:
        cmd = ["run", self.experiment, "--profile", self.profile, "--device", "cpu",
               "--no-progress", "--out", str(Path("_build") / "jobs" / self.name())]
        for s in self.sets():
            cmd += ["--set", s]
        return cmd

    def key(self) -> str:
        return stored.key(self.experiment, self.profile, dict(self.overrides))

    def name(self) -> str:
        return f"{self.experiment}-{self.key()}"


def planned(profile: str = "book", store: Store | None = None) -> list[Job]:
    """The runs the open work needs that are not committed yet (see the module's text), in the
    order they are needed: the default 20-trial run (its MI shards, then its no-MI shards), our
    side of the comparison with the authors' code, the rest of the screen, the mechanism runs,
    the audit of the 20-trial run, the variants at 1000 epochs, and BIMT and the penalties with
    the defaults."""
    from ..paper import authors, mechanism, persistence, variants
    store = store or Store()
    jobs = []
    screen = [Job("wm", profile, tuple(persistence._shard_overrides(over, seed, trials).items()),
                  label)
              for label, (over, parts) in persistence.SCREEN.items() for seed, trials in parts]
    first = len(next(iter(persistence.SCREEN.values()))[1])
    jobs += screen[:first]
    for seed, trials in persistence.NO_MI_SHARDS:
        jobs.append(Job("wm", profile, (("conditions", ("no_mi",)), ("seed", seed),
                                        ("trials", trials)), "no-MI condition, the default"))
    jobs += [Job("wm", profile, tuple(authors.ours_overrides(seed, trials).items()),
                 "the authors' settings (all sequences and samples per SM step), ours")
             for seed, trials in authors.OURS_SHARDS]
    jobs += screen[first:]
    # the experiments built on the loop, with the defaults named (their book profiles may
    # still name the settings of their committed runs until these are in)
    defaults = wm_defaults()
    for label, over in mechanism.RUNS.items():
        jobs.append(Job("wm-mechanism", profile, tuple({**defaults, **over}.items()),
                        f"mechanism, {label}"))
    trials = get_experiment("wm").config(profile).trials
    jobs.append(Job("wm-audit", profile, (("trials", trials), *defaults.items()),
                    f"audit of the {trials}-trial run"))
    base = variants.BASE.get(profile, {})
    jobs += [Job("wm", profile, tuple({**base, **over}.items()), f"variant: {name}")
             for name, (over, _) in variants.VARIANTS.items()]
    jobs.append(Job("bimt", profile, tuple(defaults.items()), "BIMT"))
    jobs += condition_part_jobs("penalties", profile, defaults, "penalties")
    out, seen = [], set()
    for j in jobs:  # a variant may be a setting of the screen: once
        if j.key() not in seen and store.committed_entry(j.experiment, j.key()) is None:
            seen.add(j.key())
            out.append(j)
    return out


#: experiments planned as condition parts, with how many (all 20 penalty conditions × 5 trials
#: in one process held 20 GB and was killed for memory; a part of 3–4 conditions holds ≈ 4 GB)
PARTS = {"penalties": 6}


def condition_part_jobs(experiment: str, profile: str, overrides: dict[str, Any],
                        label: str) -> list[Job]:
    """``experiment``'s run as :data:`PARTS` jobs of consecutive conditions
    (:func:`mifd.results.parts.split_conditions`), each run and committed on its own; loading
    the whole config assembles them (:func:`mifd.results.parts.condition_parts`)."""
    from ..config import parse_set
    from .parts import split_conditions
    cfg = get_experiment(experiment).config(profile, parse_set(stored.sets(overrides)))
    split = split_conditions(cfg, PARTS.get(experiment, 1))
    return [Job(experiment, profile, tuple({**overrides, **part}.items()),
                f"{label} (part {i + 1}/{len(split)})") for i, part in enumerate(split)]


def wm_defaults() -> dict[str, Any]:
    """The working-memory loop's defaults of the settings that changed with issue 39 (RMSprop's
    ε placement, the critic's biases: :data:`mifd.paper.options.NAMED_SETTINGS`)."""
    from ..experiments.wm import WMConfig
    from ..paper.options import NAMED_SETTINGS
    return {f: getattr(WMConfig(), f) for f in NAMED_SETTINGS}


def select(jobs: Sequence[Job], only: str | None, skip: str | None = None) -> list[Job]:
    """The jobs whose label or name contains ``only`` (all when ``None``) and not ``skip``: a
    queue split across worktrees or cores."""
    def has(j: Job, text: str) -> bool:
        return text in j.label or text in j.name()
    return [j for j in jobs if (only is None or has(j, only)) and (skip is None or not has(j, skip))]


def run_jobs(jobs: Sequence[Job], parallel: int = 2, store: Store | None = None,
             report: Callable[[str], None] = print, poll: float = 5.0) -> int:
    """Run ``jobs`` as ``parallel`` processes at a time (one thread each), commit each that
    finishes (:func:`mifd.results.runner.commit_results`); a failed job is reported and the others go
    on. Returns the number of failed jobs. An interrupted job resumes when run again."""
    from .runner import commit_results
    for job in jobs:  # every config valid before anything starts (one-line ConfigError)
        job.key()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MIFD_PROGRESS": "0"}
    if store is not None:
        env["MIFD_STORE"] = str(store.root)
    logs = Path("_build") / "jobs"
    logs.mkdir(parents=True, exist_ok=True)

    def start(job: Job) -> tuple[subprocess.Popen, Any, str]:
        log = open(logs / f"{job.name()}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "mifd.cli", *job.command()], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        report(f"started   {job.name()}  {job.label}: {' '.join(job.sets())}")
        return proc, log, job.name()

    def done(job: Job) -> None:
        path = commit_results(job.experiment, job.profile, dict(job.overrides), store=store,
                              device="cpu")
        report(f"committed {job.name()} -> {path}")

    return run_processes(jobs, parallel, start, done, report, poll)


#: the exit statuses of an interrupted run (``mifd`` exits 130 after Ctrl-C; -2: killed by
#: SIGINT before its handler ran)
INTERRUPTED = (130, -2)


def run_processes(items: Sequence[Any], parallel: int,
                  start: Callable[[Any], tuple[subprocess.Popen, Any, str]],
                  done: Callable[[Any], None], report: Callable[[str], None] = print,
                  poll: float = 5.0) -> int:
    """``items`` as processes, ``parallel`` at a time: ``start(item)`` launches one and returns
    ``(process, its open log file, its name)``; when it exits with 0, ``done(item)`` keeps its
    result (a ``ConfigError`` or ``OSError`` it raises counts the item as failed). A failed item
    is reported and the others go on; an interrupted one (exit :data:`INTERRUPTED`: Ctrl-C,
    its checkpoint saved) stops the start of further items — those running finish. Returns the
    number of failed (or interrupted) items."""
    todo, running, failed = list(items), [], 0
    while todo or running:
        while todo and len(running) < parallel:
            item = todo.pop(0)
            running.append((item, *start(item)))
        for entry in list(running):
            item, proc, log, name = entry
            if proc.poll() is None:
                continue
            running.remove(entry)
            log.close()
            if proc.returncode in INTERRUPTED:
                failed += 1
                if todo:
                    report(f"stopping: {len(todo)} not started")
                todo.clear()
                report(f"INTERRUPTED {name} (its checkpoint resumes it; {log.name})")
                continue
            if proc.returncode:
                failed += 1
                report(f"FAILED    {name} (exit {proc.returncode}; {log.name})")
                continue
            try:
                done(item)
            except (ConfigError, OSError) as e:  # a damaged result, a full disk, git refusing
                failed += 1
                report(f"FAILED    {name}: {e}")
        if running:
            time.sleep(poll)
    return failed


def run_parts(experiment: str, profile: str, device: str, sets: Sequence[str], parts: int,
              force: bool = False, max_minutes: str | None = None, refresh: bool = False,
              store: Store | None = None, report: Callable[[str], None] = print,
              poll: float = 5.0) -> int:
    """Run ``experiment``'s conditions as ``parts`` processes (``mifd run`` with the part's
    ``--set conditions=… --set sweep_l2=…``: :func:`mifd.results.parts.split_conditions`), one
    thread each and at most one per core at a time (:func:`run_processes`: a part of the
    penalties holds ≈ 4 GB), each resumable on its own and logged to its ``--out`` folder.
    Nothing starts where the store already holds the config's run, whole or in parts of any
    split (:func:`mifd.results.parts.finished`; with ``refresh`` only results of this code),
    unless ``force``. Returns the first non-zero exit status of a part, else 0;
    :func:`mifd.run` then assembles them."""
    from ..config import parse_set
    from .parts import finished, split_conditions
    from .runner import resolve_device
    cfg = get_experiment(experiment).config(profile, parse_set(list(sets)),
                                            resolve_device(device))
    split = split_conditions(cfg, parts)  # a bad number refused before anything starts
    if not force and finished(experiment, cfg, store, current_only=refresh):
        report(f"mifd: {experiment}: the store holds this run"
               + (" (made or reproduced by this code)" if refresh else "") + ": no part to run")
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MIFD_PROGRESS": "0"}
    if store is not None:
        env["MIFD_STORE"] = str(store.root)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    procs: list[subprocess.Popen] = []

    def start(i: int) -> tuple[subprocess.Popen, Any, str]:
        out = Path("_build") / "parts" / experiment / str(i)
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "mifd.cli", "run", experiment, "--profile", profile,
               "--device", device, "--no-progress", "--out", str(out)]
        own = [f"{k}=" + ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals)
               for k, vals in split[i].items()]
        for s in [*sets, *own]:
            cmd += ["--set", s]
        cmd += ["--force"] if force else ["--refresh"] if refresh else []
        cmd += ["--max-minutes", str(max_minutes)] if max_minutes is not None else []
        log = open(out / "log.txt", "w")
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
        sweeps = "".join(f", {k} " + ", ".join(map(str, v)) for k, v in split[i].items()
                         if k != "conditions" and v)
        report(f"mifd: part {i + 1}/{len(split)}: conditions "
               f"{', '.join(split[i]['conditions'])}{sweeps} (log: {log.name})")
        return procs[-1], log, f"part {i + 1}/{len(split)}"

    run_processes(range(len(split)), max(1, min(cores or 1, len(split))), start,
                  lambda i: None, report, poll)
    return next((p.returncode for p in procs if p.returncode), 0)
