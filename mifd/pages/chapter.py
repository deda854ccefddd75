"""The frame of a chapter page: its takeaway at the top, its summary at the end, the provenance of
all its results in one folded box and the line beside an interactive panel that says it needs a
live kernel.

A page states numbers only through code, so each of these takes text that the chapter's module
(:mod:`mifd.paper`) wrote from the results, and returns an object Jupyter and MyST-NB display:

- :func:`takeaway` — a "What this page finds" admonition (HTML with Sphinx's admonition classes,
  so the book's theme styles it and a plain Jupyter shows it too);
- :func:`summary` — the bullet points of the page's closing "Summary" section (Markdown);
- :func:`provenance_box` — "Where these numbers come from": one ``<details>`` block, folded, with
  one line per result (:func:`mifd.results.shards.describe`), each line once;
- :func:`needs_kernel` — one line above a widget: in the static book it does nothing;
- :func:`folded` — any other folded block (raw tables a reader may open).
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

from IPython.display import HTML, Markdown

__all__ = ["PROVENANCE_TITLE", "TAKEAWAY_TITLE", "describe_run", "folded", "markdown_html",
           "needs_kernel", "provenance_box", "provenance_lines", "sci", "summary", "takeaway"]

TAKEAWAY_TITLE = "What this page finds"
PROVENANCE_TITLE = "Where these numbers come from"
#: the repository's Binder launcher (the book's launch button opens the page itself)
BINDER = "https://mybinder.org/v2/gh/mifd-book/mifd/main"

_BOX_STYLE = ("border: 1px solid #d0d7de; border-radius: 4px; padding: 0.4em 0.9em; "
              "margin: 1em 0; font-size: 0.9em")


def sci(x: float, digits: int = 2) -> str:
    """``x`` in LaTeX scientific notation for prose: ``3.16e-4`` → ``3.2\\times10^{-4}``
    (``digits`` significant digits; a power of ten alone: ``10^{-7}``)."""
    import math
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    e = math.floor(math.log10(abs(x)))
    m = float(f"{x / 10 ** e:.{digits - 1}f}")
    if abs(m) >= 10:  # rounding carried into the next power
        m, e = m / 10, e + 1
    if e == 0:
        return f"{m:g}"
    if abs(m) == 1:
        return ("-" if m < 0 else "") + f"10^{{{e}}}"
    return f"{m:g}\\times10^{{{e}}}"


def dashes(df: Any, digits: int = 3) -> Any:
    """A table for the page: numbers rounded to ``digits``, missing values (NaN) shown as
    "—" (a reader should never meet ``NaN``)."""
    import numpy as np
    import pandas as pd
    out = df.round(digits).astype(object)
    for c in df.columns:  # a float column of whole numbers (an epoch with a gap) as integers
        v = df[c]
        if v.dtype.kind == "f" and v.notna().any() and np.all(v.dropna() % 1 == 0):
            out[c] = pd.Series([int(x) if np.isfinite(x) else x for x in v], index=v.index,
                               dtype=object)
    return out.where(df.notna(), "—")


def markdown_html(md: str) -> str:
    """``md`` (CommonMark with tables) as HTML, for text inside an HTML block."""
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark").enable("table").render(md).strip()


def takeaway(md: str, title: str = TAKEAWAY_TITLE, kind: str = "tip") -> HTML:
    """The admonition at the top of a page: ``md`` (Markdown written from the results) under
    ``title``; ``kind`` is the admonition's class (``tip``, ``note``, ``warning`` …)."""
    if not md or not md.strip():
        raise ValueError("parameter 'md': got an empty text; allowed: the page's findings")
    return HTML(f'<div class="admonition {html.escape(kind)} mifd-takeaway">'
                f'<p class="admonition-title">{html.escape(title)}</p>'
                f"{markdown_html(md)}</div>")


def summary(points: Sequence[str], intro: str | None = None) -> Markdown:
    """The page's closing summary: an optional sentence, then one bullet per point (each
    written from the results by the chapter's module)."""
    points = [p.strip() for p in points if p and p.strip()]
    if not points:
        raise ValueError("parameter 'points': got none; allowed: at least one finding")
    head = f"{intro.strip()}\n\n" if intro else ""
    return Markdown(head + "\n".join(f"- {p}" for p in points))


def describe_run(run: Any) -> str:
    """One line for a result: a :class:`~mifd.results.result.RunResult` through
    :func:`mifd.results.shards.describe` (its shards or parts, and how this code reproduced it),
    anything else with a ``describe()`` through that, a string as it is."""
    from ..results.result import RunResult
    if isinstance(run, RunResult):
        from ..results.shards import describe
        return describe(run)
    if isinstance(run, str):
        return run
    if callable(getattr(run, "describe", None)):
        return str(run.describe())
    raise TypeError(f"parameter 'runs': got {type(run).__name__}; allowed: a RunResult, an "
                    "object with describe(), a string, or (label, one of these)")


def provenance_lines(*runs: Any) -> list[tuple[str | None, str]]:
    """``(label, line)`` per result, in order, each line once; ``None`` entries are skipped (a
    result a page shows only when it exists). An entry may be ``(label, run)``."""
    out, seen = [], set()
    for run in runs:
        label = None
        if isinstance(run, tuple) and len(run) == 2 and isinstance(run[0], str):
            label, run = run
        if run is None:
            continue
        line = describe_run(run)
        if line not in seen:
            seen.add(line)
            out.append((label, line))
    return out


def zero_meanings(df: Any) -> Any:
    """A settings table (a ``meaning`` column beside value columns) with each value 0 that its
    meaning gives a sense to spelled out, ``0 (same as batch)`` for a meaning that says
    ``(0: same as batch)``; other tables unchanged."""
    import re
    if df is None or "meaning" not in getattr(df, "columns", ()):
        return df
    out = df.astype(object).copy()
    for i, meaning in out["meaning"].items():
        m = re.search(r"\(0: ([^)]*)\)", str(meaning))
        if not m:
            continue
        for c in out.columns.drop("meaning"):
            v = out.at[i, c]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0:
                out.at[i, c] = f"0 ({m.group(1)})"
    return out


def fitted(df: Any, cap: int = 16, index_share: float = 0.28) -> HTML:
    """``df`` as an HTML table that keeps its numbers whole in the book's fixed table layout
    (``_static/mifd.css``: every table as wide as the text column, any cell may break
    anywhere): the index column gets ``index_share`` of the width and each value column a share
    of the rest in proportion to its longest cell (a header word or a value, at most ``cap``
    characters), so the long labels of the index wrap instead of the digits."""
    def longest(c: Any) -> int:
        words = max((len(w) for w in str(c).split()), default=1)
        return min(max([words, *(len(str(v)) for v in df[c])]), cap) + 3
    need = {c: longest(c) for c in df.columns}
    total = sum(need.values())
    shares = [index_share] + [(1 - index_share) * need[c] / total for c in df.columns]
    cols = "".join(f'<col style="width: {100 * x:.1f}%">' for x in shares)
    table = df.to_html(border=0)
    head, rest = table.split(">", 1)
    return HTML(f"{head}><colgroup>{cols}</colgroup>{rest}")


#: the reference column of :meth:`mifd.experiments.base.Experiment.reductions` and the name a
#: page gives it: the ``paper`` profile holds the published settings where the paper or the
#: authors' code states them and the project's own choices where they are silent (the post-hoc
#: audit, the GPU's implementation paths), so "published" would claim too much for those rows
PAPER_COLUMN = ("published (paper profile)", "paper profile")


def settings_table(df: Any) -> Any:
    """A settings table as a page shows it: :func:`zero_meanings`, and the reference column
    named :data:`PAPER_COLUMN`'s second name (other tables unchanged)."""
    out = zero_meanings(df)
    if out is not None and PAPER_COLUMN[0] in getattr(out, "columns", ()):
        out = out.rename(columns={PAPER_COLUMN[0]: PAPER_COLUMN[1]})
    return out


def _tables_html(tables: Mapping[str, Any] | None) -> str:
    return "".join((f"<p><b>{html.escape(head)}</b></p>" if head else "")
                   + "<div style=\"overflow-x: auto\">"
                   f"{settings_table(df).to_html(border=0)}</div>"
                   for head, df in (tables or {}).items() if df is not None)


def folded(title: str, body: str = "", notes: Iterable[str] = (),
           tables: Mapping[str, Any] | None = None, count: str = "") -> HTML:
    """One folded ``<details>`` block: ``title`` (and ``count``) as its summary line, then the
    HTML ``body``, the Markdown ``notes`` and the ``tables`` (heading → DataFrame)."""
    extra = "".join(markdown_html(n) for n in notes if n) + _tables_html(tables)
    return HTML(f'<details class="mifd-provenance" style="{_BOX_STYLE}">'
                f"<summary><b>{html.escape(title)}</b>"
                f"{f' ({html.escape(count)}; click to unfold)' if count else ' (click to unfold)'}"
                f"</summary>{body}{extra}</details>")


def provenance_box(*runs: Any, notes: Iterable[str] = (), tables: Mapping[str, Any] | None = None,
                   title: str = PROVENANCE_TITLE) -> HTML:
    """All the page's results in one folded ``<details>`` block: one line per result (see
    :func:`provenance_lines`), then ``notes`` (Markdown: how to re-run …), then ``tables``
    (heading → DataFrame, e.g. the settings of a run that differ from the paper's)."""
    lines = provenance_lines(*runs)
    items = "".join(f"<li>{f'<b>{html.escape(label)}</b>: ' if label else ''}"
                    f"{html.escape(line)}</li>" for label, line in lines)
    body = f"<ul>{items}</ul>" if items else "<p>No stored result on this page.</p>"
    return folded(title, body, notes, tables,
                  f"{len(lines)} result{'' if len(lines) == 1 else 's'}")


def needs_kernel(what: str = "This panel", notebook: str | None = None) -> HTML:
    """One line above an interactive panel: in the static book its controls do nothing; it
    runs in a live kernel (Binder, or a local Jupyter). ``notebook``: the page's path in the
    repository (``book/mine.ipynb``), which the Binder link then opens."""
    url = BINDER + (f"?labpath={html.escape(notebook)}" if notebook else "")
    return HTML(f'<p class="mifd-needs-kernel"><b>Interactive:</b> {html.escape(what)} needs a '
                f'live kernel — open this page on <a href="{url}">Binder</a> (the rocket '
                "button at the top) or in a local Jupyter; in the static book its controls do "
                "nothing.</p>")
