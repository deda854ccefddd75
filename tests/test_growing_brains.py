"""Growing Brains: Yang et al.'s RNN (noise closed form, BIMT swaps keep its function), the
functional clustering on planted examples, the anatomical measures on hand-built grids, and a
smoke run."""

import numpy as np
import pytest
import torch

import mifd
from mifd import bimt, cognitive
from mifd.models.yang import YangRNN, YangSpec

from conftest import leaves


def test_recurrent_noise_has_the_stationary_variance_of_its_closed_form():
    spec = YangSpec(n=200, n_in=3, n_out=2, dt=20, tau=100, sigma_rec=0.3, activation="relu")
    m = YangRNN([torch.Generator().manual_seed(0)], spec)
    with torch.no_grad():
        m.W_rec.zero_()
        m.W_in.zero_()
    a = spec.alpha
    x = torch.zeros(1, 8, 400, 3)
    noise = torch.randn(1, 8, 400, 200, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        R, _ = m(x, noise)
    # h_t = (1 − α) h + √(2α) σ ξ: Var h = 2σ²/(2 − α); r = relu(h) of a centred Gaussian has
    # E r² = Var h / 2
    want = 2 * spec.sigma_rec ** 2 / (2 - a) / 2
    got = float((R[:, :, 100:] ** 2).mean())
    assert got == pytest.approx(want, rel=0.05)


def test_a_bimt_swap_leaves_yang_rnn_outputs_unchanged():
    spec = YangSpec(n=16, n_in=5, n_out=3, activation="softplus")
    m = YangRNN([torch.Generator().manual_seed(s) for s in (0, 1)], spec)
    x = torch.randn(2, 3, 20, 5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        R0, y0 = m(x)
        perm = torch.stack([torch.randperm(16, generator=torch.Generator().manual_seed(3))] * 2)
        bimt.permute_units(dict(m.named_parameters()), "leaky", perm)
        R1, y1 = m(x)
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(R1, R0)  # the units did move
    with pytest.raises(ValueError, match="parameter 'activation'"):
        YangRNN([torch.Generator()], YangSpec(activation="tanh"))


def test_task_variance_and_its_normalization():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(50, 10, 4)) * np.array([0.0, 1.0, 2.0, 3.0])
    tv = cognitive.task_variance(r)
    assert tv[0] == 0 and tv[1:] == pytest.approx([1, 4, 9], rel=0.25)
    keep, X = cognitive.normalized(np.stack([tv, 2 * tv]))
    assert keep.tolist() == [1, 2, 3] and np.allclose(X, [[0.5, 1.0]] * 3)
    with pytest.raises(ValueError, match="parameter 'rates'"):
        cognitive.task_variance(r[:1])


def test_silhouette_and_kmeans_find_planted_clusters():
    rng = np.random.default_rng(1)
    centres = np.eye(5)[:3] * 5
    X = np.concatenate([c + 0.1 * rng.normal(size=(20, 5)) for c in centres])
    truth = np.repeat([0, 1, 2], 20)
    labels, k = cognitive.cluster(X, seed=0)
    assert k == 3 and mifd.metrics.nmi(labels, truth) == pytest.approx(1.0)
    assert cognitive.silhouette(X, truth) > 0.9
    assert cognitive.silhouette(X, rng.permutation(truth)) < 0.1
    # the textbook value on four points
    P = np.array([[0.0], [1.0], [10.0], [12.0]])
    lab = np.array([0, 0, 1, 1])
    s = [(11 - 1) / 11, (10 - 1) / 10, (9.5 - 2) / 9.5, (11.5 - 2) / 11.5]
    assert cognitive.silhouette(P, lab) == pytest.approx(np.mean(s))


def test_isolated_ratio_and_index_variance_on_hand_built_grids():
    n = 16  # a 4 × 4 grid, column-major: index = column · 4 + row
    assert cognitive.grid_shape(n) == (4, 4)
    units = np.arange(n)
    halves = (units >= 8).astype(int)
    assert cognitive.isolated_ratio(units, halves, n) == 0.0
    checker = (units // 4 + units % 4) % 2
    assert cognitive.isolated_ratio(units, checker, n) == 1.0
    # two units of a cluster, neighbours in a column (indices 0, 1) or not (0, 5)
    assert cognitive.isolated_ratio(np.array([0, 1]), np.array([0, 0]), n) == 0.0
    assert cognitive.isolated_ratio(np.array([0, 5]), np.array([0, 0]), n) == 1.0
    assert cognitive.index_variance(units, halves) == pytest.approx(2 * np.var(np.arange(8)))
    stat, null = cognitive.with_null(cognitive.index_variance, units, halves, shuffles=200)
    assert stat < null  # contiguous clusters: far below the shuffles
    stat, null = cognitive.with_null(lambda u, l: cognitive.isolated_ratio(u, l, n), units,
                                     halves, shuffles=200)
    assert stat == 0.0 and null > 0.05


def test_growing_brains_smoke_run_has_every_condition_and_metric(tmp_path):
    pytest.importorskip("neurogym")
    from mifd.results.store import Store
    rr = mifd.run("growing-brains", "smoke", "cpu", store=Store(tmp_path, []), verbose=False,
                  progress=False)
    assert tuple(rr.result["trials"]) == ("none", "l1=0.001", "bimt=0.001", "gauss=0.01")
    for c, m in rr.result["trials"].items():
        assert {"performance", "error", "active_units", "isolated", "isolated_null",
                "index_var", "index_var_null", "clusters", "Q_str_clusters", "NMI_halves",
                "mi_halves"} <= set(m)
    f = rr.result["final"]
    # strict = Yang et al.'s last-step criterion and fixation held before the response
    assert np.all(f["performance_strict"] <= f["performance"])
    assert f["perf_task"].shape == (4, 20) and f["task_variance"].shape == (4, 20, 16)
    from mifd.paper import growing_brains as G
    qs = G.questions(rr)
    assert len(qs) == 4 and all(q["answer"].startswith("not testable") for q in qs)  # n = 1
    assert rr.result["snaps"]["isolated"].shape[0] == len(rr.result["snap_epochs"])


def test_bad_growing_brains_settings_are_refused_in_one_line():
    exp = mifd.get_experiment("growing-brains")
    assert exp.config("smoke").layout().conditions == ("none", "l1=0.001", "bimt=0.001",
                                                       "gauss=0.01")
    assert exp.config("smoke", {"conditions": ("bimt=0.5",)}).layout().conditions == ("bimt=0.5",)
    assert exp.config("smoke", {"bimt_strengths": (1e-5, 1e-4)}).layout().conditions == (
        "none", "l1=0.001", "bimt=1e-05", "bimt=0.0001", "gauss=0.01")
    for over, match in (({"conditions": ("l2=0.1",)}, "parameter 'conditions'"),
                        ({"conditions": ("bimt=0",)}, "parameter 'conditions'"),
                        ({"strengths": (1e-3, 1e-3)}, "parameter 'strengths'"),
                        ({"mi_strengths": (0.0,)}, "parameter 'mi_strengths'"),
                        ({"bimt_strengths": (1e-3, 1e-3)}, "parameter 'bimt_strengths'"),
                        ({"criterion": "first"}, "parameter 'criterion'"),
                        ({"conditions": ("gauss=-1",)}, "parameter 'conditions'"),
                        ({"n": 15}, "parameter 'n'"), ({"dt": 30}, "parameter 'dt'"),
                        ({"swap_top_k": 99}, "parameter 'swap_top_k'")):
        with pytest.raises(mifd.ConfigError, match=match):
            exp.config("smoke", over)


def test_below_chance_rule_on_hand_built_trials():
    from mifd.paper import growing_brains as G
    null = np.full(8, 0.7)
    assert G.below_chance(null - 0.2 - 0.01 * np.arange(8), null)[0] == "below chance"
    assert G.below_chance(null + 0.01 * np.arange(1, 9), null)[0] == "not below chance"
    assert G.below_chance(null[:4] - 0.2, null[:4])[0] == "not testable (n = 4)"
    assert G.method_of("bimt=0.001") == ("bimt", 0.001) and G.method_of("none") == ("none", 0.0)
    # the halves questions' rule: one-sided Welch in the stated direction
    lo, hi = [1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.05]
    assert G._answer({**mifd.paper.rules.comparison(lo, hi, "less"), "n": 4}, "less", "lower",
                     "no") == "lower"
    assert G._answer({**mifd.paper.rules.comparison(hi, lo, "less"), "n": 4}, "less", "lower",
                     "no") == "no"
    assert G._answer({**mifd.paper.rules.comparison(lo[:1], hi, "less"), "n": 1}, "less",
                     "lower", "no") == "not testable (n = 1)"


def test_a_growing_brains_run_splits_into_condition_parts():
    from mifd.results.shards import split_conditions
    cfg = mifd.get_experiment("growing-brains").config("book")
    parts = split_conditions(cfg, 2)
    got = [c for p in parts for c in p["conditions"]]
    assert got == list(cfg.layout().conditions) and all(p["conditions"] for p in parts)
    part = mifd.get_experiment("growing-brains").config("book", parts[1])
    assert part.layout().conditions == parts[1]["conditions"]




def test_growing_brains_condition_parts_give_the_whole_run_bit_for_bit(tmp_path):
    """``--parts``: a run assembled from parts that ran disjoint conditions equals the whole run
    (each network's batch, noise, penalty and clusters are its own), the gauss condition
    (the Gaussian MI between the grid halves, penalized) included."""
    pytest.importorskip("neurogym")
    import shutil
    from mifd.experiments.growing_brains import clusters_of
    from mifd.results.store import Store
    conds = ("none", "bimt=0.001", "gauss=0.05")
    over = {"conditions": conds, "steps": 3}
    whole = mifd.run("growing-brains", "smoke", "cpu", over, store=Store(tmp_path / "a", []),
                     verbose=False, progress=False)
    assert whole.result["conditions"] == list(conds)
    mi = whole.result["hist"]["mi"]
    assert (mi[:, :2] == 0).all() and (mi[:, 2] > 0).all()  # only gauss pays the MI penalty
    store = Store(tmp_path / "b", [])
    for part in (("gauss=0.05", "none"), ("bimt=0.001",)):
        r = mifd.run("growing-brains", "smoke", "cpu", {**over, "conditions": part},
                     store=store, verbose=False, progress=False)
    got = mifd.run("growing-brains", "smoke", "cpu", over, store=store, verbose=False,
                   progress=False)
    assert got.meta["parts"] and got.result["conditions"] == list(conds)
    a, b = dict(leaves(whole.result)), dict(leaves(got.result))
    assert a.keys() == b.keys()
    for k in a:
        if hasattr(a[k], "shape"):
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)
        else:
            assert b[k] == a[k], k
    units, labels = clusters_of(got.result["final"], 1)
    assert len(units) == len(labels) and (labels >= 0).all()
    assert np.isfinite(got.result["final"]["mi_halves"]).all()


def test_the_halves_mi_survives_silenced_and_collinear_units():
    """Rates of 64 units, 24 silenced (as BIMT and L1 leave them) and the rest driven by 3
    sources: float32 Cholesky fails on their covariance (it did in a book run); the halves'
    MI is computed in float64, finite, with a finite gradient."""
    from mifd.experiments.growing_brains import halves_mi
    from mifd.penalties import gaussian_mi
    g = torch.Generator().manual_seed(0)
    act = torch.randn(1, 5000, 3, generator=g) * 1e-3 @ torch.randn(3, 40, generator=g)
    r = torch.cat([act, torch.zeros(1, 5000, 24)], -1).requires_grad_()
    try:  # float32 Cholesky fails here on the CPUs it was seen on; MKL's AVX-512 path may not
        bad = gaussian_mi(r[..., :32], r[..., 32:])
        assert not bool(torch.isfinite(bad).all()) or True
    except torch.linalg.LinAlgError:
        pass
    v = halves_mi(r)
    assert v.dtype == torch.float32 and torch.isfinite(v).all() and v.item() > 0
    v.sum().backward()
    assert torch.isfinite(r.grad).all()


def test_the_tasks_figure_shows_inputs_above_targets_on_one_scale():
    pytest.importorskip("neurogym")
    import matplotlib
    matplotlib.use("Agg")
    from mifd.pages import cognitive_plots
    from mifd.tasks import yang19
    spec = yang19.Yang19Spec(dim_ring=8, dt=20)
    tasks = ("go", "dm1")
    batches = [yang19.batch(spec, t, 1, 0) for t in tasks]
    fig = cognitive_plots.task_trials(batches, tasks, spec.dt, fix_rows=3)
    for ax, b in zip(fig.axes, batches):
        img = ax.get_images()[0]
        rows = np.asarray(img.get_array())
        x, y = b["inputs"][0], b["targets"][0]
        L = int(b["lengths"][0])
        # every input row, then every target row; the two fixation rows three rows high
        assert rows.shape == (x.shape[1] + y.shape[1] + 2 * 2, L)
        np.testing.assert_array_equal(rows[:3], np.tile(x[:L, 0], (3, 1)))
        np.testing.assert_array_equal(rows[-y.shape[1] + 1:], y[:L, 1:].T)
        np.testing.assert_array_equal(rows[x.shape[1] + 2:x.shape[1] + 5], np.tile(y[:L, 0], (3, 1)))
        assert img.get_clim() == (0, 1)
        assert ax.get_xlim() == (0, L * spec.dt)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["fix", "ring 1", "ring 2", "rule", "target fix", "target ring"]
    matplotlib.pyplot.close(fig)
