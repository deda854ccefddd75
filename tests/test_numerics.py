"""The machine's numerics record, the batch-invariance probe, and what a replay on other
numerics accepts (issue: bit-for-bit claims that say where they stop)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import conftest
from mifd.results import numerics, provenance, replay
from mifd.results.store import machine_info

from conftest import ROOT, assert_batch_equal


def test_every_result_records_the_cpu_numerics():
    rec = machine_info("cpu")["numerics"]
    for k in ("cpu_vendor", "cpu_model", "cpu_flags", "torch_cpu_capability", "blas", "numpy",
              "torch", "environment"):
        assert k in rec, k
    assert rec["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert rec["numpy"] == np.__version__
    assert set(rec["cpu_flags"]) <= set(numerics.FLAGS)


def test_same_numerics_needs_vendor_capability_blas_and_environment():
    a = numerics.record()
    assert numerics.same_numerics(a, dict(a)) is True
    assert numerics.same_numerics(a, {**a, "cpu_model": "another model"}) is True
    for k, v in (("torch_cpu_capability", "AVX2" if a["torch_cpu_capability"] != "AVX2"
                  else "AVX512"), ("blas", "OpenBLAS"), ("cpu_vendor", "AuthenticAMD!"),
                 ("environment", {"MKL_CBWR": "AVX2"})):
        assert numerics.same_numerics(a, {**a, k: v}) is False, k
    assert numerics.same_numerics(a, None) is None
    assert numerics.same_numerics(a, {"torch": "2.13.0"}) is None  # a record before numerics


def test_the_probe_answers_for_batches_of_other_sizes():
    got = numerics.batch_invariance()
    assert set(got) == {"batched", "single", *numerics.ELEMENTWISE}
    assert all(isinstance(v, bool) for v in got.values())
    # the probe can fail: a function whose value depends on the tensor's size is found
    assert not numerics.size_invariant(lambda x: x + x.numel() * 1e-3)
    assert numerics.size_invariant(lambda x: x * 2)
    if got["batched"]:  # then a new product of the probe's kind agrees across batch sizes too
        g = torch.Generator().manual_seed(3)
        a, b = torch.randn(7, 20, 4096, generator=g), torch.randn(7, 4096, 64, generator=g)
        assert torch.equal(torch.bmm(a[:2], b[:2])[1], torch.bmm(a, b)[1])


def test_the_batch_bound_is_exact_where_invariant_and_bounded_elsewhere(monkeypatch):
    x = np.linspace(0.5, 1.5, 50, dtype=np.float32)
    ulp = x + np.spacing(x)
    monkeypatch.setattr(conftest, "batch_invariant", lambda: True)
    with pytest.raises(AssertionError):
        assert_batch_equal(ulp, x)
    monkeypatch.setattr(conftest, "batch_invariant", lambda: False)
    assert_batch_equal(ulp, x)  # an ulp passes
    with pytest.raises(AssertionError, match="not batch-invariant"):
        assert_batch_equal(x * 1.001, x)  # a real difference does not


def _state(task):
    return {"current": {"unit": "train", "step": 3,
                        "state": {"hist": {"task": task}, "snaps": [{"Q": np.float32(0.25)}]}}}


@pytest.mark.parametrize("change, same, other", [(0.0, True, True), (1e-7, False, True),
                                                  (1e-2, False, False)])
def test_a_replay_on_other_numerics_accepts_rounding_not_a_change(change, same, other):
    """On other numerics the first step is compared within the tolerance, later steps not
    (training amplifies rounding: a difference at step 3 is not held against the code)."""
    stored = np.full((5, 2), np.nan, dtype=np.float32)
    stored[:3] = [[1.0, 2.0], [0.5, 0.25], [0.125, 3.0]]
    result = {"hist": {"task": stored}, "snaps": {"Q": np.array([0.25, 0.5], np.float32)}}
    made = stored.copy()
    made[0, 1] *= np.float32(1 + change)
    made[2, 0] += np.float32(0.5 if change else 0.0)  # later: amplified rounding
    r = replay._compare_state(_state(made), result, "wm", "k", "same")
    assert r.reproduced is same and r.mode == "bit for bit"
    for kind in ("different", "unrecorded"):
        r = replay._compare_state(_state(made), result, "wm", "k", kind)
        assert r.reproduced is other
        if other and change:
            assert r.mode == "within tolerance" and 0 < r.tolerance["hist/task"] < 1e-6
            rec = r.record("c" * 16)
            assert rec["mode"] == "within tolerance" and rec["numerics"] == kind
            line = provenance.describe_reproduction(
                {"code": {"hash": "x"}, "reproduced": [rec]}, "c" * 16)
            assert "within 0.001 of each value's scale over its first step and initial" in line
            assert "bit for bit" not in line and r.steps == 1
        elif other:
            assert r.mode == "bit for bit"


INVARIANCE_TESTS = (
    "tests/test_penalty_experiment.py::"
    "test_separation_penalties_none_and_mine_are_separation_no_mi_and_mi_l2_bit_for_bit",
    "tests/test_numerics.py::test_the_probe_answers_for_batches_of_other_sizes",
)


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT")
                    or os.environ.get("ATEN_CPU_CAPABILITY"),
                    reason="this process already runs torch's AVX2 (or lower) kernels")
def test_the_invariance_checks_pass_with_torchs_avx2_kernels_too():
    """On a machine with AVX-512 the suite runs torch's AVX-512 kernels; the batch-invariance
    checks run here once more with ``ATEN_CPU_CAPABILITY=avx2``."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "MIFD_PROGRESS": "0"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *INVARIANCE_TESTS], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 passed" in out.stdout


def test_the_chaos_data_do_not_depend_on_the_blas_kernels_of_the_caller(monkeypatch):
    """solve_ivp's step control takes norms through OpenBLAS, whose kernels differ by CPU; the
    generator's workers run the pinned kernels whatever the calling process asked for."""
    from mifd.tasks import chaos
    if "avx2" not in numerics.record()["cpu_flags"]:
        pytest.skip("the pinned OpenBLAS kernels need AVX2")
    spec = chaos.ChaosSpec(t_lorenz=20.0, t_rossler=140.0, n_eval=2800, drop=800, length=2000)
    ref = chaos.generate([5, 6], spec, workers=1)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Sandybridge")  # other kernels, other trajectories
    assert np.array_equal(chaos.generate([5, 6], spec, workers=2), ref)
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"}
    code = ("import sys, numpy as np; from mifd.tasks.chaos import ChaosSpec, make_pair; "
            "s = ChaosSpec(t_lorenz=20.0, t_rossler=140.0, n_eval=2800, drop=800, length=2000); "
            "np.save(sys.argv[1], np.stack([make_pair(k, s) for k in (5, 6)]))")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", code, f"{tmp}/x.npy"], env=env, check=True)
        other = np.load(f"{tmp}/x.npy")
    assert not np.array_equal(other, ref)  # the test can fail: those kernels give other data


def test_a_forced_cpu_capability_compiles_into_a_cache_of_its_own(monkeypatch):
    """TorchInductor does not key its CPU kernels by ATEN_CPU_CAPABILITY: a forced capability
    gets its own cache directory; the default, or a directory set by hand, is left alone."""
    from mifd.accel.inductor import separate_cache
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert separate_cache() is None and "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    path = separate_cache()
    assert path.endswith("_avx2") and os.environ["TORCHINDUCTOR_CACHE_DIR"] == path
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere")
    assert separate_cache() is None and os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/somewhere"
