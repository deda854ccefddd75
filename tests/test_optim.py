"""RMSprop with ε inside the square root (Keras ≥ 2.11) against the formula, and against ε
outside it (torch, the default)."""

import numpy as np
import pytest
import torch

import mifd
from mifd.nn import RMSpropEpsInside, rmsprop_keras


def _steps(opt_fn, grads):
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = opt_fn([w])
    for g in grads:
        w.grad = g.clone()
        opt.step()
    return w.detach().numpy()


def test_eps_inside_follows_the_keras_formula():
    rng = np.random.default_rng(0)
    grads = [torch.tensor(rng.normal(size=3) * s) for s in (1.0, 1e-3, 1e-5, 1e-4)]
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, v = np.zeros(3), np.zeros(3)
    for g in grads:
        g = g.numpy()
        v = rho * v + (1 - rho) * g * g
        w = w - lr * g / np.sqrt(v + eps)
    np.testing.assert_allclose(_steps(lambda p: rmsprop_keras(p, lr, "inside"), grads), w,
                               rtol=1e-12)
    # with small gradients throughout, ε inside the root makes the steps ~100× smaller
    small = [torch.full((3,), 1e-5, dtype=torch.float64)] * 5
    inside = _steps(lambda p: rmsprop_keras(p, lr, "inside"), small)
    outside = _steps(lambda p: rmsprop_keras(p, lr, "outside"), small)
    assert 50 < outside[0] / inside[0] < 200
    assert isinstance(rmsprop_keras([torch.nn.Parameter(torch.zeros(1))], lr, "inside"),
                      RMSpropEpsInside)
    with pytest.raises(ValueError, match="parameter 'eps_placement'"):
        rmsprop_keras([torch.nn.Parameter(torch.zeros(1))], lr, "middle")


def test_the_wm_option_keeps_the_legacy_key_and_changes_the_run(store_env):
    """ε outside √ (the value before the field existed) keeps the keys stored before it; the
    default, ε inside √ (issue 39), has keys of its own and trains differently."""
    exp = mifd.get_experiment("wm")
    from dataclasses import replace

    from mifd.config import config_hash, stored_config, to_dict
    outside = exp.config("smoke", {"rmsprop_eps": "outside"})
    # a config stored before the field existed reads back as ε outside, with the same key
    before = {k: v for k, v in to_dict(outside).items() if k != "rmsprop_eps"}
    assert config_hash("wm", stored_config(exp.config_cls, before), "v") == \
        config_hash("wm", outside, "v")
    assert config_hash("wm", replace(outside, rmsprop_eps="inside"), "v") != \
        config_hash("wm", outside, "v")
    tiny = {"trials": 1, "epochs": 2, "audit_steps": 0}
    a = mifd.run("wm", "smoke", "cpu", {**tiny, "rmsprop_eps": "outside"}, verbose=False)
    b = mifd.run("wm", "smoke", "cpu", tiny, verbose=False)
    assert a.key != b.key
    assert not np.array_equal(a.result["weights"]["W_rec"], b.result["weights"]["W_rec"])


def test_the_doubled_critic_bias_is_the_same_function_and_moves_twice_as_fast():
    """The authors' critic adds a bias on both first-layer Dense layers: the same function at
    initialisation (zero biases), but under Adam two biases receiving the same gradient move
    their sum twice as far per step as one bias."""
    from mifd.mine import make_critic
    one = make_critic("joint", [1, 2], 3, 4, (8, 8))
    two = make_critic("joint", [1, 2], 3, 4, (8, 8), double_bias=True)
    assert two.fy.bias is not None and one.fy.bias is None
    g = torch.Generator().manual_seed(0)
    x, y, y_sh = (torch.randn(2, 5, d, generator=g) for d in (3, 4, 4))
    assert torch.equal(one(x, y), two(x, y))
    assert torch.equal(one.joint_and_shuffled(x, y, y_sh)[0], two.joint_and_shuffled(x, y, y_sh)[0])
    moved = []
    for c in (one, two):
        opt = torch.optim.Adam(c.parameters(), lr=1e-3)
        c(x, y).sum().backward()
        opt.step()
        total = c.fx.bias + (c.fy.bias if c.fy.bias is not None else 0)
        moved.append(total.detach().abs())
    torch.testing.assert_close(moved[1], 2 * moved[0])


def test_the_options_reach_the_optimizers_and_the_critic():
    from mifd.experiments.separation import EXPERIMENT, SeparationTrainUnit
    cfg = EXPERIMENT.config("smoke", {"adam_eps": 1e-7, "critic_double_bias": True})
    unit = SeparationTrainUnit(cfg, "cpu")
    assert unit.trainer.mm_opt.defaults["eps"] == unit.trainer.sm_opt.defaults["eps"] == 1e-7
    assert unit.critic.fy.bias is not None
    from mifd.experiments.wm import EXPERIMENT as WM, WMTrainUnit
    # wm follows the authors' code by default (a bias on both first-layer Dense layers);
    # one bias is the option, and the key of a run stored before the option existed (one
    # bias) is unchanged
    assert WM.config("smoke").critic_double_bias is True
    assert WMTrainUnit(WM.config("smoke"), "cpu").critic.fy.bias is not None
    assert WMTrainUnit(WM.config("smoke", {"critic_double_bias": False}), "cpu").critic.fy.bias \
        is None
    from mifd.config import config_hash, stored_config, to_dict
    one = WM.config("smoke", {"critic_double_bias": False})
    before = {k: v for k, v in to_dict(one).items() if k != "critic_double_bias"}
    assert stored_config(WM.config_cls, before).critic_double_bias is False
    assert config_hash("wm", stored_config(WM.config_cls, before), "v") == \
        config_hash("wm", one, "v") != config_hash("wm", WM.config("smoke"), "v")
    assert EXPERIMENT.config("smoke").critic_double_bias is False  # separation: one bias


def test_a_leaky_critic_has_no_silent_units_and_relu_keeps_every_key():
    """``critic_act``: the statistics network's hidden activation (a test of the fade's
    mechanism); ReLU, the authors', is the default and leaves every stored key as it was."""
    from mifd.config import config_hash
    from mifd.experiments.wm import EXPERIMENT as WM, WMTrainUnit
    from mifd.experiments.wm_mechanism import silent_share
    assert config_hash("wm", WM.config("smoke", {"critic_act": "relu"}), "v") == \
        config_hash("wm", WM.config("smoke"), "v")
    for act, silent in (("relu", True), ("leaky_relu_0.25", False)):
        cfg = WM.config("smoke", {"critic_act": act, "n": 8})
        critic = WMTrainUnit(cfg, "cpu").critic
        T = len(cfg.layout().seeds())
        with torch.no_grad():
            critic.fx.bias.fill_(-1e3)  # every first-layer pre-activation far below zero
        x = torch.randn(T, 64, 4, generator=torch.Generator().manual_seed(0))
        share = silent_share(critic, x, torch.zeros(T, 64, 4))
        assert bool((share > 0).any()) is silent, act
    with pytest.raises(mifd.ConfigError, match="critic_act"):
        WM.config("smoke", {"critic_act": "gelu"})
