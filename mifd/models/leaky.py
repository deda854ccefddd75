"""The leaky-integrator RNN of the working-memory experiment (paper Eqs. 1–2), T trials at once.

    h_t = (1 − α) h_{t−1} + α (W_rec r_{t−1} + W_in x_t + b) + ξ_t,   r_t = tanh(h_t)
    y_t = W_out r_t + b_out

with ξ_t ~ N(0, σ²) per unit and step added **outside** α (the authors' code; ``noise="outside"``)
or inside the parentheses as in the paper's Eq. 1 (``noise="inside"``, i.e. scaled by α).
Row-vector convention: weights are stored as ``(T, in, out)`` so that ``r @ W_rec`` maps the
presynaptic unit (row) to the postsynaptic one (column). The paper's ``W^rec_ij`` (post i, pre j)
is ``W_rec[t].T``.

Initialization as the authors': W_rec ~ N(0, g²/N) (g = 1), W_in and W_out Glorot-uniform,
biases zero. Each trial is initialized from its own generator.

With ``fused_bptt`` the gradient is computed by hand-written BPTT (:mod:`mifd.accel.bptt`;
same states, gradients equal up to rounding) instead of autograd over every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..nn import _init_weight
from ..accel.bptt import check_states, leaky_scan, leaky_states, leaky_step


@dataclass(frozen=True)
class LeakySpec:
    n: int = 40
    n_in: int = 4
    n_out: int = 2
    alpha: float = 0.1
    sigma: float = 0.1
    noise: str = "outside"  # "outside" (authors' code) | "inside" (paper Eq. 1)
    gain: float = 1.0


class LeakyRNN(nn.Module):
    """T independent leaky-integrator RNNs."""

    def __init__(self, gens: Sequence[torch.Generator], spec: LeakySpec = LeakySpec(),
                 fused_bptt: bool = False):
        super().__init__()
        self.fused_bptt = fused_bptt
        if spec.noise not in ("outside", "inside"):
            raise ValueError(f"parameter 'noise': got {spec.noise!r}; allowed: 'outside', 'inside'")
        self.spec = spec
        n = spec.n
        self.W_rec = nn.Parameter(torch.stack(
            [torch.randn(n, n, generator=g) * (spec.gain / math.sqrt(n)) for g in gens]))
        self.W_in = nn.Parameter(torch.stack([_init_weight(g, spec.n_in, n, "glorot") for g in gens]))
        self.W_out = nn.Parameter(torch.stack([_init_weight(g, n, spec.n_out, "glorot") for g in gens]))
        T = len(gens)
        self.b = nn.Parameter(torch.zeros(T, 1, n))
        self.b_out = nn.Parameter(torch.zeros(T, 1, spec.n_out))

    @property
    def trials(self) -> int:
        return self.W_rec.shape[0]

    def weights(self) -> list[torch.Tensor]:
        """The L2-penalized kernels (biases are not penalized)."""
        return [self.W_rec, self.W_in, self.W_out]

    def forward(self, x: torch.Tensor, h0: torch.Tensor, noise: torch.Tensor | None = None,
                states: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``x`` ``(T, B, L, n_in)`` from ``h0`` ``(T, B, N)``.

        ``noise`` ``(T, B, L, N)`` holds standard normals (scaled by σ here), or ``None`` for a
        noiseless run. Returns the states ``h`` ``(T, B, L, N)`` (pre-activation) and the outputs
        ``y`` ``(T, B, L, n_out)``. ``states``: the states of this very run, computed earlier
        without a graph; with ``fused_bptt`` they are reused instead of run again (the MM step
        of ``merge_mm_pass``).
        """
        check_states(states, self.fused_bptt)
        T, B, L, _ = x.shape
        a = self.spec.alpha
        # input projections of all steps at once: (T, B*L, in) @ (T, in, N)
        u = torch.baddbmm(self.b, x.reshape(T, B * L, -1), self.W_in).view(T, B, L, -1)
        if noise is not None:
            # the noise enters after the leak; fold it into the per-step drive
            scale = self.spec.sigma * (1.0 if self.spec.noise == "inside" else 1.0 / a)
            u = u + noise * scale
        if not torch.is_grad_enabled():
            H = leaky_states(u, h0, self.W_rec, a) if states is None else states
        elif self.fused_bptt:
            H = leaky_scan(u, h0, self.W_rec, a, states)
        else:
            # unbind once: indexing u[:, :, t] inside the loop has a backward quadratic in L
            steps = u.unbind(dim=2)
            h = h0
            hs = []
            for t in range(L):
                h = leaky_step(h, steps[t], self.W_rec, a)
                hs.append(h)
            H = torch.stack(hs, dim=2)
        y = torch.baddbmm(self.b_out, torch.tanh(H).reshape(T, B * L, -1), self.W_out)
        return H, y.view(T, B, L, -1)
