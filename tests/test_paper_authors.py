"""The authors' code beside ours, trial by trial, on hand-built courses."""

from types import SimpleNamespace

import numpy as np

from mifd.experiments.base import Layout
from mifd.paper import authors as A

EPOCHS = np.arange(0, 1001, 25)
FADE = np.where(EPOCHS <= 300, EPOCHS / 300 * 0.4, 0.4 * (1 - (EPOCHS - 300) / 800))
STAY = np.minimum(EPOCHS / 300, 1) * 0.4


def _record(seed, curve):
    return {"seed": seed, "snap_epochs": EPOCHS, "snaps": {m: curve for m in A.METRICS}}


def _ours(curves, seed=1001):
    v = np.stack(curves, axis=1)
    return SimpleNamespace(result={"snap_epochs": EPOCHS, "snaps": {m: v for m in A.METRICS}},
                           layout=Layout(("mi",), v.shape[1], seed))


def test_the_table_sets_the_two_codes_side_by_side_by_seed():
    theirs = [_record(1001 + i, STAY if i < 2 else FADE) for i in range(8)]
    ours = _ours([FADE] * 8, seed=1003)  # seeds 1003..1010: six in common
    t = A.table(theirs, ours)
    assert list(t.index) == list(range(1001, 1011))
    assert np.isnan(t.loc[1001, ("ours", "1000")]) and np.isnan(t.loc[1010, ("theirs", "1000")])
    assert t.loc[1001, ("theirs", "peak epoch")] == 300
    assert t.loc[1001, ("theirs", "1000")] == STAY[-1] and t.loc[1004, ("ours", "300")] == 0.4
    text = A.sentence(theirs, ours)
    assert "2 of 8 trials keep" in text and "0 of 8 trials keep" in text
    # STAY ends at 0.4, FADE at 0.4 × 0.125 = 0.05: below the paper's band (0.299 − 0.153)
    assert "2 end at or above the paper's band (≥ 0.146)" in text
    assert "0 end at or above the paper's band" in text
    assert "Mann–Whitney p = " in text and "not pairs" in text
    # the peaks compared too: both sides peak at 0.4 — no difference
    assert "Each trial's peak, ours against theirs: 0.400–0.400 against 0.400–0.400" in text
    assert text.count("Mann–Whitney p = ") == 2


def test_few_common_seeds_or_no_data_say_so():
    assert "No record" in A.sentence([], None)
    t = A.sentence([_record(1001, FADE)], _ours([FADE], seed=1001))
    assert "(not testable at n = 1 and 1)" in t
    assert "ours: not committed yet" in A.sentence([_record(1001, FADE)], None)


def test_a_silenced_group_is_counted_on_both_sides_by_the_failure_modes_rule(monkeypatch):
    import pandas as pd
    from mifd.paper import silencing
    w = np.ones((40, 2))
    cut = w.copy()
    cut[20:] = 0.01  # the second group's readout ~ nothing: ratio 0.01
    recs = [{"seed": 1001, "weights": {"W_out": np.stack([w, w])}},
            {"seed": 1002, "weights": {"W_out": np.stack([w, cut])}}]
    assert silencing.readout_ratio(np.stack([w, cut])).round(3).tolist() == [1.0, 0.01]
    text = A.silenced_sentence(recs)
    assert "the authors' code in at most 1 of 2: 1 (seed 1002) meets the rule's readout half" \
        in text and "(their lowest 0.01); their records keep no rates" in text
    assert "the authors' code in none of 1: none meets even the rule's readout half" in \
        A.silenced_sentence(recs[:1])
    monkeypatch.setattr(silencing, "of_run", lambda rr: pd.DataFrame(
        {"condition": ["mi", "mi", "no_mi"], "silenced": [True, False, True]}))
    assert A.silenced_sentence([], object()) == \
        "A group silenced at the end (the failure-modes rule): ours in 1 of 2 trials."
    assert A.silenced_sentence([], None) == ""
    # both sides: a count test at ≥ MIN_SAMPLE trials a side, said untestable below
    assert A.silenced_sentence(recs, object()).endswith("(not testable at n = 2 and 2).")
    monkeypatch.setattr(silencing, "of_run", lambda rr: pd.DataFrame(
        {"condition": ["mi"] * 8, "silenced": [True] * 6 + [False] * 2}))
    many = [{"weights": {"W_out": np.stack([w, w])}}] * 8
    assert "(Fisher's exact p = 0.007: a difference shown)." in A.silenced_sentence(many, object())
