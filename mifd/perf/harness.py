"""What every measurement of :mod:`mifd.perf` shares: the config overrides that leave only
training steps in a benchmarked run and the training unit of an experiment (both kept on its
:class:`~mifd.experiments.base.Experiment`), and a function run in a fresh Python interpreter
(where the allocator starts at glibc's defaults).
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import traceback
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

from ..config import ConfigError
from ..experiments import EXPERIMENTS, get_experiment

#: per benchmarked experiment, the config overrides that leave only training steps in its run
#: (a view of :attr:`~mifd.experiments.base.Experiment.bench_overrides`)
BENCH_OVERRIDES: dict[str, dict[str, Any]] = {
    name: e.bench_overrides for name, e in EXPERIMENTS.items() if e.bench_overrides is not None}
#: the training unit of each experiment that has one (a view of
#: :attr:`~mifd.experiments.base.Experiment.unit`)
UNITS: dict[str, Callable[[Any, str], Any]] = {
    name: e.unit for name, e in EXPERIMENTS.items() if e.unit is not None}


def unit_for(experiment: str, cfg: Any, device: str):
    """The training unit of ``experiment`` (:data:`UNITS`) for ``cfg`` on ``device``: all its
    trials batched, stepped one epoch (or MM step) per call. Another experiment is refused in
    one line."""
    unit = get_experiment(experiment).unit
    if unit is None:
        raise ConfigError(f"parameter 'experiment': got {experiment!r}; allowed: one with a "
                          "training unit, " + ", ".join(map(repr, UNITS)))
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
