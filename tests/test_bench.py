"""`mifd bench` at tiny sizes: it runs, reports every field, and rejects bad arguments."""

import json
import subprocess

from conftest import mifd_cmd

TINY = ["--set", "n=8", "--set", "batch=2", "--set", "transient=10", "--set", "steps=20",
        "--set", "sm_width=8", "--set", "sm_samples=32", "--set", "sm_per_mm=2",
        "--set", "eval_batch=2", "--set", "length=30", "--set", "loss_from=5"]


def test_bench_writes_json_with_every_field(tmp_path):
    out = tmp_path / "b.json"
    p = subprocess.run(mifd_cmd("bench", "--device", "cpu", "--trials", "1,2", "--epochs", "1",
                                "--experiments", "wm,separation", "--out", str(out), *TINY),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    assert res["matmul_peak_flops"] > 0
    assert [(r["experiment"], r["impl"], r["trials"]) for r in res["rows"]] == [
        ("wm", "mifd", 1), ("wm", "mifd", 2), ("wm", "port", 1),
        ("separation", "mifd", 1), ("separation", "mifd", 2)]
    assert res["rows"][2]["speedup_of_mifd"] > 0 and "faster" in p.stdout
    for r in res["rows"]:
        assert r["s_per_trial_epoch"]["median"] > 0 and r["flops_per_trial_epoch"]["sm"] > 0
        assert 0 < r["fraction_of_matmul_peak"] and r["projected_paper_hours"] > 0


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


def test_bench_times_the_one_pass_option_beside_the_default(tmp_path):
    out = tmp_path / "b.json"
    p = subprocess.run(mifd_cmd("bench", "--device", "cpu", "--trials", "1", "--epochs", "1",
                                "--experiments", "wm", "--no-port", "--one-pass",
                                "--out", str(out), *TINY[:-4]), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["impl"] for r in rows] == ["mifd", "mifd+1pass"]
