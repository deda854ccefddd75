"""The comparisons with the paper on hand-built inputs: every verdict and classification rule,
onset times, the L2 sweep table and the variants table."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mifd.config import ConfigError
from mifd.experiments.base import Layout
from mifd.results.result import RunResult
from mifd.paper import rules, timing, variants
from mifd.paper import separation as sep_paper
from mifd.paper import wm as wm_paper
from problems import CURVES, EPOCHS, curves


def _rr(result, **cfg):
    return RunResult("wm", "smoke", SimpleNamespace(**cfg), "k", result, {}, {}, True)


def test_no_difference_verdict_needs_a_narrow_interval_to_agree():
    rng = np.random.default_rng(0)
    base = rng.normal(0.15, 0.01, 40)
    # the same MSE, measured precisely: the interval of the difference is inside ± 25% of 0.166
    assert rules.no_difference_verdict(base + 0.001, base[::-1], 0.166) == "consistent"
    # clearly different
    assert rules.no_difference_verdict(base + 0.05, base, 0.166) == "differs"
    # four noisy trials: n.s., but a difference of 25% of the level cannot be ruled out
    a, b = [0.10, 0.25, 0.12, 0.22], [0.14, 0.20, 0.09, 0.25]
    assert rules.no_difference_verdict(a, b, 0.166) == "not testable (n = 4)"
    assert rules.no_difference_verdict([0.1], b, 0.166) == "not testable (n = 1)"
    assert rules.no_difference_verdict([0.1, math.nan], b, 0.166) == "not testable (n = 1)"


def test_timing_verdict_needs_a_majority_and_significance():
    assert rules.timing_verdict(10, 9, 0.01) == "reproduced"
    assert rules.timing_verdict(10, 9, 0.2) == "same direction, n.s."
    assert rules.timing_verdict(10, 5, 0.01) == "not reproduced"  # half is not most
    assert rules.timing_verdict(1, 1, math.nan) == "not testable (n = 1)"


def test_majority_verdict_needs_failed_and_successful_trials():
    # the share's 95% Wilson interval decides: above one half, below it, or across it
    assert rules.majority_verdict(9, 10, 2, 12) == "reproduced"  # 0.60–0.98
    assert rules.majority_verdict(8, 10, 2, 12) == "not testable (n = 10)"  # 0.49–0.94
    assert rules.majority_verdict(4, 10, 2, 12) == "not testable (n = 10)"  # 0.17–0.69
    assert rules.majority_verdict(1, 10, 2, 12) == "not reproduced"  # 0.02–0.40
    assert rules.majority_verdict(3, 4, 2, 6) == "not testable (n = 4)"  # 3 of 4 is not "most"
    assert rules.majority_verdict(0, 0, 6, 6) == "not testable (n = 6)"
    assert rules.majority_verdict(4, 6, 0, 6) == "not testable (n = 6)"


def test_all_of_says_partly_for_some():
    assert rules.all_of(["reproduced", "reproduced"]) == "reproduced"
    assert rules.all_of(["reproduced", "differs"]) == "partly"
    assert rules.all_of(["same direction, n.s.", "differs"]) == "not reproduced"


def test_classify_applies_each_rule_to_hand_built_trials():
    # 4 trials per condition, 2 units per group
    sd = np.ones((8, 4))
    corr = np.full((8, 4, 2), 0.5)
    w_out = np.ones((8, 4, 2))
    corr[0, 2:], w_out[0, 2:] = 0.02, 0.01  # mi 0: group 2 carries no bit, not read: silenced
    sd[0, 2:] = 0.4  # ... though its rate still varies at the noise floor
    sd[1, 2:] = 0.1  # mi 1: group 2 quiet but carrying both bits and read out: not silenced
    corr[5, :2] = 0.02  # no_mi 1: group 1 uncorrelated but still read out: not silenced
    d_cor = np.array([0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.1, 0.1])
    q_str = np.array([0.5, 0.3, 0.05, 0.3, 0.1, 0.2, 0.0, 0.0])
    final = {"group_rate_sd": sd, "unit_target_corr": corr, "D_cor": d_cor, "Q_str": q_str,
             "Q_cor": d_cor / 2, "accuracy": np.ones(8)}
    weights = {"W_out": w_out[None], "W_in": np.ones((1, 8, 4, 4))}
    res = {"final": final, "weights": weights, "conditions": ["mi", "no_mi"],
           "trials": {"mi": {"Q_str": [0] * 4}, "no_mi": {"Q_str": [0] * 4}}}
    cls = wm_paper.classify(_rr(res, n=4, seed=100))
    assert list(cls["class"]) == ["silenced group", "differentiated", "functional only",
                                  "undifferentiated", "functional only", "differentiated",
                                  "undifferentiated", "undifferentiated"]
    assert cls.loc[0, "|corr| ratio"] == pytest.approx(0.04) and cls.loc[0, "rate sd ratio"] == 0.4
    assert cls.loc[1, "rate sd ratio"] == pytest.approx(0.1)  # below the former 0.25 rule
    assert list(cls["condition"]) == ["mi"] * 4 + ["no_mi"] * 4
    assert list(cls["seed"]) == [100, 101, 102, 103] * 2
    # Q_str exactly at the threshold is not structural
    assert cls.loc[4, "Q_str"] == wm_paper.STRUCTURAL_Q and cls.loc[4, "class"] == "functional only"


def test_silencing_rule_separates_hand_built_cut_off_from_noisy_networks():
    from mifd.paper import silencing
    h = silencing.hand_built(per_kind=8, seed=3)
    c = silencing.confusion(h)
    assert c.loc["one group cut off", "silenced"] == 8
    assert c.loc["noisy, undifferentiated", "not silenced"] == 8
    assert c.loc["functional split", "not silenced"] == 8
    cut = h[h["kind"] == "one group cut off"]
    # a cut-off group keeps varying (noise), far above the former rate s.d. rule's 0.25
    assert cut["rate sd ratio"].min() > 0.25
    assert cut["|corr| ratio"].max() < silencing.SILENCED_CORR
    noisy = h[h["kind"] == "noisy, undifferentiated"]
    assert noisy["|corr| ratio"].min() > silencing.SILENCED_CORR
    assert noisy["|W_out| ratio"].min() > silencing.SILENCED_WOUT
    # the calibration table reads the noise floor from the no-MI trials
    run = pd.DataFrame({"condition": ["no_mi", "no_mi"], "rate sd ratio": [0.9, 0.6],
                        "|corr| ratio": [0.5, 0.8], "|W_out| ratio": [0.3, 0.9],
                        "|W_in| ratio": [0.4, 0.9]})
    cal = silencing.calibration(run, h)
    assert cal.loc["|corr| ratio", "noise floor (lowest no_mi)"] == 0.5
    assert cal.loc["|W_out| ratio", "threshold"] == silencing.SILENCED_WOUT


def test_onset_is_the_first_snapshot_past_the_fraction_of_the_rise():
    s = np.array([[0.0, 1.0, 0.5], [0.2, 0.8, 0.5], [0.6, 0.4, 0.5], [1.0, 0.0, 0.5]])
    on = timing.onset(s, np.array([0, 10, 20, 30]))
    assert on[0] == 20 and np.isnan(on[1]) and np.isnan(on[2])  # falling, flat: no onset


def test_onset_of_a_rise_and_fall_curve_is_read_against_its_peak():
    # the rise and fall reaches half its net rise at epoch 100 (the old rule), half the rise to
    # its peak at epoch 200
    on = timing.onset(curves(), EPOCHS)
    np.testing.assert_array_equal(on, [c.onset for c in CURVES.values()])
    assert list(timing.rises(curves())) == [c.rises for c in CURVES.values()]
    nan_start = np.r_[np.nan, np.linspace(0, 1, 9)]
    assert np.isnan(timing.onset(nan_start[:, None], EPOCHS)[0])
    # a fall after the peak no longer moves the onset: the same rise with a deep fall
    deeper = CURVES["rise and fall"].values.copy()
    deeper[4:] = -0.5
    assert timing.onset(deeper[:, None], EPOCHS)[0] == CURVES["rise and fall"].onset


def test_onset_test_counts_curves_that_never_rise():
    ep = np.arange(0, 100, 10)
    up = lambda at: (ep >= at).astype(float)  # noqa: E731 - a step at epoch ``at``
    down = np.linspace(1, 0, 10)
    f = np.stack([up(10), up(20), down, up(10)], 1)   # functional: trial 2 never rises
    s = np.stack([up(50), down, up(60), up(60)], 1)   # structural: trial 1 never rises
    res = {"snaps": {"F": f, "S": s}, "snap_epochs": ep, "conditions": ["mi"],
           "trials": {"mi": {"x": [0] * 4}}}
    t = timing.onset_test(res, "mi", [("F", "S")]).iloc[0]
    assert t["trials with both onsets"] == 2 and t["functional first"] == 2
    assert t["functional never rises"] == 1 and t["structural never rises"] == 1
    assert t["median lag"] == 45


def test_onset_test_on_planted_lags():
    ep = np.arange(0, 110, 10)
    rise = lambda at: (ep >= at).astype(float)  # noqa: E731 - a step at epoch ``at``
    f = np.stack([rise(a) for a in (10, 20, 30, 40, 50, 10)], 1)
    s = np.stack([rise(a) for a in (50, 60, 70, 80, 90, 10)], 1)
    res = {"snaps": {"F": f, "S": s}, "snap_epochs": ep, "conditions": ["mi", "no_mi"],
           "trials": {"mi": {"x": [0] * 3}, "no_mi": {"x": [0] * 3}}}
    t = timing.onset_test(res, "mi", [("F", "S")]).iloc[0]
    assert t["trials with both onsets"] == 3 and t["functional first"] == 3
    assert t["median lag"] == 40 and t["Wilcoxon p (functional first)"] == pytest.approx(0.125)
    t = timing.onset_test(res, "no_mi", [("F", "S")]).iloc[0]
    assert t["functional first"] == 2 and t["same snapshot"] == 1


def test_layout_splits_indexes_and_refuses_a_wrong_size():
    lay = Layout(("a", "b", "c"), 2, seed=10)
    assert lay.seeds() == [10, 11, 10, 11, 10, 11]
    assert list(lay.index("b")) == [2, 3] and lay.label(5) == "5 (c trial 1)"
    parts = lay.split(np.arange(12).reshape(2, 6))
    assert parts["c"].tolist() == [[4, 5], [10, 11]]
    assert lay.split(np.arange(6), axis=0)["a"].tolist() == [0, 1]
    with pytest.raises(ConfigError, match="parameter 'values': got 5 trials"):
        lay.split(np.arange(5))
    with pytest.raises(ConfigError, match="parameter 'condition': got 'd'"):
        lay.index("d")


def test_l2_sweep_orders_the_mi_conditions_by_l2():
    conds = [("mi_l2", 0.005, 1e-5), ("no_mi", 0.0, 1e-5), ("mi_l2=0.001", 0.005, 1e-3),
             ("mi_l2=0", 0.005, 0.0)]
    metrics = ("R2", "Q_cor", "D_cor", "Q_str", "D_out")
    trials = {c: {m: [0.1 * i, 0.1 * i + 0.02] for m in metrics}
              for i, (c, _, _) in enumerate(conds)}
    cfg = SimpleNamespace(all_conditions=lambda: conds)
    t = sep_paper.l2_sweep(RunResult("separation", "smoke", cfg, "k", {"trials": trials}, {}, {},
                                     True))
    assert list(t.index) == ["mi_l2=0", "mi_l2", "mi_l2=0.001"]  # no_mi left out
    assert t.loc["mi_l2=0.001", "R2"].startswith("0.210 ± 0.014")


def test_variants_table_is_paired_by_trial():
    base = {"mi": {m: [0.1, 0.2, 0.3, 0.4] for m in variants.METRICS}}
    shifted = {"mi": {m: [0.2, 0.3, 0.4, 0.6] for m in variants.METRICS}}
    runs = {"default": _rr({"trials": base}), "v": _rr({"trials": shifted})}
    t = variants.table(runs)
    assert t.loc[("v", "Q_cor"), "paired Δ (mean)"] == "+0.125"
    assert t.loc[("default", "Q_cor"), "paired Δ (mean)"] == "—"
    assert isinstance(t, pd.DataFrame) and len(t) == 2 * len(variants.METRICS)


def test_dependence_verdict():
    with_mi, without = [1.2, 1.5, 1.4, 1.6], [5.0, 5.1, 4.9, 5.2]
    assert rules.dependence_verdict(with_mi, without, [-0.5, 0.2, 0.1, -0.3]) == "reduced"
    assert rules.dependence_verdict([0.02, 0.05, 0.04, 0.03], without,
                                    [-0.5, 0.2, 0.1, -0.3]) == "removed"
    # near zero by the Gaussian estimate, but a held-out critic still finds dependence
    assert rules.dependence_verdict([0.02, 0.05, 0.04, 0.03], without,
                                    [0.5, 0.6, 0.55, 0.7]) == "reduced"
    assert rules.dependence_verdict(without, with_mi, [0.0, 0.0]) == "not reduced"
    assert rules.dependence_verdict([1.0], without, []) == "not testable (n = 1)"
    # with permutation p-values of the held-out critic: removed only when fewer than half of
    # the MI trials show significant dependence
    low = [0.02, 0.05, 0.04, 0.03]
    assert rules.dependence_verdict(low, without, [0.5] * 4, [0.2, 0.01, 0.5, 0.3]) == "removed"
    assert rules.dependence_verdict(low, without, [-0.5] * 4, [0.01, 0.01, 0.5, 0.3]) == "reduced"
    assert rules.dependence_verdict(with_mi, without, [0.0] * 4, [0.5] * 4) == "reduced"


def test_the_mine_page_names_its_reductions_of_the_paper_setting():
    import mifd
    from mifd.paper.mine_benchmark import setting_words
    exp = mifd.get_experiment("mine-gaussian")
    assert setting_words(exp.config("paper")) == "the paper's setting"
    book = setting_words(exp.config("book", {"ps_samples": 4096, "ps_width": 128,
                                             "ps_steps": 300}))
    assert book == ("the paper's dimensions (20 + 20), with 4,096 of its 40,000 samples, a "
                    "critic 128 of 512 units wide and 300 of its 2,000 critic steps")
    assert setting_words(exp.config("paper", {"ps_width": 64})) == \
        "the paper's dimensions (20 + 20), with a critic 64 of 512 units wide"


def test_mine_benchmark_checks_on_hand_built_trials():
    from mifd.paper import mine_benchmark
    cfg = SimpleNamespace(stages=(2.0, 10.0), batch=64)
    ok = {"mean@2": [1.9], "mean@10": [4.0], "mse@10": [40.0]}
    trials = {"staircase/joint/gaussian/infonce": ok,
              "staircase/joint/gaussian/smile": {"mse@10": [3.0]},
              "staircase/joint/gaussian/nwj": {"mse@10": [9.0]}}
    rows = {r["property"].split()[0]: r for r in mine_benchmark.checks(trials, cfg)}
    assert rows["InfoNCE"]["holds"] and rows["SMILE"]["holds"]
    trials["staircase/joint/gaussian/infonce"] = {**ok, "mean@10": [4.5]}  # above log 64 = 4.16
    trials["staircase/joint/gaussian/smile"] = {"mse@10": [10.0]}
    rows = {r["property"].split()[0]: r for r in mine_benchmark.checks(trials, cfg)}
    assert not rows["InfoNCE"]["holds"] and not rows["SMILE"]["holds"]


def _sep_rr():
    """A hand-built separation run: 2 conditions × 3 trials, 11 evaluations over 100 MM steps;
    mi_l2's Q_str rises to 0.09 (by 0.03 in the last tenth: still rising), no_mi's is flat at 0."""
    conds = [("mi_l2", 0.005, 1e-5), ("no_mi", 0.0, 1e-5)]
    steps = np.arange(0, 101, 10)
    rise = np.repeat((steps / 100 * 0.09)[:, None], 3, axis=1)
    rise[-2] = 0.06  # the last tenth still adds 0.03
    q = np.concatenate([rise, np.zeros((11, 3))], axis=1)  # (evals, trials)
    d = np.full((11, 6), 0.02)
    snaps = {"Q_str": q, "D_out": d}
    trials = {"mi_l2": {"Q_str": [0.088, 0.09, 0.092], "D_out": [0.02] * 3},
              "no_mi": {"Q_str": [0.0] * 3, "D_out": [0.02] * 3}}
    cfg = SimpleNamespace(all_conditions=lambda: conds, seed=0)
    result = {"snaps": snaps, "snap_epochs": steps, "trials": trials,
              "conditions": ["mi_l2", "no_mi"]}
    return RunResult("separation", "smoke", cfg, "k", result, {}, {}, True)


def test_emergence_reads_levels_along_the_run_and_the_last_tenth():
    t = sep_paper.emergence(_sep_rr(), ("Q_str", "D_out"))
    assert list(t.columns[:4]) == ["step 10", "step 20", "step 50", "step 100"]
    assert t.loc[("mi_l2", "Q_str"), "step 50"] == pytest.approx(0.045)
    assert t.loc[("mi_l2", "Q_str"), "change, last 10%"] == pytest.approx(0.03)
    assert t.loc[("mi_l2", "Q_str"), "reading"] == "still rising"  # 0.03 > 0.1 × 0.09
    assert t.loc[("mi_l2", "D_out"), "reading"] == "plateau"
    assert t.loc[("no_mi", "Q_str"), "reading"] == "plateau"
    s = sep_paper.emergence_sentence(_sep_rr(), "mi_l2", ("Q_str",))
    assert "0.009 at step 10 → 0.090 at step 100 (still rising)" in s


def test_l2_match_judges_each_mi_condition_against_both_paper_rows():
    rr = _sep_rr()
    rr.result["snaps"]["Q_str"][:, :3] = 0.09  # flat: converged
    t = sep_paper.l2_match(rr)
    assert list(t.index) == ["mi_l2"]  # no_mi is not an MI condition
    assert t.loc["mi_l2", "Q_str vs paper with L2 (0.088)"] == "consistent"
    assert t.loc["mi_l2", "Q_str vs paper without L2 (0.013)"] == "differs"


def test_peaks_find_the_rise_then_fall():
    """The known curves (rise and fall: declined; rise and stay; never rises: its peak is its
    first snapshot, declined; flat), and one flat at 0 (no positive peak: no ratio, not
    declined)."""
    s = np.concatenate([curves(), np.zeros((len(EPOCHS), 1))], 1)
    res = {"snap_epochs": EPOCHS, "snaps": {"Q_cor": s}, "conditions": ["mi"],
           "trials": {"mi": {"Q_cor": list(s[-1])}}}
    t = timing.peaks(res, "mi", ("Q_cor",))
    assert list(t["peak epoch"]) == [c.peak_epoch for c in CURVES.values()] + [0]
    assert list(t["declined"]) == [c.declined for c in CURVES.values()] + [False]
    assert t["final / peak"].iloc[0] == pytest.approx(0.1) and math.isnan(t["final / peak"].iloc[-1])
    s2 = timing.decline_summary(res, "mi", ("Q_cor",))
    assert "Q_cor: 2 of 5 trials fell more than 25% below their peak" in s2
    assert "median peak at epoch 0 of 900" in s2 and "nan" not in s2
    flat = {**res, "snaps": {"Q_cor": np.zeros_like(s)}}  # no positive peak at all
    assert "no trial with a positive peak)" in timing.decline_summary(flat, "mi", ("Q_cor",))


def test_a_paired_effect_is_stated_with_its_test_and_its_limit():
    from types import SimpleNamespace
    from mifd.paper.variants import paired_effect
    run = lambda v: SimpleNamespace(result={"trials": {"mi": {"q": v}}})  # noqa: E731
    base = run([0.1, 0.2, 0.3, 0.4])
    four = paired_effect(base, run([0.2, 0.3, 0.4, 0.5]), "mi", ("q",))
    assert four.startswith("paired over n = 4 trials at the end of training (the final "
                           "evaluation): q +0.1 (p = 0.12)")
    assert four.endswith("not testable at n = 4")
    six = paired_effect(run(list(range(6))), run([x + 1 + x / 10 for x in range(6)]), "mi",
                        ("q",))
    assert "(p = 0.031)" in six and "not testable" not in six


def test_the_separation_scale_note_lists_every_reduction_and_no_equal_setting():
    from types import SimpleNamespace
    import mifd
    from mifd.paper.separation import scale_note
    exp = mifd.get_experiment("separation")
    pub = exp.config("paper")
    assert scale_note(SimpleNamespace(config=pub, profile="paper")) == \
        "paper profile: the published settings"
    cfg = exp.config("paper", {"length": 400, "sm_per_mm": 4})
    note = scale_note(SimpleNamespace(config=cfg, profile="x"))
    assert note.startswith(f"x profile: sequences of 400 steps (published {pub.length}), 4 SM "
                           f"steps per MM step (published {pub.sm_per_mm}), the critic on")
    assert "MM steps (published" not in note.replace("per MM step (published", "")
    assert note.endswith("a level verdict is not a test of the published run")
    # a subset larger than the SM step's data leaves it whole and cuts only the RNN's MI term
    cfg = exp.config("book", {"batch": 16, "sm_batch": 8, "sm_samples": 2048})
    note = scale_note(SimpleNamespace(config=cfg, profile="x"))
    assert "the critic on 8 sequences and 1,600 samples per SM step" in note
    assert "the RNN's MI term on 2,048 of its batch's 3,200 samples (published all)" in note
    assert "MI term" not in scale_note(SimpleNamespace(
        config=exp.config("book", {"sm_samples": 20000}), profile="x"))


def test_the_failure_summary_names_seeds_and_the_share_s_interval():
    import pandas as pd
    rows = ([{"condition": "mi", "seed": 1001 + i, "Q_str": 0.05,
              "class": "silenced group" if i < 4 else "undifferentiated"} for i in range(10)]
            + [{"condition": "mi", "seed": 1011 + i, "Q_str": 0.2, "class": "differentiated"}
               for i in range(5)]
            + [{"condition": "no_mi", "seed": 1001 + i, "Q_str": 0.01,
                "class": "undifferentiated"} for i in range(3)])
    text = wm_paper.failure_summary(pd.DataFrame(rows))
    assert text.startswith("10 of 15 mi trials failed structurally (Q_str ≤ 0.1); 4 of them have "
                           "a silenced group (seeds 1001, 1002, 1003, 1004, 95% interval of the "
                           "share 0.17–0.69), against 0 of the 5 with Q_str > 0.1")
    assert text.endswith("(most of them: the interval above one half): not testable (n = 10).")


def test_a_bounded_metric_s_interval_stays_in_its_range_and_says_so():
    from mifd.paper import rows
    from mifd.paper.intervals import clipped
    assert clipped(0.9, 1.1, "NMI") == (0.9, 1.0, True)
    assert clipped(-2.0, 1.2, "R2") == (-2.0, 1.0, True)
    assert clipped(-0.4, 0.3, "D_cor") == (-0.4, 0.3, False)  # no bound known: unchanged
    out = rows.level_rows({"mi": {"NMI": [1.0, 1.0, 0.9, 1.0, 0.95]}}, {}, ("NMI",))
    assert out[0]["ours 95% CI"].endswith(", 1.000] (clipped to the metric's range)")
    out = rows.level_rows({"mi": {"NMI": [0.5, 0.6, 0.55]}}, {}, ("NMI",))
    assert "clipped" not in out[0]["ours 95% CI"]
