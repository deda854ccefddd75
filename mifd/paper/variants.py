"""Beyond the paper: the working-memory experiment under each paper-versus-code option, and
under ``mifd``'s reduced-precision speed option.

Where the paper's text and the authors' code differ (book appendix "Paper versus the authors'
code"), ``mifd`` follows the code and offers the text's version as an option. This module runs
the MI condition once per option, everything else as in the chosen profile, and compares each
variant with the reference run trial by trial: trial ``t`` of every run starts from the same seed, and a
trial's result does not depend on the other trials in its batch (tested), so the comparison is
paired (Wilcoxon signed-rank, two-sided; the paired t-test beside it).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..results.runner import run
from ..results.stored import stored_run, stored_runs
from . import rules
from .formatting import and_list as _and

#: option name → (config overrides, what it changes)
VARIANTS: Mapping[str, tuple[dict[str, Any], str]] = {
    "noise inside α": ({"noise": "inside"}, "paper Eq. 1: the noise is scaled by α"),
    "step target": ({"target": "step"}, "paper text: the target jumps to ±1 at a pulse"),
    "20 SM steps": ({"sm_per_mm": 20}, "paper text: 20 statistics-network steps per RNN step"),
    "RMSprop ε outside √": ({"rmsprop_eps": "outside"}, "torch's RMSprop (and TensorFlow ≤ "
                            "2.10's): ε added after the square root, both networks"),
    "one critic bias": ({"critic_double_bias": False}, "a plain MLP: one bias on the "
                        "statistics network's first layer where the authors' code sums two "
                        "(the same function; under RMSprop the doubled bias moves about twice "
                        "as fast)"),
    "bf16 critic": ({"sm_precision": "bf16"}, "a speed option of mifd, not in the paper: the "
                    "statistics network's matmuls in bfloat16 (autocast)"),
}
METRICS = ("Q_cor", "D_cor", "Q_str", "D_out", "mse", "accuracy")
#: per profile, the settings every run of this page uses (the reference and each variant alike,
#: so that the comparison stays paired): the `book` profile's full 1000 epochs — the modules
#: form by epoch ~300 and fade after ~500, so an option's effect may show only late — on the
#: MI condition's first ten seeds, so that the reference is the first MI shard of the 20-trial
#: run and a variant that is also a setting of the fade's screen
#: (:data:`mifd.paper.persistence.SCREEN`) is the same run
BASE = {"book": {"conditions": ("mi",), "seed": 1001, "trials": 10}}
#: the name of the run every variant is compared with
REFERENCE = "reference (the defaults: ε inside √, two critic biases)"


#: the variants that are speed options of ``mifd``, not paper-versus-code differences
SPEED_OPTIONS = ("bf16 critic",)


def differences() -> tuple[str, ...]:
    """The variants that are paper-versus-code differences (:data:`VARIANTS` less the speed
    options, :data:`SPEED_OPTIONS`)."""
    return tuple(v for v in VARIANTS if v not in SPEED_OPTIONS)


def wanted_runs(profile: str, names: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Label → overrides of the reference run and of one MI-only run per variant (``names``, by
    default all of :data:`VARIANTS`), with this page's settings of ``profile`` (:data:`BASE`)."""
    base = BASE.get(profile, {})
    wanted = {REFERENCE: dict(base)}
    for name in names or tuple(VARIANTS):
        wanted[name] = {**base, "conditions": ("mi",), **VARIANTS[name][0]}
    return wanted


def run_variants(profile: str = "book", device: str = "auto",
                 names: tuple[str, ...] | None = None, train: bool = True, **kw
                 ) -> tuple[dict[str, Any], list[str]]:
    """The reference run (its MI trials) and one MI-only run per variant
    (:func:`wanted_runs`), trained or loaded; and ``"name: command"`` for each run not in the
    store when ``train`` is false (then nothing is trained: the ``book`` page shows what is
    committed — a variant at 1000 epochs takes over an hour of a core)."""
    wanted = wanted_runs(profile, names)
    if not train:
        return stored_runs("wm", profile, wanted)
    return {name: run("wm", profile, device, over, **kw) for name, over in wanted.items()}, []


def committed(profile: str = "book", store: Any = None) -> tuple[list[str], list[str]]:
    """``(measured, pending)``: the variants of :data:`VARIANTS` whose run and the reference's
    are both in the store, at this page's settings of ``profile`` (:func:`wanted_runs`, the
    source the variants page reads), and the others; nothing is loaded or trained."""
    from ..results.stored import is_stored
    wanted = wanted_runs(profile)
    ref = is_stored("wm", profile, wanted.pop(REFERENCE), store)
    measured = [v for v, over in wanted.items() if ref and is_stored("wm", profile, over, store)]
    return measured, [v for v in wanted if v not in measured]


def screen_shared(profile: str = "book", screen: Mapping[str, tuple[dict, tuple]] | None = None
                  ) -> list[str]:
    """The variants that are also settings of the working-memory chapter's comparison of
    settings for the modules' fade (:data:`mifd.paper.persistence.SCREEN` of the ``book``
    profile, or ``screen``) at this page's seeds (:data:`BASE`): the same runs; none at a
    profile without such settings."""
    if screen is None:
        from .persistence import SCREEN as screen
    base = BASE.get(profile)
    if profile != "book" or not base:
        return []
    return [v for v, (over, _) in VARIANTS.items()
            if any(o == over and (base["seed"], base["trials"]) in shards
                   for o, shards in screen.values())]


def screen_line(shared: Sequence[str]) -> str:
    """One line naming the variants of :func:`screen_shared` (Markdown)."""
    if not shared:
        return ""
    return (f"{_and(shared)} {'is' if len(shared) == 1 else 'are'} also among the settings "
            "compared in \"Do the modules stay?\" of {ref}`chap-wm`: the same runs.")


def measured_sentence(measured: Sequence[str], pending: Sequence[str]) -> str:
    """The discrepancy appendix's line on the paper's versions (:func:`differences`): which of
    them are measured against the default and which are not committed yet (``measured``,
    ``pending``: :func:`committed`)."""
    diffs = differences()
    done = [v for v in measured if v in diffs]
    todo = [v for v in pending if v in diffs]
    head = (f"The other version of each of the {len(diffs)} paper-versus-code differences "
            f"that change the working-memory model or its training ({', '.join(diffs)}) is run "
            "on the MI condition with the default's seeds and compared trial by trial with the "
            "default")
    if not done:
        return head + ": none is committed yet."
    return (head + ": " + ("measured so far for " if todo else "measured for ") + _and(done)
            + (f"; not committed yet for {_and(todo)}" if todo else "") + ".")


def option_sentence(name: str, measured: Sequence[str]) -> str:
    """Whether the variant ``name`` (e.g. the speed option ``bf16 critic``) is measured on the
    working-memory metrics yet (``measured``: :func:`committed`)."""
    over = ", ".join(f"{k}={v}" for k, v in VARIANTS[name][0].items())
    return (f"its effect on the working-memory metrics (`{over}`, the variant *{name}*) is "
            + ("measured" if name in measured else "not measured yet: its run is not committed"))


def _mi(rr: Any, metric: str) -> np.ndarray:
    return np.asarray(rr.result["trials"]["mi"][metric], dtype=float)


def table(runs: Mapping[str, Any]) -> pd.DataFrame:
    """Mean ± sd of each metric per variant, and the paired difference from the reference."""
    names = list(runs)
    base = runs[names[0]]
    rows = []
    for name in names:
        rr = runs[name]
        for m in METRICS:
            x = _mi(rr, m)
            mean, sd, *_ , n = rules.mean_ci(x)
            row = {"variant": name, "metric": m, "mean ± sd": rules.fmt(mean, sd, n)}
            if name != names[0]:
                b = _mi(base, m)
                k = min(len(b), len(x))
                d = x[:k] - b[:k]
                row["paired Δ (mean)"] = f"{d.mean():+.3f}"
                row["Wilcoxon p"] = (f"{stats.wilcoxon(d).pvalue:.2g}"
                                     if k >= 2 and np.any(d != 0) else "—")
                row["paired t p"] = (f"{stats.ttest_rel(x[:k], b[:k]).pvalue:.2g}"
                                     if k >= 2 and np.std(d) > 0 else "—")
            rows.append(row)
    return pd.DataFrame(rows).fillna("—").set_index(["variant", "metric"])


def pending_line(missing: Sequence[str], of: int | None = None) -> str:
    """One line naming the runs of :func:`run_variants`'s ``missing`` and how they get made:
    the variants counted out of ``of`` (default: all of :data:`VARIANTS`), the reference named
    apart; ``""`` if none."""
    names = _names(missing)
    todo = [v for v in names if v != REFERENCE]
    if not names:
        return ""
    of = len(VARIANTS) if of is None else of
    count = (("the reference run" + (" and " if todo else "")) if REFERENCE in names else "") \
        + ((f"all {of} variants" if len(todo) == of else f"{len(todo)} of the {of} variants")
           if todo else "")
    return (f"*Not committed yet* ({count}): " + "; ".join(names)
            + ". `mifd jobs` runs them (the commands: `mifd jobs --list`).")


def describe() -> pd.DataFrame:
    return pd.DataFrame([{"variant": k, "overrides": ", ".join(f"{a}={b}" for a, b in o.items()),
                          "what it changes": d} for k, (o, d) in VARIANTS.items()]
                        ).set_index("variant")


#: the separation comparison of the discrepancy appendix: the ``book`` profile's L2 + MI
#: condition with Keras' Adam ε and the authors' doubled critic bias, beside the committed run
SEPARATION_KERAS = {"conditions": ("mi_l2",), "sweep_l2": (), "adam_eps": 1e-7,
                    "critic_double_bias": True}
SEPARATION_METRICS = ("R2", "Q_cor", "D_cor", "Q_str", "D_out", "NMI")


#: separation's bf16 state storage (``sm_states``, a speed option of mifd for the GPU, not in
#: the paper): the ``book`` profile's L2 + MI condition for its first 400 MM steps (a tenth),
#: beside the committed ``book`` run, whose first 400 steps are the same computation in fp32 up
#: to float rounding (its batch holds more trials, which batched products may round otherwise)
SEPARATION_BF16 = {"conditions": ("mi_l2",), "sweep_l2": (), "sm_states": "bf16",
                   "mm_steps": 400}
#: its control: the same condition and steps in fp32, alone in its batch — what rounding-level
#: differences alone (a batch of 5 trials instead of 20) do to the same quantities
SEPARATION_FP32_ALONE = {k: v for k, v in SEPARATION_BF16.items() if k != "sm_states"}


def bf16_states_effect(base: Any, other: Any, condition: str = "mi_l2",
                       control: Any | None = None) -> pd.DataFrame:
    """What storing the statistics network's GRU states in bf16 changes (``other``, a run of
    :data:`SEPARATION_BF16`) against the fp32 run ``base`` (the same seeds, trained at least as
    long), trial by trial: the critic's estimate after its pre-training steps (the same GRU
    weights in both: only the rounding of its inputs differs), the MI estimate of the MM steps
    averaged over ``other``'s steps, and every metric at ``other``'s last evaluation beside
    ``base``'s evaluation at that step. Per row: mean of each, the paired difference, its
    largest magnitude, the two-sided Wilcoxon p, and the trial-to-trial sd of ``base`` (the
    scale a tolerance is judged against); with ``control`` (a run of
    :data:`SEPARATION_FP32_ALONE`), the largest magnitude of its own paired difference from
    ``base``: what differences at the level of rounding alone do to the same quantity."""
    steps = other.config.mm_steps
    at = list(np.asarray(base.result["snap_epochs"])).index(steps)

    def quantities(rr: Any, snap: int = -1) -> dict[str, np.ndarray]:
        i = rr.config.layout().index(condition)
        out = {"critic estimate after pre-training (pre_mi)": rr.result["pre_mi"][i],
               f"MI estimate, mean of MM steps 1–{steps}":
               np.nanmean(rr.result["hist"]["mi"][:steps, i], 0)}
        for m in SEPARATION_METRICS:
            out[f"{m} at MM step {steps}"] = np.asarray(rr.result["snaps"][m][snap])[i]
        return out

    ref = quantities(base, at)
    got = quantities(other)
    ctl = quantities(control) if control is not None else None
    rows = []
    for name, b in ref.items():
        b, x = np.asarray(b, dtype=float), np.asarray(got[name], dtype=float)
        d = x - b
        row = {"quantity": name, "fp32 (committed)": f"{b.mean():.4g}",
               "bf16 states": f"{x.mean():.4g}", "paired Δ (mean)": f"{d.mean():+.2g}",
               "max |Δ|": f"{np.abs(d).max():.2g}"}
        if ctl is not None:
            row["max |Δ|, fp32 alone (control)"] = \
                f"{np.abs(np.asarray(ctl[name], dtype=float) - b).max():.2g}"
        row.update({"sd of fp32 trials": f"{b.std(ddof=1):.2g}" if len(b) > 1 else "—",
                    "Wilcoxon p": f"{stats.wilcoxon(d).pvalue:.2g}"
                    if len(d) >= 2 and np.any(d != 0) else "—", "n": len(d)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("quantity")


def bf16_states_sentence(table: pd.DataFrame) -> str:
    """What :func:`bf16_states_effect`'s table says, by one stated rule: a row is *within
    tolerance* if bf16 states' largest paired difference there is within ten times the
    control's (rounding alone) or within a tenth of the trial-to-trial sd; a mean shift is
    tested separately (two-sided Wilcoxon; at n ≤ 5 no p can fall below 0.05, so it is "not
    testable"), and the smallest p the rows gave is said as observed."""
    rows = []
    for name, r in table.iterrows():
        d, sd = float(r["max |Δ|"]), float(r["sd of fp32 trials"])
        ctl = float(r["max |Δ|, fp32 alone (control)"]) if "max |Δ|, fp32 alone (control)" \
            in table.columns else float("nan")
        if not (d <= 10 * ctl or d <= 0.1 * sd):
            rows.append(f"{name} (up to {d:.2g}; rounding alone {ctl:.2g}; trial sd {sd:.2g})")
    n = int(table["n"].iloc[0])
    ps = [float(p) for p in table["Wilcoxon p"] if p != "—"]
    floor = rules.signed_rank_floor(n)
    mean = (f"not testable at n = {n} (the smallest p {n} pairs can give is {floor:.2g})"
            if floor >= 0.05 else "detected" if ps and min(ps) < 0.05 else "not detected")
    observed = (f"; the smallest p observed over the rows is {min(ps):.2g}" if ps else "")
    if not rows:
        return (f"Every row is within tolerance (at most ten times the difference rounding "
                f"alone makes, or a tenth of the trial-to-trial sd). A mean shift over the "
                f"trials: {mean}{observed}.")
    return (f"bf16 states change single trials by more than the tolerance (ten times the "
            f"difference rounding alone makes, or a tenth of the trial-to-trial sd) in "
            f"{len(rows)} of {len(table)} rows: " + "; ".join(rows)
            + f". A mean shift over the trials: {mean}{observed}.")


def paired_effect(base: Any, other: Any, condition: str, metrics: tuple[str, ...]) -> str:
    """One sentence: per metric, the mean paired difference ``other − base`` at the end of
    training (the runs' final evaluations) over the trials of ``condition`` (trial t of each from
    the same seed) and its two-sided Wilcoxon p."""
    parts = []
    for m in metrics:
        b = np.asarray(base.result["trials"][condition][m], dtype=float)
        x = np.asarray(other.result["trials"][condition][m], dtype=float)
        k = min(len(b), len(x))
        d = x[:k] - b[:k]
        p = f"{stats.wilcoxon(d).pvalue:.2g}" if k >= 2 and np.any(d != 0) else "—"
        parts.append(f"{m} {d.mean():+.3g} (p = {p})")
    small = (f"; with n = {k} no difference can reach p < 0.05: not testable at n = {k}"
             if rules.signed_rank_floor(k) >= 0.05 else "")
    return (f"paired over n = {k} trials at the end of training (the final evaluation): "
            + ", ".join(parts) + small)


def effects(runs: Mapping[str, Any], large: float = 2.0) -> pd.DataFrame:
    """Per variant and metric: the paired mean difference from the reference, in units of the
    reference's s.d. over trials (``z``), and whether it is *large* (``|z| > large``)."""
    names = list(runs)
    base = runs[names[0]]
    rows = []
    for name in names[1:]:
        for m in METRICS:
            b, x = _mi(base, m), _mi(runs[name], m)
            k = min(len(b), len(x))
            d = float(np.mean(x[:k] - b[:k]))
            sd = float(np.std(b, ddof=1)) if len(b) > 1 else float("nan")
            z = d / sd if sd > 0 else float("nan")
            rows.append({"variant": name, "metric": m, "delta": d, "z": z,
                         "large": bool(abs(z) > large)})
    return pd.DataFrame(rows, columns=["variant", "metric", "delta", "z", "large"])


def _names(missing: Sequence[str]) -> list[str]:
    """The labels of :func:`run_variants`'s ``missing`` (``"label: command"``), once each."""
    return list(dict.fromkeys(m.split(": mifd ")[0] for m in missing))


def thresholds(runs: Mapping[str, Any], large: float = 2.0) -> dict[str, tuple[float, float]]:
    """Per metric: the smallest mean paired difference :func:`effects` calls *large*
    (``large`` × the reference's s.d. over trials) and the reference's mean."""
    base = runs[next(iter(runs))]
    return {m: (large * float(np.std(_mi(base, m), ddof=1)) if len(_mi(base, m)) > 1
                else float("nan"), float(np.mean(_mi(base, m)))) for m in METRICS}


def findings(runs: Mapping[str, Any], large: float = 2.0, pending: Sequence[str] = ()) -> str:
    """The variants page's takeaway (Markdown), written from :func:`effects`: how many of the
    variants (those in ``runs`` and those named in ``pending``, :func:`run_variants`'s list)
    are committed, which change a headline metric by the rule (a mean paired difference above
    ``large`` s.d. of the reference's spread over trials), and how large a change that rule
    needs (:func:`thresholds`): within it is *no large change detected*, not *no change*."""
    if not runs:
        return "Nothing is in the store yet at these settings: not even the reference run."
    eff = effects(runs, large)
    if eff.empty:
        return ("No variant is in the store yet at these settings: the reference alone is "
                "shown below.")
    done = list(dict.fromkeys(eff["variant"]))
    todo = [v for v in _names(pending) if v != REFERENCE and v not in done]
    big = [v for v in done if eff[eff["variant"] == v]["large"].any()]
    small = [v for v in done if v not in big]
    text = (f"{len(done)} of the {len(done) + len(todo)} variants "
            f"{'is' if len(done) == 1 else 'are'} committed so far ({_and(done)}; the other "
            f"{len(todo)} {'is' if len(todo) == 1 else 'are'} not committed yet, named below). "
            if todo else f"Every variant is committed ({_and(done)}). ")
    spread = f"{large:g} s.d. of the reference's spread over trials"
    if big:
        text += (f"**{_and(big)}** change{'s' if len(big) == 1 else ''} a headline metric by "
                 f"more than {spread} (mean paired difference from the reference)"
                 + (f"; in {_and(small)} no change that large is detected." if small else "."))
    else:
        them = "it" if len(done) == 1 else "either of them" if len(done) == 2 else \
            "any of them"
        text += (f"No headline metric's mean paired difference from the reference exceeds "
                 f"{spread} in {them} (this page's rule for a large change): no large change "
                 "detected, which is not the same as no change.")
    thr = thresholds(runs, large)
    first, *rest = METRICS
    text += (f" The rule detects only large changes: {large:g} s.d. is {thr[first][0]:.3f} in "
             f"{first}, whose reference mean is {thr[first][1]:.3f} (in "
             + ", ".join(f"{m} {thr[m][0]:.3f}" for m in rest) + ").")
    n = len(_mi(runs[next(iter(runs))], METRICS[0]))
    return text + (f" With {n} paired trials the smallest possible two-sided Wilcoxon p is "
                   f"{rules.signed_rank_floor(n):.3g}.")


def summary_points(runs: Mapping[str, Any], large: float = 2.0) -> list[str]:
    """One closing point per variant: its largest change, in the metric's units and in s.d.
    of the reference's spread, and what the rule of :func:`effects` makes of it."""
    eff = effects(runs, large)
    thr = thresholds(runs, large) if len(eff) else {}
    out = []
    for v, g in eff.groupby("variant", sort=False):
        top = g.loc[g["z"].abs().idxmax()] if g["z"].notna().any() else g.iloc[0]
        out.append(f"{v}: largest change in {top['metric']}, {top['delta']:+.3f} "
                   f"({top['z']:+.1f} s.d. of the reference's trials)"
                   + (" — large." if top["large"] else
                      f"; the rule needs more than {large:g} s.d. "
                      f"({thr[top['metric']][0]:.3f} in {top['metric']}): no large change "
                      "detected."))
    return out
