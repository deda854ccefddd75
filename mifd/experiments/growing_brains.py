"""``growing-brains``: one RNN on the 20 cognitive tasks of Yang et al. (2019) with BIMT, L1 or
no regularization ("Growing Brains", Liu, Khona, Fiete & Tegmark 2023;
``../shared/reference/bimt-notes.md``).

The network is Yang et al.'s leaky ReLU RNN (:mod:`mifd.models.yang`) with its units on a grid
(:func:`mifd.bimt.grid`), the tasks neurogym's (:mod:`mifd.tasks.yang19`). Conditions:
``none``, and per strength λ of ``strengths`` an ``l1=λ`` (``λ·l0·Σ|w|``: the connection cost with
``A = 0``) and a ``bimt=λ`` (``λ·CC`` with ``A`` and swap steps every ``swap_every`` steps;
λ × 10 from ¼ to ¾ of training with ``schedule``); per strength λ of ``mi_strengths`` a
``gauss=λ``: the paper's idea, minimizing the dependence between the grid's two halves (units
``0 … n/2 − 1`` and the rest), with ``λ`` × the Gaussian MI of their rates over the batch
(:func:`mifd.penalties.gaussian_mi`, each network over its own batch's steps) in place of the
MINE estimate (a critic-free stand-in; the "Is MINE needed?" chapter compares the two). Each training step draws, for every network
from its own stream, one task and a batch of its trials (Yang et al.'s training: one task per
batch); the loss is Yang et al.'s weighted squared error with sigmoid outputs. Adam.

Every ``eval_every`` steps (and at the end) each network runs, without recurrent noise, a fixed
evaluation batch of every task; the snapshot records per network its performance per task
(Yang et al.'s decision criterion, by default as their code applies it: at the last step; the strict one beside it), the normalized task variance and its k-means clusters
(k by silhouette, :mod:`mifd.cognitive`), the anatomical measures of those clusters on the
grid (isolated ratio, index variance, each with its shuffle null), Q_str and Q_cor with the
clusters as the partition, the NMI between the clusters and the grid halves (``NMI_halves``),
the Gaussian MI between the halves over the evaluation batch (``mi_halves``), the wiring length,
connection cost and active units.

Settings we had to choose (Growing Brains states none of them where we can read it): the
network and training are Yang et al.'s defaults; λ, A, ℓ0 and the swap settings are BIMT's
notebooks' ranges; trials padded at the end (so a network's data never depend on another's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import bimt, cognitive, metrics
from ..config import ConfigError, param
from ..models.yang import ACTIVATIONS, YangRNN, YangSpec
from ..nn import generator_states, set_generator_states
from ..penalties import gaussian_mi
from ..streams import generators
from ..tasks import yang19
from .base import Checkpointer, Experiment, Layout, Unit, run_units

METHODS = ("none", "l1", "bimt", "gauss")


@dataclass(frozen=True)
class GrowingBrainsConfig:
    conditions: tuple[str, ...] = param((), doc="conditions to run, each 'none', 'l1=λ', "
                                        "'bimt=λ' or 'gauss=λ' (empty: none, l1 and bimt at "
                                        "every strength, gauss at every mi_strength)")
    strengths: tuple[float, ...] = param((1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
                                         doc="λ of the l1 conditions, and of the bimt conditions "
                                             "unless bimt_strengths is set (7 each, as Growing "
                                             "Brains)", low=0.0)
    bimt_strengths: tuple[float, ...] = param((), doc="λ of the bimt conditions (empty: "
                                              "strengths); BIMT's distance term makes its cost "
                                              "at a given λ several times L1's", low=0.0)
    mi_strengths: tuple[float, ...] = param((), doc="λ of the gauss conditions (the Gaussian MI "
                                            "between the grid halves; not in Growing Brains)",
                                            low=0.0)
    trials: int = param(1, doc="networks per condition (Growing Brains: 1)", low=1, high=100)
    seed: int = param(0, doc="seed of trial 0", low=0)
    n: int = param(400, doc="hidden units (Growing Brains: 400 on 20 × 20)", low=4, high=4096)
    steps: int = param(20000, doc="training steps (batches per network)", low=1)
    batch: int = param(64, doc="trials per batch (Yang et al.)", low=2)
    lr: float = param(1e-3, doc="Adam learning rate (Yang et al.)", low=1e-7, high=1.0)
    dt: int = param(20, doc="ms per step (Yang et al.)", choices=yang19.DTS)
    tau: float = param(100.0, doc="time constant, ms (Yang et al.)", low=1e-3)
    sigma_rec: float = param(0.05, doc="recurrent noise (Yang et al.)", low=0.0)
    activation: str = param("relu", doc="rate function", choices=ACTIVATIONS)
    dim_ring: int = param(32, doc="units per ring (Yang et al.)", low=2)
    A: float = param(2.0, doc="BIMT: connection cost per unit of distance", low=0.0)
    l0: float = param(0.1, doc="connection cost per connection (the planes' spacing)", low=1e-6)
    swap_every: int = param(200, doc="BIMT: steps between swap steps", low=1)
    swap_top_k: int = param(30, doc="BIMT: units considered in a swap step", low=1)
    schedule: bool = param(True, doc="λ × 10 from ¼ to ¾ of training")
    eval_every: int = param(1000, doc="steps between snapshots", low=1)
    eval_batch: int = param(64, doc="evaluation trials per task", low=2)
    cache_size: int = param(512, doc="trials kept per task (0: fresh trials every batch)",
                            low=0)
    shuffles: int = param(1000, doc="label shuffles of each anatomical null", low=1)
    criterion: str = param("last", doc="decision criterion of the performance: 'last' (Yang et "
                           "al.'s code: the last step only) or 'strict' (fixation also held at "
                           "every step before the response)", choices=yang19.CRITERIA)

    def layout(self) -> Layout:
        conds = self.conditions or ("none",) + tuple(
            f"l1={v:g}" for v in self.strengths) + tuple(
            f"bimt={v:g}" for v in self.bimt_strengths or self.strengths) + tuple(
            f"gauss={v:g}" for v in self.mi_strengths)
        return Layout(tuple(conds), self.trials, self.seed)

    def task_spec(self) -> yang19.Yang19Spec:
        return yang19.Yang19Spec(dim_ring=self.dim_ring, dt=self.dt, pad="end",
                                 cache_size=self.cache_size)

    def check(self) -> None:
        if self.n % 2:
            raise ConfigError(f"parameter 'n': got {self.n}; allowed: an even integer")
        if self.swap_top_k > self.n:
            raise ConfigError(f"parameter 'swap_top_k': got {self.swap_top_k}; allowed: at most "
                              f"n = {self.n}")
        if not self.dt / self.tau <= 1:
            raise ConfigError(f"parameter 'dt': got {self.dt} with tau = {self.tau}; allowed: "
                              "dt <= tau")
        for name in ("strengths", "bimt_strengths", "mi_strengths"):
            vals = getattr(self, name)
            if len(set(vals)) != len(vals) or any(not 0 < v < math.inf for v in vals):
                raise ConfigError(f"parameter '{name}': got {vals!r}; allowed: distinct finite "
                                  "values > 0")
        for c in self.conditions:
            method, eq, v = c.partition("=")
            try:
                ok = (method == "none" and not eq) or (method in METHODS[1:] and
                                                       0 < float(v) < math.inf)
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"parameter 'conditions': got {c!r}; allowed: 'none', "
                                  "'l1=λ', 'bimt=λ' or 'gauss=λ' with λ > 0")
        if len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(f"parameter 'conditions': got {self.conditions!r}; allowed: "
                              "distinct")
        yang19.validate(self.task_spec())


PROFILES = {
    "paper": {},
    # fewer units (8 × 8), a smaller batch and fewer steps on 2 CPU cores (two condition parts,
    # one per core), every task kept; three networks per condition at three strengths, and the
    # Gaussian MI between the grid halves at two. Measured on one core: 15 networks of 64 units,
    # batch 32: ≈ 0.45 s per step, ≈ 19 s per snapshot. Strengths from a first run (5000 steps,
    # L1 and BIMT both at 1e-5 … 1e-3): L1 = 1e-5 kept 58 of 64 units at the unregularized
    # performance, L1 = 1e-4 and BIMT = 1e-5 kept about 41 and lost the tasks, so BIMT's range
    # sits ten times below L1's
    "book": {"n": 64, "batch": 32, "steps": 10000, "trials": 3,
             "strengths": (1e-5, 3e-5, 1e-4), "bimt_strengths": (1e-6, 3e-6, 1e-5),
             "mi_strengths": (1e-3, 1e-2),
             "eval_every": 500, "eval_batch": 32, "swap_every": 100, "swap_top_k": 20,
             "shuffles": 200},
    "smoke": {"n": 16, "steps": 4, "batch": 4, "strengths": (1e-3,), "mi_strengths": (1e-2,),
              "dim_ring": 8,
              "dt": 100, "eval_every": 2, "eval_batch": 3, "swap_every": 2, "swap_top_k": 4,
              "cache_size": 8, "shuffles": 5},
}


def _conditions(cfg: GrowingBrainsConfig) -> list[tuple[str, float, float, bool]]:
    """Per trial: (method, λ, A, swaps) (λ of ``gauss``: the MI penalty's; its wiring λ is 0,
    see :meth:`GrowingBrainsUnit.reg_loss`)."""
    out = []
    for name in cfg.layout().conditions:
        method, _, v = name.partition("=")
        lam = float(v) if v else 0.0
        out += [(method, lam, cfg.A if method == "bimt" else 0.0, method == "bimt")] * cfg.trials
    return out


class GrowingBrainsUnit(Unit):
    """Every condition × trial in one batched program; step 0 = the first snapshot."""

    name = "train"

    def __init__(self, cfg: GrowingBrainsConfig, device: str):
        self.cfg, self.device = cfg, torch.device(device)
        self.n_steps = 1 + cfg.steps
        seeds = cfg.layout().seeds()
        self.T = len(seeds)
        self.spec = cfg.task_spec()
        self.model_spec = YangSpec(n=cfg.n, n_in=yang19.n_inputs(self.spec),
                                   n_out=yang19.n_outputs(self.spec), dt=cfg.dt, tau=cfg.tau,
                                   sigma_rec=cfg.sigma_rec, activation=cfg.activation)
        self.model = YangRNN([torch.Generator().manual_seed(s) for s in seeds],
                             self.model_spec).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        conds = _conditions(cfg)
        self.lam = torch.tensor([c[1] if c[0] != "gauss" else 0.0 for c in conds],
                                device=self.device)
        self.mi_lam = [c[1] if c[0] == "gauss" else 0.0 for c in conds]
        self.A = torch.tensor([c[2] for c in conds], device=self.device)
        self.swaps = torch.tensor([c[3] for c in conds], device=self.device)
        self.wiring = bimt.Wiring(cfg.n, self.model_spec.n_in, self.model_spec.n_out, A=cfg.A,
                                  l0=cfg.l0)
        self.rngs = [np.random.default_rng([s, 19]) for s in seeds]
        self.noise_gens = generators("growing_brains.noise", seeds, self.device)
        E = cfg.steps
        self.hist = {k: np.full((E, self.T), np.nan, dtype=np.float32)
                     for k in ("task", "reg", "task_id", "mi")}
        self.snap_steps: list[int] = []
        self.snaps: list[dict] = []

    # ------------------------------------------------------------------ data and loss
    def _batches(self) -> dict[str, torch.Tensor]:
        """One task's batch per network from its own stream, padded at the end (zero input,
        weight 0; each network's noise drawn at its own length) to the longest trial of the
        fixed trial pools (so that a network's sums run over the same steps whatever its batch
        companions draw; with fresh trials, ``cache_size = 0``, to the batch's longest)."""
        bs = [yang19.mixed_batch(self.spec, self.cfg.batch, r, per="batch") for r in self.rngs]
        if getattr(self, "pad_to", None) is None:
            self.pad_to = yang19.longest_pooled(self.spec) or 0
        L = max([self.pad_to] + [b["inputs"].shape[1] for b in bs])
        x = np.zeros((self.T, self.cfg.batch, L, self.model_spec.n_in), np.float32)
        y = np.zeros((self.T, self.cfg.batch, L, self.model_spec.n_out), np.float32)
        w = np.zeros_like(y)
        noise = torch.zeros(self.T, self.cfg.batch, L, self.cfg.n, device=self.device)
        for t, b in enumerate(bs):
            lt = b["inputs"].shape[1]
            x[t, :, :lt], y[t, :, :lt] = b["inputs"], b["targets"]
            w[t, :, :lt] = yang19.loss_weights(b)
            noise[t, :, :lt] = torch.randn(self.cfg.batch, lt, self.cfg.n,
                                           generator=self.noise_gens[t], device=self.device)
        dev = self.device
        return {"x": torch.from_numpy(x).to(dev), "y": torch.from_numpy(y).to(dev),
                "w": torch.from_numpy(w).to(dev), "noise": noise,
                "task": np.array([int(b["task"][0]) for b in bs]),
                "lengths": [b["inputs"].shape[1] for b in bs]}

    def params(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.model.named_parameters() if k in bimt.UNIT_AXES["leaky"]}

    def reg_loss(self, scale: float) -> torch.Tensor:
        """``λ_t · (A_t · Σ|w|·d + l0 · Σ|w|)`` per network (A = 0: L1)."""
        p = self.params()
        l1 = sum(a.sum(dim=(1, 2)) for a in bimt.magnitudes(p, "leaky"))
        length = bimt.wiring_length(p, "leaky", self.wiring)
        return scale * self.lam * (self.A * length + self.wiring.l0 * l1)

    def mi_loss(self, rates: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """``λ_t`` × the Gaussian MI between the grid halves of each ``gauss`` network's rates
        ``(T, batch, L, n)``, its samples every step up to its own batch's longest trial (the
        steps after a shorter trial's end included: zero input), 0 for the other networks."""
        out = torch.zeros(self.T, device=rates.device)
        for t, lam in enumerate(self.mi_lam):
            if lam > 0:
                r = rates[t, :, :lengths[t]].reshape(1, -1, self.cfg.n)
                out = out.index_put((torch.tensor([t], device=rates.device),),
                                    lam * halves_mi(r))
        return out

    def step(self, i: int) -> None:
        if i == 0:
            self._snapshot(0)
            return
        cfg = self.cfg
        scale = bimt.lambda_schedule(i - 1, cfg.steps, 1.0) if cfg.schedule else 1.0
        data = self._batches()
        rates, out = self.model(data["x"], data["noise"])
        task = (data["w"] * (out - data["y"]) ** 2).mean(dim=(1, 2, 3))
        reg = self.reg_loss(scale)
        mi = self.mi_loss(rates, data["lengths"])
        self.opt.zero_grad(set_to_none=True)
        (task + reg + mi).sum().backward()
        self.opt.step()
        e = i - 1
        self.hist["task"][e] = task.detach().cpu().numpy()
        self.hist["reg"][e] = reg.detach().cpu().numpy()
        self.hist["task_id"][e] = data["task"]
        self.hist["mi"][e] = mi.detach().cpu().numpy()
        if i % cfg.swap_every == 0 and bool(self.swaps.any()):
            bimt.swap_step(self.model, "leaky", self.wiring, cfg.swap_top_k, self.opt, self.swaps)
        if i % cfg.eval_every == 0 or i == cfg.steps:
            self._snapshot(i)

    # ------------------------------------------------------------------ evaluation
    def eval_batches(self) -> list[dict[str, np.ndarray]]:
        """One batch of ``eval_batch`` fresh trials of every task (not from the training pool),
        the same at every snapshot and for every network (made once)."""
        if getattr(self, "_eval", None) is None:
            import dataclasses
            spec = dataclasses.replace(self.spec, cache_size=0)
            self._eval = [yang19.batch(spec, task, self.cfg.eval_batch,
                                       np.random.default_rng([self.cfg.seed, 7, k]))
                          for k, task in enumerate(yang19.TASKS)]
        return self._eval

    def _snapshot(self, step: int, full: bool = False) -> None:
        self.snap_steps.append(step)
        self.snaps.append(evaluate(self, full))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "rngs": [r.bit_generator.state for r in self.rngs],
                "noise_gens": generator_states(self.noise_gens), "hist": self.hist,
                "snap_steps": self.snap_steps, "snaps": self.snaps}

    def load_state_dict(self, s: dict) -> None:
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["opt"])
        for r, st in zip(self.rngs, s["rngs"]):
            r.bit_generator.state = st
        set_generator_states(self.noise_gens, s["noise_gens"])
        self.hist, self.snap_steps, self.snaps = s["hist"], s["snap_steps"], s["snaps"]

    def result(self) -> dict:
        final = evaluate(self, full=True)
        snaps = {k: np.stack([s[k] for s in self.snaps]) for k in self.snaps[0]
                 if not isinstance(self.snaps[0][k], list)}
        weights = {k: v.detach().cpu().numpy() for k, v in self.model.named_parameters()}
        return {"hist": self.hist, "snap_epochs": np.array(self.snap_steps), "snaps": snaps,
                "final": final, "weights": weights,
                "conditions": list(self.cfg.layout().conditions)}


def halves_mi(rates: torch.Tensor) -> torch.Tensor:
    """The Gaussian MI (nats, :func:`mifd.penalties.gaussian_mi`) between the grid halves (units
    ``0 … n/2 − 1`` and the rest) of ``rates`` ``(T, samples, n)``, per network, computed in
    float64 (differentiable; returned in ``rates``' dtype): with units silenced by the wiring
    cost and the rest nearly collinear, the covariance's ridge is swamped by float32 rounding
    and its Cholesky factorization fails."""
    h = rates.shape[-1] // 2
    r = rates.double()
    return gaussian_mi(r[..., :h], r[..., h:]).to(rates.dtype)


def evaluate(unit: GrowingBrainsUnit, full: bool = False) -> dict[str, Any]:
    """Per network: performance per task, the clusters of its normalized task variance and
    their anatomical and modularity measures, wiring length, connection cost, active units.
    ``full`` adds the task-variance matrix and the cluster of every unit (``labels``, ``(T, n)``;
    −1: too little task variance to be clustered)."""
    cfg, T, n = unit.cfg, unit.T, unit.cfg.n
    perf = np.zeros((T, len(yang19.TASKS)))
    strict = np.zeros((T, len(yang19.TASKS)))
    tv = np.zeros((T, len(yang19.TASKS), n))
    rates = []
    with torch.no_grad():
        for k, b in enumerate(unit.eval_batches()):
            x = torch.from_numpy(b["inputs"]).to(unit.device).expand(T, *b["inputs"].shape)
            R, Y = unit.model(x.contiguous(), None)
            Y, R = Y.cpu().numpy(), R.cpu().numpy()
            for t in range(T):
                perf[t, k] = yang19.performance(Y[t], b, cfg.criterion).mean()
                strict[t, k] = yang19.performance(Y[t], b, "strict").mean()
            common = int(b["lengths"].min())
            tv[:, k] = R[:, :, :common].var(axis=1).mean(axis=1)
            rates.append(R[:, :, :common].reshape(T, -1, n))
    R_all = np.concatenate(rates, axis=1)
    p = unit.params()
    with torch.no_grad():
        length = bimt.wiring_length(p, "leaky", unit.wiring).cpu().numpy()
        cost = bimt.connection_cost(p, "leaky", unit.wiring).cpu().numpy()
        active = bimt.active_units(p, "leaky").cpu().numpy().astype(np.float32)
    W = unit.model.W_rec.detach().cpu().numpy()
    out: dict[str, Any] = {"performance": perf.mean(1), "perf_task": perf,
                           "performance_strict": strict.mean(1),
                           "wiring_length": length, "cc": cost, "active_units": active}
    keys = ("clusters", "silhouette", "isolated", "isolated_null", "index_var",
            "index_var_null", "Q_str_clusters", "Q_cor_clusters", "clustered", "NMI_halves")
    vals = {k: np.full(T, np.nan) for k in keys}
    with torch.no_grad():
        vals["mi_halves"] = halves_mi(torch.from_numpy(R_all)).numpy()
    all_labels = np.full((T, n), -1, dtype=np.int64)
    for t in range(T):
        units, X = cognitive.normalized(tv[t])
        labels, k = cognitive.cluster(X, seed=cfg.seed) if len(units) else (np.zeros(0, int), 0)
        vals["clusters"][t], vals["clustered"][t] = k, len(units)
        if k >= 2:
            vals["silhouette"][t] = cognitive.silhouette(X, labels)
            vals["isolated"][t], vals["isolated_null"][t] = cognitive.with_null(
                lambda u, l: cognitive.isolated_ratio(u, l, n), units, labels, cfg.shuffles,
                cfg.seed)
            vals["index_var"][t], vals["index_var_null"][t] = cognitive.with_null(
                cognitive.index_variance, units, labels, cfg.shuffles, cfg.seed)
            S = metrics.structural_matrix(W[t])[np.ix_(units, units)]
            vals["Q_str_clusters"][t] = metrics.modularity(S, labels)
            C = metrics.abs_corr(R_all[t][:, units])
            vals["Q_cor_clusters"][t] = metrics.modularity(np.nan_to_num(C), labels)
            vals["NMI_halves"][t] = metrics.nmi(labels, (np.asarray(units) >= n // 2).astype(int))
        all_labels[t, units] = labels
    out.update(vals)
    if full:
        out["task_variance"] = tv.astype(np.float32)
        out["labels"] = all_labels
    return out


def clusters_of(final: dict[str, Any], t: int) -> tuple[np.ndarray, np.ndarray]:
    """Network ``t``'s clustered units and their cluster labels from a ``full`` evaluation."""
    labels = np.asarray(final["labels"][t])
    units = np.flatnonzero(labels >= 0)
    return units, labels[units]


def train(cfg: GrowingBrainsConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.steps, lambda done: GrowingBrainsUnit(cfg, device))],
                     ckpt, progress, desc="growing-brains")
    res = dict(done["train"])
    final = res["final"]
    per_trial = {"performance": final["performance"], "error": 1 - final["performance"],
                 "performance_strict": final["performance_strict"],
                 **{k: final[k] for k in ("wiring_length", "cc", "active_units", "clusters",
                                          "silhouette", "isolated", "isolated_null",
                                          "index_var", "index_var_null", "Q_str_clusters",
                                          "Q_cor_clusters", "NMI_halves", "mi_halves")},
                 "task_loss": np.nanmean(res["hist"]["task"][-max(1, min(100, cfg.steps)):],
                                         axis=0)}
    return {**res, "trials": cfg.layout().by_condition(per_trial)}


def memory(cfg: GrowingBrainsConfig) -> int:
    """A lower bound of the bytes a run needs (float32): each network's rates, states and noise
    over one batch of the longest trials (about 160 steps at dt = 20 ms) for the backward pass,
    and the histories."""
    T = cfg.layout().size
    L = math.ceil(3200 / cfg.dt)
    return 4 * (4 * T * cfg.batch * L * cfg.n + 3 * cfg.steps * T)


EXPERIMENT = Experiment("growing-brains", GrowingBrainsConfig, PROFILES, train, __doc__ or "",
                        {}, memory, unit=GrowingBrainsUnit,
                        trial_axes={"hist": -1, "snaps": 1, "final": 0, "weights": 0},
                        session_profile="paper")
