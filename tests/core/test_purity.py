"""The pure core imports only the standard library, numpy and the core itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "streams" / "core"
ALLOWED_THIRD_PARTY = {"numpy"}


def imported_modules(path: Path) -> list[str]:
    """Every absolute module name ``path`` imports (relative imports resolved to the core)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("streams.core")
            elif node.module:
                names.append(node.module)
    return names


def offenders(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name == "streams.core" or name.startswith("streams.core."):
                continue
            if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                continue
            bad.append(f"{path.name}: {name}")
    return bad


def test_every_core_module_imports_only_stdlib_numpy_and_core() -> None:
    modules = sorted(CORE.rglob("*.py"))
    assert {p.stem for p in modules} >= {"pipeline", "rows", "events", "registry", "localtime"}
    assert offenders(modules) == []


def test_the_check_catches_a_project_import_outside_core(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sinks.clickhouse import ClickHouseSink\nimport streams.kafka.codec\n")
    assert offenders([bad]) == ["bad.py: sinks.clickhouse", "bad.py: streams.kafka.codec"]
