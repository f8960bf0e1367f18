"""Dtype rules: what dtype an op gives, from its operands' dtypes, and which it refuses.

Each OpSpec names its rule (`OpSpec.dtype`); None is `floating`, the rule of nearly every layer
and function: floating operands of one dtype (float32 where the layer has weights, which torch
makes float32), the output of that dtype. The others say what torch does for each family: data
movement keeps any dtype (`keep`), elementwise arithmetic promotes as torch does
(`arithmetic`, `true_division`), math functions turn integers into float32 (`float_math`),
comparisons give bool. A refusal is an E108 at the call, naming the operand and the conversion
that fixes it (`x -> float()`).
"""

from __future__ import annotations

from typing import Any

from archspec.core import dtypes as dt
from archspec.ops.base import RuleContext


def operands(ctx: RuleContext) -> list[tuple[str, Any]]:
    """(parameter name, dtype or Python number) of each tensor operand, in the op's order; a
    layer's inputs are named `#0`, `#1`, ... A list parameter (`tensors`) gives one entry per
    tensor."""
    tensor_params = [p for p in ctx.op.params if p.is_tensor]
    if not tensor_params:
        return [(f"#{i}", dtype) for i, dtype in enumerate(ctx.dtypes)]
    singles = sum(1 for p in tensor_params if p.name != "tensors" and p.name not in ctx.scalars)
    found: list[tuple[str, Any]] = []
    position = 0
    for param in tensor_params:
        if param.name in ctx.scalars:
            found.append((param.name, ctx.scalars[param.name]))
        elif param.name == "tensors":
            count = len(ctx.dtypes) - singles
            found.extend((param.name, d) for d in ctx.dtypes[position : position + count])
            position += count
        else:
            found.append((param.name, ctx.dtypes[position]))
            position += 1
    return found


def _operand_words(name: str) -> str:
    return f"input #{name[1:]}" if name.startswith("#") else f"'{name}'"


def refuse(ctx: RuleContext, name: str, dtype: str, needed: str, help: str | None = None):
    tensors = [n for n, d in operands(ctx) if isinstance(d, str)]
    where = "" if len(tensors) < 2 else f" as {_operand_words(name)}"
    conversion = "float()" if needed.startswith("a floating") else None
    ctx.fail(
        "E108",
        f"{ctx.op.name} needs {needed}{where}, got {dtype}",
        input=_input_index(ctx, name),
        help=help or (f"convert it first: `x -> {conversion}`" if conversion else None),
    )


def _input_index(ctx: RuleContext, name: str) -> int | None:
    index = 0
    for operand, value in operands(ctx):
        if not isinstance(value, str):
            continue
        if operand == name:
            return index
        index += 1
    return None  # pragma: no cover - every refused operand is a tensor


# ---------------------------------------------------------------- rules


def floating(ctx: RuleContext) -> str:
    """The default: floating tensors of one dtype; a layer with weights takes float32 only (its
    weights are float32, and torch refuses to mix)."""
    tensors = [(name, d) for name, d in operands(ctx) if isinstance(d, str)]
    for name, dtype in tensors:
        if not dt.is_floating(dtype):
            refuse(ctx, name, dtype, "a floating tensor")
    first = tensors[0][1]
    for name, dtype in tensors[1:]:
        if dtype != first:
            ctx.fail(
                "E108",
                f"{ctx.op.name} needs operands of one dtype, got {first} and {dtype}",
                input=_input_index(ctx, name),
                help=f"convert one of them first, e.g. `-> to({first})`",
            )
    if first != dt.FLOAT32 and ctx.op.kind == "layer" and ctx.op.count_params(ctx.args):
        refuse(
            ctx,
            tensors[0][0],
            first,
            "a float32 tensor (its weights are float32)",
            help="convert the input with `-> float()`",
        )
    return first


def keep(ctx: RuleContext) -> str:
    """Moving data: any dtype, the output the first input's; several tensors (cat, stack)
    promote as torch.cat does."""
    tensors = [d for _, d in operands(ctx) if isinstance(d, str)]
    return dt.result_type(tensors) if tensors else dt.FLOAT32


def same_kind(ctx: RuleContext) -> str:
    """Several tensors of one dtype, any dtype (torch.meshgrid)."""
    tensors = [(name, d) for name, d in operands(ctx) if isinstance(d, str)]
    first = tensors[0][1]
    for name, dtype in tensors[1:]:
        if dtype != first:
            ctx.fail(
                "E108",
                f"{ctx.op.name} needs tensors of one dtype, got {first} and {dtype}",
                input=_input_index(ctx, name),
                help=f"convert it first: `-> to({first})`",
            )
    return first


def arithmetic(ctx: RuleContext) -> str:
    """`+ - *`: torch's promotion of the operands, numbers included (int64 * 2 is int64,
    int64 * 0.5 float32, bool + bool bool). `-` refuses bool operands, as torch does."""
    values = [value for _, value in operands(ctx)]
    if ctx.op.name == "sub":
        for name, value in operands(ctx):
            if value == dt.BOOL:  # (a number operand True is refused earlier: not a number)
                refuse(ctx, name, value, "numbers, not bool", help=_BOOL_SUB_HELP)
    return dt.result_type(values)


_BOOL_SUB_HELP = "subtracting booleans is refused by torch: use `!=` (exclusive or), or convert "
_BOOL_SUB_HELP += "with `-> long()` first"


def true_division(ctx: RuleContext) -> str:
    """`/`: promoted, then float32 when both are integers or bools (torch.div's true division)."""
    result = arithmetic(ctx)
    return result if dt.is_floating(result) else dt.FLOAT32


def float_math(ctx: RuleContext) -> str:
    """exp, log, sqrt, sigmoid, ...: floating stays, integers and bool become float32."""
    (_, dtype), *_ = [(n, d) for n, d in operands(ctx) if isinstance(d, str)]
    return dtype if dt.is_floating(dtype) else dt.FLOAT32


def signed(ctx: RuleContext) -> str:
    """abs, neg: integers and floats keep their dtype; torch refuses bool."""
    (name, dtype), *_ = operands(ctx)
    if dtype == dt.BOOL:
        refuse(
            ctx,
            name,
            dtype,
            "numbers, not bool",
            help="use `-> long()` to count, or `== False` to negate a mask",
        )
    return dtype


def summed(ctx: RuleContext) -> str:
    """torch.sum: bool and integers sum to int64, floats keep their dtype."""
    (_, dtype), *_ = operands(ctx)
    return dtype if dt.is_floating(dtype) else dt.INT64


def comparison(ctx: RuleContext) -> str:
    return dt.BOOL
