"""Replaying the start of a stored run with this code (mifd.results.replay): a run of this code is
reproduced, a changed value is found, and a reproduced committed result counts as current."""

import json
import shutil

import numpy as np
import pytest

from mifd.results.provenance import is_current
from mifd.results.replay import replay, reproduce_committed
from mifd.results.runner import committed_status, run
from mifd.results.store import Entry, Store, dump_blob


@pytest.fixture(scope="module")
def wm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    store = Store(root=root / "store", committed=[])
    rr = run("wm", "smoke", store=store, verbose=False, progress=False)
    return root, rr


def _copy(rr, dst):
    shutil.copytree(rr.path, dst)
    return Entry(dst)


def test_a_run_of_this_code_is_reproduced(wm_run):
    root, rr = wm_run
    r = replay(Entry(rr.path))
    assert r.reproduced and not r.differ
    assert {"hist/task", "hist/mi", "hist/sm_mi", "snaps/Q_cor", "snaps/mse"} <= set(r.compared)
    assert 0 < r.steps < r.of == rr.config.epochs  # the start, not the whole run


@pytest.mark.parametrize("path", [("hist", "task", 0), ("snaps", "Q_cor", 1)])
def test_a_changed_value_is_found(wm_run, tmp_path, path):
    _, rr = wm_run
    e = _copy(rr, tmp_path / rr.key)
    res = e.load_result()
    a = np.array(res[path[0]][path[1]], copy=True)
    # one float32 ulp in one trial; float64 metrics: 1e-9 relative (below 1e-12 is rounding)
    a[path[2], 0] = (np.nextafter(a[path[2], 0], np.inf) if a.dtype == np.float32
                     else a[path[2], 0] * (1 + 1e-9))
    res[path[0]][path[1]] = a
    dump_blob(e.result_path, res)
    r = replay(e)
    assert not r.reproduced and r.differ == [f"{path[0]}/{path[1]}"]


def test_a_reproduced_committed_result_counts_as_current(wm_run, tmp_path):
    _, rr = wm_run
    committed = tmp_path / "committed"
    good = _copy(rr, committed / "wm" / rr.key)
    meta = good.meta()
    code = meta["code"]["hash"]
    meta["code"]["hash"] = "0" * 16  # as if made by other code
    (good.path / "meta.json").write_text(json.dumps(meta))
    store = Store(root=tmp_path / "local", committed=[committed])
    assert [r["current"] for r in committed_status(store)] == [False]
    again = run("wm", "smoke", store=store, verbose=False, progress=False)
    assert again.code_changed == "0" * 16  # shown with a note before the replay
    reps = reproduce_committed(store, profile="smoke", report=lambda line: None, progress=False)
    assert [r.reproduced for r in reps] == [True]
    meta = good.meta()
    assert meta["reproduced"][0]["code"] == code and is_current(meta, code)
    assert [(r["current"], r["reproduced"]) for r in committed_status(store)] == [(True, True)]
    loaded = run("wm", "smoke", store=store, verbose=False, progress=False)
    assert loaded.loaded and loaded.code_changed is None
    assert not (tmp_path / "local" / "wm").exists()  # nothing recomputed
    assert reproduce_committed(store, profile="smoke", report=lambda line: None) == []  # current: not replayed


def test_a_result_that_differs_stays_stale(wm_run, tmp_path):
    _, rr = wm_run
    committed = tmp_path / "committed"
    e = _copy(rr, committed / "wm" / rr.key)
    meta = e.meta()
    meta["code"]["hash"] = "0" * 16
    (e.path / "meta.json").write_text(json.dumps(meta))
    res = e.load_result()
    res["hist"]["mi"] = res["hist"]["mi"] + 1.0
    dump_blob(e.result_path, res)
    store = Store(root=tmp_path / "local", committed=[committed])
    lines = []
    reps = reproduce_committed(store, profile="smoke", report=lines.append, progress=False)
    assert [r.differ for r in reps] == [["hist/mi"]] and "DIFFERS" in lines[0]
    assert "reproduced" not in e.meta()
    assert [r["current"] for r in committed_status(store)] == [False]


def test_a_unit_replayed_whole_is_compared_whole(tmp_path):
    store = Store(root=tmp_path, committed=[])
    rr = run("wm-audit", "smoke", store=store, verbose=False, progress=False)
    r = replay(Entry(rr.path))
    assert r.reproduced and r.unit == "audit" and r.steps == r.of
    assert {"audit/train_dv", "audit/held_out_dv", "audit/p_perm"} <= set(r.compared)


def test_float64_metrics_may_differ_in_their_last_bits_and_say_so(wm_run, tmp_path):
    """numpy's summation order (its version) moves float64 evaluation metrics by ~1e-16: within
    1e-12 relative they count as reproduced, with the difference recorded; beyond, they differ."""
    from mifd.results.provenance import describe_reproduction
    _, rr = wm_run
    for step, ok in ((1e-15, True), (1e-9, False)):
        e = _copy(rr, tmp_path / f"{step}" / rr.key)
        res = e.load_result()
        mse = np.array(res["snaps"]["mse"], dtype=np.float64, copy=True)
        assert mse.dtype == np.float64
        mse[0, 0] *= 1 + step
        res["snaps"]["mse"] = mse
        dump_blob(e.result_path, res)
        r = replay(e)
        assert r.reproduced is ok
        assert (r.differ, list(r.rounding)) == (([], ["snaps/mse"]) if ok else (["snaps/mse"], []))
    meta = {"code": {"hash": "a"}, "reproduced": [{**replay(Entry(rr.path)).record("b"),
                                                    "float64_rounding": {"snaps/mse": 2e-16}}]}
    assert "snaps/mse 2.0e-16: numpy's summation order" in describe_reproduction(meta, "b")


def test_a_history_this_config_never_computes_does_not_hide_the_others():
    """A term that is NaN at every step (e.g. a penalty of a condition not in this part) is
    compared over the rows the others ran, and does not stop them being compared."""
    from mifd.results.replay import compare
    full = np.arange(12, dtype=np.float32).reshape(6, 2)
    ran = np.full((6, 2), np.nan, dtype=np.float32)
    ran[:2] = full[:2]
    never = np.full((6, 2), np.nan, dtype=np.float32)
    compared, differ, steps, of = compare({"hist": {"a": ran, "b": never}},
                                          {"hist": {"a": full, "b": never}})
    assert (compared, differ, steps, of) == (["hist/a", "hist/b"], [], 2, 6)
    other = full.copy()
    other[1, 1] += 1
    assert compare({"hist": {"a": ran, "b": never}}, {"hist": {"a": other, "b": never}})[1] \
        == ["hist/a"]
