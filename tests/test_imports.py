"""nqa's modules import each other in one direction: every concept sits on one floor.

Read from the source with `ast` (every import counts, function-local ones too: a lazy import is still
a dependency), so the check needs no module to be importable. The package facade `nqa/__init__.py`
is left out: it re-exports from the floors and imports its own model stack only on demand.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nqa"

# The four circles issue 17 named, each now one direction (importer, imported).
ONE_WAY = [
    ("encoder", "minilm"),  # the encoder builds on the frozen MiniLM; EncoderError lives in minilm
    ("wtq", "evaluation"),  # the dataset (and `nqa evaluate`) scores by the evaluator's rules
    ("sql", "program"),  # SQL reads programs; a Program knows nothing of SQL (nqa.sql.program_to_sql)
    ("table", "table_io"),  # reading sources into cells sits below typing them into a Table
]


def module_imports(path: Path, modules: set[str]) -> set[str]:
    """The nqa modules `path` imports anywhere in its code (`import nqa.x`, `from nqa.x import y`,
    `from nqa import x`, relative imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ("nqa." + (node.module or "")).rstrip(".") if node.level else (node.module or "")
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if len(parts) >= 2 and parts[0] == "nqa" and parts[1] in modules:
                found.add(parts[1])
    return found - {path.stem}


def import_graph() -> dict[str, set[str]]:
    files = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: module_imports(path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_parser_sees_every_kind_of_import(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import nqa.a\nfrom nqa.b import x\nfrom nqa import c\nfrom . import d\n"
                   "def f():\n    from .e import y\n    import nqa.f as g\nimport os\nfrom nqa import not_a_module\n")
    assert module_imports(src, {"a", "b", "c", "d", "e", "f", "m"}) == {"a", "b", "c", "d", "e", "f"}


@pytest.mark.parametrize("upper,lower", ONE_WAY, ids=[f"{a}->{b}" for a, b in ONE_WAY])
def test_named_pairs_import_one_way(upper, lower):
    graph = import_graph()
    assert lower in graph[upper], f"nqa/{upper}.py should build on nqa/{lower}.py"
    assert upper not in graph[lower], f"nqa/{lower}.py imports nqa/{upper}.py: the circle is back"


def test_nqa_has_no_import_cycle():
    assert find_cycle(import_graph()) is None, f"import cycle: {' -> '.join(find_cycle(import_graph()))}"


def test_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
