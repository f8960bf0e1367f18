"""The Python API's edges: a result's notebook display, picking a model by name, the lazy names
of the package, and fixes that must be left alone (another file, overlaps)."""

from __future__ import annotations

import textwrap
from unittest import mock

import pytest

import archspec
from archspec.core.diagnostic import Applicability, Edit, Fix, make
from archspec.core.source import SourceFile
from archspec.outputs import render
from archspec.tools.fixes import apply_fixes

ONE = """
model Small {
    input x: [N, 3, 8, 8]
    y = x -> conv: Conv2d(3, 4, 3) -> flatten(1) -> fc: Linear(144, 2)
    return y
}
"""
TWO = ONE + "\nmodel Other {\n    input x: [N, 5]\n    return x -> Linear(5, 1)\n}\n"


def check(text: str, path: str = "<api>"):
    return archspec.check_text(textwrap.dedent(text), path)


def test_a_checked_model_draws_and_summarizes_itself():
    model = check(ONE).model()
    assert model.to_dot().startswith("digraph")
    assert "fc" in model.to_dot(depth=1)
    assert str(model.summary(batch=2)) == str(check(ONE).summary(batch=2))
    svg = model._repr_svg_()
    assert svg is not None and "<svg" in svg
    bundle = model._repr_mimebundle_()
    assert bundle["image/svg+xml"] == svg
    assert bundle["text/plain"] == str(model.summary())


def test_without_graphviz_the_notebook_shows_the_summary_only():
    model = check(ONE).model()
    with mock.patch.object(render, "render", side_effect=render.RenderError("no dot")):
        assert model._repr_svg_() is None
        assert model._repr_mimebundle_() == {"text/plain": str(model.summary())}


def test_a_result_with_one_model_displays_it_and_with_two_only_its_repr():
    one, two = check(ONE), check(TWO)
    assert one._repr_mimebundle_()["text/plain"] == str(one.model().summary())
    assert one._repr_svg_() == one.model()._repr_svg_()
    assert two._repr_svg_() is None
    assert two._repr_mimebundle_() == {"text/plain": repr(two)}


def test_models_are_picked_by_name():
    two = check(TWO, "two.arch")
    assert two.model("Other").name == "Other"
    with pytest.raises(LookupError, match=r"^two\.arch defines 2 models \(Small, Other\)$"):
        two.model()
    with pytest.raises(LookupError, match=r"^two\.arch defines no model 'Third'$"):
        two.model("Third")
    blocks_only = check("block B {\n    input x\n    return x\n}\n", "blocks.arch")
    with pytest.raises(LookupError, match=r"^blocks\.arch defines 0 models \(none\)$"):
        blocks_only.model()


def test_the_package_loads_its_heavier_names_lazily():
    from archspec import api

    assert archspec.load is api.load and archspec.SpecError is api.SpecError
    with pytest.raises(AttributeError, match="has no attribute 'compile'"):
        archspec.compile  # noqa: B018


# ---------------------------------------------------------------- fixes left alone

TEXT = "model M {\n    input x: [N, 4]\n    return x -> Linear(3, 2)\n}\n"


def _fix(source: SourceFile, start: int, end: int, replacement: str):
    span = source.span(start, end)
    return make("E202", "m", span, fix=Fix("f", (Edit(span, replacement),), Applicability.SAFE))


def test_fixes_for_another_file_or_other_text_are_skipped():
    here = SourceFile("m.arch", TEXT)
    elsewhere = SourceFile("other.arch", TEXT)
    stale = SourceFile("m.arch", TEXT.replace("3", "5"))
    start = TEXT.index("3, 2")
    diagnostics = [_fix(elsewhere, start, start + 1, "9"), _fix(stale, start, start + 1, "8")]
    assert apply_fixes(TEXT, diagnostics, "m.arch") == (TEXT, 0)
    assert apply_fixes(TEXT, [_fix(here, start, start + 1, "4")], "m.arch") == (
        TEXT.replace("Linear(3, 2)", "Linear(4, 2)"),
        1,
    )


def test_overlapping_fixes_wait_for_the_next_pass():
    source = SourceFile("m.arch", TEXT)
    start = TEXT.index("3, 2")
    first = _fix(source, start, start + 1, "4")
    overlapping = _fix(source, start, start + 4, "4, 7")
    inserting = _fix(source, start + 1, start + 1, "0")  # touches the first fix's end
    text, used = apply_fixes(TEXT, [first, overlapping, inserting], "m.arch")
    assert (text, used) == (TEXT.replace("Linear(3, 2)", "Linear(4, 2)"), 1)
    span = source.span(start, start + 1)
    self_overlapping = make(
        "E202", "m", span, fix=Fix("f", (Edit(span, "4"), Edit(source.span(start, start), "1")))
    )
    assert apply_fixes(TEXT, [self_overlapping], "m.arch") == (TEXT, 0)
