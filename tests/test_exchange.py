"""Results folders (``mifd gpu-session`` → ``mifd import-results``), made on a CPU from a smoke
run: checked completely, refused with one line before anything is written."""

import json
import shutil
import subprocess

import pytest

import mifd
from mifd.results import exchange
from mifd.config import ConfigError
from mifd.gpu.session import choose_trials, run_session
from mifd.results.store import Store

from conftest import ROOT, env_with, fake_committed_shards, mifd_cmd


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A fake GPU session folder: the smoke profile on the CPU, no CUDA tests."""
    base = tmp_path_factory.mktemp("session")
    out = base / "out"
    mp = pytest.MonkeyPatch()
    mp.setenv("MIFD_STORE", str(base / "store"))
    mp.setenv("MIFD_PROGRESS", "0")
    try:
        run_session(out, minutes=3, device="cpu", profile="smoke", tests=False, probe_trials=1)
    finally:
        mp.undo()
    return out


def _copy(session, tmp_path):
    dst = tmp_path / "folder"
    shutil.copytree(session, dst)
    return dst


def _entry(folder, tmp_path):
    """Unpack the folder's run into a store-like entry directory (to alter and repack)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    name = manifest["runs"][0]["file"]
    files = exchange._read_run(folder, name, (folder / name).read_bytes())
    entry = tmp_path / "entry"
    entry.mkdir()
    for f, data in files.items():
        (entry / f).write_bytes(data)
    return entry, name


def _repack(folder, entry, name):
    side = [f for f in folder.iterdir() if f.suffix in (".json", ".xml") and
            f.name != "manifest.json"]
    new = entry.parent / "repacked"
    exchange.pack(new, [entry], side)
    return new


def test_session_folder_holds_the_run_the_timing_and_a_manifest(session):
    names = sorted(f.name for f in session.iterdir())
    assert names[0] == "manifest.json" and len(names) == 3
    assert any(n.startswith("run-wm-") for n in names)
    timing = json.loads(next(session.glob("timing-*.json")).read_text())
    assert timing["run"]["trials_per_condition"] >= 1
    assert timing["probes"][0]["seconds_per_epoch"] > 0
    assert exchange.check_folder(session)["runs"][0]["profile"] == "smoke"


def test_import_copies_runs_that_then_load_from_the_committed_layer(session, tmp_path,
                                                                     store_env):
    committed = tmp_path / "committed"
    written = exchange.import_results(session, committed)
    run_dir = next(p for p in written if p.parent.name == "wm")
    assert sorted(f.name for f in run_dir.iterdir()) == sorted(exchange.ENTRY_FILES)
    assert (committed / "bench").is_dir()
    meta = json.loads((run_dir / "meta.json").read_text())
    overrides = {k: meta["config"][k] for k in ("trials", "seed")}
    rr = mifd.run("wm", "smoke", "cpu", overrides, store=Store(tmp_path / "s", [committed]),
                  verbose=False)
    assert rr.loaded and rr.key == run_dir.name
    with pytest.raises(ConfigError, match="not committed yet"):
        exchange.import_results(session, committed)


def _refused(folder, tmp_path, match):
    committed = tmp_path / "committed"
    with pytest.raises(ConfigError, match=match) as e:
        exchange.import_results(folder, committed)
    assert "\n" not in str(e.value)
    assert not committed.exists()  # nothing written


def test_a_changed_byte_is_refused(session, tmp_path):
    folder = _copy(session, tmp_path)
    tar = next(folder.glob("run-*.tar"))
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 1
    tar.write_bytes(bytes(data))
    _refused(folder, tmp_path, "checksum")


def test_unlisted_and_missing_files_are_refused(session, tmp_path):
    folder = _copy(session, tmp_path)
    (folder / "extra.json").write_text("{}")
    _refused(folder, tmp_path, "unlisted")
    (folder / "extra.json").unlink()
    next(folder.glob("timing-*.json")).unlink()
    _refused(folder, tmp_path, "missing")


@pytest.mark.parametrize("field", ["wall_seconds", "machine", "code"])
def test_a_missing_provenance_field_is_refused(session, tmp_path, field):
    entry, name = _entry(session, tmp_path)
    meta = json.loads((entry / "meta.json").read_text())
    del meta[field]
    (entry / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="provenance"):
        exchange.check_folder(_repack(session, entry, name))


def test_a_run_labelled_with_another_profile_is_refused(session, tmp_path):
    """A smoke run called ``paper``: its key still follows from its config, but the config is
    not the paper profile's."""
    entry, name = _entry(session, tmp_path)
    for f in ("meta.json", "config.json"):
        d = json.loads((entry / f).read_text())
        d["profile"] = "paper"
        (entry / f).write_text(json.dumps(d))
    folder = _repack(session, entry, name)
    _refused(folder, tmp_path, "profile 'paper'")


def test_a_config_that_does_not_give_the_key_is_refused(session, tmp_path):
    entry, name = _entry(session, tmp_path)
    for f in ("meta.json", "config.json"):
        d = json.loads((entry / f).read_text())
        d["config"]["epochs"] += 1
        (entry / f).write_text(json.dumps(d))
    _refused(_repack(session, entry, name), tmp_path, "key")


def test_import_results_cli_prints_one_line_and_writes_nothing(session, tmp_path):
    folder = _copy(session, tmp_path)
    (folder / "manifest.json").write_text("{not json")
    p = subprocess.run(mifd_cmd("import-results", str(folder)), cwd=ROOT, capture_output=True,
                       text=True, env=env_with(MIFD_PROGRESS=0))
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "manifest.json" in p.stderr


def test_gpu_session_refuses_bad_arguments_before_any_work(tmp_path):
    for args, match in ((["--minutes", "0"], "--minutes"), (["--trials", "x"], "--trials"),
                        (["--profile", "huge"], "profile"),
                        (["--set", "epochs=-1"], "epochs")):
        p = subprocess.run(mifd_cmd("gpu-session", "--out", str(tmp_path / "o"), "--device",
                                    "cpu", "--no-tests", *args), cwd=ROOT, capture_output=True,
                           text=True, env=env_with(MIFD_PROGRESS=0))
        assert p.returncode == 2 and match in p.stderr, p.stderr
        assert not (tmp_path / "o").exists()


def test_choose_trials_fits_the_budget_with_its_reserve():
    # 1 s per epoch at 4 trials per condition, 100 epochs: 25 s per trial, 31.25 with reserve
    assert choose_trials(1.0, 4, 100, 320, most=20) == 10
    assert choose_trials(1.0, 4, 100, 30, most=20) == 0
    assert choose_trials(1.0, 4, 100, 1e9, most=20) == 20


def test_a_run_larger_than_the_file_limit_travels_in_parts(session, tmp_path, monkeypatch):
    entry, name = _entry(session, tmp_path)
    monkeypatch.setattr(exchange, "MAX_BYTES", 20_000)
    folder = _repack(session, entry, name)
    parts = sorted(f.name for f in folder.glob("run-*"))
    assert len(parts) >= 3 and all(p.startswith(name + ".") for p in parts)
    assert all((folder / p).stat().st_size <= 20_000 for p in parts)
    written = exchange.import_results(folder, tmp_path / "committed")
    run_dir = next(p for p in written if p.name == json.loads(
        (entry / "meta.json").read_text())["key"])
    assert (run_dir / "result.bin").read_bytes() == (entry / "result.bin").read_bytes()
    (folder / parts[1]).unlink()
    with pytest.raises(ConfigError, match="missing"):
        exchange.check_folder(folder)


def test_the_next_gpu_session_continues_after_the_committed_shards(monkeypatch):
    from mifd.gpu import session as gpu_session
    from mifd.results import shards

    fake = fake_committed_shards
    # the profile runs fp32 on CUDA: TF32 shards (made before) do not count for it
    monkeypatch.setattr(shards, "committed_shards", fake({"tf32": 6}))
    over, plan = gpu_session.next_shard("paper", "cuda", {}, None)
    assert over == {"seed": 1001, "trials": 20} and "next shard" in plan
    monkeypatch.setattr(shards, "committed_shards", fake({"fp32": 6}))
    over, plan = gpu_session.next_shard("paper", "cuda", {}, None)
    assert over == {"seed": 1007, "trials": 14} and "next shard" in plan
    assert gpu_session.next_shard("paper", "cuda", {}, 3)[0]["trials"] == 3
    monkeypatch.setattr(shards, "committed_shards", fake({"fp32": 20, "tf32": 1}))
    over, plan = gpu_session.next_shard("paper", "cuda", {}, None)
    assert over == {"sm_precision": "tf32", "seed": 1002, "trials": 3} and "tf32" in plan
    monkeypatch.setattr(shards, "committed_shards", fake({"fp32": 20, "tf32": 4}))
    assert gpu_session.next_shard("paper", "cuda", {}, None)[1].startswith("complete")
    assert gpu_session.next_shard("paper", "cuda", {"seed": 1010}, None)[0] == {"seed": 1010}


def test_a_session_runs_bimt_from_the_first_seed_and_refuses_an_unknown_experiment(tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("MIFD_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    with pytest.raises(mifd.ConfigError, match="parameter 'experiment': got 'wm-audit'"):
        run_session(tmp_path / "x", minutes=1, device="cpu", profile="smoke", tests=False,
                    experiment="wm-audit")
    out = run_session(tmp_path / "o", minutes=3, device="cpu", profile="smoke", tests=False,
                      probe_trials=1, experiment="bimt")
    names = sorted(f.name for f in out.iterdir())
    assert any(n.startswith("run-bimt-") for n in names), names
    timing = json.loads(next(out.glob("timing-bimt-*.json")).read_text())
    assert timing["experiment"] == "bimt" and timing["plan"] == "bimt from the first seed"
    assert timing["probes"][0]["trials_batched"] == len(
        mifd.get_experiment("bimt").config("smoke").layout().conditions)
    assert exchange.check_folder(out)["runs"][0]["experiment"] == "bimt"


def test_a_session_runs_growing_brains(tmp_path, monkeypatch):
    """The published-size Growing Brains run fits the GPU command the same way (here: the smoke
    profile on the CPU; a probe "epoch" is one training step)."""
    pytest.importorskip("neurogym")
    monkeypatch.setenv("MIFD_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    out = run_session(tmp_path / "gb", minutes=3, device="cpu", profile="smoke", tests=False,
                      probe_trials=1, experiment="growing-brains")
    timing = json.loads(next(out.glob("timing-*.json")).read_text())
    assert timing["experiment"] == "growing-brains" and timing["run"]["trials_per_condition"] >= 1
    assert timing["run"]["epochs"] == mifd.get_experiment("growing-brains").config("smoke").steps
    assert exchange.check_folder(out)["runs"][0]["experiment"] == "growing-brains"


def test_a_separation_session_runs_its_gpu_profile(tmp_path, monkeypatch):
    """A separation session runs the ``gpu`` profile unless told (the Triton GRU and TF32 critic
    on CUDA; refused in one line on a CPU without the interpreter, before any work); the
    profile keeps the published N, batch, trials and conditions; another experiment refuses it."""
    from mifd.gpu.session import plan_args
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert plan_args(None, None, "separation")[:2] == ["--experiment", "separation"]
    assert "--profile" not in plan_args(None, None, "separation")
    with pytest.raises(mifd.ConfigError, match="parameter 'profile': got 'paper' for a "
                                               "separation GPU session"):
        plan_args("paper", None, "separation")
    with pytest.raises(mifd.ConfigError, match="parameter 'profile'"):
        run_session(tmp_path / "y", minutes=1, device="cpu", tests=False, profile="paper",
                    experiment="separation")
    with pytest.raises(mifd.ConfigError, match="parameter 'gru_kernel'"):
        run_session(tmp_path / "x", minutes=1, device="cpu", tests=False,
                    experiment="separation", overrides={"gru_kernel": "triton"})
    assert not (tmp_path / "x").exists()
    exp = mifd.get_experiment("separation")
    cfg = exp.config("gpu", device="cuda")
    assert (cfg.n, cfg.batch, cfg.trials, len(cfg.layout().conditions)) == (100, 50, 20, 3)
    assert (cfg.gru_kernel, cfg.sm_precision) == ("triton", "tf32")
    assert exp.config("gpu").gru_kernel == "torch"  # as on a CPU
    with pytest.raises(mifd.ConfigError, match="parameter 'profile': got 'gpu' for wm"):
        mifd.get_experiment("wm").config("gpu")


def test_the_plan_ladder_shortens_sequences_and_steps_together():
    from mifd.gpu.plan import SESSION_PLANS, choose_rung, plan_ladder
    p = SESSION_PLANS[("separation", "gpu")]
    ladder = plan_ladder(p["lengths"], p["steps"])
    assert ladder[:8] == [(10000, 4000), (5000, 4000), (5000, 2000), (2000, 2000), (2000, 1000),
                          (2000, 500), (1000, 500), (1000, 250)]
    assert ladder[-1] == (250, 100) and len(set(ladder)) == len(ladder)
    # 1 s per MM step at length 1000, 1000 s: length × steps × 1.25 / 1000 ≤ 1000
    assert choose_rung(1.0, 1000, 0, 1000.0, ladder, None) == (1000, 500)
    # 400 pre-training MM-step equivalents push it one rung down: (500 + 400) × 1.25 > 1000
    assert choose_rung(1.0, 1000, 0, 1000.0, ladder, None, extra_steps=400) == (1000, 250)
    # evaluations cost the same at any number of steps: 300 s of them, (500 + 300) × 1.25
    assert choose_rung(1.0, 1000, 0, 1000.0, ladder, None, fixed_seconds=300) == (1000, 500)
    assert choose_rung(1.0, 1000, 0, 1000.0, ladder, None, fixed_seconds=400) == (1000, 250)
    # memory: 30 GB at length 1000 on an 80 GB device allows length ≤ 2266
    assert choose_rung(1e-9, 1000, 30e9, 1e9, ladder, 80e9) == (2000, 2000)
    assert choose_rung(1.0, 1000, 0, 1.0, ladder, None) is None


def test_a_planned_session_keeps_the_trials_and_shortens_to_fit(tmp_path, monkeypatch):
    """A session with a plan (here a tiny one for the smoke profile on the CPU): the probe runs
    all the trials at the short probe settings, the longest rung that fits is trained, and the
    timing file says which and why; a probe out of memory is retried with smaller SM-pass
    groups."""
    from mifd.gpu import session as gpu_session
    monkeypatch.setenv("MIFD_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    plan = {"probe": {"length": 20, "mm_steps": 6, "pre_steps": 1}, "lengths": (40, 20),
            "steps": (4, 2), "snapshots": 2}
    monkeypatch.setitem(gpu_session.SESSION_PLANS, ("separation", "smoke"), plan)
    monkeypatch.setitem(exchange.PLANNED_FIELDS, "smoke", exchange.PLANNED_FIELDS["gpu"])
    real, calls = gpu_session.probe, []

    def flaky(experiment, cfg, device):
        calls.append(cfg.sm_pass_group)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        assert (cfg.length, cfg.mm_steps, cfg.pre_steps) == (20, 6, 1)
        return real(experiment, cfg, device)

    monkeypatch.setattr(gpu_session, "probe", flaky)
    out = run_session(tmp_path / "o", minutes=3, device="cpu", profile="smoke", tests=False,
                      experiment="separation")
    assert calls == [0, 10]
    timing = json.loads(next(out.glob("timing-separation-*.json")).read_text())
    assert timing["probes"][0]["out_of_memory"] and "seconds_per_eval" in timing["probes"][1]
    chosen = timing["plan_by_measurement"]
    assert chosen["rung"] == [40, 4] and chosen["projected_paper_minutes"] > 0
    assert (chosen["overrides"]["length"], chosen["overrides"]["eval_every"]) == (40, 2)
    assert timing["run"]["epochs"] == 4 and "wall_seconds" in timing["run"]
    assert timing["run"]["trials_per_condition"] == \
        mifd.get_experiment("separation").config("smoke").trials
    assert exchange.check_folder(out)["runs"][0]["experiment"] == "separation"
    assert set(chosen["overrides"]) - set(exchange.RUN_FIELDS) <= set(
        exchange.PLANNED_FIELDS["gpu"])  # the import accepts exactly what a plan chooses
    monkeypatch.delitem(exchange.PLANNED_FIELDS, "smoke")
    with pytest.raises(ConfigError, match="config field 'length'"):
        exchange.check_folder(out)  # not a planned profile: its fields are the profile's
    # a caller who fixes the steps gets the fixed settings and no plan
    monkeypatch.setattr(gpu_session, "probe", real)
    out2 = run_session(tmp_path / "p", minutes=3, device="cpu", profile="smoke", tests=False,
                       experiment="separation", overrides={"mm_steps": 2}, probe_trials=1)
    assert "plan_by_measurement" not in json.loads(
        next(out2.glob("timing-separation-*.json")).read_text())
    # a probe that fails with the Triton GRU is planned again with the reference loop
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setitem(exchange.PLANNED_FIELDS, "smoke", exchange.PLANNED_FIELDS["gpu"])
    kernels = []

    def no_triton(experiment, cfg, device):
        kernels.append(cfg.gru_kernel)
        if cfg.gru_kernel != "torch":
            raise RuntimeError("triton: out of resources (shared memory)")
        return real(experiment, cfg, device)

    monkeypatch.setattr(gpu_session, "probe", no_triton)
    out3 = run_session(tmp_path / "t", minutes=3, device="cpu", profile="smoke", tests=False,
                       experiment="separation", overrides={"gru_kernel": "triton"})
    timing = json.loads(next(out3.glob("timing-separation-*.json")).read_text())
    assert kernels == ["triton", "torch"] and "out of resources" in timing["fallback"]["error"]
    assert timing["plan_by_measurement"]["overrides"]["gru_kernel"] == "torch"
    assert exchange.check_folder(out3)["runs"][0]["experiment"] == "separation"
    # a run that fails after its probe: the folder still comes back, with the error
    monkeypatch.setattr(gpu_session, "probe", real)
    from mifd.results import runner
    monkeypatch.setattr(runner, "run", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("CUDA error: an illegal memory access")))
    out4 = run_session(tmp_path / "e", minutes=3, device="cpu", profile="smoke", tests=False,
                       experiment="separation")
    timing = json.loads(next(out4.glob("timing-separation-*.json")).read_text())
    assert "illegal memory access" in timing["run"]["error"] and "probes" in timing
    assert exchange.check_folder(out4)["runs"] == []
    # any other error of a probe is not taken for memory
    monkeypatch.setattr(gpu_session, "probe", lambda *a: (_ for _ in ()).throw(
        RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_session(tmp_path / "q", minutes=3, device="cpu", profile="smoke", tests=False,
                    experiment="separation")


def test_the_performance_tables_read_the_committed_sessions(tmp_path):
    """``session_table`` and ``kernel_table`` from hand-built timing files: a wm session (probes
    and projection) and a planned separation session (its rung, the projected published run
    and the kernel timings)."""
    from mifd.gpu.tables import kernel_table, session_table
    base = tmp_path / exchange.SESSIONS
    wm = {"experiment": "wm", "machine": {"gpu": "H100"}, "code": {"git_commit": "abc"},
          "tests": {"returncode": 0}, "probes": [{"seconds_per_epoch": 0.5,
                                                  "trials_per_condition": 8}],
          "run": {"trials_per_condition": 8, "seed": 0, "wall_seconds": 400.0},
          "projection": {"seconds_per_trial_epoch_whole_run": 0.01,
                         "projected_profile_minutes_at_this_batch": 20.0}}
    sep = {"experiment": "separation", "machine": {"gpu": "H200"}, "code": {},
           "probes": [{"trials_per_condition": 20, "out_of_memory": True},
                      {"seconds_per_epoch": 0.2, "trials_per_condition": 20}],
           "run": {"trials_per_condition": 20, "seed": 625, "wall_seconds": 300.0},
           "plan_by_measurement": {"rung": [2000, 500], "projected_paper_minutes": 2666.7},
           "kernels": {"gru_states": {"trials": 8, "batch": 20, "steps": 2000,
                                      "seconds_per_step": {"reference loop": 1e-4,
                                                           "triton fp32": 1e-5}}}}
    for name, rec in (("20261101-000000", wm), ("20261102-000000", sep)):
        (base / name).mkdir(parents=True)
        (base / name / f"timing-{rec['experiment']}-x.json").write_text(json.dumps(rec))
    t = session_table(tmp_path).set_index("experiment")
    assert t.loc["wm", "projected whole profile, min (at this batch)"] == 20.0
    assert t.loc["wm", "planned (length, MM steps)"] == "—"
    assert t.loc["separation", "planned (length, MM steps)"] == (2000, 500)
    assert t.loc["separation", "projected published run, min"] == 2666.7
    assert t.loc["separation", "run: seeds"] == "625–644"
    k = kernel_table(tmp_path)
    assert list(k["implementation"]) == ["reference loop", "triton fp32"]
    assert set(k["device"]) == {"H200"} and list(k["speed-up"]) == [1.0, 10.0]


def test_when_memory_holds_the_run_back_the_plan_probes_smaller_pass_groups(monkeypatch):
    """A probe whose peak memory rules out a rung that time allows is repeated with fewer
    statistics-network passes per group; the smaller group's lower peak lets the longer rung in.
    Probes are stand-ins (seconds and bytes chosen here)."""
    import time
    from mifd.gpu import session as gpu_session
    plan = {"probe": {"length": 20, "mm_steps": 6, "pre_steps": 1}, "lengths": (80, 40, 20),
            "steps": (4, 2), "snapshots": 2}
    monkeypatch.setitem(gpu_session.SESSION_PLANS, ("separation", "smoke"), plan)
    groups = []

    def fake(experiment, cfg, device):
        groups.append(cfg.sm_pass_group)
        peak = {0: 40e9, 10: 20e9}.get(cfg.sm_pass_group, 10e9)  # at length 20
        return {"seconds_per_epoch": 0.01, "seconds_per_eval": 0.0, "peak_memory_bytes": peak,
                "trials_batched": 3, "seconds_per_trial_epoch": 0.0, "setup_seconds": 0.0}

    monkeypatch.setattr(gpu_session, "probe", fake)
    got = gpu_session.plan_by_measurement("separation", "smoke", {}, "cpu",
                                          time.monotonic() + 600, 1, memory_bytes=100e9)
    # length 80 needs 4 × the probe's peak: 160 GB at group 0 (over 85 % of 100 GB: only
    # length 40 would fit), 80 GB at group 10 (fits)
    assert groups == [0, 10] and got["rung"] == (80, 4)
    assert got["overrides"]["sm_pass_group"] == 10 and got["trials"] == 1
