"""Results that cannot run code (issue 38): data files (JSON + ``.npy`` in a zip, never
unpickled) for results and checkpoints, exact round trips, the former pickle format refused with
one line and converted exactly, imported folders checked as untrusted input, and every committed
result a data file equal to what it held before."""

import hashlib
import io
import json
import math
import os
import struct
import subprocess
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

import mifd
from mifd.results import blobs, exchange, legacy
from mifd.config import ConfigError, config_hash, to_dict
from mifd.results.store import (CorruptFileError, Entry, LegacyFormatError, blob_bytes, convert_file, dump_blob, load_blob)

from conftest import ROOT, env_with, mifd_cmd


# --- crafted payloads ---------------------------------------------------------------------------

class Payload:
    """Runs ``touch SENTINEL`` when unpickled."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def legacy_bytes(obj):
    """A file of the former format: a checksum line, then torch.save's pickle."""
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=4)
    return hashlib.sha256(buf.getvalue()).hexdigest().encode() + b"\n" + buf.getvalue()


def crafted_files(sentinel):
    """Every shape of file that would run ``touch SENTINEL`` if it were unpickled: the former
    format (torch.save zip, and a bare pickle), the data format's header over a pickle, and a
    data file whose ``.npy`` holds a pickled object array."""
    import pickle
    evil = Payload(sentinel)
    bare = pickle.dumps({"result": evil}, protocol=4)
    raw_pickle = hashlib.sha256(bare).hexdigest().encode() + b"\n" + bare
    magic_pickle = blobs.MAGIC + hashlib.sha256(bare).hexdigest().encode() + b"\n" + bare
    npy = io.BytesIO()
    np.lib.format.write_array(npy, np.array([evil, 1], dtype=object), allow_pickle=True)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("tree.json", json.dumps({"$array": "0"}))
        zf.writestr("0.npy", npy.getvalue())
    npy_pickle = blobs.MAGIC + hashlib.sha256(z.getvalue()).hexdigest().encode() + b"\n" + \
        z.getvalue()
    return {"torch.save": legacy_bytes({"result": evil}), "pickle": raw_pickle,
            "data header over a pickle": magic_pickle, "object array": npy_pickle}


@pytest.fixture
def sentinel(tmp_path):
    s = tmp_path / "SENTINEL"
    yield s
    assert not s.exists(), "the crafted payload ran"


# --- exact round trips --------------------------------------------------------------------------

def _checkpoint_like():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GRU(4, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    model[0](torch.randn(5, 3)).sum().backward()
    opt.step()
    rms = torch.optim.RMSprop(model.parameters(), momentum=0.5, centered=True)
    rms.step()
    g = torch.Generator().manual_seed(7)
    torch.rand(3, generator=g)
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    return {
        "step": 17, "elapsed_seconds": 1.25, "done": ["a", "b"], "none": None, "flag": True,
        "floats": [float("nan"), -float("nan"), float("inf"), -float("inf"), -0.0, 1e-310,
                   0.1, struct.unpack(">d", bytes.fromhex("7ff8000000000123"))[0]],
        "tuple": (1, (2.5, "x"), []), "int_keys": {0: "a", 3: {1: 2}}, "dollar": {"$x": 1},
        "ordered": OrderedDict([("b", 1), ("a", 2)]),
        "model": model.state_dict(), "opt": opt.state_dict(), "rms": rms.state_dict(),
        "gen": g.get_state(), "gens": [torch.Generator().manual_seed(i).get_state()
                                       for i in range(2)],
        "bf16": torch.randn(4, 3).to(torch.bfloat16), "half": torch.randn(2).half(),
        "bool_t": torch.tensor([True, False]), "scalar_t": torch.tensor(3.5),
        "empty_t": torch.zeros(0, 3), "view": torch.arange(10.0)[::3], "grad":
            torch.ones(2, requires_grad=True), "param": torch.nn.Parameter(torch.ones(2)),
        "arr": arr, "same_arr": arr, "fortran": np.asfortranarray(arr), "strided": arr[:, ::2],
        "f64": np.linspace(0, 1, 7), "i64": np.arange(3), "u8": np.zeros(2, np.uint8),
        "b": np.array([True]), "c": np.array([1 + 2j]), "s": np.array(["ab", "c"]),
        "be": np.arange(3, dtype=">f8"), "zero_d": np.array(2.0, np.float32),
        "np_scalars": [np.float32(1.5), np.float64(np.nan), np.int64(-3), np.bool_(True)],
    }


@pytest.mark.parametrize("compress", [False, True])
def test_a_checkpoint_round_trips_exactly(tmp_path, compress):
    obj = _checkpoint_like()
    p = tmp_path / "checkpoint.bin"
    dump_blob(p, obj, compress=compress)
    back = load_blob(p)
    assert blobs.same(back, obj)
    assert blobs.content_digest(back) == blobs.content_digest(obj)
    assert type(back["tuple"]) is tuple and type(back["tuple"][1]) is tuple
    assert list(back["int_keys"]) == [0, 3] and type(back["ordered"]) is OrderedDict
    assert isinstance(back["gen"], torch.Tensor) and back["gen"].dtype == torch.uint8
    assert type(back["arr"]) is np.ndarray and back["same_arr"] is back["arr"]
    assert type(back["np_scalars"][0]) is np.float32 and type(back["np_scalars"][3]) is np.bool_
    assert back["bf16"].dtype == torch.bfloat16 and back["grad"].requires_grad
    assert type(back["param"]) is torch.nn.Parameter
    assert struct.pack(">d", back["floats"][1]) == struct.pack(">d", obj["floats"][1])
    assert math.copysign(1, back["floats"][4]) == -1
    assert blob_bytes(back, compress) == blob_bytes(obj, compress)  # deterministic bytes
    # what resuming does with it: the generators and optimizers continue identically
    g1, g2 = torch.Generator(), torch.Generator()
    g1.set_state(obj["gen"])
    g2.set_state(back["gen"])
    assert torch.equal(torch.rand(5, generator=g1), torch.rand(5, generator=g2))
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GRU(4, 2))
    model.load_state_dict(back["model"])
    opt = torch.optim.Adam(model.parameters())
    opt.load_state_dict(back["opt"])
    assert blobs.same(opt.state_dict(), obj["opt"])


def test_results_are_deflated_and_checkpoints_stored():
    zeros = {"z": np.zeros(100_000)}
    assert len(blob_bytes(zeros, compress=True)) < 5_000 < 800_000 < len(blob_bytes(zeros))
    assert blobs.same(load_blob("x", blob_bytes(zeros, compress=True)), zeros)


def test_what_is_not_data_is_refused_when_written(tmp_path):
    for bad in ({"f": len}, {"o": object()}, [np.array([object()], dtype=object)],
                {"s": {1, 2}}, {"p": Path("x")}):
        with pytest.raises(TypeError, match="not data"):
            dump_blob(tmp_path / "x.bin", bad)
    assert not (tmp_path / "x.bin").exists()


def test_a_truncated_or_altered_data_file_is_corrupt(tmp_path):
    p = tmp_path / "result.bin"
    dump_blob(p, {"a": np.arange(100)}, compress=True)
    raw = p.read_bytes()
    for bad in (raw[:-5], raw[:40], raw.replace(b"mifd-data-1", b"mifd-data-9"), b""):
        with pytest.raises(CorruptFileError):
            load_blob(p, bad)
    # a valid checksum over members that declare more than allowed is refused before reading
    with pytest.raises(CorruptFileError, match="allowed: at most 10"):
        load_blob(p, max_unpacked=10)


# --- crafted payloads refused -------------------------------------------------------------------

def _entry(tmp_path, name="run"):
    e = Entry(tmp_path / name / "wm" / "0123456789abcdef")
    e.path.mkdir(parents=True)
    (e.path / "meta.json").write_text(json.dumps({"experiment": "wm"}))
    (e.path / "config.json").write_text(json.dumps({"config": {}}))
    return e


def test_a_crafted_result_is_refused_with_one_line(tmp_path, sentinel):
    for i, (kind, raw) in enumerate(crafted_files(sentinel).items()):
        e = _entry(tmp_path, f"r{i}")
        e.result_path.write_bytes(raw)
        if kind in ("torch.save", "pickle"):
            with pytest.raises(LegacyFormatError, match="convert-results") as err:
                e.load_result()
            assert "\n" not in str(err.value)
        else:
            with pytest.warns(UserWarning, match="recomputing"):
                assert e.load_result() is None
            with pytest.raises(CorruptFileError) as err:
                load_blob(e.result_path)
            assert "\n" not in str(err.value)
        assert not sentinel.exists(), kind


def test_a_crafted_checkpoint_is_refused_with_one_line(tmp_path, sentinel):
    for i, (kind, raw) in enumerate(crafted_files(sentinel).items()):
        e = _entry(tmp_path, f"c{i}")
        e.checkpoint_path.write_bytes(raw)
        if kind in ("torch.save", "pickle"):
            with pytest.raises(LegacyFormatError, match="convert-results") as err:
                e.load_checkpoint()
            assert "\n" not in str(err.value)
            assert e.checkpoint_path.read_bytes() == raw  # kept, not started afresh over it
        else:
            with pytest.warns(UserWarning, match="starting from scratch"):
                assert e.load_checkpoint() is None
        assert not sentinel.exists(), kind


def test_the_converter_refuses_a_crafted_pickle_and_runs_nothing(tmp_path, sentinel):
    """The one place that still reads the former format resolves only array constructors."""
    files = crafted_files(sentinel)
    for kind in ("torch.save", "pickle"):
        p = tmp_path / kind / "result.bin"
        p.parent.mkdir()
        p.write_bytes(files[kind])
        with pytest.raises(CorruptFileError, match="not allowed|cannot convert"):
            convert_file(p)
        assert p.read_bytes() == files[kind]
    cmd = subprocess.run(mifd_cmd("convert-results", str(tmp_path / "torch.save")), cwd=ROOT,
                         capture_output=True, text=True, env=env_with(MIFD_PROGRESS=0))
    assert cmd.returncode == 2 and cmd.stderr.count("\n") == 1
    assert "is not allowed" in cmd.stderr


def test_the_cli_names_the_converter_for_a_former_format_result(tmp_path, sentinel):
    """A store entry of the former format (here: a crafted one) stops `mifd run` with one line
    before anything is recomputed or overwritten."""
    exp = mifd.get_experiment("mine-gaussian")
    cfg = exp.config("smoke", {}, "cpu")
    key = config_hash(exp.name, cfg, mifd.__version__)
    store = tmp_path / "store"
    e = Entry(store / exp.name / key)
    e.path.mkdir(parents=True)
    raw = crafted_files(sentinel)["torch.save"]
    e.result_path.write_bytes(raw)
    (e.path / "config.json").write_text(json.dumps({"config": to_dict(cfg)}, default=list))
    (e.path / "meta.json").write_text(json.dumps({"experiment": exp.name, "key": key}))
    p = subprocess.run(mifd_cmd("run", "mine-gaussian", "--profile", "smoke", "--device", "cpu",
                                "--out", str(tmp_path / "out")), cwd=ROOT, capture_output=True,
                       text=True, env=env_with(MIFD_PROGRESS=0, MIFD_STORE=str(store)))
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.count("\n") == 1 and "mifd convert-results" in p.stderr
    assert e.result_path.read_bytes() == raw


def test_converting_the_former_format_is_exact_and_idempotent(tmp_path):
    obj = _checkpoint_like()
    obj.pop("param")  # torch.save of a Parameter needs torch._utils._rebuild_parameter
    obj.pop("grad")
    obj.pop("be")  # numpy's pickle itself reads a big-endian array back as little-endian
    for name in ("checkpoint.bin", "result.bin"):
        d = tmp_path / name.split(".")[0]
        d.mkdir()
        (d / "meta.json").write_text(json.dumps({"experiment": "x"}))
        (d / name).write_bytes(legacy_bytes(obj))
    rows = mifd.results.store.convert_results([tmp_path])
    assert sorted(r["status"] for r in rows) == ["converted", "converted"]
    for r in rows:
        assert blobs.same(load_blob(r["path"]), obj)
    meta = json.loads((tmp_path / "result" / "meta.json").read_text())
    assert meta["converted"]["content_digest"] == blobs.content_digest(obj)
    assert "converted" not in json.loads((tmp_path / "checkpoint" / "meta.json").read_text())
    before = {r["path"]: Path(r["path"]).read_bytes() for r in rows}
    again = mifd.results.store.convert_results([tmp_path])
    assert [r["status"] for r in again] == ["current", "current"]
    assert all(Path(p).read_bytes() == b for p, b in before.items())


# --- imported folders ---------------------------------------------------------------------------

def _fake_run(tmp_path, result_bytes):
    """A store entry of a smoke mine-gaussian config whose provenance checks pass (no training:
    the result is what the test says)."""
    exp = mifd.get_experiment("mine-gaussian")
    cfg = exp.config("smoke", {}, "cpu")
    key = config_hash(exp.name, cfg, mifd.__version__)
    config = json.loads(json.dumps(to_dict(cfg), default=list))
    d = tmp_path / "entry" / exp.name / key
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"experiment": exp.name, "profile": "smoke",
                                               "config": config}))
    (d / "meta.json").write_text(json.dumps({
        "experiment": exp.name, "profile": "smoke", "key": key, "config": config,
        "code": {"mifd": mifd.__version__, "git_commit": "0" * 40},
        "machine": {"device": "cpu"}, "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00", "wall_seconds": 60.0}))
    (d / "result.bin").write_bytes(result_bytes)
    return d


def _folder(tmp_path, result_bytes):
    d = _fake_run(tmp_path, result_bytes)
    exchange.pack(tmp_path / "folder", [d])
    return tmp_path / "folder"


def _refused(folder, tmp_path, match):
    committed = tmp_path / "committed"
    with pytest.raises(ConfigError, match=match) as e:
        exchange.import_results(folder, committed)
    assert "\n" not in str(e.value) and "parameter 'folder'" in str(e.value)
    assert not committed.exists()  # nothing written


def test_a_good_fake_folder_imports(tmp_path):
    folder = _folder(tmp_path, blob_bytes({"a": np.arange(3)}))
    written = exchange.import_results(folder, tmp_path / "committed")
    assert load_blob(written[0] / "result.bin")["a"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("kind", ["torch.save", "pickle", "data header over a pickle",
                                  "object array"])
def test_an_imported_folder_with_a_crafted_result_is_refused(tmp_path, sentinel, kind):
    folder = _folder(tmp_path, crafted_files(sentinel)[kind])
    _refused(folder, tmp_path, "result.bin")
    p = subprocess.run(mifd_cmd("import-results", str(folder)), cwd=ROOT, capture_output=True,
                       text=True, env=env_with(MIFD_PROGRESS=0, MIFD_STORE=str(tmp_path / "s")))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "result.bin" in p.stderr


def _retar(folder, members):
    """Replace the folder's run tar by one of ``members`` (TarInfo, bytes) and re-list it."""
    manifest = json.loads((folder / "manifest.json").read_text())
    name = manifest["runs"][0]["file"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for ti, data in members:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    (folder / name).write_bytes(buf.getvalue())
    manifest["files"][name] = hashlib.sha256(buf.getvalue()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _members(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    name = manifest["runs"][0]["file"]
    return exchange._read_run(folder, name, (folder / name).read_bytes())


def _ti(name, data=b"", type_=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.linkname = (len(data) if type_ == tarfile.REGTYPE else 0), type_, link
    return ti, (data if type_ == tarfile.REGTYPE else None)


@pytest.mark.parametrize("case,match", [
    ("symlink", "a link"), ("hardlink", "a link"), ("dotdot", "member"),
    ("absolute", "member"), ("duplicate", "each once"), ("extra", "member"),
    ("directory", "plain file"), ("gzip", "not a tar"),
])
def test_a_tar_with_links_paths_or_duplicates_is_refused(tmp_path, case, match):
    folder = _folder(tmp_path, blob_bytes({"a": 1}))
    files = _members(folder)
    plain = [_ti(n, files[n]) for n in exchange.ENTRY_FILES]
    if case == "gzip":
        manifest = json.loads((folder / "manifest.json").read_text())
        name = manifest["runs"][0]["file"]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for ti, data in plain:
                tar.addfile(ti, io.BytesIO(data))
        (folder / name).write_bytes(buf.getvalue())
        manifest["files"][name] = hashlib.sha256(buf.getvalue()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
        _refused(folder, tmp_path, match)
        return
    other = {
        "symlink": [_ti("result.bin", type_=tarfile.SYMTYPE, link="/etc/passwd")],
        "hardlink": [_ti("result.bin", type_=tarfile.LNKTYPE, link="meta.json")],
        "dotdot": [_ti("../result.bin", files["result.bin"])],
        "absolute": [_ti("/tmp/result.bin", files["result.bin"])],
        "duplicate": [_ti("result.bin", files["result.bin"]), _ti("result.bin", b"x")],
        "extra": [_ti("result.bin", files["result.bin"]), _ti("checkpoint.bin", b"x")],
        "directory": [_ti("result.bin", type_=tarfile.DIRTYPE)],
    }[case]
    rest = [m for m in plain if m[0].name != "result.bin"]
    _retar(folder, rest + other)
    _refused(folder, tmp_path, match)


def test_folder_files_must_be_plain_bounded_and_typed(tmp_path, monkeypatch):
    folder = _folder(tmp_path, blob_bytes({"a": 1}))
    manifest = json.loads((folder / "manifest.json").read_text())
    run = manifest["runs"][0]["file"]
    # a listed file that is a link (to a file outside)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (folder / "side.json").symlink_to(outside)
    m = json.loads(json.dumps(manifest))
    m["files"]["side.json"] = hashlib.sha256(b"{}").hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m))
    _refused(folder, tmp_path, "side.json: got a link")
    (folder / "side.json").unlink()
    # fields of the wrong type, names with paths
    for change, match in [
        (lambda m: m.update(format=True), "format"),
        (lambda m: m.update(files=[]), "files"),
        (lambda m: m["runs"][0].update(key=12), "key"),
        (lambda m: m["runs"][0].update(experiment="../../x"), "experiment"),
        (lambda m: m["runs"][0].update(parts=[run, run]), "parts"),
        (lambda m: m["files"].update({"../x.json": "0" * 64}), "file name"),
        (lambda m: m["files"].update({run: "not a sha"}), "checksum"),
    ]:
        m = json.loads(json.dumps(manifest))
        change(m)
        (folder / "manifest.json").write_text(json.dumps(m))
        _refused(folder, tmp_path, match)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    # a file over the bound is refused before it is read
    monkeypatch.setattr(exchange, "MAX_BYTES", 100)
    _refused(folder, tmp_path, "bytes")


def test_provenance_fields_must_have_their_types(tmp_path):
    d = _fake_run(tmp_path, blob_bytes({"a": 1}))
    meta = json.loads((d / "meta.json").read_text())
    meta["wall_seconds"] = "60"
    (d / "meta.json").write_text(json.dumps(meta))
    exchange.pack(tmp_path / "folder", [d])
    _refused(tmp_path / "folder", tmp_path, "'wall_seconds'")


# --- the committed results ----------------------------------------------------------------------

def _committed():
    return sorted((ROOT / "results" / "committed").rglob("result.bin"))


def test_every_committed_result_is_a_data_file_equal_to_its_former_contents():
    """Each committed ``result.bin`` is a data file; one converted from the former format
    records, in its ``meta.json``, the content digest of what it held (computed from the old
    file at conversion), which its data must match bit for bit. Before the conversion (while
    the repository's own old files exist), the old file read with the full unpickler — only
    here, only on these files — equals its conversion exactly."""
    files = _committed()
    assert files
    for p in files:
        raw = p.read_bytes()
        if blobs.is_legacy(raw):  # the repository's own old file, before its conversion
            full = torch.load(io.BytesIO(raw.partition(b"\n")[2]), map_location="cpu",
                              weights_only=False)
            assert blobs.same(legacy.read_legacy(raw, p), full), p
            assert blobs.same(load_blob(p, blob_bytes(full, compress=True)), full), p
            continue
        data = load_blob(p)
        meta = json.loads((p.parent / "meta.json").read_text())
        if "converted" in meta:
            assert blobs.content_digest(data) == meta["converted"]["content_digest"], p
            assert meta["converted"]["bytes_before"] > 0


def test_the_library_reads_no_pickle():
    """The acceptance grep of issue 38."""
    hits = []
    for f in (ROOT / "mifd").rglob("*.py"):
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if any(s in line for s in ("weights_only=False", "pickle.load", "allow_pickle=True")):
                hits.append(f"{f.relative_to(ROOT)}:{i}")
    assert not hits


# --- the runs of the former format: convert, then resume or commit --------------------------------

def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in _leaves(v, f"{prefix}/{k}").items()}
    if isinstance(obj, (list, tuple)) and obj and not isinstance(obj[0], (int, float, str)):
        return {k2: v2 for i, v in enumerate(obj) for k2, v2 in _leaves(v, f"{prefix}/{i}").items()}
    return {prefix: obj}


def test_a_converted_checkpoint_of_the_former_format_resumes_bit_identical(tmp_path):
    """A run paused by older code (its checkpoint a pickle) stops with one line naming the
    converter; converted, it resumes and ends bit-identical to an uninterrupted run."""
    from mifd.experiments.base import RunPaused
    from mifd.results.store import Store
    overrides = {"epochs": 60}
    store = Store(tmp_path / "s", [])
    with pytest.raises(RunPaused):
        mifd.run("wm", "smoke", "cpu", overrides, store=store, verbose=False, max_seconds=0.3)
    ckpt = next((tmp_path / "s").rglob("checkpoint.bin"))
    state = load_blob(ckpt)
    assert 0 < state["step"]
    ckpt.write_bytes(legacy_bytes(state))  # as the former code wrote it
    with pytest.raises(LegacyFormatError, match="convert-results"):
        mifd.run("wm", "smoke", "cpu", overrides, store=store, verbose=False)
    assert convert_file(ckpt)["status"] == "converted"
    assert blobs.same(load_blob(ckpt), state)
    resumed = mifd.run("wm", "smoke", "cpu", overrides, store=store, verbose=False)
    assert not resumed.loaded and resumed.meta["resumed_from"]
    fresh = mifd.run("wm", "smoke", "cpu", overrides, store=Store(tmp_path / "fresh", []),
                     verbose=False)
    a, b = _leaves(resumed.result), _leaves(fresh.result)
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
    assert resumed.summary == fresh.summary


def test_a_finished_run_of_the_former_format_is_converted_then_committed(tmp_path):
    """What the wm runs begun before data files go through: `mifd commit-results` names the
    converter; converted, the run commits and loads equal to what it held."""
    from mifd.results.runner import commit_results
    from mifd.results.store import Store
    small = {"critics": ("separable/gaussian",), "ps_steps": 3, "game_steps": 2}
    store = Store(tmp_path / "own", [tmp_path / "committed"])
    rr = mifd.run("mine-gaussian", "smoke", "cpu", small, verbose=False, store=store)
    result = Path(rr.path) / "result.bin"
    held = load_blob(result)
    result.write_bytes(legacy_bytes(held))  # as the former code wrote it
    with pytest.raises(LegacyFormatError, match="convert-results") as e:
        commit_results("mine-gaussian", "smoke", small, store=store)
    assert "\n" not in str(e.value)
    mifd.results.store.convert_results([Path(rr.path)])
    dst = commit_results("mine-gaussian", "smoke", small, store=store)
    assert blobs.same(load_blob(dst / "result.bin"), held)
    assert json.loads((dst / "meta.json").read_text())["converted"]["content_digest"] == \
        blobs.content_digest(held)


def test_an_array_header_larger_than_its_member_is_refused_before_allocating(tmp_path):
    """A crafted ``.npy`` declaring 10^12 elements in a few bytes: refused, nothing allocated."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)}
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, header)
    npy.write(b"\0" * 8)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("tree.json", json.dumps({"$array": "0"}))
        zf.writestr("0.npy", npy.getvalue())
    data = blobs.MAGIC + hashlib.sha256(z.getvalue()).hexdigest().encode() + b"\n" + z.getvalue()
    with pytest.raises(CorruptFileError, match="does not fit"):
        load_blob("crafted", data)
