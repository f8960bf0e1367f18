"""Argument and shape edges of the ops added for modern models (ops/tensor.py, indexing.py,
multi.py, the unflatten function): each refusal names its code, and the generated forms of
`sum`'s optional arguments read as torch code."""

from __future__ import annotations

import pytest

import archspec
from archspec.outputs.codegen import generate_module

HEADER = (
    "model M {\n    input x: [N, 6, H in 8..16, 4]\n    input t: [N, 3, 8]\n    input v: [N, 3]\n"
    "    input w: [2, 5, 8]\n"
)


def _spec(statement: str, returned: str = "x") -> str:
    return f"{HEADER}    {statement}\n    return {returned}\n}}\n"


def _errors(statement: str) -> list[tuple[str, str]]:
    result = archspec.check_text(_spec(statement))
    return [(d.code, d.message) for d in result.diagnostics if d.severity == "error"]


@pytest.mark.parametrize(
    "statement, code, words",
    [
        ("y = getitem(x, 'a')", "E105", "index must hold integers, slices, None or ..."),
        ("y = x[:, 5:2:2]", "E203", "the slice 5:2:2 of dim 1 (size 6)"),
        ("a, b = x -> split([-1, 5], dim=1)", "E105", "holds a negative size, -1"),
        ("a, b = x -> split(-2, dim=1)", "E105", "must be non-negative, got -2"),
        ("a, b = x -> split(0, dim=1)", "E105", "split_size_or_sections=0 cannot cut dim 1"),
        ("m: MultiheadAttention(8, 2)\n    a, b = m(t, t)", "E104", "got 2 tensor(s)"),
        ("m: MultiheadAttention(8, 2)\n    a, b = m(t, v, v)", "E206", "key is 2-d [N, 3]"),
        ("y = x -> sum((0, 1, 2, 3)) -> unflatten(0, (1, 1))", "E206", "got a 0-d tensor"),
        ("m: MultiheadAttention(8, 2, batch_first=True)\n    a, b = m(t, w, w)", "E205", "batches"),
        ("y = x[:, :, 20:]", "E203", "is empty"),  # past the end of every H in 8..16
        ("y = x -> permute('a')", "E105", "dims must be an integer, got 'a'"),
        ("y = permute(x, ())", "E105", "dims must name the input's dims in their new order"),
        ("y = roll(x, (), ())", "E105", "shifts must hold at least one shift"),
        ("y = expand(x, 'a')", "E105", "size must be an integer, got 'a'"),
        ("y = expand(x, ())", "E105", "size must not be empty"),
        ("y = interpolate(x, size=0)", "E105", "size must be positive, got 0"),
    ],
)
def test_refusals_name_their_code_and_arithmetic(statement, code, words):
    errors = _errors(statement)
    assert errors and errors[0][0] == code, errors
    assert words in errors[0][1]


@pytest.mark.parametrize(
    "statement, shape",
    [
        ("y = getitem(x, 0)", "[6, H, 4]"),  # the function form of `x[0]`
        ("y = x[:, :, -100:]", "[N, 6, H, 4]"),  # a bound past the start clamps to 0
        ("y = x[:, :, -3:]", "[N, 6, 3, 4]"),
        ("y = x[:, :, 1::2]", "[N, 6, ⌊H/2⌋, 4]"),  # a stepped slice of a symbolic size
    ],
)
def test_slices_of_symbolic_sizes(statement, shape):
    result = archspec.check_text(_spec(statement, "y"))
    assert result.ok, [d.message for d in result.diagnostics]
    model = result.model()
    (output,) = model.graph.outputs
    from archspec.core.dims import format_shape

    assert format_shape(model.inference.shapes[output]) == shape


@pytest.mark.parametrize(
    "statement, code",
    [
        ("y = x -> sum()", "torch.sum(x)"),
        ("y = x -> sum(keepdim=True)", "torch.sum(x, dim=None, keepdim=True)"),
        ("y = x -> sum(1, keepdim=True)", "torch.sum(x, dim=1, keepdim=True)"),
    ],
)
def test_sum_is_written_as_torch_reads_it(statement, code):
    result = archspec.check_text(_spec(statement, "y"))
    assert result.ok, [d.message for d in result.diagnostics]
    assert code in generate_module(result).source
