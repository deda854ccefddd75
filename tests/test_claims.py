"""Verdict rules of the claims tables."""

import numpy as np
import pytest

import re

import mifd
from conftest import ROOT
from mifd import claims, report


def test_level_verdict_uses_interval_overlap():
    assert claims.level_verdict([0.60, 0.65, 0.70, 0.62], 0.623, 0.316, 20) == "consistent"
    assert claims.level_verdict([0.02, 0.03, 0.04, 0.03], 0.299, 0.153, 20) == "differs"
    assert claims.level_verdict([0.3], 0.299, 0.153, 20) == "not testable"


def test_comparison_verdicts():
    a, b = [0.6, 0.7, 0.8, 0.65], [0.05, 0.1, 0.02, 0.07]
    assert claims.comparison_verdict(a, b, "greater") == "reproduced"
    assert claims.comparison_verdict(b, a, "greater") == "not reproduced"
    assert claims.comparison_verdict([0.5, 0.1, 0.9], [0.45, 0.2, 0.6], "greater") == \
        "same direction, n.s."
    c = claims.comparison(a, b)
    assert c["d"] > 2 and 0 < c["welch_p"] < 0.05


def test_bootstrap_interval_covers_the_mean():
    x = np.random.default_rng(0).normal(1.0, 0.5, 40)
    lo, hi = claims.bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 0.5
    assert np.isnan(claims.bootstrap_ci([1.0])[0])


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


def test_reference_copy_matches_the_shared_facts():
    shared = ROOT.parent / "shared" / "reference" / "reference-facts.md"
    if not shared.exists():
        pytest.skip("the shared reference folder is not beside this checkout")
    text = shared.read_text()
    assert FACTS.read_text().strip() in text


def test_every_number_of_the_paper_has_a_row_in_the_claims_table(store_env):
    wm = mifd.run("wm", "smoke", "cpu", verbose=False)
    sep = mifd.run("separation", "smoke", "cpu", verbose=False)
    table = report.claims_table(wm, sep)
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
    assert (table["verdict"] != "").all() and set(table["verdict"]) <= set(report.VERDICT_ORDER)
    assert {"functional first (Fig. 9)", "functional first (Fig. 16)"} <= set(table["paper"])
    assert any("silence" in c for c in table["claim"]) and any("L2" in c for c in table["claim"])
    assert any("mse" in c for c in table["claim"])  # MI does not hurt performance
