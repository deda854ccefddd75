"""Layers with a leading *trial* dimension: T independent networks evaluated in one program.

A :class:`TrialLinear` holds weights of shape ``(T, in, out)``; inputs are ``(T, n, in)``.
Each trial is initialised from its own seed, so a batch of T trials starts exactly where T
separately built networks would, and because every loss used in this package is a sum of
per-trial terms, gradients (and element-wise optimizers such as Adam and RMSprop) never mix
trials.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "elu": torch.nn.functional.elu,
    "leaky_relu_0.25": lambda x: torch.nn.functional.leaky_relu(x, 0.25),
    "leaky_relu_0.2": lambda x: torch.nn.functional.leaky_relu(x, 0.2),
}
INITS = ("glorot", "torch")


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ACTIVATIONS:
        raise ValueError(f"parameter 'activation': got {name!r}; allowed: one of "
                         + ", ".join(repr(a) for a in ACTIVATIONS))
    return ACTIVATIONS[name]


def _init_weight(g: torch.Generator, n_in: int, n_out: int, init: str) -> torch.Tensor:
    if init == "glorot":  # Keras glorot_uniform
        lim = math.sqrt(6.0 / (n_in + n_out))
    elif init == "torch":  # torch.nn.Linear default (kaiming_uniform with a=sqrt(5))
        lim = 1.0 / math.sqrt(n_in)
    else:
        raise ValueError(f"parameter 'init': got {init!r}; allowed: one of {INITS}")
    return (torch.rand(n_in, n_out, generator=g) * 2 - 1) * lim


class TrialLinear(nn.Module):
    """``y[t] = x[t] @ W[t] + b[t]`` for every trial t."""

    def __init__(self, gens: Sequence[torch.Generator], n_in: int, n_out: int,
                 bias: bool = True, init: str = "glorot"):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([_init_weight(g, n_in, n_out, init) for g in gens]))
        if bias:
            if init == "torch":
                lim = 1.0 / math.sqrt(n_in)
                b = torch.stack([(torch.rand(1, n_out, generator=g) * 2 - 1) * lim for g in gens])
            else:
                b = torch.zeros(len(gens), 1, n_out)
            self.bias = nn.Parameter(b)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)


class TrialMLP(nn.Module):
    """A per-trial MLP: Linear → act → … → Linear(out)."""

    def __init__(self, gens: Sequence[torch.Generator], n_in: int, widths: Sequence[int],
                 n_out: int, act: str = "relu", out_bias: bool = True, init: str = "glorot"):
        super().__init__()
        dims = [n_in, *widths]
        self.hidden = nn.ModuleList(TrialLinear(gens, a, b, True, init) for a, b in zip(dims, dims[1:]))
        self.out = TrialLinear(gens, dims[-1], n_out, out_bias, init)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.out(x)


def clip_grad_norm_per_trial(params: Sequence[torch.Tensor], max_norm: float,
                             per_tensor: bool = True) -> None:
    """Clip gradients to norm ``max_norm`` separately for every trial (leading dimension).

    ``per_tensor=True`` is Keras' ``clipnorm`` (each variable's gradient clipped by its own
    norm, what the authors' code uses); ``per_tensor=False`` is ``global_clipnorm`` /
    ``torch.nn.utils.clip_grad_norm_`` (one norm over all variables of a trial).
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    T = grads[0].shape[0]

    def scale_of(sq: torch.Tensor) -> torch.Tensor:
        return torch.clamp(max_norm / (sq.sqrt() + 1e-12), max=1.0)

    if per_tensor:
        for g in grads:
            s = scale_of(g.reshape(T, -1).pow(2).sum(1))
            g.mul_(s.view(T, *([1] * (g.dim() - 1))))
        return
    sq = sum(g.reshape(T, -1).pow(2).sum(1) for g in grads)
    s = scale_of(sq)
    for g in grads:
        g.mul_(s.view(T, *([1] * (g.dim() - 1))))


#: where RMSprop's ε enters: ``"outside"`` the square root, w −= lr·g / (√v + ε) (torch,
#: TensorFlow ≤ 2.10 and Keras' ``legacy.RMSprop``); ``"inside"``, w −= lr·g / √(v + ε)
#: (Keras ≥ 2.11). The authors' repository states no version, so either may have run.
RMSPROP_EPS = ("outside", "inside")


class RMSpropEpsInside(torch.optim.Optimizer):
    """RMSprop as Keras ≥ 2.11 computes it: v ← ρ·v + (1 − ρ)·g², w ← w − lr·g / √(v + ε)."""

    def __init__(self, params, lr: float, rho: float = 0.9, eps: float = 1e-7):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                v = state["square_avg"]
                v.mul_(group["rho"]).addcmul_(p.grad, p.grad, value=1 - group["rho"])
                p.addcdiv_(p.grad, (v + group["eps"]).sqrt_(), value=-group["lr"])
        return loss


def rmsprop_keras(params, lr: float, eps_placement: str = "outside") -> torch.optim.Optimizer:
    """RMSprop with Keras' defaults (ρ = 0.9, ε = 1e-7), as in the authors' code; ε outside the
    square root (default) or inside it (:data:`RMSPROP_EPS`)."""
    if eps_placement == "inside":
        return RMSpropEpsInside(params, lr)
    if eps_placement != "outside":
        raise ValueError(f"parameter 'eps_placement': got {eps_placement!r}; allowed: "
                         + ", ".join(map(repr, RMSPROP_EPS)))
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)


def generator_states(gens: Sequence[torch.Generator]) -> list[torch.Tensor]:
    return [g.get_state() for g in gens]


def set_generator_states(gens: Sequence[torch.Generator], states: Sequence[torch.Tensor]) -> None:
    for g, s in zip(gens, states):
        g.set_state(s)
