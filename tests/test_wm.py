"""Working-memory experiment: task statistics, batched = per-trial, trial independence, resume."""

import numpy as np
import pytest
import torch

import mifd
from mifd.models.leaky import LeakyRNN, LeakySpec
from mifd.tasks import flipflop
from mifd.experiments.wm import WMTrainUnit


def _reference(onset: np.ndarray, width: int, ramp: float):
    """Straightforward loops following the specification (one sequence, onset (L+1, 4))."""
    L1 = onset.shape[0]
    x = np.zeros((L1, 4))
    for c in range(4):
        for t0 in np.flatnonzero(onset[:, c]):
            x[t0:t0 + width, c] = 1.0
    state = np.zeros((L1, 2))
    state[0] = np.where(onset[0, 0::2], 1.0, -1.0)
    for t in range(1, L1):
        for j in range(2):
            on, off = onset[t, 2 * j], onset[t, 2 * j + 1]
            state[t, j] = 1.0 if on else (-1.0 if off else state[t - 1, j])
    sig = np.zeros((L1, 2))
    for t in range(1, L1):
        sig[t] = np.clip(sig[t - 1] + ramp * state[t], -1, 1)
    return x[:-1], sig[1:], state


def test_flipflop_matches_the_specification_loop():
    g = torch.Generator().manual_seed(0)
    spec = flipflop.FlipFlopSpec(p=0.01)  # denser pulses: more ties and overlaps to check
    L = 3000
    x, y = flipflop.generate([g], 3, L, spec)
    g = torch.Generator().manual_seed(0)
    on = flipflop.onsets([g], 3, L + 1, spec.p)[0].numpy()
    for b in range(3):
        rx, ry, _ = _reference(on[b], spec.width, spec.ramp)
        np.testing.assert_array_equal(x[0, b].numpy(), rx)
        np.testing.assert_allclose(y[0, b].numpy(), ry, atol=1e-6)
    # the step target is the state itself
    g = torch.Generator().manual_seed(0)
    _, ys = flipflop.generate([g], 3, L, flipflop.FlipFlopSpec(p=0.01, target="step"))
    np.testing.assert_array_equal(ys[0, 0].numpy(), _reference(on[0], 40, 0.1)[2][1:])


def test_flipflop_statistics():
    g = torch.Generator().manual_seed(1)
    on = flipflop.onsets([g], 50, 3001, 0.002)
    assert on.float().mean().item() == pytest.approx(0.002, rel=0.05)
    x = flipflop.pulses(on, 40, 1.0)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    # an isolated pulse lasts exactly 40 steps
    one = torch.zeros(1, 200, 4, dtype=torch.bool)
    one[0, 10, 2] = True
    p = flipflop.pulses(one, 40, 1.0)[0, :, 2]
    assert p.sum() == 40 and p[10] == 1 and p[49] == 1 and p[50] == 0 and p[9] == 0
    # ON and OFF at the same step: ON wins; nothing yet: -1
    ev = torch.zeros(1, 5, 4, dtype=torch.bool)
    ev[0, 2, 0] = ev[0, 2, 1] = True
    ev[0, 4, 1] = True
    assert flipflop.memory_state(ev)[0, :, 0].tolist() == [-1, -1, 1, 1, -1]
    # the ramp moves by 0.1 per step and is clipped
    g = torch.Generator().manual_seed(2)
    _, y = flipflop.generate([g], 20, 3000)
    d = torch.diff(y, dim=2).abs()
    assert d.max().item() <= 0.1 + 1e-6 and y.abs().max().item() <= 1.0
    assert y[0, :, 0].abs().max().item() == pytest.approx(0.1)  # starts from 0


def _ramp_loop(state: torch.Tensor, ramp: float) -> torch.Tensor:
    """The target's recursion step by step, in float32 (what ``ramp_target`` must equal)."""
    out = torch.empty_like(state)
    s = torch.zeros_like(state[..., 0, :])
    for t in range(state.shape[-2]):
        s = torch.clamp(s + ramp * state[..., t, :], -1.0, 1.0)
        out[..., t, :] = s
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 5000])
def test_chunked_ramp_target_is_bit_identical_to_the_loop(chunk):
    g = torch.Generator().manual_seed(4)
    # published pulse rate (the guesses mostly right), dense pulses (often wrong)
    states = [flipflop.memory_state(flipflop.onsets([g, g], 3, 3001, p))[..., 1:, :]
              for p in (0.002, 0.05)]
    # a state flipping every 6 steps never lets the signal saturate: every guess after the
    # first chunk is wrong and the rounds run until the exact values have crossed all chunks
    flip = torch.tensor([1.0, -1.0]).repeat_interleave(6).repeat(100)[:1000]
    states.append(torch.stack([flip, -flip], dim=-1))
    for state in states:
        expected = _ramp_loop(state, 0.1)
        assert torch.equal(flipflop.ramp_target(state, 0.1, chunk), expected)
    empty = states[0][..., :0, :]
    assert flipflop.ramp_target(empty, 0.1, chunk).shape == empty.shape
    with pytest.raises(ValueError, match="parameter 'chunk'"):
        flipflop.ramp_target(states[0], 0.1, 0)


def test_targets_are_skipped_without_changing_the_random_draws():
    draws = []
    for targets in (True, False):
        g = torch.Generator().manual_seed(5)
        x, y = flipflop.generate([g], 3, 500, targets=targets)
        draws.append((x, y, torch.rand(3, generator=g)))
    assert draws[1][1] is None and draws[0][1].shape == (1, 3, 500, 2)
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][2], draws[1][2])
    cfg = mifd.get_experiment("wm").config("smoke")
    from mifd.experiments.wm import WMProblem
    problem = WMProblem(cfg, [1, 2], "cpu")
    assert problem.sample("sm", 2)["target"] is None
    assert problem.sample("sm_pre", 1)["target"] is None
    assert problem.sample("mm", 1)["target"].shape[-1] == 2


def test_batched_leaky_rnn_equals_per_trial_runs():
    seeds = [3, 4, 5]
    spec = LeakySpec(n=10)
    batched = LeakyRNN([torch.Generator().manual_seed(s) for s in seeds], spec)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(3, 2, 50, 4, generator=g)
    h0 = torch.randn(3, 2, 10, generator=g)
    noise = torch.randn(3, 2, 50, 10, generator=g)
    H, Y = batched(x, h0, noise)
    for t, s in enumerate(seeds):
        single = LeakyRNN([torch.Generator().manual_seed(s)], spec)
        Hs, Ys = single(x[t:t + 1], h0[t:t + 1], noise[t:t + 1])
        torch.testing.assert_close(H[t:t + 1], Hs, rtol=0, atol=1e-6)
        torch.testing.assert_close(Y[t:t + 1], Ys, rtol=0, atol=1e-6)


def test_noise_inside_alpha_is_scaled_by_alpha():
    spec_out, spec_in = LeakySpec(n=4, sigma=0.5), LeakySpec(n=4, sigma=0.5, noise="inside")
    m_out = LeakyRNN([torch.Generator().manual_seed(0)], spec_out)
    m_in = LeakyRNN([torch.Generator().manual_seed(0)], spec_in)
    x, h0 = torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 4)
    noise = torch.ones(1, 1, 1, 4)
    H_out, _ = m_out(x, h0, noise)
    H_in, _ = m_in(x, h0, noise)
    torch.testing.assert_close(H_out, torch.full_like(H_out, 0.5))
    torch.testing.assert_close(H_in, torch.full_like(H_in, 0.05))


def _unit(conditions, trials, epochs=3):
    cfg = mifd.get_experiment("wm").config("smoke", {"conditions": conditions, "trials": trials,
                                                     "epochs": epochs})
    u = WMTrainUnit(cfg, "cpu")
    for i in range(u.n_steps):
        u.step(i)
    return u


def test_a_trials_results_do_not_depend_on_its_batch_companions():
    alone = _unit(("mi",), 1)
    shared = _unit(("no_mi", "mi"), 3)  # mi trial 0 is column 3 here
    for k in ("task", "mi", "sm_mi"):
        np.testing.assert_allclose(alone.hist[k][:, 0], shared.hist[k][:, 3], rtol=1e-4,
                                   atol=1e-5, err_msg=k)
    for name in ("W_rec", "W_in", "W_out"):
        a = getattr(alone.problem.model, name)[0]
        b = getattr(shared.problem.model, name)[3]
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_no_mi_trials_are_unaffected_by_the_critic():
    # λ_I = 0: the RNN's trajectory is that of plain task training, whatever the critic does
    a = _unit(("no_mi",), 1)
    cfg = mifd.get_experiment("wm").config("smoke", {"conditions": ("no_mi",), "trials": 1,
                                                     "epochs": 3, "sm_lr": 0.1})
    b = WMTrainUnit(cfg, "cpu")
    for i in range(b.n_steps):
        b.step(i)
    torch.testing.assert_close(a.problem.model.W_rec, b.problem.model.W_rec)


def test_wm_smoke_summary_has_every_metric(store_env):
    rr = mifd.run("wm", "smoke", "cpu", verbose=False)
    for cond in ("mi", "no_mi"):
        for m in ("accuracy", "success_rate", "mse", "D_cor", "Q_cor", "Q_str", "D_in", "D_out"):
            assert rr.summary[cond][m]["n"] == 2, (cond, m)
