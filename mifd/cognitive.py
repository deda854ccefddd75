"""Functional and anatomical clustering of units trained on many tasks (Yang et al. 2019;
"Growing Brains", Liu, Khona, Fiete & Tegmark 2023).

Functional (Yang et al.): the **task variance** of a unit in a task is the variance of its rate
across trials, averaged over time; units whose summed task variance is at most
:data:`MIN_VARIANCE` are left out; each remaining unit's vector over tasks is divided by its
maximum (**normalized task variance**), and the units are clustered by k-means with k chosen by
the silhouette score.

Anatomical (Growing Brains; its definitions are not available, these are ours): units sit on a
grid (:func:`mifd.bimt.grid`; index ``i`` at column ``i // rows``, row ``i % rows``).

* **isolated ratio**: the fraction of clustered units none of whose four grid neighbours is a
  clustered unit of the same cluster;
* **index variance**: the sum over clusters of the (population) variance of its units' grid
  indices;

each beside a **null**: the same statistic after the cluster labels are shuffled over the same
units (mean over ``shuffles`` random permutations), so a value far below its null means that
functionally alike units sit together.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial.distance import cdist

#: a unit takes part in the clustering when its summed task variance exceeds this (Yang et al.)
MIN_VARIANCE = 1e-3


def task_variance(rates: np.ndarray) -> np.ndarray:
    """Variance across trials, averaged over time: ``rates`` ``(trials, steps, N)`` of one task
    → ``(N,)``."""
    r = np.asarray(rates, dtype=float)
    if r.ndim != 3 or r.shape[0] < 2:
        raise ValueError(f"parameter 'rates': got shape {r.shape}; allowed: (trials >= 2, "
                         "steps, N)")
    return r.var(axis=0).mean(axis=0)


def normalized(tv: np.ndarray, min_variance: float = MIN_VARIANCE) -> tuple[np.ndarray, np.ndarray]:
    """``tv`` ``(tasks, N)`` → (the kept units' indices, their normalized task variance
    ``(kept, tasks)``: each unit divided by its maximum over tasks)."""
    tv = np.asarray(tv, dtype=float)
    keep = np.flatnonzero(tv.sum(0) > min_variance)
    v = tv[:, keep].T
    return keep, v / v.max(axis=1, keepdims=True)


def silhouette(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of the points ``X`` ``(n, d)`` under ``labels`` (Euclidean; a point alone
    in its cluster scores 0); NaN with fewer than 2 clusters."""
    labels = np.asarray(labels)
    ks = np.unique(labels)
    if ks.size < 2 or ks.size >= len(X):
        return float("nan")
    D = cdist(X, X)
    s = np.zeros(len(X))
    for i in range(len(X)):
        own = labels == labels[i]
        if own.sum() == 1:
            continue
        a = D[i, own].sum() / (own.sum() - 1)
        b = min(D[i, labels == k].mean() for k in ks if k != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(s.mean())


def kmeans(X: np.ndarray, k: int, seed: int = 0, restarts: int = 10) -> np.ndarray:
    """Labels of the best of ``restarts`` k-means runs (k-means++ starts; lowest inertia)."""
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(restarts):
        centers, labels = kmeans2(X, k, minit="++", seed=rng)
        inertia = ((X - centers[labels]) ** 2).sum()
        if np.unique(labels).size == k and inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best if best is not None else labels


def cluster(X: np.ndarray, ks: range | None = None, seed: int = 0) -> tuple[np.ndarray, int]:
    """k-means labels of ``X`` with k of ``ks`` (default 2 … min(30, n − 1)) maximizing the
    silhouette; returns ``(labels, k)``. Fewer than 3 points: one cluster."""
    n = len(X)
    if n < 3:
        return np.zeros(n, dtype=int), 1
    ks = ks or range(2, min(30, n - 1) + 1)
    best = max(((silhouette(X, lab), k, lab) for k in ks
                for lab in [kmeans(X, k, seed)]), key=lambda t: (np.nan_to_num(t[0], nan=-2), -t[1]))
    return best[2], best[1]


def grid_shape(n: int) -> tuple[int, int]:
    """``(rows, cols)`` of :func:`mifd.bimt.grid` for ``n`` units (cols even and as close to √n
    as divides n)."""
    from .bimt import grid
    pos = grid(n).numpy()
    return len(np.unique(pos[:, 1])), len(np.unique(pos[:, 0]))


def isolated_ratio(units: np.ndarray, labels: np.ndarray, n: int) -> float:
    """The fraction of ``units`` (grid indices) none of whose four grid neighbours is one of
    ``units`` with the same label."""
    rows, _ = grid_shape(n)
    lab = dict(zip(np.asarray(units).tolist(), np.asarray(labels).tolist()))
    if not lab:
        return float("nan")
    iso = 0
    for u, c in lab.items():
        col, row = divmod(u, rows)
        neigh = [(col - 1) * rows + row if col > 0 else None,
                 (col + 1) * rows + row if (col + 1) * rows < n else None,
                 u - 1 if row > 0 else None, u + 1 if row < rows - 1 else None]
        iso += not any(v is not None and lab.get(v) == c for v in neigh)
    return iso / len(lab)


def index_variance(units: np.ndarray, labels: np.ndarray) -> float:
    """Σ over clusters of the population variance of their units' grid indices."""
    units, labels = np.asarray(units, dtype=float), np.asarray(labels)
    return float(sum(units[labels == c].var() for c in np.unique(labels)))


def with_null(stat, units: np.ndarray, labels: np.ndarray, shuffles: int = 1000,
              seed: int = 0) -> tuple[float, float]:
    """``(stat(units, labels), mean of stat over label shuffles)``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    null = [stat(units, rng.permutation(labels)) for _ in range(shuffles)]
    return stat(units, labels), float(np.mean(null)) if null else float("nan")
