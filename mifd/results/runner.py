"""Run an experiment by name and profile: load it from the results store or train it, resumably.

The experiments themselves (their configs, profiles and ``train`` functions) are in
:mod:`mifd.experiments`; this module validates a call, finds or trains its store entry under a
lock, checks the result and records its provenance.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from .._version import __version__
from ..accel.allocator import default_for_runs, retain_freed_memory
from ..accel.inductor import separate_cache
from ..config import ConfigError, check_device, check_profile, config_hash, to_dict
from ..experiments import EXPERIMENTS, get_experiment
from ..experiments.base import (Checkpointer, Experiment, Layout, RunInterrupted, RunPaused,
                                check_memory, progress_enabled)
from .result import RunResult, summarize
from .policy import Action, Found, decide, prefer_parts
from .provenance import describe_reproduction, is_current
from .store import Entry, Store, atomic_write_json, code_version, machine_info, now

__all__ = ["CHAPTER_PARAMETERS", "EXPERIMENTS", "RunInterrupted", "RunPaused", "RunResult", "check_finite", "check_kernel", "check_out",
           "check_parameters", "commit_results", "entry_lock", "get_experiment", "resolve_device",
           "run"]


def resolve_device(device: str = "auto") -> str:
    check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("parameter 'device': got 'cuda'; allowed: 'auto' or 'cpu' "
                          "(no CUDA device is available here)")
    return device


#: the parameters a chapter declares (papermill may inject these and no others)
CHAPTER_PARAMETERS = ("profile", "device", "overrides")


def injected_parameters() -> list[str]:
    """The names papermill injected into the running notebook (its ``# Parameters`` cell in the
    kernel's input history); empty outside a notebook."""
    import ast
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the book's dependencies
        return []
    ip = get_ipython()
    names: list[str] = []
    for src in (ip.user_ns.get("In", []) if ip is not None else []):
        if isinstance(src, str) and src.lstrip().startswith("# Parameters"):
            try:
                body = ast.parse(src).body
            except SyntaxError:
                continue
            names += [t.id for node in body if isinstance(node, ast.Assign)
                      for t in node.targets if isinstance(t, ast.Name)]
    return names


def check_parameters(profile: str, device: str = "auto", note: str = "",
                     overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Validate a chapter's parameters before any work (one-line :class:`~mifd.ConfigError`
    otherwise): ``profile``, ``device``, ``overrides`` (``{experiment: {setting: value}}``, each
    checked like ``--set``), and no injected parameter the chapter does not declare
    (:data:`~mifd.results.runner.CHAPTER_PARAMETERS`). Prints them and returns the device that will be used."""
    unknown = sorted(set(injected_parameters()) - set(CHAPTER_PARAMETERS))
    if unknown:
        raise ConfigError(f"parameter {', '.join(repr(u) for u in unknown)}: not declared by "
                          "this chapter; allowed: " + ", ".join(map(repr, CHAPTER_PARAMETERS))
                          + " (settings such as trials go in overrides, e.g. "
                          "{'wm': {'trials': 10}})")
    check_profile(profile)
    dev = resolve_device(device)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"parameter 'overrides': got {overrides!r}; allowed: a mapping "
                          "{experiment: {setting: value}}")
    for name, over in (overrides or {}).items():
        if not isinstance(over, Mapping):
            raise ConfigError(f"parameter 'overrides[{name!r}]': got {over!r}; allowed: a "
                              "mapping {setting: value}")
        get_experiment(name).config(profile, over, dev)
    print(f"profile: {profile} · device: {dev}" + (f" ({note})" if note else "")
          + (f" · overrides: {dict(overrides)}" if overrides else ""))
    return dev


def check_out(out: str | Path) -> None:
    """Refuse, before any work, an ``out`` folder that is a file or cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"parameter 'out': got {str(out)!r} (a file); allowed: a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".mifd-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"parameter 'out': got {str(out)!r} ({e.strerror or e}); allowed: a "
                          "folder this user can write") from None


def check_kernel(cfg: Any, device: str) -> None:
    """Refuse, in one line and before any work, a config whose ``gru_kernel`` cannot run on
    ``device`` (the Triton kernels need Triton and CUDA, or Triton's interpreter on the CPU)."""
    if getattr(cfg, "gru_kernel", "torch") != "torch":
        from ..accel.kernels.gru import available
        if not available(device):
            raise ConfigError(f"parameter 'gru_kernel': got {cfg.gru_kernel!r} on {device}; "
                              "allowed: 'torch' there (the Triton kernels need Triton and a "
                              "CUDA device, or TRITON_INTERPRET=1 on the CPU)")


def check_finite(result: Mapping[str, Any], conditions: Sequence[str] = ()) -> None:
    """Refuse a finished result whose networks are not finite: any non-finite value in its
    ``weights``, or in the last recorded task or regularization loss of a trial (``hist``).
    Raises :class:`mifd.mine.NonFiniteError` naming the trials (and conditions)."""
    from ..mine import NonFiniteError
    bad: set[int] = set()
    hist = result.get("hist", {})
    T = None
    for k in ("task", "reg"):
        v = hist.get(k)
        if v is not None and np.asarray(v).ndim == 2:
            v = np.asarray(v, dtype=float)
            T = v.shape[1]
            bad |= set(np.flatnonzero(~np.isfinite(v[-1])).tolist())
    weights = result.get("weights", {})
    broken = [k for k, w in weights.items() if not np.isfinite(np.asarray(w, dtype=float)).all()]
    if not bad and not broken:
        return
    def name(t: int) -> str:
        if conditions and T and T % len(conditions) == 0:
            return Layout(tuple(conditions), T // len(conditions)).label(t)
        return str(t)
    which = ", ".join(name(t) for t in sorted(bad)) or "unknown trial(s)"
    raise NonFiniteError(f"non-finite network after training in trial(s) {which}"
                         + (f" (weights {', '.join(broken)})" if broken else "")
                         + "; the result is not stored (lower lambda_mi, l2 or the learning "
                         "rates, or check the inputs)")


def run(experiment: str, profile: str = "book", device: str = "auto",
        overrides: Mapping[str, Any] | None = None, *, out: str | Path | None = None,
        store: Store | None = None, progress: bool | None = None, force: bool = False,
        verbose: bool = True, max_seconds: float | None = None,
        refresh: bool = False) -> RunResult:
    """Train ``experiment`` under ``profile`` (or load it from the store) and summarize it.

    Parameters are validated first; a bad one raises :class:`~mifd.ConfigError` before anything is
    written. ``force=True`` retrains even if a finished result is stored, from scratch.
    ``refresh=True`` loads only a result made by this code: one made by other code, committed
    or not, is recomputed (a checkpoint of this code resumes; `make results`). ``max_seconds`` bounds
    this call's training time: past it the run checkpoints and raises
    :class:`~mifd.experiments.base.RunPaused`; the same call again resumes (a long GPU job in chunks).
    """
    if max_seconds is not None and not max_seconds >= 0:
        raise ConfigError(f"parameter 'max_seconds': got {max_seconds!r}; allowed: a number >= 0")
    exp = get_experiment(experiment)
    dev = resolve_device(device)
    cfg = exp.config(profile, overrides, dev)
    _check_run(exp, cfg, dev, out)
    retain = dev == "cpu" and default_for_runs()  # see mifd.accel.allocator
    separate_cache()  # a forced CPU capability compiles apart (mifd.accel.inductor)
    store = store or Store()
    key = config_hash(exp.name, cfg, __version__)
    code = exp.code_hash()
    entry, result, action = _stored(exp.name, key, store, code, force, refresh, verbose)
    if action is Action.TRAIN or action.stale:  # stored as parts, one process per core?
        from .parts import condition_parts
        from .shards import describe
        assembled = condition_parts(exp.name, cfg, store, code, current_only=refresh)
        parts = (Found.NONE if assembled is None else
                 Found.CURRENT if assembled.code_changed is None else Found.STALE)
        if prefer_parts(action, parts):
            assembled.profile = profile
            if out is not None:
                _write_summary(out, assembled)
            if verbose:
                print(describe(assembled))
            return assembled
    changed = (entry.meta().get("code", {}).get("hash") or "unrecorded") if action.stale else None
    loaded = result is not None
    if result is None:
        entry = Entry(store.root / exp.name / key)  # the writable one (not a committed layer)
        with entry_lock(entry.path, key) as waited:
            if waited and not force:  # the other process may have finished it
                result = entry.load_result()
                if not is_current(entry.meta(), code):
                    result = None
                loaded = result is not None
            if result is None and force and entry.checkpoint_path.exists():
                entry.checkpoint_path.unlink()  # --force: from scratch, not from a checkpoint
            if result is None:
                result = _train(exp, cfg, dev, profile, key, entry, store, progress,
                                max_seconds, retain, code, refresh)
    meta = entry.meta()
    summary = summarize(result["trials"])
    rr = RunResult(exp.name, profile, cfg, key, result, meta, summary, loaded, entry.path,
                   changed)
    if out is not None:
        _write_summary(out, rr)
    if verbose:
        print(rr.describe() + describe_reproduction(meta, code))
    return rr



def _check_run(exp: Experiment, cfg: Any, dev: str, out: str | Path | None) -> None:
    """Refuse, in one line and before any work, what cannot run on ``dev``: the critic's
    precision, the GRU kernel, CUDA graphs, the ``out`` folder, the memory it needs."""
    if hasattr(cfg, "sm_precision"):
        from ..adversarial import check_precision
        check_precision(cfg.sm_precision, dev)
    check_kernel(cfg, dev)
    if getattr(cfg, "graph_sm_pass", False):
        from ..accel.cudagraphs import check_graph_device
        check_graph_device(dev)
    if out is not None:
        check_out(out)
    check_memory(exp, cfg, dev)

def _found(entry: Entry, code: str) -> tuple[Found, Any]:
    """The state of ``entry``'s result for ``code``, and the result."""
    result = entry.load_result()
    if result is None:
        return Found.NONE, None
    return (Found.CURRENT if is_current(entry.meta(), code) else Found.STALE), result


def _stored(experiment: str, key: str, store: Store, code: str, force: bool, refresh: bool,
            verbose: bool) -> tuple[Entry, Any, Action]:
    """The entry :func:`run` shows or trains into, its result (``None``: train) and the
    :func:`~mifd.results.policy.decide` verdict on what the store holds."""
    entry = store.entry(experiment, key)
    stored, result = (Found.NONE, None) if force else _found(entry, code)
    committed, held = Found.NONE, None
    if stored is Found.STALE and not entry.readonly and not refresh:
        held = store.committed_entry(experiment, key)
        if held is not None:
            committed, held_result = _found(held, code)
    action = decide(stored, readonly=entry.readonly, committed=committed, refresh=refresh,
                    force=force)
    if action in (Action.LOAD_COMMITTED, Action.SHOW_STALE_COMMITTED):
        entry, result = held, held_result
    elif action.trains:
        if stored is Found.STALE and verbose:  # information (stdout: a page's build treats
            made_by = entry.meta().get("code", {}).get("hash")  # stderr as a fault)
            print(f"mifd: {experiment} {key}: the stored result was made by other code "
                  f"({made_by or 'unrecorded'}; now {code}): recomputing", flush=True)
        result = None
    return entry, result, action


def _write_summary(out: str | Path, rr: RunResult) -> None:
    atomic_write_json(Path(out) / "summary.json", {
        "experiment": rr.experiment, "profile": rr.profile, "key": rr.key,
        "conditions": rr.summary, "provenance": rr.meta})


def _train(exp: Experiment, cfg: Any, dev: str, profile: str, key: str, entry: Entry,
           store: Store, progress: bool | None, max_seconds: float | None, retain: bool,
           code: str, refresh: bool = False) -> dict:
    """Train (or resume) one run into ``entry`` and store it with its provenance. A derived
    experiment's inputs are loaded (or trained) first, outside its recorded wall time."""
    needs = getattr(exp, "inputs", None)
    inputs = None if needs is None else {
        name: run(e, p, dev, o, store=store, progress=progress, verbose=False, refresh=refresh)
        for name, (e, p, o) in needs(cfg).items()}
    store.init_entry(entry, {"experiment": exp.name, "profile": profile, "key": key,
                             "config": to_dict(cfg), "mifd": __version__})
    ckpt = Checkpointer(entry, max_seconds=max_seconds, code=code)
    retain = retain and retain_freed_memory()
    t0 = time.time()
    started = now()
    version = {**code_version(), "hash": code}  # the code that runs, not what is there at the end
    from ..finite import TermNotFinite
    try:
        if inputs is not None:
            result = exp.train(cfg, dev, ckpt, progress_enabled(progress), inputs=inputs)
        else:
            result = exp.train(cfg, dev, ckpt, progress_enabled(progress))
    except TermNotFinite as e:  # name the trials by condition
        label = cfg.layout().label if hasattr(cfg, "layout") else str
        raise TermNotFinite(e.term, e.trials, e.step, e.feeds, e.where) \
            .with_label(label) from None
    check_finite(result, getattr(cfg, "conditions", ()))
    meta = {"experiment": exp.name, "profile": profile, "key": key, "config": to_dict(cfg),
            "code": version, "machine": machine_info(dev), "started": started,
            "finished": now(), "wall_seconds": ckpt.elapsed(),
            "wall_seconds_last_call": time.time() - t0,
            "resumed_from": ckpt.resumed_from, "retain_host_memory": bool(retain)}
    entry.save_result(result, meta)
    return result


@contextmanager
def entry_lock(path: Path, key: str) -> Iterator[bool]:
    """An exclusive lock on a store entry while it trains (``.lock`` in its folder; released
    when the process ends, however it ends). A second process with the same config prints one
    line naming the first and waits for it; yields whether it waited."""
    import fcntl
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "a+") as f:
        waited = False
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            print(f"mifd: run {key} is being trained by process {holder}; waiting for it",
                  file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
            waited = True
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield waited
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def commit_results(experiment: str, profile: str, overrides: Mapping[str, Any] | None = None,
                   store: Store | None = None, device: str = "auto") -> Path:
    """Copy the finished run of ``experiment``/``profile`` into the first committed layer
    (``results/committed``), with its config and provenance, so a clone loads it. ``device``
    names the device it ran on (a profile's CUDA settings change its key). A run made as
    condition parts (``mifd run --parts``) is committed as its parts (returns the first), and a
    committed run of the same config made in one piece is removed (the parts supersede it)."""
    exp = get_experiment(experiment)
    cfg = exp.config(profile, overrides, resolve_device(device))
    store = store or Store()
    key = config_hash(exp.name, cfg, __version__)
    src = Entry(store.root / exp.name / key)
    code = exp.code_hash()
    finished = src.load_result() is not None and is_current(src.meta(), code)
    if not finished:
        from .parts import condition_parts  # run as parts (`mifd run --parts`): commit them
        assembled = condition_parts(exp.name, cfg, store, code)
        local = [p["key"] for p in (assembled.meta["parts"] if assembled else [])
                 if (store.root / exp.name / p["key"] / "result.bin").exists()]
        if assembled is not None and local and store.committed:
            for k in local:
                _copy_entry(store.root / exp.name / k, store.committed[0] / exp.name / k,
                            exp.name)
            whole = store.committed[0] / exp.name / key
            if whole.exists():  # an older run of all conditions at once: superseded by the parts
                import shutil
                shutil.rmtree(whole)
            return store.committed[0] / exp.name / local[0]
        if assembled is not None and assembled.code_changed is None and store.committed:
            return store.committed[0] / exp.name / assembled.meta["parts"][0]["key"]  # as is
        held = store.committed_entry(exp.name, key) if store.committed else None
        if held is not None and held.load_result() is not None and is_current(held.meta(), code):
            return held.path  # committed by this code already (`make results` keeps it)
    if not finished:
        raise ConfigError(f"parameter 'experiment': got {experiment!r} (profile {profile!r}); "
                          f"allowed: a run finished in the store (run `mifd run` first)")
    if not store.committed:
        raise ConfigError("parameter 'store': no committed layer (not inside a checkout)")
    dst = store.committed[0] / exp.name / key
    _copy_entry(src.path, dst, exp.name)
    return dst


def _copy_entry(src: Path, dst: Path, experiment: str) -> None:
    """Copy a finished entry as its committed copy (:func:`mifd.results.store.committed_files`)."""
    from .store import atomic_write_bytes, committed_files
    dst.mkdir(parents=True, exist_ok=True)
    files = committed_files({n: (src / n).read_bytes()
                             for n in ("result.bin", "meta.json", "config.json")},
                            get_experiment(experiment).committed_without)
    for name in ("config.json", "meta.json", "result.bin"):  # result.bin marks it complete
        atomic_write_bytes(dst / name, files[name])


def committed_status(store: Store | None = None) -> list[dict[str, Any]]:
    """Every committed result: experiment, profile, key, the code hash that made it and whether
    that is this checkout's code (``current``); ``make results`` recomputes the others."""
    store = store or Store()
    rows = []
    for entry in store.iter_entries():
        exp_name = entry.path.parent.name
        if exp_name not in EXPERIMENTS:
            continue
        meta = entry.meta()
        made_by = meta.get("code", {}).get("hash")
        code = EXPERIMENTS[exp_name].code_hash()
        rows.append({"experiment": exp_name, "profile": meta.get("profile", "?"),
                     "key": entry.path.name, "made by": made_by or "unrecorded",
                     "commit": (meta.get("code", {}).get("git_commit") or "?")[:10],
                     "current": is_current(meta, code),
                     "reproduced": made_by != code and is_current(meta, code)})
    return rows

