"""``penalties-separation``: is MINE needed on the chaotic-separation task? The GRU and data of
the ``separation`` experiment (every ``separation`` setting applies; its L2 sweep does not) with
the conditions, penalties, matching and bounds of :mod:`mifd.experiments.penalties`.

Every condition trains with the L2 weight of ``separation``'s ``mi_l2`` (the paper's "with L2"),
so ``none`` is ``separation``'s ``no_mi`` and ``mine=λ`` at the paper's λ_I = 0.005 its
``mi_l2``. The groups are the GRU's two halves of units (its states, as the statistics network
sees them). The final metrics are ``separation``'s (R², D_cor, Q_cor, Q_str of U_h, D_out, NMI)
with the penalty's histories and the k-group metrics of U_h and the ``|corr|`` matrix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Checkpointer, Experiment, Layout, run_units
from .penalties import (COMMITTED_WITHOUT, PENALTY_AXES, PenaltySettings,
                        PenaltySteps, penalty_setup)
from .separation import (PROFILES as SEP_PROFILES, TRIAL_AXES as SEP_TRIAL_AXES,
                         SeparationConfig, SeparationProblem, SeparationTrainUnit,
                         memory as sep_memory)
from ..config import ConfigError, param

#: the paper's λ_I and ten times it, for MINE and the Gaussian penalty; the other penalties at
#: the paper's λ_I (matched)
CONDITIONS = ("none", "mine=0.005", "mine=0.05", "gaussian=0.005", "gaussian=0.05",
              "xcorr=0.005", "hsic=0.005", "club=0.005")


@dataclass(frozen=True)
class PenaltySeparationConfig(PenaltySettings, SeparationConfig):
    conditions: tuple[str, ...] = param(CONDITIONS, doc="conditions: 'none', 'METHOD=λ' or "
                                        "'METHOD=λ/Kk' (mifd.experiments.penalties)")

    def layout(self) -> Layout:
        return Layout(tuple(self.conditions), self.trials, self.seed)

    def check(self) -> None:
        SeparationConfig.check(self)
        self.check_penalties()
        if self.sweep_l2:
            raise ConfigError(f"parameter 'sweep_l2': got {self.sweep_l2!r}; allowed: ()")
        if len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(f"parameter 'conditions': got {self.conditions!r}; allowed: "
                              "distinct")


PROFILES = {
    "paper": {"trials": 5},
    # the separation book sizes, 1000 MM steps, three seeds per condition, no L2 sweep
    "book": {**SEP_PROFILES["book"], "trials": 3, "mm_steps": 1000, "sweep_l2": ()},
    "smoke": {**SEP_PROFILES["smoke"], "hsic_samples": 32,
              "conditions": ("none", "mine=0.005", "gaussian=0.005", "smile=0.005",
                             "gaussian_tc=0.005/K3")},
}


class PenaltySeparationTrainUnit(PenaltySteps, SeparationTrainUnit):
    """``separation``'s training unit with the conditions of
    :class:`PenaltySeparationConfig` (:func:`~mifd.experiments.penalties.penalty_setup`)."""

    def __init__(self, cfg: PenaltySeparationConfig, device: str):
        # every trial with L2 (separation's mi_l2 and no_mi), λ_I and the penalty of its
        # condition
        self.pcfg = cfg
        super().__init__(cfg, device, l2=[cfg.l2] * cfg.layout().size,
                         **penalty_setup(cfg.parsed(), cfg.trials, cfg.hsic_samples,
                                         SeparationProblem, device))
        self.setup_penalties(device)

    def recurrent(self, res: dict) -> np.ndarray:
        return res["weights"]["U"][..., 2 * self.cfg.n:]  # U_h, as separation's Q_str


def train(cfg: PenaltySeparationConfig, device: str, ckpt: Checkpointer,
          progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.mm_steps,
                       lambda done: PenaltySeparationTrainUnit(cfg, device))],
                     ckpt, progress, desc="penalties-separation")
    res = dict(done["train"])
    final, hist = res["final"], res["hist"]
    tail = max(1, min(10, cfg.mm_steps))
    per_trial: dict[str, Any] = {
        "mse": hist["task"][-1], "mi_final": hist["mi"][-tail:].mean(0),
        "gauss_mi_final": hist["gauss_mi"][-tail:].mean(0),
        "penalty_final": hist["penalty"][-tail:].mean(0),
        **{k: final[k] for k in ("R2", "D_cor", "Q_cor", "Q_str", "D_out", "NMI")},
        **{k: v for k, v in res["group_metrics"].items() if not k.endswith("_2")
           or k.startswith("NMI")}}
    return {**res, "trials": cfg.layout().by_condition(per_trial)}


def memory(cfg: PenaltySeparationConfig) -> int:
    """separation's lower bound (:func:`mifd.experiments.separation.memory`) for all
    conditions."""
    return sep_memory(dataclasses.replace(cfg, conditions=("no_mi",), sweep_l2=(),
                                          trials=cfg.layout().size))


EXPERIMENT = Experiment("penalties-separation", PenaltySeparationConfig, PROFILES, train,
                        __doc__ or "", {}, memory, unit=PenaltySeparationTrainUnit,
                        trial_axes={**SEP_TRIAL_AXES, **PENALTY_AXES},
                        committed_without=COMMITTED_WITHOUT)
