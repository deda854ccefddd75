"""Results are tied to the code that computes them (issue: trust, item 1 and 2): the code hash
follows the computing code and nothing else; a stored result or checkpoint of other code is
never used as current; a committed one is shown with a note."""

import ast
import shutil

import pytest

import mifd
from mifd.results import fingerprint
from mifd.experiments.base import Experiment, RunPaused
from mifd.results.runner import committed_status, commit_results
from mifd.results.store import Store

from conftest import ROOT

TINY = {"trials": 1, "epochs": 2, "audit_steps": 0}


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    dst = tmp_path / "mifd"
    shutil.copytree(ROOT / "mifd", dst, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "PKG", dst)
    return dst


def test_the_code_hash_follows_the_computing_code_only(package_copy):
    wm, sep = "mifd.experiments.wm", "mifd.experiments.separation"
    h_wm, h_sep = fingerprint.code_hash(wm), fingerprint.code_hash(sep)
    flipflop = package_copy / "tasks" / "flipflop.py"
    text = flipflop.read_text()
    # a docstring and a comment: not code
    flipflop.write_text(text.replace('"""', '"""Edited. ', 1) + "\n# a comment\n")
    assert fingerprint.code_hash(wm) == h_wm
    # a constant that changes results (the pulse probability): the hash changes
    assert "0.002" in text
    flipflop.write_text(text.replace("0.002", "0.003"))
    assert fingerprint.code_hash(wm) != h_wm
    assert fingerprint.code_hash(sep) == h_sep  # separation does not run the flip-flop task
    flipflop.write_text(text)
    assert fingerprint.code_hash(wm) == h_wm
    # plotting, the store and the book do not compute results
    for name in ("pages/plotting.py", "results/store.py", "paper/claims.py"):
        p = package_copy / name
        p.write_text(p.read_text() + "\nX_UNUSED = 1\n")
    assert fingerprint.code_hash(wm) == h_wm
    assert "mifd.tasks.flipflop" in fingerprint.computing_modules(wm)
    assert "mifd.pages.plotting" not in fingerprint.computing_modules(wm)


EXPERIMENTS = ("wm", "separation", "bimt", "bimt_separation", "penalties",
               "penalties_separation", "growing_brains", "mine_gaussian", "wm_audit")


def _hashes():
    return {e: fingerprint.code_hash(f"mifd.experiments.{e}") for e in EXPERIMENTS}


def test_moving_a_module_or_its_definitions_keeps_every_code_hash(package_copy):
    """The hash follows what is computed, not where it lives: a module moved into a new
    package (its importers' lines rewritten), definitions reordered and an import line moved
    keep every experiment's hash; a changed constant does not."""
    before = _hashes()
    # move mifd/finite.py to mifd/guards/finite.py and rewrite the lines that import it
    (package_copy / "guards").mkdir()
    (package_copy / "guards" / "__init__.py").write_text('"""Guards."""\n')
    (package_copy / "finite.py").rename(package_copy / "guards" / "finite.py")
    moved = package_copy / "guards" / "finite.py"
    moved.write_text(moved.read_text().replace("from .", "from .."))
    for p in package_copy.rglob("*.py"):
        t = p.read_text()
        if p != moved and ".finite import" in t:
            depth = len(p.relative_to(package_copy).parts) - 1
            p.write_text(t.replace("from " + "." * (depth + 1) + "finite import",
                                   "from " + "." * (depth + 1) + "guards.finite import"))
    assert "mifd.guards.finite" in fingerprint.computing_modules("mifd.experiments.wm")
    assert _hashes() == before
    # the top-level statements of a module in reverse order, an import at another place
    metrics = package_copy / "metrics.py"
    text = metrics.read_text()
    lines = text.splitlines(keepends=True)
    nodes = ast.parse(text).body
    spans = [("".join(lines[(n.decorator_list[0] if getattr(n, "decorator_list", None)
                             else n).lineno - 1:n.end_lineno])) for n in nodes]
    # (the docstring and the __future__ import stay first: that is where Python needs them)
    metrics.write_text("\n\n".join(spans[:2] + spans[2:][::-1])
                       + "\nfrom . import config as _unused\n")
    assert _hashes() == before
    # a constant that changes what is computed
    flipflop = package_copy / "tasks" / "flipflop.py"
    flipflop.write_text(flipflop.read_text().replace("0.002", "0.003"))
    assert _hashes()["wm"] != before["wm"]


def test_splitting_a_module_keeps_every_code_hash(package_copy):
    """Half of a module moved into a new one that imports what it needs itself (numpy, typing,
    a TYPE_CHECKING block): the names imported count once, so every hash stays; a name bound
    under another alias is other code."""
    before = _hashes()
    metrics = package_copy / "metrics.py"
    text = metrics.read_text()
    nodes = ast.parse(text).body
    funcs = [n for n in nodes if isinstance(n, ast.FunctionDef)]
    moved = funcs[len(funcs) // 2:]
    lines = text.splitlines(keepends=True)
    spans = ["".join(lines[(n.decorator_list[0] if n.decorator_list else n).lineno - 1:
                           n.end_lineno]) for n in moved]
    for span in spans:
        text = text.replace(span, "")
    names = ", ".join(n.name for n in moved)
    head = ('"""The second half."""\n\nfrom __future__ import annotations\n\n'
            "from typing import TYPE_CHECKING, Any\n\nimport numpy as np\n\n"
            "if TYPE_CHECKING:\n    from .config import ConfigError\n\n"
            "from .metrics import *  # noqa: F401,F403  (what the moved functions use)\n\n")
    (package_copy / "metrics_tail.py").write_text(head + "\n\n".join(spans))
    metrics.write_text(text + f"\nfrom .metrics_tail import {names}  # noqa: E402\n")
    assert "mifd.metrics_tail" in fingerprint.computing_modules("mifd.experiments.wm")
    assert _hashes() == before
    tail = package_copy / "metrics_tail.py"
    tail.write_text(tail.read_text().replace("import numpy as np", "import numpy as np\n"
                                             "import numpy as numpy_"))
    assert _hashes()["wm"] != before["wm"]


def _other_code(monkeypatch, value="0123456789abcdef"):
    monkeypatch.setattr(Experiment, "code_hash", lambda self: value)


def test_a_stored_result_of_other_code_is_recomputed(store_env, monkeypatch, capsys):
    first = mifd.run("wm", "smoke", "cpu", TINY, verbose=False)
    assert first.meta["code"]["hash"] == mifd.get_experiment("wm").code_hash()
    assert mifd.run("wm", "smoke", "cpu", TINY, verbose=False).loaded
    _other_code(monkeypatch)
    again = mifd.run("wm", "smoke", "cpu", TINY)
    assert not again.loaded and again.meta["code"]["hash"] == "0123456789abcdef"
    assert "made by other code" in capsys.readouterr().out


def test_a_committed_result_of_other_code_is_shown_with_a_note(tmp_path, monkeypatch):
    store = Store(tmp_path / "own", [tmp_path / "committed"])
    mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    commit_results("wm", "smoke", TINY, store=store, device="cpu")
    shutil.rmtree(tmp_path / "own")
    rr = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    assert rr.loaded and rr.code_changed is None and "NOTE" not in rr.describe()
    assert [r["current"] for r in committed_status(store)] == [True]
    _other_code(monkeypatch)
    rr = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    assert rr.loaded and rr.code_changed and "made by other code" in rr.describe()
    assert [r["current"] for r in committed_status(store)] == [False]


def test_a_checkpoint_of_other_code_is_not_resumed(store_env, monkeypatch):
    with pytest.raises(RunPaused):
        mifd.run("wm", "smoke", "cpu", {**TINY, "epochs": 6}, verbose=False, max_seconds=0.0)
    _other_code(monkeypatch)
    with pytest.warns(UserWarning, match="checkpoint was made by other code"):
        rr = mifd.run("wm", "smoke", "cpu", {**TINY, "epochs": 6}, verbose=False)
    assert rr.meta["resumed_from"] is None


def test_a_committed_result_beats_a_stale_local_copy(tmp_path, monkeypatch, capsys):
    """The book loads the committed result, not a retraining, when a stale local copy of the
    same key exists (e.g. a variant run here, committed, then the code changed)."""
    store = Store(tmp_path / "own", [tmp_path / "committed"])
    mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    commit_results("wm", "smoke", TINY, store=store, device="cpu")
    _other_code(monkeypatch)
    rr = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    assert rr.loaded and rr.code_changed and "committed" in rr.path.parts
    assert "recomputing" not in capsys.readouterr().out


def test_refresh_recomputes_what_other_code_made_and_resumes_its_own_checkpoint(tmp_path,
                                                                                monkeypatch):
    """``make results`` (``mifd run --refresh``): a committed result of other code is recomputed,
    not shown; a result of this code is loaded; a paused run of this code resumes."""
    store = Store(tmp_path / "own", [tmp_path / "committed"])
    mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    commit_results("wm", "smoke", TINY, store=store, device="cpu")
    shutil.rmtree(tmp_path / "own")
    rr = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False, refresh=True)
    assert rr.loaded  # and committing it again keeps the committed copy
    assert commit_results("wm", "smoke", TINY, store=store, device="cpu") == rr.path
    _other_code(monkeypatch)
    rr = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False, refresh=True)
    assert not rr.loaded and rr.code_changed is None and rr.meta["code"]["hash"] == "0123456789abcdef"
    assert mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False, refresh=True).loaded
    longer = {**TINY, "epochs": 6}
    with pytest.raises(RunPaused):
        mifd.run("wm", "smoke", "cpu", longer, store=store, verbose=False, max_seconds=0.0,
                 refresh=True)
    rr = mifd.run("wm", "smoke", "cpu", longer, store=store, verbose=False, refresh=True)
    assert rr.meta["resumed_from"] is not None


def test_refresh_does_not_assemble_committed_parts_of_other_code(tmp_path, monkeypatch):
    from mifd.results.shards import condition_parts
    store = Store(tmp_path / "own", [tmp_path / "committed"])
    for c in ("mi", "no_mi"):
        mifd.run("wm", "smoke", "cpu", {**TINY, "conditions": (c,)}, store=store, verbose=False)
        commit_results("wm", "smoke", {**TINY, "conditions": (c,)}, store=store, device="cpu")
    shutil.rmtree(tmp_path / "own")
    cfg = mifd.get_experiment("wm").config("smoke", TINY)
    _other_code(monkeypatch)
    code = mifd.get_experiment("wm").code_hash()
    assert condition_parts("wm", cfg, store, code).code_changed  # shown, with its note
    assert condition_parts("wm", cfg, store, code, current_only=True) is None
    monkeypatch.undo()
    assert commit_results("wm", "smoke", TINY, store=store, device="cpu").parent == (
        tmp_path / "committed" / "wm")  # current parts, nothing to copy: kept


def test_every_committed_book_result_is_made_by_this_code():
    """``make test`` fails while a committed ``book``-profile result was made by other code than
    this checkout's and not reproduced by it on replay (``make reproduce`` replays them,
    ``make results`` recomputes them; ``make results-status`` lists them)."""
    stale = [f"{r['experiment']} {r['key']} (made by {r['made by']}, commit {r['commit']})"
             for r in committed_status(Store()) if r["profile"] == "book" and not r["current"]]
    assert not stale, ("committed book results made by other code (run `make reproduce`, "
                       "then `make results` for those that differ): "
                       + "; ".join(stale))
