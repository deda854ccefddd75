"""Building the book: execute the chapters at a profile through myst-nb and build the HTML
(``mifd book``), with an execution cache that is dropped when the library or the results change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..config import ConfigError


def _invalidate_stale_cache(cache: Path, root: Path) -> None:
    """myst-nb's execution cache keys a notebook by its source only: drop the cache when the
    library, the committed results or the results store changed since it was filled, so a page
    never shows outputs of older code or results."""
    import hashlib
    h = hashlib.sha256(os.environ.get("MIFD_STORE", "").encode())
    for base in ("mifd", "results"):
        for f in sorted((root / base).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                st = f.stat()
                h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    key = h.hexdigest()
    stamp = cache.parent / "mifd-cache-key"
    if cache.exists() and (not stamp.exists() or stamp.read_text() != key):
        shutil.rmtree(cache)
        print(f"execution cache {cache} dropped (code or results changed)", flush=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)


def execution_cache(profile: str, root: Path) -> Path:
    """Where jupyter-book keeps the execution cache of a ``profile``'s build: ``_build/`` for
    ``book``; for another profile, built with ``--path-output _build/<profile>``, inside that
    folder's own ``_build/``."""
    out = root / "_build" if profile == "book" else root / "_build" / profile / "_build"
    return out / ".jupyter_cache"


def build_book(profile: str, root: Path) -> int:
    """Execute the chapters at ``profile`` (through myst-nb, with its cache) and build HTML.

    The default ``book`` profile writes ``_build/html``; another profile builds in
    ``_build/<profile>/`` with its own execution cache, so results never mix.
    """
    from .assets import AssetError, ensure_assets
    vendor = root / "book" / "_static" / "vendor"
    try:
        fetched = ensure_assets(vendor)
    except AssetError as e:
        raise ConfigError(f"parameter 'assets': got {e}; allowed: the pinned front-end files in "
                          f"{vendor} (downloaded once from the npm registry)") from None
    if fetched:
        print(f"fetched {', '.join(fetched)} into {vendor}", flush=True)
    _invalidate_stale_cache(execution_cache(profile, root), root)
    env = dict(os.environ, MIFD_PROFILE=profile, MIFD_PROGRESS="0")
    jb = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    cmd = [jb, "build", str(root), "--all", "-W", "-n", "--keep-going"]
    if profile != "book":
        cmd += ["--path-output", str(root / "_build" / profile)]
    print("+", " ".join(cmd), f"(MIFD_PROFILE={profile})", flush=True)
    return subprocess.call(cmd, env=env)
