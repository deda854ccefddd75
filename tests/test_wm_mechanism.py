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
