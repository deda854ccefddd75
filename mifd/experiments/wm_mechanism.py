"""``wm-mechanism``: what RMSprop does to each parameter group while the modules fade.

The working-memory run (``mifd.experiments.wm``), trained exactly as there, with a look at
the optimizers every ``every`` epochs (issue 39, item 6). Per trial and parameter group — the
RNN's recurrent weights within and between the two groups, its input and output weights and
biases, and each layer of the statistics network — it records:

- the median RMSprop denominator's root ``√v`` (``v``: the running mean of squared gradients);
- the share of the group's parameters with ``v < ε`` (ε = 1e-7, Keras' value): where ε inside
  the square root, ``√(v + ε)``, and outside it, ``√v + ε``, differ by more than a factor
  ``(√2 + …)``, i.e. where the two placements take visibly different steps;
- the median size of the step the optimizer took: ``|Δw|`` of that epoch's MM step (RNN) or
  over its SM steps (critic), divided by the learning rate (a dimensionless step, ≈ 1 when
  ``|g| ≈ √v`` with ε negligible).

And per trial, on the rates of that epoch's MM batch (:data:`LOOK_SAMPLES` of its time steps,
evenly spaced), what the statistics network and the dependence do:

- the share of the critic's hidden units that are *silent* — a ReLU unit whose output is zero
  on every one of those samples passes no gradient back, so it has stopped learning (per
  hidden layer: the first, on ``fx(x) + fy(y)``, then each layer of its head);
- the Gaussian-copula MI and the Gaussian MI between the two groups' rates
  (:func:`mifd.mine.copula_mi_estimate`, :func:`mifd.mine.gaussian_mi_estimate`): critic-free
  references over training, beside the critic's own estimate in the histories.

The histories, snapshots and weights are the wm run's own (the same seeds give the same
training: the look draws no random number and changes nothing it computes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import param
from ..mine import copula_mi_estimate, gaussian_mi_estimate
from .base import Checkpointer, Experiment, run_units
from .wm import PROFILES as WM_PROFILES, WMConfig, WMTrainUnit, memory

#: Keras' ε of RMSprop (the authors' value; ``mifd.nn.rmsprop_keras``)
EPS = 1e-7
QUANTITIES = ("sqrt_v", "share_v_below_eps", "step")
#: time steps of the MM batch (evenly spaced) on which the critic's units and the critic-free
#: MI estimates are read at each look
LOOK_SAMPLES = 4096
#: the per-trial quantities of each look besides the per-group ones
WATCHED = ("copula_mi", "gaussian_mi")


def silent_share(critic: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(layers, T)``: per hidden layer of a :class:`~mifd.mine.JointCritic`, the share of its
    units whose activation is zero on every sample of ``x``, ``y`` ``(T, N, d)`` (a silent ReLU
    unit passes no gradient: it has stopped learning; a leaky-ReLU unit is never silent)."""
    with torch.no_grad():
        h = critic.act(critic.fx(x) + critic.fy(y))
        shares = [(h == 0).all(dim=1).float().mean(-1)]
        for layer in critic.head.hidden:
            h = critic.head.act(layer(h))
            shares.append((h == 0).all(dim=1).float().mean(-1))
    return torch.stack(shares)


@dataclass(frozen=True)
class MechanismConfig(WMConfig):
    every: int = param(25, doc="epochs between looks at the optimizers", low=1)


PROFILES = {
    "paper": {"conditions": ("mi",)},
    # four MI trials of the book run's settings (seeds 1001-1004: two of them keep their modules
    # with ε inside √ and lose them with ε outside in the committed book runs), no audit
    "book": {**WM_PROFILES["book"], "conditions": ("mi",), "trials": 4, "audit_steps": 0},
    "smoke": {**WM_PROFILES["smoke"], "conditions": ("mi",), "audit_steps": 0, "every": 2},
}


def rnn_groups(name: str, p: torch.Tensor, half: int) -> dict[str, torch.Tensor]:
    """A boolean mask per named group of one RNN parameter ``(T, in, out)``: the recurrent
    weights split into within-group and between-group blocks."""
    shape = p.shape[1:]
    if name != "W_rec":
        return {name: torch.ones(shape, dtype=torch.bool)}
    idx = torch.arange(shape[0])
    same = (idx[:, None] < half) == (idx[None, :] < half)
    return {"W_rec within": same, "W_rec between": ~same}


class MechanismUnit(WMTrainUnit):
    """``WMTrainUnit`` of ``mifd.experiments.wm`` with a look at its optimizers."""

    def __init__(self, cfg: MechanismConfig, device: str):
        super().__init__(cfg, device)
        self.groups: list[tuple[str, str, torch.Tensor, torch.Tensor]] = []
        half = cfg.n // 2
        for name, p in self.problem.model.named_parameters():
            for g, mask in rnn_groups(name, p, half).items():
                self.groups.append(("rnn", g, p, mask.to(p.device)))
        for name, p in self.critic.named_parameters():
            self.groups.append(("critic", f"critic {name}", p,
                                torch.ones(p.shape[1:], dtype=torch.bool, device=p.device)))
        n_looks = cfg.epochs // cfg.every
        T = len(cfg.layout().seeds())
        self.look = {q: np.full((n_looks, len(self.groups), T), np.nan, dtype=np.float32)
                     for q in QUANTITIES}
        layers = 1 + len(self.critic.head.hidden)
        self.look["critic_silent"] = np.full((n_looks, layers, T), np.nan, dtype=np.float32)
        self.look.update({q: np.full((n_looks, T), np.nan, dtype=np.float32) for q in WATCHED})
        self.look_epochs: list[int] = []

    def _state(self, p: torch.Tensor) -> torch.Tensor | None:
        tr = self.trainer
        for opt in (tr.mm_opt, tr.sm_opt):
            st = opt.state.get(p)
            if st:
                return st["square_avg"]
        return None

    def _record(self, epoch: int, before: list[torch.Tensor]) -> None:
        row = len(self.look_epochs)
        self.look_epochs.append(epoch)
        lr = {"rnn": self.cfg.mm_lr, "critic": self.cfg.sm_lr}
        for j, ((kind, _, p, mask), w0) in enumerate(zip(self.groups, before)):
            v = self._state(p)
            sel = mask.reshape(-1)
            flat = lambda t: t.detach().reshape(t.shape[0], -1)[:, sel].float()  # noqa: E731
            step = (flat(p) - flat(w0)).abs() / lr[kind]
            self.look["step"][row, j] = step.median(1).values.cpu().numpy()
            if v is not None:
                vv = flat(v)
                self.look["sqrt_v"][row, j] = vv.sqrt().median(1).values.cpu().numpy()
                self.look["share_v_below_eps"][row, j] = (vv < EPS).float().mean(1).cpu().numpy()

    def _watch(self, row: int, out: dict) -> None:
        """The critic's silent units and the critic-free MI estimates on the rates of the MM
        step's batch (``out``: :meth:`~mifd.adversarial.AdversarialTrainer.mm_step`'s)."""
        n, half = self.cfg.n, self.cfg.n // 2
        r = torch.tanh(out["out"]["H"].detach())
        r = r.reshape(r.shape[0], -1, n)
        r = r[:, ::max(1, r.shape[1] // LOOK_SAMPLES)][:, :LOOK_SAMPLES]
        x, y = r[..., :half], r[..., half:]
        self.look["critic_silent"][row] = silent_share(self.critic, x, y).cpu().numpy()
        for t in range(r.shape[0]):
            self.look["copula_mi"][row, t] = copula_mi_estimate(x[t], y[t])
            self.look["gaussian_mi"][row, t] = gaussian_mi_estimate(x[t], y[t])

    def step(self, i: int) -> None:
        if i == 0 or i % self.cfg.every:
            return super().step(i)
        # the epoch's SM steps and MM step as in WMTrainUnit.step, with the weights before each
        crit0 = [p.detach().clone() for _, _, p, _ in self.groups]
        tr = self.trainer
        sm = self.sm_epoch()
        rnn0 = [p.detach().clone() for _, _, p, _ in self.groups]
        out = tr.mm_step()
        before = [r if k == "rnn" else c for (k, *_), r, c in zip(self.groups, rnn0, crit0)]
        self._record(i, before)
        self._watch(len(self.look_epochs) - 1, out)
        self._keep(i, sm, out)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "look": self.look, "look_epochs": self.look_epochs}

    def load_state_dict(self, s: dict) -> None:
        super().load_state_dict(s)
        self.look, self.look_epochs = s["look"], list(s["look_epochs"])

    def result(self) -> dict:
        res = super().result()
        n = len(self.look_epochs)
        layers = ["first (fx + fy)"] + [f"head.hidden.{k}"
                                         for k in range(len(self.critic.head.hidden))]
        res["mechanism"] = {"epochs": np.array(self.look_epochs),
                            "groups": [g for _, g, _, _ in self.groups],
                            "critic_layers": layers,
                            **{q: v[:n] for q, v in self.look.items()}}
        return res


def train(cfg: MechanismConfig, device: str, ckpt: Checkpointer, progress: bool) -> dict:
    done = run_units([("train", 1 + cfg.epochs, lambda done: MechanismUnit(cfg, device))],
                     ckpt, progress, desc="wm-mechanism")
    res = dict(done["train"])
    final = res["final"]
    per_trial = {"Q_cor": final["Q_cor"], "D_cor": final["D_cor"], "Q_str": final["Q_str"],
                 "eval_accuracy": final["accuracy"]}
    trials = cfg.layout().by_condition(per_trial)
    return {**res, "trials": trials}


EXPERIMENT = Experiment("wm-mechanism", MechanismConfig, PROFILES, train, __doc__ or "", {},
                        memory)
