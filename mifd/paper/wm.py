"""The working-memory section of the paper against a stored ``wm`` run: the paper-vs-ours table,
trial classes (failure modes, Fig. 8), onset times (Fig. 9)."""

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
                     "ours": f"r = {r:.3f}, p = {p:.2g}" if np.isfinite(r) else "—",
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


def correlation_point(rr: Any) -> str:
    """What carries :func:`mi_loss_correlation`: the MI trials whose final MI estimate (the MM
    step's, averaged over the last epochs) is below zero — a lower bound on the MI below zero,
    a critic that has broken down — how many of them fail the task (accuracy at most
    :data:`mifd.paper.task_criterion.ACCURACY_MIN`), and r without them; ``""`` where no
    estimate ends below zero or r is undefined."""
    from .task_criterion import ACCURACY_MIN
    t = rr.result["trials"]["mi"]
    x, y = np.asarray(t["mi_final"], float), np.asarray(t["mse"], float)
    acc = np.asarray(t["accuracy"], float)
    r, _ = mi_loss_correlation(rr)
    below = x < 0
    if not below.any() or not np.isfinite(r):
        return ""
    rest = ~below
    failing = int((acc[below] <= ACCURACY_MIN).sum())
    k = int(below.sum())
    text = (f"Of the MI trials, {k} end with an MI estimate below zero (a critic that has "
            f"broken down), {failing} of them failing the task (accuracy ≤ {ACCURACY_MIN:g})")
    if rest.sum() < 3:
        return text + "."
    r2, p2 = stats.pearsonr(x[rest], y[rest])
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
    return (f"{len(failed)} of {len(mi)} {condition} trials failed structurally (Q_str ≤ "
            f"{STRUCTURAL_Q:g}); {len(sil)} of them have a silenced group ("
            f"{'trials ' + ', '.join(str(t) for t in sil.index) if len(sil) else 'none'}), against "
            f"{int((others['class'] == 'silenced group').sum())} of the {len(others)} with "
            f"Q_str > {STRUCTURAL_Q:g} and {int((base['class'] == 'silenced group').sum())} of "
            f"the {len(base)} trials of the other conditions (the noise floor). \"Failed trials "
            f"silence a group\" (more than half of them): {verdict}.")


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
    profile's own run (the committed ``book`` audit is of the 10-trial run made with the earlier
    defaults: RMSprop's ε outside √, one critic bias)."""
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


def band_floor(paper: Any) -> float:
    """The lower edge of the paper's band for a reported value: its mean − 1 sd."""
    return paper.mean - paper.sd


def _course(rr: Any, metric: str) -> dict[str, Any]:
    """One run's MI trials of ``metric``: the mean at the peak-time epoch, the mean peak and
    the trials whose peak reaches the paper's band, the trials that keep their modules (:mod:`mifd.paper.persistence`), and the end of training as
    the claims table has it (the final evaluation): mean, sd and the trials at or above the
    paper's band (:func:`band_floor`)."""
    from . import persistence
    ep, _, v = persistence.trial_series(rr, metric, "mi")
    end = np.asarray(rr.result["trials"]["mi"][metric], dtype=float)
    return {"n": v.shape[1], "early": float(persistence.at_epoch(ep, v, persistence.EPOCHS[0])
                                            .mean()),
            "peak": float(v.max(0).mean()), "kept": int(persistence.kept(v).sum()),
            "peak_band": in_band(v.max(0), reported.WM["mi"][metric]),
            "end": float(end.mean()), "end_sd": float(end.std(ddof=1)) if end.size > 1
            else math.nan, "band": in_band(end, reported.WM["mi"][metric])}


def in_band(values: Any, paper: Any) -> int:
    """How many of ``values`` lie at or above the paper's band (its mean − 1 sd)."""
    return int((np.asarray(values, dtype=float) >= band_floor(paper)).sum())


def answer_words(rr: Any, metric: str = "Q_cor") -> tuple[str, str]:
    """:func:`course_words` of ``rr``'s MI trials (the words of the landing page's answer)."""
    return course_words(_course(rr, metric), reported.WM["mi"][metric])


def course_words(c: Mapping[str, Any], paper: Any) -> tuple[str, str]:
    """What one run's course ``c`` (its mean at epoch 300, trials, trials that keep) says, by
    two stated rules: the groups *form functional modules at the paper's level* when the mean
    at epoch 300 reaches the paper's band (its mean − 1 sd), and they *keep* them when at least
    half of the trials keep ≥ 75 % of their peak (:func:`mifd.paper.persistence.kept`)."""
    forms = ("form functional modules at the paper's level" if c["early"] >= band_floor(paper)
             else "stay below the paper's level of functional modularity")
    stays = "keep them" if 2 * c["kept"] >= c["n"] else "then lose them"
    return forms, stays


def short_answer(rr: Any, gpu: Any = None, gpu_label: str = "", metric: str = "Q_cor",
                 theirs: str = "") -> str:
    """The landing page's first lines (HTML): do the functional modules form and do they stay,
    from ``rr``'s MI trials (the mean at epoch 300, the end of training as in the claims table,
    how many trials keep them), the run's critic reduction, ``theirs`` (the authors' code:
    :func:`mifd.paper.authors.short_answer`), and the committed GPU run of the published
    critic (:func:`committed_gpu`) where it has the current settings (a run of earlier settings
    is said in the folded detail, :func:`wide_critic_sentence`); ``""`` without an MI
    condition."""
    from . import persistence
    if "mi" not in rr.config.conditions:
        return ""
    paper = reported.WM["mi"][metric]
    c = _course(rr, metric)
    forms, stays = course_words(c, paper)
    verdict = paper_table(rr).loc[("mi", metric), "verdict"]  # the claims table's
    text = (f"Working memory: with MI minimization the two groups {forms} "
            f"(mean {metric} {c['early']:.2f} at epoch {persistence.EPOCHS[0]}; the paper: "
            f"{paper.mean:.2f} ± {paper.sd:.2f} at the end of training) and {stays}: "
            f"{c['end']:.3f} ± {c['end_sd']:.3f} at the end (by the book's rules: "
            f"<em>{verdict}</em>); {c['band']} of {c['n']} trials "
            f"end in the paper's band or above, {c['kept']} keep ≥ {persistence.KEEP:.0%} of "
            f"their peak (the <code>{rr.profile}</code> run{critic_reduction(rr.config)}).")
    if theirs:
        text += " " + theirs
    if gpu is not None and "mi" in gpu.config.conditions and not gpu_is_stale(gpu_label):
        g = np.asarray(gpu.result["trials"]["mi"][metric], dtype=float)
        text += (f" With the paper's {gpu.config.sm_width}-wide critic on a GPU ({len(g)} "
                 f"trials{critic_breakdown(gpu)}): {g.mean():.3f} at the end.")
    return text


def critic_breakdown(rr: Any) -> str:
    """``"; its critic's estimate, a lower bound on the MI, falls below zero in k of n"``
    where some MI trial's critic broke down (:func:`mifd.paper.mechanism.critic_below_zero`),
    else ``""``."""
    from .mechanism import critic_below_zero
    broken, n = critic_below_zero(rr)
    return (f"; its critic's estimate, a lower bound on the MI, falls below zero in {broken} of "
            f"{n}" if broken else "")


def gpu_settings(label: str) -> str:
    """The settings :func:`committed_gpu`'s ``label`` names (without its prefix and note)."""
    return label.split(" — ")[0].replace(STALE_LABEL, "")


def course_sentence(rr: Any, label: str, metric: str = "Q_cor") -> str:
    """``"{label} (n trials): … at epoch 300, … ± … at the end of training; k of n keep their
    modules."``: one run's MI trials, the end value the final evaluation's (as in the claims
    table)."""
    from . import persistence
    c = _course(rr, metric)
    return (f"{label} ({c['n']} trials): {c['early']:.2f} at epoch {persistence.EPOCHS[0]}, "
            f"{c['end']:.3f} ± {c['end_sd']:.3f} at the end of training; {c['band']} of "
            f"{c['n']} end in the paper's band or above, {c['kept']} "
            f"keep{'s' if c['kept'] == 1 else ''} their modules.")


def wide_critic_sentence(gpu: Any, label: str, metric: str = "Q_cor") -> str:
    """The landing page's word on the published critic: the committed GPU run of the ``paper``
    profile (:func:`committed_gpu`, ``label`` its label) — the one run with the paper's
    512-wide statistics network — in :func:`course_sentence`'s terms, whether its critic broke
    down (:func:`critic_breakdown`) and whether it ran the profile's settings; ``""`` without
    one."""
    if gpu is None or "mi" not in gpu.config.conditions:
        return ""
    stale = gpu_is_stale(label)
    settings = gpu_settings(label)
    return ("With the paper's full statistics network, "
            + course_sentence(gpu, f"{gpu.config.sm_width} units wide in the `paper` profile "
                              "on a GPU", metric)
            + (f" In that run {critic_breakdown(gpu).removeprefix('; ')}: a critic that has "
               "broken down." if critic_breakdown(gpu) else "")
            + (f" That run predates the current defaults ({settings}); at the defaults the "
               "full critic is not measured yet." if stale else ""))


def critic_reduction(cfg: Any) -> str:
    """``"; its critic 64 units wide of the paper's 512, on 2 of 20 sequences and 4,096 of
    40,000 samples per SM step"`` — each part only where the run's statistics
    network is smaller or sees less than the published one (``""`` where neither): the
    reductions a reader needs beside any statement about the critic."""
    from ..experiments import get_experiment
    paper = get_experiment("wm").config("paper")
    parts = []
    if cfg.sm_width < paper.sm_width:
        parts.append(f"its critic {cfg.sm_width} units wide of the paper's {paper.sm_width}")
    seqs = cfg.sm_batch or cfg.batch
    samples = cfg.sm_samples or seqs * cfg.steps
    full = paper.batch * paper.steps  # the published critic sees every sample of every sequence
    if seqs < paper.batch or samples < full:
        parts.append(("" if parts else "its critic ")
                     + f"on {seqs} of {paper.batch} sequences and {samples:,} of {full:,} "
                     "samples per SM step")
    return "; " + ", ".join(parts) if parts else ""


def scale_words(rr: Any) -> str:
    """What the run's reductions mean for its level verdicts (our value against the paper's
    number): far below the published scale (:func:`mifd.paper.scale.far_note`), they are shown
    and not counted as tests of the paper; otherwise they are tests, at the run's critic
    (:func:`critic_reduction`)."""
    from . import scale
    far = scale.far_note(rr)
    if far:
        return (f"This run is far below the published scale ({far}): its levels are shown "
                "beside the paper's and not counted as tests of it; its comparisons between "
                "conditions are.")
    from ..experiments import get_experiment
    smaller = scale.describe(scale.reduced(rr))
    paper_n = get_experiment("wm").config("paper").trials
    n = rr.config.trials
    parts = ([f"{n} trials per condition of the paper's {paper_n}"] if n < paper_n else []) \
        + ([smaller] if smaller else []) + [critic_reduction(rr.config).removeprefix("; ")]
    parts = [p for p in parts if p]
    if not parts:
        return ("This run has the published settings: its levels are tests of the paper, "
                "counted on the landing page.")
    return ("Against the published settings this run has " + "; ".join(parts)
            + " (every setting in the folded box at the end of the page). None is far below the "
            "published scale, so its levels are tests of the paper at these settings, counted "
            "on the landing page.")


def takeaway(rr: Any, screen: Mapping[str, Any] | None = None, metric: str = "Q_cor") -> str:
    """What the working-memory page finds, written from ``rr`` (the page's run, its MI
    condition) and the screen of :mod:`mifd.paper.persistence` (the other RMSprop ε placement,
    where committed): whether the modules form, whether they stay, and the
    verdict of the paper's end-of-training value."""
    from . import dependence, persistence
    if "mi" not in rr.config.conditions:
        return f"This run has no MI condition ({', '.join(rr.config.conditions)})."
    paper = reported.WM["mi"][metric]
    c = _course(rr, metric)
    forms, stays = course_words(c, paper)
    text = (f"**With MI minimization the groups {forms} and {stays}.** In this `{rr.profile}` "
            f"run ({c['n']} trials{critic_reduction(rr.config)}) the mean {metric} is "
            f"{c['early']:.2f} at epoch {persistence.EPOCHS[0]} (each trial's peak "
            f"{c['peak']:.2f} on average; {c['peak_band']} of {c['n']} trials reach the paper's "
            f"band at their peak), where the paper reports {paper.mean:.2f} ± "
            f"{paper.sd:.2f} at the end of training; at the end of training the mean is "
            f"{c['end']:.3f} ± {c['end_sd']:.3f}: {c['band']} of {c['n']} trials end in the "
            f"paper's band or above (≥ {band_floor(paper):.3f}), "
            f"{c['kept']} keep ≥ {persistence.KEEP:.0%} of their peak.")
    for label, other in persistence.placement_pair(screen or {}, rr).items():
        text += " With " + course_sentence(other, label, metric)  # the other ε placement
    hidden = dependence.headline(rr)
    if hidden:
        text += " " + hidden
    verdict = paper_table(rr).loc[("mi", metric), "verdict"]
    text += (f" The paper's end-of-training {metric}, judged on this run by the book's rules: "
             f"*{verdict}*.")
    return text


def answer_point(rr: Any, metric: str = "Q_cor") -> str:
    """The summary's first point: the answer of :func:`takeaway` in one sentence (whether the
    modules form and stay, by :func:`course_words`' rules) with the verdict of the paper's
    end-of-training value; the page's opening gives its numbers."""
    if "mi" not in rr.config.conditions:
        return f"This run has no MI condition ({', '.join(rr.config.conditions)})."
    forms, stays = answer_words(rr, metric)
    verdict = paper_table(rr).loc[("mi", metric), "verdict"]
    return (f"With MI minimization the groups {forms} and {stays}; the paper's end-of-training "
            f"{metric}, judged by the book's rules: {verdict} (the numbers: at the top of the "
            "page).")


def summary_points(rr: Any, screen: Mapping[str, Any] | None = None,
                   audit: Any = None, metric: str = "Q_cor", audit_note: str = "") -> list[str]:
    """The page's closing summary, one point per finding, written from the results;
    ``audit_note`` (:func:`load_audit`'s) non-empty: the audit is of another run, and its point
    says so."""
    if audit is not None:
        audit_point = ("Post-hoc audit, of an earlier run, not this page's (its section names "
                       "it): " if audit_note else "Post-hoc audit: ")
        text = audit_summary(audit)
        audit_point += text[:1].lower() + text[1:]
    table = paper_table(rr)
    judged = table[table["verdict"] != "no paper value"]  # the rows with a number to compare
    counts = judged["verdict"].map(rules.category).value_counts()
    counts = counts.reindex([v for v in rules.VERDICTS if v in counts.index])
    points = [answer_point(rr, metric),
              f"Of the {len(judged)} numbers the paper gives for this run: "
              + ", ".join(f"{n} {v}" for v, n in counts.items()) + "."]
    if "mi" in rr.config.conditions and correlation_point(rr):
        points.append(correlation_point(rr))
    if screen and len(screen) > 1:
        from . import persistence
        first = next(iter(persistence.SCREEN))
        if first not in screen:
            return points + ([audit_point] if audit is not None else [])
        others = [lbl for lbl in screen if lbl != first]
        diffs = []
        for lbl in others:
            t = persistence.paired(screen[lbl], screen[first], metric)
            diffs.append(f"{lbl}: {t['mean difference']:+.3f} on {t['n']} seeds "
                         f"(p = {t['p']:.2g})")
        last = int(persistence.trial_series(screen[first], metric, "mi")[0][-1])
        points.append(f"Against {first} at epoch {last} (the last snapshot), paired {metric} "
                      "differences: "
                      + "; ".join(diffs) + ".")
    if audit is not None:
        points.append(audit_point)
    return points
