"""Runs of a profile's conditions in parts, assembled into one run.

``mifd run --parts N`` runs a config's conditions as N processes side by side, one per core
(:func:`split_conditions`), each stored as a run of its own; :func:`condition_parts` finds the
finished parts in the store and :func:`combine_conditions` assembles them (a part may itself
come in seed shards, :func:`mifd.results.merge.combine`). A trial's computation does not
depend on its batch companions, so the parts add up to the config's run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ..config import ConfigError, stored_config, to_dict
from ..experiments import get_experiment
from .result import RunResult, summarize
from .merge import (SHARD_FIELDS, _merge, _merge_timing, _same_code, combine, trial_axes,
                    without_uncommitted)
from .provenance import is_current
from .store import Store

#: the fields of a config that add conditions beside ``conditions`` (each value a condition
#: named ``…=value`` per swept method)
SWEEP_FIELDS = ("sweep_l2", "sweep_wiring")
#: config fields whose values cut a run's conditions into parts run separately (one process
#: per core): a part runs some of the conditions with every trial; all else equal
CONDITION_FIELDS = ("conditions", *SWEEP_FIELDS)


def _conditions(cfg: Any) -> list[str]:
    """Every condition of ``cfg`` in trial-block order (a sweep's values included)."""
    return list(cfg.layout().conditions)


def _has_conditions(cfg: Any) -> bool:
    """Whether ``cfg`` lists its conditions (so its run can be split by condition)."""
    return hasattr(cfg, "layout") and hasattr(cfg, "conditions")


def combine_conditions(cfg: Any, runs: Sequence[RunResult]) -> RunResult:
    """One run of ``cfg`` from parts that ran disjoint subsets of its conditions (config equal
    but for :data:`CONDITION_FIELDS`); trials in ``cfg``'s condition order. A trial's
    computation does not depend on its batch companions, so the parts add up to ``cfg``'s run."""
    if not runs:
        raise ConfigError("parameter 'runs': got none; allowed: one or more parts")
    exp = runs[0].experiment
    if get_experiment(exp).trial_axes is None or not _has_conditions(cfg):
        raise ConfigError(f"parameter 'experiment': got {exp!r}; allowed: an experiment with "
                          "condition fields and trial axes")
    ref = {k: v for k, v in to_dict(cfg).items() if k not in CONDITION_FIELDS}
    where: dict[str, tuple[int, int]] = {}
    for i, r in enumerate(runs):
        other = {k: v for k, v in to_dict(r.config).items() if k not in CONDITION_FIELDS}
        if r.experiment != exp or other != ref:
            raise ConfigError(f"parameter 'runs': got part {r.key} with another experiment or "
                              "config; allowed: parts that differ in " + ", ".join(CONDITION_FIELDS))
        for j, c in enumerate(_conditions(r.config)):
            if c in where:
                raise ConfigError(f"parameter 'runs': got condition {c!r} in two parts; "
                                  "allowed: disjoint parts")
            where[c] = (i, j)
    want = _conditions(cfg)
    _same_code(runs)
    if sorted(where) != sorted(want):
        raise ConfigError(f"parameter 'runs': got conditions {sorted(where)}; allowed: exactly "
                          f"{want}")
    k = cfg.trials
    blocks = [(where[c][0], where[c][1] * k, (where[c][1] + 1) * k) for c in want]
    parts = [{n: v for n, v in without_uncommitted(exp, r.result)[0].items()
              if n not in ("trials", "conditions", "timing")} for r in runs]
    result = _merge(parts, trial_axes(exp), "", blocks)
    if "timing" in runs[0].result:  # measured per part: combined, not compared
        result["timing"] = _merge_timing([r.result["timing"] for r in runs])
    result["conditions"] = list(want)
    result["trials"] = {c: runs[where[c][0]].result["trials"][c] for c in want}
    base = runs[0]
    meta = dict(base.meta)
    meta.update({"config": to_dict(cfg),
                 "parts": [{"key": r.key, "conditions": _conditions(r.config),
                            "wall_seconds": r.meta.get("wall_seconds"),
                            "finished": r.meta.get("finished"),
                            "git_commit": r.meta.get("code", {}).get("git_commit"),
                            "code_hash": r.meta.get("code", {}).get("hash")} for r in runs],
                 # the parts ran side by side, one per core
                 "wall_seconds": float(max(r.meta.get("wall_seconds", 0.0) for r in runs)),
                 "finished": max(str(r.meta.get("finished", "")) for r in runs)})
    changed = next((r.code_changed for r in runs if r.code_changed), None)
    return RunResult(exp, base.profile, cfg, "+".join(r.key for r in runs), result, meta,
                     summarize(result["trials"]), True, base.path, changed)


def condition_parts(experiment: str, cfg: Any, store: Store | None = None,
                    code: str | None = None, current_only: bool = False) -> RunResult | None:
    """``cfg``'s run assembled from finished parts in the store (committed layers first), each
    running some of its conditions (see :func:`combine_conditions`), or ``None`` if they do not
    cover every condition. A part may itself come in seed shards (:func:`mifd.results.merge.combine`: the
    consecutive block from ``cfg``'s seed with ``cfg``'s trials), e.g. a 20-trial condition
    run as two 10-trial shards. A local part made by other code than ``code`` is not used; a
    committed one is (its run then carries the note of stale code), unless ``current_only``."""
    if not _has_conditions(cfg):
        return None
    store = store or Store()
    exp = get_experiment(experiment)
    free = CONDITION_FIELDS + SHARD_FIELDS
    ref = {k: v for k, v in to_dict(cfg).items() if k not in free}
    want = set(_conditions(cfg))
    seen: set[str] = set()
    pieces: dict[tuple[str, ...], list[RunResult]] = {}  # conditions → runs (any seeds)
    for entry in store.iter_entries(experiment, own=True):
        try:
            meta = entry.meta()
            part = stored_config(exp.config_cls, meta["config"])
        except (ValueError, KeyError, TypeError, AttributeError, ConfigError):  # damaged
            continue
        names = tuple(_conditions(part))
        if meta.get("key") in seen or not set(names) <= want or \
                {k: v for k, v in to_dict(part).items() if k not in free} != ref or \
                not cfg.seed <= part.seed < cfg.seed + cfg.trials or \
                part.seed + part.trials > cfg.seed + cfg.trials:
            continue
        made_by = meta.get("code", {}).get("hash")
        current = is_current(meta, code)
        if (not entry.readonly or current_only) and code is not None and not current:
            continue
        result = entry.load_result()
        if result is None:
            continue
        seen.add(meta["key"])
        pieces.setdefault(names, []).append(
            RunResult(experiment, meta.get("profile", "?"), part, meta["key"], result, meta,
                      summarize(result["trials"]), True, entry.path,
                      (made_by or "unrecorded") if code is not None and not current
                      else None))
    found: dict[str, RunResult] = {}
    for names, runs in pieces.items():
        if any(c in found for c in names):
            continue
        chain, seed = [], cfg.seed
        for r in sorted(runs, key=lambda r: (r.config.seed, -r.config.trials)):
            if r.config.seed == seed:
                chain.append(r)
                seed += r.config.trials
        if seed != cfg.seed + cfg.trials or (set(names) == want and len(chain) == 1):
            continue  # not every trial; or the whole run itself (found by its key, not here)
        rr = chain[0] if len(chain) == 1 else _combined(chain)
        for c in names:
            found[c] = rr
    if set(found) != want:
        return None
    runs = list({id(r): r for r in found.values()}.values())
    return combine_conditions(cfg, runs)


def finished(experiment: str, cfg: Any, store: Store | None = None,
             current_only: bool = False) -> bool:
    """Whether ``store`` holds ``cfg``'s run finished: whole (by its key) or assembled from
    condition parts of any split (:func:`condition_parts`). With ``current_only`` only results
    made or reproduced by this code count (``mifd run --refresh``: what ``make results`` keeps);
    otherwise also a committed result of other code, which :func:`mifd.run` shows with a note."""
    from .._version import __version__
    from ..config import config_hash
    store = store or Store()
    exp = get_experiment(experiment)
    code = exp.code_hash()
    entry = store.entry(exp.name, config_hash(exp.name, cfg, __version__))
    if entry.result_path.exists() and (not current_only or is_current(entry.meta(), code)):
        return True
    got = condition_parts(exp.name, cfg, store, code, current_only=current_only)
    return got is not None and (not current_only or got.code_changed is None)


def _combined(chain: Sequence[RunResult]) -> RunResult:
    """:func:`mifd.results.merge.combine` of seed shards, keeping the note of stale code of any of them."""
    rr = combine(chain)
    changed = next((r.code_changed for r in chain if r.code_changed), None)
    return dataclasses.replace(rr, code_changed=changed) if changed else rr


def split_conditions(cfg: Any, parts: int) -> list[dict[str, tuple]]:
    """The overrides of ``parts`` runs that share ``cfg``'s conditions, as equal in size as they
    can be: the base ``conditions`` in consecutive groups (each part needs one), then each sweep
    value (``sweep_l2``, ``sweep_wiring``: the conditions named ``…=value``) to the smallest part
    (the first of equals)."""
    if not _has_conditions(cfg):
        raise ConfigError(f"parameter 'parts': got {parts!r} for {type(cfg).__name__}; allowed:"
                          " an experiment whose config lists its conditions (wm, separation)")
    names = _conditions(cfg)
    base = list(cfg.conditions) or names  # empty: the config's default set (growing-brains)
    if not isinstance(parts, int) or not 1 <= parts <= len(base):
        raise ConfigError(f"parameter 'parts': got {parts!r}; allowed: an integer from 1 to "
                          f"{len(base)} (the base conditions)")
    field = next((f for f in SWEEP_FIELDS if hasattr(cfg, f)), None)
    values = tuple(getattr(cfg, field)) if field else ()
    named = {v: [c for c in names[len(base):] if c.split("=", 1)[1] == f"{v:g}"]
             for v in values}
    groups = [{"base": list(g), "values": [], "size": len(g)}
              for g in np.array_split(np.array(base, dtype=object), parts)]
    for v in values:  # each sweep value (its conditions together) to the smallest part
        g = min(groups, key=lambda g: g["size"])
        g["values"].append(v)
        g["size"] += len(named[v])
    return [{"conditions": tuple(g["base"]), **({field: tuple(g["values"])} if field else {})}
            for g in groups]
