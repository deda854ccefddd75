"""The arguments of ``mifd bench``, typed and checked before anything runs.

:meth:`BenchOptions.from_strings` takes the command line's strings and flags; every bad value
raises a one-line :class:`~mifd.ConfigError` naming the parameter, the value and what is
allowed, so the command line only parses.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from ..config import ConfigError, parse_set
from .harness import BENCH_OVERRIDES
from .measure import QUICK, run_bench
from .rows import check_rows

#: the defaults of ``mifd bench`` without ``--quick`` (with it, those of ``QUICK``)
DEFAULTS = {"trials": (1, 8), "epochs": 2, "warmup": 1, "experiments": ("wm",)}

#: the experiments ``mifd bench`` can time: those with
#: :attr:`~mifd.experiments.base.Experiment.bench_overrides`
BENCHED = tuple(BENCH_OVERRIDES)


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """What one ``mifd bench`` run times: batched trial counts, timed and warm-up epochs,
    experiments, the device as given (``auto`` resolved when checked and when run), config
    overrides (``--set``) and per-experiment sizes (the ``--quick`` ones), the rows of the
    option flags (``options``, ``mifd`` first) and of ``--rows``, and the ports."""

    trials: tuple[int, ...] = DEFAULTS["trials"]
    epochs: int = DEFAULTS["epochs"]
    warmup: int = DEFAULTS["warmup"]
    experiments: tuple[str, ...] = DEFAULTS["experiments"]
    device: str = "auto"
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sizes: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    options: tuple[str, ...] = ("mifd",)
    rows: tuple[str, ...] = ()
    port: bool = True
    ports: tuple[str, ...] = ("port",)
    out: str = "bench.json"

    @property
    def impls(self) -> tuple[str, ...]:
        """Every ``mifd`` row to time: the option flags' rows, then the ``--rows`` ones that
        are not among them."""
        return self.options + tuple(r for r in self.rows if r not in self.options)

    @classmethod
    def from_strings(cls, *, trials: str | None = None, epochs: str | None = None,
                     warmup: str | None = None, experiments: str | None = None,
                     sets: Sequence[str] = (), device: str = "auto", quick: bool = False,
                     two_pass: bool = False, compile: bool = False, bf16: bool = False,
                     tf32: bool = False, fused: bool = False, graph: bool = False,
                     rows: str | None = None, allocator: bool = False, no_port: bool = False,
                     out: str = "bench.json") -> BenchOptions:
        """The options from the command line's strings (``None``: the default, that of
        ``--quick`` with ``quick``) and flags, checked (:meth:`check`)."""
        dflt = QUICK if quick else DEFAULTS
        trials = ",".join(map(str, dflt["trials"])) if trials is None else trials
        epochs = str(dflt["epochs"]) if epochs is None else epochs
        warmup = str(dflt["warmup"]) if warmup is None else warmup
        experiments = ",".join(dflt["experiments"]) if experiments is None else experiments
        try:
            counts = tuple(int(t) for t in trials.split(","))
            assert counts and min(counts) >= 1
        except (ValueError, AssertionError):
            raise ConfigError(f"parameter '--trials': got {trials!r}; allowed: a "
                              "comma-separated list of integers >= 1") from None
        if not epochs.isdigit() or int(epochs) < 1:
            raise ConfigError(f"parameter '--epochs': got {epochs!r}; allowed: an "
                              "integer >= 1")
        if not warmup.isdigit():
            raise ConfigError(f"parameter '--warmup': got {warmup!r}; allowed: an "
                              "integer >= 0")
        exps = tuple(e.strip() for e in experiments.split(",") if e.strip())
        _check_experiments(exps)
        options = ("mifd",) + tuple(i for i, on in (
            ("mifd-2pass", two_pass), ("mifd+compile", compile),
            ("mifd+bf16", bf16), ("mifd+tf32", tf32),
            ("mifd+fused", fused), ("mifd+fused+merged", fused),
            ("mifd+graph", graph), ("mifd+fused+graph", fused and graph),
            ("mifd+fused+merged+graph", fused and graph),
            ("mifd-mmap", allocator)) if on)
        opts = cls(trials=counts, epochs=int(epochs), warmup=int(warmup), experiments=exps,
                   device=device, overrides=parse_set(sets),
                   sizes=QUICK["overrides"] if quick else {}, options=options,
                   rows=tuple(r.strip() for r in (rows or "").split(",") if r.strip()),
                   port=not no_port,
                   ports=("port", "port+retain") if allocator else ("port",), out=out)
        opts.check()
        return opts

    def check(self) -> None:
        """Reject, with a one-line :class:`~mifd.ConfigError`: an experiment other than
        ``wm``, ``separation``; a ``--set`` key that is no config field of the experiments, or
        a value their ``paper`` config rejects; a device that is not available; TF32 or CUDA
        graphs off CUDA; an unknown row name."""
        from ..experiments import get_experiment
        from ..results.runner import resolve_device

        _check_experiments(self.experiments)
        fields = {e: get_experiment(e).config_cls.__dataclass_fields__ for e in self.experiments}
        for k in self.overrides:
            if not any(k in f for f in fields.values()):
                raise ConfigError(f"parameter '--set {k}': got {self.overrides[k]!r}; allowed: a "
                                  f"config field of {', '.join(self.experiments)}")
        for e in self.experiments:
            get_experiment(e).config("paper", {**self.sizes.get(e, {}), **{
                k: v for k, v in self.overrides.items() if k in fields[e]}})
        dev = resolve_device(self.device)
        if "mifd+tf32" in self.options:
            from ..adversarial import check_precision
            check_precision("tf32", dev, name="--tf32")
        if "mifd+graph" in self.options:
            from ..accel.cudagraphs import check_graph_device
            check_graph_device(dev, name="--graph")
        if self.rows:
            check_rows(self.rows, dev, name="--rows")

    def run(self) -> dict:
        """:func:`~mifd.perf.measure.run_bench` with these options (the JSON written to
        ``out``)."""
        return run_bench(self.device, self.trials, self.epochs, self.out, self.overrides,
                         experiments=self.experiments, port=self.port, warmup=self.warmup,
                         impls=self.impls, ports=self.ports, sizes=self.sizes)


def _check_experiments(experiments: Sequence[str]) -> None:
    for e in experiments:
        if e not in BENCHED:
            raise ConfigError(f"parameter '--experiments': got {e!r}; allowed: "
                              + ", ".join(map(repr, BENCHED)))
