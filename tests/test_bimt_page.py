"""The BIMT page's computed text on hand-built runs: the answer names how many and which networks
each number averages, the active-units sentence covers every condition, and BIMT's own settings
are not listed as reductions against a published value."""

from types import SimpleNamespace

import numpy as np

import mifd
from mifd.paper import bimt as B
from mifd.results.result import RunResult


def _rr(active: dict[str, list[float]] | None = None) -> RunResult:
    """Working memory, 5 trials of none, bimt, mi, mi_bimt; bimt trial 0 and mi_bimt trials
    0, 2 fail the task (accuracy ≤ 0.9)."""
    acc = {"none": [0.95] * 5, "bimt": [0.8, 0.95, 0.95, 0.95, 0.95], "mi": [0.95] * 5,
           "mi_bimt": [0.8, 0.95, 0.85, 0.95, 0.95]}
    q_str = {"none": [0.0] * 5, "bimt": [0.0, 0.1, 0.12, 0.1, 0.12],
             "mi": [0.02, 0.03, 0.04, 0.03, 0.03], "mi_bimt": [0.2] * 5}
    q_cor = {"none": [0.0] * 5, "bimt": [0.5, 0.0, 0.01, 0.0, 0.01],
             "mi": [0.3, 0.28, 0.32, 0.3, 0.3], "mi_bimt": [0.2] * 5}
    active = active or {}
    trials = {c: {"eval_accuracy": acc[c], "Q_str": q_str[c], "Q_cor": q_cor[c],
                  "active_units": active.get(c, [40.0] * 5)} for c in acc}
    snaps = {k: np.zeros((3, 20)) for k in ("Q_cor", "Q_str")}
    result = {"trials": trials, "conditions": list(acc), "snaps": snaps,
              "snap_epochs": np.array([0, 10, 20])}
    return RunResult("bimt", "smoke", SimpleNamespace(n=40, seed=0), "k", result, {}, {}, True)


def test_the_answer_names_the_networks_each_number_averages():
    ours = B.questions(_rr())[0]["ours"]
    assert ours.startswith("Q_str 0.110 (n = 4: trials 1–4; all 5: 0.088) with BIMT against "
                           "0.030 (n = 5: every trial) with MI")
    assert ("Q_cor 0.300 (n = 5: every trial) with MI against 0.005 (n = 4: trials 1–4; all 5: "
            "0.104) with BIMT") in ours


def test_trial_lists_join_runs_of_three_or_more():
    assert B._trial_list(np.array([0, 2, 4])) == "0, 2, 4"
    assert B._trial_list(np.array([0, 1, 3, 4, 5])) == "0, 1, 3–5"
    assert B._counted_mean([1.0, 2.0, 3.0], np.array([False, True, False])) == \
        "2.000 (n = 1: trial 1; all 3: 2.000)"
    assert B._counted_mean([1.0, 3.0], np.array([False, False])) == \
        "— (no network; all 2: 2.000)"


def test_the_active_units_sentence_covers_every_condition():
    plain = B.active_units_sentence(_rr({"mi_bimt": [40, 38, 40, 37, 40]}))
    assert plain.startswith("Every network without MI minimization (none, bimt) keeps all 40 "
                            "units active")
    assert plain.endswith("With MI minimization: mi all 40 in every trial; mi_bimt 39.0 ± 1.4 "
                          "(37–40; 2 of 5 trials silence units).")
    silenced = B.active_units_sentence(_rr({"bimt": [30, 40, 40, 40, 40]}))
    assert silenced.startswith("Active units (of 40) without MI minimization: none all 40 in "
                               "every trial; bimt 38.0 ± 4.5 (30–40; 1 of 5 trials silence "
                               "units).")
    assert "Every network" not in silenced


def test_bimt_s_own_settings_are_not_reductions_against_a_published_value():
    exp = mifd.get_experiment("bimt-separation")
    cfg = exp.config("paper", {"swap_every": 50, "A": 1.0, "length": 400})
    assert {"swap_every", "A", "length"} <= set(exp.reductions(cfg).index)  # the raw table
    table = B.reductions(exp, cfg)
    assert "length" in table.index
    assert not {"swap_every", "A"} & set(table.index)
    assert {"swap_every", "A", "wiring", "sweep_wiring"} <= B.own_settings(cfg)
    wm = mifd.get_experiment("bimt").config("paper")
    assert "epochs" not in B.own_settings(wm) and "swap_every" in B.own_settings(wm)


def test_the_wiring_summary_counts_only_networks_that_solve_the_task():
    import numpy as np
    from mifd.paper import bimt
    trials = {"none": {"wiring_length": [100.0, 300.0]}, "bimt": {"wiring_length": [1.0, 2.0]},
              "mi": {"wiring_length": [50.0, 10.0]}}
    masks = {"none": np.array([True, False]), "bimt": np.array([False, False]),
             "mi": np.array([True, True])}
    text = bimt.wiring_words(trials, masks)
    assert text == ("of the networks that solve it, the shortest wiring is mi's (30.0, against "
                    "100.0 for none) (bimt: no network solves the task, its wiring not counted)")
    none = {c: np.zeros(2, bool) for c in trials}
    assert bimt.wiring_words(trials, none).startswith("no method's networks solve the task")
