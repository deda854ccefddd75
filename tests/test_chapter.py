"""The frame of a chapter page (mifd.pages.chapter): takeaway, summary, one folded provenance box,
the live-kernel line of a widget."""

from pathlib import Path

import pytest

from mifd.results.result import RunResult
from mifd.pages import chapter


def _run(key="abc123", finished="2026-01-02T03:04:05", reproduced=()):
    meta = {"code": {"mifd": "0.1", "git_commit": "9ef7b2eb0123456789", "hash": "other"},
            "machine": {"device": "cpu"}, "finished": finished, "wall_seconds": 12.0,
            "reproduced": list(reproduced)}
    return RunResult("mine-gaussian", "book", None, key, {}, meta, {}, True,
                     Path("results/committed/mine-gaussian") / key)


def test_takeaway_is_an_admonition_with_markdown_inside():
    h = chapter.takeaway("MINE reaches **0.9** of the true MI.\n\n- one\n- two").data
    assert h.startswith('<div class="admonition tip mifd-takeaway">')
    assert '<p class="admonition-title">What this page finds</p>' in h
    assert "<strong>0.9</strong>" in h and "<li>one</li>" in h
    assert 'class="admonition warning' in chapter.takeaway("x", kind="warning").data
    with pytest.raises(ValueError, match="parameter 'md'"):
        chapter.takeaway("  ")


def test_summary_is_bullets_from_the_points():
    md = chapter.summary(["first finding", "", "second finding"], intro="In short:").data
    assert md == "In short:\n\n- first finding\n- second finding"
    with pytest.raises(ValueError, match="parameter 'points'"):
        chapter.summary([" "])


def test_provenance_box_is_one_folded_block_with_each_result_once():
    a, b = _run("k1"), _run("k2")
    h = chapter.provenance_box(a, ("second run", b), a, None, "a typed line <b>",
                               notes=["Settings: see *How to re-run*."]).data
    assert h.startswith('<details class="mifd-provenance"') and h.endswith("</details>")
    assert h.count("<details") == 1 and "open" not in h.split(">", 1)[0]
    assert "Where these numbers come from" in h and "(3 results; click to unfold)" in h
    assert h.count("key k1") == 1 and h.count("key k2") == 1  # a repeated run appears once
    assert "<b>second run</b>: mine-gaussian [profile book] loaded from the committed" in h
    assert "a typed line &lt;b&gt;" in h  # text is escaped
    assert "<em>How to re-run</em>" in h


def test_provenance_box_names_the_reproducing_replay_once():
    from mifd import get_experiment
    rep = {"code": get_experiment("mine-gaussian").code_hash(), "steps": 25, "of": 1000, "compared": ["a", "b"],
        "date": "2026-02-03T00:00:00"}
    lines = chapter.provenance_lines(_run("k1", reproduced=[rep]), _run("k1", reproduced=[rep]))
    assert len(lines) == 1
    assert "reproduced by this code bit for bit on replay of the first 25 of 1000" in lines[0][1]


def test_provenance_box_folds_the_settings_tables():
    import pandas as pd
    df = pd.DataFrame({"this run": [200], "published": [10000]}, index=["length"])
    h = chapter.provenance_box(_run("k1"), tables={"Settings that differ": df, "none": None}).data
    assert h.count("<table") == 1 and "<b>Settings that differ</b>" in h and "10000" in h
    assert h.index("<table") < h.index("</details>")


def test_provenance_box_without_results_and_wrong_entries():
    assert "No stored result on this page." in chapter.provenance_box(None).data
    assert "(0 results" in chapter.provenance_box().data
    with pytest.raises(TypeError, match="parameter 'runs'"):
        chapter.provenance_box(3.5)


def test_needs_kernel_is_one_line_with_binder():
    h = chapter.needs_kernel("The explorer below").data
    assert h.count("<p") == 1 and "The explorer below needs a live kernel" in h
    assert "mybinder.org" in h
    assert "?labpath=book/mine.ipynb" in chapter.needs_kernel("x", "book/mine.ipynb").data


def test_folded_block_holds_raw_tables():
    import pandas as pd
    h = chapter.folded("Every committed benchmark", "<p>x</p>", notes=["*n*"],
                       tables={"run 1": pd.DataFrame({"s": [1.5]})}).data
    assert h.startswith("<details") and "<b>Every committed benchmark</b> (click to unfold)" in h
    assert "<p>x</p>" in h and "<em>n</em>" in h and h.count("<table") == 1


def test_timing_findings_and_summary_are_written_from_the_onset_tables():
    import pandas as pd
    from mifd.paper import timing
    t = pd.DataFrame([{"functional": "Q_cor", "structural": "Q_str", "trials with both onsets": 5,
                       "functional first": 4, "median lag": 100.0,
                       "Wilcoxon p (functional first)": 0.06}])
    text = timing.findings([("run A", t, "epochs")])
    assert text.startswith("In every run most trials have the functional onset first (onset "
                           "pairs with the functional onset first: run A 4 of 5); the order is "
                           "shown (one-sided p < 0.05) in 0 of 1 pairs of measures in run A.")
    assert "**run A**: Q_cor before Q_str in 4 of 5 trials (median lag 100 epochs, p = 0.06)" in text
    late = t.assign(**{"functional first": 1})
    assert timing.findings([("r", late, "steps")]).startswith(
        "In 0 of 1 runs most trials have the functional onset first")
    both = timing.findings([("run A", t, "epochs"), ("run B", late, "steps")])
    assert both.startswith("In 1 of 2 runs most trials have the functional onset first (")
    shown = t.assign(**{"Wilcoxon p (functional first)": 0.01})
    assert "shown (one-sided p < 0.05) in 1 of 1 pairs of measures in run A; 0 of 1 pairs " \
        "of measures in run B." in timing.findings([("run A", shown, "epochs"),
                                                    ("run B", late, "steps")])
    assert "run A 4 of 5; run B 1 of 5)" in both  # each run's own count, never pooled
    assert timing.summary_points([("run A", t, "epochs")], ["declined."]) == [
        "run A: Q_cor before Q_str in 4 of 5 trials (median lag 100 epochs, p = 0.06).", "declined."]


def test_performance_summary_counts_the_goals():
    import pandas as pd
    from mifd.perf import summary
    v = pd.DataFrame({"goal": ["a ≤ 10 min", "b", "c", "info"],
                      "best measured": ["43 min", "1.2×", "—", "2×"],
                      "verdict": ["not met", "met", "not measured (no such device)", "—"]}
                     ).set_index("goal")
    text = summary.findings(v)
    assert text.startswith("1 of 3 speed goals met")
    assert "- **not met**: a ≤ 10 min — best exact measurement 43 min" in text
    assert "- **not measured**: c" in text and "info" not in text
    req = [{"experiment": "wm", "goal (min)": 10.0, "needed TFLOP/s": 93.4,
            "× H100 fp32 peak": 1.4}]
    pts = summary.summary_points(v, req)
    assert pts[0] == "Goals met: 1; not met: 1 (a ≤ 10 min); not measured: 1."
    assert "only reduced-precision matmuls" in pts[1] and "93 TFLOP/s" in pts[1]


def test_variants_effects_are_paired_and_in_units_of_the_default_spread():
    from types import SimpleNamespace
    from mifd.paper import variants

    def run(q):
        m = {k: list(q) for k in variants.METRICS}
        return SimpleNamespace(result={"trials": {"mi": m}})
    runs = {"default": run([0.1, 0.2, 0.3]), "same": run([0.1, 0.2, 0.3]),
            "shifted": run([1.1, 1.2, 1.3])}
    eff = variants.effects(runs)
    shifted = eff[eff["variant"] == "shifted"]
    assert shifted["delta"].round(6).eq(1.0).all() and shifted["large"].all()
    assert not eff[eff["variant"] == "same"]["large"].any()
    text = variants.findings(runs)
    assert text.startswith("Every variant is committed (same and shifted). ")
    assert "**shifted** changes a headline metric by more than 2 s.d." in text
    assert "in same no change that large is detected" in text
    one = variants.findings({k: v for k, v in runs.items() if k != "shifted"})
    assert "No headline metric's mean paired difference from the reference exceeds 2 s.d. " \
        "of the reference's spread over trials in it (this page's rule" in one
    assert "no large change detected, which is not the same as no change" in one
    assert variants.summary_points(runs)[1].endswith("— large.")
    assert variants.summary_points(runs)[0].endswith("no large change detected.")


def test_numbers_in_prose_are_written_in_latex_scientific_notation():
    from mifd.pages.chapter import sci
    assert sci(1e-7 ** 0.5) == r"3.2\times10^{-4}" and sci(1e-7) == "10^{-7}"
    assert sci(9.99e-3) == "10^{-2}" and sci(-1e-5) == "-10^{-5}"  # rounding carries over
    assert sci(2.5) == "2.5" and sci(123456, 3) == r"1.23\times10^{5}" and sci(0.0) == "0"


def test_a_page_table_shows_no_nan():
    import warnings
    import numpy as np
    import pandas as pd
    from mifd.pages.chapter import dashes
    d = pd.DataFrame({"lag": [1.23456, np.nan], "name": ["x", "y"], "n": [1, 2],
                      "epoch": [700.0, np.nan]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fill-value warning (a stderr cell breaks the book)
        out = dashes(d)
    assert out["lag"].tolist() == [1.235, "—"] and out["name"].tolist() == ["x", "y"]
    assert "NaN" not in out.to_html()
    assert out["epoch"].tolist() == [700, "—"] and "700.0" not in out.to_html()  # no ".0"


def test_a_settings_table_spells_out_what_a_zero_means():
    import pandas as pd
    from mifd.pages import chapter
    df = pd.DataFrame({"this run": [2, 0, 0], "published": [0, 3, 0],
                       "meaning": ["sequences (0: same as batch)", "width", "steps (0: none)"]},
                      index=["sm_batch", "w", "s"])
    out = chapter.zero_meanings(df)
    assert out.loc["sm_batch"].tolist()[:2] == [2, "0 (same as batch)"]
    assert out.loc["w"].tolist()[:2] == [0, 3]  # no meaning for 0: left as it is
    assert out.loc["s"].tolist()[:2] == ["0 (none)", "0 (none)"]
    assert df.loc["sm_batch", "published"] == 0  # the caller's table is not changed
    plain = pd.DataFrame({"a": [0]})
    assert chapter.zero_meanings(plain) is plain
    assert "0 (same as batch)" in chapter._tables_html({"settings": df})
    # the reference column is the paper profile, which holds our own choices where the paper is
    # silent: a page never calls it "published"
    red = pd.DataFrame({"this run": [2], chapter.PAPER_COLUMN[0]: [20], "meaning": ["x"]})
    shown = chapter._tables_html({"settings": red})
    assert "published" not in shown and ">paper profile<" in shown
    assert chapter.PAPER_COLUMN[0] in red.columns  # the caller's table is not changed


def test_a_fitted_table_gives_the_index_its_share_and_the_values_theirs_by_length():
    import re

    import pandas as pd
    df = pd.DataFrame({"Q_cor at epoch 300": ["0.270 ± 0.128"], "kept": ["12/20"],
                       "note": ["x" * 40]}, index=["a long setting label (n = 20)"])
    html = chapter.fitted(df, cap=16, index_share=0.3).data
    widths = [float(w) for w in re.findall(r'<col style="width: ([\d.]+)%">', html)]
    assert len(widths) == 4 and sum(widths) == pytest.approx(100, abs=0.2)
    assert widths[0] == pytest.approx(30)
    # each value column in proportion to its longest cell (header word or value, capped) + 3
    need = [len("0.270 ± 0.128") + 3, len("12/20") + 3, 16 + 3]
    assert widths[1:] == pytest.approx([70 * n / sum(need) for n in need], abs=0.06)
    assert html.index("<colgroup>") < html.index("<thead>")  # before the rows it sizes
