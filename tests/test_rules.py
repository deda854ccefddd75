"""The verdict rules (mifd.paper.rules), the claims table built on them, and the paper's numbers."""

import math
import re

import numpy as np
import pytest

import mifd
from conftest import ROOT
from mifd.paper import claims as paper_claims
from mifd.paper import reported
from mifd.paper import intervals, rules
from mifd.paper.rows import level_rows


def test_level_verdict_is_welchs_test_then_an_equivalence_test():
    # close to the paper's mean and precise enough: the 90% interval of the difference lies
    # inside ± 0.5 paper sds
    assert rules.level_verdict([0.60, 0.65, 0.70, 0.62], 0.623, 0.316, 20) == "consistent"
    assert rules.level_verdict([0.02, 0.03, 0.04, 0.03], 0.299, 0.153, 20) == "differs"
    assert rules.level_verdict([0.3], 0.299, 0.153, 20) == "not testable (n = 1)"
    # the right mean, but four spread-out trials cannot rule out a difference of 0.5 sd
    wide = [0.1, 0.5, 0.1, 0.5]
    assert rules.level_verdict(wide, 0.3, 0.2, 20) == "not testable (n = 4)"
    # the same spread over 40 trials can
    assert rules.level_verdict(wide * 10, 0.3, 0.2, 20) == "consistent"
    # far from the paper (0.29 below, about one paper sd) and not significant at n = 4: the old
    # overlap rule called this consistent; it is not testable
    d_in = [0.05, 0.60, 0.20, 0.50]
    assert rules.level_verdict(d_in, 0.623, 0.31, 20) == "not testable (n = 4)"


def test_not_converged_when_still_moving_towards_an_interval_it_overlaps():
    # Welch's test separates 0.45 ± 0.1 (n = 40) from 0.623 ± 0.316 (N = 20) although the two
    # 95% intervals overlap; a run still rising towards the paper is not converged
    ours = list(np.random.default_rng(0).normal(0.45, 0.1, 40))
    assert rules.level_verdict(ours, 0.623, 0.316, 20) == "differs"
    assert rules.level_verdict(ours, 0.623, 0.316, 20, 0.01, more_tails=100) == "not converged"
    assert rules.level_verdict(ours, 0.623, 0.316, 20, -0.01, more_tails=100) == "differs"
    # no sd: agreement cannot be shown; no paper value: nothing to test
    assert rules.level_verdict([0.3, 0.31, 0.29], 0.3, None, 20) == "not testable (n = 3)"
    assert rules.level_verdict([0.3, 0.31], float("nan"), 0.1, 20) == "not testable (n = 2)"


def test_a_level_row_says_how_many_trials_were_not_finite():
    rep = {"mi": {"Q_cor": reported.Reported(0.3, 0.1)}}
    rows = level_rows({"mi": {"Q_cor": [0.2, np.nan, 0.3, np.inf]}}, rep, ("Q_cor",))
    assert rows[0]["ours"].endswith("(n=2); 2 non-finite left out")
    rows = level_rows({"mi": {"Q_cor": [0.2, 0.3]}}, rep, ("Q_cor",))
    assert "non-finite" not in rows[0]["ours"]


def test_detectable_difference_has_the_stated_power():
    from scipy import stats
    ours, sd, n = [0.1, 0.3, 0.25, 0.4, 0.2, 0.35], 0.15, 20
    d = rules.detectable(ours, sd, n)
    x = np.asarray(ours)
    se = np.sqrt(x.var(ddof=1) / x.size + sd ** 2 / n)
    va, vb = x.var(ddof=1) / x.size, sd ** 2 / n
    dof = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (n - 1))
    crit = stats.t.ppf(1 - rules.ALPHA / 2, dof)
    power = stats.nct.sf(crit, dof, d / se) + stats.nct.cdf(-crit, dof, d / se)
    assert abs(power - rules.POWER) < 0.02
    # more trials detect smaller differences; one trial detects nothing
    assert rules.detectable(ours * 4, sd, n) < d
    assert np.isnan(rules.detectable([0.1], sd, n))


def test_not_converged_replaces_differs_only_while_the_run_moves():
    ours, paper = [0.02, 0.03, 0.04, 0.03], (0.299, 0.153)
    # moved by 0.05 > 0.1 × 0.299 over the last 10%
    assert rules.level_verdict(ours, *paper, 20, tail_change=0.05) == "not converged"
    # hardly moving, at full length: differs
    assert rules.level_verdict(ours, *paper, 20, tail_change=0.001) == "differs"
    # hardly moving, but continued over more stretches of the same length it would reach the
    # paper's interval (its mean − the 95% half-width)
    m, s, lo, hi, n = rules.mean_ci(ours)
    plo, phi = rules.ci_from_stats(*paper, 20)
    need = plo - m
    assert rules.level_verdict(ours, *paper, 20, 0.001, more_tails=need / 0.001 + 1) == \
        "not converged"
    assert rules.level_verdict(ours, *paper, 20, 0.001, more_tails=need / 0.001 - 1) == \
        "differs"
    # moving away from the paper does not count
    assert rules.level_verdict(ours, *paper, 20, -0.001, more_tails=1e6) == "differs"


def test_more_tails_counts_the_stretches_the_paper_trained_beyond_us():
    res = {"snap_epochs": np.arange(0, 301, 20)}
    assert rules.more_tails(res, 1000) == pytest.approx(700 / 30)
    assert rules.more_tails(res, 300) == 0 and rules.more_tails(res, 100) == 0
    assert rules.more_tails({}, 1000) == 0


def test_tail_changes_by_condition():
    snaps = {"Q": np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.5, 0.3, 1.0, 1.0]])}
    res = {"snaps": snaps, "snap_epochs": np.array([0, 90, 100]), "conditions": ["a", "b"],
           "trials": {"a": {"Q": [0, 0]}, "b": {"Q": [0, 0]}}}
    t = rules.tail_changes(res)
    assert t["a"]["Q"] == pytest.approx(0.4) and t["b"]["Q"] == pytest.approx(0.0)


def test_count_verdict_is_fishers_exact_test_with_a_direction():
    assert rules.count_verdict(0, 10, 10, 20) == "differs (fewer)"
    assert rules.count_verdict(10, 10, 5, 20) == "differs (more)"
    assert rules.count_verdict(0, 4, 10, 20) == "not testable (n = 4)"  # p = 0.26, CI 0.6 wide
    assert rules.count_verdict(20, 20, 20, 20) == "consistent"
    assert rules.count_verdict(0, 0, 10, 20) == "not testable (n = 0)"
    # Fisher n.s. (p = 0.26) and the Wilson interval [0, 0.49] only 0.49 wide, but without the
    # paper's 0.5 in it: not shown to agree
    assert rules.count_verdict(0, 4, 10, 20) == "not testable (n = 4)"
    assert rules.count_verdict(0, 20, 0, 20) == "consistent"  # a proportion of 0.0: [0, 0.16]
    assert rules.count_verdict(2, 4, 10, 20) == "not testable (n = 4)"  # [0.15, 0.85]: wide


def test_wilson_interval_stays_inside_zero_one():
    from mifd.paper.intervals import proportion, wilson_ci
    lo, hi = wilson_ci(20, 20)  # a proportion of 1.0: [0.839, 1]
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)
    lo, hi = wilson_ci(0, 20)  # a proportion of 0.0: [0, 0.161]
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_ci(18, 20)  # where the t-interval of 0/1 outcomes is 0.9 ± 0.14
    assert (lo, hi) == pytest.approx((0.6990, 0.9721), abs=1e-4)
    assert wilson_ci(1, 1) == (pytest.approx(0.2065, abs=1e-4), 1.0)
    assert all(math.isnan(v) for v in wilson_ci(0, 0))
    for k in range(11):
        lo, hi = wilson_ci(k, 10)
        assert 0 <= lo <= k / 10 <= hi <= 1
    assert proportion([1.0, 0.0, 1.0, math.nan]) == (2, 3)


def test_success_rate_rows_show_the_wilson_interval_not_a_t_interval():
    from mifd.paper.reported import Reported
    ours = [1.0] * 17 + [0.0] * 3  # 17/20: the t-interval [0.68, 1.02] leaves [0, 1]
    rows = level_rows({"mi": {"success_rate": ours}},
                            {"mi": {"success_rate": Reported(1.0, None, 20, "")}},
                            ["success_rate"])
    assert rows[0]["ours"] == "17/20 = 0.850" and rows[0]["ours 95% CI"] == "[0.640, 0.948]"
    assert rows[0]["verdict"] == "not testable (n = 20)"  # p = 0.23; 1.0 outside [0.64, 0.95]
    rows = level_rows({"mi": {"success_rate": [1.0] * 20}},
                            {"mi": {"success_rate": Reported(1.0, None, 20, "")}},
                            ["success_rate"])
    assert rows[0]["ours 95% CI"] == "[0.839, 1.000]" and rows[0]["verdict"] == "consistent"


def test_correlation_verdict_is_fishers_z_with_a_resolution():
    assert rules.correlation_verdict(-0.58, 4, 0.0046, 20) == "not testable (n = 4)"
    # the paper's r = 0.005 against ours of −0.58: not agreement at n = 10; at n = 30 a difference
    assert rules.correlation_verdict(-0.58, 10, 0.0046, 20) == "not testable (n = 10)"
    assert rules.correlation_verdict(-0.58, 30, 0.0046, 20) == "differs"
    assert rules.correlation_verdict(0.9, 20, 0.0, 20) == "differs"
    assert rules.correlation_verdict(0.05, 80, 0.0046, 20) == "consistent"
    assert rules.correlation_verdict(0.05, 40, 0.0046, 20) == "not testable (n = 40)"
    lo, hi = rules.correlation_ci(0.05, 80)
    assert lo < 0.05 < hi and hi - lo <= rules.CORR_RESOLUTION
    lo, hi = rules.correlation_ci(0.05, 40)
    assert hi - lo > rules.CORR_RESOLUTION
    assert rules.correlation_verdict(0.1, 3, 0.0, 20) == "not testable (n = 3)"


def test_comparison_verdicts():
    a, b = [0.6, 0.7, 0.8, 0.65], [0.05, 0.1, 0.02, 0.07]
    assert rules.comparison_verdict(a, b, "greater") == "reproduced"
    assert rules.comparison_verdict(a, b, "greater", paper_diff=0.55) == "reproduced"
    # significant, but less than a quarter of the paper's difference
    assert rules.comparison_verdict(a, b, "greater", paper_diff=3.0) == "same direction, small"
    assert rules.comparison_verdict(b, a, "greater") == "not reproduced"
    assert rules.comparison_verdict([0.5, 0.1, 0.9], [0.45, 0.2, 0.6], "greater") == \
        "same direction, n.s."
    assert rules.comparison_verdict([0.5], [0.4], "greater") == "not testable (n = 1)"
    c = rules.comparison(a, b)
    assert c["d"] > 2 and 0 < c["welch_p"] < 0.05


def test_every_verdict_has_a_category_in_the_order():
    for v in ("not testable (n = 4)", "differs (fewer)", "same direction, small", "reproduced"):
        assert rules.category(v) in rules.VERDICTS
    assert rules.category("not testable (n = 4)") == "not testable"


def test_timing_silenced_and_summary_rules_on_hand_built_tables():
    import pandas as pd
    t = pd.DataFrame([{"functional": "Q_cor", "structural": "Q_str",
                       "trials with both onsets": 10, "functional first": 9,
                       "Wilcoxon p (functional first)": 0.01},
                      {"functional": "D_cor", "structural": "D_in",
                       "trials with both onsets": 10, "functional first": 6,
                       "Wilcoxon p (functional first)": 0.2},
                      {"functional": "D_cor", "structural": "D_out",
                       "trials with both onsets": 1, "functional first": 1,
                       "Wilcoxon p (functional first)": float("nan")}])
    assert paper_claims._timing_verdict(t, "Q_cor", "Q_str")[1] == "reproduced"
    assert paper_claims._timing_verdict(t, "D_cor", "D_in")[1] == "same direction, n.s."
    assert paper_claims._timing_verdict(t, "D_cor", "D_out")[1] == "not testable (n = 1)"
    assert paper_claims._timing_verdict(t, "X", "Y")[1] == "not testable (n = 0)"
    never = t.assign(**{"functional never rises": [0, 0, 0], "structural never rises": [0, 2, 0]})
    assert paper_claims._timing_verdict(never, "D_cor", "D_in")[0].endswith(
        "; 2 structural curves never rise")
    assert "never" not in paper_claims._timing_verdict(never, "Q_cor", "Q_str")[0]
    table = pd.DataFrame([
        {"section": "s", "claim": "a", "where": "book, cpu, n = 4", "verdict": "reproduced"},
        {"section": "s", "claim": "b", "where": "book, cpu, n = 4", "verdict": "not testable (n = 4)"},
        {"section": "s", "claim": "c", "where": "book, cpu, n = 4", "verdict": "differs (fewer)"}])
    text = paper_claims.summary(table)
    assert "3 claims" in text and "Reproduced: a." in text and "Too few trials to tell: b." in text
    assert "not reproduced: c." in text
    assert paper_claims.verdict_counts(table).to_dict() == {"reproduced": 1, "differs": 1,
                                                       "not testable": 1}


def test_bootstrap_interval_covers_the_mean():
    x = np.random.default_rng(0).normal(1.0, 0.5, 40)
    lo, hi = intervals.bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 0.5
    assert np.isnan(intervals.bootstrap_ci([1.0])[0])


FACTS = ROOT / "tests" / "data" / "reference-facts-s5.md"  # §5 of the team's reference facts


def _paper_numbers() -> list[str]:
    """Every number of §5's tables that is a reported value (means, sds, p, r, counts)."""
    nums = []
    for line in FACTS.read_text().splitlines():
        if not line.startswith("|") or line.startswith("|---") or "quantity" in line:
            continue
        for cell in line.strip("|").split("|")[1:]:
            cell = cell.replace("−", "-")
            nums += re.findall(r"-?\d+\.\d+(?:e-?\d+)?|\d+/\d+", cell)
    return nums


def _reported_numbers() -> set[str]:
    """Every number held by mifd.paper.reported, formatted as the facts write them."""
    out: set[str] = set()
    def add(x):
        if isinstance(x, reported.Reported):
            add(x.mean), add(x.sd)
        elif isinstance(x, dict):
            [add(v) for v in x.values()]
        elif isinstance(x, (tuple, list)):
            [add(v) for v in x]
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out.add(f"{float(x):g}")
    for name in dir(reported):
        if name.isupper():
            add(getattr(reported, name))
    k, n = reported.WM_QSTR_BELOW_0_1
    out.add(f"{k}/{n}")
    return out


def test_every_number_of_the_reference_facts_is_in_the_one_source():
    """tests/data/reference-facts-s5.md is §5 of the team's reference facts (read from the paper);
    mifd.paper.reported must hold every number of it (the claims table and the chapters read
    nothing else)."""
    have = _reported_numbers()
    missing = [n for n in _paper_numbers() if n not in ("20/20",)
               and (n if "/" in n else f"{float(n):g}") not in have and n not in ("1e-4",)]
    assert not missing, missing
    assert "0.973" in have and "-0.0162" in have and "10/20" in have


def test_every_number_of_the_paper_has_a_row_in_the_claims_table(store_env):
    wm = mifd.run("wm", "smoke", "cpu", verbose=False)
    sep = mifd.run("separation", "smoke", "cpu", verbose=False)
    table = paper_claims.claims_table(wm, sep)
    paper_col = " ".join(table["paper"].astype(str)).replace("−", "-")
    missing = []
    for n in _paper_numbers():
        if n == "20/20":  # success of every trial: the success_rate rows
            ok = any("success_rate" in c for c in table["claim"])
        else:
            ok = n in paper_col or ("/" not in n and f"{float(n):g}" in paper_col)
        if not ok:
            missing.append(n)
    assert not missing, missing
    assert (table["verdict"] != "").all()
    assert set(table["verdict"].map(rules.category)) <= set(paper_claims.VERDICT_ORDER)
    assert {"functional first (Fig. 9)", "functional first (Fig. 16)"} <= set(table["paper"])
    assert any("silence" in c for c in table["claim"]) and any("L2" in c for c in table["claim"])
    assert any("mse" in c for c in table["claim"])  # MI does not hurt performance
    # a second separation run (the gpu profile's place) gets its own, labelled section
    both = paper_claims.claims_table(wm, sep, sep_gpu=sep)
    second = both[both["section"] == "chaotic separation, gpu profile"]
    first = table[table["section"] == "chaotic separation"]
    assert list(second["claim"]) == list(first["claim"])
    assert all("MM steps of 60-step sequences" in w for w in second["where"])


def test_trend_verdict_on_hand_built_doses():
    lam = [0, 0, 0, 0.1, 0.1, 0.1, 1, 1, 1]
    assert rules.trend_verdict(lam, [1, 2, 3, 4, 5, 6, 7, 8, 9])[0] == "increases"
    v, rho, p = rules.trend_verdict(lam, [9, 8, 7, 6, 5, 4, 3, 2, 1])
    assert v == "decreases" and rho < -0.9 and p < 0.05
    assert rules.trend_verdict(lam, [1, 3, 2, 3, 1, 2, 2, 1, 3])[0] == "no trend detected"
    assert rules.trend_verdict([0, 1, 1], [1, 2, 3])[0] == "not testable (n = 3)"
    assert rules.trend_verdict([1, 1, 1, 1], [1, 2, 3, 4])[0] == "not testable (n = 4)"
    assert rules.trend_verdict([0, 1, 2, 3, np.nan], [1, 2, 3, 4, 5])[0] == "increases"


def test_rival_verdict_on_hand_built_trials():
    base = [0.0, 0.1, -0.1, 0.05, -0.05, 0.0]          # no penalty
    ref = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]             # MINE: effect 1
    assert rules.rival_verdict([2.0, 2.1, 1.9, 2.0, 2.05, 1.95], ref, base) == "higher"
    assert rules.rival_verdict([0.1, 0.0, 0.05, -0.05, 0.1, 0.0], ref, base) == "lower"
    # equal to MINE within a tight interval: as large
    assert rules.rival_verdict([1.0, 1.05, 0.95, 1.0, 1.02, 0.98], ref, base) == "as large"
    # same means, too noisy to bound the difference within 25% of MINE's effect
    noisy = [0.0, 2.0, 0.2, 1.8, 1.0, 1.0]
    assert rules.rival_verdict(noisy, ref, base) == "not testable (n = 6)"
    assert rules.rival_verdict([1.0], ref, base) == "not testable (n = 1)"


def test_a_rank_test_too_small_to_reject_is_not_testable():
    """The floor is the exact Mann–Whitney p of two fully separated samples (scipy's exact
    method); at n = 3 and 4 it is 2/35 > 0.05, so no result there can read 'no change'."""
    from scipy import stats
    from mifd.paper import rules
    for n1, n2 in ((3, 4), (4, 4), (2, 6), (5, 5)):
        a, b = np.arange(n1), np.arange(n1, n1 + n2)
        exact = stats.mannwhitneyu(a, b, method="exact").pvalue
        assert rules.rank_test_floor(n1, n2) == pytest.approx(exact)
        one = stats.mannwhitneyu(a, b, method="exact", alternative="less").pvalue
        assert rules.rank_test_floor(n1, n2, two_sided=False) == pytest.approx(one)
    assert rules.rank_test_floor(3, 4) > rules.ALPHA > rules.rank_test_floor(4, 4)
    assert rules.rank_test_floor(0, 5) == 1.0
