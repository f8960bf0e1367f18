"""Value ranges of integer and bool tensors: what archspec knows of the numbers a tensor holds, so
that an index past a table's end (`arange(20) -> Embedding(10, 4)`, `table[index]`) is refused
statically, as torch refuses it at run time.

A range is closed, [low, high], each bound an int or a symbolic size (`L − 1`); None is unknown.
Each op's `OpSpec.values` gives its output's range from its inputs' (`ctx.ranges`), as
`OpSpec.dtype` gives its dtype (ops/dtype_rules.py holds those rules; this module holds these):
creation ops are sources (arange, zeros/ones/full of an integer), a comparison is [0, 1], an op
that only moves or copies values keeps its input's (`keeps_values`), `+ - *` by an integer are
interval arithmetic, and everything else, every model input and every parameter, is unknown.
Inference keeps the range of integer and bool results only (shapes/infer.py).

Two symbolic bounds are ordered only where their difference is a number (`L + 6` against `L`),
so that no comparison here records a sizing guard: a union whose bounds do not order so is
unknown. The checks that use a range (ops/embedding.py, ops/indexing.py) compare it with the
table's size the way shape rules compare sizes, guarded.
"""

from __future__ import annotations

from collections.abc import Callable

from archspec.core.dims import Dim, Sym, format_dim
from archspec.core.records import record
from archspec.ops.base import RuleContext


@record(frozen=True)
class ValueRange:
    """Every value of the tensor lies in low..high (both included)."""

    low: Dim
    high: Dim
    origin: str  # where the values come from, for messages: "arange(L)"

    def text(self) -> str:
        return f"{format_dim(self.low)}..{format_dim(self.high)}"


BOOLEAN = ValueRange(0, 1, "a comparison")

_DERIVED = "computed from "


def keeps_values(ctx: RuleContext) -> ValueRange | None:
    """OpSpec.values of an op that only moves or copies its first input's values (view, permute,
    indexing, clone, ...)."""
    return ctx.ranges[0]


def boolean_values(ctx: RuleContext) -> ValueRange:
    """OpSpec.values of a comparison: False and True, 0 and 1."""
    return BOOLEAN


def number_range(value, origin: str = "") -> ValueRange | None:
    """The range of one integer value (a symbolic size is one too); None for a float or a bool,
    whose value torch converts by the tensor's dtype."""
    if isinstance(value, Sym) or type(value) is int:
        return ValueRange(value, value, origin or format_dim(value))
    return None


def _difference(a: Dim, b: Dim) -> int | None:
    """a − b where it is a number for every size (no guard recorded), else None."""
    difference = a - b
    return difference if type(difference) is int else None


def union(ranges: list[ValueRange | None]) -> ValueRange | None:
    """The smallest range holding all of these (cat, stack); None when one is unknown or two
    bounds do not order without a guard."""
    if any(r is None for r in ranges):
        return None
    low, high = ranges[0].low, ranges[0].high
    for current in ranges[1:]:
        below, above = _difference(current.low, low), _difference(current.high, high)
        if below is None or above is None:
            return None
        low = current.low if below < 0 else low
        high = current.high if above > 0 else high
    origins = dict.fromkeys(r.origin for r in ranges)  # in order, each once
    return ValueRange(low, high, " and ".join(origins))


def derived(value: ValueRange) -> str:
    """The origin of a range computed from `value`'s: the source it was first computed from."""
    origin = value.origin
    return origin if origin.startswith(_DERIVED) else _DERIVED + origin


def negated(value: ValueRange) -> ValueRange:
    return ValueRange(-value.high, -value.low, derived(value))


def scaled(value: ValueRange, factor: int) -> ValueRange:
    """value · factor for an integer factor: a negative one swaps the bounds."""
    low, high = value.low * factor, value.high * factor
    return ValueRange(*((low, high) if factor >= 0 else (high, low)), derived(value))


def _operands(ctx: RuleContext) -> list[tuple[ValueRange | None, object]]:
    """(range, number) of `input` and `other` of a binary op: a tensor's range and None, or a
    number operand's (`x + 6`, `1 - x`: ctx.scalars) one-value range and the number."""
    ranges = iter(ctx.ranges)
    operands = []
    for name in ("input", "other"):
        if name in ctx.scalars:
            value = ctx.scalars[name]
            operands.append((number_range(value), value))
        else:
            operands.append((next(ranges, None), None))
    return operands


def arithmetic(name: str) -> Callable[[RuleContext], ValueRange | None]:
    """OpSpec.values of `add`, `sub` and `mul`: interval arithmetic of two ranged operands (a
    number is a range of one value); `mul` only by an integer number, whose sign is known."""

    def values(ctx: RuleContext) -> ValueRange | None:
        (left, left_number), (right, right_number) = _operands(ctx)
        if left is None or right is None:
            return None
        tensor = right if left_number is not None else left
        if name == "mul":
            factor = left_number if right_number is None else right_number
            if type(factor) is not int:  # two tensors, or a size of unknown sign
                return None
            return scaled(tensor, factor)
        if name == "sub":
            right = negated(right)
        return ValueRange(left.low + right.low, left.high + right.high, derived(tensor))

    return values


# ---------------------------------------------------------------- checks


def outside(values: ValueRange, first: Dim, last: Dim) -> bool:
    """Whether some value may lie outside first..last. A symbolic bound is compared as shape
    rules compare sizes (at the sizing hints, guarded), so `archspec sizes` finds the sizes where
    an index reaches past a table."""
    return values.low < first or values.high > last


def largest_size(bound: Dim, limit: int) -> tuple[str, int] | None:
    """(symbol, its largest value) for which `bound` ≤ limit, where `bound` is a·S + c of one
    size S (a > 0): `L − 1` ≤ 63 holds up to L = 64. None for any other bound."""
    variable = [term for term in bound.terms if term[0]] if isinstance(bound, Sym) else []
    if len(variable) != 1:
        return None
    ((atoms, slope),) = variable
    if len(atoms) != 1 or not isinstance(atoms[0], str) or slope <= 0:
        return None
    return atoms[0], (limit - bound.constant) // slope
