"""The estimator library against closed forms and its own stated identities."""

import math

import pytest
import torch

from mifd import mine
from mifd.nn import clip_grad_norm_per_trial
from problems import gaussian_cov, gaussian_pair


@pytest.mark.parametrize("mi", [2.0, 4.0, 6.0, 8.0, 10.0])
def test_gaussian_logdet_estimate_within_2_percent(mi):
    d = 20
    x, y, rho = gaussian_pair(10_000, d, mi=mi, seed=1)
    assert mine.gaussian_mi(rho, d) == pytest.approx(mi, rel=1e-12)
    assert mine.gaussian_mi_estimate(x, y) == pytest.approx(mi, rel=0.02)


def test_gaussian_mi_from_cov_matches_closed_form():
    d, rho = 3, 0.6
    assert mine.gaussian_mi_from_cov(gaussian_cov(d, rho), d) == pytest.approx(mine.gaussian_mi(rho, d), rel=1e-12)


def test_copula_estimate_unchanged_by_cubic_transform():
    x, y, _ = gaussian_pair(5000, 5, rho=0.7, seed=2)
    a = mine.copula_mi_estimate(x, y)
    b = mine.copula_mi_estimate(x, y ** 3)
    c = mine.copula_mi_estimate(torch.tanh(x.double()), y ** 3)
    assert a == pytest.approx(b, abs=1e-12) and a == pytest.approx(c, abs=1e-12)
    # ... while the plain Gaussian estimate is not invariant
    assert abs(mine.gaussian_mi_estimate(x, y ** 3) - mine.gaussian_mi_estimate(x, y)) > 0.05


def test_derangement_has_no_fixed_points():
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 10, 1000):
        for _ in range(20):
            p = mine.derangement(n, g)
            assert sorted(p.tolist()) == list(range(n))
            assert not (p == torch.arange(n)).any()


def test_dv_nwj_with_the_optimal_critic_recover_the_truth():
    d, mi = 5, 1.5
    g = torch.Generator().manual_seed(3)
    x, y, rho = gaussian_pair(200_000, d, mi=mi, gen=g)
    tj = mine.optimal_gaussian_critic(x, y, rho)[None].double()
    perm = mine.derangement(len(x), g)
    tm = mine.optimal_gaussian_critic(x, y[perm], rho)[None].double()
    assert float(mine.dv(tj, tm)) == pytest.approx(mi, rel=0.03)
    assert float(mine.nwj(tj + 1, tm + 1)) == pytest.approx(mi, rel=0.03)


def test_infonce_is_at_most_log_n():
    s = torch.randn(2, 16, 16) * 50 + torch.eye(16) * 1000
    assert torch.all(mine.infonce(s) <= math.log(16) + 1e-5)


def test_mine_surrogate_gradient_equals_tuba_gradient():
    torch.manual_seed(0)
    w = torch.randn(4, requires_grad=True)
    a, b = torch.randn(1, 100, 4), torch.randn(1, 300, 4)
    log_m = torch.tensor([0.3])

    def grad(fn):
        w.grad = None
        fn(a @ w, b @ w).sum().backward()
        return w.grad.clone()

    g_sur = grad(lambda tj, tm: mine.mine_surrogate(tj, tm, log_m))
    g_tuba = grad(lambda tj, tm: -mine.tuba(tj, tm, log_m))
    assert torch.allclose(g_sur, g_tuba, atol=1e-6)
    # and it differs from the biased gradient of the minibatch DV value
    g_dv = grad(lambda tj, tm: -mine.dv(tj, tm))
    assert not torch.allclose(g_sur, g_dv, atol=1e-3)
    # with m equal to the minibatch mean, TUBA's value is the DV value
    lme = mine.log_mean_exp(b @ w).detach()
    assert torch.allclose(mine.tuba(a @ w, b @ w, lme), mine.dv(a @ w, b @ w), atol=1e-6)


def test_non_finite_estimate_names_the_term():
    tj = torch.zeros(1, 10)
    tm = torch.full((1, 10), float("inf"))
    with pytest.raises(mine.NonFiniteError, match="log_mean_exp_T_marginal"):
        mine.dv(tj, tm)
    with pytest.raises(mine.NonFiniteError, match="mean_exp_T_marginal_minus_1"):
        mine.nwj(tj, tm)


def _train(critic, steps, d, rho, seeds, bound_name="mine", negatives="all_pairs", lr=1e-3,
           batch=32, clip=None):
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    gens = [torch.Generator().manual_seed(100 + s) for s in seeds]
    ema = mine.MovingAverage(0.1)
    for _ in range(steps):
        xy = [mine.sample_correlated_gaussian(batch, d, rho, g) for g in gens]
        dtype = next(critic.parameters()).dtype
        x = torch.stack([a for a, _ in xy]).to(dtype)
        y = torch.stack([b for _, b in xy]).to(dtype)
        tj, tm, sc = mine.joint_and_marginal_scores(critic, x, y, negatives, gens)
        est = mine.bound(bound_name, tj, tm, sc, ema=ema)
        opt.zero_grad()
        est.loss.sum().backward()
        if clip:
            clip_grad_norm_per_trial(list(critic.parameters()), clip)
        opt.step()
    return critic


@pytest.mark.parametrize("kind,negatives,bound_name,clip", [
    ("joint", "permutation", "dv", 0.5), ("separable", "all_pairs", "smile", None),
    ("joint", "derangement", "mine", None), ("joint", "all_pairs", "nwj", 0.1),
    ("separable", "all_pairs", "infonce", None)])
def test_batched_critics_equal_separately_trained(kind, negatives, bound_name, clip):
    # float64: DV is invariant to the output bias, so its gradient there is pure rounding noise,
    # which Adam's normalization would amplify in float32 and make trials drift apart.
    seeds, d, rho = [0, 1, 2], 3, 0.5
    batched = mine.make_critic(kind, seeds, d, d, (16, 16), embed=8).double()
    _train(batched, 15, d, rho, seeds, bound_name, negatives, clip=clip)
    for t, s in enumerate(seeds):
        single = mine.make_critic(kind, [s], d, d, (16, 16), embed=8).double()
        _train(single, 15, d, rho, [s], bound_name, negatives, clip=clip)
        for (name, pb), ps in zip(batched.named_parameters(), single.parameters()):
            assert torch.allclose(pb[t], ps[0], rtol=1e-9, atol=1e-9), name


def test_trained_dv_critic_within_15_percent_at_1_to_2_nats():
    d, mi = 4, 1.5
    rho = mine.rho_for_mi(mi, d)
    torch.manual_seed(0)
    critic = mine.make_critic("joint", [0], d, d, (64, 64))
    _train(critic, 400, d, rho, [0], "dv", "all_pairs", lr=2e-3, batch=96)
    g = torch.Generator().manual_seed(7)
    x, y, _ = gaussian_pair(50_000, d, rho=rho, gen=g)
    with torch.no_grad():
        tj, tm, _ = mine.joint_and_marginal_scores(critic, x[None], y[None], "derangement", [g])
        est = float(mine.dv(tj, tm))
    assert est == pytest.approx(mi, rel=0.15)
