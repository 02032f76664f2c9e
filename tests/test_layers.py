"""The layering rule, checked on the source: low layers never import high ones.

ARCHITECTURE.md promises it; this keeps the promise true as the code grows.
"""

from __future__ import annotations

import ast
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
