"""Hand-written backpropagation through time for the two recurrences, T trials at once.

Autograd records every operation of every step and replays about twice as many kernels in the
backward pass, each with its own small weight-gradient product. Here the forward pass runs
without a graph (the same operations as the models' own step, so the states are bit-identical)
and the backward pass is the textbook recursion for the gradient ``g_t = ∂L/∂h_t`` carried
backwards in time:

* every step only carries ``g`` (one small product with the transposed recurrent weights and
  a few element-wise operations, written into preallocated buffers);
* the local derivatives of the gates (which only depend on the forward states) are computed
  for a whole chunk of steps at once, as large element-wise operations;
* the weight gradients are one large product over all steps, ``Σ_t h_{t−1}ᵀ δ_t``, instead of
  one small product per step.

The gradients equal autograd's up to the order of floating-point summation
(``tests/test_bptt.py`` checks them in float64 to 1e-10 and in float32 to a tolerance). Memory:
only the states are kept between the passes (so activation checkpointing has nothing left to
save); the GRU's gates are recomputed in the backward pass one block of steps at a time (one
large product per block): ``time_chunk`` steps on a GPU, a cache-sized block on a CPU.

Measured on 2 CPU cores at the published sizes (``mifd bench --fused``, committed): a separation
MM step (1 trial) took 57.5 s instead of 84.5 s; a working-memory epoch, whose time is mostly the
statistics network, 1.17× faster at 1 trial and the same at 2. On a GPU not yet measured.
"""

from __future__ import annotations

import math

import torch


def _outer_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_{b,l} a[t,b,l,:]ᵀ b[t,b,l,:]`` per trial t: ``(T, B, l, i)``, ``(T, B, l, j)`` →
    ``(T, i, j)``, as one batched product over all steps."""
    T = a.shape[0]
    return torch.bmm(a.reshape(T, -1, a.shape[-1]).transpose(1, 2), b.reshape(T, -1, b.shape[-1]))


#: on CPU the backward pass recomputes the gates in blocks of about this many bytes (float32)
#: per tensor,
#: so that they stay in cache (measured on 2 cores: 8 trials × 50 × 2000 steps, backward 5.8 s
#: with 1000-step blocks, 2.9 s with 16-step blocks); on a GPU it uses ``time_chunk`` steps
CPU_BLOCK_BYTES = 8 << 20


def recompute_steps(chunk: int, shape: tuple[int, ...], device: torch.device) -> int:
    """Steps per block of the backward pass for per-step gate tensors of ``shape``."""
    if device.type != "cpu":
        return chunk
    per_step = 4 * math.prod(shape)
    return max(1, min(chunk, CPU_BLOCK_BYTES // per_step))


def check_states(states: torch.Tensor | None, fused_bptt: bool) -> None:
    """Precomputed states can stand in for the forward recursion only where the backward pass
    does not need its graph: with hand-written BPTT."""
    if states is not None and not fused_bptt:
        raise ValueError("precomputed states need fused_bptt=True (autograd's backward pass "
                         "needs the forward pass it recorded)")


def _shifted(H: torch.Tensor, h_in: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
    """The previous states ``h_{t−1}`` of steps ``c0 .. c1`` ``(T, B, c1 − c0, N)``."""
    return torch.cat([h_in[:, :, None], H[:, :, c0:c1 - 1]], dim=2)


# ---------------------------------------------------------------- leaky integrator (Eqs. 1–2)
def leaky_step(h: torch.Tensor, u_t: torch.Tensor, W: torch.Tensor, alpha: float,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """``h_t = (1 − α) h_{t−1} + α (tanh(h_{t−1}) W + u_t)`` as one lerp (paper Eq. 1, row
    vectors; ``u_t`` holds the input projection, the bias and the noise)."""
    pre = torch.baddbmm(u_t, torch.tanh(h), W)
    return torch.lerp(h, pre, alpha) if out is None else torch.lerp(h, pre, alpha, out=out)


def leaky_states(u: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, alpha: float
                 ) -> torch.Tensor:
    """The states ``(T, B, L, N)`` driven by ``u`` ``(T, B, L, N)`` from ``h0``, without a graph."""
    H = torch.empty_like(u)
    h = h0
    for t, u_t in enumerate(u.unbind(2)):
        h = leaky_step(h, u_t, W, alpha, out=H[:, :, t])
    return H


class _LeakyScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, h0, W, alpha, states):  # type: ignore[override]
        H = leaky_states(u.detach(), h0.detach(), W.detach(), alpha) if states is None \
            else states
        ctx.save_for_backward(h0, W, H)
        ctx.alpha = alpha
        return H

    @staticmethod
    def backward(ctx, gH):  # type: ignore[override]
        h0, W, H = ctx.saved_tensors
        a = ctx.alpha
        L = H.shape[2]
        # r_{t−1} = tanh(h_{t−1}) of every step, and its derivative 1 − r²
        R = torch.tanh(_shifted(H, h0, 0, L))
        D = 1.0 - R * R
        G = gH.clone(memory_format=torch.contiguous_format)  # ∂L/∂h_t, completed in the loop
        Du = torch.empty_like(G)           # ∂L/∂u_t = α g_t
        WT = W.transpose(1, 2)
        carry = torch.zeros_like(h0)       # ∂L/∂h_t through h_{t+1}
        for t in range(L - 1, -1, -1):
            g = G[:, :, t].add_(carry)
            du = torch.mul(g, a, out=Du[:, :, t])
            # ∂h_t/∂h_{t−1}: (1 − α) I + α diag(1 − r²) W (row vectors)
            carry = torch.addcmul(g * (1.0 - a), torch.bmm(du, WT), D[:, :, t])
        return Du, carry, _outer_sum(R, Du), None, None


def leaky_scan(u: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, alpha: float,
               states: torch.Tensor | None = None) -> torch.Tensor:
    """States of the leaky RNN, differentiable in ``u``, ``h0`` and ``W`` by hand-written BPTT.

    ``states``: the states of exactly these inputs and weights, computed earlier without a
    graph (:func:`leaky_states`, e.g. in a larger batched pass); the forward pass then only
    keeps them for the backward pass."""
    return _LeakyScan.apply(u, h0, W, alpha, None if states is None else states.detach())


# ---------------------------------------------------------------- GRU (both cells)
def gru_step(gx_t: torch.Tensor, h: torch.Tensor, U: torch.Tensor, c: torch.Tensor | None,
             n: int) -> torch.Tensor:
    """One GRU step; ``gx_t = x_t W (+ b)`` holds the input parts of the gates (z, r, h).

    With biases ``c`` (the Keras cell, ``reset_after=True``)::

        h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + c_h))

    without (``c is None``: the paper's Eq. 3)::

        h̃ = tanh(x W_h + (r ⊙ h) U_h)

    and in both ``h' = z ⊙ h + (1 − z) ⊙ h̃``."""
    xz, xr, xh = gx_t.split(n, dim=-1)
    if c is not None:
        hz, hr, hh = torch.baddbmm(c, h, U).split(n, dim=-1)
        z = torch.sigmoid(xz + hz)
        r = torch.sigmoid(xr + hr)
        cand = torch.tanh(xh + r * hh)
    else:
        gzr = torch.bmm(h, U[..., : 2 * n])
        z = torch.sigmoid(xz + gzr[..., :n])
        r = torch.sigmoid(xr + gzr[..., n:])
        cand = torch.tanh(xh + torch.bmm(r * h, U[..., 2 * n:]))
    return torch.lerp(cand, h, z)  # z ⊙ h + (1 − z) ⊙ h̃


def gru_projection(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Input projections ``x W (+ b)`` of every step: ``(T, B, L, in)`` → ``(T, B, L, 3N)``."""
    T, B, L, _ = x.shape
    gx = torch.bmm(x.reshape(T, B * L, -1), W).view(T, B, L, -1)
    return gx if b is None else gx + b[:, None]


def gru_chunk(x: torch.Tensor, h: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
              b: torch.Tensor | None, c: torch.Tensor | None) -> torch.Tensor:
    """The states ``(T, B, l, N)`` of ``x`` ``(T, B, l, in)`` from ``h`` (autograd records
    them when it is on)."""
    n = U.shape[1]
    hs = []
    for gx_t in gru_projection(x, W, b).unbind(2):  # unbind once: indexing has a backward
        h = gru_step(gx_t, h, U, c, n)               # quadratic in l
        hs.append(h)
    return torch.stack(hs, dim=2)


def gru_states(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
               b: torch.Tensor | None, c: torch.Tensor | None, chunk: int) -> torch.Tensor:
    """The states ``(T, B, L, N)`` without a graph; input projections one chunk at a time."""
    T, B, L, _ = x.shape
    H = x.new_empty(T, B, L, U.shape[1])
    h = h0
    with torch.no_grad():
        for c0 in range(0, L, chunk):
            Hc = gru_chunk(x[:, :, c0:c0 + chunk], h, W, U, b, c)
            H[:, :, c0:c0 + chunk] = Hc
            h = Hc[:, :, -1]
    return H


class _GRUScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, W, U, b, c, chunk, states):  # type: ignore[override]
        H = gru_states(*(None if t is None else t.detach() for t in (x, h0, W, U, b, c)),
                       chunk) if states is None else states
        ctx.save_for_backward(x, h0, W, U, b, c, H)
        ctx.chunk = chunk
        return H

    @staticmethod
    def backward(ctx, gH):  # type: ignore[override]
        x, h0, W, U, b, c, H = ctx.saved_tensors
        T, B, L, n = H.shape
        dW, dU = torch.zeros_like(W), torch.zeros_like(U)
        db = None if b is None else torch.zeros_like(b)
        dc = None if c is None else torch.zeros_like(c)
        dx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        carry = torch.zeros_like(h0)
        block = recompute_steps(ctx.chunk, (T, B, 3 * n), H.device)
        for c0 in reversed(range(0, L, block)):
            c1 = min(c0 + block, L)
            l = c1 - c0
            Hp = _shifted(H, h0 if c0 == 0 else H[:, :, c0 - 1], c0, c1)
            xc = x[:, :, c0:c1]
            gx = gru_projection(xc, W, b)
            G = gH[:, :, c0:c1].clone(memory_format=torch.contiguous_format)
            if c is not None:
                carry, Dgh, Dgx = _keras_block(gx, Hp, G, carry, U, c)
                dU += _outer_sum(Hp, Dgh)
                dc += Dgh.sum(dim=(1, 2))[:, None]
                db += Dgx.sum(dim=(1, 2))[:, None]
            else:
                carry, Dzr, Dph, Q = _paper_block(gx, Hp, G, carry, U)
                dU[..., :2 * n] += _outer_sum(Hp, Dzr)
                dU[..., 2 * n:] += _outer_sum(Q, Dph)
                Dgx = torch.cat([Dzr, Dph], dim=-1)
            dW += _outer_sum(xc, Dgx)
            if dx is not None:
                dx[:, :, c0:c1] = torch.bmm(Dgx.view(T, B * l, 3 * n),
                                            W.transpose(1, 2)).view(T, B, l, -1)
        return dx, carry, dW, dU, db, dc, None, None


def _keras_block(gx, Hp, G, carry, U, c):
    """Backward through one block of the Keras cell: returns the carry into the block and the
    gates' δ of the recurrent (``Dgh``) and input (``Dgx``) products."""
    T, B, l, n = Hp.shape
    # every gate of the block at once: one product with U
    gh = torch.baddbmm(c, Hp.reshape(T, B * l, n), U).view(T, B, l, 3 * n)
    z = torch.sigmoid(gx[..., :n] + gh[..., :n])
    r = torch.sigmoid(gx[..., n:2 * n] + gh[..., n:2 * n])
    hh = gh[..., 2 * n:]
    cand = torch.tanh(gx[..., 2 * n:] + r * hh)
    # ∂h_t/∂(pre-activations): every gate's δ is g_t times one of these
    a_n = (1.0 - z) * (1.0 - cand * cand)
    a_gh = torch.cat([(Hp - cand) * z * (1.0 - z), a_n * hh * r * (1.0 - r), a_n * r],
                     dim=-1).view(T, B, l, 3, n)
    UT = U.transpose(1, 2)
    Dgh = torch.empty_like(a_gh)
    for t in range(l - 1, -1, -1):
        g = G[:, :, t].add_(carry)
        dgh = torch.mul(a_gh[:, :, t], g[:, :, None], out=Dgh[:, :, t])
        carry = torch.addcmul(torch.bmm(dgh.view(T, B, 3 * n), UT), g, z[:, :, t])
    Dgh = Dgh.view(T, B, l, 3 * n)
    return carry, Dgh, torch.cat([Dgh[..., :2 * n], G * a_n], dim=-1)


def _paper_block(gx, Hp, G, carry, U):
    """Backward through one block of the paper's cell (Eq. 3): returns the carry into the
    block, the δ of the z and r pre-activations (``Dzr``), of the candidate's (``Dph``), and
    the reset states ``Q = r ⊙ h_{t−1}`` that multiply ``U_h``."""
    T, B, l, n = Hp.shape
    U_zr, U_h = U[..., :2 * n], U[..., 2 * n:]
    gzr = torch.bmm(Hp.reshape(T, B * l, n), U_zr).view(T, B, l, 2 * n)
    z = torch.sigmoid(gx[..., :n] + gzr[..., :n])
    r = torch.sigmoid(gx[..., n:2 * n] + gzr[..., n:])
    Q = r * Hp
    cand = torch.tanh(gx[..., 2 * n:] + torch.bmm(Q.reshape(T, B * l, n), U_h).view(T, B, l, n))
    a_n = (1.0 - z) * (1.0 - cand * cand)
    a_z = (Hp - cand) * z * (1.0 - z)
    a_r = Hp * r * (1.0 - r)
    UzrT, UhT = U_zr.transpose(1, 2), U_h.transpose(1, 2)
    Dzr = torch.empty(T, B, l, 2 * n, dtype=G.dtype, device=G.device)
    Dph = torch.empty_like(G)
    for t in range(l - 1, -1, -1):
        g = G[:, :, t].add_(carry)
        dph = torch.mul(g, a_n[:, :, t], out=Dph[:, :, t])
        dq = torch.bmm(dph, UhT)                       # δ of r ⊙ h_{t−1}
        torch.mul(g, a_z[:, :, t], out=Dzr[:, :, t, :n])
        torch.mul(dq, a_r[:, :, t], out=Dzr[:, :, t, n:])
        carry = torch.addcmul(torch.addcmul(torch.bmm(Dzr[:, :, t], UzrT), g, z[:, :, t]),
                              dq, r[:, :, t])
    return carry, Dzr, Dph, Q


def gru_scan(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
             b: torch.Tensor | None, c: torch.Tensor | None, chunk: int,
             states: torch.Tensor | None = None) -> torch.Tensor:
    """States of the GRU (the Keras cell with biases ``b``, ``c``; the paper's Eq. 3 when both
    are ``None``), differentiable in every input by hand-written BPTT. ``states``: as in
    :func:`leaky_scan` (here from :func:`gru_states`)."""
    return _GRUScan.apply(x, h0, W, U, b, c, chunk, None if states is None else states.detach())
