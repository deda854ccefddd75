"""The results store: one directory per run, keyed by a hash of its config and the package version.

Layout: ``ROOT/<experiment>/<key>/`` holding

* ``config.json`` – the full config, the experiment, the profile it came from;
* ``checkpoint.bin`` – the latest resumable state (while running);
* ``result.bin`` – the finished result (arrays, per-trial metrics, histories);
* ``meta.json`` – provenance: code version, git commit, machine, device, dates, wall time.

The ``.bin`` files are data files (``mifd.results.blobs``: JSON for the structure and the scalars,
``.npy`` arrays, in one zip; read without unpickling, so a file cannot run code). They start with
the SHA-256 of their payload, so a truncated or corrupt file is detected (and recomputed, never
silently used). A file of the former pickle format is refused with one line naming
``mifd convert-results``, which converts it exactly (``convert_results``). Every file is written
to a temporary name in the same directory, flushed to disk and renamed over the target (atomic
on POSIX). A run is *complete*
when ``result.bin`` verifies.

Read-only layers (``committed`` roots: compact results of long GPU runs kept in the repository)
are searched after the writable root.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from .._version import __version__
from . import numerics
from .blobs import (CorruptFileError, LegacyFormatError, blob_bytes, content_digest, is_legacy, load_blob, same)
from .legacy import read_legacy


class StoreWriteError(OSError):
    """A file of the results store could not be written (a full disk, no permission): one line,
    and no temporary file left behind."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it:
    a reader sees the old file or the new one, never a part. A failed write (e.g. a full disk)
    removes the temporary file and raises :class:`StoreWriteError`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise StoreWriteError(e.errno, f"cannot write {path} ({e.strerror or e}); free some "
                              "space or point MIFD_STORE at another folder") from None


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
                              + "\n").encode())


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dump_blob(path: Path, obj: Any, compress: bool = False) -> None:
    """Write ``obj`` as a data file (:mod:`mifd.results.blobs`: a format and checksum line, then a zip
    of ``tree.json`` and ``.npy`` arrays; deflated if ``compress``) atomically."""
    atomic_write_bytes(path, blob_bytes(obj, compress))


def convert_file(path: Path | str) -> dict[str, Any]:
    """Convert one file of the former pickle format (:func:`mifd.results.blobs.is_legacy`) in place into
    a data file, exactly: it is decoded with the allow-list unpickler
    (:func:`mifd.results.legacy.read_legacy`: arrays, tensors and plain values, never other code),
    encoded, decoded again and compared with :func:`mifd.results.blobs.same` (types, dtypes, shapes,
    bits) before the new file replaces the old one (atomically). A data file is only verified:
    converting twice changes nothing. ``checkpoint.bin`` is stored, anything else deflated. A
    ``result.bin`` beside a ``meta.json`` is recorded there (``converted``: the old file's
    SHA-256 and size, and the :func:`mifd.results.blobs.content_digest` that the new one must match).
    Returns ``path``, ``status`` (``converted`` or ``current``), the bytes before and after and
    the :func:`mifd.results.blobs.content_digest`; raises :class:`CorruptFileError` (one line)."""
    path = Path(path)
    raw = path.read_bytes()
    if not is_legacy(raw):
        obj = load_blob(path, raw)
        return {"path": str(path), "status": "current", "bytes_before": len(raw),
                "bytes_after": len(raw), "digest": content_digest(obj)}
    obj = read_legacy(raw, path)
    try:
        new = blob_bytes(obj, compress=path.name != "checkpoint.bin")
    except TypeError as e:
        raise CorruptFileError(f"{path}: cannot convert ({e})") from None
    if not same(load_blob(path, new), obj):  # pragma: no cover - a bug of the format
        raise CorruptFileError(f"{path}: the conversion does not read back exactly; kept as is")
    digest = content_digest(obj)
    meta = path.with_name("meta.json")
    if path.name == "result.bin" and meta.exists():  # the record: what it was, what it holds
        record = json.loads(meta.read_text())
        if isinstance(record, dict):
            record["converted"] = {"from": "torch.save pickle (mifd < data files)",
                                   "sha256_before": hashlib.sha256(raw).hexdigest(),
                                   "bytes_before": len(raw), "content_digest": digest}
            atomic_write_json(meta, record)
    atomic_write_bytes(path, new)
    return {"path": str(path), "status": "converted", "bytes_before": len(raw),
            "bytes_after": len(new), "digest": digest}


def convert_results(paths: list[Path | str]) -> list[dict[str, Any]]:
    """:func:`convert_file` for each file of ``paths`` and each ``*.bin`` under each folder
    (``result.bin``, ``checkpoint.bin``, cached data sets; temporary ``.``-files skipped), in
    sorted order."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.bin") if f.is_file() and not f.is_symlink()
                            and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            files.append(p)
    return [convert_file(f) for f in files]


def code_version() -> dict[str, Any]:
    """Package version and, when run from a git checkout, the commit (and whether it is dirty)."""
    info: dict[str, Any] = {"mifd": __version__}
    if os.environ.get("MIFD_GIT_COMMIT"):
        # set where the tree was copied without (or with a stale) .git, e.g. onto a GPU machine
        info["git_commit"] = os.environ["MIFD_GIT_COMMIT"]
        info["git_commit_from"] = "MIFD_GIT_COMMIT"
        return info
    here = Path(__file__).resolve().parents[1]  # the package
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--", str(here)], cwd=here,
                                   capture_output=True, text=True, timeout=5)
            info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def machine_info(device: str) -> dict[str, Any]:
    info = {"host_cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "device": device,
            "numerics": numerics.record()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def project_root(start: Path | None = None) -> Path | None:
    """The checkout this is run from: the nearest parent with ``_toc.yml`` and ``mifd/``."""
    for p in [Path(start or Path.cwd()).resolve(), *Path(start or Path.cwd()).resolve().parents]:
        if (p / "_toc.yml").exists() and (p / "mifd").is_dir():
            return p
    pkg_parent = Path(__file__).resolve().parents[2]
    if (pkg_parent / "_toc.yml").exists():
        return pkg_parent
    return None


def default_roots() -> tuple[Path, list[Path]]:
    """Writable store root and read-only committed roots.

    ``MIFD_STORE`` overrides the writable root; otherwise ``results/store`` of the checkout, or
    ``~/.cache/mifd/store`` outside one. Committed results live in ``results/committed``.
    """
    root = project_root()
    env = os.environ.get("MIFD_STORE")
    if env:
        writable = Path(env)
    elif root is not None:
        writable = root / "results" / "store"
    else:
        writable = Path.home() / ".cache" / "mifd" / "store"
    committed = [root / "results" / "committed"] if root is not None else []
    return writable, committed


def without_leaves(result: Any, leaves: Sequence[Sequence[str]]) -> tuple[Any, list[str]]:
    """``result`` without the ``leaves`` (paths of keys; an experiment's
    :attr:`~mifd.experiments.base.Experiment.committed_without`): a shallow copy along their
    paths, the input unchanged; and the paths left out (``a/b``)."""
    dropped = []
    for path in leaves:
        node, parents = result, []
        for k in path[:-1]:
            if not (isinstance(node, dict) and k in node):
                break
            parents.append((node, k))
            node = node[k]
        else:
            if isinstance(node, dict) and path[-1] in node:
                copy = {k: v for k, v in node.items() if k != path[-1]}
                for parent, k in reversed(parents):  # copy the dicts above it
                    copy = {**parent, k: copy}
                result = copy
                dropped.append("/".join(path))
    return result, dropped


def committed_files(files: dict[str, bytes], leaves: Sequence[Sequence[str]]
                    ) -> dict[str, bytes]:
    """The files (``result.bin``, ``meta.json``, ``config.json``: their bytes) of a run's
    committed copy: without the result's ``leaves`` (its experiment's
    :attr:`~mifd.experiments.base.Experiment.committed_without`: what no page reads), which its
    ``meta.json`` then names (``committed_without``); unchanged without any."""
    if not leaves:
        return dict(files)
    result, dropped = without_leaves(load_blob(Path("result.bin"), files["result.bin"]), leaves)
    if not dropped:
        return dict(files)
    meta = {**json.loads(files["meta.json"]), "committed_without": dropped}
    return {**files, "result.bin": blob_bytes(result, compress=True),
            "meta.json": (json.dumps(meta, indent=2, sort_keys=True, default=_json_default)
                          + "\n").encode()}


class Entry:
    """One run's directory."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly

    @property
    def result_path(self) -> Path:
        return self.path / "result.bin"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.bin"

    def load_result(self) -> Any | None:
        """The finished result, or ``None`` if absent or corrupt, or if its provenance
        (``meta.json``) or its config (``config.json``) is missing or damaged: a result is only
        as good as the record of what made it (each is warned about in one line)."""
        if not self.result_path.exists():
            return None
        for name in ("meta.json", "config.json"):
            error = self.json_error(name)
            if error is not None:
                warnings.warn(f"{self.path / name}: {error}; recomputing", stacklevel=2)
                return None
        try:
            return load_blob(self.result_path)
        except LegacyFormatError:
            raise  # convert it (one line): recomputing would discard a finished run
        except CorruptFileError as e:
            warnings.warn(f"{e}; recomputing", stacklevel=2)
            return None

    def json_error(self, name: str) -> str | None:
        """Why the entry's JSON file ``name`` cannot be used (missing, not JSON, not an
        object), or ``None``."""
        p = self.path / name
        if not p.exists():
            return "missing"
        try:
            data = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return f"damaged ({e.__class__.__name__})"
        return None if isinstance(data, dict) else "damaged (not a JSON object)"

    def meta_error(self) -> str | None:
        """Why ``meta.json`` cannot be used (:meth:`json_error`), or ``None``."""
        return self.json_error("meta.json")

    def load_checkpoint(self) -> Any | None:
        if not self.checkpoint_path.exists():
            return None
        try:
            return load_blob(self.checkpoint_path)
        except LegacyFormatError:
            raise  # convert it (one line): starting afresh would overwrite the run's progress
        except CorruptFileError as e:
            warnings.warn(f"{e}; starting from scratch", stacklevel=2)
            return None

    def save_checkpoint(self, state: Any) -> None:
        dump_blob(self.checkpoint_path, state)

    def save_result(self, result: Any, meta: dict) -> None:
        # provenance first: result.bin marks the entry complete
        atomic_write_json(self.path / "meta.json", meta)
        dump_blob(self.result_path, result, compress=True)
        if self.checkpoint_path.exists():
            self.checkpoint_path.unlink()

    def meta(self) -> dict:
        """The provenance, ``{}`` where it is missing or damaged (:meth:`meta_error`)."""
        if self.meta_error() is not None:
            return {}
        return json.loads((self.path / "meta.json").read_text())


class Store:
    """Find or create the entry of a run; committed (read-only) layers are searched second."""

    def __init__(self, root: Path | str | None = None, committed: list[Path] | None = None):
        d_root, d_committed = default_roots()
        self.root = Path(root) if root is not None else d_root
        self.committed = list(committed) if committed is not None else d_committed

    def entry(self, experiment: str, key: str) -> Entry:
        """The writable entry, unless only a committed layer holds a finished result."""
        own = Entry(self.root / experiment / key)
        if own.result_path.exists():
            return own
        for c in self.committed:
            e = Entry(c / experiment / key, readonly=True)
            if e.result_path.exists():
                return e
        return own

    def iter_entries(self, experiment: str | None = None, own: bool = False) -> Iterator[Entry]:
        """Every entry that has a ``meta.json`` (finished or not), of ``experiment`` or of all:
        those of the committed layers first (read-only; layer by layer, in path order), then,
        if ``own``, those of the store's own folder. The store's layout is
        ``<layer>/<experiment>/<key>/``: an entry's ``path.parent.name`` is its experiment,
        ``path.name`` its key."""
        layers = [(Path(c), True) for c in self.committed] + ([(self.root, False)] if own else [])
        pattern = f"{experiment}/*/meta.json" if experiment is not None else "*/*/meta.json"
        for layer, readonly in layers:
            for meta in sorted(layer.glob(pattern)):
                yield Entry(meta.parent, readonly=readonly)

    def committed_entry(self, experiment: str, key: str) -> Entry | None:
        """The first committed layer's finished entry of ``key``, if any."""
        for c in self.committed:
            e = Entry(c / experiment / key, readonly=True)
            if e.result_path.exists():
                return e
        return None

    def init_entry(self, entry: Entry, config: dict) -> None:
        """Write the entry's ``config.json`` unless it already holds ``config`` (a missing,
        damaged or different one is rewritten)."""
        p = entry.path / "config.json"
        want = json.loads(json.dumps(config, default=_json_default))
        if entry.json_error("config.json") is None and json.loads(p.read_text()) == want:
            return
        atomic_write_json(p, config)
