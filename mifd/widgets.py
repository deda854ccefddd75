"""Interactive explorers for Binder (ipywidgets), each with a static default for the HTML book."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import mine


def quick_estimate(rho: float = 0.5, dim: int = 5, batch: int = 128, steps: int = 150,
                   seed: int = 0) -> dict[str, float]:
    """True MI of ``dim`` correlated Gaussian pairs and four estimates of it: a small MINE critic
    (DV on all pairs of ``batch`` samples, ``steps`` Adam steps, then evaluated on 20000 held-out
    samples), the Gaussian log-det and the copula estimates on ``batch`` samples."""
    for name, v, lo, hi in (("rho", rho, 0.0, 0.999), ("dim", dim, 1, 64),
                            ("batch", batch, 8, 2048), ("steps", steps, 1, 5000)):
        if not lo <= v <= hi:
            raise ValueError(f"parameter '{name}': got {v!r}; allowed: a value in [{lo}, {hi}]")
    g = torch.Generator().manual_seed(seed)
    critic = mine.make_critic("joint", [seed], dim, dim, (64, 64))
    opt = torch.optim.Adam(critic.parameters(), lr=2e-3)
    for _ in range(steps):
        x, y = mine.sample_correlated_gaussian(batch, dim, rho, g)
        tj, tm, _ = mine.joint_and_marginal_scores(critic, x[None], y[None], "all_pairs")
        opt.zero_grad()
        (-mine.dv(tj, tm)).sum().backward()
        opt.step()
    x, y = mine.sample_correlated_gaussian(20_000, dim, rho, g)
    with torch.no_grad():
        tj, tm, _ = mine.joint_and_marginal_scores(critic, x[None], y[None], "derangement", [g])
        held = float(mine.dv(tj, tm))
    xs, ys = mine.sample_correlated_gaussian(batch, dim, rho, g)
    small = batch > 2 * dim + 1
    return {"true": mine.gaussian_mi(rho, dim), "MINE (DV)": held,
            "Gaussian": mine.gaussian_mi_estimate(xs, ys) if small else float("nan"),
            "copula": mine.copula_mi_estimate(xs, ys) if small else float("nan")}


def plot_quick(res: dict[str, float], ax: plt.Axes | None = None) -> plt.Figure:
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.0, 2.6))
    else:
        fig = ax.figure
    names = [k for k in res if k != "true"]
    ax.bar(names, [res[k] for k in names], color=["C0", "C1", "C2"])
    ax.axhline(res["true"], color="k", ls="--", lw=1, label=f"true MI = {res['true']:.2f} nats")
    ax.set_ylabel("estimate (nats)")
    ax.legend(loc="upper left")
    return fig


def estimator_explorer():
    """Sliders for correlation, dimension and batch size; re-runs :func:`quick_estimate`."""
    import ipywidgets as w
    from IPython.display import display

    rho = w.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="correlation ρ")
    dim = w.IntSlider(value=5, min=1, max=20, description="dimension d")
    batch = w.IntSlider(value=128, min=16, max=512, step=16, description="batch n")
    button = w.Button(description="estimate")
    out = w.Output()

    def update(_=None):
        with out:
            out.clear_output(wait=True)
            fig = plot_quick(quick_estimate(rho.value, dim.value, batch.value))
            display(fig)
            plt.close(fig)

    button.on_click(update)
    box = w.VBox([w.HBox([rho, dim]), w.HBox([batch, button]), out])
    box.update = update  # for tests and for the first draw
    return box


def snapshot_figure(res: dict, trial: int, snap: int) -> plt.Figure:
    """|W_rec| (or |U_h|) of ``trial`` at snapshot index ``snap`` beside its Q/D curves, with the
    snapshot marked: the default state of :func:`run_explorer`."""
    w = res["weights"]
    key = "W_rec" if "W_rec" in w else None
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0))
    if key is not None:
        M = np.abs(w[key][snap, trial]).T
        title = f"|W_rec|, snapshot {int(res['snap_epochs'][snap])}"
    else:
        n = w["U"].shape[-2]
        M = np.abs(w["U"][trial][:, 2 * n:])
        title = "|U_h| (final)"
    axes[0].imshow(M, cmap="Greys", interpolation="nearest")
    axes[0].grid(False)
    axes[0].axhline(M.shape[0] / 2 - 0.5, color="C1", lw=0.8)
    axes[0].axvline(M.shape[1] / 2 - 0.5, color="C1", lw=0.8)
    axes[0].set_title(title)
    ep = res["snap_epochs"]
    for k in ("Q_cor", "Q_str", "D_cor", "D_out"):
        if k in res["snaps"]:
            axes[1].plot(ep, res["snaps"][k][:, trial], label=k)
    axes[1].axvline(ep[snap], color="k", lw=0.8, ls=":")
    axes[1].set_xlabel("epoch")
    axes[1].legend()
    axes[1].set_title(f"trial {trial}")
    return fig


def run_explorer(res: dict):
    """Pick a trial and a training snapshot of a stored run; the figure follows (instant: it
    reads the stored snapshots, nothing is retrained)."""
    import ipywidgets as w
    from IPython.display import display

    T = res["snaps"]["Q_cor"].shape[1]
    trial = w.IntSlider(value=0, min=0, max=T - 1, description="trial")
    snap = w.IntSlider(value=len(res["snap_epochs"]) - 1, min=0, max=len(res["snap_epochs"]) - 1,
                       description="snapshot")
    out = w.Output()
    box = w.VBox([w.HBox([trial, snap]), out])
    box.figures = []

    def update(_=None):
        with out:
            out.clear_output(wait=True)
            fig = snapshot_figure(res, trial.value, snap.value)
            box.figures.append(fig)
            display(fig)
            plt.close(fig)

    trial.observe(update, names="value")
    snap.observe(update, names="value")
    box.trial, box.snap, box.update = trial, snap, update
    update()
    return box
