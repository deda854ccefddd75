"""``separation``: separating a Lorenz + Rössler mixture with a GRU (paper Figs. 10–16;
reference-facts §2–§4).

A GRU of N = 100 units (groups 0..49 and 50..99) receives the 3-D sum of a scaled Lorenz and a
scaled Rössler trajectory and must output both (6-D). Conditions: ``mi_l2`` (λ_I = 0.005 with
L2), ``no_mi`` (λ_I = 0 with L2), ``mi_no_l2`` (λ_I = 0.005, no L2), plus ``sweep_l2`` values
that add MI conditions ``mi_l2=<value>`` — the authors' code does not settle which L2 weight
gave the paper's rows. All conditions and trials train in one batched program.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .. import metrics
from ..adversarial import AdversarialSettings, CriticOptions, AdversarialTrainer, check_merge
from ..adversarial import LossTerm, add_terms, make_terms, observe_terms
from ..config import ConfigError, param
from ..mine import make_critic
from ..models.gru import KERNELS, GRUSpec, TrialGRU
from ..streams import generators, seeds as seeds_of
from .base import Checkpointer, Experiment, Layout, Unit, run_units
from ..tasks.chaos import ChaosDataset, ChaosSpec, mix

BASE_CONDITIONS = ("mi_l2", "no_mi", "mi_no_l2")


@dataclass(frozen=True)
class SeparationConfig(CriticOptions):
    conditions: tuple[str, ...] = param(BASE_CONDITIONS, doc="conditions", choices=BASE_CONDITIONS)
    sweep_l2: tuple[float, ...] = param((), doc="extra MI conditions with these L2 weights",
                                        low=0.0)
    trials: int = param(20, doc="trials per condition", low=1, high=1000)
    seed: int = param(625, doc="seed of trial 0 (the authors used 625..644)", low=0)
    n: int = param(100, doc="GRU units (two equal groups)", low=2, high=4096)
    cell: str = param("keras", doc="GRU form: Keras reset-after with biases (code) or Eq. 3",
                      choices=("keras", "paper"))
    batch: int = param(50, doc="sequences per minibatch", low=1)
    length: int = param(10000, doc="steps per sequence (after dropping 4000)", low=2, high=10000)
    loss_from: int = param(200, doc="first step of the task loss", low=0)
    mm_steps: int = param(4000, doc="GRU (MM) steps", low=1)
    lambda_mi: float = param(0.005, doc="λ_I in the MI conditions", low=0.0)
    l2: float = param(1e-5, doc="L2 weight (Keras c·Σw²) of the L2 conditions", low=0.0)
    mm_lr: float = param(1e-3, doc="GRU Adam learning rate", low=1e-7, high=1.0)
    sm_lr: float = param(1e-2, doc="statistics-network Adam learning rate", low=1e-7, high=1.0)
    gru_kernel: str = param("torch", doc="the GRU's time loop: torch (the reference), triton "
                            "(the whole loop in one kernel launch, forward and backward; CUDA, "
                            "equal up to rounding) or triton_tf32 (its products on TF32 tensor "
                            "cores)", choices=KERNELS, added=True)
    adam_eps: float = param(1e-8, doc="Adam's ε of both networks (torch 1e-8; Keras, the "
                            "authors' code: 1e-7)", low=1e-12, high=1e-3, added=True)
    critic_double_bias: bool = param(False, doc="the statistics network's first layer with a "
                                     "bias on both Dense layers, as in the authors' code (the "
                                     "same function; the bias sum moves about twice as fast)",
                                     added=True)
    sm_clip_value: float = param(1.0, doc="statistics-network gradient clip-value", low=0.0)
    sm_width: int = param(100, doc="statistics-network width", low=1)
    sm_batch: int = param(0, doc="sequences per SM step (0: same as batch)", low=0)
    sm_samples: int = param(0, doc="samples per SM estimate (0: all batch × steps)", low=0)
    sm_noise: float = param(0.05, doc="noise s.d. on the statistics network's inputs", low=0.0)
    sm_per_mm: int = param(20, doc="SM steps per MM step", low=1)
    pre_steps: int = param(100, doc="SM steps before the first MM step", low=0)
    eval_every: int = param(20, doc="MM steps between evaluations (one 'epoch')", low=1)
    n_train: int = param(10000, doc="training pool (pairs, drawn with replacement)", low=1)
    n_test: int = param(50, doc="held-out test pairs", low=2)
    data_seed: int = param(0, doc="dataset seed", low=0)
    eval_chunk: int = param(10, doc="test sequences evaluated at once (memory)", low=1)
    time_chunk: int = param(1000, doc="GRU steps per chunk: input projections per chunk and, "
                            "with bptt_checkpoint, the unit of recomputation (0: whole sequence; "
                            "memory)", low=0)
    bptt_checkpoint: bool = param(False, doc="recompute each chunk's GRU activations in the "
                                  "backward pass instead of storing them (exact; memory)")
    sm_pass_group: int = param(0, doc="GRU passes of the SM steps run together (0: all "
                               "sm_per_mm; memory)", low=0)
    dcor_window: str = param("loss", doc="steps whose states and outputs D_cor correlates: the "
                             "loss window, from loss_from on (authors' code), or all",
                             choices=("loss", "all"), added=True)
    nmi_matrix: str = param("signed_mean", doc="NMI's input matrix: the absolute value of the "
                            "signed correlations averaged over sequences (authors' code), or the "
                            "average of their absolute values", choices=("signed_mean",
                                                                         "abs_mean"), added=True)
    sm_states: str = param("fp32", doc="dtype the GRU states of the statistics network's passes "
                           "are stored in: fp32, or bf16 (half the memory and bytes written, "
                           "each state rounded once; the recurrence stays fp32; not exact; not "
                           "with merge_mm_pass, whose MM step reuses those states)",
                           choices=("fp32", "bf16"), added=True)
    fused_bptt: bool = param(False, doc="hand-written BPTT through the GRU instead of autograd "
                             "over every step (gradients equal up to rounding; "
                             "keeps only the states, so bptt_checkpoint has no effect with it)",
                             added=True)

    def check(self) -> None:
        if self.n % 2:
            raise ConfigError(f"parameter 'n': got {self.n}; allowed: an even integer")
        check_merge(self)
        if self.sm_states != "fp32" and self.merge_mm_pass:
            raise ConfigError(f"parameter 'sm_states': got {self.sm_states!r} with merge_mm_pass;"
                              " allowed there: 'fp32' (the merged pass's states feed the MM "
                              "step's task loss and gradient)")
        if self.loss_from >= self.length:
            raise ConfigError(f"parameter 'loss_from': got {self.loss_from}; allowed: an integer"
                              f" < length ({self.length})")

    def layout(self) -> Layout:
        """Conditions (the sweep's included), trials per condition and seeds of this config."""
        return Layout(tuple(c for c, _, _ in self.all_conditions()), self.trials, self.seed)

    def all_conditions(self) -> list[tuple[str, float, float]]:
        """(name, λ_I, L2 weight) of every condition, in trial-block order."""
        out = []
        for c in self.conditions:
            out.append((c, 0.0 if c == "no_mi" else self.lambda_mi,
                        0.0 if c == "mi_no_l2" else self.l2))
        for v in self.sweep_l2:
            out.append((f"mi_l2={v:g}", self.lambda_mi, float(v)))
        return out


PROFILES = {
    "paper": {},
    # the paper's 4000 MM steps with 5 trials per condition and one L2 sweep value, at sizes
    # two CPU cores train in about two hours (two processes, one per core, split by condition)
    "book": {"trials": 5, "length": 200, "loss_from": 50, "batch": 16, "mm_steps": 4000,
             "sm_per_mm": 4, "sm_batch": 8, "sm_samples": 2048, "eval_every": 40,
             "n_train": 200, "n_test": 10, "pre_steps": 50, "sweep_l2": (1e-3,)},
    # one GPU call (≤ 9 min): the published N, batch, critic, conditions and trials; a pool of
    # 1000 sequences; sequences and MM steps shortened to what a session measures to fit
    # (mifd.gpu.plan.SESSION_PLANS chooses length, mm_steps and eval_every; these are its
    # starting values); on CUDA the Triton GRU and TF32 critic matmuls (CUDA_PROFILES)
    "gpu": {"n_train": 1000, "length": 1000, "mm_steps": 1000, "eval_every": 50,
            "fused_bptt": True},
    "smoke": {"trials": 1, "n": 8, "length": 60, "loss_from": 10, "batch": 3, "mm_steps": 4,
              "sm_per_mm": 2, "pre_steps": 2, "eval_every": 2, "n_train": 4, "n_test": 2,
              "sm_width": 8, "sm_samples": 64},
}


#: per profile, the settings it takes on a CUDA device
CUDA_PROFILES = {"gpu": {"gru_kernel": "triton", "sm_precision": "tf32"}}


def dataset(cfg: SeparationConfig) -> ChaosDataset:
    return ChaosDataset(cfg.n_train, cfg.n_test, cfg.data_seed, ChaosSpec(length=cfg.length))


class SeparationProblem:
    def __init__(self, cfg: SeparationConfig, seeds: list[int], l2: torch.Tensor,
                 data: dict[str, np.ndarray], device: str,
                 terms: Sequence[Callable[["SeparationProblem"], LossTerm]] = ()):
        """``l2``: each trial's L2 weight; ``terms``: factories of the extra loss terms
        (:class:`~mifd.adversarial.LossTerm`), each called with the problem."""
        self.cfg, self.device = cfg, torch.device(device)
        self.model = TrialGRU([torch.Generator().manual_seed(s) for s in seeds],
                              GRUSpec(n=cfg.n, cell=cfg.cell), time_chunk=cfg.time_chunk,
                              checkpoint=cfg.bptt_checkpoint,
                              fused_bptt=cfg.fused_bptt,
                              kernel=cfg.gru_kernel).to(self.device)
        self.pool = torch.as_tensor(data["train"], device=self.device)
        self.test = torch.as_tensor(data["test"], device=self.device)
        self.gens = generators("separation.data", seeds, self.device)
        self.l2 = l2
        self.sm_dtype = torch.bfloat16 if cfg.sm_states == "bf16" else torch.float32
        self.terms = make_terms(self, terms)

    @property
    def T(self) -> int:
        return len(self.gens)

    def sample(self, kind: str, n_batches: int = 1) -> dict:
        cfg = self.cfg
        b = cfg.sm_batch if (kind != "mm" and cfg.sm_batch) else cfg.batch
        idx = torch.stack([torch.randint(self.pool.shape[0], (b * n_batches,), generator=g,
                                         device=self.device) for g in self.gens])
        x, target = mix(self.pool[idx])
        return {"x": x, "target": target}

    def run(self, data: dict, grad: bool, states: dict | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The two groups' states and the outputs ``{"H", "Y"}``; ``states``: the outputs of an
        earlier run of the same data with the same weights, reused (``fused_bptt``). Without
        gradient the states are stored as ``sm_states`` says, and the groups' activities are
        views of them (bf16 with ``sm_states="bf16"``: the statistics network's step makes each
        batch fp32 when it uses it, :meth:`~mifd.adversarial.AdversarialTrainer.sm_update`)."""
        with torch.set_grad_enabled(grad):
            H, Y = self.model(data["x"], states=None if states is None else states["H"],
                              state_dtype=torch.float32 if grad else self.sm_dtype)
            half = self.cfg.n // 2
            T = H.shape[0]
            x, y = H[..., :half].reshape(T, -1, half), H[..., half:].reshape(T, -1, self.cfg.n - half)
        if grad:
            observe_terms(self.terms, x, y)
        return x, y, {"H": H, "Y": Y}

    def task_loss(self, out: dict, data: dict) -> torch.Tensor:
        s = self.cfg.loss_from
        return ((out["Y"][:, :, s:] - data["target"][:, :, s:]) ** 2).mean(dim=(1, 2, 3))

    def reg_loss(self) -> torch.Tensor:
        """The L2 term plus the extra loss terms."""
        return add_terms(self.l2 * sum(w.pow(2).sum(dim=(1, 2)) for w in self.model.weights()),
                         self.terms)


def evaluate(problem: SeparationProblem, full: bool = False) -> dict[str, np.ndarray]:
    """Metrics on the held-out test sequences, per trial (reference-facts §4)."""
    cfg, m = problem.cfg, problem.model
    T, n = problem.T, cfg.n
    sse = np.zeros((T, 6))
    targets, corr, uo = [], [], []
    start = cfg.loss_from if cfg.dcor_window == "loss" else 0
    ex = None
    with torch.no_grad():
        for chunk in problem.test.split(cfg.eval_chunk):
            x, tgt = mix(chunk.expand(T, *chunk.shape))
            H, Y = m(x)
            sse += ((Y - tgt) ** 2).sum(dim=(1, 2)).cpu().double().numpy()
            targets.append(tgt[0].cpu().double().numpy())
            Hn = H.cpu().numpy()
            corr.append(metrics.corr(Hn))               # (T, b, N, N), signed
            uo.append(metrics.unit_signal_corr(Hn[..., start:, :],
                                               Y.cpu().numpy()[..., start:, :]))  # (T, b, N, 6)
            if ex is None and full:
                ex = {"x": x[0, 0].cpu().numpy(), "target": tgt[0, 0].cpu().numpy(),
                      "y": Y[:, 0].cpu().numpy(), "h": H[:, 0, :, :].cpu().numpy()[:, :, :]}
    tg = np.concatenate(targets).reshape(-1, 6)
    sst = ((tg - tg.mean(0)) ** 2).sum(0)
    r2 = 1 - sse / sst
    S = np.concatenate(corr, axis=1)
    C = np.abs(S).mean(1)                                # |corr| averaged over sequences
    C_nmi = np.abs(S.mean(1)) if cfg.nmi_matrix == "signed_mean" else C
    UO = np.concatenate(uo, axis=1).mean(1)              # (T, N, 6)
    g = metrics.halves(n)
    k = UO.shape[-1] // 2
    U = m.U_h.detach().cpu().numpy()
    res = {"R2": r2.mean(1), "R2_each": r2, "Q_cor": metrics.modularity(C, g),
           "D_cor": metrics.separability(UO[..., :k].mean(-1), UO[..., k:].mean(-1), g),
           "Q_str": metrics.q_str(U), "D_out": metrics.d_out(m.W_out.detach()),
           "NMI": np.array([metrics.nmi(metrics.two_communities(C_nmi[t]), g)
                            for t in range(T)]),
           "NMI_str": np.array([metrics.nmi(metrics.two_communities(metrics.structural_matrix(U[t])), g)
                                for t in range(T)])}
    if full:
        res.update({"abs_corr": C.astype(np.float32), "unit_output_corr": UO.astype(np.float32),
                    "example": ex})
    return res


class SeparationTrainUnit(Unit):
    name = "train"

    def __init__(self, cfg: SeparationConfig, device: str,
                 lambda_mi: Sequence[float] | None = None, l2: Sequence[float] | None = None,
                 problem_cls: Callable[..., SeparationProblem] = SeparationProblem,
                 trainer_cls: Callable[..., AdversarialTrainer] = AdversarialTrainer):
        """The conditions as data: ``lambda_mi`` and ``l2``, λ_I and the L2 weight of every
        trial in batch order (default: those of ``cfg.all_conditions()``); ``problem_cls`` and
        ``trainer_cls``, called with :class:`SeparationProblem`'s and
        :class:`~mifd.adversarial.AdversarialTrainer`'s arguments (a variant's subclass with its
        per-trial settings bound). Trials, seeds and conditions: ``cfg.layout()``."""
        self.cfg = cfg
        seeds = cfg.layout().seeds()
        if lambda_mi is None or l2 is None:
            conds = cfg.all_conditions()
            lambda_mi = [li for _, li, _ in conds for _ in range(cfg.trials)] \
                if lambda_mi is None else lambda_mi
            l2 = [lr for _, _, lr in conds for _ in range(cfg.trials)] if l2 is None else l2
        data = dataset(cfg).load()
        self.problem = problem_cls(cfg, seeds, torch.tensor(list(l2), device=device), data,
                                   device)
        half = cfg.n // 2
        self.critic = make_critic("joint", seeds_of("separation.critic", seeds), half, cfg.n - half,
                                  (cfg.sm_width, cfg.sm_width), act="leaky_relu_0.25",
                                  out_bias=False,
                                  double_bias=cfg.critic_double_bias).to(device)
        # the authors' separation code adds the noise to both groups before the statistics
        # network shuffles y (unlike their working-memory MINE, which shuffles the clean y)
        settings = AdversarialSettings.from_config(cfg, noise_on_shuffled=True, sm_clip=0.0,
                                                   mm_clip=0.0)
        sm_gens = generators("separation.sm", seeds, device)
        self.trainer = trainer_cls(
            self.problem, self.critic,
            torch.optim.Adam(self.problem.model.parameters(), lr=cfg.mm_lr, eps=cfg.adam_eps),
            torch.optim.Adam(self.critic.parameters(), lr=cfg.sm_lr, eps=cfg.adam_eps),
            torch.tensor(list(lambda_mi), device=device), sm_gens, settings)
        E = cfg.mm_steps
        T = len(seeds)
        self.n_steps = 1 + E
        self.hist = {k: np.full((E, T), np.nan, dtype=np.float32) for k in ("task", "reg", "mi", "sm_mi")}
        self.eval_steps: list[int] = []
        self.evals: list[dict] = []
        self.pre_mi = np.full(T, np.nan, dtype=np.float32)

    def _eval(self, step: int) -> None:
        self.eval_steps.append(step)
        self.evals.append(evaluate(self.problem))

    def step(self, i: int) -> None:
        tr = self.trainer
        if i == 0:
            if self.cfg.pre_steps:
                self.pre_mi = tr.sm_steps(self.cfg.pre_steps, "sm").cpu().numpy()
            self._eval(0)
            return
        e = i - 1
        sm = self.sm_epoch()
        out = tr.mm_step()
        for k in ("task", "reg", "mi"):
            self.hist[k][e] = out[k].cpu().numpy()
        self.hist["sm_mi"][e] = sm.cpu().numpy()
        if i % self.cfg.eval_every == 0 or i == self.cfg.mm_steps:
            self._eval(i)

    def sm_epoch(self) -> torch.Tensor:
        """The ``sm_per_mm`` SM steps before an MM step (their mean DV per trial); a variant
        may time or wrap them by overriding this hook."""
        return self.trainer.sm_steps(self.cfg.sm_per_mm, "sm", before_mm=True)

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "hist": self.hist,
                "eval_steps": self.eval_steps, "evals": self.evals, "pre_mi": self.pre_mi}

    def load_state_dict(self, s: dict) -> None:
        self.trainer.load_state_dict(s["trainer"])
        self.hist, self.eval_steps, self.evals = s["hist"], s["eval_steps"], s["evals"]
        self.pre_mi = s["pre_mi"]

    def result(self) -> dict:
        final = evaluate(self.problem, full=True)
        snaps = {k: np.stack([e[k] for e in self.evals]) for k in self.evals[0]}
        m = self.problem.model
        # every parameter (biases included), so a stored network can be run again exactly
        weights = {k: v.detach().cpu().numpy() for k, v in m.named_parameters()}
        return {"hist": self.hist, "pre_mi": self.pre_mi, "snap_epochs": np.array(self.eval_steps),
                "snaps": snaps, "final": final, "weights": weights,
                "conditions": list(self.cfg.layout().conditions)}


def train(cfg: SeparationConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.mm_steps, lambda done: SeparationTrainUnit(cfg, device))],
                     ckpt, progress, desc="separation")
    res = dict(done["train"])
    final = res["final"]
    per_trial = {**{k: final[k] for k in ("R2", "D_cor", "Q_cor", "D_out", "Q_str", "NMI",
                                          "NMI_str")}, "mse": res["hist"]["task"][-1]}
    return {**res, "trials": cfg.layout().by_condition(per_trial)}


def memory(cfg: SeparationConfig) -> int:
    """A lower bound of the bytes a run needs (float32): the dataset (6 channels per step), the
    histories (4 series per MM step and trial), the GRU's states over one batch for the backward
    pass, and the statistics network's first-layer activations on one SM batch."""
    T = len(cfg.all_conditions()) * cfg.trials
    samples = cfg.sm_samples or (cfg.sm_batch or cfg.batch) * cfg.length
    return 4 * (6 * (cfg.n_train + cfg.n_test) * cfg.length + 4 * cfg.mm_steps * T
                + T * cfg.batch * cfg.length * cfg.n + 2 * T * samples * cfg.sm_width)


#: per result path prefix, the trial axis (:attr:`~mifd.experiments.base.Experiment.trial_axes`)
TRIAL_AXES = {"hist": -1, "pre_mi": 0, "snaps": 1, "final": 0, "weights": 0,
              "final.example.x": None, "final.example.target": None}

EXPERIMENT = Experiment(
    "separation", SeparationConfig, PROFILES, train, __doc__ or "", CUDA_PROFILES,
    memory=memory, unit=SeparationTrainUnit, trial_axes=TRIAL_AXES,
    # no pre-training or evaluations inside the timed steps; the data pool and the test set
    # shrunk (their size does not change the cost of a training step)
    bench_overrides={"pre_steps": 0, "eval_every": 10 ** 6, "n_train": 64, "n_test": 2,
                     "eval_chunk": 2, "conditions": ("mi_l2",)},
    # the profile made for one GPU call: the published run takes 34 GPU-hours (≈ 2 h per
    # trial) and cannot be sharded into calls
    session_profile="gpu")
