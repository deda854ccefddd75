"""Runs combined along their trial axis: the shards of a profile's trials (consecutive seeds,
:func:`combine`) and the machinery that condition parts share (:mod:`mifd.results.parts`).

Which axis of each result array is the trial axis is stated by each experiment
(:attr:`~mifd.experiments.base.Experiment.trial_axes`, all of them in :data:`TRIAL_AXES`);
arrays that are not trial arrays must be equal in every run combined, and runs made by
different code are refused. The leaves that a committed copy leaves out are also the
experiment's (:attr:`~mifd.experiments.base.Experiment.committed_without`,
:func:`without_uncommitted`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ..config import ConfigError, to_dict
from ..experiments import EXPERIMENTS, get_experiment
from .result import RunResult, summarize
from .exchange import RUN_FIELDS
from .store import without_leaves

#: per experiment: result path prefix → trial axis (the longest matching prefix wins; ``None``:
#: not a trial array); arrays under no prefix and non-array leaves must be equal in every shard
#: (a view of :attr:`~mifd.experiments.base.Experiment.trial_axes`)
TRIAL_AXES: dict[str, dict[str, int | None]] = {
    name: e.trial_axes for name, e in EXPERIMENTS.items() if e.trial_axes is not None}
#: per experiment: the leaves of a result left out of its committed copy (a view of
#: :attr:`~mifd.experiments.base.Experiment.committed_without`)
COMMITTED_WITHOUT: dict[str, tuple[tuple[str, ...], ...]] = {
    name: e.committed_without for name, e in EXPERIMENTS.items() if e.committed_without}


def trial_axes(experiment: str) -> dict[str, int | None]:
    """The trial axes of ``experiment``'s results (one-line error for an unknown experiment or
    one whose runs are never combined)."""
    axes = get_experiment(experiment).trial_axes
    if axes is None:
        raise ConfigError(f"parameter 'experiment': got {experiment!r}; allowed: one whose runs "
                          "combine along trials, " + ", ".join(map(repr, TRIAL_AXES)))
    return axes


def without_uncommitted(experiment: str, result: Any) -> tuple[Any, list[str]]:
    """``result`` without the leaves that ``experiment``'s committed copies leave out
    (:func:`mifd.results.store.without_leaves`) and the paths left out (``a/b``)."""
    return without_leaves(result, get_experiment(experiment).committed_without)


def _merge_timing(timings: Sequence[dict]) -> dict:
    """The ``timing`` of parts run side by side as one run's: seconds per epoch summed over the
    parts (each timed its own trials), trials summed."""
    out = {"critic_per_epoch": sum(t["critic_per_epoch"] for t in timings),
           "penalty_per_epoch": {}, "trials": sum(t["trials"] for t in timings)}
    for t in timings:
        for k, v in t["penalty_per_epoch"].items():
            out["penalty_per_epoch"][k] = out["penalty_per_epoch"].get(k, 0.0) + v
    return out


#: fields that differ between the shards of one run
SHARD_FIELDS = ("trials", "seed")
#: config fields in which a committed run may differ from its profile and still be one of its
#: shards: the implementation and precision options a run may choose (those of
#: :data:`mifd.results.exchange.RUN_FIELDS` but the trials, seeds and conditions)
FREE_FIELDS = tuple(f for f in RUN_FIELDS if f not in SHARD_FIELDS + ("conditions",))


def _axis(axes: dict[str, int | None], path: str) -> int | None:
    best = None
    for prefix, ax in axes.items():
        if (path == prefix or path.startswith(prefix + ".")) and \
                (best is None or len(prefix) > len(best[0])):
            best = (prefix, ax)
    return None if best is None else best[1]


def _merge(parts: Sequence[Any], axes: dict[str, int | None], path: str,
           blocks: Sequence[tuple[int, int, int]]) -> Any:
    """Merge the shards' result trees: a trial array is the concatenation of ``blocks``
    (shard, first trial, end trial) along its trial axis; anything else must be equal."""
    first = parts[0]
    if isinstance(first, dict):
        keys = list(first)
        if any(list(p) != keys for p in parts):
            raise ConfigError(f"parameter 'shards': got different result fields at {path!r}; "
                              "allowed: shards of one experiment and code")
        return {k: _merge([p[k] for p in parts], axes, f"{path}.{k}".lstrip("."), blocks)
                for k in keys}
    ax = _axis(axes, path)
    if ax is None or not hasattr(first, "shape"):
        for p in parts[1:]:
            same = (np.array_equal(np.asarray(p), np.asarray(first)) if hasattr(first, "shape")
                    else p == first)
            if not same:
                raise ConfigError(f"parameter 'shards': got different values of {path!r}; "
                                  "allowed: equal in every shard (not a trial array)")
        return first
    out = []
    for i, a, b in blocks:
        arr = np.asarray(parts[i])
        if arr.shape[ax] < b:
            raise ConfigError(f"parameter 'shards': got {path!r} with {arr.shape[ax]} trials "
                              f"on axis {ax}; allowed: at least {b}")
        out.append(np.take(arr, np.arange(a, b), axis=ax))
    return np.concatenate(out, axis=ax)


def _effective_code(meta: dict) -> str:
    """The code a part counts as made by: the last code that reproduced it on replay
    (:mod:`mifd.results.replay`), else the code that made it."""
    rep = meta.get("reproduced") or ()
    return rep[-1]["code"] if rep else (meta.get("code", {}).get("hash") or "unrecorded")


def _same_code(runs: Sequence[RunResult]) -> None:
    """Refuse parts made by different code (their code hashes differ; an unrecorded hash
    counts as a code of its own)."""
    made = {_effective_code(r.meta) for r in runs}
    if len(made) > 1:
        codes = ", ".join(sorted(made))
        raise ConfigError(f"parameter 'runs': got parts made by different code ({codes}); "
                          "allowed: parts of one code (rerun the stale ones)")


def combine(runs: Sequence[RunResult]) -> RunResult:
    """One run from shards of the same experiment, profile and config (but ``trials`` and
    ``seed``), whose seeds follow each other without gap or overlap; trials in seed order."""
    if not runs:
        raise ConfigError("parameter 'runs': got none; allowed: one or more shards")
    runs = sorted(runs, key=lambda r: r.config.seed)
    base = runs[0]
    exp = base.experiment
    axes = trial_axes(exp)
    ref = {k: v for k, v in to_dict(base.config).items() if k not in SHARD_FIELDS}
    seed = base.config.seed
    for r in runs:
        other = {k: v for k, v in to_dict(r.config).items() if k not in SHARD_FIELDS}
        if r.experiment != exp or r.profile != base.profile or other != ref:
            raise ConfigError(f"parameter 'runs': got shard {r.key} with another experiment, "
                              "profile or config; allowed: shards that differ in trials and seed")
        if r.config.seed != seed:
            raise ConfigError(f"parameter 'runs': got a shard from seed {r.config.seed} after "
                              f"seeds up to {seed - 1}; allowed: consecutive seeds")
        seed += r.config.trials
    _same_code(runs)
    counts = [r.config.trials for r in runs]
    n_cond = len(base.config.conditions)
    blocks = [(i, c * k, (c + 1) * k) for c in range(n_cond) for i, k in enumerate(counts)]
    result = _merge([{k: v for k, v in without_uncommitted(exp, r.result)[0].items()
                      if k != "trials"} for r in runs], axes, "", blocks)
    trials = {c: {m: [v for r in runs for v in r.result["trials"][c][m]]
                  for m in base.result["trials"][c]} for c in base.result["trials"]}
    result["trials"] = trials
    cfg = dataclasses.replace(base.config, trials=sum(counts))
    meta = dict(base.meta)
    meta.update({"shards": [{"key": r.key, "seed": r.config.seed, "trials": r.config.trials,
                             "wall_seconds": r.meta.get("wall_seconds"),
                             "finished": r.meta.get("finished"),
                             "git_commit": r.meta.get("code", {}).get("git_commit")}
                            for r in runs],
                 "wall_seconds": float(sum(r.meta.get("wall_seconds", 0.0) for r in runs)),
                 "finished": max(str(r.meta.get("finished", "")) for r in runs)})
    key = "+".join(r.key for r in runs)
    return RunResult(exp, base.profile, cfg, key, result, meta, summarize(trials), True,
                     base.path)
