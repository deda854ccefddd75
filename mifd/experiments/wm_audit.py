"""``wm-audit``: does MI minimization remove the dependence between the groups, or fool one
critic? A post-hoc audit of the trained working-memory networks (the ``wm`` experiment's stored
run, loaded or trained first), computed apart from their training so that it can be rerun with
another critic without retraining.

For every trial a *fresh* statistics network (the paper's architecture, Eq. 14's DV bound, no
input noise) is trained full-batch on the rates of ``pool`` new sequences; every ``eval_every``
steps its DV estimate on a second, *validation* pool is recorded, and the critic of the best
validation estimate is kept (early stopping: the critic that generalizes best, not the last one,
which overfits its pool). That critic's DV estimate on a third, *test* pool is the held-out
estimate; a permutation test compares it with the estimates on ``permutations`` copies of the
test pool whose second group is shuffled over samples (dependence destroyed, marginals kept):
``p = (1 + #{null ≥ observed}) / (1 + permutations)``. The critic-free Gaussian and copula
estimates on the test pool are the references (as in the ``wm`` experiment's own audit, whose
unit this one extends).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import param
from ..mine import dv_estimate
from ..nn import generator_states, set_generator_states
from ..streams import generators
from .base import Checkpointer, Layout, Unit, run_units
from .derived import DerivedExperiment
from ..nn import RMSPROP_EPS
from .wm import CONDITIONS, PROFILES as WM_PROFILES, AuditUnit, WMConfig


@dataclass(frozen=True)
class WMAuditConfig:
    profile: str = param("paper", doc="the wm profile whose trained networks are audited",
                         choices=tuple(WM_PROFILES))
    conditions: tuple[str, ...] = param(("mi", "no_mi"), doc="conditions of the audited run",
                                        choices=tuple(CONDITIONS))
    trials: int = param(20, doc="trials per condition of the audited run", low=1, high=1000)
    seed: int = param(1001, doc="seed of the audited run's trial 0", low=0)
    rmsprop_eps: str = param("inside", doc="RMSprop's ε placement of the audited run",
                             choices=RMSPROP_EPS, added=True, legacy="outside")
    critic_double_bias: bool = param(True, doc="the audited run's statistics network with a "
                                     "bias on both first-layer Dense layers (the authors') or "
                                     "one", added=True, legacy=False)
    pool: int = param(20, doc="sequences in each of the training, validation and test pools",
                      low=1, high=4096)
    steps: int = param(4000, doc="fresh-critic training steps (full batch)", low=1)
    eval_every: int = param(50, doc="critic steps between validation estimates", low=1)
    width: int = param(512, doc="fresh critic's width (the paper's statistics network)", low=1)
    permutations: int = param(200, doc="shuffles of the test pool in the permutation test",
                              low=0, high=100_000)

    def layout(self) -> Layout:
        """Conditions, trials per condition and seeds of the audited run."""
        return Layout(tuple(self.conditions), self.trials, self.seed)

    def audited(self) -> tuple[str, str, dict[str, Any]]:
        """The run this config audits: ``(experiment, profile, overrides)``."""
        return "wm", self.profile, {"conditions": tuple(self.conditions),
                                    "trials": self.trials, "seed": self.seed,
                                    "rmsprop_eps": self.rmsprop_eps,
                                    "critic_double_bias": self.critic_double_bias}


PROFILES = {
    "paper": {},
    # audited with a critic as narrow as the run's own
    "book": {"profile": "book", "pool": 4, "steps": 1500, "eval_every": 25, "width": 64,
             "permutations": 100},
    "smoke": {"profile": "smoke", "trials": 2, "pool": 2, "steps": 6, "eval_every": 2,
              "width": 16, "permutations": 5},
}


def permutation_test(critic: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                     gens: list[torch.Generator], permutations: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The DV estimate of ``critic`` on ``(x, y)`` per trial, its null distribution on
    ``permutations`` copies with ``y`` shuffled over samples (the dependence destroyed, both
    marginals kept), and the permutation p-value ``(1 + #{null ≥ observed}) / (1 +
    permutations)``. Returns ``(observed (T,), null (permutations, T), p (T,))``."""
    n = y.shape[1]
    with torch.no_grad():
        held = dv_estimate(critic, x, y, gens).cpu().numpy()
        null = np.full((permutations, held.size), np.nan, dtype=np.float32)
        for k in range(permutations):
            perm = torch.stack([torch.randperm(n, generator=g, device=g.device) for g in gens])
            y_perm = torch.take_along_dim(y, perm.to(y.device)[:, :, None], dim=1)
            null[k] = dv_estimate(critic, x, y_perm, gens).cpu().numpy()
    p = (1 + (null >= held).sum(0)) / (1 + permutations)
    return held, null, p.astype(float)


class EarlyStoppedAudit(Unit):
    """The ``wm`` audit unit (``mifd.experiments.wm.AuditUnit``: fresh critic, training
    and test pools) with a validation pool, the critic of the best validation estimate kept per
    trial, and a permutation test of its test estimate."""

    name = "audit"

    def __init__(self, cfg: WMAuditConfig, wm_cfg: WMConfig, trained: dict, device: str):
        self.cfg = cfg
        self.inner = AuditUnit(dataclasses.replace(wm_cfg, audit_batch=cfg.pool,
                                                   audit_width=cfg.width, audit_steps=cfg.steps),
                               trained, device)
        self.n_steps = cfg.steps
        seeds = cfg.layout().seeds()
        # own generators: the validation pool and its shuffles, the test shuffles and the
        # permutations (the critic's training does not depend on eval_every)
        self.val_gens = generators("wm_audit.validation", seeds, device)
        self.test_gens = generators("wm_audit.test", seeds, device)
        data = self.inner.problem.sample("mm", 1, gens=self.val_gens, batch=cfg.pool)
        with torch.no_grad():
            x, y, _ = self.inner.problem.run(data, grad=False)
        self.val = (x, y)
        T = len(seeds)
        n_eval = cfg.steps // cfg.eval_every
        self.val_dv = np.full((n_eval, T), np.nan, dtype=np.float32)
        self.best_dv = np.full(T, -np.inf, dtype=np.float32)
        self.best_step = np.zeros(T, dtype=np.int64)
        self.best = [p.detach().clone() for p in self.inner.critic.parameters()]

    def _estimate(self, pool: tuple[torch.Tensor, torch.Tensor], gens) -> np.ndarray:
        with torch.no_grad(), self.inner._precision():
            return dv_estimate(self.inner.critic, *pool, gens).cpu().numpy()

    def step(self, i: int) -> None:
        self.inner.step(i)
        if (i + 1) % self.cfg.eval_every:
            return
        v = self._estimate(self.val, self.val_gens)
        self.val_dv[(i + 1) // self.cfg.eval_every - 1] = v
        better = np.isfinite(v) & (v > self.best_dv)
        if better.any():
            self.best_dv[better] = v[better]
            self.best_step[better] = i + 1
            idx = torch.as_tensor(np.flatnonzero(better), device=self.best[0].device)
            with torch.no_grad():
                for b, p in zip(self.best, self.inner.critic.parameters()):
                    b[idx] = p[idx]

    def state_dict(self) -> dict:
        return {"inner": self.inner.state_dict(), "val_gens": generator_states(self.val_gens),
                "val_dv": self.val_dv, "best_dv": self.best_dv, "best_step": self.best_step,
                "best": [b.cpu() for b in self.best]}

    def load_state_dict(self, s: dict) -> None:
        self.inner.load_state_dict(s["inner"])
        set_generator_states(self.val_gens, s["val_gens"])
        self.val_dv, self.best_dv, self.best_step = s["val_dv"], s["best_dv"], s["best_step"]
        self.best = [b.to(p.device) for b, p in zip(s["best"], self.inner.critic.parameters())]

    def result(self) -> dict:
        last = self.inner.result()  # the last critic on the test pool, and the references
        never = self.best_step == 0  # no finite validation estimate: keep the last critic
        with torch.no_grad():
            for b, p in zip(self.best, self.inner.critic.parameters()):
                keep = torch.as_tensor(np.flatnonzero(~never), device=p.device)
                p[keep] = b[keep]
        with self.inner._precision():
            held, null, p = permutation_test(self.inner.critic, *self.inner.pools[1],
                                             self.test_gens, self.cfg.permutations)
        return {"held_out_dv": held, "last_held_out_dv": last["held_out_dv"],
                "train_dv": last["train_dv"], "val_dv": self.val_dv,
                "val_steps": self.cfg.eval_every * np.arange(1, self.val_dv.shape[0] + 1),
                "best_step": self.best_step, "best_val_dv": self.best_dv,
                "null_dv": null, "p_perm": p.astype(float),
                "gaussian": last["gaussian"], "copula": last["copula"]}


def train(cfg: WMAuditConfig, device: str, ckpt: Checkpointer, progress: bool, *,
          inputs: dict[str, Any]) -> dict:
    """Audit the trained networks of ``inputs["wm"]``
    (a :class:`~mifd.results.result.RunResult`)."""
    wm = inputs["wm"]
    done = run_units([("audit", cfg.steps,
                       lambda done: EarlyStoppedAudit(cfg, wm.config, wm.result, device))],
                     ckpt, progress, desc="wm-audit")
    a = done["audit"]
    # train_dv[i] is the DV on the training pool before update i + 1, i.e. of the critic after
    # i updates: the kept critic (after best_step updates) is train_dv[best_step] (or the last)
    rows = np.arange(a["train_dv"].shape[0])
    best = np.clip(a["best_step"], 0, rows[-1])
    per_trial = {"held_out_dv": a["held_out_dv"], "last_held_out_dv": a["last_held_out_dv"],
                 "best_step": a["best_step"], "best_val_dv": a["best_val_dv"],
                 "train_dv_at_best": a["train_dv"][best, np.arange(best.size)],
                 "train_dv_last": a["train_dv"][-1], "p_perm": a["p_perm"],
                 "gaussian": a["gaussian"], "copula": a["copula"]}
    trials = cfg.layout().by_condition(per_trial)
    made_by = wm.meta.get("code", {})
    return {"audit": a, "trials": trials, "conditions": list(cfg.conditions),
            "audited": {"key": wm.key, "profile": wm.profile, "code_hash": made_by.get("hash"),
                        "git_commit": made_by.get("git_commit"),
                        "code_changed": wm.code_changed}}


EXPERIMENT = DerivedExperiment(
    "wm-audit", WMAuditConfig, PROFILES, train,
    doc="post-hoc audit of the working-memory networks: an early-stopped fresh critic, "
        "a permutation test of its held-out estimate, critic-free references",
    inputs=lambda cfg: {"wm": cfg.audited()})
