"""The landing page, answer first: a headline written from the claims table
(:func:`mifd.paper.claims.claims_table`), one key figure, and the claims and "Beyond the paper"
tables whole, as HTML that fits the text column (fixed layout, wrapped cells, no column
dropped, no row cut), each verdict a coloured badge beside its rule in one plain line.

A level verdict from a far-reduced run (:mod:`mifd.paper.scale`) keeps its verdict, labelled
with the run's scale, and is not counted as a test of the paper (:func:`tests_of_paper`).
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import reported, rules, scale

#: each verdict category (:data:`mifd.paper.rules.VERDICTS`) in the group the headline counts
GROUPS = {"reproduced": "holds", "consistent": "holds", "partly": "holds in part",
          "same direction, small": "holds in part", "same direction, n.s.": "holds in part",
          "differs": "differs", "not reproduced": "differs", "not converged": "open",
          "not testable": "open"}
#: the groups in the headline's order, with what each means
GROUP_MEANING = {"holds": "reproduced or consistent",
                 "holds in part": "the paper's direction, smaller or not significant",
                 "differs": "differs or not reproduced",
                 "open": "not converged, or neither differing nor agreeing at this n"}
#: badge colours (text, background) per group; ``reduced``: a far-reduced run's level verdict;
#: ``answer``: the answers beyond the paper
COLORS = {"holds": ("#116329", "#dafbe1"), "holds in part": ("#7d4e00", "#fff8c5"),
          "differs": ("#a40e26", "#ffebe9"), "open": ("#424a53", "#eaeef2"),
          "reduced": ("#424a53", "#f6f8fa"), "answer": ("#0a3069", "#ddf4ff")}
#: the rules whose verdicts compare our value with the paper's number (levels in the broad
#: sense): these a far-reduced run cannot test
LEVEL_KINDS = ("level", "count", "correlation")
#: the appendix page with the full rules and the settings (relative to the landing page)
RULES_PAGE = "rules.html"
#: the landing table's columns: name, share of the text column
COLUMNS = (("claim", 21), ("paper", 16), ("ours", 30), ("verdict", 33))
#: the details view's columns
DETAIL_COLUMNS = (("claim", 28), ("ours 95% CI (t; Wilson for counts)", 26),
                  ("bootstrap 95% CI", 26), ("detectable Δ", 20))
_TABLE = ("width:100%; table-layout:fixed; border-collapse:collapse; font-size:0.82em; "
          "overflow-wrap:anywhere; word-break:normal; margin:0.3em 0 1em 0")
_CELL = "padding:0.25em 0.4em; border-bottom:1px solid #d0d7de; vertical-align:top; " \
        "text-align:left; white-space:normal"


def plain_rules() -> dict[str, str]:
    """One plain line per rule of :mod:`mifd.paper.rules` (the full text:
    :data:`mifd.paper.rules.RULES`)."""
    a, m = f"p < {rules.ALPHA:g}", f"{rules.MATTERS:.0%}"
    return {
        "level": f"Welch test against the paper's mean ± sd, {a}; consistent: shown within "
                 f"{rules.EQUIVALENCE:g} sd",
        "count": f"Fisher's exact test against the paper's k of N, {a}",
        "correlation": f"Fisher's z-test against the paper's r, {a}",
        "comparison": f"one-sided Welch in the paper's direction, {a}, at least {m} of its gap",
        "no difference": f"the paper's test n.s.; ours n.s. and within ± {m} of the level",
        "timing": f"most trials functional first; Wilcoxon {a}",
        "failed trials": "true of most failed trials: 95% Wilson interval of the share above ½",
        "parts": "every part reproduced"}


def _has_scale(s: Any) -> bool:
    return isinstance(s, str) and s not in ("", "—")


def tests_of_paper(table: pd.DataFrame) -> pd.Series:
    """Per row: whether it counts as a test of the paper — every row but the level verdicts
    (:data:`LEVEL_KINDS`) of far-reduced runs (a non-empty ``scale``)."""
    kind = table.get("kind", pd.Series("", index=table.index))
    far = table.get("scale", pd.Series("", index=table.index)).map(_has_scale)
    return ~(kind.isin(LEVEL_KINDS) & far)


def group(verdict: str) -> str:
    """The headline group of a verdict (:data:`GROUPS`)."""
    return GROUPS.get(rules.category(verdict), "open")


#: each group's name after a count of one and of several
GROUP_NUMBER = {"holds": ("holds", "hold"), "holds in part": ("holds in part", "hold in part"),
                "differs": ("differs", "differ"), "open": ("open", "open")}


def _counts(verdicts: pd.Series) -> str:
    g = verdicts.map(group)
    parts = [f"{n} {GROUP_NUMBER[k][n != 1]}" for k in GROUP_MEANING
             if (n := int((g == k).sum()))]
    return ", ".join(parts) if parts else "none"


def _names(rows: pd.DataFrame, kind: str) -> str:
    sel = rows[rows["verdict"].map(group) == kind]["claim"].tolist()
    return ", ".join(sel)


def _section_sentence(section: str, rows: pd.DataFrame, counted: pd.Series) -> str:
    # the run (profile, device, n) and the settings in which it differs from the defaults
    # (claims._place; a table without these columns names its runs by "where" alone)
    where = "; ".join(dict.fromkeys(rows["run"] if "run" in rows else rows["where"]))
    other = "; ".join(k for k in dict.fromkeys(rows.get("differs", [])) if k and k != "—")
    tested = rows[counted]
    differ = _names(tested, "differs")
    text = (f"<b>{html.escape(section)}</b> ({html.escape(where)}"
            + (f"; {html.escape(other)}" if other else "") + "): "
            f"{_counts(tested['verdict'])} of {len(tested)}"
            + (f"; differ: {html.escape(differ)}" if differ else "") + ".")
    far = rows[~counted]
    if len(far):
        first = _far(rows).split("; ")[0]
        text += (f" Its {len(far)} level verdicts are <b>not tests of the paper</b>: the run "
                 f"is far below the published scale ({html.escape(first)}).")
    return text


def _far(rows: pd.DataFrame) -> str:
    """The far-reduction note of a section's run (empty when near the published scale)."""
    return next((s for s in rows.get("scale", []) if _has_scale(s)), "")


def terms() -> str:
    """The terms the landing page uses before the chapters define them (Markdown, folded under
    the working-memory answer); the numbers in them are the code's."""
    from ..experiments import get_experiment
    from . import persistence
    paper = get_experiment("wm").config("paper")
    return f"""**Terms.**

- **MM step, SM step**: a training step of the main model (the RNN: task loss + L2 + λ_I × the
  MI estimate) and of the sub model, the *statistics network* or *critic* (MINE's network that
  estimates the MI between the two groups; the authors' code does {paper.sm_per_mm} SM steps per
  MM step).
- **DV bound**: the Donsker–Varadhan lower bound on the MI that the critic maximizes; a trained
  critic's value is an estimate of the MI from below (below zero: the critic has broken down).
- **Q_cor, Q_str**: functional and structural modularity — Newman's modularity of the two
  groups in the matrix of absolute correlations between the units' activities (Q_cor) or of
  the absolute recurrent weights, symmetrized (Q_str): how much stronger the ties within the
  groups are than between them.
- **D_cor, D_in, D_out**: functional, input and output separability — how much each group
  goes with one task bit rather than the other: in its activity's correlation with the targets
  (D_cor; the outputs in the separation task), its input weights (D_in), its output weights
  (D_out).
- **keeps its modules**: a trial whose final Q_cor is at least {persistence.KEEP:.0%} of its own
  peak.
- **copula MI**: a critic-free estimate of the MI between the groups (ranks → normal scores →
  Gaussian MI); **escaped its critic**: the critic's estimate is minimized while the copula MI
  is not ([Is the dependence gone?](wm.html#sec-wm-escape)).
- **RMSprop's ε inside or outside √**: whether the optimizer divides by √(v + ε) (every
  TensorFlow since 2.11, so most likely the authors' code; the version they ran is not recorded)
  or by √v + ε (torch).
- **profiles**: `paper` (the published settings), `book` (reduced to fit a CPU; every reduction
  is listed on its page), `smoke` (seconds, for the tests).
"""


def headline(table: pd.DataFrame, answer: str = "") -> str:
    """The landing page's answer (HTML, ``div.mifd-headline``): ``answer`` first (the
    working-memory answer in short, HTML, :func:`mifd.paper.wm_answer.short_answer`), then over all
    runs how many of the paper's claims our tests find to hold, in part, differ or leave open,
    and one sentence per section (run, counts, the claims that differ, a far-reduced run's
    scale)."""
    counted = tests_of_paper(table)
    n_far = int((~counted).sum())
    n = int(counted.sum())
    head = (f"Of {n} test{'s' if n != 1 else ''} of the paper's claims "
            f"({table['section'].nunique()} sets of runs, each test at p &lt; {rules.ALPHA:g}): "
            f"{_counts(table['verdict'][counted])}"
            + (f"; {n_far} level verdicts of far-reduced runs not counted" if n_far else "")
            + ".")
    items = "".join(f"<li>{_section_sentence(s, rows, counted[rows.index])}</li>"
                    for s, rows in table.groupby("section", sort=False))
    lead = f"<p><b>The answer in short.</b> {answer}</p>" if answer else ""
    return (f'<div class="mifd-headline">{lead}<p><b>The claims in numbers.</b> {head}</p>'
            f"<ul>{items}</ul></div>")


def legend() -> str:
    """What each verdict group means, in its badge's colours (HTML)."""
    return ('<p class="mifd-legend" style="font-size:0.85em">' + "; ".join(
        f'<span style="color:{COLORS[k][0]}; background:{COLORS[k][1]}; border-radius:0.8em; '
        f'padding:0 0.5em">{html.escape(k)}</span> {html.escape(v)}'
        for k, v in GROUP_MEANING.items())
        + '; <span style="color:#424a53">grey with <i>at reduced scale</i></span>: a level '
        "verdict of a far-reduced run, not a test of the paper.</p>")


def badge(verdict: str, reduced: str = "") -> str:
    """A verdict as a coloured badge (its group's colours, :data:`COLORS`); ``reduced``: the
    run's scale label, shown instead of a group colour (not a test of the paper)."""
    fg, bg = COLORS["reduced" if reduced else group(verdict)]
    b = (f'<span class="mifd-verdict" data-group="{html.escape(group(verdict))}" '
         f'style="color:{fg}; background:{bg}; border:1px solid {fg}; border-radius:0.8em; '
         f'padding:0 0.5em; white-space:normal">{html.escape(verdict)}</span>')
    if reduced:
        b += (f' <span class="mifd-reduced" style="font-size:0.9em; color:{fg}" '
              f'title="{html.escape(reduced)}">at reduced scale: not a test of the paper</span>')
    return b


def _rule_line(kind: str) -> str:
    text = plain_rules().get(kind)
    if not text:
        return ""
    return (f'<br><span style="font-size:0.85em; color:#57606a">'
            f'<a href="{RULES_PAGE}#rule-{kind.replace(" ", "-")}">{html.escape(kind)}</a>: '
            f"{html.escape(text)}</span>")


def _table(columns: tuple, body: str, cls: str) -> str:
    cols = "".join(f'<col style="width:{w}%">' for _, w in columns)
    head = "".join(f'<th style="{_CELL}">{html.escape(c)}</th>' for c, _ in columns)
    return (f'<table class="{cls}" style="{_TABLE}"><colgroup>{cols}</colgroup>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _td(x: Any) -> str:
    return f'<td style="{_CELL}">{html.escape(str(x))}</td>'


def claims_html(table: pd.DataFrame) -> str:
    """The claims table whole, one table per section (``tr.mifd-claim`` per row, with its
    section and claim as data attributes): claim, paper, ours, verdict badge with its rule in
    one line; under each, a folded view with the intervals and the detectable difference."""
    counted = tests_of_paper(table)
    out = []
    for section, rows in table.groupby("section", sort=False):
        where = "; ".join(dict.fromkeys(rows["where"]))
        body, detail = [], []
        for i, r in rows.iterrows():
            red = "" if counted[i] else r["scale"]
            attrs = (f'class="mifd-claim" data-section="{html.escape(section)}" '
                     f'data-claim="{html.escape(r["claim"])}"')
            body.append(f"<tr {attrs}>{_td(r['claim'])}{_td(r['paper'])}{_td(r['ours'])}"
                        f'<td style="{_CELL}">{badge(r["verdict"], red)}'
                        f"{_rule_line(r.get('kind', ''))}</td></tr>")
            detail.append("<tr>" + "".join(_td(r.get(c, "—")) for c, _ in DETAIL_COLUMNS)
                          + "</tr>")
        out.append(f'<p class="mifd-claims-section" style="margin:1em 0 0.2em 0">'
                   f"<b>{html.escape(section)}</b> — {len(rows)} claims; "
                   f"{html.escape(where)}" + (f"; <b>reduced scale</b>: {html.escape(far)}"
                                              if (far := _far(rows)) else "") + "</p>"
                   + _table(COLUMNS, "".join(body), "mifd-claims")
                   + f"<details><summary>Intervals and the smallest difference our n detects "
                   f"({html.escape(section)})</summary>"
                   + _table(DETAIL_COLUMNS, "".join(detail), "mifd-claims-detail")
                   + "</details>")
    return (f'<div class="mifd-claims-tables" data-rows="{len(table)}">{legend()}'
            f'{"".join(out)}</div>')


def beyond_html(table: pd.DataFrame) -> str:
    """The "Beyond the paper" table whole (:func:`mifd.paper.claims.beyond_table`): one table
    per section — question, answer (a badge), ours — under the run it comes from."""
    if table.empty:
        return "<p>No run beyond the paper is stored for this profile.</p>"
    cols = (("question", 40), ("answer", 18), ("ours", 42))
    out = []
    for section, rows in table.groupby("section", sort=False):
        where = "; ".join(dict.fromkeys(rows["where"]))
        scales = "; ".join(s for s in dict.fromkeys(rows.get("scale", [])) if _has_scale(s))
        body = "".join(
            f'<tr class="mifd-beyond">{_td(r["question"])}<td style="{_CELL}">'
            f'<span style="color:{COLORS["answer"][0]}; background:{COLORS["answer"][1]}; '
            f'border-radius:0.8em; padding:0 0.5em">{html.escape(str(r["answer"]))}</span></td>'
            f"{_td(r['ours'])}</tr>" for _, r in rows.iterrows())
        out.append(f'<p style="margin:1em 0 0.2em 0"><b>{html.escape(section)}</b> — '
                   f"{html.escape(where)}"
                   + (f"; smaller than published: {html.escape(scales)}" if scales else "")
                   + "</p>" + _table(cols, body, "mifd-beyond-table"))
    return "".join(out)


#: the line style of each run of the key figure, in order (dotted: the paper's level)
STYLES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))


def key_figure(runs: Mapping[str, Any], metric: str = "Q_cor"):
    """``metric`` of the working-memory runs over training (``runs``: label → run; each
    condition's mean, thin lines its trials for the first run) against the paper's
    end-of-training level (dotted line, band: mean ± sd)."""
    import matplotlib.pyplot as plt  # noqa: F401
    from ..pages import plotting
    fig, (ax,) = plotting.panels(1, 6.4, 1.55, layout="constrained")
    for k, (label, rr) in enumerate((k, v) for k, v in runs.items() if v is not None):
        ep = np.asarray(rr.result["snap_epochs"], dtype=float)
        for c, v in rr.split(np.asarray(rr.result["snaps"][metric], dtype=float)).items():
            color = plotting.cond_color(c)
            if k == 0:
                ax.plot(ep, v, color=color, alpha=0.2, lw=0.6)
            ax.plot(ep, np.nanmean(v, axis=1), color=color, lw=2 if k == 0 else 1.4,
                    ls=STYLES[k % len(STYLES)], label=f"{c}: {label}")
    for c, levels in reported.WM.items():
        rep = levels.get(metric)
        if rep is None:
            continue
        color = plotting.cond_color(c)
        ax.axhline(rep.mean, color=color, ls=":", lw=1.2, label=f"{c}: paper, end (± sd)")
        if rep.sd is not None:
            ax.axhspan(rep.mean - rep.sd, rep.mean + rep.sd, color=color, alpha=0.08, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def load(profile: str, device: str = "auto", overrides: Mapping[str, Any] | None = None,
         verbose: bool = False) -> dict[str, Any]:
    """The landing page's runs: ``wm`` and ``sep`` at ``profile``, and (unless ``profile`` is
    ``paper``) the committed GPU runs — ``wm_gpu`` (its label ``wm_gpu_label``:
    :func:`mifd.paper.wm.committed_gpu`) and ``sep_gpu`` (separation's ``gpu`` profile)."""
    from ..results import shards
    from ..results.runner import run
    from . import wm as wm_section
    over = overrides or {}
    out = {name: run(exp, profile=profile, device=device, overrides=over.get(exp),
                     verbose=verbose)
           for name, exp in (("wm", "wm"), ("sep", "separation"))}
    gpu, label = wm_section.committed_gpu() if profile != "paper" else (None, "")
    out.update(wm_gpu=gpu, wm_gpu_label=label,
               sep_gpu=shards.committed_shards("separation", "gpu", "cuda")
               if profile != "paper" else None)
    return out


#: the experiments of the chapters beyond the paper, in the landing table's order
BEYOND = ("bimt", "bimt-separation", "penalties", "penalties-separation", "growing-brains")


def load_beyond(profile: str, device: str = "auto",
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The runs of the chapters beyond the paper at ``profile`` (:data:`BEYOND`)."""
    from ..results.runner import run
    over = overrides or {}
    return {name: run(name, profile=profile, device=device, overrides=over.get(name),
                      verbose=False) for name in BEYOND}
