"""The layering rule, checked on the source: low layers never import high ones, and no module imports itself back.

ARCHITECTURE.md promises it; this keeps the promise true as the code grows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "selftrack"
LOW = ["core", "video", "formats", "synth", "metrics", "trackers", "detectors", "render", "reid"]
MIDDLE = ["workspace", "pipeline", "ops"]
TOP = ["cli", "server"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def selftrack_layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "selftrack" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize("package", LOW + MIDDLE)
def test_layers_only_import_downwards(package: str):
    forbidden = set(MIDDLE + TOP) if package in LOW else set(TOP)
    if package == "workspace":
        forbidden |= {"pipeline", "ops"}
    folder = SRC / package
    if not folder.exists():
        pytest.skip(f"selftrack.{package} does not exist yet")
    offenders = []
    for path in folder.rglob("*.py"):
        for module in imported_modules(path):
            layer = selftrack_layer(module)
            if layer in forbidden:
                offenders.append(f"{path.relative_to(SRC)} imports {module}")
    assert not offenders, "layering violated:\n" + "\n".join(offenders)


def test_core_needs_only_numpy():
    for path in (SRC / "core").rglob("*.py"):
        third_party = {m.split(".")[0] for m in imported_modules(path)} - {"selftrack", "__future__"}
        import sys

        assert third_party <= {"numpy"} | set(sys.stdlib_module_names), f"{path.name}: {third_party}"


def test_torch_only_in_reid_and_optional_detectors():
    allowed = {"reid", "detectors"}
    for path in SRC.rglob("*.py"):
        layer = path.relative_to(SRC).parts[0]
        if layer in allowed:
            continue
        assert "torch" not in {m.split(".")[0] for m in imported_modules(path)}, f"{path} imports torch"


# ------------------------------------------------------------------------------------------ import cycles
def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, package: list[str]) -> Iterator[tuple[str, list[str]]]:
    """``(module, names)`` of every import under ``node``, relative ones resolved; ``TYPE_CHECKING`` blocks left out."""
    if _is_type_checking(node):
        for child in node.orelse:  # type: ignore[attr-defined]
            yield from _imports(child, package)
        return
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, []
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        yield base, [alias.name for alias in node.names]
    for child in ast.iter_child_nodes(node):
        yield from _imports(child, package)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}`` for every module under ``src`` (a package folder).

    Every import statement counts, at the top of the file or inside a function: a function-level import
    only delays the cycle to the first call, it does not remove it. Imports under ``if TYPE_CHECKING:``
    do not count: they never run, they only name types for annotations. ``from pkg import name`` points
    at ``pkg.name`` when that is a module, else at ``pkg``. A package's ``__init__`` re-exporting its
    modules is an edge from the package to them; a module is not taken to import its parent package.
    """
    modules = {}
    for path in src.rglob("*.py"):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for module, names in _imports(ast.parse(path.read_text(), filename=str(path)), package):
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            targets |= set(subs) if subs and len(subs) == len(names) else {module, *subs}
        resolved = set()
        for target in targets:
            while target and target not in modules:  # selftrack.x.y.Class -> selftrack.x.y
                target = target.rpartition(".")[0]
            if target and target != name:
                resolved.add(target)
        graph[name] = resolved
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds one or more cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_cycle_check_sees_function_level_imports_and_skips_type_checking(tmp_path: Path):
    """The checker on a small package: a cycle closed inside a function is found, a typing-only one is not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text("from pkg.sub import b\nA = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import C\n    return C\n")
    (pkg / "c.py").write_text("import pkg.a\nC = 2\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.e import E\nD = 3\n")
    (pkg / "e.py").write_text("from pkg.d import D\nE = 4\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.b"] == {"pkg.c"} and graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.d"] == set()
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles between modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)
