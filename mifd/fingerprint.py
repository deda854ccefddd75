"""What computed a result: a content hash of the library code an experiment runs.

:func:`code_hash` hashes, for an experiment, its module and every ``mifd`` module it imports,
directly or through others (at module level or inside functions): tasks, models, estimator,
trainer, metrics, configuration. Not the store, the registry, plotting or the book, which do not
change what a run computes. Each module enters by its syntax tree without docstrings, so
comments, docstrings and formatting do not count; any change to code does.

The runner records the hash with every result and checkpoint; a result or checkpoint made by
other code is never loaded or resumed as current (:func:`mifd.runner.run`), unless this code
reproduced it bit for bit on replay (:mod:`mifd.replay`).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PKG = Path(__file__).resolve().parent

#: modules that do not change what a run computes: where results are kept, the package's
#: version and registry (the version enters the store key already)
NOT_COMPUTING = ("mifd", "mifd._version", "mifd.store", "mifd.experiments", "mifd.fingerprint")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


_PARSED: dict[Path, tuple[tuple[int, int], ast.Module]] = {}


def _parse(path: Path) -> ast.Module:
    """The syntax tree of ``path`` (parsed again only when the file changed)."""
    st = path.stat()
    sig = (st.st_mtime_ns, st.st_size)
    hit = _PARSED.get(path)
    if hit is None or hit[0] != sig:
        hit = _PARSED[path] = (sig, ast.parse(path.read_text()))
    return hit[1]


def imports(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The ``mifd`` modules that ``mod`` imports anywhere in its source (``from . import x``
    names the submodule ``x``, not its package)."""
    here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
            targets = subs or {target}
        elif isinstance(node, ast.Import):
            targets = {a.name for a in node.names}
        else:
            continue
        out |= {t for t in targets if t in known and t != mod and not mod.startswith(t + ".")}
    return out


def import_graph():
    """The package's import graph (``networkx.DiGraph``: module → module it imports)."""
    import networkx as nx
    known = modules()
    g = nx.DiGraph()
    g.add_nodes_from(known)
    for mod, path in known.items():
        g.add_edges_from((mod, t) for t in imports(mod, path, known))
    return g


def computing_modules(module: str, known: dict[str, Path] | None = None) -> list[str]:
    """``module`` and every module it reaches through imports, not passing through
    :data:`NOT_COMPUTING`."""
    known = known or modules()
    seen, todo = {module}, [module]
    while todo:
        for t in imports(todo[-1], known[todo.pop()], known):
            if t not in seen and t not in NOT_COMPUTING:
                seen.add(t)
                todo.append(t)
    return sorted(seen)


_DIGESTS: dict[Path, tuple[tuple[int, int], str]] = {}


def _digest(path: Path) -> str:
    """Hash of the module's syntax tree without its docstrings (cached while the file is
    unchanged)."""
    st = path.stat()
    sig = (st.st_mtime_ns, st.st_size)
    hit = _DIGESTS.get(path)
    if hit is None or hit[0] != sig:
        hit = _DIGESTS[path] = (sig, _tree_digest(path))
    return hit[1]


def _tree_digest(path: Path) -> str:
    tree = ast.parse(path.read_text())  # a fresh tree: the docstrings are cut out of it
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
                and isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef,
                                      ast.ClassDef))):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def code_hash(experiment_module: str) -> str:
    """16 hex digits over the code of :func:`computing_modules` of ``experiment_module``
    (e.g. ``"mifd.experiments.wm"``)."""
    known = modules()
    h = hashlib.sha256()
    for mod in computing_modules(experiment_module, known):
        h.update(f"{mod}:{_digest(known[mod])}\n".encode())
    return h.hexdigest()[:16]
