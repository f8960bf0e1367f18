"""Linear layers: Linear, Bilinear and Identity (torch.nn.modules.linear)."""

from __future__ import annotations

from archspec.core.dims import format_shape, product
from archspec.ops.base import OpFailure, OpSpec, Param, RuleContext, boolean, positive_int
from archspec.ops.dtype_rules import keep
from archspec.ops.registry import register


def last_dim(op_name: str):
    """Reads the feature dim; a 0-d input has none (infer runs before any rank check)."""

    def read(shape):
        if not shape:
            raise OpFailure(
                "E206",
                f"{op_name} expects an input with at least 1 dim, got a 0-d tensor",
                input=0,
            )
        return shape[-1]

    return read


def _positions(shape) -> int:
    """Feature vectors per sample: the dims between the batch and the features (1 for [N, F])."""
    return product(shape[1:-1])


# ---------------------------------------------------------------- Linear


def _linear_rule(ctx: RuleContext):
    return (*ctx.input[:-1], ctx["out_features"])


def _linear_weights(args) -> dict[str, tuple[int, ...]]:
    out = args["out_features"]
    weights = {"weight": (out, args["in_features"])}
    return weights | {"bias": (out,)} if args["bias"] else weights


def _linear_params(args) -> int:
    return args["in_features"] * args["out_features"] + (
        args["out_features"] if args["bias"] else 0
    )


def _linear() -> OpSpec:
    return OpSpec(
        name="Linear",
        torch="nn.Linear",
        params=(
            Param("in_features", check=positive_int, infer=last_dim("Linear"), mismatch="E202"),
            Param("out_features", check=positive_int),
            Param("bias", True, check=boolean),
        ),
        rule=_linear_rule,
        weights=_linear_weights,
        # Every weight once per feature vector, the bias once per output value (torchinfo's
        # count for a [N, F] input; it leaves out the positions of a [N, T, F] one).
        count_macs=lambda a, inputs, output: _positions(inputs[0]) * _linear_params(a),
        summary="fully connected layer on the last dim",
    )


# ---------------------------------------------------------------- Bilinear


def _bilinear_rule(ctx: RuleContext):
    if len(ctx.inputs) != 2:
        ctx.fail("E104", f"Bilinear takes two tensors, got {len(ctx.inputs)}", input=0)
    first, second = ctx.inputs
    if len(first) != len(second):
        ctx.fail(
            "E206",
            f"Bilinear inputs must have the same rank, got {format_shape(first)} and "
            f"{format_shape(second)}",
            input=1,
        )
    if second[-1] != ctx["in2_features"]:
        ctx.fail(
            "E202",
            f"Bilinear expects in2_features={ctx['in2_features']}, but its second input "
            f"{format_shape(second)} has {second[-1]}",
            arg="in2_features",
            input=1,
            help=f"set in2_features={second[-1]}",
        )
    if tuple(first[:-1]) != tuple(second[:-1]):
        ctx.fail(
            "E206",
            f"Bilinear inputs must agree on all but the last dim, got {format_shape(first)} "
            f"and {format_shape(second)}",
            input=1,
        )
    return (*first[:-1], ctx["out_features"])


def _bilinear_weights(args) -> dict[str, tuple[int, ...]]:
    out = args["out_features"]
    weights = {"weight": (out, args["in1_features"], args["in2_features"])}
    return weights | {"bias": (out,)} if args["bias"] else weights


def _bilinear_params(args) -> int:
    weights = args["in1_features"] * args["in2_features"] * args["out_features"]
    return weights + (args["out_features"] if args["bias"] else 0)


def _bilinear() -> OpSpec:
    return OpSpec(
        name="Bilinear",
        torch="nn.Bilinear",
        params=(
            Param("in1_features", check=positive_int, infer=last_dim("Bilinear"), mismatch="E202"),
            Param("in2_features", check=positive_int),
            Param("out_features", check=positive_int),
            Param("bias", True, check=boolean),
        ),
        rule=_bilinear_rule,
        inputs=2,
        weights=_bilinear_weights,
        # Every weight once per feature-vector pair, the bias once per output value.
        count_macs=lambda a, inputs, output: _positions(inputs[0]) * _bilinear_params(a),
        summary="bilinear map x1ᵀ·A·x2 + b of two inputs",
    )


register(_linear())
register(_bilinear())
register(
    OpSpec(
        name="Identity",
        torch="nn.Identity",
        params=(),
        rule=lambda ctx: ctx.input,
        summary="passes its input through unchanged",
        dtype=keep,
    )
)
