"""Beyond the paper: is MINE needed? The ``penalties`` experiment read as the chapter's tables —
the λ dose-response of MINE and the Gaussian penalty, the critic-free penalties against MINE at
matched strength, their cost, and K > 2 groups — with its questions answered by the stated rules
of :mod:`mifd.paper.rules` (:data:`~mifd.paper.rules.BEYOND_RULES`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..experiments.penalties import Condition
from . import rules
from .formatting import agree, and_list
from .intervals import clipped, proportion, wilson_ci

#: the per-trial metrics of the dose-response and the comparison (working memory)
METRICS = ("Q_cor", "D_cor", "Q_str", "eval_mse", "success_rate", "gauss_mi_final", "mi_final")
#: the same on the separation task (``penalties-separation``)
SEPARATION_METRICS = ("Q_cor", "D_cor", "Q_str", "R2", "NMI", "gauss_mi_final", "mi_final")
#: what each metric is, for axis labels and table headers
LABELS = {"Q_cor": "Q_cor (functional modularity)", "D_cor": "D_cor (functional separation)",
          "Q_str": "Q_str (structural modularity)", "eval_mse": "task MSE (evaluation)",
          "success_rate": "success (accuracy > 0.9)", "R2": "R² (separation)",
          "NMI": "NMI of the |corr| communities with the halves",
          "gauss_mi_final": "Gaussian MI of the halves (nats)",
          "mi_final": "statistics network's DV (nats)"}
#: the metrics' names in running text
SHORT = {"eval_mse": "the task MSE", "success_rate": "the success rate", "R2": "R²",
         "gauss_mi_final": "the Gaussian MI", "mi_final": "the critic's estimate"}
#: MINE's rivals, in the order the tables list them: the critic-free penalties, then the
#: other bounds of the same statistics network
RIVALS = ("gaussian", "xcorr", "hsic", "club", "nwj", "smile")
#: the rivals computed from the rates alone, rescaled to matched strength
CRITIC_FREE = ("gaussian", "xcorr", "hsic", "club")


def metrics_of(rr: Any) -> tuple[str, ...]:
    """The metrics of the run's task: :data:`METRICS` or :data:`SEPARATION_METRICS`."""
    first = next(iter(rr.result["trials"].values()))
    return SEPARATION_METRICS if "R2" in first else METRICS


def task_error(rr: Any) -> str:
    """The run's task-error metric: the evaluation MSE (working memory) or R² (separation)."""
    return "R2" if "R2" in metrics_of(rr) else "eval_mse"


def conditions(rr: Any) -> dict[str, Condition]:
    """Each condition of the run, parsed."""
    return {c: Condition.parse(c) for c in rr.layout.conditions}


def trials_frame(rr: Any) -> pd.DataFrame:
    """One row per trial: condition, method, λ, k and every per-trial metric."""
    rows = []
    for name, c in conditions(rr).items():
        tr = rr.result["trials"][name]
        for t in range(rr.layout.per_condition):
            rows.append({"condition": name, "method": c.method, "λ": c.lam, "k": c.k,
                         **{m: tr[m][t] for m in tr}})
    return pd.DataFrame(rows)


def dose_response(rr: Any, methods: tuple[str, ...] = ("mine", "gaussian"),
                  metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per method of ``methods``, λ (0: the ``none`` trials, shared) and metric (default:
    :func:`metrics_of`): mean, 95% t-interval (clipped to a bounded metric's range,
    :func:`mifd.paper.intervals.clipped`; the Wilson interval for the success rate,
    :func:`mifd.paper.intervals.wilson_ci`) and n over trials (two groups only)."""
    metrics = metrics or metrics_of(rr)
    df = trials_frame(rr)
    none = df[df["method"] == "none"]
    rows = []
    for method in methods:
        sub = pd.concat([none.assign(method=method),
                         df[(df["method"] == method) & (df["k"] == 2)]])
        for lam, g in sub.groupby("λ"):
            for m in metrics:
                mean, _, lo, hi, n = rules.mean_ci(g[m])
                lo, hi, _ = clipped(lo, hi, m)  # a bounded metric's interval within its range
                if m == "success_rate":  # a proportion: its Wilson interval, inside [0, 1]
                    lo, hi = wilson_ci(*proportion(g[m]))
                rows.append({"method": method, "λ": lam, "metric": m, "mean": mean,
                             "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows)


def trends(rr: Any, methods: tuple[str, ...] = ("mine", "gaussian"),
           metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per method and metric (default: :func:`metrics_of`): Spearman's ρ between λ (0 for
    ``none``) and the metric over the trials, its p and the verdict
    (:func:`mifd.paper.rules.trend_verdict`)."""
    metrics = metrics or metrics_of(rr)
    df = trials_frame(rr)
    rows = []
    for method in methods:
        sub = df[((df["method"] == method) & (df["k"] == 2)) | (df["method"] == "none")]
        for m in metrics:
            verdict, rho, p = rules.trend_verdict(sub["λ"], sub[m])
            rows.append({"method": method, "metric": m, "λ values": sub["λ"].nunique(),
                         "trials": int(np.isfinite(sub[m].astype(float)).sum()),
                         "Spearman ρ": rho, "p": p, "verdict": verdict})
    return pd.DataFrame(rows).set_index(["method", "metric"])


def trend_sentence(rr: Any, methods: tuple[str, ...] = ("mine", "gaussian")) -> str:
    """:func:`trends` in words, per method: the metrics that rise with λ, those that fall and
    those with no trend detected (or not testable), by the trend rule; ``""`` for no method."""
    if not methods:
        return ""
    tr = trends(rr, methods)
    names = {"mine": "MINE", "gaussian": "the Gaussian penalty"}
    out = []
    for method in methods:
        if method not in tr.index.get_level_values(0):
            continue
        rows = tr.loc[method]
        by = {v: [SHORT.get(m, m) for m in rows.index if rows.loc[m, "verdict"] == v]
              for v in ("increases", "decreases")}
        rest = [SHORT.get(m, m) for m in rows.index if rows.loc[m, "verdict"] not in by]
        parts = ([f"{and_list(by['increases'])} {agree(len(by['increases']), 'rises', 'rise')}"]
                 if by["increases"] else []) + \
            ([f"{and_list(by['decreases'])} {agree(len(by['decreases']), 'falls', 'fall')}"]
             if by["decreases"] else []) + \
            ([f"no trend is detected in {and_list(rest)}"] if rest else [])
        out.append(f"Under {names.get(method, method)}, as λ grows, " + "; ".join(parts) + ".")
    if not out:
        return ""
    return " ".join(out) + (f" (The trend rule: Spearman's ρ over {rr.layout.per_condition} "
                            f"trials per λ, two-sided p < {rules.ALPHA}.)")


def cost(rr: Any) -> pd.DataFrame:
    """Seconds per trial and epoch, measured in the run: the statistics network's ``sm_per_mm``
    updates with their RNN passes (what MINE needs and a critic-free penalty does not), and each
    penalty's evaluation with its backward share of the MM step."""
    tm = rr.result["timing"]
    T = tm["trials"]
    counts = {f"{c.method}/K{c.k}": 0 for c in conditions(rr).values()}
    for c in conditions(rr).values():
        counts[f"{c.method}/K{c.k}"] += rr.layout.per_condition
    rows = [{"what": "statistics network (MINE): k SM updates and their RNN passes",
             "seconds per trial and MM step": tm["critic_per_epoch"] / T}]
    for key, sec in tm["penalty_per_epoch"].items():
        rows.append({"what": f"{key.replace('/K2', '')} penalty (forward)",
                     "seconds per trial and MM step": sec / max(1, counts.get(key, 1))})
    out = pd.DataFrame(rows).set_index("what")
    out["fraction of the critic's"] = out["seconds per trial and MM step"] / \
        out["seconds per trial and MM step"].iloc[0]
    return out


#: the metrics whose lower value means less dependence or a better task (the others: higher)
LOWER_IS_BETTER = ("eval_mse", "gauss_mi_final", "mi_final")


def direction(metric: str) -> str:
    """The one-sided alternative of the comparison against no penalty: ``"less"`` for
    :data:`LOWER_IS_BETTER`, else ``"greater"`` — the way the metric moves when the penalty
    separates the groups (less dependence, more modularity) and the task does better."""
    return "less" if metric in LOWER_IS_BETTER else "greater"


def rival_metrics(rr: Any) -> tuple[str, ...]:
    """:func:`rivals`' default metrics: Q_cor, D_cor, Q_str, the task error, the Gaussian MI."""
    return ("Q_cor", "D_cor", "Q_str", task_error(rr), "gauss_mi_final")


def vs_none_rule(rr: Any, metrics: tuple[str, ...] | None = None) -> str:
    """The comparison against no penalty in :func:`rivals`, in words: which metrics it tests
    for a rise and which for a fall (:func:`direction`)."""
    metrics = metrics or rival_metrics(rr)
    up = [m for m in metrics if direction(m) == "greater"]
    down = [m for m in metrics if direction(m) == "less"]
    parts = ([f"higher {', '.join(up)}"] if up else []) + \
        ([f"lower {', '.join(down)}"] if down else [])
    return ("“against no penalty”: a one-sided Welch test (p < "
            f"{rules.ALPHA}) that the penalty moves the metric the way that means less "
            "dependence, more modularity or a better task — " + "; ".join(parts)
            + " than no penalty (the column “one-sided test” names it per row); “not "
            f"detected” where p ≥ {rules.ALPHA} or the difference goes the other way.")


def rivals(rr: Any, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Each rival (:data:`RIVALS`) against MINE at the same λ (two groups): per metric (default:
    :func:`rival_metrics`) the rival's mean, MINE's, no penalty's, the verdict of
    :func:`mifd.paper.rules.rival_verdict`, and the one-sided comparison against no penalty in
    the direction :func:`direction` gives (named in "one-sided test")."""
    metrics = metrics or rival_metrics(rr)
    df = trials_frame(rr)
    base = df[df["method"] == "none"]
    rows = []
    for lam in sorted(df.loc[df["method"].isin(RIVALS), "λ"].unique()):
        ref = df[(df["method"] == "mine") & (df["λ"] == lam)]
        for method in RIVALS:
            alt = df[(df["method"] == method) & (df["λ"] == lam) & (df["k"] == 2)]
            if alt.empty or ref.empty:
                continue
            for m in metrics:
                rows.append({"λ": lam, "penalty": method, "metric": m,
                             "penalty mean": alt[m].mean(), "MINE mean": ref[m].mean(),
                             "no penalty": base[m].mean(),
                             "against MINE": rules.rival_verdict(alt[m], ref[m], base[m]),
                             "one-sided test": "penalty " + ("<" if direction(m) == "less"
                                                             else ">") + " no penalty",
                             "against no penalty": _vs_none(alt[m], base[m], m)})
    return pd.DataFrame(rows).set_index(["λ", "penalty", "metric"])


def _vs_none(a: Any, b: Any, metric: str) -> str:
    """The one-sided comparison against no penalty, in the direction of :func:`direction`
    (modularity and R² up; the MSE and the dependence down)."""
    way = direction(metric)
    c = rules.comparison(a, b, way)
    if not np.isfinite(c["welch_p"]):
        return rules.not_testable(min(len(a), len(b)))
    moved = (c["diff"] > 0) == (way == "greater") and c["welch_p"] < rules.ALPHA
    return f"{'yes' if moved else 'not detected'} (p = {c['welch_p']:.2g})"


def _key(metric: str, k: int) -> str:
    """The per-trial key of ``metric`` (``Q_cor``, ``Q_str``, ``NMI_cor``) with ``k`` groups."""
    return metric if k == 2 and metric != "NMI_cor" else f"{metric}_{k}"


def groups(rr: Any) -> pd.DataFrame:
    """K > 2 groups: per condition with k groups (no penalty at every k; the Gaussian penalty
    with two groups at the same λ, the reference), the modularity of ``|corr|`` with k fixed blocks
    (``Q_cor_k``), the NMI between the blocks and k detected communities (``NMI_cor_k``),
    ``Q_str_k``, the task MSE, each as mean ± sd (n), and whether ``Q_cor_k`` is above no
    penalty's at the same k (one-sided Welch)."""
    df = trials_frame(rr)
    base = df[df["method"] == "none"]
    multi = {c.lam for c in conditions(rr).values() if c.k > 2}  # their two-group reference
    rows = []
    for name, c in conditions(rr).items():
        if c.method == "none":
            ks = (2, 3, 4)
        elif c.k > 2 or (c.method == "gaussian" and c.lam in multi):
            ks = (c.k,)
        else:
            continue
        g = df[df["condition"] == name]
        for k in ks:
            row = {"condition": name, "k": k}
            err = task_error(rr)
            for m in ("Q_cor", "NMI_cor", "Q_str", err):
                key = _key(m, k) if m != err else m
                mean, sd, _, _, n = rules.mean_ci(g[key])
                row[f"{m}_k" if m != err else m] = rules.fmt(mean, sd, n)
            row["Q_cor_k above no penalty"] = ("—" if c.method == "none" else
                                               _vs_none(g[_key("Q_cor", k)],
                                                        base[_key("Q_cor", k)], "Q_cor"))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["condition", "k"])


def questions(rr: Any, lam: float | None = None) -> list[dict[str, str]]:
    """The chapter's questions answered from the run, one dict each (``question``, ``answer``,
    ``ours``, ``rule``), by the rules of :mod:`mifd.paper.rules`:

    * per method (MINE, the Gaussian penalty): does D_cor grow with λ? (the trend rule);
    * per rival of MINE at ``lam`` (:data:`RIVALS`; default: the λ at which most of them ran,
      the smallest of ties): its D_cor against MINE's (the rival rule), with a critic-free penalty's cost as
      a fraction of the statistics network's;
    * per condition with k > 2 groups: is Q_cor with k blocks above no penalty's? (one-sided
      Welch)."""
    out = []
    tr = trends(rr, metrics=("D_cor",))
    for method, name in (("mine", "MINE"), ("gaussian", "the Gaussian penalty")):
        if (method, "D_cor") in tr.index:
            r = tr.loc[(method, "D_cor")]
            out.append({"question": f"Does functional separation (D_cor) grow with λ under "
                                    f"{name}?", "answer": r["verdict"],
                        "ours": f"Spearman ρ = {r['Spearman ρ']:+.2f}, p = {r['p']:.2g} over "
                                f"{r['trials']} trials at {r['λ values']} values of λ",
                        "rule": "trend"})
    riv = rivals(rr, metrics=("D_cor",))
    c = cost(rr)
    if lam is None:  # the λ at which most rivals ran (ties: the smallest)
        per = riv.reset_index().groupby("λ")["penalty"].nunique()
        lam = float(per[per == per.max()].index.min()) if len(per) else 0.0
    for method in RIVALS:
        if (lam, method, "D_cor") not in riv.index:
            continue
        r = riv.loc[(lam, method, "D_cor")]
        key, col = f"{method} penalty (forward)", "fraction of the critic's"
        frac = (f"; its evaluation took {c.loc[key, col]:.1%} of the statistics network's time"
                if key in c.index else "")
        what = (f"the {method} penalty (λ = {lam:g}, matched)" if method in CRITIC_FREE
                else f"the {method.upper()} bound of the critic (λ_I = {lam:g})")
        out.append({"question": f"Does {what} separate the groups as MINE does?",
                    "answer": r["against MINE"],
                    "ours": f"D_cor {r['penalty mean']:.3f} against MINE's {r['MINE mean']:.3f} "
                            f"and no penalty's {r['no penalty']:.3f}{frac}",
                    "rule": "rival"})
    for name, cond in conditions(rr).items():
        if cond.k <= 2:
            continue
        g = groups(rr).loc[(name, cond.k)]
        verdict = g["Q_cor_k above no penalty"]
        out.append({"question": f"Do {cond.k} groups become functional modules under {name}?",
                    "answer": verdict.split(" (")[0],
                    "ours": f"Q_cor with {cond.k} blocks {g['Q_cor_k']} against no penalty's "
                            f"{groups(rr).loc[('none', cond.k), 'Q_cor_k']}; {verdict}",
                    "rule": "one-sided Welch against no penalty"})
    return out


def answers(rr: Any) -> str:
    """:func:`questions` as the chapter's markdown, with the rules and the trial count."""
    lines = [f"**{q['question']} {q['answer']}.** {q['ours']}." for q in questions(rr)]
    lines.append(f"(n = {rr.layout.per_condition} trials per condition; rules: "
                 f"{rules.BEYOND_RULES})")
    return "\n\n".join(lines)


def calibration(rr: Any) -> pd.DataFrame:
    """Per critic-free condition: the matching factor ``c = G/P`` of its trials (median, min,
    max), measured on the initial networks (:meth:`mifd.experiments.penalties.PenaltyCost.calibrate`)."""
    scale = rr.layout.split(np.asarray(rr.result["scale"], float))
    rows = [{"condition": name, "median c": float(np.median(scale[name])),
             "min c": float(scale[name].min()), "max c": float(scale[name].max())}
            for name, c in conditions(rr).items()
            if c.method in (*CRITIC_FREE, "gaussian_tc")]
    return pd.DataFrame(rows).set_index("condition")


def against_wm(rr: Any, wm: Any, condition: str = "mine=0.1") -> dict[str, Any]:
    """The ``condition`` trials of a ``penalties`` run beside the ``mi`` trials of the same seeds
    in a ``wm`` run (``wm``: its :class:`~mifd.results.result.RunResult`) over the epochs
    both trained: the largest absolute difference of the task loss and of the DV per MM step
    (0: the same computation), the trials and epochs compared. ``None`` values when the run
    lacks the condition or the seeds differ."""
    lay, wlay = rr.layout, wm.layout
    if condition not in lay.conditions or "mi" not in wlay.conditions:
        return {"trials": 0, "epochs": 0, "task": None, "mi": None}
    n = min(lay.per_condition, wlay.per_condition)
    if lay.seed != wlay.seed or n == 0:
        return {"trials": 0, "epochs": 0, "task": None, "mi": None}
    a, b = lay.index(condition)[:n], wlay.index("mi")[:n]
    E = min(rr.result["hist"]["task"].shape[0], wm.result["hist"]["task"].shape[0])
    diff = {k: float(np.nanmax(np.abs(rr.result["hist"][k][:E, a]
                                      - wm.result["hist"][k][:E, b]))) for k in ("task", "mi")}
    return {"trials": int(n), "epochs": int(E), **diff}


def against_wm_sentence(rr: Any, wm: Any, condition: str = "mine=0.1") -> str:
    """What :func:`against_wm` found, in words: the same computation (every difference 0),
    or not — and then the named settings (:func:`mifd.paper.options.named_differences`) in
    which the two runs differ, where they do."""
    from .options import NAMED_SETTINGS
    same = against_wm(rr, wm, condition)
    if not same["trials"]:
        return (f"The `{condition}` trials and the working-memory run's MI trials share no "
                "seeds here: not compared.")
    head = (f"`{condition}` against the working-memory run's MI trials of the same seeds "
            f"({same['trials']} trials, {same['epochs']} epochs): largest |difference| of the "
            f"task loss {same['task']:.3g}, of the DV {same['mi']:.3g}")
    if same["task"] == 0 and same["mi"] == 0:
        return head + ": the same computation."
    differ = [f"{NAMED_SETTINGS[f](getattr(rr.config, f))} here, "
              f"{NAMED_SETTINGS[f](getattr(wm.config, f))} there"
              for f in NAMED_SETTINGS if hasattr(rr.config, f) and hasattr(wm.config, f)
              and getattr(rr.config, f) != getattr(wm.config, f)]
    return head + (": not the same computation — the two runs differ in "
                   + "; ".join(differ) + "." if differ else
                   ": not the same computation (the runs' named settings agree).")


def strength_sentence(rr: Any) -> str:
    """What "matched" means beside MINE: the critic-free penalties start at λ × G (G: the
    Gaussian MI of the initial network's groups, :mod:`mifd.experiments.penalties`), while
    MINE's penalty is λ × its own estimate, never rescaled — the medians over MINE's trials of
    its first MM step's estimate and of G, and their ratio; ``""`` without MINE trials."""
    lay, h = rr.layout, rr.result.get("hist", {})
    idx = [i for i, (_, c) in enumerate(conditions(rr).items()) if c.method == "mine"]
    if not idx or "mi" not in h or "gauss_mi" not in h:
        return ""
    cols = np.concatenate([np.arange(i * lay.per_condition, (i + 1) * lay.per_condition)
                           for i in idx])
    dv = np.asarray(h["mi"], float)[0, cols]
    g = np.asarray(h["gauss_mi"], float)[0, cols]
    return (f"Matched strength: each critic-free penalty starts at λ × G, the Gaussian MI of the "
            f"initial network's groups (median {np.nanmedian(g):.2f} nats); MINE's is not "
            f"rescaled, and its first estimate is {np.nanmedian(dv):.2f} nats (medians over "
            f"its {cols.size} trials), so at the same λ MINE starts at "
            f"{np.nanmedian(dv / g):.0%} of their strength.")


def _span(values: list[float]) -> str:
    """``"9%–11%"``, or ``"9%"`` where the range rounds to one value."""
    lo, hi = f"{min(values):.0%}", f"{max(values):.0%}"
    return lo if lo == hi else f"{lo}–{hi}"


def findings(rr: Any) -> str:
    """The page's takeaway (Markdown): the answers of :func:`questions`, one line per kind."""
    qs = questions(rr)
    riv = [q for q in qs if q["rule"] == "rival"]
    tr = [q for q in qs if q["rule"] == "trend"]
    grp = [q for q in qs if q["rule"].startswith("one-sided")]
    c = cost(rr)
    col = "fraction of the critic's"
    fr = [c.loc[f"{m} penalty (forward)", col] for m in CRITIC_FREE
          if f"{m} penalty (forward)" in c.index]
    fk = [c.loc[i, col] for i in c.index if "/K" in i and i.startswith("gaussian/")]
    ft = [c.loc[i, col] for i in c.index if "/K" in i and i.startswith("gaussian_tc/")]
    name = lambda q: q["question"].split(" (")[0].removeprefix("Does the ")  # noqa: E731
    out = []
    if riv:
        out.append("**Against MINE at the same λ** (functional separation D_cor): "
                   + "; ".join(f"{name(q)}: {q['answer']}" for q in riv)
                   + (f". A critic-free penalty between the two groups costs "
                      f"{_span(fr)} of the statistics network's time" if fr
                      else "")
                   + (f"; the Gaussian penalty summed over the pairs of k = 3 or 4 groups "
                      f"{_span(fk)} (their total correlation {_span(ft)})." if fk and ft
                      else ".") + (" " + strength_sentence(rr)).rstrip())
    if tr:
        out.append("**Dose-response**: " + "; ".join(
            f"{q['question'].split('under ')[-1].rstrip('?')}: {q['answer']}" for q in tr) + ".")
    if grp:
        yes = sum(q["answer"] == "yes" for q in grp)
        out.append(f"**More than two groups**: {yes} of {len(grp)} conditions with k > 2 blocks "
                   "become functional modules (Q_cor with k blocks above no penalty's).")
    return "\n\n".join(out + [f"({rr.profile} profile, {rr.layout.per_condition} trials per "
                              "condition.)"])
