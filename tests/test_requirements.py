"""Every package in ``requirements*.txt`` is imported somewhere, or its line says why it is there (#15).

A requirement counts as used when one of the modules its distribution installs (read from the
installed metadata, so ``pillow`` -> ``PIL`` and ``pyyaml`` -> ``yaml`` need no table) is
imported by a Python file of the repository: an ``import`` statement, or a module name given
to ``importlib.import_module``, ``importlib.util.find_spec`` or ``pytest.importorskip``.
Otherwise the requirement must carry a comment on its line, or directly above it naming it.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "venv", "runs", "build", "dist", "node_modules", "__pycache__"}
IMPORTING_CALLS = {"import_module", "find_spec", "importorskip", "__import__"}


@dataclass(frozen=True)
class Requirement:
    name: str  # distribution name as written
    file: str
    line: str
    justified: bool  # a comment on the line, or directly above it naming the package


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of one file (``-r``/``-e``/option lines are not requirements)."""
    out: list[Requirement] = []
    comments: list[str] = []  # the comment block right above the current line
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comments.append(line)
            continue
        if not line or line.startswith("-"):
            comments = []
            continue
        spec, _, inline = line.partition(" #")
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
        assert m, f"{path.name}: cannot read requirement {line!r}"
        name = m.group(0)
        above = any(normalise(name) in normalise(c) for c in comments)
        out.append(Requirement(name, path.name, line, justified=bool(inline.strip(" #")) or above))
        comments = []
    return out


def imported_modules(files: Iterable[Path]) -> set[str]:
    """Top-level module names imported by ``files``."""
    found: set[str] = set()
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if fname in IMPORTING_CALLS and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value.split(".")[0])
    return found


def repo_python_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if not SKIP_DIRS.intersection(p.relative_to(root).parts)
            and not any(part.endswith(".egg-info") for part in p.parts)]


@functools.cache
def installed_modules() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # module -> distributions


def import_names(distribution: str) -> set[str]:
    """Modules installed by ``distribution`` (its own name with ``_`` when not installed)."""
    names = {mod for mod, dists in installed_modules().items()
             if normalise(distribution) in {normalise(d) for d in dists}}
    return names or {normalise(distribution).replace("-", "_")}


def unexplained(requirements: Iterable[Requirement], modules: set[str]) -> list[str]:
    return [f"{r.file}: {r.line!r} is imported nowhere and its line does not say why it is needed"
            for r in requirements if not r.justified and not (import_names(r.name) & modules)]


def test_every_requirement_is_imported_or_explained() -> None:
    files = sorted(ROOT.glob("requirements*.txt"))
    assert files, "no requirements files"
    requirements = [r for f in files for r in read_requirements(f)]
    assert len(requirements) > 5
    problems = unexplained(requirements, imported_modules(repo_python_files(ROOT)))
    assert not problems, "\n".join(problems)


def test_runtime_requirements_are_not_test_only() -> None:
    """torchmetrics is only a second route in the tests: a dev requirement, not a runtime one."""
    runtime = {normalise(r.name) for r in read_requirements(ROOT / "requirements.txt")}
    assert "torchmetrics" not in runtime


def test_checker_on_fixtures(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# header\n-r other.txt\npillow==1\nunusedpkg==2\nexplained-pkg==3  # a CLI tool, never imported\n"
        "# some-tool ships data files we read\nsome-tool==4\n# header of the next block\nlonely==5\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text(
        "from PIL import Image\nimport importlib.util\nimportlib.util.find_spec('lonely')\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "b.py").write_text("import unusedpkg\n")  # not the repository's code
    requirements = read_requirements(tmp_path / "requirements.txt")
    assert [r.name for r in requirements] == ["pillow", "unusedpkg", "explained-pkg", "some-tool", "lonely"]
    assert [r.justified for r in requirements] == [False, False, True, True, False]
    modules = imported_modules(repo_python_files(tmp_path))
    assert {"PIL", "importlib", "lonely"} <= modules and "unusedpkg" not in modules
    problems = unexplained(requirements, modules)
    assert len(problems) == 1 and "unusedpkg" in problems[0]
