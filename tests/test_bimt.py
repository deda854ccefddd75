"""BIMT's wiring cost and swaps: swaps keep the network's function, the vectorized cost change
of every swap equals the cost recomputed after it, A = 0 is plain L1, planted blocks survive."""

import numpy as np
import pytest
import torch

from mifd import bimt
from mifd.models.gru import GRUSpec, TrialGRU
from mifd.models.leaky import LeakyRNN, LeakySpec


def _gens(n, seed=0):
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def _models():
    leaky = LeakyRNN(_gens(2), LeakySpec(n=10)).double()
    keras = TrialGRU(_gens(2, 5), GRUSpec(n=8, cell="keras")).double()
    paper = TrialGRU(_gens(2, 9), GRUSpec(n=8, cell="paper")).double()
    with torch.no_grad():  # non-zero biases, so that moving them is tested too
        for m in (leaky, keras):
            for name in ("b", "c"):
                if getattr(m, name, None) is not None:
                    getattr(m, name).normal_(generator=torch.Generator().manual_seed(3))
    return [("leaky", leaky), ("gru", keras), ("gru", paper)]


def _run(kind, m, x):
    with torch.no_grad():
        if kind == "leaky":
            return m(x, torch.zeros(x.shape[0], x.shape[1], m.spec.n, dtype=x.dtype))[1]
        return m(x)[1]


def _wiring(kind, m):
    n = m.spec.n
    n_in = m.W_in.shape[1] if kind == "leaky" else m.W.shape[1]
    return bimt.Wiring(n, n_in, m.W_out.shape[2], A=2.0, l0=0.1)


def test_grid_puts_the_first_half_of_the_units_in_the_left_half():
    for n in (8, 10, 40, 100):
        g = bimt.grid(n)
        assert g.shape == (n, 2) and (g > 0).all() and (g < 1).all()
        assert (g[: n // 2, 0] < 0.5).all() and (g[n // 2:, 0] > 0.5).all()
        assert len({tuple(p) for p in g.tolist()}) == n
    with pytest.raises(ValueError, match="parameter 'n'"):
        bimt.grid(7)
    with pytest.raises(ValueError, match="parameter 'l0'"):
        bimt.Wiring(10, 4, 2, l0=0.0)


def test_a_swap_leaves_the_network_function_unchanged():
    for kind, m in _models():
        n_in = m.W_in.shape[1] if kind == "leaky" else m.W.shape[1]
        x = torch.randn(2, 3, 12, n_in, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
        before = _run(kind, m, x)
        params = dict(m.named_parameters())
        perm = torch.stack([torch.randperm(m.spec.n, generator=torch.Generator().manual_seed(s))
                            for s in range(2)])
        old = {k: v.detach().clone() for k, v in params.items()}
        bimt.permute_units(params, kind, perm)
        assert any(not torch.equal(old[k], params[k]) for k in old), kind
        torch.testing.assert_close(_run(kind, m, x), before, rtol=1e-10, atol=1e-12)


def test_swap_deltas_equal_the_cost_recomputed_after_each_swap():
    for kind, m in _models():
        w = _wiring(kind, m)
        params = dict(m.named_parameters())
        delta = bimt.swap_deltas(params, kind, w)
        base = bimt.connection_cost(params, kind, w)
        n = m.spec.n
        for u, v in ((0, 1), (2, 7), (n - 1, 3), (4, 4)):
            perm = torch.arange(n).repeat(2, 1)
            perm[:, u], perm[:, v] = v, u
            moved = {k: p.detach().clone() for k, p in params.items()}
            bimt.permute_units(moved, kind, perm)
            torch.testing.assert_close(bimt.connection_cost(moved, kind, w) - base,
                                       delta[:, u, v], rtol=1e-9, atol=1e-10)


def test_connection_cost_with_A_zero_is_l0_times_plain_l1():
    for kind, m in _models():
        w = _wiring(kind, m)
        l1 = sum(p.abs().sum((1, 2)) for p in m.weights())
        got = bimt.connection_cost(dict(m.named_parameters()), kind,
                                   bimt.Wiring(w.n, w.n_in, w.n_out, A=0.0, l0=0.5))
        torch.testing.assert_close(got, 0.5 * l1.detach())


def test_swap_step_lowers_the_cost_moves_optimizer_state_and_keeps_function():
    kind, m = _models()[0]
    w = _wiring(kind, m)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x = torch.randn(2, 2, 8, m.W_in.shape[1], generator=torch.Generator().manual_seed(2),
                    dtype=torch.float64)
    _run_loss = lambda: _run(kind, m, x)  # noqa: E731
    out = m(x, torch.zeros(2, 2, 10, dtype=x.dtype))[1]
    out.pow(2).mean().backward()
    opt.step()
    moment = {k: opt.state[p]["exp_avg"].clone() for k, p in m.named_parameters()}
    W_rec = m.W_rec.detach().clone()
    before, cost = _run_loss(), bimt.connection_cost(dict(m.named_parameters()), kind, w)
    change = bimt.swap_step(m, kind, w, top_k=4, optimizer=opt)
    after = bimt.connection_cost(dict(m.named_parameters()), kind, w)
    assert (change <= 0).all() and (change < 0).any()
    torch.testing.assert_close(after - cost, change, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(_run_loss(), before, rtol=1e-10, atol=1e-12)
    # the optimizer's moments went where their weights went: the same permutation
    ref = {k: v.clone() for k, v in moment.items()}
    perm = _recover_perm(W_rec, m.W_rec.detach())
    bimt.permute_units(ref, kind, perm)
    for k, p in m.named_parameters():
        torch.testing.assert_close(opt.state[p]["exp_avg"], ref[k])


def _recover_perm(old, new):
    """The permutation (T, n) with new = old[perm][:, perm] per trial (rows matched exactly)."""
    T, n, _ = old.shape
    perm = torch.empty(T, n, dtype=torch.long)
    for t in range(T):
        for i in range(n):
            match = [j for j in range(n) if torch.equal(new[t, i].sort().values,
                                                        old[t, j].sort().values)]
            assert len(match) == 1
            perm[t, i] = match[0]
    return perm


def test_swaps_do_not_break_apart_a_planted_two_block_network():
    """Two blocks of strongly coupled units, each already in its own half of the grid: the swap
    step may reorder units within a half but never moves a unit to the other half."""
    n = 10
    m = LeakyRNN(_gens(1), LeakySpec(n=n)).double()
    with torch.no_grad():
        W = 1e-3 * torch.rand(1, n, n, generator=torch.Generator().manual_seed(4),
                              dtype=torch.float64)
        W[:, :5, :5] += 1.0
        W[:, 5:, 5:] += 1.0
        m.W_rec.copy_(W)
        m.W_in.fill_(1e-4)
        m.W_out.fill_(1e-4)
    w = bimt.Wiring(n, m.W_in.shape[1], m.W_out.shape[2], A=2.0, l0=0.1)
    old = m.W_rec.detach().clone()
    bimt.swap_step(m, "leaky", w, top_k=n)
    perm = _recover_perm(old, m.W_rec.detach())
    assert set(perm[0, :5].tolist()) == set(range(5))


def test_lambda_schedule_and_active_units():
    lam = [bimt.lambda_schedule(s, 100, 1e-3) for s in (0, 24, 25, 74, 75, 99)]
    assert lam == [1e-3, 1e-3, 1e-2, 1e-2, 1e-3, 1e-3]
    m = LeakyRNN(_gens(1), LeakySpec(n=10)).double()
    with torch.no_grad():
        m.W_rec[:, :, 3] = 0.0  # unit 3 receives nothing recurrent…
        m.W_in[:, :, 3] = 0.0   # …and no input: inactive
    assert bimt.active_units(dict(m.named_parameters()), "leaky").tolist() == [9]


def test_swap_step_swaps_only_the_selected_trials():
    kind, m = _models()[0]
    w = _wiring(kind, m)
    free = _models()[0][1]
    W0 = m.W_rec.detach().clone()
    change = bimt.swap_step(m, kind, w, top_k=4, trials=torch.tensor([False, True]))
    full = bimt.swap_step(free, kind, w, top_k=4)
    assert (full < 0).all()  # without a selection both trials swap
    assert change[0] == 0 and torch.equal(m.W_rec[0], W0[0])  # trial 0 left as it was
    torch.testing.assert_close(change[1], full[1])  # trial 1 as without a selection
    torch.testing.assert_close(m.W_rec[1], free.W_rec[1])


def test_the_timing_answer_is_not_testable_where_no_result_could_reject(monkeypatch):
    """Three and four networks: the exact rank test cannot go below 2/35, so the answer is
    'not testable', not 'no change detected'; with five and five it can, and reads the test."""
    from mifd.paper import bimt as B
    lags = {"mi_bimt": np.array([-60.0, -40, -80]), "bimt": np.array([60.0, 40, 80, 20])}
    monkeypatch.setattr(B, "_lags", lambda rr, cond, pair, mask: lags[cond])
    answer, numbers = B._timing_answer(None, {"mi_bimt": None, "bimt": None})
    assert answer == "not testable (n = 3 and 4)"
    assert "median lag -60 steps with MI against +50 without" in numbers
    assert "the smallest p these n can give is 0.057" in numbers
    lags.update(mi_bimt=np.arange(5.0), bimt=np.arange(5.0) + 0.5)
    answer, numbers = B._timing_answer(None, {"mi_bimt": None, "bimt": None})
    assert answer == "no change detected" and "smallest p" not in numbers
    lags.update(bimt=np.arange(5.0) + 100)
    assert B._timing_answer(None, {"mi_bimt": None, "bimt": None})[0] == "changed"


def test_the_bimt_settings_table_shows_both_tasks_own_settings():
    import mifd
    from mifd.paper.bimt import settings
    wm = mifd.get_experiment("bimt").config("book")
    sep = mifd.get_experiment("bimt-separation").config("book", {"swap_every": 7})
    t = settings(wm, sep)
    assert list(t.columns[:2]) == ["working memory", "chaotic separation"]
    assert t.loc["swap_every", "chaotic separation"] == 7
    assert t.loc["swap_every", "working memory"] == wm.swap_every
    assert "epochs" not in t.index and "length" not in t.index  # the tasks' own settings: not here
    assert list(settings(wm).columns) == ["this run", "meaning"]


def test_the_findings_say_why_an_answer_is_not_testable(monkeypatch):
    """A run in which no BIMT network solves the task: both answers 'not testable (n = 0)', and
    the takeaway says why (how many networks of each method solve it), not only 'n = 0'."""
    from types import SimpleNamespace

    from mifd.experiments.base import Layout
    from mifd.paper import bimt as B
    T, steps = 3, np.arange(0, 100, 10.0)
    curve = {"Q_str": np.tile(steps[:, None] / 100, (1, T)),
             "Q_cor": np.tile(steps[:, None] / 50, (1, T))}

    def cond(r2):
        return {"Q_str": [0.1] * T, "Q_cor": [0.2] * T, "R2": [r2] * T,
                "wiring_length": [1.0] * T}
    trials = {"bimt": cond(-1.0), "mi": cond(0.95), "mi_bimt": cond(-1.0)}
    rr = SimpleNamespace(result={"trials": trials, "snap_steps": steps,
                                 "snaps": {c: curve for c in trials}},
                         layout=Layout(("bimt", "mi", "mi_bimt"), T, 0), profile="book",
                         config=SimpleNamespace(trials=T))
    monkeypatch.setattr(B, "_lags", lambda rr, c, pair, mask: np.zeros(int(np.sum(mask))))
    qs = B.questions(rr)
    assert [q["answer"] for q in qs] == ["not testable (n = 0)"] * 2
    text = B.findings({"sep": rr})
    assert "Not testable: too few networks solve the task" in text
    assert f"bimt 0 of {T}, mi {T} of {T}, mi_bimt 0 of {T}" in text
    # every network solves it: the first answer is tested; the timing, on three lags per
    # method, cannot reach p < 0.05 (exact rank test), and the takeaway says that instead
    trials["bimt"] = trials["mi_bimt"] = cond(0.95)
    text = B.findings({"sep": rr})
    assert "too few networks solve" not in text
    assert "Not testable: median lag" in text and "the smallest p these n can give is 0.1" in text
