"""The spec's abstract syntax tree: frozen dataclasses, each with a span (ignored by equality)."""

from __future__ import annotations

from dataclasses import dataclass, field

from archspec.source import Span


def _span() -> Span:
    return field(compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Constant:
    """An int, float or string literal."""

    value: int | float | str
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Infer:
    """`?`: an argument archspec fills in from the incoming shape, or a wildcard dim in a shape."""

    span: Span = _span()


@dataclass(frozen=True)
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ListComp:
    element: Expr
    var: Name
    iterable: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    value: Expr
    index: Expr
    span: Span = _span()


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class UnaryOp:
    op: str  # - + not
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class IfExp:
    body: Expr
    test: Expr
    orelse: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Label:
    """A layer's attribute name: a plain name, or a template string such as "denselayer{i + 1}"."""

    text: str
    parts: tuple[str | Expr, ...]  # literal text and placeholder expressions
    span: Span = _span()


@dataclass(frozen=True)
class Argument:
    value: Expr
    span: Span = _span()
    keyword: str | None = None  # kw=value
    label: Label | None = None  # name: Layer(...) child of a container
    splat: bool = False  # *[...]


@dataclass(frozen=True)
class Call:
    func: Name
    args: tuple[Argument, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Labelled:
    """`name: Layer(...)` in a pipeline: defines the layer under that name and applies it."""

    label: Label
    call: Call
    span: Span = _span()


@dataclass(frozen=True)
class LayerRef:
    """`-> name`: applies a layer defined earlier under that name."""

    name: Name
    span: Span = _span()


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class BoundedDim:
    """`H in 32..1024 step 16` in a model input's shape: a symbolic size and the values it may
    take (low to high inclusive, every `step`-th; no step: every value)."""

    name: Name
    low: Expr
    high: Expr
    step: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class Shape:
    dims: tuple[Expr | BoundedDim, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Input:
    name: Name
    shape: Shape | None
    span: Span = _span()


@dataclass(frozen=True)
class Assign:
    target: Name
    shape: Shape | None
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Declare:
    """`relu: ReLU(inplace=True)`: a layer defined for later `-> relu` applications."""

    name: Name
    call: Call
    span: Span = _span()


@dataclass(frozen=True)
class Return:
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class If:
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class For:
    var: Name
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span = _span()


Stmt = Input | Assign | Declare | Return | If | For

# ---------------------------------------------------------------- top level


@dataclass(frozen=True)
class Param:
    name: Name
    default: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class Definition:
    kind: str  # "model" or "block"
    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Import:
    path: Constant
    names: tuple[Name, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Module:
    imports: tuple[Import, ...]
    definitions: tuple[Definition, ...]
    span: Span = _span()
