"""Comparisons and selection: `== != < <= > >=` on tensors (torch.eq, torch.ne, torch.lt, ...),
`where` (torch.where) and `masked_fill` (Tensor.masked_fill).

A comparison broadcasts its operands as `+` does (ops/merge.py) and gives a bool tensor; either
side may be a number (`rows < 7`). `where(condition, input, other)` broadcasts all three, takes a
bool condition, and promotes input and other as torch does (`where(c, 0, 1)` is int64,
`where(c, -100.0, 0.0)` float32). `masked_fill(mask, value)` fills where a bool mask is True,
keeping the input's dtype. Nothing here counts MACs.
"""

from __future__ import annotations

from archspec.core import dtypes as dt
from archspec.core.dims import format_dim, format_shape
from archspec.ops.base import ArgError, OpSpec, Param, RuleContext, show_value
from archspec.ops.dtype_rules import comparison, operands, refuse
from archspec.ops.merge import _broadcast_rule, _generic_help, _mismatched_dims, broadcast
from archspec.ops.registry import register
from archspec.ops.value_ranges import boolean_values

OPERAND = {"is_tensor": True, "scalar": True}

COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
SYMBOLS = {symbol: name for name, symbol in COMPARISONS.items()}
_BROADCAST = _broadcast_rule("compare", _generic_help)


def _comparison_rule(ctx: RuleContext):
    """`+`'s broadcasting (ops/merge.py), with its messages. Its own function: a rule's module
    is where an op is registered anew (tests/test_ops_edges.py fresh_op)."""
    return _BROADCAST(ctx)


for _name, _symbol in COMPARISONS.items():
    register(
        OpSpec(
            name=_name,
            torch=f"torch.{_name}",
            params=(Param("input", **OPERAND), Param("other", **OPERAND)),
            rule=_comparison_rule,
            kind="function",
            summary=f"elementwise `{_symbol}`, broadcasting; a bool tensor",
            dtype=comparison,
            values=boolean_values,
            emit=lambda e, symbol=_symbol: f"{e.tensors['input']} {symbol} {e.tensors['other']}",
        )
    )


# ---------------------------------------------------------------- where


def _broadcast_all(ctx: RuleContext, names: list[str]):
    """torch's broadcast of several tensors, or E205 naming the pair that does not."""
    shape = ctx.inputs[0]
    for index, other in enumerate(ctx.inputs[1:], start=1):
        joined = broadcast(shape, other)
        if joined is None:
            d, a, b = _mismatched_dims(shape, other)[0]
            ctx.fail(
                "E205",
                f"{ctx.op.name} cannot broadcast {format_shape(shape)} and "
                f"{format_shape(other)} ({names[0]} and {names[index]}): sizes "
                f"{format_dim(a)} and {format_dim(b)} at dim {d} neither match nor are 1",
                input=index,
                help=f"make dim {d} equal in both ({format_dim(a)} or {format_dim(b)}), or 1 "
                "in one of them",
            )
        shape = joined
    return shape


def _where_rule(ctx: RuleContext):
    names = [name for name, value in operands(ctx) if isinstance(value, str)]
    return _broadcast_all(ctx, names)


def _bool_condition(ctx: RuleContext, name: str, dtype: str) -> None:
    if dtype != dt.BOOL:
        refuse(
            ctx,
            name,
            dtype,
            "a bool tensor",
            help=f"compare to make a mask: `{name} != 0`",
        )


def _where_dtype(ctx: RuleContext) -> str:
    (name, condition), *values = operands(ctx)
    _bool_condition(ctx, name, condition)
    return dt.result_type([value for _, value in values])


register(
    OpSpec(
        name="where",
        torch="torch.where",
        params=(
            Param("condition", is_tensor=True),
            Param("input", **OPERAND),
            Param("other", **OPERAND),
        ),
        rule=_where_rule,
        kind="function",
        summary="input where condition is True, else other, broadcasting all three",
        dtype=_where_dtype,
    )
)


# ---------------------------------------------------------------- masked_fill


def _fill_value(name: str, value) -> float | int | bool:
    if isinstance(value, (int, float)):
        return value
    raise ArgError(
        f"{name} must be a number, got {show_value(value)}",
        help="masked_fill fills with one number, e.g. float('-inf') is written -1e9 or -100.0",
    )


def _masked_fill_rule(ctx: RuleContext):
    """Tensor.masked_fill: the mask and the input broadcast (the out-of-place form expands
    both)."""
    return _broadcast_all(ctx, ["input", "mask"])


def _masked_fill_dtype(ctx: RuleContext) -> str:
    (_, dtype), (name, mask) = operands(ctx)
    _bool_condition(ctx, name, mask)
    return dtype


register(
    OpSpec(
        name="masked_fill",
        torch="Tensor.masked_fill",
        params=(
            Param("input", is_tensor=True),
            Param("mask", is_tensor=True),
            Param("value", check=_fill_value),
        ),
        rule=_masked_fill_rule,
        kind="function",
        summary="the input with value where a bool mask is True (its dtype kept)",
        dtype=_masked_fill_dtype,
        emit=lambda e: f"{e.tensors['input']}.masked_fill({e.tensors['mask']}, {e.args['value']})",
    )
)
