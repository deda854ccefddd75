"""``bimt-separation``: BIMT beside MI minimization on the chaotic-separation task — the GRU
and data of the ``separation`` experiment (every ``separation`` setting applies; its L2 sweep does
not: the λ_w sweep is ``sweep_wiring``) with the conditions, wiring cost and swaps of
:mod:`mifd.experiments.bimt`. The task error of a trial is ``1 − R²``; ``NMI_cor`` is
separation's NMI of the ``|corr|`` communities with the grid halves."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from ..config import ConfigError
from .base import Checkpointer, Experiment, run_units
from .bimt import (WIRING, BIMTSettings, BIMTSteps, trial_settings, wiring_metrics,
                   wiring_term)
from .separation import (PROFILES as SEP_PROFILES, TRIAL_AXES as SEP_TRIAL_AXES,
                         SeparationConfig, SeparationProblem, SeparationTrainUnit,
                         memory as sep_memory)

#: the separation metrics a trial reports at the end
FINAL = ("R2", "D_cor", "Q_cor", "Q_str", "D_out")


@dataclass(frozen=True)
class BIMTSeparationConfig(BIMTSettings, SeparationConfig):
    def check(self) -> None:
        SeparationConfig.check(self)
        self.check_bimt()
        if self.sweep_l2:
            raise ConfigError(f"parameter 'sweep_l2': got {self.sweep_l2!r}; allowed: () (the "
                              "λ_w sweep is sweep_wiring)")


PROFILES = {
    "paper": {},
    # the separation book sizes, 1000 MM steps, without its L2 sweep
    "book": {**SEP_PROFILES["book"], "mm_steps": 1000, "sweep_l2": (), "swap_every": 50},
    "smoke": {**SEP_PROFILES["smoke"], "swap_every": 2, "swap_top_k": 4},
}


class BIMTSeparationTrainUnit(BIMTSteps, SeparationTrainUnit):
    """``separation``'s training unit with the wiring cost
    (:class:`~mifd.experiments.bimt.WiringCost`), with swap steps in the
    swap conditions and the wiring metrics in every evaluation."""

    def __init__(self, cfg: BIMTSeparationConfig, device: str):
        # separation's unit with each trial's λ_I and L2 (seeds as in separation) and the
        # wiring cost
        self.bimt_cfg = cfg
        super().__init__(cfg, device, **trial_settings(cfg),
                         problem_cls=functools.partial(SeparationProblem,
                                                       terms=(wiring_term(cfg, "gru"),)))
        self.hist["cc_swap"] = np.zeros((cfg.mm_steps, self.problem.T), dtype=np.float32)

    def _eval(self, step: int) -> None:
        super()._eval(step)
        ev = self.evals[-1]
        ev.update(wiring_metrics(self.wiring, None))
        ev["NMI_cor"] = ev["NMI"]


def train(cfg: BIMTSeparationConfig, device: str, ckpt: Checkpointer,
                     progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.mm_steps,
                       lambda done: BIMTSeparationTrainUnit(cfg, device))],
                     ckpt, progress, desc="bimt-separation")
    res = dict(done["train"])
    final, hist, snaps = res["final"], res["hist"], res["snaps"]
    per_trial = {"mse": hist["task"][-1], "error": 1 - np.asarray(final["R2"]),
                 **{k: final[k] for k in FINAL},
                 **{k: snaps[k][-1] for k in WIRING}}
    return {**res, "trials": cfg.layout().by_condition(per_trial)}


def memory(cfg: BIMTSeparationConfig) -> int:
    """separation's lower bound (``mifd.experiments.separation.memory``) for all conditions."""
    return sep_memory(dataclasses.replace(cfg, conditions=cfg.layout().conditions[:1],
                                          trials=cfg.layout().size, sweep_wiring=()))


EXPERIMENT = Experiment("bimt-separation", BIMTSeparationConfig, PROFILES, train,
                        __doc__ or "", {}, memory, unit=BIMTSeparationTrainUnit,
                        trial_axes=SEP_TRIAL_AXES)
