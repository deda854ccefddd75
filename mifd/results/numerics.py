"""What decides a CPU run's last bits: the machine's numerics record and a batch-invariance probe.

A trial's computation is meant not to depend on its batch companions (trials are a batch
dimension). On the CPU that holds exactly only where the BLAS computes each matrix of a batched
product (``torch.bmm``) the same way whatever the batch's size. Measured (2026-12, torch 2.13,
MKL 2024.2): on an Intel Xeon with AVX-512 every batch of ≥ 2 matrices gives the same bits and a
batch of one (which torch hands to a plain ``gemm``) does not; on an AMD EPYC with AVX-512 a
product with a long contraction (a weight gradient summed over thousands of samples) changes in
its last bit with the batch's size — there MKL picks its kernel by the batch. The difference is
an ulp of a float32 sum; training can carry it further.

A second source, on every CPU capability: torch's vectorized ``sigmoid`` (also ``softplus``,
``elu`` and sigmoid's backward) computes the elements of a tensor's last partial vector with a
scalar formula (``std::exp``) whose last bit differs from the vectorized one (Sleef), so an
element's value depends on the tensor's total size — a GRU gate of one trial changes with the
number of trials in the batch (found 2026-12 by comparing every aten op of a separation step run
in a batch of 4 and of 2: the first differing op with equal inputs was ``aten.sigmoid``; ``tanh``,
``exp``, ``log``, products and sums are size-invariant). The working-memory runs (tanh, ReLU
critic) are not affected; the GRU experiments (separation and those built on it) and Growing
Brains are.

So the project's "bit for bit" claims are made only where they hold: :func:`batch_invariance`
measures it on this machine (the tests compare shards, condition parts and experiments that
share conditions exactly where it holds, within a stated bound elsewhere), and every result
records the machine's numerics (:func:`record`) so that a replay compares bit for bit on the
same numerics and within a stated tolerance across them (:mod:`mifd.results.replay`).
"""

from __future__ import annotations

import functools
import os
import platform
import re
from typing import Any, Mapping

import numpy as np
import torch

__all__ = ["ELEMENTWISE", "FLAGS", "batch_invariance", "numerics_key", "record",
           "same_numerics", "size_invariant"]

#: CPU flags that decide which kernels torch and MKL run
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16",
         "amx_int8")
#: environment variables that change which CPU kernels run
ENVIRONMENT = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS")


def _cpuinfo() -> dict[str, str]:
    try:
        text = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return {}
    first = text.split("\n\n", 1)[0]
    out = {}
    for line in first.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _blas() -> str:
    """The BLAS torch was built with, and its version where the build says it."""
    cfg = torch.__config__.show()
    m = re.search(r"Math Kernel Library Version ([0-9.]+)", cfg)
    if m:
        return f"MKL {m.group(1)}"
    m = re.search(r"BLAS_INFO=([A-Za-z0-9_]+)", cfg)
    return m.group(1) if m else "unknown"


@functools.lru_cache(maxsize=1)
def record() -> dict[str, Any]:
    """The machine's numerics: CPU vendor, model and the flags of :data:`FLAGS`, torch's CPU
    capability, the BLAS, numpy's version and the environment variables that pick kernels."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    return {
        "cpu_vendor": info.get("vendor_id") or platform.machine(),
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_flags": [f for f in FLAGS if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": _blas(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
    }


def numerics_key(rec: Mapping[str, Any] | None) -> tuple | None:
    """What two machines must share for a CPU run to give the same bits: vendor, capability,
    BLAS, torch and the kernel-picking environment (``None``: not recorded)."""
    if not rec or "torch_cpu_capability" not in rec:
        return None
    return (rec.get("cpu_vendor"), rec.get("torch_cpu_capability"), rec.get("blas"),
            rec.get("torch"), tuple(sorted((rec.get("environment") or {}).items())))


def same_numerics(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool | None:
    """Whether two numerics records promise the same bits (``None`` if either is unrecorded)."""
    ka, kb = numerics_key(a), numerics_key(b)
    if ka is None or kb is None:
        return None
    return ka == kb


#: (rows, contraction, columns) of the probe's products: a critic weight gradient (20 inputs,
#: 4096 samples, 64 units) and a recurrent weight gradient over a sequence (40 × 2000 × 40)
PROBE_SHAPES = ((20, 4096, 64), (40, 2000, 40))
PROBE_BATCHES = (2, 3, 4, 5, 6, 8)


#: elementwise functions whose value should not depend on the size of the tensor holding it
ELEMENTWISE = {"sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus,
               "tanh": torch.tanh, "exp": torch.exp}


def size_invariant(fn, sizes: range = range(1, 80), pad: int = 37) -> bool:
    """Whether ``fn`` gives each element the same bits in tensors of every size (the first
    ``n`` elements alone and inside a longer tensor, for each ``n`` in ``sizes``)."""
    g = torch.Generator().manual_seed(1)
    for n in sizes:
        x = torch.randn(n + pad, generator=g)
        if not torch.equal(fn(x)[:n], fn(x[:n].clone())):
            return False
    return True


@functools.lru_cache(maxsize=1)
def batch_invariance() -> dict[str, bool]:
    """Measure on this machine whether a matrix of a batched product (``torch.bmm``, float32,
    the shapes of ``PROBE_SHAPES``) gets the same bits in batches of every size of
    ``PROBE_BATCHES`` (``batched``) and alone (``single``: a batch of one), and, per
    function of :data:`ELEMENTWISE`, whether its values do not depend on the tensor's size."""
    g = torch.Generator().manual_seed(0)
    batched = single = True
    for m, k, n in PROBE_SHAPES:
        a = torch.randn(max(PROBE_BATCHES), m, k, generator=g)
        b = torch.randn(max(PROBE_BATCHES), k, n, generator=g)
        ref = torch.bmm(a[:2], b[:2])[0]
        for T in PROBE_BATCHES:
            if not torch.equal(torch.bmm(a[:T].contiguous(), b[:T].contiguous())[0], ref):
                batched = False
        if not torch.equal(torch.bmm(a[:1].contiguous(), b[:1].contiguous())[0], ref):
            single = False
    return {"batched": batched, "single": single,
            **{name: size_invariant(fn) for name, fn in ELEMENTWISE.items()}}
