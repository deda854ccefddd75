"""The MINE page's definition of its paper-setting columns: its numbers come from the config,
and ``mine_final`` is the mean over the steps it names."""

from types import SimpleNamespace

import numpy as np
import pytest

from mifd.paper import mine_benchmark as M


def test_the_columns_are_defined_with_the_run_s_numbers():
    text = M.paper_setting_columns(SimpleNamespace(ps_steps=300, ps_samples=4096, ps_seeds=2))
    assert ("mine_final: the critic's DV value at each of the last 60 of its 300 training steps, "
            "on that step's fresh batch of 4,096 samples") in text
    assert "mine_held_out: the trained critic's DV value once, after the last step" in text
    assert "either can be the larger" in text and text.endswith("the mean over 2 seeds.")
    one = M.paper_setting_columns(SimpleNamespace(ps_steps=3, ps_samples=10, ps_seeds=1))
    assert "the last 1 of its 3 training steps" in one and one.endswith("over 1 seed.")


def test_mine_final_is_the_mean_over_the_steps_the_definition_names(store_env):
    import mifd
    small = {"critics": ("separable/gaussian",), "stages": (2.0,), "bounds": ("mine",),
             "steps_per_stage": 4, "tail": 2, "game_k": (), "ps_transforms": ("identity",),
             "ps_steps": 12, "ps_seeds": 2, "th_batches": (16,), "th_reps": 2}
    rr = mifd.run("mine-gaussian", profile="smoke", device="cpu", overrides=small,
                  verbose=False)
    tail = M.final_tail(rr.config)
    assert tail == 2
    for name, unit in rr.result["units"].items():
        if name.startswith("paper_setting/"):
            values = np.asarray(unit["values"], float)
            assert rr.result["trials"][name]["mine_final"] == \
                pytest.approx(values[-tail:].mean(0).tolist())
            assert rr.result["trials"][name]["mine_held_out"] == \
                pytest.approx(np.asarray(unit["held_out_dv"], float).tolist())
