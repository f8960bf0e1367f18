"""Hostile and huge inputs: every one gives diagnostics (with spans inside the file), never a
traceback, a RecursionError or a hang."""

from __future__ import annotations

import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.cli import main
from archspec.core.diagnostic import CODES
from archspec.diagnostics.formats import render_json, render_text, to_json_obj

# ---------------------------------------------------------------- helpers


def check(text: str, path: str = "<robust>"):
    return archspec.check_text(text, path)


def check_bytes(tmp_path, data: bytes):
    path = tmp_path / "spec.arch"
    path.write_bytes(data)
    return archspec.check(str(path)), path


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def assert_well_formed(result) -> None:
    """Every diagnostic has a known code and labels whose spans lie inside their file."""
    for diagnostic in result.diagnostics:
        assert diagnostic.code in CODES
        assert any(label.primary for label in diagnostic.labels)
        for label in diagnostic.labels:
            span = label.span
            source = span.source
            assert 0 <= span.start <= span.end <= len(source.text), span
            assert 1 <= span.line <= source.line_count, span
            assert 1 <= span.column <= len(source.line_text(span.line)) + 1, span
            end_line, end_column = span.end_line_col
            assert span.line <= end_line <= source.line_count
            assert end_column >= 1
        assert render_text(diagnostic)
        assert to_json_obj(diagnostic)["location"]["line"] == diagnostic.primary.span.line
    assert render_json(result.diagnostics, 1)


def model(body: str) -> str:
    return "model M {\n    input x: [N, 4]\n" + body + "\n    return x\n}\n"


def at(result, code: str) -> tuple[int, int]:
    diagnostic = next(d for d in result.diagnostics if d.code == code)
    return diagnostic.primary.span.line, diagnostic.primary.span.column


# ---------------------------------------------------------------- text encoding


def test_invalid_utf8_is_E003_at_its_line_and_column(tmp_path, capsys):
    data = "model M {\n    input x: [N, 4]\n    y = 'é".encode() + b"\xff\xfe" + b"'\n}\n"
    result, path = check_bytes(tmp_path, data)
    assert codes(result) == ["E003"]
    assert at(result, "E003") == (3, 11)  # characters, not bytes: é counts once
    assert "0xff" in result.diagnostics[0].message
    assert_well_formed(result)
    assert main(["check", str(path)]) == 1
    assert "error[E003]" in capsys.readouterr().out


def test_invalid_utf8_after_a_byte_order_mark(tmp_path):
    result, _ = check_bytes(tmp_path, b"\xef\xbb\xbfmodel \xc3")
    assert codes(result) == ["E003"]
    assert at(result, "E003") == (1, 7)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\x0b"])
def test_control_characters_are_E003(tmp_path, char, capsys):
    text = model(f"    y = 1 {char} 2")
    result, path = check_bytes(tmp_path, text.encode())
    assert codes(result) == ["E003"]
    assert at(result, "E003") == (3, 11)
    assert f"U+{ord(char):04X}" in result.diagnostics[0].message
    assert_well_formed(result)
    assert main(["check", str(path)]) == 1
    capsys.readouterr()


def test_tabs_form_feeds_crlf_and_a_bom_are_fine(tmp_path):
    text = "\ufeffmodel M {\r\n\tinput x: [N, 4]\f\r\n\treturn x -> Linear(3, 2)\r\n}\r\n"
    result, _ = check_bytes(tmp_path, text.encode())
    assert codes(result) == ["E202"]
    assert at(result, "E202") == (3, 21)
    source = result.diagnostics[0].primary.span.source
    assert source.line_text(3) == "\treturn x -> Linear(3, 2)"  # no stray carriage return
    assert "\r" not in render_text(result.diagnostics[0])


@pytest.mark.parametrize("text", ["", "\n\n   \n", "# only a comment", "# one\n  # two\n#\n"])
def test_empty_and_comment_only_files(tmp_path, text, capsys):
    result, path = check_bytes(tmp_path, text.encode())
    assert result.diagnostics == [] and result.models == []
    assert main(["check", str(path)]) == 0
    assert "checked 1 file: no problems" in capsys.readouterr().out


# ---------------------------------------------------------------- strings and templates


@pytest.mark.parametrize("literal", [r'"\x"', r'"\N{no such name}"', r"'\u12'"])
def test_malformed_string_escapes_are_E001(literal):
    result = check(model(f"    y = {literal}"))
    assert codes(result) == ["E001"]
    assert at(result, "E001") == (3, 9)


@pytest.mark.parametrize(
    "label, culprit",
    [('"layer{"', "{"), ('"layer{)}"', ")"), ('"layer{}"', "}"), ('"{1 +}"', "}")],
)
def test_malformed_label_templates_are_E001(label, culprit):
    result = check(model(f"    y = x -> {label}: Linear(4, 4)"))
    assert codes(result) == ["E001"]
    column = len("    y = x -> ") + label.index(culprit) + 1
    assert at(result, "E001") == (3, column)  # inside the template, not at the end of the file
    assert_well_formed(result)


# ---------------------------------------------------------------- depth and size


@pytest.mark.parametrize(
    "expression",
    [
        "[" * 150 + "1" + "]" * 150,
        "-" * 150 + "1",
        "not " * 150 + "True",
        "2 ** " * 150 + "1",
        "max(" * 150 + "1" + ")" * 150,
        " + ".join(["1"] * 150),
    ],
)
def test_expressions_nested_150_deep_are_E002(expression):
    result = check(model(f"    y = {expression}"))
    assert codes(result) == ["E002"]
    assert at(result, "E002")[0] == 3
    assert_well_formed(result)


def test_blocks_nested_150_deep_are_E002():
    result = check(model("if True {" * 150 + "}" * 150))
    assert codes(result) == ["E002"]


def test_parentheses_alone_do_not_nest():
    text = model("    y = " + "(" * 10_000 + "x" + ")" * 10_000 + " -> relu()")
    result = check(text.replace("return x", "return y"))
    assert result.diagnostics == []


def test_block_instances_nested_too_deeply_are_E002():
    from archspec.elaborate.elaborator import MAX_BLOCK_DEPTH  # B0 ... B{MAX}: one level too many

    levels = MAX_BLOCK_DEPTH
    blocks = "\n".join(f"block B{i} {{ input x  return x -> B{i + 1}() }}" for i in range(levels))
    blocks += f"\nblock B{levels} {{ input x  return x }}\n"
    result = check(blocks + "model M { input x: [N, 4]  return x -> B0() }")
    assert codes(result) == ["E002"]
    assert_well_formed(result)


def test_a_5000_layer_pipeline_chain():
    chain = " -> ".join(["Linear(4, 4)", "relu()"] * 2500)
    start = time.perf_counter()
    result = check(model(f"    y = x -> {chain}").replace("return x", "return y"))
    elapsed = time.perf_counter() - start
    assert result.diagnostics == []
    checked = result.model()
    assert checked.parameter_count == 2500 * 20
    assert len(checked.graph.root.children) == 2500  # relu() is a function, not a module
    assert len(list(checked.graph.nodes())) == 5000 + 2  # every application, input and output
    assert elapsed < 30, elapsed


def test_a_20000_function_chain_is_checked_in_linear_time():
    chain = " -> ".join(["relu()"] * 20_000)
    start = time.perf_counter()
    result = check(model(f"    y = x -> {chain}").replace("return x", "return y"))
    elapsed = time.perf_counter() - start
    assert result.diagnostics == []
    assert elapsed < 30, elapsed  # quadratic node naming took minutes here


def test_a_5000_layer_chain_with_an_error_at_the_start_reports_it_once():
    chain = " -> ".join(["Linear(3, 4)"] + ["Linear(4, 4)"] * 4999)
    result = check(model(f"    y = x -> {chain}").replace("return x", "return y"))
    assert codes(result) == ["E202"]


def test_a_2000_statement_file():
    body = "\n".join(f'    h = h -> "fc{i}": Linear(4, 4) -> relu()' for i in range(2000))
    start = time.perf_counter()
    result = check(model("    h = x\n" + body).replace("return x", "return h"))
    elapsed = time.perf_counter() - start
    assert result.diagnostics == []
    assert result.model().parameter_count == 2000 * 20
    assert elapsed < 30, elapsed


def test_a_long_sequential():
    layers = ", ".join(["Linear(4, 4)"] * 3000)
    result = check(model(f"    y = x -> Sequential({layers})").replace("return x", "return y"))
    assert result.diagnostics == []
    assert len(result.model().graph.module("sequential").children) == 3000


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "statement",
    [
        "for i in range(10**9) { y = i }",
        "y = range(10**9)",
        "y = [i for i in range(10**9)]",
        "y = len(range(10**70))",
        "y = 2 ** 10**9",
        "y = 10 ** 10 ** 10",
        "y = 2.5 ** 10**9",
        "y = [0] * 10**9",
        "y = 1e308 * 10",
        "y = int(1e300 * 1e300)",
        "y = " + "9" * 10_000,
        "y = " + "9" * 10_000 + ".5",
        "y = 1e999",
        # A million loop steps: timed, so not traced by coverage (which slows it 5-10x).
        pytest.param(
            "for i in range(2000) { for j in range(2000) { y = j } }", marks=pytest.mark.no_cover
        ),
    ],
)
def test_runaway_sizes_are_E110_and_fast(statement):
    start = time.perf_counter()
    result = check(model(f"    {statement}"))
    assert codes(result) == ["E110"], [d.message for d in result.diagnostics]
    assert time.perf_counter() - start < 20
    assert_well_formed(result)


@pytest.mark.parametrize("expression", ["1 / 0", "1 // 0", "1 % 0", "0 ** -1", "1.5 / 0.0"])
def test_division_by_zero_is_E105(expression):
    result = check(model(f"    y = {expression}"))
    assert codes(result) == ["E105"]
    assert result.diagnostics[0].message == "division by zero"


@pytest.mark.parametrize(
    "statement, code",
    [
        ("y = (-8) ** 0.5", "E108"),
        ("y = 'a' * 3", "E108"),
        ("y = min(N, 3)", "E104"),
        ("y = range(1.5)", "E104"),
        ("y = int('x')", "E104"),
        ("y = max()", "E104"),
        ("y = [1, 2][True]", "E108"),
        ("y = [1, 2][5]", "E105"),
        ("y = (1, 2)[-3]", "E105"),
        ("y = 'abc'[0]", "E108"),
        ("for i in 3 { y = i }", "E108"),
        ("y = [i for i in x]", "E108"),
        ("y = x -> range(3)", "E108"),
        ("y = Linear(4, 4)", "E108"),
        ("y = x ** 2", "E108"),  # (-x is torch.neg now; ** on a tensor is not an op)
    ],
)
def test_values_of_the_wrong_kind_are_diagnostics(statement, code):
    result = check(model(f"    {statement}"))
    assert codes(result) == [code], [d.message for d in result.diagnostics]
    assert_well_formed(result)


@pytest.mark.parametrize(
    "stage", ["Upsample(scale_factor=1e308)", "reshape(shape=3)", "view(shape=?)"]
)
def test_op_argument_extremes_give_diagnostics(stage):
    result = check(f"model M {{\n    input x: [N, 4, 8, 8]\n    return x -> {stage}\n}}")
    assert errors_of(result)


def errors_of(result) -> list[str]:
    return [d.code for d in result.diagnostics if d.code.startswith("E")]


# ---------------------------------------------------------------- unknown names


@pytest.mark.parametrize(
    "written, suggested",
    [
        ("Conv2D(4, 4, 1)", "Conv2d"),
        ("Dropuot(0.5)", "Dropout"),
        ("batchnorm2d(4)", "BatchNorm2d"),
        ("Maxpool2d(2)", "MaxPool2d"),
        ("sequential(ReLU())", "Sequential"),
        ("flaten(1)", "flatten"),
    ],
)
def test_unknown_layers_suggest_the_closest_name(written, suggested):
    result = check("model M {\n    input x: [N, 4, 8, 8]\n    return x -> " + written + "\n}")
    assert codes(result) == ["E101"]
    assert result.diagnostics[0].help == f"did you mean '{suggested}'?"
    assert at(result, "E101") == (3, 17)


def test_unknown_name_far_from_everything_gets_no_guess():
    result = check("model M {\n    input x: [N, 4]\n    return x -> Qwertyuiop(3)\n}")
    assert codes(result) == ["E101"]
    assert "did you mean" not in (result.diagnostics[0].help or "")


# ---------------------------------------------------------------- fuzzing

TOKENS = [
    *"model block input return if else for in from import and or not".split(),
    *"{ } ( ) [ ] , : = -> + - * / // % ** == != < <= > >= ?".split(),
    *"x y h N M c i Conv2d ReLU relu cat Sequential Linear flatten range len max B".split(),
    "0", "1", "3", "-1", "2.5", "1e999", "10**9", '"M"', "'same'", '"lay{i + 1}"', '"{"',
    "True", "None", "\n", "# comment\n", "x ->", "input x: [N, 3, 8, 8]", "model M {",
    "block B(c=1) {", "return x", "*[", "for i in range(3)", "Conv2d(?, 4, 3)", "MaxPool2d(2)",
    "x = x ->", "view(N, -1)", '"lay{i}":', 'from "nowhere.arch" import B', "(x, x)", "[x]",
    "'\\x'", "\t", "é",
]  # fmt: skip

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.text(alphabet=string.printable + "é→\u00a0", max_size=200))
def test_random_text_gives_only_diagnostics(text):
    result = check(text)
    assert_well_formed(result)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_random_token_sequences_give_only_diagnostics(tokens):
    result = check(" ".join(tokens))
    assert_well_formed(result)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_random_model_bodies_give_only_diagnostics(tokens):
    text = "model M {\n    input x: [N, 3, 8, 8]\n" + " ".join(tokens) + "\n    return x\n}\n"
    result = check(text)
    assert_well_formed(result)


STATEMENTS = [
    "h = h -> Conv2d(?, 8, 3, padding=1)",
    "h = h -> Conv2d(3, 8, 3)",
    "h = h -> MaxPool2d(2)",
    "h = h -> BatchNorm2d(?)",
    "h = h -> relu()",
    "h = h + h",
    "h = cat([h, h], 1)",
    "h = h -> flatten(1)",
    "h = h -> Linear(?, 10)",
    "h = h -> Linear(100, 10)",
    "h: [N, 8, H, W] = h",
    "h = h -> view(N, -1)",
    "h = h -> AdaptiveAvgPool2d(1)",
    "h = h -> b: B(8)",
    "h = h -> B(3)",
    "s: Sequential(Conv2d(?, 4, 1), ReLU())",
    "h = h -> s",
    "for i in range(2) { h = h -> Conv2d(?, 8, 1) }",
    "if True { h = h -> Upsample(scale_factor=2) }",
    "h = h * (h -> adaptive_avg_pool2d(1))",
    "h = undefined -> relu()",
]

BLOCK_B = "block B(c) {\n    input x: [N, c, H, W]\n    return x -> Conv2d(c, c, 3, padding=1)\n}\n"


@FUZZ
@given(st.lists(st.sampled_from(STATEMENTS), max_size=12))
def test_random_well_formed_programs_check_consistently(statements):
    body = "\n".join(f"    {s}" for s in statements)
    text = BLOCK_B + f"model M {{\n    input x: [N, 3, 8, 8]\n    h = x\n{body}\n    return h\n}}\n"
    first = check(text)
    assert_well_formed(first)
    second = check(text)
    assert [render_text(d) for d in first.diagnostics] == [
        render_text(d) for d in second.diagnostics
    ]
    (checked,) = first.models
    if first.ok:
        assert checked.output_shapes[0] is not None


# ---------------------------------------------------------------- any code point, any terminal

# Characters a terminal acts on or hides (formats.shown escapes them), and the strings archspec
# reads them from: comments, string literals (whose escapes can make anything), names.
_HOSTILE_CHARACTERS = st.sampled_from(
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list("\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069\ud800\udfff\ufeffＭｘ")
)
_HOSTILE_PIECES = st.sampled_from(
    ["model Net {", "input x: [N, 4]", "return x", "}", "# ", '"', "\\x00", "\\ud800", "\n"]
)


@FUZZ
@given(st.lists(st.one_of(_HOSTILE_CHARACTERS, _HOSTILE_PIECES), max_size=40))
def test_any_code_point_gives_diagnostics_shown_escaped(parts):
    text = 'from "b.arch" import B\n' + " ".join(parts)
    result = check(text)  # never UnicodeEncodeError, ValueError or a raw character
    assert_well_formed(result)
    unshowable = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\t"}
    unshowable |= set("\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069\ud800\udfff")
    for diagnostic in result.diagnostics:
        for line in render_text(diagnostic).splitlines():
            assert not unshowable & set(line), line
