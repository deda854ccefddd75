"""Runs of a profile's trials in shards, combined into one run.

A lent GPU gives about 10 minutes per command, too little today for the 20 + 20 trials of the
``wm`` ``paper`` profile in one run. A *shard* runs ``trials`` trials per condition from seed
``seed`` (the profile's trials ``seed_0 … seed_0 + 19`` are cut into consecutive pieces); every
other config field equal. Trial ``t`` of a run uses seed ``seed + t`` for its initial weights,
data and critic, and a trial's computation does not depend on its batch companions (tested on
CPU bit for bit where the BLAS and torch's elementwise kernels are batch-invariant,
:func:`mifd.results.numerics.batch_invariance`: the working-memory runs on an Intel CPU with MKL for
every batch of ≥ 2 trials; within float tolerance on an AMD CPU with MKL, for the GRU
experiments — torch's sigmoid depends on the tensor's size — and on CUDA), so shards add up to
the profile's run: up to the rounding of differently sized batched products there, which 1000
epochs of training
can amplify into different (equally valid) trajectories of the same trial.

:func:`combine` concatenates the trial axes of shard results (which axis is the trial axis of
each array is stated per experiment in :data:`TRIAL_AXES`); :func:`committed_shards` finds the
committed shards of a profile and combines the contiguous block from the profile's first seed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..config import ConfigError, apply_overrides, stored_config, to_dict
from .exchange import PLANNED_FIELDS, RUN_FIELDS
from ..experiments import get_experiment
from ..experiments.base import RunResult, summarize
from .provenance import describe_reproduction, is_current
from .store import Entry, Store, without_uncommitted

if TYPE_CHECKING:
    import pandas as pd

#: per experiment: result path prefix → trial axis (the longest matching prefix wins; ``None``:
#: not a trial array); arrays under no prefix and non-array leaves must be equal in every shard
TRIAL_AXES: dict[str, dict[str, int | None]] = {
    "wm": {"hist": -1, "snaps": -1, "weights": 1, "final": 0, "pre_mi": 0, "audit": 0,
           "audit.train_dv": -1},
    "bimt": {"hist": -1, "snaps": -1, "weights": 1, "final": 0, "pre_mi": 0},
    "bimt-separation": {"hist": -1, "pre_mi": 0, "snaps": 1, "final": 0, "weights": 0,
                        "final.example.x": None, "final.example.target": None},
    "separation": {"hist": -1, "pre_mi": 0, "snaps": 1, "final": 0, "weights": 0,
                   "final.example.x": None, "final.example.target": None},
    "penalties": {"hist": -1, "snaps": -1, "weights": 1, "final": 0, "pre_mi": 0, "scale": 0,
                  "group_metrics": 0},
    "penalties-separation": {"hist": -1, "pre_mi": 0, "snaps": 1, "final": 0, "weights": 0,
                             "final.example.x": None, "final.example.target": None,
                             "scale": 0, "group_metrics": 0},
    "growing-brains": {"hist": -1, "snaps": 1, "final": 0, "weights": 0},
}


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
#: of those, the ones that change results beyond rounding: shards are combined only with the
#: profile's value unless ``where`` asks for another
PRECISION_FIELDS = ("sm_precision", "sm_states")


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
    if exp not in TRIAL_AXES:
        raise ConfigError(f"parameter 'experiment': got {exp!r}; allowed: "
                          + ", ".join(sorted(TRIAL_AXES)))
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
                      if k != "trials"} for r in runs], TRIAL_AXES[exp], "", blocks)
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
    if exp not in TRIAL_AXES or not _has_conditions(cfg):
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
    result = _merge(parts, TRIAL_AXES[exp], "", blocks)
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
    cover every condition. A part may itself come in seed shards (:func:`combine`: the
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
    for root, committed in [(Path(c), True) for c in store.committed] + [(store.root, False)]:
        for d in sorted((root / experiment).glob("*/meta.json")):
            try:
                meta = json.loads(d.read_text())
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
            if (not committed or current_only) and code is not None and not current:
                continue
            result = Entry(d.parent, readonly=committed).load_result()
            if result is None:
                continue
            seen.add(meta["key"])
            pieces.setdefault(names, []).append(
                RunResult(experiment, meta.get("profile", "?"), part, meta["key"], result, meta,
                          summarize(result["trials"]), True, d.parent,
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


def _combined(chain: Sequence[RunResult]) -> RunResult:
    """:func:`combine` of seed shards, keeping the note of stale code of any of them."""
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


def committed_shards(experiment: str = "wm", profile: str = "paper", device: str = "cuda",
                     store: Store | None = None, where: dict | None = None,
                     first_seed: int | None = None) -> RunResult | None:
    """The committed runs of ``profile`` on ``device`` (as their provenance records it) that are
    shards of the profile's trials, combined: the consecutive block from the profile's first
    seed (or ``first_seed``; the largest such block if several configs were run, e.g. a
    ``gpu`` profile's sessions that planned different lengths,
    :data:`mifd.results.exchange.PLANNED_FIELDS`). Only runs whose :data:`PRECISION_FIELDS` hold the
    profile's own values on ``device``, or those of ``where`` (e.g. ``{"sm_precision":
    "fp32"}``; a field named in ``where`` may differ from the profile, e.g. runs made before
    the profile's default changed). ``None`` if there is none."""
    store = store or Store()
    exp = get_experiment(experiment)
    profile_cfg = {k: v for k, v in to_dict(exp.config(profile, device=device)).items()
                   if k not in SHARD_FIELDS}
    groups: dict[str, list[RunResult]] = {}
    for root in store.committed:
        for d in sorted((Path(root) / experiment).glob("*/meta.json")):
            meta = json.loads(d.read_text())
            if meta.get("profile") != profile or \
                    not str(meta.get("machine", {}).get("device", "")).startswith(device):
                continue
            cfg = stored_config(exp.config_cls, meta["config"])
            rest = {k: v for k, v in to_dict(cfg).items() if k not in SHARD_FIELDS}
            if any(rest.get(k) != v for k, v in profile_cfg.items() if k not in FREE_FIELDS
                   + PLANNED_FIELDS.get(profile, ()) + tuple(where or ())):
                continue
            wanted = {**{k: profile_cfg[k] for k in PRECISION_FIELDS if k in profile_cfg},
                      **(where or {})}
            if any(rest.get(k) != v for k, v in wanted.items()):
                continue
            result = Entry(d.parent).load_result()
            if result is None:
                continue
            rr = RunResult(experiment, profile, cfg, meta["key"], result, meta,
                           summarize(result["trials"]), True, d.parent)
            groups.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(rr)
    best: RunResult | None = None
    for runs in groups.values():
        chain, seed = [], exp.config(profile).seed if first_seed is None else first_seed
        for r in sorted(runs, key=lambda r: r.config.seed):
            if r.config.seed == seed:
                chain.append(r)
                seed += r.config.trials
        if chain and (best is None or sum(r.config.trials for r in chain) > best.config.trials):
            best = combine(chain)
    return best


def describe(rr: RunResult) -> str:
    """One line for a page: the combined run, its shards (or condition parts) and where they
    ran."""
    if rr.meta.get("parts"):
        m = rr.meta.get("machine", {})
        parts = "; ".join(f"{', '.join(p['conditions'])} ({p['key']}, {p['wall_seconds']:.0f} s,"
                          f" {(p.get('git_commit') or '?')[:10]})" for p in rr.meta["parts"])
        return (f"{rr.experiment} [profile {rr.profile}] loaded from the "
                f"{'committed results' if 'committed' in rr.path.parts else 'results store'}: "
                f"{rr.config.trials} trials per condition in {len(rr.meta['parts'])} parts run "
                f"side by side, one per core: {parts}; device "
                f"{m.get('gpu') or m.get('device', '?')}, mifd "
                f"{rr.meta.get('code', {}).get('mifd', '?')}, last finished "
                f"{rr.meta.get('finished')}, {rr.meta.get('wall_seconds', float('nan')):.0f} s"
                + (f"; NOTE: made by other code than this checkout's (code hash "
                   f"{rr.code_changed}); `make results` recomputes it" if rr.code_changed else "")
                + describe_reproduction(rr.meta, get_experiment(rr.experiment).code_hash()))
    shards = rr.meta.get("shards")
    if not shards:
        return rr.describe() + describe_reproduction(
            rr.meta, get_experiment(rr.experiment).code_hash())
    m = rr.meta.get("machine", {})
    parts = ", ".join(f"seeds {s['seed']}–{s['seed'] + s['trials'] - 1} ({s['key']}, "
                      f"{s['wall_seconds']:.0f} s)" for s in shards)
    commits = sorted({(s.get("git_commit") or "?")[:10] for s in shards})
    return (f"{rr.experiment} [profile {rr.profile}] loaded from the committed results: "
            f"{rr.config.trials} trials per condition in {len(shards)} shard(s): {parts}; "
            f"device {m.get('gpu') or m.get('device', '?')}, mifd "
            f"{rr.meta.get('code', {}).get('mifd', '?')} ({', '.join(commits)}), "
            f"sm_precision {rr.config.sm_precision}, last finished {rr.meta.get('finished')}")


def reductions(rr: RunResult) -> "pd.DataFrame":
    """The settings of ``rr`` that differ from the exact published run (the ``paper`` profile as
    on a CPU: fp32, 20 trials per condition), for the page's reduction table."""
    return get_experiment(rr.experiment).reductions(rr.config)


#: the final metrics compared between precisions
PRECISION_METRICS = ("Q_cor", "Q_str", "D_cor", "D_in", "D_out", "mse")


def precision_effect(experiment: str = "wm", profile: str = "paper", reduced: str = "tf32",
                     exact: str = "fp32", store: Store | None = None,
                     device: str = "cuda") -> "pd.DataFrame | None":
    """Per trial (seed) run in both precisions of the statistics network, the final metrics in
    each and their difference (reduced − exact); ``None`` until both are committed. After 1000
    epochs a rounding difference can have moved a trial onto another trajectory: compare the
    per-trial differences with the spread between trials."""
    import pandas as pd
    runs = {p: committed_shards(experiment, profile, device, store, where={"sm_precision": p})
            for p in (reduced, exact)}
    if any(r is None for r in runs.values()):
        return None
    rows = []
    for c in runs[exact].config.conditions:
        a, b = runs[reduced].result["trials"][c], runs[exact].result["trials"][c]
        n = min(runs[reduced].config.trials, runs[exact].config.trials)
        for t in range(n):
            row = {"condition": c, "seed": runs[exact].config.seed + t}
            for m in PRECISION_METRICS:
                row[f"{m} {reduced}"], row[f"{m} {exact}"] = a[m][t], b[m][t]
                row[f"Δ{m}"] = a[m][t] - b[m][t]
            rows.append(row)
    return pd.DataFrame(rows).set_index(["condition", "seed"])
