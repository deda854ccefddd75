"""`mifd bench` at tiny sizes: it runs, reports every field, and rejects bad arguments."""

import json
import subprocess

import numpy as np

from conftest import mifd_cmd

TINY = ["--set", "n=8", "--set", "batch=2", "--set", "transient=10", "--set", "steps=20",
        "--set", "sm_width=8", "--set", "sm_samples=32", "--set", "sm_per_mm=2",
        "--set", "eval_batch=2", "--set", "length=30", "--set", "loss_from=5"]


def test_bench_quick_writes_json_with_every_field(tmp_path):
    """``mifd bench --quick``: both experiments, 1 and 2 batched trials, the port, and every
    reported field; at the quick sequence lengths but with a tiny network and critic (``--set``
    goes over the quick sizes), so that the test stays short."""
    out = tmp_path / "b.json"
    small = ["--set", "n=8", "--set", "batch=2", "--set", "eval_batch=2", "--set", "sm_width=8",
             "--set", "sm_samples=32", "--set", "sm_per_mm=2"]
    p = subprocess.run(mifd_cmd("bench", "--quick", "--device", "cpu", "--out", str(out), *small),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert res["matmul_peak_flops"] > 0 and res["sizes"]["wm"]["steps"] == 400
    assert [(r["experiment"], r["impl"], r["trials"]) for r in res["rows"]] == [
        ("wm", "mifd", 1), ("wm", "mifd", 2), ("wm", "port", 1),
        ("separation", "mifd", 1), ("separation", "mifd", 2)]
    assert res["rows"][2]["speedup_of_mifd"] > 0 and "faster" in p.stdout
    for r in res["rows"]:
        s = r["s_per_trial_epoch"]
        assert 0 < s["min"] <= s["median"] <= s["max"]
        assert r["flops_per_trial_epoch"]["sm"] > 0 and r["flops_per_trial_epoch"]["rnn"] > 0
        assert 0 < r["fraction_of_matmul_peak"] and r["achieved_flops"] > 0
        assert r["floor_s_per_trial_epoch"] > 0 and r["peak_memory_bytes"] > 0
        assert r["projected_paper_hours"] > 0 and r["published_sizes"] is False
    for key in ("date", "code", "host", "torch", "threads"):
        assert res[key]


def test_bench_at_tiny_sizes_projects_by_counted_flops(tmp_path):
    out = tmp_path / "b.json"
    p = subprocess.run(mifd_cmd("bench", "--device", "cpu", "--trials", "1", "--epochs", "1",
                                "--experiments", "wm", "--no-port", "--out", str(out), *TINY[:-4]),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(out.read_text())["rows"][0]
    from mifd.perf.costs import wm_flops
    from mifd.experiments import get_experiment
    paper = wm_flops(get_experiment("wm").config("paper"))
    ratio = (paper["sm"] + paper["rnn"]) / sum(r["flops_per_trial_epoch"].values())
    hours = r["s_per_trial_epoch"]["median"] * ratio * 40 * 1000 / 3600
    assert abs(r["projected_paper_hours"] - hours) < 1e-6 * hours


def test_bench_rejects_bad_arguments(tmp_path):
    p = subprocess.run(mifd_cmd("bench", "--trials", "0", "--out", str(tmp_path / "x.json")),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "parameter '--trials'" in p.stderr
    assert not (tmp_path / "x.json").exists()
    p = subprocess.run(mifd_cmd("bench", "--experiments", "wm,mnist"), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "parameter '--experiments': got 'mnist'" in p.stderr
    p = subprocess.run(mifd_cmd("bench", "--set", "colour=3"), capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "parameter '--set colour'" in p.stderr
    p = subprocess.run(mifd_cmd("bench", "--device", "cpu", "--tf32"), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "parameter '--tf32'" in p.stderr


def test_bench_options_fill_the_defaults_and_compose_the_rows():
    """``BenchOptions.from_strings`` (what ``mifd bench`` calls): the defaults, those of
    ``--quick``, the rows of the flags then the new ``--rows``, and one-line errors."""
    import pytest

    from mifd.config import ConfigError
    from mifd.perf.measure import QUICK
    from mifd.perf.options import BenchOptions

    o = BenchOptions.from_strings(device="cpu")
    assert (o.trials, o.epochs, o.warmup, o.experiments) == ((1, 8), 2, 1, ("wm",))
    assert o.impls == ("mifd",) and o.ports == ("port",) and o.port and o.sizes == {}
    q = BenchOptions.from_strings(device="cpu", quick=True, no_port=True)
    assert (q.trials, q.epochs, q.experiments) == (QUICK["trials"], 1, ("wm", "separation"))
    assert q.sizes == QUICK["overrides"] and not q.port
    r = BenchOptions.from_strings(device="cpu", fused=True, allocator=True, trials="2,4",
                                  rows="mifd+bf16, mifd+fused", sets=["sm_width=64"])
    assert r.impls == ("mifd", "mifd+fused", "mifd+fused+merged", "mifd-mmap", "mifd+bf16")
    assert r.ports == ("port", "port+retain") and r.trials == (2, 4)
    assert r.overrides == {"sm_width": "64"}  # as given; the config converts it
    for kwargs, needle in (
            ({"trials": "1,x"}, "parameter '--trials': got '1,x'; allowed: a comma-separated"),
            ({"epochs": "0"}, "parameter '--epochs': got '0'; allowed: an integer >= 1"),
            ({"warmup": "-1"}, "parameter '--warmup': got '-1'; allowed: an integer >= 0"),
            ({"experiments": "wm,mnist"}, "parameter '--experiments': got 'mnist'"),
            ({"sets": ["colour=3"]}, "parameter '--set colour': got '3'; allowed: a config field"),
            ({"graph": True}, "parameter '--graph': got True on cpu"),
            ({"rows": "mifd+turbo"}, "parameter '--rows': got 'mifd+turbo'")):
        with pytest.raises(ConfigError) as e:
            BenchOptions.from_strings(device="cpu", **kwargs)
        assert needle in str(e.value) and "\n" not in str(e.value)


def test_in_fresh_process_runs_the_function_in_a_new_interpreter():
    """Each call is a new process whose allocator is at glibc's defaults, whatever this one
    does; a failure there is a RuntimeError here naming the function and the error."""
    import os

    import pytest

    from mifd.accel import allocator
    from mifd.perf import rows
    from mifd.perf.harness import in_fresh_process

    assert in_fresh_process(os.getpid) != os.getpid()
    with allocator.host_memory(True):  # here; the new process starts at glibc's defaults
        assert in_fresh_process(allocator.retaining) is False
    assert in_fresh_process(rows.row_settings, impl="mifd+fused", kind="config") == {
        "fused_bptt": True}
    with pytest.raises(RuntimeError, match="mifd.perf.rows.row_parts in a fresh process failed"
                                           "(.|\n)*parameter 'impls': got 'nope'"):
        in_fresh_process(rows.row_parts, impl="nope")


def test_bench_times_the_options_beside_the_default(tmp_path):
    """``--two-pass`` and ``--fused`` add their rows (``--fused``: with and without
    ``merge_mm_pass``); ``option_effect`` pairs each with the default row of the same run."""
    out = tmp_path / "b.json"
    p = subprocess.run(mifd_cmd("bench", "--device", "cpu", "--trials", "1", "--epochs", "1",
                                "--experiments", "wm,separation", "--no-port", "--two-pass",
                                "--fused", "--out", str(out), *TINY), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert [(r["experiment"], r["impl"]) for r in res["rows"]] == [
        (e, i) for e in ("wm", "separation")
        for i in ("mifd", "mifd-2pass", "mifd+fused", "mifd+fused+merged")]
    from mifd.perf.committed import option_effect
    eff = option_effect([res])
    assert sorted(zip(eff["experiment"], eff["option"])) == sorted(
        (e, i) for e in ("wm", "separation")
        for i in ("mifd-2pass", "mifd+fused", "mifd+fused+merged"))
    assert (eff["speed-up"] > 0).all() and eff["exact"].all()


def test_bench_times_the_allocator_rows(tmp_path):
    """``--allocator``: mifd with glibc's default allocator and the port with freed host memory
    retained, beside the default rows; each row says which it ran with."""
    from mifd.accel import allocator
    out = tmp_path / "b.json"
    p = subprocess.run(mifd_cmd("bench", "--device", "cpu", "--trials", "1", "--epochs", "1",
                                "--experiments", "wm", "--allocator", "--out", str(out),
                                *TINY[:-4]), capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["impl"] for r in rows] == ["mifd", "mifd-mmap", "port", "port+retain"]
    on = allocator.available()
    assert [r["retain_host_memory"] for r in rows] == [on, False, False, on]
    assert [r["fresh_process"] for r in rows] == [False, True, True, False]
    assert all(r["speedup_of_mifd"] > 0 for r in rows[2:])
    assert "row 'port'" in p.stdout and "row 'port+retain'" in p.stdout
    # the interleaved A/B of one SM step, at the benched (tiny) sizes
    ab = json.loads(out.read_text())["allocator_ab"]
    assert ab["available"] is on
    if on:
        assert ab["sm_width"] == 8 and ab["samples_per_step"] == 32
        for mode in ("retained", "glibc default"):
            d = ab["per_step"][mode]
            assert len(d["seconds"]) == len(d["minor_faults"]) == ab["reps"] > 0
        from mifd.perf.committed import allocator_ab_frame
        assert len(allocator_ab_frame([json.loads(out.read_text())])) == 1


def test_counted_critic_flops_equal_torch_flop_counter():
    """The benchmark's FLOP floor counts exactly the matmuls autograd runs for the projected
    critic: an SM step (weights updated, inputs detached) and the MM step (gradients into the
    RNN's activities only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mifd import mine
    from mifd.perf.costs import critic_flops

    n, half, w = 64, 5, 16
    crit = mine.make_critic("joint", [1], half, half, (w, w))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, n, half, generator=g), torch.randn(1, n, half, generator=g)
    perm = torch.randperm(n, generator=g)
    for update in ("critic", "inputs"):
        if update == "inputs":  # the MM step: the critic is fixed, gradients reach x and y
            crit.requires_grad_(False)
        xi, yi = (x, y) if update == "critic" else (x.requires_grad_(), y.requires_grad_())
        with FlopCounterMode(display=False) as fc:
            a, b, b_sh = crit.fx(xi), crit.fy(yi), crit.fy(yi[:, perm])
            v = mine.dv(crit.from_projections(a, b), crit.from_projections(a, b_sh)).sum()
            v.backward()
        assert fc.get_total_flops() == critic_flops(n, half, w, update)


def test_paper_requirements_count_the_published_settings():
    import pytest
    from mifd.perf.costs import paper_requirements
    req = {r["experiment"]: r for r in paper_requirements()}
    assert req["wm"]["trial-units"] == 20 * 2 * 1000
    assert req["separation"]["trial-units"] == 20 * 3 * 4000
    # ~1.4 TFLOP of statistics-network work per WM trial-epoch (reference-facts §6)
    assert 1.3 < req["wm"]["TFLOP per trial-unit"] < 1.5
    assert req["wm"]["sequential steps"] == 1000 * (3000 + 3000 + 2000)
    # merge_mm_pass: the MM forward runs in the SM pass (WM 3000 + 2000 steps an epoch)
    assert req["wm"]["µs per sequential step, merge_mm_pass"] == pytest.approx(
        600e6 / (1000 * (3000 + 2000)))
    assert req["separation"]["µs per sequential step, merge_mm_pass"] == pytest.approx(
        3600e6 / (4000 * 2 * 10000))


def test_committed_gpu_measurements_parse_and_judge_the_gpu_goals():
    """The committed GPU benchmark, phase breakdown and CUDA test report load, and the GPU goals
    are judged on rows at the published sizes (not the --quick rows)."""
    from mifd.perf import committed

    results = [res for _, res in committed.load_committed()]
    verdicts = committed.goal_verdicts(results)
    gpu = [r for res in results for r in res["rows"] if r["device"].startswith("cuda")]
    if gpu:
        for goal in ("wm paper profile on one GPU ≤ 10 min",
                     "separation paper profile on one GPU ≤ 60 min"):
            assert verdicts.loc[goal, "verdict"] in ("met", "not met")
        bf16 = [r for r in gpu if r["experiment"] == "wm" and r["impl"] == "mifd+bf16"
                and r.get("published_sizes", True)]
        if bf16:  # the option rows are reported beside the exact verdict, without one
            info = verdicts.loc["wm paper profile on one GPU ≤ 10 min, with reduced-precision "
                                "options (not exact; information)"]
            assert info["verdict"] == "—" and info["best measured"].startswith("mifd+bf16: ")
    cpu_port = verdicts.loc["wm on CPU ≥ 5× faster than the straightforward port (same run)"]
    ports = [r for res in results for r in res["rows"] if r.get("impl") == "port"
             and r["device"] == "cpu" and r.get("published_sizes", True)]
    assert cpu_port["best measured"].startswith(f"{ports[0]['speedup_of_mifd']:.2f}× (on ")
    phases = committed.phases_frame(committed.load_phases())
    assert set(phases["experiment"]) <= {"wm", "separation"}
    assert ((phases["RNN share"] >= 0) & (phases["RNN share"] <= 1)).all()
    wm = phases[phases["experiment"] == "wm"]  # the batched SM pass over 1000 + 2000 steps
    assert np.allclose(wm["µs per RNN step"], 1e6 * wm["SM RNN passes (s)"] / 3000, rtol=0.01)
    assert len(committed.phase_sentences(phases)) == len(phases)
    for t in committed.cuda_test_results():
        assert t["tests"] == len(t["names"]) > 0


def test_phase_times_splits_an_epoch_into_its_three_phases():
    from mifd.perf.measure import phase_times

    r = phase_times("wm", "cpu", 2, reps=1,
                    overrides={"transient": 5, "steps": 10, "sm_width": 8, "n": 8, "batch": 2})
    assert set(r["seconds_per_epoch"]) == {"sm_rnn", "sm_critic", "mm"}
    assert all(v > 0 for v in r["seconds_per_epoch"].values())


def test_code_version_takes_the_commit_from_the_environment(monkeypatch):
    from mifd.results.store import code_version

    monkeypatch.setenv("MIFD_GIT_COMMIT", "f" * 40)
    info = code_version()
    assert info["git_commit"] == "f" * 40 and info["git_commit_from"] == "MIFD_GIT_COMMIT"


def test_wm_sm_pass_times_splits_the_pass_and_committed_graph_results_are_exact():
    from mifd.perf.committed import load_sm_pass
    from mifd.perf.measure import wm_sm_pass_times

    r = wm_sm_pass_times("cpu", trials=1, reps=1)
    assert r["sample_s"] > 0 and r["eager_s"] > 0 and "graph_s" not in r  # graphs: CUDA only
    for res in load_sm_pass():
        for row in res["rows"]:
            assert row.get("graph_max_abs_diff", 0.0) == 0.0


def test_profile_costs_read_the_committed_wall_times(tmp_path):
    """Costs come from the recorded wall times: a copied committed layer with one wm run's
    wall time changed reports the change; a missing layer reads 'not measured'."""
    import shutil
    from mifd import __version__
    from mifd.config import config_hash
    from mifd.experiments import get_experiment
    from mifd.perf.committed import COMMITTED
    from mifd.perf import costs as costs_mod
    from mifd.perf.costs import profile_costs
    src = COMMITTED.parent
    costs = profile_costs(src)
    beyond = {f"cost_{n.replace('-', '_')}_book" for n in costs_mod.BEYOND}
    assert set(costs) == {"cost_mine_gaussian_book", "cost_wm_book", "cost_wm_variants_book",
                          "cost_wm_audit_book", "cost_separation_book", "cost_wm_paper_cpu",
                          "cost_all_book"} | beyond
    assert costs["cost_bimt_book"].startswith("≈ ")  # committed as two condition parts
    from mifd.results.shards import condition_parts
    from mifd.results.store import Store
    exp = get_experiment("wm")
    cfg = exp.config("book")
    key = config_hash(exp.name, cfg, __version__)
    # the wm book run: in one piece, or as condition parts side by side
    whole = src / "wm" / key
    # (a part may come in seed shards, its key theirs joined by "+": each shard gets its share
    # of the part's 42 minutes)
    parts = ([[key]] if whole.exists() else
             [p["key"].split("+") for p in condition_parts(
                 "wm", cfg, Store(tmp_path / "none", [src])).meta["parts"]])
    dst = tmp_path / "committed"
    for shards in parts:
        for k in shards:
            shutil.copytree(src / "wm" / k, dst / "wm" / k)
            meta = json.loads((dst / "wm" / k / "meta.json").read_text())
            meta["wall_seconds"] = 42 * 60 / len(shards)
            (dst / "wm" / k / "meta.json").write_text(json.dumps(meta))
    costs = profile_costs(dst)
    assert costs["cost_wm_book"].startswith("≈ 42 min (")
    assert costs["cost_separation_book"] == "not measured"
    assert costs["cost_wm_variants_book"] == "not measured"
    assert costs["cost_wm_paper_cpu"] == "not measured"


def test_row_names_compose_options_and_bad_names_are_rejected():
    """A row is 'mifd' plus option parts; exactness, allocator and settings follow the parts."""
    import re

    import pytest
    from mifd.config import ConfigError
    from mifd.perf import rows
    assert rows.row_settings("mifd+bf16+fused+graph", "config") == {
        "sm_precision": "bf16", "fused_bptt": True, "graph_sm_pass": True}
    assert rows.row_settings("mifd-2pass+fused", "trainer") == {"one_pass_critic": False}
    assert [rows.is_exact(n) for n in ("mifd", "mifd+fused+graph", "mifd+tf32", "port")] == [
        True, True, False, True]
    assert not rows.is_exact_mifd("port") and rows.is_exact_mifd("mifd-mmap")
    assert [rows.retains_host_memory(n) for n in ("mifd", "mifd-mmap", "port", "port+retain")] \
        == [True, False, False, True]
    assert rows.row_settings("mifd+fused+merged", "config") == {
        "fused_bptt": True, "merge_mm_pass": True}
    assert rows.is_exact_mifd("mifd+fused+merged")
    for bad in ("mifd+turbo", "mifdx", "mifd+fused+fused", "mifd+bf16+tf32", "nope",
                "mifd+merged"):
        with pytest.raises(ConfigError, match=re.escape(f"parameter 'impls': got '{bad}'")):
            rows.row_parts(bad)
    with pytest.raises(ConfigError, match="allowed there: rows without \\+graph"):
        rows.check_rows(["mifd", "mifd+fused+graph"], "cpu")
    rows.check_rows(["mifd+tf32+graph"], "cuda")
    assert rows.row_settings("mifd+fused+triton", "config") == {
        "fused_bptt": True, "gru_kernel": "triton"}
    assert rows.is_exact_mifd("mifd+fused+triton")  # equal up to rounding (tested)
    # bf16 state storage combines with a critic precision, and is not exact
    assert rows.row_settings("mifd+fused+bf16h+tf32", "config") == {
        "fused_bptt": True, "sm_states": "bf16", "sm_precision": "tf32"}
    assert not rows.is_exact("mifd+fused+bf16h")
    with pytest.raises(ConfigError, match="allowed there: rows without \\+triton"):
        rows.check_rows(["mifd+fused+triton"], "cpu")


def test_ops_per_step_shows_what_hand_written_bptt_removes():
    """Hand-written BPTT runs the same forward operations and fewer per step in all."""
    import pandas as pd
    from mifd.perf import measure
    df = pd.DataFrame(measure.ops_per_step()).set_index(["experiment", "backward"])
    for exp in ("wm", "separation"):
        auto, fused = df.loc[(exp, "autograd")], df.loc[(exp, "hand-written (fused_bptt)")]
        assert auto["no-grad pass"] == fused["no-grad pass"] >= 3
        assert fused["no-grad pass"] < fused["forward + backward"] < auto["forward + backward"]
        assert float(auto["forward + backward"]).is_integer()


def test_ops_per_draw_counts_the_chunked_ramp_and_the_skipped_targets():
    """The SM batches draw no targets, and the chunked ramp runs far fewer operations than the
    step-by-step loop (3 per step over the 3001 steps)."""
    from mifd.perf import measure
    ops = {r["data"]: r["operations"] for r in measure.ops_per_draw()}
    sm, mm, loop, chunked = ops.values()
    assert loop >= 3 * 3001 and chunked < loop / 10
    assert sm < 100 and mm < loop / 10


def test_the_cost_of_a_run_made_in_parts_is_its_longest_part(tmp_path):
    """The separation `book` run is committed as condition parts run side by side: its cost is
    the longest part's recorded wall time, stated as such."""
    import shutil

    import pytest

    import mifd
    from mifd.perf.committed import COMMITTED
    from mifd.perf.costs import profile_costs
    from mifd.results.shards import condition_parts
    from mifd.results.store import Store
    src = COMMITTED.parent
    cfg = mifd.get_experiment("separation").config("book")
    rr = condition_parts("separation", cfg, Store(tmp_path / "none", [src]))
    if rr is None:
        pytest.skip("the separation book run is not committed as parts")
    dst = tmp_path / "committed"
    walls = []
    for i, part in enumerate(rr.meta["parts"]):
        shutil.copytree(src / "separation" / part["key"], dst / "separation" / part["key"])
        meta_path = dst / "separation" / part["key"] / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["wall_seconds"] = (50 + 10 * i) * 60
        walls.append(meta["wall_seconds"])
        meta_path.write_text(json.dumps(meta))
    cost = profile_costs(dst)["cost_separation_book"]
    assert cost.startswith(f"≈ {max(walls) / 60:.0f} min (")
    assert f"{len(walls)} processes side by side" in cost


def test_an_experiment_without_a_training_unit_is_refused():
    import pytest

    from mifd.config import ConfigError
    from mifd.experiments import EXPERIMENTS
    from mifd.perf.harness import UNITS, unit_for
    assert set(UNITS) <= set(EXPERIMENTS)
    with pytest.raises(ConfigError, match="got 'wm-audit'; allowed: one with a training unit"):
        unit_for("wm-audit", None, "cpu")  # once a fallthrough to the separation unit
