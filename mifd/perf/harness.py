"""What every measurement of :mod:`mifd.perf` shares: the config overrides that leave only
training steps in a benchmarked run, the training unit of an experiment, and a function run
in a fresh Python interpreter (where the allocator starts at glibc's defaults).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import multiprocessing
import traceback
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

from ..config import ConfigError

BENCH_OVERRIDES = {
    # no pre-training, snapshots or audit inside the timed epochs; the data pool and the test set
    # are shrunk (their size does not change the cost of a training step)
    "wm": {"pre_steps": 0, "audit_steps": 0, "snapshot_every": 10 ** 6, "conditions": ("mi",)},
    "separation": {"pre_steps": 0, "eval_every": 10 ** 6, "n_train": 64, "n_test": 2,
                   "eval_chunk": 2, "conditions": ("mi_l2",)},
}


#: the training unit of each experiment that has one: its module in :mod:`mifd.experiments` and
#: its class (imported when asked for: the experiments import torch and their tasks)
UNITS = {
    "wm": ("wm", "WMTrainUnit"),
    "bimt": ("bimt", "BIMTTrainUnit"),
    "penalties": ("penalties", "PenaltyTrainUnit"),
    "growing-brains": ("growing_brains", "GrowingBrainsUnit"),
    "separation": ("separation", "SeparationTrainUnit"),
    "bimt-separation": ("bimt_separation", "BIMTSeparationTrainUnit"),
    "penalties-separation": ("penalties_separation", "PenaltySeparationTrainUnit"),
}


def unit_for(experiment: str, cfg: Any, device: str):
    """The training unit of ``experiment`` (:data:`UNITS`) for ``cfg`` on ``device``: all its
    trials batched, stepped one epoch (or MM step) per call. Another experiment is refused in
    one line."""
    if experiment not in UNITS:
        raise ConfigError(f"parameter 'experiment': got {experiment!r}; allowed: one with a "
                          "training unit, " + ", ".join(map(repr, UNITS)))
    module, name = UNITS[experiment]
    unit = getattr(importlib.import_module(f"..experiments.{module}", __package__), name)
    return unit(cfg, device)


def _call_quietly(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``function(**kwargs)`` with its printed output kept back; on an error, a
    ``RuntimeError`` carrying the traceback and the tail of what it printed to stderr (the
    original exception need not be picklable)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            return function(**kwargs)
        except BaseException:
            traceback.print_exc()
            failure = err.getvalue()[-2000:]
    raise RuntimeError(failure)


def in_fresh_process(function: Callable[..., Any], **kwargs: Any) -> Any:
    """``function(**kwargs)`` in a new Python interpreter (a ``spawn`` process, one per call):
    its allocator starts at glibc's defaults, untouched by what this process did. ``function``
    must be defined at the top level of a module (it is sent by name), its arguments and result
    picklable."""
    name = f"{function.__module__}.{function.__qualname__}"
    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(_call_quietly, function, kwargs).result()
        except RuntimeError as e:  # also a worker that died (BrokenProcessPool)
            raise RuntimeError(f"{name} in a fresh process failed:\n{e}") from None
