"""The landing page's claims table: every claim of the paper, ours beside it, with a verdict.

Built only from stored runs (``mifd.run`` results) and the paper's reported values
(:mod:`mifd.paper.reported`); every verdict follows a rule of :mod:`mifd.paper.rules`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import reported, rules, scale
from .formatting import agree
from . import separation as separation_section
from . import wm as wm_section
from .options import named_differences


def _failed_row(wm: Any, section: str) -> dict[str, Any]:
    """The claims row "structurally failed trials silence a group" of a ``wm`` run: how many
    of its structurally failed MI trials silence a group, and how many of the others do."""
    cls = wm_section.classify(wm)
    mi = cls[cls["condition"] == "mi"]
    failed = mi[mi["Q_str"] <= wm_section.STRUCTURAL_Q]
    ok = mi[mi["Q_str"] > wm_section.STRUCTURAL_Q]
    silenced = int((failed["class"] == "silenced group").sum())
    return {"section": section, "claim": "structurally failed trials silence a group",
            "paper": "one group silenced (Fig. 8)",
            "ours": f"{silenced}/{len(failed)} structurally failed MI trials "
                    f"(Q_str ≤ {wm_section.STRUCTURAL_Q}) silence a group; of the {len(ok)} MI "
                    f"trials with Q_str > {wm_section.STRUCTURAL_Q}, "
                    f"{int((ok['class'] == 'silenced group').sum())} do",
            **_place(wm),
            "verdict": rules.majority_verdict(silenced, len(failed), len(ok), len(mi)),
            "kind": "failed trials", "scale": scale.far_note(wm)}


def _place(rr: Any) -> dict[str, str]:
    """Where a row's run stands, as three columns: ``run`` (profile, device, trials per
    condition), ``differs`` (when not fp32 the critic's precision, and the optimizer and critic
    settings in which the run differs from its experiment's defaults,
    :data:`mifd.paper.options.NAMED_SETTINGS`; empty when none) and ``where`` (both, with the
    training length between them)."""
    m = rr.meta.get("machine", {})
    cfg = rr.config
    prec = getattr(cfg, "sm_precision", "fp32")
    length = (f"{cfg.epochs} epochs" if hasattr(cfg, "epochs") else
              f"{cfg.mm_steps} MM steps of {cfg.length}-step sequences"
              if hasattr(cfg, "mm_steps") and hasattr(cfg, "length") else
              f"{cfg.mm_steps} MM steps" if hasattr(cfg, "mm_steps") else
              f"{cfg.steps} steps" if hasattr(cfg, "steps") else "")
    run = f"{rr.profile}, {m.get('gpu') or m.get('device', '?')}, n = {cfg.trials}"
    differs = ([f"{prec} critic"] if prec != "fp32" else []) + list(named_differences(cfg))
    return {"run": run, "differs": ", ".join(differs),
            "where": ", ".join([run] + ([length] if length else []) + differs)}


def _where(rr: Any) -> str:
    """Profile, device, trials per condition, training length and the settings in which the
    run differs from the defaults (:func:`_place`), in one line."""
    return _place(rr)["where"]


def _kind(condition: str, quantity: str) -> str:
    """Which rule of :mod:`mifd.paper.rules` judges a row of a section's paper table:
    ``level``, ``count``, ``correlation`` (ours against the paper's number), ``comparison``
    or ``no difference`` (between two of our conditions)."""
    if " vs " in condition:
        return "no difference" if "t-test" in quantity else "comparison"
    if quantity == "success_rate" or quantity.startswith("trials with"):
        return "count"
    return "correlation" if quantity.startswith("Pearson") else "level"


def _timing_verdict(table: pd.DataFrame, functional: str, structural: str) -> tuple[str, str]:
    """Our onset numbers for one pair and their verdict (:func:`mifd.paper.rules.timing_verdict`)."""
    row = table[(table["functional"] == functional) & (table["structural"] == structural)]
    if row.empty:
        return "—", rules.not_testable(0)
    r = row.iloc[0]
    n, first, p = int(r["trials with both onsets"]), int(r["functional first"]), \
        r["Wilcoxon p (functional first)"]
    ours = f"{first}/{n} trials functional first; Wilcoxon p = {p:.2g}" if n else "no onsets"
    never = [f"{int(r[f'{k} never rises'])} {k} "
             f"{agree(r[f'{k} never rises'], 'curve never rises', 'curves never rise')}"
             for k in ("functional", "structural") if r.get(f"{k} never rises", 0)]
    if never:  # no onset (mifd.paper.timing.ONSET_RULE): left out of the test, counted
        ours += "; " + ", ".join(never)
    return ours, rules.timing_verdict(n, first, p)


def claims_table(wm: Any | None, sep: Any | None, wm_gpu: Any | None = None,
                 sep_gpu: Any | None = None) -> pd.DataFrame:
    """One row per claim: section, claim, paper, ours, our intervals, the smallest difference
    from the paper's level our n detects (:func:`mifd.paper.rules.detectable`), where (profile,
    device), verdict, the rule that gave it (``kind``: ``_kind``, ``timing``, ``failed
    trials``, ``parts``) and the run's far reduction (``scale``: ``mifd.paper.scale.far_note``,
    empty near the published scale).
    ``wm_gpu``: a second working-memory run (the published settings on a GPU, possibly with
    fewer trials: :func:`mifd.results.shards.committed_shards`), whose rows follow the first's under
    their own section; ``sep_gpu`` likewise for separation (its ``gpu`` profile)."""
    rows: list[dict] = []

    def add(section: str, rr: Any, frame: pd.DataFrame) -> None:
        far = scale.far_note(rr)
        for (cond, qty), r in frame.iterrows():
            if r["verdict"] == "no paper value":
                continue
            rows.append({"section": section, "claim": f"{qty} ({cond})", "paper": r["paper"],
                         "ours": r["ours"], "ours 95% CI (t; Wilson for counts)": r["ours 95% CI"],
                         "bootstrap 95% CI": r["bootstrap 95% CI"],
                         "detectable Δ": r.get("detectable Δ", "—"), **_place(rr),
                         "verdict": r["verdict"], "kind": _kind(cond, qty),
                         "scale": far})

    def wm_rows(wm: Any, section: str) -> None:
        add(section, wm, wm_section.paper_table(wm))
        if "mi" in wm.config.conditions:
            t = wm_section.timing(wm, "mi")
            for f, s in reported.WM_TIMING_PAIRS:
                ours, v = _timing_verdict(t, f, s)
                rows.append({"section": section, "claim": f"{f} rises before {s}",
                             "paper": "functional first (Fig. 9)", "ours": ours,
                             **_place(wm), "verdict": v, "kind": "timing",
                             "scale": scale.far_note(wm)})
            rows.append(_failed_row(wm, section))

    for run, section in ((wm, "working memory"), (wm_gpu, "working memory, paper profile (GPU)")):
        if run is not None:
            wm_rows(run, section)
    def sep_rows(sep: Any, section: str) -> None:
        frame = separation_section.paper_table(sep)
        add(section, sep, frame)
        t = separation_section.timing(sep, "mi_l2" if "mi_l2" in sep.config.conditions
                                      else sep.result["conditions"][0])
        for f, s in reported.SEPARATION_TIMING_PAIRS:
            ours, v = _timing_verdict(t, f, s)
            rows.append({"section": section, "claim": f"{f} rises before {s}",
                         "paper": "functional first (Fig. 16)", "ours": ours,
                         **_place(sep), "verdict": v, "kind": "timing",
                         "scale": scale.far_note(sep)})
        l2 = [frame.loc[("mi_l2 vs mi_no_l2", m), "verdict"] for m in ("Q_str", "D_out")
              if ("mi_l2 vs mi_no_l2", m) in frame.index]
        if l2:
            v = rules.all_of(l2)
            rows.append({"section": section, "claim": "L2 is needed for structure",
                         "paper": "Q_str, D_out: MI+L2 > MI without L2",
                         "ours": "; ".join(f"{m}: {x}" for m, x in zip(("Q_str", "D_out"), l2)),
                         **_place(sep), "verdict": v, "kind": "parts",
                         "scale": scale.far_note(sep)})

    for run, section in ((sep, "chaotic separation"),
                         (sep_gpu, "chaotic separation, gpu profile")):
        if run is not None:
            sep_rows(run, section)
    cols = ["section", "claim", "paper", "ours", "ours 95% CI (t; Wilson for counts)",
            "bootstrap 95% CI", "detectable Δ", "where", "run", "differs", "verdict", "kind",
            "scale"]
    return pd.DataFrame(rows).reindex(columns=cols).fillna("—")


#: the order of verdict categories in the counts (:data:`mifd.paper.rules.VERDICTS`)
VERDICT_ORDER = rules.VERDICTS


def verdict_counts(table: pd.DataFrame) -> pd.Series:
    """Claims per verdict category (:func:`mifd.paper.rules.category`), in :data:`VERDICT_ORDER`."""
    counts = table["verdict"].map(rules.category).value_counts()
    return counts.reindex([v for v in VERDICT_ORDER if v in counts.index])


def verdict_counts_by_section(table: pd.DataFrame) -> pd.DataFrame:
    """Claims per section (rows, in table order) and verdict category (columns)."""
    cat = table.assign(verdict=table["verdict"].map(rules.category))
    counts = cat.groupby("section", sort=False)["verdict"].value_counts().unstack(fill_value=0)
    return counts.reindex(columns=[v for v in VERDICT_ORDER if v in counts.columns])


def summary(table: pd.DataFrame) -> str:
    """A plain-language summary of the claims table, one paragraph per section (Markdown):
    where its runs come from, how many claims fall in each verdict category, and which claims
    were reproduced, which differ or were not reproduced, and what could not be tested."""
    paras = []
    cat = table["verdict"].map(rules.category)
    for section, rows in table.groupby("section", sort=False):
        c = cat[rows.index]
        where = "; ".join(dict.fromkeys(rows["where"]))
        counts = ", ".join(f"{int((c == v).sum())} {v}" for v in VERDICT_ORDER if (c == v).any())

        def names(*kinds: str) -> str:
            sel = rows[c.isin(kinds)]["claim"].tolist()
            return ", ".join(sel) if sel else "none"

        paras.append(
            f"**{section}** ({where}): {len(rows)} claims — {counts}. "
            f"Reproduced: {names('reproduced')}. "
            f"Differ from the paper or not reproduced: {names('differs', 'not reproduced')}. "
            f"Still changing at the end of training: {names('not converged')}. "
            f"Too few trials to tell: {names('not testable')}.")
    return "\n\n".join(paras)


def beyond_table(bimt: Any | None = None, bimt_separation: Any | None = None,
                 penalties: Any | None = None, penalties_separation: Any | None = None,
                 growing_brains: Any | None = None) -> pd.DataFrame:
    """The questions the chapters beyond the paper ask, one row each: section, question, answer
    (by the chapter's stated rule), ours (the numbers), where (profile, device, trials, length),
    scale (the sizes below the published run's: ``mifd.paper.scale.describe``).
    Built from the runs given (``None``: left out): BIMT beside MI minimization on working
    memory and on separation (:func:`mifd.paper.bimt.questions`), the dependence penalties
    on both (:func:`mifd.paper.penalties.questions`), and Growing Brains on the cognitive tasks
    (:func:`mifd.paper.growing_brains.questions`)."""
    from . import bimt as bimt_section
    from . import growing_brains as growing_brains_section
    from . import penalties as penalties_section
    rows = []
    for rr, section, questions in (
            (bimt, "BIMT beside MI minimization (working memory)", bimt_section.questions),
            (bimt_separation, "BIMT beside MI minimization (separation)",
             bimt_section.questions),
            (penalties, "Is MINE needed? (working memory)", penalties_section.questions),
            (penalties_separation, "Is MINE needed? (separation)",
             penalties_section.questions),
            (growing_brains, "Growing Brains (20 cognitive tasks)",
             growing_brains_section.questions)):
        if rr is None:
            continue
        for q in questions(rr):
            rows.append({"section": section, "question": q["question"], "answer": q["answer"],
                         "ours": q["ours"], "where": _where(rr),
                         "scale": scale.describe(scale.reduced(rr))})
    return pd.DataFrame(rows, columns=["section", "question", "answer", "ours", "where", "scale"])
