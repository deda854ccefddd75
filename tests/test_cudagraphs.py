"""CUDA graphs (``graph_sm_pass``) are CUDA only: elsewhere they are refused before anything runs.
Their equality with the eager passes is checked on a GPU (``tests/test_cuda.py``)."""

import pytest
import torch

from mifd.config import ConfigError
from mifd.accel.cudagraphs import GraphedPass


def test_graphed_pass_refuses_a_cpu_tensor():
    with pytest.raises(ConfigError, match="parameter 'graph_sm_pass': got True on cpu"):
        GraphedPass(lambda d: d["x"] * 2)({"x": torch.zeros(3), "noise": None})


def test_trainer_with_graphed_sm_passes_is_refused_on_cpu():
    from mifd.perf.harness import unit_for
    from mifd.experiments import get_experiment
    cfg = get_experiment("wm").config("smoke", {"graph_sm_pass": True})
    with pytest.raises(ConfigError, match="allowed there: False"):
        unit_for("wm", cfg, "cpu")


def test_phase_times_refuses_graphed_passes_in_groups():
    """phase_times collects every SM pass before timing the critic; graph replays share their
    outputs, so passes in groups would alias."""
    from mifd.perf import measure
    with pytest.raises(ConfigError, match="parameter 'sm_pass_group': got 1 with graph_sm_pass"):
        measure.phase_times("separation", "cpu", 1, profile="smoke",
                            overrides={"graph_sm_pass": True, "sm_pass_group": 1})
