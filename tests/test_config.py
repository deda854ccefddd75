"""Profiles turn into full validated configs; --set values are coerced and range-checked."""

import pytest

import mifd
from mifd.config import ConfigError, apply_overrides, config_hash


def test_paper_profile_is_the_published_benchmark():
    cfg = mifd.get_experiment("mine-gaussian").config("paper")
    assert cfg.stages == (2.0, 4.0, 6.0, 8.0, 10.0) and cfg.steps_per_stage == 4000
    assert cfg.batch == 64 and cfg.lr == 5e-4 and cfg.dim == 20 and cfg.hidden == 256
    assert cfg.ps_samples == 40000 and cfg.ps_width == 512 and cfg.ps_lr == 3e-3


def test_overrides_are_coerced_and_checked():
    cfg = mifd.get_experiment("mine-gaussian").config("smoke")
    new = apply_overrides(cfg, {"batch": "32", "lr": "1e-3", "stages": "1,2", "critics": "joint/cubic"})
    assert new.batch == 32 and new.lr == 1e-3 and new.stages == (1.0, 2.0)
    assert new.critics == ("joint/cubic",)
    with pytest.raises(ConfigError, match="parameter 'batch': got '2.5'"):
        apply_overrides(cfg, {"batch": "2.5"})
    with pytest.raises(ConfigError, match="parameter 'lr': got nan|parameter 'lr': got 'nan'"):
        apply_overrides(cfg, {"lr": "nan"})
    assert config_hash("x", cfg, "1") != config_hash("x", new, "1")
    assert config_hash("x", cfg, "1") != config_hash("x", cfg, "2")


def test_an_empty_list_means_none_and_a_list_of_choices_needs_one():
    sep = mifd.get_experiment("separation")
    assert sep.config("book", {"sweep_l2": ""}).sweep_l2 == ()
    with pytest.raises(ConfigError, match="parameter 'conditions': got an empty list"):
        sep.config("book", {"conditions": ""})
    with pytest.raises(ConfigError, match="a comma-separated list of finite numbers"):
        sep.config("book", {"sweep_l2": "a"})


def test_an_added_field_is_keyed_against_its_legacy_value_not_its_default():
    """wm's RMSprop ε moved inside √ by default; the committed ε-outside runs keep their keys,
    an ε-inside run gets its own, and the key follows from the full config alone."""
    import dataclasses

    from mifd.config import config_hash
    from mifd._version import __version__
    wm = mifd.get_experiment("wm")
    assert wm.config_cls().rmsprop_eps == "inside"
    outside = wm.config("book", {"conditions": ("mi",), "trials": 10,
                                 "rmsprop_eps": "outside", "critic_double_bias": False})
    # the committed 10-trial ε-outside MI run (results/committed/wm/b1575054e2aef9a8)
    assert config_hash("wm", outside, __version__) == "b1575054e2aef9a8"
    inside = dataclasses.replace(outside, rmsprop_eps="inside")
    assert config_hash("wm", inside, __version__) != "b1575054e2aef9a8"
    # the same config reached through another default gives the same key
    assert config_hash("wm", wm.config("smoke", {"rmsprop_eps": "inside"}), __version__) == \
        config_hash("wm", wm.config("smoke"), __version__)


def test_the_wm_paper_profile_runs_fp32_matmuls_on_cuda():
    """The authors' wm runs set NVIDIA_TF32_OVERRIDE=0: fp32, TF32 only when asked for."""
    wm = mifd.get_experiment("wm")
    assert wm.config("paper", device="cuda").sm_precision == "fp32"
    assert wm.config("paper", {"sm_precision": "tf32"}, device="cuda").sm_precision == "tf32"


def test_a_stored_config_without_an_added_field_reads_its_legacy_value():
    """A run stored before ``rmsprop_eps`` existed ran ε outside √: read back so, whatever the
    default is now; a stored value is kept."""
    from mifd.config import stored_config, to_dict
    wm = mifd.get_experiment("wm")
    stored = {k: v for k, v in to_dict(wm.config("smoke")).items() if k != "rmsprop_eps"}
    assert stored_config(wm.config_cls, stored).rmsprop_eps == "outside"
    assert stored_config(wm.config_cls, {**stored, "rmsprop_eps": "inside"}).rmsprop_eps == \
        "inside"


def test_the_earlier_gpu_shards_are_shown_with_their_settings_named():
    """The committed wm GPU shards ran TF32 and ε outside (before the defaults changed): found
    only when asked for those settings, and labelled so."""
    from mifd.results import shards
    from mifd.paper import wm
    assert shards.committed_shards("wm", "paper", "cuda") is None
    rr, label = wm.committed_gpu()
    assert rr is not None and rr.config.sm_precision == "tf32"
    assert rr.config.rmsprop_eps == "outside" and "earlier settings" in label


def test_the_wm_book_profile_is_the_committed_20_trial_run_with_eps_inside():
    """The chapters' working-memory run is the paper's 20 trials per condition × 1000 epochs
    with the default ε placement, and its condition parts (in seed shards) are committed."""
    from mifd.results.parts import condition_parts
    cfg = mifd.get_experiment("wm").config("book")
    assert (cfg.trials, cfg.epochs, cfg.rmsprop_eps) == (20, 1000, "inside")
    rr = condition_parts("wm", cfg)
    assert rr is not None and rr.layout.per_condition == 20
    assert set(rr.layout.conditions) == {"mi", "no_mi"}


def test_the_runs_built_on_the_wm_book_profile_take_its_defaults_or_are_queued(tmp_path):
    """BIMT, the penalties, the mechanism runs and the post-hoc audit run with the
    working-memory defaults (ε inside √, two critic biases: the authors' code) — or, until those
    runs are in, their book profiles name the earlier settings of their committed runs and
    ``mifd jobs`` queues the runs with the defaults (the audit's of the 20-trial run). The
    variants' reference is the first MI shard of the 20-trial run."""
    from mifd.paper import persistence, variants
    from mifd.results.jobs import planned, wm_defaults
    from mifd.results.store import Store
    wm = mifd.get_experiment("wm").config("book")
    assert (wm.rmsprop_eps, wm.critic_double_bias) == ("inside", True) == \
        tuple(wm_defaults().values())
    queued = {(j.experiment, dict(j.overrides).get("trials")): dict(j.overrides)
              for j in planned("book", store=Store(tmp_path / "s", [tmp_path / "c"]))}
    for name in ("bimt", "penalties", "wm-mechanism", "wm-audit"):
        cfg = mifd.get_experiment(name).config("book")
        trials = wm.trials if name == "wm-audit" else None
        if (cfg.rmsprop_eps, cfg.critic_double_bias) != ("inside", True):
            assert cfg.critic_double_bias is False, name  # the earlier default, nothing else
            job = queued[name, trials]  # (the mechanism's runs set their own ε placement)
            assert job["critic_double_bias"] is True, name
            assert name == "wm-mechanism" or job["rmsprop_eps"] == "inside", name
    audited = mifd.get_experiment("wm-audit").config("book", {"trials": wm.trials,
                                                               **wm_defaults()}).audited()
    assert mifd.get_experiment("wm").config("book", audited[2]) == \
        mifd.get_experiment("wm").config("book", {"conditions": ("mi", "no_mi")})
    first = next(iter(persistence.SCREEN.values()))
    assert first[0] == {} and first[1][0] == (variants.BASE["book"]["seed"],
                                               variants.BASE["book"]["trials"])