"""Hand-written BPTT (``fused_bptt``) equals autograd through every step: the same states bit
for bit, gradients equal up to the order of summation (float64: 1e-10; float32: a tolerance)."""

import pytest
import torch

from mifd.config import config_hash
from mifd.models import bptt
from mifd.models.gru import GRUSpec, TrialGRU
from mifd.models.leaky import LeakyRNN, LeakySpec
from mifd.runner import get_experiment

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
    from mifd.bench import _unit
    exp = get_experiment(experiment)
    out = []
    for fused in (False, True):
        unit = _unit(experiment, exp.config("smoke", {"fused_bptt": fused}), "cpu")
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
            cfg = exp.config("paper", meta["config"])  # every field, as recorded
            assert config_hash(name, cfg, meta["code"]["mifd"]) == run.name
