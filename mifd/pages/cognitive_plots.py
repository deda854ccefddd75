"""Figures of the cognitive-task chapter (Growing Brains): the tasks, functional clusters on
the grid, the task-variance matrix and time courses per method, computed from stored results."""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from .plotting import MAX_WIDTH, cond_color, panels


def method_timecourses(epochs: Any, courses: Mapping[str, Mapping[str, Any]],
                       labels: Mapping[str, str], xlabel: str = "training step") -> plt.Figure:
    """Per metric (``labels``: metric → axis label), per method: the mean over its networks
    (thick) and every network (thin) against ``epochs``; ``courses``: method → metric →
    ``(snapshots, networks)`` (:func:`mifd.paper.growing_brains.courses_by_method`)."""
    fig, axes = panels(len(labels), 2.6, 2.4)
    for ax, (k, label) in zip(axes, labels.items()):
        for method, m in courses.items():
            if k not in m:
                continue
            ax.plot(epochs, m[k], color=cond_color(method), alpha=0.25, lw=0.7)
            ax.plot(epochs, np.nanmean(m[k], 1), color=cond_color(method), label=method, lw=1.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label, fontsize=8)
    axes[0].legend(fontsize=8)
    return fig


def cluster_grid(ax: plt.Axes, n: int, units: Any, labels: Any, title: str = "") -> None:
    """Units on their grid (:func:`mifd.bimt.grid`) coloured by functional cluster; units left
    out of the clustering (too little task variance) as small grey dots."""
    from ..bimt import grid
    pos = grid(n).numpy()
    units, labels = np.asarray(units, dtype=int), np.asarray(labels, dtype=int)
    rest = np.setdiff1d(np.arange(n), units)
    ax.scatter(*pos[rest].T, s=6, color="0.8", zorder=2)
    for c in np.unique(labels):
        ax.scatter(*pos[units[labels == c]].T, s=24, color=f"C{c % 10}", zorder=3,
                   label=f"cluster {c + 1}")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title)


def cluster_grids(nets: Mapping[str, tuple[int, Any, Any]]) -> plt.Figure:
    """:func:`cluster_grid` for each ``{label: (n, units, labels)}``."""
    fig, axes = panels(len(nets), 2.5, 2.6)
    for ax, (label, (n, units, labels)) in zip(axes, nets.items()):
        cluster_grid(ax, n, units, labels, label)
    return fig


def task_variance_matrix(tv: np.ndarray, units: Any, labels: Any, tasks: Any,
                         title: str = "") -> plt.Figure:
    """Normalized task variance (tasks × clustered units), units sorted by cluster, cluster
    boundaries marked (Yang et al. 2019, Fig. 2)."""
    tv = np.asarray(tv, dtype=float)[:, np.asarray(units, dtype=int)]
    tv = tv / np.maximum(tv.max(axis=0, keepdims=True), 1e-12)
    order = np.argsort(np.asarray(labels), kind="stable")
    fig, ax = plt.subplots(figsize=(min(MAX_WIDTH, 2 + 0.04 * tv.shape[1]), 3.6))
    im = ax.imshow(tv[:, order], aspect="auto", cmap="hot", vmin=0, vmax=1,
                   interpolation="nearest")
    cuts = np.flatnonzero(np.diff(np.asarray(labels)[order])) + 0.5
    for x in cuts:
        ax.axvline(x, color="C0", lw=1)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=8)
    ax.set_xlabel("units (sorted by cluster)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="normalized task variance")
    return fig


def task_trials(batches: Any, tasks: Any, dt: int, fix_rows: int = 4) -> plt.Figure:
    """One trial of each task (Yang et al. 2019): its inputs (fixation, two rings, the rule units)
    above its targets (fixation, ring), over time, on one grey scale from 0 to 1, the response
    period shaded; the two fixation rows drawn ``fix_rows`` rows high so they can be seen.
    ``batches``: one :func:`mifd.tasks.yang19.batch` of one trial per task."""
    fig, axes = panels(len(tasks), 2.5, 1.9, sharey=True)  # ≤ 3 per row: 8-pt labels legible
    for ax, b, name in zip(axes, batches, tasks):
        x, y = b["inputs"][0], b["targets"][0]
        L = int(b["lengths"][0])
        r = y.shape[1] - 1
        heights = np.ones(x.shape[1] + y.shape[1], dtype=int)
        heights[[0, x.shape[1]]] = fix_rows
        rows = np.repeat(np.concatenate([x[:L], y[:L]], axis=1).T, heights, axis=0)
        ax.imshow(rows, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                  extent=(0, L * dt, rows.shape[0], 0))
        edges = np.cumsum([0, fix_rows, r, r, x.shape[1] - 1 - 2 * r, fix_rows, r])
        ax.axhline(edges[4], color="C0", lw=0.8)
        rs = int(b["response_start"][0])
        ax.axvspan(rs * dt, L * dt, color="C1", alpha=0.2)
        ax.set_title(name)
        ax.set_xlabel("time (ms)")
    axes[0].set_yticks((edges[:-1] + edges[1:]) / 2,
                       ["fix", "ring 1", "ring 2", "rule", "target fix", "target ring"])
    return fig
