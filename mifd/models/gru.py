"""GRU networks for the chaotic-separation experiment, T trials at once.

``cell="keras"`` (the authors' code, Keras defaults): biases, and the reset gate applied *after*
the recurrent product (``reset_after=True``, as cuDNN and ``torch.nn.GRU``)::

    z = σ(x W_z + b_z + h U_z + c_z)          r = σ(x W_r + b_r + h U_r + c_r)
    h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + c_h))   h' = z ⊙ h + (1 − z) ⊙ h̃

``cell="paper"`` (the paper's Eq. 3): no biases and the reset gate before U:
``h̃ = tanh(x W_h + (r ⊙ h) U_h)``.

Kernels are stored Keras-style with the gates concatenated in the order (z, r, h):
``W`` ``(T, in, 3N)``, ``U`` ``(T, N, 3N)``. Init as Keras: W Glorot-uniform, U orthogonal,
biases zero, zero initial state. Readout ``y = h W_out + b_out`` (Dense(6), Glorot-uniform).

Memory (execution settings, not part of the model): the sequence runs in chunks of
``time_chunk`` steps, so the input projections exist for one chunk at a time, and without
gradients the states are written into one preallocated tensor. With ``checkpoint`` each chunk's
intermediate activations are recomputed in the backward pass instead of being stored (exact:
the recomputation repeats the same operations; ``tests/test_exactness.py``). With
``fused_bptt`` the gradient is computed by hand-written BPTT
(:mod:`mifd.accel.bptt`: same states, gradients equal up to rounding), which keeps only the
states and recomputes the gates per chunk, so ``checkpoint`` is not needed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from ..accel.kernels.gru import STATE_DTYPES
from ..nn import _init_weight
from ..accel.bptt import check_states, gru_chunk, gru_scan, gru_states


#: the time-loop implementations of :class:`TrialGRU`
KERNELS = ("torch", "triton", "triton_tf32")


@dataclass(frozen=True)
class GRUSpec:
    n: int = 100
    n_in: int = 3
    n_out: int = 6
    cell: str = "keras"  # "keras" (authors' code) | "paper" (Eq. 3)


def orthogonal(g: torch.Generator, rows: int, cols: int) -> torch.Tensor:
    """Keras' Orthogonal initializer: QR of a normal matrix, sign-corrected."""
    flat = torch.randn(max(rows, cols), min(rows, cols), generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    return q[:rows, :cols].float()


class TrialGRU(nn.Module):
    """A GRU per trial (``T`` trials on the leading axis): the Keras cell with biases (the
    authors' code) or the paper's Eq. 3, initialised as Keras does (Glorot input and output
    kernels, orthogonal recurrent kernel, zero biases). ``kernel`` chooses the time loop:
    ``"torch"`` (the reference; chunked, checkpointed or with hand-written BPTT as set) or the
    persistent Triton kernels of :mod:`mifd.accel.kernels.gru` (``"triton"``, ``"triton_tf32"``)."""

    def __init__(self, gens: Sequence[torch.Generator], spec: GRUSpec = GRUSpec(),
                 time_chunk: int = 0, checkpoint: bool = False, fused_bptt: bool = False,
                 kernel: str = "torch"):
        super().__init__()
        if spec.cell not in ("keras", "paper"):
            raise ValueError(f"parameter 'cell': got {spec.cell!r}; allowed: 'keras', 'paper'")
        if kernel not in KERNELS:
            raise ValueError(f"parameter 'kernel': got {kernel!r}; allowed: "
                             + ", ".join(map(repr, KERNELS)))
        # "triton": the whole time loop in one kernel launch (mifd.accel.kernels.gru), fp32 products;
        # "triton_tf32": its products on TF32 tensor cores; both equal up to rounding
        self.kernel = kernel
        self.fused_bptt = fused_bptt
        if time_chunk < 0:
            raise ValueError(f"parameter 'time_chunk': got {time_chunk}; allowed: an integer >= 0")
        self.spec = spec
        self.time_chunk, self.checkpoint = time_chunk, checkpoint
        n, T = spec.n, len(gens)
        self.W = nn.Parameter(torch.stack([_init_weight(g, spec.n_in, 3 * n, "glorot") for g in gens]))
        self.U = nn.Parameter(torch.stack([orthogonal(g, n, 3 * n) for g in gens]))
        self.W_out = nn.Parameter(torch.stack([_init_weight(g, n, spec.n_out, "glorot") for g in gens]))
        self.b_out = nn.Parameter(torch.zeros(T, 1, spec.n_out))
        if spec.cell == "keras":
            self.b = nn.Parameter(torch.zeros(T, 1, 3 * n))
            self.c = nn.Parameter(torch.zeros(T, 1, 3 * n))
        else:
            self.register_parameter("b", None)
            self.register_parameter("c", None)

    def weights(self) -> list[torch.Tensor]:
        """The L2-penalized kernels (input, recurrent, output)."""
        return [self.W, self.U, self.W_out]

    @property
    def U_h(self) -> torch.Tensor:
        """The candidate-state recurrent block ``(T, N, N)`` (input of Q_str)."""
        return self.U[..., 2 * self.spec.n:]

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None,
                states: torch.Tensor | None = None,
                state_dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(T, B, L, in)`` → states ``(T, B, L, N)`` and outputs ``(T, B, L, out)``.
        ``states``: as in :meth:`mifd.models.leaky.LeakyRNN.forward` (``fused_bptt`` only).
        ``state_dtype``: ``torch.bfloat16`` stores the states of a pass without gradient in bf16
        (each rounded once, to nearest; the recurrence itself stays fp32), and its outputs are
        then bf16 products; a pass with gradient always keeps fp32. The Triton kernels write the
        bf16 states directly; the reference loop computes them in fp32 and rounds them
        afterwards (the same values, but no memory saved while the pass runs)."""
        check_states(states, self.fused_bptt)
        if state_dtype not in STATE_DTYPES:
            raise ValueError(f"parameter 'state_dtype': got {state_dtype}; allowed: "
                             + ", ".join(map(str, STATE_DTYPES)))
        T, B, L, _ = x.shape
        n = self.spec.n
        h = torch.zeros(T, B, n, device=x.device, dtype=x.dtype) if h0 is None else h0
        chunk = self.time_chunk or L
        grad = torch.is_grad_enabled()
        low = state_dtype != torch.float32 and not grad and states is None
        if states is not None and not grad:
            H = states
        elif self.kernel != "torch":
            from ..accel.kernels import gru as kgru
            precision = "tf32" if self.kernel == "triton_tf32" else "ieee"
            if grad:
                H = kgru.gru_scan(x, h, self.W, self.U, self.b, self.c, states,
                                  precision=precision)
            else:
                H = kgru.gru_states(x, h, self.W, self.U, self.b, self.c, precision=precision,
                                    out_dtype=state_dtype if low else torch.float32)
        elif grad and self.fused_bptt:
            H = gru_scan(x, h, self.W, self.U, self.b, self.c, chunk, states)
        elif chunk >= L:
            H = self._scan(x, h)
        elif grad:
            parts = []
            for c0 in range(0, L, chunk):
                xc = x[:, :, c0:c0 + chunk]
                Hc = (_checkpoint(self._scan, xc, h, use_reentrant=False) if self.checkpoint
                      else self._scan(xc, h))
                parts.append(Hc)
                h = Hc[:, :, -1]
            H = torch.cat(parts, dim=2)
        else:  # no graph: write each chunk into one tensor
            H = gru_states(x, h, self.W, self.U, self.b, self.c, chunk)
        if low:
            H = H.to(state_dtype)  # the Triton kernel wrote them so already
            y = torch.baddbmm(self.b_out.to(state_dtype), H.reshape(T, B * L, n),
                              self.W_out.to(state_dtype)).view(T, B, L, -1)
            return H, y
        y = torch.baddbmm(self.b_out, H.reshape(T, B * L, n), self.W_out).view(T, B, L, -1)
        return H, y

    def gates(self, x: torch.Tensor, H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The update and reset gates ``z``, ``r`` ``(T, B, L, N)`` of a run, from its inputs ``x``
        ``(T, B, L, in)`` and its states ``H`` (:meth:`forward`; the gates of step t use
        h_{t−1}, zero before the first step): for looking inside the network."""
        n = self.spec.n
        h_prev = torch.cat([torch.zeros_like(H[:, :, :1]), H[:, :, :-1]], dim=2)
        gx = torch.einsum("tbli,tij->tblj", x, self.W)
        gh = torch.einsum("tbln,tnj->tblj", h_prev, self.U)
        if self.b is not None:
            gx, gh = gx + self.b[:, None], gh + self.c[:, None]
        z = torch.sigmoid(gx[..., :n] + gh[..., :n])
        r = torch.sigmoid(gx[..., n:2 * n] + gh[..., n:2 * n])
        return z, r

    def _scan(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The states of ``x`` ``(T, B, l, in)`` from ``h`` ``(T, B, N)``: ``(T, B, l, N)``."""
        return gru_chunk(x, h, self.W, self.U, self.b, self.c)  # b, c: None in the paper's cell
