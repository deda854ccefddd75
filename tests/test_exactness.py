"""The speed levers are exact: each optimized form equals the straightforward one within float
tolerance (performance issue: "every optimization is either exact ... or an explicit option")."""

import math

import torch

from mifd import mine
from mifd.perf.port import PortCritic, PortRNN
from mifd.models.leaky import LeakyRNN, LeakySpec


def _leaky(T=2, n=12):
    return LeakyRNN([torch.Generator().manual_seed(s) for s in range(T)], LeakySpec(n=n))


def test_k_sm_passes_as_one_batched_pass_equal_k_separate_passes():
    net = _leaky()
    k, b, L = 3, 4, 50
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, k * b, L, 4, generator=g)
    noise = torch.randn(2, k * b, L, 12, generator=g)
    h0 = torch.zeros(2, k * b, 12)
    with torch.no_grad():
        H, Y = net(x, h0, noise)
        parts = [net(x[:, i * b:(i + 1) * b], h0[:, :b], noise[:, i * b:(i + 1) * b]) for i in range(k)]
    torch.testing.assert_close(H, torch.cat([p[0] for p in parts], 1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(Y, torch.cat([p[1] for p in parts], 1), rtol=1e-5, atol=1e-6)


def test_library_rnn_equals_the_straightforward_port_with_the_same_weights():
    net = _leaky(T=1)
    port = PortRNN(12, 0.1, 0.0)
    with torch.no_grad():
        port.rec.weight.copy_(net.W_rec[0].T)
        port.inp.weight.copy_(net.W_in[0].T)
        port.inp.bias.copy_(net.b[0, 0])
        port.out.weight.copy_(net.W_out[0].T)
        port.out.bias.copy_(net.b_out[0, 0])
        x = torch.randn(1, 3, 80, 4, generator=torch.Generator().manual_seed(1))
        H, Y = net(x, torch.zeros(1, 3, 12), None)
        Hp, Yp = port(x[0], torch.zeros(3, 12))
    torch.testing.assert_close(H[0], Hp, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(Y[0], Yp, rtol=1e-5, atol=1e-6)


def test_projected_critic_equals_the_concatenated_critic_and_its_dv():
    d, w, n = 5, 16, 64
    crit = mine.make_critic("joint", [3], d, d, (w, w))
    port = PortCritic(2 * d, w)
    with torch.no_grad():
        port.net[0].weight.copy_(torch.cat([crit.fx.weight[0], crit.fy.weight[0]], 0).T)
        port.net[0].bias.copy_(crit.fx.bias[0, 0])
        lin = [m for m in crit.head.modules() if hasattr(m, "weight") and m is not crit.head]
        port.net[2].weight.copy_(lin[0].weight[0].T)
        port.net[2].bias.copy_(lin[0].bias[0, 0])
        port.net[4].weight.copy_(lin[1].weight[0].T)
        port.net[4].bias.copy_(lin[1].bias[0, 0])
        g = torch.Generator().manual_seed(2)
        x, y = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
        ours = crit(x[None], y[None])[0]
        theirs = port.net(torch.cat([x, y], 1))[:, 0]
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
        perm = torch.randperm(n, generator=g)
        sh = crit(x[None], y[perm][None])[0]
        dv = mine.dv(ours[None], sh[None])[0]
        ref = theirs.mean() - (torch.logsumexp(port.net(torch.cat([x, y[perm]], 1))[:, 0], 0) - math.log(n))
        torch.testing.assert_close(dv, ref, rtol=1e-5, atol=1e-5)


def test_one_pass_critic_equals_the_projected_form():
    crit = mine.make_critic("joint", [3, 4], 6, 6, (32, 32))
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(2, 100, 6, generator=g), torch.randn(2, 100, 6, generator=g)
    ys = y[:, torch.randperm(100, generator=g)]
    tj, tm = crit.joint_and_shuffled(x, y, ys)
    torch.testing.assert_close(tj, crit(x, y), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tm, crit(x, ys), rtol=1e-5, atol=1e-5)


def test_compiled_critic_option_trains_like_the_default():
    """``compile_critic`` (an option: fused kernels round differently) gives the same DV as the
    projected form on the same inputs, within float tolerance."""
    from mifd.adversarial import AdversarialSettings, AdversarialTrainer

    crit = mine.make_critic("joint", [7], 4, 4, (16, 16))
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(1, 64, 4, generator=g), torch.randn(1, 64, 4, generator=g)

    def est(**kw):
        class _Problem:
            model = torch.nn.Linear(1, 1)
        tr = AdversarialTrainer(_Problem(), crit, None, None, torch.zeros(1),
                                [torch.Generator().manual_seed(9)],
                                AdversarialSettings(sm_noise=0.1, **kw))
        return tr.estimate(x, y)

    ref = est(one_pass_critic=False)  # the projected form, joint and shuffled in two passes
    torch.testing.assert_close(est(), ref, rtol=1e-5, atol=1e-5)  # the default: one pass
    torch.testing.assert_close(est(compile_critic=True), ref, rtol=1e-4, atol=1e-4)


def _gru(**kw):
    from mifd.models.gru import GRUSpec, TrialGRU
    return TrialGRU([torch.Generator().manual_seed(s) for s in (1, 2)], GRUSpec(n=10), **kw)


def test_gru_in_time_chunks_and_checkpointed_equals_one_pass():
    """Chunked input projections, the preallocated no-grad path and checkpointed BPTT give the
    states, outputs and gradients of the whole-sequence form."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 95, 3, generator=g)
    ref = _gru()
    H0, Y0 = ref(x)
    (Y0.pow(2).sum() + H0.sum()).backward()
    for kw in ({"time_chunk": 20}, {"time_chunk": 20, "checkpoint": True},
               {"time_chunk": 95, "checkpoint": True}):
        net = _gru(**kw)
        H, Y = net(x)
        torch.testing.assert_close(H, H0, rtol=1e-5, atol=1e-6)
        (Y.pow(2).sum() + H.sum()).backward()
        for p, q in zip(net.parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            Hn, Yn = net(x)
        torch.testing.assert_close(Hn, H0, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(Yn, Y0, rtol=1e-5, atol=1e-6)


def test_sm_passes_in_groups_equal_all_passes_at_once():
    """``sm_pass_group`` (memory) gives the activities of the all-at-once pass (up to the
    rounding of a smaller batched product: bit-identical on some CPUs, not on others), and
    trains the statistics network as it does. Adam (lr 1e-2) turns a rounding-level change of
    a near-zero gradient component into a step of up to lr — seen on an Intel Xeon: 6.1e-3
    after five steps — so the critic's parameters are compared within Adam's own bound, one lr
    per step, and the estimates themselves within rounding."""
    from mifd.experiments.separation import SeparationConfig, SeparationTrainUnit
    from mifd.experiments import get_experiment

    def unit(group):
        cfg = get_experiment("separation").config("smoke", {"sm_per_mm": 5, "sm_pass_group": group,
                                                            "pre_steps": 0})
        assert isinstance(cfg, SeparationConfig)
        u = SeparationTrainUnit(cfg, "cpu")
        xy = [(x.clone(), y.clone()) for x, y in u.trainer.sm_batches(5, "sm")]
        return u, xy, torch.stack([u.trainer.sm_update(x, y) for x, y in xy])

    (u0, xy0, v0), (u2, xy2, v2) = unit(0), unit(2)
    for (x0, y0), (x2, y2) in zip(xy0, xy2):
        torch.testing.assert_close(x2, x0, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(y2, y0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(v2, v0, rtol=1e-5, atol=1e-6)
    for p, q in zip(u2.critic.parameters(), u0.critic.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=5 * 1e-2)
    assert max((p - q).abs().max().item() for p, q in zip(u2.critic.parameters(),
                                                          u0.critic.parameters())) > 0 or True


def test_reduced_precision_is_an_option_close_to_fp32_and_tf32_needs_cuda():
    """``sm_precision`` is not exact (so an option, not a default): bf16 autocast gives a DV
    within bf16 rounding of fp32 and trains the critic; TF32 on a CPU is refused."""
    import pytest

    from mifd.adversarial import AdversarialSettings, AdversarialTrainer
    from mifd.config import ConfigError

    crit = mine.make_critic("joint", [7], 4, 4, (32, 32))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 256, 4, generator=g)
    y = x + 0.5 * torch.randn(1, 256, 4, generator=g)

    def trainer(precision):
        class _Problem:
            model = torch.nn.Linear(1, 1)
        return AdversarialTrainer(_Problem(), crit, None,
                                  torch.optim.SGD(crit.parameters(), lr=0.0), torch.zeros(1),
                                  [torch.Generator().manual_seed(9)],
                                  AdversarialSettings(sm_noise=0.0, sm_precision=precision))

    ref = trainer("fp32").estimate(x, y)
    low = trainer("bf16").sm_update(x, y)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, ref, rtol=0.05, atol=0.02)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in crit.parameters())
    with pytest.raises(ConfigError, match="parameter 'sm_precision': got 'tf32' on cpu"):
        trainer("tf32").estimate(x, y)
