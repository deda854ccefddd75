"""Do the functional modules stay? Working-memory settings side by side over all 1000 epochs.

The paper reports its modularity at the end of training (Q_cor 0.299 ± 0.153 at epoch 1000).
In our runs the modules form at about that level by epoch ~300 and then fade. This module
compares settings of the working-memory run (RMSprop's ε placement, the SM:MM schedule, the
critic, λ_I, …) trial by trial on paired seeds: each metric at epochs 300, 500 and 1000, each
trial's peak, how many trials *keep* their modules (final value ≥ :data:`KEEP` × their peak),
a paired test at the last epoch, and one sentence computed from those numbers.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..experiments.base import Layout
from .formatting import agree, and_list

#: a trial *keeps* its modules when its final value is at least this fraction of its peak
#: (the issue's definition: "how many trials keep ≥ 75% of their peak")
KEEP = 0.75
#: the epochs at which the settings are compared (the modules peak by about 300; the paper's
#: value is the one at the end of training, 1000)
EPOCHS = (300, 500, 1000)
METRICS = ("Q_cor", "D_cor", "Q_str")
#: a paired difference at the last epoch counts as shown at this two-sided level
ALPHA = 0.05


#: the screen of the fade's causes (issue 39, item 2): label → the wm ``book`` overrides of
#: the MI condition and its seed shards ``(first seed, trials)``, all 1000 epochs, the book critic
#: unless the setting is the critic. The first is the default (RMSprop's ε inside √ and a bias on
#: both of the critic's first-layer Dense layers, as in the authors' code) and the reference of
#: the paired tests; every other setting changes one thing, except the last, the ε comparison
#: made before the default took the authors' two critic biases. A setting is shown once all its
#: shards are committed; the page names those still missing.
SCREEN: dict[str, tuple[dict[str, Any], tuple[tuple[int, int], ...]]] = {
    "default (ε inside √, two critic biases)": ({}, ((1001, 10), (1011, 10))),
    "ε outside √ (torch)": ({"rmsprop_eps": "outside"}, ((1001, 10),)),
    "one critic bias": ({"critic_double_bias": False}, ((1001, 10), (1011, 10))),
    "20 SM steps per MM step": ({"sm_per_mm": 20}, ((1001, 10),)),
    "λ_I = 0.12": ({"lambda_mi": 0.12}, ((1001, 10),)),
    # two shards of five trials (≈ 2 h of one core each, side by side on two cores: one
    # session; ten trials in one process take ≈ 4 h, more than a session). The critic still
    # trains on the 4 000 samples of its 2 sequences per SM step (``sm_samples`` only draws from
    # an estimate larger than it): the 16 384 samples are those of the RNN's MI term (the
    # default's 4 096, of the MM batch's 40 000)
    "critic 256 wide, the RNN's MI term on 16 384 samples": ({"sm_width": 256,
                                                             "sm_samples": 16384},
                                                            ((1001, 5), (1006, 5))),
    # the other half of "all its data" below, alone: the RNN's MI term (the MM step's
    # estimate, whose gradient the RNN follows) on every sample of its batch instead of 4 096
    # of the 40 000, the critic trained as by default
    "the RNN's MI term on all 40 000 samples": ({"sm_samples": 0}, ((1001, 10),)),
    # the critic's data spread over all 20 sequences at about the default's number of samples
    # (4 096 random ones of their 40 000 per SM step, against all 4 000 of 2 sequences), the
    # RNN's MI term as by default: more sequences, not more samples. Shards: the 100
    # pre-training passes batched over 20 sequences hold ≈ 5 GB per trial, so a shard of four
    # (≈ 1 h of one core) does not fit beside another in 24 GB: one shard of four, the rest of two
    "critic on 4 096 samples of all 20 sequences": ({"sm_batch": 0},
                                                    ((1001, 2), (1003, 2), (1005, 4),
                                                     (1009, 2), (1011, 2), (1013, 2), (1015, 2),
                                                     (1017, 2))),
    # the critic's data as in the authors' harness runs (and theirs): every sample of every
    # sequence per SM step; its first five shards (seeds 1001-1010) are ours beside the authors'
    # code (mifd.paper.authors.OURS_SHARDS)
    "critic on all 20 sequences and 40 000 samples": ({"sm_batch": 0, "sm_samples": 0},
                                                       ((1001, 2), (1003, 2), (1005, 2),
                                                        (1007, 2), (1009, 2), (1011, 2),
                                                        (1013, 2), (1015, 2), (1017, 2),
                                                        (1019, 2))),
    # what the mechanism points to: the critic's second layer falls silent as the modules fade
    # (mifd.paper.mechanism); a leaky-ReLU critic has no unit that can
    "leaky-ReLU critic (no silent units)": ({"critic_act": "leaky_relu_0.25"},
                                            ((1001, 10), (1011, 10))),
    "one critic bias, ε outside √": ({"critic_double_bias": False, "rmsprop_eps": "outside"},
                                     ((1001, 10),)),
}


#: the screen's setting whose critic sees all its data per SM step, as published (every sample
#: of every sequence): two changes from the book critic at once — the critic trains on all 20
#: sequences instead of 2, and the RNN's MI term uses every sample of its batch instead of a
#: random 4 096 (:data:`MI_TERM_ALL` makes only the second; :data:`mifd.paper.planned.PLANNED`
#: compares the two)
FULL_DATA = {"sm_batch": 0, "sm_samples": 0}
#: the screen's setting with only the RNN's MI term on every sample of its batch, the critic
#: trained as by default (the second half of :data:`FULL_DATA`)
MI_TERM_ALL = {"sm_samples": 0}


#: the no-MI condition of the 20-trial default ``book`` run (the MI condition is the screen's
#: first setting), in seed shards of five trials (≈ 40 minutes of one core each, so that two fit
#: beside other work in what is left of a session)
NO_MI_SHARDS = ((1001, 5), (1006, 5), (1011, 5), (1016, 5))


def _shard_overrides(over: Mapping[str, Any], seed: int, trials: int) -> dict[str, Any]:
    return {"conditions": ("mi",), **over, "seed": seed, "trials": trials}


def screen_runs(profile: str = "book", store: Any = None) -> tuple[dict[str, Any], list[str]]:
    """The committed runs of :data:`SCREEN` (``profile`` ``book``; its committed shards
    combined, so a setting shows as soon as one shard is in) and the commands that would make
    the shards not committed yet (a setting partly committed names the seeds it lacks). Nothing
    is trained."""
    from ..results import shards
    from ..results.stored import stored_or_command
    runs, missing = {}, []
    for label, (over, parts) in SCREEN.items():
        got, lack = [], []
        for seed, trials in parts:
            rr, cmd = stored_or_command("wm", profile, _shard_overrides(over, seed, trials),
                                           store)
            if rr is None:
                lack.append((seed, trials, cmd))
            else:
                got.append(rr)
        missing += [(f"{label} (seeds {seed}–{seed + trials - 1})" if got else label)
                    + f": {cmd}" for seed, trials, cmd in lack]
        if got:
            runs[label] = got[0] if len(got) == 1 else shards.combine(got)
    return runs, missing


def screen_label(overrides: Mapping[str, Any]) -> str | None:
    """The label of the setting of :data:`SCREEN` whose overrides are exactly ``overrides``,
    else ``None``."""
    return next((k for k, (over, _) in SCREEN.items() if over == dict(overrides)), None)

def pending_line(missing: Sequence[str]) -> str:
    """One line for the page naming the settings of :func:`screen_runs`'s ``missing`` (each
    ``"label: command"``), in the screen's order, and how they get made; ``""`` if none."""
    from ..results.stored import pending_line as line
    return line(missing, len(SCREEN))


def placement_pair(screen: Mapping[str, Any], rr: Any) -> dict[str, Any]:
    """The setting of ``screen`` (committed runs of :data:`SCREEN`) that differs from the
    defaults at most by RMSprop's ε placement and has the other placement than ``rr`` —
    ``{label: run}``, empty when not committed: the comparison beside the page's run."""
    from ..experiments import get_experiment
    default = get_experiment("wm").config_cls().rmsprop_eps
    eps = getattr(rr.config, "rmsprop_eps", None)
    for label, (over, _) in SCREEN.items():
        if set(over) <= {"rmsprop_eps"} and over.get("rmsprop_eps", default) != eps \
                and label in screen:
            return {label: screen[label]}
    return {}


def trial_series(rr: Any, metric: str, condition: str = "mi") -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """``(epochs, seeds, values)`` of one snapshot metric: values ``(snapshots, trials)`` of
    ``condition``'s trials, seeds in trial order."""
    res = rr.result
    lay = Layout.of(res) if rr.layout is None else rr.layout
    vals = lay.split(np.asarray(res["snaps"][metric], dtype=float))[condition]
    seeds = np.asarray(lay.seeds()[:lay.per_condition])
    return np.asarray(res["snap_epochs"]), seeds, vals


def at_epoch(epochs: np.ndarray, values: np.ndarray, epoch: int) -> np.ndarray:
    """Each trial's value at the snapshot ``epoch`` (the last snapshot at or before it)."""
    i = int(np.searchsorted(epochs, epoch, side="right")) - 1
    return values[max(i, 0)]


def kept(values: np.ndarray, keep: float = KEEP) -> np.ndarray:
    """Per trial: whether its final value is at least ``keep`` × its peak (a trial whose peak
    is not positive has no modules to keep: ``False``)."""
    peak = np.nanmax(values, axis=0)
    return (peak > 0) & (values[-1] >= keep * peak)


def table(runs: Mapping[str, Any], condition: str = "mi", metrics: Sequence[str] = METRICS,
          epochs: Sequence[int] = EPOCHS) -> pd.DataFrame:
    """One row per setting and metric: mean ± s.d. at each of ``epochs``, the mean peak and the
    median epoch of the peak, and the trials that keep their modules (:func:`kept`)."""
    rows = []
    for label, rr in runs.items():
        for m in metrics:
            ep, _, v = trial_series(rr, m, condition)
            row: dict[str, Any] = {"setting": label, "metric": m, "n": v.shape[1]}
            for e in epochs:
                if e <= ep[-1]:
                    x = at_epoch(ep, v, e)
                    row[f"epoch {e}"] = _mean_sd(x)
            peak_i = np.nanargmax(v, axis=0)
            row["mean peak"] = round(float(np.mean(np.nanmax(v, axis=0))), 3)
            row["median peak epoch"] = round(float(np.median(ep[peak_i])))  # as the timing page
            k = kept(v)
            row[f"keep ≥ {KEEP:.0%} of peak"] = f"{int(k.sum())}/{k.size}"
            row["CPU min per trial"] = cost(rr)
            rows.append(row)
    return pd.DataFrame(rows)


def _mean_sd(x: np.ndarray) -> str:
    """``mean ± s.d.`` of the trials' values (the value alone for one trial)."""
    return f"{np.mean(x):.3f} ± {np.std(x, ddof=1):.3f}" if x.size > 1 else f"{x[0]:.3f}"


def summary(runs: Mapping[str, Any], reference: str, condition: str = "mi",
            metric: str = "Q_cor") -> pd.DataFrame:
    """The screen at a glance, one row per setting (index: its label and trials, as the
    figure names it, so that no narrow column holds the count): what :func:`sentence` says per
    setting — ``metric``'s mean ± s.d. at epoch 300 and at the last snapshot, the trials that
    keep their modules (*kept*, :func:`kept`) — and, against ``reference`` on the seeds both ran, the
    mean paired difference at the last snapshot, its Wilcoxon p with, in brackets, the p after
    :func:`holm`'s adjustment over the settings compared, and whether a difference is shown
    (adjusted p < :data:`ALPHA`)."""
    tests, adjusted = against(runs, reference, metric, condition=condition)
    rows = []
    for label, rr in runs.items():
        ep, _, v = trial_series(rr, metric, condition)
        k, last = kept(v), int(ep[-1])
        row: dict[str, Any] = {"setting": f"{label} (n = {v.shape[1]})",
                               f"{metric} at epoch {EPOCHS[0]}": _mean_sd(at_epoch(ep, v,
                                                                                  EPOCHS[0])),
                               f"{metric} at epoch {last}": _mean_sd(v[-1]),
                               "kept": f"{int(k.sum())}/{k.size}"}
        t = tests.get(label)
        if t is None:
            row.update({"paired Δ": "(reference)" if label == reference else "",
                        "p (Holm)": "", "shown": ""})
        else:
            adj = adjusted[label]
            row.update({"paired Δ": f"{t['mean difference']:+.3f}",
                        "p (Holm)": f"{t['p']:.2g} ({adj:.2g})",
                        "shown": "yes" if np.isfinite(adj) and adj < ALPHA else "no"})
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def cost(rr: Any) -> float:
    """Wall minutes per trial of the run (one core; shards summed), NaN if not recorded. A run
    of several conditions counts all its trials."""
    wall = (getattr(rr, "meta", None) or {}).get("wall_seconds")
    if not wall:
        return math.nan
    lay = rr.layout
    return round(float(wall) / 60 / lay.size, 1)


def paired(a: Any, b: Any, metric: str = "Q_cor", epoch: int = 1000,
           condition: str = "mi", first: int | None = None) -> dict[str, Any]:
    """Setting ``a`` against ``b`` on the seeds both ran (only the ``first`` of them, in seed
    order, if given): the paired difference a − b of ``metric`` at ``epoch`` (mean, and per
    seed) and the two-sided Wilcoxon signed-rank p."""
    ea, sa, va = trial_series(a, metric, condition)
    eb, sb, vb = trial_series(b, metric, condition)
    common = np.intersect1d(sa, sb)[:first]
    xa = at_epoch(ea, va, epoch)[np.searchsorted(sa, common)]
    xb = at_epoch(eb, vb, epoch)[np.searchsorted(sb, common)]
    d = xa - xb
    p = math.nan
    if d.size >= 2 and np.any(d != 0):
        p = float(stats.wilcoxon(d).pvalue)
    return {"metric": metric, "epoch": epoch, "n": int(d.size), "mean difference": float(d.mean())
            if d.size else math.nan, "p": p, "seeds": common.tolist(), "differences": d.tolist()}


def sentence(runs: Mapping[str, Any], reference: str, condition: str = "mi",
             metric: str = "Q_cor", paper_level: float | None = None,
             per_setting: bool = True) -> str:
    """What the reader should conclude, computed: in which settings the mean of ``metric``
    stays from its peak-time epoch (300) to the end, and (``per_setting``; a page that shows
    :func:`summary` instead leaves it out) per setting the mean at both, how many trials keep
    their modules, and — against ``reference`` on paired seeds — the difference at the end and
    whether it is shown (p < :data:`ALPHA` after :func:`holm`'s adjustment over the settings
    compared, as in :func:`conclusion`)."""
    stay = [label for label, rr in runs.items() if not fades(rr, metric, condition)]
    last = int(trial_series(next(iter(runs.values())), metric, condition)[0][-1])
    # the last snapshot is named by its epoch; "the end of training" is the final evaluation
    head = (f"In every setting the mean {metric} at epoch {last} is below {KEEP:.0%} of its "
            f"value at epoch {EPOCHS[0]}: the modules form and then fade." if not stay else
            f"The mean {metric} at epoch {last} stays at {KEEP:.0%} or more of its value at "
            f"epoch {EPOCHS[0]} with {and_list([f'**{k}**' for k in stay])}"
            + (f"; in the other {len(runs) - len(stay)} "
               f"{agree(len(runs) - len(stay), 'setting', 'settings')} it falls below: the "
               "modules form and then fade there." if len(stay) < len(runs) else "."))
    if paper_level is not None:
        head += f" The paper's value at the end of training is {paper_level:.3f}."
    parts = _setting_parts(runs, reference, condition, metric) if per_setting else []
    return " ".join([head, *parts])


def _setting_parts(runs: Mapping[str, Any], reference: str, condition: str,
                   metric: str) -> list[str]:
    """:func:`sentence`'s sentence per setting (what :func:`summary` holds as a table)."""
    parts = []
    tests, adjusted = against(runs, reference, metric, condition=condition)
    for label, rr in runs.items():
        ep, _, v = trial_series(rr, metric, condition)
        k = kept(v)
        start = at_epoch(ep, v, EPOCHS[0]).mean()
        end = v[-1].mean()
        s = (f"**{label}** (n = {v.shape[1]}): mean {metric} {start:.3f} at epoch {EPOCHS[0]}, "
             f"{end:.3f} at epoch {int(ep[-1])}; {int(k.sum())} of {k.size} trials "
             f"{agree(k.sum(), 'keeps', 'keep')} ≥ {KEEP:.0%} of "
             f"{agree(k.sum(), 'its', 'their')} peak")
        if label in tests:
            t, adj = tests[label], adjusted[label]
            shown = bool(np.isfinite(adj) and adj < ALPHA)
            s += (f"; against {reference} on {t['n']} paired seeds {t['mean difference']:+.3f} "
                  f"(Wilcoxon p = {t['p']:.2g}"
                  + (f", {adj:.2g} after Holm's adjustment for {len(tests)} settings"
                     if len(tests) > 1 else "") + ": "
                  + ("a difference shown" if shown else
                     f"no difference shown at n = {t['n']}") + ")")
        parts.append(s + ".")
    return parts


def fades(rr: Any, metric: str = "Q_cor", condition: str = "mi") -> bool:
    """Whether the run's mean ``metric`` at its last snapshot is below :data:`KEEP` × its mean
    at the first of :data:`EPOCHS` (300): the modules form and then fade (else they stay)."""
    ep, _, v = trial_series(rr, metric, condition)
    return bool(v[-1].mean() < KEEP * at_epoch(ep, v, EPOCHS[0]).mean())


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of a family of p-values (label → p; NaN left out of the
    family and kept NaN): the adjusted p of the i-th smallest is the running maximum of
    min(1, (m − i) × p) over the first i (i from 0), m the finite p-values."""
    finite = sorted((p, k) for k, p in pvalues.items() if np.isfinite(p))
    m, out, run = len(finite), {k: math.nan for k in pvalues}, 0.0
    for i, (p, k) in enumerate(finite):
        run = max(run, min(1.0, (m - i) * p))
        out[k] = run
    return out


def against(runs: Mapping[str, Any], reference: str, metric: str = "Q_cor",
            epoch: int | None = None, condition: str = "mi"
            ) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Every setting of ``runs`` but ``reference`` against it on paired seeds at ``epoch``
    (default: the reference's last snapshot): :func:`paired`'s test per setting and its p
    after :func:`holm`'s adjustment over them. ``({}, {})`` without the reference."""
    if reference not in runs:
        return {}, {}
    if epoch is None:
        epoch = int(trial_series(runs[reference], metric, condition)[0][-1])
    tests = {k: paired(rr, runs[reference], metric, epoch, condition)
             for k, rr in runs.items() if k != reference}
    return tests, holm({k: t["p"] for k, t in tests.items()})


def conclusion(runs: Mapping[str, Any], reference: str, condition: str = "mi",
               metrics: Sequence[str] = ("Q_cor", "D_cor")) -> str:
    """The screen's answer in one paragraph, computed: per metric, the settings whose paired
    difference from ``reference`` at the last epoch is shown (Wilcoxon, p < :data:`ALPHA`
    after :func:`holm`'s adjustment over the settings compared), with its sign — or, where none
    is, the largest difference and its p (unadjusted and adjusted); ``""`` with no other
    setting."""
    others = [k for k in runs if k != reference]
    if reference not in runs or not others:
        return ""
    out, family = [], 0
    for m in metrics:
        last = int(trial_series(runs[reference], m, condition)[0][-1])
        tests, adj = against(runs, reference, m, last, condition)
        family = max(family, sum(np.isfinite(t["p"]) for t in tests.values()))
        shown = [(k, t) for k, t in tests.items() if np.isfinite(adj[k]) and adj[k] < ALPHA]
        if shown:
            out.append(f"{m} at epoch {last}: " + "; ".join(
                f"{'higher' if t['mean difference'] > 0 else 'lower'} with **{k}** "
                f"({t['mean difference']:+.3f} on {t['n']} paired seeds, p = {t['p']:.2g}, "
                f"adjusted {adj[k]:.2g})" for k, t in shown))
        else:
            k, t = max(((k, t) for k, t in tests.items() if np.isfinite(t["p"])),
                       key=lambda kt: abs(kt[1]["mean difference"]), default=(None, None))
            out.append(f"{m} at epoch {last}: no setting differs at these n" + (
                f" (the largest difference: **{k}**, {t['mean difference']:+.3f} on {t['n']} "
                f"paired seeds, p = {t['p']:.2g}, adjusted {adj[k]:.2g})" if k else ""))
    return (f"**Against {reference}** (paired Wilcoxon on the seeds both ran, p < {ALPHA:g} "
            f"after Holm's adjustment for the {family} settings compared): "
            + "; ".join(out) + ".")


def figure(runs: Mapping[str, Any], condition: str = "mi", metrics: Sequence[str] = METRICS,
           paper_levels: Mapping[str, float] | None = None):
    """Per metric (columns) and setting (rows, named above their first panel): every trial's
    time course (thin) and the mean (thick); the MM step's and the statistics network's MI
    estimates (median over trials) in the last column; the paper's end-of-training level as a
    dashed line. Each column shares its y axis, so the settings compare at a glance."""
    import matplotlib.pyplot as plt
    n_rows, n_cols = len(runs), len(metrics) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(7.0, 1.6 * n_rows + 0.4),
                             squeeze=False, sharex=True, sharey="col", layout="constrained")
    for r, (label, rr) in enumerate(runs.items()):
        n = rr.layout.per_condition
        axes[r, 0].set_title(f"{label} (n = {n})", fontsize=9, loc="left")
        for c, m in enumerate(metrics):
            ax = axes[r, c]
            ep, _, v = trial_series(rr, m, condition)
            ax.plot(ep, v, color="0.6", lw=0.6)
            ax.plot(ep, v.mean(1), color="C0", lw=2, label="mean")
            if paper_levels and m in paper_levels:
                ax.axhline(paper_levels[m], color="C3", ls="--", lw=1, label="paper (end)")
            ax.set_ylabel(m)
        ax = axes[r, -1]
        lay = rr.layout
        for key, color, name in (("mi", "C1", "MM step"), ("sm_mi", "C2", "critic (SM)")):
            h = lay.split(np.asarray(rr.result["hist"][key], dtype=float))[condition]
            ax.plot(np.arange(1, h.shape[0] + 1), np.median(h, axis=1), color=color, label=name)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_ylabel("MI estimate (nats)")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    handles = [h for ax in (axes[0, 0], axes[0, -1]) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    return fig

