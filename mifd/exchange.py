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
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ._version import __version__
from .config import ConfigError, apply_overrides, config_hash, to_dict
from .store import atomic_write_json, committed_files, now

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
#: profile's too (:data:`mifd.session_plan.SESSION_PLANS`: the ``gpu`` profile's sequence
#: length, its MM steps and the snapshots' spacing)
PLANNED_FIELDS = {"gpu": ("length", "mm_steps", "eval_every")}
#: side files: timing or benchmark JSON, test reports
SIDE_SUFFIXES = (".json", ".xml")
#: where side files go under the committed results, one folder per session
SESSIONS = Path("bench") / "sessions"


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
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            members = tar.getmembers()
            names = sorted(m.name for m in members)
            if names != sorted(ENTRY_FILES) or not all(m.isfile() for m in members):
                raise _fail(folder, f"{name} members", names, ", ".join(ENTRY_FILES))
            return {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    except tarfile.TarError as e:
        raise _fail(folder, name, f"not a tar ({e})", "a tar written by mifd") from None


def check_run(folder: Path, name: str, files: dict[str, bytes], record: dict) -> dict:
    """Check one packed run; return its meta (raises :class:`~mifd.ConfigError`)."""
    from .experiments import get_experiment
    from .store import load_blob
    try:
        meta = json.loads(files["meta.json"])
        config = json.loads(files["config.json"])
    except json.JSONDecodeError as e:
        raise _fail(folder, f"{name} meta.json/config.json", f"invalid JSON ({e})",
                    "JSON written by mifd") from None
    missing = [k for k in PROVENANCE if k not in meta]
    if missing:
        raise _fail(folder, f"{name} provenance", f"missing {', '.join(missing)}",
                    ", ".join(PROVENANCE))
    if "device" not in meta["machine"] or "git_commit" not in meta["code"]:
        raise _fail(folder, f"{name} provenance", "no machine.device or code.git_commit",
                    "both recorded")
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
        cfg = apply_overrides(exp.config_cls(), meta["config"])
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
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "result.bin"
            p.write_bytes(files["result.bin"])
            load_blob(p)
    except Exception as e:
        raise _fail(folder, f"{name} result.bin", str(e), "a result that verifies") from None
    return meta


def _run_bytes(folder: Path, record: dict) -> bytes:
    return b"".join((folder / p).read_bytes() for p in record.get("parts", [record["file"]]))


def session_dir(manifest: dict) -> Path:
    """Where a folder's side files go: ``bench/sessions/<created, compact>``."""
    created = "".join(ch for ch in str(manifest.get("created", "unknown")) if ch.isalnum())
    return SESSIONS / created[:15]


def check_folder(folder: Path | str) -> dict:
    """Check a results folder completely; return the manifest (raises one-line errors)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _fail(folder, "folder", "not a directory", "a results folder")
    mpath = folder / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise _fail(folder, "manifest.json", f"unreadable ({e.__class__.__name__})",
                    "a manifest written by mifd") from None
    if manifest.get("format") != FORMAT:
        raise _fail(folder, "manifest format", manifest.get("format"), str(FORMAT))
    listed = manifest.get("files", {})
    present = {f.name for f in folder.iterdir()} - {"manifest.json"}
    if present != set(listed):
        extra, gone = sorted(present - set(listed)), sorted(set(listed) - present)
        raise _fail(folder, "files", f"unlisted {extra}, missing {gone}",
                    "exactly the files in manifest.json")
    if len(present) + 1 > MAX_FILES:
        raise _fail(folder, "files", len(present) + 1, f"at most {MAX_FILES}")
    runs = {r["file"]: r for r in manifest.get("runs", [])}
    part_of = {p: r["file"] for r in runs.values() for p in r.get("parts", [r["file"]])}
    for name in sorted(listed):
        f = folder / name
        if not f.is_file() or f.stat().st_size > MAX_BYTES:
            raise _fail(folder, name, "not a file or too large", f"a file of <= {MAX_BYTES} bytes")
        if _sha(f.read_bytes()) != listed[name]:
            raise _fail(folder, f"{name} checksum", _sha(f.read_bytes())[:12],
                        f"{listed[name][:12]} (as in manifest.json)")
        if name not in part_of and Path(name).suffix not in SIDE_SUFFIXES:
            raise _fail(folder, name, "an unknown kind of file", "run-*.tar, *.json, *.xml")
    for name, r in runs.items():
        parts = r.get("parts", [name])
        if not set(parts) <= set(listed):
            raise _fail(folder, "run", name, "its parts listed in manifest.json")
        check_run(folder, name, _read_run(folder, name, _run_bytes(folder, r)), r)
    return manifest


def import_results(folder: Path | str, committed: Path | str, replace: bool = False
                   ) -> list[Path]:
    """Check ``folder`` (everything, first), then copy its runs into ``committed/<experiment>/
    <key>/`` and its side files under ``committed/bench``. A committed run of the same key is
    kept unless ``replace``. Returns the written paths."""
    folder, committed = Path(folder), Path(committed)
    manifest = check_folder(folder)
    runs = {r["file"]: r for r in manifest.get("runs", [])}
    plan: list[tuple[Path, dict[str, bytes] | bytes]] = []
    parts = {p for r in runs.values() for p in r.get("parts", [r["file"]])}
    for name, r in sorted(runs.items()):
        dst = committed / r["experiment"] / r["key"]
        if (dst / "result.bin").exists() and not replace:
            raise _fail(folder, f"{name} destination", str(dst),
                        "a key not committed yet (or --replace)")
        plan.append((dst, committed_files(r["experiment"],
                                          _read_run(folder, name, _run_bytes(folder, r)))))
    for name in sorted(set(manifest["files"]) - parts):
        data = (folder / name).read_bytes()
        dst = committed / session_dir(manifest) / name
        if dst.exists() and dst.read_bytes() != data and not replace:
            raise _fail(folder, f"{name} destination", str(dst),
                        "a file not committed yet (or --replace)")
        plan.append((dst, data))
    written = []
    for dst, content in plan:
        if isinstance(content, dict):
            tmp = dst.with_name(f".{dst.name}.importing")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for f, data in content.items():
                (tmp / f).write_bytes(data)
            if dst.exists():
                shutil.rmtree(dst)
            tmp.rename(dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(content)
        written.append(dst)
    return written
