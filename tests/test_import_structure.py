"""The package's folders are the pipeline, and data flows one way through them.

Every module of archspec/ is parsed with `ast` and each import — at module level or inside a
function; only `if TYPE_CHECKING:` blocks are left out — is an edge. The test fails on an import of
a later stage and on any cycle between modules, naming them. docs/architecture.md draws the same
order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archspec"

# Stage of each top-level part of the package, in the order data flows through them.
STAGES = {
    "core": 0,  # source text, spans, the Diagnostic type and code table, symbolic sizes
    "syntax": 1,  # text -> AST
    "ops": 2,  # the op registry: signatures, validation, shape rules, counts
    "elaborate": 3,  # AST -> graph (values, evaluator, scopes, blocks)
    "shapes": 4,  # graph -> shapes, accepted sizes, costs
    "diagnostics": 5,  # lint rules, budgets, suppressions, configuration, formats
    "outputs": 6,  # codegen, render, summary, diff
    "driver": 7,  # the pipeline: load -> elaborate -> infer -> lint -> suppress
    "tools": 8,  # fmt, fixes, lsp, revisions
    "api": 9,  # archspec.load/build/compile_source
    "__init__": 9,  # the public facade
    "cli": 10,  # the only place that prints and exits
    "__main__": 11,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".")
    if not MODULES[importer].name == "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported archspec module, line) for every import in `module` outside TYPE_CHECKING."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in MODULES else base, node.lineno))
        stack.extend(ast.iter_child_nodes(node))
    return [(name, line) for name, line in found if name in MODULES and name != module]


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for module in MODULES:
        for imported, line in imports_of(module):
            graph.add_edge(module, imported, line=line)
    return graph


def test_every_part_of_the_package_has_a_stage():
    unknown = sorted({stage_of(m) for m in MODULES} - set(STAGES) - {""})
    assert not unknown, f"give these a stage in STAGES: {unknown}"


def test_no_stage_imports_a_later_stage():
    graph = import_graph()
    backwards = [
        f"{a}:{data['line']} imports {b} ({stage_of(a)} -> later stage {stage_of(b)})"
        for a, b, data in graph.edges(data=True)
        if STAGES[stage_of(a)] < STAGES[stage_of(b)]
    ]
    assert not backwards, "\n".join(sorted(backwards))


def test_no_import_cycles():
    graph = import_graph()
    cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    described = []
    for component in cycles:
        cycle = nx.find_cycle(graph.subgraph(component))
        described.append(" -> ".join([a for a, _ in cycle] + [cycle[0][0]]))
    assert not described, "import cycles:\n" + "\n".join(sorted(described))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("from archspec.core import source\n", ["archspec.core.source"]),
        ("def f():\n    from archspec.outputs import render\n", ["archspec.outputs.render"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import archspec.cli\n", []),
        ("import archspec.driver\n", ["archspec.driver"]),
    ],
)
def test_the_scan_sees_imports_inside_functions_but_not_type_checking(tmp_path, text, expected):
    module = "archspec.core.probe"
    MODULES[module] = tmp_path / "probe.py"
    MODULES[module].write_text(text)
    try:
        assert [name for name, _ in imports_of(module)] == expected
    finally:
        del MODULES[module]
