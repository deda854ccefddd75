"""``mifd bench``: time the working-memory training loop at the published sizes.

For 1 and for many batched trials, on the chosen device: seconds per trial-epoch (median, min,
max over the timed epochs, after one warm-up epoch), FLOPs per trial-epoch counted for the
statistics network (SM) and the RNN, the achieved FLOP/s beside a matmul peak measured in the
same run, peak memory, and the projected wall time of the whole ``paper`` profile. Ratios are
only meaningful between rows of one run.
"""

from __future__ import annotations

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


def wm_flops(cfg: Any) -> dict[str, float]:
    """FLOPs per trial and epoch (k SM steps + one MM step); backward counted as 2× forward."""
    half = cfg.n // 2
    n = cfg.sm_samples or cfg.batch * cfg.steps
    w = cfg.sm_width
    # critic forward: x and y projections (y twice: aligned and shuffled), hidden layer and
    # output on the joint and the marginal pairs
    fwd = 2 * n * half * w + 2 * (2 * n) * half * w + 2 * (2 * n) * w * w + 2 * (2 * n) * w
    sm = cfg.sm_per_mm * 3 * fwd
    sm_batch = cfg.sm_batch or cfg.batch
    L = cfg.transient + cfg.steps
    step = 2 * cfg.n * cfg.n + 2 * 4 * cfg.n + 2 * cfg.n * 2  # recurrent, input, readout
    rnn_sm = cfg.sm_per_mm * sm_batch * L * step
    rnn_mm = cfg.batch * (cfg.transient * step + 3 * cfg.steps * step)
    mm_critic = 3 * fwd  # the MM step's DV, backward through the critic into the RNN
    return {"sm": float(sm + mm_critic), "rnn": float(rnn_sm + rnn_mm)}


def bench_wm(device: str, trials: Sequence[int] = (1, 8), epochs: int = 2,
             overrides: Mapping[str, Any] | None = None, profile: str = "paper") -> dict:
    from .experiments.wm import WMTrainUnit
    exp = get_experiment("wm")
    rows = []
    peak = matmul_peak(device)
    for T in trials:
        cfg = exp.config(profile, {"conditions": ("mi",), "trials": T, "pre_steps": 0,
                                   "epochs": epochs + 1, "audit_steps": 0,
                                   "snapshot_every": 10 ** 6, **(overrides or {})})
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        unit = WMTrainUnit(cfg, device)
        unit.step(0)
        unit.step(1)  # warm-up epoch
        _sync(device)
        times = []
        for i in range(2, epochs + 2):
            t = time.perf_counter()
            unit.step(i)
            _sync(device)
            times.append((time.perf_counter() - t) / T)
        fl = wm_flops(cfg)
        med = statistics.median(times)
        full = exp.config("paper")
        total_trials = full.trials * len(full.conditions)
        mem = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        rows.append({"experiment": "wm", "device": device, "trials": T,
                     "s_per_trial_epoch": {"median": med, "min": min(times), "max": max(times)},
                     "flops_per_trial_epoch": fl,
                     "achieved_flops": (fl["sm"] + fl["rnn"]) / med,
                     "fraction_of_matmul_peak": (fl["sm"] + fl["rnn"]) / med / peak,
                     "peak_memory_bytes": int(mem),
                     "projected_paper_hours": med * total_trials * full.epochs / 3600})
    return {"matmul_peak_flops": peak, "rows": rows}


def run_bench(device: str = "auto", trials: Sequence[int] = (1, 8), epochs: int = 2,
              out: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> dict:
    dev = resolve_device(device)
    res = bench_wm(dev, trials, epochs, overrides)
    res.update({"date": now(), "code": code_version(), "host": platform.node(),
                "torch": torch.__version__, "threads": torch.get_num_threads(),
                "gpu": torch.cuda.get_device_name(0) if dev.startswith("cuda") else None,
                "overrides": dict(overrides or {})})
    if out is not None:
        atomic_write_json(Path(out), res)
    return res


def format_table(res: dict) -> str:
    lines = [f"matmul peak: {res['matmul_peak_flops'] / 1e9:.1f} GFLOP/s",
             f"{'exp':5} {'dev':5} {'T':>3} {'s/trial-epoch (med, min, max)':>32} "
             f"{'GFLOP/s':>8} {'peak%':>6} {'mem MB':>8} {'paper h':>8}"]
    for r in res["rows"]:
        s = r["s_per_trial_epoch"]
        lines.append(f"{r['experiment']:5} {r['device']:5} {r['trials']:>3} "
                     f"{s['median']:>10.3f} {s['min']:>10.3f} {s['max']:>10.3f} "
                     f"{r['achieved_flops'] / 1e9:>8.1f} {100 * r['fraction_of_matmul_peak']:>6.1f} "
                     f"{r['peak_memory_bytes'] / 2 ** 20:>8.0f} {r['projected_paper_hours']:>8.1f}")
    return "\n".join(lines)


def dumps(res: dict) -> str:
    return json.dumps(res, indent=2)
