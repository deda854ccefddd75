"""Every work the book cites is in its bibliography: each {cite} key of every page is an entry of
book/references.bib, and every work named in prose as "Author et al. (year)" or "Author et al.
year" has an entry with that author and year (issue 36: Yang et al. 2019 was named, not listed)."""

import json
import re

from conftest import ROOT

BIB = ROOT / "book" / "references.bib"


def _entries() -> dict[str, str]:
    """Key → the entry's text."""
    text = BIB.read_text()
    return {m.group(1): m.group(0) for m in
            re.finditer(r"@\w+\{([^,\s]+),.*?\n\}", text, re.S)}


def _pages() -> dict[str, str]:
    """Every book page's prose (Markdown pages whole; notebooks' Markdown cells)."""
    out = {}
    for p in sorted((ROOT / "book").glob("*.md")):
        out[p.name] = p.read_text()
    for p in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(p.read_text())["cells"]
        out[p.name] = "\n".join("".join(c["source"]) for c in cells
                                if c["cell_type"] == "markdown")
    return out


def _cite_keys(text: str) -> list[str]:
    return [k.strip() for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text)
            for k in group.split(",")]


def test_the_bibliography_parses():
    entries = _entries()
    assert len(entries) >= 12
    assert len(entries) == BIB.read_text().count("\n@") + BIB.read_text().startswith("@")
    for key, entry in entries.items():
        assert re.search(r"\byear\s*=\s*\{\d{4}\}", entry), key
        assert re.search(r"\bauthor\s*=", entry), key


def test_every_cite_key_is_in_the_bibliography():
    entries = _entries()
    used = {(name, k) for name, text in _pages().items() for k in _cite_keys(text)}
    assert used, "no {cite} role found: the pattern is wrong"
    missing = sorted((name, k) for name, k in used if k not in entries)
    assert not missing, missing
    assert ("intro.ipynb", "yang2019task") in used  # named where the book mentions it


def _named_works(text: str) -> list[tuple[str, str]]:
    """(surname, year) of every "Surname et al. (2019)" / "Surname et al. 2019" /
    "Surname and Other (2019)" in prose (cite roles excluded)."""
    text = re.sub(r"\{cite(?::\w+)?\}`[^`]+`", "", text)
    name = r"[A-Z][A-Za-zÀ-ÿ-]+"
    pat = rf"\b({name})(?: et al\.|,? and {name})'?s?,? \(?((?:19|20)\d\d)\b"
    return re.findall(pat, text)


def test_works_named_in_prose_are_in_the_bibliography():
    entries = _entries()
    missing = []
    for name, text in _pages().items():
        for surname, year in _named_works(text):
            if not any(re.search(rf"author\s*=\s*\{{[^}}]*\b{re.escape(surname)}\b", e)
                       and re.search(rf"year\s*=\s*\{{{year}\}}", e) for e in entries.values()):
                missing.append((name, surname, year))
    assert not missing, missing


def test_the_prose_pattern_finds_a_named_work():
    assert _named_works("the tasks of Yang et al. (2019), and") == [("Yang", "2019")]
    assert _named_works("(Yang et al. 2019, as packaged)") == [("Yang", "2019")]
    assert _named_works("Sussillo and Abbott (2009) showed") == [("Sussillo", "2009")]
    assert _named_works("as {cite:t}`yang2019task` shows") == []
