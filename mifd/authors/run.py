"""Run the authors' code for many seeds, one process per core, each seed recorded as it finishes.

``python -m mifd.authors run --seeds 1001-1010 --width 64`` (``make authors``) starts
:mod:`mifd.authors.driver` under the TensorFlow Python (``--python`` or ``MIFD_AUTHORS_PYTHON``)
on the authors' checkout (``--code`` or ``MIFD_AUTHORS_CODE``), ``--parallel`` processes at a
time, each with one thread (``OMP_NUM_THREADS``, TensorFlow's intra- and inter-op threads) and
``nice 19``. A seed whose record is already committed is skipped; an interrupted seed starts
again from its beginning (the driver keeps no checkpoint). Each finished seed's record is
written to ``results/committed/authors-wm`` at once (:func:`mifd.authors.record.write_record`)
and, with ``--git-commit``, committed to git (its folder only) before the next one starts.
With ``--init-from ours`` each seed starts from mifd's initial weights of the same seed
(:mod:`mifd.authors.initial`; its records are kept apart: ``load_records(init_from=seed)``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import ConfigError
from ..results.jobs import run_processes
from . import driver, initial, record

#: how to get what the harness runs (printed where it is missing)
SETUP = ("git clone https://github.com/cncs-fit/mio_rnn ~/mio_rnn && "
         f"git -C ~/mio_rnn checkout {driver.AUTHORS_COMMIT}; "
         "python3.11 -m venv ~/.venv-tf && ~/.venv-tf/bin/pip install tensorflow-cpu==2.15.1 "
         "matplotlib scikit-learn scipy")
DEFAULT_PYTHON = "~/.venv-tf/bin/python"
#: where a seed's initial weights come from (``--init-from``)
INITS = ("theirs", "ours")
DEFAULT_CODE = "~/mio_rnn"


def parse_seeds(text: str) -> list[int]:
    """``1001-1010``, ``1001,1005`` or a mix (``1001-1003,1007``) → the seeds, in order, each
    once; anything else is refused (one line)."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            a, b = int(lo), int(hi) if sep else int(lo)
            if a < 0 or b < a or b - a > 10_000:
                raise ValueError
            seeds += [s for s in range(a, b + 1) if s not in seeds]
    except ValueError:
        raise ConfigError(f"parameter '--seeds': got {text!r}; allowed: seeds >= 0 as "
                          "A-B (A <= B) or A,B,… ") from None
    return seeds


@dataclass(frozen=True)
class Authors:
    """Where the TensorFlow Python and the authors' checkout are."""

    python: Path
    code: Path

    @classmethod
    def find(cls, python: str | None = None, code: str | None = None) -> "Authors":
        """From the arguments, else ``MIFD_AUTHORS_PYTHON`` / ``MIFD_AUTHORS_CODE``, else
        ``DEFAULT_PYTHON`` / ``DEFAULT_CODE``."""
        py = python or os.environ.get("MIFD_AUTHORS_PYTHON") or DEFAULT_PYTHON
        cd = code or os.environ.get("MIFD_AUTHORS_CODE") or DEFAULT_CODE
        return cls(Path(py).expanduser(), Path(cd).expanduser())

    def check(self, allow_other_commit: bool = False) -> str:
        """The checkout's commit; a missing Python or checkout, or another commit, is refused
        with the commands that get them."""
        if not (self.python.exists() and os.access(self.python, os.X_OK)):
            raise ConfigError(f"parameter '--python': got {str(self.python)!r} (no such "
                              f"executable); allowed: a Python with TensorFlow: {SETUP}")
        if not (self.code / "wm" / "run_once.py").exists():
            raise ConfigError(f"parameter '--code': got {str(self.code)!r} (no wm/run_once.py); "
                              f"allowed: a checkout of cncs-fit/mio_rnn: {SETUP}")
        commit = driver.git_commit(self.code) or "unknown"
        if not commit.startswith(driver.AUTHORS_COMMIT) and not allow_other_commit:
            raise ConfigError(f"parameter '--code': checkout at {commit[:10]}; allowed: "
                              f"{driver.AUTHORS_COMMIT} (git -C {self.code} checkout "
                              f"{driver.AUTHORS_COMMIT})")
        return commit


def environment() -> dict[str, str]:
    """The environment of a driver process: one thread everywhere, TensorFlow quiet."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


def driver_command(authors: Authors, out: Path, settings: dict[str, int | float],
                   init: Path | None = None) -> list[str]:
    """``nice -n 19 PYTHON OUT/driver.py --code CODE --out OUT --<setting> <value> …
    [--init-weights INIT]``: a copy of the driver in the dump folder (TensorFlow's autograph
    reads a function's source from its file, so an edit of the checkout during a run must not
    reach the running one)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(driver.__file__, out / "driver.py")
    cmd = ["nice", "-n", "19", str(authors.python), str(out / "driver.py"),
           "--code", str(authors.code), "--out", str(out)]
    for k, v in driver.check_settings(settings).items():
        cmd += ["--" + k.replace("_", "-"), repr(v) if isinstance(v, float) else str(v)]
    return cmd + (["--init-weights", str(init)] if init is not None else [])


def git_commit_record(entry: Path, message: str, tries: int = 20) -> None:
    """``git add`` the record's folder and commit it alone (retried while another process holds
    the index lock)."""
    for i in range(tries):
        err = ""
        for cmd in (["git", "add", "--", str(entry)],
                    ["git", "commit", "-q", "-m", message, "--", str(entry)]):
            p = subprocess.run(cmd, cwd=entry, capture_output=True, text=True)
            if p.returncode:
                err = (p.stderr or p.stdout or f"exit {p.returncode}").strip()
                break
        if not err:
            return
        if "index.lock" not in err or i == tries - 1:
            raise OSError(f"git commit of {entry} failed: {err[:200]}")
        time.sleep(3)


@dataclass
class Plan:
    """What :func:`run_seeds` does: the settings of every seed, and the folders."""

    seeds: list[int]
    settings: dict[str, int | float]
    work: Path
    root: Path
    #: where each seed's initial weights come from: ``"theirs"`` (their initializers) or
    #: ``"ours"`` (mifd's of the same seed, :func:`mifd.authors.initial.ours`)
    init: str = "theirs"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ConfigError(f"parameter '--init-from': got {self.init!r}; allowed: "
                              f"{', '.join(INITS)}")

    def of(self, seed: int) -> dict[str, int | float]:
        """The settings of ``seed``."""
        return driver.check_settings({**self.settings, "seed": seed,
                                      "init_from": seed if self.init == "ours" else 0})

    def init_file(self, seed: int, out: Path) -> Path | None:
        """The ``--init-weights`` file of ``seed`` in its dump folder ``out`` (written here),
        or None for their own initial weights."""
        s = self.of(seed)
        if not s["init_from"]:
            return None
        return initial.write(out / "init.npz", initial.ours(int(s["init_from"])))

    def key(self, seed: int, commit: str) -> str:
        """The record key of ``seed`` (:func:`mifd.authors.record.record_key`)."""
        return record.record_key(self.of(seed), commit)

    def todo(self, commit: str) -> list[int]:
        """The seeds with no record yet (resumable per seed)."""
        return [s for s in self.seeds
                if not (self.root / record.EXPERIMENT / self.key(s, commit) / "result.bin").exists()]


def run_seeds(plan: Plan, authors: Authors, parallel: int = 2, git: bool = False,
              keep_dumps: bool = False, allow_other_commit: bool = False,
              report: Callable[[str], None] = print, poll: float = 5.0,
              audit_profile: str | None = record.AUDIT_PROFILE) -> int:
    """Train every seed of ``plan`` that has no record, ``parallel`` at a time; record it, add
    the ``wm`` end-of-training audit of ``audit_profile`` (:func:`mifd.authors.record.audit_record`;
    ``None``: none) and with ``git`` commit it, each as it finishes. Returns the number of
    failed seeds."""
    commit = authors.check(allow_other_commit)
    todo = plan.todo(commit)
    report(f"{len(plan.seeds) - len(todo)} of {len(plan.seeds)} seeds already recorded")

    def start(seed: int) -> tuple[subprocess.Popen, Any, str]:
        out = plan.work / plan.key(seed, commit)
        out.mkdir(parents=True, exist_ok=True)
        log = open(out / "driver.log", "w")
        cmd = driver_command(authors, out, plan.of(seed), plan.init_file(seed, out))
        proc = subprocess.Popen(cmd,
                                env=environment(), stdout=log, stderr=subprocess.STDOUT)
        report(f"started   seed {seed} -> {out}")
        return proc, log, f"seed {seed}"

    def done(seed: int) -> None:
        out = plan.work / plan.key(seed, commit)
        entry = record.write_record(out, plan.root, allow_other_commit)
        if audit_profile:
            record.audit_record(entry, audit_profile)
        if git:
            s = plan.of(seed)
            origin = f", from mifd's initial weights of seed {seed}" if s["init_from"] else ""
            git_commit_record(entry, f"the authors' wm code, seed {seed}, critic width "
                                     f"{s['width']}, {s['epochs']} epochs{origin} (issue 39)")
        if not keep_dumps:
            for p in out.glob("snap-*.npz"):
                p.unlink()
            shutil.rmtree(out / "work", ignore_errors=True)
        report(f"recorded  seed {seed} -> {entry}")

    return run_processes(todo, parallel, start, done, report, poll)


def _parser() -> argparse.ArgumentParser:
    """``run``, ``record``, ``setup`` and ``list``."""
    p = argparse.ArgumentParser(prog="python -m mifd.authors", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train seeds of the authors' code and record each")
    r.add_argument("--seeds", required=True, help="e.g. 1001-1010")
    r.add_argument("--width", default=driver.DEFAULTS["width"], help="critic width")
    r.add_argument("--epochs", default=driver.DEFAULTS["epochs"])
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help=f"another driver setting ({', '.join(driver.DEFAULTS)})")
    r.add_argument("--init-from", default="theirs", choices=INITS,
                   help="initial weights: their initializers or mifd's of the same seed")
    r.add_argument("--parallel", default="2", help="processes at a time (one per core)")
    r.add_argument("--python", default=None, help=f"TensorFlow Python ({DEFAULT_PYTHON})")
    r.add_argument("--code", default=None, help=f"the authors' checkout ({DEFAULT_CODE})")
    r.add_argument("--work", default="_build/authors", help="dump folders")
    r.add_argument("--root", default=None, help="committed root (results/committed)")
    r.add_argument("--git-commit", action="store_true", help="commit each record to git")
    r.add_argument("--keep-dumps", action="store_true", help="keep the snapshots' states")
    r.add_argument("--allow-other-commit", action="store_true")
    rec = sub.add_parser("record", help="record a finished dump folder")
    rec.add_argument("folder")
    rec.add_argument("--root", default=None)
    au = sub.add_parser("audit", help="add the wm end-of-training audit to every committed "
                        "record without one")
    au.add_argument("--root", default=None)
    sub.add_parser("setup", help="print the commands that get TensorFlow and the authors' code")
    ls = sub.add_parser("list", help="the committed records")
    ls.add_argument("--root", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (module text); bad parameters: one line, exit 2."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "setup":
            print(SETUP)
            return 0
        if args.command == "record":
            print(f"recorded {record.write_record(args.folder, args.root)}")
            return 0
        if args.command == "audit":
            record.audit_missing(args.root)
            return 0
        if args.command == "list":
            for r in record.load_records(args.root, init_from=None):
                print(f"{r['key']}  Q_cor {r['snaps']['Q_cor'][-1]:.3f}  "
                      f"D_cor {r['snaps']['D_cor'][-1]:.3f}  Q_str {r['snaps']['Q_str'][-1]:.3f}")
            return 0
        return _run(args)
    except (ConfigError, driver.SettingsError) as e:
        print(f"mifd.authors: error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    """``run``: check everything, then :func:`run_seeds`."""
    sets = dict(s.split("=", 1) for s in args.sets if "=" in s)
    if len(sets) != len(args.sets):
        raise ConfigError(f"parameter '--set': got {args.sets!r}; allowed: KEY=VALUE")
    for name, where in (("seed", "the seeds go in --seeds"), ("init_from", "--init-from")):
        if name in sets:
            raise ConfigError(f"parameter '--set': got {name!r}; allowed: {where}")
    settings = driver.check_settings({**sets, "width": args.width, "epochs": args.epochs})
    if not str(args.parallel).isdigit() or int(args.parallel) < 1:
        raise ConfigError(f"parameter '--parallel': got {args.parallel!r}; allowed: an "
                          "integer >= 1")
    root = Path(args.root) if args.root else record.committed_root()
    plan = Plan(parse_seeds(args.seeds), settings, Path(args.work), root, args.init_from)
    failed = run_seeds(plan, Authors.find(args.python, args.code), int(args.parallel),
                       git=args.git_commit, keep_dumps=args.keep_dumps,
                       allow_other_commit=args.allow_other_commit)
    return 1 if failed else 0
