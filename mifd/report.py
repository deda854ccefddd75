"""The landing page's claims table: every claim of the paper, ours beside it, with a verdict.

Built only from stored runs (``mifd.run`` results) and the paper's reported values
(``mifd.paper``); verdicts follow the rules of :mod:`mifd.claims`, plus, for the qualitative
claims, the rules written in each row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import claims, separation_analysis, wm_analysis


def _where(rr: Any) -> str:
    """Profile, device, trials per condition and (when not fp32) the critic's precision."""
    m = rr.meta.get("machine", {})
    prec = getattr(rr.config, "sm_precision", "fp32")
    return (f"{rr.profile}, {m.get('gpu') or m.get('device', '?')}, n = {rr.config.trials}"
            + (f", {prec} critic" if prec != "fp32" else ""))


def _timing_verdict(table: pd.DataFrame, functional: str, structural: str) -> tuple[str, str]:
    row = table[(table["functional"] == functional) & (table["structural"] == structural)]
    if row.empty:
        return "—", claims.not_testable(0)
    r = row.iloc[0]
    n, first, p = int(r["trials with both onsets"]), int(r["functional first"]), \
        r["Wilcoxon p (functional first)"]
    ours = f"{first}/{n} trials functional first; Wilcoxon p = {p:.2g}" if n else "no onsets"
    if n < 2:
        return ours, claims.not_testable(n)
    if first > n / 2 and np.isfinite(p) and p < claims.ALPHA:
        return ours, "reproduced"
    return ours, "same direction, n.s." if first > n / 2 else "not reproduced"


def claims_table(wm: Any | None, sep: Any | None, wm_gpu: Any | None = None) -> pd.DataFrame:
    """One row per claim: section, claim, paper, ours, where (profile, device), verdict.
    ``wm_gpu``: a second working-memory run (the published settings on a GPU, possibly with
    fewer trials: :func:`mifd.shards.committed_shards`), whose rows follow the first's under
    their own section."""
    rows: list[dict] = []

    def add(section: str, rr: Any, frame: pd.DataFrame) -> None:
        for (cond, qty), r in frame.iterrows():
            if r["verdict"] == "no paper value":
                continue
            rows.append({"section": section, "claim": f"{qty} ({cond})", "paper": r["paper"],
                         "ours": r["ours"], "ours 95% CI (t)": r["ours 95% CI"],
                         "bootstrap 95% CI": r["bootstrap 95% CI"], "where": _where(rr),
                         "verdict": r["verdict"]})

    def wm_rows(wm: Any, section: str) -> None:
        add(section, wm, wm_analysis.paper_table(wm))
        if "mi" in wm.config.conditions:
            t = wm_analysis.timing(wm, "mi")
            for f, s in (("Q_cor", "Q_str"), ("D_cor", "D_in"), ("D_cor", "D_out")):
                ours, v = _timing_verdict(t, f, s)
                rows.append({"section": section, "claim": f"{f} rises before {s}",
                             "paper": "functional first (Fig. 9)", "ours": ours,
                             "where": _where(wm), "verdict": v})
            cls = wm_analysis.classify(wm)
            mi = cls[cls["condition"] == "mi"]
            failed = mi[mi["Q_str"] <= wm_analysis.STRUCTURAL_Q]
            ok = mi[mi["Q_str"] > wm_analysis.STRUCTURAL_Q]
            silenced = int((failed["class"] == "silenced group").sum())
            if len(failed) and len(ok):
                v = "reproduced" if silenced > len(failed) / 2 else "not reproduced"
            else:
                v = claims.not_testable(len(mi))
            rows.append({"section": section,
                         "claim": "structurally failed trials silence a group",
                         "paper": "one group silenced (Fig. 8)",
                         "ours": f"{silenced}/{len(failed)} failed MI trials silenced; "
                                 f"{len(ok)} with Q_str > {wm_analysis.STRUCTURAL_Q}",
                         "where": _where(wm), "verdict": v})

    for run, section in ((wm, "working memory"), (wm_gpu, "working memory, published settings")):
        if run is not None:
            wm_rows(run, section)
    if sep is not None:
        frame = separation_analysis.paper_table(sep)
        add("chaotic separation", sep, frame)
        t = separation_analysis.timing(sep, "mi_l2" if "mi_l2" in sep.config.conditions
                                       else sep.result["conditions"][0])
        for f, s in (("Q_cor", "Q_str"), ("D_cor", "D_out")):
            ours, v = _timing_verdict(t, f, s)
            rows.append({"section": "chaotic separation", "claim": f"{f} rises before {s}",
                         "paper": "functional first (Fig. 16)", "ours": ours,
                         "where": _where(sep), "verdict": v})
        l2 = [frame.loc[("mi_l2 vs mi_no_l2", m), "verdict"] for m in ("Q_str", "D_out")
              if ("mi_l2 vs mi_no_l2", m) in frame.index]
        if l2:
            v = ("reproduced" if all(x == "reproduced" for x in l2) else
                 "partly" if any(x == "reproduced" for x in l2) else "not reproduced")
            rows.append({"section": "chaotic separation", "claim": "L2 is needed for structure",
                         "paper": "Q_str, D_out: MI+L2 > MI without L2",
                         "ours": "; ".join(f"{m}: {x}" for m, x in zip(("Q_str", "D_out"), l2)),
                         "where": _where(sep), "verdict": v})
    cols = ["section", "claim", "paper", "ours", "ours 95% CI (t)", "bootstrap 95% CI", "where",
            "verdict"]
    return pd.DataFrame(rows).reindex(columns=cols).fillna("—")


#: the order of verdict categories in the counts (:data:`mifd.claims.VERDICTS`)
VERDICT_ORDER = claims.VERDICTS


def verdict_counts(table: pd.DataFrame) -> pd.Series:
    """Claims per verdict category (:func:`mifd.claims.category`), in :data:`VERDICT_ORDER`."""
    counts = table["verdict"].map(claims.category).value_counts()
    return counts.reindex([v for v in VERDICT_ORDER if v in counts.index])


def verdict_counts_by_section(table: pd.DataFrame) -> pd.DataFrame:
    """Claims per section (rows, in table order) and verdict category (columns)."""
    cat = table.assign(verdict=table["verdict"].map(claims.category))
    counts = cat.groupby("section", sort=False)["verdict"].value_counts().unstack(fill_value=0)
    return counts.reindex(columns=[v for v in VERDICT_ORDER if v in counts.columns])


def summary(table: pd.DataFrame) -> str:
    """A plain-language summary of the claims table, one paragraph per section (Markdown):
    where its runs come from, how many claims fall in each verdict category, and which claims
    were reproduced, which differ or were not reproduced, and what could not be tested."""
    paras = []
    cat = table["verdict"].map(claims.category)
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
