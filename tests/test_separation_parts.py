"""Chaotic-separation building blocks: integration accuracy, dataset cache, GRU = torch.nn.GRU."""

import numpy as np
import pytest
import torch

from mifd.models.gru import GRUSpec, TrialGRU, orthogonal
from mifd.tasks import chaos

from conftest import batch_invariant


def test_integration_with_the_default_tolerances_is_accurate_where_it_can_be():
    # solve_ivp's defaults (rtol 1e-3, the authors' choice) against a tight reference: chaos
    # amplifies any difference, so compare (1) the early horizon pointwise, relative to the
    # attractor's range, and (2) the long-run distribution of every scaled variable.
    spec = chaos.ChaosSpec()
    init = np.array([0.3, 0.6, 0.2])
    for system, early in (("lorenz", 1000), ("rossler", 1000)):
        a = chaos.integrate(system, init, spec)
        b = chaos.integrate(system, init, spec, rtol=1e-10, atol=1e-12)
        span = b.max(0) - b.min(0)
        assert np.max(np.abs(a[:early] - b[:early]) / span) < 0.03, system
        qa = np.quantile(chaos.minmax_then_drop(a, spec), [0.1, 0.5, 0.9], axis=0)
        qb = np.quantile(chaos.minmax_then_drop(b, spec), [0.1, 0.5, 0.9], axis=0)
        assert np.max(np.abs(qa - qb)) < 0.06, system
    s = chaos.make_pair(7, chaos.ChaosSpec(length=1000))
    assert s.shape == (1000, 6) and s.min() >= 0 and s.max() <= 1


def test_dataset_is_deterministic_cached_and_rebuilt_when_corrupt(tmp_path):
    ds = chaos.ChaosDataset(n_train=3, n_test=2, seed=1, spec=chaos.ChaosSpec(length=200))
    a = ds.load(tmp_path, workers=1)
    assert a["train"].shape == (3, 200, 6) and a["test"].shape == (2, 200, 6)
    path = next(tmp_path.glob("chaos-*.bin"))
    b = ds.load(tmp_path)
    np.testing.assert_array_equal(a["train"], b["train"])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="rebuilding"):
        c = ds.load(tmp_path, workers=1)
    np.testing.assert_array_equal(a["test"], c["test"])
    x, y = chaos.mix(a["train"])
    np.testing.assert_allclose(x, a["train"][..., :3] + a["train"][..., 3:])


def test_the_dataset_cache_lives_in_the_store_and_follows_the_code(tmp_path, monkeypatch):
    """Issue (trust) item 10: with MIFD_STORE=/x the cache was written to /x/../datasets, and its
    key was a hand-bumped format number."""
    from mifd.results import fingerprint
    monkeypatch.setenv("MIFD_STORE", str(tmp_path / "store"))
    ds = chaos.ChaosDataset(n_train=2, n_test=2, seed=3, spec=chaos.ChaosSpec(length=50))
    ds.load(workers=1)
    assert [p.parent for p in tmp_path.rglob("chaos-*.bin")] == [tmp_path / "store" / "_datasets"]
    key = ds.key()
    monkeypatch.setattr(fingerprint, "code_hash", lambda module: "another-code")
    assert ds.key() != key


def test_keras_gru_equals_torch_gru():
    n, B, L = 7, 3, 25
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    m = TrialGRU(gens, GRUSpec(n=n, n_in=3, n_out=2))
    with torch.no_grad():
        m.b.normal_()
        m.c.normal_()
    x = torch.randn(2, B, L, 3)
    H, _ = m(x)
    for t in range(2):
        ref = torch.nn.GRU(3, n, batch_first=True)

        def reorder(M):  # Keras (z, r, h) columns → torch (r, z, n) rows
            z, r, h = M.split(n, dim=-1)
            return torch.cat([r, z, h], dim=-1).T

        with torch.no_grad():
            ref.weight_ih_l0.copy_(reorder(m.W[t]))
            ref.weight_hh_l0.copy_(reorder(m.U[t]))
            ref.bias_ih_l0.copy_(reorder(m.b[t]).squeeze(-1))
            ref.bias_hh_l0.copy_(reorder(m.c[t]).squeeze(-1))
        out, _ = ref(x[t])
        torch.testing.assert_close(H[t], out, rtol=1e-5, atol=1e-5)


def test_orthogonal_init_and_paper_cell_runs():
    q = orthogonal(torch.Generator().manual_seed(0), 5, 15)
    torch.testing.assert_close(q @ q.T, torch.eye(5), rtol=0, atol=1e-5)
    m = TrialGRU([torch.Generator().manual_seed(0)], GRUSpec(n=6, cell="paper"))
    assert m.b is None
    H, y = m(torch.randn(1, 2, 10, 3))
    assert H.shape == (1, 2, 10, 6) and y.shape == (1, 2, 10, 6)


def test_separation_smoke_summary_and_conditions(store_env):
    import mifd
    rr = mifd.run("separation", "smoke", "cpu", {"sweep_l2": (0.0, 1e-3)}, verbose=False)
    assert set(rr.summary) == {"mi_l2", "no_mi", "mi_no_l2", "mi_l2=0", "mi_l2=0.001"}
    for m in ("R2", "D_cor", "Q_cor", "D_out", "Q_str", "NMI"):
        assert rr.summary["mi_l2"][m]["n"] == 1
    # λ and L2 per condition
    conds = dict((c, (lam, l2)) for c, lam, l2 in rr.config.all_conditions())
    assert conds["no_mi"][0] == 0 and conds["mi_no_l2"][1] == 0 and conds["mi_l2=0.001"][1] == 1e-3


@pytest.mark.parametrize("cell", ["keras", "paper"])
def test_gru_gates_rebuild_the_states(cell):
    """The gates TrialGRU.gates reports are those the forward pass used: with them, the GRU
    update h' = z h + (1 − z) h̃ reproduces every state."""
    net = TrialGRU([torch.Generator().manual_seed(s) for s in (1, 2)], GRUSpec(n=8, cell=cell))
    if cell == "keras":
        with torch.no_grad():
            net.b.normal_(0, 0.3), net.c.normal_(0, 0.3)
    x = torch.randn(2, 3, 20, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        H, _ = net(x)
        z, r = net.gates(x, H)
        h_prev = torch.cat([torch.zeros_like(H[:, :, :1]), H[:, :, :-1]], dim=2)
        n = 8
        xh = torch.einsum("tbli,tij->tblj", x, net.W[..., 2 * n:])
        if cell == "keras":
            hu = torch.einsum("tbln,tnj->tblj", h_prev, net.U[..., 2 * n:]) + net.c[:, None, :, 2 * n:]
            cand = torch.tanh(xh + net.b[:, None, :, 2 * n:] + r * hu)
        else:
            cand = torch.tanh(xh + torch.einsum("tbln,tnj->tblj", r * h_prev, net.U[..., 2 * n:]))
        torch.testing.assert_close(z * h_prev + (1 - z) * cand, H, rtol=1e-5, atol=1e-5)



def test_separation_follows_the_authors_windows_and_stores_every_parameter(store_env):
    """D_cor over the loss window and NMI of the averaged signed correlations (the authors'
    code) by default, the other choices as options; biases stored with the weights."""
    import mifd
    tiny = {"mm_steps": 2}
    rr = mifd.run("separation", "smoke", "cpu", tiny, verbose=False)
    assert {"W", "U", "W_out", "b_out", "b", "c"} <= set(rr.result["weights"])
    alt = mifd.run("separation", "smoke", "cpu", {**tiny, "dcor_window": "all",
                                                  "nmi_matrix": "abs_mean"}, verbose=False)
    np.testing.assert_array_equal(rr.result["final"]["R2"], alt.result["final"]["R2"])
    assert not np.allclose(rr.result["final"]["D_cor"], alt.result["final"]["D_cor"])


def test_signed_and_absolute_correlation():
    from mifd import metrics
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 1))
    X = np.concatenate([x, -x + 0.1 * rng.normal(size=(500, 1)), rng.normal(size=(500, 1))], 1)
    S = metrics.corr(X)
    assert S[0, 1] < -0.9 and abs(S[0, 2]) < 0.2 and S[0, 0] == 0
    np.testing.assert_array_equal(metrics.abs_corr(X), np.abs(S))
    np.testing.assert_allclose(S[0, 1], np.corrcoef(X.T)[0, 1])


def test_bf16_sm_states_change_only_the_statistics_network_passes(store_env):
    """``sm_states="bf16"``: the statistics network's first estimates (before any MM step) are
    those of the fp32 run up to the rounding of its inputs, not equal to them; the
    evaluation before training (fp32 states) is identical; refused with ``merge_mm_pass``."""
    import mifd
    from mifd.config import ConfigError
    runs = {d: mifd.run("separation", "smoke", "cpu", {"sm_states": d, "mm_steps": 2},
                        verbose=False, progress=False).result for d in ("fp32", "bf16")}
    a, b = runs["fp32"], runs["bf16"]
    assert not np.array_equal(a["pre_mi"], b["pre_mi"])
    np.testing.assert_allclose(b["pre_mi"], a["pre_mi"], rtol=0, atol=2e-2)
    for k in ("R2", "Q_cor"):  # step 0: no MM step yet, states of an fp32 evaluation
        np.testing.assert_array_equal(b["snaps"][k][0], a["snaps"][k][0])
    with pytest.raises(ConfigError, match="parameter 'sm_states'"):
        mifd.run("separation", "smoke", "cpu", {"sm_states": "bf16", "fused_bptt": True,
                                                "merge_mm_pass": True}, verbose=False)


def test_the_bf16_states_table_pairs_a_short_run_with_the_longer_runs_snapshot(store_env):
    """``mifd.paper.variants.bf16_states_effect``: a short fp32 run of the same condition is
    the longer run's first steps up to float rounding (its batch holds one condition, the
    longer run's three: batched products may round differently), which the page relies on;
    with bf16 states the critic's first estimate moves by more than that."""
    import mifd
    from mifd.paper import variants
    base = mifd.run("separation", "smoke", "cpu", {"mm_steps": 4}, verbose=False)
    short = {"conditions": ("mi_l2",), "sweep_l2": (), "mm_steps": 2}
    same = mifd.run("separation", "smoke", "cpu", short, verbose=False)
    t = variants.bf16_states_effect(base, same)
    assert len(t) == 2 + len(variants.SEPARATION_METRICS)
    assert all(float(v) < 1e-5 for v in t["max |Δ|"]), t
    with_control = variants.bf16_states_effect(base, same, control=same)
    assert (with_control["max |Δ|, fp32 alone (control)"] == t["max |Δ|"]).all()
    # before any MM step: the same estimate (bit for bit where the GRU's batch is invariant;
    # torch's sigmoid rounds with the batch's size: mifd.results.numerics)
    first = float(t.iloc[0]["max |Δ|"])
    assert first == 0 if batch_invariant() else first < 1e-6
    low = mifd.run("separation", "smoke", "cpu", {**short, "sm_states": "bf16"}, verbose=False)
    t = variants.bf16_states_effect(base, low)
    pre = float(t.iloc[0]["max |Δ|"])
    assert 1e-5 < pre < 0.02


def test_the_bf16_states_sentence_follows_its_rule_on_hand_built_tables():
    import pandas as pd
    from mifd.paper import variants

    def table(d, ctl, sd, p="0.5", n=5):
        return pd.DataFrame([{"quantity": "Q_cor", "max |Δ|": d,
                              "max |Δ|, fp32 alone (control)": ctl, "sd of fp32 trials": sd,
                              "Wilcoxon p": p, "n": n}]).set_index("quantity")
    assert variants.bf16_states_sentence(table("1e-6", "2e-7", "0.01")).startswith(
        "Every row is within tolerance")                   # within 10 × rounding
    assert variants.bf16_states_sentence(table("1e-3", "0", "0.05")).startswith(
        "Every row is within tolerance")                   # within a tenth of the trial sd
    s = variants.bf16_states_sentence(table("0.02", "1e-7", "0.05"))
    assert s.startswith("bf16 states change single trials by more than the tolerance")
    assert "in 1 of 1 rows: Q_cor (up to 0.02" in s and "unchanged" not in s.lower()
    assert "not testable at n = 5 (the smallest p 5 pairs can give is 0.062)" in s
    assert "the smallest p observed over the rows is 0.5." in s
    s = variants.bf16_states_sentence(table("0.02", "1e-7", "0.05", p="0.01", n=8))
    assert "A mean shift over the trials: detected; the smallest p observed over the rows " \
        "is 0.01." in s
