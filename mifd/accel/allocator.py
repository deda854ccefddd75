"""Host-memory allocation: keep freed memory in the process instead of handing it back.

At the published working-memory sizes every statistics-network step allocates and frees
tensors of about 160 MB (40 000 joint + 40 000 shuffled pairs × 512 units × 4 bytes). glibc
serves blocks above its ``mmap`` threshold (at most 32 MiB) with a fresh ``mmap`` and returns
them with ``munmap`` on free, so the kernel page-faults and zeroes every such tensor again on
every step, which costs system time on top of the arithmetic (the performance appendix
computes how much, from the benchmark rows ``mifd`` and ``mifd-mmap`` and from
``mifd.perf.allocator_ab.allocator_ab``). :func:`retain_freed_memory` tells glibc to serve every block
from its heap and never to trim the heap, so freed blocks are reused. Nothing about the
arithmetic changes (results are bit-identical); the price is that the process keeps its peak
host memory until it exits.

``mifd.run`` turns this on for CPU runs unless the environment sets
``MIFD_RETAIN_HOST_MEMORY=0``; on a C library other than glibc (macOS, musl) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from contextlib import contextmanager
from typing import Iterator

from ..config import ConfigError

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# glibc's defaults, to restore them
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
# above any heap this package grows; below 2**31 (mallopt takes an int)
_NEVER_TRIM = 2 ** 31 - 1

ENV = "MIFD_RETAIN_HOST_MEMORY"

_state = {"retain": False}


def _mallopt():
    """glibc's ``mallopt``, or ``None`` where the C library has none (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallopt
        libc.gnu_get_libc_version  # only glibc has it (musl has a mallopt that does nothing)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def available() -> bool:
    """Whether the setting can take effect here (a glibc process)."""
    return _mallopt() is not None


def retaining() -> bool:
    """Whether this process currently retains freed host memory (set by this module)."""
    return _state["retain"]


def retain_freed_memory(retain: bool = True) -> bool:
    """``retain=True``: serve every allocation from the heap (``M_MMAP_MAX=0``) and never trim
    it, so freed blocks are reused without page faults. ``retain=False``: glibc's default
    limits again (large blocks ``mmap``-ed, the heap trimmed above 128 KiB; glibc's dynamic
    ``mmap`` threshold stays off once any option was set). Returns whether the setting took
    effect (``False`` where the C library is not glibc)."""
    fn = _mallopt()
    if fn is None:
        return False
    ok = fn(_M_MMAP_MAX, 0 if retain else _DEFAULT_MMAP_MAX) == 1
    ok &= fn(_M_TRIM_THRESHOLD, _NEVER_TRIM if retain else _DEFAULT_TRIM_THRESHOLD) == 1
    if ok:
        _state["retain"] = retain
    return ok


@contextmanager
def host_memory(retain: bool) -> Iterator[bool]:
    """Retain (or not) freed host memory inside the block, then go back to the previous
    setting; yields whether the setting took effect."""
    before = retaining()
    if retain == before:  # nothing to change: leave glibc untouched
        yield True
        return
    ok = retain_freed_memory(retain)
    try:
        yield ok
    finally:
        if ok:
            retain_freed_memory(before)


def default_for_runs() -> bool:
    """Whether runs retain freed host memory: yes unless ``MIFD_RETAIN_HOST_MEMORY=0``."""
    value = os.environ.get(ENV, "1").strip().lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment variable {ENV}: got {value!r}; allowed: 1 or 0")
