"""Nothing non-finite, nothing unusable stored; bad inputs stopped before training (issue: trust).
Each test reproduces a failure of the earlier behaviour."""

import json
import os
import subprocess
import warnings

import numpy as np
import pytest
import torch

import mifd
from mifd.mine import NonFiniteError
from mifd.results.runner import check_finite
from mifd.results.store import Store

from conftest import ROOT, env_with, mifd_cmd

TINY = {"trials": 1, "epochs": 1, "audit_steps": 0}


@pytest.mark.parametrize("key,value", [("lambda_mi", "inf"), ("l2", "1e39"), ("sigma", "nan"),
                                       ("seed", "1e30"), ("lambda_mi", "-inf")])
def test_non_finite_and_out_of_range_parameters_are_refused_before_any_work(key, value, tmp_path):
    p = subprocess.run(mifd_cmd("run", "wm", "--profile", "smoke", "--set", f"{key}={value}"),
                       cwd=ROOT, capture_output=True, text=True,
                       env=env_with(MIFD_STORE=tmp_path / "s", MIFD_PROGRESS=0))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and f"'{key}'" in p.stderr
    assert not (tmp_path / "s").exists()


def test_a_non_finite_network_is_not_stored_as_finished():
    ok = {"hist": {"task": np.zeros((3, 4)), "reg": np.zeros((3, 4))},
          "weights": {"W": np.zeros((2, 4, 3, 3))}}
    check_finite(ok, ("mi", "no_mi"))
    bad = {"hist": {"task": np.zeros((3, 4)), "reg": np.zeros((3, 4))},
           "weights": {"W": np.zeros((2, 4, 3, 3))}}
    bad["hist"]["reg"][-1, 3] = np.inf
    bad["weights"]["W"][-1, 3] = np.nan
    with pytest.raises(NonFiniteError, match=r"3 \(no_mi trial 1\).*weights W"):
        check_finite(bad, ("mi", "no_mi"))


@pytest.mark.parametrize("last", [False, True])
def test_a_diverged_run_is_refused_and_stores_nothing(tmp_path, monkeypatch, last):
    """A network whose weights became NaN in training (simulated: the per-variable clipping
    keeps the real updates finite) is not stored as finished (it was at 40927dd): refused at
    the next checkpoint by the finite watch, naming the term, trial and step, or at the end."""
    from mifd.experiments.wm import WMTrainUnit
    step = WMTrainUnit.step
    at = 3 if last else 2  # the run has steps 0 (pre-training), 1, 2, 3

    def diverging(self, i):
        if i == at:
            with torch.no_grad():
                self.problem.model.W_rec[1].fill_(float("nan"))
        step(self, i)
    monkeypatch.setattr(WMTrainUnit, "step", diverging)
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    monkeypatch.setenv("MIFD_CHECKPOINT_SECONDS", "0")
    store = Store(tmp_path / "s", [])
    want = (r"trial\(s\) 1 \(mi trial 1\)" if last else
            r"RNN activities is not finite in trial\(s\) 1 \(mi trial 1\) at MM step 2 "
            r"\(or the SM steps before it\); it is fed by the RNN's weights")
    with pytest.raises(NonFiniteError, match=want):
        mifd.run("wm", "smoke", "cpu", {**TINY, "trials": 2, "epochs": 3}, store=store,
                 verbose=False)
    assert not list((tmp_path / "s").rglob("result.bin"))


@pytest.mark.parametrize("term,make", [
    ("L2 term", lambda tr: setattr(tr.problem, "reg_loss", lambda: torch.full_like(
        tr.lambda_mi, float("inf")))),
    ("MM loss", lambda tr: tr.lambda_mi.fill_(float("inf"))),
    ("critic mean T_joint", lambda tr: [p.data.fill_(float("nan"))
                                        for p in tr.critic.parameters()]),
])
def test_the_finite_watch_names_the_term(term, make, monkeypatch):
    """Each term of the MM and SM losses is watched: the first non-finite one is named, with
    its step and trials, at the next read (here: the checkpoint's state)."""
    from mifd.experiments.wm import WMConfig, WMTrainUnit
    from mifd.config import apply_overrides
    from mifd.finite import TermNotFinite
    cfg = apply_overrides(WMConfig(), {**mifd.EXPERIMENTS["wm"].profiles["smoke"], **TINY})
    unit = WMTrainUnit(cfg, "cpu")
    unit.step(0)
    unit.state_dict()  # finite so far
    make(unit.trainer)
    unit.step(1)
    with pytest.raises(TermNotFinite, match=f"^{term} is not finite in trial\\(s\\) .*MM step 1"):
        unit.state_dict()


def test_the_finite_watch_keeps_the_first_step_across_a_resume():
    from mifd.finite import FiniteWatch, TermNotFinite
    w = FiniteWatch({"a": "x", "b": "y"}, 3, "cpu")
    w.observe("a", torch.ones(3))
    w.step = 4
    w.observe("b", torch.tensor([1.0, float("nan"), 1.0]))
    w.step = 5
    w.observe("a", torch.tensor([float("inf"), float("nan"), 1.0]))
    again = FiniteWatch({"a": "x", "b": "y"}, 3, "cpu")
    again.load_state_dict(w.state_dict())
    with pytest.raises(TermNotFinite) as e:
        again.check()
    assert (e.value.term, e.value.trials, e.value.step) == ("b", [1], 4)
    FiniteWatch({"a": "x"}, 2, "cpu").check()  # nothing seen: no error


@pytest.mark.parametrize("name", ["meta.json", "config.json"])
@pytest.mark.parametrize("damage", ["garbage", "delete", "list"])
def test_a_damaged_or_missing_json_file_means_recompute_with_a_warning(name, damage, tmp_path,
                                                                       monkeypatch):
    """A damaged, deleted or non-object ``meta.json`` or ``config.json``: one warning naming it,
    the entry recomputed and the file rewritten, then a clean load."""
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    store = Store(tmp_path / "s", [])
    first = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    path = first.path / name
    good = json.loads(path.read_text())
    if damage == "garbage":
        path.write_text("{not json")
    elif damage == "delete":
        path.unlink()
    else:
        path.write_text("[1, 2]")
    with pytest.warns(UserWarning, match=name):
        again = mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False)
    assert not again.loaded and again.meta.get("code")
    rewritten = json.loads(path.read_text())
    assert rewritten["key"] == first.key if name == "meta.json" else rewritten == good
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mifd.run("wm", "smoke", "cpu", TINY, store=store, verbose=False).loaded


def test_out_that_is_a_file_or_unwritable_is_refused_before_training(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    env = env_with(MIFD_STORE=tmp_path / "s", MIFD_PROGRESS=0)
    p = subprocess.run(mifd_cmd("run", "wm", "--profile", "smoke", "--out", str(f)), cwd=ROOT,
                       capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "parameter 'out'" in p.stderr and p.stderr.count("\n") == 1
    assert not (tmp_path / "s").exists()
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        p = subprocess.run(mifd_cmd("run", "wm", "--profile", "smoke", "--out", str(ro / "x")),
                           cwd=ROOT, capture_output=True, text=True, env=env)
        assert p.returncode == 2 and "parameter 'out'" in p.stderr
    # a folder under a file cannot be made, even by root
    p = subprocess.run(mifd_cmd("run", "wm", "--profile", "smoke", "--out", str(f / "sub")),
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "parameter 'out'" in p.stderr
    assert not (tmp_path / "s").exists()


def test_the_same_config_started_twice_trains_once(tmp_path):
    env = env_with(MIFD_STORE=tmp_path / "s", MIFD_PROGRESS=0)
    cmd = mifd_cmd("run", "wm", "--profile", "smoke", "--set", "epochs=3", "--out",
                   str(tmp_path / "o"))
    a = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    b = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    outs = [p.communicate(timeout=600) for p in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, outs
    text = " ".join(o for o, _ in outs)
    assert text.count("trained now") == 1 and text.count("loaded from the results store") == 1
    waited = [e for _, e in outs if "waiting for it" in e]
    assert len(waited) <= 1 and all(e.count("\n") == 1 for e in waited)


def test_ctrl_c_finishes_the_step_checkpoints_and_exits_130(tmp_path):
    import signal
    import time
    env = env_with(MIFD_STORE=tmp_path / "s", MIFD_PROGRESS=0, MIFD_CHECKPOINT_SECONDS=3600)
    cmd = mifd_cmd("run", "wm", "--profile", "smoke", "--set", "epochs=400", "--set",
                   "audit_steps=0")
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    deadline = time.time() + 300
    while not list((tmp_path / "s").rglob("config.json")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # training under way
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err
    ckpt = list((tmp_path / "s").rglob("checkpoint.bin"))
    assert ckpt  # written although the throttle (an hour) was not due
    from mifd.results.store import load_blob
    assert load_blob(ckpt[0])["step"] >= 1


def test_force_discards_a_checkpoint_instead_of_resuming_it(tmp_path, monkeypatch):
    from mifd.results.runner import RunPaused
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    store = Store(tmp_path / "s", [])
    over = {"trials": 1, "epochs": 4, "audit_steps": 0}
    with pytest.raises(RunPaused):
        mifd.run("wm", "smoke", "cpu", over, store=store, verbose=False, max_seconds=0)
    assert list((tmp_path / "s").rglob("checkpoint.bin"))
    rr = mifd.run("wm", "smoke", "cpu", over, store=store, verbose=False, force=True)
    assert rr.meta["resumed_from"] is None


def test_a_full_disk_gives_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    """Issue (trust) item 7: ENOSPC gave a traceback and left .checkpoint.bin.tmp-<pid> forever."""
    import errno

    from mifd import cli
    from mifd.results import store

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv("MIFD_STORE", str(tmp_path / "s"))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    monkeypatch.setattr(store.os, "fsync", full)
    rc = cli.main(["run", "wm", "--profile", "smoke", "--device", "cpu", "--out",
                   str(tmp_path / "out"), "--set", "epochs=1", "--set", "audit_steps=0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "No space left on device" in err[0]
    assert "MIFD_STORE" in err[0]
    assert not list(tmp_path.rglob("*.tmp-*"))


@pytest.mark.parametrize("key,value", [("epochs", "1000000000"), ("steps", "1000000000")])
def test_a_config_too_large_for_memory_is_refused_before_any_work(key, value, tmp_path):
    """Issue (trust) item 6: epochs=1e9 or steps=1e9 passed validation, then MemoryError and an
    orphan config.json."""
    p = subprocess.run(mifd_cmd("run", "wm", "--profile", "smoke", "--set", f"{key}={value}"),
                       cwd=ROOT, capture_output=True, text=True,
                       env=env_with(MIFD_STORE=tmp_path / "s", MIFD_PROGRESS=0))
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "needs at least" in p.stderr and "GiB available" in p.stderr
    assert not (tmp_path / "s").exists()


def test_the_memory_bound_counts_what_a_run_allocates():
    exp = mifd.get_experiment("wm")
    cfg = exp.config("smoke")
    base = exp.memory(cfg)
    more = exp.memory(exp.config("smoke", {"epochs": cfg.epochs + 1000}))
    # 5 float32 histories per epoch and trial
    assert more - base == 4 * 5 * 1000 * len(cfg.conditions) * cfg.trials
    sep = mifd.get_experiment("separation")
    assert sep.memory(sep.config("paper")) > 30 * 2**30  # the published run: tens of GiB


def test_a_summary_counts_the_values_it_could_not_use():
    from mifd.results.result import summarize
    s = summarize({"mi": {"q": [0.1, float("nan"), 0.3, float("inf")]}})["mi"]["q"]
    assert (s["n"], s["nonfinite"]) == (2, 2) and s["mean"] == pytest.approx(0.2)
