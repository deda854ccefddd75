"""Does this code still make a committed result? Replay its start and compare, bit for bit.

A committed result records the hash of the code that made it (:mod:`mifd.results.fingerprint`); any
later change to that code makes it *stale*, and recomputing every committed ``book`` result
takes about nine hours of two CPU cores. A change that does not alter what is computed (a
guard, a new option off by default, a refactor) is shown to be such by a **replay**: this code
trains the committed config from scratch up to its first snapshot after training starts, and
every per-step history (task loss, L2 term, MI estimate, critic estimate, accuracy, … of every
trial) and every snapshot metric made so far must equal the committed values bit for bit —
except float64 metrics that numpy computes after training (e.g. the evaluation MSE), whose
last bits depend on numpy's summation order and so on its version: they must agree within
:data:`FLOAT64_RTOL` relative, and the largest difference is recorded.
A replay that passes is recorded in the result's ``meta.json`` (``reproduced``: this code's
hash, the steps replayed of how many, what was compared, when, at which commit); the result
then counts as made by this code (:func:`mifd.results.provenance.is_current`) and its page says how
that is known.

Bit for bit holds only on the same numerics (:mod:`mifd.results.numerics`: CPU vendor, torch's CPU
capability, BLAS, torch): another machine may run other kernels whose float32 sums differ in
their last bits, and training carries that on. A result made on other numerics (or on numerics
its record does not name: results made before the record existed) whose replay differs is
therefore compared again over its first ``CROSS_NUMERICS_STEPS`` step(s) and initial
snapshot only, without the critic's estimates, within ``CROSS_NUMERICS_TOL`` (each history's or metric's largest difference
relative to its largest magnitude: later steps amplify rounding chaotically), and the record
says which comparison passed, over how many steps, and why.

What a replay does not cover is stated with it: the steps after the first snapshot run the
same code as the steps before it, but the last evaluation and a post-hoc audit after training
are not replayed. A code change that alters what is computed fails the replay, and the result
stays stale until ``make results`` recomputes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from . import numerics
from ..config import ConfigError, apply_overrides, config_hash, stored_config
from .provenance import is_current
from .store import Entry, Store, atomic_write_json, code_version, now

__all__ = ["CROSS_NUMERICS_SKIP", "CROSS_NUMERICS_STEPS", "CROSS_NUMERICS_TOL", "FLOAT64_RTOL", "Replay", "ReplayStop", "compare", "compare_all", "replay",
           "reproduce_committed"]

#: (path in the training unit's state, path in the stored result) of per-step histories: row
#: ``i`` holds step ``i``'s values of every trial, ``NaN`` before the step has run
HISTORIES = (("hist", "hist"), ("train_dv", "audit/train_dv"),
             ("inner/train_dv", "audit/train_dv"))
#: (path in the unit's state, path in the result) of snapshot lists: one dict of metrics per
#: snapshot in the state, ``{metric: (snapshots, ...)}`` in the result
SNAPSHOTS = (("snaps", "snaps"), ("evals", "snaps"))
#: replay at most this many steps where a unit keeps no snapshots
STEPS_WITHOUT_SNAPSHOTS = 25


class ReplayStop(Exception):
    """Raised inside :func:`~mifd.experiments.base.run_units` when the replay has run far
    enough; carries the run's state (as a checkpoint would hold it)."""

    def __init__(self, state: dict):
        super().__init__("replay stopped")
        self.state = state


def _get(tree: Any, path: str) -> Any:
    for k in path.split("/"):
        if not isinstance(tree, Mapping) or k not in tree:
            return None
        tree = tree[k]
    return tree


def _snap_count(unit_state: Mapping[str, Any]) -> int | None:
    for path, _ in SNAPSHOTS:
        s = _get(unit_state, path)
        if isinstance(s, list):
            return len(s)
    return None


class _ReplayCheckpointer:
    """Stands in for :class:`~mifd.experiments.base.Checkpointer`: nothing is written; the
    state is looked at after every step, and the run stops at the first snapshot after step
    0 of its first unit (or after :data:`STEPS_WITHOUT_SNAPSHOTS` steps)."""

    def __init__(self):
        self.prior_seconds, self.resumed_from, self.deadline = 0.0, None, None

    def resume(self) -> None:
        return None

    def elapsed(self) -> float:
        return 0.0

    def expired(self) -> bool:
        return False

    def due(self) -> bool:
        return True

    def save(self, state: dict, force: bool = False) -> bool:
        cur = state.get("current")
        if cur is None:  # the first unit finished before a second snapshot: stop there
            raise ReplayStop(state)
        n = _snap_count(cur["state"])
        if (n is not None and n >= 2) or (n is None and cur["step"] >= STEPS_WITHOUT_SNAPSHOTS):
            raise ReplayStop(state)
        return True


#: float64 values (evaluation metrics computed in numpy after training) may differ in their
#: last bits between numpy versions, which sum in other orders; they count as the same within
#: this relative difference, and the largest difference found is recorded
FLOAT64_RTOL = 1e-12


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest relative difference of two float arrays of one shape (NaN where both are)."""
    both = np.isnan(a) & np.isnan(b)
    d = np.abs(a - b)[~both]
    scale = np.maximum(np.abs(a), np.abs(b))[~both]
    if d.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(d == 0, 0.0, d / scale)
    return float(np.nanmax(np.where(np.isnan(r), np.inf, r)))


#: on other (or unrecorded) numerics only the first ``CROSS_NUMERICS_STEPS`` training steps
#: and the initial snapshot are compared, each value within this fraction of its largest
#: magnitude, and the critic's estimates (:data:`CROSS_NUMERICS_SKIP`) not at all. Measured:
#: a committed 10-trial ``book`` wm run replayed with MKL's AVX2 kernels (``MKL_CBWR=AVX2``)
#: against the AVX-512 ones it was made with — the initial snapshot's metrics differ by ≤ 2.3e-5
#: of their scale, the first step's task loss not at all, its MI estimates by 3.4e-3; by step 25
#: the task loss differs by 0.17 and the MI estimates by 0.23 (training amplifies rounding); a
#: committed separation run (made on an AMD EPYC) replayed on an Intel Xeon: initial snapshot
#: ≤ 8e-8, first-step task loss 9.3e-8, the MI estimates after the critic's pre-training steps
#: by 1–5 % — so the critic's estimates cannot tell rounding from a code change there.
CROSS_NUMERICS_TOL = 1e-3
CROSS_NUMERICS_STEPS = 1
#: histories left out of a comparison across numerics: the critic's estimates (see above)
CROSS_NUMERICS_SKIP = ("hist/mi", "hist/sm_mi")


def _scaled_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference of two arrays relative to the larger one's largest magnitude
    (``inf`` where NaN stands in one only)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    ok = ~np.isnan(a)
    if not ok.any():
        return 0.0
    d = float(np.max(np.abs(a[ok] - b[ok])))
    scale = float(max(np.max(np.abs(a[ok])), np.max(np.abs(b[ok]))))
    return 0.0 if d == 0 else (d / scale if scale > 0 else float("inf"))


def _same(a: Any, b: Any, rounding: dict[str, float] | None = None, name: str = "",
          tolerance: dict[str, float] | None = None) -> bool:
    """Bit for bit (NaN where NaN); float64 arrays within :data:`FLOAT64_RTOL`, their largest
    relative difference noted in ``rounding[name]``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        if np.array_equal(a, b, equal_nan=True):
            return True
        if a.dtype == np.float64 and b.dtype == np.float64:
            r = _rel_diff(a, b)
            if r <= FLOAT64_RTOL:
                if rounding is not None:
                    rounding[name] = max(rounding.get(name, 0.0), r)
                return True
        if tolerance is not None:
            r = _scaled_diff(a, b)
            if r <= CROSS_NUMERICS_TOL:
                tolerance[name] = max(tolerance.get(name, 0.0), r)
                return True
        return False
    return bool(np.array_equal(a, b))


@dataclass
class Replay:
    """What a replay compared and found: ``steps`` training steps replayed of ``of``."""

    experiment: str
    key: str
    steps: int
    of: int
    compared: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)
    unit: str = "train"
    #: float64 values equal only within :data:`FLOAT64_RTOL`: their largest relative difference
    rounding: dict[str, float] = field(default_factory=dict)
    #: "same", "different" or "unrecorded": the committed result's numerics against this
    #: machine's (:func:`mifd.results.numerics.same_numerics`)
    numerics: str = "same"
    #: values equal only within ``CROSS_NUMERICS_TOL`` (other or unrecorded numerics):
    #: their largest scaled difference; empty when the replay matched bit for bit
    tolerance: dict[str, float] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        """How the replay matched: "bit for bit" or "within tolerance"."""
        return "within tolerance" if self.tolerance else "bit for bit"

    @property
    def reproduced(self) -> bool:
        return bool(self.compared) and not self.differ

    def record(self, code: str) -> dict[str, Any]:
        v = code_version()
        return {"code": code, "git_commit": v.get("git_commit"), "date": now(),
                "unit": self.unit, "steps": self.steps, "of": self.of,
                "compared": self.compared, "float64_rounding": self.rounding,
                "float64_rtol": FLOAT64_RTOL, "mode": self.mode, "numerics": self.numerics,
                "machine_numerics": numerics.record(),
                **({"tolerance": self.tolerance, "tolerance_scaled": CROSS_NUMERICS_TOL,
                    "tolerance_steps": CROSS_NUMERICS_STEPS} if self.tolerance else {})}


def _rows_run(a: np.ndarray) -> int:
    """Leading rows of a NaN-prefilled history that hold values."""
    if a.dtype.kind != "f" or a.ndim == 0:
        return a.shape[0] if a.ndim else 0
    ran = ~np.isnan(a.reshape(a.shape[0], -1)).all(1)
    return a.shape[0] if ran.all() else int(np.argmin(ran))


def compare(unit_state: Mapping[str, Any], result: Mapping[str, Any],
            rounding: dict[str, float] | None = None, tolerance: dict[str, float] | None = None,
            first: int | None = None) -> tuple[list[str], list[str], int, int]:
    """Compare the histories and snapshots a replay made with the stored ones: the names
    compared, those that differ (a shape, a value or a NaN in another place), and the steps
    replayed of how many (rows of the first history). ``first``: only the first so many
    history rows and snapshots."""
    compared, differ = [], []
    rounding = rounding if rounding is not None else {}
    steps = of = 0
    for s_path, r_path in HISTORIES:
        hist, stored = _get(unit_state, s_path), _get(result, r_path)
        if hist is None or stored is None:
            continue
        items = list(hist.items()) if isinstance(hist, Mapping) else [("", hist)]
        # the rows that have run: those before the first all-NaN row of any of the histories
        # (a history kept as zeros until its step runs cannot tell; one that is NaN in every
        # row, a term this config does not compute, is compared over the same rows)
        rows = min((r for r in (_rows_run(np.asarray(a)) for _, a in items) if r), default=0)
        rows = rows if first is None else min(rows, first)
        if rows == 0:
            continue
        for k, a in items:
            a = np.asarray(a)
            b = np.asarray(stored[k] if k else stored)
            name = f"{r_path}/{k}" if k else r_path
            if first is not None and name in CROSS_NUMERICS_SKIP:
                continue
            compared.append(name)
            if not of:
                steps, of = rows, b.shape[0]
            if a.shape[1:] != b.shape[1:] or b.shape[0] < rows or \
                    not _same(a[:rows], b[:rows], rounding, name, tolerance):
                differ.append(name)
    for s_path, r_path in SNAPSHOTS:
        snaps, stored = _get(unit_state, s_path), _get(result, r_path)
        if not isinstance(snaps, list) or not isinstance(stored, Mapping):
            continue
        snaps = snaps if first is None else snaps[:first]
        for k in snaps[0] if snaps else ():
            if k not in stored:
                continue  # a leaf the committed copy leaves out
            name = f"{r_path}/{k}"
            compared.append(name)
            b = np.asarray(stored[k])
            if b.shape[0] < len(snaps) or \
                    not all(_same(s[k], b[i], rounding, name, tolerance)
                            for i, s in enumerate(snaps)):
                differ.append(name)
        break
    return compared, differ, steps, of


def compare_all(made: Mapping[str, Any], stored: Mapping[str, Any], prefix: str = "",
                rounding: dict[str, float] | None = None,
                tolerance: dict[str, float] | None = None) -> tuple[list[str], list[str]]:
    """Compare every array a replayed unit made with the stored one at the same path."""
    compared, differ = [], []
    rounding = rounding if rounding is not None else {}
    for k, v in made.items():
        name = f"{prefix}/{k}" if prefix else k
        if isinstance(v, Mapping):
            if isinstance(stored.get(k), Mapping):
                c, d = compare_all(v, stored[k], name, rounding, tolerance)
                compared += c
                differ += d
            continue
        if k not in stored or isinstance(v, str):
            continue
        compared.append(name)
        if not _same(v, stored[k], rounding, name, tolerance):
            differ.append(name)
    return compared, differ


def replay(entry: Entry, progress: bool = False) -> Replay:
    """Replay the committed (or stored) run in ``entry`` with this code on the CPU, up to its
    first snapshot after step 0, and compare (:func:`compare`). Raises
    :class:`~mifd.ConfigError` for an entry that cannot be replayed (no result, a config
    whose key is not the entry's)."""
    from ..experiments import get_experiment
    from .._version import __version__
    result = entry.load_result()
    if result is None:
        raise ConfigError(f"parameter 'entry': got {str(entry.path)!r}; allowed: a finished "
                          "result with its config.json")
    stored = json.loads((entry.path / "config.json").read_text())
    exp = get_experiment(stored["experiment"])
    cfg = stored_config(exp.config_cls, stored["config"])
    key = config_hash(exp.name, cfg, __version__)
    if key != entry.path.name:
        raise ConfigError(f"parameter 'entry': got {str(entry.path)!r} whose config has key "
                          f"{key}; allowed: an entry whose folder is its config's key")
    ckpt = _ReplayCheckpointer()
    needs = getattr(exp, "inputs", None)
    import torch
    threads = torch.get_num_threads()
    # CPU sums may be split across threads: replay with as many as the run had
    torch.set_num_threads(int(entry.meta().get("machine", {}).get("torch_threads") or threads))
    try:
        if needs is not None:
            from .runner import run
            inputs = {name: run(e, p, "cpu", o, verbose=False, progress=False)
                      for name, (e, p, o) in needs(cfg).items()}
            exp.train(cfg, "cpu", ckpt, progress, inputs=inputs)
        else:
            exp.train(cfg, "cpu", ckpt, progress)
    except ReplayStop as stop:
        state = stop.state
    else:  # pragma: no cover - a run shorter than its first snapshot
        raise ConfigError(f"parameter 'entry': got {str(entry.path)!r}, a run that finished "
                          "before its first snapshot; allowed: a run with one (recompute it)")
    finally:
        torch.set_num_threads(threads)
    same = numerics.same_numerics(entry.meta().get("machine", {}).get("numerics"),
                                  numerics.record())
    kind = "unrecorded" if same is None else ("same" if same else "different")
    return _compare_state(state, result, exp.name, entry.path.name, kind)


def _compare_state(state: dict, result: Mapping[str, Any], experiment: str, key: str,
                   kind: str = "same") -> Replay:
    """Compare a replayed state with the stored result: bit for bit, and on other or
    unrecorded numerics (``kind``) what differs again within ``CROSS_NUMERICS_TOL``."""
    cur = state["current"]

    def run(tolerance, first=None):
        rounding: dict[str, float] = {}
        if cur is None:  # the whole first unit ran: every value it made is compared
            name, made = next(iter(state["done"].items()))
            stored = _get(result, name) or _get(result, f"units/{name}") or result
            compared, differ = compare_all(made, stored, name, rounding, tolerance)
            steps = of = int(state["step"])
        else:
            name = cur["unit"]
            compared, differ, steps, of = compare(cur["state"], result, rounding, tolerance,
                                                  first)
        return Replay(experiment, key, steps, of, compared, differ, name, rounding, kind,
                      tolerance or {})

    r = run(None)
    if r.differ and kind != "same":
        r = run({}, CROSS_NUMERICS_STEPS)
        if r.reproduced and not r.tolerance:  # equal bit for bit over the first steps only
            r.tolerance = {name: 0.0 for name in r.compared}
    return r


def reproduce_committed(store: Store | None = None, experiments: tuple[str, ...] = (),
                        profile: str = "book", progress: bool = True,
                        report: Callable[[str], None] | None = None) -> list[Replay]:
    """Replay every committed ``profile`` result not made by this code (of ``experiments``,
    or all) and record in its ``meta.json`` each that this code reproduces. Returns the
    replays; those that differ stay stale (``make results`` recomputes them)."""
    from .runner import EXPERIMENTS
    store = store or Store()
    report = report or (lambda line: print(line, flush=True))
    out = []
    for entry in store.iter_entries():
        name = entry.path.parent.name
        if name not in EXPERIMENTS or (experiments and name not in experiments):
            continue
        meta = entry.meta()
        code = EXPERIMENTS[name].code_hash()
        if meta.get("profile") != profile or is_current(meta, code):
            continue
        r = replay(entry, progress=progress)
        out.append(r)
        if r.reproduced:
            meta = {**meta, "reproduced": [*meta.get("reproduced", ()), r.record(code)]}
            atomic_write_json(entry.path / "meta.json", meta)
        report(f"{'reproduced' if r.reproduced else 'DIFFERS   '}  {name:<20} {r.key}  "
               f"steps {r.steps} of {r.of}; compared {len(r.compared)}; "
               f"{r.mode if r.reproduced else 'not even within tolerance'} "
               f"({r.numerics} numerics)"
               + (f"; largest scaled difference {max(r.tolerance.values()):.1e}"
                  if r.tolerance else "")
               + (f"; float64 within {max(r.rounding.values()):.1e}" if r.rounding else "")
               + (f"; differ: {', '.join(r.differ)}" if r.differ else ""))
    return out
