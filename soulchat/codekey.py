"""The code a stage runs, derived from its imports, so that its cache key changes with that code.

A stage's code is the import closure of its module: every ``import``/``from … import`` anywhere in
a module (function-level ones included), and every ``"package.module:attr"`` string (the lazy
imports of registry rows and stage declarations; a dotted name without ``:attr`` is not one), followed through the source files of the tracked
packages: ``soulchat`` and the packages that registered components come from (plugins). Third-party
libraries are keyed by version elsewhere, not by source.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

#: tracked top-level package -> its folder; :func:`track` adds plugin packages
ROOTS: dict[str, Path] = {"soulchat": Path(__file__).resolve().parent}

#: a lazy import written as a string: ``"package.module:attr"``
_DOTTED = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):[A-Za-z_][\w.]*$")


def track(module: str) -> None:
    """Track the top-level package of ``module`` (a plugin's), found without importing it."""
    top = module.split(".", 1)[0]
    if top in ROOTS:
        return
    spec = importlib.util.find_spec(top)
    if spec is None:
        return
    if spec.submodule_search_locations:
        ROOTS[top] = Path(list(spec.submodule_search_locations)[0])
    elif spec.origin:
        ROOTS[top] = Path(spec.origin)  # a single-file module


def source_file(module: str) -> Path | None:
    """The source file of a tracked module (a package's ``__init__.py``), or None."""
    top, _, rest = module.partition(".")
    root = ROOTS.get(top)
    if root is None:
        return None
    if root.is_file():
        return root if not rest else None
    base = root.joinpath(*rest.split(".")) if rest else root
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=4096)
def _references(path: Path, mtime_ns: int, size: int) -> tuple[str, ...]:
    """Module names a source file imports or names in a ``"module:attr"`` string."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = _package_of(path)
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(p for p in (*parts, base) if p)
            out.append(base)
            out += [f"{base}.{a.name}" for a in node.names]  # a submodule, when it is one
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = _DOTTED.match(node.value)
            if m:
                out.append(m.group(1))
    return tuple(dict.fromkeys(out))


def _package_of(path: Path) -> str:
    """The dotted package a tracked source file belongs to (for relative imports)."""
    for top, root in ROOTS.items():
        if root.is_dir() and path.is_relative_to(root):
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            return ".".join(parts[:-1])
    return ""


def closure(modules: Iterable[str]) -> dict[str, Path]:
    """Every tracked module reachable from ``modules`` (with their parent packages) -> its file."""
    found: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            mod = ".".join(parts[:i])
            if mod in found:
                continue
            path = source_file(mod)
            if path is None:
                continue
            found[mod] = path
            st = path.stat()
            todo += [r for r in _references(path, st.st_mtime_ns, st.st_size) if r.split(".")[0] in ROOTS]
    return dict(sorted(found.items()))


def fingerprint(modules: Iterable[str]) -> str:
    """SHA-256 over the names and sources of the closure of ``modules``."""
    h = hashlib.sha256()
    for name, path in closure(modules).items():
        h.update(f"{name}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
