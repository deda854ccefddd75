"""Every chapter executes under papermill with profile=smoke; the book builds with warnings as errors."""

import json
import re

import nbformat
import pytest

from conftest import ROOT, toc_files

#: chapters of the book, and drafts: chapters whose committed `book` results do not exist yet
#: (out of the book, so that `make book` never trains them; executed here all the same)
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
NOTEBOOKS = CHAPTERS + sorted((ROOT / "book" / "drafts").glob("*.ipynb"))


def test_every_notebook_is_in_the_toc():
    toc = set(toc_files())
    for nb in CHAPTERS:
        assert str(nb.relative_to(ROOT).with_suffix("")) in toc


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_profile_and_device(nb):
    cells = nbformat.read(nb, as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    src = tagged[0].source
    assert re.search(r"^profile\s*=", src, re.M) and re.search(r"^device\s*=\s*\"auto\"", src, re.M)


@pytest.mark.slow
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_with_smoke_profile(nb, tmp_path, smoke_store, monkeypatch):
    """Papermill with profile=smoke, on the session's `smoke` store (results the book build
    computed are loaded, not recomputed)."""
    import papermill as pm
    monkeypatch.setenv("MIFD_STORE", str(smoke_store))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    out = tmp_path / nb.name
    pm.execute_notebook(str(nb), str(out), parameters={"profile": "smoke", "device": "auto"},
                        cwd=str(nb.parent), progress_bar=False, kernel_name="python3")
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    text = json.dumps([c.get("outputs", []) for c in executed.cells if c.cell_type == "code"])
    assert "profile smoke" in text or "profile: smoke" in text
    if nb.name != "intro.ipynb":  # the landing page is a table
        assert "image/png" in text


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_cell_is_one_captioned_figure(nb):
    """A cell that shows a figure shows exactly one and carries a MyST-NB caption, so a draft
    joins the book without an uncaptioned figure (the built book is checked in test_html)."""
    for c in nbformat.read(nb, as_version=4).cells:
        shows = c.source.count("plt.show()") if c.cell_type == "code" else 0
        if shows:
            fig = c.metadata.get("mystnb", {}).get("figure", {})
            assert shows == 1 and fig.get("caption") and fig.get("name"), \
                f"{nb.name}: a figure cell needs one plt.show() and a caption: {c.source[:80]!r}"


@pytest.mark.slow
def test_book_builds_with_warnings_as_errors(smoke_book):
    html = smoke_book
    for f in toc_files():
        page = (html / f).with_suffix(".html")
        assert page.exists(), page
    mine = (html / "book" / "mine.html").read_text()
    assert mine.count("<img") >= 5


@pytest.mark.slow
@pytest.mark.parametrize("parameters,line", [
    ({"profile": "fast"},
     "ConfigError: parameter 'profile': got 'fast'; allowed: one of 'smoke', 'book', 'gpu', 'paper'"),
    # issue (trust) item 11: papermill -p trials 4 was silently ignored
    ({"profile": "smoke", "trials": 4},
     "ConfigError: parameter 'trials': not declared by this chapter; allowed: 'profile', "
     "'device', 'overrides' (settings such as trials go in overrides, e.g. "
     "{'wm': {'trials': 10}})"),
    ({"profile": "smoke", "overrides": {"wm": {"trials": 0}}},
     "ConfigError: parameter 'trials': got 0; allowed: an integer in [1, 1000]"),
], ids=["profile", "undeclared", "overrides"])
def test_a_wrong_injected_parameter_gives_the_one_line_error(tmp_path, store_env, parameters,
                                                             line):
    import papermill as pm
    out = tmp_path / "wm.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(ROOT / "book" / "wm.ipynb"), str(out),
                            parameters=parameters, cwd=str(ROOT / "book"),
                            progress_bar=False, kernel_name="python3")
    assert e.value.ename == "ConfigError"
    errors = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) == 1
    assert errors[0]["traceback"] == [line]


@pytest.mark.slow
def test_overrides_reach_the_run(tmp_path, store_env):
    """A chapter re-run with more trials through ``overrides`` trains them."""
    import papermill as pm
    out = tmp_path / "wm_timing.ipynb"
    pm.execute_notebook(str(ROOT / "book" / "wm_timing.ipynb"), str(out),
                        parameters={"profile": "smoke", "overrides": {"wm": {"trials": 3}}},
                        cwd=str(ROOT / "book"), progress_bar=False, kernel_name="python3")
    text = json.dumps([c.get("outputs", []) for c in nbformat.read(out, as_version=4).cells
                       if c.cell_type == "code"])
    assert "overrides: {'wm': {'trials': 3}}" in text
