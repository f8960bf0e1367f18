"""Jupyter: what a notebook shows for a checked spec (never partial numbers for a broken one) and
the `%%arch` cell magic, run in a real IPython shell when IPython is installed."""

from __future__ import annotations

import pytest

import archspec
from archspec.tools.notebook import MagicUsageError, check_cell, parse_line

BROKEN = "examples/seed000_convnet.arch"  # E202 at fc1: fc1 and fc2 have no shape
GOOD_CELL = "model Tiny {\n    input x: [N, 4]\n    return x -> fc: Linear(4, 2)\n}\n"
BAD_CELL = "model Tiny {\n    input x: [N, 4]\n    return x -> fc: Linear(3, 2)\n}\n"


def shown(value) -> dict[str, str]:
    """The MIME data IPython would send for `value` (IPython's formatter, or the bundle)."""
    try:
        from IPython.core.formatters import DisplayFormatter
    except ImportError:
        return value._repr_mimebundle_()
    return DisplayFormatter().format(value)[0]


def test_a_broken_spec_shows_its_diagnostics_not_partial_numbers():
    result = archspec.check(BROKEN)
    for value in (result, result.model()):
        data = shown(value)
        assert "image/svg+xml" not in data  # the graph would show shapes that are not there
        for mime in ("text/plain", "text/html", "text/markdown"):
            assert "E202" in data[mime], mime
            assert "Total params" not in data[mime] and "52,096" not in data[mime], mime
            assert "incomplete" in data[mime]
    assert "&lt;" in shown(result)["text/html"] or "<pre>" in shown(result)["text/html"]


def test_a_complete_spec_still_shows_its_summary():
    data = shown(archspec.check("specs/seeds/mnist_cnn.arch"))
    assert "Total params: 50,186" in data["text/plain"]


def test_a_budget_error_leaves_the_numbers_whole_and_shown():
    text = "# archspec: budget params=5\n" + GOOD_CELL  # Linear(4, 2) has 10
    result = archspec.check_text(text)
    assert [d.code for d in result.diagnostics] == ["E301"]
    assert "Total params: 10" in shown(result)["text/plain"]


# ---------------------------------------------------------------- %%arch


def test_parse_line():
    assert parse_line("") == parse_line("   ")
    options = parse_line("net --no-graph")
    assert (options.variable, options.graph) == ("net", False)
    for bad in ("1x", "a b", "--graph", "'unclosed"):
        with pytest.raises(MagicUsageError, match="usage: %%arch"):
            parse_line(bad)


def test_cell_report_without_ipython():
    _, report = check_cell("", GOOD_CELL)
    data = report._repr_mimebundle_()
    assert "checked the cell: no problems" in data["text/plain"]
    assert "Tiny" in data["text/plain"] and "Total params: 10" in data["text/plain"]
    _, broken = check_cell("--no-graph", BAD_CELL)
    data = broken._repr_mimebundle_()
    assert "<cell>:3:" in data["text/plain"] and "E202" in data["text/html"]
    assert "Total params" not in data["text/plain"]


def test_the_cell_magic_in_ipython():
    interactive = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactive.InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "archspec")
        outcome = shell.run_cell(f"%%arch net\n{GOOD_CELL}", store_history=False)
        assert outcome.success, outcome.error_in_exec
        assert shell.user_ns["net"].model().parameter_count == 10
        data = shown(outcome.result)
        assert "Total params: 10" in data["text/plain"]
        if "<svg" not in data["text/html"]:  # drawing needs Graphviz's `dot`
            assert "Total params" in data["text/html"]
        broken = shell.run_cell(f"%%arch\n{BAD_CELL}", store_history=False)
        assert broken.success  # findings are output, not an exception
        assert "E202" in shown(broken.result)["text/plain"]
        usage = shell.run_cell("%%arch 1x\nmodel M {}\n", store_history=False)
        assert "usage: %%arch" in shown(usage.result)["text/plain"]
    finally:
        interactive.InteractiveShell.clear_instance()
