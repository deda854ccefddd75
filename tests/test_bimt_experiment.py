"""The ``bimt`` experiment: each condition's regularizer is its closed form, swaps happen only
where they should and never raise the wiring cost, and the conditions without a wiring cost are
the ``wm`` experiment's conditions, trial for trial."""

import numpy as np
import pytest
import torch

import mifd
from mifd import bimt
from mifd.config import ConfigError
from mifd.experiments.bimt import BIMTTrainUnit
from mifd.experiments.bimt_separation import BIMTSeparationTrainUnit
from mifd.experiments.separation import SeparationProblem
from mifd.experiments.wm import WMProblem
from mifd.results.store import Store

from conftest import BATCH_ATOL, BATCH_RTOL

SMALL = {"epochs": 4, "trials": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MIFD_PROGRESS", "0")
    try:
        store = Store(tmp_path_factory.mktemp("bimt"), [])
        rr = mifd.run("bimt", "smoke", "cpu", SMALL, store=store, verbose=False)
        wm = {c: mifd.run("wm", "smoke", "cpu", {**SMALL, "audit_steps": 0, "conditions": (c,),
                                                **over},
                          store=store, verbose=False)
              for c, over in (("mi", {}), ("no_mi", {"l2": 0.0}))}
    finally:
        mp.undo()
    return rr, wm


def test_conditions_without_a_wiring_cost_are_the_wm_conditions(runs):
    """``mi`` is wm's ``mi``; ``none`` is wm's ``no_mi`` without L2: same seeds, same numbers."""
    rr, wm = runs
    for ours, theirs in (("mi", "mi"), ("none", "no_mi")):
        for m, vals in wm[theirs].result["trials"][theirs].items():
            # each wm run holds one trial: torch hands a batch of one to a plain gemm, whose
            # last bits differ from the batched product's (mifd.results.numerics): the batch bound
            np.testing.assert_allclose(rr.result["trials"][ours][m], vals, rtol=BATCH_RTOL,
                                       atol=BATCH_ATOL, err_msg=f"{ours} {m}")


@pytest.mark.parametrize("name, unit_cls, problem_cls", [
    ("bimt", BIMTTrainUnit, WMProblem),
    ("bimt-separation", BIMTSeparationTrainUnit, SeparationProblem)])
def test_each_condition_has_its_regularizer(name, unit_cls, problem_cls):
    cfg = mifd.get_experiment(name).config("smoke", {"trials": 1, "sweep_wiring": (0.5,)})
    unit = unit_cls(cfg, "cpu")
    prob, wiring = unit.problem, unit.wiring
    assert isinstance(prob, problem_cls) and prob.terms == [wiring]  # the one extra term
    names = list(cfg.layout().conditions)
    lam = unit.trainer.lambda_mi.tolist()
    assert lam == pytest.approx([cfg.lambda_mi if c.startswith("mi") else 0.0 for c in names])
    with torch.no_grad():
        for W in wiring.params().values():
            W.normal_(generator=torch.Generator().manual_seed(1))
        reg = prob.reg_loss()
    p = wiring.params()
    l1 = sum(w.abs().sum((1, 2)) for k, w in p.items() if k not in ("b", "c"))  # not biases
    l2 = sum(w.pow(2).sum((1, 2)) for w in prob.model.weights())
    cc = bimt.connection_cost(p, wiring.kind, wiring.geometry)
    want = {"none": 0 * l1, "l1": cfg.wiring * cfg.l0 * l1, "distance": cfg.wiring * cc,
            "bimt": cfg.wiring * cc, "mi": cfg.l2 * l2, "mi_bimt": cfg.wiring * cc,
            "l1=0.5": 0.5 * cfg.l0 * l1, "bimt=0.5": 0.5 * cc}
    assert set(names) == set(want)
    for t, c in enumerate(names):
        torch.testing.assert_close(reg[t], want[c][t], rtol=1e-5, atol=1e-7, msg=c)
    assert wiring.swaps_t.tolist() == [c.startswith(("bimt", "mi_bimt")) for c in names]


def test_swaps_happen_only_in_swap_conditions_and_never_raise_the_cost(runs):
    rr, _ = runs
    swaps = rr.split(rr.result["hist"]["cc_swap"])  # (epochs, trials) per condition
    every = rr.config.swap_every
    for c, v in swaps.items():
        assert (v <= 0).all(), c
        if c in ("bimt", "mi_bimt"):
            assert (v[every - 1::every] < 0).any(), c  # some swap lowered the cost
        else:
            assert (v == 0).all(), c


def test_bad_bimt_settings_are_refused_in_one_line():
    exp = mifd.get_experiment("bimt")
    with pytest.raises(ConfigError, match="parameter 'swap_top_k'"):
        exp.config("smoke", {"swap_top_k": 9})  # n = 8 in smoke
    with pytest.raises(ConfigError, match="parameter 'sweep_wiring'"):
        exp.config("smoke", {"sweep_wiring": (0.1, 0.1)})
    with pytest.raises(ConfigError, match="parameter 'l0'"):
        exp.config("smoke", {"l0": 0.0})
    with pytest.raises(ConfigError, match="parameter 'conditions'"):
        exp.config("smoke", {"conditions": ("no_mi",)})


def test_a_run_in_condition_parts_equals_the_whole_run(runs, tmp_path):
    """``mifd run bimt --parts 2`` splits the conditions (a λ_w sweep value's l1 and bimt
    conditions together); the parts assemble into the whole run, bit for bit."""
    from mifd.results import shards
    rr, _ = runs
    over = {**SMALL, "sweep_wiring": (0.01,)}
    cfg = mifd.get_experiment("bimt").config("smoke", over)
    split = shards.split_conditions(cfg, 2)
    assert split == [{"conditions": ("none", "l1", "distance"), "sweep_wiring": (0.01,)},
                     {"conditions": ("bimt", "mi", "mi_bimt"), "sweep_wiring": ()}]
    store = Store(tmp_path / "parts", [])
    for part in split:
        mifd.run("bimt", "smoke", "cpu", {**over, **part}, store=store, verbose=False,
                 progress=False)
    got = mifd.run("bimt", "smoke", "cpu", over, store=store, verbose=False, progress=False)
    whole = mifd.run("bimt", "smoke", "cpu", over, store=Store(tmp_path / "whole", []),
                     verbose=False, progress=False)
    assert got.meta["parts"] and got.result["conditions"] == whole.result["conditions"]
    for c in whole.result["trials"]:
        assert got.result["trials"][c] == whole.result["trials"][c], c
    np.testing.assert_array_equal(got.result["hist"]["cc_swap"], whole.result["hist"]["cc_swap"])
    np.testing.assert_array_equal(got.result["snaps"]["NMI_str"], whole.result["snaps"]["NMI_str"])
    # the sweep's conditions of the whole run are those of its parts: the base run's too
    assert [c for c in whole.result["conditions"] if c in rr.result["conditions"]] == \
        rr.result["conditions"]


def test_bimt_separation_mi_is_the_separation_mi_l2_condition(tmp_path, monkeypatch):
    """The GRU task: ``mi`` is separation's ``mi_l2``, trial for trial (same seeds and data)."""
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    store = Store(tmp_path, [])
    rr = mifd.run("bimt-separation", "smoke", "cpu", {"conditions": ("none", "mi")},
                  store=store, verbose=False)
    sep = mifd.run("separation", "smoke", "cpu", {"conditions": ("mi_l2",), "sweep_l2": ()},
                   store=store, verbose=False)
    for m, vals in sep.result["trials"]["mi_l2"].items():
        ours = "NMI_cor" if m == "NMI" else m  # separation's NMI of the |corr| communities
        np.testing.assert_allclose(rr.result["trials"]["mi"][ours], vals, rtol=1e-6, atol=1e-7,
                                   err_msg=m)
    assert rr.result["trials"]["none"]["error"] == \
        [1 - r for r in rr.result["trials"]["none"]["R2"]]
    assert (rr.result["hist"]["cc_swap"] == 0).all()  # no swap condition in this run
