"""The central tables that know something about each experiment name registered experiments
only, and agree with each other (an unknown name is an error where they are read; a typo in a
table would be one that no run finds)."""

from mifd.experiments import EXPERIMENTS
from mifd.gpu.shard import DEFAULT_PROFILES
from mifd.gpu.shard import EXPERIMENTS as SESSION_EXPERIMENTS
from mifd.perf.harness import BENCH_OVERRIDES, UNITS
from mifd.perf.options import BENCHED
from mifd.results.merge import TRIAL_AXES
from mifd.results.store import COMMITTED_WITHOUT


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
