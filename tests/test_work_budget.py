"""Every spec ends quickly, in bounded memory (issue 15): one work budget per model counts every
step of evaluation (E110 when it runs out), and parsing, the W008 rule and the formatter take time
linear in the file's size. Specs that once ran for minutes or took gigabytes run here in a
subprocess under a time and memory limit, so a regression fails instead of hanging the suite; the
limits are generous, the assertions are about the outcome."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import archspec
from archspec.core.source import SourceFile
from archspec.driver import check_text
from archspec.elaborate import evaluate
from archspec.elaborate.elaborator import APPLICATION_STEPS, Elaborator
from archspec.elaborate.evaluate import MAX_STEPS, MAX_SYMBOLIC_SIZE
from archspec.syntax import ast, parser
from archspec.syntax.parser import build_lark, parse_module
from archspec.tools.fmt import format_text

TIMEOUT = 120  # seconds; each case below takes a few at most
MEMORY = 3 * 2**30  # bytes of address space each subprocess may take
OVERRUN = f"the model expands to more than {MAX_STEPS:,} steps"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter under TIMEOUT and MEMORY (a hang fails the test)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )


def archspec_cli(*args: str) -> subprocess.CompletedProcess:
    return run_python("from archspec.cli import main; raise SystemExit(main())", *args)


# Checks a file in-process (`check_text`, as the language server does) and prints each finding as
# JSON: code, message, line.
CHECK_AND_SHOW = """
import json, sys
from archspec.driver import check_text
from archspec.tools.lsp import diagnostics_for
path = sys.argv[1]
result = check_text(open(path, encoding="utf-8").read(), path)
shown = diagnostics_for(result, path)
print(json.dumps({
    "findings": [(d.code, d.message, d.primary.span.line) for d in result.diagnostics],
    "lsp": [d.code for d in shown],
}))
"""


def check_in_subprocess(tmp_path: Path, text: str) -> dict:
    spec = tmp_path / "spec.arch"
    spec.write_text(text, encoding="utf-8")
    completed = run_python(CHECK_AND_SHOW, str(spec))
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout)


def model(body: str) -> str:
    return "model M {\n    input x: [N, 4]\n" + body + "}\n"


def doubling_blocks(levels: int = 40) -> str:
    """B0 applies B1 twice, ... the last block is empty: 2^levels applications."""
    blocks = [
        f"block B{i} {{\n    input x\n    return x -> B{i + 1}() -> B{i + 1}()\n}}"
        for i in range(levels - 1)
    ]
    blocks.append(f"block B{levels - 1} {{\n    input x\n    return x\n}}")
    return "\n".join(blocks) + "\n" + model("    return x -> B0()\n")


# ---------------------------------------------------------------- the work budget


def test_blocks_that_each_apply_the_next_twice_are_E110_in_the_cli_and_the_language_server(
    tmp_path,
):
    """Once 7.7 GB and over a minute: empty blocks counted against no limit."""
    shown = check_in_subprocess(tmp_path, doubling_blocks())
    assert shown["findings"] == [["E110", OVERRUN, shown["findings"][0][2]]]
    assert shown["lsp"] == ["E110"]
    spec = tmp_path / "spec.arch"
    completed = archspec_cli("check", "--output-format", "concise", str(spec))
    assert completed.returncode == 1
    assert f"E110 {OVERRUN}" in completed.stdout


def test_an_empty_block_application_costs_steps(monkeypatch):
    counted = {}
    original = Elaborator.elaborate_model

    def elaborate(self, definition, overrides=None):
        graph = original(self, definition, overrides)
        counted["steps"] = self.budget.steps
        return graph

    monkeypatch.setattr(Elaborator, "elaborate_model", elaborate)
    once = "block E {\n    input x\n    return x\n}\n" + model("    return x -> E()\n")
    assert archspec.check_text(once).diagnostics == []
    one = counted["steps"]
    assert archspec.check_text(once.replace("x -> E()", "x -> E() -> E()")).diagnostics == []
    assert counted["steps"] - one >= APPLICATION_STEPS


def test_list_concatenation_in_a_loop_is_E110(tmp_path):
    """`l = l + l`: once 17 GB in a minute (repetition was checked, concatenation not)."""
    body = "    l = [1]\n    for i in range(100) {\n        l = l + l\n    }\n    return x\n"
    shown = check_in_subprocess(tmp_path, model(body))
    assert shown["findings"] == [["E110", OVERRUN, 5]]


def shared_lists(last_a: int, last_b: int, levels: int = 40) -> str:
    body = (
        f"    a = [{last_a}]\n    b = [{last_b}]\n    for i in range({levels}) {{\n"
        "        a = [a, a]\n        b = [b, b]\n    }\n"
        "    return x -> Linear(4, 4, bias=a == b)\n"
    )
    return model(body)


@pytest.mark.parametrize(("last_b", "equal"), [(1, True), (2, False)])
def test_equality_of_lists_that_share_their_parts_is_linear(tmp_path, last_b, equal):
    """`a == b` over 2^40 leaves each: once a hang, now each distinct pair compared once."""
    shown = check_in_subprocess(tmp_path, shared_lists(1, last_b))
    assert shown["findings"] == []
    result = archspec.check_text(shared_lists(1, last_b, levels=12))
    (linear,) = [m for m in result.model().graph.root.walk() if m.kind == "layer"]
    assert linear.args["bias"] is equal


def test_equality_keeps_python_semantics():
    cases = {
        "[1, [2, 3]] == [1, [2, 3]]": True,
        "[1, [2, 3]] == [1, [2, 4]]": False,
        "[1] == (1,)": False,
        "[1, 2] == [1, 2, 3]": False,
        "(1, 2.0) == (1, 2)": True,
        "[[]] != [[]]": False,
        "N == N": True,
    }
    for expression, expected in cases.items():
        text = (
            "model M {\n    input x: [N, 4]\n"
            f"    return x -> Linear(4, 4, bias={expression})\n}}\n"
        )
        result = archspec.check_text(text)
        assert result.diagnostics == [], expression
        (linear,) = [m for m in result.model().graph.root.walk() if m.kind == "layer"]
        assert linear.args["bias"] is expected, expression


def test_comparing_long_distinct_lists_counts_every_pair(tmp_path):
    body = (
        "    a = [0] * 700000\n    b = [0] * 700000\n"  # 1.4M steps, then 700,000 pairs
        "    return x -> Linear(4, 4, bias=a == b)\n"
    )
    shown = check_in_subprocess(tmp_path, model(body))
    assert shown["findings"] == [["E110", OVERRUN, 5]]


def test_a_builtin_over_a_long_list_in_a_loop_is_E110(tmp_path):
    body = (
        "    l = [0] * 1000000\n    m = 0\n"
        "    for i in range(1000) {\n        m = max(l)\n    }\n    return x\n"
    )
    shown = check_in_subprocess(tmp_path, model(body))
    assert shown["findings"] == [["E110", OVERRUN, 6]]


def test_min_and_max_compare_numbers_not_lists():
    """Comparing lists that share their parts would read 2^40 items, recursively."""
    loop = "    for i in range(40) {\n        a = [a, a]\n        b = [b, b]\n    }\n"
    body = "    a = [1]\n    b = [1]\n" + loop + "    m = max(a, b)\n"
    result = archspec.check_text(model(body + "    return x\n"))
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E104", "max(): compares numbers, got a list")
    ]
    fine = model(
        "    m = max([1, 5, 2]) + min(3, 4) + max(range(4))\n    return x -> Linear(4, m)\n"
    )
    assert archspec.check_text(fine).diagnostics == []


def test_a_long_list_passed_to_a_block_in_a_loop_is_E110(tmp_path):
    """Each block argument is checked item by item (for nesting and size): that counts too."""
    text = "block B(v) {\n    input x\n    return x\n}\n" + model(
        "    l = [0] * 1000000\n    h = x\n"
        "    for i in range(1000) {\n        h = h -> B(l)\n    }\n    return h\n"
    )
    shown = check_in_subprocess(tmp_path, text)
    assert shown["findings"] == [["E110", OVERRUN, 10]]


def test_symbolic_sizes_that_grow_in_a_loop_are_E110():
    """`s = s * s + s` doubles the terms each time; `s // 2 + 1` grows the divisor by a bit
    each time (once a hang, or an "Exceeds the limit (4300 digits)" internal error)."""
    grows = "this symbolic size grows too large: "
    for update, message in (("s * s + s", grows), ("s // 2 + 1", "")):
        loop = f"    for i in range(100000) {{\n        s = {update}\n    }}\n"
        result = archspec.check_text(model("    s = N\n" + loop + "    return x\n"))
        found = [(d.code, d.primary.span.line) for d in result.diagnostics]
        assert found and set(found) == {("E110", 5)}, update
        assert result.diagnostics[0].message.startswith(message)
        if message:
            assert result.diagnostics[0].message.endswith(f"more than {MAX_SYMBOLIC_SIZE}")
    result = archspec.check_text(model("    s = N\n    s = s * s * s * s * s\n    return x\n"))
    assert result.diagnostics == []  # small products are fine


def test_symbolic_arithmetic_of_real_specs_stays_exact():
    body = "    s = (N + 1) * (N - 1) // 2 + N % 4\n    return x -> view(-1, 4)\n"
    assert archspec.check_text(model(body)).diagnostics == []


def test_the_budget_is_sized_far_above_every_shipped_spec(monkeypatch):
    """Every spec in specs/ and examples/ takes under a twentieth of the budget."""
    used: dict[str, int] = {}
    original = Elaborator.elaborate_model

    def elaborate(self, definition, overrides=None):
        graph = original(self, definition, overrides)
        used[definition.name.id] = max(used.get(definition.name.id, 0), self.budget.steps)
        return graph

    monkeypatch.setattr(Elaborator, "elaborate_model", elaborate)
    files = sorted([*(ROOT / "specs").rglob("*.arch"), *(ROOT / "examples").glob("*.arch")])
    assert len(files) > 10
    for path in files:
        archspec.check(str(path))
    assert used and max(used.values()) < MAX_STEPS // 20, max(used.items(), key=lambda i: i[1])


def test_the_budget_overrun_stops_every_later_step(monkeypatch):
    monkeypatch.setattr(evaluate, "MAX_STEPS", 50)
    body = "    for i in range(30) {\n        y = i\n    }\n    z = 1\n    return x\n"
    result = archspec.check_text(model(body))
    (finding,) = result.diagnostics  # reported once, though `z = 1` and `return` fail too
    assert finding.code == "E110" and finding.message == "the model expands to more than 50 steps"


# ---------------------------------------------------------------- linear in the file's size


def long_pipeline(stages: int) -> str:
    return model("    return x -> " + " -> ".join(["relu()"] * stages) + "\n")


def test_a_long_pipeline_parses_in_linear_time():
    """2 MB in one pipeline: each stage once copied all the stages before it (minutes)."""
    code = (
        "import sys\nfrom archspec.core.source import SourceFile\n"
        "from archspec.syntax.parser import parse_module\n"
        "module = parse_module(SourceFile('long.arch', sys.stdin.read()))\n"
        "(ret,) = [s for s in module.definitions[0].body if type(s).__name__ == 'Return']\n"
        "print(type(ret.values[0].stages).__name__, len(ret.values[0].stages))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        input=long_pipeline(200_000),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == ["tuple", "200000"]


def test_pipelines_built_in_place_equal_the_full_grammars():
    """The stages are collected in place, the AST is what the full grammar's parse gives."""
    text = (
        'block B(c) {\n    input x\n    return (x -> relu()) -> "s{c}": Linear(c, c) -> relu()\n}\n'
        + model("    y = x -> B(4) -> relu()\n    return y -> relu(), x -> relu() -> relu()\n")
    )
    source = SourceFile("p.arch", text)
    fast = parse_module(source)
    full = parser._parse(source, text, "start", using=build_lark(keep_all_tokens=True,
                         start=["start", "test"], transformer=parser._BUILDER))  # fmt: skip
    assert fast == full
    pipes = [fast.definitions[0].body[1].values[0], fast.definitions[1].body[1].value]
    assert all(isinstance(p, ast.Pipe) and isinstance(p.stages, tuple) for p in pipes)
    assert len(pipes[0].stages) == 3 and len(pipes[1].stages) == 2
    assert hash(fast) == hash(full)


def test_w008_reads_each_argument_locally(tmp_path):
    """30,000 keyword arguments: the rule once searched all the text before each (minutes)."""
    lines = "".join("    h = h -> Linear(4, 4, bias=True)\n" for _ in range(30_000))
    spec = tmp_path / "keywords.arch"
    spec.write_text(model("    h = x\n" + lines + "    return h\n"))
    completed = archspec_cli("check", "--select", "W008", "--output-format", "concise", str(spec))
    assert completed.returncode == 0  # warnings only
    assert completed.stdout.count("W008 [*] Linear's bias=True is torch's default") == 30_000


@pytest.mark.parametrize(
    ("argument", "found"),
    [
        ("bias=True", "bias=True"),
        ("bias = True", "bias = True"),
        ("bias=\n        True", "bias=\n        True"),
        ("True", None),  # positional: removing it would shift the others
    ],
)
def test_w008_finds_the_keyword_however_it_is_spaced(argument, found):
    text = model(f"    return x -> Linear(4, 4, {argument})\n")
    checked = check_text(text, enable={"W008"})
    assert [d.primary.span.text for d in checked.diagnostics] == ([found] if found else [])


# ---------------------------------------------------------------- fmt and deep parentheses


def parenthesized(levels: int) -> str:
    return model("    return x -> Linear(4, " + "(" * levels + "4" + ")" * levels + ")\n")


def test_fmt_formats_500_nested_parentheses():
    """The checker accepts them (parentheses do not nest an expression); fmt once crashed with
    a RecursionError."""
    text = parenthesized(500)
    assert archspec.check_text(text).diagnostics == []
    formatted = format_text(text)
    assert format_text(formatted) == formatted
    assert formatted.count("(") == text.count("(") and "(" * 500 + "4" + ")" * 500 in formatted


def test_fmt_of_a_folder_goes_on_past_a_deeply_parenthesized_file(tmp_path):
    (tmp_path / "a_deep.arch").write_text(parenthesized(5_000))
    (tmp_path / "b_plain.arch").write_text(model("    return x->relu()\n"))
    completed = archspec_cli("fmt", str(tmp_path))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "internal error" not in completed.stderr
    assert "2 files reformatted" in completed.stderr
    assert (tmp_path / "b_plain.arch").read_text() == model("    return x -> relu()\n")
