"""Brain-inspired modular training (BIMT; Liu, Gan & Tegmark 2023; "Growing Brains", Liu, Khona,
Fiete & Tegmark 2023): a wiring cost on units placed in space, and swaps of units that lower it.

Every hidden unit sits on a 2-D grid in [0, 1]² (:func:`grid`); the inputs and the outputs lie on
lines across the grid, on planes a distance ``l0`` below and above it. The connection cost of a
network is ``CC = Σ_ij |w_ij| · (A · d_ij + l0)`` over its input, recurrent and output weights (every gate block of a GRU), with d the Manhattan
distance between the two ends in their planes (:func:`connection_cost`). ``A = 0`` gives plain
L1 (times ``l0``); ``l0 > 0`` keeps self-connections from being free.

A *swap* exchanges two hidden units: their rows and columns of every weight matrix, their biases
and the optimizer's state for them, so the network computes the same function, while the wiring
cost changes because the units now sit at each other's place (:func:`swap_deltas` gives the cost
change of every pair at once; :func:`swap_step` makes the best exchange for each of the top-k
units). Positions are fixed per unit *index*: unit ``i`` always sits at ``grid(n)[i]``, and a
swap moves the weights, not the positions. The grid puts indices ``0 … n/2 − 1`` in its left half,
so the MI method's two groups (the first and second half of the units) are the grid's left and
right halves, before and after any swap.

All functions are batched over a leading trial axis, as the rest of the library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch

#: per model parameter: the axes that index hidden units (trial axis 0 first) and into how many
#: equal blocks that axis is cut (a GRU's three gates)
UNIT_AXES: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "leaky": {"W_in": ((2, 1),), "W_rec": ((1, 1), (2, 1)), "W_out": ((1, 1),), "b": ((2, 1),)},
    "gru": {"W": ((2, 3),), "U": ((1, 1), (2, 3)), "W_out": ((1, 1),), "b": ((2, 3),),
            "c": ((2, 3),)},
}


def grid(n: int) -> torch.Tensor:
    """Positions ``(n, 2)`` of ``n`` (even) hidden units on a grid of cell centres in [0, 1]²:
    ``rows × cols`` with ``cols`` even and as close to √n as divides ``n``; column-major, so the
    first ``n/2`` indices fill the left half (x < 1/2)."""
    if n < 2 or n % 2:
        raise ValueError(f"parameter 'n': got {n!r}; allowed: an even integer >= 2")
    cols = min((c for c in range(2, n + 1, 2) if n % c == 0), key=lambda c: abs(c - math.sqrt(n)))
    rows = n // cols
    i = torch.arange(n)
    x, y = i // rows, i % rows
    return torch.stack([(x + 0.5) / cols, (y + 0.5) / rows], dim=1).double()


def line(n: int) -> torch.Tensor:
    """Positions ``(n, 2)`` of ``n`` input or output units spread along x at y = 1/2."""
    x = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return torch.stack([x, torch.full_like(x, 0.5)], dim=1)


def manhattan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[:, None, :] - b[None, :, :]).abs().sum(-1)


@dataclass(frozen=True)
class Wiring:
    """Where the units sit and what a connection costs: ``A`` per unit of distance, ``l0`` per
    connection (the distance between the planes)."""
    n: int
    n_in: int
    n_out: int
    A: float = 2.0
    l0: float = 0.1

    def __post_init__(self) -> None:
        for name, v, low in (("n_in", self.n_in, 1), ("n_out", self.n_out, 1)):
            if not isinstance(v, int) or v < low:
                raise ValueError(f"parameter '{name}': got {v!r}; allowed: an integer >= {low}")
        grid(self.n)
        if not self.A >= 0:
            raise ValueError(f"parameter 'A': got {self.A!r}; allowed: a number >= 0")
        if not self.l0 > 0:
            raise ValueError(f"parameter 'l0': got {self.l0!r}; allowed: a number > 0 (with 0 "
                             "a self-connection is free)")

    def costs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-connection costs ``A·d + l0``: input → unit ``(n_in, n)``, unit → unit ``(n, n)``,
        unit → output ``(n, n_out)``."""
        h = grid(self.n)
        return (self.A * manhattan(line(self.n_in), h) + self.l0,
                self.A * manhattan(h, h) + self.l0,
                self.A * manhattan(h, line(self.n_out)) + self.l0)


def magnitudes(params: Mapping[str, torch.Tensor], kind: str
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``|input → unit|`` ``(T, n_in, n)``, ``|unit → unit|`` ``(T, n, n)`` and
    ``|unit → output|`` ``(T, n, n_out)`` of a leaky RNN (``kind="leaky"``) or a GRU (``"gru"``; the gate blocks
    summed: each is a connection of its own)."""
    if kind == "leaky":
        return params["W_in"].abs(), params["W_rec"].abs(), params["W_out"].abs()
    if kind == "gru":
        blocks = lambda w: w.abs().unflatten(-1, (3, -1)).sum(-2)  # noqa: E731
        return blocks(params["W"]), blocks(params["U"]), params["W_out"].abs()
    raise ValueError(f"parameter 'kind': got {kind!r}; allowed: {', '.join(UNIT_AXES)}")


def _weighted(params: Mapping[str, torch.Tensor], kind: str,
              costs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return sum((a * c.to(a)).sum((1, 2)) for a, c in zip(magnitudes(params, kind), costs))


def connection_cost(params: Mapping[str, torch.Tensor], kind: str, wiring: Wiring
                    ) -> torch.Tensor:
    """CC per trial ``(T,)``: ``Σ|w|·(A·d + l0)`` over input, recurrent and output weights."""
    return _weighted(params, kind, wiring.costs())


def _pair_change(M: torch.Tensor) -> torch.Tensor:
    """``M[u, v] − M[u, u] − M[v, v] + M[v, u]`` for all pairs (batched)."""
    d = M.diagonal(dim1=-2, dim2=-1)
    return M + M.transpose(-1, -2) - d[..., :, None] - d[..., None, :]


def swap_deltas(params: Mapping[str, torch.Tensor], kind: str, wiring: Wiring) -> torch.Tensor:
    """The change of CC ``(T, n, n)`` if units ``u`` and ``v`` exchanged places, for every pair.

    With ``S = |W_rec| + |W_rec|ᵀ`` and C the unit-to-unit costs, the recurrent part is
    ``Σ_{j ∉ {u, v}} (S_uj − S_vj)(C_vj − C_uj)`` (the u–v block does not change: C is symmetric
    with a constant diagonal); the input and output parts are
    ``Σ_i (|w_iu| − |w_iv|)(c_iv − c_iu)``.
    Each is a few matrix products for all pairs at once."""
    a_in, a_rec, a_out = magnitudes(params, kind)
    c_in, c_rec, c_out = (c.to(a_in) for c in wiring.costs())
    S = a_rec + a_rec.transpose(-1, -2)
    G = S @ c_rec  # G[u, v] = Σ_j S_uj C_jv = Σ_j S_uj C_vj
    rec = _pair_change(G)
    # remove the j ∈ {u, v} terms of the full sum: (S_uu − S_vu)(C_vu − C_uu) + (S_uv − S_vv)(C_vv − C_uv)
    dS = S.diagonal(dim1=-2, dim2=-1)
    dC = c_rec.diagonal()
    rec = rec - ((dS[..., :, None] - S) * (c_rec - dC[:, None])
                 + (S - dS[..., None, :]) * (dC[None, :] - c_rec))
    inp = _pair_change(a_in.transpose(-1, -2) @ c_in)   # H[u, v] = Σ_i a_iu c_iv
    out = _pair_change(a_out @ c_out.transpose(-1, -2))  # K[u, v] = Σ_k a_uk c_vk
    delta = rec + inp + out
    return delta - torch.diag_embed(delta.diagonal(dim1=-2, dim2=-1))


def permute_units(tensors: Mapping[str, torch.Tensor], kind: str, perm: torch.Tensor) -> None:
    """Reorder the hidden units of every trial in place: ``perm`` ``(T, n)`` gives, per trial,
    the old index of each new unit. ``tensors``: parameters or optimizer state of the same
    names (a missing or ``None`` entry is skipped)."""
    axes = UNIT_AXES[kind]
    with torch.no_grad():
        for name, t in tensors.items():
            if t is None or name not in axes:
                continue
            out = t
            for axis, blocks in axes[name]:
                n = out.shape[axis] // blocks
                idx = torch.cat([perm + b * n for b in range(blocks)], dim=1)  # (T, blocks·n)
                shape = [1] * out.dim()
                shape[0], shape[axis] = idx.shape[0], idx.shape[1]
                out = out.gather(axis, idx.view(shape).expand(out.shape))
            t.copy_(out)


def swap_step(model: torch.nn.Module, kind: str, wiring: Wiring, top_k: int,
              optimizer: torch.optim.Optimizer | None = None,
              trials: torch.Tensor | None = None) -> torch.Tensor:
    """One BIMT swap step: for each of the ``top_k`` units of largest ``Σ|in| + Σ|out|`` (recurrent
    weights included), in that order, exchange it with the unit whose place lowers CC most, if
    any does; weights, biases and the optimizer's state move with the units. Trials are
    independent; ``trials`` (bool ``(T,)``, default all) selects those that swap. Returns the
    total CC change per trial ``(T,)`` (≤ 0; 0 where no swap was made)."""
    params = {k: v for k, v in model.named_parameters() if k in UNIT_AXES[kind]}
    a_in, a_rec, a_out = magnitudes(params, kind)
    T, n = a_rec.shape[0], a_rec.shape[-1]
    if not isinstance(top_k, int) or not 1 <= top_k <= n:
        raise ValueError(f"parameter 'top_k': got {top_k!r}; allowed: an integer from 1 to {n}")
    strength = a_in.sum(1) + a_rec.sum(1) + a_rec.sum(2) + a_out.sum(2)  # (T, n)
    order = strength.argsort(dim=1, descending=True)[:, :top_k]
    total = torch.zeros(T, dtype=a_rec.dtype, device=a_rec.device)
    rows = torch.arange(T, device=a_rec.device)
    for k in range(top_k):
        # the unit ranked k before this step's swaps now sits wherever earlier swaps moved it
        delta = swap_deltas(params, kind, wiring)
        u = order[:, k]
        best, v = delta[rows, u].min(dim=1)
        do = best < 0
        if trials is not None:
            do = do & trials.to(do.device)
        if not do.any():
            continue
        perm = torch.arange(n, device=a_rec.device).repeat(T, 1)
        perm[rows[do], u[do]], perm[rows[do], v[do]] = v[do], u[do]
        permute_units(params, kind, perm)
        if optimizer is not None:  # e.g. Adam's moments, which have their parameter's shape
            for name, p in params.items():
                for s in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(s) and s.shape == p.shape:
                        permute_units({name: s}, kind, perm)
        order = torch.where(order == u[:, None], v[:, None],
                            torch.where(order == v[:, None], u[:, None], order))
        total = total + torch.where(do, best, torch.zeros_like(best))
    return total


def lambda_schedule(step: int, steps: int, lam0: float) -> float:
    """The reference notebooks' schedule: λ0, ×10 from ¼ of training, back to λ0 from ¾."""
    return lam0 * (10.0 if steps // 4 <= step < 3 * steps // 4 else 1.0)


def active_units(params: Mapping[str, torch.Tensor], kind: str, threshold: float = 1e-2
                 ) -> torch.Tensor:
    """Units per trial ``(T,)`` with some incoming and some outgoing weight above ``threshold``
    (input or recurrent in; recurrent or output out)."""
    a_in, a_rec, a_out = magnitudes(params, kind)
    inc = (a_in > threshold).any(1) | (a_rec > threshold).any(1)
    out = (a_rec > threshold).any(2) | (a_out > threshold).any(2)
    return (inc & out).sum(1)


def wiring_length(params: Mapping[str, torch.Tensor], kind: str, wiring: Wiring) -> torch.Tensor:
    """``Σ|w|·d`` per trial (the distance part of CC alone, as Growing Brains plots it)."""
    h = grid(wiring.n)
    return _weighted(params, kind, (manhattan(line(wiring.n_in), h), manhattan(h, h),
                                    manhattan(h, line(wiring.n_out))))

