"""A compiled-kernel cache of its own for each forced CPU capability.

TorchInductor (``torch.compile``, used by the ``compile_critic`` option) keeps the CPU kernels it
compiles in a cache directory whose keys do not include ``ATEN_CPU_CAPABILITY`` (torch 2.13):
kernels compiled under one capability and loaded under another gave wrong values (a compiled
critic's DV 9.6e7 against 0.08) or crashed the process ("double free or corruption"), measured on
an AMD EPYC with AVX-512 with ``ATEN_CPU_CAPABILITY=avx2`` beside the default. With a fresh cache
both agree with the eager critic. :func:`separate_cache` gives a forced capability its own cache
directory (unless ``TORCHINDUCTOR_CACHE_DIR`` is set already), so the default's cache is never
read or written under another capability.
"""

from __future__ import annotations

import getpass
import os
import tempfile


def separate_cache() -> str | None:
    """Point ``TORCHINDUCTOR_CACHE_DIR`` at a directory of the forced capability's own (read
    by TorchInductor when it next compiles); returns it, or ``None`` when no capability is forced
    or a cache directory is set already."""
    cap = os.environ.get("ATEN_CPU_CAPABILITY")
    if not cap or os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return None
    try:
        user = getpass.getuser()
    except Exception:  # no user name (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    path = os.path.join(tempfile.gettempdir(), f"torchinductor_{user}_{cap}")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    return path
