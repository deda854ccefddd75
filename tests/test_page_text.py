"""Sentences of the variants, discrepancy, performance and re-run pages, computed from
hand-built inputs: what is committed, what a rule can detect, which settings a GPU session ran
with and which settings enter the store key (mifd.paper.variants, mifd.paper.discrepancy,
mifd.perf.settings, mifd.perf.committed)."""

import dataclasses
import json
import re
from types import SimpleNamespace

import pandas as pd

from conftest import ROOT
from mifd.config import param
from mifd.paper import discrepancy, variants
from mifd.perf import settings


def _run(values):
    return SimpleNamespace(result={"trials": {"mi": {m: list(values) for m in variants.METRICS}}})


def test_the_variants_takeaway_counts_one_set_and_says_what_the_rule_can_detect():
    ref = _run([0.0, 0.2, 0.4, 0.6])  # sd 0.258: 2 s.d. = 0.516
    runs = {variants.REFERENCE: ref, "a": _run([0.1, 0.3, 0.5, 0.7]),
            "b": _run([0.0, 0.2, 0.4, 0.6])}
    pending = ["c: mifd run wm --set x=1", f"{variants.REFERENCE}: mifd run wm",
               "d: mifd run wm --set y=2"]
    text = variants.findings(runs, pending=pending)
    assert text.startswith("2 of the 4 variants are committed so far (a and b; the other 2 are "
                           "not committed yet, named below). ")
    assert "No headline metric's mean paired difference from the reference exceeds 2 s.d. " \
        "of the reference's spread over trials in either of them" in text
    assert "no large change detected, which is not the same as no change" in text
    assert "2 s.d. is 0.516 in Q_cor, whose reference mean is 0.300 (in D_cor 0.516," in text
    assert "smallest possible two-sided Wilcoxon p is 0.125." in text
    assert variants.thresholds(runs)["Q_cor"][0] == 2 * pd.Series([0.0, 0.2, 0.4, 0.6]).std()
    assert "none changes" not in text and "stay within" not in text


def test_the_pending_line_counts_the_variants_and_names_the_reference_apart():
    of = len(variants.VARIANTS)
    line = variants.pending_line(["noise inside α: mifd run wm --set noise=inside",
                                  "bf16 critic: mifd run wm --set sm_precision=bf16"])
    assert line.startswith(f"*Not committed yet* (2 of the {of} variants): noise inside α; "
                           "bf16 critic. `mifd jobs`")
    line = variants.pending_line([f"{variants.REFERENCE}: mifd run wm", "step target: mifd run"])
    assert f"(the reference run and 1 of the {of} variants)" in line
    assert variants.pending_line([]) == ""


def test_the_discrepancy_line_names_the_measured_and_the_pending_paper_versions():
    diffs = variants.differences()
    assert "bf16 critic" not in diffs and len(diffs) == len(variants.VARIANTS) - 1
    s = variants.measured_sentence(["one critic bias", "bf16 critic"],
                                   [v for v in variants.VARIANTS if v not in
                                    ("one critic bias", "bf16 critic")])
    assert f"each of the {len(diffs)} paper-versus-code differences" in s
    assert s.endswith(": measured so far for one critic bias; not committed yet for noise inside "
                      "α, step target, 20 SM steps and RMSprop ε outside √.")
    assert variants.measured_sentence([], list(variants.VARIANTS)).endswith(
        ": none is committed yet.")
    assert variants.measured_sentence(list(diffs), []).endswith(
        ": measured for " + ", ".join(diffs[:-1]) + " and " + diffs[-1] + ".")
    assert variants.option_sentence("bf16 critic", []).endswith(
        "is not measured yet: its run is not committed")
    assert "`sm_precision=bf16`" in variants.option_sentence("bf16 critic", ["bf16 critic"])


def test_the_committed_variants_come_from_the_store_the_page_reads(tmp_path):
    from mifd.results.store import Store
    store = Store(tmp_path / "store", [tmp_path / "committed"])
    measured, pending = variants.committed("smoke", store)
    assert measured == [] and pending == list(variants.VARIANTS)


def test_the_variants_shared_with_the_fade_screen_are_found_by_their_settings():
    seed, trials = variants.BASE["book"]["seed"], variants.BASE["book"]["trials"]
    screen = {"x": ({"sm_per_mm": 20}, ((seed, trials),)),
              "y": ({"noise": "inside"}, ((seed + 10, trials),)),  # other seeds: not the same run
              "z": ({"lambda_mi": 0.1}, ((seed, trials),))}
    assert variants.screen_shared("book", screen) == ["20 SM steps"]
    assert variants.screen_shared("smoke", screen) == []
    assert variants.screen_line(["20 SM steps"]).startswith(
        "20 SM steps is also among the settings compared in \"Do the modules stay?\"")
    assert variants.screen_line([]) == ""


def test_the_separation_l2_sentence_says_what_the_run_trained():
    cfg = SimpleNamespace(conditions=("mi_l2", "no_mi", "mi_no_l2"), l2=1e-5, sweep_l2=(1e-3,))
    assert discrepancy.l2_sentence(cfg) == (
        "its committed `book` run trains the MI condition at L2 weights 1e-05 (`mi_l2`) and "
        "0 (`mi_no_l2`), and at 0.001 as extra condition (`sweep_l2`)")
    cfg = SimpleNamespace(conditions=("mi_l2",), l2=1e-5, sweep_l2=(1e-4, 1e-3))
    assert discrepancy.l2_sentence(cfg).endswith(
        "L2 weight 1e-05 (`mi_l2`), and at 0.0001 and 0.001 as extra conditions (`sweep_l2`)")


def test_the_precision_status_names_the_settings_the_gpu_runs_had():
    import mifd
    assert discrepancy.precision_sentence(None, None).startswith("not measured yet: no GPU run")
    cfg = mifd.get_experiment("wm").config("paper", {"sm_precision": "tf32",
                                                     "rmsprop_eps": "outside",
                                                     "critic_double_bias": False, "trials": 3})
    s = discrepancy.precision_sentence(None, SimpleNamespace(config=cfg))
    assert "(3 trials per condition) ran with TF32 critic matmuls, RMSprop ε outside √ and one " \
        "critic bias" in s
    assert discrepancy.precision_sentence(pd.DataFrame({"x": [1, 2]}), None).startswith(
        "measured on 2 trials")


@dataclasses.dataclass
class _Cfg:
    a: int = param(1)
    b: bool = param(False, added=True)
    c: str = param("new", added=True, legacy="old")


def test_the_store_key_sentence_follows_the_fields_added_flags():
    s = settings.store_key_sentence(_Cfg, ("a", "b"))
    assert s.startswith("Two execution settings")
    assert "`a` is a config field that enters the store key, while `b`, added after results " \
        "were stored (declared `added=True`), enters it only when set away from its default" in s
    assert "the value earlier results had" in settings.store_key_sentence(_Cfg, ("b", "c"))
    assert settings.store_key_sentence(_Cfg, ("a",)).endswith(
        "all are config fields, so they enter the store key.")
    assert settings.key_clause(_Cfg, "a") == "it is a config field, so it enters the store key"
    assert settings.key_clause(_Cfg, "c").endswith("the value earlier results had")


def test_the_rerun_table_lists_the_execution_settings_the_sentence_counts():
    text = (ROOT / "book" / "rerun.md").read_text()
    head = text.index("{{ rerun_store_key }}")
    rows = re.findall(r"^\| `(\w+)` \|", text[head:head + 4000], flags=re.M)
    assert tuple(rows) == settings.EXECUTION_SETTINGS
    assert "Three execution settings" not in text and "Three speed options" not in text


def _bench(*impls, device="cuda"):
    return {"rows": [{"experiment": "wm", "device": device, "trials": 8, "impl": i}
                     for i in impls]}


def test_the_gpu_options_sentence_is_said_once_for_both_options():
    on = ("wm", "paper", SimpleNamespace(fused_bptt=True, merge_mm_pass=True))
    off = ("wm", "paper", SimpleNamespace(fused_bptt=True, merge_mm_pass=False))
    s = settings.session_options_sentence([on, on], [_bench("mifd", "mifd+bf16")], "the table")
    assert s == ("The runs of the two committed GPU sessions that trained (`wm` `paper` "
                 "profile) ran with both `fused_bptt` and `merge_mm_pass` (their time per "
                 "trial-epoch: the table); neither is yet timed on a GPU against the path it "
                 "replaces.")
    s = settings.session_options_sentence([on, off], [_bench("mifd", "mifd+fused")], "t")
    assert "ran with `fused_bptt` in 2 of 2 and `merge_mm_pass` in 1 of 2" in s
    assert s.endswith("; `merge_mm_pass` is not yet timed on a GPU against the path it "
                      "replaces.")
    s = settings.session_options_sentence([on], [_bench("mifd", "mifd+fused+merged")], "t")
    assert s.startswith("The run of the one committed GPU session that trained (`wm` `paper` "
                        "profile) ran with both")
    assert s.endswith("; each is also timed on a GPU against the path it replaces.")
    assert settings.timed_on_gpu("fused_bptt", [_bench("mifd", "mifd+fused")])
    assert not settings.timed_on_gpu("fused_bptt", [_bench("mifd+fused")])  # nothing beside it
    assert not settings.timed_on_gpu("fused_bptt", [_bench("mifd", "mifd+fused", device="cpu")])
    assert settings.session_options_sentence([], [], "t").startswith(
        "No committed GPU session has trained a run")


def test_the_kernel_note_points_at_rows_only_when_there_are_some():
    assert settings.kernel_note(pd.DataFrame()).startswith(
        "No GPU session with kernel timings is committed yet")
    k = pd.DataFrame({"implementation": ["reference loop", "triton fp32, bf16 states"]})
    assert settings.kernel_note(k) == ("bf16 states (next section): the rows "
                                       "*triton fp32, bf16 states* above.")
    assert "not timed" in settings.kernel_note(pd.DataFrame({"implementation": ["triton fp32"]}))


def test_a_session_row_names_the_settings_its_run_had(tmp_path):
    """The sessions table's settings column, from the run's stored config: a TF32 run with
    RMSprop's ε outside √ and one critic bias says so; a session without a run says "no run"."""
    import mifd
    from mifd.config import to_dict
    from mifd.gpu.tables import session_runs, session_table
    from mifd.results.exchange import SESSIONS
    cfg = to_dict(mifd.get_experiment("wm").config("paper", {"trials": 2}, device="cuda"))
    cfg.update(sm_precision="tf32", rmsprop_eps="outside", critic_double_bias=False)
    (tmp_path / "wm" / "k1").mkdir(parents=True)
    (tmp_path / "wm" / "k1" / "config.json").write_text(json.dumps({"config": cfg}))
    for name, run in (("s1", {"key": "k1", "trials_per_condition": 2}), ("s2", {})):
        (tmp_path / SESSIONS / name).mkdir(parents=True)
        (tmp_path / SESSIONS / name / "timing-wm-x.json").write_text(json.dumps(
            {"experiment": "wm", "profile": "paper", "run": run, "probes": []}))
    t = session_table(tmp_path).set_index("session")
    col = "run: settings other than today's profile"
    assert t.loc["s1", col] == "sm_precision=tf32; RMSprop ε outside √; one critic bias"
    assert t.loc["s2", col] == "— (no run)"
    assert [r[:2] for r in session_runs(tmp_path)] == [("wm", "paper")]


def test_a_goal_verdict_names_the_machine_of_its_best_measurement():
    from mifd.perf import committed
    row = {"experiment": "wm", "device": "cuda", "trials": 40, "impl": "mifd",
           "s_per_trial_epoch": {"median": 0.06}, "projected_paper_hours": 0.7}
    res = {"gpu": "NVIDIA H100", "date": "2026-01-02T00:00", "rows": [row]}
    v = committed.goal_verdicts([res])
    assert "40 batched trials on NVIDIA H100 (benchmark of 2026-01-02) → paper profile 0.7 h" \
        in v.loc["wm paper profile on one GPU ≤ 10 min", "best measured"]
    assert committed.measured_on({"threads": 2, "host": "vm"}) == "2 CPU threads of host vm"
