"""The persistent Triton GRU recurrence (:mod:`mifd.accel.kernels.gru`) equals the reference loop
(:func:`mifd.accel.bptt.gru_states`) for both cells, run on CPU tensors by Triton's
interpreter (small sizes: the interpreter runs each program in Python); bad inputs refused."""

import numpy as np
import pytest
import torch

from mifd.accel.kernels import gru as kgru
from mifd.accel import bptt

pytest.importorskip("triton")


@pytest.fixture
def interpreted(monkeypatch):
    """Triton's interpreter on for this test (the kernel is jitted on first use, so it is
    rebuilt under the interpreter and again afterwards)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(kgru, "_KERNEL", None)
    yield
    kgru._KERNEL = None


def _inputs(cell, T=2, B=19, L=13, n_in=3, n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, L, n_in, generator=g)
    h0 = torch.randn(T, B, n, generator=g) * 0.5
    W = torch.randn(T, n_in, 3 * n, generator=g) * 0.5
    U = torch.randn(T, n, 3 * n, generator=g) * 0.4
    b = c = None
    if cell == "keras":
        b = torch.randn(T, 1, 3 * n, generator=g) * 0.3
        c = torch.randn(T, 1, 3 * n, generator=g) * 0.3
    return x, h0, W, U, b, c


@pytest.mark.parametrize("cell", ["keras", "paper"])
def test_kernel_states_equal_the_reference_loop(interpreted, cell):
    """B not a multiple of the block, N not a power of two, a non-zero start: padded rows and
    units never leak into the result."""
    args = _inputs(cell)
    ref = bptt.gru_states(*args, chunk=5)
    got = kgru.gru_states(*args)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    # the two trials are independent: trial 1 alone gives its states
    one = [a[1:] if a is not None else None for a in args]
    torch.testing.assert_close(kgru.gru_states(*one), got[1:], rtol=0, atol=0)


def test_bf16_states_are_the_fp32_recurrence_rounded_once(interpreted):
    """``out_dtype=bfloat16``: the recurrence stays fp32 (no rounding carried from step to
    step), each written state within one bf16 unit in the last place of the fp32 kernel's
    (on CUDA rounded to nearest, equal to ``.to(bfloat16)``, ``tests/test_cuda.py``; Triton's
    interpreter truncates); another dtype refused."""
    args = _inputs("keras", L=40)
    f32 = kgru.gru_states(*args)
    low = kgru.gru_states(*args, out_dtype=torch.bfloat16)
    assert low.dtype == torch.bfloat16
    err = (low.float() - f32).abs()
    assert torch.all(err <= f32.abs() * 2.0 ** -7 + 1e-30)
    assert err.max() > 0  # rounded: the option does something
    with pytest.raises(ValueError, match="parameter 'out_dtype'"):
        kgru.gru_states(*args, out_dtype=torch.float16)


def test_a_changed_weight_changes_the_states(interpreted):
    """The test above can fail: the kernel reads the recurrent weights."""
    x, h0, W, U, b, c = _inputs("keras", B=3, L=4)
    U2 = U.clone()
    U2[0, 0, 0] += 1.0
    assert not torch.allclose(kgru.gru_states(x, h0, W, U2, b, c),
                              bptt.gru_states(x, h0, W, U, b, c, chunk=4))


def test_bad_inputs_are_refused_in_one_line(interpreted):
    x, h0, W, U, b, c = _inputs("keras", B=2, L=2)
    for kw, match in (({"precision": "fp16"}, "parameter 'precision'"),
                      ({"block_b": 12}, "parameter 'block_b'")):
        with pytest.raises(ValueError, match=match):
            kgru.gru_states(x, h0, W, U, b, c, **kw)
    with pytest.raises(ValueError, match="parameter 'b, c'"):
        kgru.gru_states(x, h0, W, U, b, None)
    with pytest.raises(ValueError, match="parameter 'U'"):
        kgru.gru_states(x, h0, W, U[..., :-1], b, c)
    with pytest.raises(ValueError, match="parameter 'h0'"):
        kgru.gru_states(x, h0.double(), W, U, b, c)


def test_without_the_interpreter_the_cpu_is_refused(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert not kgru.available("cpu")
    x, h0, W, U, b, c = _inputs("paper", B=2, L=2)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        kgru.gru_states(x, h0, W, U, b, c)


def test_the_kernel_timing_reports_every_implementation(interpreted):
    """The GPU session's timing of the kernel (here at tiny sizes on the interpreter): every
    implementation timed, the kernels' states compared with the reference's."""
    from mifd.perf.kernels import time_gru_states
    from mifd.perf.kernels import LAUNCHES
    res = time_gru_states("cpu", trials=1, batch=2, steps=3, n=8, reps=1)
    kernels = {"triton fp32", "triton tf32", "triton fp32, bf16 states"} | {
        f"triton fp32, block {b}, {w} warps" for b, w in LAUNCHES}
    assert set(res["seconds_per_step"]) == {"reference loop"} | kernels
    assert all(v > 0 for v in res["seconds_per_step"].values())
    assert set(res["max_abs_diff"]) == kernels and not res["errors"]
    exact = {k: v for k, v in res["max_abs_diff"].items() if "bf16" not in k}
    assert all(v < 1e-5 for v in exact.values())
    # bf16 states: within one bf16 unit in the last place of states bounded by 1
    assert 0 < res["max_abs_diff"]["triton fp32, bf16 states"] <= 2.0 ** -7


@pytest.mark.parametrize("cell", ["keras", "paper"])
def test_kernel_gradients_equal_the_hand_written_bptt(interpreted, cell):
    """``gru_backward`` gives every gradient of ``Σ gH ⊙ H`` (inputs, start, kernels, biases)
    as autograd through :func:`mifd.accel.bptt.gru_scan` (the hand-written BPTT)."""
    x, h0, W, U, b, c = _inputs(cell, B=17, L=7)
    params = [t.clone().requires_grad_() if t is not None else None
              for t in (x, h0, W, U, b, c)]
    H = bptt.gru_scan(*params, 3)
    gH = torch.randn(H.shape, generator=torch.Generator().manual_seed(9))
    wanted = [p for p in params if p is not None]
    ref = torch.autograd.grad((H * gH).sum(), wanted)
    got = kgru.gru_backward(x, h0, W, U, b, c, H.detach(), gH)
    assert (got[4] is None) == (got[5] is None) == (cell == "paper")
    for name, a, r in zip(("dx", "dh0", "dW", "dU", "db", "dc"),
                          [g for g in got if g is not None], ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5, msg=name)
    with pytest.raises(ValueError, match="parameter 'gH'"):
        kgru.gru_backward(x, h0, W, U, b, c, H.detach(), gH[:, :, :-1])
    with pytest.raises(ValueError, match="parameter 'num_warps'"):
        kgru.gru_backward(x, h0, W, U, b, c, H.detach(), gH, num_warps=3)


def test_the_backward_timing_compares_the_kernel_with_the_bptt(interpreted):
    from mifd.perf.kernels import LAUNCHES, time_gru_backward
    res = time_gru_backward("cpu", trials=1, batch=2, steps=3, n=8, reps=1)
    kernels = {"triton fp32"} | {f"triton fp32, block {b}, {w} warps" for b, w in LAUNCHES}
    assert set(res["seconds_per_step"]) == {"hand-written BPTT"} | kernels
    assert set(res["max_abs_diff"]) == kernels and not res["errors"]
    assert all(v < 1e-5 for v in res["max_abs_diff"].values())
    assert all(v > 0 for v in res["speedup"].values())


@pytest.mark.parametrize("cell", ["keras", "paper"])
def test_trial_gru_with_the_kernel_equals_the_reference_with_gradients(interpreted, cell):
    """``TrialGRU(kernel="triton")``: the same states, outputs and gradients (every weight,
    the inputs) as the reference loop, in a forward with and without a graph."""
    from mifd.models.gru import GRUSpec, TrialGRU
    gens = lambda: [torch.Generator().manual_seed(s) for s in (3, 4)]  # noqa: E731
    ref = TrialGRU(gens(), GRUSpec(n=6, cell=cell))
    fast = TrialGRU(gens(), GRUSpec(n=6, cell=cell), kernel="triton")
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(9)))
        fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 7, 3, generator=torch.Generator().manual_seed(1))
    xr, xf = x.clone().requires_grad_(), x.clone().requires_grad_()
    (Hr, yr), (Hf, yf) = ref(xr), fast(xf)
    torch.testing.assert_close(Hf, Hr, rtol=1e-5, atol=1e-6)
    ((yr ** 2).sum() + Hr.sum()).backward()
    ((yf ** 2).sum() + Hf.sum()).backward()
    for (name, a), b in zip(ref.named_parameters(), fast.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], Hr.detach(), rtol=1e-5, atol=1e-6)


def test_a_separation_run_with_the_kernel_matches_the_reference(interpreted, tmp_path):
    """A whole (tiny) separation run with ``gru_kernel=triton`` under the interpreter: the
    histories equal the reference run's up to rounding."""
    import mifd
    from mifd.results.store import Store
    tiny = {"trials": 1, "mm_steps": 2, "length": 24, "loss_from": 4, "eval_every": 2,
            "pre_steps": 1, "sm_per_mm": 1, "n_test": 2, "n_train": 4}
    runs = [mifd.run("separation", "smoke", "cpu", {**tiny, "gru_kernel": k},
                     store=Store(tmp_path / k, []), verbose=False, progress=False)
            for k in ("torch", "triton")]
    h1, h0 = runs[1].result["hist"], runs[0].result["hist"]
    np.testing.assert_allclose(h1["task"], h0["task"], rtol=1e-5)
    # the MI estimates are small differences of O(1) critic terms after critic training steps:
    # absolute rounding, amplified (seen: 2.1e-4 on an Intel Xeon with AVX-512, where torch's
    # sigmoid also rounds with the tensor's size, mifd.results.numerics)
    for k in ("mi", "sm_mi"):
        np.testing.assert_allclose(h1[k], h0[k], rtol=0, atol=1e-3)


@pytest.mark.parametrize("kernel", ["torch", "triton"])
def test_trial_gru_stores_bf16_states_only_without_gradient(interpreted, kernel):
    """``state_dtype=bfloat16``: a pass without gradient returns the fp32 states rounded
    (exactly ``.to(bfloat16)`` on the reference path), a pass with gradient stays fp32."""
    from mifd.models.gru import GRUSpec, TrialGRU
    m = TrialGRU([torch.Generator().manual_seed(s) for s in (3, 4)], GRUSpec(n=6),
                 kernel=kernel)
    x = torch.randn(2, 5, 7, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        H, y = m(x)
        Hl, yl = m(x, state_dtype=torch.bfloat16)
    assert Hl.dtype == yl.dtype == torch.bfloat16
    if kernel == "torch":
        assert torch.equal(Hl, H.to(torch.bfloat16))
    assert (Hl.float() - H).abs().max() <= 2.0 ** -7 * H.abs().max()
    torch.testing.assert_close(yl.float(), y, rtol=0.05, atol=0.05)
    Hg, _ = m(x, state_dtype=torch.bfloat16)
    assert Hg.dtype == torch.float32 and Hg.requires_grad
    with pytest.raises(ValueError, match="parameter 'state_dtype'"):
        m(x, state_dtype=torch.float16)


def test_the_kernel_is_refused_where_it_cannot_run(monkeypatch):
    import mifd
    from mifd.config import ConfigError
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ConfigError, match="parameter 'gru_kernel'"):
        mifd.run("separation", "smoke", "cpu", {"gru_kernel": "triton"}, verbose=False)


def test_the_timing_table_reads_a_session_and_judges_the_goal_on_the_full_batch():
    """Hand-built records: µs per step, speed-up over the first (replaced) loop, differences,
    and the 5 µs goal judged on the fastest exact kernel of a full-batch pass only."""
    from mifd.perf.kernels import GOAL_US_PER_STEP, timing_table
    sizes = {"trials": 60, "batch": 1000, "steps": 200}
    rec = {"gru_states_full_batch": {**sizes, "seconds_per_step": {
        "reference loop": 100e-6, "triton fp32": 8e-6, "triton tf32": 2e-6,
        "triton fp32, block 32": 4e-6}, "max_abs_diff": {"triton fp32": 1e-6}},
        "gru_backward": {**sizes, "seconds_per_step": {"hand-written BPTT": 50e-6,
                                                       "triton fp32": 10e-6},
                         "max_abs_diff": 2e-5},
        "gru_states": {"error": "OutOfResources"}, "seconds": 12.0}
    t = timing_table(rec).set_index(["pass", "implementation"])
    assert len(t) == 6  # the failed pass and the elapsed seconds are not rows
    assert t.loc[("gru_states_full_batch", "triton fp32"), "speed-up"] == 12.5
    assert t.loc[("gru_backward", "triton fp32"), "max |difference|"] == "2.0e-05"
    assert t.loc[("gru_backward", "hand-written BPTT"), "max |difference|"] == "—"
    # TF32 is faster but not exact: the goal is judged on block 32 (4 µs)
    assert t.loc[("gru_states_full_batch", "triton fp32, block 32"), "goal"] == \
        f"≤ {GOAL_US_PER_STEP:g} µs: met"
    assert (t.loc["gru_backward", "goal"] == "—").all()
    rec["gru_states_full_batch"]["seconds_per_step"]["triton fp32, block 32"] = 6e-6
    t = timing_table(rec).set_index(["pass", "implementation"])
    assert t.loc[("gru_states_full_batch", "triton fp32, block 32"), "goal"].endswith("not met")
