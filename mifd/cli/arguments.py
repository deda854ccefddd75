"""The arguments of each ``mifd`` subcommand: one function per subcommand adds its parser
(:data:`mifd.cli.COMMANDS` pairs each with the function that runs it)."""

from __future__ import annotations

import argparse

from ..config import DEVICES, PROFILES


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"mifd: error: {message}\n")


def _add_sets(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   **({"help": help} if help else {}))


def add_run(sub) -> None:
    r = sub.add_parser("run", help="train an experiment (or load it from the results store)")
    r.add_argument("experiment")
    r.add_argument("--profile", default="book", help="|".join(PROFILES))
    r.add_argument("--device", default="auto", help="|".join(DEVICES))
    r.add_argument("--out", default=None, help="directory for summary.json (default: .)")
    _add_sets(r, "override one config field (repeatable)")
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


def add_sweep(sub) -> None:
    sw = sub.add_parser("sweep", help="run a declared grid of configs, each unit stored as a "
                                      "run (a repeat loads, an interrupted sweep resumes)")
    sw.add_argument("spec", help="JSON or YAML file: experiment, profile, device, fixed, grid")
    sw.add_argument("--backend", default="local", help="local|ray")
    sw.add_argument("--address", default=None, help="an existing Ray cluster (default: start a "
                                                    "local one)")
    sw.add_argument("--retries", default="2", help="reruns of a unit whose Ray worker died")
    sw.add_argument("--out", default=None, help="directory for sweep.json (default: .)")
    sw.add_argument("--no-progress", action="store_true")


def add_book(sub) -> None:
    b = sub.add_parser("book", help="execute every chapter with a profile and build the HTML")
    b.add_argument("--profile", default="book", help="|".join(PROFILES))
    b.add_argument("--root", default=None, help="book root (default: the checkout)")


def add_list(sub) -> None:
    sub.add_parser("list", help="list the experiments and their profiles")


def add_bench(sub) -> None:
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
    _add_sets(bn, "override a config field of the benched experiments (e.g. sm_width=64)")


def add_commit_results(sub) -> None:
    c = sub.add_parser("commit-results", help="copy a finished run from the store to "
                                              "results/committed (to be committed with git)")
    c.add_argument("experiment")
    c.add_argument("--profile", default="book", help="|".join(PROFILES))
    _add_sets(c)
    c.add_argument("--device", default="auto", help="the device it ran on: " + "|".join(DEVICES))


def add_gpu_session(sub) -> None:
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
    _add_sets(g)


def add_import_results(sub) -> None:
    i = sub.add_parser("import-results", help="check a results folder and copy it into "
                                              "results/committed (nothing is written if a "
                                              "check fails)")
    i.add_argument("folder")
    i.add_argument("--replace", action="store_true", help="replace committed runs of the same key")


def add_convert_results(sub) -> None:
    cv = sub.add_parser("convert-results", help="convert results and checkpoints of the former "
                                                "pickle format into data files, exactly "
                                                "(files already converted are only verified)")
    cv.add_argument("paths", nargs="*", help="files or folders (default: the results store and "
                                             "results/committed)")


def add_results_status(sub) -> None:
    sub.add_parser("results-status", help="list the committed results and whether this "
                                          "checkout's code made them (exit 1 if any did not)")


def add_reproduce(sub) -> None:
    r = sub.add_parser("reproduce", help="replay the start of every committed result made by "
                                         "other code and record those this code reproduces "
                                         "bit for bit (exit 1 if any differs)")
    r.add_argument("experiments", nargs="*", help="only these experiments (default: all)")
    r.add_argument("--profile", default="book", help="|".join(PROFILES))
    r.add_argument("--quiet", action="store_true", help="no progress bars")


def add_jobs(sub) -> None:
    j = sub.add_parser("jobs", help="the long runs the open work needs and no commit holds yet "
                                    "(mifd.results.jobs.planned): N processes at a time, one thread "
                                    "each, each committed as it finishes")
    j.add_argument("--profile", default="book", help="|".join(PROFILES))
    j.add_argument("--parallel", default="2", metavar="N", help="processes at a time")
    j.add_argument("--list", action="store_true", help="only list them")
    j.add_argument("--only", default=None, metavar="TEXT",
                   help="only the runs whose label or name contains TEXT")
    j.add_argument("--skip", default=None, metavar="TEXT",
                   help="not the runs whose label or name contains TEXT")


def add_gpu_tree(sub) -> None:
    t = sub.add_parser("gpu-tree", help="what travels to a GPU machine: 'size'; 'light' plans "
                                        "the session here and leaves results/committed behind; "
                                        "'restore' after the call")
    t.add_argument("action", help="size|light|restore")
    t.add_argument("--experiment", default="wm", help="the session's experiment (light)")
    t.add_argument("--profile", default=None, help="the session's profile (light; default: "
                   "paper; separation: gpu)")
    _add_sets(t)
