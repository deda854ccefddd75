"""What computed a result: a content hash of the library code an experiment runs.

:func:`code_hash` hashes, for an experiment, its module and every ``mifd`` module it imports,
directly or through others (at module level or inside functions): tasks, models, estimator,
trainer, metrics, configuration. Not the store, the registry, plotting or the book, which do not
change what a run computes.

The hash follows what is computed, not where the code lives: it is taken over the *multiset of
top-level statements* (functions, classes, assignments, third-party imports) of those modules,
each by its syntax tree without docstrings and without imports of ``mifd`` modules; the names
imported from elsewhere count once each however many modules import them (``typing`` and
``__future__`` not at all, nor ``if TYPE_CHECKING:`` blocks). So comments, docstrings and
formatting do not count; nor do a module's path or name, the order of its definitions, the file
a function or class lives in, or the import lines that name where something comes from — a move
or a split of modules keeps every committed result current. Any change to code that runs does
count.

The runner records the hash with every result and checkpoint; a result or checkpoint made by
other code is never loaded or resumed as current (:func:`mifd.results.runner.run`), unless this code
reproduced it on replay (:mod:`mifd.results.replay`).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]

#: modules that do not change what a run computes: where results are kept, the package's
#: version and registry (the version enters the store key already)
NOT_COMPUTING = ("mifd", "mifd._version", "mifd.results.store", "mifd.experiments", "mifd.results.fingerprint")


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


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not _type_checking(c))


def imports(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The ``mifd`` modules that ``mod`` imports anywhere in its source (``from . import x``
    names the submodule ``x``, not its package)."""
    here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in _runtime_nodes(_parse(path)):
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


_DIGESTS: dict[Path, tuple[tuple[int, int], list[str]]] = {}


def _digest(path: Path) -> list[str]:
    """Digests of the module's top-level statements (cached while the file is unchanged)."""
    st = path.stat()
    sig = (st.st_mtime_ns, st.st_size)
    hit = _DIGESTS.get(path)
    if hit is None or hit[0] != sig:
        hit = _DIGESTS[path] = (sig, _statement_digests(path))
    return hit[1]


def _internal(node: ast.AST) -> bool:
    """An import of a ``mifd`` module (relative, or absolute from the package)."""
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").split(".")[0] == "mifd"
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "mifd" for a in node.names)
    return False


def _strip(tree: ast.AST) -> None:
    """Cut docstrings and imports of ``mifd`` modules out of ``tree`` (a body left empty gets
    ``pass``)."""
    for node in ast.walk(tree):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(node, attr, None)
            if not isinstance(body, list) or not body:
                continue
            if (attr == "body" and isinstance(node, (ast.Module, ast.FunctionDef,
                                                     ast.AsyncFunctionDef, ast.ClassDef))
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                body = body[1:]
            body = [b for b in body if not _internal(b)]
            if not body and not isinstance(node, ast.Module) and attr == "body":
                body = [ast.Pass()]
            setattr(node, attr, body)


#: imports that never change what is computed (type hints, future syntax)
NOT_COMPUTING_IMPORTS = ("typing", "__future__")


def _type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): a block that never runs."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_names(node: ast.AST) -> list[str]:
    """A top-level import, one entry per name it binds (``from numpy import a, b``: two), so
    that the same name imported in two modules after a split counts once; ``typing`` and
    ``__future__`` imports count not at all."""
    if isinstance(node, ast.ImportFrom):
        if (node.module or "").split(".")[0] in NOT_COMPUTING_IMPORTS:
            return []
        return [f"from {node.module} import {a.name} as {a.asname or a.name}" for a in node.names]
    return [f"import {a.name} as {a.asname or a.name}" for a in node.names
            if a.name.split(".")[0] not in NOT_COMPUTING_IMPORTS]


def _statement_digests(path: Path) -> list[str]:
    """The digests of a module's top-level statements; an import is one ``import:`` entry per
    name it binds (the same in every module), a ``TYPE_CHECKING`` block none."""
    tree = ast.parse(path.read_text())  # a fresh tree: docstrings and imports are cut from it
    _strip(tree)
    out = []
    for node in tree.body:
        if _type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out += [f"import:{name}" for name in _import_names(node)]
        else:
            out.append(hashlib.sha256(ast.dump(node, include_attributes=False).encode())
                       .hexdigest())
    return out


def code_hash(experiment_module: str) -> str:
    """16 hex digits over the code of :func:`computing_modules` of ``experiment_module``
    (e.g. ``"mifd.experiments.wm"``): the sorted digests of their top-level statements, so the
    hash does not depend on module names, paths, import lines or the order of definitions;
    the names imported from outside the package count once each, however many modules import
    them, so splitting a module in two keeps the hash."""
    known = modules()
    digests = [d for mod in computing_modules(experiment_module, known)
               for d in _digest(known[mod])]
    imports = sorted({d for d in digests if d.startswith("import:")})
    rest = sorted(d for d in digests if not d.startswith("import:"))
    return hashlib.sha256("\n".join(imports + rest).encode()).hexdigest()[:16]
