"""The folders are the architecture: which room may import which.

    core ← kafka, traffic, sinks ← health ← web ← worker ← cli
                                        web (auth) ← ingest ← cli

``streams.settings`` (the one settings object) is a leaf every room but core may read. The
benchmark suite (bench/) and the development tools (tools/) sit outside the installed package:
nothing installed imports them except ``emc bench``, which loads bench/ from a checkout.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "settings": set(),
    "kafka": {"core"},
    "traffic": {"core"},
    "sinks": {"core"},
    "health": {"core", "sinks", "settings"},
    "assessment": {"core", "sinks", "health", "settings"},
    "web": {"core", "sinks", "health", "assessment", "settings"},
    "worker": {"core", "kafka", "sinks", "health", "assessment", "web", "settings"},
    "ingest": {"core", "kafka", "web", "settings"},
    "cli": {
        "core",
        "kafka",
        "traffic",
        "sinks",
        "health",
        "assessment",
        "web",
        "worker",
        "ingest",
        "settings",
        "bench",
    },
    "tools": set(),
    "bench": {
        "core",
        "kafka",
        "traffic",
        "sinks",
        "health",
        "assessment",
        "web",
        "worker",
        "ingest",
        "settings",
    },
}
"""Room → the other rooms it may import (a room always imports itself)."""


def room_of_module(name: str) -> str | None:
    """The room of a module name of this project, ``None`` for anything else."""
    parts = name.split(".")
    if parts[0] == "streams" and len(parts) > 1:
        return parts[1] if parts[1] in ALLOWED else None
    if parts[0] in ("sinks", "bench", "tools"):
        return parts[0]
    return None


def room_of_file(path: Path) -> str | None:
    return room_of_module(".".join(path.relative_to(REPO).with_suffix("").parts))


def project_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def room_graph() -> dict[str, set[str]]:
    """Room → rooms it imports, read from every source file."""
    graph: dict[str, set[str]] = {room: set() for room in ALLOWED}
    for top in ("streams", "sinks", "bench", "tools"):
        for path in (REPO / top).rglob("*.py"):
            if path == REPO / "streams" / "__init__.py":
                continue  # the package face: a docstring
            room = room_of_file(path)
            assert room is not None, f"{path} is in no room"
            for name in project_imports(path):
                other = room_of_module(name)
                if other is not None and other != room:
                    graph[room].add(other)
    return graph


def test_every_room_imports_only_rooms_below_it() -> None:
    graph = room_graph()
    wrong = {room: sorted(used - ALLOWED[room]) for room, used in graph.items()}
    assert {room: used for room, used in wrong.items() if used} == {}


def test_rooms_form_no_cycle() -> None:
    graph = room_graph()
    order: list[str] = []
    marks: dict[str, str] = {}

    def visit(room: str, trail: tuple[str, ...]) -> None:
        assert marks.get(room) != "open", f"import cycle: {' → '.join((*trail, room))}"
        if marks.get(room) == "done":
            return
        marks[room] = "open"
        for other in sorted(graph[room]):
            visit(other, (*trail, room))
        marks[room] = "done"
        order.append(room)

    for room in sorted(graph):
        visit(room, ())
    assert order.index("core") < order.index("worker") < order.index("cli")


def test_no_module_sits_loose_at_the_top_of_streams() -> None:
    loose = sorted(p.name for p in (REPO / "streams").glob("*.py"))
    assert loose == ["__init__.py", "settings.py"]


def test_package_faces_hold_no_logic() -> None:
    """``__init__`` files only document and re-export: no functions, classes or statements."""
    inits = [
        i
        for top in ("streams", "sinks", "bench", "tools")
        for i in (REPO / top).rglob("__init__.py")
    ]
    assert len(inits) >= 10
    for init in inits:
        tree = ast.parse(init.read_text())
        for node in tree.body:
            ok = (
                isinstance(node, (ast.Import, ast.ImportFrom))
                or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
                or (
                    isinstance(node, ast.Assign)
                    and [getattr(t, "id", None) for t in node.targets] == ["__all__"]
                )
            )
            assert ok, f"{init.relative_to(REPO)}: line {node.lineno} is logic"


def test_the_direction_check_sees_a_wrong_arrow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from streams.worker.app import create_app\nimport sinks.clickhouse\n")
    assert project_imports(bad) == {"streams.worker.app", "sinks.clickhouse"}
    assert {room_of_module(n) for n in project_imports(bad)} - ALLOWED["health"] == {"worker"}


if __name__ == "__main__":  # `python -m tests.test_layout`: the room graph as it stands
    for room, used in sorted(room_graph().items()):
        print(f"{room:8} → {', '.join(sorted(used)) or '(nothing of the project)'}")
