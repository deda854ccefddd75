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

:func:`mifd.results.merge.combine` concatenates the trial axes of shard results (which axis is
the trial axis of each array is stated per experiment in :data:`mifd.results.merge.TRIAL_AXES`); :func:`committed_shards` finds the
committed shards of a profile and combines the contiguous block from the profile's first seed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..config import stored_config, to_dict
from ..experiments import get_experiment
from .result import RunResult, summarize
from .exchange import PLANNED_FIELDS
from .merge import FREE_FIELDS, SHARD_FIELDS, TRIAL_AXES, combine  # noqa: F401
from .parts import (CONDITION_FIELDS, SWEEP_FIELDS, combine_conditions,  # noqa: F401
                    condition_parts, split_conditions)
from .provenance import describe_reproduction
from .store import Store

if TYPE_CHECKING:
    import pandas as pd

#: of the fields a shard may choose (:data:`mifd.results.merge.FREE_FIELDS`), the ones that
#: change results beyond rounding: shards are combined only with the
#: profile's value unless ``where`` asks for another
PRECISION_FIELDS = ("sm_precision", "sm_states")


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
    for entry in store.iter_entries(experiment):
        meta = entry.meta()
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
        result = entry.load_result()
        if result is None:
            continue
        rr = RunResult(experiment, profile, cfg, meta["key"], result, meta,
                       summarize(result["trials"]), True, entry.path)
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
    parts = ", ".join((f"seeds {s['seed']}–{s['seed'] + s['trials'] - 1}" if s["trials"] > 1
                       else f"seed {s['seed']}") + f" ({s['key']}, {s['wall_seconds']:.0f} s)"
                      for s in shards)
    commits = sorted({(s.get("git_commit") or "?")[:10] for s in shards})
    return (f"{rr.experiment} [profile {rr.profile}] loaded from the committed results: "
            f"{rr.config.trials} trials per condition in {len(shards)} "
            f"shard{'s' if len(shards) != 1 else ''}: {parts}; "
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
