"""The architecture the folders show: the core names no feature, and no import cycle at module top level."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "plugwork"
FEATURES = ("plugwork.queue", "plugwork.plugboard", "plugwork.db", "plugwork.auth")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports (resolved), at module level only or anywhere; TYPE_CHECKING blocks skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")
                    parent = parent[: len(parent) - node.level + 1]
                    base = ".".join([*parent, base]) if base else ".".join(parent)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            if not top_level_only or isinstance(node, ast.If | ast.Try | ast.With):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt | ast.ExceptHandler)])  # type: ignore[misc]
                if isinstance(node, ast.ExceptHandler):
                    visit(node.body)

    visit(tree.body)
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def test_the_core_and_http_name_no_feature() -> None:
    core = [
        SRC / "app.py",
        SRC / "dispatch.py",
        SRC / "context.py",
        SRC / "config.py",
        *SRC.glob("http/*.py"),
    ]
    for path in core:
        named = {m for m in _imports(path, top_level_only=False) if m.startswith(FEATURES)}
        assert not named, f"{path.relative_to(SRC)} imports {sorted(named)}"


def test_no_import_cycle_at_module_top_level() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _imports(path, top_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    # A package imports its own submodules from __init__; that is not a cycle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not (name.startswith(m + ".") and m in modules)}
    state: dict[str, int] = {}
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
