"""The ``mifd`` command line: ``mifd run``, ``mifd book``.

:data:`COMMANDS` pairs each subcommand with the function that declares its arguments
(:mod:`mifd.cli.arguments`) and the one that runs it.

Bad parameters (unknown experiment or profile, unknown or ill-typed ``--set`` key, out-of-range
value) print one line ``mifd: error: parameter '…': got …; allowed: …`` and exit with code 2
before anything is written.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..config import PROFILES, ConfigError, check_profile, parse_set
from ..pages.build import _invalidate_stale_cache, build_book, execution_cache  # noqa: F401
from . import arguments


def _number(name: str, text: str, ok, allowed: str, kind=float):
    """``kind(text)`` if it converts and ``ok`` of it holds, else a :class:`ConfigError`."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise ConfigError(f"parameter '{name}': got {text!r}; allowed: {allowed}")
    return value


def _cmd_list(args) -> int:
    from ..experiments import EXPERIMENTS
    for name, exp in sorted(EXPERIMENTS.items()):
        print(f"{name}: profiles {', '.join(p for p in PROFILES if p in exp.profiles)}")
    return 0


def _cmd_bench(args) -> int:
    from ..perf.measure import format_table
    from ..perf.options import BenchOptions
    opts = BenchOptions.from_strings(
        trials=args.trials, epochs=args.epochs, warmup=args.warmup,
        experiments=args.experiments, sets=args.sets, device=args.device,
        quick=args.quick, two_pass=args.two_pass, compile=args.compile, bf16=args.bf16,
        tf32=args.tf32, fused=args.fused, graph=args.graph, rows=args.rows,
        allocator=args.allocator, no_port=args.no_port, out=args.out)
    print(format_table(opts.run()))
    print(f"wrote {opts.out}")
    return 0


def _cmd_commit_results(args) -> int:
    from ..results.runner import commit_results
    path = commit_results(args.experiment, args.profile, parse_set(args.sets),
                          device=args.device)
    print(f"copied to {path}")
    return 0


def _cmd_gpu_session(args) -> int:
    from ..gpu.session import run_session
    minutes = _number("--minutes", args.minutes, lambda m: 0 < m <= 600, "a number in (0, 600]")
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


def _cmd_gpu_tree(args) -> int:
    from ..gpu import tree as gpu_tree
    from ..results.store import project_root
    root = project_root()
    if args.action not in ("size", "light", "restore") or root is None:
        raise ConfigError(f"parameter 'action': got {args.action!r}"
                          f"{'' if root else ' outside a checkout'}; allowed: size, "
                          "light or restore, inside a checkout")
    if args.action == "restore":
        gpu_tree.restore_committed(root)
        print(f"{gpu_tree.COMMITTED} is tracked again")
        return 0
    if args.action == "size":
        size = gpu_tree.travelling_bytes(root)
        print(f"{size / 2 ** 20:.1f} MiB would travel (limit "
              f"{gpu_tree.TRAVEL_LIMIT / 2 ** 20:.0f} MiB)")
        return 0 if size <= gpu_tree.TRAVEL_LIMIT else 1
    from ..gpu.session import plan_args
    if args.profile is not None:
        check_profile(args.profile)
    plan = plan_args(args.profile, parse_set(args.sets), args.experiment)
    size = gpu_tree.hide_committed(root)
    print(f"{gpu_tree.COMMITTED} left behind: {size / 2 ** 20:.1f} MiB travel; "
          "after the call: make gpu-restore")
    print("GPU_ARGS=" + shlex.join(plan))
    return 0


def _cmd_results_status(args) -> int:
    from ..results.runner import committed_status
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


def _cmd_jobs(args) -> int:
    from ..results.jobs import planned, run_jobs, select
    check_profile(args.profile)
    parallel = _number("--parallel", args.parallel, lambda n: n >= 1, "an integer >= 1", int)
    todo = select(planned(args.profile), args.only, args.skip)
    for job in todo:
        print(f"{job.name()}  {job.label}: mifd {' '.join(job.command())}")
    if args.list or not todo:
        print(f"{len(todo)} planned runs not committed yet")
        return 0
    return 1 if run_jobs(todo, parallel) else 0


def _cmd_reproduce(args) -> int:
    from ..results.replay import reproduce_committed
    reps = reproduce_committed(experiments=tuple(args.experiments), profile=args.profile,
                               progress=not args.quiet)
    bad = [r for r in reps if not r.reproduced]
    tol = sum(r.reproduced and r.mode == "within tolerance" for r in reps)
    print(f"{len(reps)} replayed, {len(reps) - len(bad)} reproduced ("
          f"{len(reps) - len(bad) - tol} bit for bit, {tol} within tolerance on other "
          "or unrecorded CPU numerics; float64 metrics within 1e-12 relative)"
          + (f", {len(bad)} differ (`make results` recomputes them)" if bad else ""))
    return 1 if bad else 0


def _cmd_convert_results(args) -> int:
    """``mifd convert-results``: :func:`mifd.results.store.convert_results`, one line per converted
    file and a total; a file that does not convert is one line (exit 2)."""
    from ..results.store import CorruptFileError, Store, convert_results
    paths = args.paths
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


def _cmd_import_results(args) -> int:
    from ..results.exchange import import_results
    from ..results.store import Store
    store = Store()
    if not store.committed:
        raise ConfigError("parameter 'store': no committed layer (not inside a checkout)")
    for p in import_results(args.folder, store.committed[0], replace=args.replace):
        print(f"imported {p}")
    return 0


def _cmd_sweep(args) -> int:
    from ..results.sweep import SweepSpec, sweep, write_report
    if not args.retries.isdigit():
        raise ConfigError(f"parameter '--retries': got {args.retries!r}; allowed: an "
                          "integer >= 0")
    spec = SweepSpec.load(args.spec)
    if args.out is not None:
        from ..results.runner import check_out
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


def _cmd_book(args) -> int:
    check_profile(args.profile)
    from ..results.store import project_root
    root = Path(args.root) if args.root else project_root()
    if root is None:
        raise ConfigError("parameter '--root': got None; allowed: a checkout with _toc.yml")
    return build_book(args.profile, root)


def _cmd_run(args) -> int:
    from ..experiments import get_experiment
    from ..results.runner import RunInterrupted, RunPaused, resolve_device, run
    exp = get_experiment(args.experiment)
    overrides = parse_set(args.sets)
    exp.config(args.profile, overrides, resolve_device(args.device))  # validate first
    max_s = None
    if args.max_minutes is not None:
        max_s = 60 * _number("--max-minutes", args.max_minutes, lambda m: m >= 0,
                             "a number >= 0")
    force = args.force
    if args.parts is not None:
        from ..results.jobs import run_parts
        parts = _number("--parts", args.parts, lambda n: True, "an integer >= 1", int)
        code = run_parts(args.experiment, args.profile, args.device, args.sets, parts,
                         args.force, args.max_minutes, args.refresh)
        if code:
            return code
        force = False  # the parts are trained: assemble them
    try:
        rr = run(args.experiment, args.profile, args.device, overrides,
                 out=args.out or ".", force=force, refresh=args.refresh,
                 progress=False if args.no_progress else None, max_seconds=max_s)
    except RunInterrupted as e:
        print(f"mifd: {args.experiment}: {e}", file=sys.stderr)
        return 130
    except RunPaused as e:
        print(f"mifd: {args.experiment}: {e}", file=sys.stderr)
        return 3
    print(f"wrote {Path(args.out or '.') / 'summary.json'}")
    return 0 if rr else 1


#: every subcommand: the function that declares its arguments and the one that runs it (in the
#: order ``mifd --help`` lists them)
COMMANDS = {
    "run": (arguments.add_run, _cmd_run),
    "sweep": (arguments.add_sweep, _cmd_sweep),
    "book": (arguments.add_book, _cmd_book),
    "list": (arguments.add_list, _cmd_list),
    "bench": (arguments.add_bench, _cmd_bench),
    "commit-results": (arguments.add_commit_results, _cmd_commit_results),
    "gpu-session": (arguments.add_gpu_session, _cmd_gpu_session),
    "import-results": (arguments.add_import_results, _cmd_import_results),
    "convert-results": (arguments.add_convert_results, _cmd_convert_results),
    "results-status": (arguments.add_results_status, _cmd_results_status),
    "reproduce": (arguments.add_reproduce, _cmd_reproduce),
    "jobs": (arguments.add_jobs, _cmd_jobs),
    "gpu-tree": (arguments.add_gpu_tree, _cmd_gpu_tree),
}


def _parser() -> argparse.ArgumentParser:
    p = arguments.Parser(prog="mifd", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for add_arguments, _ in COMMANDS.values():
        add_arguments(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except ConfigError as e:
        print(f"mifd: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # mifd.mine.NonFiniteError: training diverged
        print(f"mifd: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # mifd.results.store.StoreWriteError: a full disk, no permission
        from ..results.store import StoreWriteError
        if not isinstance(e, StoreWriteError):
            raise
        print(f"mifd: error: {e.strerror}", file=sys.stderr)
        return 1

