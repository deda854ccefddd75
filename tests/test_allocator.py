"""Retaining freed host memory (mifd.accel.allocator): no page faults for reused blocks, results
bit-identical, the setting restored and validated."""

import resource
import subprocess
import sys

import numpy as np
import pytest
import torch

import mifd
from mifd.accel import allocator
from mifd.config import ConfigError

pytestmark = pytest.mark.skipif(not allocator.available(), reason="needs glibc's mallopt")

CHURN = """
import resource, sys, torch
from mifd.accel import allocator
if sys.argv[1] == "retain":
    assert allocator.retain_freed_memory(True)

def churn():
    for _ in range(5):
        t = torch.empty(64 * 2 ** 20 // 4)  # 64 MiB: above glibc's largest mmap threshold
        t.fill_(1.0)                         # touch every page
        del t

for _ in range(3):  # reach a steady state: glibc's heap settles after a few blocks
    churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    """Minor page faults of five 64 MiB allocate-touch-free cycles in a fresh process."""
    p = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.split()[-1])


def test_retained_blocks_are_reused_without_page_faults():
    off, on = _page_faults("default"), _page_faults("retain")
    pages = 64 * 2 ** 20 // resource.getpagesize()
    # glibc's default: each 64 MiB block is mmap-ed afresh and faulted in again (with 4 KiB
    # pages 5 × 16384 faults; fewer where transparent huge pages back it)
    assert off > 0
    assert on <= off // 10 and on < pages // 10


def test_host_memory_restores_the_previous_setting():
    before = allocator.retaining()
    with allocator.host_memory(not before):
        assert allocator.retaining() is (not before)
        with allocator.host_memory(before):
            assert allocator.retaining() is before
        assert allocator.retaining() is (not before)
    assert allocator.retaining() is before


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    return a == b


def test_a_run_is_bit_identical_with_and_without_retained_memory(store_env, monkeypatch):
    monkeypatch.setenv(allocator.ENV, "0")  # the runner leaves the setting alone
    with allocator.host_memory(False):
        r0 = mifd.run("wm", "smoke", "cpu", verbose=False, force=True)
    assert r0.meta["retain_host_memory"] is False
    monkeypatch.setenv(allocator.ENV, "1")  # the runner turns it on (for the process)
    r1 = mifd.run("wm", "smoke", "cpu", verbose=False, force=True)
    assert r1.meta["retain_host_memory"] is True and allocator.retaining()
    assert _same(r0.result, r1.result)


def test_bad_environment_value_is_rejected_before_anything_is_written(store_env, monkeypatch):
    monkeypatch.setenv(allocator.ENV, "maybe")
    with pytest.raises(ConfigError, match="MIFD_RETAIN_HOST_MEMORY.*'maybe'.*allowed"):
        mifd.run("wm", "smoke", "cpu", verbose=False)
    assert not store_env.exists()
