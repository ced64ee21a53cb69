"""The arrows between our packages go one way (README "Architecture"); this test keeps them so.

Every import in the product (module level and lazy, `if TYPE_CHECKING:` included: a type import is
still knowledge of the layer above) is walked with `ast`. A failure names the importing file, its
line and the forbidden target.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Layer of each package (by module prefix, longest first) and what it may import of ours besides
# itself: the contract nothing, the composition root everything but bench, simulators nothing.
MAY_IMPORT: dict[str, set[str]] = {
    "connectors.contract": set(),
    "connectors": {"connectors.contract"},
    "sync": {"connectors.contract", "connectors"},
    "console": {"connectors.contract", "connectors", "sync"},
    "zhifa_sync": {"connectors.contract", "connectors", "sync", "console", "simulators"},
    "simulators": set(),
    "bench": {"connectors.contract", "connectors", "sync", "zhifa_sync", "simulators"},
}
LAYERS = sorted(MAY_IMPORT, key=len, reverse=True)


def layer_of(module: str) -> str | None:
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, relative ones resolved."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            found.append((node.lineno, target))
    return found


def product_files() -> list[Path]:
    roots = [REPO / top for top in {layer.split(".")[0] for layer in MAY_IMPORT}]
    return sorted(f for top in roots for f in top.rglob("*.py") if "migrations" not in f.parts)


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_layers(path: Path) -> None:
    own = layer_of(module_name(path))
    assert own is not None
    wrong = []
    for line, target in imports(path):
        if target == "tests" or target.startswith("tests."):
            wrong.append(
                f"{path.relative_to(REPO)}:{line} imports {target} (shipped code never imports tests)"
            )
            continue
        other = layer_of(target)
        if other is not None and other != own and other not in MAY_IMPORT[own]:
            wrong.append(f"{path.relative_to(REPO)}:{line} imports {target} ({own} may not import {other})")
    assert not wrong, "\n".join(wrong)


def test_no_module_circles() -> None:
    """No two product modules import each other, directly or round a longer circle."""
    graph: dict[str, set[str]] = {}
    names = {module_name(f): f for f in product_files()}
    for name, path in names.items():
        graph[name] = {t for _, t in imports(path) if t in names and t != name}
    circles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not circles, "module circles: " + "; ".join(" ↔ ".join(sorted(c)) for c in circles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative enough for a few hundred modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            out.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return out
