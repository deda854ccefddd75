"""Modularity, separability and task metrics (paper Eqs. 17–23; definitions in reference-facts §4).

All functions accept numpy arrays or tensors with optional leading batch dimensions (trials,
snapshots) and return numpy arrays. Groups are given as a label per unit (0 and 1); the paper's
s_i ∈ {1, 2} is ``label + 1``.
"""

from __future__ import annotations

import numpy as np
import torch


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=float)


def halves(n: int) -> np.ndarray:
    """The paper's fixed groups: units 0..n/2−1 → 0, n/2..n−1 → 1."""
    return (np.arange(n) >= n // 2).astype(int)


def modularity(A, groups) -> np.ndarray:
    """Newman modularity ``Q = (1/2m) Σ_ij (A_ij − k_i k_j / 2m) δ(s_i, s_j)`` (paper Eq. 17)
    of symmetric non-negative ``A`` ``(..., N, N)`` under a fixed partition ``groups`` ``(N,)``.

    Equal to ``networkx.community.modularity`` on the weighted undirected graph of ``A``.
    """
    A = _np(A)
    g = np.asarray(groups)
    same = (g[:, None] == g[None, :]).astype(float)
    k = A.sum(-1)
    two_m = k.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = ((A * same).sum((-1, -2)) - (k[..., :, None] * k[..., None, :] * same).sum((-1, -2))
             / two_m) / two_m
    return np.where(two_m > 0, q, np.nan)


def structural_matrix(W) -> np.ndarray:
    """``|W| + |W|ᵀ`` with the diagonal removed (input of Q_str)."""
    W = np.abs(_np(W))
    A = W + np.swapaxes(W, -1, -2)
    return A * (1 - np.eye(A.shape[-1]))


def corr(X) -> np.ndarray:
    """The (signed) correlation between the columns of ``X`` ``(..., samples, N)``, diagonal
    removed. A constant unit (e.g. a silenced one) has no defined correlation; it is given 0."""
    X = _np(X)
    Xc = X - X.mean(-2, keepdims=True)
    cov = np.swapaxes(Xc, -1, -2) @ Xc
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        C = cov / (sd[..., :, None] * sd[..., None, :])
    C = np.nan_to_num(C, nan=0.0)
    return C * (1 - np.eye(C.shape[-1]))


def abs_corr(X) -> np.ndarray:
    """``|corr|`` between the columns of ``X`` ``(..., samples, N)`` (:func:`corr`)."""
    return np.abs(corr(X))


def q_str(W, groups=None) -> np.ndarray:
    """Structural modularity: Q of ``|W| + |W|ᵀ`` (no diagonal) with the fixed groups."""
    W = _np(W)
    return modularity(structural_matrix(W), halves(W.shape[-1]) if groups is None else groups)


def q_cor(X, groups=None) -> np.ndarray:
    """Functional modularity: Q of ``|corr|`` of unit activities ``X`` ``(..., samples, N)``."""
    X = _np(X)
    return modularity(abs_corr(X), halves(X.shape[-1]) if groups is None else groups)


def separability(c1, c2, groups) -> np.ndarray:
    """``D = |Σ_i (−1)^{s_i} (c2_i − c1_i)| / Σ_i (c2_i + c1_i)`` (paper Eqs. 18–20).

    ``c1``, ``c2`` ``(..., N)`` are each unit's non-negative strength of association with side 1
    and side 2 (output, input pair or correlation); D = 1 when group 1 is tied only to side 1 and
    group 2 only to side 2 (or the reverse), 0 when the groups do not differ.
    """
    c1, c2 = _np(c1), _np(c2)
    sign = np.where(np.asarray(groups) == 0, -1.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs((sign * (c2 - c1)).sum(-1)) / (c2 + c1).sum(-1)


def d_out(W_out, groups=None) -> np.ndarray:
    """Output separability from ``W_out`` ``(..., N, M·2)`` (row convention: unit → output);
    the first half of the outputs is side 1, the second half side 2."""
    W = np.abs(_np(W_out))
    m = W.shape[-1] // 2
    g = halves(W.shape[-2]) if groups is None else groups
    return separability(W[..., :m].sum(-1), W[..., m:].sum(-1), g)


def d_in(W_in, groups=None) -> np.ndarray:
    """Input separability from ``W_in`` ``(..., 4, N)``: channels (ON1, OFF1) vs (ON2, OFF2)."""
    W = np.abs(_np(W_in))
    g = halves(W.shape[-1]) if groups is None else groups
    return separability(W[..., 0:2, :].sum(-2), W[..., 2:4, :].sum(-2), g)


def unit_signal_corr(X, S) -> np.ndarray:
    """``|corr(x_i, s_k)|`` ``(..., N, K)`` between units ``X`` ``(..., samples, N)`` and signals
    ``S`` ``(..., samples, K)``; 0 where a unit or signal is constant."""
    X, S = _np(X), _np(S)
    Xc = X - X.mean(-2, keepdims=True)
    Sc = S - S.mean(-2, keepdims=True)
    cov = np.swapaxes(Xc, -1, -2) @ Sc
    with np.errstate(invalid="ignore", divide="ignore"):
        C = cov / (np.sqrt((Xc ** 2).sum(-2))[..., :, None] * np.sqrt((Sc ** 2).sum(-2))[..., None, :])
    return np.nan_to_num(np.abs(C), nan=0.0)


def d_cor(X, S, groups=None) -> np.ndarray:
    """Correlation separability: ``c_i^{(j)} = mean_k |corr(x_i, s^{(j)}_k)|`` with the signals'
    first half as side 1 and second half as side 2 (WM: the two targets; separation: the six
    outputs)."""
    C = unit_signal_corr(X, S)
    k = C.shape[-1] // 2
    g = halves(C.shape[-2]) if groups is None else groups
    return separability(C[..., :k].mean(-1), C[..., k:].mean(-1), g)


def accuracy(y, target) -> np.ndarray:
    """Fraction of correct steps: ``(y > 0) == (target > 0)`` (target 0 counts as negative, as
    Keras' binary accuracy on ``(target + 1)/2`` rounds it), over all but leading dims. A
    non-finite output is never correct (NaN > 0 is False, which would count as a correct
    negative)."""
    y, t = _np(y), _np(target)
    correct = ((y > 0) == (t > 0)) & np.isfinite(y)
    return correct.reshape(*correct.shape[:-3], -1).mean(-1) if correct.ndim >= 3 else correct.mean()


def mse(y, target) -> np.ndarray:
    y, t = _np(y), _np(target)
    d = (y - t) ** 2
    return d.reshape(*d.shape[:-3], -1).mean(-1) if d.ndim >= 3 else d.mean()


def two_communities(A) -> np.ndarray:
    """Clauset–Newman–Moore greedy modularity on weighted ``A``, forced to exactly two
    communities (``networkx.community.greedy_modularity_communities`` with cutoff = best_n = 2);
    returns a label per node (0: the larger community).

    A complete graph (every off-diagonal weight non-zero and finite: the case of ``|corr|`` and
    of ``|W| + |W|ᵀ``) goes through ``_cnm_dense``, which makes networkx's merges in the same order
    with the same floating-point operations (labels equal, tested) about 100× faster; any other
    graph goes through networkx itself.
    """
    A = _np(A)
    labels = _cnm_dense(A)
    return labels if labels is not None else _cnm_networkx(A)


def _cnm_networkx(A: np.ndarray) -> np.ndarray:
    import networkx as nx
    G = nx.from_numpy_array(A)
    comms = nx.community.greedy_modularity_communities(G, weight="weight", cutoff=2, best_n=2)
    labels = np.zeros(A.shape[0], dtype=int)
    for c, nodes in enumerate(comms):
        labels[list(nodes)] = c
    return labels


def _cnm_dense(A: np.ndarray) -> np.ndarray | None:
    """networkx's CNM merge sequence (``_greedy_modularity_communities_generator``, undirected,
    resolution 1) on the dense ΔQ matrix of a complete graph, or None for any other graph.

    networkx pops the pair (u, v) of largest ΔQ, ties going to the smallest (u, v), merges u into
    v, sets ΔQ_vw = ΔQ_vw + ΔQ_uw for every other community w (all are neighbours in a complete
    graph), and orders the final communities by size (stable over node order). Degrees and the
    total weight are Python sums in networkx's order, so every float equals networkx's.
    """
    n = A.shape[0]
    if A.ndim != 2 or n != A.shape[1] or n < 3 or not np.isfinite(A).all():
        return None
    # networkx.from_numpy_array adds (u, v) and then (v, u) for u < v: an asymmetric A keeps
    # the lower triangle's weight.
    A = np.tril(A) + np.tril(A, -1).T
    if not (A[~np.eye(n, dtype=bool)] != 0).all():
        return None
    rows = A.tolist()
    # G.degree: the weights of a node's edges in neighbour order (ascending), a self-loop twice.
    deg = np.array([sum(r[j] for j in range(n) if r[j] != 0) + (r[i] if r[i] != 0 else 0)
                    for i, r in enumerate(rows)])
    m = sum(deg.tolist()) / 2  # G.size(weight)
    q0 = 1 / m
    a = deg * q0 * 0.5
    P = np.outer(a, a)
    dq = q0 * A - (P + P)
    np.fill_diagonal(dq, -np.inf)
    owner = np.arange(n)  # the community each node is in (its surviving key)
    for _ in range(n - 2):
        u, v = divmod(int(np.argmax(dq)), n)
        new = dq[v] + dq[u]
        dq[v], dq[:, v] = new, new
        dq[u], dq[:, u] = -np.inf, -np.inf
        dq[v, v] = -np.inf
        owner[owner == u] = v
    keys = np.unique(owner)  # the two surviving keys, in node (= insertion) order
    sizes = [(owner == k).sum() for k in keys]
    order = sorted(range(2), key=lambda i: -sizes[i])  # stable: the smaller key first on a tie
    return np.where(owner == keys[order[0]], 0, 1)


def nmi(a, b) -> float:
    """Normalized mutual information with arithmetic-mean normalization (paper Eq. 23)."""
    a, b = np.asarray(a), np.asarray(b)
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1)
    p = joint / joint.sum()
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    mi = (p[nz] * np.log(p[nz] / (pa[:, None] * pb[None, :])[nz])).sum()
    ha = -(pa[pa > 0] * np.log(pa[pa > 0])).sum()
    hb = -(pb[pb > 0] * np.log(pb[pb > 0])).sum()
    if ha + hb == 0:
        return 1.0
    return float(mi / ((ha + hb) / 2))
