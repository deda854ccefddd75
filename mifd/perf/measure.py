"""``mifd bench``: time the training loops (working memory, separation) at the published sizes.

For 1 and for many batched trials, on the chosen device: seconds per trial-epoch (median, min,
max over the timed epochs, after one warm-up epoch), FLOPs per trial-epoch counted for the
statistics network (SM) and the RNN (:mod:`mifd.perf.costs`), the achieved FLOP/s beside a
matmul peak measured in the same run, peak memory, and the projected wall time of the whole
``paper`` profile. Ratios are only meaningful between rows of one run. Also where an epoch's
time goes (:func:`phase_times`, :func:`wm_sm_pass_times`) and the operations a step launches
(:func:`ops_per_step`, :func:`ops_per_draw`).
"""

from __future__ import annotations

import dataclasses
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ..accel.allocator import retain_freed_memory, retaining
from ..config import ConfigError
from ..experiments import get_experiment
from ..results.runner import resolve_device
from ..results.store import atomic_write_json, code_version, now
from .allocator_ab import allocator_ab
from .costs import n_conditions, separation_flops, wm_flops
from .harness import BENCH_OVERRIDES, in_fresh_process, unit_for
from .rows import PORTS, check_rows, is_exact_mifd, retains_host_memory, row_settings


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


#: ``mifd bench --quick``: the published widths, batch sizes and SM steps per MM step, with the
#: sequences shortened (WM 200 + 400 steps instead of 1000 + 2000, separation 500 instead of
#: 10 000), 1 and 2 trials, one warm-up and one timed epoch. Its projections are scaled from
#: the measured sizes to the published ones by the counted FLOPs.
QUICK = {"trials": (1, 2), "epochs": 1, "warmup": 1, "experiments": ("wm", "separation"),
         "overrides": {"wm": {"transient": 200, "steps": 400},
                       "separation": {"length": 500, "loss_from": 50}}}


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
    n_cond = n_conditions(full)
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
        from .port import PortWM
        cfg = exp.config(profile, {**BENCH_OVERRIDES["wm"], "trials": 1, **overrides})
        p = PortWM(cfg, device=device)
        times = _time_epochs(lambda _: p.epoch(), 0, warmup, epochs, device)
    else:
        steps = {"epochs": epochs + warmup + 1} if experiment == "wm" else \
            {"mm_steps": epochs + warmup + 1}
        cfg = exp.config(profile, {**BENCH_OVERRIDES[experiment], "trials": T, **steps,
                                   **overrides, **row_settings(impl, "config")})
        unit = unit_for(experiment, cfg, device)
        unit.trainer.s = dataclasses.replace(unit.trainer.s, **row_settings(impl, "trainer"))
        unit.step(0)  # pre-training (none here) and the first evaluation
        times = _time_epochs(unit.step, 1, warmup, epochs, device, T)
    return {"times": times, "peak_memory_bytes": _memory(device), "retain_host_memory":
            retaining(), "fresh_process": False}


def measure_row(experiment: str, impl: str, device: str, T: int, epochs: int, warmup: int,
                overrides: Mapping[str, Any], profile: str = "paper") -> dict:
    """One row's times. Rows that run with glibc's default allocator
    (:func:`~mifd.perf.rows.retains_host_memory`) run in a fresh process, as a script would;
    the others in this one, with freed host memory retained (what ``mifd.run`` does on CPU).
    Switching the setting back and forth inside one process is not the default: a heap grown
    while retaining keeps serving large blocks."""
    args = dict(experiment=experiment, impl=impl, device=device, T=T, epochs=epochs,
                warmup=warmup, overrides=dict(overrides), profile=profile)
    if not retains_host_memory(impl):
        return in_fresh_process(_measure, **args) | {"fresh_process": True}
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
    unit = unit_for(experiment, cfg, device)
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


def wm_sm_pass_times(device: str, trials: int = 40, reps: int = 3) -> dict:
    """The working-memory SM pass at the published sizes, split: drawing the k batches of
    inputs and noise (``sample``), the batched no-grad RNN pass run eagerly, and (on CUDA) the
    same pass replayed from a captured CUDA graph, with the largest difference between the
    graph's and the eager outputs (a graph replays the same kernels: it should be 0)."""
    from ..experiments.wm import WMProblem

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
            from ..accel.cudagraphs import GraphedPass
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
    from ..models.gru import GRUSpec, TrialGRU
    from ..models.leaky import LeakyRNN, LeakySpec

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
    from ..experiments.wm import WMProblem
    from ..tasks import flipflop

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
