"""Do the modules stay? The persistence analysis on hand-built time courses."""

from types import SimpleNamespace

import numpy as np
import pytest

from mifd.experiments.base import Layout
from mifd.paper import persistence as P

EPOCHS = np.arange(0, 1001, 25)


def _run(curves, seed=1001, mi=None):
    """A stand-in run: ``curves`` (trials × snapshots) as every snapshot metric of the mi
    condition."""
    v = np.asarray(curves, dtype=float).T  # (snapshots, trials)
    T = v.shape[1]
    hist = np.full((1000, T), 0.5 if mi is None else mi, dtype=np.float32)
    res = {"snap_epochs": EPOCHS, "snaps": {m: v for m in P.METRICS},
           "hist": {"mi": hist, "sm_mi": hist}}
    return SimpleNamespace(result=res, layout=Layout(("mi",), T, seed))


RISE_STAY = np.minimum(EPOCHS / 300, 1) * 0.3
RISE_FALL = np.where(EPOCHS <= 300, EPOCHS / 300 * 0.3, 0.3 * (1 - (EPOCHS - 300) / 800))
NEVER = -0.01 * EPOCHS / 1000


def test_a_trial_keeps_its_modules_only_if_it_ends_near_its_peak():
    v = np.stack([RISE_STAY, RISE_FALL, NEVER], axis=1)
    assert P.kept(v).tolist() == [True, False, False]  # never-rising: nothing to keep
    assert RISE_FALL[-1] < P.KEEP * RISE_FALL.max()


def test_the_table_reads_each_epoch_and_counts_the_trials_that_keep():
    t = P.table({"a": _run([RISE_STAY, RISE_FALL])})
    row = t[t.metric == "Q_cor"].iloc[0]
    assert row["epoch 300"] == "0.300 ± 0.000"
    end = np.array([RISE_STAY[-1], RISE_FALL[-1]])
    assert row["epoch 1000"] == f"{end.mean():.3f} ± {end.std(ddof=1):.3f}"
    assert row["keep ≥ 75% of peak"] == "1/2" and row["median peak epoch"] == 300


def test_the_paired_test_pairs_by_seed_and_the_sentence_says_what_it_shows():
    rng = np.random.default_rng(0)
    base = [RISE_FALL + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    a = _run(base, seed=1001)
    # b: seeds 1006..1015, each 0.1 higher at the end than a's trial of the same seed
    b = _run([c + 0.1 * (EPOCHS / 1000) for c in base[5:]] + base[:5], seed=1006)
    t = P.paired(b, a)
    assert t["seeds"] == list(range(1006, 1011)) and t["n"] == 5
    assert t["mean difference"] == pytest.approx(0.1)
    text = P.sentence({"a": a, "b": b}, "a")
    assert "form and then fade" in text and "no difference shown at n = 5" in text
    # the last snapshot is named by its epoch, never "the end of training" (the final
    # evaluation on fresh sequences, another number)
    assert "at epoch 1000 is below 75% of its value at epoch 300" in text
    assert "end of training" not in text
    # ten paired seeds with a clear shift: shown
    c = _run([x + 0.1 * (EPOCHS / 1000) for x in base], seed=1001)
    assert P.paired(c, a)["p"] < P.ALPHA
    assert "a difference shown" in P.sentence({"a": a, "c": c}, "a")
    # several settings: each judged after Holm's adjustment, as the conclusion is — the shift
    # that is shown alone (p ≈ 0.002) is not beside a second, equal one on fewer seeds
    alone = P.paired(c, a)["p"]
    text = P.sentence({"a": a, "c": c, "b": b}, "a")
    assert "after Holm's adjustment for 2 settings" in text and "a difference shown" in text
    adj = P.holm({"c": alone, "b": P.paired(b, a)["p"]})
    assert f"{adj['c']:.2g} after Holm's adjustment for 2 settings" in text
    assert adj["c"] >= alone
    many = {"a": a, **{f"c{i}": c for i in range(40)}}  # 40 equal tests: 40 × p ≥ 0.05
    assert 40 * alone >= P.ALPHA and "a difference shown" not in P.sentence(many, "a")
    # one trial keeps: the sentence agrees in number
    assert "1 of 2 trials keeps ≥ 75% of its peak" in P.sentence(
        {"a": _run([RISE_STAY, RISE_FALL])}, "a")
    # a setting that keeps its modules: not every setting fades
    text = P.sentence({"a": a, "s": _run([RISE_STAY] * 3)}, "a")
    assert ("stays at 75% or more of its value at epoch 300 with **s**; in the other 1 setting "
            "it falls below") in text
    # a mean that ends a little lower than at epoch 300 has not faded (the rule: 75%)
    little = _run([RISE_STAY * np.where(EPOCHS > 300, 0.95, 1.0)] * 3)
    assert "stays at 75% or more" in P.sentence({"l": little}, "l")
    assert "form and then fade there" not in P.sentence({"l": little}, "l")


def test_the_screen_s_summary_has_the_sentence_s_numbers_one_row_per_setting():
    rng = np.random.default_rng(0)
    base = [RISE_FALL + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    a = _run(base, seed=1001)
    c = _run([x + 0.1 * (EPOCHS / 1000) for x in base], seed=1001)  # shown against a
    b = _run([c + 0.1 * (EPOCHS / 1000) for c in base[5:]] + base[:5], seed=1006)
    runs = {"a": a, "c": c, "b": b}
    t = P.summary(runs, "a")
    assert t.index.tolist() == ["a (n = 10)", "c (n = 10)", "b (n = 10)"]
    t.index = ["a", "c", "b"]
    assert t.loc["a", "paired Δ"] == "(reference)" and t.loc["a", "shown"] == ""
    tests, adj = P.against(runs, "a")
    assert t.loc["c", "p (Holm)"] == f"{tests['c']['p']:.2g} ({adj['c']:.2g})"
    assert t.loc["c", "shown"] == "yes" and t.loc["c", "paired Δ"] == "+0.100"
    assert t.loc["b", "shown"] == "no" and adj["b"] >= P.ALPHA
    end = np.array([x[-1] for x in base])
    assert t.loc["a", "Q_cor at epoch 1000"] == f"{end.mean():.3f} ± {end.std(ddof=1):.3f}"
    assert t.loc["a", "kept"] == "0/10"
    # the page's sentence without its per-setting part keeps the head and leaves the rest to
    # the summary
    short = P.sentence(runs, "a", per_setting=False, paper_level=0.299)
    assert short.startswith("In every setting the mean Q_cor at epoch 1000") and \
        short.endswith("The paper's value at the end of training is 0.299.")
    assert "**a** (n = 10)" not in short and "**a** (n = 10)" in P.sentence(runs, "a")


def test_the_figure_has_a_row_per_setting_and_labelled_axes():
    import matplotlib
    matplotlib.use("Agg")
    fig = P.figure({"a": _run([RISE_STAY, RISE_FALL]), "b": _run([RISE_FALL])},
                   paper_levels={"Q_cor": 0.299})
    axes = np.array(fig.axes).reshape(2, len(P.METRICS) + 1)
    assert all(ax.get_ylabel() for ax in axes.flat)
    assert all(ax.get_xlabel() == "epoch" for ax in axes[-1])


def _with_mi(run, mi_curves, conditions=("mi",)):
    """``run`` with per-trial MI estimates ``mi_curves`` (trials × 1000 epochs) in both
    histories."""
    h = np.asarray(mi_curves, dtype=float).T
    run.result["hist"] = {"mi": h, "sm_mi": h}
    return run


def test_the_mi_at_the_peak_and_at_the_end_and_whether_it_stays_minimized():
    from mifd.paper import mechanism as M
    ep = np.arange(1, 1001)
    flat = [np.full(1000, 0.7) + 0.01 * k for k in range(8)]
    rising = [np.where(ep < 300, 0.7, 0.7 + (ep - 300) / 700) + 0.01 * k for k in range(8)]
    fade = [RISE_FALL] * 8
    a = _with_mi(_run(fade), flat)
    d = M.mi_at_peak(a)
    assert (d["peak epoch"] == 300).all() and d["MI (critic) end"].round(6).tolist() == \
        (0.7 + 0.01 * np.arange(8)).round(6).tolist()
    assert d["MI (critic) at peak"].to_numpy() == pytest.approx(d["MI (critic) end"].to_numpy())
    b = _with_mi(_run(fade), rising)
    assert (M.mi_at_peak(b)["MI (critic) end"] > 1.6).all()
    # the no-MI condition's level: 3 nats
    no = _run(fade)
    no.layout = Layout(("no_mi",), 8, 1001)
    no.config = SimpleNamespace(conditions=("no_mi",))
    no.result["hist"] = {"sm_mi": np.full((1000, 8), 3.0), "mi": np.full((1000, 8), 3.0)}
    text = M.mi_sentence({"flat": a, "rising": b}, no)
    assert "3.00 nats" in text and "under **flat**, while the modules fade, the critic's " \
        "estimate stays" in text
    assert "rising the critic's" not in text and "p = " in text
    assert "no change detected between the peaks and the end at these n" in text
    assert "falls further" not in text  # 'rising' rises: neither stays low nor falls
    # a rise is said too, and whether it is still below half the level without minimization
    assert "Under **rising**, while the modules fade, it rises after the peaks (p < 0.05)." \
        in text  # to 1.7 nats of 3: not below half
    slight = [np.where(ep < 300, 0.7, 0.7 + (ep - 300) / 3500) + 0.01 * k for k in range(8)]
    assert "it rises after the peaks (p < 0.05), still below 50% of the level without " \
        "minimization." in M.mi_sentence({"slight": _with_mi(_run(fade), slight)}, no)
    assert "at epoch 1000, while" in text  # the last snapshot, named by its epoch
    # an estimate that falls significantly after the peaks is said, not left out
    falling = [np.where(ep < 300, 0.7, 0.7 - (ep - 300) / 2000) + 0.01 * k for k in range(8)]
    f = _with_mi(_run(fade), falling)
    t2 = M.mi_sentence({"flat": a, "falling": f}, no)
    assert "Under **falling**, while the modules fade, it falls further after the peaks " \
        "(p < 0.05)" in t2
    # a setting whose modules stay is not said to fade (persistence.fades)
    kept = _with_mi(_run([RISE_STAY] * 8), flat)
    t3 = M.mi_sentence({"flat": a, "kept": kept}, no)
    assert "under **flat**, while the modules fade, and **kept**, while they stay, the " \
        "critic's estimate stays low" in t3
    # too few trials for the paired test: said so, and no conclusion drawn
    c = _with_mi(_run(fade[:3]), flat[:3])
    t = M.mi_sentence({"few": c}, no)
    assert "not testable at n = 3" in t and "stays" not in t


def test_the_page_run_is_shown_beside_the_other_eps_placement_only():
    labels = list(P.SCREEN)
    inside = [k for k in labels if P.SCREEN[k][0] == {}][0]  # the default: ε inside
    outside = [k for k in labels if P.SCREEN[k][0] == {"rmsprop_eps": "outside"}][0]
    runs = {k: SimpleNamespace(config=SimpleNamespace(rmsprop_eps="x")) for k in labels}
    page = SimpleNamespace(config=SimpleNamespace(rmsprop_eps="inside"))
    assert list(P.placement_pair(runs, page)) == [outside]
    page.config.rmsprop_eps = "outside"
    assert list(P.placement_pair(runs, page)) == [inside]
    assert P.placement_pair({k: v for k, v in runs.items() if k != inside}, page) == {}


def _audited(run, condition, trained, copula, fresh=0.5, gaussian=None):
    """``run`` as one ``condition``'s trials with the trained critic's estimates ``trained``
    (constant over the epochs) and an end-of-training audit."""
    T = len(trained)
    run.layout = Layout((condition,), T, 1001)
    h = np.tile(np.asarray(trained, float), (1000, 1))
    run.result["hist"] = {"mi": h, "sm_mi": h}
    cop = np.asarray(copula, float)
    run.result["audit"] = {"copula": cop, "gaussian": cop if gaussian is None else gaussian,
                           "held_out_dv": np.full(T, fresh)}
    return run


def test_a_trial_escaped_its_critic_when_the_critic_is_minimized_and_the_copula_mi_is_not():
    from mifd.paper import dependence as D
    no = _audited(_run([NEVER] * 4), "no_mi", [3.0] * 4, [2.0] * 4)
    # four trials that fade (two hide a dependence of 1.8 nats behind a critic at 0.3; two
    # remove it) and four that keep their modules with low MI by both measures
    mi = _audited(_run([RISE_FALL] * 4 + [RISE_STAY] * 4), "mi",
                  [0.3, 0.3, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5], [1.8, 1.8, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5])
    df = D.table({"run": mi}, no)
    rows = df[df["run"] == "run"]
    assert rows["modules"].tolist() == ["faded"] * 4 + ["kept"] * 4
    assert D.escaped(rows).tolist() == [True, True] + [False] * 6  # 1.8 ≥ 0.5 × 2.0 = 1.0
    assert not D.escaped(df[df["run"] == "no MI minimization"]).any()
    text = D.sentence({"run": mi}, no)
    assert "minimized in 8 trials, the copula MI in 6; 2 trials escaped" in text
    assert "2 of them among the 4 whose modules formed and faded and 0 among the 4" in text
    assert "never formed" not in text
    assert "fresh critic" not in text  # its estimates scatter around zero: not cited as support
    assert "Mann–Whitney p = " in text and "no evidence that the MI stayed minimized" in text
    # a run in which nothing escaped: no such conclusion, and too few kept trials to test
    ok = _audited(_run([RISE_FALL] * 3 + [RISE_STAY]), "mi", [0.3] * 4, [0.4] * 4)
    t = D.sentence({"ok": ok}, no)
    assert "no trial escaped its critic" in t and "not testable at n = 3 and 1" in t
    assert "no evidence" not in t
    # one trial escaped: said in the singular, and which kind of trial it is
    one = _audited(_run([RISE_FALL] * 3 + [RISE_STAY]), "mi", [0.3] * 4, [1.8, 0.4, 0.4, 0.4])
    t1 = D.sentence({"one": one}, no)
    assert "; 1 trial escaped its critic (copula MI median 1.80" in t1
    assert "one of the 3 whose modules formed and faded;" in t1 and "1 trials" not in t1
    # a trial whose Q_cor peaks below the paper's band (0.146) formed no modules: it is
    # neither faded nor kept, and said apart (a low peak that ends low, and one that stays)
    low = _audited(_run([RISE_FALL] * 2 + [RISE_FALL * 0.4, RISE_STAY * 0.4]), "mi",
                   [0.3] * 4, [1.8, 0.4, 1.8, 0.4])
    d = D.table({"low": low}, no)
    assert d[d["run"] == "low"]["modules"].tolist() == ["faded", "faded", D.NEVER, D.NEVER]
    t2 = D.sentence({"low": low}, no)
    assert "1 of them among the 2 whose modules formed and faded and 0 among the 0" in t2
    assert "(2 trials never formed modules: Q_cor peaked below the paper's band)" in t2
    # a run without its audit is refused in one line
    bare = _run([RISE_FALL])
    with pytest.raises(ValueError, match="parameter 'rr'.*no audit"):
        D.table({"bare": bare}, no)


def test_the_escape_summary_counts_per_run_and_names_the_broken_critics():
    from mifd.paper import dependence as D
    no = _audited(_run([NEVER] * 4), "no_mi", [3.0] * 4, [2.0] * 4)
    # four faded trials: two escape (one behind a critic at 0.3, one behind a broken critic
    # at -0.4), two remove the dependence; four keep their modules with low MI
    mi = _audited(_run([RISE_FALL] * 4 + [RISE_STAY] * 4), "mi",
                  [0.3, -0.4, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5], [1.8, 1.8, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5])
    ok = _audited(_run([RISE_FALL] * 3 + [RISE_STAY]), "mi", [0.3] * 4, [0.4] * 4)
    s = D.summary({"run": mi, "ok": ok}, no)
    assert s.index.tolist() == ["run (n = 8)", "ok (n = 4)"]
    s.index = ["run", "ok"]
    r = s.loc["run"]
    assert (r["minimized: critic / copula MI"], r["escaped (critic < 0)"],
            r["never formed"]) == ("8 / 6", "2 (1)", 0)
    assert r["escaped among faded / kept"] == "2 of 4 / 0 of 4"
    assert r["copula MI, faded / kept"].startswith("1.10 / 0.50 (p = ")
    assert s.loc["ok", "escaped (critic < 0)"] == "0 (0)" and \
        s.loc["ok", "copula MI, faded / kept"] == "0.40 / 0.40 (not testable at n = 3, 1)"
    # the page's sentence without the per-run part: the levels and what an escape means, with
    # the broken critics counted
    text = D.sentence({"run": mi, "ok": ok}, no, per_run=False)
    assert "**run**" not in text and "**run** (n = 8)" in D.sentence({"run": mi}, no)
    assert "in 1 of the 2 such trials above the critic's estimate is below zero" in text
    assert "below zero" not in D.sentence({"ok": ok}, no, per_run=False)


def test_the_dependence_figure_has_labelled_axes_and_the_rule_s_thresholds():
    import matplotlib
    matplotlib.use("Agg")
    from mifd.paper import dependence as D
    no = _audited(_run([NEVER] * 4), "no_mi", [3.0] * 4, [2.0] * 4)
    mi = _audited(_run([RISE_FALL, RISE_STAY, RISE_FALL * 0.4]), "mi", [0.3, 0.5, 0.3],
                  [1.8, 0.5, 0.4])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a never-formed trial's cross draws without a warning
        fig = D.figure({"run": mi}, no)
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names.count("run") == 1 and "modules never formed" in names  # each setting once
    ax = fig.axes[0]
    assert "copula MI" in ax.get_xlabel() and "critic" in ax.get_ylabel()
    xs = {tuple(line.get_xdata()) for line in ax.get_lines()}
    assert (1.0, 1.0) in xs  # the copula threshold: 0.5 × the no-MI median 2.0
    # nine settings, as the screen holds: the axes keep their size (no collapsed layout)
    import io
    from cycler import cycler
    eight = cycler(color=["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                          "#F0E442", "#000000"])  # the book's style: eight colours
    with warnings.catch_warnings(), matplotlib.rc_context({"axes.prop_cycle": eight}):
        warnings.simplefilter("error")
        many = D.figure({f"setting {k}": mi for k in range(9)}, no)
        many.savefig(io.BytesIO(), format="png")
    assert many.axes[0].get_position().width > 0.4
    looks = [(h.get_color(), h.get_marker()) for h in many.legends[0].legend_handles[:9]]
    assert len(set(looks)) == 9  # no two settings alike (the style cycles 8 colours)


def test_the_headline_counts_the_faded_trials_that_escaped_their_critic():
    from mifd.paper import dependence as D
    # one run of both conditions: 4 MI trials (3 faded, 2 of them hiding 1.8 nats) + 4 no-MI
    run = _audited(_run([RISE_FALL] * 3 + [RISE_STAY] + [NEVER] * 4), "mi",
                   [0.3] * 4 + [3.0] * 4, [1.8, 1.8, 0.4, 0.5] + [2.0] * 4)
    run.layout = Layout(("mi", "no_mi"), 4, 1001)
    run.config = SimpleNamespace(conditions=("mi", "no_mi"))
    text = D.headline(run)
    assert "In 2 of the 3 trials whose modules formed and faded the network escaped" in text
    assert "1.80 nats" in text and "in the other 1 the copula MI is minimized too" in text
    assert "escaped its critic:" in text  # no accuracies recorded: nothing said of the task
    run.result.setdefault("trials", {}).setdefault("mi", {})["accuracy"] = [0.95, 0.8, 0.7, 1.0]
    assert "escaped its critic (1 of them fail the task: accuracy ≤ 0.9):" in D.headline(run)
    run.result["audit"]["copula"][:2] = 0.4  # nothing hidden any more
    assert D.headline(run).startswith("In none of the 3 trials")
    run.config = SimpleNamespace(conditions=("mi",))
    assert D.headline(run) == ""


def test_the_authors_figure_has_a_panel_per_seed_with_both_sides():
    import matplotlib
    matplotlib.use("Agg")
    from mifd.paper import authors as A
    theirs = [{"seed": 1001 + k, "snap_epochs": EPOCHS, "snaps": {"Q_cor": RISE_FALL}}
              for k in range(3)]
    ours = _run([RISE_STAY, RISE_FALL], seed=1002)  # seeds 1002, 1003
    fig = A.figure(theirs, ours)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in shown] == ["seed 1001", "seed 1002", "seed 1003"]
    assert shown[0].get_legend() is not None  # a full grid: the legend on the first panel
    assert [len(ax.get_lines()) for ax in shown] == [1, 2, 2]
    assert shown[0].get_ylabel() == "Q_cor" and all(ax.get_xlabel() == "epoch" for ax in shown)
    # six seeds in rows of five: the legend sits in the first empty cell, with both sides,
    # not on a panel's curves
    theirs = [{"seed": 1001 + k, "snap_epochs": EPOCHS, "snaps": {"Q_cor": RISE_FALL}}
              for k in range(6)]
    fig = A.figure(theirs, _run([RISE_STAY], seed=1006))
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    cell = [ax for ax in fig.axes if ax.get_visible() and not ax.axison]
    assert len(shown) == 6 and all(ax.get_legend() is None for ax in shown)
    assert len(cell) == 1 and [t.get_text() for t in cell[0].get_legend().get_texts()] == \
        ["the authors' code", "ours"]
    with pytest.raises(ValueError, match="parameter 'theirs'"):
        A.figure([], None)


def test_records_of_the_authors_code_join_the_escape_table_with_their_own_audit():
    from mifd.paper import dependence as D
    no = _audited(_run([NEVER] * 4), "no_mi", [3.0] * 4, [2.0] * 4)
    hist = {"sm_mi": np.full(1000, 0.3)}
    audit = {"held_out_dv": np.array([0.7]), "copula": np.array([1.8]),
             "gaussian": np.array([2.5])}
    recs = [{"seed": 1001, "snaps": {"Q_cor": RISE_FALL}, "hist": hist, "audit": audit},
            {"seed": 1002, "snaps": {"Q_cor": RISE_STAY}, "hist": hist,
             "audit": {**audit, "copula": np.array([0.5])}},
            {"seed": 1003, "snaps": {"Q_cor": RISE_STAY}, "hist": hist}]  # no audit: left out
    df = D.table({}, no, {"theirs": recs})
    rows = df[df["run"] == "theirs"]
    assert rows["seed"].tolist() == [1001, 1002]
    assert rows["modules"].tolist() == ["faded", "kept"]
    assert D.escaped(rows).tolist() == [True, False]
    text = D.sentence({}, no, {"theirs": recs})
    assert "**theirs** (n = 2)" in text and "1 trial escaped its critic" in text


def test_the_mechanism_test_follows_its_rule(monkeypatch):
    from mifd.paper import mechanism
    screen = {"default": ({}, ((1001, 10),)), "leaky": (dict(mechanism.UNSILENCEABLE),
                                                        ((1001, 10),))}
    monkeypatch.setattr(P, "SCREEN", screen)
    rng = np.random.default_rng(1)
    fade = [RISE_FALL + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    stay = [RISE_STAY + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    assert mechanism.silence_test({"default": _run(fade)}) == ""  # not committed: nothing
    text = mechanism.silence_test({"default": _run(fade), "leaky": _run(stay)})
    assert "*supported*" in text and "in 10 of 10 trials against 0 of 10" in text
    text = mechanism.silence_test({"default": _run(stay), "leaky": _run(fade)})
    assert "*contradicted*" in text
    same = mechanism.silence_test({"default": _run(fade), "leaky": _run(fade[:4])})
    assert "*not shown at n = 4*" in same and "in 0 of 4 trials against 0 of 4" in same
    assert "Holm" not in same  # the only setting: nothing to adjust for
    # beside other settings of the screen: the unadjusted verdict, and the screen's adjusted p
    monkeypatch.setattr(P, "SCREEN", {**screen, "other": ({"lambda_mi": 0.2}, ((1001, 10),))})
    other = [f + rng.normal(0, 0.01, EPOCHS.size) for f in fade]
    runs = {"default": _run(fade), "leaky": _run(stay), "other": _run(other)}
    text = mechanism.silence_test(runs)
    p = P.paired(runs["leaky"], runs["default"])["p"]
    adj = P.holm({"leaky": p, "other": P.paired(runs["other"], runs["default"])["p"]})["leaky"]
    assert "*supported*" in text and f"as one of the screen's 2 settings" in text
    assert f"its p is {adj:.2g}" in text and adj == pytest.approx(2 * p)
    assert ("shown there too" in text) == (adj < P.ALPHA)


def test_the_landing_sentences_take_the_end_of_training_from_the_final_evaluation():
    from mifd.paper import wm_answer as wm
    import mifd
    run = _run([RISE_FALL, RISE_STAY])
    run.result["trials"] = {"mi": {"Q_cor": [0.1, 0.3]}}
    run.config = SimpleNamespace(conditions=("mi",), sm_width=512)
    text = wm.course_sentence(run, "x")
    assert text.startswith("x (2 trials): 0.30 at epoch 300, 0.200 ± 0.141 at the end")
    three = _run([RISE_FALL, RISE_STAY, NEVER])
    three.result["trials"] = {"mi": {"Q_cor": [0.1, 0.3, 0.0]}}
    assert wm._course(three, "Q_cor")["peak_band"] == 2  # peaks 0.3, 0.3 (≥ 0.146) and 0
    assert "1 of 2 end in the paper's band or above, 1 keeps its" in text  # 0.3 ≥ 0.146 > 0.1
    stale = wm.wide_critic_sentence(run, "earlier settings: TF32 critic matmuls — not the …")
    assert "512 units wide" in stale and "predates the current defaults (TF32 critic matmuls)" \
        in stale
    assert "predates" not in wm.wide_critic_sentence(run, "the paper profile's settings")
    assert wm.wide_critic_sentence(None, "") == ""
    book = mifd.get_experiment("wm").config("book")
    assert wm.critic_reduction(book) == (
        "; its critic 64 units wide of the paper's 512, trained on 2 of 20 sequences (4,000 of "
        "40,000 samples) per SM step, the RNN's MI term on 4,096 of its 40,000 samples")
    # a subset larger than the SM step's data leaves it whole and cuts only the RNN's MI term
    assert wm.critic_reduction(mifd.get_experiment("wm").config(
        "paper", {"sm_samples": 8000, "sm_batch": 4})) == (
        "; its critic trained on 4 of 20 sequences (8,000 of 40,000 samples) per SM step, "
        "the RNN's MI term on 8,000 of its 40,000 samples")
    assert wm.critic_reduction(mifd.get_experiment("wm").config(
        "paper", {"sm_samples": 10000, "sm_batch": 4}), short=True) == \
        "; a reduced critic: 20% of its data"
    assert wm.critic_reduction(mifd.get_experiment("wm").config(
        "book", {"sm_batch": 0, "sm_samples": 0})) == \
        "; its critic 64 units wide of the paper's 512"
    assert wm.critic_reduction(mifd.get_experiment("wm").config("paper", {"sm_batch": 5})) == \
        "; its critic trained on 5 of 20 sequences (10,000 of 40,000 samples) per SM step"
    run = SimpleNamespace(experiment="wm", config=book)
    words = wm.scale_words(run)
    assert words.startswith("Against the published settings this run has its critic 64 units")
    assert "tests of the paper at these settings" in words
    run.config = mifd.get_experiment("wm").config("book", {"trials": 10})
    assert "has 10 trials per condition of the paper's 20; its critic" in wm.scale_words(run)
    run.config = mifd.get_experiment("wm").config("smoke")
    assert "far below the published scale (MM steps 4 of the paper's 1000" in \
        wm.scale_words(run) and "not counted as tests" in wm.scale_words(run)
    run.config = mifd.get_experiment("wm").config("paper")
    assert wm.scale_words(run).startswith("This run has the published settings")
    assert wm.critic_reduction(mifd.get_experiment("wm").config("paper")) == ""
    assert wm.critic_reduction(mifd.get_experiment("wm").config("paper"), short=True) == ""
    assert wm.critic_reduction(mifd.get_experiment("wm").config(
        "book", {"sm_batch": 0, "sm_samples": 0}), short=True) == \
        "; a reduced critic: 64 of 512 units"
    assert wm.critic_reduction(mifd.get_experiment("wm").config("paper", {"sm_batch": 5}),
                               short=True) == "; a reduced critic: 25% of its data"


def test_the_pending_line_names_each_missing_setting_once():
    label = list(P.SCREEN)[1]
    line = P.pending_line([f"{label}: mifd run wm --set seed=1001",
                           f"{label}: mifd run wm --set seed=1011"])
    assert line.count(label) == 1 and f"(1 of {len(P.SCREEN)} settings)" in line
    assert "--set" not in line and P.pending_line([]) == ""


def test_the_answer_says_form_and_fade_only_when_the_numbers_do():
    from mifd.paper import reported, wm_answer as wm
    paper = reported.WM["mi"]["Q_cor"]
    at = {"early": 0.29, "early_verdict": "consistent", "kept": 3, "n": 20}
    assert wm.course_words(at, paper) == \
        ("form functional modules at the paper's level", "then lose them")
    # "at the paper's level" only where the level rule shows it: in the band but not shown
    for verdict in ("not testable (n = 3)", "differs"):
        assert wm.course_words({**at, "early_verdict": verdict}, paper)[0] == \
            "form functional modules in the paper's band"
    # the mean at the end still in the paper's band (≥ its mean − 1 sd): lost in part only
    floor = paper.mean - paper.sd
    for end, words in ((floor + 0.005, "then partly lose them"), (floor - 0.005, "then lose them")):
        assert wm.course_words({**at, "end": end}, paper)[1] == words
    assert wm.course_words({"early": -0.08, "early_verdict": "differs", "kept": 2, "n": 2},
                           paper) == ("stay below the paper's level of functional modularity",
                                      "keep them")
    # the level rule on the values at epoch 300 of 20 hand-built trials near the paper's mean
    rr = _run([np.full(len(EPOCHS), v) for v in np.linspace(0.2, 0.4, 20)])
    rr.result["trials"] = {"mi": {"Q_cor": list(np.linspace(0.2, 0.4, 20))}}
    assert wm._course(rr, "Q_cor")["early_verdict"] == "consistent"
    rr = _run([np.full(len(EPOCHS), v) for v in np.linspace(0.0, 0.1, 20)])  # far below: shown
    rr.result["trials"] = {"mi": {"Q_cor": list(np.linspace(0.0, 0.1, 20))}}
    assert wm._course(rr, "Q_cor")["early_verdict"] == "differs"


def test_several_settings_in_the_mi_sentence_read_apart_though_their_labels_hold_commas():
    from mifd.paper import mechanism as M
    assert M._settings(["a, b"]) == "**a, b**"
    assert M._settings(["a, b", "c", "d, e"]) == "**a, b**, **c** and **d, e**"


def test_a_critic_whose_smoothed_estimate_falls_below_zero_is_counted_broken():
    from mifd.paper import mechanism as M
    ep = np.arange(1000)
    ok = np.full(1000, 0.5)
    spike = np.where(ep == 700, -5.0, 0.5)  # one epoch's dip: smoothed away
    broken = np.where(ep > 500, -3.0, 0.5)
    run = _with_mi(_run([RISE_FALL] * 3), [ok, spike, broken])
    assert M.critic_below_zero(run) == (1, 3)


def test_the_authors_short_answer_follows_the_answer_s_rules(monkeypatch):
    from mifd.paper import authors as A
    assert A.short_answer([]) == ""
    recs = [{"seed": 1001 + k, "snap_epochs": EPOCHS, "snaps": {"Q_cor": c}}
            for k, c in enumerate([RISE_FALL, RISE_FALL, RISE_FALL, RISE_STAY])]
    end = (3 * RISE_FALL[-1] + RISE_STAY[-1]) / 4  # 0.0375 × 3 and 0.3: one in the band
    text = A.short_answer(recs)
    assert text == (f"The authors' code (4 seeds, critic {A.WIDTH} wide, all its data): "
                    f"0.30 at epoch 300, {end:.3f} at epoch 1000, 1 of 4 end in the band.")
    # ours at the same settings: its numbers, and the two codes' ends as two samples
    ours = _run([RISE_FALL] * 2)
    assert "; ours at these settings: 0.30 and 0.037, 0 of 2 (not testable " \
           "at n = 2 and 4)." in A.short_answer(recs, ours)
    many = [{**recs[0], "seed": 2001 + k} for k in range(6)]  # six that fade
    assert "(Mann–Whitney p = 1: no difference shown at n = 6 and 6)" in \
        A.short_answer(many, _run([RISE_FALL] * 6))
    assert "a difference shown" in A.short_answer(many, _run([RISE_STAY] * 6))
    # ours with its final evaluation: the claims table's verdict of the paper's value on it
    import pandas as pd
    from mifd.paper import wm as W
    judged = _run([RISE_FALL] * 6)
    judged.result["trials"] = {"mi": {"Q_cor": [0.1] * 6}}
    table = pd.DataFrame({"verdict": ["consistent"]},
                         index=pd.MultiIndex.from_tuples([("mi", "Q_cor")]))
    monkeypatch.setattr(W, "paper_table", lambda rr: table)
    assert A.short_answer(many, judged).endswith(
        "no difference shown at n = 6 and 6; the paper's end-of-training Q_cor judged on it by "
        "the book's rules: <em>consistent</em>).")
    assert "does the same" not in A.short_answer(many, _run([RISE_FALL] * 6))
    t = A.table(recs)
    assert [c[1] for c in t.columns] == ["300", "peak", "peak epoch", "1000"]  # as in training


def test_the_short_answer_gives_the_verdict_and_the_wide_critic_s_breakdown(monkeypatch):
    import pandas as pd
    import mifd
    from mifd.paper import wm_answer as wm
    run = _run([RISE_FALL, RISE_STAY])
    run.result["trials"] = {"mi": {"Q_cor": [0.1, 0.3]}}
    run.config = mifd.get_experiment("wm").config("book", {"conditions": ("mi",)})
    run.profile = "book"
    monkeypatch.setattr(wm, "paper_table", lambda rr: pd.DataFrame(
        {"verdict": ["differs"]}, index=pd.MultiIndex.from_tuples([("mi", "Q_cor")])))
    gpu = _with_mi(_run([RISE_FALL] * 2), [np.full(1000, 0.5), np.full(1000, -2.0)])
    gpu.result["trials"] = {"mi": {"Q_cor": [0.05, 0.05]}}
    gpu.config = SimpleNamespace(conditions=("mi",), sm_width=512)
    text = wm.short_answer(run, gpu, wm.STALE_LABEL + "TF32 critic matmuls — not the …",
                           theirs="THEIRS.")
    # the level rule at epoch 300 (two trials at 0.3: the paper's level, shown) and the claims
    # table's verdict at the end of training
    assert "0.30 at epoch 300, the paper's 0.30 ± 0.15 at the end, by the book's rules " \
        "<em>consistent</em>) and keep them: 0.200 ± 0.141 at the end (<em>differs</em>)" in text
    assert "1 of 2 trials end in the paper's band (≥ 0.146), " in text  # 0.3 does, 0.1 not
    # the critic's reductions in short: the book critic 64 of 512 units on 4,096 of 40,000
    assert text.endswith("run; a reduced critic: 64 of 512 units, 10% of its data). THEIRS.")
    # (a GPU run of earlier settings: folded)
    text = wm.short_answer(run, gpu, "the paper profile's settings", theirs="THEIRS.")
    assert text.endswith("THEIRS. With the paper's 512-wide critic on a GPU (2 trials; its "
                         "critic's estimate, a lower bound on the MI, falls below zero at some "
                         "epoch in 1 of 2): 0.050 at the end.")
    gpu.result["trials"]["mi"]["mi_final"] = [0.3, -1.5]  # the claims table's: 1 ends below zero
    assert "falls below zero at some epoch in 1 of 2 (1 ends below zero)" in \
        wm.short_answer(run, gpu, "the paper profile's settings")
    folded = wm.wide_critic_sentence(gpu, wm.STALE_LABEL + "TF32 — not the …")
    assert "In that run its critic's estimate, a lower bound on the MI, falls below zero " \
        "at some epoch in 1 of 2 (1 ends below zero): below zero the critic has broken down. " \
        "That run predates the current defaults (TF32)" \
        in folded
    assert wm.answer_words(run) == ("form functional modules at the paper's level",
                                    "keep them")  # 1 of 2 keep: half
    assert wm.answer_words(SimpleNamespace(config=SimpleNamespace(conditions=("no_mi",)))) \
        is None  # no MI condition: no words (the landing page then compares nothing)
    assert wm.answer_point(run) == (
        "With MI minimization the groups form functional modules at the paper's level and keep "
        "them; the paper's end-of-training Q_cor, judged by the book's rules: differs (the "
        "numbers: at the top of the page).")


def test_the_authors_keras_is_named_from_their_records():
    from mifd.paper import authors as A
    rec = lambda v: {"meta": {"run": {"keras": v}}}  # noqa: E731
    assert A.keras_named([rec("2.15.0"), rec("2.15.1")]) == "Keras 2.15's RMSprop"
    assert A.keras_named([rec("2.15.0"), rec("3.1.0")]) == "Keras 2.15 / 3.1's RMSprop"
    assert A.keras_named([{}]) == A.keras_named([]) == "Keras' RMSprop"


def test_the_correlation_point_names_the_trials_whose_critic_broke_down():
    from mifd.paper import wm
    rng = np.random.default_rng(3)
    mi = np.r_[rng.uniform(0.2, 1.5, 10), -1.5, -0.9]
    mse = np.r_[rng.uniform(0.12, 0.2, 10), 0.7, 0.3]  # the broken two: high loss
    acc = np.r_[np.full(10, 0.95), 0.72, 0.93]
    run = SimpleNamespace(result={"trials": {"mi": {"mi_final": mi, "mse": mse,
                                                    "accuracy": acc}}},
                          layout=Layout(("mi", "no_mi"), 12, 2001))
    text = wm.correlation_point(run)
    assert text.startswith("Of the MI trials, 2 end with an MI estimate below zero (the MM step's "
                           "estimate over the last epochs; seeds 2011, 2012: a critic that has "
                           "broken down), 1 of them failing the task (accuracy on the last "
                           "training batch ≤ 0.9, as the success rate counts it)")
    r, _ = wm.mi_loss_correlation(run)
    assert r < -0.5 and f"(r = {r:.2f}; the paper's 0.0046) is theirs: without them r = " in text
    assert "n = 10)" in text
    from scipy import stats
    k, r2, p2, n2 = wm.without_broken(run)
    assert (k, n2) == (2, 10) and r2 == pytest.approx(stats.pearsonr(mi[:10], mse[:10])[0])
    assert wm._without_broken_words(run) == (f"; without the 2 trials whose critic broke down "
                                             f"r = {r2:.2f}, p = {p2:.2g}")
    run.result["trials"]["mi"]["mi_final"] = np.abs(mi)  # nothing below zero: no point
    assert wm.correlation_point(run) == "" and wm._without_broken_words(run) == ""


def test_the_screen_s_conclusion_names_the_settings_that_differ_and_otherwise_the_largest():
    ref = _run([RISE_FALL + 0.001 * k for k in range(8)])
    keeps = _run([RISE_STAY + 0.001 * k for k in range(8)])  # ends higher on every seed
    near = _run([RISE_FALL + 0.001 * k + (0.002 if k % 2 else -0.002) for k in range(8)])
    text = P.conclusion({"ref": ref, "keeps": keeps, "near": near}, "ref", metrics=("Q_cor",))
    assert text.startswith("**Against ref** (paired Wilcoxon on the seeds both ran, p < 0.05 "
                           "after Holm's adjustment for the 2 settings compared): ")
    assert "Q_cor at epoch 1000: higher with **keeps** (+0.263 on 8 paired seeds, p = 0.0078, " \
        "adjusted 0.016)" in text and "near" not in text
    text = P.conclusion({"ref": ref, "near": near}, "ref", metrics=("Q_cor",))
    assert "no setting differs at these n (the largest difference: **near**, +0.000" in text
    assert P.conclusion({"ref": ref}, "ref") == ""


def test_holm_adjusts_step_down_and_keeps_the_order():
    adj = P.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")})
    assert adj["a"] == pytest.approx(0.03) and adj["c"] == pytest.approx(0.06)
    assert adj["b"] == pytest.approx(0.06)  # 1 × 0.04, raised to the running maximum
    assert np.isnan(adj["d"])
    assert P.holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_the_swap_sentence_says_whether_their_code_from_our_weights_takes_our_route(monkeypatch):
    import pandas as pd
    from mifd.paper import authors as A
    from mifd.paper import silencing
    assert A.swap_sentence([]) == ""
    w_quiet = np.ones((40, 2))
    w_quiet[:20] = 0.1  # group 1's readout a tenth of group 2's: below the rule's 0.25
    recs = [{"seed": 1005, "snaps": {"Q_cor": RISE_FALL}, "weights": {"W_out": w_quiet[None]}},
            {"seed": 1001, "snaps": {"Q_cor": RISE_STAY},
             "weights": {"W_out": np.ones((1, 40, 2))}}]
    text = A.swap_sentence(recs)
    assert text.startswith("**The authors' code started from our initial weights** (2 seeds; ")
    assert "seed 1001: no group silenced (|W_out| ratio 1.00), Q_cor peak 0.300, end 0.300" in text
    assert "seed 1005: a group silenced (|W_out| ratio 0.10)" in text
    assert text.index("seed 1001") < text.index("seed 1005") and "route" not in text
    # beside ours from the same weights: both silenced in ours, so the route follows in 1 of 2
    ours = SimpleNamespace(layout=Layout(("mi",), 5, 1001))
    monkeypatch.setattr(silencing, "of_run", lambda rr: pd.DataFrame(
        {"condition": ["mi"] * 5, "silenced": [True, False, False, False, True]}))
    text = A.swap_sentence(recs, ours)
    assert "seed 1001: no group silenced" in text and "ours from the same weights: silenced" in text
    assert text.endswith("The route follows the weights in 1 of 2.")


def test_the_landing_names_the_settings_that_change_the_fade_only_when_screened():
    from mifd.paper import wm_answer as wm
    default = next(iter(P.SCREEN))
    ref = _run([RISE_FALL + 0.001 * k for k in range(8)])
    keeps = _run([RISE_STAY + 0.001 * k for k in range(8)])
    text = wm.screen_sentence({default: ref, "keeps": keeps})
    assert text.startswith("\n\n**Which settings change the fade?** **Against default")
    assert "higher with **keeps**" in text
    assert wm.screen_sentence({default: ref}) == "" and wm.screen_sentence({}) == ""


def test_a_screen_setting_shows_its_committed_shards_and_names_the_seeds_it_lacks(monkeypatch):
    from mifd.results import shards, stored

    def fake(experiment, profile, over, store=None):
        default = set(over) == {"conditions", "seed", "trials"}
        if over["seed"] == 1001 or default:  # every first shard; the default's second too
            return SimpleNamespace(key=(over["seed"], over["trials"])), None
        return None, f"mifd run wm {over}"
    monkeypatch.setattr(stored, "stored_or_command", fake)
    monkeypatch.setattr(shards, "combine", lambda got: ("combined", [g.key for g in got]))
    runs, missing = P.screen_runs("book")
    default = next(iter(P.SCREEN))
    assert runs[default] == ("combined", [(1001, 10), (1011, 10)])
    two = [label for label, (_, parts) in P.SCREEN.items()
           if label != default and [p[0] for p in parts] == [1001, 1011]]
    assert two  # the screen has settings of two shards beside the default
    for label in two:  # the first shard shows; the second is named with its seeds
        assert runs[label].key == (1001, 10)
        assert any(m.startswith(f"{label} (seeds 1011–1020): mifd run wm") for m in missing)
    assert not any(m.startswith(default) for m in missing)


def _three_settings(monkeypatch, lift):
    """A screen of a default, a setting ``up`` (each default trial through ``lift``) and one
    like the default (its trials plus noise), ten paired seeds: ``(default's, up's, runs)``."""
    monkeypatch.setattr(P, "SCREEN", {"default": ({}, ((1001, 10),)),
                                      "up": ({"x": 1}, ((1001, 10),)),
                                      "same": ({"x": 2}, ((1001, 10),))})
    rng = np.random.default_rng(3)
    base = [RISE_FALL + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    up = [lift(b) for b in base]
    return base, up, {"default": _run(base), "up": _run(up),
                      "same": _run([b + rng.normal(0, 0.01, EPOCHS.size) for b in base])}


def test_the_summary_s_screen_point_gives_each_p_adjusted_and_names_what_is_shown(monkeypatch):
    from mifd.paper import wm_answer
    _, _, runs = _three_settings(monkeypatch, lambda b: b + 0.1 * EPOCHS / 1000)
    text = wm_answer.screen_point(runs)
    p = {k: P.paired(runs[k], runs["default"])["p"] for k in ("up", "same")}
    adj = P.holm(p)
    assert f"up: +0.100 on 10 seeds (p = {p['up']:.2g}, adjusted {adj['up']:.2g})" in text
    assert "over the 2 settings" in text
    assert text.endswith("Shown after adjustment (p < 0.05): up.")
    assert wm_answer.screen_point({"default": runs["default"]}) == ""
    assert wm_answer.screen_point({"up": runs["up"], "same": runs["same"]}) == ""


def test_the_landing_s_short_answer_names_only_the_settings_shown_after_adjustment(monkeypatch):
    from mifd.paper import wm_answer
    # "up": ten trials that keep their modules
    base, up, runs = _three_settings(monkeypatch, lambda b: np.maximum(b, 0.25))
    adj = P.holm({k: P.paired(runs[k], runs["default"])["p"] for k in ("up", "same")})
    d = np.mean([u[-1] - b[-1] for u, b in zip(up, base)])
    assert wm_answer.screen_short(runs) == (
        "Of 2 other settings screened, 1 is shown to change Q_cor at epoch 1000: "
        f"<em>up</em>, {np.mean([u[-1] for u in up]):.3f} with 10 of 10 keeping (paired "
        f"{d:+.3f}, Holm-adjusted p = {adj['up']:.2g}).")
    assert adj["same"] >= P.ALPHA  # the other is not named
    assert "1000: *up*, " in wm_answer.screen_short(runs, markdown=True)  # the page's Markdown
    runs.pop("up")
    assert wm_answer.screen_short(runs) == ("No other setting screened on paired seeds (1) "
                                            "is shown to change Q_cor at epoch 1000 after "
                                            "Holm's adjustment.")
    assert wm_answer.screen_short({"same": runs["same"]}) == ""  # no default: nothing to say


def test_the_page_judges_the_paper_s_value_on_the_critic_with_all_its_data(monkeypatch):
    import pandas as pd
    from mifd.paper import wm_answer as wm
    monkeypatch.setattr(P, "SCREEN", {"default": ({}, ((1001, 10),)),
                                      "all data": (dict(wm.FULL_DATA), ((1001, 2),))})
    full = _run([RISE_STAY] * 2)
    full.result["trials"] = {"mi": {"Q_cor": [0.2, 0.3]}}
    full.config = SimpleNamespace(sm_width=64)
    seen = []
    monkeypatch.setattr(wm, "paper_table", lambda rr: seen.append(rr) or pd.DataFrame(
        {"verdict": ["consistent"]}, index=pd.MultiIndex.from_tuples([("mi", "Q_cor")])))
    assert wm.full_data_sentence({"default": _run([RISE_FALL]), "all data": full}) == (
        "With the critic on all its data, as published (all data, still 64 units wide; 2 "
        "trials): 0.250 ± 0.071 at the end of training, judged by the same rules: "
        "*consistent*.")
    assert seen == [full]  # judged on that setting's run
    assert wm.full_data_sentence({"default": _run([RISE_FALL])}) == ""


def test_a_stale_wide_critic_run_is_set_beside_the_book_critic_at_its_settings(monkeypatch):
    import mifd
    from mifd.paper import wm_answer as wm
    odd = {"rmsprop_eps": "outside", "critic_double_bias": False}
    monkeypatch.setattr(P, "SCREEN", {"default": ({}, ((1001, 10),)),
                                      "odd": (dict(odd), ((1001, 2),))})
    gpu = SimpleNamespace(config=mifd.get_experiment("wm").config("book", odd))
    same = _run([RISE_FALL] * 2)
    same.result["trials"] = {"mi": {"Q_cor": [0.04, 0.06]}}
    same.config = SimpleNamespace(sm_width=64)
    assert wm.same_settings_sentence(gpu, {"odd": same}) == (
        " The book's 64-wide critic with the settings in which that run differs from the "
        "defaults (odd; fp32 on a CPU; 2 trials): 0.050 at the end of training, 0 keep their "
        "modules: that run does not tell the critic's width apart from its settings.")
    assert wm.same_settings_sentence(gpu, {}) == ""  # not committed: nothing said
    at_defaults = SimpleNamespace(config=mifd.get_experiment("wm").config("book"))
    assert wm.same_settings_sentence(at_defaults, {"odd": same}) == ""


def test_the_screens_mi_term_setting_changes_the_mi_term_and_not_the_critics_data():
    """The label's premise: in the book profile the SM step's data (2 sequences, all 4,000
    samples) is the same with the cap of 4,096 or without it; only the RNN's MI term differs."""
    import mifd
    from mifd.paper import wm_answer as wm
    exp = mifd.get_experiment("wm")
    (over, _), = [v for k, v in P.SCREEN.items() if k.startswith("the RNN's MI term on all")]
    default = wm.critic_reduction(exp.config("book")).split(", the RNN's MI term")
    alone = wm.critic_reduction(exp.config("book", over))
    assert len(default) == 2 and alone == default[0]
    assert "(4,000 of 40,000 samples) per SM step" in alone


def test_a_planned_test_answers_its_question_by_its_rule(monkeypatch):
    from mifd.paper import planned
    monkeypatch.setattr(P, "SCREEN", {"default": ({}, ((1001, 10),)),
                                      "half": (dict(P.MI_TERM_ALL), ((1001, 10),)),
                                      "whole": (dict(P.FULL_DATA), ((1001, 10),))})
    split = planned.PLANNED[0]
    assert (split.setting, split.against) == (P.MI_TERM_ALL, P.FULL_DATA)
    rng = np.random.default_rng(1)
    fall = [RISE_FALL + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    stay = [RISE_STAY + rng.normal(0, 0.01, EPOCHS.size) for _ in range(10)]
    assert planned.sentence({"default": _run(fall), "half": _run(fall)}, split) == ""
    text = planned.sentence({"half": _run(fall), "whole": _run(stay)}, split)
    assert text.startswith("**Which half of the critic's data keeps the modules?** The critic "
                           "on all its data (*whole*)") and "The setting *half* changes" in text
    assert "on 10 paired seeds -0.26" in text and "p = 0.002" in text
    assert text.endswith(split.lower + ".")
    assert "(0 of 10 keeping ≥ 75% of their peak) against" in text
    assert planned.sentence({"half": _run(stay), "whole": _run(fall)}, split).endswith(
        split.higher + ".")
    assert planned.points({"half": _run(fall), "whole": _run(stay)}) == [
        f"{split.question} {split.lower[0].upper()}{split.lower[1:]} (half against whole: "
        f"Q_cor {np.mean([f[-1] - k[-1] for f, k in zip(fall, stay)]):+.3f} on 10 paired seeds "
        "at epoch 1000, p = 0.002)."]
    # paired by seed: five common seeds and a noise-level difference decide nothing
    text = planned.sentence({"half": _run(fall, seed=1006), "whole": _run(
        [c + rng.normal(0, 0.01, EPOCHS.size) for c in fall], seed=1001)}, split)
    assert "on 5 paired seeds" in text and text.endswith(
        "not testable at n = 5 (the smallest p 5 pairs can give is 0.062).")
    text = planned.sentence({"half": _run(fall, seed=1004), "whole": _run(
        [c + rng.normal(0, 0.01, EPOCHS.size) for c in fall], seed=1001)}, split)
    assert "on 7 paired seeds" in text and text.endswith("not decided at n = 7.")
    # the rule decides on the planned seeds only: a clear difference on 6 more seeds, run after
    # the answer was seen, is reported as exploratory and changes nothing
    assert split.n == 10
    noise = [c + rng.normal(0, 0.01, EPOCHS.size) for c in fall]
    more = _run(noise + [c + 0.2 * (EPOCHS / 1000) for c in fall[:6]], seed=1001)
    text = planned.sentence({"half": more, "whole": _run(fall + fall[:6], seed=1001)}, split)
    assert "on 10 paired seeds" in text and "not decided at n = 10." in text
    every = P.paired(more, _run(fall + fall[:6], seed=1001))
    assert every["n"] == 16 and every["p"] < P.ALPHA
    assert text.endswith(f"Beyond the planned 10 seeds (exploratory, not a decision): on all 16 "
                         f"paired seeds {every['mean difference']:+.3f} (Wilcoxon p = "
                         f"{every['p']:.2g}).")
    assert "Beyond the planned" not in planned.sentence(
        {"half": _run(fall), "whole": _run(stay)}, split)
    assert P.paired(more, _run(fall + fall[:6]), first=10)["seeds"] == list(range(1001, 1011))
    # every planned test names two settings of the real screen
    monkeypatch.undo()
    for t in planned.PLANNED:
        assert P.screen_label(t.setting) and P.screen_label(t.against), t.question
    assert planned.sentences({}) == []


def test_the_signed_rank_floor_is_the_exact_tests_smallest_p():
    from scipy import stats
    from mifd.paper import rules
    for n in range(1, 9):
        exact = stats.wilcoxon(np.arange(1.0, n + 1), method="exact").pvalue  # all one sign
        assert rules.signed_rank_floor(n) == pytest.approx(exact)
        assert rules.signed_rank_floor(n, two_sided=False) == pytest.approx(exact / 2)
    assert rules.signed_rank_floor(5) >= rules.ALPHA > rules.signed_rank_floor(6)
    assert rules.signed_rank_floor(0) == 1.0
