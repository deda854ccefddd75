"""``penalties``: is MINE needed? The working-memory RNN of ``wm`` trained with a dependence
penalty between groups of units in place of (or as) the paper's MINE term (its Eq. 8).

A condition is ``"none"`` (no penalty: ``wm``'s ``no_mi``) or ``"METHOD=λ"`` with an optional
``"/Kk"`` (``k`` groups, default 2):

* ``mine``: the paper's method, ``λ_I · DV`` from the statistics network (``wm``'s ``mi``, and
  bit for bit the same trials at λ_I = 0.1);
* ``nwj``, ``smile``: the same statistics network trained on, and the RNN penalized by, the
  NWJ bound or SMILE (DV with the shuffled scores clipped to ±5) instead of DV
  (:mod:`mifd.mine`; InfoNCE is left out: it needs the critic's score of every pair of samples,
  S² per step instead of 2S);
* ``gaussian``: the Gaussian MI of the groups' rates (log-det of their covariance);
  ``gaussian_tc``: the Gaussian total correlation of ``k`` groups;
* ``xcorr``: the mean squared cross-correlation between the groups' units;
* ``hsic``: HSIC with Gaussian kernels on ``hsic_samples`` samples (every ``S/m``-th);
* ``club``: CLUB with a least-squares linear-Gaussian ``q(y | x)`` (:mod:`mifd.penalties`).

With ``k > 2`` groups (contiguous blocks of units, :func:`mifd.penalties.split_groups`) the
penalty is summed over every pair of groups (``gaussian_tc``: the total correlation instead);
the critic methods measure two groups only and take ``k = 2``. The critic-free penalties see the rates
without the statistics network's input noise, on every sample of the MM step's batch.

**Matched strength** (``match=True``): a critic-free penalty ``P`` enters the loss as
``λ · c · P`` with ``c = G / P`` measured once per trial, before training, on a calibration
batch of the initial network (``G``: the Gaussian total correlation of the same groups — for two
groups the Gaussian MI), so that every method starts at the same ``λ · G``; λ is then on the
scale of λ_I. the critic methods are never rescaled (their λ is the paper's λ_I).

Every trial trains with its own statistics network, as in ``wm``: in the ``mine`` conditions it
is minimized, in all others it only measures the DV between the two halves. The histories add,
per MM step, the trial's own penalty (``penalty``) and the Gaussian MI of the halves of every
trial (``gauss_mi``); the final metrics add block modularity with ``k`` = 3 and 4 fixed groups
(``Q_cor_k``, ``Q_str_k``) and the NMI between those groups and ``k`` communities found in the
``|corr|`` matrix (``NMI_cor_k``, k = 2, 3, 4).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import metrics, mine, penalties
from ..adversarial import AdversarialTrainer, term_of
from ..config import ConfigError, param
from ..streams import generators
from .base import Checkpointer, Experiment, Layout, run_units
from .wm import PROFILES as WM_PROFILES, TRIAL_AXES as WM_TRIAL_AXES, WMConfig, WMProblem
from .wm import WMTrainUnit
from .wm import memory as wm_memory

#: the methods that penalize a bound of the statistics network, by the bound's function
CRITIC_BOUNDS = {"mine": mine.dv, "nwj": mine.nwj, "smile": mine.smile}
#: the methods a condition can name: the critic's bounds and the critic-free penalties
METHODS = (*CRITIC_BOUNDS, "gaussian_tc", *penalties.PENALTIES)
#: the block modularity and community detection computed with these numbers of fixed groups
GROUPS = (2, 3, 4)


@dataclass(frozen=True)
class Condition:
    """One condition: ``method`` (``"none"`` or one of :data:`METHODS`), its weight ``lam``
    and the number of groups ``k``."""

    method: str
    lam: float
    k: int = 2

    @classmethod
    def parse(cls, spec: str) -> "Condition":
        """``"none"``, ``"METHOD=λ"`` or ``"METHOD=λ/Kk"`` (one-line error otherwise)."""
        allowed = ("allowed: 'none', 'METHOD=λ' or 'METHOD=λ/Kk' with METHOD one of "
                   + ", ".join(METHODS) + ", λ > 0 finite, k >= 2 (k = 2 for "
                   + ", ".join(CRITIC_BOUNDS) + ")")
        bad = ConfigError(f"parameter 'conditions': got {spec!r}; {allowed}")
        if spec == "none":
            return cls("none", 0.0)
        method, _, rest = spec.partition("=")
        lam_s, _, k_s = rest.partition("/")
        try:
            lam = float(lam_s)
            k = int(k_s[1:]) if k_s else 2
        except ValueError:
            raise bad from None
        if (method not in METHODS or not (lam > 0 and math.isfinite(lam)) or k < 2
                or (k_s and not k_s.startswith("K")) or (method in CRITIC_BOUNDS and k != 2)):
            raise bad
        return cls(method, lam, k)


LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0)
#: the dose-response of MINE and the Gaussian penalty, the other penalties and bounds at the
#: paper's λ_I (matched), and three or four groups with the pairwise sum of the Gaussian MI and
#: with the Gaussian total correlation
CONDITIONS = ("none", *(f"mine={v:g}" for v in LAMBDAS), *(f"gaussian={v:g}" for v in LAMBDAS),
              "xcorr=0.1", "hsic=0.1", "club=0.1", "nwj=0.1", "smile=0.1",
              "gaussian=0.1/K3", "gaussian=0.1/K4", "gaussian_tc=0.1/K3", "gaussian_tc=0.1/K4")


@dataclass(frozen=True)
class PenaltySettings:
    """The penalty experiments' own settings, shared by the configs of both tasks."""
    match: bool = param(True, doc="scale each critic-free penalty to the Gaussian MI of the "
                        "initial network (matched strength)")
    hsic_samples: int = param(512, doc="samples per HSIC evaluation (every S/m-th)", low=3)

    def parsed(self) -> list[Condition]:
        return [Condition.parse(c) for c in self.conditions]

    def check_penalties(self) -> None:
        for c in self.parsed():
            if c.k > self.n // 2:
                raise ConfigError(f"parameter 'conditions': got {c.method}=…/K{c.k} with n = "
                                  f"{self.n}; allowed: k <= n/2 (at least two units per group)")


@dataclass(frozen=True)
class PenaltyConfig(PenaltySettings, WMConfig):
    conditions: tuple[str, ...] = param(CONDITIONS, doc="conditions: 'none', 'METHOD=λ' or "
                                        "'METHOD=λ/Kk' (see the module)")

    def check(self) -> None:
        WMConfig.check(self)
        self.check_penalties()


PROFILES = {
    # five seeds per condition at the published sizes (the paper has no such experiment)
    "paper": {"trials": 5, "audit_steps": 0},
    # five seeds per condition (the dose-response needs at least five) at the wm book profile's
    # critic, 150 epochs (the functional modules of wm's book run are rising by then: its Q_cor
    # is half-way up at about 150 and peaks at about 300)
    "book": {**WM_PROFILES["book"], "trials": 5, "epochs": 150, "snapshot_every": 15,
             "audit_steps": 0},
    "smoke": {**WM_PROFILES["smoke"], "audit_steps": 0, "hsic_samples": 64,
              "conditions": ("none", "mine=0.1", "gaussian=0.1", "xcorr=0.1", "hsic=0.1",
                             "club=0.1", "nwj=0.1", "smile=0.1", "gaussian_tc=0.1/K3",
                             "xcorr=0.1/K3")},
}


def group_penalty(method: str, z: torch.Tensor, k: int, hsic_samples: int) -> torch.Tensor:
    """The penalty ``method`` of the rates ``z`` ``(T, S, n)`` split into ``k`` groups, per
    trial (pairwise sum; ``gaussian_tc``: total correlation)."""
    groups = penalties.split_groups(z, k)
    if method == "gaussian_tc":
        return penalties.gaussian_total_correlation(groups)
    if method == "hsic":
        stride = max(1, z.shape[1] // hsic_samples)
        groups = [g[:, ::stride][:, :hsic_samples] for g in groups]
        return penalties.of_groups(lambda a, b: penalties.hsic(a, b, samples=None), groups)
    return penalties.of_groups(penalties.PENALTIES[method], groups)


class PenaltyCost:
    """Each trial's dependence penalty, one extra loss term of a problem
    (:class:`~mifd.adversarial.LossTerm`): it observes the groups' activity of the MM step's
    batch and adds ``λ_t · c_t · P_t`` of it (``c_t``: :meth:`calibrate`); every step it also
    records the Gaussian MI between the two halves (``last_gauss``). Task-agnostic: the problem
    needs ``cfg.n``, ``T``, ``device``, ``gens``, ``sample("mm", 1)`` and ``run``;
    ``conditions``: one per block of ``trials`` trials."""

    def __init__(self, problem: Any, conditions: list[Condition], trials: int,
                 hsic_samples: int):
        self.problem, self.device, self.T = problem, problem.device, problem.T
        self.configure(conditions, trials, hsic_samples)

    def configure(self, conds: list[Condition], trials: int, hsic_samples: int) -> None:
        """Each trial's penalty, weight and matching factor (1 until :meth:`calibrate`)."""
        self.hsic_samples = hsic_samples
        per_trial = [c for c in conds for _ in range(trials)]
        self.blocks: dict[tuple[str, int], torch.Tensor] = {}
        for t, c in enumerate(per_trial):
            if c.method not in ("none", *CRITIC_BOUNDS):
                self.blocks.setdefault((c.method, c.k), []).append(t)
        self.blocks = {key: torch.tensor(v, device=self.device) for key, v in self.blocks.items()}
        critic_free = [c.method not in ("none", *CRITIC_BOUNDS) for c in per_trial]
        self.mask = torch.tensor(critic_free, device=self.device)
        self.lam = torch.tensor([c.lam if f else 0.0 for c, f in zip(per_trial, critic_free)],
                                device=self.device)
        self.scale = torch.ones(self.T, device=self.device)
        self.last_penalty = torch.full((self.T,), float("nan"), device=self.device)
        self.last_gauss = torch.full((self.T,), float("nan"), device=self.device)
        self.seconds = {f"{m}/K{k}": 0.0 for m, k in self.blocks}
        self._z: torch.Tensor | None = None

    def penalties_of(self, z: torch.Tensor, timed: bool = False) -> torch.Tensor:
        """Each penalty trial's own (unscaled) penalty of ``z`` (computed in float64), zero for
        the others (``mask`` says which)."""
        out = torch.zeros(self.T, dtype=z.dtype, device=z.device)
        for (method, k), idx in self.blocks.items():
            t0 = time.perf_counter()
            p = group_penalty(method, z.index_select(0, idx).double(), k, self.hsic_samples)
            out = out.index_copy(0, idx, p.to(z.dtype))
            if timed:
                self.seconds[f"{method}/K{k}"] += time.perf_counter() - t0
        return out

    def calibrate(self, gens: list[torch.Generator]) -> None:
        """``c_t = G_t / P_t`` on a calibration batch of the initial network (``match``): an MM
        batch drawn from ``gens``, so the trials' own data streams are untouched."""
        problem = self.problem
        own, problem.gens = problem.gens, gens
        try:
            data = problem.sample("mm", 1)
        finally:
            problem.gens = own
        with torch.no_grad():
            x, y, _ = problem.run(data, grad=False)
            z = torch.cat([x, y], dim=2).double()
            p = self.penalties_of(z)
            g = torch.ones_like(p)
            for (method, k), idx in self.blocks.items():
                g[idx] = penalties.gaussian_total_correlation(
                    penalties.split_groups(z.index_select(0, idx), k))
        self.scale = torch.where(self.mask, g / p, torch.ones_like(p)).float()

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self._z = torch.cat([x, y], dim=2)

    def __call__(self) -> torch.Tensor | None:
        z, self._z = self._z, None
        if z is None:
            return None
        with torch.no_grad():
            h = self.problem.cfg.n // 2
            self.last_gauss = penalties.gaussian_mi(z[..., :h].double(), z[..., h:].double()
                                                    ).float()
        if not self.blocks:
            return None
        p = self.penalties_of(z, timed=True)
        self.last_penalty = torch.where(self.mask, p.detach(), float("nan"))
        return self.lam * self.scale * p


class BoundTrainer(AdversarialTrainer):
    """The adversarial trainer whose estimate is, for the trials of ``bounds``, another
    bound of the same critic scores (NWJ, SMILE) instead of DV — in the statistics network's
    updates and in the MM step alike; every other trial's estimate is DV, unchanged.
    Constructed with :class:`~mifd.adversarial.AdversarialTrainer`'s arguments and ``bounds=``
    (``{bound: batch positions of its trials}``)."""

    def __init__(self, *args: Any, bounds: dict[str, torch.Tensor], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.bounds = bounds

    def _scores(self, x, y, y_sh):
        self._last = super()._scores(x, y, y_sh)
        return self._last

    def estimate(self, x: torch.Tensor, y: torch.Tensor, noise: bool = True) -> torch.Tensor:
        v = super().estimate(x, y, noise)
        tj, tm = self._last
        for name, idx in self.bounds.items():
            v = v.index_copy(0, idx, CRITIC_BOUNDS[name](tj.index_select(0, idx).float(),
                                                         tm.index_select(0, idx).float()))
        return v


def penalty_setup(conds: list[Condition], trials: int, hsic_samples: int, problem_cls: type,
                  device: str) -> dict[str, Any]:
    """The conditions ``conds`` as data for a task's training unit (its keyword arguments):
    λ_I of each critic trial (``lambda_mi``), the task's problem class ``problem_cls`` with
    each trial's penalty as a :class:`PenaltyCost` term, and the :class:`BoundTrainer` with
    the trials of each bound."""
    per_trial = [c for c in conds for _ in range(trials)]
    bounds = {m: [t for t, c in enumerate(per_trial) if c.method == m]
              for m in CRITIC_BOUNDS if m != "mine"}
    return {"lambda_mi": [c.lam if c.method in CRITIC_BOUNDS else 0.0 for c in per_trial],
            "problem_cls": functools.partial(problem_cls, terms=(functools.partial(
                PenaltyCost, conditions=conds, trials=trials, hsic_samples=hsic_samples),)),
            "trainer_cls": functools.partial(BoundTrainer, bounds={
                m: torch.tensor(v, device=device) for m, v in bounds.items() if v})}


class PenaltySteps:
    """The calibration before, the critic's timing in, and the penalty's histories after every
    step of a training unit built with :func:`penalty_setup` (put first among its bases); its
    result adds the conditions, the matching factors, the timing and the k-group metrics
    (``recurrent``: the recurrent weights they read)."""

    @property
    def penalty(self) -> PenaltyCost:
        return term_of(self.problem, PenaltyCost)

    def setup_penalties(self, device: str) -> None:
        """The calibration streams, the extra histories and the critic's clock (after the
        base unit's construction)."""
        seeds = self.pcfg.layout().seeds()
        self.calib_gens = generators("penalties.calibration", seeds, device)
        E, T = self.n_steps - 1, self.problem.T
        self.hist.update({k: np.full((E, T), np.nan, dtype=np.float32)
                          for k in ("penalty", "gauss_mi")})
        self.critic_seconds = 0.0

    def step(self, i: int) -> None:
        if i == 0 and self.pcfg.match:
            self.penalty.calibrate(self.calib_gens)
        super().step(i)
        if i == 0:
            return
        self.hist["penalty"][i - 1] = self.penalty.last_penalty.cpu().numpy()
        self.hist["gauss_mi"][i - 1] = self.penalty.last_gauss.cpu().numpy()

    def sm_epoch(self) -> torch.Tensor:
        """The base unit's SM steps of an epoch, timed (the statistics network's share)."""
        t0 = time.perf_counter()
        v = super().sm_epoch()
        self.critic_seconds += time.perf_counter() - t0
        return v

    def state_dict(self) -> dict:
        return {**super().state_dict(), "scale": self.penalty.scale,
                "seconds": dict(self.penalty.seconds), "critic_seconds": self.critic_seconds}

    def load_state_dict(self, s: dict) -> None:
        super().load_state_dict(s)
        self.penalty.scale = s["scale"]
        self.penalty.seconds, self.critic_seconds = dict(s["seconds"]), s["critic_seconds"]

    def recurrent(self, res: dict) -> np.ndarray:
        return res["weights"]["W_rec"][-1]

    def result(self) -> dict:
        res = super().result()
        res["conditions"] = list(self.pcfg.conditions)
        res["scale"] = self.penalty.scale.cpu().numpy()
        E = max(1, self.n_steps - 1)
        res["timing"] = {"critic_per_epoch": self.critic_seconds / E,
                         "penalty_per_epoch": {k: v / E for k, v in self.penalty.seconds.items()},
                         "trials": self.problem.T}
        res["group_metrics"] = group_metrics(res["final"]["abs_corr"], self.recurrent(res))
        return res


class PenaltyTrainUnit(PenaltySteps, WMTrainUnit):
    """``wm``'s training unit with the conditions of :class:`PenaltyConfig`: λ_I (and the
    bound) in the critic trials, the penalty in the others, and the critic's and the
    penalties' time (:class:`PenaltySteps`)."""

    def __init__(self, cfg: PenaltyConfig, device: str):
        self.pcfg = cfg
        super().__init__(cfg, device, **penalty_setup(cfg.parsed(), cfg.trials,
                                                      cfg.hsic_samples, WMProblem, device))
        self.setup_penalties(device)


def block_groups(n: int, k: int) -> np.ndarray:
    """Unit → group of :func:`mifd.penalties.split_groups` (``k`` contiguous blocks)."""
    sizes = [n // k + (i < n % k) for i in range(k)]
    return np.repeat(np.arange(k), sizes)


def k_communities(A: np.ndarray, k: int) -> np.ndarray:
    """``k`` communities of the weighted graph ``A`` by greedy modularity maximization
    (Clauset–Newman–Moore, networkx) merged until exactly ``k`` remain."""
    import networkx as nx
    G = nx.from_numpy_array(A)
    comms = nx.community.greedy_modularity_communities(G, weight="weight", cutoff=k, best_n=k)
    labels = np.zeros(A.shape[0], dtype=int)
    for c, members in enumerate(comms):
        labels[list(members)] = c
    return labels


def group_metrics(abs_corr: np.ndarray, W_rec: np.ndarray) -> dict[str, np.ndarray]:
    """Per trial, for ``k`` in ``GROUPS``: ``Q_cor_k`` and ``Q_str_k`` (modularity with
    ``k`` fixed blocks; ``k = 2``: the paper's Q_cor, Q_str) and ``NMI_cor_k`` (NMI between the
    blocks and ``k`` communities of ``|corr|``)."""
    n = abs_corr.shape[-1]
    A = abs_corr * (1 - np.eye(n))
    out = {}
    for k in GROUPS:
        g = block_groups(n, k)
        out[f"Q_cor_{k}"] = metrics.modularity(A, g)
        out[f"Q_str_{k}"] = metrics.q_str(W_rec, g)
        out[f"NMI_cor_{k}"] = np.array([metrics.nmi(k_communities(A[t], k), g)
                                        if np.isfinite(A[t]).all() and A[t].sum() > 0
                                        else np.nan for t in range(A.shape[0])])
    return out


def train(cfg: PenaltyConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.epochs, lambda done: PenaltyTrainUnit(cfg, device))],
                     ckpt, progress, desc="penalties")
    res = dict(done["train"])
    final, hist = res["final"], res["hist"]
    tail = max(1, min(10, cfg.epochs))
    per_trial = {"accuracy": hist["accuracy"][-1], "mse": hist["task"][-1],
                 "mi_final": hist["mi"][-tail:].mean(0),
                 "gauss_mi_final": hist["gauss_mi"][-tail:].mean(0),
                 "penalty_final": hist["penalty"][-tail:].mean(0),
                 "eval_accuracy": final["accuracy"], "eval_mse": final["mse"],
                 **{k: final[k] for k in ("D_cor", "Q_cor", "Q_str", "D_in", "D_out")},
                 **{k: v for k, v in res["group_metrics"].items() if not k.endswith("_2")
                    or k.startswith("NMI")}}
    per_trial["success_rate"] = (per_trial["accuracy"] > 0.9).astype(float)
    trials = cfg.layout().by_condition(per_trial)
    return {**res, "trials": trials}


def memory(cfg: PenaltyConfig) -> int:
    """``wm``'s lower bound (:func:`mifd.experiments.wm.memory`) for all conditions."""
    return wm_memory(dataclasses.replace(cfg, conditions=("mi",), trials=cfg.layout().size))


#: the result arrays a penalty experiment adds, by trial axis
PENALTY_AXES = {"scale": 0, "group_metrics": 0}
#: leaves of a result left out of its committed copy: the example sequences of every trial
#: (two thirds of its size; the chapters show none)
COMMITTED_WITHOUT = (("final", "example"),)

EXPERIMENT = Experiment("penalties", PenaltyConfig, PROFILES, train, __doc__ or "", {}, memory,
                        unit=PenaltyTrainUnit, trial_axes={**WM_TRIAL_AXES, **PENALTY_AXES},
                        committed_without=COMMITTED_WITHOUT, session_profile="paper")
