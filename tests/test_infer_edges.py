"""Shape inference's edges: shapes by node id, and when a fix's value cannot be propagated
(`propagated_values` answers None, so `--fix` leaves the argument alone)."""

from __future__ import annotations

import textwrap

import archspec
from archspec.shapes.infer import propagated_values

TEXT = """
model M {
    input x: [N, 8]
    input s: [N, 4]
    input v: [8]
    y = x -> a: Linear(8, 3)
    z = s -> b: Linear(5, 2)
    w = z -> c: Linear(2, 6)
    g = v -> GroupNorm(1, 8)
    return y, w, g
}
"""


def checked():
    result = archspec.check_text(textwrap.dedent(TEXT), "<infer>")
    return result, [(m.graph, m.inference) for m in result.models]


def span_of(result, node_id: str, arg: str):
    return next(n for n in result.model().graph.nodes() if n.id == node_id).arg_spans[arg]


def test_shapes_are_read_by_node_id():
    inference = checked()[0].model().inference
    assert inference.shape("x") == inference.shapes["x"]
    assert inference.shape("a") == inference.shapes["a"]
    assert inference.shape("no such node") is None


def test_a_count_read_off_the_input_propagates():
    result, models = checked()
    assert propagated_values(models, span_of(result, "a", "in_features")) == {8}


def test_nothing_propagates_to_an_argument_nothing_infers():
    result, models = checked()
    assert propagated_values(models, span_of(result, "a", "out_features")) is None


def test_nothing_propagates_from_an_unknown_input():
    result, models = checked()
    assert result.model().inference.shape("b") is None  # E202 upstream: c's input is unknown
    assert propagated_values(models, span_of(result, "c", "in_features")) is None


def test_nothing_propagates_where_the_input_has_no_such_dim():
    result, models = checked()
    assert [d.code for d in result.diagnostics] == ["E202", "E206"]
    assert propagated_values(models, span_of(result, "groupnorm", "num_channels")) is None


def test_a_stated_shape_is_checked_at_the_sizes_that_decide_it():
    text = """
    model M {
        input x: [N, 3, H in 8..64 step 8, W in 8..64 step 8]
        h: [N, 8, H, 7] = x -> Conv2d(3, 8, 3, padding=1)
        return h
    }
    """
    result = archspec.check_text(textwrap.dedent(text), "<infer>")
    (stated,) = [d for d in result.diagnostics if d.code == "E207"]
    assert stated.message == "'h' has shape [N, 8, H, W], but the spec states [N, 8, H, 7]"
    assert stated.help == "if the layers are right, state [N, 8, H, W]"


def checked_text(text: str):
    return archspec.check_text(textwrap.dedent(text)).model()


def test_the_flattened_map_behind_a_linear_is_read_only_when_its_sizes_are_numbers():
    from archspec.core.dims import Sym
    from archspec.shapes.infer import _flattened_map

    model = checked_text(
        """
        model M {
            input x: [N, 8, 6, 6]
            return x -> flatten(1) -> Linear(288, 4)
        }
        """
    )
    assert _flattened_map(model.graph, model.inference, "flatten") == (8, (6, 6), [])
    model.inference.shapes["x"] = (Sym.named("N"), 8, Sym.named("H"), 6)  # as at symbolic sizes
    assert _flattened_map(model.graph, model.inference, "flatten") is None
