"""The authors' runs as committed data: a dump of :mod:`mifd.authors.driver` read back, mifd's
metrics computed on it, and the record written with its provenance.

The metrics are :mod:`mifd.metrics`' own functions on the same kind of inputs as the ``wm``
experiment's snapshots (``mifd.experiments.wm.evaluate``): Q_cor and D_cor on the states
``h`` of a fresh evaluation batch (batch × steps pooled; D_cor against the targets), Q_str on
``W_rec``, D_in on ``W_in`` (4 × N), D_out on ``W_out`` (N × 2), accuracy and MSE of the
outputs. On a dump of their code they equal their own analysis functions (``wm_analysis_essence``:
``corr_x_and_target``, ``Q_weight_straight``, ``separation_target``/``_input``) to float
rounding (checked on a width-64 dump, TensorFlow 2.15.1). A record is one seed: ``results/committed/authors-wm/<key>/`` with ``config.json``
(the settings), ``meta.json`` (their commit, TensorFlow and Keras versions, machine, dates,
wall time, threads, what the driver wraps) and ``result.bin`` (a data file,
:mod:`mifd.results.blobs`)::

    {"seed", "settings", "snap_epochs" (S,), "snaps": {Q_cor, D_cor, Q_str, D_in, D_out,
     accuracy, mse: (S,)}, "hist": {task, reg, total, accuracy, mi, sm_mi, sm_mi_last,
     epoch_seconds, epoch_cpu_seconds: (epochs,)}, "pre_mi", "weights": {W_rec, W_in, W_out, b, b_out: (S, …)},
     "audit": {held_out_dv, gaussian, copula: (1,), train_dv}}

``audit`` (added by :func:`audit_record`, with what made it in ``meta.json``) is mifd's ``wm``
end-of-training audit run on the record's final weights.

``hist["mi"]`` is the MM step's DV estimate (the value the RNN minimized), ``hist["sm_mi"]``
the mean of the statistics network's own DV estimates over the epoch's SM steps (as mifd's
``wm`` histories), ``hist["sm_mi_last"]`` the last SM step's (the number their code logs as
``mi_before``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..config import ConfigError
from ..results.blobs import load_blob
from ..results.store import atomic_write_json, code_version, default_roots, dump_blob, now
from .driver import AUTHORS_COMMIT, DEFAULTS, HISTORY, LATER, SettingsError, check_settings

#: the folder of the records under a committed root
EXPERIMENT = "authors-wm"
#: a snapshot's arrays and their number of dimensions
SNAPSHOT = {"W_rec": 2, "W_in": 2, "W_out": 2, "b": 1, "b_out": 1, "H": 3, "y": 3, "target": 3}
#: the metrics of a snapshot, in the order of the ``wm`` experiment's
METRICS = ("Q_cor", "D_cor", "Q_str", "D_in", "D_out", "accuracy", "mse")
#: what the driver changes around the authors' code (recorded in every meta.json)
WRAPPED = ("Python's random, TensorFlow's global generator and the model's noise generator "
           "seeded from the seed (non-deterministic in their code)",
           "mine_train_epoch wrapped to read each SM step's DV estimate",
           "train_with_mine wrapped to take the epoch-0 snapshot",
           "WMMetrics subclassed: its end-of-epoch reset records the epoch and the snapshots",
           "snapshots evaluated on random streams of their own (training stream unchanged)")


class DumpError(ConfigError):
    """A dump folder that is incomplete or inconsistent (one line: the file and what is wrong)."""


def read_snapshot(path: Path) -> dict[str, np.ndarray]:
    """One ``snap-EEEE.npz`` (never unpickled), its arrays checked for names and shapes."""
    try:
        with np.load(path, allow_pickle=False) as z:
            snap = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DumpError(f"{path}: not a snapshot ({e.__class__.__name__})") from None
    missing = sorted(set(SNAPSHOT) - set(snap))
    if missing:
        raise DumpError(f"{path}: missing {', '.join(missing)}")
    for k, nd in SNAPSHOT.items():
        if snap[k].ndim != nd or not np.issubdtype(snap[k].dtype, np.floating):
            raise DumpError(f"{path}: {k} has shape {snap[k].shape} ({snap[k].dtype}); "
                            f"allowed: {nd} float dimensions")
    n = snap["W_rec"].shape[0]
    want = {"W_rec": (n, n), "W_in": (4, n), "W_out": (n, 2), "b": (n,), "b_out": (2,)}
    b, steps = snap["H"].shape[:2]
    want.update(H=(b, steps, n), y=(b, steps, 2), target=(b, steps, 2))
    for k, shape in want.items():
        if snap[k].shape != shape:
            raise DumpError(f"{path}: {k} has shape {snap[k].shape}; allowed: {shape}")
    return snap


def snapshot_metrics(snap: dict[str, np.ndarray]) -> dict[str, float]:
    """mifd's metrics of one snapshot (as ``mifd.experiments.wm.evaluate`` computes them)."""
    n = snap["W_rec"].shape[0]
    H = snap["H"].reshape(-1, n)
    tgt = snap["target"].reshape(-1, 2)
    res = {"Q_cor": metrics.q_cor(H), "D_cor": metrics.d_cor(H, tgt),
           "Q_str": metrics.q_str(snap["W_rec"]), "D_in": metrics.d_in(snap["W_in"]),
           "D_out": metrics.d_out(snap["W_out"]),
           "accuracy": metrics.accuracy(snap["y"], snap["target"]),
           "mse": metrics.mse(snap["y"], snap["target"])}
    return {k: float(v) for k, v in res.items()}


def _done(folder: Path) -> dict[str, Any]:
    """The dump's ``done.json``, its settings checked."""
    p = folder / "done.json"
    try:
        done = json.loads(p.read_text())
    except FileNotFoundError:
        raise DumpError(f"{p}: missing (the run did not finish)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DumpError(f"{p}: damaged ({e.__class__.__name__})") from None
    for k in ("settings", "tensorflow", "authors_commit", "wall_seconds"):
        if not isinstance(done, dict) or k not in done:
            raise DumpError(f"{p}: no {k!r}")
    try:
        done["settings"] = check_settings(done["settings"])
    except (SettingsError, TypeError) as e:
        raise DumpError(f"{p}: {e}") from None
    return done


def _history(folder: Path, epochs: int) -> dict[str, np.ndarray]:
    """The dump's ``history.npz``, one value per epoch for each history."""
    p = folder / "history.npz"
    try:
        with np.load(p, allow_pickle=False) as z:
            hist = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DumpError(f"{p}: missing or damaged ({e.__class__.__name__})") from None
    for k in (*HISTORY, "pre_mi"):
        if k not in hist:
            raise DumpError(f"{p}: missing {k}")
        if k != "pre_mi" and hist[k].shape != (epochs,):
            raise DumpError(f"{p}: {k} has shape {hist[k].shape}; allowed: ({epochs},)")
    return hist


def read_dump(folder: Path | str) -> dict[str, Any]:
    """A finished dump: ``done`` (the driver's provenance, settings checked), ``hist``,
    ``snap_epochs`` and ``snaps`` (the arrays of every snapshot, in epoch order). The snapshot
    epochs must be 0, every ``snapshot_every`` and the last."""
    folder = Path(folder)
    done = _done(folder)
    s = done["settings"]
    epochs, every = int(s["epochs"]), int(s["snapshot_every"])
    want = sorted({0, *range(every, epochs + 1, every), epochs})
    paths = sorted(folder.glob("snap-*.npz"))
    got = [int(p.stem.split("-")[1]) for p in paths]
    if got != want:
        raise DumpError(f"{folder}: snapshots at epochs {got[:5]}…; allowed: {want[:5]}… "
                        f"({len(want)} in all)")
    snaps = [read_snapshot(p) for p in paths]
    shapes = {k: {sn[k].shape for sn in snaps} for k in SNAPSHOT}
    if any(len(v) > 1 for v in shapes.values()):
        raise DumpError(f"{folder}: the snapshots' shapes differ")
    want_h = (int(s["batch"]), int(s["steps"]))
    if snaps[0]["H"].shape[:2] != want_h:
        raise DumpError(f"{folder}: states of shape {snaps[0]['H'].shape}; allowed: "
                        f"{want_h} × N (the settings' batch and steps)")
    return {"done": done, "hist": _history(folder, epochs), "snap_epochs": got, "snaps": snaps}


def record_key(settings: dict[str, Any], authors_commit: str) -> str:
    """The record's folder name: ``seed<seed>-w<width>-e<epochs>[-init<seed>]-<hash>`` (hash
    of the settings and the authors' commit; a setting of :data:`~.driver.LATER` at its default
    is left out, so a record made before it existed keeps its key)."""
    s = check_settings(settings)
    keyed = {k: v for k, v in s.items() if not (k in LATER and v == LATER[k])}
    blob = json.dumps({"settings": keyed, "authors_commit": authors_commit}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
    init = f"-init{s['init_from']}" if s["init_from"] else ""
    return f"seed{s['seed']}-w{s['width']}-e{s['epochs']}{init}-{digest}"


def build_record(dump: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The result (see the module's text) and its ``meta.json`` from :func:`read_dump`'s
    output."""
    done, snaps = dump["done"], dump["snaps"]
    per = [snapshot_metrics(sn) for sn in snaps]
    hist = dict(dump["hist"])
    pre_mi = float(hist.pop("pre_mi"))
    result = {"seed": int(done["settings"]["seed"]), "settings": dict(done["settings"]),
              "snap_epochs": np.asarray(dump["snap_epochs"], dtype=np.int64),
              "snaps": {k: np.array([m[k] for m in per]) for k in METRICS},
              "hist": {k: np.asarray(v, dtype=np.float64) for k, v in hist.items()},
              "pre_mi": pre_mi,
              "weights": {k: np.stack([sn[k] for sn in snaps]).astype(np.float32)
                          for k in ("W_rec", "W_in", "W_out", "b", "b_out")}}
    meta = {"experiment": EXPERIMENT, "source": {
                "repository": "cncs-fit/mio_rnn", "commit": done["authors_commit"],
                "entry": "wm/run_once.py one_trial (as wm/run_multiple_trial.py calls it)"},
            "settings": dict(done["settings"]), "wrapped": list(WRAPPED) + (
                [f"set_model_for_task wrapped: the RNN's initial weights replaced by mifd's of "
                 f"seed {done['settings']['init_from']}"] if done["settings"]["init_from"]
                else []),
            "init_weights": done.get("init_weights"),
            "run": {k: done.get(k) for k in ("tensorflow", "keras", "numpy", "python",
                                             "machine", "processor", "host", "cpus", "threads",
                                             "started", "finished", "wall_seconds",
                                             "seconds_per_epoch_median",
                                             "cpu_seconds_per_epoch_median")},
            "recorded": now(), "metrics_code": code_version()}
    return result, meta


def write_record(folder: Path | str, root: Path | str | None = None,
                 allow_other_commit: bool = False) -> Path:
    """Read the dump in ``folder``, compute the metrics and write the record under ``root``
    (default: the checkout's ``results/committed``); returns the record's folder. A dump of
    another commit than :data:`~mifd.authors.driver.AUTHORS_COMMIT` is refused unless
    ``allow_other_commit``."""
    dump = read_dump(folder)
    commit = str(dump["done"]["authors_commit"])
    if not commit.startswith(AUTHORS_COMMIT) and not allow_other_commit:
        raise DumpError(f"{folder}: made by the authors' commit {commit[:10]}; allowed: "
                        f"{AUTHORS_COMMIT}")
    result, meta = build_record(dump)
    base = Path(root) if root is not None else committed_root()
    entry = base / EXPERIMENT / record_key(result["settings"], commit)
    atomic_write_json(entry / "config.json", {"experiment": EXPERIMENT,
                                              "settings": result["settings"],
                                              "authors_commit": commit})
    atomic_write_json(entry / "meta.json", meta)
    dump_blob(entry / "result.bin", result, compress=True)
    return entry


def committed_root() -> Path:
    """The checkout's ``results/committed`` (a one-line error outside a checkout)."""
    roots = default_roots()[1]
    if not roots:
        raise ConfigError("parameter 'root': no results/committed (not inside a checkout)")
    return roots[0]


def load_records(root: Path | str | None = None, **settings: Any) -> list[dict[str, Any]]:
    """Every record under ``root`` (default: ``committed_root()``) whose settings include
    ``settings`` (e.g. ``width=64, epochs=1000``), by seed; each result with its ``meta``. A
    setting not given is not filtered on, but ``init_from``: records started from their own
    initial weights unless ``init_from`` is given (a seed, or ``None`` for every record)."""
    base = (Path(root) if root is not None else committed_root()) / EXPERIMENT
    want = {"init_from": 0, **settings}
    if want["init_from"] is None:
        del want["init_from"]
    out = []
    for p in sorted(base.glob("*/result.bin")):
        meta = json.loads((p.parent / "meta.json").read_text())
        if all(meta["settings"].get(k, DEFAULTS.get(k)) == v for k, v in want.items()):
            out.append({**load_blob(p), "meta": meta, "key": p.parent.name})
    return sorted(out, key=lambda r: r["seed"])


#: what :func:`audit_record` runs on a record's final weights (the ``wm`` end-of-training audit)
AUDIT_PROFILE = "book"


def audit_config(result: dict[str, Any], profile: str = AUDIT_PROFILE) -> Any:
    """The ``wm`` config whose end-of-training audit :func:`audit_record` runs: ``profile``'s,
    one MI trial of the record's seed and network size (so the audit's sequences and fresh
    critic are those of our run of the same seed)."""
    from ..experiments import get_experiment
    n = int(np.asarray(result["weights"]["W_rec"]).shape[-1])
    return get_experiment("wm").config(profile, {"conditions": ("mi",), "trials": 1, "n": n,
                                                 "seed": int(result["seed"])})


def audit_record(entry: Path | str, profile: str = AUDIT_PROFILE) -> dict[str, Any]:
    """Add to a record the end-of-training audit of mifd's ``wm`` run
    (``mifd.experiments.wm.AuditUnit``: the copula and Gaussian MI between the groups on
    fresh sequences and a fresh critic's held-out estimate), run on the record's final weights
    in mifd's network — which computes what theirs does, to float rounding — with
    :func:`audit_config`. The record's ``result.bin`` gains ``audit``, its ``meta.json`` what
    made it; returns the audit."""
    import torch
    from ..experiments.wm import AuditUnit
    entry = Path(entry)
    result = load_blob(entry / "result.bin")
    cfg = audit_config(result, profile)
    weights = {k: np.asarray(v[-1:])[:, None] for k, v in result["weights"].items()}
    with torch.random.fork_rng(devices=[]):
        unit = AuditUnit(cfg, {"weights": weights}, "cpu")
        for i in range(unit.n_steps):
            unit.step(i)
        audit = unit.result()
    result["audit"] = audit
    meta = json.loads((entry / "meta.json").read_text())
    meta["audit"] = {"by": "mifd.experiments.wm.AuditUnit on the last snapshot's weights",
                     "profile": profile, "steps": cfg.audit_steps, "batch": cfg.audit_batch,
                     "width": cfg.audit_width, "code": code_version(), "date": now()}
    dump_blob(entry / "result.bin", result, compress=True)
    atomic_write_json(entry / "meta.json", meta)
    return audit


def audit_missing(root: Path | str | None = None, report: Any = print,
                  profile: str = AUDIT_PROFILE) -> list[Path]:
    """:func:`audit_record` for every committed record without an audit; the folders done."""
    base = (Path(root) if root is not None else committed_root()) / EXPERIMENT
    done = []
    for p in sorted(base.glob("*/result.bin")):
        if "audit" in json.loads((p.parent / "meta.json").read_text()):
            continue
        a = audit_record(p.parent, profile)
        report(f"audited   {p.parent.name}: copula MI {float(a['copula'][0]):.3f}, fresh "
               f"critic {float(a['held_out_dv'][0]):.3f} nats")
        done.append(p.parent)
    return done
