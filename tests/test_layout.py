"""The package's layout is its architecture: no import circles (imports inside functions included, those
under ``TYPE_CHECKING`` not), no module over 400 lines, few modules directly in ``kb/``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

KB = Path(__file__).resolve().parent.parent / "kb"
MAX_LINES = 400
MAX_TOP_MODULES = 8


def module_name(path: Path) -> str:
    parts = list(path.relative_to(KB.parent).with_suffix("").parts) if path.is_relative_to(KB) else [path.stem]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except what sits under ``if TYPE_CHECKING:`` (typing only, never imported when running)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """kb's modules that ``path`` imports (a ``from package import module`` names the module)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
            found = [n for n in names if n in modules]
            out.update(found or ([base] if base in modules else []))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
    out.discard(me)
    return out


def import_graph() -> dict[str, set[str]]:
    files = sorted(KB.rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    graph = {"kb.a": {"kb.b"}, "kb.b": {"kb.c"}, "kb.c": {"kb.a"}, "kb.d": {"kb.a"}}
    assert circles(graph) == [["kb.a", "kb.b", "kb.c"]]
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kb.x import A\n"
                      "def f():\n    from kb.y import B\n", encoding="utf-8")
    assert imports_of(source, {"kb.x", "kb.y"}) == {"kb.y"}


def test_kb_has_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(KB.parent)): n for p in KB.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_few_modules_directly_in_kb() -> None:
    top = sorted(p.name for p in KB.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
