"""Figures of the MINE chapter: the estimators' bounds over training, their minibatch bias, the
paper's setting and the minimization game, computed from stored results."""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from ..mine import BOUND_LABELS
from .plotting import ema, panels


def staircase(units: Mapping[str, Any], smooth: float = 0.02) -> plt.Figure:
    """Estimates (smoothed, mean over seeds) against the true MI staircase, one panel per run."""
    names = [k for k in units if k.startswith("staircase/")]
    fig, axes = panels(len(names), 3.3, 2.8, sharey=True)
    for ax, name in zip(axes, names):
        u = units[name]
        steps = np.arange(len(u["truth"]))
        for b, bname in enumerate(u["bounds"]):
            ax.plot(steps, ema(np.nanmean(u["values"][:, b, :], axis=1), smooth),
                    label=BOUND_LABELS.get(bname, bname))
        ax.plot(steps, u["truth"], color="k", lw=1, ls="--", label="true MI")
        ax.set_title(name.removeprefix("staircase/").replace("/", " critic, ") + " data")
        ax.set_xlabel("critic step")
    axes[0].set_ylabel("MI estimate (nats)")
    axes[-1].legend(loc="upper left")
    ax = axes[0]
    ax.set_ylim(-1, max(float(np.max(units[names[0]]["truth"])) + 3, 5))
    return fig


def minibatch_bias(theory: Mapping[str, Any]) -> plt.Figure:
    """Minibatch DV value of the *optimal* critic against batch size: the Jensen gap."""
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    for a, mi in enumerate(theory["mis"]):
        m, s = theory["dv_mean"][a], theory["dv_sd"][a]
        line, = ax.plot(theory["batches"], m, marker="o", label=f"true MI {mi:g} nats")
        ax.fill_between(theory["batches"], m - s, m + s, alpha=0.2, color=line.get_color())
        ax.axhline(mi, color=line.get_color(), ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("batch size n")
    ax.set_ylabel("minibatch DV value (nats)")
    ax.legend()
    return fig


def paper_setting(units: Mapping[str, Any]) -> plt.Figure:
    """Final estimates in the paper's setting against the truth, per data transform."""
    names = [k for k in units if k.startswith("paper_setting/")]
    transforms = sorted({k.split("/")[2] for k in names})
    fig, axes = panels(len(transforms), 3.4, 3.0, sharey=True)
    for ax, tr in zip(axes, transforms):
        truth, est = [], {"MINE (training, last 20%)": [], "MINE (held-out batch)": [],
                          "Gaussian log-det": [], "Gaussian copula": []}
        for k in names:
            if k.split("/")[2] != tr:
                continue
            u = units[k]
            tail = max(1, len(u["values"]) // 5)
            truth.append(u["truth"])
            est["MINE (training, last 20%)"].append(u["values"][-tail:].mean(0))
            est["MINE (held-out batch)"].append(u["held_out_dv"])
            est["Gaussian log-det"].append(u["gaussian"])
            est["Gaussian copula"].append(u["copula"])
        truth = np.asarray(truth)
        for (label, vals), mk in zip(est.items(), ("o", "s", "^", "v")):
            v = np.asarray(vals)
            ax.plot(np.repeat(truth[:, None], v.shape[1], 1).ravel(), v.ravel(), mk, alpha=0.8,
                    label=label, ls="none")
        lim = [0, float(truth.max()) * 1.15 + 0.1]
        ax.plot(lim, lim, color="k", lw=0.8, ls="--", label="truth")
        ax.set_title(f"data: {tr}")
        ax.set_xlabel("true MI (nats)")
    axes[0].set_ylabel("estimate (nats)")
    axes[-1].legend(loc="upper left")
    return fig


def paper_setting_curves(units: Mapping[str, Any], smooth: float = 0.05) -> plt.Figure:
    names = [k for k in units if k.startswith("paper_setting/")]
    fig, ax = plt.subplots(figsize=(4.8, 2.8))
    for k in names:
        u = units[k]
        line, = ax.plot(ema(u["values"].mean(1), smooth), label=k.removeprefix("paper_setting/"))
        ax.axhline(u["truth"], color=line.get_color(), ls="--", lw=0.8)
    ax.set_xlabel("critic step (fresh samples each step)")
    ax.set_ylabel("DV estimate (nats)")
    ax.legend(title="true MI / transform", ncols=2)
    return fig


def game(units: Mapping[str, Any]) -> plt.Figure:
    names = [k for k in units if k.startswith("game/")]
    fig, axes = panels(len(names), 3.6, 2.8, sharey=True)
    for ax, k in zip(axes, names):
        u = units[k]
        steps = np.arange(u["true_mi"].shape[0])
        for t in range(u["true_mi"].shape[1]):
            ax.plot(steps, u["true_mi"][:, t], color="C0", alpha=0.8,
                    label="true MI" if t == 0 else None)
            ax.plot(steps[1:], u["estimate"][:, t], color="C1", alpha=0.6,
                    label="critic's DV estimate" if t == 0 else None)
        ax.set_title(f"{u['k']} critic steps per sampler step")
        ax.set_xlabel("sampler step")
    axes[0].set_ylabel("nats")
    axes[0].legend()
    return fig


# --------------------------------------------------------------------------- working memory
