"""The CUDA path: the same properties as on a CPU, checked on a GPU (skipped without one).

CI has no GPU, so these run where one is lent (``python -m pytest tests/test_cuda.py``); the
last result is recorded on the performance page.
"""

import numpy as np
import pytest
import torch

import mifd

from mifd import mine
from mifd.models.gru import GRUSpec, TrialGRU
from mifd.models.leaky import LeakyRNN, LeakySpec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_leaky_rnn_on_cuda_equals_cpu_with_the_same_weights_and_inputs():
    spec = LeakySpec(n=20)
    cpu = LeakyRNN([torch.Generator().manual_seed(s) for s in (1, 2)], spec)
    gpu = LeakyRNN([torch.Generator().manual_seed(s) for s in (1, 2)], spec).cuda()
    g = torch.Generator().manual_seed(3)
    x, h0 = torch.randn(2, 4, 300, 4, generator=g), torch.zeros(2, 4, 20)
    noise = torch.randn(2, 4, 300, 20, generator=g)
    with torch.no_grad():
        H, Y = cpu(x, h0, noise)
        Hg, Yg = gpu(x.cuda(), h0.cuda(), noise.cuda())
    torch.testing.assert_close(Hg.cpu(), H, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(Yg.cpu(), Y, rtol=1e-4, atol=1e-5)


def test_gru_chunks_and_checkpoints_on_cuda_equal_one_pass():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 95, 3, generator=g).cuda()

    def net(**kw):
        return TrialGRU([torch.Generator().manual_seed(s) for s in (1, 2)], GRUSpec(n=10), **kw).cuda()

    ref = net()
    H0, Y0 = ref(x)
    (Y0.pow(2).sum() + H0.sum()).backward()
    m = net(time_chunk=20, checkpoint=True)
    H, Y = m(x)
    (Y.pow(2).sum() + H.sum()).backward()
    torch.testing.assert_close(H, H0, rtol=1e-5, atol=1e-6)
    for p, q in zip(m.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5)


def test_one_pass_critic_on_cuda_equals_the_projected_form():
    crit = mine.make_critic("joint", [3, 4], 6, 6, (32, 32)).cuda()
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(2, 100, 6, generator=g).cuda(), torch.randn(2, 100, 6, generator=g).cuda()
    ys = y[:, torch.randperm(100, generator=g).cuda()]
    tj, tm = crit.joint_and_shuffled(x, y, ys)
    torch.testing.assert_close(tj, crit(x, y), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tm, crit(x, ys), rtol=1e-5, atol=1e-5)


def _wm(conditions, trials, device, **over):
    from mifd.experiments.wm import WMTrainUnit
    cfg = mifd.get_experiment("wm").config("smoke", {"conditions": conditions, "trials": trials,
                                                     "epochs": 3, **over})
    u = WMTrainUnit(cfg, device)
    for i in range(u.n_steps):
        u.step(i)
    return u


def test_a_trials_results_on_cuda_do_not_depend_on_its_batch_companions():
    alone = _wm(("mi",), 1, "cuda")
    shared = _wm(("no_mi", "mi"), 3, "cuda")
    for k in ("task", "mi", "sm_mi"):
        np.testing.assert_allclose(alone.hist[k][:, 0], shared.hist[k][:, 3], rtol=1e-3,
                                   atol=1e-4, err_msg=k)


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precision_options_run_on_cuda_close_to_fp32(precision):
    ref = _wm(("mi",), 2, "cuda")
    low = _wm(("mi",), 2, "cuda", sm_precision=precision)
    np.testing.assert_allclose(low.hist["sm_mi"], ref.hist["sm_mi"], rtol=0.1, atol=0.05)
    assert np.isfinite(low.hist["task"]).all()


def test_compiled_critic_trains_on_cuda_like_the_default():
    ref = _wm(("mi",), 2, "cuda")
    comp = _wm(("mi",), 2, "cuda", compile_critic=True)
    np.testing.assert_allclose(comp.hist["sm_mi"], ref.hist["sm_mi"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("experiment", ["wm", "separation"])
def test_graphed_sm_passes_and_fused_bptt_on_cuda_train_like_the_default(experiment):
    """``graph_sm_pass`` replays the same kernels: bit-identical histories and weights;
    ``fused_bptt`` (hand-written BPTT), also with ``merge_mm_pass``, equals autograd within
    float tolerance."""
    from mifd.perf.harness import unit_for

    def train(**over):
        cfg = mifd.get_experiment(experiment).config("smoke", over)
        u = unit_for(experiment, cfg, "cuda")
        for i in range(min(u.n_steps, 4)):
            u.step(i)
        return u.hist, [p.detach().cpu() for p in u.problem.model.parameters()]

    ref_hist, ref_w = train()
    hist, w = train(graph_sm_pass=True)
    for k in ref_hist:
        np.testing.assert_array_equal(hist[k], ref_hist[k], err_msg=k)
    for a, b in zip(w, ref_w):
        assert torch.equal(a, b)
    for over in ({}, {"merge_mm_pass": True}):
        hist, w = train(fused_bptt=True, graph_sm_pass=True, **over)
        for k in ("task", "mi", "sm_mi"):
            np.testing.assert_allclose(hist[k], ref_hist[k], rtol=1e-4, atol=1e-5, err_msg=k)
        for a, b in zip(w, ref_w):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("experiment,overrides", [
    ("mine-gaussian", {}),
    ("wm", {}),                      # the audit included (it crashed on CUDA at 40927dd)
    ("separation", {}),
    # the gpu profile's CUDA settings (Triton GRU, TF32 critic, fused BPTT) with bf16 SM states
    ("separation", {"gru_kernel": "triton", "sm_precision": "tf32", "fused_bptt": True,
                    "sm_states": "bf16"}),
])
def test_a_complete_run_of_every_experiment_on_cuda(experiment, overrides, store_env):
    rr = mifd.run(experiment, "smoke", "cuda", overrides, verbose=False)
    assert rr.meta["machine"]["device"] == "cuda" and not rr.loaded
    assert any(s["n"] for c in rr.summary.values() for s in c.values())
    if experiment == "wm":
        assert np.isfinite(rr.result["audit"]["held_out_dv"]).all()


def test_the_variants_run_on_cuda(store_env):
    from mifd.paper import variants
    runs = variants.run_variants("smoke", "cuda", verbose=False)
    assert len(runs) == 1 + len(variants.VARIANTS)
    assert all(r.meta["machine"]["device"] == "cuda" for r in runs.values())
    assert len(variants.table(runs)) == len(runs) * len(variants.METRICS)


def test_the_paper_profiles_cuda_settings_train_and_audit_at_smoke_sizes(store_env):
    """The settings the paper profile takes on CUDA (TF32 critic, fused BPTT, merged MM pass,
    CUDA graphs), at smoke sizes, end to end through ``mifd.run``, and close to the exact
    fp32 default."""
    from mifd.experiments.wm import CUDA_PROFILES
    fast = mifd.run("wm", "smoke", "cuda", {**CUDA_PROFILES["paper"], "audit_steps": 20},
                    verbose=False)
    ref = mifd.run("wm", "smoke", "cuda", {"audit_steps": 20}, verbose=False)
    assert fast.key != ref.key
    np.testing.assert_allclose(fast.result["hist"]["task"], ref.result["hist"]["task"],
                               rtol=0.05, atol=1e-3)
    assert np.isfinite(fast.result["audit"]["train_dv"]).all()


def test_the_paper_profile_on_cuda_uses_tf32_and_fp32_stays_available():
    exp = mifd.get_experiment("wm")
    assert exp.config("paper", device="cuda").sm_precision == "tf32"
    assert exp.config("paper", {"sm_precision": "fp32"}, "cuda").sm_precision == "fp32"


@pytest.mark.parametrize("cell", ["keras", "paper"])
def test_triton_gru_kernel_on_cuda_equals_the_reference_loop(cell):
    """The persistent Triton recurrence at the separation experiment's width (N = 100, padded to
    128) over 500 steps: fp32 products equal the reference loop to rounding; TF32 close."""
    pytest.importorskip("triton")
    from mifd.accel.kernels import gru as kgru
    from mifd.accel import bptt
    g = torch.Generator().manual_seed(5)
    T, B, L, n = 3, 40, 500, 100
    x = torch.randn(T, B, L, 3, generator=g).cuda()
    h0 = torch.zeros(T, B, n).cuda()
    m = TrialGRU([torch.Generator().manual_seed(s) for s in range(T)], GRUSpec(n=n, cell=cell))
    m = m.cuda()
    with torch.no_grad():
        ref = bptt.gru_states(x, h0, m.W, m.U, m.b, m.c, L)
        got = kgru.gru_states(x, h0, m.W, m.U, m.b, m.c)
        tf32 = kgru.gru_states(x, h0, m.W, m.U, m.b, m.c, precision="tf32")
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
    assert (tf32 - ref).abs().max().item() < 0.05
    with torch.no_grad():  # bf16 storage: the fp32 recurrence's states, each rounded to nearest
        low = kgru.gru_states(x, h0, m.W, m.U, m.b, m.c, out_dtype=torch.bfloat16)
    assert low.dtype == torch.bfloat16 and torch.equal(low, got.to(torch.bfloat16))
    from mifd.perf.kernels import LAUNCHES
    for block_b, num_warps in LAUNCHES if cell == "keras" else ():  # launch settings: the
        # same states up to rounding (one cell: each launch compiles anew)
        with torch.no_grad():
            other = kgru.gru_states(x, h0, m.W, m.U, m.b, m.c, block_b=block_b,
                                    num_warps=num_warps)
        torch.testing.assert_close(other, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell", ["keras", "paper"])
def test_triton_gru_backward_on_cuda_equals_the_hand_written_bptt(cell):
    pytest.importorskip("triton")
    from mifd.accel.kernels import gru as kgru
    from mifd.accel import bptt
    g = torch.Generator().manual_seed(6)
    T, B, L, n = 2, 24, 300, 100
    m = TrialGRU([torch.Generator().manual_seed(s) for s in range(T)],
                 GRUSpec(n=n, cell=cell)).cuda()
    x = torch.randn(T, B, L, 3, generator=g).cuda()
    h0 = torch.zeros(T, B, n).cuda()
    H = bptt.gru_scan(x, h0, m.W, m.U, m.b, m.c, L)
    gH = torch.randn(H.shape, generator=g).cuda()
    params = [p for p in (m.W, m.U, m.b, m.c) if p is not None]
    ref = torch.autograd.grad((H * gH).sum(), params)
    with torch.no_grad():
        got = kgru.gru_backward(x, h0, m.W, m.U, m.b, m.c, H.detach(), gH)
    for a, r in zip([t for t in got[2:] if t is not None], ref):
        torch.testing.assert_close(a, r, rtol=1e-3, atol=1e-3)
    with torch.no_grad():  # another launch setting: the same gradients up to rounding
        wide = kgru.gru_backward(x, h0, m.W, m.U, m.b, m.c, H.detach(), gH, num_warps=8)
    for a, r in zip([t for t in wide[2:] if t is not None], ref):
        torch.testing.assert_close(a, r, rtol=1e-3, atol=1e-3)
