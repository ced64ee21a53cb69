"""The test tree's own layering: shared helpers live in ``tests/support/``, no test imports another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = "tests.support"


def module_of(path: Path) -> str:
    """The dotted name of a file under ``tests/`` (``tests/unit/test_x.py`` → ``tests.unit.test_x``)."""
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, here: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module an import in ``tree`` may name (relative ones resolved), with its line, lazy ones too.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c``: ``c`` may be a module of its own."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here.split(".") if is_package else here.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def private_modules() -> set[str]:
    """The modules of tests/ that are not shared helpers: test files, conftests, anything outside support/."""
    return {
        module_of(path)
        for path in TESTS.rglob("*.py")
        if path.name != "__init__.py" and not module_of(path).startswith(f"{SUPPORT}.")
    }


def offending_imports() -> list[str]:
    """``file:line imports module`` for every import of a test module, from any file under tests/."""
    private = private_modules()
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, module in imported(tree, module_of(path), path.name == "__init__.py"):
            if module in private:
                found.append(f"{path.relative_to(TESTS.parent)}:{line} imports {module}")
    return found


def test_no_test_module_imports_another_test_module() -> None:
    """Helpers shared between test files live in tests/support/; a test or conftest is never imported."""
    found = offending_imports()
    assert found == [], "测试模块互相导入 (共用的帮助函数请放到 tests/support/):\n" + "\n".join(found)


def test_the_check_catches_an_import_of_a_test_module() -> None:
    """A lazy ``from tests.unit.test_records import X`` and a relative ``from .conftest import Y`` are found."""
    tree = ast.parse(
        "def f():\n    from tests.unit.test_records import PENALTY\n"
        "from .conftest import PASSWORD\nfrom tests.support.console import Console\nimport httpx\n"
        "from tests.unit import test_report\n"
    )
    private = private_modules()
    names = sorted({m for _line, m in imported(tree, "tests.console.test_x", False) if m in private})
    assert names == ["tests.console.conftest", "tests.unit.test_records", "tests.unit.test_report"]
