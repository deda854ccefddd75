"""The authors' code beside ours, as two samples of trials (issue 39, item 3).

The decisive comparison for the fade of the modules: the authors' TensorFlow working-memory code
(:mod:`mifd.authors`, their commit, Keras 2.15's RMSprop) and our ``wm`` run at exactly the same
settings — the book's statistics-network width (:data:`WIDTH`), all 20 sequences and all
40 000 samples per SM step, RMSprop's ε inside the square root, the MI condition — on the same
seeds. Where their code keeps its modules and ours does not, the two differ somewhere still to be
found; where both fade, the published code fades too. Nothing is trained here: the records and
runs are committed (``make authors …`` and ``mifd jobs``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import reported
from .formatting import agree
from .reported import band_floor

#: the statistics network's width of the comparison (the ``book`` profile's)
WIDTH = 64
#: training length of the comparison (the paper's)
EPOCHS = 1000
#: ours at the authors' harness settings: the ``book`` profile with all 20 sequences
#: (``sm_batch=0``) and all samples (``sm_samples=0``) per SM step, ε inside √ (Keras 2.15),
#: the critic's first layer with both biases (their code), the MI condition only
OURS = {"conditions": ("mi",), "rmsprop_eps": "inside", "sm_batch": 0, "sm_samples": 0,
        "critic_double_bias": True}
#: our runs in seed shards ``(first seed, trials)`` of two trials (one core each): with all 20
#: sequences per SM step the 100 batched pre-training passes hold about 4 GB per trial at their
#: peak (a five-trial shard reached 14 GB and was killed for memory beside other work on a 24 GB
#: machine); after them a two-trial shard holds 2 GB
OURS_SHARDS = ((1001, 2), (1003, 2), (1005, 2), (1007, 2), (1009, 2))
#: the epochs compared (the modules peak by about 300; the paper's value is the one at 1000)
AT = (300, 1000)
METRICS = ("Q_cor", "D_cor", "Q_str")
#: fewer trials than this on either side: no test between the two codes
MIN_SAMPLE = 6


def ours_overrides(seed: int, trials: int) -> dict[str, Any]:
    """The ``wm`` ``book`` overrides of one of our shards."""
    return {**OURS, "seed": seed, "trials": trials}


def committed_ours(profile: str = "book", store: Any = None) -> tuple[Any, list[str]]:
    """Our committed runs at the comparison's settings — the shards committed so far from the
    first seed on, combined (``None`` before the first) — and the commands that make the
    others."""
    from ..config import config_hash
    from ..experiments import get_experiment
    from ..results import shards
    from ..results.runner import run
    from ..results.store import Store
    from .._version import __version__
    store = store or Store()
    exp = get_experiment("wm")
    got, missing = [], []
    for seed, trials in OURS_SHARDS:
        over = ours_overrides(seed, trials)
        if missing or store.committed_entry("wm", config_hash(
                "wm", exp.config(profile, over), __version__)) is None:
            missing.append(f"mifd run wm --profile {profile} " + " ".join(
                f"--set {k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in over.items()))
            continue
        got.append(run("wm", profile, "cpu", over, store=store, verbose=False, progress=False))
    if not got:
        return None, missing
    return (got[0] if len(got) == 1 else shards.combine(got)), missing


def committed_theirs(width: int = WIDTH, epochs: int = EPOCHS) -> list[dict[str, Any]]:
    """The committed records of the authors' code at ``width`` and ``epochs``, by seed."""
    from ..authors import load_records
    try:
        return load_records(width=width, epochs=epochs)
    except Exception:  # no results/committed (outside a checkout): nothing committed
        return []


def keras_named(theirs: Sequence[dict[str, Any]]) -> str:
    """The RMSprop the authors' records ran: ``"Keras 2.15's RMSprop"`` from the Keras
    versions their ``meta`` records (every version, major.minor), ``"Keras' RMSprop"`` without
    a record."""
    got = sorted({".".join(str(r.get("meta", {}).get("run", {}).get("keras") or "").split(".")[:2])
                  for r in theirs} - {""})
    return f"Keras {' / '.join(got)}'s RMSprop" if got else "Keras' RMSprop"


def _course(epochs: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """A trial's metric at :data:`AT`, its peak and the peak's epoch."""
    out = {}
    for e in AT:
        i = int(np.searchsorted(epochs, e, side="right")) - 1
        out[f"{e}"] = float(values[max(i, 0)])
    i = int(np.nanargmax(values))
    out.update({"peak": float(values[i]), "peak epoch": int(epochs[i])})
    return out


def table(theirs: Sequence[dict[str, Any]], ours: Any = None, metric: str = "Q_cor"
          ) -> pd.DataFrame:
    """Per seed: ``metric`` of the authors' code and of ours at epochs :data:`AT` and at its
    peak (NaN where a side has no trial of that seed)."""
    from .persistence import trial_series
    rows: dict[int, dict[str, float]] = {}
    for rec in theirs:
        c = _course(np.asarray(rec["snap_epochs"]), np.asarray(rec["snaps"][metric], float))
        rows.setdefault(int(rec["seed"]), {}).update({("theirs", k): v for k, v in c.items()})
    if ours is not None:
        ep, seeds, v = trial_series(ours, metric, "mi")
        for t, s in enumerate(seeds):
            c = _course(ep, v[:, t])
            rows.setdefault(int(s), {}).update({("ours", k): v for k, v in c.items()})
    df = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    if df.empty:
        return df
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "seed"
    order = [*(f"{e}" for e in AT[:-1]), "peak", "peak epoch", f"{AT[-1]}"]  # as in training
    return df[sorted(df.columns, key=lambda c: (c[0] != "theirs", order.index(c[1])))]


def sentence(theirs: Sequence[dict[str, Any]], ours: Any = None, metric: str = "Q_cor",
             keep: float = 0.75) -> str:
    """Computed: how many of each side's trials keep ≥ ``keep`` of their peak at the end and
    how many end at or above the paper's band (:func:`mifd.paper.reported.band_floor`), the
    means at the end, and the two sides' peaks and values at the end compared as two samples
    (a seed does not pair trials: each code draws its own initial weights from it)."""
    df = table(theirs, ours, metric)
    paper = reported.WM["mi"][metric]  # the paper's end-of-training mean ± sd
    if df.empty:
        return "No record of the authors' code and no run of ours at these settings yet."
    parts = []
    for side, name in (("theirs", "the authors' code"), ("ours", "ours")):
        if (side, "1000") not in df:
            parts.append(f"{name}: not committed yet")
            continue
        d = df[side].dropna()
        k = int((d["1000"] >= keep * d["peak"]).sum())
        band = int((d["1000"] >= band_floor(paper)).sum())
        parts.append(f"{name} (n = {len(d)}): mean {metric} {d['300'].mean():.3f} at epoch 300, "
                     f"{d['1000'].mean():.3f} at epoch 1000; {k} of {len(d)} trials "
                     f"{agree(k, 'keeps', 'keep')} ≥ "
                     f"{keep:.0%} of their peak, {band} end at or above the paper's band "
                     f"(≥ {band_floor(paper):.3f})")
    text = "; ".join(parts) + "."
    if ("theirs", "1000") in df and ("ours", "1000") in df:
        for at, what in (("peak", "Each trial's peak"), ("1000", "At epoch 1000")):
            a = df[("theirs", at)].dropna().to_numpy()
            b = df[("ours", at)].dropna().to_numpy()
            text += (f" {what}, ours against theirs: {b.min():.3f}–{b.max():.3f} against "
                     f"{a.min():.3f}–{a.max():.3f}, median {np.median(b):.3f} against "
                     f"{np.median(a):.3f}")
            text += f" ({two_samples(b, a)})."
        text += (" A seed labels a run on each side, but the two codes draw their initial "
                 "weights and noise differently from it, so the comparison is between two "
                 "samples, not pairs.")
    return text


def silenced_sentence(theirs: Sequence[dict[str, Any]], ours: Any = None) -> str:
    """How many trials of each side end with a group silenced (the failure-modes rule,
    :data:`mifd.paper.silencing.RULE`): ours by the whole rule; theirs, whose records keep the
    weights but not the rates, by its readout half (:func:`mifd.paper.silencing.readout_ratio`),
    which bounds the count from above; ``""`` with neither side."""
    from scipy import stats
    from . import rules, silencing
    parts, counts = [], []
    if ours is not None:
        m = silencing.of_run(ours)
        m = m[m["condition"] == "mi"]
        counts.append((int(m["silenced"].sum()), len(m)))
        parts.append(f"ours in {counts[-1][0]} of {len(m)} trials")
    if theirs:
        r = silencing.readout_ratio(np.stack([np.asarray(rec["weights"]["W_out"][-1])
                                              for rec in theirs]))
        low = r < silencing.SILENCED_WOUT
        k = int(low.sum())
        counts.append((k, len(r)))
        seeds = ", ".join(str(int(rec["seed"])) for rec, lo in zip(theirs, low) if lo)
        parts.append(
            (f"the authors' code in at most {k} of {len(r)}: {k} (seed{'s' if k > 1 else ''} "
             f"{seeds}) {'meets' if k == 1 else 'meet'} the rule's readout half, a |W_out| ratio "
             f"below {silencing.SILENCED_WOUT:g} (their lowest {r.min():.2f}); their records keep no "
             "rates, so the rule's other half cannot be checked") if k else
            (f"the authors' code in none of {len(r)}: none meets even the rule's readout half, a "
             f"|W_out| ratio below {silencing.SILENCED_WOUT:g} (their lowest {r.min():.2f})"))
    if not parts:
        return ""
    text = "A group silenced at the end (the failure-modes rule): " + "; ".join(parts)
    if len(counts) == 2 and min(n for _, n in counts) >= MIN_SAMPLE:
        p = float(stats.fisher_exact([[k, n - k] for k, n in counts])[1])
        text += (f" (Fisher's exact p = {p:.2g}"
                 + (", their count at its upper bound: " if counts[1][0] else ": ")
                 + ("a difference shown" if p < rules.ALPHA else
                    f"no difference shown at n = {counts[0][1]} and {counts[1][1]}") + ")")
    elif len(counts) == 2:
        text += f" (not testable at n = {counts[0][1]} and {counts[1][1]})"
    return text + "."


def committed_swaps(width: int = WIDTH, epochs: int = EPOCHS) -> list[dict[str, Any]]:
    """The committed records of the authors' code started from *our* initial weights
    (``python -m mifd.authors run --init-from ours``), by seed; ``[]`` before the first."""
    from ..authors import load_records
    try:
        return [r for r in load_records(width=width, epochs=epochs, init_from=None)
                if r["settings"].get("init_from")]
    except Exception:  # no results/committed (outside a checkout)
        return []


def swap_sentence(swaps: Sequence[dict[str, Any]], ours: Any = None,
                  metric: str = "Q_cor") -> str:
    """The causal test of the two codes, computed: per seed whose initial weights the authors'
    code started from (:func:`committed_swaps`), whether it ends with a group silenced by the
    rule's readout half (:func:`mifd.paper.silencing.readout_ratio`) and its ``metric`` peak and
    end — beside ours from the same weights (``ours``: our run at their settings, its trial
    of that seed, by the whole rule); ``""`` without a swap."""
    from . import silencing
    if not swaps:
        return ""
    mine: dict[int, bool] = {}
    if ours is not None:
        m = silencing.of_run(ours)
        m = m[m["condition"] == "mi"]
        seeds = ours.layout.seeds()[:ours.layout.per_condition]
        mine = {int(s): bool(v) for s, v in zip(seeds, m["silenced"])}
    parts, same, known = [], 0, 0
    for rec in sorted(swaps, key=lambda r: r["seed"]):
        r = float(silencing.readout_ratio(np.asarray(rec["weights"]["W_out"][-1:]))[0])
        theirs = r < silencing.SILENCED_WOUT
        v = np.asarray(rec["snaps"][metric], float)
        s = int(rec["seed"])
        text = (f"seed {s}: {'a group silenced' if theirs else 'no group silenced'} "
                f"(|W_out| ratio {r:.2f}), {metric} peak {np.nanmax(v):.3f}, end {v[-1]:.3f}")
        if s in mine:
            known += 1
            same += int(mine[s] == theirs)
            text += f"; ours from the same weights: {'silenced' if mine[s] else 'not silenced'}"
        parts.append(text)
    head = (f"**The authors' code started from our initial weights** ({len(swaps)} "
            f"seed{'s' if len(swaps) != 1 else ''}; their noise and task streams): ")
    tail = (f" The route follows the weights in {same} of {known}." if known else "")
    return head + "; ".join(parts) + "." + tail


def two_samples(ours: np.ndarray, theirs: np.ndarray) -> str:
    """``"Mann–Whitney p = …: a difference shown"`` (or ``no difference shown at n = …``) of
    our trials' values against theirs, as two samples (a seed does not pair trials across the
    codes); ``"not testable at n = …"`` below :data:`MIN_SAMPLE` on either side."""
    from scipy import stats
    from . import rules
    if min(ours.size, theirs.size) < MIN_SAMPLE:
        return f"not testable at n = {ours.size} and {theirs.size}"
    p = float(stats.mannwhitneyu(ours, theirs).pvalue)
    return (f"Mann–Whitney p = {p:.2g}: " + ("a difference shown" if p < rules.ALPHA else
                                             f"no difference shown at n = {ours.size} and "
                                             f"{theirs.size}"))


def short_answer(theirs: Sequence[dict[str, Any]], ours: Any = None,
                 metric: str = "Q_cor") -> str:
    """One sentence for the landing page: the functional modules of the authors' own code
    (:func:`committed_theirs`) — the mean at epoch 300 and at epoch 1000 and how many trials
    end in the paper's band — and, given ``ours`` (our run at exactly their settings,
    :func:`committed_ours`), the same of ours, whether the two codes' values at epoch 1000
    differ (:func:`two_samples`) and the claims table's verdict of the paper's end-of-training
    value judged on ours (:func:`mifd.paper.wm.paper_table`); ``""`` before the first record."""
    df = table(theirs, ours, metric)
    if df.empty or ("theirs", f"{AT[-1]}") not in df:
        return ""
    floor = band_floor(reported.WM["mi"][metric])
    words = {}
    for side in ("theirs", "ours"):
        if (side, f"{AT[-1]}") in df:
            d = df[side].dropna()
            words[side] = (len(d), float(d[f"{AT[0]}"].mean()), d[f"{AT[-1]}"].to_numpy(),
                           int((d[f"{AT[-1]}"] >= floor).sum()))
    n, early, end, band = words["theirs"]
    text = (f"The authors' code ({n} seeds, critic {WIDTH} wide, all its data): {early:.2f} at "
            f"epoch {AT[0]}, {end.mean():.3f} at epoch {AT[-1]}, {band} of {n} end in the band")
    if "ours" in words:
        n2, early2, end2, band2 = words["ours"]
        text += (f"; ours at these settings: {early2:.2f} and "
                 f"{end2.mean():.3f}, {band2} of {n2} ({two_samples(end2, end)}")
        if "trials" in ours.result:  # its final evaluation, judged as the claims table judges
            from .wm import paper_table
            text += (f"; the paper's end-of-training {metric} judged on it by the book's rules: "
                     f"<em>{paper_table(ours).loc[('mi', metric), 'verdict']}</em>")
        text += ")"
    return text + "."


def figure(theirs: Sequence[dict[str, Any]], ours: Any = None, metric: str = "Q_cor",
           columns: int = 5):
    """One panel per seed: ``metric`` over training in the authors' code (solid) and in ours
    at the same settings (dashed), where each side has that seed."""
    import matplotlib.pyplot as plt
    from .persistence import trial_series
    curves: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for rec in theirs:
        curves.setdefault(int(rec["seed"]), {})["the authors' code"] = (
            np.asarray(rec["snap_epochs"]), np.asarray(rec["snaps"][metric], float))
    if ours is not None:
        ep, seeds, v = trial_series(ours, metric, "mi")
        for t, s in enumerate(seeds):
            curves.setdefault(int(s), {})["ours"] = (ep, v[:, t])
    seeds = sorted(curves)
    if not seeds:
        raise ValueError("parameter 'theirs': got no record and no run of ours; allowed: at "
                         "least one seed on either side")
    cols = min(columns, len(seeds))
    rows = -(-len(seeds) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols + 0.6, 1.6 * rows + 0.5),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    for ax, s in zip(axes.flat, seeds):
        for side, style in (("the authors' code", "-"), ("ours", "--")):
            if side in curves[s]:
                ax.plot(*curves[s][side], ls=style, color="C0" if style == "-" else "C1",
                        label=side)
        ax.set_title(f"seed {s}", fontsize=8)
    for ax in axes.flat[len(seeds):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    handles = {lbl: h for ax in axes.flat[:len(seeds)]
               for h, lbl in zip(*ax.get_legend_handles_labels())}
    if len(seeds) < axes.size:  # the legend in the first empty cell, off the curves
        box = axes.flat[len(seeds)]
        box.set_visible(True)
        box.axis("off")
        box.legend(handles.values(), handles.keys(), loc="center")
    else:
        axes.flat[0].legend(handles.values(), handles.keys())
    return fig
