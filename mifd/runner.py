"""Run an experiment by name and profile: load it from the results store or train it, resumably.

An experiment module registers an :class:`Experiment`: a config dataclass, the overrides that
make each profile, and a ``train(cfg, device, ckpt, progress)`` function that returns a result
dict containing ``"trials"``: ``{condition: {metric: [one value per trial]}}`` (the basis of
``summary.json``) plus whatever arrays its chapter plots.

``train`` calls ``ckpt.resume()`` once to get its saved state (or ``None``) and
``ckpt.save(state)`` at the end of each unit of work; the checkpointer writes at most every
``MIFD_CHECKPOINT_SECONDS`` (default 30) seconds, and always on ``force=True``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from . import __version__
from .allocator import default_for_runs, retain_freed_memory
from .config import (ConfigError, apply_overrides, check_device, check_profile, config_hash,
                     to_dict)
from .store import Entry, Store, atomic_write_json, code_version, machine_info, now

EXPERIMENTS: dict[str, "Experiment"] = {}


@dataclass
class Experiment:
    name: str
    config_cls: type
    profiles: dict[str, dict[str, Any]]
    train: Callable[..., dict]
    doc: str = ""
    #: per profile, the settings it takes on a CUDA device (e.g. TF32 critic matmuls for
    #: ``paper``, as TensorFlow uses on Ampere-or-newer GPUs); applied before ``overrides``
    cuda_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def config(self, profile: str = "book", overrides: Mapping[str, Any] | None = None,
               device: str | None = None) -> Any:
        """The full, validated config of ``profile`` with ``overrides`` applied. ``device``
        (``cpu``, ``cuda``, ``cuda:N``; ``None``: as on a CPU) selects the profile's CUDA
        settings (``cuda_profiles``), which ``overrides`` can still change."""
        check_profile(profile)
        cfg = apply_overrides(self.config_cls(), self.profiles.get(profile, {}))
        if device is not None and str(device).startswith("cuda"):
            cfg = apply_overrides(cfg, self.cuda_profiles.get(profile, {}))
        return apply_overrides(cfg, overrides or {})


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS[exp.name] = exp
    return exp


def get_experiment(name: str) -> Experiment:
    from . import experiments  # noqa: F401  (registers the built-in experiments)
    if name not in EXPERIMENTS:
        raise ConfigError(f"parameter 'experiment': got {name!r}; allowed: one of "
                          + ", ".join(repr(n) for n in sorted(EXPERIMENTS)))
    return EXPERIMENTS[name]


def resolve_device(device: str = "auto") -> str:
    check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("parameter 'device': got 'cuda'; allowed: 'auto' or 'cpu' "
                          "(no CUDA device is available here)")
    return device


def check_parameters(profile: str, device: str = "auto", note: str = "") -> str:
    """Validate a notebook's injected ``profile`` and ``device`` (one-line :class:`~mifd.ConfigError`
    otherwise), print them, and return the device that will be used."""
    check_profile(profile)
    dev = resolve_device(device)
    print(f"profile: {profile} · device: {dev}" + (f" ({note})" if note else ""))
    return dev


def progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("MIFD_PROGRESS", "1") not in ("0", "false", "no")


class RunPaused(Exception):
    """A run stopped at its time budget (``max_seconds``) with a checkpoint: run it again to
    continue from there."""


class RunInterrupted(RunPaused):
    """Ctrl-C (SIGINT) during a run: the step in progress was finished and checkpointed; run
    the same command again to continue."""


@contextmanager
def _finish_step_on_interrupt() -> Iterator[dict]:
    """While open, a first SIGINT only sets ``flag["hit"]`` (the caller finishes its step and
    checkpoints); a second one interrupts at once. Outside the main thread: no change."""
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    old = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if flag["hit"]:
            signal.signal(signal.SIGINT, old)
            raise KeyboardInterrupt
        flag["hit"] = True
        print("\nmifd: interrupted: finishing the current step and saving a checkpoint "
              "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old)


class Checkpointer:
    """Throttled, atomic checkpoints of a run's state in its store entry; with
    ``max_seconds``, the run is paused (checkpoint, then :class:`~mifd.runner.RunPaused`) once
    the budget is spent."""

    def __init__(self, entry: Entry, every_seconds: float | None = None,
                 max_seconds: float | None = None):
        self.entry = entry
        if every_seconds is None:
            every_seconds = float(os.environ.get("MIFD_CHECKPOINT_SECONDS", "30"))
        self.every = every_seconds
        self._last = time.monotonic()
        self.deadline = None if max_seconds is None else self._last + max_seconds
        self._start = self._last
        self.prior_seconds = 0.0   # training time of earlier calls (from the checkpoint)
        self.resumed_from: Any = None

    def elapsed(self) -> float:
        """Training seconds of the whole run so far, earlier calls included."""
        return self.prior_seconds + time.monotonic() - self._start

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def resume(self) -> Any | None:
        state = self.entry.load_checkpoint()
        self.resumed_from = None if state is None else state.get("step", True)
        if state is not None:
            self.prior_seconds = float(state.get("elapsed_seconds", 0.0))
        return state

    def due(self) -> bool:
        return self.every <= 0 or time.monotonic() - self._last >= self.every

    def save(self, state: dict, force: bool = False) -> bool:
        if force or self.due():
            self.entry.save_checkpoint({**state, "elapsed_seconds": self.elapsed()})
            self._last = time.monotonic()
            return True
        return False


def summarize(trials: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per condition and metric: mean, sd (ddof = 1) and n over trials (non-finite dropped;
    ``None`` where undefined, so the JSON stays valid)."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for cond, metrics in trials.items():
        out[cond] = {}
        for m, vals in metrics.items():
            v = np.asarray(vals, dtype=float).ravel()
            v = v[np.isfinite(v)]
            out[cond][m] = {"mean": float(v.mean()) if v.size else None,
                            "sd": float(v.std(ddof=1)) if v.size > 1 else None,
                            "n": int(v.size)}
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
                f"finished {m.get('finished', '?')}, {m.get('wall_seconds', float('nan')):.0f} s")


def check_out(out: str | Path) -> None:
    """Refuse, before any work, an ``out`` folder that is a file or cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"parameter 'out': got {str(out)!r} (a file); allowed: a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".mifd-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"parameter 'out': got {str(out)!r} ({e.strerror or e}); allowed: a "
                          "folder this user can write") from None


def check_finite(result: Mapping[str, Any], conditions: Sequence[str] = ()) -> None:
    """Refuse a finished result whose networks are not finite: any non-finite value in its
    ``weights``, or in the last recorded task or regularization loss of a trial (``hist``).
    Raises :class:`mifd.mine.NonFiniteError` naming the trials (and conditions)."""
    from .mine import NonFiniteError
    bad: set[int] = set()
    hist = result.get("hist", {})
    T = None
    for k in ("task", "reg"):
        v = hist.get(k)
        if v is not None and np.asarray(v).ndim == 2:
            v = np.asarray(v, dtype=float)
            T = v.shape[1]
            bad |= set(np.flatnonzero(~np.isfinite(v[-1])).tolist())
    weights = result.get("weights", {})
    broken = [k for k, w in weights.items() if not np.isfinite(np.asarray(w, dtype=float)).all()]
    if not bad and not broken:
        return
    def name(t: int) -> str:
        if conditions and T and T % len(conditions) == 0:
            k = T // len(conditions)
            return f"{t} ({conditions[t // k]} trial {t % k})"
        return str(t)
    which = ", ".join(name(t) for t in sorted(bad)) or "unknown trial(s)"
    raise NonFiniteError(f"non-finite network after training in trial(s) {which}"
                         + (f" (weights {', '.join(broken)})" if broken else "")
                         + "; the result is not stored (lower lambda_mi, l2 or the learning "
                         "rates, or check the inputs)")


def run(experiment: str, profile: str = "book", device: str = "auto",
        overrides: Mapping[str, Any] | None = None, *, out: str | Path | None = None,
        store: Store | None = None, progress: bool | None = None, force: bool = False,
        verbose: bool = True, max_seconds: float | None = None) -> RunResult:
    """Train ``experiment`` under ``profile`` (or load it from the store) and summarize it.

    Parameters are validated first; a bad one raises :class:`~mifd.ConfigError` before anything is
    written. ``force=True`` retrains even if a finished result is stored. ``max_seconds`` bounds
    this call's training time: past it the run checkpoints and raises
    :class:`~mifd.runner.RunPaused`; the same call again resumes (a long GPU job in chunks).
    """
    if max_seconds is not None and not max_seconds >= 0:
        raise ConfigError(f"parameter 'max_seconds': got {max_seconds!r}; allowed: a number >= 0")
    exp = get_experiment(experiment)
    dev = resolve_device(device)
    cfg = exp.config(profile, overrides, dev)
    if hasattr(cfg, "sm_precision"):
        from .adversarial import check_precision
        check_precision(cfg.sm_precision, dev)
    if getattr(cfg, "graph_sm_pass", False):
        from .graphs import check_graph_device
        check_graph_device(dev)
    if out is not None:
        check_out(out)
    retain = dev == "cpu" and default_for_runs()  # see mifd.allocator
    store = store or Store()
    key = config_hash(exp.name, cfg, __version__)
    entry = store.entry(exp.name, key)
    result = None if force else entry.load_result()
    loaded = result is not None
    if result is None:
        entry = Entry(store.root / exp.name / key)  # the writable one (not a committed layer)
        with entry_lock(entry.path, key) as waited:
            if waited and not force:  # the other process may have finished it
                result = entry.load_result()
                loaded = result is not None
            if result is None and force and entry.checkpoint_path.exists():
                entry.checkpoint_path.unlink()  # --force: from scratch, not from a checkpoint
            if result is None:
                result = _train(exp, cfg, dev, profile, key, entry, store, progress,
                                max_seconds, retain)
    meta = entry.meta()
    meta = entry.meta()
    summary = summarize(result["trials"])
    rr = RunResult(exp.name, profile, cfg, key, result, meta, summary, loaded, entry.path)
    if out is not None:
        out = Path(out)
        atomic_write_json(out / "summary.json", {"experiment": exp.name, "profile": profile,
                                                 "key": key, "conditions": summary,
                                                 "provenance": meta})
    if verbose:
        print(rr.describe())
    return rr


def _train(exp: Experiment, cfg: Any, dev: str, profile: str, key: str, entry: Entry,
           store: Store, progress: bool | None, max_seconds: float | None, retain: bool) -> dict:
    """Train (or resume) one run into ``entry`` and store it with its provenance."""
    store.init_entry(entry, {"experiment": exp.name, "profile": profile, "key": key,
                             "config": to_dict(cfg), "mifd": __version__})
    ckpt = Checkpointer(entry, max_seconds=max_seconds)
    retain = retain and retain_freed_memory()
    t0 = time.time()
    started = now()
    code = code_version()  # the code that runs, not what the checkout holds when it ends
    result = exp.train(cfg, dev, ckpt, progress_enabled(progress))
    check_finite(result, getattr(cfg, "conditions", ()))
    meta = {"experiment": exp.name, "profile": profile, "key": key, "config": to_dict(cfg),
            "code": code, "machine": machine_info(dev), "started": started,
            "finished": now(), "wall_seconds": ckpt.elapsed(),
            "wall_seconds_last_call": time.time() - t0,
            "resumed_from": ckpt.resumed_from, "retain_host_memory": bool(retain)}
    entry.save_result(result, meta)
    return result


@contextmanager
def entry_lock(path: Path, key: str) -> Iterator[bool]:
    """An exclusive lock on a store entry while it trains (``.lock`` in its folder; released
    when the process ends, however it ends). A second process with the same config prints one
    line naming the first and waits for it; yields whether it waited."""
    import fcntl
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "a+") as f:
        waited = False
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            print(f"mifd: run {key} is being trained by process {holder}; waiting for it",
                  file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
            waited = True
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield waited
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def commit_results(experiment: str, profile: str, overrides: Mapping[str, Any] | None = None,
                   store: Store | None = None, device: str = "auto") -> Path:
    """Copy the finished run of ``experiment``/``profile`` into the first committed layer
    (``results/committed``), with its config and provenance, so a clone loads it. ``device``
    names the device it ran on (a profile's CUDA settings change its key)."""
    import shutil
    exp = get_experiment(experiment)
    cfg = exp.config(profile, overrides, resolve_device(device))
    store = store or Store()
    key = config_hash(exp.name, cfg, __version__)
    src = Entry(store.root / exp.name / key)
    if src.load_result() is None:
        raise ConfigError(f"parameter 'experiment': got {experiment!r} (profile {profile!r}); "
                          f"allowed: a run finished in the store (run `mifd run` first)")
    if not store.committed:
        raise ConfigError("parameter 'store': no committed layer (not inside a checkout)")
    dst = store.committed[0] / exp.name / key
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("result.bin", "meta.json", "config.json"):
        shutil.copyfile(src.path / name, dst / name)
    return dst


class Unit:
    """A resumable piece of work of ``n_steps`` steps (subclass and fill in)."""

    name: str = "unit"
    n_steps: int = 0

    def step(self, i: int) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def result(self) -> dict:
        raise NotImplementedError


def run_units(factories: list[tuple[str, int, Callable[[dict], Unit]]], ckpt: Checkpointer,
              progress: bool, desc: str = "") -> dict[str, dict]:
    """Run units in order, checkpointing after every step (throttled) and every finished unit.

    ``factories`` lists ``(name, n_steps, make_unit)``; ``make_unit(done)`` receives the results
    of the units finished so far (a later unit may analyse an earlier one's result). Finished
    units are kept in the checkpoint, and the unit in progress resumes at its saved step with
    its saved state.
    """
    from tqdm.auto import tqdm

    state = ckpt.resume() or {"done": {}, "current": None, "step": 0}
    done: dict[str, dict] = state["done"]
    total = sum(n for _, n, _ in factories)
    finished = sum(n for name, n, _ in factories if name in done)
    cur = state.get("current")
    bar = tqdm(total=total, initial=finished + (cur["step"] if cur else 0), desc=desc,
               disable=not progress, mininterval=1.0)
    with _finish_step_on_interrupt() as interrupt:
        for name, n, make in factories:
            if name in done:
                continue
            unit = make(done)
            start = 0
            if cur is not None and cur["unit"] == name:
                unit.load_state_dict(cur["state"])
                start = cur["step"]
            for i in range(start, n):
                unit.step(i)
                bar.update(1)
                more = i + 1 < n or len(done) + 1 < len(factories)
                paused = (ckpt.expired() or interrupt["hit"]) and more
                if ckpt.due() or paused:
                    ckpt.save({"done": done, "step": finished + i + 1,
                               "current": {"unit": name, "step": i + 1,
                                           "state": unit.state_dict()}}, force=True)
                if paused:
                    bar.close()
                    why = "interrupted" if interrupt["hit"] else "time budget spent"
                    cls = RunInterrupted if interrupt["hit"] else RunPaused
                    raise cls(f"paused at step {finished + i + 1} of {total} ({why}); the "
                              "checkpoint is saved: run the same command again to continue")
            done[name] = unit.result()
            finished += n
            cur = None
            ckpt.save({"done": done, "current": None, "step": finished}, force=True)
    bar.close()
    return done
