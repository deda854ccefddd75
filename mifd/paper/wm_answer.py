"""The working-memory answer: do the functional modules form at the paper's level, and do they
stay? Written from a stored ``wm`` run by two stated rules (:func:`course_words`): the page's
takeaway and closing summary, the landing page's short answer (with the GPU run of the published
critic, :func:`mifd.paper.wm.committed_gpu`) and the reductions of the critic a reader needs
beside any of them."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from . import reported, rules
from .reported import band_floor
from .formatting import agree
from .persistence import FULL_DATA, screen_label
from .wm import (STALE_LABEL, audit_summary, correlation_point, ends_below_zero, gpu_is_stale,
                 paper_table)


def _course(rr: Any, metric: str) -> dict[str, Any]:
    """One run's MI trials of ``metric``: the mean at the peak-time epoch, the mean peak and
    the trials whose peak reaches the paper's band, the trials that keep their modules
    (:mod:`mifd.paper.persistence`), the book's level rule (:func:`mifd.paper.rules.level_verdict`)
    on the values at the peak-time epoch against the paper's end-of-training value
    (``early_verdict``), and the end of training as the claims table has it (the final
    evaluation): mean, sd and the trials at or above the paper's band (:func:`band_floor`)."""
    from . import persistence
    ep, _, v = persistence.trial_series(rr, metric, "mi")
    end = np.asarray(rr.result["trials"]["mi"][metric], dtype=float)
    early = persistence.at_epoch(ep, v, persistence.EPOCHS[0])
    paper = reported.WM["mi"][metric]
    return {"n": v.shape[1], "early": float(early.mean()),
            "early_verdict": rules.level_verdict(early, paper.mean, paper.sd, paper.n),
            "peak": float(v.max(0).mean()), "kept": int(persistence.kept(v).sum()),
            "peak_band": in_band(v.max(0), paper),
            "end": float(end.mean()), "end_sd": float(end.std(ddof=1)) if end.size > 1
            else math.nan, "band": in_band(end, paper)}


def in_band(values: Any, paper: Any) -> int:
    """How many of ``values`` lie at or above the paper's band (its mean − 1 sd)."""
    return int((np.asarray(values, dtype=float) >= band_floor(paper)).sum())


def answer_words(rr: Any, metric: str = "Q_cor") -> tuple[str, str] | None:
    """:func:`course_words` of ``rr``'s MI trials (the words of the landing page's answer);
    ``None`` without an MI condition."""
    if "mi" not in rr.config.conditions:
        return None
    return course_words(_course(rr, metric), reported.WM["mi"][metric])


def course_words(c: Mapping[str, Any], paper: Any) -> tuple[str, str]:
    """What one run's course ``c`` (its mean at epoch 300 and the level verdict of its values
    there, trials, trials that keep, mean at the end of training) says, by two stated rules: the
    groups *form functional modules at the paper's level* when the book's level rule finds the
    values at epoch 300 *consistent* with the paper's end-of-training value
    (``c["early_verdict"]``, :func:`mifd.paper.rules.level_verdict`), *form functional modules
    in the paper's band* when that is not shown but their mean reaches the band (the paper's
    mean − 1 sd), and *stay below* it otherwise; they *keep* them when at least half of the
    trials keep ≥ 75 % of their peak (:func:`mifd.paper.persistence.kept`), *partly lose* them
    when fewer do but the mean at the end still lies in the paper's band, and *lose* them
    otherwise."""
    floor = band_floor(paper)
    forms = ("form functional modules at the paper's level"
             if rules.category(c.get("early_verdict", "")) == "consistent" else
             "form functional modules in the paper's band" if c["early"] >= floor
             else "stay below the paper's level of functional modularity")
    stays = ("keep them" if 2 * c["kept"] >= c["n"] else
             "then partly lose them" if c.get("end", math.nan) >= floor else "then lose them")
    return forms, stays


def short_answer(rr: Any, gpu: Any = None, gpu_label: str = "", metric: str = "Q_cor",
                 theirs: str = "", screen: Mapping[str, Any] | None = None) -> str:
    """The landing page's first lines (HTML): do the functional modules form and do they stay,
    from ``rr``'s MI trials (the mean at epoch 300, the end of training as in the claims table,
    how many trials keep them), the run's critic reduction, ``theirs`` (the authors' code:
    :func:`mifd.paper.authors.short_answer`), the settings of the ``screen`` of the fade that
    change it (:func:`screen_short`), and the committed GPU run of the published
    critic (:func:`mifd.paper.wm.committed_gpu`) where it has the current settings (a run of
    earlier settings is said in the folded detail, :func:`wide_critic_sentence`); ``""``
    without an MI condition."""
    from . import persistence
    if "mi" not in rr.config.conditions:
        return ""
    paper = reported.WM["mi"][metric]
    c = _course(rr, metric)
    forms, stays = course_words(c, paper)
    verdict = paper_table(rr).loc[("mi", metric), "verdict"]  # the claims table's
    text = (f"Working memory: with MI minimization the two groups {forms} "
            f"(mean {metric} {c['early']:.2f} at epoch {persistence.EPOCHS[0]}, the paper's "
            f"{paper.mean:.2f} ± {paper.sd:.2f} at the end, by the book's rules "
            f"<em>{c['early_verdict']}</em>) and {stays}: {c['end']:.3f} ± {c['end_sd']:.3f} "
            f"at the end (<em>{verdict}</em>); {c['band']} of {c['n']} trials end in the "
            f"paper's band (≥ {band_floor(paper):.3f}), {c['kept']} "
            f"{agree(c['kept'], 'keeps', 'keep')} ≥ {persistence.KEEP:.0%} of their peak "
            f"(the <code>{rr.profile}</code> run{critic_reduction(rr.config, short=True)}).")
    screened = screen_short(screen, metric) if screen else ""
    if screened:
        text += " " + screened
    if theirs:
        text += " " + theirs
    if gpu is not None and "mi" in gpu.config.conditions and not gpu_is_stale(gpu_label):
        g = np.asarray(gpu.result["trials"]["mi"][metric], dtype=float)
        text += (f" With the paper's {gpu.config.sm_width}-wide critic on a GPU ({len(g)} "
                 f"trials{critic_breakdown(gpu)}): {g.mean():.3f} at the end.")
    return text


def critic_breakdown(rr: Any) -> str:
    """``"; its critic's estimate, a lower bound on the MI, falls below zero at some epoch in
    k of n (m end below zero)"`` where some MI trial's critic broke down at some epoch
    (:func:`mifd.paper.mechanism.critic_below_zero`); m: the trials whose final MI estimate is
    below zero, those the claims table's correlation row sets apart (where the run records
    it), else ``""``."""
    from .mechanism import critic_below_zero
    broken, n = critic_below_zero(rr)
    below = ends_below_zero(rr)
    k = int(below.sum())
    end = f" ({k} {agree(k, 'ends', 'end')} below zero)" if below.size else ""
    return (f"; its critic's estimate, a lower bound on the MI, falls below zero at some epoch "
            f"in {broken} of {n}{end}" if broken else "")


def gpu_settings(label: str) -> str:
    """The settings :func:`mifd.paper.wm.committed_gpu`'s ``label`` names (without its prefix
    and note)."""
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
            f"{agree(c['kept'], 'keeps its', 'keep their')} modules.")


def wide_critic_sentence(gpu: Any, label: str, metric: str = "Q_cor",
                         screen: Mapping[str, Any] | None = None) -> str:
    """The landing page's word on the published critic: the committed GPU run of the ``paper``
    profile (:func:`mifd.paper.wm.committed_gpu`, ``label`` its label) — the one run with the
    paper's 512-wide statistics network — in :func:`course_sentence`'s terms, whether its
    critic broke down (:func:`critic_breakdown`) and whether it ran the profile's settings —
    where not, the ``screen``'s setting of the book critic at the run's settings, if committed
    (:func:`same_settings_sentence`); ``""`` without one."""
    if gpu is None or "mi" not in gpu.config.conditions:
        return ""
    stale = gpu_is_stale(label)
    settings = gpu_settings(label)
    broke = critic_breakdown(gpu).removeprefix("; ")
    return ("With the paper's full statistics network, "
            + course_sentence(gpu, f"{gpu.config.sm_width} units wide in the `paper` profile "
                              "on a GPU", metric)
            + (f" In that run {broke}: below zero the critic has broken down." if broke else "")
            + (f" That run predates the current defaults ({settings}); at the defaults the "
               "full critic is not measured yet." if stale else "")
            + (same_settings_sentence(gpu, screen or {}, metric) if stale else ""))


def same_settings_sentence(rr: Any, screen: Mapping[str, Any], metric: str = "Q_cor") -> str:
    """``" The book's 64-wide critic with the settings in which that run differs from the
    defaults (…; fp32 on a CPU; n trials): … at the end of training, k keep their modules: that
    run does not tell the critic's width apart from its settings."``: the ``screen``'s setting
    (:func:`mifd.paper.persistence.screen_label`) whose overrides are the settings of
    :data:`mifd.paper.options.NAMED_SETTINGS` in which ``rr`` differs from the defaults; ``""``
    where it has none or the screen lacks it."""
    from .options import NAMED_SETTINGS
    if not screen:
        return ""
    default = type(rr.config)()
    differs = {f: getattr(rr.config, f) for f in NAMED_SETTINGS
               if getattr(rr.config, f) != getattr(default, f)}
    label = screen_label(differs) if differs else None
    if label not in screen:
        return ""
    c = _course(screen[label], metric)
    return (f" The book's {screen[label].config.sm_width}-wide critic with the settings in "
            f"which that run differs from the defaults ({label}; fp32 on a CPU; {c['n']} "
            f"trials): {c['end']:.3f} at the end of training, {c['kept']} "
            f"{agree(c['kept'], 'keeps its', 'keep their')} modules: that run does not tell "
            "the critic's width apart from its settings.")


def critic_reduction(cfg: Any, short: bool = False) -> str:
    """``"; its critic 64 units wide of the paper's 512, trained on 2 of 20 sequences (4,000 of
    40,000 samples) per SM step, the RNN's MI term on 4,096 of its 40,000 samples"`` — each part
    only where the run's statistics network is smaller or sees less than the published one
    (``""`` where neither): the reductions a reader needs beside any statement about the
    critic. ``sm_samples`` draws a random subset from every estimate larger than it, the SM
    step's (``sm_batch`` sequences) and the MM step's (``batch`` sequences) alike
    (``AdversarialTrainer.estimate``). ``short``: the same in the landing page's first lines,
    ``"; a reduced critic: 64 of 512 units, 10% of its data"`` (its data: the SM step's)."""
    from ..experiments import get_experiment
    paper = get_experiment("wm").config("paper")
    full = paper.batch * paper.steps  # the published critic sees every sample of every sequence

    def seen(sequences: int) -> int:
        return min(cfg.sm_samples, sequences * cfg.steps) if cfg.sm_samples \
            else sequences * cfg.steps
    parts = []
    if cfg.sm_width < paper.sm_width:
        parts.append(f"its critic {cfg.sm_width} units wide of the paper's {paper.sm_width}")
    seqs = cfg.sm_batch or cfg.batch
    samples, mm = seen(seqs), seen(cfg.batch)
    if short and parts and samples < full:
        return f"; a reduced critic: {cfg.sm_width} of {paper.sm_width} units, " \
               f"{samples / full:.0%} of its data"
    if short and (parts or samples < full):
        return "; a reduced critic: " + (f"{cfg.sm_width} of {paper.sm_width} units" if parts
                                         else f"{samples / full:.0%} of its data")
    if seqs < paper.batch or samples < full:
        parts.append(("trained " if parts else "its critic trained ")
                     + f"on {seqs} of {paper.batch} sequences ({samples:,} of {full:,} "
                     "samples) per SM step")
    if mm < cfg.batch * cfg.steps:
        parts.append(f"the RNN's MI term on {mm:,} of its {cfg.batch * cfg.steps:,} samples")
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
    condition) and the screen of :mod:`mifd.paper.persistence` (the other RMSprop ε placement
    and the settings that change the fade, :func:`screen_short`, where committed): whether the
    modules form, whether they stay, and the verdict of the paper's end-of-training value."""
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
            f"{paper.sd:.2f} at the end of training (by the book's rules: "
            f"*{c['early_verdict']}*); at the end of training the mean is "
            f"{c['end']:.3f} ± {c['end_sd']:.3f}: {c['band']} of {c['n']} trials end in the "
            f"paper's band or above (≥ {band_floor(paper):.3f}), "
            f"{c['kept']} {agree(c['kept'], 'keeps', 'keep')} ≥ {persistence.KEEP:.0%} of "
            "their peak.")
    for label, other in persistence.placement_pair(screen or {}, rr).items():
        text += " With " + course_sentence(other, label, metric)  # the other ε placement
    screened = screen_short(screen or {}, metric, markdown=True)
    if screened:
        text += " " + screened
    hidden = dependence.headline(rr)
    if hidden:
        text += " " + hidden
    verdict = paper_table(rr).loc[("mi", metric), "verdict"]
    text += (f" The paper's end-of-training {metric}, judged on this run by the book's rules: "
             f"*{verdict}*.")
    full = full_data_sentence(screen or {}, metric)
    return text + (" " + full if full else "")


def full_data_verdict(screen: Mapping[str, Any], metric: str = "Q_cor"
                      ) -> tuple[str, Any, str] | None:
    """The ``screen``'s setting whose critic sees all its data
    (:data:`mifd.paper.persistence.FULL_DATA`): its label, its run and the claims table's verdict
    of the paper's end-of-training ``metric`` judged on it; ``None`` where the screen lacks it."""
    label = screen_label(FULL_DATA)
    if label not in screen:
        return None
    rr = screen[label]
    return label, rr, paper_table(rr).loc[("mi", metric), "verdict"]


def full_data_sentence(screen: Mapping[str, Any], metric: str = "Q_cor") -> str:
    """The claims table's verdict of the paper's end-of-training ``metric`` judged on the
    screen's setting whose critic sees all its data
    (:data:`mifd.paper.persistence.FULL_DATA`: every sample of every sequence per SM step, as
    published; ``""`` where the screen lacks it): its mean ± sd at the end of training (the
    final evaluation) and the verdict."""
    full = full_data_verdict(screen, metric)
    if full is None:
        return ""
    label, rr, verdict = full
    c = _course(rr, metric)
    return (f"With the critic on all its data, as published ({label}, still "
            f"{rr.config.sm_width} units wide; {c['n']} trials): {c['end']:.3f} ± "
            f"{c['end_sd']:.3f} at the end of training, judged by the same rules: "
            f"*{verdict}*.")


def answer_point(rr: Any, metric: str = "Q_cor", screen: Mapping[str, Any] | None = None
                 ) -> str:
    """The summary's first point: the answer of :func:`takeaway` in one sentence (whether the
    modules form and stay, by :func:`course_words`' rules) with the verdict of the paper's
    end-of-training value, and that verdict on the ``screen``'s setting whose critic sees all
    its data where committed (:func:`full_data_sentence`); the page's opening gives the
    numbers."""
    words = answer_words(rr, metric)
    if words is None:
        return f"This run has no MI condition ({', '.join(rr.config.conditions)})."
    forms, stays = words
    verdict = paper_table(rr).loc[("mi", metric), "verdict"]
    fd = full_data_verdict(screen or {}, metric)
    full = f"; with the critic on all its data, as published ({fd[0]}): {fd[2]}" if fd else ""
    return (f"With MI minimization the groups {forms} and {stays}; the paper's end-of-training "
            f"{metric}, judged by the book's rules: {verdict}{full} (the numbers: at the top of "
            "the page).")


def summary_points(rr: Any, screen: Mapping[str, Any] | None = None,
                   audit: Any = None, metric: str = "Q_cor", audit_note: str = "") -> list[str]:
    """The page's closing summary, one point per finding, written from the results;
    ``audit_note`` (:func:`mifd.paper.wm.load_audit`'s) non-empty: the audit is of another
    run, and its point says so."""
    if audit is not None:
        audit_point = ("Post-hoc audit, of an earlier run, not this page's (its section names "
                       "it): " if audit_note else "Post-hoc audit: ")
        text = audit_summary(audit)
        audit_point += text[:1].lower() + text[1:]
    table = paper_table(rr)
    judged = table[table["verdict"] != "no paper value"]  # the rows with a number to compare
    counts = judged["verdict"].map(rules.category).value_counts()
    counts = counts.reindex([v for v in rules.VERDICTS if v in counts.index])
    points = [answer_point(rr, metric, screen),
              f"Of the {len(judged)} numbers the paper gives for this run: "
              + ", ".join(f"{n} {'differ' if v == 'differs' and n != 1 else v}"
                          for v, n in counts.items()) + "."]
    point = correlation_point(rr) if "mi" in rr.config.conditions else ""
    if point:
        points.append(point)
    point = screen_point(screen, metric) if screen else ""
    if point:
        points.append(point)
    if screen:
        from .planned import points as planned_points
        points += planned_points(screen, metric)
    if audit is not None:
        points.append(audit_point)
    return points


def screen_point(screen: Mapping[str, Any], metric: str = "Q_cor") -> str:
    """The summary's point on the screen: each setting's paired ``metric`` difference from the
    screen's default at the last snapshot, its Wilcoxon p and its p after Holm's adjustment
    over the settings (:func:`mifd.paper.persistence.holm`), and the settings shown after
    adjustment; ``""`` without the default or another setting."""
    from . import persistence
    first = next(iter(persistence.SCREEN))
    others = [lbl for lbl in screen if lbl != first]
    if first not in screen or not others:
        return ""
    tests, adj = persistence.against(screen, first, metric, persistence.EPOCHS[-1])
    diffs = [f"{lbl}: {t['mean difference']:+.3f} on {t['n']} seeds (p = {t['p']:.2g}, "
             f"adjusted {adj[lbl]:.2g})" for lbl, t in tests.items()]
    shown = [lbl for lbl in others if adj[lbl] < persistence.ALPHA]
    last = int(persistence.trial_series(screen[first], metric, "mi")[0][-1])
    return (f"Against {first} at epoch {last} (the last snapshot), paired {metric} differences "
            "(Wilcoxon; adjusted: Holm, over the "
            f"{sum(np.isfinite(t['p']) for t in tests.values())} settings): "
            + "; ".join(diffs) + f". Shown after adjustment (p < {persistence.ALPHA:g}): "
            + (", ".join(shown) or "none") + ".")


def screen_short(screen: Mapping[str, Any], metric: str = "Q_cor", markdown: bool = False
                 ) -> str:
    """The landing page's word on the screen of the fade: which of the settings screened
    against the default change ``metric`` at the last snapshot (paired Wilcoxon, p <
    :data:`mifd.paper.persistence.ALPHA` after Holm's adjustment:
    :func:`mifd.paper.persistence.against`), each with its mean there, how many of its trials
    keep their modules, its paired difference and adjusted p (each name emphasized in HTML, or
    in Markdown with ``markdown``); ``""`` without the default or another setting."""
    from . import persistence
    first = next(iter(persistence.SCREEN))
    tests, adj = persistence.against(screen, first, metric) if first in screen else ({}, {})
    family = sum(np.isfinite(p) for p in adj.values())
    if not family:
        return ""
    shown = [k for k in tests if np.isfinite(adj[k]) and adj[k] < persistence.ALPHA]
    last = int(persistence.trial_series(screen[first], metric, "mi")[0][-1])
    if not shown:
        return (f"No other setting screened on paired seeds ({family}) is shown to change "
                f"{metric} at epoch {last} after Holm's adjustment.")
    words = []
    for k in shown:
        ep, _, v = persistence.trial_series(screen[k], metric, "mi")
        n_kept, t = int(persistence.kept(v).sum()), tests[k]
        name = f"*{k}*" if markdown else f"<em>{k}</em>"
        words.append(f"{name}, {v[-1].mean():.3f} with {n_kept} of {v.shape[1]} "
                     f"keeping (paired {t['mean difference']:+.3f}, Holm-adjusted "
                     f"p = {adj[k]:.2g})")
    return (f"Of {family} other settings screened, {len(shown)} "
            f"{agree(len(shown), 'is', 'are')} shown to change {metric} at epoch {last}: "
            + "; ".join(words) + ".")


def screen_sentence(screen: Mapping[str, Any]) -> str:
    """A paragraph for the landing page's folded answer: which screened settings change the
    fade (:func:`mifd.paper.persistence.conclusion` against the screen's default), led by a
    blank line; ``""`` where the default or every other setting is not committed."""
    from . import persistence
    text = persistence.conclusion(screen, next(iter(persistence.SCREEN)))
    return f"\n\n**Which settings change the fade?** {text}" if text else ""
