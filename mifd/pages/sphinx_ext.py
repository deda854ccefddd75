"""A small Sphinx extension for the book (listed in ``_config.yml``).

- Every page states the profile it was built with (the ``MIFD_PROFILE`` that ``mifd book`` sets)
  in the theme's announcement bar.
- The *How to re-run* page's cost table is filled from the committed results
  (:func:`mifd.perf.costs.profile_costs`, as MyST substitutions ``{{ cost_… }}``), not typed;
  so are its sentences on the store key and the GPU sessions' options
  (:func:`mifd.perf.settings.substitutions`), and the measured effects and what is measured so
  far in the discrepancy appendix (:func:`mifd.paper.discrepancy.substitutions`).
- Chapters are numbered through the whole book (1, 2, … across the parts; the appendices A,
  B, …) and figures per chapter ("Figure 3.2": chapter 3's second figure), so the book's figure
  numbers cannot be read as the paper's ("paper Fig. 11"). ``_toc.yml``'s ``numbered: 1``
  numbers the chapters of each part, a toctree of its own (Sphinx restarts at 1 in each; Jupyter
  Book's sphinx-multitoc-numbering continues the count): :func:`_number_chapters` then gives
  every chapter its number from the table of contents whichever ran, letters the appendices and
  assigns the figure numbers again. The landing page's figure (outside every chapter) is not
  numbered.
- The API reference folds each module (:func:`_fold_modules`): a ``<details>`` whose summary is
  the module's name and its docstring's first sentence, so the page is a list of modules a
  reader opens one at a time, not 170 000 px of docstrings (issue 36: every page under the
  browser test's height bound). ``mifd.js`` opens the fold that holds a link's target.
- Each ``<script>`` appears once per page: sphinx-thebe 0.3.1 registers its inline configuration
  (``const THEBE_JS_URL = …``) on every read of the environment, and the second copy raises
  "Identifier 'THEBE_JS_URL' has already been declared" in the browser.
"""

from __future__ import annotations

import os
import re
import string

#: the parts of ``_toc.yml`` whose chapters are lettered (A, B, …) rather than numbered
LETTERED_PARTS = ("Appendices",)

PROFILE_NOTE = ("Built with the <b>{profile}</b> profile: every number and figure here is "
                "computed by the code, from runs at that profile unless labelled otherwise "
                "(see <i>How to re-run</i>).")


def _announce(app) -> None:
    profile = os.environ.get("MIFD_PROFILE", "book")
    opts = app.config.html_theme_options
    if not opts.get("announcement"):
        opts["announcement"] = PROFILE_NOTE.format(profile=profile)


def _costs(app, config) -> None:
    from ..paper import discrepancy
    from ..perf import settings
    from ..perf.costs import profile_costs
    config.myst_substitutions = {**profile_costs(), **discrepancy.substitutions(),
                                 **settings.substitutions(), **(config.myst_substitutions or {})}


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""),  # None and "" both mean inline
               tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def chapter_numbers(env) -> dict[str, int | str]:
    """Each chapter's number: 1, 2, … in the order of ``_toc.yml`` through all the numbered
    parts, the chapters of a :data:`LETTERED_PARTS` part A, B, …"""
    from sphinx import addnodes
    from sphinx.util import url_re
    numbers: dict[str, int | str] = {}
    n = letters = 0
    for toctree in env.get_doctree(env.config.root_doc).findall(addnodes.toctree):
        if not toctree.get("numbered"):
            continue
        lettered = toctree.get("caption") in LETTERED_PARTS
        for _title, ref in toctree["entries"]:
            if url_re.match(ref) or ref == "self" or ref not in env.tocs:
                continue
            if lettered:
                numbers[ref] = string.ascii_uppercase[letters]
                letters += 1
            else:
                n += 1
                numbers[ref] = n
    return numbers


def _number_chapters(app, env) -> list[str]:
    """Runs after Sphinx numbered the sections (each part from 1) and the figures: gives each
    chapter its :func:`chapter_numbers` number (headings, the navigation, the previous and next
    links) and numbers the figures again from those."""
    from docutils import nodes
    from sphinx.environment.collectors.toctree import TocTreeCollector
    if not app.config.numfig:
        return []
    numbers = chapter_numbers(env)
    for doc, number in numbers.items():
        secnums = env.toc_secnumbers.get(doc, {})
        for anchor, num in secnums.items():
            if num:
                secnums[anchor] = (number, *num[1:])
        heads = [*env.tocs[doc].findall(nodes.reference)]
        if env.titles.get(doc) is not None:
            heads.append(env.titles[doc])
        for node in heads:
            if node.get("secnumber"):
                node["secnumber"] = [number, *node["secnumber"][1:]]
    TocTreeCollector.assign_figure_numbers(None, env)  # reads only env
    env.toc_fignumbers.pop(env.config.root_doc, None)  # the landing page is no chapter
    return sorted(set(numbers) | set(env.toc_fignumbers))


#: where a docstring's first sentence ends: a full stop before a capital, not one of an
#: abbreviation ("paper Fig. 3", "Eqs. 17–23", "e.g. The")
_SENTENCE_END = re.compile(r"(?<!\bFig)(?<!\bFigs)(?<!\bEq)(?<!\bEqs)(?<!\bSec)(?<!\be\.g)"
                           r"(?<!\bi\.e)(?<!\bvs)(?<!\betc)(?<!\bcf)\.\s+(?=[A-Z(\[])")


def _first_sentence(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    m = _SENTENCE_END.search(text)
    text = text if m is None else text[:m.start() + 1]
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _fold_modules(app, doctree, docname) -> None:
    """Wrap each module that ``automodule`` documented (its index entry, target, docstring and
    members: siblings in the page's section) in a closed ``<details>`` (HTML only)."""
    import html

    from docutils import nodes
    from sphinx import addnodes
    if app.builder.format != "html":
        return
    for section in doctree.findall(nodes.section):
        kids = section.children
        starts = []  # (index of the module's first node, module name, first sentence)
        for i, node in enumerate(kids):
            ids = [x for x in node.get("ids", []) if x.startswith("module-")]
            if ids and isinstance(node, nodes.paragraph):
                first = i
                while first > 0 and isinstance(kids[first - 1], (nodes.target, addnodes.index)) \
                        and not (starts and first - 1 <= starts[-1][0]):
                    first -= 1
                starts.append((first, ids[0].removeprefix("module-"), node.astext()))
            elif ids and isinstance(node, nodes.target) and not node.children:
                # a module without a docstring keeps its id on the empty target
                nxt = kids[i + 1] if i + 1 < len(kids) else None
                if not (isinstance(nxt, nodes.paragraph) and nxt.get("ids")):
                    first = i - 1 if i and isinstance(kids[i - 1], addnodes.index) else i
                    starts.append((first, ids[0].removeprefix("module-"), ""))
        if len(starts) < 2:
            continue
        ends = [s[0] for s in starts[1:]] + [len(kids)]
        for (first, name, text), end in reversed(list(zip(starts, ends))):
            # a section inside the module's run (none in the reference today) ends the fold
            end = next((j for j in range(first, end) if isinstance(kids[j], nodes.section)), end)
            summary = (f'<details class="mifd-module"><summary><code>{html.escape(name)}</code>'
                       + (f" — {html.escape(_first_sentence(text))}" if text else "")
                       + "</summary>")
            section.insert(end, nodes.raw("", "</details>", format="html"))
            section.insert(first, nodes.raw("", summary, format="html"))


def setup(app):
    app.connect("doctree-resolved", _fold_modules)
    app.connect("env-get-updated", _number_chapters, priority=900)  # after Sphinx's numbers
    app.connect("builder-inited", _announce)
    app.connect("config-inited", _costs)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
