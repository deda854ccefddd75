"""What the training loops cost, counted rather than measured: FLOPs per trial and epoch (or MM
step), the sequential RNN steps an epoch needs, what the GPU goals demand of the ``paper``
profiles, and what each committed profile cost where it ran (:func:`profile_costs`, for the
*How to re-run* page). The experiments are imported only inside the functions that need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .committed import COMMITTED, load_committed
from .rows import is_exact_mifd


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


def critic_samples(cfg: Any, n: int) -> int:
    """Pairs the critic sees out of ``n`` activity samples (a random subset of ``sm_samples``
    when that is set, as ``AdversarialTrainer.estimate`` draws)."""
    return min(cfg.sm_samples, n) if cfg.sm_samples else n


def n_conditions(cfg: Any) -> int:
    """Conditions a config trains side by side (separation adds its L2 sweep)."""
    return len(cfg.all_conditions()) if hasattr(cfg, "all_conditions") else len(cfg.conditions)


def wm_flops(cfg: Any) -> dict[str, float]:
    """FLOPs per trial and epoch (k SM steps + one MM step); an RNN backward counted as 2×
    its forward."""
    sm_batch = cfg.sm_batch or cfg.batch
    n_sm, n_mm = critic_samples(cfg, sm_batch * cfg.steps), critic_samples(cfg, cfg.batch * cfg.steps)
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
    n_sm = critic_samples(cfg, (cfg.sm_batch or cfg.batch) * cfg.length)
    n_mm = critic_samples(cfg, cfg.batch * cfg.length)
    half, w = cfg.n // 2, cfg.sm_width
    sm = cfg.sm_per_mm * critic_flops(n_sm, half, w, "critic") + critic_flops(n_mm, half, w, "inputs")
    gru = 2 * 3 * (3 * cfg.n + cfg.n * cfg.n) + 2 * cfg.n * 6  # gates (input + recurrent), readout
    rnn_sm = cfg.sm_per_mm * (cfg.sm_batch or cfg.batch) * cfg.length * gru
    rnn_mm = 3 * cfg.batch * cfg.length * gru
    return {"sm": float(sm), "rnn": float(rnn_sm + rnn_mm)}


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
    from ..experiments import get_experiment

    out = []
    for name, count in (("wm", wm_flops), ("separation", separation_flops)):
        cfg = get_experiment(name).config("paper")
        merged = get_experiment(name).config("paper", {"fused_bptt": True, "merge_mm_pass": True})
        fl = count(cfg)
        n_cond = n_conditions(cfg)
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


#: the experiments beyond the paper whose committed ``book`` cost the re-run page lists
BEYOND = ("bimt", "bimt-separation", "penalties", "penalties-separation", "growing-brains")


def profile_costs(root: Path | None = None) -> dict[str, str]:
    """What each profile cost where it was run, as the *How to re-run* page's substitutions:
    ``cost_<experiment>_book`` from the wall time recorded with the committed ``book`` result
    (``cost_wm_variants_book``: the range over the other committed ``wm`` runs; a run made as
    condition parts side by side: its longest part), and
    ``cost_wm_paper_cpu`` from the best exact CPU row at the published sizes of any committed
    benchmark (the row the performance page judges its goal on); likewise ``cost_<experiment>_book`` of the experiments beyond the paper
    (:data:`BEYOND`), and ``cost_all_book``, what ``make results`` takes on two cores (condition
    parts side by side, other runs counted as sharing the two cores). A missing result reads
    "not measured"."""
    from .._version import __version__
    from ..config import config_hash
    from ..experiments import get_experiment
    from ..results.store import Store

    base = Path(root) if root is not None else COMMITTED.parent
    held = Store(base / "_none", [base])  # the committed layer alone

    def meta(path: Path) -> dict:
        return json.loads((path / "meta.json").read_text())

    def where(m: dict) -> str:
        mach = m.get("machine", {})
        n = mach.get("torch_threads", "?")
        return mach.get("gpu") or f"{n} CPU thread{'' if n == 1 else 's'}"

    out, total = {"cost_wm_variants_book": "not measured"}, 0.0  # (set with wm's run)
    for name in ("mine-gaussian", "wm", "wm-audit", "separation", *BEYOND):
        exp = get_experiment(name)
        cfg = exp.config("book")
        main = base / name / config_hash(exp.name, cfg, __version__)
        key = f"cost_{name.replace('-', '_')}_book"
        parts: set[str] = set()
        if (main / "meta.json").exists():
            m, side = meta(main), ""
        else:  # run as condition parts side by side (`mifd run --parts`)?
            from ..results.parts import condition_parts
            rr = condition_parts(name, cfg, held)
            if rr is None:
                out[key] = "not measured"
                continue
            m = rr.meta  # wall_seconds: the longest part
            parts = {k for p in m["parts"] for k in p["key"].split("+")}  # shards: "a+b"
            side = f"{len(m['parts'])} processes side by side, "
        what = ""
        if name != "mine-gaussian":
            n_cond = n_conditions(cfg)
            units = (f"{cfg.steps} critic steps" if name == "wm-audit" else
                     f"{cfg.epochs} epochs" if hasattr(cfg, "epochs") else
                     f"{cfg.mm_steps} MM steps" if hasattr(cfg, "mm_steps") else
                     f"{cfg.steps} steps")
            if hasattr(cfg, "layout"):
                n_cond = len(cfg.layout().conditions)
            what = f"{cfg.trials} trials × {n_cond} conditions, {units}; "
        out[key] = (f"≈ {m['wall_seconds'] / 60:.0f} min ({what}{side}{where(m)}"
                    f"{' each' if side else ''})")
        # wall time on a 2-core machine: parts run side by side, single runs one after another
        total += m["wall_seconds"] if side else m["wall_seconds"] / 2
        if name == "wm":
            others = [e.meta() for e in held.iter_entries(name)
                      if e.path != main and e.path.name not in parts]
            others = [o for o in others if o.get("profile") == "book"]
            mins = sorted(o["wall_seconds"] / 60 for o in others)
            out["cost_wm_variants_book"] = (f"≈ {mins[0]:.0f}–{mins[-1]:.0f} min each "
                                            f"({where(others[0])})" if mins else "not measured")
            total += sum(mins) * 60 / 2
    missing = [k[5:-5].replace("_", "-") for k, v in out.items() if v == "not measured"]
    out["cost_all_book"] = (f"≈ {total / 3600:.1f} h on 2 cores" + (
        f" (not counting {', '.join(missing)}: not measured yet)" if missing else ""))
    out["cost_wm_paper_cpu"] = _paper_cpu_cost(base)
    return out


def _paper_cpu_cost(base: Path) -> str:
    """The best exact CPU row at the published sizes of any committed benchmark: the row the
    performance page's goal is judged on (mifd.perf.committed.goal_verdicts)."""
    rows = [(r, res) for _, res in load_committed(base / "bench") for r in res["rows"]
            if r["experiment"] == "wm" and r["device"] == "cpu"
            and is_exact_mifd(r.get("impl", "mifd")) and r.get("published_sizes", True)]
    if not rows:
        return "not measured"
    best, res = min(rows, key=lambda rr: rr[0]["s_per_trial_epoch"]["median"])
    return (f"≈ {best['projected_paper_hours']:.0f} h on {res['threads']} CPU threads "
            f"(projected by `mifd bench`, {res['date'][:10]})")
