"""Critic-free dependence penalties: closed forms on Gaussians, zero (up to the stated bias) for
independent groups, growing with a planted dependence, finite gradients, trials independent."""

import numpy as np
import pytest
import torch

from mifd import mine, penalties
from problems import gaussian_trials as _pairs

PENALTIES = tuple(penalties.PENALTIES.values())


def test_gaussian_mi_matches_the_closed_form_and_its_bias():
    x, y = _pairs(4, 20_000, 3, 0.6)
    got = penalties.gaussian_mi(x, y)
    assert got.numpy() == pytest.approx(np.full(4, mine.gaussian_mi(0.6, 3)), abs=0.03)
    # independent groups: the mean over many trials is the log-det bias of the sample covariance
    T, S, d = 400, 100, 2
    x, y = _pairs(T, S, d, 0.0, seed=1)
    bias = 0.5 * (2 * mine.logdet_bias(d, S) - mine.logdet_bias(2 * d, S))
    v = penalties.gaussian_mi(x, y, ridge=0.0)
    assert float(v.mean()) == pytest.approx(bias, abs=4 * float(v.std()) / T ** 0.5)


def test_cross_correlation_is_rho_squared_over_the_pairs():
    d, rho = 4, 0.7
    x, y = _pairs(3, 50_000, d, rho, seed=2)
    # y_i correlates ρ with x_i only: d of the d² pairs carry ρ²
    assert penalties.cross_correlation(x, y).numpy() == pytest.approx(
        np.full(3, rho ** 2 / d), abs=0.01)
    x, y = _pairs(3, 50_000, d, 0.0, seed=3)
    assert (penalties.cross_correlation(x, y) < 5 / 50_000).all()


def test_hsic_equals_the_textbook_formula_and_sees_nonlinear_dependence():
    x, y = _pairs(2, 60, 2, 0.5, seed=4)
    got = penalties.hsic(x, y, samples=None)
    m = 60
    H = np.eye(m) - 1 / m
    for t in range(2):
        def gram(z):
            d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
            off = np.sort(d2[~np.eye(m, dtype=bool)])
            return np.exp(-d2 / off[(off.size - 1) // 2])  # the lower median
        ref = np.trace(gram(x[t].numpy()) @ H @ gram(y[t].numpy()) @ H) / (m - 1) ** 2
        assert float(got[t]) == pytest.approx(ref, rel=1e-9)
    # y = (ρx + noise)³: no linear correlation to speak of at ρ = 0, dependence at ρ > 0
    values = [float(penalties.hsic(*_pairs(1, 400, 1, r, seed=5, cubic=True)).mean())
              for r in (0.0, 0.4, 0.8)]
    assert values[0] < values[1] < values[2]


@pytest.mark.parametrize("penalty", PENALTIES)
def test_penalties_grow_with_dependence_have_gradients_and_keep_trials_apart(penalty):
    vals = [float(penalty(*_pairs(2, 2000, 2, r, seed=6)).mean()) for r in (0.0, 0.5, 0.9)]
    assert vals[0] < vals[1] < vals[2], vals
    x, y = _pairs(3, 300, 2, 0.5, seed=7)
    x.requires_grad_(True)
    penalty(x, y).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    alone = penalty(x[1:2].detach(), y[1:2])
    torch.testing.assert_close(penalty(x.detach(), y)[1:2], alone)


def test_bad_shapes_are_refused():
    x = torch.zeros(2, 10, 3)
    with pytest.raises(ValueError, match="same T and S"):
        penalties.cross_correlation(x, torch.zeros(2, 9, 3))
    with pytest.raises(ValueError, match="at least 3"):
        penalties.gaussian_mi(torch.zeros(1, 2, 1), torch.zeros(1, 2, 1))
    with pytest.raises(ValueError, match="parameter 'samples'"):
        penalties.hsic(x, x, samples=1)


def test_club_is_r2_over_one_minus_r2_an_upper_bound_of_the_gaussian_mi():
    rho = 0.6
    x, y = _pairs(3, 50_000, 1, rho, seed=8)
    got = penalties.club(x, y)
    assert got.numpy() == pytest.approx(np.full(3, rho ** 2 / (1 - rho ** 2)), rel=0.03)
    assert (got > mine.gaussian_mi(rho, 1)).all()  # the bound is above the MI
    # d independent pairs: the sum over the units of y
    x, y = _pairs(2, 50_000, 3, rho, seed=9)
    assert penalties.club(x, y).numpy() == pytest.approx(np.full(2, 3 * rho ** 2 / (1 - rho ** 2)),
                                                         rel=0.03)
    # independent groups: about dx·dy/S (the R² of a least-squares fit on noise)
    T, S, d = 200, 200, 2
    v = penalties.club(*_pairs(T, S, d, 0.0, seed=10))
    assert float(v.mean()) == pytest.approx(d * d / S, rel=0.25)


def test_groups_split_evenly_and_the_pairwise_sum_and_total_correlation_are_right():
    z = torch.arange(2 * 5 * 10, dtype=torch.float64).reshape(2, 5, 10)
    assert [g.shape[-1] for g in penalties.split_groups(z, 3)] == [4, 3, 3]
    assert torch.equal(torch.cat(penalties.split_groups(z, 4), -1), z)
    with pytest.raises(ValueError, match="parameter 'k'"):
        penalties.split_groups(z, 1)
    x, y = _pairs(2, 3000, 2, 0.5, seed=11)
    w = _pairs(2, 3000, 2, 0.0, seed=12)[0]
    for name, pen in penalties.PENALTIES.items():
        torch.testing.assert_close(penalties.of_groups(pen, [x, y]), pen(x, y))
        torch.testing.assert_close(penalties.of_groups(pen, [x, y, w]),
                                   pen(x, y) + pen(x, w) + pen(y, w))
    # two groups: the total correlation is the MI; three Gaussians where only x–y depend:
    # TC = I(x; y) + I(xy; w) ≈ I(x; y)
    torch.testing.assert_close(penalties.gaussian_total_correlation([x, y]),
                               penalties.gaussian_mi(x, y))
    tc = penalties.gaussian_total_correlation([x, y, w])
    assert tc.numpy() == pytest.approx(np.full(2, mine.gaussian_mi(0.5, 2)), abs=0.02)
    with pytest.raises(ValueError, match="parameter 'groups'"):
        penalties.of_groups(penalties.club, [x])
