"""The built HTML (smoke profile): every chapter has figures, no cell shows an error, every page
states its profile, numbered figures and the bibliography render."""

import re

import pytest

from conftest import ROOT, toc_files

pytestmark = pytest.mark.slow


def _pages(html):
    return {f: ((html / f).with_suffix(".html")).read_text() for f in toc_files()}


def test_every_page_states_its_profile_and_shows_no_error(smoke_book):
    for name, text in _pages(smoke_book).items():
        assert "Built with the <b>smoke</b> profile" in text, name
        assert "output traceback" not in text and "Traceback (most recent" not in text, name
        assert 'class="output stderr"' not in text or "Error" not in text, name


def test_every_chapter_has_figures(smoke_book):
    for name, text in _pages(smoke_book).items():
        if (ROOT / name).with_suffix(".ipynb").exists():
            n = len(re.findall(r'<img [^>]*src="[^"]*\.png"', text))
            assert n >= 1, f"{name}: no figure"


def test_bibliography_and_cross_references_render(smoke_book):
    bib = (smoke_book / "book" / "bibliography.html").read_text()
    for key in ("Tomoda", "Belghazi", "Newman", "Lorenz"):
        assert key in bib, key
    for name, text in _pages(smoke_book).items():
        assert "??" not in re.sub(r"<[^>]+>", "", text).replace("???", ""), name


def test_rerun_costs_come_from_the_committed_results(smoke_book):
    """The cost table of *How to re-run* is filled by mifd.perf.costs.profile_costs, not typed."""
    from mifd.perf.costs import profile_costs
    text = (smoke_book / "book" / "rerun.html").read_text()
    assert "{{" not in text
    for key, value in profile_costs().items():
        assert value.split("(")[0].strip() in text, key


def test_every_figure_is_captioned(smoke_book):
    """Every figure a chapter draws sits in a numbered figure with a caption (issue: evidence)."""
    from bs4 import BeautifulSoup
    for name, text in _pages(smoke_book).items():
        soup = BeautifulSoup(text, "html.parser")
        for img in soup.find_all("img"):
            if not re.search(r"_images/[0-9a-f]+\.png$", img.get("src", "")):
                continue  # logos and static pictures
            fig = img.find_parent("figure")
            assert fig is not None and fig.find("figcaption") is not None, \
                f"{name}: a figure without a caption ({img['src']})"


def test_printed_lines_wrap_in_their_boxes(smoke_book):
    """Provenance lines are long: the book's style sheet wraps output text (issue: evidence)."""
    css = (smoke_book / "_static" / "mifd.css").read_text()
    assert "pre-wrap" in css
    assert "mifd.css" in (smoke_book / "book" / "wm.html").read_text()


def test_no_figure_is_wider_than_the_text_column(smoke_book):
    """Every chapter figure is at least one panel (``plotting.MIN_PANEL``, which
    ``plotting.panels`` enforces per panel) and at most ``plotting.MAX_WIDTH`` inches at 100 dpi (plus the tight
    bounding box's margin): the text column shows it unscaled, so its 8-pt ticks and legends are
    8 pt on the page; multi-panel figures go to further rows instead (``plotting.panels``)."""
    from bs4 import BeautifulSoup
    from PIL import Image

    from mifd.pages.plotting import MAX_WIDTH, MIN_PANEL
    limit = MAX_WIDTH * 100 + 40
    checked = 0
    for name, text in _pages(smoke_book).items():
        page = (smoke_book / name).parent
        for img in BeautifulSoup(text, "html.parser").find_all("img"):
            src = img.get("src", "")
            if not re.search(r"_images/[0-9a-f]+\.png$", src):
                continue
            width = Image.open(page / src).size[0]
            assert width <= limit, f"{name}: a figure {width} px wide ({src}); allowed ≤ {limit}"
            assert width >= MIN_PANEL * 100, f"{name}: a figure {width} px wide ({src})"
            checked += 1
    assert checked >= 20


def test_the_execution_cache_that_is_invalidated_is_the_one_the_build_used(smoke_book):
    """`mifd book` drops the execution cache when the library or results change; it must be the
    folder jupyter-book writes (a wrong path left smoke builds showing outputs of older code)."""
    from mifd.cli import execution_cache
    cache = execution_cache("smoke", ROOT)
    assert cache.is_dir() and any(cache.iterdir())
    assert (cache.parent / "mifd-cache-key").exists()


#: a cell pandas cut (``display.max_colwidth``: its text ends in "..."), or the "..." / "…"
#: cell of a row or column pandas left out (a "…" in a cell, e.g. ``l2=…`` for "a value", is
#: text)
_CUT = re.compile(r"^(\.\.\.|…)$|\.\.\.$")


def test_no_table_cuts_rows_or_cells(smoke_book):
    """No table on any page hides rows or cuts cells: pandas' "..." rows and columns, its "n rows
    × m columns" line under a cut frame, cells it cut to "..." (issue 36: the claims table
    showed 10 of its 61 rows; 20 tables cut cells)."""
    from bs4 import BeautifulSoup
    cut, tables = [], 0
    for name, text in _pages(smoke_book).items():
        soup = BeautifulSoup(text, "html.parser")
        for table in soup.find_all("table"):
            tables += 1
            for cell in table.find_all(["td", "th"]):
                t = cell.get_text(" ", strip=True)
                if _CUT.search(t):
                    cut.append(f"{name}: {t[-80:]!r}")
        for shape in re.findall(r"\d+ rows × \d+ columns", soup.get_text(" ")):
            cut.append(f"{name}: {shape}")
    assert tables >= 10
    assert not cut, "\n".join(cut)


def test_the_landing_page_shows_every_claim(smoke_book, smoke_store, monkeypatch):
    """Every row of the claims table (recomputed here from the build's store, as the page
    computes it) is a row of the landing page, with its verdict; the headline comes first."""
    from bs4 import BeautifulSoup

    from mifd.paper import claims, landing
    monkeypatch.setenv("MIFD_STORE", str(smoke_store))
    runs = landing.load("smoke")
    table = claims.claims_table(runs["wm"], runs["sep"], wm_gpu=runs["wm_gpu"],
                                sep_gpu=runs["sep_gpu"])
    soup = BeautifulSoup((smoke_book / "book" / "intro.html").read_text(), "html.parser")
    rows = soup.select("tr.mifd-claim")
    shown = [(r["data-section"], r["data-claim"], r.select_one(".mifd-verdict").get_text())
             for r in rows]
    assert shown == list(zip(table["section"], table["claim"], table["verdict"]))
    headline = soup.select_one(".mifd-headline")
    assert headline is not None and "tests of the paper" in headline.get_text()
    text = str(soup)
    assert text.index("mifd-headline") < text.index("mifd-claim")
    assert text.index("mifd-headline") < text.index("mifd-provenance")
    for word in ("Rules:", "Settings of the"):  # the rules and settings went to the appendix
        assert word not in soup.get_text(), word
    assert soup.select_one('a[href^="rules.html#rule-"]') is not None
    appendix = (smoke_book / "book" / "rules.html").read_text()
    for kind in landing.plain_rules():
        assert f'id="rule-{kind.replace(" ", "-")}"' in appendix, kind


#: a figure's label in the book: its chapter's number (the appendices' letter) and its place in
#: the chapter, "Figure 3.2" (mifd.pages.sphinx_ext numbers the chapters through the book)
_BOOK_FIGURE = re.compile(r"^Figure (\d+|[A-Z])\.(\d+)$")
#: the paper's (or another paper's) figures as the text cites them: "paper Fig. 11", "Figs. 1A"
_CITED_FIGURE = re.compile(r"\bFigs?\.\s*(\d+[A-Za-z]?)")


def test_figures_are_numbered_per_chapter_and_never_like_the_papers(smoke_book):
    """Issue 36: the book's figures are numbered per chapter ("Figure 3.2"), every number once in
    the book and carrying its page's chapter number (the one its heading shows), so that no
    book figure reads like the paper's "Fig. 11"; the landing page (no chapter) numbers none;
    every {numref} names a figure of the book."""
    from bs4 import BeautifulSoup
    root = toc_files()[0]
    labels, chapters, cited = {}, [], set()
    for name, text in _pages(smoke_book).items():
        soup = BeautifulSoup(text, "html.parser")
        article = soup.select_one("article.bd-article") or soup
        head = article.find("h1")
        number = head.select_one("span.section-number") if head else None
        caps = [s.get_text(strip=True) for s in article.select("figcaption span.caption-number")]
        if name == root:
            assert number is None and not caps, (name, caps)
            continue
        assert number is not None, f"{name}: its heading has no chapter number"
        chapter = number.get_text(strip=True).rstrip(".")
        chapters.append(chapter)
        for i, label in enumerate(caps, 1):
            m = _BOOK_FIGURE.match(label)
            assert m, f"{name}: figure label {label!r} is not 'Figure <chapter>.<n>'"
            assert m.groups() == (chapter, str(i)), f"{name} (chapter {chapter}): {label!r}"
            assert label not in labels, f"{label!r} on {name} and on {labels[label]}"
            labels[label] = name
        words = re.sub(r"\s+", " ", article.get_text(" "))
        cited |= set(_CITED_FIGURE.findall(words))
    numbered = [c for c in chapters if c.isdigit()]
    assert numbered == [str(i) for i in range(1, len(numbered) + 1)], chapters
    assert len(set(chapters)) == len(chapters), chapters
    assert len(labels) >= 20
    numrefs = [r.get_text(strip=True) for t in _pages(smoke_book).values()
               for r in BeautifulSoup(t, "html.parser").select("span.std-numref")]
    assert numrefs and all(r in labels for r in numrefs), numrefs
    # the paper's figures are cited as "Fig. N" (a whole number, a panel letter at most): no
    # book label is written that way or carries such a number
    assert cited, "no cited figure found: the pattern went stale"
    for label in labels:
        assert not _CITED_FIGURE.search(label) and label.split()[1] not in cited, label
