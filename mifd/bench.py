"""``mifd bench``: time the training loops (working memory, separation) at the published sizes.

For 1 and for many batched trials, on the chosen device: seconds per trial-epoch (median, min,
max over the timed epochs, after one warm-up epoch), FLOPs per trial-epoch counted for the
statistics network (SM) and the RNN, the achieved FLOP/s beside a matmul peak measured in the
same run, peak memory, and the projected wall time of the whole ``paper`` profile. Ratios are
only meaningful between rows of one run.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from .runner import get_experiment, resolve_device
from .store import atomic_write_json, code_version, now


def matmul_peak(device: str, n: int = 2048, reps: int = 5) -> float:
    """Measured fp32 matmul throughput (FLOP/s) of an n×n product on ``device``."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def critic_forward_flops(n: int, half: int, w: int) -> float:
    """One critic forward on n joint and n shuffled pairs: x and y projections (y twice),
    hidden layer and output on both sets of pairs."""
    return 2 * n * half * w + 2 * (2 * n) * half * w + 2 * (2 * n) * w * w + 2 * (2 * n) * w


def wm_flops(cfg: Any) -> dict[str, float]:
    """FLOPs per trial and epoch (k SM steps + one MM step); backward counted as 2× forward."""
    fwd = critic_forward_flops(cfg.sm_samples or cfg.batch * cfg.steps, cfg.n // 2, cfg.sm_width)
    sm = cfg.sm_per_mm * 3 * fwd
    sm_batch = cfg.sm_batch or cfg.batch
    L = cfg.transient + cfg.steps
    step = 2 * cfg.n * cfg.n + 2 * 4 * cfg.n + 2 * cfg.n * 2  # recurrent, input, readout
    rnn_sm = cfg.sm_per_mm * sm_batch * L * step
    rnn_mm = cfg.batch * (cfg.transient * step + 3 * cfg.steps * step)
    mm_critic = 3 * fwd  # the MM step's DV, backward through the critic into the RNN
    return {"sm": float(sm + mm_critic), "rnn": float(rnn_sm + rnn_mm)}


def separation_flops(cfg: Any) -> dict[str, float]:
    """FLOPs per trial and MM step (k SM steps + one MM step), backward counted as 2× forward."""
    fwd = critic_forward_flops(cfg.sm_samples or (cfg.sm_batch or cfg.batch) * cfg.length,
                               cfg.n // 2, cfg.sm_width)
    gru = 2 * 3 * (3 * cfg.n + cfg.n * cfg.n) + 2 * cfg.n * 6  # gates (input + recurrent), readout
    rnn_sm = cfg.sm_per_mm * (cfg.sm_batch or cfg.batch) * cfg.length * gru
    rnn_mm = 3 * cfg.batch * cfg.length * gru
    return {"sm": float(cfg.sm_per_mm * 3 * fwd + 3 * fwd), "rnn": float(rnn_sm + rnn_mm)}


BENCH_OVERRIDES = {
    # no pre-training, snapshots or audit inside the timed epochs; the data pool and the test set
    # are shrunk (their size does not change the cost of a training step)
    "wm": {"pre_steps": 0, "audit_steps": 0, "snapshot_every": 10 ** 6, "conditions": ("mi",)},
    "separation": {"pre_steps": 0, "eval_every": 10 ** 6, "n_train": 64, "n_test": 2,
                   "eval_chunk": 2, "conditions": ("mi_l2",)},
}


def _unit(experiment: str, cfg: Any, device: str):
    if experiment == "wm":
        from .experiments.wm import WMTrainUnit
        return WMTrainUnit(cfg, device)
    from .experiments.separation import SeparationTrainUnit
    return SeparationTrainUnit(cfg, device)


def _memory(device: str) -> int:
    return int(torch.cuda.max_memory_allocated() if device.startswith("cuda")
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _time_epochs(step, first: int, warmup: int, epochs: int, device: str,
                 per: int = 1) -> list[float]:
    """Run ``step(i)`` for ``warmup`` untimed then ``epochs`` timed epochs from index ``first``;
    seconds per epoch divided by ``per`` (the batched trials)."""
    for i in range(first, first + warmup):
        step(i)
    _sync(device)
    times = []
    for i in range(first + warmup, first + warmup + epochs):
        t = time.perf_counter()
        step(i)
        _sync(device)
        times.append((time.perf_counter() - t) / per)
    return times


def _row(experiment: str, impl: str, device: str, T: int, times: list[float], fl: dict,
         peak: float, paper_units: float, warmup: int) -> dict:
    med = statistics.median(times)
    return {"experiment": experiment, "impl": impl, "device": device, "trials": T,
            "warmup_epochs": warmup, "timed_epochs": len(times),
            "s_per_trial_epoch": {"median": med, "min": min(times), "max": max(times)},
            "flops_per_trial_epoch": fl,
            "floor_s_per_trial_epoch": (fl["sm"] + fl["rnn"]) / peak,
            "achieved_flops": (fl["sm"] + fl["rnn"]) / med,
            "fraction_of_matmul_peak": (fl["sm"] + fl["rnn"]) / med / peak,
            "peak_memory_bytes": _memory(device),
            "projected_paper_hours": med * paper_units / 3600}


def bench_experiment(experiment: str, device: str, trials: Sequence[int] = (1, 8),
                     epochs: int = 2, overrides: Mapping[str, Any] | None = None,
                     profile: str = "paper", warmup: int = 1, port: bool = True,
                     peak: float | None = None, one_pass: bool = False,
                     compile_critic: bool = False) -> dict:
    """Time ``epochs`` training epochs (MM steps with their SM steps) of ``experiment`` for each
    batched trial count, after ``warmup`` epochs; for ``wm`` also the straightforward port."""
    exp = get_experiment(experiment)
    peak = peak or matmul_peak(device)
    full = exp.config("paper")
    n_cond = len(full.all_conditions()) if hasattr(full, "all_conditions") else len(full.conditions)
    units = full.trials * n_cond * (full.epochs if experiment == "wm" else full.mm_steps)
    count = wm_flops if experiment == "wm" else separation_flops
    rows = []
    impls = ("mifd",) + (("mifd+1pass",) if one_pass else ()) + \
        (("mifd+compile",) if compile_critic else ())
    for T, impl in [(T, i) for T in trials for i in impls]:
        steps = {"epochs": epochs + warmup + 1} if experiment == "wm" else \
            {"mm_steps": epochs + warmup + 1}
        cfg = exp.config(profile, {**BENCH_OVERRIDES[experiment], "trials": T, **steps,
                                   **(overrides or {})})
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        unit = _unit(experiment, cfg, device)
        if impl == "mifd+1pass":  # the critic's one-pass option (exact up to rounding)
            unit.trainer.s = dataclasses.replace(unit.trainer.s, one_pass_critic=True)
        if impl == "mifd+compile":  # one pass, compiled (compiles in the warm-up epoch)
            unit.trainer.s = dataclasses.replace(unit.trainer.s, compile_critic=True)
        unit.step(0)  # pre-training (none here) and the first evaluation
        times = _time_epochs(unit.step, 1, warmup, epochs, device, T)
        rows.append(_row(experiment, impl, device, T, times, count(cfg), peak, units, warmup))
        del unit
    if port and experiment == "wm":
        from .bench_port import PortWM
        cfg = exp.config(profile, {**BENCH_OVERRIDES["wm"], "trials": 1, **(overrides or {})})
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        p = PortWM(cfg, device=device)
        times = _time_epochs(lambda _: p.epoch(), 0, warmup, epochs, device)
        rows.append(_row("wm", "port", device, 1, times, count(cfg), peak, units, warmup))
        best = min(r["s_per_trial_epoch"]["median"] for r in rows if r["impl"].startswith("mifd"))
        rows[-1]["speedup_of_mifd"] = rows[-1]["s_per_trial_epoch"]["median"] / best
    return {"matmul_peak_flops": peak, "rows": rows}


def run_bench(device: str = "auto", trials: Sequence[int] = (1, 8), epochs: int = 2,
              out: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
              experiments: Sequence[str] = ("wm",), port: bool = True, warmup: int = 1,
              one_pass: bool = False, compile_critic: bool = False) -> dict:
    dev = resolve_device(device)
    peak = matmul_peak(dev)
    rows = []
    for e in experiments:
        over = {k: v for k, v in (overrides or {}).items()
                if k in get_experiment(e).config_cls.__dataclass_fields__}
        rows += bench_experiment(e, dev, trials, epochs, over, warmup=warmup, port=port,
                                 peak=peak, one_pass=one_pass,
                                 compile_critic=compile_critic)["rows"]
    res = {"matmul_peak_flops": peak, "rows": rows}
    res.update({"date": now(), "code": code_version(), "host": platform.node(),
                "torch": torch.__version__, "threads": torch.get_num_threads(),
                "gpu": torch.cuda.get_device_name(0) if dev.startswith("cuda") else None,
                "overrides": dict(overrides or {})})
    if out is not None:
        atomic_write_json(Path(out), res)
    return res


def format_table(res: dict) -> str:
    lines = [f"matmul peak: {res['matmul_peak_flops'] / 1e9:.1f} GFLOP/s",
             f"{'exp':10} {'impl':12} {'dev':5} {'T':>3} {'s/trial-epoch (med, min, max)':>32} "
             f"{'floor s':>8} {'GFLOP/s':>8} {'peak%':>6} {'mem MB':>8} {'paper h':>8}"]
    for r in res["rows"]:
        s = r["s_per_trial_epoch"]
        lines.append(f"{r['experiment']:10} {r['impl']:12} {r['device']:5} {r['trials']:>3} "
                     f"{s['median']:>10.3f} {s['min']:>10.3f} {s['max']:>10.3f} "
                     f"{r['floor_s_per_trial_epoch']:>8.3f} "
                     f"{r['achieved_flops'] / 1e9:>8.1f} {100 * r['fraction_of_matmul_peak']:>6.1f} "
                     f"{r['peak_memory_bytes'] / 2 ** 20:>8.0f} {r['projected_paper_hours']:>8.1f}")
    for r in res["rows"]:
        if "speedup_of_mifd" in r:
            lines.append(f"{r['experiment']}: mifd is {r['speedup_of_mifd']:.2f}x faster per "
                         "trial-epoch than the straightforward port (same run)")
    return "\n".join(lines)


COMMITTED = Path(__file__).resolve().parent.parent / "results" / "committed" / "bench"

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
                     "s / trial-epoch (median)": round(s["median"], 3),
                     "min": round(s["min"], 3), "max": round(s["max"], 3),
                     "FLOP floor (s)": round(r.get("floor_s_per_trial_epoch", float("nan")), 3),
                     "× floor": round(s["median"] / r["floor_s_per_trial_epoch"], 2)
                     if "floor_s_per_trial_epoch" in r else None,
                     "% of matmul peak": round(100 * r["fraction_of_matmul_peak"], 1),
                     "peak memory (MB)": round(r["peak_memory_bytes"] / 2 ** 20),
                     "projected paper profile (h)": round(r["projected_paper_hours"], 1)})
    return pd.DataFrame(recs)


def goal_verdicts(results: list[dict]):
    """Each goal: met / not met on the best matching row of any benchmark, or not measured."""
    import pandas as pd
    out = []
    for name, exp, dev, ok in GOALS:
        rows = [r for res in results for r in res["rows"]
                if r["experiment"] == exp and r["device"].startswith(dev)
                and r.get("impl", "mifd").startswith("mifd")]
        if not rows:
            out.append({"goal": name, "best measured": "—", "verdict": "not measured (no such device)"})
            continue
        best = min(rows, key=lambda r: r["s_per_trial_epoch"]["median"])
        out.append({"goal": name,
                    "best measured": f"{best['s_per_trial_epoch']['median']:.2f} s/trial-epoch, "
                                     f"{best['trials']} batched trials → paper profile "
                                     f"{best['projected_paper_hours']:.1f} h",
                    "verdict": "met" if ok(best) else "not met"})
    port = [r for res in results for r in res["rows"] if r.get("impl") == "port"]
    if port:
        r = port[0]
        out.append({"goal": "wm ≥ 5× faster than the straightforward port (same run)",
                    "best measured": f"{r['speedup_of_mifd']:.2f}×",
                    "verdict": "met" if r["speedup_of_mifd"] >= 5 else "not met"})
    return pd.DataFrame(out).set_index("goal")
