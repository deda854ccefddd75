"""Generic tests over every registered experiment: the registry, profiles, a smoke run's result
schema, and (for experiments with trials in conditions) a trial's independence of its batch
companions. A new experiment is covered by adding it to the registry."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import numpy as np
import pytest

import mifd
from mifd import experiments
from mifd.config import ConfigError, apply_overrides, config_hash, to_dict
from mifd.experiments import EXPERIMENTS
from mifd.results.store import Store

NAMES = sorted(EXPERIMENTS)


def test_the_registry_names_every_experiment_module_and_importing_registers_nothing():
    modules = {m.name for m in pkgutil.iter_modules(experiments.__path__)} - {"base", "derived"}
    found = {importlib.import_module(f"mifd.experiments.{m}").EXPERIMENT.name for m in modules}
    assert found == set(EXPERIMENTS)
    before = dict(EXPERIMENTS)
    importlib.reload(importlib.import_module("mifd.experiments.wm"))
    assert EXPERIMENTS == before  # no import side effect
    with pytest.raises(ConfigError, match="parameter 'experiment': got 'nope'; allowed: one of"):
        mifd.get_experiment("nope")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("profile", ["smoke", "book", "paper"])
def test_every_profile_validates_and_round_trips(name, profile):
    exp = EXPERIMENTS[name]
    cfg = exp.config(profile)
    assert isinstance(cfg, exp.config_cls)
    again = apply_overrides(exp.config_cls(), to_dict(cfg))  # validated again from plain values
    assert again == cfg and config_hash(name, again, "v") == config_hash(name, cfg, "v")
    assert exp.config(profile, device="cuda") is not None
    # a bounded integer field below its bound is refused in one line, before any work
    f = next(f for f in dataclasses.fields(cfg)
             if f.type in ("int", int) and f.metadata.get("low") is not None)
    with pytest.raises(ConfigError, match=f"parameter '{f.name}'"):
        exp.config(profile, {f.name: int(f.metadata["low"]) - 1})


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, monkeypatch_module):
    store = Store(tmp_path_factory.mktemp("generic-store"), [])
    return {n: mifd.run(n, "smoke", "cpu", store=store, verbose=False, progress=False)
            for n in NAMES}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    mp.setenv("MIFD_PROGRESS", "0")
    yield mp
    mp.undo()


@pytest.mark.parametrize("name", NAMES)
def test_a_smoke_run_has_the_result_schema(smoke, name):
    rr = smoke[name]
    trials = rr.result["trials"]
    assert trials and all(isinstance(v, dict) and v for v in trials.values())
    assert set(rr.summary) == set(trials)
    for cond, metrics in trials.items():
        for m, vals in metrics.items():
            v = np.asarray(vals, dtype=float)
            assert rr.summary[cond][m]["n"] == int(np.isfinite(v).sum()), (cond, m)
            assert rr.summary[cond][m]["nonfinite"] == int((~np.isfinite(v)).sum()), (cond, m)
    if hasattr(rr.config, "layout"):
        lay = rr.layout
        assert lay == rr.config.layout()
        assert tuple(trials) == lay.conditions
        for cond in lay.conditions:
            assert all(len(v) == lay.per_condition for v in trials[cond].values())
        assert rr.meta["key"] == rr.key and rr.meta["config"] == to_dict(rr.config)


@pytest.mark.parametrize("name", [n for n in NAMES
                                  if hasattr(EXPERIMENTS[n].config("smoke"), "layout")])
def test_a_trial_does_not_depend_on_its_batch_companions(smoke, name, tmp_path):
    """The last condition's trials, run alone (without the other conditions' trials beside
    them in the batch), equal the same trials in the full run; with two or more trials per
    condition, so does trial 1 started alone from its seed."""
    rr = smoke[name]
    lay = rr.layout
    last = lay.conditions[-1]
    runs = [({"conditions": (last,)}, [(last, t, t) for t in range(lay.per_condition)])]
    if lay.per_condition >= 2:
        runs.append(({"trials": 1, "seed": lay.seed + 1}, [(c, 1, 0) for c in lay.conditions]))
    for i, (over, pairs) in enumerate(runs):
        alone = mifd.run(name, "smoke", "cpu", over, store=Store(tmp_path / str(i), []),
                         verbose=False, progress=False)
        for cond, t_full, t_alone in pairs:
            for m, vals in alone.result["trials"][cond].items():
                np.testing.assert_allclose(vals[t_alone], rr.result["trials"][cond][m][t_full],
                                           rtol=2e-3, atol=2e-4, err_msg=f"{over} {cond} {m}")


def test_a_layout_groups_per_trial_values_by_condition():
    import pytest

    from mifd.config import ConfigError
    from mifd.experiments.base import Layout
    lay = Layout(("a", "b"), 2, 10)
    got = lay.by_condition({"x": np.array([1, 2, 3, 4], dtype=np.float32), "y": [0.5, 1, 2, 3]})
    assert got == {"a": {"x": [1.0, 2.0], "y": [0.5, 1.0]}, "b": {"x": [3.0, 4.0], "y": [2.0, 3.0]}}
    assert list(got) == ["a", "b"] and list(got["a"]) == ["x", "y"]
    with pytest.raises(ConfigError, match="got 3 trials"):
        lay.by_condition({"x": [1, 2, 3]})
