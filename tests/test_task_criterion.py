"""Beyond-paper answers conditioned on the task (issue 34): hand-built runs where the networks with
structure fail the task, so a structural or timing "yes" must not count them."""

from types import SimpleNamespace

import numpy as np

from mifd.results.result import RunResult
from mifd.paper import bimt, task_criterion
from mifd.paper import growing_brains as gb

N = 5  # networks per condition


def _bimt_run(task: str, bimt_score: list[float]) -> RunResult:
    """A BIMT-chapter run: ``bimt`` networks with high Q_str and the task score ``bimt_score``
    (``task``: "eval_accuracy" or "R2"), ``mi`` networks with high Q_cor that solve the task,
    ``mi_bimt`` like ``bimt``. Snapshots: Q_cor rises at epoch 10 everywhere, Q_str at 50."""
    conds = ("bimt", "mi", "mi_bimt")
    ok = [0.95] * N
    score = {"bimt": bimt_score, "mi": ok, "mi_bimt": bimt_score}
    q_str = {"bimt": [0.30, 0.32, 0.31, 0.29, 0.33], "mi": [0.01, 0.02, 0.0, 0.01, 0.02],
             "mi_bimt": [0.2] * N}
    q_cor = {"bimt": [0.0, 0.01, 0.02, 0.0, 0.01], "mi": [0.5, 0.6, 0.55, 0.52, 0.58],
             "mi_bimt": [0.3] * N}
    trials = {c: {task: score[c], "Q_str": q_str[c], "Q_cor": q_cor[c]} for c in conds}
    ep = np.arange(0, 100, 10)
    step = lambda at: np.repeat((ep >= at).astype(float)[:, None], 3 * N, 1)  # noqa: E731
    res = {"trials": trials, "conditions": list(conds), "snap_epochs": ep,
           "snaps": {"Q_cor": step(10), "Q_str": step(50), "NMI_cor": step(10),
                     "NMI_str": step(50)}}
    return RunResult("bimt", "smoke", SimpleNamespace(trials=N, seed=0), "k", res, {}, {}, True)


def test_task_criterion_constants_and_masks():
    assert task_criterion.ACCURACY_MIN == 0.9 and task_criterion.R2_MIN == 0.5
    m = task_criterion.meets([0.95, 0.9, np.nan, 0.2], "eval_accuracy", 0.9)
    assert list(m) == [True, False, False, False]  # accuracy must exceed 0.9
    assert list(task_criterion.meets([0.8, 0.79], "performance", 0.8)) == [True, False]


def test_bimt_structure_of_networks_that_fail_the_task_is_not_a_yes():
    # separation: every BIMT network collapsed (R² ≈ 0.25), with far more Q_str than MI's
    rr = _bimt_run("R2", [0.28, 0.25, 0.25, 0.23, 0.32])
    qs = bimt.questions(rr)
    assert qs[0]["answer"] == "not testable (n = 0)"  # was "yes" when pooled
    assert qs[1]["answer"] == "not testable (n = 0)"
    assert "bimt 0 of 5, mi 5 of 5, mi_bimt 0 of 5" in qs[0]["ours"]
    assert "bimt trial 4 (R2 0.320)" in qs[0]["ours"]
    # the same networks solving the task: the structural answer is yes
    qs = bimt.questions(_bimt_run("R2", [0.8] * N))
    assert qs[0]["answer"] == "yes" and "left out: none" in qs[0]["ours"]


def test_bimt_counts_only_networks_above_the_accuracy_criterion():
    rr = _bimt_run("eval_accuracy", [0.86, 0.95, 0.95, 0.95, 0.95])  # working memory
    qs = bimt.questions(rr)
    assert qs[0]["answer"] == "yes" and "bimt 4 of 5" in qs[0]["ours"]
    assert "bimt trial 0 (eval_accuracy 0.860)" in qs[0]["ours"]
    t = bimt.timing_table(rr)
    row = t[(t["condition"] == "bimt") & (t["functional"] == "Q_cor")].iloc[0]
    assert row["left out (fail the task)"] == 1 and row["trials with both onsets"] == 4
    assert row["functional first"] == 4


def _gb_run(bimt_perf: list[float]) -> RunResult:
    """A Growing Brains run: ``none`` at performance 0.84, ``bimt=1e-05`` at ``bimt_perf``,
    BIMT's isolated ratio far below its null (anatomically clustered)."""
    conds = ("none", "bimt=1e-05")
    n = len(bimt_perf)
    base = {"isolated_null": [0.7] * n, "index_var": [1.0] * n, "index_var_null": [2.0] * n,
            "NMI_halves": [0.1] * n, "mi_halves": [1.0] * n}
    trials = {"none": {**base, "performance": [0.84] * n, "isolated": [0.7] * n},
              "bimt=1e-05": {**base, "performance": bimt_perf,
                             "isolated": list(0.2 - 0.01 * np.arange(n))}}
    ep = np.arange(0, 100, 10)
    up = lambda at: np.repeat((ep >= at).astype(float)[:, None], 2 * n, 1)  # noqa: E731
    res = {"trials": trials, "conditions": list(conds), "snap_epochs": ep,
           "snaps": {"silhouette": up(10), "isolated": 0.7 - 0.5 * up(50),
                     "isolated_null": np.full((10, 2 * n), 0.7)}}
    return RunResult("growing-brains", "smoke", SimpleNamespace(trials=n, seed=0), "k", res,
                     {}, {}, True)


def test_growing_brains_structure_counts_networks_that_keep_their_performance():
    level = task_criterion.PERFORMANCE_FRACTION * 0.84
    good = _gb_run([0.83] * 6)
    qs = gb.questions(good)
    assert qs[0]["answer"].startswith("below chance") and qs[1]["answer"] == "functional leads"
    # the same anatomy in networks that lost the tasks: not counted, named
    bad = _gb_run([0.83, 0.83, 0.3, 0.3, 0.3, 0.3])
    qs = gb.questions(bad)
    assert qs[0]["answer"] == "not testable (n = 2)" and qs[1]["answer"] == "not testable (n = 2)"
    assert "2 of 6" in qs[0]["ours"] and "bimt=1e-05 trial 5 (performance 0.300)" in qs[0]["ours"]
    assert f"performance ≥ {level:.3f}" in qs[0]["ours"]
    t = gb.anatomy_table(bad)
    assert t.loc["bimt", "networks that solve the task"] == "2 of 6"
    assert gb.timing_table(bad).loc["bimt", "left out (fail the task)"] == 4
