"""The command line: bad parameters are rejected in one line with exit code 2, nothing written."""

import json
import subprocess

import pytest

from conftest import ROOT, mifd_cmd


@pytest.mark.parametrize("args,needle", [
    (["run", "nope"], "parameter 'experiment': got 'nope'; allowed: one of 'bimt', 'bimt-separation', 'growing-brains', 'mine-gaussian'"),
    (["run", "mine-gaussian", "--profile", "fast"], "parameter 'profile': got 'fast'; allowed: one of 'smoke', 'book', 'gpu', 'paper'"),
    (["run", "mine-gaussian", "--set", "nonsense=1"], "parameter 'nonsense': unknown"),
    (["run", "mine-gaussian", "--set", "batch=abc"], "parameter 'batch': got 'abc'; allowed: an integer in [2, 4096]"),
    (["run", "mine-gaussian", "--set", "batch=1"], "parameter 'batch': got 1; allowed: an integer in [2, 4096]"),
    (["run", "mine-gaussian", "--set", "lr=-1"], "parameter 'lr': got -1.0; allowed: a finite number in"),
    (["run", "mine-gaussian", "--set", "bounds=mine,foo"], "parameter 'bounds': got ('mine', 'foo'); allowed: one of"),
    (["run", "mine-gaussian", "--set", "negatives=permutation"], "parameter 'negatives': got 'permutation'; allowed: 'all_pairs' when 'infonce'"),
    (["run", "mine-gaussian", "--set", "batch"], "parameter '--set': got 'batch'; allowed: key=value"),
    (["run", "mine-gaussian", "--device", "tpu"], "parameter 'device': got 'tpu'"),
    (["book", "--profile", "huge"], "parameter 'profile': got 'huge'"),
    (["run", "wm", "--profile", "smoke", "--device", "cpu", "--set", "graph_sm_pass=true"],
     "parameter 'graph_sm_pass': got True on cpu; allowed there: False"),
    (["bench", "--device", "cpu", "--graph"], "parameter '--graph': got True on cpu"),
    (["bench", "--device", "cpu", "--rows", "mifd+fused+graph"],
     "parameter '--rows': got 'mifd+fused+graph' on cpu; allowed there: rows without +graph"),
    (["bench", "--rows", "mifd+turbo"], "parameter '--rows': got 'mifd+turbo'; allowed: 'mifd' "
     "followed by any of '-2pass', '+compile'"),
])
def test_bad_parameters_exit_2_with_one_line_and_write_nothing(tmp_path, store_env, args, needle):
    out = tmp_path / "out"
    p = subprocess.run(mifd_cmd(*args, *(["--out", str(out)] if args[0] == "run" else [])),
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mifd: error: "), p.stderr
    assert needle in lines[0]
    assert p.stdout == ""
    assert not out.exists() and not store_env.exists()


def test_run_writes_summary_and_repeat_loads(tmp_path, store_env):
    args = mifd_cmd("run", "mine-gaussian", "--profile", "smoke", "--out", str(tmp_path),
                    "--set", "critics=separable/gaussian", "--set", "game_steps=2")
    p1 = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert p1.returncode == 0, p1.stderr
    assert "trained now" in p1.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    cond = summary["conditions"]["staircase/separable/gaussian/smile"]
    assert set(cond["bias@2"]) == {"mean", "sd", "n", "nonfinite"} and cond["bias@2"]["n"] == 1
    assert summary["provenance"]["config"]["game_steps"] == 2
    p2 = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert p2.returncode == 0 and "loaded from the results store" in p2.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["conditions"] == summary["conditions"]


def test_readme_commands_are_the_makefile_targets():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    for target in ("book", "test"):  # the targets exist and make can plan them
        p = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.strip(), (target, p.stderr)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_book_execution_cache_is_dropped_when_code_or_results_change(tmp_path, monkeypatch):
    """myst-nb keys its cache by notebook source only; ``mifd book`` drops it when the library
    or the results changed, so a page never shows outputs of older results."""
    import time

    from mifd.cli import _invalidate_stale_cache
    monkeypatch.delenv("MIFD_STORE", raising=False)
    (tmp_path / "mifd").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "mifd" / "a.py").write_text("x = 1\n")
    res = tmp_path / "results" / "r.json"
    res.write_text("{}")
    cache = tmp_path / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    _invalidate_stale_cache(cache, tmp_path)   # no stamp yet: dropped
    assert not cache.exists()
    cache.mkdir()
    _invalidate_stale_cache(cache, tmp_path)   # nothing changed: kept
    assert cache.exists()
    time.sleep(0.01)
    res.write_text('{"new": 1}')
    _invalidate_stale_cache(cache, tmp_path)   # a result changed: dropped
    assert not cache.exists()
