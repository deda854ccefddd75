"""The names of benchmark rows: ``mifd`` followed by the options it runs with, or a port.

A row's name says what it changes from the default row ``mifd`` (e.g. ``mifd+bf16+fused+graph``);
these helpers parse it, say which settings it stands for, whether its results are exact, and
reject unknown names or options the device cannot run. No training code is imported here.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ..config import ConfigError

#: what each part of a row's name changes from the default row ``mifd``: a row is ``mifd``
#: followed by any of these parts, e.g. ``mifd+bf16+fused+graph``. ``trainer``: a trainer
#: setting; ``config``: config fields; ``host``: the allocator (``-mmap``: glibc's default)
ROW_PARTS: dict[str, tuple[str, dict[str, Any]]] = {
    "-2pass": ("trainer", {"one_pass_critic": False}),  # joint, shuffled pairs in two passes
    "+compile": ("config", {"compile_critic": True}),   # compiled critic (compiles in warm-up)
    "+bf16": ("config", {"sm_precision": "bf16"}),      # bf16 critic matmuls (not exact)
    "+tf32": ("config", {"sm_precision": "tf32"}),      # TF32 critic matmuls (CUDA; not exact)
    "+fused": ("config", {"fused_bptt": True}),         # hand-written BPTT
    "+graph": ("config", {"graph_sm_pass": True}),      # SM passes from a CUDA graph (CUDA)
    "+merged": ("config", {"merge_mm_pass": True}),     # MM forward in the SM pass (+fused)
    "+triton": ("config", {"gru_kernel": "triton"}),    # separation: the Triton GRU (CUDA)
    "+bf16h": ("config", {"sm_states": "bf16"}),        # separation: SM-pass states in bf16
    "-mmap": ("host", {}),                              # glibc's default allocator
}
#: parts whose results differ from the default's by more than float rounding
INEXACT_PARTS = ("+bf16", "+tf32", "+bf16h")
#: the statistics network's matmul precisions: at most one per row
CRITIC_PRECISION_PARTS = ("+bf16", "+tf32")
#: parts that need a CUDA device
CUDA_PARTS = ("+tf32", "+graph", "+triton")
#: parts that need another part in the same row
NEEDS_PARTS = {"+merged": "+fused"}
#: the straightforward port: with glibc's default allocator, and with freed memory retained
PORTS = ("port", "port+retain")


def row_parts(impl: str, name: str = "impls") -> list[str]:
    """The parts of a row name (``mifd+bf16+fused`` → ``["+bf16", "+fused"]``); a port is
    ``[]``. Unknown names are rejected with what is allowed."""
    if impl in PORTS:
        return []
    parts = re.findall(r"[+-][a-z0-9]+", impl[4:])
    if not impl.startswith("mifd") or "".join(parts) != impl[4:] or \
            any(p not in ROW_PARTS for p in parts) or len(set(parts)) != len(parts) or \
            sum(p in CRITIC_PRECISION_PARTS for p in parts) > 1:
        raise ConfigError(f"parameter '{name}': got {impl!r}; allowed: 'mifd' followed by any "
                          "of " + ", ".join(repr(p) for p in ROW_PARTS) + " (e.g. "
                          "'mifd+bf16+fused'; each at most once, one critic precision), or one of "
                          + ", ".join(repr(p) for p in PORTS))
    for p in parts:
        if p in NEEDS_PARTS and NEEDS_PARTS[p] not in parts:
            raise ConfigError(f"parameter '{name}': got {impl!r}; allowed: {p!r} only with "
                              f"{NEEDS_PARTS[p]!r} (e.g. 'mifd{NEEDS_PARTS[p]}{p}')")
    return parts


def row_settings(impl: str, kind: str) -> dict[str, Any]:
    """The trainer settings (``kind="trainer"``) or config fields (``"config"``) of a row."""
    out: dict[str, Any] = {}
    for part in row_parts(impl):
        k, settings = ROW_PARTS[part]
        if k == kind:
            out.update(settings)
    return out


def is_exact(impl: str) -> bool:
    """Whether a row's results equal the default's within float tolerance (the ports and every
    ``mifd`` row without a reduced-precision part)."""
    return not any(p in INEXACT_PARTS for p in row_parts(impl))


def is_exact_mifd(impl: str) -> bool:
    """An exact ``mifd`` row: the goals are judged on these."""
    return impl not in PORTS and is_exact(impl)


def retains_host_memory(impl: str) -> bool:
    """Whether a row retains freed host memory (``mifd.accel.allocator``; what ``mifd.run`` does on
    CPU): every ``mifd`` row without ``-mmap``, and ``port+retain``; ``port`` runs as a plain
    script would, with glibc's defaults."""
    return impl == "port+retain" or (impl != "port" and "-mmap" not in row_parts(impl))


def check_rows(impls: Sequence[str], device: str, name: str = "impls") -> None:
    """Reject unknown row names, and CUDA-only parts on another device, before anything runs."""
    for impl in impls:
        bad = [p for p in row_parts(impl, name) if p in CUDA_PARTS]
        if bad and not device.startswith("cuda"):
            raise ConfigError(f"parameter '{name}': got {impl!r} on {device}; allowed there: rows "
                              f"without {', '.join(bad)} (CUDA only)")
