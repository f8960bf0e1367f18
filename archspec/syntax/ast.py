"""The spec's abstract syntax tree: frozen dataclasses, each with a span (ignored by equality)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter

from archspec.core.source import Span


def _span() -> Span:
    return field(compare=False, repr=False)


def node(cls):
    """A frozen dataclass with slots whose __eq__, __hash__ and __repr__ are the shared functions
    below, over the fields it compares and shows: the same results as the generated ones, but
    dataclass compiles each generated method for each class, and those three cost 3 ms of every
    `archspec check`. (Every node class has a docstring for the same reason: without one,
    dataclass writes one with inspect.signature, another millisecond.)"""
    cls = dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)
    compared = tuple(f.name for f in fields(cls) if f.compare)
    cls._compared = staticmethod(_getter(compared))
    cls._shown = tuple(f.name for f in fields(cls) if f.repr)
    cls.__eq__, cls.__hash__, cls.__repr__ = _eq, _hash, _repr
    return cls


def _getter(names: tuple[str, ...]):
    """node -> the tuple of its fields `names` (attrgetter alone returns a bare value for one)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        (name,) = names
        return lambda item: (getattr(item, name),)
    return lambda item: ()


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self._compared(self) == self._compared(other)


def _hash(self) -> int:
    return hash(self._compared(self))


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
    return f"{self.__class__.__qualname__}({shown})"


# ---------------------------------------------------------------- expressions


@node
class Constant:
    """An int, float or string literal."""

    value: int | float | str
    span: Span = _span()


@node
class Name:
    """`x`, `planes`: a name read (or, as a target, bound)."""

    id: str
    span: Span = _span()


@node
class Infer:
    """`?`: an argument archspec fills in from the incoming shape, or a wildcard dim in a shape."""

    span: Span = _span()


@node
class TupleExpr:
    """`(1, 2)`, `(a,)`, `()`."""

    items: tuple[Expr, ...]
    span: Span = _span()


@node
class ListExpr:
    """`[64, 128, 256]`."""

    items: tuple[Expr, ...]
    span: Span = _span()


@node
class ListComp:
    """`[Block(c) for c in widths]`."""

    element: Expr
    var: Name
    iterable: Expr
    span: Span = _span()


@node
class Index:
    """`widths[i]`."""

    value: Expr
    index: Expr
    span: Span = _span()


@node
class BinOp:
    """`a + b`, `i < 3`, `x and y`: arithmetic, comparisons and boolean operators."""

    op: str  # one of + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span = _span()


@node
class UnaryOp:
    """`-x`, `+x`, `not x`."""

    op: str  # - + not
    operand: Expr
    span: Span = _span()


@node
class IfExp:
    """`a if test else b`."""

    body: Expr
    test: Expr
    orelse: Expr
    span: Span = _span()


@node
class Label:
    """A layer's attribute name: a plain name, or a template string such as "denselayer{i + 1}"."""

    text: str
    parts: tuple[str | Expr, ...]  # literal text and placeholder expressions
    span: Span = _span()


@node
class Argument:
    """One argument of a call: positional, `keyword=value`, `label: Layer(...)` or `*list`."""

    value: Expr
    span: Span = _span()
    keyword: str | None = None  # kw=value
    label: Label | None = None  # name: Layer(...) child of a container
    splat: bool = False  # *[...]


@node
class Call:
    """`Conv2d(3, 64, 7, stride=2)`: a layer, block, Sequential, function or builtin call."""

    func: Name
    args: tuple[Argument, ...]
    span: Span = _span()


@node
class Labelled:
    """`name: Layer(...)` in a pipeline: defines the layer under that name and applies it."""

    label: Label
    call: Call
    span: Span = _span()


@node
class LayerRef:
    """`-> name`: applies a layer defined earlier under that name."""

    name: Name
    span: Span = _span()


@node
class Pipe:
    """`value -> stage -> ...`: each stage gets the value so far as its input (or first argument).

    Kept flat so that a 10,000-layer chain is one node, not 10,000 nested ones.
    """

    value: Expr
    stages: tuple[Call | Labelled | LayerRef, ...]
    span: Span = _span()


Expr = (
    Constant
    | Name
    | Infer
    | TupleExpr
    | ListExpr
    | ListComp
    | Index
    | BinOp
    | UnaryOp
    | IfExp
    | Call
    | Pipe
)

# ---------------------------------------------------------------- statements


@node
class BoundedDim:
    """`H in 32..1024 step 16` in a model input's shape: a symbolic size and the values it may
    take (low to high inclusive, every `step`-th; no step: every value)."""

    name: Name
    low: Expr
    high: Expr
    step: Expr | None
    span: Span = _span()


@node
class Shape:
    """`[N, 3, 224, 224]`: a stated shape (an input's, or an assertion on an assignment)."""

    dims: tuple[Expr | BoundedDim, ...]
    span: Span = _span()


@node
class Input:
    """`input x: [N, 1, 28, 28]` (the shape is optional inside blocks)."""

    name: Name
    shape: Shape | None
    span: Span = _span()


@node
class Assign:
    """`h = x -> conv1`, or `h: [N, 32, 14, 14] = ...` with a checked shape."""

    target: Name
    shape: Shape | None
    value: Expr
    span: Span = _span()


@node
class Declare:
    """`relu: ReLU(inplace=True)`: a layer defined for later `-> relu` applications."""

    name: Name
    call: Call
    span: Span = _span()


@node
class Return:
    """`return h` or `return a, b`."""

    values: tuple[Expr, ...]
    span: Span = _span()


@node
class If:
    """`if test { ... } else { ... }` (`else if` nests an If in orelse)."""

    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span = _span()


@node
class For:
    """`for i in range(4) { ... }`."""

    var: Name
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span = _span()


Stmt = Input | Assign | Declare | Return | If | For

# ---------------------------------------------------------------- top level


@node
class Param:
    """`planes` or `stride=1` in a model's or block's parameter list."""

    name: Name
    default: Expr | None
    span: Span = _span()


@node
class Definition:
    """`model Name(params) { ... }` or `block Name(params) { ... }`."""

    kind: str  # "model" or "block"
    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span = _span()
    # Every plain layer name written in the body (automatic names avoid them), collected by the
    # builder while parsing.
    labels: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@node
class Import:
    """`from "blocks.arch" import Bottleneck, BasicBlock`."""

    path: Constant
    names: tuple[Name, ...]
    span: Span = _span()


@node
class Module:
    """A whole file: its imports and definitions, in file order."""

    imports: tuple[Import, ...]
    definitions: tuple[Definition, ...]
    span: Span = _span()
