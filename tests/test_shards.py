"""Shards of a profile's trials combine into the run of all its trials (CPU: exactly)."""

import json

import numpy as np
import pytest

import mifd
from mifd.results import shards
from mifd.paper import wm as wm_paper
from mifd.config import ConfigError
from mifd.results.runner import commit_results
from mifd.results.store import Store

from conftest import assert_batch_equal, assert_summaries_equal, leaves

SMALL = {"epochs": 2, "audit_steps": 2}


def _run(store, **over):
    return mifd.run("wm", "smoke", "cpu", {**SMALL, **over}, store=store, verbose=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("shards"), [tmp_path_factory.mktemp("committed")])
    mp = pytest.MonkeyPatch()
    mp.setenv("MIFD_PROGRESS", "0")
    try:
        full = _run(store, trials=3, seed=1001)
        parts = [_run(store, trials=2, seed=1001), _run(store, trials=1, seed=1003)]
    finally:
        mp.undo()
    return store, full, parts




def test_combined_shards_equal_the_run_of_all_trials(runs):
    _, full, parts = runs
    comb = shards.combine(parts[::-1])  # any order: trials go in seed order
    assert comb.config == full.config
    a, b = dict(leaves(full.result)), dict(leaves(comb.result))
    assert a.keys() == b.keys()
    for k in a:
        if hasattr(a[k], "shape") or all(isinstance(x, float) for x in a[k]):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)
        else:
            assert b[k] == a[k], k
    assert comb.summary.keys() == full.summary.keys()
    # the analyses read the combined run as they read the full one
    assert list(wm_paper.classify(comb)["seed"]) == list(wm_paper.classify(full)["seed"])
    assert [s["seed"] for s in comb.meta["shards"]] == [1001, 1003]


def test_shards_with_a_gap_overlap_or_other_config_are_refused(runs, tmp_path):
    store, full, parts = runs
    with pytest.raises(ConfigError, match="consecutive"):
        shards.combine([parts[1], full])
    other = _run(store, trials=1, seed=1003, lambda_mi=0.2)
    with pytest.raises(ConfigError, match="another experiment, profile or config"):
        shards.combine([parts[0], other])


def test_committed_shards_are_found_and_combined(runs, tmp_path):
    store, full, parts = runs
    for over in ({"trials": 2, "seed": 1001}, {"trials": 1, "seed": 1003}):
        commit_results("wm", "smoke", {**SMALL, **over}, store=store, device="cpu")
    got = shards.committed_shards("wm", "smoke", "cpu", store=Store(tmp_path / "x",
                                                                    store.committed))
    assert got is None  # the committed shards are of a config with SMALL's changes
    # against a profile equal to that config they combine (3 trials from seed 1001)
    exp = mifd.get_experiment("wm")
    saved = dict(exp.profiles["smoke"])
    try:
        exp.profiles["smoke"] = {**saved, **SMALL}
        got = shards.committed_shards("wm", "smoke", "cpu", store=Store(tmp_path / "x",
                                                                        store.committed))
    finally:
        exp.profiles["smoke"] = saved
    assert got is not None and got.config.trials == 3 and got.config.seed == 1001
    assert "in 2 shards: seeds 1001–1002 (" in shards.describe(got)
    assert ", seed 1003 (" in shards.describe(got)  # a one-trial shard: one seed


def test_precision_effect_pairs_trials_by_seed(runs, tmp_path):
    store, full, parts = runs
    for over in ({"trials": 2, "seed": 1001}, {"trials": 1, "seed": 1001, "sm_precision": "bf16"}):
        _run(store, **over)
        commit_results("wm", "smoke", {**SMALL, **over}, store=store, device="cpu")
    exp = mifd.get_experiment("wm")
    saved = dict(exp.profiles["smoke"])
    view = Store(tmp_path / "x", store.committed)
    try:
        exp.profiles["smoke"] = {**saved, **SMALL}
        eff = shards.precision_effect("wm", "smoke", "bf16", "fp32", view, "cpu")
        assert shards.precision_effect("wm", "smoke", "tf32", "fp32", view, "cpu") is None
    finally:
        exp.profiles["smoke"] = saved
    assert list(eff.index) == [("mi", 1001), ("no_mi", 1001)]  # the seeds run in both
    fp32 = full.result["trials"]["mi"]["Q_str"][0]
    assert eff.loc[("mi", 1001), "Q_str fp32"] == pytest.approx(fp32, rel=1e-5)
    assert eff.loc[("mi", 1001), "ΔQ_str"] == pytest.approx(
        eff.loc[("mi", 1001), "Q_str bf16"] - fp32, rel=1e-4, abs=1e-7)


SEP = {"sweep_l2": (1e-3,), "mm_steps": 2}


@pytest.fixture(scope="module")
def sep_runs(tmp_path_factory):
    """The separation smoke run with one sweep value, once whole (its own store) and once by
    ``mifd run --parts 2`` (two processes, another store)."""
    from mifd import cli
    mp = pytest.MonkeyPatch()
    mp.setenv("MIFD_PROGRESS", "0")
    try:
        whole = mifd.run("separation", "smoke", "cpu", SEP, verbose=False,
                         store=Store(tmp_path_factory.mktemp("whole"), []))
        store = Store(tmp_path_factory.mktemp("parts"), [])
        mp.setenv("MIFD_STORE", str(store.root))  # the parts' processes write there
        out = tmp_path_factory.mktemp("out")
        assert cli.main(["run", "separation", "--profile", "smoke", "--device", "cpu",
                         "--parts", "2", "--set", "sweep_l2=0.001", "--set", "mm_steps=2",
                         "--out", str(out)]) == 0
        assert json.loads((out / "summary.json").read_text())["provenance"]["parts"]
        parts = [mifd.run("separation", "smoke", "cpu", {**SEP, **o}, store=store, verbose=False)
                 for o in shards.split_conditions(whole.config, 2)]
        assert all(p.loaded for p in parts)
        assembled = mifd.run("separation", "smoke", "cpu", SEP, store=store, verbose=False)
    finally:
        mp.undo()
    return whole, parts, assembled, store


def test_split_conditions_balances_parts_each_with_a_base_condition():
    cfg = mifd.get_experiment("separation").config("book", {"sweep_l2": (1e-4, 1e-3, 1e-2)})
    two = shards.split_conditions(cfg, 2)
    assert two == [{"conditions": ("mi_l2", "no_mi"), "sweep_l2": (1e-3,)},
                   {"conditions": ("mi_no_l2",), "sweep_l2": (1e-4, 1e-2)}]
    assert [len(p["conditions"]) + len(p["sweep_l2"]) for p in shards.split_conditions(cfg, 3)] \
        == [2, 2, 2]
    assert shards.split_conditions(cfg, 1) == [{"conditions": cfg.conditions,
                                                "sweep_l2": cfg.sweep_l2}]
    for bad in (0, 4):
        with pytest.raises(ConfigError, match="parameter 'parts'"):
            shards.split_conditions(cfg, bad)
    assert shards.split_conditions(mifd.get_experiment("wm").config("book"), 2) == \
        [{"conditions": ("mi",)}, {"conditions": ("no_mi",)}]
    with pytest.raises(ConfigError, match="lists its conditions"):
        shards.split_conditions(mifd.get_experiment("mine-gaussian").config("book"), 2)


def test_working_memory_run_in_condition_parts_equals_the_whole_run(runs):
    """The working-memory run split by condition (``mifd run wm --parts 2``) is assembled by
    ``mifd.run`` into the whole run's result, bit for bit, the audit included."""
    store, full, _ = runs
    parts = [_run(store, trials=3, seed=1001, conditions=c) for c in (("no_mi",), ("mi",))]
    other = Store(store.root.parent / "wm-parts-only", [])
    for p in parts:  # only the parts in a store of their own
        (other.root / "wm").mkdir(parents=True, exist_ok=True)
        import shutil
        shutil.copytree(store.root / "wm" / p.key, other.root / "wm" / p.key)
    got = _run(other, trials=3, seed=1001)
    assert got.meta["parts"] and got.config == full.config
    a, b = dict(leaves(full.result)), dict(leaves(got.result))
    assert a.keys() == b.keys()
    for k in a:
        if hasattr(a[k], "shape"):
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)
        else:
            assert b[k] == a[k], k
    assert got.summary == full.summary


def _assert_same_run(got, want):
    """``got``'s result and summary equal ``want``'s: bit for bit where this BLAS is
    batch-invariant (conftest), within the batch bound elsewhere."""
    a, b = dict(leaves(want.result)), dict(leaves(got.result))
    assert a.keys() == b.keys()
    for k in a:
        if hasattr(a[k], "shape") and a[k].dtype.kind == "f":
            assert_batch_equal(b[k], a[k], err_msg=k)
        elif hasattr(a[k], "shape"):
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)
        elif isinstance(a[k], list) and a[k] and all(isinstance(x, float) for x in a[k]):
            assert_batch_equal(np.array(b[k]), np.array(a[k]), err_msg=k)
        else:
            assert b[k] == a[k], k
    assert_summaries_equal(got.summary, want.summary)


def test_condition_parts_in_seed_shards_assemble_the_whole_run(runs):
    """A condition run in seed shards (the 20-trial working-memory run: the MI condition as
    two shards, the no-MI condition as others) is assembled by ``mifd.run`` into the whole
    run: each condition's shards combined in seed order, then the conditions."""
    store, full, _ = runs
    pieces = [_run(store, trials=2, seed=1001, conditions=("mi",)),
              _run(store, trials=1, seed=1003, conditions=("mi",)),
              _run(store, trials=1, seed=1001, conditions=("no_mi",)),
              _run(store, trials=2, seed=1002, conditions=("no_mi",))]
    other = Store(store.root.parent / "wm-shards-only", [])
    import shutil
    for p in pieces:
        shutil.copytree(store.root / "wm" / p.key, other.root / "wm" / p.key)
    got = _run(other, trials=3, seed=1001)
    assert got.config == full.config and len(got.meta["parts"]) == 2
    assert got.result["conditions"] == full.result["conditions"]
    _assert_same_run(got, full)  # shards of other batch sizes
    # a gap in one condition's seeds: not assembled (the run is computed instead)
    gap = Store(store.root.parent / "wm-shards-gap", [])
    for p in pieces[:3]:
        shutil.copytree(store.root / "wm" / p.key, gap.root / "wm" / p.key)
    assert shards.condition_parts("wm", full.config, gap) is None


def test_condition_parts_add_up_to_the_whole_run(sep_runs):
    """Parts that ran disjoint conditions (in any order) are found by ``mifd.run`` and give the
    whole run's result bit for bit (CPU: a trial does not depend on its batch companions)."""
    whole, parts, got, _ = sep_runs
    assert sorted(p["key"] for p in got.meta["parts"]) == sorted(r.key for r in parts)
    assert got.config == whole.config
    assert got.result["conditions"] == whole.result["conditions"]
    _assert_same_run(got, whole)
    assert "2 parts run side by side" in shards.describe(got)


def test_condition_parts_that_overlap_or_differ_are_refused(sep_runs):
    whole, (a, b), _, store = sep_runs
    with pytest.raises(ConfigError, match="two parts"):
        shards.combine_conditions(whole.config, [a, b, a])
    with pytest.raises(ConfigError, match="exactly"):
        shards.combine_conditions(whole.config, [a])
    other = mifd.run("separation", "smoke", "cpu", {**SEP, "conditions": ("no_mi", "mi_l2"),
                                                    "sweep_l2": (), "sm_lr": 0.02},
                     store=store, verbose=False)
    with pytest.raises(ConfigError, match="another experiment or config"):
        shards.combine_conditions(whole.config, [a, other])
    # a part of other code in the writable store is not used
    assert shards.condition_parts("separation", whole.config, store, code="0" * 16) is None
    assert shards.condition_parts("separation", whole.config, store).meta["parts"]


def test_commit_results_of_a_run_made_in_parts_commits_the_parts(sep_runs, tmp_path):
    import shutil
    whole, parts, _, store = sep_runs
    layered = Store(store.root, [tmp_path])
    # a committed run of the same config made in one piece is superseded by the parts
    shutil.copytree(whole.path, tmp_path / "separation" / whole.key)
    commit_results("separation", "smoke", SEP, store=layered, device="cpu")
    assert sorted(p.name for p in (tmp_path / "separation").iterdir()) == \
        sorted(r.key for r in parts)
    again = mifd.run("separation", "smoke", "cpu", SEP, verbose=False,
                     store=Store(tmp_path / "empty", [tmp_path]))
    assert again.meta["parts"]
    assert_summaries_equal(again.summary, whole.summary)


def test_parts_made_by_different_code_are_refused(runs, sep_runs):
    import copy
    _, _, parts = runs
    stale = copy.copy(parts[1])
    stale.meta = {**stale.meta, "code": {**stale.meta.get("code", {}), "hash": "0" * 16}}
    with pytest.raises(ConfigError, match="different code"):
        shards.combine([parts[0], stale])
    whole, (a, b), _, _ = sep_runs
    b = copy.copy(b)
    b.meta = {**b.meta, "code": {}}
    with pytest.raises(ConfigError, match="different code"):
        shards.combine_conditions(whole.config, [a, b])


def test_current_parts_beat_a_committed_whole_run_of_other_code(sep_runs, tmp_path):
    """A committed run of all conditions made by other code is not shown when parts made by
    this code are stored: they are assembled instead."""
    import shutil
    whole, parts, _, store = sep_runs
    old = tmp_path / "committed" / "separation" / whole.key
    shutil.copytree(whole.path, old)
    meta = json.loads((old / "meta.json").read_text())
    meta["code"] = {**meta.get("code", {}), "hash": "0" * 16}
    (old / "meta.json").write_text(json.dumps(meta))
    got = mifd.run("separation", "smoke", "cpu", SEP, verbose=False,
                   store=Store(store.root, [tmp_path / "committed"]))
    assert got.meta.get("parts") and got.code_changed is None
    # without the parts, the stale whole run is shown (with its note)
    alone = mifd.run("separation", "smoke", "cpu", SEP, verbose=False,
                     store=Store(tmp_path / "empty", [tmp_path / "committed"]))
    assert not alone.meta.get("parts") and alone.code_changed == "0" * 16


def test_committed_shards_of_a_planned_profile_may_differ_in_the_planned_fields(tmp_path,
                                                                                 monkeypatch):
    """A GPU session plans the ``gpu`` profile's length and steps by measurement
    (:data:`mifd.results.exchange.PLANNED_FIELDS`): such runs are found as the profile's shards; for a
    profile without a plan, a run with another length is not the profile's."""
    from mifd.results import exchange
    store = Store(tmp_path / "s", [tmp_path / "c"])
    over = {"length": 40, "mm_steps": 2}
    mifd.run("separation", "smoke", "cpu", over, store=store, verbose=False, progress=False)
    commit_results("separation", "smoke", over, store=store, device="cpu")
    look = Store(tmp_path / "x", store.committed)
    assert shards.committed_shards("separation", "smoke", "cpu", store=look) is None
    monkeypatch.setitem(exchange.PLANNED_FIELDS, "smoke", ("length", "mm_steps", "eval_every"))
    got = shards.committed_shards("separation", "smoke", "cpu", store=look)
    assert got is not None and (got.config.length, got.config.mm_steps) == (40, 2)


def test_a_run_held_in_parts_is_finished_and_its_parts_do_not_run_again(sep_runs, tmp_path,
                                                                        monkeypatch):
    """``mifd run --parts`` starts no process where the store already holds the run in parts
    (of any split: here one part asked, two stored), and ``--refresh`` counts only parts of
    this code."""
    from mifd import cli
    from mifd.results import jobs
    from mifd.results.parts import finished
    whole, _, _, store = sep_runs
    assert finished("separation", whole.config, store, current_only=True)
    monkeypatch.setattr(jobs.subprocess, "Popen",
                        lambda *a, **k: pytest.fail("a part started"))
    monkeypatch.setenv("MIFD_STORE", str(store.root))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    assert cli.main(["run", "separation", "--profile", "smoke", "--device", "cpu", "--parts",
                     "1", "--refresh", "--set", "sweep_l2=0.001", "--set", "mm_steps=2",
                     "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["provenance"]["parts"]
    exp = mifd.get_experiment("separation")
    monkeypatch.setattr(exp, "code_hash", lambda: "0" * 16)  # the parts: other code's now
    assert not finished("separation", whole.config, store, current_only=True)
