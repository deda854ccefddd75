"""``wm``: the 2-bit working-memory experiment (paper Figs. 4–9; reference-facts §1, §3, §4).

Leaky-integrator RNNs (N = 40, two groups of 20) learn the flip-flop task while a statistics
network estimates the MI between the groups' rates; in the ``mi`` condition the RNN minimizes
``task + L2 + λ_I·MI``, in ``no_mi`` λ_I = 0 (the statistics network still trains, without
effect). Both conditions and all trials train in one batched program; trial t of every
condition uses seed ``seed + t`` (paired design: same initial weights and data stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .. import metrics
from ..adversarial import (AdversarialSettings, CriticOptions, AdversarialTrainer, check_merge,
                           critic_precision)
from ..adversarial import LossTerm, add_terms, make_terms, observe_terms
from ..config import ConfigError, param
from ..mine import copula_mi_estimate, dv_estimate, dv_step, gaussian_mi_estimate, make_critic
from ..models.leaky import LeakyRNN, LeakySpec
from ..nn import RMSPROP_EPS, generator_states, rmsprop_keras, set_generator_states
from ..streams import generators, seeds as seeds_of
from .base import Checkpointer, Experiment, Layout, Unit, run_units
from ..tasks.flipflop import FlipFlopSpec, generate

CONDITIONS = {"mi": True, "no_mi": False}


@dataclass(frozen=True)
class WMConfig(CriticOptions):
    conditions: tuple[str, ...] = param(("mi", "no_mi"), doc="conditions (λ_I > 0 / λ_I = 0)",
                                        choices=tuple(CONDITIONS))
    trials: int = param(20, doc="trials per condition", low=1, high=1000)
    seed: int = param(1001, doc="seed of trial 0 (the authors used 1001..1020)", low=0)
    n: int = param(40, doc="RNN units (two equal groups)", low=2, high=4096)
    batch: int = param(20, doc="sequences per minibatch", low=1, high=4096)
    transient: int = param(1000, doc="steps run without gradient before each segment", low=0)
    steps: int = param(2000, doc="segment length (full BPTT)", low=1)
    epochs: int = param(1000, doc="MM steps (each after sm_per_mm SM steps)", low=1)
    lambda_mi: float = param(0.1, doc="λ_I in the mi condition", low=0.0)
    l2: float = param(0.01, doc="L2 weight, Keras convention c·Σw² (paper's λ_reg = 2c)", low=0.0)
    mm_lr: float = param(2e-3, doc="RNN RMSprop learning rate", low=1e-7, high=1.0)
    mm_clip: float = param(4.0, doc="RNN clip-norm (per variable)", low=0.0)
    sm_lr: float = param(3e-3, doc="statistics-network RMSprop learning rate", low=1e-7, high=1.0)
    sm_clip: float = param(4.0, doc="statistics-network clip-norm (per variable)", low=0.0)
    sm_width: int = param(512, doc="statistics-network width", low=1)
    sm_batch: int = param(0, doc="sequences per SM step (0: same as batch)", low=0)
    sm_samples: int = param(0, doc="samples per SM estimate (0: all batch × steps)", low=0)
    sm_noise: float = param(0.1, doc="noise s.d. on the statistics network's inputs", low=0.0)
    sm_per_mm: int = param(10, doc="SM steps per MM step (authors' code 10, paper text 20)", low=1)
    pre_steps: int = param(100, doc="SM steps before the first MM step", low=0)
    fused_bptt: bool = param(False, doc="hand-written BPTT through the RNN instead of autograd "
                             "over every step (gradients equal up to rounding)", added=True)
    alpha: float = param(0.1, doc="leak rate α", low=1e-6, high=1.0)
    sigma: float = param(0.1, doc="recurrent noise s.d.", low=0.0)
    noise: str = param("outside", doc="noise outside α (code) or inside (paper Eq. 1)",
                       choices=("outside", "inside"))
    target: str = param("ramp", doc="target ramped at 0.1/step (code) or a step (paper)",
                        choices=("ramp", "step"))
    rmsprop_eps: str = param("inside", doc="RMSprop's ε inside the square root (Keras ≥ 2.11, "
                             "which the authors' tf.keras.optimizers.RMSprop most likely was) or "
                             "outside it (torch, TF ≤ 2.10, Keras legacy), both networks",
                             choices=RMSPROP_EPS, added=True, legacy="outside")
    critic_double_bias: bool = param(True, doc="the statistics network's first layer with a "
                                     "bias on both Dense layers, as in the authors' code (the "
                                     "same function; under RMSprop the bias sum moves about "
                                     "twice as fast), or one bias (a plain MLP)",
                                     added=True, legacy=False)
    critic_act: str = param("relu", doc="the statistics network's hidden activation: ReLU (the "
                            "authors' code) or leaky ReLU with slope 0.25 (no unit can go "
                            "silent: a test of the fade's mechanism, not in the paper)",
                            choices=("relu", "leaky_relu_0.25"), added=True)
    snapshot_every: int = param(25, doc="epochs between snapshots", low=1)
    eval_batch: int = param(20, doc="sequences per snapshot evaluation", low=1)
    audit_steps: int = param(2000, doc="post-hoc audit: fresh-critic training steps", low=0)
    audit_batch: int = param(20, doc="post-hoc audit: sequences in each of the train and "
                                     "held-out pools", low=1)
    audit_width: int = param(512, doc="post-hoc audit: fresh critic's width", low=1)

    def layout(self) -> Layout:
        """Conditions, trials per condition and seeds of this config."""
        return Layout(tuple(self.conditions), self.trials, self.seed)

    def check(self) -> None:
        if self.n % 2:
            raise ConfigError(f"parameter 'n': got {self.n}; allowed: an even integer")
        check_merge(self)
        if len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(f"parameter 'conditions': got {self.conditions!r}; allowed: distinct")


PROFILES = {
    "paper": {},
    # the paper's 20 trials per condition × 1000 epochs, the statistics network reduced (64 wide,
    # trained on 2 sequences per SM step, all their 4000 samples; the MM step's MI term on 4096
    # random samples of its batch's 40 000); RMSprop's ε inside √ (the default)
    "book": {"trials": 20, "epochs": 1000, "sm_width": 64, "sm_batch": 2, "sm_samples": 4096,
             "snapshot_every": 25, "audit_steps": 300, "audit_batch": 2, "audit_width": 64},
    "smoke": {"trials": 2, "epochs": 4, "batch": 4, "transient": 50, "steps": 100,
              "sm_width": 16, "sm_samples": 256, "pre_steps": 2, "sm_per_mm": 2,
              "snapshot_every": 2, "eval_batch": 4, "n": 8, "audit_steps": 3, "audit_batch": 2,
              "audit_width": 16},
}

#: On CUDA the ``paper`` profile runs the exact speed options (CUDA-graph replay, bit-identical;
#: hand-written BPTT and the merged MM pass, equal up to rounding) with fp32 matmuls: the authors'
#: ``wm/run_multiple_trial.py`` sets ``NVIDIA_TF32_OVERRIDE=0``, so their working-memory runs used
#: fp32 on their GPU. ``--set sm_precision=tf32`` is the measured option, never the default.
CUDA_PROFILES = {
    "paper": {"fused_bptt": True, "merge_mm_pass": True, "graph_sm_pass": True},
}


class WMProblem:
    """The flip-flop task for a batch of leaky RNNs (the adversarial trainer's *problem*)."""

    def __init__(self, cfg: WMConfig, seeds: list[int], device: str,
                 l2: Sequence[float] | None = None,
                 terms: Sequence[Callable[["WMProblem"], LossTerm]] = ()):
        """``l2``: each trial's L2 weight (default ``cfg.l2`` for all); ``terms``: factories of
        the extra loss terms (:class:`~mifd.adversarial.LossTerm`), each called with the
        problem."""
        self.cfg, self.device = cfg, torch.device(device)
        self.spec = LeakySpec(n=cfg.n, alpha=cfg.alpha, sigma=cfg.sigma, noise=cfg.noise)
        self.task = FlipFlopSpec(target=cfg.target)
        init = [torch.Generator().manual_seed(s) for s in seeds]
        self.model = LeakyRNN(init, self.spec, fused_bptt=cfg.fused_bptt).to(self.device)
        self.gens = generators("wm.task", seeds, self.device)
        self.lambda_l2 = cfg.l2 if l2 is None else torch.tensor(list(l2), device=self.device)
        self.terms = make_terms(self, terms)

    @property
    def T(self) -> int:
        return len(self.gens)

    def _randn(self, *shape: int, gens=None) -> torch.Tensor:
        return torch.stack([torch.randn(*shape, generator=g, device=self.device)
                            for g in (gens or self.gens)])

    def sample(self, kind: str, n_batches: int = 1, gens=None, batch: int | None = None) -> dict:
        """Fresh sequences (inputs, targets, noise, initial states) for every trial.

        Initial states as the authors': N(0, 1) for MM steps and SM pre-training, 0 for the SM
        steps of the main loop. Targets only for ``kind="mm"`` (``None`` otherwise: the SM steps
        do not read them; the random draws are the same)."""
        cfg, gens = self.cfg, gens or self.gens
        if batch is None:
            batch = cfg.sm_batch if (kind != "mm" and cfg.sm_batch) else cfg.batch
        B = batch * n_batches
        L = cfg.transient + cfg.steps
        x, target = generate(gens, B, L, self.task, self.device, targets=kind == "mm")
        noise = self._randn(B, L, cfg.n, gens=gens) if cfg.sigma > 0 else None
        h0 = (torch.zeros(self.T, B, cfg.n, device=self.device) if kind == "sm"
              else self._randn(B, cfg.n, gens=gens))
        return {"x": x, "target": target, "noise": noise, "h0": h0}

    def run(self, data: dict, grad: bool, states: dict | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The groups' activities ``r = tanh(h)`` after the transient, and the outputs ``{"H",
        "Y", "h_start"}`` (``h_start``: the state after the transient). ``states``: the outputs
        of an earlier run of the same data with the same weights, reused (``fused_bptt``)."""
        cfg = self.cfg
        tr = cfg.transient
        x, noise, h = data["x"], data["noise"], data["h0"]
        if states is not None:
            h = states["h_start"]
        elif tr > 0:
            with torch.no_grad():
                H_tr, _ = self.model(x[:, :, :tr], h, None if noise is None else noise[:, :, :tr])
            h = H_tr[:, :, -1]
        with torch.set_grad_enabled(grad):
            H, Y = self.model(x[:, :, tr:], h, None if noise is None else noise[:, :, tr:],
                              states=None if states is None else states["H"])
            r = torch.tanh(H)
            half = cfg.n // 2
            T = r.shape[0]
            g1 = r[..., :half].reshape(T, -1, half)
            g2 = r[..., half:].reshape(T, -1, cfg.n - half)
        if grad:
            observe_terms(self.terms, g1, g2)
        return g1, g2, {"H": H, "Y": Y, "h_start": h}

    def task_loss(self, out: dict, data: dict) -> torch.Tensor:
        tgt = data["target"][:, :, self.cfg.transient:]
        return ((out["Y"] - tgt) ** 2).mean(dim=(1, 2, 3))

    def reg_loss(self) -> torch.Tensor:
        """The L2 term plus the extra loss terms."""
        return add_terms(self.lambda_l2 * sum(w.pow(2).sum(dim=(1, 2))
                                              for w in self.model.weights()), self.terms)


def evaluate(problem: WMProblem, gens, full: bool = False) -> dict[str, np.ndarray]:
    """Snapshot metrics on a fresh batch with transient (as the authors do), per trial."""
    cfg = problem.cfg
    data = problem.sample("mm", 1, gens=gens, batch=cfg.eval_batch)
    with torch.no_grad():
        _, _, out = problem.run(data, grad=False)
    T = problem.T
    H = out["H"].reshape(T, -1, cfg.n).cpu()
    tgt_seq = data["target"][:, :, cfg.transient:]
    tgt = tgt_seq.reshape(T, -1, 2).cpu()
    m = problem.model
    res = {"Q_cor": metrics.q_cor(H), "D_cor": metrics.d_cor(H, tgt),
           "Q_str": metrics.q_str(m.W_rec.detach()), "D_in": metrics.d_in(m.W_in.detach()),
           "D_out": metrics.d_out(m.W_out.detach()),
           "accuracy": metrics.accuracy(out["Y"], tgt_seq), "mse": metrics.mse(out["Y"], tgt_seq)}
    if full:
        res["abs_corr"] = metrics.abs_corr(H).astype(np.float32)
        res["unit_target_corr"] = metrics.unit_signal_corr(H, tgt).astype(np.float32)
        win = slice(0, min(cfg.steps, 2000))
        res["example"] = {"x": data["x"][:, 0, cfg.transient:][:, win].cpu().numpy(),
                          "target": tgt_seq[:, 0, win].cpu().numpy(),
                          "y": out["Y"][:, 0, win].cpu().numpy(),
                          "rate": torch.tanh(out["H"][:, 0, win]).cpu().numpy()}
        res["group_rate_sd"] = torch.tanh(out["H"]).reshape(T, -1, cfg.n).std(1).cpu().numpy()
    return res


class WMTrainUnit(Unit):
    """All conditions × trials in one batched program; step 0 = SM pre-training."""

    name = "train"

    def __init__(self, cfg: WMConfig, device: str, lambda_mi: Sequence[float] | None = None,
                 problem_cls: Callable[..., WMProblem] = WMProblem,
                 trainer_cls: Callable[..., AdversarialTrainer] = AdversarialTrainer):
        """The conditions as data: ``lambda_mi``, λ_I of every trial in batch order (default:
        ``cfg.lambda_mi`` in the ``mi`` trials, 0 in the others); ``problem_cls`` and
        ``trainer_cls``, called with :class:`WMProblem`'s and :class:`AdversarialTrainer`'s
        arguments (a variant's subclass with its per-trial settings bound, e.g. by
        ``functools.partial``). Trials, seeds and conditions: ``cfg.layout()``."""
        self.cfg = cfg
        self.n_steps = 1 + cfg.epochs
        seeds = cfg.layout().seeds()
        if lambda_mi is None:
            lambda_mi = [cfg.lambda_mi if CONDITIONS[c] else 0.0
                         for c in cfg.conditions for _ in range(cfg.trials)]
        self.problem = problem_cls(cfg, seeds, device)
        T = len(seeds)
        half = cfg.n // 2
        self.critic = make_critic("joint", seeds_of("wm.critic", seeds), half, cfg.n - half,
                                  (cfg.sm_width, cfg.sm_width), act=cfg.critic_act,
                                  double_bias=cfg.critic_double_bias).to(device)
        settings = AdversarialSettings.from_config(cfg)
        sm_gens = generators("wm.sm", seeds, device)
        self.trainer = trainer_cls(
            self.problem, self.critic,
            rmsprop_keras(self.problem.model.parameters(), cfg.mm_lr, cfg.rmsprop_eps),
            rmsprop_keras(self.critic.parameters(), cfg.sm_lr, cfg.rmsprop_eps),
            torch.tensor(list(lambda_mi), device=device), sm_gens, settings)
        self.eval_gens = generators("wm.eval", seeds, device)
        E = cfg.epochs
        self.hist = {k: np.full((E, T), np.nan, dtype=np.float32)
                     for k in ("task", "reg", "mi", "sm_mi", "accuracy")}
        self.pre_mi = np.full(T, np.nan, dtype=np.float32)
        self.snap_epochs: list[int] = []
        self.snaps: list[dict] = []
        self.weights: list[dict] = []

    def _snapshot(self, epoch: int) -> None:
        self.snap_epochs.append(epoch)
        self.snaps.append(evaluate(self.problem, self.eval_gens))
        m = self.problem.model
        self.weights.append({k: getattr(m, k).detach().cpu().numpy().astype(np.float32)
                             for k in ("W_rec", "W_in", "W_out", "b", "b_out")})

    def step(self, i: int) -> None:
        tr = self.trainer
        if i == 0:
            if self.cfg.pre_steps:
                self.pre_mi = tr.sm_steps(self.cfg.pre_steps, "sm_pre").cpu().numpy()
            self._snapshot(0)
            return
        sm = self.sm_epoch()
        out = tr.mm_step()
        self._keep(i, sm, out)

    def sm_epoch(self) -> torch.Tensor:
        """The ``sm_per_mm`` SM steps before an epoch's MM step (their mean DV per trial); a
        variant may time or wrap them by overriding this hook."""
        return self.trainer.sm_steps(self.cfg.sm_per_mm, "sm", before_mm=True)

    def _keep(self, i: int, sm: torch.Tensor, out: dict) -> None:
        """Keep epoch ``i``'s histories (the SM steps' estimate ``sm``, the MM step's ``out``)
        and, when due, a snapshot."""
        e = i - 1
        tgt = out["data"]["target"][:, :, self.cfg.transient:]
        self.hist["task"][e] = out["task"].cpu().numpy()
        self.hist["reg"][e] = out["reg"].cpu().numpy()
        self.hist["mi"][e] = out["mi"].cpu().numpy()
        self.hist["sm_mi"][e] = sm.cpu().numpy()
        self.hist["accuracy"][e] = metrics.accuracy(out["out"]["Y"], tgt)
        if i % self.cfg.snapshot_every == 0 or i == self.cfg.epochs:
            self._snapshot(i)

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "eval_gens": generator_states(self.eval_gens),
                "hist": self.hist, "pre_mi": self.pre_mi, "snap_epochs": self.snap_epochs,
                "snaps": self.snaps, "weights": self.weights}

    def load_state_dict(self, s: dict) -> None:
        self.trainer.load_state_dict(s["trainer"])
        set_generator_states(self.eval_gens, s["eval_gens"])
        self.hist, self.pre_mi = s["hist"], s["pre_mi"]
        self.snap_epochs, self.snaps, self.weights = s["snap_epochs"], s["snaps"], s["weights"]

    def result(self) -> dict:
        final = evaluate(self.problem, self.eval_gens, full=True)
        snaps = {k: np.stack([s[k] for s in self.snaps]) for k in self.snaps[0]}
        weights = {k: np.stack([w[k] for w in self.weights]) for k in self.weights[0]}
        return {"hist": self.hist, "pre_mi": self.pre_mi, "snap_epochs": np.array(self.snap_epochs),
                "snaps": snaps, "weights": weights, "final": final,
                "conditions": list(self.cfg.layout().conditions)}


class AuditUnit(Unit):
    """Post-hoc audit of the trained networks: a *fresh* critic (the paper's architecture, no
    input noise) is trained full-batch on the rates of ``audit_batch`` new sequences and
    evaluated on another ``audit_batch`` held-out ones; the Gaussian and copula references are
    computed on the held-out rates. Does minimization remove dependence, or fool one critic?"""

    name = "audit"

    def __init__(self, cfg: WMConfig, trained: dict, device: str):
        self.cfg, self.device = cfg, device
        self.n_steps = cfg.audit_steps
        seeds = cfg.layout().seeds()
        self.problem = WMProblem(cfg, seeds, device)
        w = trained["weights"]
        with torch.no_grad():
            for k in ("W_rec", "W_in", "W_out", "b", "b_out"):
                getattr(self.problem.model, k).copy_(torch.as_tensor(w[k][-1]))
        gens = generators("wm.audit_data", seeds, device)
        half = cfg.n // 2
        self.pools = []
        for _ in range(2):  # train pool, held-out pool
            data = self.problem.sample("mm", 1, gens=gens, batch=cfg.audit_batch)
            with torch.no_grad():
                x, y, _ = self.problem.run(data, grad=False)
            self.pools.append((x, y))
        self.critic = make_critic("joint", seeds_of("wm.audit_critic", seeds), half, cfg.n - half,
                          (cfg.audit_width, cfg.audit_width)).to(device)
        self.opt = rmsprop_keras(self.critic.parameters(), cfg.sm_lr)
        self.gens = gens
        self.train_dv = np.full((self.n_steps, len(seeds)), np.nan, dtype=np.float32)

    def _precision(self):
        """The audit critic's matmuls: TF32 when the run's statistics network used TF32, else
        fp32 (a bf16 run is audited in fp32)."""
        return critic_precision("tf32" if self.cfg.sm_precision == "tf32" else "fp32",
                                torch.device(self.device).type)

    def step(self, i: int) -> None:
        x, y = self.pools[0]
        with self._precision():
            v = dv_step(self.critic, self.opt, x, y, self.gens, self.cfg.sm_clip)
        self.train_dv[i] = v.cpu().numpy()

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), "opt": self.opt.state_dict(),
                "gens": generator_states(self.gens), "train_dv": self.train_dv}

    def load_state_dict(self, s: dict) -> None:
        self.critic.load_state_dict(s["critic"])
        self.opt.load_state_dict(s["opt"])
        set_generator_states(self.gens, s["gens"])
        self.train_dv = s["train_dv"]

    def result(self) -> dict:
        x, y = self.pools[1]
        with torch.no_grad(), self._precision():
            held = dv_estimate(self.critic, x, y, self.gens).cpu().numpy()
        xs, ys = x.cpu(), y.cpu()
        T = xs.shape[0]
        return {"held_out_dv": held, "train_dv": self.train_dv,
                "gaussian": np.array([gaussian_mi_estimate(xs[t], ys[t]) for t in range(T)]),
                "copula": np.array([copula_mi_estimate(xs[t], ys[t]) for t in range(T)])}


def train(cfg: WMConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    units = [("train", 1 + cfg.epochs, lambda done: WMTrainUnit(cfg, device))]
    if cfg.audit_steps:
        units.append(("audit", cfg.audit_steps,
                      lambda done: AuditUnit(cfg, done["train"], device)))
    done = run_units(units, ckpt, progress, desc="wm")
    res = dict(done["train"])
    if "audit" in done:
        res["audit"] = done["audit"]
    final, hist = res["final"], res["hist"]
    tail = max(1, min(10, cfg.epochs))
    per_trial = {
        "accuracy": hist["accuracy"][-1], "mse": hist["task"][-1],
        "mi_final": hist["mi"][-tail:].mean(0),
        "eval_accuracy": final["accuracy"], "eval_mse": final["mse"],
        **{k: final[k] for k in ("D_cor", "Q_cor", "Q_str", "D_in", "D_out")}}
    per_trial["success_rate"] = (per_trial["accuracy"] > 0.9).astype(float)
    if "audit" in res:
        a = res["audit"]
        per_trial.update({"audit_dv": a["held_out_dv"], "audit_gaussian": a["gaussian"],
                          "audit_copula": a["copula"]})
    trials = cfg.layout().by_condition(per_trial)
    return {**res, "trials": trials}


def memory(cfg: WMConfig) -> int:
    """A lower bound of the bytes a run needs (float32): the histories (5 series per epoch and
    trial), the RNN's states and rates over one segment for the backward pass, and the
    statistics network's first-layer activations on one SM batch."""
    T = len(cfg.conditions) * cfg.trials
    samples = cfg.sm_samples or (cfg.sm_batch or cfg.batch) * cfg.steps
    return 4 * (5 * cfg.epochs * T + 2 * T * cfg.batch * cfg.steps * cfg.n
                + 2 * T * samples * cfg.sm_width)


#: per result path prefix, the trial axis (:attr:`~mifd.experiments.base.Experiment.trial_axes`)
TRIAL_AXES = {"hist": -1, "snaps": -1, "weights": 1, "final": 0, "pre_mi": 0}

EXPERIMENT = Experiment(
    "wm", WMConfig, PROFILES, train, __doc__ or "", CUDA_PROFILES, memory, unit=WMTrainUnit,
    trial_axes={**TRIAL_AXES, "audit": 0, "audit.train_dv": -1},
    # no pre-training, snapshots or audit inside the timed epochs
    bench_overrides={"pre_steps": 0, "audit_steps": 0, "snapshot_every": 10 ** 6,
                     "conditions": ("mi",)},
    session_profile="paper")
