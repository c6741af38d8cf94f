"""The package's import graph runs one way (docs/architecture.md).

Built from the source with ``ast`` (nothing is imported): every ``import``/``from ... import``
of a ``pixelnet`` module, at any depth (lazy imports inside functions count too), is an arrow.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pixelnet"
MAX_LINES = 400
MAX_FOLDER_LINES = 2000


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The ``pixelnet`` modules ``path`` imports (a name imported from a package counts as that
    submodule when one of that name exists)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pixelnet")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "pixelnet":
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found.update(subs or {target})
    return {m for m in found if m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, name, set(mods)) for name, path in mods.items()}


def room(module: str) -> str:
    """The unit of the layering: a sub-package of ``pixelnet`` or one top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_rooms_import_only_downwards() -> None:
    """No folder imports from a folder (or top-level module) that imports it, even indirectly."""
    rooms: dict[str, set[str]] = defaultdict(set)
    for mod, deps in graph().items():
        for dep in deps:
            if room(dep) != room(mod) and room(dep) != "pixelnet":
                rooms[room(mod)].add(room(dep))
    cycle = find_cycle(rooms)
    assert cycle is None, "rooms importing each other: " + " -> ".join(cycle)


def test_nothing_in_the_library_imports_the_package_root() -> None:
    """``pixelnet/__init__.py`` is the top: a module importing it would import everything."""
    bad = sorted(m for m, deps in graph().items() if "pixelnet" in deps and m != "pixelnet")
    assert not bad, f"modules importing the package root: {bad}"


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("folder", ["pixelnet", "train", "demo"])
def test_no_source_file_over_400_lines(folder: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split by concept: {long}"


def test_no_folder_of_the_library_over_2000_lines() -> None:
    sizes: dict[str, int] = defaultdict(int)
    for p in PKG.rglob("*.py"):
        if p.parent != PKG:
            sizes[str(p.parent.relative_to(ROOT))] += len(p.read_text().splitlines())
    big = {k: v for k, v in sizes.items() if v > MAX_FOLDER_LINES}
    assert not big, big


def test_every_folder_says_what_it_holds_and_may_import() -> None:
    for init in PKG.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        if init.parent != PKG:
            assert "May import" in doc, f"{init.relative_to(ROOT)}: say what it may import ('May import: ...')"


def client_imports(folder: str) -> list[tuple[str, str, str]]:
    """(file, module, name) of every ``from pixelnet... import name`` in a client folder."""
    out = []
    for p in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("pixelnet"):
                out += [(str(p.relative_to(ROOT)), node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                out += [(str(p.relative_to(ROOT)), a.name, "") for a in node.names if a.name.startswith("pixelnet")]
    return out


@pytest.mark.parametrize("folder", ["train", "demo", "bench"])
def test_clients_use_the_public_api(folder: str) -> None:
    """``train/``, ``demo/`` and ``bench/`` import ``pixelnet``, its top-level modules and its
    sub-packages, never a module inside a sub-package, and only names the module exports."""
    import importlib

    bad = []
    for file, module, name in client_imports(folder):
        parts = module.split(".")
        is_pkg = (ROOT / Path(*parts) / "__init__.py").exists()
        if len(parts) > 2 or (len(parts) == 2 and not is_pkg and not (ROOT / Path(*parts)).with_suffix(".py").exists()):
            bad.append(f"{file}: {module}")
            continue
        if name and name != "*":
            exported = getattr(importlib.import_module(module), "__all__", None)
            if name.startswith("_") or (exported is not None and name not in exported):
                bad.append(f"{file}: {module}.{name}")
    assert not bad, "private imports:\n" + "\n".join(sorted(set(bad)))


def test_train_does_not_import_bench() -> None:
    for p in (ROOT / "train").rglob("*.py"):
        text = p.read_text()
        imported = {n.split(".")[0] for n in _imported_names(text)}
        assert not {"bench", "_measure"} & imported and not any(n.startswith("bench_") for n in imported), p


def _imported_names(text: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names
