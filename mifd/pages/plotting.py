"""Figures and tables of the book, computed from stored results (never from typed numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..experiments.base import Layout

STYLE = Path(__file__).with_name("mifd.mplstyle")
# group 1 / group 2 markers as in the paper (circles / triangles)
GROUP_MARKERS = ("o", "^")

#: widest figure (inches; 100 dpi: 780 px): shown unscaled, so 8-pt ticks and legends stay 8 pt
MAX_WIDTH = 7.8

#: narrowest panel (inches; 150 px on the page): :func:`panels` refuses narrower ones
MIN_PANEL = 1.5


def use_style() -> None:
    """The book's style: matplotlib's and whole pandas tables (no row or cell cut to "…")."""
    plt.style.use(str(STYLE))
    import pandas as pd
    pd.options.display.max_colwidth = pd.options.display.max_rows = None


def panels(n: int, width: float, height: float, **kw: Any) -> tuple[plt.Figure, list[plt.Axes]]:
    """``n`` panels of ``width`` × ``height`` inches, as many per row as fit in
    :data:`MAX_WIDTH` (at least one), further rows below; ``kw`` go to ``plt.subplots``.
    Returns the figure and the ``n`` axes in reading order (unused grid cells removed)."""
    if not width >= MIN_PANEL:
        raise ValueError(f"parameter 'width': got {width!r} in; allowed: at least MIN_PANEL = "
                         f"{MIN_PANEL:g} in (a narrower panel's 8-pt labels would not fit)")
    per_row = max(1, min(n, int(MAX_WIDTH / width + 1e-9)))
    rows = -(-n // per_row)
    scale = min(1.0, MAX_WIDTH / (per_row * width))  # one panel wider than the page: shrink it
    fig, grid = plt.subplots(rows, per_row, figsize=(per_row * width * scale, rows * height),
                             squeeze=False, **kw)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def ema(x: np.ndarray, rate: float = 0.02) -> np.ndarray:
    """Exponential moving average along axis 0 (for display only)."""
    out = np.empty_like(np.asarray(x, dtype=float))
    acc = np.asarray(x[0], dtype=float)
    for i, v in enumerate(x):
        acc = (1 - rate) * acc + rate * v if i else np.asarray(v, dtype=float)
        out[i] = acc
    return out


COND_COLORS = {"mi": "C0", "no_mi": "C1", "mi_l2": "C0", "mi_no_l2": "C2",
               # the bimt experiment's (none = no_mi without L2)
               "none": "C1", "l1": "C4", "distance": "C5", "bimt": "C3", "mi_bimt": "C6"}
_OTHER_COLORS: dict[str, str] = {}


def cond_color(condition: str) -> str:
    """A condition's colour: fixed for the named conditions (:data:`COND_COLORS`); any other
    (e.g. an L2 sweep value) gets the next palette colour none of them uses (C7, C8, C9, then
    again), in order of first use, so it never shares a colour with a named condition."""
    if condition in COND_COLORS:
        return COND_COLORS[condition]
    free = [f"C{i}" for i in range(10) if f"C{i}" not in set(COND_COLORS.values())]
    return _OTHER_COLORS.setdefault(condition, free[len(_OTHER_COLORS) % len(free)])


def wm_task_example(final: Mapping[str, Any], trial: int, title: str = "") -> plt.Figure:
    """Inputs, targets and outputs of one evaluation sequence (paper Fig. 4)."""
    ex = final["example"]
    fig, axes = plt.subplots(3, 1, figsize=(7, 4.6), sharex=True)
    t = np.arange(ex["x"].shape[1])
    names = ("ON1", "OFF1", "ON2", "OFF2")
    for c in range(4):
        axes[0].plot(t, ex["x"][trial, :, c] + 1.2 * (3 - c), label=names[c])
    axes[0].set_yticks([1.2 * (3 - c) + 0.5 for c in range(4)], names)
    axes[0].set_title(title or "inputs")
    for j, ax in enumerate(axes[1:]):
        ax.plot(t, ex["target"][trial, :, j], color="k", lw=1, label="target")
        ax.plot(t, ex["y"][trial, :, j], color=f"C{j}", label="output")
        ax.set_ylabel(f"bit {j + 1}")
        ax.set_ylim(-1.5, 1.5)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the ±1 target lines
    axes[-1].set_xlabel("time step (after the transient)")
    return fig


CURVE_LABELS = {"task": "task loss (MSE)", "mi": "MI estimate (nats)", "accuracy": "accuracy",
                "sm_mi": "SM estimate (nats)", "reg": "L2 term"}


def training_curves(res: Mapping[str, Any], keys: tuple[str, ...] = ("task", "mi", "accuracy"),
                    smooth: float = 0.1, xlabel: str = "epoch (MM step)") -> plt.Figure:
    """Per-step training histories (task loss, MI estimate of the MM step, …); thin lines are
    trials, thick lines condition means."""
    hist, lay = res["hist"], Layout.of(res)
    keys = tuple((k, CURVE_LABELS.get(k, k)) for k in keys)
    fig, axes = panels(len(keys), 3.2, 2.8)
    for ax, (k, label) in zip(axes, keys):
        for c, v in lay.split(hist[k]).items():
            sm = ema(v, smooth)
            ax.plot(sm, color=cond_color(c), alpha=0.25, lw=0.7)
            ax.plot(np.nanmean(sm, 1), color=cond_color(c), label=c)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    legend_in_empty_cell(fig, axes)
    return fig


def legend_in_empty_cell(fig: plt.Figure, axes: Sequence[plt.Axes]) -> None:
    """The legend of ``axes[0]`` in the last cell of their grid when :func:`panels` left it
    empty (so it covers no data), else in ``axes[0]`` where it covers the least."""
    gs = axes[0].get_subplotspec().get_gridspec()
    rows, cols = gs.get_geometry()
    if len(axes) >= rows * cols:
        axes[0].legend(loc="best")
        return
    pos = gs[rows - 1, cols - 1].get_position(fig)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="center",
               bbox_to_anchor=(pos.x0 + pos.width / 2, pos.y0 + pos.height / 2))


def side_scatter(ax: plt.Axes, C: np.ndarray, s: float = 22) -> None:
    """One trial's units, association with side 1 against side 2 (``C`` ``(N, 2k)``: the first
    k columns are averaged for side 1, the rest for side 2); group 1 circles, group 2 triangles."""
    k = C.shape[-1] // 2
    side = np.stack([C[:, :k].mean(-1), C[:, k:].mean(-1)], axis=-1)
    n = side.shape[0]
    for g, (sl, mk) in enumerate(zip((slice(0, n // 2), slice(n // 2, n)), GROUP_MARKERS)):
        ax.scatter(side[sl, 0], side[sl, 1], marker=mk, s=s, label=f"group {g + 1}",
                   color=f"C{g}", alpha=0.8)
    ax.plot([0, 1], [0, 1], color="k", lw=0.6, ls=":")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_aspect("equal")


def unit_side_scatter(C: np.ndarray, picks: Mapping[str, int],
                      xlabel: str = "|corr(unit, target bit 1)|",
                      ylabel: str = "|corr(unit, target bit 2)|") -> plt.Figure:
    """:func:`side_scatter` of the trials in ``picks`` (a label → a trial index of ``C``
    ``(T, N, 2k)``) side by side (paper Figs. 5 and 11)."""
    fig, axes = panels(len(picks), 3.3, 3.1)
    for ax, (cond, t) in zip(axes, picks.items()):
        side_scatter(ax, C[t])
        ax.set_title(f"{cond}, trial {t}")
        ax.set_xlabel(xlabel)
    for ax in axes[::max(1, int(MAX_WIDTH / 3.3 + 1e-9))]:
        ax.set_ylabel(ylabel)
    axes[0].legend()
    return fig


def heatmap(ax: plt.Axes, M: np.ndarray, title: str, cmap: str = "Greys",
            vmax: float | None = None, aspect: str = "auto",
            labels: tuple[str, str] | None = None):
    """|M| as a heat map with the group boundary marked (on axes with at least 8 entries);
    ``labels``: the (row, column) axis labels."""
    M = np.abs(M)
    im = ax.imshow(M, cmap=cmap, vmin=0, vmax=vmax if vmax is not None else M.max(),
                   aspect=aspect, interpolation="nearest")
    ax.grid(False)
    for dim, line in ((0, ax.axhline), (1, ax.axvline)):
        if M.shape[dim] >= 8:
            line(M.shape[dim] / 2 - 0.5, color="C1", lw=0.8)
    ax.set_title(title)
    for axis in (ax.xaxis, ax.yaxis):  # matrix indices: whole numbers only
        axis.set_major_locator(MaxNLocator(integer=True))
    if labels is not None:
        ax.set_ylabel(labels[0])
        ax.set_xlabel(labels[1])
    return im


#: axis labels (rows, columns) of the matrices the chapters draw
UNITS = ("unit", "unit")
W_REC = ("to unit", "from unit")
W_IN_T = ("unit", "input")
W_OUT = ("unit", "output")
W_OUT_T = ("output", "unit")


def matrices(mats: Mapping[str, np.ndarray], cmap: str = "Greys", vmax: float | None = None,
             size: float = 2.8, labels: Any = UNITS) -> plt.Figure:
    """Absolute-value heat maps side by side, group boundary marked; ``labels``: one (row,
    column) pair of axis labels for every panel, or a list of pairs, one per panel."""
    fig, axes = panels(len(mats), size, size)
    per = [labels] * len(mats) if isinstance(labels[0], str) else list(labels)
    if len(per) != len(mats):
        raise ValueError(f"parameter 'labels': got {len(per)} pairs for {len(mats)} panels; "
                         "allowed: one (row, column) pair or one per panel")
    for ax, (title, M), lab in zip(axes, mats.items(), per):
        fig.colorbar(heatmap(ax, M, title, cmap, vmax, labels=lab), ax=ax, shrink=0.8)
    return fig


def timecourses(res: Mapping[str, Any],
                keys: tuple[str, ...] = ("Q_cor", "Q_str", "D_cor", "D_in", "D_out"),
                xlabel: str = "epoch") -> plt.Figure:
    """Modularity and separability over training (paper Figs. 9 and 16): mean and every trial."""
    snaps, ep, lay = res["snaps"], res["snap_epochs"], Layout.of(res)
    fig, axes = panels(len(keys), 2.6, 2.4)
    for ax, k in zip(axes, keys):
        for c, v in lay.split(snaps[k]).items():
            ax.plot(ep, v, color=cond_color(c), alpha=0.25, lw=0.7)
            ax.plot(ep, np.nanmean(v, 1), color=cond_color(c), label=c, lw=1.8)
        ax.set_title(k)
        ax.set_xlabel(xlabel)
    axes[0].legend()
    return fig


# --------------------------------------------------------------------------- separation

SEP_NAMES = ("Lorenz x", "Lorenz y", "Lorenz z", "Rössler x", "Rössler y", "Rössler z")


def separation_example(final: Mapping[str, Any], trial: int, steps: int = 2000) -> plt.Figure:
    """The mixed input and, for each of the six components, target and output (paper Fig. 11)."""
    ex = final["example"]
    L = min(steps, ex["x"].shape[0])
    t = np.arange(L)
    fig, axes = plt.subplots(7, 1, figsize=(7, 8), sharex=True)
    for c in range(3):
        axes[0].plot(t, ex["x"][:L, c], lw=0.8, label="xyz"[c])
    axes[0].set_ylabel("input\n(sum)")
    axes[0].legend(ncols=3, loc="upper right")
    for k in range(6):
        ax = axes[k + 1]
        ax.plot(t, ex["target"][:L, k], color="k", lw=0.9, label="target")
        ax.plot(t, ex["y"][trial, :L, k], color=f"C{0 if k < 3 else 1}", lw=0.9, label="output")
        ax.set_ylabel(SEP_NAMES[k].replace(" ", "\n"))
    axes[1].legend(ncols=2, loc="upper right")
    axes[-1].set_xlabel("time step")
    return fig


# --------------------------------------------------------------------------- performance

def performance(df: Any) -> plt.Figure:
    """Committed benchmark rows as a dot chart: one panel per experiment, one line per device
    and implementation (grouped by device), seconds per trial-epoch on a log axis; a dot per
    committed measurement, coloured by the number of batched trials, and the counted FLOP floor
    as a bar. ``df``: :func:`mifd.perf.rows_frame` rows of one or more runs."""
    exps = list(dict.fromkeys(df["experiment"]))
    trials = sorted(set(int(t) for t in df["batched trials"]))
    colors = {t: f"C{i % 8}" for i, t in enumerate(trials)}
    lines = {e: sorted({(r.device, r.implementation) for r in df[df["experiment"] == e]
                        .itertuples()}, key=lambda x: (x[0] != "cpu", x)) for e in exps}
    height = 0.6 + 0.2 * max(len(v) for v in lines.values())
    fig, axes = panels(len(exps), MAX_WIDTH / min(len(exps), 2), height)
    for ax, e in zip(axes, exps):
        ys = {k: i for i, k in enumerate(lines[e])}
        sub = df[df["experiment"] == e]
        for dev, impl, t, sec, floor in zip(sub["device"], sub["implementation"],
                                            sub["batched trials"],
                                            sub["s / trial-epoch (median)"], sub["FLOP floor (s)"]):
            y = ys[(dev, impl)]
            ax.plot(sec, y, "o", ms=4, color=colors[int(t)], alpha=0.8)
            if np.isfinite(floor) and floor > 0:
                ax.plot(floor, y, "|", ms=8, color="k")
        ax.set_yticks(range(len(ys)), [f"{d}: {i}" for d, i in ys])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("seconds per trial-epoch (log)")
        ax.set_title(e)
        for i in range(1, len(ys)):  # a line between devices
            if lines[e][i][0] != lines[e][i - 1][0]:
                ax.axhline(i - 0.5, color="0.5", lw=0.6)
    handles = [plt.Line2D([], [], ls="none", marker="o", color=c, label=f"{t} trials batched")
               for t, c in colors.items()]
    handles.append(plt.Line2D([], [], ls="none", marker="|", ms=8, color="k", label="FLOP floor"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
    return fig


# --------------------------------------------------------------------------- BIMT

def grid_network(ax: plt.Axes, W_rec: np.ndarray, title: str = "", top: float = 0.1) -> None:
    """A trained network in its grid (:func:`mifd.bimt.grid`): units coloured by MI group (the
    grid's left half C0, right half C1; size by total |w|), recurrent connections among the
    strongest ``top`` fraction drawn with opacity ∝ |w|."""
    from ..bimt import grid
    W = np.abs(np.asarray(W_rec, dtype=float))
    n = W.shape[0]
    pos = grid(n).numpy()
    off = W * (1 - np.eye(n))
    cut = np.quantile(off[off > 0], 1 - top) if (off > 0).any() else np.inf
    wmax = off.max() if off.max() > 0 else 1.0
    for i, j in zip(*np.nonzero(off >= cut)):
        ax.plot(*pos[[i, j]].T, color="0.2", lw=0.8, alpha=float(0.15 + 0.85 * off[i, j] / wmax))
    strength = W.sum(0) + W.sum(1)
    size = 8 + 60 * strength / (strength.max() if strength.max() > 0 else 1.0)
    half = np.arange(n) >= n // 2
    ax.scatter(*pos[~half].T, s=size[~half], color="C0", zorder=3, label="group 1 (left)")
    ax.scatter(*pos[half].T, s=size[half], color="C1", zorder=3, label="group 2 (right)")
    ax.axvline(0.5, color="0.6", lw=0.6, ls=":")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title)


def grid_networks(weights: Mapping[str, np.ndarray], top: float = 0.1) -> plt.Figure:
    """:func:`grid_network` for each ``{label: W_rec}``, in rows that fit the page."""
    fig, axes = panels(len(weights), 2.5, 2.6)
    for ax, (label, W) in zip(axes, weights.items()):
        grid_network(ax, W, label, top)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=2)
    return fig


def error_vs_active(df: Any, reference: Any = None, reference_label: str = "paper"
                    ) -> plt.Figure:
    """Task error against active units per trial, by method (Growing Brains' Fig. 2g): one
    colour per method, one marker per λ_w; ``reference`` (columns method, active units, error):
    another source's points, drawn as dashed lines in the method's colour."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    markers = dict(zip(sorted(df["λ_w"].unique()), "osD^v<>ph*"))
    for (method, lam), g in df.groupby(["method", "λ_w"]):
        ax.scatter(g["active units"], g["error"], color=cond_color(method),
                   marker=markers[lam], label=f"{method}, λ_w = {lam:g}")
    if reference is not None:
        for method, g in reference.groupby("method"):
            g = g.sort_values("active units")
            ax.plot(g["active units"], g["error"], ls="--", marker="x", ms=4, lw=0.8,
                    color=cond_color(method), label=f"{method} ({reference_label})")
    ax.set_yscale("log")
    ax.set_xlabel("active units")
    ax.set_ylabel("task error (log)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def dose_response(df: Any, metrics: tuple[str, ...], labels: Mapping[str, str] | None = None
                  ) -> plt.Figure:
    """Metric against λ per method, mean and 95% t-interval over trials
    (:func:`mifd.paper.penalties.dose_response`'s table); λ = 0 (no penalty) sits at the left
    end of a symmetric-log axis."""
    labels = labels or {}
    fig, axes = panels(len(metrics), 2.6, 2.3)
    positive = df.loc[df["λ"] > 0, "λ"]
    lin = float(positive.min()) if len(positive) else 1.0
    for ax, m in zip(axes, metrics):
        for i, (method, g) in enumerate(df[df["metric"] == m].groupby("method", sort=False)):
            g = g.sort_values("λ")
            err = np.vstack([g["mean"] - g["lo"], g["hi"] - g["mean"]])
            ax.errorbar(g["λ"] * (1 + 0.06 * i), g["mean"], yerr=np.nan_to_num(err),
                        marker="os^D"[i % 4], ms=4, capsize=2, label=method)
        ax.set_xscale("symlog", linthresh=lin)
        ax.set_xlim(left=-0.1 * lin)
        ax.set_xlabel("λ (0: no penalty)")
        ax.set_ylabel(labels.get(m, m), fontsize=8)
    axes[0].legend(fontsize=8)
    return fig
