"""The appendix the landing page links to (*Verdict rules and run settings*): each rule in one
line and in full, how far each run is from the published size, and every setting that differs
from the paper's — as HTML tables that fit the text column, whole."""

from __future__ import annotations

import html
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import rules, scale
from .landing import _CELL, _TABLE, plain_rules


def rules_html() -> str:
    """Every rule of the claims table: an anchor ``#rule-<kind>`` (the landing page links to
    it), its one plain line, then the full texts (:data:`mifd.paper.rules.RULES` and
    :data:`~mifd.paper.rules.BEYOND_RULES`)."""
    items = "".join(
        f'<dt id="rule-{kind.replace(" ", "-")}"><b>{html.escape(kind)}</b></dt>'
        f"<dd>{html.escape(line)}</dd>" for kind, line in plain_rules().items())
    return (f'<dl class="mifd-rules">{items}</dl>'
            f'<p id="rules-full"><b>The rules in full.</b> {html.escape(rules.RULES)}</p>'
            f'<p id="rules-beyond"><b>The rules of the chapters beyond the paper.</b> '
            f"{html.escape(rules.BEYOND_RULES)}</p>")


def frame_html(df: pd.DataFrame, widths: Mapping[str, int] | None = None,
               cls: str = "mifd-table") -> str:
    """``df`` whole (every row and column, no cell cut) as a table that wraps its cells to the
    text column; the index becomes the first column; ``widths``: column → share (%)."""
    df = df.reset_index()
    cols = "".join(f'<col style="width:{(widths or {}).get(c, "")}%">' if (widths or {}).get(c)
                   else "<col>" for c in df.columns)
    head = "".join(f'<th style="{_CELL}">{html.escape(str(c))}</th>' for c in df.columns)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{html.escape(_cell(v))}</td>'
                                    for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return (f'<table class="{cls}" style="{_TABLE}"><colgroup>{cols}</colgroup>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _cell(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) or "—"
    return f"{v:g}" if isinstance(v, float) else str(v)


def settings_html(runs: Mapping[str, Any]) -> str:
    """Per run (label → run; ``None`` skipped): the settings that differ from its published
    profile (the experiment's reductions table), whole; a run at the published settings says
    so."""
    from ..experiments import get_experiment
    from ..pages.chapter import PAPER_COLUMN, settings_table
    out = []
    for label, rr in runs.items():
        if rr is None:
            continue
        red = get_experiment(rr.experiment).reductions(rr.config)
        out.append(f'<p style="margin:1em 0 0.2em 0"><b>{html.escape(label)}</b> '
                   f"({html.escape(rr.experiment)}, {html.escape(rr.profile)} profile)</p>")
        out.append(frame_html(settings_table(red), {"setting": 18, "this run": 20,
                                                    PAPER_COLUMN[1]: 20, "meaning": 42})
                   if len(red) else "<p>Every setting as published.</p>")
    return "".join(out)


def scale_table(runs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run and reduced scale field (:func:`mifd.paper.scale.reduced`): run, what,
    ours, the paper's, the fraction."""
    rows = [{"run": label, "what": r["meaning"], "ours": r["ours"], "paper": r["paper"],
             "fraction": r["fraction"]}
            for label, rr in runs.items() if rr is not None for r in scale.reduced(rr)]
    return pd.DataFrame(rows, columns=["run", "what", "ours", "paper", "fraction"])


def scale_figure(runs: Mapping[str, Any]):
    """Each run's reduced scale fields as a fraction of the paper's (log axis), the line below
    which a run counts as far-reduced (:data:`mifd.paper.scale.FAR`)."""
    import matplotlib.pyplot as plt  # noqa: F401
    from ..pages import plotting
    t = scale_table(runs)
    fig, (ax,) = plotting.panels(1, 7.0, 0.9 + 0.28 * max(len(t), 1), layout="constrained")
    y = np.arange(len(t))
    far = t["fraction"] < scale.FAR
    ax.barh(y, t["fraction"], color=np.where(far, "C3", "C0"))
    ax.set_yticks(y, [f"{r.run}: {r.what}" for r in t.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(min(0.5 * float(t["fraction"].min()), scale.FAR / 2) if len(t) else 0.01, 1)
    ax.axvline(scale.FAR, color="C3", ls="--", lw=1, label="far-reduced below this")
    ax.set_xlabel("ours / the paper's")
    ax.legend(fontsize=8, loc="upper right")
    return fig
