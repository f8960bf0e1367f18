"""Size and depth (issue 7): blocks nested a thousand deep, long import chains, big files and many
instances are checked, compiled, summarised and drawn without a RecursionError, and every limit
and every cycle is a diagnostic with its place and its chain. Imports cannot leave the project."""

from __future__ import annotations

import builtins
import os
import sys
import time
from pathlib import Path

import pytest

import archspec
import archspec.elaborate.elaborator as elaborate
from archspec.cli import main
from archspec.elaborate.elaborator import MAX_BLOCK_DEPTH, MAX_VALUE_DEPTH, run_deep
from archspec.outputs.codegen import MAX_INLINE_NESTING, generate
from archspec.outputs.render import MAX_CLUSTER_DEPTH, to_dot
from archspec.tools.fmt import format_text
from archspec.tools.lsp import diagnostics_for, hover_text

# ---------------------------------------------------------------- helpers


def check(text: str, path: str = "<limits>"):
    return archspec.check_text(text, path)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def at(result, code: str) -> tuple[int, int]:
    diagnostic = next(d for d in result.diagnostics if d.code == code)
    return diagnostic.primary.span.line, diagnostic.primary.span.column


def nested_blocks(levels: int, leaf: str = "Linear(4, 4)") -> str:
    """B0 applies B1 ... applies B{levels-1}, which applies `leaf`: `levels` nested instances,
    each a block definition of its own (four lines each, B0 at line 1)."""
    blocks = [
        f"block B{i} {{\n    input x\n    return x -> B{i + 1}()\n}}" for i in range(levels - 1)
    ]
    blocks.append(f"block B{levels - 1} {{\n    input x\n    return x -> {leaf}\n}}")
    model = "model M {\n    input x: [N, 4]\n    return x -> B0()\n}\n"
    return "\n".join(blocks) + "\n" + model


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def deep():
    """A model whose blocks nest 1,000 deep, checked once for the tests of every stage."""
    text = nested_blocks(1_000)
    return text, check(text, "deep.arch")


# ---------------------------------------------------------------- blocks nested 1,000 deep


def test_blocks_nested_1000_deep_are_checked(deep):
    _, result = deep
    assert result.diagnostics == []
    checked = result.model()
    deepest = checked.graph.module(".".join(f"b{i}" for i in range(1_000)))
    assert deepest.depth == 1_000 and deepest.definition.name.id == "B999"
    assert deepest.children["linear"].depth == 1_001
    assert checked.parameter_count == 20
    assert checked.output_shapes == [checked.graph.node(checked.graph.inputs[0]).declared_shape]


def test_a_deep_module_tree_is_safe_to_walk_compare_and_show(deep):
    _, result = deep
    root = result.model().graph.root
    modules = list(root.walk())
    assert len(modules) == 1 + 1_000 + 1  # the model, the block instances, the Linear
    assert root == root and root != modules[1]  # identity, not a walk through children
    assert repr(root) == "ModuleInfo(model 'M', 1 children)"
    assert "b999" in repr(modules[-2])
    assert len({module for module in modules}) == len(modules)  # hashable by identity


def test_blocks_nested_1000_deep_compile(deep):
    _, result = deep
    source = generate(result)
    compile(source, "deep.py", "exec")  # no "too many nested parentheses", no RecursionError
    assert source.count("(nn.Module):") == 1_000 + 1
    assert "class B999(nn.Module):" in source
    assert "        self.b999 = B999()" in source


def test_blocks_nested_1000_deep_summarise(deep):
    _, result = deep
    summary = result.model().summary()
    assert [row.depth for row in summary.rows] == list(range(1_001))
    assert summary.rows[0].name == "b0" and summary.rows[0].params == 20
    assert summary.rows[-1].type == "Linear" and summary.rows[-1].params == 20
    assert summary.total_params == 20
    assert str(summary).count("\n") > 1_000


def test_blocks_nested_1000_deep_draw_with_clusters_capped(deep):
    _, result = deep
    dot = to_dot(result.model())
    assert dot.count("subgraph cluster_") == MAX_CLUSTER_DEPTH
    assert "linear: Linear" in dot
    assert to_dot(result.model(), depth=1).count("subgraph cluster_") == 0


def test_blocks_nested_1000_deep_in_the_language_server(deep):
    text, result = deep
    broken = text.replace("Linear(4, 4)", "Linear(5, 4)")
    failing = check(broken, "deep.arch")
    assert codes(failing) == ["E202"]
    assert at(failing, "E202") == (4 * 999 + 3, 24)  # in_features, in the innermost block
    (shown,) = diagnostics_for(failing, "deep.arch")
    assert shown.code == "E202" and shown.range.start.line == 4 * 999 + 2  # from 0
    hover = hover_text(result, "deep.arch", text.index("Linear"))
    assert hover is not None and "b999.linear" in hover and "parameters: 20" in hover


def test_lint_warns_1000_blocks_deep(deep):
    text, _ = deep
    innermost = "    return x -> Linear(4, 4)"
    result = check(text.replace(innermost, "    y = x -> relu()\n" + innermost))
    assert codes(result) == ["W003"]
    assert at(result, "W003") == (4 * 999 + 3, 5)  # `y`, in the innermost block


@pytest.mark.slow
def test_blocks_nested_1000_deep_format_and_run_from_the_command_line(deep, tmp_path, capsys):
    text, _ = deep
    formatted = format_text(text)
    assert format_text(formatted) == formatted
    spec = write(tmp_path, "deep.arch", text)
    assert main(["check", str(spec)]) == 0
    assert main(["compile", str(spec), "-o", str(tmp_path / "deep.py")]) == 0
    assert main(["summary", str(spec)]) == 0
    assert main(["graph", str(spec), "-o", str(tmp_path / "deep.dot")]) == 0
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "Recursion" not in captured.err
    compile((tmp_path / "deep.py").read_text(), "deep.py", "exec")


def test_block_nesting_beyond_the_limit_is_E002_at_the_call(monkeypatch):
    monkeypatch.setattr(elaborate, "MAX_BLOCK_DEPTH", 50)
    assert check(nested_blocks(50)).diagnostics == []
    result = check(nested_blocks(51))
    assert codes(result) == ["E002"]
    assert at(result, "E002") == (4 * 49 + 3, 17)  # `-> B50()` in B49, the 51st level
    (diagnostic,) = result.diagnostics
    assert diagnostic.message == "blocks and Sequentials nest more than 50 levels deep"
    assert diagnostic.notes == (
        "inside b0 -> b1 -> b2 -> b3 -> ... (42 more) -> b46 -> b47 -> b48 -> b49",
    )


@pytest.mark.slow
def test_blocks_nest_up_to_the_documented_limit_and_no_further():
    assert MAX_BLOCK_DEPTH >= 1_000
    from archspec.diagnostics.rules import RULE_DOCS

    assert f"more than {MAX_BLOCK_DEPTH:,} levels" in RULE_DOCS["E002"].description
    at_limit = check(nested_blocks(MAX_BLOCK_DEPTH))
    assert at_limit.diagnostics == []
    compile(generate(at_limit), "limit.py", "exec")
    beyond = check(nested_blocks(MAX_BLOCK_DEPTH + 1))
    assert codes(beyond) == ["E002"]
    assert at(beyond, "E002") == (4 * (MAX_BLOCK_DEPTH - 1) + 3, 17)


def test_nesting_that_exhausts_the_stack_is_E002_at_the_model_statement(monkeypatch):
    # Within MAX_BLOCK_DEPTH, but every level nests its call 20 expressions deep: the recursion
    # limit runs out first. Lowered here so that the test is quick; the mechanism is the same.
    monkeypatch.setattr(elaborate, "RECURSION_LIMIT", 6_000)
    call = "cat([" * 10 + "x -> B{n}()" + "], 1)" * 10
    blocks = [
        f"block B{i} {{\n    input x\n    return {call.format(n=i + 1)}\n}}" for i in range(299)
    ]
    blocks.append("block B299 {\n    input x\n    return x\n}")
    model = (
        "model M {\n    input x: [N, 4]\n    y = x -> B0()\n"
        "    z = x -> Linear(3, 4)\n    return x\n}\n"
    )
    result = check("\n".join(blocks) + "\n" + model)
    assert codes(result) == ["E002", "E202"]  # and the statement after it is still checked
    first = model.count("\n", 0, model.index("y = "))
    assert at(result, "E002") == (4 * 300 + first + 1, 5)
    (too_deep, _) = result.diagnostics
    assert too_deep.message == "blocks, expressions and lists nest too deeply here to be checked"
    assert too_deep.notes[0].startswith("block instances reached ")


def test_without_a_deep_thread_checking_still_works_1000_deep(monkeypatch):
    monkeypatch.setattr(elaborate, "_start_thread", lambda target, size: None)
    result = check(nested_blocks(1_000))
    assert result.diagnostics == []


def test_run_deep_returns_results_and_raises_errors_in_the_caller():
    def depth(n: int) -> int:
        return 0 if n == 0 else 1 + depth(n - 1)

    assert run_deep(depth, 50_000) == 50_000  # far past the default limit of 1,000
    with pytest.raises(ZeroDivisionError):
        run_deep(lambda: 1 / 0)
    assert run_deep(lambda: run_deep(depth, 10)) == 10  # nested: runs where it is
    before = sys.getrecursionlimit()
    run_deep(depth, 5)
    assert sys.getrecursionlimit() == before


# ---------------------------------------------------------------- Sequentials nested by a loop

NESTED_SEQUENTIALS = """model M {{
    input x: [N, 4]
    layers = [Linear(4, 4)]
    for i in range({levels}) {{
        layers = [Sequential(*layers)]
    }}
    return x -> s: Sequential(*layers)
}}
"""


def test_sequentials_nested_1000_deep_compile_to_locals_and_summarise():
    result = check(NESTED_SEQUENTIALS.format(levels=999))
    assert result.diagnostics == []
    source = generate(result)  # the spec's own loop
    compile(source, "nested.py", "exec")
    assert "        for _ in range(999):\n            layers = [nn.Sequential(*layers)]\n" in source
    assert "out = self.s(x)  # [N, 4]" in source
    unrolled = generate(result, specialize=True)  # every level written out
    compile(unrolled, "nested.py", "exec")  # Python allows 200 nested brackets only
    assert unrolled.count("nn.Sequential(") == 1_000
    assert "nested_1 = nn.Sequential(" in unrolled
    assert max(len(line) - len(line.lstrip()) for line in unrolled.splitlines()) <= 4 * (
        2 + MAX_INLINE_NESTING + 1
    )
    rows = result.model().summary().rows
    assert [row.name.count(".") for row in rows] == list(range(1_001))  # outer first
    assert rows[0].name == "s" and rows[0].params == 20 and rows[-1].type == "Linear"


def test_a_sequential_in_a_sequential_is_applied_by_its_outer_name():
    result = check(NESTED_SEQUENTIALS.format(levels=2))
    source = generate(result)
    assert "out = self.s(x)  # [N, 4]" in source  # was self.0(x): the innermost call first
    assert [row.name for row in result.model().summary().rows] == ["s", "s.0", "s.0.0", "s.0.0.0"]


def test_a_shared_sequential_counts_the_macs_of_each_application_once():
    result = check(
        "model M {\n    input x: [N, 4]\n    s: Sequential(Linear(4, 4))\n"
        "    return x -> s -> s\n}\n"
    )
    rows = result.model().summary().rows
    containers = [row for row in rows if row.type == "Sequential"]
    assert [(row.params, row.macs) for row in containers] == [(20, 20), (0, 20)]  # not 40


def test_sequentials_nested_beyond_the_limit_are_E002(monkeypatch):
    monkeypatch.setattr(elaborate, "MAX_BLOCK_DEPTH", 40)
    assert check(NESTED_SEQUENTIALS.format(levels=39)).diagnostics == []
    result = check(NESTED_SEQUENTIALS.format(levels=40))
    assert codes(result) == ["E002"]
    assert at(result, "E002") == (5, 19)  # the innermost Sequential, built first in the loop


# ---------------------------------------------------------------- values


def test_values_nested_beyond_the_limit_are_E002_at_the_argument():
    text = (
        "block B(v) {{\n    input x\n    return x\n}}\n"
        "model M {{\n    input x: [N, 4]\n    y = 1\n"
        "    for i in range({levels}) {{\n        y = [y]\n    }}\n"
        "    return x -> B(y) -> Linear(4, 4, bias=y)\n}}\n"
    )
    assert codes(check(text.format(levels=MAX_VALUE_DEPTH))) == ["E105"]  # bias: a bool
    result = check(text.format(levels=MAX_VALUE_DEPTH + 1))
    assert codes(result) == ["E002"]
    assert at(result, "E002") == (11, 17)  # the block call whose argument it is
    assert result.diagnostics[0].message == "this value nests lists more than 100 levels deep"


def test_a_value_that_shares_lists_exponentially_is_E110_not_a_hang():
    start = time.perf_counter()
    result = check(
        "block B(v) {\n    input x\n    return x\n}\nmodel M {\n    input x: [N, 4]\n"
        "    y = []\n    for i in range(80) {\n        y = [y, y]\n    }\n"
        "    return x -> B(y)\n}\n"
    )
    assert codes(result) == ["E110"]
    assert at(result, "E110") == (11, 17)
    assert time.perf_counter() - start < 10


def test_comparing_lists_nested_5000_deep_is_no_crash():
    result = check(
        "model M {\n    input x: [N, 4]\n    a = []\n    b = []\n"
        "    for i in range(5000) {\n        a = [a]\n        b = [b]\n    }\n"
        "    same = a == b\n    return x -> Linear(4, 4, bias=same)\n}\n"
    )
    assert result.diagnostics == []


# ---------------------------------------------------------------- cycles


def test_value_cycles_cannot_be_written_a_name_is_read_before_it_is_bound():
    result = check("model M {\n    input x: [N, 4]\n    a = b + 1\n    b = a\n    return x\n}\n")
    assert codes(result) == ["E102"]
    assert at(result, "E102") == (3, 9)
    defaults = check("model M(a=b + 1, b=a) {\n    input x: [N, 4]\n    return x\n}\n")
    assert codes(defaults) == ["E102"]
    assert at(defaults, "E102") == (1, 11)


def test_a_recursive_block_is_E107_even_under_an_if_that_would_end_it():
    result = check(
        "block Tower(n) {\n    input x\n    if n > 0 {\n        x = x -> Tower(n - 1)\n    }\n"
        "    return x\n}\nmodel M {\n    input x: [N, 4]\n    return x -> Tower(3)\n}\n"
    )
    assert codes(result) == ["E107"]
    assert at(result, "E107") == (4, 18)
    (diagnostic,) = result.diagnostics
    assert diagnostic.message == "block Tower contains itself (Tower -> Tower)"
    assert "even under an `if`" in diagnostic.help
    assert diagnostic.labels[1].span.line == 1  # "defined here"


def test_mutual_recursion_shows_the_cycle_from_its_first_block():
    result = check(
        "block Outer {\n    input x\n    return x -> A()\n}\n"
        "block A {\n    input x\n    return x -> B()\n}\n"
        "block B {\n    input x\n    return x -> A()\n}\n"
        "model M {\n    input x: [N, 4]\n    return x -> Outer()\n}\n"
    )
    assert codes(result) == ["E107"]
    assert at(result, "E107") == (11, 17)
    assert result.diagnostics[0].message == "block A contains itself (A -> B -> A)"


def test_a_long_recursive_cycle_shows_its_ends():
    text = nested_blocks(1_000, leaf="B0()")
    result = check(text)
    assert codes(result) == ["E107"]
    assert at(result, "E107") == (4 * 999 + 3, 17)
    assert result.diagnostics[0].message == (
        "block B0 contains itself (B0 -> B1 -> B2 -> B3 -> ... (993 more) -> B997 -> B998 "
        "-> B999 -> B0)"
    )


def test_an_import_cycle_is_E107_with_its_chain(tmp_path):
    write(tmp_path, ".git/HEAD", "")
    write(tmp_path, "a.arch", 'from "b.arch" import B\nblock A { input x  return x -> B() }\n')
    write(tmp_path, "b.arch", 'from "c.arch" import C\nblock B { input x  return x -> C() }\n')
    write(tmp_path, "c.arch", 'from "a.arch" import A\nblock C { input x  return x -> A() }\n')
    main_path = write(
        tmp_path,
        "main.arch",
        'from "a.arch" import A\nmodel M { input x: [N, 4]  return x -> A() }',
    )
    result = archspec.check(str(main_path))
    assert codes(result) == ["E107"]
    (diagnostic,) = result.diagnostics
    assert diagnostic.message == "import cycle: a.arch -> b.arch -> c.arch -> a.arch"
    span = diagnostic.primary.span
    assert (span.source.path, span.line, span.column) == (str(tmp_path / "c.arch"), 1, 6)


# ---------------------------------------------------------------- import chains


def import_chain(folder: Path, files: int) -> Path:
    write(folder, "archspec.toml", "")
    for i in range(files):
        head = f'from "a{i + 1}.arch" import B{i + 1}\n' if i + 1 < files else ""
        inner = f" -> B{i + 1}()" if i + 1 < files else ""
        write(folder, f"a{i}.arch", f"{head}block B{i} {{\n    input x\n    return x{inner}\n}}\n")
    return write(
        folder,
        "main.arch",
        'from "a0.arch" import B0\nmodel M {\n    input x: [N, 4]\n'
        "    return x -> B0() -> Linear(4, 4)\n}\n",
    )


@pytest.mark.parametrize("files", [100, 1_000])
def test_import_chains_are_checked_without_recursion(tmp_path, files):
    start = time.perf_counter()
    result = archspec.check(str(import_chain(tmp_path, files)))
    assert result.diagnostics == []
    assert len(list(result.model().graph.root.walk())) == 1 + files + 1
    assert time.perf_counter() - start < 20


def test_an_import_chain_checks_in_linear_time(tmp_path):
    def seconds(files: int) -> float:
        folder = tmp_path / str(files)
        path = import_chain(folder, files)
        archspec.check(str(path))  # warm
        start = time.perf_counter()
        archspec.check(str(path))
        return time.perf_counter() - start

    short, long = seconds(50), seconds(500)
    assert long < 30 * short + 0.5  # ten times the files: a quadratic cost would be 100 times


def test_a_broken_file_deep_in_an_import_chain_is_reported_there(tmp_path):
    path = import_chain(tmp_path, 100)
    write(tmp_path, "a70.arch", "block B70 {\n    input x\n    return x ->\n}\n")
    result = archspec.check(str(path))
    assert sorted(codes(result)) == ["E001", "E106"]
    error = next(d for d in result.diagnostics if d.code == "E001")
    assert error.primary.span.source.path.endswith("a70.arch") and error.primary.span.line == 4


# ---------------------------------------------------------------- imports leaving the project


@pytest.fixture
def reads(monkeypatch):
    """The paths that builtins.open reads, to show a file outside the project is never read."""
    opened: list[str] = []
    real_open = builtins.open

    def spying_open(file, *args, **kwargs):
        opened.append(os.path.realpath(file) if isinstance(file, (str, Path)) else str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spying_open)
    return opened


@pytest.fixture
def project(tmp_path):
    """tmp/project (a pyproject.toml) holding main.arch's folder, and tmp/outside.arch, whose
    bytes are not UTF-8: reading it would be E003."""
    write(tmp_path, "project/pyproject.toml", "[project]\nname = 'x'\n")
    (tmp_path / "outside.arch").write_bytes(b"block Leak { \xff }")
    return tmp_path / "project"


def importing(folder: Path, target: str) -> Path:
    return write(
        folder,
        "models/main.arch",
        f'from "{target}" import Leak\nmodel M {{\n    input x: [N, 4]\n'
        "    return x -> Leak()\n}\n",
    )


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "linked file", "linked folder"])
def test_an_import_outside_the_project_is_E111_and_not_read(project, reads, how):
    outside = project.parent / "outside.arch"
    models = project / "models"
    models.mkdir()
    if how == "linked file":
        os.symlink(outside, models / "link.arch")
    if how == "linked folder":
        os.symlink(project.parent, models / "up", target_is_directory=True)
    target = {
        "dot-dot": "../../outside.arch",
        "absolute": str(outside),
        "linked file": "link.arch",
        "linked folder": "up/outside.arch",
    }[how]
    result = archspec.check(str(importing(project, target)))
    assert codes(result) == ["E111"]  # not E003: its bytes were never read
    assert at(result, "E111") == (1, 6)
    (diagnostic,) = result.diagnostics
    assert diagnostic.message == f"'{target}' is outside the project, so it is not read"
    assert diagnostic.notes[0] == f"it resolves to {os.path.realpath(outside)}"
    assert diagnostic.notes[1].endswith("the nearest above the checked file with a pyproject.toml")
    assert os.path.realpath(outside) not in reads


def test_an_import_up_into_the_project_is_allowed(project):
    write(project, "lib/blocks.arch", "block Leak {\n    input x\n    return x -> relu()\n}\n")
    result = archspec.check(str(importing(project, "../lib/blocks.arch")))
    assert result.diagnostics == []


@pytest.mark.parametrize("marker", ["archspec.toml", ".git"])
def test_archspec_toml_and_git_mark_the_project_too(tmp_path, marker):
    write(tmp_path, f"{marker}/HEAD" if marker == ".git" else marker, "")
    write(tmp_path, "lib/blocks.arch", "block Leak {\n    input x\n    return x -> relu()\n}\n")
    assert archspec.check(str(importing(tmp_path, "../lib/blocks.arch"))).diagnostics == []


def test_without_a_marker_the_project_is_the_files_own_folder(tmp_path):
    write(tmp_path, "lib/blocks.arch", "block Leak {\n    input x\n    return x -> relu()\n}\n")
    write(tmp_path, "models/sub/blocks.arch", "block Leak {\n    input x\n    return x\n}\n")
    assert archspec.check(str(importing(tmp_path, "sub/blocks.arch"))).diagnostics == []
    result = archspec.check(str(importing(tmp_path, "../lib/blocks.arch")))
    assert codes(result) == ["E111"]
    own = "the checked file's own, as no folder above it has a pyproject.toml, archspec.toml, .git"
    assert result.diagnostics[0].notes[1].endswith(own)


def test_an_imported_file_cannot_lead_outside_either(project, reads):
    write(project, "lib/mid.arch", 'from "../../outside.arch" import Leak\n')
    result = archspec.check(str(importing(project, "../lib/mid.arch")))
    assert codes(result) == ["E111"]  # and main.arch's Leak stays silent
    e111 = next(d for d in result.diagnostics if d.code == "E111")
    assert e111.primary.span.source.path.endswith("mid.arch")
    assert os.path.realpath(project.parent / "outside.arch") not in reads


# ---------------------------------------------------------------- big files, many instances


@pytest.mark.slow
def test_a_10_mb_file_of_comments_and_blank_lines(tmp_path):
    note = "    # " + "a long comment about the layer below, " * 3 + "\n"
    filler = (note + "\n" * 3) * (10 * 2**20 // (len(note) + 3) + 1)
    spec = write(
        tmp_path,
        "big.arch",
        "model Big {\n    input x: [N, 8]\n" + filler + "    return x -> fc: Linear(8, 2)\n}\n",
    )
    assert spec.stat().st_size >= 10 * 2**20
    start = time.perf_counter()
    result = archspec.check(str(spec))
    assert time.perf_counter() - start < 60
    assert result.diagnostics == []
    assert result.model().parameter_count == 18
    broken = archspec.check_text(spec.read_text().replace("Linear(8, 2)", "Linear(9, 2)"))
    assert codes(broken) == ["E202"] and at(broken, "E202")[0] == filler.count("\n") + 3


@pytest.mark.slow
def test_a_block_applied_10000_times(tmp_path):
    count = 10_000
    lines = [
        "block Cell(c) {",
        "    input x",
        "    return x -> fc: Linear(c, c) -> relu()",
        "}",
        "model Many {",
        "    input x: [N, 8]",
        "    h = x",
        *[f"    h = h -> c{i}: Cell(8)" for i in range(count)],
        "    return h",
        "}",
    ]
    start = time.perf_counter()
    result = check("\n".join(lines) + "\n", "many.arch")
    assert result.diagnostics == []
    checked = result.model()
    assert checked.parameter_count == count * 72
    source = generate(result)
    compile(source, "many.py", "exec")
    assert source.count("(nn.Module):") == 2  # one class for the 10,000 equal instances
    assert source.count("= Cell(8)") == count  # the class takes its argument
    summary = checked.summary()
    assert len(summary.rows) == 3 * count
    first = summary.rows[:3]
    assert [(row.name, row.type, row.params) for row in first[:2]] == [
        ("c0", "Cell", 72),
        ("c0.fc", "Linear", 72),
    ]
    assert (first[2].type, first[2].params) == ("relu", 0)
    assert summary.total_params == count * 72
    assert time.perf_counter() - start < 120


def test_1000_instances_scale_linearly():
    def seconds(count: int) -> float:
        body = "\n".join(f"    h = h -> c{i}: Cell(8)" for i in range(count))
        text = (
            "block Cell(c) {\n    input x\n    return x -> fc: Linear(c, c)\n}\n"
            f"model M {{\n    input x: [N, 8]\n    h = x\n{body}\n    return h\n}}\n"
        )
        start = time.perf_counter()
        result = check(text)
        generate(result)
        result.model().summary()
        return time.perf_counter() - start

    seconds(100)  # warm
    small, large = seconds(100), seconds(1_000)
    assert large < 30 * small + 0.5  # ten times the instances; quadratic would be 100 times


def test_a_loop_that_makes_too_many_layers_stops_at_the_node_limit(monkeypatch):
    """Memory, not just steps: each node costs kilobytes, so 2M steps of layers would need some
    15 GiB (a fuzzed `range(6 ** 8)` in DenseNet did). The node limit stops it first."""
    from archspec.driver import check_text
    from archspec.elaborate import elaborator as elaborate

    monkeypatch.setattr(elaborate, "MAX_NODES", 1_000)
    spec = (
        "model M {\n    input x: [N, 8, 4, 4]\n    h = x\n"
        "    for i in range(6 ** 8) {\n        h = h -> relu()\n    }\n    return h\n}\n"
    )
    result = check_text(spec)
    (finding,) = result.diagnostics
    assert finding.code == "E110"
    assert finding.message == "the model has more than 1,000 layers and functions"
    assert finding.primary.span.line == 5
    assert result.model().graph.graph.number_of_nodes() == 1_000
