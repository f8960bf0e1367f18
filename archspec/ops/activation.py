"""Activations: elementwise nonlinearities, Softmax/LogSoftmax and PReLU, as nn layers and as
functions (torch.nn.modules.activation, torch.nn.functional)."""

from __future__ import annotations

from archspec.core.dims import format_shape
from archspec.ops.base import (
    OpSpec,
    Param,
    RuleContext,
    boolean,
    integer,
    number,
    one_of,
    optional,
    positive_int,
)
from archspec.ops.common import same_shape, values_per_sample
from archspec.ops.dtype_rules import float_math
from archspec.ops.registry import register

INPLACE = Param("inplace", False, check=boolean)
INPUT = Param("input", is_tensor=True)

# name -> (extra params after the input, summary)
ELEMENTWISE_LAYERS = {
    "ReLU": ((INPLACE,), "max(0, x)"),
    "ReLU6": ((INPLACE,), "min(max(0, x), 6)"),
    "LeakyReLU": ((Param("negative_slope", 0.01, check=number), INPLACE), "leaky rectifier"),
    "ELU": ((Param("alpha", 1.0, check=number), INPLACE), "exponential linear unit"),
    "GELU": (
        (Param("approximate", "none", check=one_of("none", "tanh")),),
        "Gaussian error linear unit",
    ),
    "SiLU": ((INPLACE,), "x·sigmoid(x) (swish)"),
    "Sigmoid": ((), "logistic sigmoid"),
    "Tanh": ((), "hyperbolic tangent"),
    "Hardswish": ((INPLACE,), "piecewise-linear swish"),
    "Hardsigmoid": ((INPLACE,), "piecewise-linear sigmoid"),
    "Mish": ((INPLACE,), "x·tanh(softplus(x))"),
    "Softplus": (
        (Param("beta", 1.0, check=number), Param("threshold", 20.0, check=number)),
        "smooth rectifier log(1 + exp(βx))/β",
    ),
}

# name -> (torch name, extra params, summary)
ELEMENTWISE_FUNCTIONS = {
    "relu": ("F.relu", (INPLACE,), "max(0, x)"),
    "relu6": ("F.relu6", (INPLACE,), "min(max(0, x), 6)"),
    "leaky_relu": (
        "F.leaky_relu",
        (Param("negative_slope", 0.01, check=number), INPLACE),
        "leaky rectifier",
    ),
    "elu": ("F.elu", (Param("alpha", 1.0, check=number), INPLACE), "exponential linear unit"),
    # F.gelu is a builtin whose `approximate` is keyword-only.
    "gelu": (
        "F.gelu",
        (Param("approximate", "none", check=one_of("none", "tanh"), keyword_only=True),),
        "Gaussian error linear unit",
    ),
    "silu": ("F.silu", (INPLACE,), "x·sigmoid(x) (swish)"),
    "sigmoid": ("torch.sigmoid", (), "logistic sigmoid"),
    "tanh": ("torch.tanh", (), "hyperbolic tangent"),
    "hardswish": ("F.hardswish", (INPLACE,), "piecewise-linear swish"),
}


# ---------------------------------------------------------------- softmax


def _softmax_rule(ctx: RuleContext):
    """Checks an explicit dim; with dim=None torch picks one itself (`_get_softmax_dim`)."""
    rank, dim = len(ctx.input), ctx["dim"]
    # A 0-d tensor takes dims -1 and 0, like a 1-d one.
    bound = max(rank, 1)
    if dim is not None and not -bound <= dim < bound:
        ctx.fail(
            "E105",
            f"{ctx.op.name} dim={dim} is out of range for the {rank}-d input "
            f"{format_shape(ctx.input)} (expected {-bound} to {bound - 1})",
            arg="dim",
            input=0,
            help="use dim=-1 for the last dim (the classes)",
        )
    return ctx.input


# ---------------------------------------------------------------- PReLU


def _prelu_rule(ctx: RuleContext):
    rank, count = len(ctx.input), ctx["num_parameters"]
    if count == 1:
        return ctx.input
    if rank == 0:
        ctx.fail(
            "E206",
            f"PReLU(num_parameters={count}) needs a channel dim, got a 0-d input",
            arg="num_parameters",
            input=0,
        )
    # ATen's prelu reads the channels from dim 1, and counts 1 channel for a 1-d input.
    channels = ctx.input[1] if rank >= 2 else 1
    if count != channels:
        ctx.fail(
            "E201",
            f"PReLU has num_parameters={count}, but the input {format_shape(ctx.input)} has "
            f"{channels} channel{'s' if channels != 1 else ''} in dim 1",
            arg="num_parameters",
            input=0,
            help=f"use num_parameters=1 (shared) or {channels} (one per channel)",
        )
    return ctx.input


def _activation_layer(name: str, params, summary: str) -> OpSpec:
    return OpSpec(name=name, torch=f"nn.{name}", params=params, rule=same_shape, summary=summary)


def _activation_function(name: str, torch: str, params, summary: str) -> OpSpec:
    return OpSpec(
        name=name,
        torch=torch,
        params=(INPUT, *params),
        rule=same_shape,
        kind="function",
        summary=summary,
        # torch.sigmoid and torch.tanh of integers are float32, as torch.exp's
        dtype=float_math if name in ("sigmoid", "tanh") else None,
    )


for _name, (_params, _summary) in ELEMENTWISE_LAYERS.items():
    register(_activation_layer(_name, _params, _summary))
for _name, (_torch, _params, _summary) in ELEMENTWISE_FUNCTIONS.items():
    register(_activation_function(_name, _torch, _params, _summary))

DIM = Param("dim", None, check=optional(integer))
SOFTMAXES = {  # layer -> (function, summary)
    "Softmax": ("softmax", "softmax over one dim"),
    "LogSoftmax": ("log_softmax", "log of the softmax over one dim"),
}
for _name, (_function, _summary) in SOFTMAXES.items():
    register(
        OpSpec(name=_name, torch=f"nn.{_name}", params=(DIM,), rule=_softmax_rule, summary=_summary)
    )
    register(
        OpSpec(
            name=_function,
            torch=f"F.{_function}",
            params=(INPUT, DIM),
            rule=_softmax_rule,
            kind="function",
            summary=_summary,
        )
    )

register(
    OpSpec(
        name="PReLU",
        torch="nn.PReLU",
        params=(Param("num_parameters", 1, check=positive_int), Param("init", 0.25, check=number)),
        rule=_prelu_rule,
        count_params=lambda a: a["num_parameters"],
        # One multiply by its slope per output value (the only op of this module with a weight).
        count_macs=lambda args, inputs, output: values_per_sample(output),
        summary="leaky rectifier with a learned slope (shared or per channel)",
    )
)
