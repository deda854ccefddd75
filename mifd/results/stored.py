"""Stored runs only: load a run the store already holds, or name the command that makes it.

A page built by ``make book`` must never start hours of training because a long run is not in
yet; it shows what the store holds (``results/committed`` and the reader's own store, whole or
as condition parts and seed shards) and names what is missing. :func:`stored_or_command` is
that lookup for one run, :func:`stored_runs` for a labelled set of runs (the fade's screen, the
mechanism runs, the variants), :func:`command` the ``mifd run`` line that the pages print and
the background queue (:mod:`mifd.results.jobs`) runs.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .._version import __version__
from ..config import config_hash
from ..experiments import get_experiment
from .parts import finished
from .store import Store


def sets(overrides: Mapping[str, Any]) -> list[str]:
    """``key=value`` per override, a tuple written comma-separated (``mifd run --set``)."""
    return [f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
            for k, v in overrides.items()]


def command(experiment: str, profile: str, overrides: Mapping[str, Any]) -> str:
    """The ``mifd run`` line that makes the run ``experiment``/``profile``/``overrides``."""
    return " ".join([f"mifd run {experiment} --profile {profile}",
                     *(f"--set {s}" for s in sets(overrides))])


def key(experiment: str, profile: str, overrides: Mapping[str, Any]) -> str:
    """The store key of the run (its resolved config and this version of ``mifd``)."""
    exp = get_experiment(experiment)
    return config_hash(exp.name, exp.config(profile, dict(overrides)), __version__)


def is_stored(experiment: str, profile: str, overrides: Mapping[str, Any],
              store: Store | None = None) -> bool:
    """Whether the store holds the run finished, whole or assembled from parts
    (:func:`mifd.results.parts.finished`)."""
    return finished(experiment, get_experiment(experiment).config(profile, dict(overrides)),
                    store)


def stored_run(experiment: str, profile: str, overrides: Mapping[str, Any] | None = None,
               store: Store | None = None) -> Any | None:
    """The run if the store holds it (loaded), else ``None``: never trains."""
    from .runner import run
    store = store or Store()
    over = dict(overrides or {})
    if not is_stored(experiment, profile, over, store):
        return None
    return run(experiment, profile, "cpu", over, store=store, verbose=False, progress=False)


def stored_or_command(experiment: str, profile: str, overrides: Mapping[str, Any],
                      store: Store | None = None) -> tuple[Any | None, str]:
    """``(run, "")`` when the store holds the run (loaded, never trained), else ``(None, the
    command that makes it)``."""
    rr = stored_run(experiment, profile, overrides, store)
    return (rr, "") if rr is not None else (None, command(experiment, profile, overrides))


def stored_runs(experiment: str, profile: str, runs: Mapping[str, Mapping[str, Any]],
                store: Store | None = None) -> tuple[dict[str, Any], list[str]]:
    """The stored runs among ``runs`` (label → overrides), loaded, and ``"label: command"`` for
    each of the others."""
    store = store or Store()
    got, missing = {}, []
    for label, over in runs.items():
        rr, cmd = stored_or_command(experiment, profile, over, store)
        if rr is None:
            missing.append(f"{label}: {cmd}")
        else:
            got[label] = rr
    return got, missing


def pending_line(missing: Sequence[str], of: int, what: str = "settings") -> str:
    """One line for a page naming the runs of ``missing`` (each ``"label: command"``, as
    :func:`stored_runs` returns them; a label once, in order) out of ``of`` ``what``, and how
    they get made; ``""`` if none."""
    names = list(dict.fromkeys(m.split(": mifd ")[0] for m in missing))
    if not names:
        return ""
    return (f"*Not committed yet* ({len(names)} of {of} {what}): " + "; ".join(names)
            + ". `mifd jobs` runs them (the commands: `mifd jobs --list`).")
