"""A persistent GRU recurrence in Triton: the whole time loop of a no-grad pass in one kernel
launch (the chaotic-separation experiment's statistics-network passes spend their time in the
10 000-step loop of :func:`mifd.models.bptt.gru_states`, one small product per step).

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

Not yet here (issue: separation at the published scale): the backward pass, a bf16 state
option, and the wiring into :class:`mifd.models.gru.TrialGRU` (it changes the code hash of the
committed separation results, so it waits for their recompute).
"""

from __future__ import annotations

import os

import torch

PRECISIONS = ("ieee", "tf32")


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
    global _KERNEL
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
            tl.store(o_rows + t * sol, h, mask=mask)

    _KERNEL = gru_states_kernel
    return _KERNEL


_KERNEL = None


def _pow2(n: int, least: int) -> int:
    p = least
    while p < n:
        p *= 2
    return p


def gru_states(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, U: torch.Tensor,
               b: torch.Tensor | None, c: torch.Tensor | None, block_b: int = 16,
               precision: str = "ieee") -> torch.Tensor:
    """The states ``(T, B, L, N)`` of ``x`` ``(T, B, L, in)`` from ``h0`` ``(T, B, N)``, as
    :func:`mifd.models.bptt.gru_states` (the same arguments; ``b``, ``c`` ``(T, 1, 3N)`` for
    the Keras cell, ``None`` for the paper's), in one kernel launch. fp32 only, no graph."""
    if precision not in PRECISIONS:
        raise ValueError(f"parameter 'precision': got {precision!r}; allowed: "
                         + ", ".join(map(repr, PRECISIONS)))
    if not isinstance(block_b, int) or block_b < 16 or block_b & (block_b - 1):
        raise ValueError(f"parameter 'block_b': got {block_b!r}; allowed: a power of two >= 16")
    if (b is None) != (c is None):
        raise ValueError("parameter 'b, c': got one of them; allowed: both (Keras cell) or "
                         "neither (the paper's cell)")
    T, B, L, n_in = x.shape
    n = U.shape[1]
    shapes = {"h0": (h0, (T, B, n)), "W": (W, (T, n_in, 3 * n)), "U": (U, (T, n, 3 * n))}
    if b is not None:
        shapes.update({"b": (b, (T, 1, 3 * n)), "c": (c, (T, 1, 3 * n))})
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
    x = x.contiguous()
    h0, W, U = h0.contiguous(), W.contiguous(), U.contiguous()
    keep = b is not None
    bb = b.contiguous() if keep else W
    cc = c.contiguous() if keep else W
    out = torch.empty(T, B, L, n, device=x.device, dtype=torch.float32)
    if L == 0 or B == 0 or T == 0:
        return out
    grid = (T, -(-B // block_b))
    _kernel()[grid](x, h0, W, U, bb, cc, out, B, L, n, n_in,
                    x.stride(0), x.stride(1), x.stride(2), h0.stride(0), h0.stride(1),
                    out.stride(0), out.stride(1), out.stride(2),
                    KEEP_BIAS=keep, RESET_AFTER=keep, BLOCK_B=block_b, NP=_pow2(n, 16),
                    INP=_pow2(n_in, 16), PRECISION=precision)
    return out
