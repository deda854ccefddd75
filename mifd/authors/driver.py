"""Train the authors' working-memory code for one seed and dump what mifd's metrics need.

Run by a Python that has TensorFlow (not the project's environment; see :mod:`mifd.authors`)::

    OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
      ~/.venv-tf/bin/python mifd/authors/driver.py --code ~/mio_rnn --out DIR --seed 1001 --width 64

It imports the authors' modules from ``CODE/wm`` unmodified and calls their ``one_trial`` (the
function their ``run_multiple_trial.py`` calls per seed) with their ``gp_wm`` parameters, of
which only the settings below are changed (:data:`DEFAULTS`: the statistics network's width,
the number of epochs, …). The driver only *wraps* their functions:

* their model draws its recurrent noise, and their global generator its critic-input noise,
  from non-deterministic TensorFlow generators, and Keras 2.x seeds unseeded initializers
  (their initial weights) from Python's ``random``; the driver seeds all three from ``--seed``
  (their ``set_randseed`` seeds NumPy and TensorFlow's op seeds as before), so a run is
  repeatable;
* ``mine_train_epoch`` (one SM step) is wrapped to read the DV estimate of every SM step;
* ``train_with_mine`` is wrapped to see the model, task and loss lists, and to take the
  epoch-0 snapshot where their code records its first weights;
* the per-epoch metrics object (their ``WMMetrics``) is subclassed: its end-of-epoch reset also
  records the epoch (histories, wall time) and, every ``snapshot_every`` epochs and at the last,
  a snapshot;
* with ``--init-weights FILE`` (setting ``init_from``: the mifd seed whose initial weights the
  file holds; 0, the default: their own), ``set_model_for_task`` is wrapped to replace the
  RNN's initial weights (``W_rec``, ``W_in``, ``W_out``, ``b``, ``b_out``, the snapshot's
  layout) by the file's before the critic's pre-training; their initializers still draw, so
  the noise and task streams of the seed are unchanged.

A snapshot (``snap-EEEE.npz``) holds the weights and, as mifd's ``wm`` snapshots do, the states
``h`` of a fresh batch of ``batch`` sequences run through their model with a transient (their
``get_input`` on a copy of their task, initial state N(0, 1)), its outputs and targets. The
evaluation draws from generators of its own (NumPy and TensorFlow states swapped in and back),
so the training stream is the same as without snapshots. At the end ``history.npz`` and
``done.json``. Only the standard library, NumPy and TensorFlow are imported (never mifd).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: the authors' commit this harness was written against (``git -C CODE checkout 59a2f79``)
AUTHORS_COMMIT = "59a2f79"
#: the settings and their published values (``wm/gp_wm.py``), except the critic's width: 64 as
#: in mifd's ``book`` profile (published 512)
DEFAULTS: dict[str, int | float] = {
    "seed": 1001, "width": 64, "epochs": 1000, "pre_steps": 100, "sm_per_mm": 10,
    "lambda_mi": 0.1, "snapshot_every": 25, "batch": 20, "steps": 2000, "transient": 1000,
    "init_from": 0}
#: settings added after records were made: left out of a record's key at their default, so
#: the earlier records keep theirs
LATER = {"init_from": 0}
#: the RNN's weights an ``--init-weights`` file holds: name → (their model's attribute, shape
#: given N)
INIT = {"W_rec": ("W_rec", lambda n: (n, n)), "W_in": ("W_in", lambda n: (4, n)),
        "W_out": ("W_out", lambda n: (n, 2)), "b": ("bias", lambda n: (n,)),
        "b_out": ("b_out", lambda n: (2,))}
#: each setting's attribute of their ``gp_wm`` module (None: the driver's own)
GP_NAMES = {"width": "N_mt_hidden", "epochs": "epochs", "pre_steps": "initial_mine_epoch",
            "sm_per_mm": "n_mine_pre", "lambda_mi": "lambda_mi", "batch": "bs",
            "steps": "time_learn", "transient": "transient", "seed": None,
            "snapshot_every": None, "init_from": None}
#: seed offsets of the generators the driver seeds
OFFSETS = {"global": 31_337, "model": 7_000_003, "eval": 5_550_001}
#: the names of the dumped histories (per epoch)
HISTORY = ("task", "reg", "total", "accuracy", "mi", "sm_mi", "sm_mi_last", "epoch_seconds",
           "epoch_cpu_seconds")


class SettingsError(ValueError):
    """A setting out of range (one line: the name, the value, what is allowed)."""


def check_settings(settings: dict[str, Any]) -> dict[str, int | float]:
    """``settings`` completed from :data:`DEFAULTS`, typed and checked; unknown names and
    values out of range are refused (:class:`SettingsError`)."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise SettingsError(f"setting {unknown[0]!r}: unknown; allowed: {', '.join(DEFAULTS)}")
    out: dict[str, int | float] = {}
    for name, default in DEFAULTS.items():
        value = settings.get(name, default)
        kind = float if isinstance(default, float) else int
        try:
            if isinstance(value, bool) or (kind is int and float(value) != int(float(value))):
                raise ValueError
            v = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise SettingsError(f"setting {name!r}: got {value!r}; allowed: "
                                f"{'a number' if kind is float else 'an integer'}") from None
        low = 0 if name in ("seed", "lambda_mi", "init_from") else 1
        if not np.isfinite(v) or v < low:
            raise SettingsError(f"setting {name!r}: got {value!r}; allowed: >= {low}")
        out[name] = v
    return out


def write_snapshot(out: Path, epoch: int, arrays: dict[str, np.ndarray]) -> Path:
    """Write one snapshot (``snap-EEEE.npz``: the weights ``W_rec`` (N, N), ``W_in`` (4, N),
    ``W_out`` (N, 2), ``b``, ``b_out``; the evaluation's states ``H`` (batch, steps, N),
    outputs ``y`` and targets ``target`` (batch, steps, 2)) atomically."""
    path = out / f"snap-{epoch:04d}.npz"
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, epoch=np.int64(epoch), **{k: np.asarray(v, dtype=np.float32)
                                           for k, v in arrays.items()})
    os.replace(tmp, path)
    return path


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as JSON at ``path``, atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def git_commit(code: Path) -> str | None:
    """The commit checked out at ``code`` (None outside a git checkout)."""
    try:
        r = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


class Recorder:
    """Histories and snapshots of one run (see the module's text)."""

    def __init__(self, tf: Any, out: Path, settings: dict[str, int | float]):
        """``tf``: the TensorFlow module; ``out``: the dump folder."""
        self.tf, self.out, self.s = tf, out, settings
        self.phase = "pre"
        self.sm_epoch: list[float] = []
        self.pre_mi = float("nan")
        self.hist: dict[str, list[float]] = {k: [] for k in HISTORY}
        self.kw: dict[str, Any] = {}
        self.t_last, self.cpu_last = time.perf_counter(), time.process_time()
        seed = int(settings["seed"]) + OFFSETS["eval"]
        self.eval_np = np.random.RandomState(seed).get_state()
        self.eval_tf = tf.random.Generator.from_seed(seed).state.numpy()
        self.eval_task: Any = None
        self.run_fn: Any = None

    def sm_value(self, value: float) -> None:
        """The DV estimate of one SM step (pre-training: the running mean their metric keeps)."""
        if self.phase == "pre":
            self.pre_mi = value
        else:
            self.sm_epoch.append(value)

    def end_of_epoch(self) -> None:
        """Record the epoch that just ended (their loss lists hold it) and, when due, a
        snapshot."""
        t, cpu = time.perf_counter(), time.process_time()
        losses = self.kw["losses"]
        e = len(losses["task"])
        for name, key in (("task", "task"), ("reg", "regularizer"), ("total", "total"),
                          ("accuracy", "accs"), ("mi", "mi_after"), ("sm_mi_last", "mi_before")):
            self.hist[name].append(float(losses[key][-1]))
        self.hist["sm_mi"].append(float(np.mean(self.sm_epoch)) if self.sm_epoch else np.nan)
        self.hist["epoch_seconds"].append(t - self.t_last)
        self.hist["epoch_cpu_seconds"].append(cpu - self.cpu_last)
        self.sm_epoch = []
        if e % int(self.s["snapshot_every"]) == 0 or e == int(self.s["epochs"]):
            self.snapshot(e)
        self.t_last, self.cpu_last = time.perf_counter(), time.process_time()

    def snapshot(self, epoch: int) -> None:
        """Dump the weights and an evaluation batch's states at ``epoch``."""
        model = self.kw["model"]
        arrays = {"W_rec": model.W_rec.numpy(), "W_in": model.W_in.numpy(),
                  "W_out": model.W_out.numpy(), "b": model.bias.numpy(),
                  "b_out": model.b_out.numpy()}
        arrays.update(self.evaluate())
        write_snapshot(self.out, epoch, arrays)

    def evaluate(self) -> dict[str, np.ndarray]:
        """A fresh batch through their model, on the evaluation's own random streams."""
        tf, model, gp = self.tf, self.kw["model"], self.kw["gp"]
        from tools import get_input  # the authors' module
        gen = model.noise_g
        train_np, train_tf = np.random.get_state(), gen.state.numpy()
        np.random.set_state(self.eval_np)
        gen.reset(self.eval_tf)
        try:
            if self.eval_task is None:
                self.eval_task = copy.deepcopy(self.kw["task"])
            inputs, targets, inputs_tr, _ = get_input(self.eval_task, gp)
            x0 = gen.normal(shape=[int(self.s["batch"]), gp.N], dtype=gp.mydtype)
            if self.run_fn is None:
                def run(m: Any, i_tr: Any, i: Any, h0: Any) -> tuple:
                    """Transient, then the segment; the states h and outputs."""
                    m(i_tr, initial_state=h0)
                    y = m(i, initial_state=m.last_state)
                    return m.x, y
                self.run_fn = tf.function(run)
            H, y = self.run_fn(model, inputs_tr, inputs[0], x0)
            return {"H": H.numpy(), "y": y.numpy(), "target": np.asarray(targets[0])}
        finally:
            self.eval_np, self.eval_tf = np.random.get_state(), gen.state.numpy()
            np.random.set_state(train_np)
            gen.reset(train_tf)

    def history(self) -> dict[str, np.ndarray]:
        """The per-epoch histories and the pre-training estimate, as arrays."""
        h = {k: np.asarray(v, dtype=np.float64) for k, v in self.hist.items()}
        h["pre_mi"] = np.float64(self.pre_mi)
        return h


def install_hooks(tf: Any, rec: Recorder, seed: int) -> None:
    """Seed their non-deterministic generators and wrap their functions (the module's text)."""
    import parameters
    import run_once
    import wmtask_train
    random.seed(seed)  # Keras' seeds of unseeded initializers
    tf.random.set_global_generator(tf.random.Generator.from_seed(seed + OFFSETS["global"]))
    count = iter(range(10 ** 6))
    tf.random.Generator.from_non_deterministic_state = classmethod(
        lambda cls, alg=None: cls.from_seed(seed + OFFSETS["model"] + next(count)))
    one_sm_step = wmtask_train.mine_train_epoch

    def mine_train_epoch(*args: Any, **kw: Any) -> Any:
        """Their SM step, then its DV estimate read from their metric."""
        result = one_sm_step(*args, **kw)
        rec.sm_value(float(kw["metric_mi"].result().numpy()))
        return result
    wmtask_train.mine_train_epoch = mine_train_epoch
    train = run_once.train_with_mine

    def train_with_mine(*args: Any, **kw: Any) -> Any:
        """Their main loop, after the epoch-0 snapshot."""
        rec.kw, rec.phase = kw, "main"
        rec.snapshot(0)
        rec.t_last, rec.cpu_last = time.perf_counter(), time.process_time()
        return train(*args, **kw)
    run_once.train_with_mine = train_with_mine

    class Metrics(parameters.WMMetrics):
        def reset_all_states(self) -> None:
            """Their end-of-epoch reset, then the epoch recorded."""
            super().reset_all_states()
            rec.end_of_epoch()
    run_once.WMMetrics = Metrics


def read_init(path: Path) -> dict[str, np.ndarray]:
    """An ``--init-weights`` file's arrays (:data:`INIT`; never unpickled), checked for names,
    shapes (N from ``W_rec``) and finite values; anything else is refused in one line."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise SettingsError(f"--init-weights {path}: not an npz file ({e.__class__.__name__})"
                            ) from None
    n = arrays["W_rec"].shape[0] if "W_rec" in arrays and arrays["W_rec"].ndim else 0
    for name, (_, shape) in INIT.items():
        if name not in arrays:
            raise SettingsError(f"--init-weights {path}: no {name}; allowed: a file with "
                                f"{', '.join(INIT)}")
        if arrays[name].shape != shape(n) or not np.isfinite(arrays[name]).all():
            raise SettingsError(f"--init-weights {path}: {name} has shape "
                                f"{arrays[name].shape}; allowed: {shape(n)}, finite")
    return {k: np.asarray(arrays[k], dtype=np.float64) for k in INIT}


def install_init(arrays: dict[str, np.ndarray]) -> None:
    """Wrap their ``set_model_for_task`` (as ``run_once`` calls it): the model it builds gets
    ``arrays`` as its initial weights (their initializers have drawn already, so every random
    stream after them is the seed's)."""
    import run_once
    make = run_once.set_model_for_task

    def set_model_for_task(gp: Any, task: Any) -> Any:
        """Their model, its RNN's weights replaced by ``arrays``."""
        model = make(gp, task)
        if arrays["W_rec"].shape[0] != gp.N:
            raise SettingsError(f"--init-weights: {arrays['W_rec'].shape[0]} units; allowed: "
                                f"their N = {gp.N}")
        for name, (attr, _) in INIT.items():
            var = getattr(model, attr)
            var.assign(arrays[name].astype(var.dtype.as_numpy_dtype))
        return model
    run_once.set_model_for_task = set_model_for_task


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _set_threads(tf: Any) -> None:
    """TensorFlow's intra- and inter-op threads from the environment (default 1 each)."""
    intra = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "1"))
    inter = int(os.environ.get("TF_NUM_INTEROP_THREADS", "1"))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def train(code: Path, out: Path, settings: dict[str, int | float],
          init: Path | None = None) -> dict[str, Any]:
    """Train their code for ``settings`` into ``out`` (snapshots, ``history.npz``,
    ``done.json``), from the initial weights in ``init`` if given (:func:`read_init`); returns
    the provenance written to ``done.json``."""
    arrays = read_init(init) if init is not None else None
    started = time.time()
    os.environ.setdefault("MPLBACKEND", "Agg")
    import tensorflow as tf
    _set_threads(tf)
    work = out / "work"  # their checkpoints and pickles go here (their cwd)
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(code / "wm"))
    os.chdir(work)
    import gp_wm as gp
    import run_once
    for name, attr in GP_NAMES.items():
        if attr is not None:
            setattr(gp, attr, settings[name])
    gp.split_length = settings["steps"]  # one segment of full BPTT, as published
    rec = Recorder(tf, out, settings)
    install_hooks(tf, rec, int(settings["seed"]))
    if arrays is not None:
        install_init(arrays)
    run_once.one_trial(seed=int(settings["seed"]), gp=gp, debug_mode=False)
    np.savez(out / "history.npz", **rec.history())
    import keras
    done = {"settings": settings, "authors_commit": git_commit(code), "code": str(code),
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "init_weights": None if init is None else {
                "file": init.name, "sha256": hashlib.sha256(init.read_bytes()).hexdigest()},
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": _cpu_model(), "host": platform.node(), "cpus": os.cpu_count(),
            "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_seconds": time.time() - started,
            "seconds_per_epoch_median": float(np.median(rec.hist["epoch_seconds"])),
            "cpu_seconds_per_epoch_median": float(np.median(rec.hist["epoch_cpu_seconds"]))}
    write_json(out / "done.json", done)
    return done


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module's text); exit 2 on a bad setting."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--code", required=True, help="checkout of cncs-fit/mio_rnn")
    p.add_argument("--out", required=True, help="dump folder (emptied first)")
    for name, default in DEFAULTS.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, default=default)
    p.add_argument("--init-weights", default=None,
                   help="npz of the RNN's initial weights (with --init-from, their seed)")
    args = p.parse_args(argv)
    init = Path(args.init_weights).resolve() if args.init_weights else None
    try:
        settings = check_settings({k: getattr(args, k) for k in DEFAULTS})
        if bool(settings["init_from"]) != (init is not None):
            raise SettingsError(f"--init-from {settings['init_from']} with --init-weights "
                                f"{args.init_weights}; allowed: both or neither")
        if init is not None:
            read_init(init)
    except SettingsError as e:
        print(f"driver: error: {e}", file=sys.stderr)
        return 2
    code, out = Path(args.code).resolve(), Path(args.out).resolve()
    if not (code / "wm" / "run_once.py").exists():
        print(f"driver: error: --code {code}: no wm/run_once.py (not a mio_rnn checkout)",
              file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("snap-*.npz"), out / "history.npz", out / "done.json"]:
        old.unlink(missing_ok=True)
    done = train(code, out, settings, init)
    print(f"done: {done['wall_seconds']:.0f} s, {done['seconds_per_epoch_median']:.2f} s/epoch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
