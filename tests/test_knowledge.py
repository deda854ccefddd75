"""The central tables that know something about each experiment name registered experiments
only, and agree with each other (an unknown name is an error where they are read; a typo in a
table would be one that no run finds)."""

from mifd.experiments import EXPERIMENTS
from mifd.gpu.shard import DEFAULT_PROFILES
from mifd.gpu.shard import EXPERIMENTS as SESSION_EXPERIMENTS
from mifd.perf.harness import BENCH_OVERRIDES, UNITS
from mifd.perf.options import BENCHED
from mifd.results.merge import TRIAL_AXES
from mifd.results.merge import COMMITTED_WITHOUT


def test_every_table_names_registered_experiments():
    for table in (TRIAL_AXES, COMMITTED_WITHOUT, UNITS, BENCH_OVERRIDES, DEFAULT_PROFILES,
                  SESSION_EXPERIMENTS, BENCHED):
        assert set(table) <= set(EXPERIMENTS), set(table) - set(EXPERIMENTS)


def test_what_a_gpu_session_or_a_bench_runs_has_a_unit_and_trial_axes():
    # a session probes with the experiment's unit and its shards are combined along trial axes
    assert set(SESSION_EXPERIMENTS) <= set(UNITS) and set(SESSION_EXPERIMENTS) <= set(TRIAL_AXES)
    assert set(BENCHED) == set(BENCH_OVERRIDES) and set(BENCHED) <= set(UNITS)
    for name, profile in DEFAULT_PROFILES.items():
        assert name in SESSION_EXPERIMENTS and profile in EXPERIMENTS[name].profiles


def test_the_tables_are_views_of_the_experiments():
    from mifd.results.merge import COMMITTED_WITHOUT as views_cw
    for name, e in EXPERIMENTS.items():
        assert TRIAL_AXES.get(name) == e.trial_axes
        assert UNITS.get(name) == e.unit
        assert BENCH_OVERRIDES.get(name) == e.bench_overrides
        assert views_cw.get(name, ()) == e.committed_without
        assert (name in SESSION_EXPERIMENTS) == (e.session_profile is not None)


def test_an_unknown_experiment_is_refused_in_one_line_everywhere():
    import pytest

    from mifd.config import ConfigError
    from mifd.gpu.shard import default_profile
    from mifd.perf.harness import unit_for
    from mifd.results.merge import trial_axes, without_uncommitted
    for call in (lambda: trial_axes("nope"), lambda: without_uncommitted("nope", {}),
                 lambda: unit_for("nope", None, "cpu"), lambda: default_profile("nope")):
        with pytest.raises(ConfigError, match=r"got 'nope'; allowed: [^\n]*$"):
            call()
    with pytest.raises(ConfigError, match="got 'mine-gaussian'; allowed: one whose runs"):
        trial_axes("mine-gaussian")
    with pytest.raises(ConfigError, match="got 'wm-audit'; allowed: one of 'wm'"):
        default_profile("wm-audit")


def test_no_variant_bends_a_base_experiment():
    # conditions are data given to the base units: no object changes its class, no trainer's
    # λ_I is overwritten after construction, no bound method is replaced
    import re
    from pathlib import Path

    import mifd
    for path in Path(mifd.__file__).parent.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"__class__\s*=[^=]", text), path
        assert not re.search(r"\b(tr|trainer)\.lambda_mi\s*=[^=]", text), path
        assert not re.search(r"\b(tr|trainer)\.(sm_steps|mm_step|estimate)\s*=[^=]", text), path
