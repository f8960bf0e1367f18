"""Sizes a block reads off its input: known when the module runs, not when the spec is compiled.

`input x: [N, H, W, C]` in a block binds each new name to that dim of the tensor the caller
passes, as torchvision writes `B, H, W, C = x.shape`. Elaboration does not know shapes (they are
inferred afterwards, per model and per input size), so such a name is a `SizeOf`, and arithmetic on
it builds a `SizeExpr`: `(7 - W % 7) % 7`, `3 if 7 < H else 0`. Both can be arguments of functions
(pad amounts, a reshape's sizes, an `arange`'s end, a scale); shape inference resolves them from the
shapes it has computed (`resolve`), so a symbolic input size stays symbolic and every comparison on
it is decided, and guarded, as the op rules' own are. Generated code reads them off the live tensor
(`x.size(2)`).

A layer's arguments cannot be run-time sizes (torch builds the layer before it sees an input), nor
can anything that decides the graph's structure (`if`, `range`, a list's length).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from archspec.core.dims import Dim, Sym, SymbolicError, substitute
from archspec.core.records import record, replace
from archspec.ops.subscripts import Indices, SliceItem


@record(frozen=True)
class SizeOf:
    """Dim `dim` of the output of graph node `node`, named `name` in the spec."""

    node: str
    dim: int
    name: str

    def __str__(self) -> str:
        return self.name


@record(frozen=True)
class SizeExpr:
    """`op` applied to operands (SizeOf, SizeExpr or plain numbers and symbolic sizes)."""

    op: str  # a key of BINARY, "neg", "if" (test, body, orelse), "min" or "max"
    operands: tuple[Any, ...]

    def __str__(self) -> str:
        return source(self, str)


RunSize = (SizeOf, SizeExpr)

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# Python's binding strength, for parentheses in `source`: higher binds tighter.
_PRECEDENCE = {"if": 0, "<": 1, "<=": 1, ">": 1, ">=": 1, "==": 1, "!=": 1, "+": 2, "-": 2,
               "*": 3, "/": 3, "//": 3, "%": 3, "neg": 4, "**": 5}  # fmt: skip


def is_run_size(value: Any) -> bool:
    return isinstance(value, RunSize)


# Text that needs no parentheses as an operand: a non-negative number, or a name followed by calls
# and attributes (`x.size(2)`, `min(a, b)`, `t.size(0).bit_length()`).
_NUMBER = re.compile(r"\d[\d.e+]*")
_DOTTED = re.compile(r"[A-Za-z_]\w*")


def is_atomic(text: str) -> bool:
    if _NUMBER.fullmatch(text):
        return True
    at = 0
    while True:
        name = _DOTTED.match(text, at)
        if name is None:
            return False
        at = name.end()
        while at < len(text) and text[at] == "(":  # a call: skip to its closing parenthesis
            depth = 0
            for end in range(at, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            else:
                return False
            at = end + 1
        if at == len(text):
            return True
        if text[at] != ".":
            return False
        at += 1


def first_run_size(value: Any) -> SizeOf | SizeExpr | None:
    """The value itself, or the first item of a (nested) list or tuple, that is a run-time size.
    A list that holds itself twice (`l = [l, l]`, 2^40 items after 40 steps) is read once."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        if isinstance(item, RunSize):
            return item
        if isinstance(item, (list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            pending.extend(reversed(item))
        elif isinstance(item, dict):
            pending.extend(reversed(item.values()))
        elif isinstance(item, Indices):
            pending.extend(reversed(item.items))
        elif isinstance(item, SliceItem):
            pending.extend((item.stop, item.start))
    return None


def contains_run_size(value: Any) -> bool:
    return first_run_size(value) is not None


_PLAIN_TYPES = frozenset({int, float, str, bool, type(None)})


def scan(value: Any) -> tuple[tuple[str, ...], bool]:
    """(the nodes whose sizes `value` reads, whether it holds any run-time size) in one walk: an
    op's arguments are scanned for every node of the graph, so plain values are skipped fast."""
    found: list[str] = []
    lazy = False
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _PLAIN_TYPES:
            continue
        if kind is SizeOf:
            lazy = True
            if item.node not in found:
                found.append(item.node)
            continue
        if id(item) in seen:  # shared parts (`pad_H` in many sizes, `l = [l, l]`): once
            continue
        seen.add(id(item))
        if kind is SizeExpr:
            lazy = True
            pending.extend(reversed(item.operands))
        elif kind is list or kind is tuple:
            pending.extend(reversed(item))
        elif kind is dict:
            pending.extend(reversed(item.values()))
        elif kind is Indices:
            pending.extend(reversed(item.items))
        elif kind is SliceItem:
            pending.extend((item.stop, item.start))
    return tuple(found), lazy


def combine(op: str, *operands: Any) -> SizeExpr:
    return SizeExpr(op, tuple(operands))


class Unresolved(Exception):
    """A size read off a tensor whose shape is unknown (an error upstream, reported there)."""


def resolve(
    value: Any,
    shape_of: Callable[[str], tuple | None],
    memo: dict | None = None,
    values: dict[str, int] | None = None,
) -> Any:
    """`value` with every run-time size replaced by what it is for these shapes: a number, or a
    symbolic size (comparisons on symbolic sizes are decided by the active core.dims.Sizing, or
    raise SymbolicError). Lists and tuples are resolved item by item. `memo` (by object id, for
    one inference run) shares the work: one size (`pad_H`) is read by many expressions. `values`:
    numbers for the model's symbolic sizes (a concrete run), put into symbolic operands."""
    memo = {} if memo is None else memo
    if values and isinstance(value, Sym):
        return substitute(value, values)
    if isinstance(value, (SizeOf, SizeExpr)):
        key = id(value)
        if key not in memo:
            memo[key] = (value, _resolve_size(value, shape_of, memo, values))  # keeps `value` alive
        return memo[key][1]
    if isinstance(value, Indices):
        return Indices(tuple(resolve(item, shape_of, memo, values) for item in value.items))
    if isinstance(value, SliceItem):
        bounds = (value.start, value.stop)
        start, stop = (resolve(bound, shape_of, memo, values) for bound in bounds)
        return replace(value, start=start, stop=stop)
    if isinstance(value, dict):
        return {key: resolve(item, shape_of, memo, values) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(v, shape_of, memo, values) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(resolve(v, shape_of, memo, values) for v in value)
    return value


def _resolve_size(value: SizeOf | SizeExpr, shape_of, memo: dict, values) -> Any:
    if isinstance(value, SizeOf):
        shape = shape_of(value.node)
        if shape is None or value.dim >= len(shape):
            raise Unresolved(value.name)
        return shape[value.dim]
    if value.op == "if":
        test, body, orelse = value.operands
        chosen = body if _truth(resolve(test, shape_of, memo, values)) else orelse
        return resolve(chosen, shape_of, memo, values)
    operands = [resolve(o, shape_of, memo, values) for o in value.operands]
    if value.op == "neg":
        return -operands[0]
    if value.op in ("min", "max"):
        pick = min if value.op == "min" else max
        return pick(operands, key=_Ordered)
    result = BINARY[value.op](*operands)
    return _truth(result) if value.op in ("<", "<=", ">", ">=", "==", "!=") else result


def _truth(value: Any) -> bool:
    if isinstance(value, Sym):  # `H == 7` of a symbolic H: Sym.__eq__ decides, or raises
        raise SymbolicError(f"whether {value} holds depends on the input's size")
    return bool(value)


class _Ordered:
    """min/max of sizes that may be symbolic: Sym's comparisons decide under the active Sizing."""

    def __init__(self, value: Dim):
        self.value = value

    def __lt__(self, other: _Ordered) -> bool:
        return _truth(self.value < other.value)


def source(
    value: Any, leaf: Callable[[SizeOf], str], plain: Callable[[Any], str] = str, parent: int = -1
) -> str:
    """Python text of a run-time size, each SizeOf written by `leaf` (its spec name for messages,
    `x.size(2)` for generated code) and every other value by `plain`, parenthesised only where
    Python needs it."""
    if isinstance(value, SizeOf):
        return leaf(value)
    if not isinstance(value, SizeExpr):
        text = plain(value)
        negative = isinstance(value, (int, float)) and value < 0
        return f"({text})" if (negative and parent >= 4) or not is_atomic(text) else text
    op = value.op
    own = _PRECEDENCE.get(op, 6)
    if op == "if":
        test, body, orelse = (source(o, leaf, plain, 1) for o in value.operands)
        text = f"{body} if {test} else {orelse}"
    elif op == "neg":
        text = f"-{source(value.operands[0], leaf, plain, own)}"
    elif op in ("min", "max"):
        text = f"{op}({', '.join(source(o, leaf, plain) for o in value.operands)})"
    else:
        left, right = value.operands
        # Left-associative operators: the right operand of equal strength needs parentheses.
        right_parent = own if op == "**" else own + 1
        left_parent = own + 1 if op == "**" else own
        left_text = source(left, leaf, plain, left_parent)
        text = f"{left_text} {op} {source(right, leaf, plain, right_parent)}"
    return f"({text})" if own < parent or (own == parent and op in ("if",)) else text
