"""``mine-gaussian``: MI estimators on correlated Gaussians with known truth.

Three parts, each a list of resumable units (see :func:`mifd.experiments.base.run_units`):

1. **Staircase** (Poole et al. 2019; Song & Ermon 2020): d = 20 correlated Gaussian pairs, true MI
   stepping 2 → 4 → 6 → 8 → 10 nats, fresh batch of 64 each step, Adam 5e-4, joint and separable
   critics, all n² pairs scored; the cubic variant maps y → y³ (MI unchanged).
2. **The paper's setting**: 20 + 20 dimensions, 40000 samples per estimate, the authors'
   working-memory statistics network (Dense512(x)+Dense512(y) → ReLU → 512 → ReLU → 1), RMSprop
   3e-3 with clip-norm 4, plain DV with y shuffled over all samples; the data are Gaussian or
   passed through tanh (like RNN rates; MI unchanged), compared with the Gaussian and copula
   references.
3. **A minimization game**: a sampler ``y = ρ⊙x + √(1−ρ²)ε`` with learnable ρ minimizes the DV
   estimate of a critic trained under the paper's schedule (100 critic pre-steps, then k critic
   steps per sampler step); the true MI is known at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..config import ConfigError, param
from ..mine import (BOUNDS, NEGATIVES, MovingAverage, bound, copula_mi_estimate,
                    derangement, dv, dv_estimate, dv_step, gaussian_mi_estimate,
                    joint_and_marginal_scores, make_critic, mine_surrogate,
                    optimal_gaussian_critic, rho_for_mi, tuba)
from ..mine import sample_correlated_gaussian as mine_sample
from ..nn import clip_grad_norm_per_trial, generator_states, rmsprop_keras, set_generator_states
from .base import Checkpointer, Experiment, Unit, run_units


@dataclass(frozen=True)
class MineGaussianConfig:
    # 1. staircase
    dim: int = param(20, doc="dimension d of x and of y", low=1, high=4096)
    stages: tuple[float, ...] = param((2.0, 4.0, 6.0, 8.0, 10.0), doc="true MI per stage (nats)",
                                      low=0.0, high=50.0)
    steps_per_stage: int = param(4000, doc="critic steps per stage", low=1)
    batch: int = param(64, doc="samples per step (all n² pairs scored)", low=2, high=4096)
    lr: float = param(5e-4, doc="Adam learning rate", low=1e-7, high=1.0)
    bounds: tuple[str, ...] = param(("mine", "nwj", "infonce", "smile"), doc="estimators",
                                    choices=BOUNDS)
    critics: tuple[str, ...] = param(
        ("joint/gaussian", "joint/cubic", "separable/gaussian", "separable/cubic"),
        doc="critic architecture / data (cubic: y → y³) pairs to run",
        choices=("joint/gaussian", "joint/cubic", "separable/gaussian", "separable/cubic"))
    hidden: int = param(256, doc="critic hidden width (2 layers)", low=1)
    embed: int = param(32, doc="separable critic embedding size", low=1)
    negatives: str = param("all_pairs", doc="negative samples", choices=NEGATIVES)
    ema_rate: float = param(0.01, doc="MINE moving-average rate", low=1e-6, high=1.0)
    tau: float = param(5.0, doc="SMILE clip", low=0.0)
    tail: int = param(1000, doc="last steps of a stage used for bias/variance/MSE", low=1)
    seeds: int = param(1, doc="independent repetitions", low=1, high=1000)
    seed: int = param(0, doc="base seed", low=0)
    # 2. the paper's setting
    ps_mi: tuple[float, ...] = param((0.25, 1.0, 4.0), doc="true MI levels (nats)", low=0.0,
                                     high=50.0)
    ps_transforms: tuple[str, ...] = param(("identity", "tanh"), doc="elementwise map of x and y",
                                           choices=("identity", "tanh"))
    ps_samples: int = param(40000, doc="samples per estimate (batch × steps)", low=2)
    ps_width: int = param(512, doc="statistics-network width", low=1)
    ps_steps: int = param(2000, doc="critic steps on fresh samples", low=1)
    ps_lr: float = param(3e-3, doc="RMSprop learning rate", low=1e-7, high=1.0)
    ps_clipnorm: float = param(4.0, doc="clip-norm per variable (Keras)", low=0.0)
    ps_seeds: int = param(3, doc="independent repetitions", low=1, high=1000)
    # 3. minimization game
    game_mi0: float = param(2.0, doc="initial true MI (nats)", low=0.0, high=50.0)
    game_k: tuple[int, ...] = param((10, 20), doc="critic steps per sampler step", low=1)
    game_pre: int = param(100, doc="critic pre-steps", low=0)
    game_steps: int = param(1000, doc="sampler steps", low=1)
    game_lr: float = param(2e-3, doc="sampler RMSprop learning rate", low=1e-7, high=1.0)
    game_weight: float = param(0.1, doc="λ_I on the sampler's MI estimate", low=0.0)
    game_samples: int = param(40000, doc="samples per critic or sampler step", low=2)
    game_width: int = param(512, doc="statistics-network width", low=1)
    game_seeds: int = param(3, doc="independent repetitions", low=1, high=1000)
    # 0. theory demonstrations (no training)
    th_batches: tuple[int, ...] = param((16, 64, 256, 1024, 4096), doc="batch sizes for the "
                                        "minibatch-DV bias demonstration", low=2)
    th_reps: int = param(2000, doc="minibatches per batch size", low=2)

    def check(self) -> None:
        if "infonce" in self.bounds and self.negatives != "all_pairs":
            raise ConfigError(f"parameter 'negatives': got {self.negatives!r}; allowed: "
                              "'all_pairs' when 'infonce' is among the bounds")
        if self.tail > self.steps_per_stage:
            raise ConfigError(f"parameter 'tail': got {self.tail}; allowed: an integer <= "
                              f"steps_per_stage ({self.steps_per_stage})")


PROFILES = {
    "paper": {},
    "book": {"steps_per_stage": 600, "tail": 200, "hidden": 128,
             "critics": ("separable/gaussian", "separable/cubic", "joint/gaussian"),
             "ps_samples": 4096, "ps_width": 128, "ps_steps": 300, "ps_seeds": 2,
             "game_samples": 2048, "game_width": 128, "game_steps": 150, "game_seeds": 2},
    "smoke": {"steps_per_stage": 20, "tail": 10, "hidden": 16, "batch": 16, "stages": (2.0, 6.0),
              "critics": ("separable/gaussian", "joint/cubic"), "ps_mi": (1.0,), "ps_samples": 512, "ps_width": 16,
              "ps_steps": 10, "ps_seeds": 1, "game_k": (10,), "game_pre": 5, "game_steps": 5,
              "game_samples": 256, "game_width": 16, "game_seeds": 1,
              "th_batches": (16, 256), "th_reps": 50},
}


def _transform(name: str, t: torch.Tensor) -> torch.Tensor:
    return torch.tanh(t) if name == "tanh" else t


def _sample(gens: Sequence[torch.Generator], n: int, d: int, rho: torch.Tensor | float,
            device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-trial correlated Gaussians ``(T, n, d)``; ``rho`` scalar or ``(T, d)`` (may need grad)."""
    x = torch.stack([torch.randn(n, d, generator=g) for g in gens]).to(device)
    e = torch.stack([torch.randn(n, d, generator=g) for g in gens]).to(device)
    if isinstance(rho, torch.Tensor):
        r = rho[:, None, :]
        return x, r * x + torch.sqrt(1 - r ** 2) * e
    return x, rho * x + math.sqrt(1 - rho ** 2) * e


class StaircaseUnit(Unit):
    """One critic architecture on one data variant; every bound × seed is a trial."""

    def __init__(self, cfg: MineGaussianConfig, critic: str, variant: str, device: str):
        self.cfg, self.variant, self.device = cfg, variant, device
        self.n_steps = len(cfg.stages) * cfg.steps_per_stage
        B, S = len(cfg.bounds), cfg.seeds
        self.T = B * S
        seeds = [cfg.seed * 7919 + 1000 * b + s for b in range(B) for s in range(S)]
        self.critic = make_critic(critic, seeds, cfg.dim, cfg.dim, (cfg.hidden, cfg.hidden),
                                  embed=cfg.embed).to(device)
        self.opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.gens = [torch.Generator().manual_seed(cfg.seed * 104729 + 17 + s) for s in range(S)]
        self.neg_gens = [torch.Generator().manual_seed(cfg.seed * 15485863 + 31 + t)
                         for t in range(self.T)]
        self.emas = {b: MovingAverage(cfg.ema_rate) for b in cfg.bounds if b == "mine"}
        self.values = np.full((self.n_steps, self.T), np.nan, dtype=np.float32)
        self.tuba = np.full((self.n_steps, S), np.nan, dtype=np.float32)

    def step(self, i: int) -> None:
        cfg, B, S = self.cfg, len(self.cfg.bounds), self.cfg.seeds
        rho = rho_for_mi(cfg.stages[i // cfg.steps_per_stage], cfg.dim)
        x, y = _sample(self.gens, cfg.batch, cfg.dim, rho, "cpu")
        if self.variant == "cubic":
            y = y ** 3
        x, y = x.repeat(B, 1, 1).to(self.device), y.repeat(B, 1, 1).to(self.device)
        tj, tm, sc = joint_and_marginal_scores(self.critic, x, y, cfg.negatives, self.neg_gens)
        loss = 0.0
        vals = []
        for b, name in enumerate(cfg.bounds):
            sl = slice(b * S, (b + 1) * S)
            est = bound(name, tj[sl], tm[sl], None if sc is None else sc[sl],
                        ema=self.emas.get(name), tau=cfg.tau)
            loss = loss + est.loss.sum()
            vals.append(est.value.detach())
            if est.tuba is not None:
                self.tuba[i] = est.tuba.cpu().numpy()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.values[i] = torch.cat(vals).cpu().numpy()

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "opt": self.opt.state_dict(),
                "gens": generator_states(self.gens), "neg": generator_states(self.neg_gens),
                "emas": {k: v.state_dict() for k, v in self.emas.items()},
                "values": self.values, "tuba": self.tuba}

    def load_state_dict(self, s: dict) -> None:
        self.critic.load_state_dict(s["critic"])
        self.opt.load_state_dict(s["opt"])
        set_generator_states(self.gens, s["gens"])
        set_generator_states(self.neg_gens, s["neg"])
        for k, v in s["emas"].items():
            self.emas[k].load_state_dict(v)
        self.values, self.tuba = s["values"], s["tuba"]

    def result(self) -> dict:
        cfg = self.cfg
        return {"values": self.values.reshape(self.n_steps, len(cfg.bounds), cfg.seeds),
                "tuba": self.tuba, "bounds": list(cfg.bounds),
                "truth": np.repeat(np.asarray(cfg.stages, dtype=float), cfg.steps_per_stage)}


class PaperSettingUnit(Unit):
    """The authors' statistics network trained on 20 + 20-dimensional data of known MI."""

    def __init__(self, cfg: MineGaussianConfig, mi: float, transform: str, device: str):
        self.cfg, self.mi, self.transform, self.device = cfg, mi, transform, device
        self.n_steps = cfg.ps_steps
        T = cfg.ps_seeds
        base = cfg.seed * 7919 + int(mi * 1000) * 31 + (0 if transform == "identity" else 5)
        self.critic = make_critic("joint", [base + t for t in range(T)], cfg.dim, cfg.dim,
                                  (cfg.ps_width, cfg.ps_width)).to(device)
        self.opt = rmsprop_keras(self.critic.parameters(), cfg.ps_lr)
        self.gens = [torch.Generator().manual_seed(base + 99991 + t) for t in range(T)]
        self.values = np.full((self.n_steps, T), np.nan, dtype=np.float32)
        self.rho = rho_for_mi(mi, cfg.dim)

    def _data(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = _sample(self.gens, self.cfg.ps_samples, self.cfg.dim, self.rho, self.device)
        return _transform(self.transform, x), _transform(self.transform, y)

    def step(self, i: int) -> None:
        x, y = self._data()
        self.values[i] = dv_step(self.critic, self.opt, x, y, self.gens,
                                 self.cfg.ps_clipnorm).cpu().numpy()

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "opt": self.opt.state_dict(),
                "gens": generator_states(self.gens), "values": self.values}

    def load_state_dict(self, s: dict) -> None:
        self.critic.load_state_dict(s["critic"])
        self.opt.load_state_dict(s["opt"])
        set_generator_states(self.gens, s["gens"])
        self.values = s["values"]

    def result(self) -> dict:
        with torch.no_grad():
            x, y = self._data()
            held_out = dv_estimate(self.critic, x, y, self.gens).cpu().numpy()
        xs, ys = x.cpu(), y.cpu()
        return {"values": self.values, "truth": self.mi, "transform": self.transform,
                "held_out_dv": held_out,
                "gaussian": np.array([gaussian_mi_estimate(xs[t], ys[t]) for t in range(len(xs))]),
                "copula": np.array([copula_mi_estimate(xs[t], ys[t]) for t in range(len(xs))])}


class GameUnit(Unit):
    """A sampler with learnable correlations minimizes a MINE critic's DV estimate."""

    def __init__(self, cfg: MineGaussianConfig, k: int, device: str):
        self.cfg, self.k, self.device = cfg, k, device
        self.n_steps = cfg.game_steps
        T = cfg.game_seeds
        base = cfg.seed * 7919 + 555 + 1000 * k
        self.critic = make_critic("joint", [base + t for t in range(T)], cfg.dim, cfg.dim,
                                  (cfg.game_width, cfg.game_width)).to(device)
        self.opt_c = rmsprop_keras(self.critic.parameters(), cfg.ps_lr)
        theta0 = math.atanh(rho_for_mi(cfg.game_mi0, cfg.dim))
        self.theta = torch.full((T, cfg.dim), theta0, device=device, requires_grad=True)
        self.opt_s = rmsprop_keras([self.theta], cfg.game_lr)
        self.gens = [torch.Generator().manual_seed(base + 77 + t) for t in range(T)]
        self.true_mi = np.full((self.n_steps + 1, T), np.nan)
        self.estimate = np.full((self.n_steps, T), np.nan, dtype=np.float32)
        self.pre_done = False

    def _critic_step(self) -> None:
        with torch.no_grad():
            rho = torch.tanh(self.theta)
        x, y = _sample(self.gens, self.cfg.game_samples, self.cfg.dim, rho, self.device)
        dv_step(self.critic, self.opt_c, x, y, self.gens, self.cfg.ps_clipnorm)

    def _true(self) -> np.ndarray:
        r = torch.tanh(self.theta.detach()).cpu().double().numpy()
        return -0.5 * np.log1p(-r ** 2).sum(1)

    def step(self, i: int) -> None:
        if not self.pre_done:
            self.true_mi[0] = self._true()
            for _ in range(self.cfg.game_pre):
                self._critic_step()
            self.pre_done = True
        for _ in range(self.k):
            self._critic_step()
        x, y = _sample(self.gens, self.cfg.game_samples, self.cfg.dim, torch.tanh(self.theta),
                       self.device)
        tj, tm, _ = joint_and_marginal_scores(self.critic, x, y, "permutation", self.gens)
        v = dv(tj, tm)
        self.opt_s.zero_grad(set_to_none=True)
        self.critic.zero_grad(set_to_none=True)
        (self.cfg.game_weight * v).sum().backward()
        clip_grad_norm_per_trial([self.theta], self.cfg.ps_clipnorm)
        self.opt_s.step()
        self.estimate[i] = v.detach().cpu().numpy()
        self.true_mi[i + 1] = self._true()

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "opt_c": self.opt_c.state_dict(),
                "theta": self.theta.detach().clone(), "opt_s": self.opt_s.state_dict(),
                "gens": generator_states(self.gens), "true_mi": self.true_mi,
                "estimate": self.estimate, "pre_done": self.pre_done}

    def load_state_dict(self, s: dict) -> None:
        self.critic.load_state_dict(s["critic"])
        self.opt_c.load_state_dict(s["opt_c"])
        with torch.no_grad():
            self.theta.copy_(s["theta"])
        self.opt_s.load_state_dict(s["opt_s"])
        set_generator_states(self.gens, s["gens"])
        self.true_mi, self.estimate, self.pre_done = s["true_mi"], s["estimate"], s["pre_done"]

    def result(self) -> dict:
        return {"k": self.k, "true_mi": self.true_mi, "estimate": self.estimate,
                "rho": torch.tanh(self.theta.detach()).cpu().numpy()}


class TheoryUnit(Unit):
    """No training: the minibatch bias of DV with the optimal critic, and the gradient identity
    between MINE's surrogate and TUBA, evaluated numerically."""

    n_steps = 1

    def __init__(self, cfg: MineGaussianConfig):
        self.cfg = cfg
        self.out: dict = {}

    def step(self, i: int) -> None:
        cfg = self.cfg
        g = torch.Generator().manual_seed(cfg.seed * 7 + 3)
        mis = (1.0, 4.0, 8.0)
        dv_mean = np.zeros((len(mis), len(cfg.th_batches)))
        dv_sd = np.zeros_like(dv_mean)
        for a, mi in enumerate(mis):
            rho = rho_for_mi(mi, cfg.dim)
            for b, n in enumerate(cfg.th_batches):
                reps = max(2, min(cfg.th_reps, (cfg.th_reps * 64) // n))
                x, y = mine_sample(reps * n, cfg.dim, rho, g)
                x, y = x.view(reps, n, -1).double(), y.view(reps, n, -1).double()
                tj = optimal_gaussian_critic(x, y, rho)
                perm = derangement(n, g)
                tm = optimal_gaussian_critic(x, y[:, perm], rho)
                v = dv(tj, tm).numpy()
                dv_mean[a, b], dv_sd[a, b] = v.mean(), v.std(ddof=1)
        # gradient identity on a small random critic
        torch.manual_seed(cfg.seed)
        w = (0.1 * torch.randn(cfg.dim)).requires_grad_(True)
        x, y = mine_sample(512, cfg.dim, 0.5, g)
        perm = derangement(512, g)
        log_m = torch.tensor([0.7])
        grads = {}
        for name, fn in {"surrogate": lambda tj, tm: mine_surrogate(tj, tm, log_m),
                         "tuba": lambda tj, tm: -tuba(tj, tm, log_m),
                         "minibatch_dv": lambda tj, tm: -dv(tj, tm)}.items():
            w.grad = None
            fn(((x * y) @ w)[None], ((x * y[perm]) @ w)[None]).sum().backward()
            grads[name] = w.grad.clone().numpy()
        self.out = {"mis": np.array(mis), "batches": np.array(cfg.th_batches),
                    "dv_mean": dv_mean, "dv_sd": dv_sd, "grads": grads}

    def state_dict(self) -> dict:
        return {"out": self.out}

    def load_state_dict(self, s: dict) -> None:
        self.out = s["out"]

    def result(self) -> dict:
        return self.out


def stage_stats(values: np.ndarray, truth: float, tail: int) -> dict[str, np.ndarray]:
    """Bias, variance and MSE over the last ``tail`` steps of a stage, per trial.

    ``values`` is ``(steps_in_stage, trials)``; bias = mean − truth, variance over the tail
    steps (ddof = 0), MSE = mean squared error (= bias² + variance).
    """
    v = values[-tail:].astype(float)
    bias = v.mean(0) - truth
    var = v.var(0)
    return {"mean": v.mean(0), "bias": bias, "var": var, "mse": ((v - truth) ** 2).mean(0)}


def train(cfg: MineGaussianConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    units: list = [("theory", 1, lambda _: TheoryUnit(cfg))]
    for cv in cfg.critics:
        c, v = cv.split("/")
        units.append((f"staircase/{cv}", len(cfg.stages) * cfg.steps_per_stage,
                      lambda _, c=c, v=v: StaircaseUnit(cfg, c, v, device)))
    for mi in cfg.ps_mi:
        for tr in cfg.ps_transforms:
            units.append((f"paper_setting/{mi:g}/{tr}", cfg.ps_steps,
                          lambda _, mi=mi, tr=tr: PaperSettingUnit(cfg, mi, tr, device)))
    for k in cfg.game_k:
        units.append((f"game/{k}", cfg.game_steps, lambda _, k=k: GameUnit(cfg, k, device)))
    done = run_units(units, ckpt, progress, desc="mine-gaussian")

    trials: dict[str, dict[str, list]] = {}
    for name, res in done.items():
        if name.startswith("staircase/"):
            for b, bname in enumerate(res["bounds"]):
                cond = trials.setdefault(f"{name}/{bname}", {})
                for s, mi in enumerate(cfg.stages):
                    sl = slice(s * cfg.steps_per_stage, (s + 1) * cfg.steps_per_stage)
                    st = stage_stats(res["values"][sl, b, :], mi, cfg.tail)
                    for key in ("mean", "bias", "var", "mse"):
                        cond[f"{key}@{mi:g}"] = st[key].tolist()
        elif name.startswith("paper_setting/"):
            tail = max(1, cfg.ps_steps // 5)
            final = res["values"][-tail:].mean(0)
            trials[name] = {"truth": [res["truth"]] * len(final), "mine_final": final.tolist(),
                            "mine_held_out": res["held_out_dv"].tolist(),
                            "gaussian": res["gaussian"].tolist(), "copula": res["copula"].tolist()}
        elif name.startswith("game/"):
            trials[name] = {"true_mi_start": res["true_mi"][0].tolist(),
                            "true_mi_end": res["true_mi"][-1].tolist(),
                            "estimate_end": res["estimate"][-1].tolist()}
    return {"units": done, "trials": trials}


EXPERIMENT = Experiment("mine-gaussian", MineGaussianConfig, PROFILES, train, __doc__ or "")
