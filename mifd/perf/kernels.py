"""Timing of the Triton kernels (:mod:`mifd.accel.kernels.gru`) beside the loops they replace, measured in
one process on one device (the GPU session runs it after the CUDA tests; reported as per-step
times and ratios, never asserted)."""

from __future__ import annotations

import time
from typing import Any

import torch

#: the GRU pass timed in a GPU session: the separation experiment's width, its statistics
#: network's batch of 20 sequences for 8 trials, 2000 steps (a fifth of the published length)
GRU_SIZES = {"trials": 8, "batch": 20, "steps": 2000, "n": 100}
#: the sizes of a separation MM step at the published N, batch and trials (20 per condition,
#: 3 conditions): all 20 statistics-network passes of 50 sequences at once (no gradient), and
#: the MM pass's 50 sequences (its backward); 200 steps (the time per step does not depend on it)
FULL_BATCH_SIZES = {"gru_states": {"trials": 60, "batch": 1000, "steps": 200, "n": 100},
                    "gru_backward": {"trials": 60, "batch": 50, "steps": 200, "n": 100}}
#: (sequences, warps) per program timed beside the default (16, 4): the weight blocks a program
#: keeps on chip (six 128 × 128 fp32 blocks in the backward at N = 100) may not fit in the
#: registers of 4 warps
LAUNCHES = ((16, 8), (16, 16), (32, 8), (64, 8))
#: the issue's goal for the recurrence: microseconds per time step for a full trial batch
GOAL_US_PER_STEP = 5.0


def timing_table(kernels: dict) -> "pd.DataFrame":
    """One row per timed pass and implementation of a GPU session's ``kernels`` record (the
    session's timing file): sizes, µs per time step, speed-up over the loop it replaces, the
    largest difference from it, and, for the full-batch passes, whether the fastest exact
    kernel meets :data:`GOAL_US_PER_STEP`."""
    import pandas as pd
    rows = []
    for name, rec in kernels.items():
        if not isinstance(rec, dict) or "seconds_per_step" not in rec:
            continue
        times = rec["seconds_per_step"]
        base = next(iter(times))  # the loop it replaces, timed first
        diff = rec.get("max_abs_diff")
        for impl, sec in times.items():
            d = diff.get(impl) if isinstance(diff, dict) else (diff if impl != base else None)
            rows.append({"pass": name, "trials × sequences × steps":
                         f"{rec['trials']} × {rec['batch']} × {rec['steps']}",
                         "implementation": impl, "µs per step": round(sec * 1e6, 2),
                         "speed-up": round(times[base] / sec, 2),
                         "max |difference|": "—" if d is None else f"{d:.1e}", "goal": "—"})
        if name.endswith("full_batch"):
            exact = {k: v for k, v in rec["seconds_per_step"].items()
                     if k.startswith("triton") and "bf16" not in k and "tf32" not in k}
            if exact:
                best = min(exact, key=exact.get)
                us = exact[best] * 1e6
                for r in rows:
                    if r["pass"] == name and r["implementation"] == best:
                        r["goal"] = (f"≤ {GOAL_US_PER_STEP:g} µs: "
                                     + ("met" if us <= GOAL_US_PER_STEP else "not met"))
    return pd.DataFrame(rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(f, dev: torch.device, reps: int) -> tuple[Any, float]:
    """``f()``'s result (one untimed run) and the median seconds of ``reps`` further runs."""
    result = f()
    _sync(dev)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return result, sorted(times)[len(times) // 2]


def time_gru_states(device: str = "cuda", trials: int = 8, batch: int = 20, steps: int = 2000,
                    n: int = 100, reps: int = 3, cell: str = "keras",
                    launches: bool = True) -> dict[str, Any]:
    """Seconds per time step of the no-grad GRU pass: the reference loop
    (:func:`mifd.accel.bptt.gru_states`) and the Triton kernel with fp32 and TF32 products,
    with its states written in bf16 (``out_dtype``), and (``launches``) with the other launch
    settings of :data:`LAUNCHES` (the default: 16 sequences and 4 warps per program), each the median of ``reps`` runs after one untimed run;
    with the largest absolute difference of each kernel's states from the reference's. A
    variant that fails is recorded under ``errors`` and the others still run."""
    from ..accel.kernels import gru as kgru
    from ..accel import bptt
    from ..models.gru import GRUSpec, TrialGRU
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    m = TrialGRU([torch.Generator().manual_seed(s) for s in range(trials)],
                 GRUSpec(n=n, cell=cell)).to(dev)
    x = torch.randn(trials, batch, steps, 3, generator=g).to(dev)
    h0 = torch.zeros(trials, batch, n, device=dev)
    impls = {"reference loop": lambda: bptt.gru_states(x, h0, m.W, m.U, m.b, m.c, steps),
             "triton fp32": lambda: kgru.gru_states(x, h0, m.W, m.U, m.b, m.c),
             "triton tf32": lambda: kgru.gru_states(x, h0, m.W, m.U, m.b, m.c,
                                                    precision="tf32"),
             "triton fp32, bf16 states": lambda: kgru.gru_states(
                 x, h0, m.W, m.U, m.b, m.c, out_dtype=torch.bfloat16)}
    for bb, nw in LAUNCHES if launches else ():
        impls[f"triton fp32, block {bb}, {nw} warps"] = lambda bb=bb, nw=nw: kgru.gru_states(
            x, h0, m.W, m.U, m.b, m.c, block_b=bb, num_warps=nw)
    out: dict[str, Any] = {"device": str(dev), "trials": trials, "batch": batch,
                           "steps": steps, "n": n, "cell": cell, "seconds_per_step": {},
                           "max_abs_diff": {}, "errors": {}}
    ref = None
    with torch.no_grad():
        for name, f in impls.items():
            try:
                H, seconds = _timed(f, dev, reps)
            except Exception as e:  # noqa: BLE001 (a variant that does not compile here)
                if ref is None:
                    raise
                out["errors"][name] = f"{type(e).__name__}: {str(e)[:300]}"
                continue
            out["seconds_per_step"][name] = seconds / steps
            if ref is None:
                ref = H
            else:
                out["max_abs_diff"][name] = float((H.float() - ref).abs().max())
    base = out["seconds_per_step"]["reference loop"]
    out["speedup"] = {k: base / v for k, v in out["seconds_per_step"].items()}
    return out


def time_gru_backward(device: str = "cuda", trials: int = 8, batch: int = 20, steps: int = 2000,
                      n: int = 100, reps: int = 3, cell: str = "keras",
                      launches: bool = True) -> dict[str, Any]:
    """Seconds per time step of the GRU's backward pass given its states: the hand-written BPTT
    (:mod:`mifd.accel.bptt`, through autograd) and the Triton kernel
    (:func:`mifd.accel.kernels.gru.gru_backward`) at its default launch and (``launches``) at
    :data:`LAUNCHES`, each
    the median of ``reps`` runs after one untimed run; with the largest absolute difference of
    each kernel's weight gradients from the reference's (a launch that fails: ``errors``)."""
    from ..accel.kernels import gru as kgru
    from ..accel import bptt
    from ..models.gru import GRUSpec, TrialGRU
    dev = torch.device(device)
    g = torch.Generator().manual_seed(1)
    m = TrialGRU([torch.Generator().manual_seed(s) for s in range(trials)],
                 GRUSpec(n=n, cell=cell)).to(dev)
    x = torch.randn(trials, batch, steps, 3, generator=g).to(dev)
    h0 = torch.zeros(trials, batch, n, device=dev)
    params = [p for p in (m.W, m.U, m.b, m.c) if p is not None]
    with torch.no_grad():
        H = bptt.gru_states(x, h0, m.W, m.U, m.b, m.c, steps)
    gH = torch.randn(H.shape, generator=g).to(dev)

    def reference():
        Hs = bptt.gru_scan(x, h0, m.W, m.U, m.b, m.c, steps, states=H)
        return torch.autograd.grad((Hs * gH).sum(), params)

    def kernel(block_b: int = 16, num_warps: int = 4):
        with torch.no_grad():
            got = kgru.gru_backward(x, h0, m.W, m.U, m.b, m.c, H, gH, block_b=block_b,
                                    num_warps=num_warps)
        return [t for t in got[2:] if t is not None]

    out: dict[str, Any] = {"device": str(dev), "trials": trials, "batch": batch,
                           "steps": steps, "n": n, "cell": cell, "seconds_per_step": {},
                           "max_abs_diff": {}, "errors": {}}
    impls = {"hand-written BPTT": reference, "triton fp32": kernel}
    for bb, nw in LAUNCHES if launches else ():
        impls[f"triton fp32, block {bb}, {nw} warps"] = lambda bb=bb, nw=nw: kernel(bb, nw)
    ref = None
    for name, f in impls.items():
        try:
            g, seconds = _timed(f, dev, reps)
        except Exception as e:  # noqa: BLE001 (a launch setting that does not compile here)
            if ref is None:
                raise
            out["errors"][name] = f"{type(e).__name__}: {str(e)[:300]}"
            continue
        out["seconds_per_step"][name] = seconds / steps
        if ref is None:
            ref = g
        else:
            out["max_abs_diff"][name] = max(float((a - b).abs().max()) for a, b in zip(g, ref))
    out["speedup"] = {k: out["seconds_per_step"]["hand-written BPTT"] / v
                      for k, v in out["seconds_per_step"].items()}
    return out
