"""Verdict rules of the claims tables."""

import numpy as np
import pytest

from mifd import claims


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
