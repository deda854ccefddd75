"""The leaky rate RNN of Yang et al. (2019), T trials at once (the network of "Growing Brains").

    h_t = (1 − α) h_{t−1} + α (r_{t−1} W_rec + x_t W_in + b) + √(2α) σ_rec ξ_t,   r_t = f(h_t)
    y_t = sigmoid(r_t W_out + b_out)

with α = dt/τ, f = ReLU (or softplus), ξ_t ~ N(0, 1) per unit and step, h_0 = 0, and sigmoid
outputs for the squared-error loss, as in Yang et al.'s code (its noise ``√(2/α) σ_rec`` inside
the parentheses is the same as ``√(2α) σ_rec`` outside). Row-vector convention and parameter
names as :class:`mifd.models.leaky.LeakyRNN` (``W_in`` ``(T, in, N)``, ``W_rec`` ``(T, N, N)``,
``W_out`` ``(T, N, out)``, ``b`` ``(T, 1, N)``), so :mod:`mifd.bimt` treats it as ``kind="leaky"``.

Initialization (our choices, stated; Growing Brains gives none): ``W_rec`` a random orthogonal
matrix × ``gain`` (Yang et al.'s ``randortho`` option), ``W_in`` ~ N(0, 1/n_in), ``W_out``
Glorot-uniform, biases zero; each trial from its own generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..nn import _init_weight

ACTIVATIONS = ("relu", "softplus")


@dataclass(frozen=True)
class YangSpec:
    n: int = 400
    n_in: int = 85
    n_out: int = 33
    dt: float = 20.0
    tau: float = 100.0
    sigma_rec: float = 0.05
    activation: str = "relu"
    gain: float = 1.0

    @property
    def alpha(self) -> float:
        return self.dt / self.tau


def random_orthogonal(g: torch.Generator, n: int) -> torch.Tensor:
    """A Haar-random orthogonal ``n × n`` matrix (QR of a Gaussian, sign-corrected)."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


class YangRNN(nn.Module):
    """T independent leaky rate RNNs (Yang et al. 2019)."""

    def __init__(self, gens: Sequence[torch.Generator], spec: YangSpec = YangSpec()):
        super().__init__()
        if spec.activation not in ACTIVATIONS:
            raise ValueError(f"parameter 'activation': got {spec.activation!r}; allowed: "
                             + ", ".join(repr(a) for a in ACTIVATIONS))
        if not 0 < spec.alpha <= 1:
            raise ValueError(f"parameter 'dt': got {spec.dt!r} with tau = {spec.tau!r}; allowed: "
                             "0 < dt/tau <= 1")
        self.spec = spec
        n, T = spec.n, len(gens)
        self.W_rec = nn.Parameter(torch.stack([random_orthogonal(g, n) * spec.gain for g in gens]))
        self.W_in = nn.Parameter(torch.stack(
            [torch.randn(spec.n_in, n, generator=g) / math.sqrt(spec.n_in) for g in gens]))
        self.W_out = nn.Parameter(torch.stack([_init_weight(g, n, spec.n_out, "glorot")
                                               for g in gens]))
        self.b = nn.Parameter(torch.zeros(T, 1, n))
        self.b_out = nn.Parameter(torch.zeros(T, 1, spec.n_out))

    def rate(self, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(h) if self.spec.activation == "relu" else nn.functional.softplus(h)

    def weights(self) -> list[torch.Tensor]:
        """The kernels (input, recurrent, output)."""
        return [self.W_in, self.W_rec, self.W_out]

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``x`` ``(T, B, L, n_in)`` from rest. ``noise`` ``(T, B, L, N)``: standard normals
        (scaled here) or ``None`` (noiseless). Returns the rates ``r`` ``(T, B, L, N)`` and the
        outputs ``y`` ``(T, B, L, n_out)``."""
        T, B, L, _ = x.shape
        a = self.spec.alpha
        u = torch.baddbmm(self.b, x.reshape(T, B * L, -1), self.W_in).view(T, B, L, -1)
        steps = u.unbind(dim=2)
        kicks = (noise * (math.sqrt(2 * a) * self.spec.sigma_rec)).unbind(dim=2) \
            if noise is not None and self.spec.sigma_rec > 0 else None
        h = x.new_zeros(T, B, self.spec.n)
        rs = []
        for t in range(L):
            pre = torch.baddbmm(steps[t], self.rate(h), self.W_rec)
            h = torch.lerp(h, pre, a)
            if kicks is not None:
                h = h + kicks[t]
            rs.append(self.rate(h))
        R = torch.stack(rs, dim=2)
        y = torch.sigmoid(torch.baddbmm(self.b_out, R.reshape(T, B * L, -1), self.W_out))
        return R, y.view(T, B, L, -1)
