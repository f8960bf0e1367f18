"""Joining tensors: cat, and the elementwise arithmetic `+ - * /` with torch's broadcasting
(torch.cat, torch.add, torch.sub, torch.mul, torch.div). Unary `-x` is `neg` (ops/tensor.py).
Elementwise ops count no MACs (docs/language.md, "What summary counts")."""

from __future__ import annotations

from archspec.core.dims import format_dim, format_shape
from archspec.ops.base import OpSpec, Param, RuleContext, integer
from archspec.ops.common import layout_of
from archspec.ops.dtype_rules import arithmetic, keep, true_division
from archspec.ops.registry import register
from archspec.ops.value_ranges import arithmetic as value_arithmetic
from archspec.ops.value_ranges import union


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


# ---------------------------------------------------------------- + - * /


def broadcast(left, right):
    """torch's broadcasting: align from the right (a missing leading dim counts as 1); each pair
    equal or one of them 1. None when the shapes do not broadcast. A symbolic size compared with
    another or with 1 is decided at the sizing hints and guarded (core/dims.py), so the answer
    is exact over the sizes a model accepts."""
    out = []
    for a, b in zip(*_aligned(left, right)):
        size = _broadcast_dim(a, b)
        if size is None:
            return None
        out.append(size)
    return tuple(out)


def _broadcast_dim(a, b):
    # A literal 1 first: `H` against 1 broadcasts for every H, with no guard to record.
    if type(b) is int and b == 1:
        return a
    if type(a) is int and a == 1:
        return b
    if a == b:
        return a
    if b == 1:  # a symbolic size that is 1 at these sizes (guarded)
        return a
    if a == 1:
        return b
    return None


def _mismatched_dims(left, right) -> list[tuple[int, object, object]]:
    """(dim of the broadcast shape, left size, right size) for each aligned pair that neither
    matches nor has a 1."""
    pairs = enumerate(zip(*_aligned(left, right)))
    return [(d, a, b) for d, (a, b) in pairs if _broadcast_dim(a, b) is None]


def _aligned(left, right) -> tuple[tuple, tuple]:
    """Both shapes at the larger rank, a missing leading dim read as 1 (as torch reads it)."""
    rank = max(len(left), len(right))
    return (1,) * (rank - len(left)) + tuple(left), (1,) * (rank - len(right)) + tuple(right)


def _broadcast_rule(verb: str, help_text):
    """The shape rule of an elementwise binary op: torch's broadcast of its tensor operands (a
    number operand, `x * 0.5`, has no shape to broadcast). `help_text(left, right, dims)` gives
    the fix."""

    def rule(ctx: RuleContext):
        if len(ctx.inputs) == 1:
            return tuple(ctx.inputs[0])
        left, right = ctx.inputs
        shape = broadcast(left, right)
        if shape is not None:
            return shape
        dims = _mismatched_dims(left, right)
        pairs = ", ".join(f"{format_dim(a)} and {format_dim(b)} at dim {d}" for d, a, b in dims)
        notes = ["torch aligns shapes from the right; each pair of sizes must be equal, or one "
                 "of them 1 (which is repeated)"]  # fmt: skip
        if len(left) != len(right):
            short, padded = min(zip((left, right), _aligned(left, right)), key=lambda p: len(p[0]))
            notes.append(f"{format_shape(short)} is read as {format_shape(padded)}")
        ctx.fail(
            "E205",
            f"cannot {verb} {format_shape(left)} and {format_shape(right)}: sizes {pairs} "
            "neither match nor are 1",
            input=1,
            notes=tuple(notes),
            help=help_text(left, right, dims),
        )

    return rule


def _residual_help(left, right, dims) -> str:
    return (
        f"for a residual, project the shortcut to the block's output "
        f"({layout_of(left).projection}) so both shapes match"
    )


def _scale_help(left, right, dims) -> str:
    return "to scale channels (squeeze-and-excitation), shape the scale [N, C, 1, 1]"


def _generic_help(left, right, dims) -> str:
    d, a, b = dims[0]
    return f"make dim {d} equal in both ({format_dim(a)} or {format_dim(b)}), or 1 in one of them"


def _binary(name: str, symbol: str, verb: str, help_text, summary: str) -> OpSpec:
    # torch.add(input, other): either operand may be a number (torch.sub(1, x) is 1 - x), so
    # the elaborator keeps a number operand as an argument, and the code reads `x * 0.5`.
    operand = {"is_tensor": True, "scalar": True}
    return OpSpec(
        name=name,
        torch=f"torch.{name}",
        params=(Param("input", **operand), Param("other", **operand)),
        rule=_broadcast_rule(verb, help_text),
        kind="function",
        summary=summary,
        emit=lambda e: f"{e.tensors['input']} {symbol} {e.tensors['other']}",
        dtype=true_division if name == "div" else arithmetic,
        values=None if name == "div" else value_arithmetic(name),  # interval arithmetic
    )


register(
    OpSpec(
        name="cat",
        torch="torch.cat",
        params=(Param("tensors", is_tensor=True), Param("dim", 0, check=integer)),
        rule=_cat_rule,
        kind="function",
        summary="joins tensors along an existing dim",
        dtype=keep,
        values=lambda ctx: union(ctx.ranges),
    )
)
# name, operator, verb of the message, help for a mismatch, summary
ELEMENTWISE_ARITHMETIC = (
    ("add", "+", "add", _residual_help, "elementwise sum, broadcasting (`+`)"),
    ("sub", "-", "subtract", _generic_help, "elementwise difference, broadcasting (`-`)"),
    ("mul", "*", "multiply", _scale_help, "elementwise product, broadcasting (`*`)"),
    ("div", "/", "divide", _generic_help, "elementwise true division, broadcasting (`/`)"),
)
for _name, _symbol, _verb, _help, _summary in ELEMENTWISE_ARITHMETIC:
    register(_binary(_name, _symbol, _verb, _help, _summary))
