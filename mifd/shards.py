"""Runs of a profile's trials in shards, combined into one run.

A lent GPU gives about 10 minutes per command, too little today for the 20 + 20 trials of the
``wm`` ``paper`` profile in one run. A *shard* runs ``trials`` trials per condition from seed
``seed`` (the profile's trials ``seed_0 … seed_0 + 19`` are cut into consecutive pieces); every
other config field equal. Trial ``t`` of a run uses seed ``seed + t`` for its initial weights,
data and critic, and a trial's computation does not depend on its batch companions (tested on
CPU bit for bit and on CUDA to float tolerance), so shards add up to the profile's run: up to
the rounding of differently sized batched products on a GPU, which 1000 epochs of training
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

from .config import ConfigError, apply_overrides, to_dict
from .experiments import get_experiment
from .experiments.base import RunResult, summarize
from .store import Entry, Store

if TYPE_CHECKING:
    import pandas as pd

#: per experiment: result path prefix → trial axis (the longest matching prefix wins); arrays
#: under no prefix and non-array leaves must be equal in every shard
TRIAL_AXES: dict[str, dict[str, int]] = {
    "wm": {"hist": -1, "snaps": -1, "weights": 1, "final": 0, "pre_mi": 0, "audit": 0,
           "audit.train_dv": -1},
}
#: fields that differ between the shards of one run
SHARD_FIELDS = ("trials", "seed")


def _axis(axes: dict[str, int], path: str) -> int | None:
    best = None
    for prefix, ax in axes.items():
        if (path == prefix or path.startswith(prefix + ".")) and \
                (best is None or len(prefix) > len(best[0])):
            best = (prefix, ax)
    return None if best is None else best[1]


def _merge(parts: Sequence[Any], axes: dict[str, int], path: str, counts: Sequence[int],
           n_cond: int) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        keys = list(first)
        if any(list(p) != keys for p in parts):
            raise ConfigError(f"parameter 'shards': got different result fields at {path!r}; "
                              "allowed: shards of one experiment and code")
        return {k: _merge([p[k] for p in parts], axes, f"{path}.{k}".lstrip("."), counts, n_cond)
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
    blocks = []  # per condition, the shards' trials in seed order
    for c in range(n_cond):
        for p, k in zip(parts, counts):
            a = np.asarray(p)
            if a.shape[ax] != n_cond * k:
                raise ConfigError(f"parameter 'shards': got {path!r} with {a.shape[ax]} trials "
                                  f"on axis {ax}; allowed: {n_cond} × {k}")
            blocks.append(np.take(a, np.arange(c * k, (c + 1) * k), axis=ax))
    return np.concatenate(blocks, axis=ax)


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
    counts = [r.config.trials for r in runs]
    n_cond = len(base.config.conditions)
    result = _merge([{k: v for k, v in r.result.items() if k != "trials"} for r in runs],
                    TRIAL_AXES[exp], "", counts, n_cond)
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


def committed_shards(experiment: str = "wm", profile: str = "paper", device: str = "cuda",
                     store: Store | None = None, where: dict | None = None,
                     first_seed: int | None = None) -> RunResult | None:
    """The committed runs of ``profile`` on ``device`` (as their provenance records it) that are
    shards of the profile's trials, combined: the consecutive block from the profile's first
    seed (or ``first_seed``; the largest such block if several configs were run). ``where``:
    only runs whose config has these values (e.g. ``{"sm_precision": "fp32"}``; default: the
    profile's own settings on ``device``). ``None`` if there is none."""
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
            cfg = apply_overrides(exp.config_cls(), meta["config"])
            rest = {k: v for k, v in to_dict(cfg).items() if k not in SHARD_FIELDS}
            if any(rest.get(k) != v for k, v in profile_cfg.items() if k not in
                   ("sm_precision", "fused_bptt", "merge_mm_pass", "graph_sm_pass")):
                continue
            wanted = where if where is not None else {
                k: profile_cfg[k] for k in ("sm_precision",) if k in profile_cfg}
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
    """One line for a page: the combined run, its shards and where they ran."""
    shards = rr.meta.get("shards")
    if not shards:
        return rr.describe()
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
