import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# a forced CPU capability (ATEN_CPU_CAPABILITY=avx2 beside the default) compiles its kernels into
# a cache of its own: TorchInductor's cache does not key them by capability (mifd.accel.inductor)
from mifd.accel.inductor import separate_cache  # noqa: E402

separate_cache()


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    """An empty results store for this test (also for subprocesses)."""
    store = tmp_path / "store"
    monkeypatch.setenv("MIFD_STORE", str(store))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    return store


def leaves(d, pre=""):
    """``(dotted path, value)`` of every leaf of a nested result dict."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from leaves(v, f"{pre}{k}.")
        else:
            yield f"{pre}{k}", v


def fake_committed_shards(counts):
    """A stand-in for ``mifd.results.shards.committed_shards``: ``counts`` maps a statistics-network
    precision to the number of committed trials per condition (none: no shards)."""
    from types import SimpleNamespace

    def committed(experiment, profile, device, store=None, where=None, first_seed=None):
        n = counts.get(where["sm_precision"])
        return None if not n else SimpleNamespace(config=SimpleNamespace(trials=n))
    return committed


def mifd_cmd(*args):
    return [str(BIN / "mifd"), *args]


def env_with(**kw):
    e = dict(os.environ)
    e.update({k: str(v) for k, v in kw.items()})
    return e


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory):
    """One results store for the whole test session, shared by the smoke build of the book and
    the papermill runs of its chapters: whichever runs a chapter first computes its `smoke`
    results, the other loads them (so each chapter's runs are computed once per session)."""
    return tmp_path_factory.mktemp("smoke-store")


@pytest.fixture(scope="session")
def smoke_book(smoke_store):
    """The book built once per test session with ``mifd book --profile smoke`` (warnings are
    errors); returns the HTML folder. Starts from the session's `smoke` store (empty unless a
    chapter's papermill test ran first), so every chapter computes or loads its results."""
    import subprocess
    store = smoke_store
    p = subprocess.run(mifd_cmd("book", "--profile", "smoke"), cwd=ROOT, capture_output=True,
                       text=True, timeout=1800, env=env_with(MIFD_STORE=store))
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return ROOT / "_build" / "smoke" / "_build" / "html"


def toc_files():
    import re
    return re.findall(r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text())


#: where this machine's BLAS gives a matrix of a batched product other bits in batches of other
#: sizes (``mifd.results.numerics.batch_invariance``: an AMD EPYC with MKL), or torch's sigmoid gives an
#: element other bits in tensors of other sizes (every CPU today), runs whose trials share their
#: batch with other companions are compared within this bound instead of bit for bit: an ulp of
#: a float32 value carried through a few smoke steps (seen: 7.5e-9 and 1.5e-7 absolute, 1.7e-10
#: on a metric)
BATCH_RTOL, BATCH_ATOL = 1e-5, 1e-6


def batch_invariant() -> bool:
    """Whether trials computed in batches of different sizes give the same bits here: batched
    products and the GRU's sigmoid (which torch computes size-dependently on every CPU today:
    ``mifd.results.numerics``; the tests that call this run GRUs)."""
    from mifd.results.numerics import batch_invariance
    got = batch_invariance()
    return got["batched"] and got["sigmoid"]


def assert_batch_equal(actual, expected, err_msg=""):
    """Equal bit for bit where this machine is batch-invariant (:func:`batch_invariant`), else
    within :data:`BATCH_RTOL`/:data:`BATCH_ATOL` (the batch's size picks another BLAS kernel)."""
    import numpy as np
    if batch_invariant():
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
    else:
        np.testing.assert_allclose(actual, expected, rtol=BATCH_RTOL, atol=BATCH_ATOL,
                                   err_msg=f"{err_msg} (this BLAS is not batch-invariant)")


def assert_summaries_equal(a, b):
    """Two run summaries equal (within the batch bound where the BLAS is not batch-invariant)."""
    import numpy as np
    if batch_invariant():
        assert a == b
        return
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_summaries_equal(a[k], b[k])
        elif isinstance(a[k], (int, float)) and not isinstance(a[k], bool):
            assert_batch_equal(np.float64(b[k]), np.float64(a[k]), err_msg=k)
        else:
            assert a[k] == b[k], k
