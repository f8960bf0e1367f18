"""The conv/pool output-size formula through the registry: seed 004's exercises, the LeNet-style
conv + pool, torch's ceil_mode last-window rule, and the pooling padding limit."""

from __future__ import annotations

import pytest

from archspec.core.dims import Sym
from archspec.ops import REGISTRY
from archspec.ops.apply import bind, evaluate
from archspec.ops.base import OpFailure
from archspec.ops.common import conv_output_size

N = Sym.named("N")


def apply(name: str, shape, *args, explanations=None, **kwargs):
    op = REGISTRY[name]
    positional = ["<tensor>"] * sum(p.is_tensor for p in op.params) + list(args)
    return evaluate(op, bind(op, positional, kwargs), [tuple(shape)], explanations)


def refusal(name: str, shape, *args, **kwargs) -> OpFailure:
    with pytest.raises(OpFailure) as caught:
        apply(name, shape, *args, **kwargs)
    return caught.value


# Seed 004: (input H×W, Conv2d keyword arguments, expected output H×W).
SEED_004 = [
    ((227, 227), {"kernel_size": 11, "stride": 4}, (55, 55)),
    ((64, 64), {"kernel_size": 7, "stride": 2}, (29, 29)),
    ((32, 32), {"kernel_size": 5, "padding": 2}, (32, 32)),
    ((32, 64), {"kernel_size": 5}, (28, 60)),
    ((64, 32), {"kernel_size": 3, "padding": 1}, (64, 32)),
]


@pytest.mark.parametrize(("size", "kwargs", "expected"), SEED_004)
def test_seed_004_conv_exercises(size, kwargs, expected):
    result = apply("Conv2d", (N, 3, *size), 3, 16, **kwargs)
    assert result.shape == (N, 16, *expected)


def test_conv_then_pool_on_mnist():
    conv = apply("Conv2d", (N, 1, 28, 28), 1, 5, 5)
    assert conv.shape == (N, 5, 24, 24)
    assert conv.params == 5 * 1 * 5 * 5 + 5
    assert conv.macs == 24 * 24 * (5 * 25 + 5)  # torchinfo's count: weights and bias per position
    pool = apply("MaxPool2d", conv.shape, 2)
    assert pool.shape == (N, 5, 12, 12)
    assert pool.warnings == []


# (size, kernel, stride, padding, ceil_mode output): the last window is dropped when it would
# start in the right padding, and rounding up applies to negative spans too.
CEIL_CASES = [
    (5, 2, 2, 1, 3),  # ⌈5/2⌉ + 1 = 4 windows, but the 4th starts at 6 >= 5 + 1: dropped
    (6, 3, 2, 0, 3),  # ⌈3/2⌉ + 1 = 3, floor gives 2
    (7, 3, 2, 1, 4),
    (10, 3, 3, 1, 4),
    (1, 2, 2, 0, 1),  # a window larger than the input still yields one output
    (2, 5, 4, 0, 1),
    (1, 3, 2, 0, 0),  # too small even when rounding up
]


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "expected"), CEIL_CASES)
def test_ceil_mode_last_window(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding, ceil_mode=True) == expected


@pytest.mark.torch
@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "expected"), CEIL_CASES)
@pytest.mark.parametrize("layer", ["MaxPool2d", "AvgPool2d"])
def test_ceil_mode_matches_torch(layer, size, kernel, stride, padding, expected):
    torch = pytest.importorskip("torch")
    module = getattr(torch.nn, layer)(kernel, stride, padding, ceil_mode=True)
    if expected < 1:
        with pytest.raises(RuntimeError):
            module(torch.zeros(1, 1, size, size))
        assert refusal(layer, (1, 1, size, size), kernel, stride, padding, ceil_mode=True).code == (
            "E203"
        )
        return
    shape = tuple(module(torch.zeros(1, 1, size, size)).shape)
    assert shape == (1, 1, expected, expected)
    assert apply(layer, (1, 1, size, size), kernel, stride, padding, ceil_mode=True).shape == shape


@pytest.mark.parametrize("layer", ["MaxPool2d", "AvgPool2d", "max_pool2d", "avg_pool2d"])
def test_pool_padding_more_than_half_the_kernel_is_an_error(layer):
    error = refusal(layer, (N, 8, 16, 16), 3, 1, 2)
    assert error.code == "E105"
    assert error.arg == "padding"
    assert "more than half of its kernel 3" in error.message
    assert "padding <= 1" in error.help
    assert apply(layer, (N, 8, 16, 16), 3, 1, 1).shape == (N, 8, 16, 16)


def test_pool_window_larger_than_input():
    error = refusal("MaxPool2d", (N, 8, 3, 3), 5)
    assert error.code == "E203"
    assert (
        error.message == "MaxPool2d window (5) is larger than the padded input height (3 + 2×0 = 3)"
    )
    assert error.notes == ("output height: ⌊(3 + 2×0 − (5−1) − 1) / 5⌋ + 1 = 0",)


def test_pool_stride_larger_than_kernel_warns():
    result = apply("MaxPool2d", (N, 3, 12, 12), 2, stride=5)
    assert result.shape == (N, 3, 3, 3)
    [warning] = result.warnings
    assert warning.code == "W001"
    assert warning.message == (
        "MaxPool2d stride 5 is larger than its kernel 2: 3 of every 5 rows are never read"
    )
    assert warning.arg == "stride"
    assert warning.help == "use stride <= kernel_size (stride defaults to kernel_size)"
    columns = apply("AvgPool2d", (N, 3, 12, 12), 2, stride=(2, 3))
    assert [w.message for w in columns.warnings] == [
        "AvgPool2d stride 3 is larger than its kernel 2: 1 of every 3 columns are never read"
    ]


def test_flatten_feeds_the_linear_mismatch_message():
    flat = apply("flatten", (N, 64, 3, 3), 1)
    assert flat.shape == (N, 576)
    assert flat.explanations == {1: "64×3×3 from flatten"}
    error = refusal("Linear", flat.shape, 3136, 10, explanations=[flat.explanations])
    assert error.code == "E202"
    assert (
        error.message == "Linear expects in_features=3136, but receives 576 = 64×3×3 from flatten"
    )
    assert error.help == "set in_features=576 (64×3×3), or write in_features=? to infer it"
