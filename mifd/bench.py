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
import re
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from .allocator import retain_freed_memory, retaining
from .config import ConfigError
from .runner import get_experiment, resolve_device
from .store import atomic_write_json, code_version, now


def matmul_peak(device: str, n: int | None = None, reps: int = 5) -> float:
    """Measured fp32 matmul throughput (FLOP/s) of an n×n product on ``device`` (n = 2048 on
    a CPU, 8192 on a GPU, where a smaller product does not fill the machine)."""
    n = n or (8192 if device.startswith("cuda") else 2048)
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


def critic_flops(n: int, half: int, w: int, update: str) -> float:
    """FLOPs of one critic pass, forward and backward, on n joint and n shuffled pairs.

    Forward: the x projection once, the y projection for y and for the shuffled y, the w×w
    hidden layer and the output on both sets of pairs. Backward only computes what the step
    needs (each a matmul of the forward's size): ``update="critic"`` (an SM step: the inputs are
    detached) takes weight gradients everywhere and input gradients above the first layer;
    ``update="inputs"`` (the MM step: the critic is fixed) takes input gradients only.
    """
    proj = 2 * n * half * w + 2 * (2 * n) * half * w
    rest = 2 * (2 * n) * w * w + 2 * (2 * n) * w
    if update == "critic":
        return 2 * proj + 3 * rest
    if update == "inputs":
        return 2 * proj + 2 * rest
    raise ValueError(f"parameter 'update': got {update!r}; allowed: 'critic', 'inputs'")


def _samples(cfg: Any, n: int) -> int:
    """Pairs the critic sees out of ``n`` activity samples (a random subset of ``sm_samples``
    when that is set, as ``AdversarialTrainer.estimate`` draws)."""
    return min(cfg.sm_samples, n) if cfg.sm_samples else n


def _n_conditions(cfg: Any) -> int:
    """Conditions a config trains side by side (separation adds its L2 sweep)."""
    return len(cfg.all_conditions()) if hasattr(cfg, "all_conditions") else len(cfg.conditions)


def wm_flops(cfg: Any) -> dict[str, float]:
    """FLOPs per trial and epoch (k SM steps + one MM step); an RNN backward counted as 2×
    its forward."""
    sm_batch = cfg.sm_batch or cfg.batch
    n_sm, n_mm = _samples(cfg, sm_batch * cfg.steps), _samples(cfg, cfg.batch * cfg.steps)
    half, w = cfg.n // 2, cfg.sm_width
    sm = cfg.sm_per_mm * critic_flops(n_sm, half, w, "critic") + critic_flops(n_mm, half, w, "inputs")
    L = cfg.transient + cfg.steps
    step = 2 * cfg.n * cfg.n + 2 * 4 * cfg.n + 2 * cfg.n * 2  # recurrent, input, readout
    rnn_sm = cfg.sm_per_mm * sm_batch * L * step
    rnn_mm = cfg.batch * (cfg.transient * step + 3 * cfg.steps * step)
    return {"sm": float(sm), "rnn": float(rnn_sm + rnn_mm)}


def separation_flops(cfg: Any) -> dict[str, float]:
    """FLOPs per trial and MM step (k SM steps + one MM step); a GRU backward counted as 2×
    its forward."""
    n_sm = _samples(cfg, (cfg.sm_batch or cfg.batch) * cfg.length)
    n_mm = _samples(cfg, cfg.batch * cfg.length)
    half, w = cfg.n // 2, cfg.sm_width
    sm = cfg.sm_per_mm * critic_flops(n_sm, half, w, "critic") + critic_flops(n_mm, half, w, "inputs")
    gru = 2 * 3 * (3 * cfg.n + cfg.n * cfg.n) + 2 * cfg.n * 6  # gates (input + recurrent), readout
    rnn_sm = cfg.sm_per_mm * (cfg.sm_batch or cfg.batch) * cfg.length * gru
    rnn_mm = 3 * cfg.batch * cfg.length * gru
    return {"sm": float(sm), "rnn": float(rnn_sm + rnn_mm)}


BENCH_OVERRIDES = {
    # no pre-training, snapshots or audit inside the timed epochs; the data pool and the test set
    # are shrunk (their size does not change the cost of a training step)
    "wm": {"pre_steps": 0, "audit_steps": 0, "snapshot_every": 10 ** 6, "conditions": ("mi",)},
    "separation": {"pre_steps": 0, "eval_every": 10 ** 6, "n_train": 64, "n_test": 2,
                   "eval_chunk": 2, "conditions": ("mi_l2",)},
}

#: ``mifd bench --quick``: the published widths, batch sizes and SM steps per MM step, with the
#: sequences shortened (WM 200 + 400 steps instead of 1000 + 2000, separation 500 instead of
#: 10 000), 1 and 2 trials, one warm-up and one timed epoch. Its projections are scaled from
#: the measured sizes to the published ones by the counted FLOPs.
QUICK = {"trials": (1, 2), "epochs": 1, "warmup": 1, "experiments": ("wm", "separation"),
         "overrides": {"wm": {"transient": 200, "steps": 400},
                       "separation": {"length": 500, "loss_from": 50}}}


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


def _row(experiment: str, impl: str, device: str, T: int, measured: dict, fl: dict,
         paper_units: float, warmup: int, paper_fl: dict) -> dict:
    """One benchmark row from a :func:`measure_row` measurement. The projection of the
    ``paper`` profile scales the measured time by the ratio of counted FLOPs at the published
    sizes to those measured (1 when they match)."""
    times = measured["times"]
    med = statistics.median(times)
    scale = (paper_fl["sm"] + paper_fl["rnn"]) / (fl["sm"] + fl["rnn"])
    return {"experiment": experiment, "impl": impl, "device": device, "trials": T,
            "warmup_epochs": warmup, "timed_epochs": len(times),
            "s_per_trial_epoch": {"median": med, "min": min(times), "max": max(times)},
            "flops_per_trial_epoch": fl,
            "achieved_flops": (fl["sm"] + fl["rnn"]) / med,
            "peak_memory_bytes": measured["peak_memory_bytes"],
            "published_sizes": abs(scale - 1) < 1e-9,
            "projected_paper_hours": med * scale * paper_units / 3600,
            "retain_host_memory": measured["retain_host_memory"],
            "fresh_process": measured["fresh_process"]}


#: what each part of a row's name changes from the default row ``mifd``: a row is ``mifd``
#: followed by any of these parts, e.g. ``mifd+bf16+fused+graph``. ``trainer``: a trainer
#: setting; ``config``: config fields; ``host``: the allocator (``-mmap``: glibc's default)
ROW_PARTS: dict[str, tuple[str, dict[str, Any]]] = {
    "-2pass": ("trainer", {"one_pass_critic": False}),  # joint, shuffled pairs in two passes
    "+compile": ("config", {"compile_critic": True}),   # compiled critic (compiles in warm-up)
    "+bf16": ("config", {"sm_precision": "bf16"}),      # bf16 critic matmuls (not exact)
    "+tf32": ("config", {"sm_precision": "tf32"}),      # TF32 critic matmuls (CUDA; not exact)
    "+fused": ("config", {"fused_bptt": True}),         # hand-written BPTT
    "+graph": ("config", {"graph_sm_pass": True}),      # SM passes from a CUDA graph (CUDA)
    "+merged": ("config", {"merge_mm_pass": True}),     # MM forward in the SM pass (+fused)
    "-mmap": ("host", {}),                              # glibc's default allocator
}
#: parts whose results differ from the default's by more than float rounding
INEXACT_PARTS = ("+bf16", "+tf32")
#: parts that need a CUDA device
CUDA_PARTS = ("+tf32", "+graph")
#: parts that need another part in the same row
NEEDS_PARTS = {"+merged": "+fused"}
#: the straightforward port: with glibc's default allocator, and with freed memory retained
PORTS = ("port", "port+retain")


def row_parts(impl: str, name: str = "impls") -> list[str]:
    """The parts of a row name (``mifd+bf16+fused`` → ``["+bf16", "+fused"]``); a port is
    ``[]``. Unknown names are rejected with what is allowed."""
    if impl in PORTS:
        return []
    parts = re.findall(r"[+-][a-z0-9]+", impl[4:])
    if not impl.startswith("mifd") or "".join(parts) != impl[4:] or \
            any(p not in ROW_PARTS for p in parts) or len(set(parts)) != len(parts) or \
            sum(p in INEXACT_PARTS for p in parts) > 1:
        raise ConfigError(f"parameter '{name}': got {impl!r}; allowed: 'mifd' followed by any "
                          "of " + ", ".join(repr(p) for p in ROW_PARTS) + " (e.g. "
                          "'mifd+bf16+fused'; each at most once, one precision), or one of "
                          + ", ".join(repr(p) for p in PORTS))
    for p in parts:
        if p in NEEDS_PARTS and NEEDS_PARTS[p] not in parts:
            raise ConfigError(f"parameter '{name}': got {impl!r}; allowed: {p!r} only with "
                              f"{NEEDS_PARTS[p]!r} (e.g. 'mifd{NEEDS_PARTS[p]}{p}')")
    return parts


def row_settings(impl: str, kind: str) -> dict[str, Any]:
    """The trainer settings (``kind="trainer"``) or config fields (``"config"``) of a row."""
    out: dict[str, Any] = {}
    for part in row_parts(impl):
        k, settings = ROW_PARTS[part]
        if k == kind:
            out.update(settings)
    return out


def is_exact(impl: str) -> bool:
    """Whether a row's results equal the default's within float tolerance (the ports and every
    ``mifd`` row without a reduced-precision part)."""
    return not any(p in INEXACT_PARTS for p in row_parts(impl))


def is_exact_mifd(impl: str) -> bool:
    """An exact ``mifd`` row: the goals are judged on these."""
    return impl not in PORTS and is_exact(impl)


def retains_host_memory(impl: str) -> bool:
    """Whether a row retains freed host memory (``mifd.allocator``; what ``mifd.run`` does on
    CPU): every ``mifd`` row without ``-mmap``, and ``port+retain``; ``port`` runs as a plain
    script would, with glibc's defaults."""
    return impl == "port+retain" or (impl != "port" and "-mmap" not in row_parts(impl))


def check_rows(impls: Sequence[str], device: str, name: str = "impls") -> None:
    """Reject unknown row names, and CUDA-only parts on another device, before anything runs."""
    for impl in impls:
        bad = [p for p in row_parts(impl, name) if p in CUDA_PARTS]
        if bad and not device.startswith("cuda"):
            raise ConfigError(f"parameter '{name}': got {impl!r} on {device}; allowed there: rows "
                              f"without {', '.join(bad)} (CUDA only)")


def set_peak(rows: list[dict], peak: float) -> list[dict]:
    """Each row's FLOP floor and fraction of the matmul peak, for the run's highest measured
    peak (the machine's speed drifts during a run; the highest sample gives the strictest
    floor)."""
    for r in rows:
        fl = r["flops_per_trial_epoch"]["sm"] + r["flops_per_trial_epoch"]["rnn"]
        r["floor_s_per_trial_epoch"] = fl / peak
        r["fraction_of_matmul_peak"] = fl / r["s_per_trial_epoch"]["median"] / peak
    return rows


def bench_experiment(experiment: str, device: str, trials: Sequence[int] = (1, 8),
                     epochs: int = 2, overrides: Mapping[str, Any] | None = None,
                     profile: str = "paper", warmup: int = 1, port: bool = True,
                     peak: float | None = None, impls: Sequence[str] = ("mifd",),
                     ports: Sequence[str] = ("port",)) -> dict:
    """Time ``epochs`` training epochs (MM steps with their SM steps) of ``experiment`` for each
    batched trial count, after ``warmup`` epochs; for ``wm`` also the straightforward port
    (``ports``: ``"port"``, with glibc's default allocator, and/or ``"port+retain"``).
    The matmul peak is sampled before and after every row."""
    exp = get_experiment(experiment)
    peaks = [peak or matmul_peak(device)]
    full = exp.config("paper")
    n_cond = _n_conditions(full)
    units = full.trials * n_cond * (full.epochs if experiment == "wm" else full.mm_steps)
    count = wm_flops if experiment == "wm" else separation_flops
    paper_fl = count(full)
    rows = []
    check_rows(impls, device)
    for name in ports:
        if name not in PORTS:
            raise ValueError(f"parameter 'ports': got {name!r}; allowed: 'port', 'port+retain'")
    jobs = [(T, i) for T in trials for i in impls]
    if port and experiment == "wm":
        jobs += [(1, name) for name in ports]
    for T, impl in jobs:
        measured = measure_row(experiment, impl, device, T, epochs, warmup, overrides or {},
                               profile)
        cfg = exp.config(profile, {**BENCH_OVERRIDES[experiment], "trials": T,
                                   **(overrides or {})})
        rows.append(_row(experiment, impl, device, T, measured, count(cfg), units, warmup,
                         paper_fl))
        peaks.append(matmul_peak(device))
    if port and experiment == "wm":
        best = min(r["s_per_trial_epoch"]["median"] for r in rows if is_exact_mifd(r["impl"]))
        for r in rows:
            if r["impl"] in ports:
                r["speedup_of_mifd"] = r["s_per_trial_epoch"]["median"] / best
    return {"matmul_peak_flops": max(peaks), "matmul_peak_samples": peaks,
            "rows": set_peak(rows, max(peaks))}


def _measure(experiment: str, impl: str, device: str, T: int, epochs: int, warmup: int,
             overrides: Mapping[str, Any], profile: str) -> dict:
    """Seconds per trial-epoch of one benchmark row, in this process, with this process's
    allocator setting."""
    exp = get_experiment(experiment)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    if impl.startswith("port"):
        from .bench_port import PortWM
        cfg = exp.config(profile, {**BENCH_OVERRIDES["wm"], "trials": 1, **overrides})
        p = PortWM(cfg, device=device)
        times = _time_epochs(lambda _: p.epoch(), 0, warmup, epochs, device)
    else:
        steps = {"epochs": epochs + warmup + 1} if experiment == "wm" else \
            {"mm_steps": epochs + warmup + 1}
        cfg = exp.config(profile, {**BENCH_OVERRIDES[experiment], "trials": T, **steps,
                                   **overrides, **row_settings(impl, "config")})
        unit = _unit(experiment, cfg, device)
        unit.trainer.s = dataclasses.replace(unit.trainer.s, **row_settings(impl, "trainer"))
        unit.step(0)  # pre-training (none here) and the first evaluation
        times = _time_epochs(unit.step, 1, warmup, epochs, device, T)
    return {"times": times, "peak_memory_bytes": _memory(device), "retain_host_memory":
            retaining(), "fresh_process": False}


def in_fresh_process(function: str, **kwargs: Any) -> dict:
    """``mifd.bench.<function>(**kwargs)`` in a new Python process (JSON in, JSON out): its
    allocator starts at glibc's defaults, untouched by what this process did."""
    import subprocess
    import sys
    code = ("import json, sys\nfrom mifd import bench\n"
            "out = getattr(bench, sys.argv[1])(**json.loads(sys.argv[2]))\n"
            "print('MIFD-JSON ' + json.dumps(out))")
    p = subprocess.run([sys.executable, "-c", code, function, json.dumps(kwargs)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"bench.{function} in a fresh process failed:\n{p.stderr[-2000:]}")
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("MIFD-JSON ")][-1]
    return json.loads(line[len("MIFD-JSON "):])


def measure_row(experiment: str, impl: str, device: str, T: int, epochs: int, warmup: int,
                overrides: Mapping[str, Any], profile: str = "paper") -> dict:
    """One row's times. Rows that run with glibc's default allocator (:func:`retains_host_memory`)
    run in a fresh process, as a script would; the others in this one, with freed host memory
    retained (what ``mifd.run`` does on CPU). Switching the setting back and forth inside one
    process is not the default: a heap grown while retaining keeps serving large blocks."""
    args = dict(experiment=experiment, impl=impl, device=device, T=T, epochs=epochs,
                warmup=warmup, overrides=dict(overrides), profile=profile)
    if not retains_host_memory(impl):
        return in_fresh_process("_measure", **args) | {"fresh_process": True}
    retain_freed_memory(True)
    return _measure(**args)


def phase_times(experiment: str, device: str, trials: int, reps: int = 2,
                overrides: Mapping[str, Any] | None = None, profile: str = "paper") -> dict:
    """Where one epoch's time goes: seconds (median of ``reps``, after one warm-up epoch) of the
    k SM steps' RNN passes, their critic updates, and the MM step (RNN forward and backward
    through the critic), at the published sizes unless ``overrides`` say otherwise."""
    exp = get_experiment(experiment)
    steps = {"epochs": reps + 2} if experiment == "wm" else {"mm_steps": reps + 2}
    cfg = exp.config(profile, {**BENCH_OVERRIDES[experiment], "trials": trials, **steps,
                               **(overrides or {})})
    retain_freed_memory(True)  # as mifd.run does
    return _phase_times(experiment, device, trials, reps, overrides, cfg)


def _phase_times(experiment: str, device: str, trials: int, reps: int,
                 overrides: Mapping[str, Any] | None, cfg: Any) -> dict:
    if getattr(cfg, "graph_sm_pass", False) and 0 < getattr(cfg, "sm_pass_group", 0) < \
            cfg.sm_per_mm:
        # every pass is collected before the critic is timed, but graph replays share outputs
        raise ConfigError(f"parameter 'sm_pass_group': got {cfg.sm_pass_group} with "
                          "graph_sm_pass in phase_times; allowed there: 0 (all passes at once)")
    unit = _unit(experiment, cfg, device)
    unit.step(0)
    unit.step(1)
    tr = unit.trainer
    out: dict[str, list[float]] = {"sm_rnn": [], "sm_critic": [], "mm": []}
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        # every pass first, to time them apart (with merge_mm_pass the MM forward runs here)
        xy = list(tr.sm_batches(cfg.sm_per_mm, "sm", before_mm=True))
        _sync(device)
        t1 = time.perf_counter()
        for xs, ys in xy:
            tr.sm_update(xs, ys)
        _sync(device)
        t2 = time.perf_counter()
        tr.mm_step()
        _sync(device)
        t3 = time.perf_counter()
        for key, v in zip(out, (t1 - t0, t2 - t1, t3 - t2)):
            out[key].append(v)
    return {"experiment": experiment, "device": device, "trials": trials,
            "overrides": dict(overrides or {}),
            "seconds_per_epoch": {key: statistics.median(v) for key, v in out.items()}}


def run_bench(device: str = "auto", trials: Sequence[int] = (1, 8), epochs: int = 2,
              out: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
              experiments: Sequence[str] = ("wm",), port: bool = True, warmup: int = 1,
              impls: Sequence[str] = ("mifd",), ports: Sequence[str] = ("port",),
              sizes: Mapping[str, Mapping[str, Any]] | None = None) -> dict:
    """Benchmark ``experiments``; ``overrides`` (``--set``) apply to every experiment that has
    the field, ``sizes`` per experiment (the ``--quick`` sizes) under them."""
    dev = resolve_device(device)
    peaks = [matmul_peak(dev)]
    rows = []
    for e in experiments:
        fields = get_experiment(e).config_cls.__dataclass_fields__
        over = {**(sizes or {}).get(e, {}),
                **{k: v for k, v in (overrides or {}).items() if k in fields}}
        part = bench_experiment(e, dev, trials, epochs, over, warmup=warmup, port=port,
                                peak=peaks[-1], impls=impls, ports=ports)
        rows += part["rows"]
        peaks += part["matmul_peak_samples"][1:]
    res = {"matmul_peak_flops": max(peaks), "matmul_peak_samples": peaks,
           "rows": set_peak(rows, max(peaks))}
    if "mifd-mmap" in impls and dev == "cpu" and "wm" in experiments:
        over = {k: v for k, v in {**(sizes or {}).get("wm", {}), **(overrides or {})}.items()
                if k in get_experiment("wm").config_cls.__dataclass_fields__}
        res["allocator_ab"] = allocator_ab(overrides=over)
    res.update({"date": now(), "code": code_version(), "host": platform.node(),
                "torch": torch.__version__, "threads": torch.get_num_threads(),
                "gpu": torch.cuda.get_device_name(0) if dev.startswith("cuda") else None,
                "overrides": dict(overrides or {}), "sizes": {k: dict(v) for k, v in (sizes or {}).items()}})
    if out is not None:
        atomic_write_json(Path(out), res)
    return res


def format_table(res: dict) -> str:
    samples = res.get("matmul_peak_samples", [res["matmul_peak_flops"]])
    lines = [f"matmul peak: {res['matmul_peak_flops'] / 1e9:.1f} GFLOP/s (highest of "
             f"{len(samples)} samples, lowest {min(samples) / 1e9:.1f})",
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
                         f"trial-epoch than the straightforward port, row {r['impl']!r} "
                         "(same run)")
    return "\n".join(lines)


#: the issue's GPU goals, minutes for the whole ``paper`` profile
GOAL_MINUTES = {"wm": 10.0, "separation": 60.0}

#: NVIDIA's H100 SXM datasheet peaks (FLOP/s), dense; the figures a GPU run is compared with
#: before one is measured. TF32 is a reduced-precision matmul mode (an explicit option).
H100_PEAKS = {"fp32": 67e12, "tf32": 495e12}


def sequential_steps(experiment: str, cfg: Any) -> int:
    """RNN time steps that must run one after another per epoch (WM) or MM step (separation),
    with every trial batched and the k SM passes run together (``sm_pass_group`` groups at a
    time for separation): the SM pass, the MM pass (none with ``merge_mm_pass``: it runs in
    the SM pass) and its backward."""
    mm_forward = not cfg.merge_mm_pass
    if experiment == "wm":
        L = cfg.transient + cfg.steps
        return L + mm_forward * L + cfg.steps
    groups = -(-cfg.sm_per_mm // (cfg.sm_pass_group or cfg.sm_per_mm))
    return groups * cfg.length + (1 + mm_forward) * cfg.length


def paper_requirements() -> list[dict]:
    """What the ``paper`` profiles need to meet the GPU goals, from counted FLOPs alone: total
    FLOPs, the sustained FLOP/s the goal implies beside the H100 datasheet peaks, and the time
    left per sequential RNN step if the statistics network took no time at all."""
    out = []
    for name, count in (("wm", wm_flops), ("separation", separation_flops)):
        cfg = get_experiment(name).config("paper")
        merged = get_experiment(name).config("paper", {"fused_bptt": True, "merge_mm_pass": True})
        fl = count(cfg)
        n_cond = _n_conditions(cfg)
        units = cfg.epochs if name == "wm" else cfg.mm_steps
        total = (fl["sm"] + fl["rnn"]) * cfg.trials * n_cond * units
        seconds = 60 * GOAL_MINUTES[name]
        need = total / seconds
        out.append({"experiment": name, "goal (min)": GOAL_MINUTES[name],
                    "trial-units": cfg.trials * n_cond * units,
                    "TFLOP per trial-unit": (fl["sm"] + fl["rnn"]) / 1e12,
                    "of which statistics network": fl["sm"] / (fl["sm"] + fl["rnn"]),
                    "total PFLOP": total / 1e15, "needed TFLOP/s": need / 1e12,
                    "× H100 fp32 peak": need / H100_PEAKS["fp32"],
                    "× H100 tf32 peak": need / H100_PEAKS["tf32"],
                    "sequential steps": sequential_steps(name, cfg) * units,
                    "µs per sequential step": 1e6 * seconds / (sequential_steps(name, cfg) * units),
                    "µs per sequential step, merge_mm_pass":
                        1e6 * seconds / (sequential_steps(name, merged) * units)})
    return out


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


def _best_text(r: dict) -> str:
    h = r["projected_paper_hours"]
    return (f"{r['s_per_trial_epoch']['median']:.3g} s/trial-epoch, {r['trials']} batched trials "
            f"→ paper profile {h:.1f} h" + (f" ({60 * h:.0f} min)" if h < 2 else ""))


def goal_verdicts(results: list[dict]):
    """Each goal: met / not met on the best exact row (:func:`is_exact_mifd`) of any benchmark,
    or not measured."""
    import pandas as pd
    out = []
    for name, exp, dev, ok in GOALS:
        rows = [r for res in results for r in res["rows"]
                if r["experiment"] == exp and r["device"].startswith(dev)
                and is_exact_mifd(r.get("impl", "mifd"))]
        # rows at the published sizes when there are any (a --quick row's projection is scaled)
        rows = [r for r in rows if r.get("published_sizes", True)] or rows
        if not rows:
            out.append({"goal": name, "best measured": "—", "verdict": "not measured (no such device)"})
            continue
        best = min(rows, key=lambda r: r["s_per_trial_epoch"]["median"])
        out.append({"goal": name, "best measured": _best_text(best),
                    "verdict": "met" if ok(best) else "not met"})
        # the issue also admits explicit options whose effect on the metrics is shown
        inexact = [r for res in results for r in res["rows"]
                   if r["experiment"] == exp and r["device"].startswith(dev)
                   and r.get("published_sizes", True) and r.get("impl", "mifd") not in PORTS
                   and not is_exact(r.get("impl", "mifd"))]
        if inexact and dev == "cuda":
            best = min(inexact, key=lambda r: r["s_per_trial_epoch"]["median"])
            out.append({"goal": f"{name}, with reduced-precision options (not exact; "
                                "information)",
                        "best measured": f"{best['impl']}: {_best_text(best)}"
                                         + (" (within the goal)" if ok(best) else ""),
                        "verdict": "—"})
    for dev, goal in (("cpu", "wm on CPU ≥ 5× faster than the straightforward port (same run)"),
                      ("cuda", "wm on GPU: speed-up over the port (same run; information)")):
        port = [r for res in results for r in res["rows"] if r.get("impl") == "port"
                and r["device"].startswith(dev) and r.get("published_sizes", True)]
        if port:
            r = port[0]
            out.append({"goal": goal, "best measured": f"{r['speedup_of_mifd']:.2f}×",
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
    """Committed :func:`phase_times` results (``results/committed/bench/phases/*.json``)."""
    return _jsons(folder or COMMITTED / "phases")


def phases_frame(phases: list[dict]):
    """One row per measured configuration: seconds per epoch (all batched trials) in each
    phase and each phase's share."""
    import pandas as pd
    recs = []
    for res in phases:
        for r in res["rows"]:
            sec = r["seconds_per_epoch"]
            total = sum(sec.values())
            recs.append({"experiment": r["experiment"], "device": res.get("gpu") or r["device"],
                         "batched trials": r["trials"],
                         "critic precision": r["overrides"].get("sm_precision", "fp32"),
                         "SM RNN passes (s)": round(sec["sm_rnn"], 3),
                         "SM critic updates (s)": round(sec["sm_critic"], 3),
                         "MM step (s)": round(sec["mm"], 3), "epoch (s)": round(total, 3),
                         "RNN share": round((sec["sm_rnn"] + sec["mm"]) / total, 2)})
    return pd.DataFrame(recs)


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


def wm_sm_pass_times(device: str, trials: int = 40, reps: int = 3) -> dict:
    """The working-memory SM pass at the published sizes, split: drawing the k batches of
    inputs and noise (``sample``), the batched no-grad RNN pass run eagerly, and (on CUDA) the
    same pass replayed from a captured CUDA graph, with the largest difference between the
    graph's and the eager outputs (a graph replays the same kernels: it should be 0)."""
    from .experiments.wm import WMProblem

    cfg = get_experiment("wm").config("paper", {"trials": trials, "conditions": ("mi",)})
    problem = WMProblem(cfg, [cfg.seed + t for t in range(trials)], device)
    k = cfg.sm_per_mm

    def timed(fn):
        out, times = None, []
        for _ in range(reps + 1):
            _sync(device)
            t = time.perf_counter()
            out = fn()
            _sync(device)
            times.append(time.perf_counter() - t)
        return out, statistics.median(times[1:])

    data, t_sample = timed(lambda: problem.sample("sm", k))
    with torch.no_grad():
        eager, t_eager = timed(lambda: problem.run(data, grad=False)[:2])
        res = {"device": device, "trials": trials, "sm_passes": k,
               "steps": cfg.transient + cfg.steps, "sample_s": t_sample, "eager_s": t_eager}
        if device.startswith("cuda"):
            from .graphs import GraphedPass
            graphed = GraphedPass(lambda d: problem.run(d, grad=False)[:2])
            static, t_graph = timed(lambda: graphed(data))  # input copies included
            res["graph_s"] = t_graph
            res["graph_max_abs_diff"] = max(float((a - b).abs().max())
                                            for a, b in zip(static, eager))
    return res


#: operations that launch no kernel: views (``OpOverload.is_view``) and these
_NO_KERNEL = ("empty", "empty_like", "empty_strided", "detach", "lift_fresh", "alias")


def count_ops(fn: Callable[[], Any]) -> int:
    """Operations ``fn()`` runs, counted at PyTorch's dispatcher below autograd (a GPU kernel
    each unless a CUDA graph replays them; views and allocations are not counted)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view and func.overloadpacket.__name__ not in _NO_KERNEL:
                self.n += 1
            return func(*args, **(kwargs or {}))

    with _Count() as c:
        fn()
    return c.n


def ops_per_step() -> list[dict]:
    """Operations launched per RNN step (:func:`count_ops`) on tiny CPU inputs: the no-grad
    pass and forward + backward, with autograd over every step and with hand-written BPTT
    (``fused_bptt``). The count per step is the difference between 40 and 20 steps divided by
    20, so the per-sequence operations cancel. It depends on the code, not on the machine."""
    from .models.gru import GRUSpec, TrialGRU
    from .models.leaky import LeakyRNN, LeakySpec

    def count(experiment: str, fused: bool, grad: bool, L: int) -> int:
        gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
        g = torch.Generator().manual_seed(3)
        if experiment == "separation":
            net = TrialGRU(gens, GRUSpec(n=8), fused_bptt=fused)
            args = (torch.randn(2, 3, L, 3, generator=g),)
        else:
            net = LeakyRNN(gens, LeakySpec(n=8), fused_bptt=fused)
            args = (torch.randn(2, 3, L, 4, generator=g), torch.zeros(2, 3, 8),
                    torch.randn(2, 3, L, 8, generator=g))

        def step() -> None:
            with torch.set_grad_enabled(grad):
                H, Y = net(*args)
                if grad:
                    (H.sum() + Y.sum()).backward()
        return count_ops(step)

    rows = []
    for experiment in ("wm", "separation"):
        for fused in (False, True):
            per = {grad: (count(experiment, fused, grad, 40) - count(experiment, fused, grad, 20))
                   / 20 for grad in (False, True)}
            rows.append({"experiment": experiment,
                         "backward": "hand-written (fused_bptt)" if fused else "autograd",
                         "no-grad pass": per[False], "forward + backward": per[True]})
    return rows


def ops_per_draw(trials: int = 2) -> list[dict]:
    """Operations (:func:`count_ops`) that draw one working-memory epoch's data at the
    published sizes: the k SM batches (inputs, noise, initial states; no targets) and the MM
    batch (with targets), and the target's clipped ramp over the 3001 steps of the MM batch
    step by step (``chunk`` = the length, the straightforward loop) and in chunks (the default,
    :func:`mifd.tasks.flipflop.ramp_target`; bit-identical). On CPU, on ``trials`` trials: each
    trial draws from its own generator (a few operations per trial); the chunked ramp's number
    of rounds depends on the data (usually two)."""
    from .experiments.wm import WMProblem
    from .tasks import flipflop

    cfg = get_experiment("wm").config("paper", {"trials": trials, "conditions": ("mi",)})
    problem = WMProblem(cfg, [cfg.seed + t for t in range(trials)], "cpu")
    L = cfg.transient + cfg.steps
    state = flipflop.memory_state(flipflop.onsets(problem.gens, cfg.batch, L + 1, problem.task.p))
    state, ramp = state[..., 1:, :], problem.task.ramp
    rows = [("SM batches (k of them, no targets)", lambda: problem.sample("sm", cfg.sm_per_mm)),
            ("MM batch (inputs, noise, targets)", lambda: problem.sample("mm", 1)),
            ("MM targets' ramp, step by step", lambda: flipflop.ramp_target(state, ramp, L)),
            ("MM targets' ramp, in chunks (default)", lambda: flipflop.ramp_target(state, ramp))]
    return [{"data": name, "operations": count_ops(fn)} for name, fn in rows]


def load_sm_pass(folder: Path | None = None) -> list[dict]:
    """Committed :func:`wm_sm_pass_times` results (``results/committed/bench/graphs/*.json``)."""
    return _jsons(folder or COMMITTED / "graphs")


def profile_costs(root: Path | None = None) -> dict[str, str]:
    """What each profile cost where it was run, as the *How to re-run* page's substitutions:
    ``cost_<experiment>_book`` from the wall time recorded with the committed ``book`` result
    (``cost_wm_variants_book``: the range over the other committed ``wm`` runs), and
    ``cost_wm_paper_cpu`` from the best exact CPU row at the published sizes of the newest
    committed benchmark. A missing result reads "not measured"."""
    from . import __version__
    from .config import config_hash

    base = Path(root) if root is not None else COMMITTED.parent

    def meta(path: Path) -> dict:
        return json.loads((path / "meta.json").read_text())

    def where(m: dict) -> str:
        mach = m.get("machine", {})
        return mach.get("gpu") or f"{mach.get('torch_threads', '?')} CPU threads"

    out = {}
    for name in ("mine-gaussian", "wm", "separation"):
        exp = get_experiment(name)
        cfg = exp.config("book")
        main = base / name / config_hash(exp.name, cfg, __version__)
        key = f"cost_{name.replace('-', '_')}_book"
        if not (main / "meta.json").exists():
            out[key] = "not measured"
            continue
        m = meta(main)
        what = ""
        if name != "mine-gaussian":
            n_cond = _n_conditions(cfg)
            units = f"{cfg.epochs} epochs" if name == "wm" else f"{cfg.mm_steps} MM steps"
            what = f"{cfg.trials} trials × {n_cond} conditions, {units}; "
        out[key] = f"≈ {m['wall_seconds'] / 60:.0f} min ({what}{where(m)})"
        if name == "wm":
            others = [meta(p) for p in sorted((base / name).iterdir())
                      if p != main and (p / "meta.json").exists()]
            others = [o for o in others if o.get("profile") == "book"]
            mins = sorted(o["wall_seconds"] / 60 for o in others)
            out["cost_wm_variants_book"] = (f"≈ {mins[0]:.0f}–{mins[-1]:.0f} min each "
                                            f"({where(others[0])})" if mins else "not measured")
    out["cost_wm_paper_cpu"] = "not measured"
    for _, res in load_committed(base / "bench"):  # newest first
        rows = [r for r in res["rows"] if r["experiment"] == "wm" and r["device"] == "cpu"
                and is_exact_mifd(r.get("impl", "mifd")) and r.get("published_sizes", True)]
        if rows:
            best = min(rows, key=lambda r: r["s_per_trial_epoch"]["median"])
            out["cost_wm_paper_cpu"] = (f"≈ {best['projected_paper_hours']:.0f} h on "
                                        f"{res['threads']} CPU threads (projected by `mifd bench`, "
                                        f"{res['date'][:10]})")
            break
    return out


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


def _ab_step(retain: bool, trials: int, overrides: Mapping[str, Any]) -> dict:
    """One working-memory SM step, measured after two warm-up steps, in a process whose
    allocator was untouched before (``retain``: then set to retain freed memory)."""
    if retain and not retain_freed_memory(True):
        return {"available": False}
    cfg = get_experiment("wm").config("paper", {**BENCH_OVERRIDES["wm"], "trials": trials,
                                                "epochs": 1, **overrides})
    tr = _unit("wm", cfg, "cpu").trainer
    x, y = next(tr.sm_batches(1, "sm"))
    for _ in range(2):
        tr.sm_update(x, y)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    tr.sm_update(x, y)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    return {"available": True, "seconds": t1 - t0, "minor_faults": r1.ru_minflt - r0.ru_minflt,
            "system_seconds": r1.ru_stime - r0.ru_stime, "samples_per_step": _samples(cfg, x.shape[1]),
            "sm_width": cfg.sm_width}


def allocator_ab(trials: int = 1, reps: int = 3, overrides: Mapping[str, Any] | None = None
                 ) -> dict:
    """One working-memory statistics-network step at the published sizes (unless
    ``overrides``), with freed host memory retained and with glibc's default, each measured in
    a fresh process (after two warm-up steps), the two alternating ``reps`` times so that
    drift of the machine's speed hits both alike. Besides seconds, the minor page faults and
    the system CPU time of the step (``getrusage``), which do not depend on the machine's
    speed. CPU only."""
    out: dict[str, dict[str, list[float]]] = {
        mode: {"seconds": [], "minor_faults": [], "system_seconds": []}
        for mode in ("retained", "glibc default")}
    last: dict = {}
    for _ in range(reps):
        for mode, retain in (("retained", True), ("glibc default", False)):
            last = in_fresh_process("_ab_step", retain=retain, trials=trials,
                                    overrides=dict(overrides or {}))
            if not last["available"]:
                return {"available": False}
            for key in out[mode]:
                out[mode][key].append(last[key])
    return {"available": True, "experiment": "wm", "trials": trials, "reps": reps,
            "samples_per_step": last["samples_per_step"], "sm_width": last["sm_width"],
            "overrides": dict(overrides or {}), "per_step": out}


def allocator_ab_frame(results: list[dict]):
    """Medians of :func:`allocator_ab` blocks, per committed benchmark that has one."""
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
