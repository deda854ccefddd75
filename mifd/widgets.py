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
