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
