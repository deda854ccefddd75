"""The working-memory section of the paper against a stored ``wm`` run: the paper-vs-ours table,
trial classes (failure modes, Fig. 8), onset times (Fig. 9), the post-hoc audit and the committed
GPU shards of the ``paper`` profile. What the page concludes from them:
:mod:`mifd.paper.wm_answer`."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from . import reported, rules, silencing
from .rows import comparison_rows, level_rows
from .intervals import wilson_ci
from .timing import onset_test
from .options import NAMED_SETTINGS

#: the final metrics the section reports
METRICS = ("success_rate", "accuracy", "mse", "D_cor", "Q_cor", "Q_str", "D_in", "D_out")

def paper_table(rr: Any) -> pd.DataFrame:
    """Every number of the paper's working-memory section beside ours, with verdicts."""
    trials = rr.result["trials"]
    tails = rules.tail_changes(rr.result)
    extra = rules.more_tails(rr.result, reported.WM_TRAINING)
    rows = level_rows(trials, reported.WM, METRICS, tails, extra)
    if {"mi", "no_mi"} <= set(rr.config.conditions):
        rows += comparison_rows(
            trials, [("mi", "no_mi", m, d) for m, d in reported.WM_COMPARISONS.items()],
            reported.WM)
        c = rules.comparison(trials["mi"]["mse"], trials["no_mi"]["mse"], "less")
        rows.append({"condition": "mi vs no_mi", "quantity": "mse (two-sided t-test)",
                     "ours": f"Δ = {c['diff']:+.3f}; t-test p = {c['t_p']:.2g}",
                     "ours 95% CI": "—", "paper": f"p = {reported.WM_MSE_TTEST_P} (n.s.)",
                     "verdict": rules.no_difference_verdict(
                         trials["mi"]["mse"], trials["no_mi"]["mse"],
                         reported.WM["no_mi"]["mse"].mean)})
    if "mi" in rr.config.conditions:
        q = np.asarray(trials["mi"]["Q_str"])
        k, n = reported.WM_QSTR_BELOW_0_1
        below = int((q < reported.WM_QSTR_THRESHOLD).sum())
        rows.append({"condition": "mi",
                     "quantity": f"trials with Q_str < {reported.WM_QSTR_THRESHOLD:g}",
                     "ours": f"{below}/{q.size}",
                     "ours 95% CI": rules.fmt_ci(*wilson_ci(below, q.size)),
                     "paper": f"{k}/{n}",
                     "verdict": rules.count_verdict(below, q.size, k, n)})
        r, p = mi_loss_correlation(rr)
        n_r = int(np.isfinite(np.asarray(trials["mi"]["mi_final"], float)).sum())
        rows.append({"condition": "mi", "quantity": "Pearson r(final MI, task loss)",
                     "ours": (f"r = {r:.3f}, p = {p:.2g}" + _without_broken_words(rr)
                              if np.isfinite(r) else "—"),
                     "ours 95% CI": rules.fmt_ci(*rules.correlation_ci(r, n_r)),
                     "paper": (f"r = {reported.WM_MI_LOSS_PEARSON[0]}, "
                               f"p = {reported.WM_MI_LOSS_PEARSON[1]}"),
                     "verdict": rules.correlation_verdict(r, n_r, reported.WM_MI_LOSS_PEARSON[0])})
    return pd.DataFrame(rows).fillna("—").set_index(["condition", "quantity"])


def mi_loss_correlation(rr: Any) -> tuple[float, float]:
    """Pearson r between the final MI estimate and the final task loss across MI trials."""
    t = rr.result["trials"]["mi"]
    x, y = np.asarray(t["mi_final"]), np.asarray(t["mse"])
    if x.size < 3:
        return math.nan, math.nan
    r, p = stats.pearsonr(x, y)
    return float(r), float(p)


def ends_below_zero(rr: Any) -> np.ndarray:
    """Per MI trial of ``rr`` that records it: whether its final MI estimate (the MM step's,
    averaged over the last epochs) is below zero — a lower bound on the MI below zero, a critic
    that has broken down (empty where the run records no final estimate)."""
    return np.asarray(rr.result["trials"]["mi"].get("mi_final", []), dtype=float) < 0


def without_broken(rr: Any) -> tuple[int, float, float, int] | None:
    """Pearson r of the final MI estimate and the task loss over the MI trials whose estimate
    does not end below zero (a critic that has broken down): ``(trials left out, r, p, n)``;
    ``None`` where none ends below zero or fewer than 3 remain."""
    t = rr.result["trials"]["mi"]
    x, y = np.asarray(t["mi_final"], float), np.asarray(t["mse"], float)
    rest = ~ends_below_zero(rr)
    if rest.all() or rest.sum() < 3:
        return None
    r2, p2 = stats.pearsonr(x[rest], y[rest])
    return int((~rest).sum()), float(r2), float(p2), int(rest.sum())


def _without_broken_words(rr: Any) -> str:
    """``"; without the 3 trials whose critic broke down r = 0.15, p = 0.58"`` (or ``""``)."""
    w = without_broken(rr)
    return (f"; without the {w[0]} trial{'s' if w[0] != 1 else ''} whose critic broke down "
            f"r = {w[1]:.2f}, p = {w[2]:.2g}" if w else "")


def correlation_point(rr: Any) -> str:
    """What carries :func:`mi_loss_correlation`: the MI trials whose final MI estimate (the MM
    step's, averaged over the last epochs) is below zero — a lower bound on the MI below zero,
    a critic that has broken down — how many of them fail the task (accuracy at most
    :data:`mifd.paper.task_criterion.ACCURACY_MIN`), and r without them; ``""`` where no
    estimate ends below zero or r is undefined."""
    from .task_criterion import ACCURACY_MIN
    t = rr.result["trials"]["mi"]
    acc = np.asarray(t["accuracy"], float)
    r, _ = mi_loss_correlation(rr)
    below = ends_below_zero(rr)
    if not below.any() or not np.isfinite(r):
        return ""
    rest = ~below
    failing = int((acc[below] <= ACCURACY_MIN).sum())
    k = int(below.sum())
    seeds = np.asarray(rr.layout.seeds()[:len(below)])[below]
    text = (f"Of the MI trials, {k} end with an MI estimate below zero (the MM step's estimate "
            f"over the last epochs; seeds {', '.join(str(s) for s in seeds)}: a critic that has "
            f"broken down), {failing} of them failing the task (accuracy on the last training "
            f"batch ≤ {ACCURACY_MIN:g}, as the success rate counts it)")
    w = without_broken(rr)
    if w is None:
        return text + "."
    _, r2, p2, _ = w
    return (text + f". The correlation between the final MI estimate and the task loss "
            f"(r = {r:.2f}; the paper's {reported.WM_MI_LOSS_PEARSON[0]}) is "
            + ("theirs" if p2 >= rules.ALPHA else "not theirs alone")
            + f": without them r = {r2:.2f} (p = {p2:.2g}, n = {int(rest.sum())}).")


#: a trial is functionally modular from this D_cor on
FUNCTIONAL_D = 0.5
#: a trial is structurally modular above the paper's threshold
STRUCTURAL_Q = reported.WM_QSTR_THRESHOLD
#: the classification rules, printed on the failure-modes page (the silencing rule and its
#: calibration: :mod:`mifd.paper.silencing`)
CLASS_RULES = (
    f"silenced group: {silencing.RULE}; differentiated: not silenced, D_cor ≥ {FUNCTIONAL_D} "
    f"and Q_str > {STRUCTURAL_Q}; functional only: not silenced, D_cor ≥ {FUNCTIONAL_D}, "
    f"Q_str ≤ {STRUCTURAL_Q}; undifferentiated: the rest")


def _class(silenced: bool, dcor: float, qstr: float) -> str:
    """The class of one trial by :data:`CLASS_RULES`."""
    if silenced:
        return "silenced group"
    if dcor >= FUNCTIONAL_D:
        return "differentiated" if qstr > STRUCTURAL_Q else "functional only"
    return "undifferentiated"


def classify(rr: Any) -> pd.DataFrame:
    """One row per trial: condition, seed, the silencing measures
    (:func:`mifd.paper.silencing.of_run`), D_cor, Q_str, Q_cor, accuracy and the class by
    :data:`CLASS_RULES`."""
    final = rr.result["final"]
    m = silencing.of_run(rr)
    lay = rr.layout
    rows = []
    for t in range(lay.size):
        dcor, qstr = float(final["D_cor"][t]), float(final["Q_str"][t])
        rows.append({"trial": t, "condition": m.loc[t, "condition"],
                     "seed": lay.seed + t % lay.per_condition,
                     **{k: round(float(m.loc[t, k]), 3) for k in silencing.MEASURES},
                     **{k: int(m.loc[t, k]) for k in ("low group (|corr|)",
                                                       "low group (|W_out|)")},
                     "D_cor": round(dcor, 3), "Q_str": round(qstr, 3),
                     "Q_cor": round(float(final["Q_cor"][t]), 3),
                     "accuracy": round(float(final["accuracy"][t]), 3),
                     "class": _class(bool(m.loc[t, "silenced"]), dcor, qstr)})
    return pd.DataFrame(rows).set_index("trial")


def failure_summary(classes: pd.DataFrame, condition: str = "mi") -> str:
    """A computed paragraph from :func:`classify`: of the ``condition`` trials that failed
    structurally (Q_str ≤ :data:`STRUCTURAL_Q`), how many have a silenced group (named), how many
    of the others do, and the no-MI trials' count (the rule's false alarms at the noise floor)."""
    mi = classes[classes["condition"] == condition]
    failed = mi[mi["Q_str"] <= STRUCTURAL_Q]
    sil = failed[failed["class"] == "silenced group"]
    others = mi[mi["Q_str"] > STRUCTURAL_Q]
    base = classes[classes["condition"] != condition]
    verdict = rules.majority_verdict(len(sil), len(failed), len(others), len(mi))
    share = ""
    if len(failed):
        from .intervals import wilson_ci
        lo, hi = wilson_ci(len(sil), len(failed))
        share = f", 95% interval of the share {lo:.2f}–{hi:.2f}"
    return (f"{len(failed)} of {len(mi)} {condition} trials failed structurally (Q_str ≤ "
            f"{STRUCTURAL_Q:g}); {len(sil)} of them have a silenced group ("
            f"{'seeds ' + ', '.join(str(s) for s in sil['seed']) if len(sil) else 'none'}"
            f"{share}), against "
            f"{int((others['class'] == 'silenced group').sum())} of the {len(others)} with "
            f"Q_str > {STRUCTURAL_Q:g} and {int((base['class'] == 'silenced group').sum())} of "
            f"the {len(base)} trials of the other conditions (the noise floor). \"Failed trials "
            f"silence a group\" (most of them: the interval above one half): {verdict}.")


def timing(rr: Any, condition: str = "mi", fraction: float = 0.5) -> pd.DataFrame:
    """Functional-before-structural test for the working-memory pairs
    (:data:`~mifd.paper.reported.WM_TIMING_PAIRS`; see :func:`mifd.paper.timing.onset_test`)."""
    return onset_test(rr.result, condition, reported.WM_TIMING_PAIRS, fraction)


#: the post-hoc audit's estimates of the MI between the groups (label → per-trial key of the
#: ``wm-audit`` result; the first is the ``wm`` run's own critic)
AUDIT_ESTIMATES = {"training critic (end)": "mi_final",
                   "fresh critic, training pool at its best step": "train_dv_at_best",
                   "fresh critic, held out (early-stopped)": "held_out_dv",
                   "fresh critic, held out (last step)": "last_held_out_dv",
                   "Gaussian (held out)": "gaussian", "copula (held out)": "copula"}


def load_audit(profile: str, device: str, overrides: Mapping[str, Any], cfg: Any,
               rr: Any) -> tuple[Any, Any, str]:
    """The ``wm-audit`` run of the working-memory page, the ``wm`` run it audits and a note
    (empty when that is the page's run ``rr``). With ``overrides["wm"]`` the audit follows the
    page's run (conditions, trials, seed, ε placement, critic biases); without, the audit
    profile's own run (for ``book``: the 20-trial run at the defaults, the page's)."""
    from ..results.runner import run
    over = dict(overrides.get("wm-audit") or {})
    if overrides.get("wm"):
        over = {"conditions": cfg.conditions, "trials": cfg.trials, "seed": cfg.seed,
                "rmsprop_eps": cfg.rmsprop_eps, "critic_double_bias": cfg.critic_double_bias,
                **over}
    audit = run("wm-audit", profile, device, over, verbose=False, progress=False)
    exp, prof, aover = audit.config.audited()
    audited = run(exp, prof, device, aover, verbose=False, progress=False)
    a = audit.config
    note = "" if audited.key == rr.key else (
        f"The audit is of the `{prof}` run with {a.trials} trials per condition, "
        + ", ".join(NAMED_SETTINGS[f](getattr(a, f)) for f in NAMED_SETTINGS)
        + f" (the settings before the defaults changed), not of this page's run; auditing this "
        f"page's run: `mifd run wm-audit --profile {profile} --set trials={cfg.trials} --set "
        f"rmsprop_eps={cfg.rmsprop_eps} --set critic_double_bias={cfg.critic_double_bias}`.")
    return audit, audited, note


def audit_table(audit: Any, rr: Any | None = None) -> pd.DataFrame:
    """Mean ± sd (n) per condition of each estimate of the MI between the groups after training
    (:data:`AUDIT_ESTIMATES`, nats) from a ``wm-audit`` run, the training critic's from the
    audited ``wm`` run ``rr`` when given, and the trials whose held-out estimate the
    permutation test finds significant (p < :data:`~mifd.paper.rules.ALPHA`)."""
    trials = audit.result["trials"]
    rows = {}
    for c in audit.layout.conditions:
        src = {**(rr.result["trials"][c] if rr is not None else {}), **trials[c]}
        row = {label: rules.fmt(*rules.mean_ci(src[key])[:2], len(src[key]))
               for label, key in AUDIT_ESTIMATES.items() if key in src}
        p = np.asarray(trials[c]["p_perm"], float)
        row[f"held out significant (permutation p < {rules.ALPHA:g})"] = \
            f"{int((p < rules.ALPHA).sum())}/{p.size}"
        row["best step (median)"] = f"{np.median(trials[c]['best_step']):.0f} of " \
                                    f"{audit.config.steps}"
        rows[c] = row
    return pd.DataFrame(rows).T


def audit_summary(audit: Any) -> str:
    """One paragraph computed from a ``wm-audit`` run: the early-stopped fresh critic's held-out
    estimate and its gap to the training pool (overfitting), the permutation test, the
    critic-free Gaussian estimate with and without MI, and the verdict of
    :func:`mifd.paper.rules.dependence_verdict`."""
    trials = audit.result["trials"]
    if not {"mi", "no_mi"} <= set(audit.layout.conditions):
        return "No audit of both conditions in this run."
    cfg = audit.config
    held = {c: rules.mean_ci(trials[c]["held_out_dv"]) for c in ("mi", "no_mi")}
    train = {c: float(np.nanmean(trials[c]["train_dv_at_best"])) for c in ("mi", "no_mi")}
    last = {c: float(np.nanmean(trials[c]["train_dv_last"])) for c in ("mi", "no_mi")}
    sig = {c: (int((np.asarray(trials[c]["p_perm"], float) < rules.ALPHA).sum()),
               len(trials[c]["p_perm"])) for c in ("mi", "no_mi")}
    gauss = {c: rules.mean_ci(trials[c]["gaussian"]) for c in ("mi", "no_mi")}
    p = rules.comparison(trials["mi"]["gaussian"], trials["no_mi"]["gaussian"],
                         "less")["welch_p"]
    verdict = rules.dependence_verdict(trials["mi"]["gaussian"], trials["no_mi"]["gaussian"],
                                       trials["mi"]["held_out_dv"], trials["mi"]["p_perm"])
    best = float(np.median(trials["mi"]["best_step"]))
    gap = train["mi"] - held["mi"][0]
    return (
        f"A fresh critic (width {cfg.width}) trained for up to {cfg.steps} steps on {cfg.pool} "
        f"new sequences per trial, and kept at the step of its best estimate on {cfg.pool} "
        f"validation sequences (median step {best:.0f} in the MI trials), estimates "
        f"{held['mi'][0]:.3f} nats (95% CI {rules.fmt_ci(*held['mi'][2:4])}) on {cfg.pool} "
        f"further test sequences with MI and {held['no_mi'][0]:.3f} "
        f"({rules.fmt_ci(*held['no_mi'][2:4])}) without. On its training pool it reached "
        f"{train['mi']:.3f} nats at that step and {last['mi']:.3f} at its last "
        + (f"(a gap of {gap:.2f} nats to the test pool: the critic fits its own pool more than "
           "the dependence). " if gap > 0.1 else "(no gap that matters to the test pool). ")
        + (f"A permutation test of the test estimate ({cfg.permutations} shuffles of one group "
           f"over samples) finds dependence (p < {rules.ALPHA:g}) in {sig['mi'][0]} of "
           f"{sig['mi'][1]} MI trials and {sig['no_mi'][0]} of {sig['no_mi'][1]} without MI. "
           if 1 / (1 + cfg.permutations) < rules.ALPHA else
           f"The permutation test is not testable with {cfg.permutations} shuffles (its "
           f"smallest p-value, 1/{cfg.permutations + 1}, is not below {rules.ALPHA:g}). ")
        + "The "
        + f"critic-free Gaussian estimate is {gauss['mi'][0]:.2f} nats with MI against "
        f"{gauss['no_mi'][0]:.2f} without (one-sided Welch p = {p:.2g}). Verdict: the "
        f"dependence between the groups was **{verdict}** by MI minimization (rule: reduced "
        f"when the Gaussian estimate is lower with MI, one-sided Welch p < {rules.ALPHA}; "
        f"removed when, besides, it is at most {rules.RESIDUAL_MI:g} nats and the permutation "
        "test finds dependence in fewer than half of the MI trials).")


#: the settings of the working-memory GPU shards committed so far (before the ε default, the
#: critic's two biases and the paper profile's fp32 matmuls): TF32 critic matmuls, RMSprop's ε
#: outside √, one critic bias. They stay shown, labelled, until a GPU session replaces them with
#: the profile's own settings.
GPU_STALE_SETTINGS = {"sm_precision": "tf32", "rmsprop_eps": "outside",
                      "critic_double_bias": False}


#: how :func:`committed_gpu`'s label starts when it returns the shards of earlier settings
STALE_LABEL = "earlier settings: "


def gpu_is_stale(label: str) -> bool:
    """Whether :func:`committed_gpu`'s ``label`` names the shards of earlier settings."""
    return label.startswith(STALE_LABEL)


def committed_gpu(store: Any = None) -> tuple[Any, str]:
    """The committed GPU shards of the ``paper`` profile, combined, and a label for the page:
    the profile's own settings if committed, else the earlier TF32 / ε-outside shards
    (:data:`GPU_STALE_SETTINGS`, said in the label); ``(None, "")`` if neither."""
    from ..results import shards
    rr = shards.committed_shards("wm", "paper", "cuda", store=store)
    if rr is not None:
        return rr, ("the paper profile's settings (fp32 matmuls, RMSprop's ε inside √, two "
                    "critic biases)")
    rr = shards.committed_shards("wm", "paper", "cuda", store=store, where=GPU_STALE_SETTINGS)
    if rr is None:
        return None, ""
    return rr, (STALE_LABEL + "TF32 critic matmuls, RMSprop's ε outside √ and one critic "
                "bias — not the profile's defaults now (the authors ran fp32, two critic biases "
                "and most likely ε inside √); "
                "to be replaced by a GPU session at the profile's settings")
