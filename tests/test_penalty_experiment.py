"""The ``penalties`` experiment: conditions parsed or refused in one line, its ``mine`` and
``none`` trials are ``wm``'s ``mi`` and ``no_mi`` bit for bit, the loss adds exactly λ·c·P with
the stated calibration, and the K-group metrics on planted blocks."""

import dataclasses

import networkx as nx
import numpy as np
import pytest
import torch

import mifd
from mifd import penalties
from mifd.config import ConfigError
from mifd.experiments.penalties import (Condition, PenaltyTrainUnit, block_groups,
                                        group_metrics, group_penalty, k_communities)
from mifd.results.store import Store

from conftest import assert_batch_equal

EXP = mifd.get_experiment("penalties")


def test_conditions_parse_and_bad_ones_are_refused_in_one_line():
    assert Condition.parse("none") == Condition("none", 0.0, 2)
    assert Condition.parse("mine=0.3") == Condition("mine", 0.3, 2)
    assert Condition.parse("gaussian_tc=1/K4") == Condition("gaussian_tc", 1.0, 4)
    for bad in ("mine=0.1/K3", "gauss=0.1", "xcorr=0", "xcorr=-1", "xcorr=inf", "hsic=0.1/3",
                "club=0.1/K1", "club", "none=1"):
        with pytest.raises(ConfigError, match=r"parameter 'conditions': got .*allowed"):
            EXP.config("smoke", {"conditions": (bad,)})
    with pytest.raises(ConfigError, match="k <= n/2"):
        EXP.config("smoke", {"conditions": ("xcorr=0.1/K5",)})  # smoke: n = 8


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("pen"), [])
    kw = dict(store=store, verbose=False, progress=False)
    pen = mifd.run("penalties", "smoke", "cpu",
                   {"conditions": ("none", "mine=0.1", "gaussian=0.1", "hsic=0.3/K3")}, **kw)
    wm = mifd.run("wm", "smoke", "cpu", {"audit_steps": 0}, **kw)
    return pen, wm


def test_mine_and_none_trials_are_wm_mi_and_no_mi_bit_for_bit(runs):
    pen, wm = runs
    for ours, theirs in (("mine=0.1", "mi"), ("none", "no_mi")):
        a = pen.layout.index(ours)
        b = wm.layout.index(theirs)
        for k in ("task", "reg", "mi", "sm_mi", "accuracy"):
            np.testing.assert_array_equal(pen.result["hist"][k][:, a], wm.result["hist"][k][:, b],
                                          err_msg=f"{ours} {k}")
        np.testing.assert_array_equal(pen.result["weights"]["W_rec"][:, a],
                                      wm.result["weights"]["W_rec"][:, b])
    # the penalty trials did train differently, and recorded their penalty
    g = pen.layout.index("gaussian=0.1")
    assert not np.array_equal(pen.result["weights"]["W_rec"][-1][g],
                              wm.result["weights"]["W_rec"][-1][b])
    np.testing.assert_allclose(pen.result["hist"]["penalty"][:, g],
                               pen.result["hist"]["gauss_mi"][:, g], rtol=1e-5)
    assert np.isnan(pen.result["hist"]["penalty"][:, pen.layout.index("none")]).all()
    assert set(pen.result["timing"]["penalty_per_epoch"]) == {"gaussian/K2", "hsic/K3"}


def test_the_loss_adds_lambda_times_the_calibrated_penalty():
    cfg = EXP.config("smoke", {"conditions": ("none", "xcorr=0.5", "gaussian_tc=2/K3")})
    unit = PenaltyTrainUnit(cfg, "cpu")
    pb = unit.problem
    unit.step(0)  # calibration and SM pre-training
    T = cfg.trials
    scale = unit.penalty.scale.numpy()
    # no penalty, and the Gaussian total correlation (its own reference): c = 1
    assert (scale[:T] == 1).all() and scale[2 * T:] == pytest.approx(1.0, rel=1e-6)
    assert (np.abs(scale[T:2 * T] - 1) > 0.1).all()
    # the calibration: c = G / P on the calibration batch of the initial network
    gens = [torch.Generator().manual_seed(s + 6_100_003) for s in cfg.layout().seeds()]
    data = pb.sample("mm", 1, gens=gens)
    with torch.no_grad():
        x, y, _ = pb.run(data, grad=False)
    z = torch.cat([x, y], 2).double()
    xs = z[T:2 * T]
    want = (penalties.gaussian_mi(*penalties.split_groups(xs, 2))
            / penalties.cross_correlation(*penalties.split_groups(xs, 2)))
    np.testing.assert_allclose(scale[T:2 * T], want.numpy(), rtol=1e-5)
    # the regularizer of an MM batch: L2 + λ·c·P, P of the trial's own method and groups
    data = pb.sample("mm", 1)
    x, y, _ = pb.run(data, grad=True)
    z = torch.cat([x, y], 2)
    reg = pb.reg_loss()
    l2 = cfg.l2 * sum(w.pow(2).sum(dim=(1, 2)) for w in pb.model.weights())
    p_x = group_penalty("xcorr", z[T:2 * T].double(), 2, cfg.hsic_samples)
    p_tc = penalties.gaussian_total_correlation(penalties.split_groups(z[2 * T:].double(), 3))
    want = l2.detach().clone()
    want[T:2 * T] += 0.5 * unit.penalty.scale[T:2 * T] * p_x.float()
    want[2 * T:] += 2.0 * unit.penalty.scale[2 * T:] * p_tc.float()
    torch.testing.assert_close(reg.detach(), want, rtol=1e-5, atol=1e-6)
    # and the gradient reaches the weights through the penalty
    g = torch.autograd.grad(reg[T:].sum(), pb.model.W_rec)[0]
    assert torch.isfinite(g).all() and g[T:].abs().sum() > 0


def test_k_group_metrics_find_planted_blocks_and_equal_networkx():
    n, k = 12, 3
    g = block_groups(n, k)
    assert g.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    rng = np.random.default_rng(0)
    A = 0.05 * rng.random((n, n)) + 0.9 * (g[:, None] == g[None, :])
    A = (A + A.T) / 2 * (1 - np.eye(n))
    assert mifd.metrics.nmi(k_communities(A, k), g) == pytest.approx(1.0)
    W = np.where(g[:, None] == g[None, :], 1.0, 0.01)[None]
    out = group_metrics(A[None], W)
    G = nx.from_numpy_array(A)
    part = [set(np.flatnonzero(g == i)) for i in range(k)]
    assert out["Q_cor_3"][0] == pytest.approx(nx.community.modularity(G, part, weight="weight"))
    assert out["NMI_cor_3"][0] == pytest.approx(1.0)
    assert out["Q_str_3"][0] > out["Q_str_4"][0] > 0  # 4 blocks cut the planted 3
    assert 0 < out["NMI_cor_2"][0] < 1


def test_a_stopped_penalty_run_resumes_to_the_same_result(tmp_path):
    store = Store(tmp_path, [])
    over = {"conditions": ("xcorr=0.1", "club=0.1")}
    with pytest.raises(mifd.experiments.base.RunPaused):
        mifd.run("penalties", "smoke", "cpu", over, store=store, verbose=False, progress=False,
                 max_seconds=0)
    resumed = mifd.run("penalties", "smoke", "cpu", over, store=store, verbose=False,
                       progress=False)
    whole = mifd.run("penalties", "smoke", "cpu", over, store=Store(tmp_path / "w", []),
                     verbose=False, progress=False)
    assert resumed.result["trials"] == whole.result["trials"]
    np.testing.assert_array_equal(resumed.result["scale"], whole.result["scale"])
    assert dataclasses.asdict(resumed.config) == dataclasses.asdict(whole.config)


def test_the_chapter_tables_and_questions_come_from_the_run(runs):
    from mifd.paper import claims
    from mifd.paper import penalties as P
    pen, wm = runs
    same = P.against_wm(pen, wm)
    assert same["trials"] == 2 and same["epochs"] == 4 and same["task"] == 0 and same["mi"] == 0
    assert P.against_wm(pen, wm, "gaussian=0.1")["task"] > 0
    assert P.against_wm_sentence(pen, wm).endswith(": the same computation.")
    other = P.against_wm_sentence(pen, wm, "gaussian=0.1")
    assert "not the same computation (the runs' named settings agree)" in other
    # a wm run of another ε placement: named, both sides
    import copy
    import dataclasses as dc
    flipped = copy.copy(wm)
    flipped.config = dc.replace(
        wm.config, rmsprop_eps="outside" if wm.config.rmsprop_eps == "inside" else "inside")
    t = P.against_wm_sentence(pen, flipped, "gaussian=0.1")
    assert f"RMSprop ε {pen.config.rmsprop_eps} √ here, RMSprop ε " \
           f"{flipped.config.rmsprop_eps} √ there." in t
    dose = P.dose_response(pen)
    # λ = 0 is the no-penalty trials, shared by both methods
    for method in ("mine", "gaussian"):
        d = dose[(dose["method"] == method) & (dose["metric"] == "D_cor")]
        assert d["λ"].tolist() == [0.0, 0.1]
        none = np.mean(pen.result["trials"]["none"]["D_cor"])
        assert d["mean"].iloc[0] == pytest.approx(none)
    assert set(P.trends(pen).index.get_level_values(0)) == {"mine", "gaussian"}
    riv = P.rivals(pen)
    assert set(riv.index.get_level_values(1)) == {"gaussian"}  # the only rival at k = 2
    g = P.groups(pen)
    assert ("none", 3) in g.index and ("hsic=0.3/K3", 3) in g.index
    qs = P.questions(pen)
    allowed = ("increases", "decreases", "no trend detected", "higher", "lower", "as large",
               "not testable", "yes", "not detected")
    assert qs and all(q["answer"].startswith(allowed) for q in qs)
    table = claims.beyond_table(penalties=pen)
    assert len(table) == len(qs) and (table["section"] == "Is MINE needed? (working memory)").all()
    assert table["where"].str.startswith("smoke, cpu, n = 2").all()


def test_nwj_and_smile_trials_use_their_bound_of_the_same_critic_and_dv_trials_are_unchanged():
    cfg = EXP.config("smoke", {"conditions": ("mine=0.1", "nwj=0.1", "smile=0.1")})
    unit = PenaltyTrainUnit(cfg, "cpu")
    tr, T = unit.trainer, cfg.trials
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3 * T, 64, cfg.n // 2, generator=g)
    y = 0.5 * x + torch.randn(3 * T, 64, cfg.n // 2, generator=g)
    v = tr.estimate(x, y, noise=False)
    tj, tm = tr._last
    torch.testing.assert_close(v[:T], mifd.mine.dv(tj[:T], tm[:T]))
    torch.testing.assert_close(v[T:2 * T], mifd.mine.nwj(tj[T:2 * T], tm[T:2 * T]))
    torch.testing.assert_close(v[2 * T:], mifd.mine.smile(tj[2 * T:], tm[2 * T:]))
    assert not torch.allclose(v[:T], v[T:2 * T])
    # the λ_I of every critic trial, and no critic-free penalty
    assert tr.lambda_mi.tolist() == pytest.approx([0.1] * 3 * T)
    assert not unit.penalty.blocks


def test_separation_penalties_none_and_mine_are_separation_no_mi_and_mi_l2_bit_for_bit(tmp_path):
    kw = dict(store=Store(tmp_path, []), verbose=False, progress=False)
    pen = mifd.run("penalties-separation", "smoke", "cpu",
                   {"conditions": ("mine=0.005", "none", "xcorr=0.005")}, **kw)
    sep = mifd.run("separation", "smoke", "cpu", {"conditions": ("mi_l2", "no_mi")}, **kw)
    for ours, theirs in (("mine=0.005", "mi_l2"), ("none", "no_mi")):
        a, b = pen.layout.index(ours), sep.layout.index(theirs)
        # the two runs batch their trials with other companions (6 against 4): bit for bit
        # where the BLAS is batch-invariant, within the conftest bound where it is not
        for k in ("task", "reg", "mi", "sm_mi"):
            assert_batch_equal(pen.result["hist"][k][:, a], sep.result["hist"][k][:, b],
                               err_msg=f"{ours} {k}")
        assert_batch_equal(np.array(pen.result["trials"][ours]["R2"]),
                           np.array(sep.result["trials"][theirs]["R2"]), err_msg="R2")
    x = pen.layout.index("xcorr=0.005")
    assert np.isfinite(pen.result["hist"]["penalty"][:, x]).all()
    assert pen.result["scale"][x].item() != 1.0
    # the k-group metrics read U_h, as separation's Q_str
    assert pen.result["trials"]["none"]["Q_str_3"] and \
        np.isfinite(pen.result["trials"]["none"]["Q_str_3"]).all()


def test_the_committed_copy_leaves_out_the_example_sequences_and_still_serves_the_chapter(
        tmp_path):
    from conftest import leaves

    from mifd.paper import penalties as P
    from mifd.results.runner import commit_results
    from mifd.results.merge import COMMITTED_WITHOUT
    over = {"conditions": ("none", "mine=0.1", "gaussian=0.1")}
    own = Store(tmp_path / "own", [tmp_path / "committed"])
    local = mifd.run("penalties", "smoke", "cpu", over, store=own, verbose=False, progress=False)
    assert "example" in local.result["final"]
    dst = commit_results("penalties", "smoke", over, store=own)
    fresh = mifd.run("penalties", "smoke", "cpu", over, verbose=False, progress=False,
                     store=Store(tmp_path / "empty", [tmp_path / "committed"]))
    assert fresh.loaded and fresh.meta["committed_without"] == ["final/example"]
    assert COMMITTED_WITHOUT["penalties"] == (("final", "example"),)
    kept = dict(leaves(fresh.result))
    want = {k: v for k, v in leaves(local.result) if not k.startswith("final.example.")}
    assert kept.keys() == want.keys()
    for k, v in want.items():
        np.testing.assert_array_equal(np.asarray(kept[k]), np.asarray(v), err_msg=k)
    assert (dst / "result.bin").stat().st_size < (local.path / "result.bin").stat().st_size
    assert P.questions(fresh) == P.questions(local)


def test_a_committed_part_without_examples_assembles_with_a_full_local_part(tmp_path):
    from mifd.results import shards
    from mifd.results.merge import without_uncommitted
    store = Store(tmp_path / "own", [])
    kw = dict(store=store, verbose=False, progress=False)
    whole = {"conditions": ("none", "mine=0.1")}
    a = mifd.run("penalties", "smoke", "cpu", {"conditions": ("none",)}, **kw)
    b = mifd.run("penalties", "smoke", "cpu", {"conditions": ("mine=0.1",)}, **kw)
    b.result, dropped = without_uncommitted("penalties", b.result)
    assert dropped == ["final/example"] and "example" not in b.result["final"]
    assert "example" in a.result["final"]  # the input is not changed
    cfg = EXP.config("smoke", whole)
    both = shards.combine_conditions(cfg, [a, b])
    assert "example" not in both.result["final"]
    np.testing.assert_array_equal(both.result["final"]["Q_cor"][:2], a.result["final"]["Q_cor"])
