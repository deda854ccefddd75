"""Metrics against networkx and hand-built matrices with known answers."""

import networkx as nx
import numpy as np
import pytest

from mifd import metrics
from problems import silence, two_groups


def test_modularity_equals_networkx_on_random_weighted_graphs():
    rng = np.random.default_rng(0)
    for n in (6, 11, 40):
        for _ in range(5):
            W = rng.random((n, n)) * (rng.random((n, n)) < 0.6)
            A = W + W.T
            np.fill_diagonal(A, 0)
            groups = rng.integers(0, 2, n)
            G = nx.from_numpy_array(A)
            comms = [set(np.flatnonzero(groups == c)) for c in (0, 1)]
            comms = [c for c in comms if c]
            ref = nx.community.modularity(G, comms, weight="weight")
            assert metrics.modularity(A, groups) == pytest.approx(ref, abs=1e-12)


def test_modularity_is_vectorized_over_leading_dims():
    rng = np.random.default_rng(1)
    A = rng.random((3, 4, 10, 10))
    A = A + np.swapaxes(A, -1, -2)
    g = metrics.halves(10)
    q = metrics.modularity(A, g)
    assert q.shape == (3, 4)
    assert q[2, 1] == pytest.approx(metrics.modularity(A[2, 1], g))


def test_block_diagonal_weights_have_q_one_half():
    W = np.kron(np.eye(2), np.ones((5, 5)))
    assert metrics.q_str(W) == pytest.approx(0.5, abs=1e-12)
    # perfectly bipartite between the groups: negative
    assert metrics.q_str(1 - W) < 0


def test_d_measures_are_one_and_zero_where_they_must_be():
    g = metrics.halves(4)
    W_out = np.array([[1.0, 0], [2.0, 0], [0, 3.0], [0, 1.0]])  # group 1 → out 1, group 2 → out 2
    assert metrics.d_out(W_out) == pytest.approx(1.0)
    assert metrics.d_out(W_out[:, ::-1]) == pytest.approx(1.0)  # the reverse assignment
    assert metrics.d_out(np.ones((4, 2))) == pytest.approx(0.0)
    W_in = np.array([[1.0, 1, 0, 0], [2.0, 1, 0, 0], [0, 0, 1.0, 3], [0, 0, 1.0, 1]])
    assert metrics.d_in(W_in) == pytest.approx(1.0)
    assert metrics.d_in(np.ones((4, 4))) == pytest.approx(0.0)
    rng = np.random.default_rng(2)
    s = rng.standard_normal((1000, 2))
    X = np.concatenate([s[:, :1] * [1, 2], s[:, 1:] * [3, -1]], axis=1)  # units 0,1 ∝ s1; 2,3 ∝ s2
    assert metrics.d_cor(X, s) == pytest.approx(1.0, abs=5e-3)  # s1, s2 sample-correlated slightly
    assert metrics.d_cor(np.repeat(s[:, :1], 4, axis=1), s) == pytest.approx(0.0, abs=0.05)
    assert metrics.separability([1, 1, 0, 0], [0, 0, 1, 1], g) == pytest.approx(1.0)


def test_q_cor_of_independent_blocks_and_silenced_units():
    X = two_groups()
    assert metrics.q_cor(X) > 0.45
    assert np.isfinite(metrics.q_cor(silence(X)))  # correlations undefined → 0, no NaN


def test_accuracy_counts_zero_targets_as_negative():
    t = np.array([1.0, -1.0, 0.0, 0.0]).reshape(1, 1, 4, 1)
    y = np.array([0.5, -0.2, -0.1, 0.3]).reshape(1, 1, 4, 1)
    assert metrics.accuracy(y, t) == pytest.approx(0.75)


def test_two_communities_and_nmi():
    A = np.kron(np.eye(2), np.ones((5, 5))) + 0.01
    np.fill_diagonal(A, 0)
    labels = metrics.two_communities(A)
    assert len(set(labels)) == 2
    assert metrics.nmi(labels, metrics.halves(10)) == pytest.approx(1.0)
    assert metrics.nmi([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert metrics.nmi([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(0.0, abs=1e-12)


def test_accuracy_of_a_non_finite_output_is_zero():
    from mifd import metrics
    t = -np.ones((1, 2, 5, 2))  # negative targets: NaN > 0 is False would count as correct
    y = np.full_like(t, np.nan)
    assert metrics.accuracy(y, t) == 0.0
    y[..., 0] = -1.0
    assert metrics.accuracy(y, t) == 0.5


def _graphs(seed: int):
    """Weighted complete graphs of every kind the dense CNM path takes: random, integer (ties
    everywhere), constant (all ties), |corr| (not exactly symmetric), float32, self-loops."""
    rng = np.random.default_rng(seed)
    for t in range(120):
        n = int(rng.integers(3, 30))
        kind = t % 5
        if kind == 0:
            A = rng.random((n, n)); A = A + A.T
        elif kind == 1:
            A = rng.integers(1, 4, (n, n)).astype(float); A = A + A.T
        elif kind == 2:
            A = np.abs(np.corrcoef(rng.standard_normal((40, n)).T))
        elif kind == 3:
            A = np.ones((n, n))
        else:
            A = rng.random((n, n)).astype(np.float32)  # asymmetric: networkx keeps the lower half
        if t % 3 == 0:
            np.fill_diagonal(A, 0)
        yield A


def test_dense_cnm_makes_networkx_merges():
    """The fast path's labels equal networkx's greedy_modularity_communities on every graph,
    ties included; graphs with a missing edge go to networkx."""
    from mifd.metrics import _cnm_dense, _cnm_networkx, _np
    for A in _graphs(0):
        fast = _cnm_dense(_np(A))
        assert fast is not None
        np.testing.assert_array_equal(fast, _cnm_networkx(_np(A)))
    A = np.ones((6, 6))
    A[0, 1] = A[1, 0] = 0.0  # not complete
    assert _cnm_dense(A) is None
    assert len(set(metrics.two_communities(A))) == 2
