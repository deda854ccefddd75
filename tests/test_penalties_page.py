"""The penalties page's comparison against no penalty on a hand-built run: each metric is tested
in the direction the table names, and the sentence states the same directions."""

from types import SimpleNamespace

from mifd.paper import penalties as P
from mifd.results.result import RunResult

METRICS = ("Q_cor", "D_cor", "Q_str", "eval_mse", "success_rate", "gauss_mi_final", "mi_final")


def _rr() -> RunResult:
    """none, mine=0.1 and gaussian=0.1, 4 trials each; the Gaussian penalty raises Q_cor and
    the task MSE and lowers the Gaussian MI."""
    base = {m: [0.1, 0.11, 0.09, 0.1] for m in METRICS}
    gauss = {**base, "Q_cor": [0.5, 0.52, 0.48, 0.5], "eval_mse": [0.5, 0.52, 0.48, 0.5],
             "gauss_mi_final": [0.01, 0.012, 0.008, 0.01]}
    trials = {"none": base, "mine=0.1": base, "gaussian=0.1": gauss}
    result = {"trials": trials, "conditions": list(trials)}
    return RunResult("penalties", "smoke", SimpleNamespace(seed=0), "k", result, {}, {}, True)


def test_each_metric_is_tested_in_the_direction_the_table_names():
    t = P.rivals(_rr()).loc[(0.1, "gaussian")]
    assert "against no penalty (>)" not in t.columns
    assert t.loc["Q_cor", "one-sided test"] == "penalty > no penalty"
    assert t.loc["Q_cor", "against no penalty"].startswith("yes (p = ")
    # the MSE rises: tested for a fall, so not detected, however far it rises
    assert t.loc["eval_mse", "one-sided test"] == "penalty < no penalty"
    assert t.loc["eval_mse", "against no penalty"].startswith("not detected (p = ")
    assert t.loc["gauss_mi_final", "one-sided test"] == "penalty < no penalty"
    assert t.loc["gauss_mi_final", "against no penalty"].startswith("yes (p = ")


def test_the_sentence_states_the_directions_the_test_uses():
    text = P.vs_none_rule(_rr())
    assert "higher Q_cor, D_cor, Q_str; lower eval_mse, gauss_mi_final than no penalty" in text
    assert "MINE moves" not in text
    sep = P.vs_none_rule(_rr(), ("Q_cor", "R2", "gauss_mi_final"))
    assert "higher Q_cor, R2; lower gauss_mi_final than no penalty" in sep
    assert [P.direction(m) for m in ("R2", "eval_mse", "mi_final", "NMI")] == \
        ["greater", "less", "less", "greater"]


def test_the_strength_sentence_compares_mine_s_start_with_the_matched_penalties():
    import numpy as np
    rr = _rr()  # 3 conditions × 4 trials: none, mine=0.1, gaussian=0.1
    mi = np.full((3, 12), np.nan)
    mi[0, 4:8] = [2.0, 2.2, 1.8, 2.0]  # MINE's first estimates
    g = np.full((3, 12), 4.0)
    rr.result["hist"] = {"mi": mi, "gauss_mi": g}
    text = P.strength_sentence(rr)
    assert "(median 4.00 nats)" in text and "its first estimate is 2.00 nats (medians over its 4 " \
        "trials), so at the same λ MINE starts at 50% of their strength." in text
    rr.result["hist"] = {}
    assert P.strength_sentence(rr) == ""


def test_the_trend_sentence_says_what_rises_falls_and_shows_no_trend():
    """The Gaussian penalty at λ = 0 (none), 0.1 and 1: Q_cor rises with λ, the Gaussian MI
    falls, the rest is noise without a trend; MINE at one λ beside none only."""
    noise = [0.1, 0.13, 0.07, 0.1]
    base = {m: noise for m in METRICS}

    def at(level):
        return {**base, "Q_cor": [level + x for x in noise],
                "gauss_mi_final": [1 - level + x for x in noise]}
    trials = {"none": at(0.0), "mine=0.1": base, "gaussian=0.1": at(0.4),
              "gaussian=1": at(0.8)}
    rr = RunResult("penalties", "smoke", SimpleNamespace(seed=0), "k",
                   {"trials": trials, "conditions": list(trials)}, {}, {}, True)
    text = P.trend_sentence(rr, ("gaussian",))
    assert text.startswith("Under the Gaussian penalty, as λ grows, Q_cor rises; the "
                           "Gaussian MI falls; no trend is detected in D_cor, Q_str, the "
                           "task MSE, the success rate and the critic's estimate.")
    assert "over 4 trials per λ" in text
    assert P.trend_sentence(rr, ()) == ""
