"""The committed benchmark results (``results/committed/bench/``), read back: the benchmark
JSONs and their tables, the goals' verdicts, the effect of each option and of the host-memory
setting, the phase breakdowns, the SM-pass splits and the CUDA test reports. Nothing here runs
a measurement or imports the training code.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from .rows import PORTS, is_exact, is_exact_mifd

# where the benchmark results are committed (results/committed/bench of the checkout)
COMMITTED = Path(__file__).resolve().parents[2] / "results" / "committed" / "bench"

#: the performance goals (issue "Performance"), checked against a benchmark's rows
GOALS = (
    ("wm paper profile on one GPU ≤ 10 min", "wm", "cuda", lambda r: r["projected_paper_hours"] * 60 <= 10),
    ("separation paper profile on one GPU ≤ 60 min", "separation", "cuda",
     lambda r: r["projected_paper_hours"] * 60 <= 60),
    ("wm on CPU within 1.5× of the FLOP floor", "wm", "cpu",
     lambda r: r["s_per_trial_epoch"]["median"] <= 1.5 * r["floor_s_per_trial_epoch"]),
)


def load_committed(folder: Path | None = None) -> list[tuple[str, dict]]:
    """Every committed benchmark JSON, ``(file name, result)``, newest first."""
    folder = Path(folder or COMMITTED)
    out = [(p.name, json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
    return sorted(out, key=lambda t: t[1].get("date", ""), reverse=True)


def rows_frame(res: dict):
    import pandas as pd
    recs = []
    for r in res["rows"]:
        s = r["s_per_trial_epoch"]
        recs.append({"experiment": r["experiment"], "implementation": r.get("impl", "mifd"),
                     "device": r["device"], "batched trials": r["trials"],
                     "sizes": "published" if r.get("published_sizes", True)
                     else "shortened (projection scaled by FLOPs)",
                     "s / trial-epoch (median)": round(s["median"], 3),
                     "min": round(s["min"], 3), "max": round(s["max"], 3),
                     "FLOP floor (s)": round(r.get("floor_s_per_trial_epoch", float("nan")), 3),
                     "× floor": round(s["median"] / r["floor_s_per_trial_epoch"], 2)
                     if "floor_s_per_trial_epoch" in r else None,
                     "% of matmul peak": round(100 * r["fraction_of_matmul_peak"], 1),
                     "peak memory (MB)": round(r["peak_memory_bytes"] / 2 ** 20),
                     "freed host memory": "retained" if r.get("retain_host_memory")
                     else "returned (glibc default)",
                     "projected paper profile (h)": round(r["projected_paper_hours"], 1)})
    return pd.DataFrame(recs)


def measured_on(res: dict) -> str:
    """The machine a benchmark ran on, in words: its GPU, or its CPU threads and host."""
    if res.get("gpu"):
        return str(res["gpu"])
    n = res.get("threads", "?")
    return f"{n} CPU thread{'' if n == 1 else 's'} of host {res.get('host', '?')}"


def _best_text(r: dict, res: dict) -> str:
    h = r["projected_paper_hours"]
    return (f"{r['s_per_trial_epoch']['median']:.3g} s/trial-epoch, {r['trials']} batched trials "
            f"on {measured_on(res)} (benchmark of {res.get('date', '')[:10]}) → paper profile "
            f"{h:.1f} h"
            + (f" ({60 * h:.0f} min)" if h < 2 else ""))


def goal_verdicts(results: list[dict]):
    """Each goal: met / not met on the best exact row (:func:`~mifd.perf.rows.is_exact_mifd`)
    of any benchmark, or not measured."""
    import pandas as pd
    out = []
    for name, exp, dev, ok in GOALS:
        rows = [(r, res) for res in results for r in res["rows"]
                if r["experiment"] == exp and r["device"].startswith(dev)
                and is_exact_mifd(r.get("impl", "mifd"))]
        # rows at the published sizes when there are any (a --quick row's projection is scaled)
        rows = [(r, res) for r, res in rows if r.get("published_sizes", True)] or rows
        if not rows:
            out.append({"goal": name, "best measured": "—", "verdict": "not measured (no such device)"})
            continue
        best, res = min(rows, key=lambda rr: rr[0]["s_per_trial_epoch"]["median"])
        out.append({"goal": name, "best measured": _best_text(best, res),
                    "verdict": "met" if ok(best) else "not met"})
        # the issue also admits explicit options whose effect on the metrics is shown
        inexact = [(r, res) for res in results for r in res["rows"]
                   if r["experiment"] == exp and r["device"].startswith(dev)
                   and r.get("published_sizes", True) and r.get("impl", "mifd") not in PORTS
                   and not is_exact(r.get("impl", "mifd"))]
        if inexact and dev == "cuda":
            best, res = min(inexact, key=lambda rr: rr[0]["s_per_trial_epoch"]["median"])
            out.append({"goal": f"{name}, with reduced-precision options (not exact; "
                                "information)",
                        "best measured": f"{best['impl']}: {_best_text(best, res)}"
                                         + (" (within the goal)" if ok(best) else ""),
                        "verdict": "—"})
    for dev, goal in (("cpu", "wm on CPU ≥ 5× faster than the straightforward port (same run)"),
                      ("cuda", "wm on GPU: speed-up over the port (same run; information)")):
        port = [(r, res) for res in results for r in res["rows"] if r.get("impl") == "port"
                and r["device"].startswith(dev) and r.get("published_sizes", True)]
        if port:
            r, res = port[0]
            out.append({"goal": goal, "best measured": f"{r['speedup_of_mifd']:.2f}× (on "
                                                       f"{measured_on(res)})",
                        "verdict": ("met" if r["speedup_of_mifd"] >= 5 else "not met")
                        if dev == "cpu" else "—"})
            if dev == "cpu":
                # no exact implementation runs below the FLOP floor, so the port's time over
                # the floor bounds any exact speed-up over it
                bound = r["s_per_trial_epoch"]["median"] / r["floor_s_per_trial_epoch"]
                out.append({"goal": "wm on CPU: largest exact speed-up over the port (its time "
                                    "over the FLOP floor; information)",
                            "best measured": f"{bound:.2f}×", "verdict": "—"})
        retained = [r for res in results for r in res["rows"] if r.get("impl") == "port+retain"
                    and r["device"].startswith(dev) and r.get("published_sizes", True)]
        if retained:
            out.append({"goal": f"wm on {dev.upper() if dev == 'cpu' else 'GPU'}: speed-up over "
                                "the port with freed host memory retained (information)",
                        "best measured": f"{retained[0]['speedup_of_mifd']:.2f}×", "verdict": "—"})
    return pd.DataFrame(out).set_index("goal")


def _jsons(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]


def load_phases(folder: Path | None = None) -> list[dict]:
    """Committed :func:`~mifd.perf.measure.phase_times` results
    (``results/committed/bench/phases/*.json``)."""
    return _jsons(folder or COMMITTED / "phases")


def phases_frame(phases: list[dict]):
    """One row per measured configuration: seconds per epoch (all batched trials) in each
    phase and each phase's share, and the time per sequential RNN step at the published
    sequence length (working memory: the batched SM pass over transient + steps, drawing its
    data included; separation: the MM step's forward and backward over the sequence)."""
    import pandas as pd

    from ..experiments import get_experiment
    wm, sep = get_experiment("wm").config("paper"), get_experiment("separation").config("paper")
    recs = []
    for res in phases:
        for r in res["rows"]:
            sec = r["seconds_per_epoch"]
            total = sum(sec.values())
            per_step = (sec["sm_rnn"] / (wm.transient + wm.steps) if r["experiment"] == "wm"
                        else sec["mm"] / (2 * sep.length))
            recs.append({"experiment": r["experiment"], "device": res.get("gpu") or r["device"],
                         "batched trials": r["trials"],
                         "critic precision": r["overrides"].get("sm_precision", "fp32"),
                         "SM RNN passes (s)": round(sec["sm_rnn"], 3),
                         "SM critic updates (s)": round(sec["sm_critic"], 3),
                         "MM step (s)": round(sec["mm"], 3), "epoch (s)": round(total, 3),
                         "RNN share": round((sec["sm_rnn"] + sec["mm"]) / total, 2),
                         "µs per RNN step": round(1e6 * per_step)})
    return pd.DataFrame(recs)


def phase_sentences(frame) -> list[str]:
    """One sentence per row of :func:`phases_frame`, for the page."""
    out = []
    for _, r in frame.iterrows():
        if r["experiment"] == "wm":
            out.append(f"wm, {r['batched trials']} trials, critic {r['critic precision']}: RNN "
                       f"phases {r['RNN share']:.0%} of the epoch; {r['µs per RNN step']:.0f} µs "
                       "per step of the batched SM pass, drawing its data included")
        else:
            out.append(f"separation, {r['batched trials']} trial(s): RNN phases "
                       f"{r['RNN share']:.0%} of the MM step; the MM step "
                       f"{r['µs per RNN step']:.0f} µs per GRU step (forward and backward)")
    return out


def cuda_test_results(folder: Path | None = None) -> list[dict]:
    """The committed JUnit reports of ``pytest tests/test_cuda.py tests/test_exactness.py`` run
    on a GPU (``results/committed/bench/cuda/*.xml``, and those of ``mifd gpu-session`` in
    ``bench/sessions/*/``): counts, date and file."""
    import xml.etree.ElementTree as ET
    paths = sorted(Path(folder or COMMITTED / "cuda").glob("*.xml"))
    if folder is None:
        paths += sorted((COMMITTED / "sessions").glob("*/*.xml"))
    out = []
    for p in paths:
        suite = ET.parse(p).getroot().find("testsuite")
        if suite is None:
            continue
        a = suite.attrib
        out.append({"file": p.name, "date": a.get("timestamp", ""), "tests": int(a["tests"]),
                    "failures": int(a["failures"]), "errors": int(a["errors"]),
                    "skipped": int(a["skipped"]),
                    "names": [c.attrib["name"] for c in suite.iter("testcase")]})
    return out


def load_sm_pass(folder: Path | None = None) -> list[dict]:
    """Committed :func:`~mifd.perf.measure.wm_sm_pass_times` results
    (``results/committed/bench/graphs/*.json``)."""
    return _jsons(folder or COMMITTED / "graphs")


def _run_label(res: dict) -> str:
    gpu = f" ({res['gpu']})" if res.get("gpu") else ""
    return res.get("date", "")[:10] + " " + res.get("host", "") + gpu


def _rows_by_key(res: dict) -> dict[tuple, dict]:
    """A run's rows by (experiment, device, batched trials, row name)."""
    return {(r["experiment"], r["device"], r["trials"], r.get("impl", "mifd")): r
            for r in res["rows"]}


def allocator_effect(results: list[dict]):
    """Seconds per trial-epoch with freed host memory retained (``mifd``, ``port+retain``) and
    with glibc's default (``mifd-mmap``, ``port``), pairs taken from the same run."""
    import pandas as pd
    recs = []
    for res in results:
        rows = _rows_by_key(res)
        for (exp, dev, T, impl), off in rows.items():
            on_impl = {"mifd-mmap": "mifd", "port": "port+retain"}.get(impl)
            on = rows.get((exp, dev, T, on_impl))
            if on is None:
                continue
            a, b = on["s_per_trial_epoch"]["median"], off["s_per_trial_epoch"]["median"]
            recs.append({"run": _run_label(res),
                         "experiment": exp, "device": dev, "batched trials": T,
                         "code": "mifd" if on_impl == "mifd" else "port",
                         "retained (s / trial-epoch)": round(a, 3),
                         "glibc default (s / trial-epoch)": round(b, 3),
                         "speed-up from retaining": round(b / a, 2)})
    return pd.DataFrame(recs)


def option_effect(results: list[dict]):
    """Each option's row (every ``mifd`` row with parts but ``mifd-mmap``, which
    :func:`allocator_effect` pairs) against the default row (``mifd``) of the same run,
    experiment, device and trial count: seconds per trial-epoch and the speed-up (> 1: the
    option is faster)."""
    import pandas as pd
    recs = []
    for res in results:
        rows = _rows_by_key(res)
        for (exp, dev, T, impl), r in rows.items():
            base = rows.get((exp, dev, T, "mifd"))
            if impl in PORTS or impl in ("mifd", "mifd-mmap") or base is None:
                continue
            a, b = base["s_per_trial_epoch"]["median"], r["s_per_trial_epoch"]["median"]
            recs.append({"run": _run_label(res), "experiment": exp, "device": dev,
                         "batched trials": T, "option": impl,
                         "exact": is_exact(impl),
                         "default (s / trial-epoch)": round(a, 3),
                         "option (s / trial-epoch)": round(b, 3),
                         "speed-up": round(a / b, 2)})
    return pd.DataFrame(recs)


def allocator_ab_frame(results: list[dict]):
    """Medians of :func:`~mifd.perf.allocator_ab.allocator_ab` blocks, per committed benchmark
    that has one."""
    import pandas as pd
    recs = []
    for res in results:
        ab = res.get("allocator_ab")
        if not ab or not ab.get("available"):
            continue
        med = {m: {k: statistics.median(v) for k, v in d.items()}
               for m, d in ab["per_step"].items()}
        on, off = med["retained"], med["glibc default"]
        recs.append({"run": _run_label(res),
                     "batched trials": ab["trials"], "blocks": ab["reps"],
                     "s / SM step, retained": round(on["seconds"], 3),
                     "s / SM step, glibc default": round(off["seconds"], 3),
                     "speed-up": round(off["seconds"] / on["seconds"], 2),
                     "page faults, retained": int(on["minor_faults"]),
                     "page faults, glibc default": int(off["minor_faults"]),
                     "system CPU s, retained": round(on["system_seconds"], 3),
                     "system CPU s, glibc default": round(off["system_seconds"], 3)})
    return pd.DataFrame(recs)
