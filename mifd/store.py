"""The results store: one directory per run, keyed by a hash of its config and the package version.

Layout: ``ROOT/<experiment>/<key>/`` holding

* ``config.json`` – the full config, the experiment, the profile it came from;
* ``checkpoint.bin`` – the latest resumable state (while running);
* ``result.bin`` – the finished result (arrays, per-trial metrics, histories);
* ``meta.json`` – provenance: code version, git commit, machine, device, dates, wall time.

Binary files start with the SHA-256 of their payload, so a truncated or corrupt file is detected
(and recomputed, never silently used). Every file is written to a temporary name in the same
directory, flushed to disk and renamed over the target (atomic on POSIX). A run is *complete*
when ``result.bin`` verifies.

Read-only layers (``committed`` roots: compact results of long GPU runs kept in the repository)
are searched after the writable root.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from . import numerics


class CorruptFileError(IOError):
    """A store file failed its checksum or could not be decoded."""


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


def dump_blob(path: Path, obj: Any) -> None:
    """Serialize ``obj`` with a checksum header and write it atomically.

    Pickle protocol 4: numpy arrays as raw bytes (torch's default protocol 2 writes them as
    latin-1 text, about 1.45× their size, and loads them 10× slower); files of either protocol
    load."""
    atomic_write_bytes(path, blob_bytes(obj))


def blob_bytes(obj: Any) -> bytes:
    """The bytes :func:`dump_blob` writes: a checksum line, then the pickle (protocol 4)."""
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=4)
    payload = buf.getvalue()
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def load_blob(path: Path, raw: bytes | None = None) -> Any:
    """Read a file written by :func:`dump_blob` (or its bytes ``raw``); raise
    :class:`CorruptFileError` if it fails."""
    raw = Path(path).read_bytes() if raw is None else raw
    head, sep, payload = raw.partition(b"\n")
    if not sep or len(head) != 64 or hashlib.sha256(payload).hexdigest().encode() != head:
        raise CorruptFileError(f"{path}: checksum mismatch (truncated or corrupt)")
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as e:  # pragma: no cover - checksum passed but decode failed
        raise CorruptFileError(f"{path}: cannot decode ({e})") from e


def code_version() -> dict[str, Any]:
    """Package version and, when run from a git checkout, the commit (and whether it is dirty)."""
    info: dict[str, Any] = {"mifd": __version__}
    if os.environ.get("MIFD_GIT_COMMIT"):
        # set where the tree was copied without (or with a stale) .git, e.g. onto a GPU machine
        info["git_commit"] = os.environ["MIFD_GIT_COMMIT"]
        info["git_commit_from"] = "MIFD_GIT_COMMIT"
        return info
    here = Path(__file__).resolve().parent
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
    pkg_parent = Path(__file__).resolve().parent.parent
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


#: leaves of a result that no page reads, left out of its committed copy (recorded in its
#: ``meta.json`` as ``committed_without``): the example sequences of every trial of the penalty
#: experiments (two thirds of their size; their chapters show none)
COMMITTED_WITHOUT: dict[str, tuple[tuple[str, ...], ...]] = {
    "penalties": (("final", "example"),),
    "penalties-separation": (("final", "example"),),
}


def without_uncommitted(experiment: str, result: Any) -> tuple[Any, list[str]]:
    """``result`` without the :data:`COMMITTED_WITHOUT` leaves of ``experiment`` (a shallow
    copy along their paths; the input is unchanged) and the paths left out (``a/b``)."""
    dropped = []
    for path in COMMITTED_WITHOUT.get(experiment, ()):
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


def committed_files(experiment: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The files (``result.bin``, ``meta.json``, ``config.json``: their bytes) of a run's
    committed copy: without the :data:`COMMITTED_WITHOUT` leaves, which its ``meta.json`` then
    names (``committed_without``); unchanged for the other experiments."""
    if experiment not in COMMITTED_WITHOUT:
        return dict(files)
    result, dropped = without_uncommitted(experiment, load_blob(Path("result.bin"),
                                                                files["result.bin"]))
    if not dropped:
        return dict(files)
    meta = {**json.loads(files["meta.json"]), "committed_without": dropped}
    return {**files, "result.bin": blob_bytes(result),
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
        except CorruptFileError as e:
            warnings.warn(f"{e}; starting from scratch", stacklevel=2)
            return None

    def save_checkpoint(self, state: Any) -> None:
        dump_blob(self.checkpoint_path, state)

    def save_result(self, result: Any, meta: dict) -> None:
        # provenance first: result.bin marks the entry complete
        atomic_write_json(self.path / "meta.json", meta)
        dump_blob(self.result_path, result)
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
