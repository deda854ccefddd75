"""The harness that runs the authors' TensorFlow code beside ours (mifd.authors, issue 39).

Everything but the last test runs without TensorFlow: the settings and seeds are checked, a
dump written with the driver's own writers (random arrays) is turned into a record whose
metrics are mifd.metrics' on the same arrays, bad dumps are refused, and the orchestration
(one process per seed, resumable, each recorded and committed to git as it finishes) runs a
stand-in for the TensorFlow Python. The last test trains the authors' code for two epochs when
a TensorFlow Python and their checkout are there (MIFD_AUTHORS_PYTHON, MIFD_AUTHORS_CODE)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mifd import metrics
from mifd.authors import driver, record, run
from mifd.config import ConfigError
from mifd.results.blobs import load_blob

TINY = {"epochs": 3, "width": 8, "snapshot_every": 2, "batch": 2, "steps": 30, "transient": 10,
        "pre_steps": 1}
COMMIT = "59a2f799a05e193ee2f29b963675f13b0ec6da11"


def fake_dump(out: Path, settings: dict, seed: int = 1001, commit: str = COMMIT) -> dict:
    """A finished dump with random arrays, written by the driver's own writers."""
    s = driver.check_settings({**settings, "seed": seed})
    rng = np.random.default_rng(seed)
    n, b, L, E = 40, int(s["batch"]), int(s["steps"]), int(s["epochs"])
    out.mkdir(parents=True, exist_ok=True)
    epochs = sorted({0, *range(int(s["snapshot_every"]), E + 1, int(s["snapshot_every"])), E})
    for e in epochs:
        driver.write_snapshot(out, e, {
            "W_rec": rng.normal(size=(n, n)), "W_in": rng.normal(size=(4, n)),
            "W_out": rng.normal(size=(n, 2)), "b": rng.normal(size=n), "b_out": np.zeros(2),
            "H": rng.normal(size=(b, L, n)), "y": rng.normal(size=(b, L, 2)),
            "target": np.sign(rng.normal(size=(b, L, 2)))})
    np.savez(out / "history.npz", pre_mi=np.float64(0.1),
             **{k: rng.normal(size=E) for k in driver.HISTORY})
    driver.write_json(out / "done.json", {"settings": s, "authors_commit": commit,
                                          "tensorflow": "2.15.1", "wall_seconds": 1.0})
    return s


def test_settings_are_the_published_ones_but_the_width_and_bad_ones_are_refused():
    s = driver.check_settings({})
    assert s == {"seed": 1001, "width": 64, "epochs": 1000, "pre_steps": 100, "sm_per_mm": 10,
                 "lambda_mi": 0.1, "snapshot_every": 25, "batch": 20, "steps": 2000,
                 "transient": 1000, "init_from": 0}
    assert driver.check_settings({"width": "512", "lambda_mi": "0"})["width"] == 512
    for bad in ({"width": 0}, {"epochs": "x"}, {"epochs": 2.5}, {"lambda_mi": "nan"},
                {"steps": float("inf")}, {"batch": True}, {"critic": 3}, {"seed": -1},
                {"init_from": -2}):
        with pytest.raises(driver.SettingsError, match="setting '"):
            driver.check_settings(bad)


def test_seeds():
    assert run.parse_seeds("1001-1003") == [1001, 1002, 1003]
    assert run.parse_seeds("1001-1002,1007,1001") == [1001, 1002, 1007]
    for bad in ("10-5", "a", "", "1-", "-3", "1001-99999"):
        with pytest.raises(ConfigError, match="'--seeds'"):
            run.parse_seeds(bad)


def test_a_dump_becomes_a_record_with_mifds_metrics(tmp_path):
    s = fake_dump(tmp_path / "dump", TINY)
    entry = record.write_record(tmp_path / "dump", tmp_path / "root")
    assert entry == tmp_path / "root" / "authors-wm" / record.record_key(s, COMMIT)
    (r,) = record.load_records(tmp_path / "root", width=8)
    assert record.load_records(tmp_path / "root", width=64) == []
    assert list(r["snap_epochs"]) == [0, 2, 3] and r["seed"] == 1001
    with np.load(tmp_path / "dump" / "snap-0003.npz") as z:
        H, tgt = z["H"].reshape(-1, 40), z["target"].reshape(-1, 2)
        assert r["snaps"]["Q_cor"][-1] == float(metrics.q_cor(H))
        assert r["snaps"]["D_cor"][-1] == float(metrics.d_cor(H, tgt))
        assert r["snaps"]["Q_str"][-1] == float(metrics.q_str(z["W_rec"]))
        assert r["snaps"]["D_in"][-1] == float(metrics.d_in(z["W_in"]))
        assert r["snaps"]["D_out"][-1] == float(metrics.d_out(z["W_out"]))
        assert np.array_equal(r["weights"]["W_rec"][-1], z["W_rec"])
    assert set(r["hist"]) == set(driver.HISTORY) and r["hist"]["mi"].shape == (3,)
    assert load_blob(entry / "result.bin")["settings"] == s  # a data file, no pickle
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["source"]["commit"] == COMMIT and meta["run"]["tensorflow"] == "2.15.1"
    assert meta["settings"] == s and meta["wrapped"]


def test_bad_dumps_are_refused(tmp_path):
    d = tmp_path / "d"
    fake_dump(d, TINY, commit="0123456789")
    with pytest.raises(record.DumpError, match="commit 0123456789"):
        record.write_record(d, tmp_path / "root")
    fake_dump(d, TINY)
    (d / "snap-0002.npz").unlink()
    with pytest.raises(record.DumpError, match="snapshots at epochs"):
        record.read_dump(d)
    fake_dump(d, TINY)
    np.savez(d / "snap-0002.npz", **{k: np.zeros(3) for k in record.SNAPSHOT})
    with pytest.raises(record.DumpError, match="W_rec has shape"):
        record.read_dump(d)
    fake_dump(d, {**TINY, "steps": 31})
    done = json.loads((d / "done.json").read_text())
    driver.write_json(d / "done.json", {**done, "settings": {**done["settings"], "steps": 30}})
    with pytest.raises(record.DumpError, match="states of shape"):
        record.read_dump(d)
    (d / "done.json").unlink()
    with pytest.raises(record.DumpError, match="did not finish"):
        record.read_dump(d)
    assert not (tmp_path / "root").exists()


STAND_IN = """#!{python}
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_authors import fake_dump
argv = sys.argv[2:]
a = dict(zip(argv[::2], argv[1::2]))
s = {{k[2:].replace("-", "_"): v for k, v in a.items()
      if k not in ("--code", "--out", "--init-weights")}}
if "--init-weights" in a:  # the file the runner wrote for the seed, as the driver reads it
    import numpy as np
    from mifd.authors import driver
    assert driver.read_init(Path(a["--init-weights"]))["W_rec"].ndim == 2
seed = int(s.pop("seed"))
if seed == 1003:
    sys.exit(7)
fake_dump(Path(a["--out"]), s, seed)
"""


def test_seeds_run_as_processes_each_recorded_and_committed_once(tmp_path, monkeypatch):
    python = tmp_path / "python"
    python.write_text(STAND_IN.format(python=sys.executable, tests=str(Path(__file__).parent)))
    python.chmod(0o755)
    code = tmp_path / "mio_rnn"
    (code / "wm").mkdir(parents=True)
    (code / "wm" / "run_once.py").write_text("")
    root = tmp_path / "repo" / "results" / "committed"
    root.mkdir(parents=True)
    git = ["git", "-C", str(tmp_path / "repo")]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True)
    authors = run.Authors(python, code)
    with pytest.raises(ConfigError, match="checkout at unknown"):
        authors.check()
    plan = run.Plan([1001, 1002, 1003], dict(TINY), tmp_path / "work", root)
    lines: list[str] = []
    for k in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(k, "t")
    failed = run.run_seeds(plan, authors, parallel=2, git=True, allow_other_commit=True,
                           report=lines.append, poll=0.05, audit_profile="smoke")
    assert failed == 1 and any("FAILED    seed 1003" in line for line in lines)
    assert [r["seed"] for r in record.load_records(root)] == [1001, 1002]
    # audited before the commit (the stand-in's random weights saturate: no finite MI asked)
    assert all(r["audit"]["copula"].shape == (1,) and r["meta"]["audit"]["profile"] == "smoke"
               for r in record.load_records(root))
    log = subprocess.run([*git, "log", "--format=%s"], capture_output=True, text=True).stdout
    assert log.count("(issue 39)") == 2
    assert not list((tmp_path / "work").rglob("snap-*.npz"))  # the states are not kept
    assert plan.todo(COMMIT) == [1003]  # resumable: only the failed seed is left


def _authors_or_skip() -> run.Authors:
    authors = run.Authors.find()
    try:
        authors.check()
    except ConfigError as e:
        pytest.skip(f"no TensorFlow Python or authors' checkout ({e})")
    if subprocess.run([str(authors.python), "-c", "import tensorflow"],
                      capture_output=True).returncode:
        pytest.skip("the authors' Python has no TensorFlow")
    return authors


def test_the_authors_code_trains_and_is_recorded(tmp_path):
    authors = _authors_or_skip()
    plan = run.Plan([1001], {**TINY, "epochs": 2, "snapshot_every": 1}, tmp_path / "work",
                    tmp_path / "root")
    assert run.run_seeds(plan, authors, parallel=1, report=lambda line: None, poll=0.2) == 0
    (r,) = record.load_records(tmp_path / "root")
    assert list(r["snap_epochs"]) == [0, 1, 2]
    assert np.isfinite(r["snaps"]["Q_cor"]).all() and np.isfinite(r["hist"]["mi"]).all()
    assert r["meta"]["run"]["tensorflow"].startswith("2.")


def test_a_records_audit_is_the_wm_audit_of_our_run_of_the_same_seed_and_weights(tmp_path):
    """The end-of-training audit added to a record: run on a ``wm`` smoke run's own final
    weights as a record of seed 1002, it equals that run's in-run audit bit for bit."""
    import mifd
    from mifd.results.store import dump_blob
    from mifd.results.store import Store
    rr = mifd.run("wm", "smoke", "cpu", {"conditions": ("mi",), "trials": 1, "seed": 1002},
                  store=Store(tmp_path / "store", []), verbose=False, progress=False)
    entry = tmp_path / "root" / "authors-wm" / "seed1002"
    entry.mkdir(parents=True)
    weights = {k: np.asarray(v)[:, 0] for k, v in rr.result["weights"].items()}  # (S, ...)
    dump_blob(entry / "result.bin", {"seed": 1002, "weights": weights}, compress=True)
    (entry / "meta.json").write_text("{}")
    assert record.audit_missing(tmp_path / "root", lambda line: None, "smoke") == [entry]
    got = load_blob(entry / "result.bin")["audit"]
    for k in ("held_out_dv", "copula", "gaussian"):
        assert np.array_equal(got[k], rr.result["audit"][k]), k
    assert json.loads((entry / "meta.json").read_text())["audit"]["profile"] == "smoke"
    assert record.audit_missing(tmp_path / "root", profile="smoke") == []  # nothing left


def test_a_records_key_is_unchanged_by_a_later_setting_at_its_default():
    """The records made before ``init_from`` existed keep their keys (its default is left out
    of the hash); a run from other initial weights gets a key of its own, named so."""
    import hashlib
    s = driver.check_settings({"seed": 1005})
    blob = json.dumps({"settings": {k: v for k, v in s.items() if k != "init_from"},
                       "authors_commit": COMMIT}, sort_keys=True)
    want = "seed1005-w64-e1000-" + hashlib.sha256(blob.encode()).hexdigest()[:10]
    assert record.record_key(s, COMMIT) == want
    other = record.record_key({**s, "init_from": 1005}, COMMIT)
    assert other.startswith("seed1005-w64-e1000-init1005-") and other[-10:] != want[-10:]


def test_a_run_from_our_initial_weights_is_recorded_apart(tmp_path):
    """``init_from``: the dump's record sits beside the seed's own, and only an explicit
    ``init_from`` loads it (the comparison's records stay those of their own weights)."""
    fake_dump(tmp_path / "own", TINY)
    fake_dump(tmp_path / "swap", {**TINY, "init_from": 1001})
    record.write_record(tmp_path / "own", tmp_path / "root")
    entry = record.write_record(tmp_path / "swap", tmp_path / "root")
    assert "-init1001-" in entry.name
    assert [r["key"] for r in record.load_records(tmp_path / "root")] != [entry.name]
    (r,) = record.load_records(tmp_path / "root", init_from=1001)
    assert r["key"] == entry.name and r["settings"]["init_from"] == 1001
    assert any("seed 1001" in w for w in r["meta"]["wrapped"])
    assert len(record.load_records(tmp_path / "root", init_from=None)) == 2


def test_our_initial_weights_are_those_our_run_starts_from_and_the_driver_reads_them(tmp_path):
    """The file the runner writes for a seed holds the weights of our ``wm`` trial of that seed
    at epoch 0, bit for bit; the driver refuses a damaged file or one without --init-from."""
    import mifd
    from mifd.authors import initial
    from mifd.results.store import Store
    rr = mifd.run("wm", "smoke", "cpu", {"conditions": ("mi",), "trials": 1, "seed": 1002},
                  store=Store(tmp_path / "store", []), verbose=False, progress=False)
    path = initial.write(tmp_path / "init.npz", initial.ours(1002, "smoke"))
    got = driver.read_init(path)
    n = rr.config.n
    for k, (_, shape) in driver.INIT.items():
        epoch0 = np.asarray(rr.result["weights"][k])[0, 0].reshape(shape(n))
        assert np.array_equal(got[k], epoch0.astype(np.float64)), k
    bad = dict(np.load(path))
    bad["W_in"] = bad["W_in"][:3]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(driver.SettingsError, match="W_in has shape"):
        driver.read_init(tmp_path / "bad.npz")
    code = tmp_path / "code"
    (code / "wm").mkdir(parents=True)
    (code / "wm" / "run_once.py").write_text("")
    base = ["--code", str(code), "--out", str(tmp_path / "out")]
    assert driver.main([*base, "--init-weights", str(path)]) == 2  # no --init-from
    assert driver.main([*base, "--init-from", "1002"]) == 2  # no file
    assert driver.main([*base, "--init-from", "1002", "--init-weights",
                        str(tmp_path / "bad.npz")]) == 2
    with pytest.raises(ConfigError, match="'--init-from'"):
        run.Plan([1001], {}, tmp_path, tmp_path, init="mine")


def test_the_authors_code_starts_from_the_weights_it_is_given(tmp_path):
    """With TensorFlow and their checkout: the record's epoch-0 weights are the file's."""
    from mifd.authors import initial
    authors = _authors_or_skip()
    plan = run.Plan([1001], {**TINY, "epochs": 1, "snapshot_every": 1}, tmp_path / "work",
                    tmp_path / "root", init="ours")
    assert run.run_seeds(plan, authors, parallel=1, report=lambda line: None, poll=0.2,
                         audit_profile=None) == 0
    (r,) = record.load_records(tmp_path / "root", init_from=1001)
    want = initial.ours(1001)
    for k in driver.INIT:
        assert np.array_equal(r["weights"][k][0], want[k]), k
    assert r["meta"]["init_weights"]["file"] == "init.npz"
    assert record.load_records(tmp_path / "root") == []
