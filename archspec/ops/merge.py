"""Joining tensors: cat, and the elementwise add (`+`) and mul (`*`) (torch.cat, torch.add,
torch.mul)."""

from __future__ import annotations

from archspec.core.dims import format_dim, format_shape
from archspec.ops.base import OpSpec, Param, RuleContext, integer
from archspec.ops.common import layout_of
from archspec.ops.registry import register


def _all_shapes(inputs) -> str:
    return "inputs: " + ", ".join(f"#{i} {format_shape(s)}" for i, s in enumerate(inputs))


# ---------------------------------------------------------------- cat


def _cat_rule(ctx: RuleContext):
    inputs = ctx.inputs
    if not inputs:
        ctx.fail("E204", "cat needs at least one tensor", arg="tensors")
    first = inputs[0]
    for index, shape in enumerate(inputs):
        if not shape:
            ctx.fail(
                "E206",
                f"cat cannot join a 0-d tensor (input #{index})",
                input=index,
                help="unsqueeze it first, or use stack",
            )
        if len(shape) != len(first):
            ctx.fail(
                "E206",
                f"cat needs tensors of one rank: input #0 is {len(first)}-d {format_shape(first)}, "
                f"input #{index} is {len(shape)}-d {format_shape(shape)}",
                input=index,
                notes=(_all_shapes(inputs),),
            )
    rank = len(first)
    dim = ctx["dim"]
    if not -rank <= dim < rank:
        ctx.fail(
            "E105",
            f"cat dim={dim} is out of range for {rank}-d tensors (expected {-rank} to {rank - 1})",
            arg="dim",
        )
    dim %= rank
    for index, shape in enumerate(inputs[1:], start=1):
        for d in range(rank):
            if d != dim and shape[d] != first[d]:
                ctx.fail(
                    "E204",
                    f"cat along dim {dim} needs equal sizes in the other dims, but dim {d} is "
                    f"{format_dim(first[d])} in input #0 and {format_dim(shape[d])} in input "
                    f"#{index}",
                    input=index,
                    notes=(_all_shapes(inputs),),
                    help=f"resize input #{index} to {format_dim(first[d])} in dim {d} (a stride "
                    "or padding differs upstream), or join along the dim that differs",
                )
    joined = sum((shape[dim] for shape in inputs[1:]), first[dim])
    return (*first[:dim], joined, *first[dim + 1 :])


# ---------------------------------------------------------------- add, mul


def _add_rule(ctx: RuleContext):
    left, right = ctx.inputs
    # Stricter than torch: a `+` that only works by broadcasting is almost always a residual
    # whose shortcut lost its projection, so archspec wants equal shapes.
    if tuple(left) != tuple(right):
        ctx.fail(
            "E205",
            f"cannot add {format_shape(left)} and {format_shape(right)}: `+` needs equal shapes",
            input=1,
            help=f"for a residual, project the shortcut to the block's output "
            f"({layout_of(left).projection}) so both shapes match",
        )
    return tuple(left)


def broadcast(left, right):
    """torch's broadcasting: align from the right; each pair equal or one of them 1. None when
    the shapes do not broadcast."""
    rank = max(len(left), len(right))
    left = (1,) * (rank - len(left)) + tuple(left)
    right = (1,) * (rank - len(right)) + tuple(right)
    out = []
    for a, b in zip(left, right):
        if a == b or b == 1:
            out.append(a)
        elif a == 1:
            out.append(b)
        else:
            return None
    return tuple(out)


def _mul_rule(ctx: RuleContext):
    left, right = ctx.inputs
    shape = broadcast(left, right)
    if shape is None:
        ctx.fail(
            "E205",
            f"cannot multiply {format_shape(left)} and {format_shape(right)}: aligned from the "
            "right, each pair of dims must be equal or 1",
            input=1,
            help="to scale channels (squeeze-and-excitation), shape the scale [N, C, 1, 1]",
        )
    return shape


def _binary(name: str, symbol: str, rule, summary: str) -> OpSpec:
    return OpSpec(
        name=name,
        torch=f"torch.{name}",
        params=(Param("input", is_tensor=True), Param("other", is_tensor=True)),
        rule=rule,
        kind="function",
        summary=summary,
        emit=lambda e: f"{e.tensors['input']} {symbol} {e.tensors['other']}",
    )


register(
    OpSpec(
        name="cat",
        torch="torch.cat",
        params=(Param("tensors", is_tensor=True), Param("dim", 0, check=integer)),
        rule=_cat_rule,
        kind="function",
        summary="joins tensors along an existing dim",
    )
)
register(_binary("add", "+", _add_rule, "elementwise sum of equal shapes (`+`)"))
register(_binary("mul", "*", _mul_rule, "elementwise product with broadcasting (`*`)"))
