"""What travels to a GPU machine: the checkout's tracked files and its untracked files that git
does not ignore, at most :data:`TRAVEL_LIMIT` bytes in all. The committed results
(``results/committed``) alone are larger than that, and a GPU session needs none of them: the
seeds it continues from are planned here first (:func:`mifd.gpu.shard.plan_args`). So, for
the length of one GPU call, :func:`hide_committed` takes ``results/committed`` out of git's
index (the files stay on disk, untracked and ignored through ``.git/info/exclude``) and
:func:`restore_committed` puts the index (as at the commit that was ``HEAD`` when it was hidden)
and the exclude file back as they were. Commit nothing in between: the removal is staged.

``make gpu-light`` / ``make gpu-restore`` (``mifd gpu-tree light|restore|size``)."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

from ..config import ConfigError

#: the most a GPU call takes along (the device's limit on the working tree)
TRAVEL_LIMIT = 64 * 2 ** 20
#: the folder left behind
COMMITTED = "results/committed"
#: the line :func:`hide_committed` adds to ``.git/info/exclude``
EXCLUDE_LINE = f"/{COMMITTED}/"
#: beside the exclude file: what :func:`restore_committed` needs (its presence: hidden)
BACKUP = "mifd-gpu-light.json"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def _exclude(root: Path) -> Path:
    return root / _git(root, "rev-parse", "--git-path", "info/exclude").strip()


def _backup(root: Path) -> Path:
    return _exclude(root).with_name(BACKUP)


def travelling_files(root: Path | str) -> list[Path]:
    """The files a GPU call takes along: tracked (in the index) and untracked but not ignored,
    as they are on disk (a tracked file deleted on disk travels nowhere)."""
    root = Path(root)
    names = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    files = {root / n for n in names.split("\0") if n}
    return sorted(f for f in files if f.is_file())


def travelling_bytes(root: Path | str) -> int:
    """The size of :func:`travelling_files`."""
    return sum(f.stat().st_size for f in travelling_files(root))


def is_light(root: Path | str) -> bool:
    """Whether ``results/committed`` is hidden (:func:`hide_committed`)."""
    return _backup(Path(root)).exists()


def hide_committed(root: Path | str) -> int:
    """Take ``results/committed`` out of the index and ignore it; returns the bytes that will
    travel. Refused (one line, nothing changed) when ``results/committed`` has changes that are
    not committed, when it is hidden already, or when even the light tree is over the limit."""
    root = Path(root)
    if is_light(root):
        raise ConfigError(f"parameter 'gpu-tree': got 'light' while {COMMITTED} is hidden "
                          "already; allowed: 'restore' first")
    if _git(root, "status", "--porcelain", "--", COMMITTED).strip():
        raise ConfigError(f"parameter 'gpu-tree': got 'light' with uncommitted changes in "
                          f"{COMMITTED}; allowed: a committed {COMMITTED} (commit or stash "
                          "them first)")
    exclude = _exclude(root)
    exclude.parent.mkdir(parents=True, exist_ok=True)
    old = exclude.read_bytes() if exclude.exists() else None
    head = _git(root, "rev-parse", "HEAD").strip()
    _backup(root).write_text(json.dumps(
        {"head": head, "exclude": None if old is None else old.decode("latin-1")}))
    try:
        sep = b"" if not old or old.endswith(b"\n") else b"\n"
        exclude.write_bytes((old or b"") + sep + EXCLUDE_LINE.encode() + b"\n")
        if _git(root, "ls-files", "--", COMMITTED).strip():
            _git(root, "rm", "-r", "--cached", "--quiet", "--", COMMITTED)
        size = travelling_bytes(root)
    except BaseException:
        restore_committed(root)
        raise
    if size > TRAVEL_LIMIT:
        restore_committed(root)
        raise ConfigError(f"parameter 'gpu-tree': the tree without {COMMITTED} is {size} "
                          f"bytes; allowed: at most {TRAVEL_LIMIT} (ignore or remove files)")
    return size


def restore_committed(root: Path | str) -> None:
    """Put ``results/committed`` back into the index as at the commit that was ``HEAD`` when it
    was hidden, and the exclude file back byte for byte; a no-op when it is not hidden. Warns
    when ``HEAD`` has moved since (a commit in between recorded the staged removal: the files
    are back in the index, to be committed again)."""
    root = Path(root)
    backup = _backup(root)
    if not backup.exists():
        return
    saved = json.loads(backup.read_text())
    if _git(root, "rev-parse", "HEAD").strip() != saved["head"]:
        warnings.warn(f"HEAD moved while {COMMITTED} was hidden: its files are staged again "
                      "from the commit before; commit them if the last commit removed them",
                      stacklevel=2)
    _git(root, "reset", "--quiet", saved["head"], "--", COMMITTED)
    exclude = _exclude(root)
    if saved["exclude"] is None:
        exclude.unlink(missing_ok=True)
    else:
        exclude.write_bytes(saved["exclude"].encode("latin-1"))
    backup.unlink()
