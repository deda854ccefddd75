"""The landing page's library (mifd.paper.landing, mifd.paper.scale, mifd.paper.appendix) on
hand-built tables: every row in the HTML, no cut cell, the verdict badges and their rules, the
scale label on a far-reduced run's level verdicts and the headline that leaves them uncounted."""

import html
import re
from types import SimpleNamespace

import pandas as pd
import pytest

import mifd
from mifd.paper import appendix, claims, landing, rules, scale

FAR = "steps per sequence 200 of the paper's 10000 (1/50)"


def _row(section, claim, verdict, kind, far="", **kw):
    return {"section": section, "claim": claim, "paper": "0.5 ± 0.1", "ours": "0.4 ± 0.1 (n=5)",
            "ours 95% CI (t; Wilson for counts)": "[0.300, 0.500]",
            "bootstrap 95% CI": "[0.310, 0.490]", "detectable Δ": "0.123",
            "where": f"book, cpu, n = 5{', 200-step sequences' if far else ''}",
            "verdict": verdict, "kind": kind, "scale": far, **kw}


@pytest.fixture
def table():
    rows = [_row("working memory", f"metric {i} (mi)", v, "level") for i, v in
            enumerate(["consistent", "differs", "not testable (n = 5)", "not converged"])]
    rows += [_row("working memory", "Q_cor (mi vs no_mi)", "reproduced", "comparison"),
             _row("working memory", "Q_cor rises before Q_str", "same direction, n.s.", "timing"),
             _row("separation", "R2 (mi_l2)", "differs", "level", FAR),
             _row("separation", "trials with x (mi_l2)", "consistent", "count", FAR),
             _row("separation", "D_out (mi_l2 vs no_mi)", "reproduced", "comparison", FAR),
             _row("separation", "L2 is needed for structure", "partly", "parts", FAR)]
    # a long cell that pandas would cut with "…" at its default column width
    rows[0]["ours"] = "Δ = +0.123; Welch p = 0.0012, Mann–Whitney p = 0.003, d = 1.23 " * 3
    return pd.DataFrame(rows)


def test_every_row_is_in_the_html_whole(table):
    text = landing.claims_html(table)
    rendered = re.findall(r'<tr class="mifd-claim" data-section="([^"]*)" data-claim="([^"]*)"',
                          text)
    assert len(rendered) == len(table)
    assert set(rendered) == set(zip(table["section"], table["claim"]))
    assert f'data-rows="{len(table)}"' in text
    assert "…" not in text and "..." not in text
    assert table.loc[0, "ours"].strip().replace("+", "+") in text.replace("&#x27;", "'")
    for col in ("ours 95% CI (t; Wilson for counts)", "bootstrap 95% CI", "detectable Δ"):
        assert col in text  # the details view
    assert text.count("<details>") == table["section"].nunique()
    assert "table-layout:fixed" in text and "width:100%" in text


def test_verdicts_are_badges_with_their_rule_in_one_line(table):
    text = landing.claims_html(table)
    badges = re.findall(r'<span class="mifd-verdict" data-group="([^"]*)"[^>]*>([^<]*)</span>',
                        text)
    assert [v for _, v in badges] == list(table["verdict"])
    assert {g for g, _ in badges} == {"holds", "holds in part", "differs", "open"}
    rule_lines = landing.plain_rules()
    for kind in table["kind"]:
        href = f'href="{landing.RULES_PAGE}#rule-{kind.replace(" ", "-")}"'
        assert href in text, kind
        assert html.escape(rule_lines[kind]) in text
    # every rule the claims table can name has a line
    kinds = {claims._kind(c, q) for c, q in [("a vs b", "x"), ("a vs b", "mse (two-sided t-test)"),
                                              ("mi", "success_rate"), ("mi", "trials with q"),
                                              ("mi", "Pearson r"), ("mi", "Q_cor")]}
    assert kinds | {"timing", "failed trials", "parts"} == set(rule_lines)
    assert all(line and "\n" not in line and len(line) < 100 for line in rule_lines.values())


def test_a_far_reduced_runs_level_verdicts_are_labelled_and_not_counted(table):
    counted = landing.tests_of_paper(table)
    far_level = (table["scale"] != "") & table["kind"].isin(landing.LEVEL_KINDS)
    assert list(counted) == list(~far_level)
    text = landing.claims_html(table)
    rows = re.findall(r'<tr class="mifd-claim".*?</tr>', text)
    for row, is_far in zip(rows, far_level):
        assert ("not a test of the paper" in row) == is_far, row
    assert "reduced scale" in text and "1/50" in text  # said once, in the section's heading
    head = landing.headline(table)
    assert 'class="mifd-headline"' in head
    assert f"Of {int(counted.sum())} tests of the paper" in head
    assert "2 level verdicts of far-reduced runs not counted" in head
    # working memory: 6 claims tested — 2 hold, 1 holds in part, 1 differs, 2 open
    wm = re.search(r"<li><b>working memory</b>.*?</li>", head).group(0)
    assert "2 hold, 1 holds in part, 1 differs, 2 open of 6; differ: metric 1 (mi)." in wm
    assert "not tests of the paper" not in wm
    sep = re.search(r"<li><b>separation</b>.*?</li>", head).group(0)
    assert "1 holds, 1 holds in part of 2." in sep
    assert "Its 2 level verdicts are <b>not tests of the paper</b>" in sep and "1/50" in sep


def test_a_table_without_kind_or_scale_counts_every_row():
    t = pd.DataFrame([{"section": "s", "claim": "a", "where": "w", "verdict": "reproduced"}])
    assert landing.tests_of_paper(t).all()
    assert "Of 1 test of the paper's claims" in landing.headline(t)
    assert "not counted" not in landing.headline(t)


def test_beyond_table_whole():
    t = pd.DataFrame([{"section": s, "question": f"question {i}?" + " long" * 30,
                       "answer": a, "ours": "ρ = 0.5, p = 0.01", "where": "book, cpu, n = 3",
                       "scale": "hidden units 64 of the paper's 400 (0.16)"}
                      for i, (s, a) in enumerate([("A", "yes"), ("A", "no"), ("B", "higher")])])
    text = landing.beyond_html(t)
    assert text.count('<tr class="mifd-beyond">') == 3
    assert all(q in text for q in t["question"]) and "…" not in text
    assert "hidden units 64 of the paper" in text.replace("&#x27;", "'")


def _fake_run(experiment, profile):
    from mifd import get_experiment
    return SimpleNamespace(experiment=experiment, profile=profile,
                           config=get_experiment(experiment).config(profile))


def test_scale_of_runs():
    sep = _fake_run("separation", "book")
    assert scale.far_note(sep) == "steps per sequence 200 of the paper's 10000 (1/50)"
    assert scale.far_note(_fake_run("wm", "book")) == ""
    assert scale.far_note(_fake_run("wm", "paper")) == ""
    gb = scale.reduced(_fake_run("growing-brains", "book"))
    assert [r["field"] for r in gb] == ["n", "steps"] and scale.far_note(
        _fake_run("growing-brains", "book")) == ""
    assert "1/250" in scale.far_note(_fake_run("wm", "smoke"))
    assert scale._fraction(0.5) == "1/2" and scale._fraction(0.16) == "0.16"


def test_appendix_tables_whole():
    df = pd.DataFrame({"this run": range(30), "meaning": ["x" * 120] * 30},
                      index=pd.Index([f"s{i}" for i in range(30)], name="setting"))
    text = appendix.frame_html(df)
    assert text.count("<tr>") == 31 and "…" not in text and "x" * 120 in text
    rules_text = appendix.rules_html()
    for kind in landing.plain_rules():
        assert f'id="rule-{kind.replace(" ", "-")}"' in rules_text
    assert rules.RULES.split(";")[0] in rules_text.replace("&#x27;", "'")
    fig = appendix.scale_figure({"separation": _fake_run("separation", "book"),
                                 "growing brains": _fake_run("growing-brains", "book")})
    assert len(fig.axes[0].patches) == 3


def test_where_names_the_settings_a_run_differs_in_from_its_defaults():
    wm = mifd.get_experiment("wm")
    run = SimpleNamespace(meta={"machine": {"device": "cpu"}}, profile="book",
                          config=wm.config("book"))
    where = claims._where(run)
    assert where.startswith("book, cpu, n = 20, 1000 epochs") and "ε" not in where
    run.config = wm.config("book", {"rmsprop_eps": "outside",
                                    "critic_double_bias": not wm.config_cls().critic_double_bias})
    where = claims._where(run)
    assert "RMSprop ε outside √" in where and "critic bias" in where
    # the headline names what a run sets apart from the defaults, after its profile
    t = pd.DataFrame([{"section": "gpu run", "claim": "a", **claims._place(run),
                       "verdict": "reproduced"}])
    line = re.search(r"<li><b>gpu run</b>.*?</li>", landing.headline(t)).group(0)
    assert "(book, cpu, n = 20; RMSprop ε outside √, " in line and "epochs" not in line
    run.config = wm.config("book")
    t = pd.DataFrame([{"section": "gpu run", "claim": "a", **claims._place(run),
                       "verdict": "reproduced"}])
    assert "(book, cpu, n = 20): " in landing.headline(t)
    # a run without a training length keeps its first differing setting
    bare = SimpleNamespace(meta={"machine": {"gpu": "H100"}}, profile="paper",
                           config=SimpleNamespace(trials=3, sm_precision="tf32"))
    place = claims._place(bare)
    assert place["where"] == "paper, H100, n = 3, tf32 critic"
    assert place["run"] == "paper, H100, n = 3" and place["differs"] == "tf32 critic"


def test_the_terms_define_the_paper_s_measures_and_take_their_numbers_from_the_code():
    from mifd.paper import persistence
    text = landing.terms()
    paper = mifd.get_experiment("wm").config("paper")
    assert f"does {paper.sm_per_mm} SM steps per" in text
    assert f"at least {persistence.KEEP:.0%} of its own" in text
    # Q_cor is a modularity of the correlation matrix (the paper's definition), not a
    # correlation with the task bits (that is D_cor)
    q = text.split("**Q_cor, Q_str**")[1].split("- **")[0]
    assert "modularity" in q and "correlations between the units" in q and "task bit" not in q
    assert "task bit" in text.split("**D_cor, D_in, D_out**")[1].split("- **")[0]
