"""Random draws are made on the device of their generator (CPU check of a CUDA rule).

On CUDA, ``torch.randperm(n, generator=g)`` with a CUDA generator ``g`` fails ("Expected a
'cpu' device type for generator but found 'cuda'"): a draw must name the generator's device.
A CPU has no second device, so these tests make every generator that the library creates for a
named device (``torch.Generator(device=...)``) a *device-bound* generator and refuse any draw
from one that does not name its device, as CUDA would. Generators created without a device
(weight initialisation on the host, then ``.to(device)``) are left alone, as on CUDA.
"""

import pytest
import torch

import mifd
from mifd import mine

_REAL_GENERATOR = torch.Generator
_DRAWS = ("randperm", "randn", "rand", "randint", "normal", "bernoulli", "multinomial")


class _Generator(_REAL_GENERATOR):
    """``torch.Generator`` that remembers whether it was created for a named device."""

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        self.device_bound = bool(args or "device" in kwargs)
        return self

    def __init__(self, *args, **kwargs):
        pass


def _strict(fn):
    def draw(*args, **kwargs):
        g = kwargs.get("generator")
        if getattr(g, "device_bound", False) and kwargs.get("device") is None:
            raise RuntimeError(f"torch.{fn.__name__} drew from a generator bound to "
                               f"{g.device} without naming its device (fails on CUDA)")
        return fn(*args, **kwargs)
    return draw


@pytest.fixture
def device_bound_generators(monkeypatch):
    monkeypatch.setattr(torch, "Generator", _Generator)
    for name in _DRAWS:
        monkeypatch.setattr(torch, name, _strict(getattr(torch, name)))


def test_the_strict_draws_refuse_what_cuda_refuses(device_bound_generators):
    g = torch.Generator(device="cpu").manual_seed(0)
    with pytest.raises(RuntimeError, match="without naming its device"):
        torch.randperm(5, generator=g)
    assert torch.randperm(5, generator=g, device=g.device).shape == (5,)
    torch.randperm(5, generator=torch.Generator())  # a host generator: allowed


@pytest.mark.parametrize("mode", ["permutation", "derangement"])
def test_negatives_are_drawn_on_their_generators_device(device_bound_generators, mode):
    gens = [torch.Generator(device="cpu").manual_seed(s) for s in (1, 2)]
    idx = mine.negative_index(7, mode, gens)
    assert idx.shape == (2, 7)
    assert sorted(idx[0].tolist()) == list(range(7))


def test_wm_run_with_audit_draws_on_its_generators_device(device_bound_generators, store_env):
    """The full ``wm`` smoke run, audit included (the audit crashed on CUDA at 40927dd)."""
    rr = mifd.run("wm", "smoke", "cpu", {"trials": 1, "epochs": 2}, verbose=False)
    assert rr.result["audit"]["train_dv"].shape[0] == rr.config.audit_steps


def test_separation_and_mine_runs_draw_on_their_generators_device(device_bound_generators,
                                                                    store_env):
    mifd.run("mine-gaussian", "smoke", "cpu", verbose=False)
    mifd.run("separation", "smoke", "cpu", {"trials": 1}, verbose=False)
