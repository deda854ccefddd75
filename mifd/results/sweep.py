"""Sweeps: a declared grid of experiment configs, each run as an independent *unit* (one
:func:`mifd.run`: stored and keyed in the results store like any run, so a repeat loads it and an
interrupted unit resumes from its checkpoint).

A spec (JSON or YAML) names the experiment, the profile, the device, settings common to every
unit (``fixed``) and the grid (``grid``: setting → list of values; the units are the cartesian
product, in the order given)::

    experiment: wm
    profile: smoke
    fixed: {conditions: [mi], trials: 1}
    grid: {lambda_mi: [0, 0.01, 0.1], seed: [1001, 1002]}

Backends: ``local`` runs the units one after the other in this process (each unit's trials
batched, as every run); ``ray`` submits each unit as a Ray task with its own resource request
(one CPU, or one GPU on CUDA) to a local Ray cluster or, with ``address``, to an existing one.
Ray does the placement, and retries a unit whose worker died; a unit that raises is reported with
its settings and error and does not stop the others. No scheduler of our own.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..config import ConfigError

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class SweepSpec:
    """A grid of configs of one experiment (see the module docstring)."""
    experiment: str
    profile: str = "book"
    device: str = "cpu"
    fixed: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "SweepSpec":
        """Read a spec from a JSON or YAML file (one-line error for a bad one)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise ConfigError(f"parameter 'spec': got {str(path)!r} ({e.strerror}); allowed: a "
                              "readable JSON or YAML file") from None
        try:
            if p.suffix in (".yml", ".yaml"):
                import yaml
                raw = yaml.safe_load(text)
            else:
                raw = json.loads(text)
        except Exception as e:  # noqa: BLE001 - any parse error, in one line
            raise ConfigError(f"parameter 'spec': got {str(path)!r}, not readable ({type(e).__name__}"
                              "); allowed: a JSON or YAML mapping") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> "SweepSpec":
        allowed = ("experiment", "profile", "device", "fixed", "grid")
        if not isinstance(raw, Mapping) or "experiment" not in raw:
            raise ConfigError(f"parameter 'spec': got {type(raw).__name__}; allowed: a mapping "
                              f"with 'experiment' and optionally {', '.join(allowed[1:])}")
        extra = sorted(set(raw) - set(allowed))
        if extra:
            raise ConfigError(f"parameter 'spec': unknown key(s) {', '.join(extra)}; allowed: "
                              + ", ".join(allowed))
        grid = raw.get("grid") or {}
        if not isinstance(grid, Mapping) or any(
                not isinstance(v, (list, tuple)) or not v for v in grid.values()):
            raise ConfigError(f"parameter 'grid': got {grid!r}; allowed: a mapping of setting "
                              "names to non-empty lists of values")
        fixed = raw.get("fixed") or {}
        if not isinstance(fixed, Mapping):
            raise ConfigError(f"parameter 'fixed': got {fixed!r}; allowed: a mapping")
        both = sorted(set(fixed) & set(grid))
        if both:
            raise ConfigError(f"parameter 'grid': {', '.join(both)} also in 'fixed'; allowed: "
                              "each setting in one of them")
        return cls(str(raw["experiment"]), str(raw.get("profile", "book")),
                   str(raw.get("device", "cpu")), dict(fixed),
                   {k: list(v) for k, v in grid.items()})

    def units(self) -> list[dict[str, Any]]:
        """Every unit's overrides (``fixed`` and one point of the grid), each validated against
        the experiment's config before any work (one-line error naming the unit)."""
        from ..experiments import get_experiment
        exp = get_experiment(self.experiment)
        names = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in names)):
            over = {**self.fixed, **dict(zip(names, values))}
            try:
                exp.config(self.profile, over, self.device)
            except ConfigError as e:
                raise ConfigError(f"{e} (sweep unit {over})") from None
            out.append(over)
        return out


@dataclass
class UnitOutcome:
    """What became of one unit: ``trained``, ``loaded`` (stored before) or ``failed``;
    ``seconds``: its own wall time."""
    overrides: dict[str, Any]
    status: str
    key: str | None = None
    summary: dict | None = None
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"overrides": self.overrides, "status": self.status, "key": self.key,
                "summary": self.summary, "error": self.error, "seconds": self.seconds}


def run_unit(experiment: str, profile: str, device: str, overrides: Mapping[str, Any],
             store: Any = None) -> dict[str, Any]:
    """One unit: :func:`mifd.run` (trains, resumes or loads), quietly. Returns its key, whether
    it was loaded, and its summary (per condition and metric: mean, sd, n)."""
    from .runner import run
    t0 = time.time()
    rr = run(experiment, profile, device, dict(overrides), store=store, progress=False,
             verbose=False)
    return {"key": rr.key, "loaded": rr.loaded, "summary": rr.summary,
            "seconds": time.time() - t0}


def _outcome(over: dict, res: dict, t0: float) -> UnitOutcome:
    return UnitOutcome(over, "loaded" if res["loaded"] else "trained", res["key"], res["summary"],
                       seconds=float(res.get("seconds", time.time() - t0)))


def _failure(over: dict, e: BaseException, t0: float) -> UnitOutcome:
    cause = getattr(e, "cause", None) or e  # a Ray task error wraps the unit's own exception
    msg = str(cause).strip().splitlines()
    return UnitOutcome(over, "failed", error=f"{type(cause).__name__}: "
                       f"{msg[-1] if msg else ''}", seconds=time.time() - t0)


def sweep(spec: SweepSpec, backend: str = "local", address: str | None = None,
          store: Any = None, progress: bool = True, retries: int = 2,
          unit: Callable[..., dict] = run_unit, num_cpus: int | None = None
          ) -> list[UnitOutcome]:
    """Run every unit of ``spec`` (in spec order in the returned list). ``backend``: ``local``
    or ``ray`` (``address``: an existing Ray cluster, else a local one with ``num_cpus`` CPUs,
    default all); ``retries``: how often Ray reruns a unit whose worker died. ``store``: the
    results store every unit writes to (default: this checkout's). ``unit``: the function
    that runs one unit (:func:`run_unit`; tests pass another)."""
    from tqdm.auto import tqdm

    from .store import Store
    if backend not in BACKENDS:
        raise ConfigError(f"parameter 'backend': got {backend!r}; allowed: "
                          + ", ".join(BACKENDS))
    if not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"parameter 'retries': got {retries!r}; allowed: an integer >= 0")
    units = spec.units()  # every unit validated before any work
    store = store or Store()
    bar = tqdm(total=len(units), desc=f"sweep {spec.experiment}", disable=not progress,
               unit="unit")
    outcomes: list[UnitOutcome | None] = [None] * len(units)

    def show() -> None:
        done = [o for o in outcomes if o is not None]
        bar.set_postfix(done=sum(o.status != "failed" for o in done),
                        failed=sum(o.status == "failed" for o in done),
                        running=len(units) - len(done) if backend == "ray" else int(
                            len(done) < len(units)))

    if backend == "local":
        for i, over in enumerate(units):
            t0 = time.time()
            show()
            try:
                outcomes[i] = _outcome(over, unit(spec.experiment, spec.profile, spec.device,
                                                  over, store), t0)
            except Exception as e:  # noqa: BLE001 - reported, the others go on
                outcomes[i] = _failure(over, e, t0)
            bar.update(1)
        show()
        bar.close()
        return [o for o in outcomes if o is not None]
    try:
        import ray
    except ImportError:
        raise ConfigError("parameter 'backend': got 'ray', but Ray is not installed; allowed: "
                          "'local', or install it (pip install 'ray>=2.9')") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else num_cpus,
                 include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        gpu = spec.device.startswith("cuda")
        task = ray.remote(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0,
                          max_retries=retries, retry_exceptions=False)(unit)
        t0 = time.time()
        pending = {task.remote(spec.experiment, spec.profile, spec.device, over, store): i
                   for i, over in enumerate(units)}
        show()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    outcomes[i] = _outcome(units[i], ray.get(ref), t0)
                except Exception as e:  # noqa: BLE001 - reported, the others go on
                    outcomes[i] = _failure(units[i], e, t0)
                bar.update(1)
            show()
    finally:
        bar.close()
        if started:
            ray.shutdown()
    return [o for o in outcomes if o is not None]


def write_report(outcomes: Sequence[UnitOutcome], spec: SweepSpec, out: str | Path) -> Path:
    """``out/sweep.json``: the spec and every unit's outcome (settings, status, key, summary or
    error)."""
    from .store import atomic_write_json
    path = Path(out) / "sweep.json"
    atomic_write_json(path, {"spec": {"experiment": spec.experiment, "profile": spec.profile,
                                      "device": spec.device, "fixed": dict(spec.fixed),
                                      "grid": dict(spec.grid)},
                             "units": [o.as_dict() for o in outcomes]})
    return path
