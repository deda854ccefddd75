"""A persistent GRU recurrence in Triton: the whole time loop of a no-grad pass in one kernel
launch (the chaotic-separation experiment's statistics-network passes spend their time in the
10 000-step loop of :func:`mifd.accel.bptt.gru_states`, one small product per step).

Each program owns one trial and a block of ``block_b`` sequences. It keeps that trial's input
kernel ``W`` and recurrent kernel ``U`` (each gate block padded to the next power of two ≥ N,
the input to 16) on chip for the whole sequence, and per step computes the three gate
products with ``tl.dot`` and writes ``h_t``. Both cells of :mod:`mifd.models.gru`:

* ``keras`` (biases, reset gate after the product)::

      z = σ(x W_z + b_z + h U_z + c_z)         r = σ(x W_r + b_r + h U_r + c_r)
      h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + c_h))

* ``paper`` (Eq. 3: no biases, reset gate before the product): ``h̃ = tanh(x W_h + (r ⊙ h) U_h)``;

and in both ``h' = z ⊙ h + (1 − z) ⊙ h̃``. Padded units stay exactly 0 (their weights, biases
and state are 0, so z = ½ and h̃ = 0). ``tanh`` is computed as ``2σ(2a) − 1`` and ``σ(a)`` as ``1 / (1 + e^(−a))``, so the states
equal the reference's up to float rounding, not bit for bit.

Precision of the products: ``"ieee"`` (fp32, the default) or ``"tf32"`` (tensor cores; a
measured option, as the critic's). On CPU the kernel runs only under Triton's interpreter
(``TRITON_INTERPRET=1`` set before Triton is imported), which is how the tests check it.

The backward pass (:func:`gru_backward`): one reverse-time launch recomputes each step's gates
from the stored states, as :mod:`mifd.accel.bptt` does, and writes the δ of every gate's
pre-activation; the weight gradients are batched products over all steps.

:func:`gru_scan` makes the two a differentiable GRU; ``TrialGRU(kernel="triton")``
(:class:`mifd.models.gru.TrialGRU`) and the separation experiments' ``gru_kernel`` option use
it. The states may be written in bf16 (``out_dtype``; the statistics network's passes,
``sm_states`` of the separation experiments). Not yet here (issue: separation at the published
scale): tuning on a GPU (the kernels keep every weight block on chip; at N = 100 the backward's six
128 × 128 blocks may not fit in registers).
"""

from __future__ import annotations

import os

import torch

PRECISIONS = ("ieee", "tf32")
#: the dtypes :func:`gru_states` may write the states in (the recurrence itself is fp32)
STATE_DTYPES = (torch.float32, torch.bfloat16)


def available(device: torch.device | str) -> bool:
    """Whether the kernel can run on ``device``: Triton is installed and the device is CUDA, or
    the device is the CPU and Triton's interpreter is on."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    kind = torch.device(device).type
    return kind == "cuda" or (kind == "cpu" and os.environ.get("TRITON_INTERPRET") == "1")


def _kernel():
    """The jitted kernel, built on first use (Triton reads ``TRITON_INTERPRET`` when a kernel
    is decorated; the kernel calls only Triton builtins, not its jitted library functions such
    as ``tl.sigmoid`` or ``tl.zeros``, whose mode is fixed when Triton is imported)."""
    global _KERNEL, _DELTAS
    if _KERNEL is not None:
        return _KERNEL
    import triton
    import triton.language as tl

    @triton.jit
    def gru_states_kernel(x_ptr, h0_ptr, w_ptr, u_ptr, b_ptr, c_ptr, out_ptr,
                          B, L, N, IN,
                          sxt, sxb, sxl, sht, shb, sot, sob, sol,
                          KEEP_BIAS: tl.constexpr, RESET_AFTER: tl.constexpr,
                          BLOCK_B: tl.constexpr, NP: tl.constexpr, INP: tl.constexpr,
                          PRECISION: tl.constexpr):
        trial = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
        cols = tl.arange(0, NP)
        ks = tl.arange(0, NP)
        ins = tl.arange(0, INP)
        row_ok = rows < B
        col_ok = cols < N
        k_ok = ks < N
        in_ok = ins < IN
        # the trial's kernels, gate blocks (z, r, h) padded with zeros, kept for the whole loop
        w_base = w_ptr + trial * IN * 3 * N + ins[:, None] * 3 * N + cols[None, :]
        w_mask = in_ok[:, None] & col_ok[None, :]
        Wz = tl.load(w_base, mask=w_mask, other=0.0)
        Wr = tl.load(w_base + N, mask=w_mask, other=0.0)
        Wh = tl.load(w_base + 2 * N, mask=w_mask, other=0.0)
        u_base = u_ptr + trial * N * 3 * N + ks[:, None] * 3 * N + cols[None, :]
        u_mask = k_ok[:, None] & col_ok[None, :]
        Uz = tl.load(u_base, mask=u_mask, other=0.0)
        Ur = tl.load(u_base + N, mask=u_mask, other=0.0)
        Uh = tl.load(u_base + 2 * N, mask=u_mask, other=0.0)
        bz = tl.full((NP,), 0.0, tl.float32)
        br = tl.full((NP,), 0.0, tl.float32)
        bh = tl.full((NP,), 0.0, tl.float32)
        cz = tl.full((NP,), 0.0, tl.float32)
        cr = tl.full((NP,), 0.0, tl.float32)
        ch = tl.full((NP,), 0.0, tl.float32)
        if KEEP_BIAS:
            bz = tl.load(b_ptr + trial * 3 * N + cols, mask=col_ok, other=0.0)
            br = tl.load(b_ptr + trial * 3 * N + N + cols, mask=col_ok, other=0.0)
            bh = tl.load(b_ptr + trial * 3 * N + 2 * N + cols, mask=col_ok, other=0.0)
            cz = tl.load(c_ptr + trial * 3 * N + cols, mask=col_ok, other=0.0)
            cr = tl.load(c_ptr + trial * 3 * N + N + cols, mask=col_ok, other=0.0)
            ch = tl.load(c_ptr + trial * 3 * N + 2 * N + cols, mask=col_ok, other=0.0)
        mask = row_ok[:, None] & col_ok[None, :]
        h = tl.load(h0_ptr + trial * sht + rows[:, None] * shb + cols[None, :], mask=mask,
                    other=0.0)
        x_rows = x_ptr + trial * sxt + rows[:, None] * sxb + ins[None, :]
        x_mask = row_ok[:, None] & in_ok[None, :]
        o_rows = out_ptr + trial * sot + rows[:, None] * sob + cols[None, :]
        for t in range(L):
            xt = tl.load(x_rows + t * sxl, mask=x_mask, other=0.0)
            az = tl.dot(xt, Wz, input_precision=PRECISION) + bz[None, :] + cz[None, :] \
                + tl.dot(h, Uz, input_precision=PRECISION)
            ar = tl.dot(xt, Wr, input_precision=PRECISION) + br[None, :] + cr[None, :] \
                + tl.dot(h, Ur, input_precision=PRECISION)
            z = 1.0 / (1.0 + tl.exp(-az))
            r = 1.0 / (1.0 + tl.exp(-ar))
            xh = tl.dot(xt, Wh, input_precision=PRECISION) + bh[None, :]
            if RESET_AFTER:
                a = xh + r * (tl.dot(h, Uh, input_precision=PRECISION) + ch[None, :])
            else:
                a = xh + tl.dot(r * h, Uh, input_precision=PRECISION)
            cand = 2.0 / (1.0 + tl.exp(-2.0 * a)) - 1.0
            h = z * h + (1.0 - z) * cand
            # the state stays fp32 on chip; only what is written may be rounded (bf16 out)
            tl.store(o_rows + t * sol, h.to(out_ptr.dtype.element_ty, fp_downcast_rounding="rtne"),
                     mask=mask)

    # the weight and bias loads repeat those of gru_states_kernel on purpose: a @triton.jit
    # helper defined here is not visible to the kernels under the interpreter (NameError), and
    # one defined at import would fix the interpreter mode before the tests can set it
    @triton.jit
    def gru_deltas_kernel(x_ptr, h0_ptr, hs_ptr, g_ptr, w_ptr, u_ptr, b_ptr, c_ptr,
                          d_ptr, e_ptr, q_ptr, carry_ptr,
                          B, L, N, IN,
                          sxt, sxb, sxl, sht, shb, sst, ssb, ssl, sdt, sdb, sdl, set_, seb, sel,
                          KEEP_BIAS: tl.constexpr, RESET_AFTER: tl.constexpr,
                          BLOCK_B: tl.constexpr, NP: tl.constexpr, INP: tl.constexpr,
                          PRECISION: tl.constexpr):
        trial = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
        cols = tl.arange(0, NP)
        ks = tl.arange(0, NP)
        ins = tl.arange(0, INP)
        row_ok = rows < B
        col_ok = cols < N
        k_ok = ks < N
        in_ok = ins < IN
        w_base = w_ptr + trial * IN * 3 * N + ins[:, None] * 3 * N + cols[None, :]
        w_mask = in_ok[:, None] & col_ok[None, :]
        Wz = tl.load(w_base, mask=w_mask, other=0.0)
        Wr = tl.load(w_base + N, mask=w_mask, other=0.0)
        Wh = tl.load(w_base + 2 * N, mask=w_mask, other=0.0)
        u_base = u_ptr + trial * N * 3 * N + ks[:, None] * 3 * N + cols[None, :]
        u_mask = k_ok[:, None] & col_ok[None, :]
        Uz = tl.load(u_base, mask=u_mask, other=0.0)
        Ur = tl.load(u_base + N, mask=u_mask, other=0.0)
        Uh = tl.load(u_base + 2 * N, mask=u_mask, other=0.0)
        # the transposed blocks: UzT[a, b] = U[b, a] (gate z), for δ · Uᵀ
        ut_base = u_ptr + trial * N * 3 * N + cols[None, :] * 3 * N + ks[:, None]
        ut_mask = k_ok[:, None] & col_ok[None, :]
        UzT = tl.load(ut_base, mask=ut_mask, other=0.0)
        UrT = tl.load(ut_base + N, mask=ut_mask, other=0.0)
        UhT = tl.load(ut_base + 2 * N, mask=ut_mask, other=0.0)
        bz = tl.full((NP,), 0.0, tl.float32)
        br = tl.full((NP,), 0.0, tl.float32)
        bh = tl.full((NP,), 0.0, tl.float32)
        cz = tl.full((NP,), 0.0, tl.float32)
        cr = tl.full((NP,), 0.0, tl.float32)
        ch = tl.full((NP,), 0.0, tl.float32)
        if KEEP_BIAS:
            bz = tl.load(b_ptr + trial * 3 * N + cols, mask=col_ok, other=0.0)
            br = tl.load(b_ptr + trial * 3 * N + N + cols, mask=col_ok, other=0.0)
            bh = tl.load(b_ptr + trial * 3 * N + 2 * N + cols, mask=col_ok, other=0.0)
            cz = tl.load(c_ptr + trial * 3 * N + cols, mask=col_ok, other=0.0)
            cr = tl.load(c_ptr + trial * 3 * N + N + cols, mask=col_ok, other=0.0)
            ch = tl.load(c_ptr + trial * 3 * N + 2 * N + cols, mask=col_ok, other=0.0)
        mask = row_ok[:, None] & col_ok[None, :]
        x_rows = x_ptr + trial * sxt + rows[:, None] * sxb + ins[None, :]
        x_mask = row_ok[:, None] & in_ok[None, :]
        s_rows = hs_ptr + trial * sst + rows[:, None] * ssb + cols[None, :]
        g_rows = g_ptr + trial * sst + rows[:, None] * ssb + cols[None, :]
        d_rows = d_ptr + trial * sdt + rows[:, None] * sdb + cols[None, :]
        e_rows = e_ptr + trial * set_ + rows[:, None] * seb + cols[None, :]
        q_rows = q_ptr + trial * set_ + rows[:, None] * seb + cols[None, :]
        h_first = tl.load(h0_ptr + trial * sht + rows[:, None] * shb + cols[None, :], mask=mask,
                          other=0.0)
        carry = tl.full((BLOCK_B, NP), 0.0, tl.float32)
        for i in range(L):
            t = L - 1 - i
            if t > 0:
                hp = tl.load(s_rows + (t - 1) * ssl, mask=mask, other=0.0)
            else:
                hp = h_first
            xt = tl.load(x_rows + t * sxl, mask=x_mask, other=0.0)
            z = 1.0 / (1.0 + tl.exp(-(tl.dot(xt, Wz, input_precision=PRECISION) + bz[None, :]
                                      + cz[None, :]
                                      + tl.dot(hp, Uz, input_precision=PRECISION))))
            r = 1.0 / (1.0 + tl.exp(-(tl.dot(xt, Wr, input_precision=PRECISION) + br[None, :]
                                      + cr[None, :]
                                      + tl.dot(hp, Ur, input_precision=PRECISION))))
            xh = tl.dot(xt, Wh, input_precision=PRECISION) + bh[None, :]
            g = tl.load(g_rows + t * ssl, mask=mask, other=0.0) + carry
            if RESET_AFTER:
                hh = tl.dot(hp, Uh, input_precision=PRECISION) + ch[None, :]
                cand = 2.0 / (1.0 + tl.exp(-2.0 * (xh + r * hh))) - 1.0
                a_n = (1.0 - z) * (1.0 - cand * cand)
                dz = g * (hp - cand) * z * (1.0 - z)
                dr = g * a_n * hh * r * (1.0 - r)
                dh = g * a_n * r
                tl.store(e_rows + t * sel, g * a_n, mask=mask)
                carry = tl.dot(dz, UzT, input_precision=PRECISION) \
                    + tl.dot(dr, UrT, input_precision=PRECISION) \
                    + tl.dot(dh, UhT, input_precision=PRECISION) + g * z
            else:
                q = r * hp
                cand = 2.0 / (1.0 + tl.exp(-2.0 * (xh + tl.dot(q, Uh,
                                                               input_precision=PRECISION)))) - 1.0
                a_n = (1.0 - z) * (1.0 - cand * cand)
                dh = g * a_n
                dq = tl.dot(dh, UhT, input_precision=PRECISION)
                dz = g * (hp - cand) * z * (1.0 - z)
                dr = dq * hp * r * (1.0 - r)
                tl.store(e_rows + t * sel, dh, mask=mask)
                tl.store(q_rows + t * sel, q, mask=mask)
                carry = tl.dot(dz, UzT, input_precision=PRECISION) \
                    + tl.dot(dr, UrT, input_precision=PRECISION) + g * z + dq * r
            tl.store(d_rows + t * sdl, dz, mask=mask)
            tl.store(d_rows + t * sdl + N, dr, mask=mask)
            tl.store(d_rows + t * sdl + 2 * N, dh, mask=mask)
        tl.store(carry_ptr + trial * sht + rows[:, None] * shb + cols[None, :], carry, mask=mask)

    _KERNEL = gru_states_kernel
    _DELTAS = gru_deltas_kernel
    return _KERNEL


_KERNEL = None
_DELTAS = None


def _pow2(n: int, least: int) -> int:
    p = least
    while p < n:
        p *= 2
    return p


#: warps per program a launch may use (Triton's default is 4); more warps spread a program's
#: on-chip weight blocks over more registers (a tuning option, timed in a GPU session)
NUM_WARPS = (1, 2, 4, 8, 16)


def _check(x, h0, W, U, b, c, block_b, precision, num_warps=4, **more) -> None:
    """Refuse bad arguments in one line (name, value, what is allowed) before any work."""
    if num_warps not in NUM_WARPS:
        raise ValueError(f"parameter 'num_warps': got {num_warps!r}; allowed: "
                         + ", ".join(map(str, NUM_WARPS)))
    if precision not in PRECISIONS:
        raise ValueError(f"parameter 'precision': got {precision!r}; allowed: "
                         + ", ".join(map(repr, PRECISIONS)))
    if not isinstance(block_b, int) or block_b < 16 or block_b & (block_b - 1):
        raise ValueError(f"parameter 'block_b': got {block_b!r}; allowed: a power of two >= 16")
    if (b is None) != (c is None):
        raise ValueError("parameter 'b, c': got one of them; allowed: both (Keras cell) or "
                         "neither (the paper's cell)")
    if x.dim() != 4:
        raise ValueError(f"parameter 'x': got shape {tuple(x.shape)}; allowed: (T, B, L, in)")
    T, B, L, n_in = x.shape
    n = U.shape[1]
    shapes = {"h0": (h0, (T, B, n)), "W": (W, (T, n_in, 3 * n)), "U": (U, (T, n, 3 * n))}
    if b is not None:
        shapes.update({"b": (b, (T, 1, 3 * n)), "c": (c, (T, 1, 3 * n))})
    shapes.update({k: (v, (T, B, L, n)) for k, v in more.items()})
    for name, (t, want) in shapes.items():
        if tuple(t.shape) != want:
            raise ValueError(f"parameter '{name}': got shape {tuple(t.shape)}; allowed: {want}")
        if t.dtype != torch.float32 or t.device != x.device:
            raise ValueError(f"parameter '{name}': got {t.dtype} on {t.device}; allowed: "
                             f"torch.float32 on {x.device}, as x")
    if x.dtype != torch.float32:
        raise ValueError(f"parameter 'x': got {x.dtype}; allowed: torch.float32")
    if not available(x.device):
        raise RuntimeError(f"the Triton GRU kernel cannot run on {x.device}: it needs Triton and "
                           "a CUDA device (or, on the CPU, TRITON_INTERPRET=1 set before Triton "
                           "is imported)")


def gru_states(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
               b: torch.Tensor | None, c: torch.Tensor | None, block_b: int = 16,
               precision: str = "ieee", out_dtype: torch.dtype = torch.float32,
               num_warps: int = 4) -> torch.Tensor:
    """The states ``(T, B, L, N)`` of ``x`` ``(T, B, L, in)`` from ``h0`` ``(T, B, N)``, as
    :func:`mifd.accel.bptt.gru_states` (the same arguments; ``b``, ``c`` ``(T, 1, 3N)`` for
    the Keras cell, ``None`` for the paper's), in one kernel launch; fp32 inputs, no graph.
    ``out_dtype``: the dtype the states are written in (:data:`STATE_DTYPES`; ``bfloat16``
    halves the bytes written and stored, each state rounded once: the recurrence keeps fp32).
    ``block_b`` sequences per program and ``num_warps`` warps per program: launch settings (the
    same states)."""
    _check(x, h0, W, U, b, c, block_b, precision, num_warps)
    if out_dtype not in STATE_DTYPES:
        raise ValueError(f"parameter 'out_dtype': got {out_dtype}; allowed: "
                         + ", ".join(map(str, STATE_DTYPES)))
    T, B, L, n_in = x.shape
    n = U.shape[1]
    x = x.contiguous()
    h0, W, U = h0.contiguous(), W.contiguous(), U.contiguous()
    keep = b is not None
    bb = b.contiguous() if keep else W
    cc = c.contiguous() if keep else W
    out = torch.empty(T, B, L, n, device=x.device, dtype=out_dtype)
    if L == 0 or B == 0 or T == 0:
        return out
    grid = (T, -(-B // block_b))
    _kernel()[grid](x, h0, W, U, bb, cc, out, B, L, n, n_in,
                    x.stride(0), x.stride(1), x.stride(2), h0.stride(0), h0.stride(1),
                    out.stride(0), out.stride(1), out.stride(2),
                    KEEP_BIAS=keep, RESET_AFTER=keep, BLOCK_B=block_b, NP=_pow2(n, 16),
                    INP=_pow2(n_in, 16), PRECISION=precision, num_warps=num_warps)
    return out


def _outer_sum(a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    T = a.shape[0]
    return torch.bmm(a.reshape(T, -1, a.shape[-1]).transpose(1, 2), d.reshape(T, -1, d.shape[-1]))


def gru_backward(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
                 b: torch.Tensor | None, c: torch.Tensor | None, H: torch.Tensor,
                 gH: torch.Tensor, block_b: int = 16, precision: str = "ieee",
                 num_warps: int = 4) -> tuple[torch.Tensor, ...]:
    """The gradients ``(dx, dh0, dW, dU, db, dc)`` of ``Σ gH ⊙ H`` for the states ``H`` of
    :func:`gru_states`, as the hand-written BPTT of :mod:`mifd.accel.bptt` (``db``, ``dc``:
    ``None`` for the paper's cell). One reverse-time kernel launch recomputes each step's gates
    from ``H`` and writes the δ of every gate's pre-activation; the weight gradients are then
    batched products over all steps (equal to the reference up to float rounding)."""
    _check(x, h0, W, U, b, c, block_b, precision, num_warps, H=H, gH=gH)
    T, B, L, n_in = x.shape
    n = U.shape[1]
    x, h0, W, U = x.contiguous(), h0.contiguous(), W.contiguous(), U.contiguous()
    H, gH = H.contiguous(), gH.contiguous()
    keep = b is not None
    bb = b.contiguous() if keep else W
    cc = c.contiguous() if keep else W
    D = torch.empty(T, B, L, 3 * n, device=x.device, dtype=torch.float32)
    E = torch.empty(T, B, L, n, device=x.device, dtype=torch.float32)
    Q = torch.empty(T, B, L, n, device=x.device, dtype=torch.float32) if not keep else E
    dh0 = torch.zeros_like(h0)
    if L and B and T:
        _kernel()
        _DELTAS[(T, -(-B // block_b))](
            x, h0, H, gH, W, U, bb, cc, D, E, Q, dh0, B, L, n, n_in,
            x.stride(0), x.stride(1), x.stride(2), h0.stride(0), h0.stride(1),
            H.stride(0), H.stride(1), H.stride(2), D.stride(0), D.stride(1), D.stride(2),
            E.stride(0), E.stride(1), E.stride(2),
            KEEP_BIAS=keep, RESET_AFTER=keep, BLOCK_B=block_b, NP=_pow2(n, 16),
            INP=_pow2(n_in, 16), PRECISION=precision, num_warps=num_warps)
    Hp = torch.cat([h0[:, :, None], H[:, :, :-1]], dim=2)
    Dgx = torch.cat([D[..., :2 * n], E], dim=-1)
    if keep:
        dU = _outer_sum(Hp, D)
        dc = D.sum(dim=(1, 2))[:, None]
        db = Dgx.sum(dim=(1, 2))[:, None]
    else:
        dU = torch.cat([_outer_sum(Hp, D[..., :2 * n]), _outer_sum(Q, E)], dim=-1)
        db = dc = None
    dW = _outer_sum(x, Dgx)
    dx = torch.bmm(Dgx.reshape(T, B * L, 3 * n), W.transpose(1, 2)).view(T, B, L, n_in)
    return dx, dh0, dW, dU, db, dc


class GRUScan(torch.autograd.Function):
    """The states of :func:`gru_states` with the backward of :func:`gru_backward`: the
    persistent kernels as a differentiable GRU (``states``: states already computed by a
    no-grad pass of the same weights, as :func:`mifd.accel.bptt.gru_scan` takes them)."""

    @staticmethod
    def forward(ctx, x, h0, W, U, b, c, states, block_b, precision):  # type: ignore[override]
        H = gru_states(x.detach(), h0.detach(), W.detach(), U.detach(),
                       None if b is None else b.detach(), None if c is None else c.detach(),
                       block_b, precision) if states is None else states
        ctx.save_for_backward(x, h0, W, U, b, c, H)
        ctx.block_b, ctx.precision = block_b, precision
        return H

    @staticmethod
    def backward(ctx, gH):  # type: ignore[override]
        x, h0, W, U, b, c, H = ctx.saved_tensors
        dx, dh0, dW, dU, db, dc = gru_backward(x, h0, W, U, b, c, H, gH, ctx.block_b,
                                               ctx.precision)
        return dx, dh0, dW, dU, db, dc, None, None, None


def gru_scan(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
             b: torch.Tensor | None, c: torch.Tensor | None,
             states: torch.Tensor | None = None, block_b: int = 16,
             precision: str = "ieee") -> torch.Tensor:
    """Differentiable GRU states by the persistent kernels (forward :func:`gru_states`,
    backward :func:`gru_backward`); the arguments as :func:`mifd.accel.bptt.gru_scan`'s."""
    return GRUScan.apply(x, h0, W, U, b, c, None if states is None else states.detach(),
                         block_b, precision)
