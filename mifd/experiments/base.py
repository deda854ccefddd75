"""The parts every experiment is built from: :class:`Experiment` (a config class, profiles and a
``train`` function), resumable units of work (:class:`Unit`) run by :func:`run_units` under a
:class:`Checkpointer`, the condition :class:`Layout` of a run's trials (what a run gives back,
:class:`~mifd.results.result.RunResult`, lives outside the hashed code).

An experiment's ``train(cfg, device, ckpt, progress)`` returns a result dict containing
``"trials"``: ``{condition: {metric: [one value per trial]}}`` (the basis of ``summary.json``)
plus whatever arrays its chapter plots. ``train`` calls ``ckpt.resume()`` once to get its saved
state (or ``None``) and ``ckpt.save(state)`` at the end of each unit of work; the checkpointer
writes at most every ``MIFD_CHECKPOINT_SECONDS`` (default 30) seconds, and always on
``force=True``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import numpy as np

from ..config import ConfigError, apply_overrides, check_profile
from ..results.store import Entry

if TYPE_CHECKING:
    import pandas as pd


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
    #: a lower bound of the bytes a config needs (histories, the network's states for one
    #: backward pass, the critic's activations, data): refused before anything is allocated
    #: when it exceeds the memory available (:func:`~mifd.experiments.base.check_memory`)
    memory: Callable[[Any], int] | None = None
    # what the rest of the library knows about the experiment, kept here (mifd.perf,
    # mifd.results, mifd.gpu read it through mifd.experiments.get_experiment)
    #: the training unit, ``unit(cfg, device)``: all trials batched, one epoch (or MM step) per
    #: ``step`` (benchmarks and a GPU session's probes; ``None``: the experiment has none)
    unit: Callable[[Any, str], "Unit"] | None = None
    #: result path prefix → trial axis (the longest matching prefix wins; ``None``: not a trial
    #: array) for runs combined along their trials (:mod:`mifd.results.merge`); ``None``: its
    #: runs are never combined
    trial_axes: dict[str, int | None] | None = None
    #: leaves of a result that no page reads, left out of its committed copy
    #: (:func:`mifd.results.store.without_leaves`)
    committed_without: tuple[tuple[str, ...], ...] = ()
    #: the config overrides that leave only training steps in a benchmarked run
    #: (:mod:`mifd.perf`); ``None``: not benchmarked
    bench_overrides: dict[str, Any] | None = None
    #: the profile a GPU session of the experiment runs unless told (:mod:`mifd.gpu.shard`);
    #: ``None``: no GPU session runs it
    session_profile: str | None = None

    def config(self, profile: str = "book", overrides: Mapping[str, Any] | None = None,
               device: str | None = None) -> Any:
        """The full, validated config of ``profile`` with ``overrides`` applied. ``device``
        (``cpu``, ``cuda``, ``cuda:N``; ``None``: as on a CPU) selects the profile's CUDA
        settings (``cuda_profiles``), which ``overrides`` can still change."""
        check_profile(profile)
        if profile not in self.profiles:
            raise ConfigError(f"parameter 'profile': got {profile!r} for {self.name}; allowed: "
                              + ", ".join(repr(p) for p in self.profiles))
        cfg = apply_overrides(self.config_cls(), self.profiles[profile])
        if device is not None and str(device).startswith("cuda"):
            cfg = apply_overrides(cfg, self.cuda_profiles.get(profile, {}))
        return apply_overrides(cfg, overrides or {})

    def code_hash(self) -> str:
        """The hash of the code this experiment runs (:func:`mifd.results.fingerprint.code_hash` of the
        module that defines its ``train``)."""
        from ..results.fingerprint import code_hash
        return code_hash(self.train.__module__)

    def reductions(self, cfg: Any) -> "pd.DataFrame":
        """The settings of ``cfg`` that differ from the exact published run (this experiment's
        ``paper`` profile as on a CPU: fp32), with what each means: a page's reduction table
        (empty for a run at the published settings)."""
        import pandas as pd

        from ..config import describe
        ref = self.config("paper")
        rows = [(k, v, r, doc) for k, v, r, doc in describe(cfg, ref) if v != r]
        return pd.DataFrame(rows, columns=["setting", "this run", "published (paper profile)",
                                           "meaning"]).set_index("setting")


def available_memory(device: str) -> int:
    """Bytes available for a run: free GPU memory on CUDA, else the host's ``MemAvailable``."""
    if device.startswith("cuda"):
        import torch
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_memory(exp: Experiment, cfg: Any, device: str) -> None:
    """Refuse, in one line and before any allocation, a config whose lower bound of memory
    (:attr:`Experiment.memory`) exceeds what ``device`` has available."""
    if exp.memory is None:
        return
    need, have = int(exp.memory(cfg)), available_memory(device)
    if need > have:
        raise ConfigError(f"config of {exp.name!r}: needs at least {need / 2**30:.3g} GiB, "
                          f"{have / 2**30:.3g} GiB available on {device}; allowed: fewer "
                          "trials, epochs/steps, a shorter sequence or a smaller batch")


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
    ``max_seconds``, the run is paused (checkpoint, then :class:`~mifd.experiments.base.RunPaused`) once
    the budget is spent."""

    def __init__(self, entry: Entry, every_seconds: float | None = None,
                 max_seconds: float | None = None, code: str | None = None):
        self.entry = entry
        self.code = code  # the hash of the code that runs: a checkpoint of other code is dropped
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
        if state is not None and self.code is not None and state.get("code_hash") != self.code:
            warnings.warn(f"{self.entry.path}: the checkpoint was made by other code "
                          f"({state.get('code_hash') or 'unrecorded'}; now {self.code}): "
                          "starting from scratch", stacklevel=2)
            state = None
        self.resumed_from = None if state is None else state.get("step", True)
        if state is not None:
            self.prior_seconds = float(state.get("elapsed_seconds", 0.0))
        return state

    def due(self) -> bool:
        return self.every <= 0 or time.monotonic() - self._last >= self.every

    def save(self, state: dict, force: bool = False) -> bool:
        if force or self.due():
            self.entry.save_checkpoint({**state, "elapsed_seconds": self.elapsed(),
                                        "code_hash": self.code})
            self._last = time.monotonic()
            return True
        return False


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


@dataclass(frozen=True)
class Layout:
    """How a run's trials sit on its batch axis: ``per_condition`` trials of each condition in
    consecutive blocks, in the order of ``conditions``; trial ``t`` of every condition starts
    from seed ``seed + t`` (a paired design: the same initial weights and data in every
    condition). The one place that knows this; nothing else does index arithmetic."""

    conditions: tuple[str, ...]
    per_condition: int
    seed: int | None = None

    @classmethod
    def of(cls, source: Any) -> "Layout":
        """The layout of a config (its ``layout()``), a ``RunResult`` (its ``layout``), or a
        stored result dict (its ``"conditions"`` and per-trial ``"trials"`` values)."""
        lay = getattr(source, "layout", None)
        if isinstance(lay, Layout):  # a RunResult (mifd.results.result): its property
            return lay
        if lay is not None:  # a config: its method
            return lay()
        conds = tuple(source["conditions"])
        first = source["trials"][conds[0]]
        return cls(conds, len(next(iter(first.values()))))

    @property
    def size(self) -> int:
        """Trials on the batch axis (all conditions)."""
        return len(self.conditions) * self.per_condition

    def check(self, condition: str) -> int:
        """The block number of ``condition`` (one-line error for an unknown one)."""
        if condition not in self.conditions:
            raise ConfigError(f"parameter 'condition': got {condition!r}; allowed: one of "
                              + ", ".join(repr(c) for c in self.conditions))
        return self.conditions.index(condition)

    def index(self, condition: str) -> np.ndarray:
        """Batch positions of the trials of ``condition``."""
        i = self.check(condition)
        return np.arange(i * self.per_condition, (i + 1) * self.per_condition)

    def split(self, values: Any, axis: int = -1) -> dict[str, np.ndarray]:
        """``{condition: values restricted to its trials}`` along the trial ``axis``."""
        v = np.asarray(values)
        if v.shape[axis] != self.size:
            raise ConfigError(f"parameter 'values': got {v.shape[axis]} trials on axis {axis}; "
                              f"allowed: {self.size} ({len(self.conditions)} conditions × "
                              f"{self.per_condition})")
        return {c: np.take(v, self.index(c), axis=axis) for c in self.conditions}

    def by_condition(self, per_trial: Mapping[str, Any]) -> dict[str, dict[str, list]]:
        """``{condition: {metric: [its trials' values]}}`` of ``per_trial``, ``{metric: one
        value per trial in batch order}`` (as floats): a result's ``"trials"``."""
        trials: dict[str, dict[str, list]] = {}
        for k, v in per_trial.items():
            for c, vals in self.split(np.asarray(v, dtype=float)).items():
                trials.setdefault(c, {})[k] = vals.tolist()
        return trials

    def seeds(self) -> list[int]:
        """The seed of every trial, in batch order."""
        if self.seed is None:
            raise ConfigError("parameter 'seed': this layout has none (built from a result)")
        return [self.seed + t for _ in self.conditions for t in range(self.per_condition)]

    def label(self, t: int) -> str:
        """``"t (condition trial k)"`` for batch position ``t``."""
        c, k = divmod(int(t), self.per_condition)
        return f"{t} ({self.conditions[c]} trial {k})" if c < len(self.conditions) else str(t)
