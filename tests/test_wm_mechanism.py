"""wm-mechanism: the wm run with a look at its optimizers; the look changes nothing computed."""

import numpy as np

import mifd
from mifd.experiments.wm_mechanism import QUANTITIES, rnn_groups
from mifd.results.store import Store


def test_the_look_changes_nothing_and_reads_every_group(tmp_path):
    kw = dict(store=Store(tmp_path, []), verbose=False, progress=False)
    over = {"epochs": 4, "rmsprop_eps": "inside"}
    look = mifd.run("wm-mechanism", "smoke", "cpu", over, **kw)
    wm = mifd.run("wm", "smoke", "cpu", {**over, "conditions": ("mi",), "audit_steps": 0}, **kw)
    for k in ("task", "reg", "mi", "sm_mi", "accuracy"):
        np.testing.assert_array_equal(look.result["hist"][k], wm.result["hist"][k], err_msg=k)
    np.testing.assert_array_equal(look.result["snaps"]["Q_cor"], wm.result["snaps"]["Q_cor"])
    m = look.result["mechanism"]
    assert m["epochs"].tolist() == [2, 4]
    assert {"W_rec within", "W_rec between", "W_in", "W_out", "critic fx.weight"} <= \
        set(m["groups"])
    T = look.config.trials
    for q in QUANTITIES:
        assert m[q].shape == (2, len(m["groups"]), T), q
        assert np.isfinite(m[q]).all(), q
    assert ((m["share_v_below_eps"] >= 0) & (m["share_v_below_eps"] <= 1)).all()
    # the critic's silent units per hidden layer and the critic-free MI at every look
    assert m["critic_layers"] == ["first (fx + fy)", "head.hidden.0"]
    assert m["critic_silent"].shape == (2, 2, T)
    assert ((m["critic_silent"] >= 0) & (m["critic_silent"] <= 1)).all()
    for q in ("copula_mi", "gaussian_mi"):
        assert m[q].shape == (2, T) and np.isfinite(m[q]).all(), q
    # the page's figure and sentence read it
    import matplotlib
    matplotlib.use("Agg")
    from mifd.paper import mechanism
    fig = mechanism.figure({"a": look}, groups=("W_rec within", "W_in"))
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["median √v", "share with v < ε",
                                                       "median |Δw| / lr"]
    share = mechanism.late_mean(look, "share_v_below_eps", "W_rec within")
    text = mechanism.sentence({"a": look}, ("W_rec within",))
    if share >= mechanism.ACTS:  # where ε's placement acts: named with its share
        assert f"**W_rec within** {share:.0%} with v < ε" in text
    else:
        assert "In W_rec within fewer than" in text
    assert mechanism.watched(look)
    assert "silent units in the critic's first (fx + fy) / head.hidden.0 layer" in \
        mechanism.critic_sentence({"a": look})
    fig = mechanism.critic_figure({"a": look})
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch"] * 3
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 2
    rnn = [i for i, g in enumerate(m["groups"]) if not g.startswith("critic")]
    assert (m["step"][:, rnn] > 0).all() and (m["sqrt_v"] > 0).all()


def test_the_recurrent_weights_split_into_within_and_between_blocks():
    import torch
    masks = rnn_groups("W_rec", torch.zeros(1, 4, 4), 2)
    within = masks["W_rec within"].int().tolist()
    assert within == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    assert (masks["W_rec between"] == ~masks["W_rec within"]).all()
    assert list(rnn_groups("W_in", torch.zeros(1, 4, 4), 2)) == ["W_in"]


def test_the_sentence_names_where_eps_acts_and_where_it_cannot():
    from types import SimpleNamespace
    from mifd.paper import mechanism
    groups = ["W_rec within", "critic head.hidden.0.weight", mechanism.SHIFT]
    share = np.zeros((10, 3, 2))
    share[:, 1], share[:, 2] = 0.4, 1.0
    step = np.ones((10, 3, 2))

    def look(s):
        return SimpleNamespace(result={"mechanism": {
            "epochs": np.arange(1, 11) * 100, "groups": groups, "share_v_below_eps": share,
            "step": step * s, "sqrt_v": step}})
    text = mechanism.sentence({"in": look(0.5), "out": look(1.0)})
    assert "**critic head.hidden.0.weight** 40% / 40% with v < ε, median step 0.5 / 1 × lr" in text
    assert "In W_rec within fewer than 5%" in text
    assert "DV bound ignores a constant" in text
    t = mechanism.late_table({"in": look(0.5), "out": look(1.0)})
    assert t.loc["W_rec within", ("in", "v < ε")] == 0 and t.loc[mechanism.SHIFT, ("out", "step / lr")] == 1


def test_a_unit_is_silent_when_its_relu_is_zero_on_every_sample():
    import torch
    from mifd.experiments.wm_mechanism import silent_share
    from mifd.mine import make_critic
    critic = make_critic("joint", [1, 2], 3, 3, (4, 4))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 50, 3, generator=g), torch.randn(2, 50, 3, generator=g)
    with torch.no_grad():
        # trial 0: first-layer units 0 and 1 get a bias far below anything the inputs give
        critic.fx.bias[0, 0, :2] = -1e3  # (T, 1, width)
        # trial 1: every second-layer unit silenced
        critic.head.hidden[0].bias[1] = -1e3
    s = silent_share(critic, x, y)
    assert s.shape == (2, 2)
    assert s[0, 0] == 0.5 and s[1, 1] == 1.0
    assert s[0, 1] == 0  # untouched first layer with zero biases: active on some sample


def test_the_critic_sentence_reads_the_silent_units_and_the_mi_at_peak_and_end():
    from types import SimpleNamespace
    from mifd.experiments.base import Layout
    from mifd.paper import mechanism
    looks = np.array([250, 500, 750, 1000])
    silent = np.zeros((4, 2, 2))
    silent[:, 1] = np.array([0.1, 0.2, 0.4, 0.6])[:, None]   # second layer dies over training
    copula = np.array([[0.5, 0.5], [0.6, 0.6], [1.5, 1.5], [2.0, 2.0]])
    snaps = np.array([[0.0, 0.0], [0.4, 0.4], [0.1, 0.1], [0.05, 0.05], [0.0, 0.0]])
    rr = SimpleNamespace(layout=Layout(("mi",), 2, 1001), result={
        "mechanism": {"epochs": looks, "critic_layers": ["first", "second"],
                      "critic_silent": silent, "copula_mi": copula, "gaussian_mi": copula},
        "hist": {"sm_mi": np.full((1000, 2), 0.3)},
        "snap_epochs": np.array([0, 500, 750, 900, 1000]), "snaps": {"Q_cor": snaps}})
    text = mechanism.critic_sentence({"a": rr})
    assert "first / second layer: 0% / 10% at epoch 250, 0% / 60% over the last 20%" in text
    # the peak (epoch 500) → the look at 500: copula 0.60; the end: 2.00; the critic 0.30
    assert "peaks the copula MI of the MM batch is 0.60 nats and the critic estimates 0.30, " \
           "at the end 2.00 and 0.30" in text
    rr.result["mechanism"].pop("critic_silent")
    assert mechanism.critic_sentence({"a": rr}) == ""
