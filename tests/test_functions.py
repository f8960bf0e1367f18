"""User functions (`def`): plain-value helpers such as torchvision's `_make_divisible`, run when
the spec is elaborated; what they may not do is refused at its line."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.tools.fmt import format_text

MAKE_DIVISIBLE = textwrap.dedent(
    """\
    # torchvision.models._utils._make_divisible
    def make_divisible(v, divisor, min_value=None) {
        if min_value == None {
            min_value = divisor
        }
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        # Make sure that round down does not go down by more than 10%.
        if new_v < 0.9 * v {
            new_v = new_v + divisor
        }
        return new_v
    }
    """
)


def _torchvision_make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _model(body: str, functions: str = MAKE_DIVISIBLE) -> str:
    return functions + "\nmodel M {\n    input x: [N, 3, 8, 8]\n" + body + "\n}\n"


@pytest.mark.parametrize("v", [3, 8, 13.5, 16 * 0.75, 27, 96 * 1.25, 100, 240 * 0.35, 1000])
@pytest.mark.parametrize("divisor", [4, 8])
def test_make_divisible_equals_torchvision(v, divisor):
    text = _model(f"    c = make_divisible({v}, {divisor})\n    return x -> Conv2d(3, c, 1)")
    result = archspec.check_text(text)
    assert result.diagnostics == []
    expected = _torchvision_make_divisible(v, divisor)
    assert result.models[0].output_shapes[0][1] == expected


def test_recursion_early_return_and_several_values():
    functions = textwrap.dedent(
        """\
        def fib(n) {
            if n < 2 {
                return n
            }
            return fib(n - 1) + fib(n - 2)
        }
        def halves(total, parts=2) {
            return total // parts, total - total // parts
        }
        """
    )
    body = "    a, b = halves(fib(10))\n    return x -> Conv2d(3, a, 1) -> Conv2d(a, b, 1)"
    result = archspec.check_text(_model(body, functions))
    assert result.diagnostics == []
    assert result.models[0].output_shapes[0][1] == 28  # fib(10) = 55 = 27 + 28


@pytest.mark.parametrize(
    "function, call, code, line, words",
    [
        ("def f(n) {\n    y = n\n}\n", "f(1)", "E109", 1, "function f returns nothing"),
        ("def f(n) {\n    c: Conv2d(3, 4, 1)\n    return n\n}\n", "f(1)", "E108", 2,
         "cannot declare a layer"),
        ("def f(n) {\n    param p: [n] = 0\n    return n\n}\n", "f(1)", "E108", 2,
         "cannot declare a parameter or buffer"),
        ("def f(n) {\n    return f(n + 1)\n}\n", "f(1)", "E107", 2, "nest more than 200 deep"),
        ("def f(n) {\n    return n\n}\n", "f(1, 2)", "E104", None, "f takes 1 arguments"),
        ("def f(n) {\n    return n\n}\n", "f(m=1)", "E104", None, "f has no parameter 'm'"),
        ("def f(n) {\n    return Conv2d(3, n, 1)\n}\n", "f(1)", "E108", 2,
         "a function returns plain values, got a layer"),
    ],
)  # fmt: skip
def test_refusals(function, call, code, line, words):
    result = archspec.check_text(_model(f"    c = {call}\n    return x", function))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert errors, result.diagnostics
    assert errors[0].code == code, errors[0]
    assert words in errors[0].message
    if line is not None:
        assert errors[0].primary.span.line == line


def test_imported_from_another_file(tmp_path):
    (tmp_path / "sizes.arch").write_text(MAKE_DIVISIBLE, encoding="utf-8")
    main = tmp_path / "net.arch"
    main.write_text(
        'from "sizes.arch" import make_divisible\n'
        + _model("    return x -> Conv2d(3, make_divisible(30, 8), 1)", ""),
        encoding="utf-8",
    )
    result = archspec.check(str(main))
    assert result.diagnostics == []
    assert result.models[0].output_shapes[0][1] == 32


def test_a_function_cannot_take_an_op_name():
    result = archspec.check_text(_model("    return x", "def split(n) {\n    return n\n}\n"))
    (finding,) = [d for d in result.diagnostics if d.code == "E103"]
    assert "a function cannot take its name" in finding.message and "function" in finding.help


def test_def_is_reserved_and_formatted():
    text = _model("    return x -> Conv2d(3, make_divisible(30, 8), 1)")
    assert format_text(text) == text
    result = archspec.check_text(_model("    def = 3\n    return x"))
    assert result.diagnostics and result.diagnostics[0].code == "E001"


def test_docs_example_checks_clean():
    from conftest import ROOT

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split("\n### Functions: `def`\n", 1)[1]
    example = section.split("```arch\n", 1)[1].split("```", 1)[0]
    result = archspec.check_text(example)
    assert result.diagnostics == []
    assert result.models[0].output_shapes[0][1] == 24  # make_divisible(24.0, 8)
