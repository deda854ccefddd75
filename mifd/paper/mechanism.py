"""Why do the modules fade? What RMSprop does to each parameter group (``wm-mechanism`` runs).

Reads the looks at the optimizers that :mod:`mifd.experiments.wm_mechanism` records: per
parameter group the median √v, the share of parameters with v < ε (where ε's placement changes
the step) and the median step taken (in units of the learning rate), beside the modularity
Q_cor of the same trials; one figure and a sentence computed from it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .options import named_differences

#: the runs of the page: label → ``wm-mechanism`` ``book`` overrides (the same four seeds)
RUNS = {"ε inside √": {"rmsprop_eps": "inside"}, "ε outside √": {"rmsprop_eps": "outside"}}
#: the groups drawn (the rest stay in the result)
SHOWN = ("W_rec within", "W_out", "critic fx.weight", "critic head.hidden.0.weight")
#: a group counts as one where ε's placement acts when at least this share of it has v < ε late
#: in training under either placement
ACTS = 0.05
#: the statistics network's output bias: the DV bound is unchanged by a constant added to the
#: critic's output, so its gradient is zero up to rounding (v < ε always) and it changes nothing
SHIFT = "critic head.out.bias"
#: the share of training counted as "late" in the sentence
LATE = 0.2


def committed_runs(profile: str = "book", store: Any = None) -> tuple[dict[str, Any], list[str]]:
    """The committed ``wm-mechanism`` runs of :data:`RUNS` and the commands for the missing."""
    from ..results.stored import stored_runs
    return stored_runs("wm-mechanism", profile, RUNS, store)


def _series(rr: Any, quantity: str, group: str) -> tuple[np.ndarray, np.ndarray]:
    m = rr.result["mechanism"]
    j = list(m["groups"]).index(group)
    return np.asarray(m["epochs"]), np.asarray(m[quantity])[:, j, :]  # (looks, trials)


def late_mean(rr: Any, quantity: str, group: str, late: float = LATE) -> float:
    """Mean over trials and the last ``late`` share of the looks."""
    ep, v = _series(rr, quantity, group)
    keep = ep >= ep[-1] * (1 - late)
    return float(np.nanmean(v[keep]))


def late_table(runs: Mapping[str, Any], late: float = LATE) -> "pd.DataFrame":
    """Per parameter group (rows) and run: the share with v < ε and the median step (in
    learning rates) over the last ``late`` share of training, mean over trials."""
    import pandas as pd
    first = next(iter(runs.values()))
    rows = {}
    for g in first.result["mechanism"]["groups"]:
        row = {}
        for label, rr in runs.items():
            row[(label, "v < ε")] = late_mean(rr, "share_v_below_eps", g, late)
            row[(label, "step / lr")] = late_mean(rr, "step", g, late)
        rows[g] = row
    out = pd.DataFrame(rows).T
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def sentence(runs: Mapping[str, Any], groups: Sequence[str] | None = None) -> str:
    """Late in training, where ε's placement acts: the groups with at least :data:`ACTS` of
    their parameters at v < ε under either run (``groups``: those to consider, default all),
    each with its share and median step under every run, and the groups where it cannot act;
    computed, for the page."""
    t = late_table(runs)
    names = [g for g in (groups or t.index) if g in t.index]
    share = t.xs("v < ε", axis=1, level=1)
    acts = [g for g in names if share.loc[g].max() >= ACTS]
    quiet = [g for g in names if g not in acts]
    labels = " / ".join(runs)
    step = t.xs("step / lr", axis=1, level=1)
    bits = []
    for g in acts:
        shares = " / ".join(f"{share.loc[g, lbl]:.0%}" for lbl in runs)
        steps = " / ".join(f"{step.loc[g, lbl]:.2g}" for lbl in runs)
        bits.append(f"**{g}** {shares} with v < ε, median step {steps} × lr"
                    + (" (the output bias: the DV bound ignores a constant added to the "
                       "critic's output, so its steps change nothing)" if g == SHIFT else ""))
    cfg = getattr(next(iter(runs.values())), "config", None)
    other = named_differences(cfg, skip=("rmsprop_eps",)) if cfg is not None else []
    text = (f"Over the last {LATE:.0%} of training (mean over trials; {labels}"
            + "".join(f"; {w}, not the default" for w in other)
            + "), ε's placement acts directly only where v is near or below ε (√(v + ε) and "
            "√v + ε differ by less than ε/(2√v) where v ≫ ε): ")
    text += ("; ".join(bits) + ". " if bits else "in no group. ")
    if quiet:
        text += (f"In {', '.join(quiet)} fewer than {ACTS:.0%} of the parameters have v < ε "
                 "under either placement, so there the placement changes no step directly; the "
                 "steps there still differ between the runs, because their trajectories have "
                 "parted. ")
    return text + ("ε inside √ divides by at least √ε (≈ 3.2e-4), ε outside by as little as "
                   "ε (1e-7): a parameter whose gradient has gone quiet takes steps up to "
                   "~3000× larger with ε outside.")


def figure(runs: Mapping[str, Any], groups: Sequence[str] = SHOWN):
    """Rows: √v (median), the share with v < ε, the median step / lr; columns: parameter
    groups; one colour per run (mean over trials, shaded: min–max)."""
    import matplotlib.pyplot as plt
    rows = (("sqrt_v", "median √v"), ("share_v_below_eps", "share with v < ε"),
            ("step", "median |Δw| / lr"))
    fig, axes = plt.subplots(len(rows), len(groups), figsize=(7.0, 5.6),
                             sharex=True, squeeze=False, layout="constrained")
    for c, g in enumerate(groups):
        for r, (q, name) in enumerate(rows):
            ax = axes[r, c]
            for k, (label, rr) in enumerate(runs.items()):
                ep, v = _series(rr, q, g)
                ax.plot(ep, np.nanmean(v, 1), color=f"C{k}", label=label)
                ax.fill_between(ep, np.nanmin(v, 1), np.nanmax(v, 1), color=f"C{k}", alpha=0.2)
            if q != "share_v_below_eps":
                ax.set_yscale("log")
            if c == 0:
                ax.set_ylabel(name)
            if r == 0:
                ax.set_title(g, fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    axes[0, 0].legend()
    return fig


#: a change counts as shown at this two-sided level (paired Wilcoxon)
ALPHA = 0.05
#: an MI estimate counts as minimized below this share of the no-MI condition's level
MINIMIZED = 0.5
#: epochs of the centred moving average that smooths the per-epoch MI estimates
SMOOTH = 51


def smoothed(h: np.ndarray, width: int = SMOOTH) -> np.ndarray:
    """Centred moving average over epochs (axis 0; edges padded with the end values)."""
    k = np.ones(width) / width
    pad = (width // 2, width - 1 - width // 2)
    return np.stack([np.convolve(np.pad(c, pad, mode="edge"), k, "valid") for c in h.T], 1)


def smoothed_history(rr: Any, key: str, condition: str) -> np.ndarray:
    """``rr``'s per-epoch history ``key`` of ``condition``'s trials, :func:`smoothed`
    ``(epochs, trials)``."""
    return smoothed(rr.layout.split(np.asarray(rr.result["hist"][key], float))[condition])


def critic_below_zero(rr: Any, condition: str = "mi") -> tuple[int, int]:
    """How many of ``condition``'s trials have a critic whose MI estimate — a lower bound
    (DV, Eq. 4), :data:`SMOOTH`-epoch smoothed — falls below zero at some epoch (a bound on
    MI below zero: the critic has broken down), of how many."""
    h = smoothed_history(rr, "sm_mi", condition)
    return int((np.nanmin(h, axis=0) < 0).sum()), int(h.shape[1])


def mi_at_peak(rr: Any, condition: str = "mi", metric: str = "Q_cor") -> "pd.DataFrame":
    """Per trial of ``condition``: the epoch of its ``metric`` peak, the metric there and at
    the end, and both MI estimates (the statistics network's, ``sm_mi``, and the MM step's,
    ``mi``; smoothed over :data:`SMOOTH` epochs) there and at the end. Does the dependence
    between the groups come back as the modules fade, or does it stay minimized?"""
    import pandas as pd
    from .persistence import trial_series
    ep, seeds, q = trial_series(rr, metric, condition)
    hist = {k: smoothed_history(rr, k, condition) for k in ("sm_mi", "mi")}
    rows = []
    for t in range(q.shape[1]):
        i = int(np.nanargmax(q[:, t]))
        e = int(ep[i])
        row = {"seed": int(seeds[t]), "peak epoch": e, f"{metric} peak": q[i, t],
               f"{metric} end": q[-1, t]}
        for k, name in (("sm_mi", "critic"), ("mi", "MM step")):
            row[f"MI ({name}) at peak"] = hist[k][max(e - 1, 0), t]
            row[f"MI ({name}) end"] = hist[k][-1, t]
        rows.append(row)
    return pd.DataFrame(rows).set_index("seed")


def _settings(labels: Sequence[str]) -> str:
    """Setting labels in a sentence, each in bold (a label may hold commas of its own)."""
    b = [f"**{x}**" for x in labels]
    return b[0] if len(b) == 1 else ", ".join(b[:-1]) + " and " + b[-1]


def mi_sentence(runs: Mapping[str, Any], no_mi: Any = None, metric: str = "Q_cor") -> str:
    """Computed: per run, the mean ``metric`` at the trials' peaks and at the end beside the
    critic's MI estimate at the same two moments (and that of the no-MI condition of
    ``no_mi`` at the end, the level without minimization), with the paired test of the
    change in MI between the two moments."""
    from scipy import stats
    from .persistence import trial_series
    parts, stays = [], []
    for label, rr in runs.items():
        d = mi_at_peak(rr, metric=metric)
        a, b = d["MI (critic) at peak"].to_numpy(), d["MI (critic) end"].to_numpy()
        p = float("nan") if len(a) < 6 else (  # every difference zero: no change at all
            float(stats.wilcoxon(b, a).pvalue) if np.any(a != b) else 1.0)
        stays.append((label, p, float(a.mean()), float(b.mean())))
        last = int(trial_series(rr, metric, "mi")[0][-1])  # the last snapshot, by its epoch
        parts.append(f"**{label}** (n = {len(d)}): {metric} {d[f'{metric} peak'].mean():.2f} at "
                     f"the peaks, {d[f'{metric} end'].mean():.3f} at epoch {last}, while the "
                     "critic's "
                     f"MI estimate goes from {a.mean():.2f} to {b.mean():.2f} nats "
                     + (f"(paired Wilcoxon p = {p:.2g})" if np.isfinite(p) else
                        f"(not testable at n = {len(a)})"))
    text = "; ".join(parts) + "."
    if no_mi is not None and "no_mi" in no_mi.config.conditions:
        level = float(np.median(smoothed_history(no_mi, "sm_mi", "no_mi")[-1]))
        text += (f" Without MI minimization the same critic estimates {level:.2f} nats at the "
                 "end (median over trials).")
        low = [lbl for lbl, p, _, end in stays
               if np.isfinite(p) and p >= ALPHA and end < MINIMIZED * level]
        fell = [lbl for lbl, p, peak, end in stays if p < ALPHA and end < peak]
        if low:
            text += (f" So under {_while_modules(low, runs, metric)}, the critic's estimate "
                     "stays low (no change detected between the peaks and the end at these n, "
                     f"and below {MINIMIZED:.0%} of the level without minimization) — by the "
                     "measure the network was trained against; whether the dependence itself "
                     "stays low, critic-free estimates tell (`mifd.paper.dependence`).")
        if fell:
            text += (f" Under {_while_modules(fell, runs, metric)}, it falls further after the "
                     f"peaks (p < {ALPHA:g}).")
        rose = [(lbl, end) for lbl, p, peak, end in stays if p < ALPHA and end > peak]
        if rose:
            low_still = all(end < MINIMIZED * level for _, end in rose)
            text += (f" Under {_while_modules([lbl for lbl, _ in rose], runs, metric)}, it "
                     f"rises after the peaks (p < {ALPHA:g})"
                     + (f", still below {MINIMIZED:.0%} of the level without minimization."
                        if low_still else "."))
    return text


def _while_modules(labels: Sequence[str], runs: Mapping[str, Any], metric: str) -> str:
    """``"**a** and **b**, while the modules fade, and **c**, while they stay"``: the settings
    grouped by whether their mean ``metric`` fades (:func:`mifd.paper.persistence.fades`)."""
    from .persistence import fades
    fade = [lbl for lbl in labels if fades(runs[lbl], metric)]
    stay = [lbl for lbl in labels if lbl not in fade]
    return ", and ".join(
        f"{_settings(group)}, while {'the modules' if i == 0 else 'they'} {verb}"
        for i, (group, verb) in enumerate((g, v) for g, v in ((fade, "fade"), (stay, "stay"))
                                          if g))


def watched(rr: Any) -> bool:
    """Whether a ``wm-mechanism`` run recorded the critic's units and the critic-free MI."""
    return "critic_silent" in rr.result["mechanism"]


def _critic_course(rr: Any) -> dict[str, Any]:
    """Per look: the silent share per critic layer (mean over trials), and per trial the
    copula MI and the critic's smoothed estimate at the looks, with Q_cor at the snapshots."""
    from .persistence import trial_series
    m = rr.result["mechanism"]
    ep = np.asarray(m["epochs"])
    sm = smoothed_history(rr, "sm_mi", "mi")
    q_ep, _, q = trial_series(rr, "Q_cor", "mi")
    return {"epochs": ep, "layers": list(m["critic_layers"]),
            "silent": np.asarray(m["critic_silent"], float),       # (looks, layers, T)
            "copula": np.asarray(m["copula_mi"], float),            # (looks, T)
            "critic": sm[ep - 1],                                   # (looks, T)
            "q_epochs": np.asarray(q_ep), "q": q}


def critic_sentence(runs: Mapping[str, Any], late: float = LATE) -> str:
    """Computed, per run that recorded them: the share of the critic's silent units per layer
    at the first look and over the last ``late`` share of training, and the copula MI of the
    MM batch beside the critic's estimate at each trial's Q_cor peak and at the end
    (medians over trials)."""
    parts = []
    for label, rr in runs.items():
        if not watched(rr):
            continue
        c = _critic_course(rr)
        ep, T = c["epochs"], c["silent"].shape[-1]
        keep = ep >= ep[-1] * (1 - late)
        first = " / ".join(f"{v:.0%}" for v in c["silent"][0].mean(-1))
        last = " / ".join(f"{v:.0%}" for v in c["silent"][keep].mean((0, 2)))
        peak = [int(np.argmin(np.abs(ep - c["q_epochs"][int(np.nanargmax(c["q"][:, t]))])))
                for t in range(T)]
        cop_pk = np.median([c["copula"][i, t] for t, i in enumerate(peak)])
        cri_pk = np.median([c["critic"][i, t] for t, i in enumerate(peak)])
        parts.append(
            f"**{label}** (n = {T}): silent units in the critic's "
            f"{' / '.join(c['layers'])} layer: {first} at epoch {int(ep[0])}, {last} over the "
            f"last {late:.0%} of training; at the trials' Q_cor peaks the copula MI of the MM "
            f"batch is {cop_pk:.2f} nats and the critic estimates {cri_pk:.2f}, at the end "
            f"{np.median(c['copula'][-1]):.2f} and {np.median(c['critic'][-1]):.2f} (medians)")
    if not parts:
        return ""
    return "; ".join(parts) + "."


def critic_figure(runs: Mapping[str, Any]):
    """Over training, one colour per run: the share of the critic's silent units per hidden
    layer (mean over trials; line style per layer), the copula MI of the MM batch and the
    critic's own estimate (medians over trials), and Q_cor (mean over trials)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.5), layout="constrained")
    styles = ("-", "--", ":", "-.")
    for k, (label, rr) in enumerate(runs.items()):
        if not watched(rr):
            continue
        c = _critic_course(rr)
        for j, layer in enumerate(c["layers"]):
            axes[0].plot(c["epochs"], c["silent"][:, j].mean(-1), color=f"C{k}",
                         ls=styles[j % len(styles)], label=f"{label}: {layer}")
        axes[1].plot(c["epochs"], np.median(c["copula"], 1), color=f"C{k}",
                     label=f"{label}: copula MI")
        axes[1].plot(c["epochs"], np.median(c["critic"], 1), color=f"C{k}", ls="--",
                     label=f"{label}: critic")
        axes[2].plot(c["q_epochs"], c["q"].mean(1), color=f"C{k}", label=label)
    for ax, (title, ylabel) in zip(axes, (("critic's silent units", "share of the layer"),
                                          ("MI between the groups", "nats"),
                                          ("functional modularity", "Q_cor (mean)"))):
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("epoch")
        ax.legend()
    return fig


#: the setting of the fade's screen that tests the mechanism: a critic whose units cannot fall
#: silent (:data:`mifd.paper.persistence.SCREEN`, found by these overrides)
UNSILENCEABLE = {"critic_act": "leaky_relu_0.25"}


def silence_test(screen: Mapping[str, Any], metric: str = "Q_cor") -> str:
    """The mechanism put to a test, computed: if the modules fade because the critic's units
    fall silent, a critic whose units cannot (:data:`UNSILENCEABLE`) should keep them. Against
    the screen's reference (its first setting) on paired seeds at the end of training: how many
    trials keep ≥ :data:`~mifd.paper.persistence.KEEP` of their peak under each, the mean
    ``metric`` and the paired difference with its two-sided Wilcoxon p. The rule: *supported*
    when the difference is positive and p < :data:`~mifd.paper.persistence.ALPHA`;
    *contradicted* when it is negative and p < α; otherwise *not shown at n = …* — one test,
    the one the mechanism named before the setting ran, so unadjusted; the same setting's p
    after Holm's adjustment over all the screen's settings (how the screen itself judges it) is
    given beside it. Empty when the setting is not committed."""
    from . import persistence as P
    ref = next(iter(P.SCREEN))
    label = next((k for k, (over, _) in P.SCREEN.items() if over == UNSILENCEABLE), None)
    if label is None or label not in screen or ref not in screen:
        return ""
    a, b = screen[label], screen[ref]
    family, adjusted = P.against(screen, ref, metric, P.EPOCHS[-1])  # the test: the family's
    t = family[label]
    keep = {}
    for name, rr in ((label, a), (ref, b)):
        epochs, seeds, v = P.trial_series(rr, metric)
        v = v[:, np.isin(seeds, t["seeds"])]  # the paired seeds only
        end = P.at_epoch(epochs, v, P.EPOCHS[-1])
        keep[name] = (int(P.kept(v).sum()), v.shape[1], float(end.mean()))
    p, d, n = t["p"], t["mean difference"], t["n"]
    verdict = ("supported" if np.isfinite(p) and p < P.ALPHA and d > 0 else
               "contradicted" if np.isfinite(p) and p < P.ALPHA and d < 0 else
               f"not shown at n = {n}")
    (ka, na, ma), (kb, nb, mb) = keep[label], keep[ref]
    adj = adjusted[label]
    m = int(sum(np.isfinite(f["p"]) for f in family.values()))
    beside = (f" It is the one test the mechanism named before this setting ran, hence "
              f"unadjusted; as one of the screen's {m} settings, judged as the screen "
              f"judges them (Holm), its p is {adj:.2g}"
              + (" and the difference is shown there too." if adj < P.ALPHA else
                 ": not shown there.") if m > 1 and np.isfinite(adj) else "")
    return (f"**The mechanism put to a test.** If the modules fade because the critic's units "
            f"fall silent, a critic whose units cannot ({label}) should keep them. On {n} "
            f"paired seeds it keeps them in {ka} of {na} trials against {kb} of {nb} with the "
            f"{ref}; {metric} at epoch {P.EPOCHS[-1]} {ma:.3f} against {mb:.3f}, a paired "
            f"difference of {d:+.3f} (Wilcoxon p = {p:.2g}): *{verdict}*." + beside)
