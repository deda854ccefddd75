"""Hand-written BPTT (``fused_bptt``) equals autograd through every step: the same states bit
for bit, gradients equal up to the order of summation (float64: 1e-10; float32: a tolerance)."""

import pytest
import torch

from mifd.config import config_hash
from mifd.accel import bptt
from mifd.models.gru import GRUSpec, TrialGRU
from mifd.models.leaky import LeakyRNN, LeakySpec
from mifd.experiments import get_experiment

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=2e-5, atol=2e-6)}


def _perturbed(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero biases, so that every gradient path is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


def _grads(net, inputs, loss_of):
    H, Y = net(*inputs)
    wanted = [t for t in inputs if t is not None and t.requires_grad] + list(net.parameters())
    return H, torch.autograd.grad(loss_of(H, Y), wanted)


def _compare(make, inputs, dtype, loss_of):
    H0, g0 = _grads(make(False), inputs, loss_of)
    H1, g1 = _grads(make(True), inputs, loss_of)
    assert torch.equal(H0, H1)  # the forward pass runs the same operations
    for a, b in zip(g0, g1):
        torch.testing.assert_close(b, a, **TOL[dtype])


def _loss(H, Y):
    w = torch.linspace(-1, 1, H.shape[2], dtype=H.dtype)[:, None]
    return (torch.tanh(H) * w).sum() + Y.pow(2).sum()


@pytest.mark.parametrize("cell", ["keras", "paper"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk", [0, 7, 40])
def test_gru_hand_written_bptt_equals_autograd(dtype, chunk, cell):
    gens = lambda: [torch.Generator().manual_seed(s) for s in (1, 2, 3)]  # noqa: E731

    def make(fused):
        net = TrialGRU(gens(), GRUSpec(n=6, cell=cell), time_chunk=chunk, fused_bptt=fused)
        return _perturbed(net.to(dtype))

    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 40, 3, generator=g, dtype=dtype).requires_grad_()
    h0 = torch.randn(3, 4, 6, generator=g, dtype=dtype).requires_grad_()
    _compare(make, (x, h0), dtype, _loss)


def test_gru_backward_in_blocks_smaller_than_the_chunk(monkeypatch):
    """On CPU the gates are recomputed in cache-sized blocks; one-step blocks give the same."""
    monkeypatch.setattr(bptt, "CPU_BLOCK_BYTES", 1)
    assert bptt.recompute_steps(100, (3, 4, 18), torch.device("cpu")) == 1
    for cell in ("keras", "paper"):
        test_gru_hand_written_bptt_equals_autograd(torch.float64, 0, cell)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_leaky_hand_written_bptt_equals_autograd(dtype):
    gens = lambda: [torch.Generator().manual_seed(s) for s in (1, 2)]  # noqa: E731

    def make(fused):
        return _perturbed(LeakyRNN(gens(), LeakySpec(n=6), fused_bptt=fused).to(dtype))

    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 50, 4, generator=g, dtype=dtype)          # data: no gradient
    h0 = torch.randn(2, 4, 6, generator=g, dtype=dtype).requires_grad_()
    noise = torch.randn(2, 4, 50, 6, generator=g, dtype=dtype)
    _compare(make, (x, h0, noise), dtype, _loss)


def test_no_grad_passes_equal_the_recorded_forward():
    """The preallocated no-graph forward passes give autograd's states bit for bit."""
    g = torch.Generator().manual_seed(7)
    leaky = _perturbed(LeakyRNN([torch.Generator().manual_seed(1)], LeakySpec(n=6)))
    x, h0 = torch.randn(1, 3, 30, 4, generator=g), torch.randn(1, 3, 6, generator=g)
    with torch.no_grad():
        Hn, _ = leaky(x, h0)
    assert torch.equal(Hn, leaky(x, h0)[0])


@pytest.mark.parametrize("experiment", ["wm", "separation"])
def test_fused_bptt_option_trains_like_the_default(experiment):
    """One MM step (with its SM steps) on the smoke profile: the same losses, and parameters
    equal within float tolerance, with and without ``fused_bptt``."""
    from mifd.perf.harness import unit_for
    exp = get_experiment(experiment)
    out = []
    for fused in (False, True):
        unit = unit_for(experiment, exp.config("smoke", {"fused_bptt": fused}), "cpu")
        unit.step(0)
        unit.step(1)
        out.append((unit.hist, [p.detach().clone() for p in unit.problem.model.parameters()]))
    (h0, p0), (h1, p1) = out
    for k in ("task", "mi"):
        torch.testing.assert_close(torch.as_tensor(h1[k][0]), torch.as_tensor(h0[k][0]),
                                   rtol=1e-5, atol=1e-6)
    for a, b in zip(p0, p1):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_fused_bptt_keeps_existing_store_keys():
    for name in ("wm", "separation"):
        exp = get_experiment(name)
        cfg = exp.config("book")
        on = exp.config("book", {"fused_bptt": True})
        assert config_hash(name, cfg, "0") != config_hash(name, on, "0")
    # the committed results' keys were computed before the field existed
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "results" / "committed"
    for name in ("wm", "separation"):
        exp = get_experiment(name)
        for run in (root / name).iterdir():
            meta = json.loads((run / "meta.json").read_text())
            # every field, as recorded (a field added since: its legacy value)
            from mifd.config import stored_config
            cfg = stored_config(exp.config_cls, meta["config"])
            assert config_hash(name, cfg, meta["code"]["mifd"]) == run.name


def _count_passes(monkeypatch) -> dict:
    """Count the no-graph recursions (every forward pass of fused BPTT runs one)."""
    calls = {"n": 0}
    for mod, name in ((bptt, "leaky_states"), (bptt, "gru_states")):
        real = getattr(mod, name)

        def counted(*a, _real=real, **k):
            calls["n"] += 1
            return _real(*a, **k)
        monkeypatch.setattr(mod, name, counted)
    import mifd.models.gru as gru_mod
    import mifd.models.leaky as leaky_mod
    monkeypatch.setattr(leaky_mod, "leaky_states", bptt.leaky_states)
    monkeypatch.setattr(gru_mod, "gru_states", bptt.gru_states)
    return calls


@pytest.mark.parametrize("experiment,over", [("wm", {}), ("separation", {}),
                                             ("separation", {"sm_pass_group": 1})])
def test_merged_mm_pass_trains_like_separate_passes(experiment, over, monkeypatch):
    """``merge_mm_pass``: the MM step's batch runs in its epoch's SM pass. Three epochs of the
    smoke profile give the same histories and weights within float tolerance (the larger
    batched products round differently), with one recursion fewer per epoch per pass that
    the MM step no longer runs (WM: transient and main part; separation: one GRU pass)."""
    from mifd.perf.harness import unit_for
    exp = get_experiment(experiment)
    calls = _count_passes(monkeypatch)
    out = []
    for merge in (False, True):
        unit = unit_for(experiment, exp.config("smoke", {"fused_bptt": True, "merge_mm_pass": merge,
                                                      **over}), "cpu")
        unit.step(0)
        calls["n"] = 0
        for i in (1, 2, 3):
            unit.step(i)
        assert unit.trainer._mm_pending is None
        out.append((unit.hist, [p.detach().clone() for p in unit.problem.model.parameters()],
                    calls["n"]))
    (h0, p0, n0), (h1, p1, n1) = out
    for k in ("task", "mi", "sm_mi"):
        torch.testing.assert_close(torch.as_tensor(h1[k][:3]), torch.as_tensor(h0[k][:3]),
                                   rtol=1e-4, atol=1e-5)
    for a, b in zip(p0, p1):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert n0 - n1 == (2 if experiment == "wm" else 1) * 3, (n0, n1)


def test_merged_mm_pass_needs_hand_written_bptt():
    from mifd.config import ConfigError
    for name in ("wm", "separation"):
        with pytest.raises(ConfigError, match="merge_mm_pass.*fused_bptt"):
            get_experiment(name).config("smoke", {"merge_mm_pass": True})
        assert get_experiment(name).config("smoke", {"fused_bptt": True, "merge_mm_pass": True})
    net = LeakyRNN([torch.Generator().manual_seed(0)], LeakySpec(n=4))
    x, h0 = torch.randn(1, 2, 5, 4), torch.zeros(1, 2, 4)
    with pytest.raises(ValueError, match="fused_bptt"):
        net(x, h0, states=torch.zeros(1, 2, 5, 4))


def test_reused_states_give_the_same_gradients():
    """States computed without a graph and handed to the hand-written BPTT give the gradients
    of a pass that computes them itself (bit for bit: the backward only reads them)."""
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    net = _perturbed(LeakyRNN(gens, LeakySpec(n=6), fused_bptt=True))
    x, h0 = torch.randn(2, 3, 30, 4), torch.randn(2, 3, 6)
    with torch.no_grad():
        H, _ = net(x, h0)
    g = []
    for states in (None, H):
        net.zero_grad()
        H2, Y = net(x, h0, states=states)
        _loss(H2, Y).backward()
        g.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*g):
        assert torch.equal(a, b)
    gru = _perturbed(TrialGRU(gens, GRUSpec(n=6), fused_bptt=True))
    xg = torch.randn(2, 3, 30, 3)
    with torch.no_grad():
        Hg, _ = gru(xg)
    g = []
    for states in (None, Hg):
        gru.zero_grad()
        H2, Y = gru(xg, states=states)
        _loss(H2, Y).backward()
        g.append([p.grad.clone() for p in gru.parameters()])
    for a, b in zip(*g):
        assert torch.equal(a, b)
