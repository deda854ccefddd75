"""``bimt`` and ``bimt-separation``: brain-inspired modular training (BIMT) beside MI
minimization on the paper's two tasks (Growing Brains, Liu, Khona, Fiete & Tegmark 2023; BIMT,
Liu, Gan & Tegmark 2023; ``../shared/reference/bimt-notes.md``).

``bimt`` trains the leaky RNN on the flip-flop task of the ``wm`` experiment (every ``wm``
setting applies), ``bimt-separation`` the GRU on the chaotic mixture of the ``separation``
experiment (every ``separation`` setting applies; its L2 sweep does not), each with the
regularizer of its condition (:data:`CONDITIONS`):

* ``none``: the task alone;
* ``l1``: ``λ_w · l0 · Σ|w|`` (the connection cost with ``A = 0``);
* ``distance``: the connection cost ``λ_w · CC``, ``CC = Σ|w_ij|·(A·d_ij + l0)`` over input,
  recurrent and output weights, units on a grid (:mod:`mifd.bimt`), no swaps;
* ``bimt``: the connection cost and, every ``swap_every`` MM steps, a swap step (the ``swap_top_k``
  strongest units each move to the place that lowers CC most; weights, biases and optimizer
  state move with them, so the network's function is unchanged);
* ``mi``: the paper's method, L2 and λ_I·MI (``wm``'s ``mi``, ``separation``'s ``mi_l2``);
* ``mi_bimt``: λ_I·MI with the connection cost and swaps instead of L2.

The MI groups are the grid's left and right halves (unit indices ``0 … n/2 − 1`` and the rest:
:func:`mifd.bimt.grid`); a swap moves a unit's weights to another place, so the groups go with
positions. ``schedule`` multiplies λ_w by 10 from ¼ to ¾ of training (the BIMT notebooks'
schedule). Every condition trains beside the others in one batched program, with its own
statistics network (it measures the MI in every condition, as in ``wm``; only ``mi`` and
``mi_bimt`` minimize it). ``sweep_wiring`` adds, per value, an ``l1`` and a ``bimt`` condition at
that λ_w, for the error-against-active-units comparison of Growing Brains (its Fig. 2g).

Snapshots add to the task's metrics the wiring length ``Σ|w|·d``, the connection cost at ``A``,
the active units, and the NMI between the grid halves and the two communities found in the
``|corr|`` matrix (``NMI_cor``) and in the recurrent weights (``NMI_str``); every trial records
its task ``error`` (the evaluation MSE of the flip-flop task, ``1 − R²`` of the separation).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .. import bimt, metrics
from ..adversarial import term_of
from ..config import ConfigError, param
from .base import Checkpointer, Experiment, Layout, run_units
from .wm import PROFILES as WM_PROFILES, TRIAL_AXES as WM_TRIAL_AXES, WMConfig, WMProblem
from .wm import WMTrainUnit, evaluate
from .wm import memory as wm_memory

#: per condition: (minimizes MI, L2, connection cost, distance term A > 0, swaps)
CONDITIONS: dict[str, tuple[bool, bool, bool, bool, bool]] = {
    "none": (False, False, False, False, False),
    "l1": (False, False, True, False, False),
    "distance": (False, False, True, True, False),
    "bimt": (False, False, True, True, True),
    "mi": (True, True, False, False, False),
    "mi_bimt": (True, False, True, True, True),
}
#: the conditions a ``sweep_wiring`` value adds
SWEPT = ("l1", "bimt")


@dataclass(frozen=True)
class BIMTSettings:
    """BIMT's settings and conditions, shared by the configs of both tasks."""
    conditions: tuple[str, ...] = param(tuple(CONDITIONS), doc="conditions (see the module)",
                                        choices=tuple(CONDITIONS))
    wiring: float = param(1e-3, doc="λ_w, the connection cost's weight in the loss", low=0.0)
    A: float = param(2.0, doc="connection cost per unit of distance (BIMT notebooks: 1–2)",
                     low=0.0)
    l0: float = param(0.1, doc="connection cost per connection (the planes' spacing; > 0)",
                      low=1e-6)
    swap_every: int = param(20, doc="MM steps between swap steps (the notebooks: 200 steps of "
                                    "a longer training)", low=1)
    swap_top_k: int = param(10, doc="units considered in a swap step", low=1)
    schedule: bool = param(True, doc="λ_w × 10 from ¼ to ¾ of training")
    sweep_wiring: tuple[float, ...] = param((), doc="further λ_w values, each run as an l1 "
                                                    "and a bimt condition")

    def all_conditions(self) -> list[tuple[str, float, float, float, float, bool]]:
        """``(name, λ_I, L2 weight, λ_w, A, swaps)`` of every condition, in trial-block order."""
        out = []
        for name, wiring in [(c, self.wiring) for c in self.conditions] + \
                [(f"{c}={v:g}", float(v)) for v in self.sweep_wiring for c in SWEPT]:
            mi, l2, cost, dist, swaps = CONDITIONS[name.split("=")[0]]
            out.append((name, self.lambda_mi if mi else 0.0, self.l2 if l2 else 0.0,
                        wiring if cost else 0.0, self.A if dist else 0.0, swaps))
        return out

    def layout(self) -> Layout:
        """Conditions (the sweep's included), trials per condition and seeds of this config."""
        return Layout(tuple(c for c, *_ in self.all_conditions()), self.trials, self.seed)

    def check_bimt(self) -> None:
        if self.swap_top_k > self.n:
            raise ConfigError(f"parameter 'swap_top_k': got {self.swap_top_k}; allowed: at most "
                              f"n = {self.n}")
        if any(not v >= 0 or not np.isfinite(v) for v in self.sweep_wiring):
            raise ConfigError(f"parameter 'sweep_wiring': got {self.sweep_wiring!r}; allowed: "
                              "finite values >= 0")
        if len(set(self.layout().conditions)) != len(self.layout().conditions):
            raise ConfigError(f"parameter 'sweep_wiring': got {self.sweep_wiring!r}; allowed: "
                              "distinct values")

    def total_steps(self) -> int:
        return self.epochs if hasattr(self, "epochs") else self.mm_steps


@dataclass(frozen=True)
class BIMTConfig(BIMTSettings, WMConfig):
    def check(self) -> None:
        WMConfig.check(self)
        self.check_bimt()


PROFILES = {
    "paper": {},
    # five seeds per condition at the wm book profile's critic, 300 epochs
    "book": {**WM_PROFILES["book"], "trials": 5, "epochs": 300, "snapshot_every": 20,
             "audit_steps": 0},
    "smoke": {**WM_PROFILES["smoke"], "audit_steps": 0, "swap_every": 2, "swap_top_k": 4},
}


class WiringCost:
    """The wiring cost of a problem's network ``kind`` (``"leaky"`` or ``"gru"``), one extra
    loss term (:class:`~mifd.adversarial.LossTerm`) per trial ``s·λ_t·(A_t·Σ|w|·d + l0·Σ|w|)``
    (``s``: the schedule's factor, set by the training unit each step); ``wiring``: the config
    whose conditions give each trial's λ_w, ``A`` and swaps. The L2 term stays the problem's
    (each trial's weight: :func:`mifd.experiments.bimt.trial_settings`)."""

    def __init__(self, problem: Any, wiring: BIMTSettings, kind: str):
        self.model, self.device, self.kind = problem.model, problem.device, kind
        self.configure(wiring)

    def configure(self, cfg: BIMTSettings) -> None:
        """Each trial's λ_w, ``A`` and swaps from the conditions of ``cfg``, and the grid's
        geometry."""
        conds = [c for c in cfg.all_conditions() for _ in range(cfg.trials)]
        dev = self.device
        self.wiring_t = torch.tensor([c[3] for c in conds], device=dev)
        self.A_t = torch.tensor([c[4] for c in conds], device=dev)
        self.swaps_t = torch.tensor([c[5] for c in conds], device=dev)
        a_in, _, a_out = bimt.magnitudes(self.params(), self.kind)
        self.geometry = bimt.Wiring(cfg.n, a_in.shape[1], a_out.shape[2], A=cfg.A, l0=cfg.l0)
        self.scale = 1.0

    def params(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.model.named_parameters() if k in bimt.UNIT_AXES[self.kind]}

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The wiring cost reads the weights only."""

    def __call__(self) -> torch.Tensor:
        p = self.params()
        l1 = sum(a.sum(dim=(1, 2)) for a in bimt.magnitudes(p, self.kind))
        length = bimt.wiring_length(p, self.kind, self.geometry)
        cost = self.A_t * length + self.geometry.l0 * l1
        return self.scale * self.wiring_t * cost

    def recurrent(self) -> torch.Tensor:
        """The recurrent unit-to-unit weights ``(T, n, n)`` (a GRU's gate blocks summed in
        magnitude)."""
        return bimt.magnitudes(self.params(), self.kind)[1]


def trial_settings(cfg: BIMTSettings) -> dict[str, list[float]]:
    """λ_I (``lambda_mi``) and the L2 weight (``l2``) of every trial, in batch order."""
    per_trial = [c for c in cfg.all_conditions() for _ in range(cfg.trials)]
    return {"lambda_mi": [c[1] for c in per_trial], "l2": [c[2] for c in per_trial]}


def wiring_term(cfg: BIMTSettings, kind: str) -> Callable[[Any], WiringCost]:
    """The factory of a problem's :class:`WiringCost` (one of its ``terms``)."""
    return functools.partial(WiringCost, wiring=cfg, kind=kind)


class BIMTSteps:
    """The λ_w schedule before, and the swap step after, every MM step of a training unit (put
    first among the unit's bases)."""

    def step(self, i: int) -> None:
        self.bimt_step(i, super().step)

    @property
    def wiring(self) -> WiringCost:
        return term_of(self.problem, WiringCost)

    def bimt_step(self, i: int, step) -> None:
        cfg, wiring = self.bimt_cfg, self.wiring
        if i > 0 and cfg.schedule:
            wiring.scale = bimt.lambda_schedule(i - 1, cfg.total_steps(), 1.0)
        step(i)
        if i > 0 and i % cfg.swap_every == 0 and bool(wiring.swaps_t.any()):
            change = bimt.swap_step(self.problem.model, wiring.kind, wiring.geometry,
                                    cfg.swap_top_k, self.trainer.mm_opt, wiring.swaps_t)
            self.hist["cc_swap"][i - 1] = change.detach().cpu().numpy()


class BIMTTrainUnit(BIMTSteps, WMTrainUnit):
    """``wm``'s training unit with the wiring cost (:class:`WiringCost`), with swap steps in the
    swap conditions and the wiring metrics in every snapshot."""

    def __init__(self, cfg: BIMTConfig, device: str):
        # wm's unit with each trial's λ_I (seeds and critics as in wm) and the wiring cost
        self.bimt_cfg = cfg
        super().__init__(cfg, device, lambda_mi=trial_settings(cfg)["lambda_mi"],
                         problem_cls=functools.partial(WMProblem, l2=trial_settings(cfg)["l2"],
                                                       terms=(wiring_term(cfg, "leaky"),)))
        self.hist["cc_swap"] = np.zeros((cfg.epochs, self.problem.T), dtype=np.float32)

    def _snapshot(self, epoch: int) -> None:
        before = []  # the evaluation generators as they are before wm's snapshot draws its batch
        for g in self.eval_gens:
            before.append(torch.Generator(device=g.device))
            before[-1].set_state(g.get_state())
        super()._snapshot(epoch)
        # the |corr| matrix of the snapshot's own batch (the same draws, evaluated in full)
        ev = evaluate(self.problem, before, full=True)
        self.snaps[-1].update(wiring_metrics(self.wiring, ev["abs_corr"]))


def wiring_metrics(wiring: WiringCost, abs_corr: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per trial: wiring length ``Σ|w|·d``, the connection cost at the config's ``A``, active
    units, and the NMI between the grid halves and the two communities of ``abs_corr`` (the
    snapshot's ``|corr|`` matrix, ``NMI_cor``; skipped when ``None``) and of the recurrent
    weights' ``|W| + |W|ᵀ`` (``NMI_str``)."""
    p = wiring.params()
    with torch.no_grad():
        length = bimt.wiring_length(p, wiring.kind, wiring.geometry)
        cost = bimt.connection_cost(p, wiring.kind, wiring.geometry)
        active = bimt.active_units(p, wiring.kind)
        W = metrics.structural_matrix(wiring.recurrent().cpu().numpy())
    n = W.shape[-1]
    halves = np.repeat([0, 1], [n // 2, n - n // 2])
    T = W.shape[0]
    out = {"wiring_length": length.cpu().numpy(), "cc": cost.cpu().numpy(),
           "active_units": active.cpu().numpy().astype(np.float32),
           "NMI_str": np.array([metrics.nmi(metrics.two_communities(W[t]), halves)
                                for t in range(T)])}
    if abs_corr is not None:
        out["NMI_cor"] = np.array([metrics.nmi(metrics.two_communities(abs_corr[t]), halves)
                                   for t in range(T)])
    return out


#: the per-trial results of a run: the task's final metrics and the wiring metrics at the last
#: snapshot
FINAL = ("D_cor", "Q_cor", "Q_str", "D_in", "D_out")
WIRING = ("wiring_length", "cc", "active_units", "NMI_cor", "NMI_str")


def train(cfg: BIMTConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.epochs, lambda done: BIMTTrainUnit(cfg, device))],
                     ckpt, progress, desc="bimt")
    res = dict(done["train"])
    final, hist, snaps = res["final"], res["hist"], res["snaps"]
    tail = max(1, min(10, cfg.epochs))
    per_trial = {"accuracy": hist["accuracy"][-1], "mse": hist["task"][-1],
                 "mi_final": hist["mi"][-tail:].mean(0), "eval_accuracy": final["accuracy"],
                 "eval_mse": final["mse"], "error": final["mse"],
                 **{k: final[k] for k in FINAL}, **{k: snaps[k][-1] for k in WIRING}}
    per_trial["success_rate"] = (per_trial["accuracy"] > 0.9).astype(float)
    return {**res, "trials": cfg.layout().by_condition(per_trial)}


def memory(cfg: BIMTConfig) -> int:
    """wm's lower bound (``mifd.experiments.wm.memory``) for all conditions, the sweep's
    included."""
    return wm_memory(dataclasses.replace(cfg, conditions=cfg.layout().conditions[:1],
                                         trials=cfg.layout().size, sweep_wiring=()))


EXPERIMENT = Experiment("bimt", BIMTConfig, PROFILES, train, __doc__ or "", {}, memory,
                        unit=BIMTTrainUnit, trial_axes=WM_TRIAL_AXES, session_profile="paper")
