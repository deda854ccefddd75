"""Results store: atomic, checksummed files; repeat loads; corruption recomputed; kill-and-resume."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

import mifd
from mifd.results.store import CorruptFileError, Store, atomic_write_bytes, dump_blob, load_blob

from conftest import mifd_cmd, env_with

SMALL = {"critics": ("separable/gaussian",), "ps_steps": 3, "game_steps": 2}


def test_blob_roundtrip_and_corruption_detected(tmp_path):
    p = tmp_path / "x.bin"
    dump_blob(p, {"a": np.arange(5), "b": torch.ones(3)})
    assert load_blob(p)["a"].tolist() == [0, 1, 2, 3, 4]
    raw = p.read_bytes()
    p.write_bytes(raw[:-3])  # truncated
    with pytest.raises(CorruptFileError):
        load_blob(p)
    p.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # one flipped bit
    with pytest.raises(CorruptFileError):
        load_blob(p)


def test_blob_stores_arrays_near_their_size_and_converts_the_old_format(tmp_path):
    """Arrays cost their bytes (``.npy`` members of a zip) and load bit-equal; a file of the
    former pickle format is refused with one line naming ``mifd convert-results``, which
    converts it exactly (and only verifies it the second time)."""
    import hashlib
    import io
    from mifd.results.store import LegacyFormatError, convert_file
    rng = np.random.default_rng(0)
    obj = {"w": rng.standard_normal((50, 40, 40)).astype(np.float32), "n": [1, 2.5, "x"]}
    p = tmp_path / "x.bin"
    dump_blob(p, obj)
    assert p.stat().st_size < 1.02 * obj["w"].nbytes + 4096
    back = load_blob(p)
    assert back["w"].dtype == np.float32 and np.array_equal(back["w"], obj["w"])
    assert back["n"] == obj["n"]
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=4)  # the former format
    old = tmp_path / "old.bin"
    old.write_bytes(hashlib.sha256(buf.getvalue()).hexdigest().encode() + b"\n" + buf.getvalue())
    with pytest.raises(LegacyFormatError, match="mifd convert-results") as e:
        load_blob(old)
    assert "\n" not in str(e.value) and isinstance(e.value, mifd.ConfigError)
    assert convert_file(old)["status"] == "converted"
    again = load_blob(old)
    assert again["w"].dtype == np.float32 and np.array_equal(again["w"], obj["w"])
    assert again["n"] == obj["n"]
    raw = old.read_bytes()
    assert convert_file(old)["status"] == "current" and old.read_bytes() == raw


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    p = tmp_path / "d" / "f.json"
    atomic_write_bytes(p, b"1")
    atomic_write_bytes(p, b"2")
    assert p.read_bytes() == b"2"
    assert [q.name for q in p.parent.iterdir()] == ["f.json"]


def test_repeat_loads_and_corrupt_result_is_recomputed(store_env):
    r1 = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False)
    assert not r1.loaded
    r2 = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False)
    assert r2.loaded and r2.key == r1.key and r2.summary == r1.summary
    # a different config is a different key
    r3 = mifd.run("mine-gaussian", "smoke", "cpu", {**SMALL, "seed": 1}, verbose=False)
    assert r3.key != r1.key and not r3.loaded
    # corrupt the stored result: detected (warning), recomputed, never used
    path = r1.path / "result.bin"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="checksum mismatch"):
        r4 = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False)
    assert not r4.loaded and r4.summary == r1.summary
    assert load_blob(path)  # rewritten intact


def test_committed_layer_is_read_only_fallback(tmp_path, store_env):
    committed = tmp_path / "committed"
    r1 = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False,
                  store=Store(tmp_path / "elsewhere", []))
    (committed / "mine-gaussian").mkdir(parents=True)
    os.rename(r1.path, committed / "mine-gaussian" / r1.key)
    r2 = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False,
                  store=Store(store_env, [committed]))
    assert r2.loaded and r2.path == committed / "mine-gaussian" / r1.key



def test_iter_entries_walks_the_layout_committed_layers_first(tmp_path):
    own, c1, c2 = tmp_path / "own", tmp_path / "c1", tmp_path / "c2"
    for root, exp, key in [(own, "wm", "k3"), (c1, "wm", "k2"), (c1, "wm", "k1"),
                           (c2, "separation", "k4"), (c1, "wm", "no-meta")]:
        (root / exp / key).mkdir(parents=True)
        if key != "no-meta":
            (root / exp / key / "meta.json").write_text("{}")
    store = Store(own, [c1, c2])
    got = [(e.path.parent.name, e.path.name, e.readonly) for e in store.iter_entries()]
    assert got == [("wm", "k1", True), ("wm", "k2", True), ("separation", "k4", True)]
    assert [e.path.name for e in store.iter_entries("wm", own=True)] == ["k1", "k2", "k3"]
    assert not list(store.iter_entries("wm", own=True))[-1].readonly

def _arrays(obj, prefix=""):
    """Every numpy array inside a nested result, by path."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_arrays(v, f"{prefix}/{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_arrays(v, f"{prefix}/{i}"))
    elif isinstance(obj, np.ndarray):
        out[prefix] = obj
    return out


@pytest.mark.parametrize("experiment,sets,kill_at", [
    ("mine-gaussian", ["critics=separable/gaussian", "steps_per_stage=400", "tail=50",
                       "ps_steps=3", "game_steps=2"], 150),
    ("wm", ["epochs=80"], 30),
    ("separation", ["mm_steps=200"], 60),
])
def test_kill_and_resume_loses_nothing(tmp_path, store_env, experiment, sets, kill_at):
    overrides = dict(s.split("=") for s in sets)
    args = mifd_cmd("run", experiment, "--profile", "smoke", "--device", "cpu",
                    "--out", str(tmp_path), *sum((["--set", s] for s in sets), []))
    env = env_with(MIFD_CHECKPOINT_SECONDS=0.05)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    exp = mifd.get_experiment(experiment)
    key = mifd.config.config_hash(experiment, exp.config("smoke", overrides), mifd.__version__)
    ckpt = store_env / experiment / key / "checkpoint.bin"
    deadline = time.time() + 120
    step = 0
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            try:
                step = load_blob(ckpt)["step"]
            except (CorruptFileError, OSError, EOFError):
                step = 0
            if step >= kill_at:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "run finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert step >= kill_at
    saved = load_blob(ckpt)  # the checkpoint survived the kill intact
    resumed = mifd.run(experiment, "smoke", "cpu", overrides, verbose=False)
    assert not resumed.loaded and resumed.meta["resumed_from"] >= step
    assert set(saved["done"]) <= set(resumed.result["units"] if "units" in resumed.result
                                      else ["train"])
    fresh = mifd.run(experiment, "smoke", "cpu", overrides, verbose=False, force=True,
                     store=Store(tmp_path / "fresh", []))
    a, b = _arrays(resumed.result), _arrays(fresh.result)
    assert a.keys() == b.keys() and len(a) > 3
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert resumed.summary == fresh.summary


def test_commit_results_copies_a_finished_run_into_the_committed_layer(tmp_path, store_env):
    from mifd.results.runner import commit_results
    store = Store(tmp_path / "own", [tmp_path / "committed"])
    with pytest.raises(mifd.ConfigError, match="a run finished in the store"):
        commit_results("mine-gaussian", "smoke", SMALL, store=store)
    r1 = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False, store=store)
    dst = commit_results("mine-gaussian", "smoke", SMALL, store=store)
    assert {p.name for p in dst.iterdir()} == {"result.bin", "meta.json", "config.json"}
    fresh = mifd.run("mine-gaussian", "smoke", "cpu", SMALL, verbose=False,
                     store=Store(tmp_path / "empty", [tmp_path / "committed"]))
    assert fresh.loaded and fresh.summary == r1.summary and fresh.meta["key"] == r1.key


def test_a_run_in_time_budgeted_chunks_equals_an_uninterrupted_run(tmp_path, store_env):
    """``max_seconds`` (``mifd run --max-minutes``): each call pauses with a checkpoint, the
    next resumes; the finished run equals one run in a single call."""
    from mifd.results.runner import RunPaused
    overrides = {"epochs": 6}
    pauses = 0
    while True:
        try:
            chunked = mifd.run("wm", "smoke", "cpu", overrides, verbose=False, max_seconds=0.0)
            break
        except RunPaused as e:
            pauses += 1
            assert "run the same command again" in str(e) and pauses < 100
    assert pauses >= 5 and chunked.meta["resumed_from"]
    # the provenance's wall time covers every chunk, not only the last call
    assert chunked.meta["wall_seconds"] > chunked.meta["wall_seconds_last_call"]
    fresh = mifd.run("wm", "smoke", "cpu", overrides, verbose=False, force=True,
                     store=Store(tmp_path / "fresh", []))
    a, b = _arrays(chunked.result), _arrays(fresh.result)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_cli_max_minutes_pauses_with_exit_code_3_and_rejects_bad_values(tmp_path, store_env):
    base = mifd_cmd("run", "wm", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path))
    p = subprocess.run(base + ["--max-minutes", "0"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 3 and "run the same command again" in p.stderr
    p = subprocess.run(base + ["--max-minutes", "soon"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "parameter '--max-minutes': got 'soon'" in p.stderr
