"""Results folders: finished runs and their side files carried from a lent machine into the
committed results, checked before anything is written.

A *results folder* (written by :func:`pack`, e.g. by ``mifd gpu-session``) holds at most
:data:`MAX_FILES` files of at most :data:`MAX_BYTES` each:

* ``manifest.json`` — format, creation time, the SHA-256 of every other file, and one record
  per packed run (``file``, ``experiment``, ``profile``, ``key``);
* one ``run-<experiment>-<key>.tar`` per finished run: its store entry (``result.bin``,
  ``meta.json``, ``config.json``); a tar larger than :data:`MAX_BYTES` is split into parts
  ``run-….tar.001``, ``….002`` … (a 20-trial ``wm`` paper run is about 40 MiB);
* side files: timing or benchmark JSON and test reports (``*.json``, ``*.xml``), copied to
  ``results/committed/bench/sessions/<created>/`` (one folder per session: names never clash).

:func:`import_results` refuses, with one line and before writing anything, a folder with a
missing or altered file, an unlisted file, a run whose provenance lacks a field, whose key does
not follow from its config under this code, or whose config is not its profile's (only the
fields in :data:`RUN_FIELDS` may differ: which trials ran, and exactness-preserving or stated
precision options; and those a session plans by measurement, :data:`PLANNED_FIELDS`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any, Iterable

from .._version import __version__
from ..config import ConfigError, apply_overrides, config_hash, stored_config, to_dict
from .store import atomic_write_json, committed_files, now

# A results folder is untrusted input (a GPU machine's output, someone else's folder): every
# file a plain file of a bounded size, read once and checked before use; tar members plain files
# of the expected names (no links, no paths, no duplicates); JSON fields of the expected types;
# ``result.bin`` a data file (mifd.results.blobs: never unpickled).

#: the manifest's format number
FORMAT = 1
#: files in a results folder, the manifest included (what one device call brings back)
MAX_FILES = 8
#: bytes per file (larger runs travel in parts)
MAX_BYTES = 16 * 2 ** 20
#: the files of a store entry that a run's tar holds
ENTRY_FILES = ("result.bin", "meta.json", "config.json")
#: provenance every imported run must carry (``meta.json``)
PROVENANCE = ("experiment", "profile", "key", "config", "code", "machine", "started", "finished",
              "wall_seconds")
#: config fields that may differ from the profile's: which trials ran (a run of ``trials``
#: trials from ``seed`` is a shard of the profile's trials) and the implementation options
RUN_FIELDS = ("trials", "seed", "conditions", "sm_precision", "fused_bptt", "merge_mm_pass",
              "graph_sm_pass", "compile_critic", "sm_pass_group", "batch_sm_passes",
              "time_chunk", "bptt_checkpoint", "gru_kernel", "sm_states")
#: per profile, config fields a GPU session chooses by measurement, which may differ from the
#: profile's too (:data:`mifd.gpu.plan.SESSION_PLANS`: the ``gpu`` profile's sequence
#: length, its MM steps and the snapshots' spacing)
PLANNED_FIELDS = {"gpu": ("length", "mm_steps", "eval_every")}
#: side files: timing or benchmark JSON, test reports
SIDE_SUFFIXES = (".json", ".xml")
#: where side files go under the committed results, one folder per session
SESSIONS = Path("bench") / "sessions"
#: uncompressed bytes an imported ``result.bin`` may declare
MAX_UNPACKED = 2 ** 30
#: a file name in a results folder: no path, no hidden file
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")
_EXPERIMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEY = re.compile(r"^[0-9a-f]{16}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fail(folder: Path, what: str, got: Any, allowed: str) -> ConfigError:
    return ConfigError(f"parameter 'folder' ({folder}): {what}: got {got}; allowed: {allowed}")


def run_file(experiment: str, key: str) -> str:
    return f"run-{experiment}-{key}.tar"


def pack(folder: Path | str, entries: Iterable[Path], side_files: Iterable[Path] = (),
         info: dict | None = None) -> Path:
    """Write a results folder: each finished store entry as one tar, the side files as they are,
    and ``manifest.json`` (``info`` is stored in it). Returns the manifest's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    runs, files = [], {}
    for entry in entries:
        entry = Path(entry)
        meta = json.loads((entry / "meta.json").read_text())
        name = run_file(meta["experiment"], meta["key"])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in ENTRY_FILES:
                data = (entry / f).read_bytes()
                ti = tarfile.TarInfo(f)
                ti.size, ti.mtime = len(data), 0
                tar.addfile(ti, io.BytesIO(data))
        data = buf.getvalue()
        parts = [name]
        if len(data) > MAX_BYTES:
            parts = [f"{name}.{i + 1:03d}" for i in range(-(-len(data) // MAX_BYTES))]
        for i, part in enumerate(parts):
            (folder / part).write_bytes(data[i * MAX_BYTES:(i + 1) * MAX_BYTES])
        runs.append({"file": name, "parts": parts, "experiment": meta["experiment"],
                     "profile": meta["profile"], "key": meta["key"]})
    for f in side_files:
        f = Path(f)
        if f.parent.resolve() != folder.resolve():
            shutil.copyfile(f, folder / f.name)
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name != "manifest.json":
            files[f.name] = _sha(f.read_bytes())
    manifest = {"format": FORMAT, "created": now(), "mifd": __version__, "files": files,
                "runs": runs, **(info or {})}
    atomic_write_json(folder / "manifest.json", manifest)
    if len(files) + 1 > MAX_FILES:
        raise _fail(folder, "files", len(files) + 1, f"at most {MAX_FILES}")
    return folder / "manifest.json"


def _read_run(folder: Path, name: str, data: bytes) -> dict[str, bytes]:
    """The entry files of a run's tar ``data``: exactly :data:`ENTRY_FILES`, each a plain file
    (no link, device or folder; no path, no duplicate) whose size is checked before it is
    read; an uncompressed tar only."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = tar.getmembers()
            names = [m.name for m in members]
            for m in members:
                if m.name not in ENTRY_FILES:
                    raise _fail(folder, f"{name} member", repr(m.name),
                                ", ".join(ENTRY_FILES) + " (no paths)")
                if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                    kind = "a link" if m.issym() or m.islnk() else f"type {m.type!r}"
                    raise _fail(folder, f"{name} member {m.name!r}", kind, "a plain file")
            if sorted(names) != sorted(ENTRY_FILES):
                raise _fail(folder, f"{name} members", sorted(names),
                            ", ".join(ENTRY_FILES) + " (each once)")
            if sum(m.size for m in members) > len(data):
                raise _fail(folder, f"{name} member sizes", sum(m.size for m in members),
                            f"at most the tar's {len(data)} bytes")
            files = {}
            for m in members:
                f = tar.extractfile(m)
                content = f.read(m.size + 1) if f is not None else b""
                if f is None or len(content) != m.size:
                    raise _fail(folder, f"{name} member {m.name!r}", "truncated",
                                "a complete tar")
                files[m.name] = content
            return files
    except tarfile.TarError as e:
        raise _fail(folder, name, f"not a tar ({e})", "an uncompressed tar written by "
                    "mifd") from None


def _json_object(folder: Path, what: str, data: bytes) -> dict:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise _fail(folder, what, f"invalid JSON ({e.__class__.__name__})",
                    "JSON written by mifd") from None
    if not isinstance(obj, dict):
        raise _fail(folder, what, type(obj).__name__, "a JSON object")
    return obj


def _typed(folder: Path, what: str, obj: dict, fields: dict[str, type | tuple]) -> None:
    """Each of ``fields`` present in ``obj`` has its type (a bool is no number)."""
    for k, t in fields.items():
        if k in obj and (not isinstance(obj[k], t) or (isinstance(obj[k], bool)
                                                      and bool not in (t if isinstance(t, tuple)
                                                                       else (t,)))):
            names = "/".join(x.__name__ for x in (t if isinstance(t, tuple) else (t,)))
            raise _fail(folder, f"{what} field {k!r}", f"{type(obj[k]).__name__} "
                        f"{str(obj[k])[:40]!r}", f"a JSON {names}")


def check_run(folder: Path, name: str, files: dict[str, bytes], record: dict) -> dict:
    """Check one packed run; return its meta (raises :class:`~mifd.ConfigError`)."""
    from ..experiments import EXPERIMENTS, get_experiment
    from .blobs import CorruptFileError, LegacyFormatError, load_blob
    meta = _json_object(folder, f"{name} meta.json", files["meta.json"])
    config = _json_object(folder, f"{name} config.json", files["config.json"])
    missing = [k for k in PROVENANCE if k not in meta]
    if missing:
        raise _fail(folder, f"{name} provenance", f"missing {', '.join(missing)}",
                    ", ".join(PROVENANCE))
    _typed(folder, f"{name} meta.json", meta, {
        "experiment": str, "profile": str, "key": str, "config": dict, "code": dict,
        "machine": dict, "started": str, "finished": str, "wall_seconds": (int, float)})
    _typed(folder, f"{name} config.json", config, {"config": dict})
    if "device" not in meta["machine"] or "git_commit" not in meta["code"]:
        raise _fail(folder, f"{name} provenance", "no machine.device or code.git_commit",
                    "both recorded")
    _typed(folder, f"{name} meta.json machine", meta["machine"], {"device": str})
    _typed(folder, f"{name} meta.json code", meta["code"], {"git_commit": str, "mifd": str})
    if meta["experiment"] not in EXPERIMENTS:
        raise _fail(folder, f"{name} experiment", repr(meta["experiment"]),
                    ", ".join(sorted(EXPERIMENTS)))
    for k in ("experiment", "profile", "key"):
        if meta[k] != record.get(k):
            raise _fail(folder, f"{name} {k}", f"{meta[k]!r} (manifest {record.get(k)!r})",
                        "the same in meta.json and the manifest")
    if config.get("config", config) != meta["config"]:
        raise _fail(folder, f"{name} config", "config.json differs from meta.json",
                    "the same config")
    if meta["code"].get("mifd") != __version__:
        raise _fail(folder, f"{name} mifd version", meta["code"].get("mifd"),
                    f"{__version__} (this code's; rerun with it)")
    exp = get_experiment(meta["experiment"])
    try:
        cfg = stored_config(exp.config_cls, meta["config"])
    except ConfigError as e:
        raise _fail(folder, f"{name} config", str(e), "a valid config") from None
    if config_hash(exp.name, cfg, __version__) != meta["key"]:
        raise _fail(folder, f"{name} key", meta["key"], "the key of its config under this code")
    try:
        profile_cfg = to_dict(exp.config(meta["profile"], device=meta["machine"]["device"]))
    except ConfigError as e:
        raise _fail(folder, f"{name} profile", str(e), "a profile of its experiment") from None
    free = RUN_FIELDS + PLANNED_FIELDS.get(meta["profile"], ())
    differs = {k: v for k, v in to_dict(cfg).items()
               if k not in free and profile_cfg.get(k) != v}
    if differs:
        k, v = next(iter(differs.items()))
        raise _fail(folder, f"{name} config field {k!r}", repr(v),
                    f"{profile_cfg.get(k)!r} (profile {meta['profile']!r}; "
                    f"{len(differs)} field(s) differ)")
    try:
        load_blob(f"{name}:result.bin", files["result.bin"], max_unpacked=MAX_UNPACKED)
    except LegacyFormatError:
        raise _fail(folder, f"{name} result.bin", "the former pickle format (not read: it could "
                    "run code)", "a data file (convert the run where it was made with "
                    "`mifd convert-results`, then pack it again)") from None
    except CorruptFileError as e:
        raise _fail(folder, f"{name} result.bin", str(e), "a result that verifies") from None
    return meta


def _run_bytes(folder: Path, record: dict, data: dict[str, bytes] | None = None) -> bytes:
    """A run's tar: its parts joined (from the checked bytes ``data`` where given)."""
    if data is not None:
        return b"".join(data[p] for p in record.get("parts", [record["file"]]))
    return b"".join((folder / p).read_bytes() for p in record.get("parts", [record["file"]]))


def _read_plain(folder: Path, name: str) -> bytes:
    """The bytes of ``folder/name``: a plain file (no link, folder or device) of at most
    :data:`MAX_BYTES`, its size checked before it is read."""
    try:
        st = (folder / name).lstat()
    except OSError:
        raise _fail(folder, name, "missing", "a plain file") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a plain file"
        raise _fail(folder, name, kind, "a plain file")
    if st.st_size > MAX_BYTES:
        raise _fail(folder, name, f"{st.st_size} bytes", f"a file of <= {MAX_BYTES} bytes")
    with open(folder / name, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _fail(folder, name, "grew while read", f"a file of <= {MAX_BYTES} bytes")
    return data


def _check_manifest(folder: Path, manifest: dict) -> dict[str, dict]:
    """The manifest's fields typed and its names safe; returns its runs by file name."""
    _typed(folder, "manifest", manifest, {"format": int, "created": str, "files": dict,
                                          "runs": list})
    if manifest.get("format") != FORMAT or isinstance(manifest.get("format"), bool):
        raise _fail(folder, "manifest format", manifest.get("format"), str(FORMAT))
    listed = manifest.get("files", {})
    for name, sha in listed.items():
        if not SAFE_NAME.match(name) or name == "manifest.json":
            raise _fail(folder, "manifest file name", repr(name[:80]),
                        "a plain name (letters, digits, . _ + -; no path)")
        if not isinstance(sha, str) or not _SHA.match(sha):
            raise _fail(folder, f"manifest checksum of {name}", repr(sha)[:80],
                        "64 hex digits (SHA-256)")
    runs: dict[str, dict] = {}
    seen_parts: set[str] = set()
    for r in manifest.get("runs", []):
        if not isinstance(r, dict):
            raise _fail(folder, "manifest run", type(r).__name__, "a JSON object")
        _typed(folder, "manifest run", r, {"file": str, "parts": list, "experiment": str,
                                           "profile": str, "key": str})
        for k in ("file", "experiment", "profile", "key"):
            if k not in r:
                raise _fail(folder, "manifest run", f"no {k!r}", "file, experiment, profile, key")
        if not _EXPERIMENT.match(r["experiment"]) or not _KEY.match(r["key"]):
            raise _fail(folder, "manifest run", f"{r['experiment'][:40]!r}/{r['key'][:40]!r}",
                        "an experiment name and a 16-hex-digit key")
        if r["file"] != run_file(r["experiment"], r["key"]) or r["file"] in runs:
            raise _fail(folder, "manifest run file", repr(r["file"][:80]),
                        "run-<experiment>-<key>.tar, once")
        parts = r.get("parts", [r["file"]])
        want = [r["file"]] if len(parts) == 1 else [f"{r['file']}.{i + 1:03d}"
                                                     for i in range(len(parts))]
        if parts != want or seen_parts & set(parts):
            raise _fail(folder, f"{r['file']} parts", repr(parts)[:80],
                        f"{want[0]}{' …' if len(want) > 1 else ''} (each once)")
        seen_parts |= set(parts)
        runs[r["file"]] = r
    return runs


def leaves(experiment: str) -> tuple[tuple[str, ...], ...]:
    """The leaves a committed copy of ``experiment``'s runs leaves out (its
    :attr:`~mifd.experiments.base.Experiment.committed_without`; one-line error for an unknown
    experiment)."""
    from ..experiments import get_experiment
    return get_experiment(experiment).committed_without


def _check(folder: Path) -> tuple[dict, dict[str, bytes], dict[str, dict[str, bytes]]]:
    """Check a results folder completely: its manifest, every file's bytes (read once), every
    run. Returns the manifest, the files' bytes and each run's entry files."""
    if not folder.is_dir():
        raise _fail(folder, "folder", "not a directory", "a results folder")
    manifest = _json_object(folder, "manifest.json", _read_plain(folder, "manifest.json"))
    runs = _check_manifest(folder, manifest)
    listed = manifest.get("files", {})
    present = {f.name for f in folder.iterdir()} - {"manifest.json"}
    if present != set(listed):
        extra, gone = sorted(present - set(listed)), sorted(set(listed) - present)
        raise _fail(folder, "files", f"unlisted {extra}, missing {gone}",
                    "exactly the files in manifest.json")
    if len(present) + 1 > MAX_FILES:
        raise _fail(folder, "files", len(present) + 1, f"at most {MAX_FILES}")
    part_of = {p: r["file"] for r in runs.values() for p in r.get("parts", [r["file"]])}
    data: dict[str, bytes] = {}
    for name in sorted(listed):
        data[name] = _read_plain(folder, name)
        if _sha(data[name]) != listed[name]:
            raise _fail(folder, f"{name} checksum", _sha(data[name])[:12],
                        f"{listed[name][:12]} (as in manifest.json)")
        if name not in part_of and Path(name).suffix not in SIDE_SUFFIXES:
            raise _fail(folder, name, "an unknown kind of file", "run-*.tar, *.json, *.xml")
        if name not in part_of and name.endswith(".json"):
            try:
                json.loads(data[name])
            except (ValueError, RecursionError) as e:
                raise _fail(folder, name, f"invalid JSON ({e.__class__.__name__})",
                            "a JSON side file") from None
    entries = {}
    for name, r in runs.items():
        parts = r.get("parts", [name])
        if not set(parts) <= set(listed):
            raise _fail(folder, "run", name, "its parts listed in manifest.json")
        entries[name] = _read_run(folder, name, _run_bytes(folder, r, data))
        check_run(folder, name, entries[name], r)
    return manifest, data, entries


def session_dir(manifest: dict) -> Path:
    """Where a folder's side files go: ``bench/sessions/<created, compact>``."""
    created = "".join(ch for ch in str(manifest.get("created", "unknown")) if ch.isalnum())
    return SESSIONS / created[:15]


def check_folder(folder: Path | str) -> dict:
    """Check a results folder completely; return the manifest (raises one-line errors)."""
    return _check(Path(folder))[0]


def import_results(folder: Path | str, committed: Path | str, replace: bool = False
                   ) -> list[Path]:
    """Check ``folder`` (everything, first), then copy its runs into ``committed/<experiment>/
    <key>/`` and its side files under ``committed/bench``, from the bytes that were checked. A
    committed run of the same key is kept unless ``replace``. Returns the written paths."""
    folder, committed = Path(folder), Path(committed)
    manifest, data, entries = _check(folder)
    runs = {r["file"]: r for r in manifest.get("runs", [])}
    plan: list[tuple[Path, dict[str, bytes] | bytes]] = []
    parts = {p for r in runs.values() for p in r.get("parts", [r["file"]])}
    for name, r in sorted(runs.items()):
        dst = committed / r["experiment"] / r["key"]
        if (dst / "result.bin").exists() and not replace:
            raise _fail(folder, f"{name} destination", str(dst),
                        "a key not committed yet (or --replace)")
        plan.append((dst, committed_files(entries[name], leaves(r["experiment"]))))
    for name in sorted(set(manifest["files"]) - parts):
        dst = committed / session_dir(manifest) / name
        if dst.exists() and dst.read_bytes() != data[name] and not replace:
            raise _fail(folder, f"{name} destination", str(dst),
                        "a file not committed yet (or --replace)")
        plan.append((dst, data[name]))
    written = []
    for dst, content in plan:
        if isinstance(content, dict):
            tmp = dst.with_name(f".{dst.name}.importing")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for f, data_ in content.items():
                (tmp / f).write_bytes(data_)
            if dst.exists():
                shutil.rmtree(dst)
            tmp.rename(dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(content)
        written.append(dst)
    return written
