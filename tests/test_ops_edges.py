"""Every branch of the op registry, case by case: each case's full outcome (shape, normalised
arguments, parameter and MAC counts, window, explanations and warnings; or the refusal with its
code, argument, input, message, notes and help) is a golden section in tests/golden/ops/edges.txt,
and torch is asked about every case it can run.

Each test registers its op anew (`fresh_op`): the family modules create their shape rules as
closures when they register, so a rule is only as current as its registration. Re-registering
makes every test exercise the factories too, which mutation testing (`make mutate`) relies on: it
swaps function bodies at call time, and runs for each mutant only the tests that reached it.

`pytest --update-goldens` rewrites the golden file from the cases; review its diff like code.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from unittest import mock

import pytest
from conftest import GOLDEN

from archspec.core import dtypes, records
from archspec.core.dims import Sizing, Sym
from archspec.ops import (
    activation,
    base,
    compare,
    conv,
    creation,
    embedding,
    functional,
    indexing,
    linear,
    merge,
    multi,
    norm,
    pool,
    recurrent,
    registry,
    regularization,
    reshape,
    tensor,
    transformer,
)
from archspec.ops.apply import BindError, bind, check_arguments, evaluate
from archspec.ops.base import INFER, REQUIRED, Emission, OpFailure, OpSpec, Param, show_value

FAMILIES = (
    activation,
    conv,
    linear,
    merge,
    multi,
    norm,
    pool,
    regularization,
    reshape,
    tensor,
    indexing,
    creation,
    compare,
    embedding,
    recurrent,
    transformer,
    functional,
)
GOLDEN_FILE = GOLDEN / "ops" / "edges.txt"
TABLE_FILE = GOLDEN / "ops" / "registry.txt"
N = Sym.named("N")
# Layers given as layer arguments (ops/base.py LayerArg), as the elaborator makes them.
TRANSFORMER_LAYER = base.LayerArg(
    registry.REGISTRY["TransformerEncoderLayer"],
    tuple(
        {
            "d_model": 8,
            "nhead": 2,
            "dim_feedforward": 16,
            "dropout": 0.1,
            "activation": "relu",
            "layer_norm_eps": 1e-5,
            "batch_first": True,
            "norm_first": False,
            "bias": True,
        }.items()
    ),  # fmt: skip
    frozenset({"batch_first"}),
)
TRANSFORMER_DECODER_LAYER = base.LayerArg(
    registry.REGISTRY["TransformerDecoderLayer"], TRANSFORMER_LAYER.items, frozenset()
)
LAYER_NORM_8, LAYER_NORM_4 = (
    base.LayerArg(
        registry.REGISTRY["LayerNorm"],
        (("normalized_shape", n), ("eps", 1e-5), ("elementwise_affine", True), ("bias", True)),
    )
    for n in (8, 4)
)
H, W = Sym.named("H"), Sym.named("W")
C = Sym.named("C")
T = "<tensor>"  # a tensor operand of a function, as the graph passes it to `bind`
DTYPED = "dtypes, or no tensor input: tests/test_dtypes.py runs it"
IDS = "dtypes: tests/test_sequence_layers.py runs it"


def reregister(*families) -> dict[str, OpSpec]:
    """The ops of these family modules registered anew, into a new dict (the shared REGISTRY
    stays as it is)."""
    built: dict[str, OpSpec] = {}
    with mock.patch.object(registry, "REGISTRY", built):
        for module in families:
            importlib.reload(module)
    return built


@lru_cache(maxsize=1)
def _family_of() -> dict[str, Any]:
    """Each op's family module, the one that registers it (a rule may live in a shared module:
    ops/common.py's same_shape)."""
    return {name: module for module in FAMILIES for name in reregister(module)}


def fresh_op(name: str) -> OpSpec:
    """`name` registered anew by its own family module."""
    return reregister(_family_of()[name])[name]


@dataclass
class Case:
    id: str
    op: str
    inputs: list[tuple]
    positional: tuple = ()
    keywords: dict = field(default_factory=dict)
    explanations: list[dict[int, str]] | None = None
    # Why torch is not asked (symbolic sizes, `?`, binding); None: torch is asked.
    no_torch: str | None = None
    # Why archspec refuses what torch runs (beyond test_ops_torch.STRICTER); None: it does not.
    stricter: str | None = None
    hints: dict[str, int] | None = None  # symbol values that decide comparisons (dims.Sizing)
    dtypes: list[str] | None = None  # the inputs' dtypes (None: float32)

    @property
    def call(self) -> str:
        parts = [_shown(v) for v in self.positional if v != T]
        parts += [f"{k}={_shown(v)}" for k, v in self.keywords.items()]
        shapes = ", ".join("[" + ", ".join(str(d) for d in s) + "]" for s in self.inputs)
        typed = f" ({', '.join(self.dtypes)})" if self.dtypes else ""
        return f"{self.op}({', '.join(parts)}) on {shapes or 'nothing'}{typed}"


def _shown(value) -> str:
    return "?" if value is INFER else show_value(value)


def case(id, op, inputs, *positional, explain=None, no_torch=None, stricter=None, hints=None,
         dtypes=None, **kw) -> Case:  # fmt: skip
    symbolic = any(isinstance(d, Sym) for shape in inputs for d in shape)
    infers = INFER in positional or INFER in kw.values()
    if no_torch is None and (symbolic or infers):
        no_torch = "symbolic sizes or `?`"
    if no_torch is None and explain is not None:
        no_torch = "explanations"
    shapes = [tuple(s) for s in inputs]
    return Case(id, op, shapes, positional, kw, explain, no_torch, stricter, hints, dtypes)


# fmt: off
CASES = [
    # ------------------------------------------------------------ conv.py
    case("conv2d_basic", "Conv2d", [(2, 3, 10, 10)], 3, 8, 3, stride=2, padding=1),
    case("conv2d_unbatched", "Conv2d", [(3, 9, 7)], 3, 6, (3, 2), bias=False),
    case("conv2d_dilated", "Conv2d", [(2, 4, 12, 12)], 4, 4, 3, dilation=(2, 1), groups=2),
    case("conv2d_padding_same", "Conv2d", [(2, 2, 7, 6)], 2, 4, 4, padding="same"),
    case("conv2d_padding_valid", "Conv2d", [(2, 2, 7, 6)], 2, 4, 3, padding="valid"),
    case("conv2d_padding_word", "Conv2d", [(2, 2, 7, 6)], 2, 4, 3, padding="full"),
    case("conv2d_same_with_stride", "Conv2d", [(2, 2, 7, 6)], 2, 4, 3, stride=2, padding="same"),
    case("conv2d_kernel_too_large", "Conv2d", [(2, 3, 4, 9)], 3, 8, 3, padding=(0, 1), dilation=2),
    case("conv2d_padded_kernel_too_large", "Conv2d", [(2, 1, 1, 6)], 1, 1, 4, padding=1),
    case("conv2d_kernel_fills_input", "Conv2d", [(2, 1, 3, 3)], 1, 1, 3),
    case("conv2d_channels_mismatch", "Conv2d", [(2, 3, 8, 8)], 4, 8, 3),
    case("conv2d_infer_channels", "Conv2d", [(N, 6, 8, 8)], INFER, 9, 1, groups=3),
    case("conv2d_symbolic_channels", "Conv2d", [(N, C, 8, 8)], INFER, 8, 3),
    case("conv2d_in_not_divisible", "Conv2d", [(2, 6, 8, 8)], 6, 8, 3, groups=4),
    case("conv2d_out_not_divisible", "Conv2d", [(2, 6, 8, 8)], 6, 8, 3, groups=3),
    case("conv2d_reflect_too_wide", "Conv2d", [(2, 1, 5, 2)], 1, 1, 3, padding=2,
         padding_mode="reflect"),
    case("conv2d_reflect_fits", "Conv2d", [(2, 1, 5, 3)], 1, 1, 3, padding=2,
         padding_mode="reflect"),
    case("conv2d_circular_equal", "Conv2d", [(2, 1, 2, 2)], 1, 1, 3, padding=2,
         padding_mode="circular"),
    case("conv2d_circular_too_wide", "Conv2d", [(2, 1, 4, 2)], 1, 1, 3, padding=3,
         padding_mode="circular"),
    case("conv2d_replicate_wide", "Conv2d", [(2, 1, 2, 2)], 1, 1, 3, padding=4,
         padding_mode="replicate"),
    case("conv2d_same_reflect_too_wide", "Conv2d", [(2, 1, 2, 2)], 1, 1, 5, padding="same",
         padding_mode="reflect"),
    case("conv2d_same_even_kernel_reflect", "Conv2d", [(2, 1, 2, 2)], 1, 1, 4, padding="same",
         padding_mode="reflect"),
    case("conv2d_bad_mode", "Conv2d", [(2, 1, 4, 4)], 1, 1, 3, padding_mode="mirror"),
    case("conv2d_bad_kernel_tuple", "Conv2d", [(2, 1, 4, 4)], 1, 1, (3, 3, 3)),
    case("conv2d_kernel_list", "Conv2d", [(2, 1, 4, 4)], 1, 1, [3, 2]),
    case("conv2d_zero_kernel", "Conv2d", [(2, 1, 4, 4)], 1, 1, (3, 0)),
    case("conv2d_negative_padding", "Conv2d", [(2, 1, 4, 4)], 1, 1, 3, padding=-1),
    case("conv2d_flat_input", "Conv2d", [(2, 16)], 16, 8, 3),
    case("conv1d", "Conv1d", [(2, 4, 20)], 4, 2, 5, stride=3, dilation=2),
    case("conv3d", "Conv3d", [(2, 2, 5, 6, 7)], 2, 3, (1, 2, 3), padding=(0, 1, 1)),
    case("convtranspose2d", "ConvTranspose2d", [(2, 4, 5, 6)], 4, 2, 3, stride=2, padding=1,
         output_padding=1),
    case("convtranspose2d_dilation_allows", "ConvTranspose2d", [(2, 4, 5, 5)], 4, 2, 3,
         output_padding=1, dilation=2),
    case("convtranspose2d_output_padding", "ConvTranspose2d", [(2, 4, 5, 6)], 4, 2, 3, stride=2,
         output_padding=(0, 2)),
    case("convtranspose2d_empty", "ConvTranspose2d", [(2, 4, 1, 3)], 4, 2, 1, padding=1),
    case("convtranspose2d_to_one", "ConvTranspose2d", [(2, 4, 1, 1)], 4, 2, 1),
    case("convtranspose2d_padding_word", "ConvTranspose2d", [(2, 4, 1, 1)], 4, 2, 1,
         padding=(1, "x")),
    case("convtranspose2d_groups", "ConvTranspose2d", [(2, 4, 3, 3)], 4, 6, 2, groups=4),
    case("convtranspose2d_output_padding_one", "ConvTranspose2d", [(2, 4, 3, 3)], 4, 2, 3,
         output_padding=1),
    case("convtranspose1d_unbatched", "ConvTranspose1d", [(3, 7)], 3, 3, 4, stride=3),
    case("convtranspose3d_reflect", "ConvTranspose3d", [(2, 1, 2, 2, 2)], 1, 1, 2,
         padding_mode="reflect"),
    # ------------------------------------------------------------ pool.py
    case("maxpool2d_default_stride", "MaxPool2d", [(2, 3, 9, 8)], 3),
    case("maxpool2d_padded_dilated", "MaxPool2d", [(2, 3, 9, 8)], 3, 2, 1, 2),
    case("maxpool2d_positional_ceil", "MaxPool2d", [(2, 1, 5, 5)], 2, 2, 1, 1, False, True),
    case("maxpool2d_ceil_negative_span", "MaxPool2d", [(2, 1, 1, 1)], 2, ceil_mode=True),
    case("maxpool2d_ceil_window_too_large", "MaxPool2d", [(2, 1, 1, 8)], 5, 3, ceil_mode=True),
    case("maxpool2d_return_indices", "MaxPool2d", [(2, 1, 4, 4)], 2, return_indices=True),
    case("maxpool2d_indices_not_bool", "MaxPool2d", [(2, 1, 4, 4)], 2, return_indices=1,
         stricter="archspec wants a bool where torch takes any truthy value"),
    case("maxpool2d_padding_over_half", "MaxPool2d", [(2, 1, 8, 8)], 3, padding=2),
    case("maxpool2d_padding_over_half_even", "MaxPool2d", [(2, 1, 8, 8)], 4, padding=3),
    case("maxpool2d_window_too_large", "MaxPool2d", [(2, 1, 2, 8)], 3),
    case("maxpool2d_padded_window_too_large", "MaxPool2d", [(2, 1, 1, 8)], 5, padding=1),
    case("maxpool3d_padded_small_input", "MaxPool3d", [(1, 1, 2, 2, 2)], 3, padding=1),
    case("maxpool2d_stride_skips", "MaxPool2d", [(2, 1, 28, 28)], 2, 5),
    case("maxpool2d_skips_in_both_dims", "MaxPool2d", [(2, 1, 28, 28)], (1, 2), 3),
    case("maxpool2d_dilation_gaps", "MaxPool2d", [(2, 1, 20, 20)], (2, 3), (1, 4), dilation=(1, 2)),
    case("maxpool2d_dilation_tiles", "MaxPool2d", [(2, 1, 20, 20)], 2, 2, dilation=3),
    case("maxpool2d_symbolic_batch", "MaxPool2d", [(N, 1, 6, 6)], 2),
    case("maxpool1d", "MaxPool1d", [(2, 3, 11)], 4, 3, 2, ceil_mode=True),
    case("maxpool3d", "MaxPool3d", [(2, 1, 6, 7, 8)], 2, (1, 2, 3)),
    case("max_pool2d_function", "max_pool2d", [(2, 1, 5, 5)], T, 2, 2, 1, 1, True),
    case("max_pool2d_function_indices", "max_pool2d", [(2, 1, 5, 5)], T, 2, 2, 0, 1, False, True),
    case("avgpool2d", "AvgPool2d", [(2, 2, 7, 7)], 3, 2, 1, True, False, 4),
    case("avgpool2d_padded_small_input", "AvgPool2d", [(2, 1, 2, 8)], 3, padding=1),
    case("avgpool2d_zero_divisor", "AvgPool2d", [(2, 2, 7, 7)], 3, divisor_override=0),
    case("avgpool2d_divisor_not_int", "AvgPool2d", [(2, 2, 7, 7)], 3, divisor_override=1.5),
    case("avgpool1d_no_divisor", "AvgPool1d", [(2, 2, 7)], 3, divisor_override=2,
         no_torch="binding"),
    case("avgpool1d", "AvgPool1d", [(2, 2, 7)], 3, 1, 1),
    case("avgpool3d_kernel_over_input", "AvgPool3d", [(2, 1, 4, 4, 2)], 3, padding=1),
    case("avgpool3d", "AvgPool3d", [(2, 1, 4, 5, 6)], 2),
    case("avgpool3d_kernel_equals_input", "AvgPool3d", [(1, 1, 2, 2, 2)], 2),
    case("avg_pool2d_function", "avg_pool2d", [(2, 1, 6, 6)], T, 2, 1),
    case("max_pool1d_function", "max_pool1d", [(2, 1, 9)], T, 3, 2, 1),
    case("avg_pool1d_function", "avg_pool1d", [(2, 4, 7)], T, 7),
    case("adaptive_avg_pool1d_function", "adaptive_avg_pool1d", [(2, 3, 9)], T, 1),
    case("adaptive_max_pool1d_function", "adaptive_max_pool1d", [(2, 3, 9)], T, 4),
    case("adaptiveavgpool2d_none", "AdaptiveAvgPool2d", [(2, 3, 10, 7)], (4, None)),
    case("adaptiveavgpool2d_int", "AdaptiveAvgPool2d", [(3, 10, 7)], 3),
    case("adaptiveavgpool2d_none_size", "AdaptiveAvgPool2d", [(2, 3, 10, 7)], None),
    case("adaptiveavgpool2d_wrong_length", "AdaptiveAvgPool2d", [(2, 3, 10, 7)], (1, 2, 3)),
    case("adaptiveavgpool2d_zero", "AdaptiveAvgPool2d", [(2, 3, 10, 7)], (0, 2),
         stricter="archspec does not build empty tensors"),
    case("adaptiveavgpool1d_no_none", "AdaptiveAvgPool1d", [(2, 3, 10)], [None]),
    case("adaptiveavgpool1d", "AdaptiveAvgPool1d", [(2, 3, 10)], [4]),
    case("adaptiveavgpool3d", "AdaptiveAvgPool3d", [(2, 3, 4, 5, 6)], (2, None, 3)),
    case("adaptivemaxpool2d_larger", "AdaptiveMaxPool2d", [(2, 3, 3, 5)], (6, 2)),
    case("adaptivemaxpool1d_indices", "AdaptiveMaxPool1d", [(2, 3, 10)], 2, True),
    case("adaptive_avg_pool2d_function", "adaptive_avg_pool2d", [(2, 3, 9, 9)], T, 2),
    case("adaptive_max_pool2d_function", "adaptive_max_pool2d", [(2, 3, 9, 9)], T, (3, 1)),
    case("adaptivepool_flat_input", "AdaptiveAvgPool2d", [(2, 512)], 1),
    # ------------------------------------------------------------ linear.py
    case("linear", "Linear", [(2, 5, 7)], 7, 3),
    case("linear_no_bias_1d", "Linear", [(7,)], 7, 3, False),
    case("linear_mismatch", "Linear", [(2, 576)], 3136, 10),
    case("linear_mismatch_explained", "Linear", [(2, 576)], 3136, 10,
         explain=[{1: "64×3×3 from flatten"}]),
    case("linear_mismatch_explained_same", "Linear", [(2, 576)], 100, 10, explain=[{1: "576"}]),
    case("linear_mismatch_other_dim_explained", "Linear", [(2, 12, 12)], 10, 4,
         explain=[{1: "3×4 from reshape"}]),
    case("linear_mismatch_spaced_explanation", "Linear", [(2, 12)], 10, 4,
         explain=[{1: "N × 4 from reshape"}]),
    case("linear_infer", "Linear", [(N, 12)], INFER, 4),
    case("linear_infer_scalar", "Linear", [()], INFER, 4),
    case("linear_scalar", "Linear", [()], 3, 4),
    case("linear_symbolic_features", "Linear", [(2, C)], INFER, 4),
    case("linear_symbolic_mismatch", "Linear", [(2, C)], 16, 4),
    case("linear_no_value", "Linear", [(2, 4)], out_features=3, no_torch="binding"),
    case("bilinear", "Bilinear", [(2, 3, 4), (2, 3, 5)], 4, 5, 6),
    case("bilinear_no_bias_1d", "Bilinear", [(4,), (5,)], 4, 5, 2, False),
    case("bilinear_one_input", "Bilinear", [(2, 4)], 4, 5, 6, no_torch="needs two tensors"),
    case("bilinear_rank_mismatch", "Bilinear", [(2, 3, 4), (2, 5)], 4, 5, 6),
    case("bilinear_in2_mismatch", "Bilinear", [(2, 3, 4), (2, 3, 6)], 4, 5, 6),
    case("bilinear_lead_mismatch", "Bilinear", [(2, 4), (3, 5)], 4, 5, 6),
    case("bilinear_in1_mismatch", "Bilinear", [(2, 3), (2, 5)], 4, 5, 6),
    case("bilinear_scalar", "Bilinear", [(), (5,)], 4, 5, 6),
    case("identity", "Identity", [(2, 3)]),
    # ------------------------------------------------------------ merge.py
    case("cat", "cat", [(2, 3, 4), (2, 5, 4), (2, 1, 4)], T, 1),
    case("cat_negative_dim", "cat", [(2, 3, 4), (2, 3, 2)], T, -1),
    case("cat_first_negative_dim", "cat", [(2, 3), (4, 3)], T, -2),
    case("cat_one", "cat", [(2, 3)], T),
    case("cat_nothing", "cat", [], T),
    case("cat_scalar", "cat", [(2, 3), ()], T),
    case("cat_rank_mismatch", "cat", [(2, 3), (2, 3, 1)], T, 1),
    case("cat_dim_out_of_range", "cat", [(2, 3), (2, 3)], T, 2),
    case("cat_dim_too_negative", "cat", [(2, 3), (2, 3)], T, -3),
    case("cat_size_mismatch", "cat", [(2, 3, 4), (2, 5, 4), (2, 5, 3)], T, 1),
    case("cat_symbolic", "cat", [(N, 3), (N, 4)], T, dim=1),
    case("add", "add", [(2, 3), (2, 3)], T, T),
    case("add_broadcast", "add", [(2, 3, 4), (2, 1, 4)], T, T),
    case("mul_same", "mul", [(2, 3), (2, 3)], T, T),
    case("mul_broadcast_right_one", "mul", [(2, 8, 4, 4), (2, 8, 1, 1)], T, T),
    case("mul_broadcast_left_one", "mul", [(2, 1, 4), (3, 1)], T, T),
    case("mul_shorter_left", "mul", [(4,), (2, 3, 4)], T, T),
    case("mul_shorter_right", "mul", [(2, 3, 4), (4,)], T, T),
    case("mul_mismatch", "mul", [(2, 3, 4), (2, 5, 4)], T, T),
    # ------------------------------------------------------------ norm.py
    case("batchnorm2d", "BatchNorm2d", [(2, 6, 3, 3)], 6),
    case("batchnorm2d_no_affine", "BatchNorm2d", [(2, 6, 3, 3)], 6, affine=False),
    case("batchnorm2d_no_bias", "BatchNorm2d", [(2, 6, 3, 3)], 6, bias=False),
    case("batchnorm2d_infer", "BatchNorm2d", [(N, 6, 3, 3)], INFER),
    case("batchnorm2d_mismatch", "BatchNorm2d", [(2, 6, 3, 3)], 5),
    case("batchnorm2d_rank", "BatchNorm2d", [(2, 6)], 6),
    case("batchnorm2d_unbatched", "BatchNorm2d", [(6, 3, 3)], 6),
    case("batchnorm2d_zero_eps", "BatchNorm2d", [(2, 6, 3, 3)], 6, 0.0),
    case("batchnorm2d_momentum_none", "BatchNorm2d", [(2, 6, 3, 3)], 6, momentum=None),
    case("batchnorm2d_momentum_word", "BatchNorm2d", [(2, 6, 3, 3)], 6, momentum="fast"),
    case("batchnorm2d_bias_positional", "BatchNorm2d", [(2, 6, 3, 3)], 6, 1e-5, 0.1, True, True,
         False, no_torch="binding"),
    case("batchnorm1d_2d_input", "BatchNorm1d", [(2, 5)], 5),
    case("batchnorm1d_4d_input", "BatchNorm1d", [(2, 5, 3, 3)], 5),
    case("batchnorm1d_mismatch_explained", "BatchNorm1d", [(2, 12)], 10,
         explain=[{0: "2", 1: "3×4 from flatten"}]),
    case("batchnorm1d_mismatch_other_dim_explained", "BatchNorm1d", [(2, 3, 20)], 4,
         explain=[{2: "4×5 from flatten"}]),
    case("batchnorm1d_mismatch_channel_explained", "BatchNorm1d", [(2, 12, 12)], 10,
         explain=[{1: "3×4 from reshape"}]),
    case("batchnorm3d", "BatchNorm3d", [(2, 2, 2, 2, 2)], 2, track_running_stats=False),
    case("groupnorm", "GroupNorm", [(2, 6, 4)], 3, 6),
    case("groupnorm_no_affine", "GroupNorm", [(2, 6, 4)], 3, 6, affine=False),
    case("groupnorm_infer", "GroupNorm", [(N, 8, 2, 2)], 4, INFER),
    case("groupnorm_infer_1d", "GroupNorm", [(8,)], 4, INFER),
    case("groupnorm_symbolic_channels", "GroupNorm", [(2, C, 4)], 2, INFER),
    case("groupnorm_not_divisible", "GroupNorm", [(2, 6, 4)], 4, 6),
    case("groupnorm_single_value", "GroupNorm", [(1, 2)], 2, 2),
    case("groupnorm_single_value_symbolic_batch", "GroupNorm", [(N, 2)], 2, 2),
    case("groupnorm_two_values", "GroupNorm", [(1, 4)], 2, 4),
    case("groupnorm_four_values", "GroupNorm", [(2, 4)], 2, 4),
    case("groupnorm_spatial_values", "GroupNorm", [(1, 2, 3)], 2, 2),
    case("layernorm_int", "LayerNorm", [(2, 5, 7)], 7),
    case("layernorm_tuple", "LayerNorm", [(2, 5, 7)], (5, 7)),
    case("layernorm_list_no_bias", "LayerNorm", [(2, 5, 7)], [5, 7], bias=False),
    case("layernorm_no_affine", "LayerNorm", [(2, 5, 7)], 7, elementwise_affine=False),
    case("layernorm_empty", "LayerNorm", [(2, 5, 7)], ()),
    case("layernorm_zero_entry", "LayerNorm", [(2, 5, 7)], (5, 0)),
    case("layernorm_zero", "LayerNorm", [(2, 5, 7)], 0),
    case("layernorm_too_many_dims", "LayerNorm", [(7,)], (2, 7)),
    case("layernorm_trailing_mismatch", "LayerNorm", [(2, 5, 7)], (4, 7)),
    case("layernorm_mismatch_int", "LayerNorm", [(2, 5, 7)], 5),
    case("layernorm_mismatch_other_dim_explained", "LayerNorm", [(2, 12, 12)], 10,
         explain=[{1: "3×4 from reshape"}]),
    case("layernorm_whole_input", "LayerNorm", [(5, 7)], (5, 7)),
    case("layernorm_infer", "LayerNorm", [(N, 5, 7)], INFER),
    case("layernorm_scalar", "LayerNorm", [()], INFER),
    case("localresponsenorm", "LocalResponseNorm", [(2, 4, 3)], 2),
    case("localresponsenorm_2d", "LocalResponseNorm", [(2, 4)], 2),
    case("localresponsenorm_bad_alpha", "LocalResponseNorm", [(2, 4, 3)], 2, alpha="high"),
    case("instancenorm2d", "InstanceNorm2d", [(2, 3, 4, 4)], 3, affine=True),
    case("instancenorm2d_unbatched", "InstanceNorm2d", [(3, 2, 1)], 3),
    case("instancenorm2d_one_value", "InstanceNorm2d", [(2, 3, 1, 1)], 3),
    case("instancenorm1d_one_value", "InstanceNorm1d", [(2, 3, 1)], 3),
    case("instancenorm1d_infer", "InstanceNorm1d", [(N, 3, 5)], INFER),
    # ------------------------------------------------------------ activation.py
    case("relu", "ReLU", [(2, 3)], True),
    case("relu_inplace_word", "ReLU", [(2, 3)], inplace="yes",
         stricter="archspec wants a bool where torch takes any truthy value"),
    case("leakyrelu", "LeakyReLU", [(2, 3)], 0.2),
    case("leakyrelu_bool_slope", "LeakyReLU", [(2, 3)], True,
         stricter="archspec wants a number, not a bool (torch computes with 1.0)"),
    case("gelu_tanh", "GELU", [(2, 3)], "tanh"),
    case("gelu_bad", "GELU", [(2, 3)], "exact"),
    case("gelu_function_keyword_only", "gelu", [(2, 3)], T, "tanh", no_torch="binding"),
    case("gelu_function", "gelu", [(2, 3)], T, approximate="tanh"),
    case("softplus", "Softplus", [(4,)], 2, 10),
    case("sigmoid_function", "sigmoid", [(2, 3)], T),
    case("softmax_default_dim_4d", "Softmax", [(2, 3, 4, 5)]),
    case("softmax_default_dim_3d", "Softmax", [(3, 4, 5)]),
    case("softmax_last", "Softmax", [(2, 10)], -1),
    case("softmax_first", "Softmax", [(2, 10)], -2),
    case("softmax_out_of_range", "Softmax", [(2, 10)], 2),
    case("softmax_too_negative", "Softmax", [(2, 10)], -3),
    case("softmax_scalar_dim0", "Softmax", [()], 0),
    case("softmax_scalar_dim1", "Softmax", [()], 1),
    case("softmax_dim_word", "Softmax", [(2, 10)], "last"),
    case("log_softmax_function", "log_softmax", [(2, 10)], T, 1),
    case("prelu_shared", "PReLU", [(2, 3, 4)]),
    case("prelu_per_channel", "PReLU", [(2, 3, 4)], 3),
    case("prelu_scalar", "PReLU", [()], 3),
    case("prelu_1d", "PReLU", [(5,)], 2),
    case("prelu_1d_one_channel", "PReLU", [(5,)], 1, 0.1),
    case("prelu_2d", "PReLU", [(4, 3)], 3),
    case("prelu_mismatch", "PReLU", [(2, 3, 4)], 4),
    case("prelu_zero", "PReLU", [(2, 3, 4)], 0),
    # ------------------------------------------------------------ regularization.py
    case("dropout", "Dropout", [(2, 3)], 0.2),
    case("dropout_int_p", "Dropout", [(2, 3)], 1),
    case("dropout_zero", "Dropout", [(2, 3)], 0.0),
    case("dropout_p_too_large", "Dropout", [(2, 3)], 1.5),
    case("dropout_p_negative", "Dropout", [(2, 3)], -0.1),
    case("dropout_p_word", "Dropout", [(2, 3)], "half"),
    case("dropout_p_bool", "Dropout", [(2, 3)], True,
         stricter="archspec wants a number, not a bool (torch drops everything)"),
    case("dropout2d_flat", "Dropout2d", [(2, 8)]),
    case("dropout1d", "Dropout1d", [(2, 3, 5)]),
    case("alphadropout", "AlphaDropout", [(2, 3)], 0.1, True),
    case("dropout_function", "dropout", [(2, 3)], T, 0.3, False),
    case("dropout3d_5d", "Dropout3d", [(2, 2, 2, 2, 2)]),
    # ------------------------------------------------------------ reshape.py
    case("flatten_layer", "Flatten", [(2, 64, 3, 3)]),
    case("flatten_function", "flatten", [(2, 64, 3, 3)], T, 1),
    case("flatten_middle", "flatten", [(2, 4, 3, 5)], T, 1, 2),
    case("flatten_one_dim", "flatten", [(2, 4, 3)], T, 1, 1),
    case("flatten_scalar", "flatten", [()], T),
    case("flatten_1d", "flatten", [(5,)], T),
    case("flatten_scalar_bad_dim", "flatten", [()], T, 1),
    case("flatten_start_after_end", "Flatten", [(2, 4, 3)], 2, 1),
    case("flatten_end_out_of_range", "Flatten", [(2, 4, 3)], 1, 3),
    case("flatten_start_too_negative", "Flatten", [(2, 4, 3)], -4),
    case("flatten_symbolic", "Flatten", [(N, 4, 3)]),
    case("unflatten", "Unflatten", [(2, 12)], 1, (3, 4)),
    case("unflatten_infer_size", "Unflatten", [(2, 12, 5)], -2, (2, -1, 3)),
    case("unflatten_wrong_total", "Unflatten", [(2, 12)], 1, (5, 2)),
    case("unflatten_not_divisible", "Unflatten", [(2, 12)], 1, (5, -1)),
    case("unflatten_int_size", "Unflatten", [(2, 12)], 1, 12),
    case("unflatten_empty", "Unflatten", [(2, 12)], 1, ()),
    case("unflatten_zero", "Unflatten", [(2, 12)], 1, (0, 12)),
    case("unflatten_below_minus_one", "Unflatten", [(2, 12)], 1, (-2, 6)),
    case("unflatten_two_minus_ones", "Unflatten", [(2, 12)], 1, (-1, -1)),
    case("unflatten_word", "Unflatten", [(2, 12)], 1, ("a", 12)),
    case("unflatten_scalar", "Unflatten", [()], 0, (1,)),
    case("unflatten_dim_out_of_range", "Unflatten", [(2, 12)], 2, (3, 4)),
    case("unflatten_symbolic_size", "Unflatten", [(2, 12)], 1, (C, 4)),
    case("unflatten_symbolic_then_zero", "Unflatten", [(2, 12)], 1, (C, 0)),
    case("reshape", "reshape", [(2, 3, 4)], T, 6, 4),
    case("reshape_tuple", "reshape", [(2, 3, 4)], T, (4, -1),
         no_torch="test_ops_torch's harness passes the sizes unpacked"),
    case("reshape_keyword", "reshape", [(2, 3, 4)], T, shape=(2, -1)),
    case("reshape_keyword_int", "reshape", [(24,)], T, shape=24),
    case("reshape_merge_explained", "view", [(N, 64, 3, 3)], T, N, -1),
    case("reshape_merge_with_tail", "view", [(2, 4, 3, 5)], T, 2, -1, 5),
    case("reshape_merge_one_dim", "view", [(2, 4, 3)], T, 2, -1, 3),
    case("reshape_no_merge", "view", [(2, 4, 3)], T, -1, 6),
    case("reshape_head_differs", "view", [(2, 4, 3)], T, 4, -1),
    case("reshape_tail_differs", "view", [(2, 4, 3)], T, 2, -1, 4),
    case("reshape_wrong_total", "reshape", [(2, 3, 4)], T, 5, 5),
    case("reshape_not_divisible", "reshape", [(2, 3, 4)], T, 5, -1),
    case("reshape_symbolic_not_divisible", "view", [(N, 3)], T, 2, -1),
    case("reshape_symbolic_two_terms", "view", [(N, 4)], T, N + 1, -1),
    case("reshape_symbolic_foreign_name", "view", [(N, 4)], T, C, -1),
    case("reshape_symbolic_product", "view", [(N, C, 4)], T, N, -1),
    case("reshape_symbolic_coefficient", "view", [(N, 6)], T, -1, 4),
    case("reshape_nothing", "reshape", [(2, 3)], T),
    case("mean_all", "mean", [(2, 3, 4)], T),
    case("mean_dim", "mean", [(2, 3, 4)], T, 1),
    case("mean_dims_keepdim", "mean", [(2, 3, 4)], T, (1, -1), True),
    case("mean_empty_tuple", "mean", [(2, 3, 4)], T, (), True),
    case("mean_twice", "mean", [(2, 3, 4)], T, (1, -2)),
    case("mean_twice_among_three", "mean", [(2, 3, 4)], T, (2, 1, -2)),
    case("mean_1d_keepdim", "mean", [(5,)], T, 0, True),
    case("mean_scalar", "mean", [()], T, -1),
    case("mean_out_of_range", "mean", [(2, 3)], T, 2),
    case("mean_dim_word", "mean", [(2, 3)], T, "x"),
    case("mean_dims_word", "mean", [(2, 3)], T, (0, "x")),
    case("zeropad2d", "ZeroPad2d", [(2, 3, 4, 5)], (1, 2, 0, 3)),
    case("zeropad2d_int", "ZeroPad2d", [(4, 5)], 2),
    case("zeropad2d_crop", "ZeroPad2d", [(2, 1, 4, 5)], (-1, -2, 0, 0)),
    case("zeropad2d_crop_everything", "ZeroPad2d", [(2, 1, 4, 5)], (0, 0, -3, -1)),
    case("zeropad2d_crop_too_much", "ZeroPad2d", [(2, 1, 4, 5)], (-4, -2, 0, 0),
         no_torch="torch's error depends on the order it crops in"),
    case("zeropad2d_pad_left_crop_right", "ZeroPad2d", [(2, 1, 4, 5)], (1, -6, 0, 0),
         no_torch="torch's error depends on the order it crops in"),
    case("zeropad2d_crop_left_pad_right", "ZeroPad2d", [(2, 1, 4, 5)], (-6, 1, 0, 0),
         no_torch="torch's error depends on the order it crops in"),
    case("zeropad2d_crop_all_then_pad", "ZeroPad2d", [(2, 1, 4, 5)], (-5, 1, 0, 0)),
    case("zeropad2d_rank", "ZeroPad2d", [(5,)], 1),
    case("zeropad2d_wrong_count", "ZeroPad2d", [(2, 1, 4, 5)], (1, 2, 3)),
    case("zeropad2d_word", "ZeroPad2d", [(2, 1, 4, 5)], (1, 2, 3, "x")),
    case("zeropad1d", "ZeroPad1d", [(2, 3, 4)], (2, -1)),
    case("constantpad2d", "ConstantPad2d", [(2, 3, 4)], 1, 3.5),
    case("constantpad2d_value_word", "ConstantPad2d", [(2, 3, 4)], 1, "x"),
    case("reflectionpad2d", "ReflectionPad2d", [(2, 1, 4, 5)], (4, 4, 3, 0)),
    case("reflectionpad2d_too_wide", "ReflectionPad2d", [(2, 1, 4, 5)], (5, 0, 0, 0)),
    case("reflectionpad2d_too_high", "ReflectionPad2d", [(2, 1, 4, 5)], (0, 0, 0, 4)),
    case("replicationpad2d_wide", "ReplicationPad2d", [(1, 4, 5)], 7),
    case("replicationpad2d_crop_to_nothing", "ReplicationPad2d", [(2, 1, 4, 5)], (0, 0, -2, -2)),
    case("upsample_scale", "Upsample", [(2, 3, 5, 7)], scale_factor=2),
    case("upsample_scale_tuple", "Upsample", [(2, 3, 5, 7)], scale_factor=(1.5, 0.5)),
    case("upsample_to_one", "Upsample", [(2, 3, 4, 4)], scale_factor=0.25),
    case("upsample_large", "Upsample", [(1, 1, 100, 1)], scale_factor=2),
    case("upsample_size", "Upsample", [(2, 3, 5, 7)], (10, 3), mode="bilinear"),
    case("upsample_size_int", "Upsample", [(2, 3, 5)], 9, mode="linear", align_corners=True),
    case("upsample_neither", "Upsample", [(2, 3, 5, 7)]),
    case("upsample_both", "Upsample", [(2, 3, 5, 7)], 4, 2.0),
    case("upsample_recompute_with_size", "Upsample", [(2, 3, 5, 7)], 4,
         recompute_scale_factor=True ),
    case("upsample_recompute_with_scale", "Upsample", [(2, 3, 5, 7)], scale_factor=2,
         recompute_scale_factor=True),
    case("upsample_align_nearest", "Upsample", [(2, 3, 5, 7)], scale_factor=2,
         align_corners=False ),
    case("upsample_mode_rank", "Upsample", [(2, 3, 5, 7)], scale_factor=2, mode="trilinear"),
    case("upsample_size_length", "Upsample", [(2, 3, 5, 7)], (1, 2, 3)),
    case("upsample_scale_length", "Upsample", [(2, 3, 5, 7)], scale_factor=(2.0,)),
    case("upsample_shrinks_to_nothing", "Upsample", [(2, 3, 5, 7)], scale_factor=0.1),
    case("upsample_too_large", "Upsample", [(2, 3, 5, 7)], scale_factor=1e308,
         no_torch="torch would allocate it"),
    case("upsample_huge", "Upsample", [(2, 3, 5, 7)], scale_factor=2.0**62,
         no_torch="torch would allocate it"),
    case("upsample_exactly_2_63", "Upsample", [(2, 3, 8, 7)], scale_factor=2.0**60,
         no_torch="torch would allocate it"),
    case("upsample_zero_scale", "Upsample", [(2, 3, 5, 7)], scale_factor=0),
    case("upsample_bad_mode", "Upsample", [(2, 3, 5, 7)], scale_factor=2, mode="cubic"),
    case("upsample_flat", "Upsample", [(2, 3)], scale_factor=2),
    case("upsample_symbolic_height", "Upsample", [(2, 3, N, 4)], scale_factor=1.5),
    case("upsample_symbolic", "Upsample", [(2, 3, H, W)], scale_factor=2, hints={"H": 5, "W": 7}),
    case("upsample_symbolic_to_one", "Upsample", [(2, 3, H, W)], scale_factor=0.25,
         hints={"H": 4, "W": 9}),
    case("upsample_symbolic_to_nothing", "Upsample", [(2, 3, H, W)], scale_factor=0.25,
         hints={"H": 9, "W": 3}),
    case("upsample_symbolic_fine_scale", "Upsample", [(2, 3, H, W)], scale_factor=2.0**-20,
         hints={"H": 3 << 20, "W": 1 << 20}),
    case("upsample_symbolic_inexact_scale", "Upsample", [(2, 3, H, W)], scale_factor=0.1),
    case("upsample_symbolic_too_fine_scale", "Upsample", [(2, 3, H, W)], scale_factor=2.0**-21),
    case("upsample_symbolic_sizes", "Upsample", [(2, 3, H, W)], (4, 6), mode="bilinear"),
    case("upsample_size_entry_word", "Upsample", [(2, 3, 4, 4)], (4, "x")),
    case("pixelshuffle", "PixelShuffle", [(2, 18, 3, 4)], 3),
    case("pixelshuffle_not_divisible", "PixelShuffle", [(2, 6, 3, 4)], 2),
    case("pixelshuffle_symbolic_channels", "PixelShuffle", [(2, C, 3, 4)], 2),
    case("pixelshuffle_2d", "PixelShuffle", [(8, 3)], 2),
    case("pixelunshuffle", "PixelUnshuffle", [(3, 4, 6)], 2),
    case("pixelunshuffle_batched", "PixelUnshuffle", [(2, 1, 4, 6)], 2),
    case("pixelunshuffle_height", "PixelUnshuffle", [(2, 1, 5, 6)], 2),
    case("pixelunshuffle_width", "PixelUnshuffle", [(2, 1, 6, 5)], 2),
    # ------------------------------------------------------------ creation.py
    case("arange_end", "arange", [], 5, no_torch=DTYPED),
    case("arange_start_end_step", "arange", [], 1, 7, 2, no_torch=DTYPED),
    case("arange_float", "arange", [], 0.5, 3, no_torch=DTYPED),
    case("arange_negative_step", "arange", [], 5, 0, -2, no_torch=DTYPED),
    case("arange_symbolic", "arange", [], W, hints={"W": 5}),
    case("arange_symbolic_down", "arange", [], W, 0, -2, hints={"W": 5}),
    case("arange_symbolic_empty", "arange", [], 3, W, hints={"W": 2}),
    case("arange_symbolic_float", "arange", [], 0.5, W),
    case("arange_symbolic_step", "arange", [], 0, 8, W),
    case("arange_empty", "arange", [], 3, 3, no_torch=DTYPED),
    case("arange_zero_step", "arange", [], 0, 5, 0, no_torch=DTYPED),
    case("arange_dtype", "arange", [], 4, dtype=dtypes.DType("float64"), no_torch=DTYPED),
    case("arange_dtype_string", "arange", [], 4, dtype="int64", no_torch=DTYPED),
    case("zeros", "zeros", [], 2, 3),
    case("zeros_tuple", "zeros", [], (2, 3)),
    case("zeros_symbolic", "zeros", [], W, 3, no_torch="a symbolic size"),
    case("zeros_empty", "zeros", [], 2, 0, stricter="archspec builds no empty tensors"),
    case("zeros_none", "zeros", [], no_torch=DTYPED),
    case("ones_dtype", "ones", [], 2, dtype=dtypes.DType("int32"), no_torch=DTYPED),
    case("full", "full", [], (2, 3), 7),
    case("full_int_size", "full", [], 4, 0.5),
    case("full_word", "full", [], 4, "x"),
    case("meshgrid", "meshgrid", [(3,), (4,)], T, T, no_torch=DTYPED),
    case("meshgrid_xy", "meshgrid", [(3,), (4,), ()], T, T, T, indexing="xy", no_torch=DTYPED),
    case("meshgrid_2d", "meshgrid", [(3,), (2, 2)], T, T),
    case("meshgrid_bad_indexing", "meshgrid", [(3,)], T, indexing="xz"),
    case("float", "float", [(2, 3)], T, no_torch=DTYPED),
    case("to", "to", [(2, 3)], T, dtypes.DType("int64"), no_torch=DTYPED),
    # ------------------------------------------------------------ compare.py
    case("eq", "eq", [(2, 3), (3,)], T, T),
    case("lt_broadcast_fails", "lt", [(2, 3), (2, 4)], T, T),
    case("where", "where", [(2, 1), (2, 3), (3,)], T, T, T, no_torch=DTYPED),
    case("where_float_condition", "where", [(2, 3), (2, 3), (2, 3)], T, T, T),
    case("where_broadcast_fails", "where", [(2, 3), (2, 4), (3,)], T, T, T),
    case("masked_fill", "masked_fill", [(2, 3), (2, 1)], T, T, -1.0, no_torch=DTYPED),
    case("masked_fill_word", "masked_fill", [(2, 3), (2, 1)], T, T, "x"),
    case("masked_fill_float_mask", "masked_fill", [(2, 3), (2, 3)], T, T, 0.0,
         no_torch=DTYPED),
    # ------------------------------------------------------------ indexing.py: a tensor index
    case("advanced_index_float_index", "advanced_index", [(5, 3), (2, 4)], T, T, no_torch=DTYPED),
    case("advanced_index_0d", "advanced_index", [(), (2, 4)], T, T, no_torch=DTYPED),
    # ------------------------------------------------------------ embedding.py
    case("embedding", "Embedding", [(2, 5)], 10, 4, dtypes=["int64"], no_torch=IDS),
    case("embedding_0d_int32", "Embedding", [()], 10, 4, dtypes=["int32"], no_torch=IDS),
    case("embedding_padding_from_end", "Embedding", [(2, 5)], 10, 4, padding_idx=-10,
         dtypes=["int64"], no_torch=IDS),
    case("embedding_padding_past_end", "Embedding", [(2, 5)], 10, 4, padding_idx=10),
    case("embedding_padding_before_start", "Embedding", [(2, 5)], 10, 4, padding_idx=-11),
    case("embedding_float_ids", "Embedding", [(2, 5)], 10, 4),
    case("embedding_bool_ids", "Embedding", [(2, 5)], 10, 4, dtypes=["bool"], no_torch=IDS),
    # ------------------------------------------------------------ recurrent.py
    case("rnn_relu_positional", "RNN", [(5, 2, 3)], 3, 4, 2, "relu"),
    case("rnn_unbatched", "RNN", [(5, 3)], 3, 4, bidirectional=True),
    case("rnn_bad_nonlinearity", "RNN", [(5, 2, 3)], 3, 4, nonlinearity="gelu"),
    case("rnn_dropout_one_layer", "RNN", [(5, 2, 3)], 3, 4, dropout=0.5),
    case("gru_batch_first", "GRU", [(2, 5, 3)], 3, 4, 3, False, True, 0.5, True),
    case("gru_infer_input_size", "GRU", [(N, 5, 7)], INFER, 4, batch_first=True),
    case("gru_input_size_mismatch", "GRU", [(5, 2, 7)], 3, 4),
    case("gru_channels_first", "GRU", [(2, 3, 7)], 3, 4, batch_first=True),
    case("gru_features_first", "GRU", [(3, 2, 7)], 3, 4),
    case("gru_unbatched_features_first", "GRU", [(3, 7)], 3, 4),
    case("gru_symbolic_elsewhere", "GRU", [(N, 2, 7)], 3, 4),
    case("gru_rank_4", "GRU", [(2, 5, 3, 1)], 3, 4),
    case("lstm_projected", "LSTM", [(2, 5, 3)], 3, 6, 2, batch_first=True, bidirectional=True,
         proj_size=2),
    case("lstm_projection_too_wide", "LSTM", [(5, 2, 3)], 3, 4, proj_size=4),
    case("lstm_symbolic_length", "LSTM", [(N, 2, 3)], 3, 4),
    case("lstm_float64", "LSTM", [(5, 2, 3)], 3, 4, dtypes=["float64"], no_torch=IDS),
    # ------------------------------------------------------------ transformer.py
    case("encoder_layer_batch_first", "TransformerEncoderLayer", [(2, 5, 8)], 8, 2, 16,
         batch_first=True),
    case("encoder_layer_unbatched_gelu", "TransformerEncoderLayer", [(5, 8)], 8, 4, 16,
         activation="gelu", bias=False),
    case("encoder_layer_heads_not_dividing", "TransformerEncoderLayer", [(5, 2, 10)], 10, 3),
    case("encoder_layer_bad_activation", "TransformerEncoderLayer", [(5, 2, 8)], 8, 2,
         activation="tanh"),
    case("encoder_layer_features", "TransformerEncoderLayer", [(5, 2, 6)], 8, 2),
    case("decoder_layer_memory_batch", "TransformerDecoderLayer", [(5, 2, 8), (6, 3, 8)], 8, 2),
    case("decoder_layer_memory_rank", "TransformerDecoderLayer", [(5, 2, 8), (6, 8)], 8, 2),
    case("decoder_layer_memory_features", "TransformerDecoderLayer", [(5, 2, 8), (6, 2, 4)], 8,
         2),
    case("encoder_stack_norm", "TransformerEncoder", [(2, 5, 8)],
         TRANSFORMER_LAYER, 2, norm=LAYER_NORM_8),
    case("encoder_stack_norm_mismatch", "TransformerEncoder", [(2, 5, 8)], TRANSFORMER_LAYER, 2,
         norm=LAYER_NORM_4),
    case("encoder_stack_not_a_layer", "TransformerEncoder", [(2, 5, 8)], 3, 2),
    case("decoder_stack_features", "TransformerDecoder", [(2, 5, 8), (2, 6, 4)],
         TRANSFORMER_DECODER_LAYER, 1),
    case("transformer_small", "Transformer", [(4, 2, 8), (5, 2, 8)], 8, 2, 1, 1, 16),
    case("transformer_batches", "Transformer", [(4, 2, 8), (5, 3, 8)], 8, 2, 1, 1, 16),
    case("transformer_tgt_features", "Transformer", [(4, 2, 8), (5, 2, 6)], 8, 2, 1, 1, 16),
    # ------------------------------------------------------------ functional.py, and conv.py's
    # Unfold and Fold: what the importer meets in timm's models
    case("pow_square", "pow", [(2, 3)], T, 2),
    case("pow_int_square", "pow", [(2, 3)], T, 2, dtypes=["int64"]),
    case("pow_int_root", "pow", [(2, 3)], T, 0.5, dtypes=["int64"]),
    case("pow_int_negative", "pow", [(2, 3)], T, -1, dtypes=["int64"]),
    case("pow_bool", "pow", [(2, 3)], T, 2, dtypes=["bool"]),
    case("sdpa_heads", "scaled_dot_product_attention", [(2, 4, 5, 8), (2, 4, 7, 8),
                                                        (2, 4, 7, 6)], T, T, T),
    case("sdpa_broadcast", "scaled_dot_product_attention", [(2, 4, 5, 8), (1, 7, 8), (4, 7, 6)],
         T, T, T),
    case("sdpa_unbatched", "scaled_dot_product_attention", [(5, 8), (7, 8), (7, 6)], T, T, T,
         is_causal=True, scale=0.5),
    case("sdpa_embed_mismatch", "scaled_dot_product_attention", [(2, 5, 8), (2, 7, 4),
                                                                 (2, 7, 6)], T, T, T),
    case("sdpa_length_mismatch", "scaled_dot_product_attention", [(2, 5, 8), (2, 7, 8),
                                                                  (2, 6, 6)], T, T, T),
    case("sdpa_batch_mismatch", "scaled_dot_product_attention", [(2, 5, 8), (3, 7, 8),
                                                                 (3, 7, 6)], T, T, T),
    case("sdpa_1d_query", "scaled_dot_product_attention", [(8,), (7, 8), (7, 6)], T, T, T),
    case("sdpa_dropout_by_position", "scaled_dot_product_attention",
         [(2, 5, 8), (2, 7, 8), (2, 7, 6)], T, T, T, 0.1, no_torch="binding"),
    case("sdpa_dropout_above_1", "scaled_dot_product_attention",
         [(2, 5, 8), (2, 7, 8), (2, 7, 6)], T, T, T, dropout_p=1.5),
    case("tile_last_dim", "tile", [(2, 3)], T, 2),
    case("tile_more_dims", "tile", [(2, 3)], T, 2, 1, 1),
    case("tile_zero", "tile", [(2, 3)], T, 0, 2, stricter="archspec does not build empty tensors"),
    case("tile_negative", "tile", [(2, 3)], T, -1, 2),
    case("reshape_as", "reshape_as", [(2, 12), (2, 3, 4)], T, T),
    case("reshape_as_int", "reshape_as", [(2, 12), (24,)], T, T, dtypes=["int64", "float32"]),
    case("reshape_as_count", "reshape_as", [(2, 12), (5, 5)], T, T),
    case("reshape_as_symbolic", "reshape_as", [(N, 12), (N, 3, 4)], T, T),
    case("unfold_3x3", "Unfold", [(2, 4, 8, 8)], 3, padding=1, stride=2),
    case("unfold_unbatched", "Unfold", [(4, 6, 5)], (2, 3)),
    case("unfold_function", "unfold", [(2, 4, 8, 8)], T, 2, stride=2),
    case("unfold_kernel_too_big", "Unfold", [(2, 4, 2, 2)], 3),
    case("unfold_5d", "Unfold", [(2, 4, 2, 8, 8)], 2),
    case("fold_back", "Fold", [(2, 16, 16)], (8, 8), 2, stride=2),
    case("fold_function", "fold", [(2, 16, 16)], T, 8, 2, stride=2),
    case("fold_overlapping", "Fold", [(36, 16)], (8, 8), 3, padding=1, stride=2),
    case("fold_blocks_differ", "Fold", [(2, 16, 15)], (8, 8), 2, stride=2),
    case("fold_channels_not_divisible", "Fold", [(2, 15, 16)], (8, 8), 2, stride=2),
    case("fold_symbolic", "fold", [(N, 16, 16)], T, (8, 8), 2, stride=2),
    case("fold_three_sizes", "Fold", [(2, 16, 16)], (4, 4, 4), 2),
    case("normalize_last", "normalize", [(2, 5, 8)], T, dim=-1),
    case("normalize_dims", "normalize", [(2, 5, 8)], T, 1.0, (1, 2)),
    case("normalize_dim_twice", "normalize", [(2, 5, 8)], T, dim=(1, -2)),
    case("normalize_out_of_range", "normalize", [(2, 5)], T, dim=2),
    case("normalize_int", "normalize", [(2, 5)], T, dtypes=["int64"]),
    case("amax_dim", "amax", [(2, 5, 8)], T, 1),
    case("amax_all", "amax", [(2, 5, 8)], T),
    case("amax_keepdim_int", "amax", [(2, 5, 8)], T, (1, 2), True, dtypes=["int64"]),
    case("amax_dim_twice", "amax", [(2, 5, 8)], T, (1, 1)),
    # ------------------------------------------------------------ apply.py: binding
    # (torch binds Python calls itself; these are archspec's own messages for them)
    case("bind_too_many_positionals", "ReLU", [(2, 3)], True, False, no_torch="binding"),
    case("bind_unknown_keyword", "ReLU", [(2, 3)], implace=True, no_torch="binding"),
    case("bind_keyword_twice", "Linear", [(2, 3)], 3, 4, in_features=3, no_torch="binding"),
    case("bind_missing", "Conv2d", [(2, 3, 4, 4)], 3, 8, no_torch="binding"),
    case("bind_missing_inferable", "Linear", [(2, 3)], no_torch="binding"),
    case("cannot_infer", "Conv2d", [(2, 3, 4, 4)], 3, INFER, 3),
]
# fmt: on


# ---------------------------------------------------------------- running a case


def run(op: OpSpec, c: Case):
    """(bound arguments, Evaluation); raises BindError or OpFailure."""
    values = bind(op, list(c.positional), dict(c.keywords))
    if c.hints is None:
        return values, evaluate(op, values, list(c.inputs), c.explanations, dtypes=c.dtypes)
    with Sizing(c.hints):
        return values, evaluate(op, values, list(c.inputs), c.explanations, dtypes=c.dtypes)


def _dims(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def outcome(c: Case) -> str:
    """The golden section of one case."""
    op = fresh_op(c.op)
    lines = [f"## {c.id}", c.call + (f" at {c.hints}" if c.hints else "")]
    try:
        _, result = run(op, c)
    except BindError as error:
        where = f" (keyword {error.keyword})" if error.keyword else ""
        where += f" (position {error.position})" if error.position is not None else ""
        assert error.message == str(error)
        return "\n".join([*lines, f"-> bind error{where}: {error}"])
    except OpFailure as failure:
        at = f"at {failure.arg}" if failure.arg else "at the call"
        if failure.input is not None:
            at += f", input #{failure.input}"
        lines.append(f"-> {failure.code} {at}: {failure.message}")
        lines += [f"   note: {note}" for note in failure.notes]
        if failure.help:
            lines.append(f"   help: {failure.help}")
        if failure.replacement is not None:
            lines.append(f"   fix: {failure.replacement!r}")
        return "\n".join(lines)
    lines.append(f"-> {_dims(result.shape)}  params {result.params}  macs {result.macs}")
    shown = ", ".join(f"{k}={show_value(v)}" for k, v in result.args.items())
    lines.append(f"   args: {shown}")
    if callable(op.window):
        kernels, strides = op.window(result.args, c.inputs[0])
        lines.append(f"   window: kernel {_dims(kernels)} stride {_dims(strides)}")
    elif op.window is not None:
        lines.append(f"   window: {op.window}")
    for dim, text in sorted(result.explanations.items()):
        lines.append(f"   explains dim {dim}: {text}")
    for warning in result.warnings:
        lines.append(f"   {warning.code} at {warning.arg}: {warning.message}")
        lines.append(f"      help: {warning.help}")
    return "\n".join(lines)


def entry(name: str) -> str:
    """An op's registry entry as data: how it is written, what it takes, and its declared facts
    (the golden section of tests/golden/ops/registry.txt)."""
    op = fresh_op(name)
    window = "callable" if callable(op.window) else op.window
    lines = [
        f"## {name}",
        f"{op.signature} -> {op.torch} ({op.kind}, {op.inputs} input(s), ranks {op.ranks})",
        f"   summary: {op.summary}",
        f"   window: {window}  validate: {op.validate is not None}  "
        f"macs: {op.count_macs is not None}  emit: {op.emit is not None}",
    ]
    for param in op.params:
        facts = [
            "tensor" if param.is_tensor else "",
            "variadic" if param.variadic else "",
            "keyword-only" if param.keyword_only else "",
            "infers" if param.infer else "",
            f"mismatch {param.mismatch}" if param.mismatch else "",
            f"layer {' or '.join(param.layer)}" if param.layer else "",
        ]
        lines.append(f"   {param.name}: {' '.join(f for f in facts if f) or '-'}")
    if op.forward:  # a layer's forward arguments (MultiheadAttention's masks, need_weights)
        lines.append(f"   forward: {op.forward_signature}")
        lines.append(f"   none outputs: {op.none_outputs is not None}")
    return "\n".join(lines)


def golden_sections(path=GOLDEN_FILE) -> dict[str, str]:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    sections = re.split(r"\n\n(?=## )", text.strip("\n"))
    return {section.split("\n", 1)[0][3:]: section for section in sections}


# ---------------------------------------------------------------- the tests


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_golden_file_has_every_case(request):
    """Under --update-goldens, (re)writes the whole file; otherwise its cases match CASES."""
    if request.config.getoption("--update-goldens") or not GOLDEN_FILE.exists():
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_FILE.write_text("\n\n".join(outcome(c) for c in CASES) + "\n", encoding="utf-8")
    assert list(golden_sections()) == [c.id for c in CASES], "run pytest --update-goldens"


def test_registry_table_has_every_op(request):
    """Under --update-goldens, (re)writes tests/golden/ops/registry.txt from the registry."""
    names = sorted(registry.REGISTRY)
    if request.config.getoption("--update-goldens") or not TABLE_FILE.exists():
        TABLE_FILE.write_text("\n\n".join(entry(name) for name in names) + "\n", encoding="utf-8")
    assert list(golden_sections(TABLE_FILE)) == names, "run pytest --update-goldens"


@pytest.mark.parametrize("name", sorted(registry.REGISTRY))
def test_registry_entry_matches_golden(name):
    assert entry(name) == golden_sections(TABLE_FILE).get(name)


@pytest.mark.parametrize("name", sorted(registry.REGISTRY))
def test_every_argument_is_checked(name):
    """Each non-tensor parameter refuses a word where it wants a number, a bool, a size or one
    of its choices (E105 at that argument), whatever the others are."""
    op = fresh_op(name)
    for param in op.params:
        if param.is_tensor:
            continue
        values = {p.name: INFER if p.default is REQUIRED else p.default for p in op.params}
        values[param.name] = "word"
        with pytest.raises(OpFailure) as caught:
            check_arguments(op, values)
        assert (caught.value.code, caught.value.arg) == ("E105", param.name)
        assert caught.value.message.startswith(f"{param.name} ")
        assert "'word'" in caught.value.message


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_case_matches_golden(c):
    expected = golden_sections().get(c.id)
    assert expected is not None, f"{c.id} is not in {GOLDEN_FILE} (run pytest --update-goldens)"
    assert outcome(c) == expected


def test_signatures_show_defaults_and_variadics():
    assert fresh_op("view").signature == "view(input, *shape)"
    assert fresh_op("Linear").signature == "Linear(in_features, out_features, bias=True)"
    assert fresh_op("MaxPool1d").signature == (
        "MaxPool1d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False, "
        "ceil_mode=False)"
    )
    assert fresh_op("GELU").signature == "GELU(approximate='none')"
    assert (repr(INFER), repr(REQUIRED), repr(base._Sentinel("*"))) == ("?", "<required>", "*")
    assert str(base.ArgError("a message", help="a help")) == "a message"


def test_every_family_registers_its_ops_once():
    ops = reregister(*FAMILIES)
    assert ops.keys() == registry.REGISTRY.keys()
    with mock.patch.object(registry, "REGISTRY", dict(ops)):
        with pytest.raises(ValueError, match="^op Linear registered twice$"):
            registry.register(ops["Linear"])
        renamed = records.replace(ops["Linear"], name="Linear2")
        assert registry.register(renamed) is renamed


def test_a_count_without_its_own_mismatch_code_is_e105():
    op = OpSpec(
        name="Scale",
        torch="nn.Scale",
        params=(Param("features", check=base.positive_int, infer=lambda shape: shape[-1]),),
        rule=lambda ctx: ctx.input,
    )
    with pytest.raises(OpFailure) as caught:
        evaluate(op, bind(op, [3], {}), [(2, 4)])
    assert (caught.value.code, caught.value.message) == (
        "E105",
        "Scale expects features=3, but receives 4",
    )
    assert evaluate(op, bind(op, [INFER], {}), [(2, 4)]).args == {"features": 4}


def test_add_and_mul_are_written_as_operators():
    emission = Emission(tensors={"input": "a", "other": "b"}, args={})
    assert (fresh_op("add").emit(emission), fresh_op("mul").emit(emission)) == ("a + b", "a * b")


@pytest.mark.torch
@pytest.mark.parametrize("c", [c for c in CASES if c.no_torch is None], ids=lambda c: c.id)
def test_case_agrees_with_torch(c):
    """Torch raises exactly when archspec refuses (bar the refusals test_ops_torch.STRICTER
    lists), and otherwise gives the same shape and parameter count."""
    pytest.importorskip("torch")
    import test_ops_torch as differential

    op = fresh_op(c.op)
    values = bind(op, list(c.positional), dict(c.keywords))
    try:
        result, refusal = evaluate(op, values, list(c.inputs)), None
    except OpFailure as failure:
        result, refusal = None, failure
    args = {name: value for name, value in values.items() if not op.param(name).is_tensor}
    torch_case = differential.Case(args, list(c.inputs))
    try:
        shape, count = differential.run_torch(op, torch_case)
        torch_error = None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        shape, count, torch_error = None, 0, error
    if refusal is not None and torch_error is None:
        listed = differential.STRICTER.get(c.op)
        assert c.stricter or (listed and listed(torch_case)), (
            f"archspec refuses {c.call} ({refusal}) but torch gives {shape}"
        )
    if refusal is not None:
        return
    assert torch_error is None, f"torch refuses {c.call} ({torch_error}); archspec {result.shape}"
    assert (result.shape, result.params) == (shape, count)


def test_another_reading_of_a_count_is_offered_only_for_numeric_shapes():
    from archspec.ops.apply import _other_reading

    linear = registry.REGISTRY["Linear"]
    help_text = _other_reading(linear, "in_features", 3136, 7, (N, 64, 7, 7))
    assert help_text is not None and help_text.startswith("3136 = 64×7×7 (dims 1 to 3")
    assert _other_reading(linear, "in_features", 3136, 7, (N, 64, H, 7)) is None  # symbolic H
