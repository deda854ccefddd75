"""The ``mifd`` command line: ``mifd run``, ``mifd book``.

Bad parameters (unknown experiment or profile, unknown or ill-typed ``--set`` key, out-of-range
value) print one line ``mifd: error: parameter '…': got …; allowed: …`` and exit with code 2
before anything is written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from .config import DEVICES, PROFILES, ConfigError, check_profile, parse_set


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"mifd: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mifd", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train an experiment (or load it from the results store)")
    r.add_argument("experiment")
    r.add_argument("--profile", default="book", help="|".join(PROFILES))
    r.add_argument("--device", default="auto", help="|".join(DEVICES))
    r.add_argument("--out", default=None, help="directory for summary.json (default: .)")
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config field (repeatable)")
    r.add_argument("--force", action="store_true", help="retrain even if stored, from scratch")
    r.add_argument("--refresh", action="store_true",
                   help="retrain unless a result made by this code is stored (a committed "
                        "result of other code is not shown); a checkpoint of this code resumes")
    r.add_argument("--max-minutes", default=None, metavar="M",
                   help="pause after M minutes of training with a checkpoint (exit code 3); "
                        "the same command continues")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--parts", default=None, metavar="N",
                   help="run the conditions as N processes side by side, one per core "
                        "(separation); the parts are stored as runs of their own and assembled")
    sw = sub.add_parser("sweep", help="run a declared grid of configs, each unit stored as a "
                                      "run (a repeat loads, an interrupted sweep resumes)")
    sw.add_argument("spec", help="JSON or YAML file: experiment, profile, device, fixed, grid")
    sw.add_argument("--backend", default="local", help="local|ray")
    sw.add_argument("--address", default=None, help="an existing Ray cluster (default: start a "
                                                    "local one)")
    sw.add_argument("--retries", default="2", help="reruns of a unit whose Ray worker died")
    sw.add_argument("--out", default=None, help="directory for sweep.json (default: .)")
    sw.add_argument("--no-progress", action="store_true")
    b = sub.add_parser("book", help="execute every chapter with a profile and build the HTML")
    b.add_argument("--profile", default="book", help="|".join(PROFILES))
    b.add_argument("--root", default=None, help="book root (default: the checkout)")
    sub.add_parser("list", help="list the experiments and their profiles")
    bn = sub.add_parser("bench", help="time the training loops at the published sizes")
    bn.add_argument("--experiments", default=None,
                    help="comma-separated: wm,separation (default wm; --quick: both)")
    bn.add_argument("--warmup", default=None, help="untimed epochs before the timed ones (1)")
    bn.add_argument("--no-port", action="store_true",
                    help="skip the straightforward-port baseline (wm)")
    bn.add_argument("--quick", action="store_true",
                    help="a run of about a minute on a CPU: both experiments with shortened "
                         "sequences (mifd.perf.measure.QUICK), projections scaled by counted FLOPs")
    bn.add_argument("--two-pass", action="store_true",
                    help="also time the critic on joint and shuffled pairs in two passes "
                         "(rows 'mifd-2pass', the form before version 0.2)")
    bn.add_argument("--bf16", action="store_true",
                    help="also time bf16 matmuls in the critic (rows 'mifd+bf16'; not exact)")
    bn.add_argument("--tf32", action="store_true",
                    help="also time TF32 matmuls in the critic (rows 'mifd+tf32'; CUDA only)")
    bn.add_argument("--compile", action="store_true",
                    help="also time the one-pass critic under torch.compile (rows 'mifd+compile')")
    bn.add_argument("--fused", action="store_true",
                    help="also time hand-written BPTT through the RNN (rows 'mifd+fused'; "
                         "see mifd.accel.bptt), and with the MM forward merged into the SM "
                         "pass (rows 'mifd+fused+merged')")
    bn.add_argument("--graph", action="store_true",
                    help="also time the SM passes replayed from a CUDA graph (rows 'mifd+graph', "
                         "and 'mifd+fused+graph', 'mifd+fused+merged+graph' with --fused; CUDA "
                         "only)")
    bn.add_argument("--rows", default=None, metavar="NAMES",
                    help="also time these rows, comma-separated: 'mifd' followed by any of "
                         "+compile, +bf16, +tf32, +fused, +merged (with +fused), +graph, -2pass, "
                         "-mmap (e.g. mifd+bf16+fused+merged+graph)")
    bn.add_argument("--allocator", action="store_true",
                    help="also time mifd with glibc's default allocator (rows 'mifd-mmap') and "
                         "the port with freed host memory retained ('port+retain'); "
                         "see mifd.accel.allocator")
    bn.add_argument("--device", default="auto", help="|".join(DEVICES))
    bn.add_argument("--trials", default=None, help="batched trial counts, e.g. 1,8 (1,8)")
    bn.add_argument("--epochs", default=None, help="timed epochs after the warm-up (2)")
    bn.add_argument("--out", default="bench.json", help="JSON file to write")
    bn.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config field of the benched experiments (e.g. sm_width=64)")
    c = sub.add_parser("commit-results", help="copy a finished run from the store to "
                                              "results/committed (to be committed with git)")
    c.add_argument("experiment")
    c.add_argument("--profile", default="book", help="|".join(PROFILES))
    c.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--device", default="auto", help="the device it ran on: " + "|".join(DEVICES))
    g = sub.add_parser("gpu-session", help="the prepared GPU call: CUDA tests, a probe, the wm "
                                           "paper run that fits, one results folder")
    g.add_argument("--out", required=True, help="an empty or new folder for the results")
    g.add_argument("--minutes", default="8.5", help="wall-clock budget of the whole call")
    g.add_argument("--device", default="cuda", help="|".join(DEVICES))
    g.add_argument("--profile", default=None, help="|".join(PROFILES) + " (default: paper; "
                   "separation: gpu)")
    g.add_argument("--trials", default=None, help="trials per condition (default: what fits)")
    g.add_argument("--experiment", default="wm", help="wm (default), bimt, penalties, growing-brains or separation")
    g.add_argument("--no-tests", action="store_true", help="skip tests/test_cuda.py")
    g.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    i = sub.add_parser("import-results", help="check a results folder and copy it into "
                                              "results/committed (nothing is written if a "
                                              "check fails)")
    i.add_argument("folder")
    i.add_argument("--replace", action="store_true", help="replace committed runs of the same key")
    cv = sub.add_parser("convert-results", help="convert results and checkpoints of the former "
                                                "pickle format into data files, exactly "
                                                "(files already converted are only verified)")
    cv.add_argument("paths", nargs="*", help="files or folders (default: the results store and "
                                             "results/committed)")
    sub.add_parser("results-status", help="list the committed results and whether this "
                                          "checkout's code made them (exit 1 if any did not)")
    r = sub.add_parser("reproduce", help="replay the start of every committed result made by "
                                         "other code and record those this code reproduces "
                                         "bit for bit (exit 1 if any differs)")
    r.add_argument("experiments", nargs="*", help="only these experiments (default: all)")
    r.add_argument("--profile", default="book", help="|".join(PROFILES))
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    j = sub.add_parser("jobs", help="the long runs the open work needs and no commit holds yet "
                                    "(mifd.results.jobs.planned): N processes at a time, one thread "
                                    "each, each committed as it finishes")
    j.add_argument("--profile", default="book", help="|".join(PROFILES))
    j.add_argument("--parallel", default="2", metavar="N", help="processes at a time")
    j.add_argument("--list", action="store_true", help="only list them")
    t = sub.add_parser("gpu-tree", help="what travels to a GPU machine: 'size'; 'light' plans "
                                        "the session here and leaves results/committed behind; "
                                        "'restore' after the call")
    t.add_argument("action", help="size|light|restore")
    t.add_argument("--experiment", default="wm", help="the session's experiment (light)")
    t.add_argument("--profile", default=None, help="the session's profile (light; default: "
                   "paper; separation: gpu)")
    t.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    return p


def _invalidate_stale_cache(cache: Path, root: Path) -> None:
    """myst-nb's execution cache keys a notebook by its source only: drop the cache when the
    library, the committed results or the results store changed since it was filled, so a page
    never shows outputs of older code or results."""
    import hashlib
    h = hashlib.sha256(os.environ.get("MIFD_STORE", "").encode())
    for base in ("mifd", "results"):
        for f in sorted((root / base).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                st = f.stat()
                h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    key = h.hexdigest()
    stamp = cache.parent / "mifd-cache-key"
    if cache.exists() and (not stamp.exists() or stamp.read_text() != key):
        shutil.rmtree(cache)
        print(f"execution cache {cache} dropped (code or results changed)", flush=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)


def execution_cache(profile: str, root: Path) -> Path:
    """Where jupyter-book keeps the execution cache of a ``profile``'s build: ``_build/`` for
    ``book``; for another profile, built with ``--path-output _build/<profile>``, inside that
    folder's own ``_build/``."""
    out = root / "_build" if profile == "book" else root / "_build" / profile / "_build"
    return out / ".jupyter_cache"


def build_book(profile: str, root: Path) -> int:
    """Execute the chapters at ``profile`` (through myst-nb, with its cache) and build HTML.

    The default ``book`` profile writes ``_build/html``; another profile builds in
    ``_build/<profile>/`` with its own execution cache, so results never mix.
    """
    from .pages.assets import AssetError, ensure_assets
    vendor = root / "book" / "_static" / "vendor"
    try:
        fetched = ensure_assets(vendor)
    except AssetError as e:
        raise ConfigError(f"parameter 'assets': got {e}; allowed: the pinned front-end files in "
                          f"{vendor} (downloaded once from the npm registry)") from None
    if fetched:
        print(f"fetched {', '.join(fetched)} into {vendor}", flush=True)
    _invalidate_stale_cache(execution_cache(profile, root), root)
    env = dict(os.environ, MIFD_PROFILE=profile, MIFD_PROGRESS="0")
    jb = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    cmd = [jb, "build", str(root), "--all", "-W", "-n", "--keep-going"]
    if profile != "book":
        cmd += ["--path-output", str(root / "_build" / profile)]
    print("+", " ".join(cmd), f"(MIFD_PROFILE={profile})", flush=True)
    return subprocess.call(cmd, env=env)


def _convert_results(paths: list[str]) -> int:
    """``mifd convert-results``: :func:`mifd.results.store.convert_results`, one line per converted
    file and a total; a file that does not convert is one line (exit 2)."""
    from .results.store import CorruptFileError, Store, convert_results
    if not paths:
        store = Store()
        paths = [str(p) for p in (store.root, *store.committed) if p.exists()]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise ConfigError(f"parameter 'paths': got {missing[0]!r}; allowed: existing files or "
                          "folders")
    try:
        rows = convert_results(paths)
    except CorruptFileError as e:
        raise ConfigError(f"parameter 'paths': {e}; allowed: files of the former or the data "
                          "format that verify") from None
    for r in rows:
        if r["status"] == "converted":
            print(f"converted {r['path']} ({r['bytes_before']} -> {r['bytes_after']} bytes)")
    done = [r for r in rows if r["status"] == "converted"]
    print(f"{len(done)} converted, {len(rows) - len(done)} already data files; "
          f"{sum(r['bytes_before'] for r in rows)} -> {sum(r['bytes_after'] for r in rows)} bytes")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            from .experiments import EXPERIMENTS
            for name, exp in sorted(EXPERIMENTS.items()):
                print(f"{name}: profiles {', '.join(p for p in PROFILES if p in exp.profiles)}")
            return 0
        if args.command == "bench":
            from .perf.measure import format_table
            from .perf.options import BenchOptions
            opts = BenchOptions.from_strings(
                trials=args.trials, epochs=args.epochs, warmup=args.warmup,
                experiments=args.experiments, sets=args.sets, device=args.device,
                quick=args.quick, two_pass=args.two_pass, compile=args.compile, bf16=args.bf16,
                tf32=args.tf32, fused=args.fused, graph=args.graph, rows=args.rows,
                allocator=args.allocator, no_port=args.no_port, out=args.out)
            print(format_table(opts.run()))
            print(f"wrote {opts.out}")
            return 0
        if args.command == "commit-results":
            from .results.runner import commit_results
            path = commit_results(args.experiment, args.profile, parse_set(args.sets),
                                  device=args.device)
            print(f"copied to {path}")
            return 0
        if args.command == "gpu-session":
            from .gpu.session import run_session
            try:
                minutes = float(args.minutes)
                assert 0 < minutes <= 600
            except (ValueError, AssertionError):
                raise ConfigError(f"parameter '--minutes': got {args.minutes!r}; allowed: a "
                                  "number in (0, 600]") from None
            if args.trials is not None and (not args.trials.isdigit() or int(args.trials) < 1):
                raise ConfigError(f"parameter '--trials': got {args.trials!r}; allowed: an "
                                  "integer >= 1")
            if args.profile is not None:
                check_profile(args.profile)
            run_session(args.out, minutes, args.device, args.profile, parse_set(args.sets),
                        tests=not args.no_tests,
                        trials=None if args.trials is None else int(args.trials),
                        experiment=args.experiment)
            return 0
        if args.command == "gpu-tree":
            from .gpu import tree as gpu_tree
            from .results.store import project_root
            root = project_root()
            if args.action not in ("size", "light", "restore") or root is None:
                raise ConfigError(f"parameter 'action': got {args.action!r}"
                                  f"{'' if root else ' outside a checkout'}; allowed: size, "
                                  "light or restore, inside a checkout")
            if args.action == "restore":
                gpu_tree.restore_committed(root)
                print(f"{gpu_tree.COMMITTED} is tracked again")
            elif args.action == "size":
                size = gpu_tree.travelling_bytes(root)
                print(f"{size / 2 ** 20:.1f} MiB would travel (limit "
                      f"{gpu_tree.TRAVEL_LIMIT / 2 ** 20:.0f} MiB)")
                return 0 if size <= gpu_tree.TRAVEL_LIMIT else 1
            else:
                from .gpu.session import plan_args
                if args.profile is not None:
                    check_profile(args.profile)
                plan = plan_args(args.profile, parse_set(args.sets), args.experiment)
                size = gpu_tree.hide_committed(root)
                print(f"{gpu_tree.COMMITTED} left behind: {size / 2 ** 20:.1f} MiB travel; "
                      "after the call: make gpu-restore")
                print("GPU_ARGS=" + shlex.join(plan))
            return 0
        if args.command == "results-status":
            from .results.runner import committed_status
            rows = committed_status()
            for r in rows:
                status = ("STALE  " if not r["current"] else
                          "replay " if r.get("reproduced") else "current")
                print(f"{status}  {r['experiment']:<14} "
                      f"{r['profile']:<6} {r['key']}  made by code {r['made by']} "
                      f"(commit {r['commit']})"
                      + ("; reproduced by this code on replay" if r.get("reproduced") else ""))
            stale = sum(not r["current"] for r in rows)
            print(f"{len(rows)} committed results, {stale} made by other code than this "
                  "checkout's" + (" (`make results` recomputes the book profile's)" if stale
                                  else ""))
            return 1 if stale else 0
        if args.command == "jobs":
            from .results.jobs import planned, run_jobs
            check_profile(args.profile)
            try:
                parallel = int(args.parallel)
                assert parallel >= 1
            except (ValueError, AssertionError):
                raise ConfigError(f"parameter '--parallel': got {args.parallel!r}; allowed: an "
                                  "integer >= 1") from None
            todo = planned(args.profile)
            for job in todo:
                print(f"{job.name()}  {job.label}: mifd {' '.join(job.command())}")
            if args.list or not todo:
                print(f"{len(todo)} planned runs not committed yet")
                return 0
            return 1 if run_jobs(todo, parallel) else 0
        if args.command == "reproduce":
            from .results.replay import reproduce_committed
            reps = reproduce_committed(experiments=tuple(args.experiments), profile=args.profile,
                                       progress=not args.quiet)
            bad = [r for r in reps if not r.reproduced]
            tol = sum(r.reproduced and r.mode == "within tolerance" for r in reps)
            print(f"{len(reps)} replayed, {len(reps) - len(bad)} reproduced ("
                  f"{len(reps) - len(bad) - tol} bit for bit, {tol} within tolerance on other "
                  "or unrecorded CPU numerics; float64 metrics within 1e-12 relative)"
                  + (f", {len(bad)} differ (`make results` recomputes them)" if bad else ""))
            return 1 if bad else 0
        if args.command == "convert-results":
            return _convert_results(args.paths)
        if args.command == "import-results":
            from .results.exchange import import_results
            from .results.store import Store
            store = Store()
            if not store.committed:
                raise ConfigError("parameter 'store': no committed layer (not inside a checkout)")
            for p in import_results(args.folder, store.committed[0], replace=args.replace):
                print(f"imported {p}")
            return 0
        if args.command == "sweep":
            from .results.sweep import SweepSpec, sweep, write_report
            if not args.retries.isdigit():
                raise ConfigError(f"parameter '--retries': got {args.retries!r}; allowed: an "
                                  "integer >= 0")
            spec = SweepSpec.load(args.spec)
            if args.out is not None:
                from .results.runner import check_out
                check_out(args.out)
            outcomes = sweep(spec, args.backend, args.address, retries=int(args.retries),
                             progress=not args.no_progress)
            for o in outcomes:
                print(f"{o.status:<8} {o.key or '-':<16} {o.overrides}"
                      + (f"  {o.error}" if o.error else ""))
            print(f"wrote {write_report(outcomes, spec, args.out or '.')}")
            failed = sum(o.status == "failed" for o in outcomes)
            print(f"{len(outcomes)} units: {sum(o.status == 'trained' for o in outcomes)} "
                  f"trained, {sum(o.status == 'loaded' for o in outcomes)} loaded, "
                  f"{failed} failed")
            return 1 if failed else 0
        if args.command == "book":
            check_profile(args.profile)
            from .results.store import project_root
            root = Path(args.root) if args.root else project_root()
            if root is None:
                raise ConfigError("parameter '--root': got None; allowed: a checkout with _toc.yml")
            return build_book(args.profile, root)
        from .experiments import get_experiment
        from .results.runner import resolve_device, run
        exp = get_experiment(args.experiment)
        overrides = parse_set(args.sets)
        exp.config(args.profile, overrides, resolve_device(args.device))  # validate first
        max_s = None
        if args.max_minutes is not None:
            try:
                max_s = 60 * float(args.max_minutes)
                assert max_s >= 0
            except (ValueError, AssertionError):
                raise ConfigError(f"parameter '--max-minutes': got {args.max_minutes!r}; "
                                  "allowed: a number >= 0") from None
        from .results.runner import RunInterrupted, RunPaused
        if args.parts is not None:
            from .results.runner import run_parts
            try:
                parts = int(args.parts)
            except ValueError:
                raise ConfigError(f"parameter '--parts': got {args.parts!r}; allowed: an "
                                  "integer >= 1") from None
            code = run_parts(args.experiment, args.profile, args.device, args.sets, parts,
                             args.force, args.max_minutes, args.refresh)
            if code:
                return code
            args.force = False  # the parts are trained: assemble them
        try:
            rr = run(args.experiment, args.profile, args.device, overrides,
                     out=args.out or ".", force=args.force, refresh=args.refresh,
                     progress=False if args.no_progress else None, max_seconds=max_s)
        except RunInterrupted as e:
            print(f"mifd: {args.experiment}: {e}", file=sys.stderr)
            return 130
        except RunPaused as e:
            print(f"mifd: {args.experiment}: {e}", file=sys.stderr)
            return 3
        print(f"wrote {Path(args.out or '.') / 'summary.json'}")
        return 0 if rr else 1
    except ConfigError as e:
        print(f"mifd: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # mifd.mine.NonFiniteError: training diverged
        print(f"mifd: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # mifd.results.store.StoreWriteError: a full disk, no permission
        from .results.store import StoreWriteError
        if not isinstance(e, StoreWriteError):
            raise
        print(f"mifd: error: {e.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
