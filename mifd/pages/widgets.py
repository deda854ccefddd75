"""Interactive explorers for Binder (ipywidgets), each with a static default for the HTML book."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import mine
from . import plotting
from ..experiments.base import Layout


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


def _show(out, fig: plt.Figure) -> None:
    """Replace what the Output widget ``out`` shows by ``fig`` (as PNG), without capturing the
    kernel's output stream: setting the widget's outputs directly also works while a notebook
    is executed by nbclient/papermill, where ``with out:`` capture at construction time can
    stall the client."""
    import io

    from IPython.display import Image
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    out.outputs = ()
    out.append_display_data(Image(data=buf.getvalue(), format="png"))


def estimator_explorer():
    """Sliders for correlation, dimension and batch size; re-runs :func:`quick_estimate`."""
    import ipywidgets as w

    rho = w.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="correlation ρ")
    dim = w.IntSlider(value=5, min=1, max=20, description="dimension d")
    batch = w.IntSlider(value=128, min=16, max=512, step=16, description="batch n")
    button = w.Button(description="estimate")
    out = w.Output()

    def update(_=None):
        _show(out, plot_quick(quick_estimate(rho.value, dim.value, batch.value)))

    button.on_click(update)
    box = w.VBox([w.HBox([rho, dim]), w.HBox([batch, button]), out])
    box.update = update  # for tests and for the first draw
    return box


def explorer_figure(res: dict, condition: str, trial: int, snap: int) -> plt.Figure:
    """One trial of a stored run (working memory or separation): its units' correlation with
    the two outputs' sides (circles group 1, triangles group 2), its ``|corr|`` matrix, its weight
    matrix and its modularity curves with the chosen snapshot marked. The default state of
    :func:`run_explorer`. Correlations are those of the end of training (the store keeps them
    once); the working-memory weights follow the snapshot."""
    idx = Layout.of(res).index(condition)
    if not 0 <= trial < len(idx):
        raise ValueError(f"parameter 'trial': got {trial!r}; allowed: 0..{len(idx) - 1}")
    t = int(idx[trial])
    ep = res["snap_epochs"]
    snap = int(np.clip(snap, 0, len(ep) - 1))
    final, w = res["final"], res["weights"]
    wm = "W_rec" in w
    fig, axes = plotting.panels(4, 3.8, 3.3)
    C = final["unit_target_corr" if wm else "unit_output_corr"][t]
    n = C.shape[0]
    plotting.side_scatter(axes[0], C, s=18)
    axes[0].set(xlabel="|corr| with " + ("bit 1" if wm else "Lorenz"),
                ylabel="|corr| with " + ("bit 2" if wm else "Rössler"), title="units (final)")
    axes[0].legend(loc="upper right", fontsize=8)
    if wm:
        M, wt = np.abs(w["W_rec"][snap, t]).T, f"|W_rec| at epoch {int(ep[snap])}"
    else:
        M, wt = np.abs(w["U"][t][:, 2 * n:]), "|U_h| (final)"
    for ax, A, title in ((axes[1], final["abs_corr"][t], "|corr| (final)"), (axes[2], M, wt)):
        plotting.heatmap(ax, A, title, aspect="equal",
                         labels=plotting.W_REC if A is M and wm else plotting.UNITS)
    for key in ("Q_cor", "Q_str", "D_cor", "D_out"):
        if key in res["snaps"]:
            axes[3].plot(ep, res["snaps"][key][:, t], label=key)
    axes[3].axvline(ep[snap], color="k", lw=0.8, ls=":")
    axes[3].set_xlabel("epoch" if wm else "MM step")
    axes[3].legend(fontsize=8)
    axes[3].set_title(f"{condition}, trial {trial}")
    return fig


def run_explorer(res: dict):
    """Pick a condition, a trial and a training snapshot of a stored run; the figure follows
    (instant: it reads the store, nothing is retrained)."""
    import ipywidgets as w

    lay = Layout.of(res)
    conds, T = list(lay.conditions), lay.per_condition
    last = len(res["snap_epochs"]) - 1
    condition = w.Dropdown(options=conds, value=conds[0], description="condition")
    trial = w.IntSlider(value=0, min=0, max=T - 1, description="trial")
    snap = w.IntSlider(value=last, min=0, max=last, description="snapshot")
    out = w.Output()
    box = w.VBox([w.HBox([condition, trial, snap]), out])
    box.figures = []

    def update(_=None):
        fig = explorer_figure(res, condition.value, trial.value, snap.value)
        box.figures.append(fig)
        _show(out, fig)

    for c in (condition, trial, snap):
        c.observe(update, names="value")
    box.condition, box.trial, box.snap, box.update = condition, trial, snap, update
    update()
    return box


SMALL_WM = {"n": 20, "batch": 8, "transient": 100, "steps": 300, "sm_width": 32,
            "sm_samples": 1024, "sm_per_mm": 5, "pre_steps": 20, "eval_batch": 8,
            "audit_steps": 0, "trials": 1, "conditions": ("mi",)}


def train_small(lambda_mi: float = 0.3, l2: float = 0.01, epochs: int = 300, seed: int = 1001,
                progress: bool | None = None):
    """Train one small working-memory network on the CPU (20 units, 300-step segments, a
    32-wide statistics network; ``smoke`` profile plus ``SMALL_WM``) with the given λ_I,
    L2 weight, number of MM steps and seed. Stored like every run: a repeat loads."""
    import mifd
    over = dict(SMALL_WM, lambda_mi=float(lambda_mi), l2=float(l2), epochs=int(epochs),
                seed=int(seed), snapshot_every=max(1, int(epochs) // 10))
    return mifd.run("wm", "smoke", "cpu", over, progress=progress, verbose=False)


def trainer_panel():
    """λ_I, λ_reg (L2), MM steps and seed → :func:`train_small` with a progress bar, then the
    explorer's figure of the trained network."""
    import ipywidgets as w

    lambda_mi = w.FloatSlider(value=0.3, min=0.0, max=1.0, step=0.01, description="λ_I")
    l2 = w.FloatLogSlider(value=0.01, base=10, min=-5, max=-1, description="L2 weight")
    epochs = w.IntSlider(value=300, min=10, max=1000, step=10, description="MM steps")
    seed = w.IntText(value=1001, description="seed")
    button = w.Button(description="train")
    out = w.Output()
    box = w.VBox([w.HBox([lambda_mi, l2]), w.HBox([epochs, seed, button]), out])
    box.figures = []

    def train(_=None):
        with out:  # the progress bar, while it trains
            out.clear_output()
            rr = train_small(lambda_mi.value, l2.value, epochs.value, seed.value, progress=True)
        fig = explorer_figure(rr.result, "mi", 0, len(rr.result["snap_epochs"]) - 1)
        box.figures.append(fig)
        _show(out, fig)

    button.on_click(train)
    box.lambda_mi, box.l2, box.epochs, box.seed, box.train = lambda_mi, l2, epochs, seed, train
    return box
