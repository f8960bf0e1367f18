"""`archspec fmt`: golden layouts, idempotence, meaning and comment preservation, the command.

Meaning is checked the strong way: the formatted text is checked again and must give the same
diagnostics and, per model, the same graph (node ids, ops, bound arguments, edges), module tree and
inferred shapes. No torch needed.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.cli import main
from archspec.core import diagnostic as diag
from archspec.diagnostics.formats import render_text
from archspec.tools.fmt import WIDTH, comment_texts, format_text

CASES = sorted(p for p in (GOLDEN / "fmt").glob("*.arch") if not p.name.endswith(".formatted.arch"))
SPECS = sorted((ROOT / "specs").rglob("*.arch")) + sorted((ROOT / "examples").rglob("*.arch"))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def meaning(text: str, path: str) -> tuple:
    """What a spec means to the checker, without source positions."""
    result = archspec.check_text(text, path)
    diagnostics = sorted(
        (d.code, re.sub(r"\d+:\d+", "L:C", d.message), d.notes, d.help) for d in result.diagnostics
    )
    models = []
    for model in result.models:
        graph = model.graph
        nodes = [
            (
                node.id,
                node.kind,
                node.name,
                node.op.name if node.op else None,
                repr(node.args),
                node.inputs,
                node.module,
                node.scope,
            )
            for node in graph.nodes()
        ]
        modules = [(m.path, m.kind, repr(m.args), repr(m.params)) for m in graph.root.walk()]
        shapes = {key: repr(shape) for key, shape in model.inference.shapes.items()}
        models.append(
            (
                model.name,
                nodes,
                sorted(graph.graph.edges()),
                modules,
                shapes,
                graph.inputs,
                graph.outputs,
                model.parameter_count,
            )
        )
    return diagnostics, models


def assert_preserved(text: str, path: str) -> str:
    formatted = format_text(text, path)
    assert format_text(formatted, path) == formatted, "not idempotent"
    assert Counter(comment_texts(formatted)) == Counter(c.rstrip() for c in comment_texts(text))
    assert meaning(formatted, path) == meaning(text, path)
    return formatted


# ---------------------------------------------------------------- golden layouts


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden_layout(case, golden):
    text = case.read_text(encoding="utf-8")
    formatted = assert_preserved(text, _name(case))
    golden(case.with_name(case.stem + ".formatted.arch"), formatted)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden_output_is_canonical(case):
    expected = case.with_name(case.stem + ".formatted.arch")
    text = expected.read_text(encoding="utf-8")
    assert format_text(text, _name(case)) == text


def test_golden_cases_cover_the_language():
    text = "\n".join(p.read_text(encoding="utf-8") for p in CASES)
    for construct in (
        "else if",
        "for i in",
        '"layer{i + 1}"',
        "from ",
        "Sequential(Sequential(",
        "for i in range(3)]",
        "# at the end of the file",
        "# inside an argument list",
        "# before the closing bracket",
    ):
        assert construct in text, construct


# ---------------------------------------------------------------- shipped specs


@pytest.mark.parametrize("spec", SPECS, ids=_name)
def test_shipped_specs_are_canonical_and_preserved(spec):
    text = spec.read_text(encoding="utf-8")
    assert assert_preserved(text, _name(spec)) == text


@pytest.mark.parametrize("spec", SPECS, ids=_name)
def test_messy_layout_of_a_spec_formats_back(spec):
    """Every spec with its tokens on separate lines comes back to the shipped layout, except for
    blank lines, which the formatter keeps, and the columns of comments behind moved code."""
    text = spec.read_text(encoding="utf-8")
    squashed = _respace(text)
    assert squashed != text
    formatted = assert_preserved(squashed, _name(spec))

    def lines(text: str) -> list[str]:
        return [re.sub(r" +#", "  #", line) for line in text.splitlines() if line]

    assert lines(formatted) == lines(text)


def _respace(text: str) -> str:
    """One token per line where the line has no comment, indentation removed: a worst case."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if "#" in stripped or not stripped:
            lines.append(stripped)
            continue
        parts = re.split(r"(\"[^\"]*\")", stripped)  # strings stay whole ("mypkg:Layer")
        pieces = (part if part.startswith('"') else _split_tokens(part) for part in parts)
        lines.append("".join(pieces))
    return "\n".join(lines) + "\n"


def _split_tokens(code: str) -> str:
    return re.sub(r"\s*(->|,|\(|\)|(?<![=!<>])=(?!=)|:)\s*", r"\n\1\n", code)


def test_lines_fit_where_the_code_allows():
    for spec in SPECS:
        for line in spec.read_text(encoding="utf-8").splitlines():
            code = line.split("  #")[0]
            assert len(code) <= WIDTH, (spec, line)


# ---------------------------------------------------------------- details of the style


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("model M{input x:[N,4]\nreturn x->Linear(4,2)}", "model M {\n    input x: [N, 4]\n"),
        ("model M { input x: [N, 4] return x -> view(N , - 1) }", "view(N, -1)"),
        ("model M { input x: [N, 4] return x -> Dropout(p = .5) }", "Dropout(p=.5)"),
        ("model M(a = 2) { input x: [N, 4] return x }", "model M(a=2) {"),
        ("model M { input x: [N, 4] y = 1_000 + 0x0 return x }", None),
        ("model M { input x: [N, 4] return x -> Conv1d(4, 4, 3, padding='same') }", '"same"'),
        ("model M { input x: [N, 4] return x -> Conv1d(4, 4, 3, padding='sa\"me') }", "'sa\"me'"),
        ("model M { input x: [N, 4] t = (1,) return x }", "t = (1,)"),
        ("model M { input x: [N, 4] t = (1, 2,) return x }", "t = (\n        1,\n        2,\n"),
        ("model M { input x: [N, 4] n = 1e-5 return x }", "n = 1e-5"),
        ("model M { input x: [N, 4] n = -x ** 2 return x }", "n = -x ** 2"),
    ],
)
def test_style_details(source, expected):
    if expected is None:  # `0x0` is not a number in the language: a syntax error
        with pytest.raises(diag.ArchError) as error:
            format_text(source)
        assert error.value.diagnostic.code == "E001"
        return
    formatted = assert_preserved(source, "<string>")
    assert expected in formatted


def test_empty_and_comment_only_files():
    assert format_text("") == ""
    assert format_text("\n\n  \n") == ""
    assert format_text("  # only a comment  \n\n\n# and another") == (
        "# only a comment\n\n# and another\n"
    )


def test_blank_lines_collapse_and_definitions_get_exactly_one():
    source = (
        "block A { input x\n\n\n\n    y = x\n    return y }\n\n\n\n"
        "model M { input x: [N, 4]\n\n    return x -> A() }\n"
        "block B { input x return x }"
    )
    formatted = assert_preserved(source, "<string>")
    assert formatted == (
        "block A {\n    input x\n\n    y = x\n    return y\n}\n\n"
        "model M {\n    input x: [N, 4]\n\n    return x -> A()\n}\n\n"
        "block B {\n    input x\n    return x\n}\n"
    )


def test_crlf_and_byte_order_mark_are_normalised():
    source = "\ufeffmodel M {\r\n    input x: [N, 4]   # c\r\n    return x\r\n}\r\n"
    assert format_text(source) == "model M {\n    input x: [N, 4]   # c\n    return x\n}\n"


# ---------------------------------------------------------------- generated specs

_LAYERS = [
    "Conv2d(?, {c}, 3, padding=1)",
    "Conv2d(?, {c}, kernel_size=1, bias=False)",
    "BatchNorm2d(?)",
    "ReLU(inplace=True)",
    "relu()",
    "Identity()",
    "Dropout(p=0.5)",
    "MaxPool2d(kernel_size=3, stride=1, padding=1)",
    "Conv2d(?, {c}, kernel_size=3, stride=1, padding=1, dilation=1, groups=1, bias=True)",
]


@st.composite
def _layer(draw, depth=0):
    c = draw(st.sampled_from([4, 8]))
    choice = draw(st.integers(0, 9 if depth < 2 else 7))
    if choice < 7:
        layer = draw(st.sampled_from(_LAYERS)).format(c=c)
    elif choice == 7:
        layer = f"Blk({c})"
    elif choice == 8:
        children = draw(st.lists(_layer(depth + 1), min_size=1, max_size=3))
        comma = draw(st.sampled_from(["", ","]))
        layer = f"Sequential({', '.join(children)}{comma})"
    else:
        n = draw(st.integers(1, 3))
        layer = f"Sequential(*[Conv2d(?, {c}, 3, padding=1) for i in range({n})])"
    label = draw(st.sampled_from(["", "", "layer: ", '"stage{1+1}": ', "conv_with_a_long_name: "]))
    return label + layer


@st.composite
def _chain(draw, head="h"):
    stages = draw(st.lists(_layer(), min_size=1, max_size=5))
    return f"{head} -> " + " -> ".join(stages) + " -> Conv2d(?, 8, 1)"


@st.composite
def _statements(draw):
    kinds = draw(st.lists(st.sampled_from(["chain", "branch", "if", "for", "list"]), max_size=4))
    lines = ["h = x -> Conv2d(?, 8, 1)"]
    for kind in kinds:
        if kind == "chain":
            lines.append("h = " + draw(_chain()))
        elif kind == "branch":
            op = draw(st.sampled_from(["+", "*"]))
            lines.append("a = " + draw(_chain()))
            lines.append("b = " + draw(_chain()))
            lines.append(f"h = (a -> relu()) {op} b" if op == "+" else "h = cat([a, b], 1)")
            lines.append("h = h -> Conv2d(?, 8, 1)")
        elif kind == "if":
            lines += ["if w > 2 {", "h = " + draw(_chain()), "} else {", "h = h -> relu()", "}"]
        elif kind == "for":
            lines += ["for i in range(2) {", "h = " + draw(_chain()), "}"]
        else:
            lines.append("layers = [Conv2d(?, 8, 1), ReLU()] + [Identity() for j in range(w)]")
            lines.append("h = h -> Sequential(*layers)")
    return lines


@st.composite
def _spec(draw):
    lines = ["block Blk(c, w=3) {", "input x"]
    lines += ["h = x -> Conv2d(?, c, 1) -> relu()", "return h", "}"]
    lines += ["model Gen(w=3) {", "input x: [N, 3, 8, 8]"]
    lines += draw(_statements())
    lines += ["return h -> flatten(1) -> Linear(?, 10)", "}"]
    text = "\n".join(lines)
    # Every gap between two tokens becomes random whitespace, maybe with a comment in it.
    tokens = re.findall(r'->|==|!=|<=|>=|\*\*|//|"[^"]*"|\d+\.\d+|\w+|\n|\S', text)
    out = []
    for token in tokens:
        if token == "\n":
            out.append(draw(st.sampled_from(["\n", "\n\n\n", "  # end of line\n"])))
            continue
        out.append(token)
        out.append(draw(st.sampled_from([" ", " ", " ", "  ", "\n", "\n\t  ", " # note\n"])))
    return "".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_spec())
def test_generated_specs_keep_their_meaning(text):
    assert_preserved(text, "<generated>")


# ---------------------------------------------------------------- the command


MESSY = "model M{input x:[N,4]\nreturn x->Linear(4,2)}  # done\n"
CLEAN = "model M {\n    input x: [N, 4]\n    return x -> Linear(4, 2)\n}  # done\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_in_place_rewrites_only_what_changes(tmp_path, capsys):
    messy = tmp_path / "messy.arch"
    clean = tmp_path / "clean.arch"
    messy.write_text(MESSY, encoding="utf-8")
    clean.write_text(CLEAN, encoding="utf-8")
    os.utime(clean, (1_000_000, 1_000_000))
    before = clean.stat()
    code, out, err = run(capsys, "fmt", str(tmp_path))
    assert code == 0
    assert messy.read_text(encoding="utf-8") == CLEAN
    assert clean.stat().st_mtime == before.st_mtime and clean.stat().st_ino == before.st_ino
    assert f"reformatted {messy}" in err and str(clean) not in err
    assert "1 file reformatted, 1 file already formatted" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".archspec-")]
    assert run(capsys, "fmt", "--check", str(tmp_path))[0] == 0


def test_check_lists_files_and_writes_nothing(tmp_path, capsys):
    messy = tmp_path / "messy.arch"
    messy.write_text(MESSY, encoding="utf-8")
    (tmp_path / "clean.arch").write_text(CLEAN, encoding="utf-8")
    code, out, err = run(capsys, "fmt", "--check", str(tmp_path))
    assert code == 1
    assert out == f"would reformat {messy}\n"
    assert messy.read_text(encoding="utf-8") == MESSY


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path, capsys):
    messy = tmp_path / "messy.arch"
    messy.write_text(MESSY, encoding="utf-8")
    code, out, _ = run(capsys, "fmt", "--diff", str(messy))
    assert code == 0
    assert out.startswith(f"--- {messy} (original)\n+++ {messy} (formatted)\n@@ ")
    assert "-model M{input x:[N,4]\n" in out and "+    return x -> Linear(4, 2)\n" in out
    assert messy.read_text(encoding="utf-8") == MESSY
    code, out, _ = run(capsys, "fmt", "--check", "--diff", str(messy))
    assert code == 1 and "would reformat" in out and "@@ " in out


def test_syntax_error_is_reported_like_check_and_left_alone(tmp_path, capsys):
    broken = tmp_path / "broken.arch"
    text = "model M {\n    input x: [N, 4]\n    return x -> Linear(4 2)\n}\n"
    broken.write_text(text, encoding="utf-8")
    messy = tmp_path / "messy.arch"
    messy.write_text(MESSY, encoding="utf-8")
    code, out, err = run(capsys, "fmt", str(tmp_path))
    assert code == 1
    (expected,) = archspec.check(str(broken)).diagnostics
    assert expected.code == "E001"
    assert render_text(expected) in err
    assert broken.read_text(encoding="utf-8") == text
    assert messy.read_text(encoding="utf-8") == CLEAN  # the other file is still formatted


def test_invalid_utf8_is_e003(tmp_path, capsys):
    bad = tmp_path / "bad.arch"
    bad.write_bytes(b"model M { input x: [N, 4] return x } # \xff\n")
    code, _, err = run(capsys, "fmt", str(bad))
    assert code == 1 and "error[E003]" in err
    assert bad.read_bytes() == b"model M { input x: [N, 4] return x } # \xff\n"


def test_missing_and_unreadable_paths_exit_2(tmp_path, capsys):
    code, _, err = run(capsys, "fmt", str(tmp_path / "nope.arch"))
    assert code == 2 and "no such file" in err
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked.arch"
        locked.write_text(CLEAN, encoding="utf-8")
        locked.chmod(0)
        try:
            code, _, err = run(capsys, "fmt", "--check", str(locked))
        finally:
            locked.chmod(0o644)
        assert code == 2 and "cannot read" in err


def test_failed_write_leaves_the_file_whole(tmp_path, capsys, monkeypatch):
    import archspec.cli.commands

    messy = tmp_path / "messy.arch"
    messy.write_text(MESSY, encoding="utf-8")

    def refuse(path, content):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(archspec.cli.commands, "write_file", refuse)
    code, _, err = run(capsys, "fmt", str(messy))
    assert code == 2 and "cannot write" in err
    assert messy.read_text(encoding="utf-8") == MESSY


def test_shipped_specs_pass_fmt_check(capsys):
    code, out, _ = run(capsys, "fmt", "--check", "specs/", "examples/")
    assert (code, out) == (0, "")


@pytest.mark.parametrize(
    "source",
    [
        # two trailing comments that would share a line: the second moves to its own line
        "model M { input x: [N, 4]\nh = x -> Sequential(Identity() # a\n, # b\n) return h }",
        "model M { input x: [N, 4]\nreturn x # a\n, # b\n x }",
        "model M(a=1 # a\n, # b\n) { input x: [N, 4] return x }",
        # comments around `else`, after a label, inside a comprehension
        "model M(a=1) { input x: [N, 4] if a { y = x } # a\n # b\n else # c\n { y = x } return y }",
        "model M { input x: [N, 4] return x -> lab # a\n : Identity() }",
        "model M { input x: [N, 4] h = [i # a\n for i in range(3) # b\n] return x }",
    ],
)
def test_comments_in_odd_places_are_kept_stably(source):
    assert_preserved(source, "<string>")


def test_a_long_state_declaration_puts_its_options_on_the_next_line():
    long_init = "arange(block_size) > arange(block_size)[:, None]"
    text = (
        "block B(block_size) {\n    input x\n"
        f"    buffer causal: [block_size, block_size] bool = {long_init}, persistent=False\n"
        "    return x\n}\n"
    )
    formatted = format_text(text)
    assert (
        f"    buffer causal: [block_size, block_size] bool = {long_init},\n"
        "        persistent=False\n"
    ) in formatted
    assert format_text(formatted) == formatted
