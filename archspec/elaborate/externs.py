"""Modules archspec does not know: `extern` declarations turned into ops.

An extern names a Python class or factory (`"mypkg.layers:SqueezeExcite"`), its constructor
arguments and its shape contract:

    extern SqueezeExcite(channels, reduction=4) = "mypkg.layers:SqueezeExcite"
        (x: [N, channels, H, W]) -> [N, channels, H, W], params = 2 * channels * channels // 4

The checker never imports it: it trusts the contract. Each declaration becomes an `OpSpec` of its
own (not registered: a spec's names are the spec's), so the elaborator binds its arguments, shape
inference runs its rule, codegen writes it and summary counts it as any layer. The contract binds
per application as a block's `input x: [N, C, H, W]` does: a name that is no constructor argument
is matched against the input's size there (equal names must agree), any other size is arithmetic
on arguments and matched names, compared with the input; `/` divides exactly (a remainder is an
error), `//` floors. Declared counts (`params = ...`, `macs = ...` per sample, as every op's) are
evaluated likewise; undeclared ones are unknown, and summary says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archspec.core import diagnostic as diag
from archspec.core.dims import Dim, Sym, exact_quotient, format_shape
from archspec.core.dtypes import FLOAT32, is_floating
from archspec.core.records import record
from archspec.core.source import Span
from archspec.ops.base import REQUIRED, OpSpec, Param, RuleContext
from archspec.syntax import ast

COUNTS = ("params", "macs")  # the counts an extern may declare


@record(frozen=True)
class ExternInfo:
    """What generated code and `archspec verify` need of an extern: where it lives in Python and
    where it is declared."""

    name: str  # as the spec names it
    target: str  # "mypkg.layers:SqueezeExcite"
    module: str  # "mypkg.layers"
    attribute: str  # "SqueezeExcite" (may be dotted: "Outer.Inner")
    span: Span  # the declaration's name
    target_span: Span
    declared_params: bool
    declared_macs: bool
    outputs: tuple[Span, ...]  # each output shape of the contract
    contract: str  # `SqueezeExcite(x: [N, channels, H, W]) -> [N, channels, H, W]`


class ContractError(Exception):
    """A contract size that cannot be computed (a division with a remainder)."""


def split_target(target: ast.Constant) -> tuple[str, str]:
    """("mypkg.layers", "SqueezeExcite") of "mypkg.layers:SqueezeExcite"; ArchError (E105) for a
    target that is not `module:attribute` with Python names."""
    text = target.value
    module, colon, attribute = text.partition(":")
    parts = [*module.split("."), *attribute.split(".")]
    if not colon or not all(part.isidentifier() for part in parts):
        raise diag.ArchError(
            diag.make(
                "E105",
                f"an extern's target is 'module:attribute', got {text!r}",
                target.span,
                "not a Python path",
                help="write the module and the class or function, e.g. "
                '"mypkg.layers:SqueezeExcite"',
            )
        )
    return module, attribute


def contract_text(extern: ast.Extern) -> str:
    """`SqueezeExcite(x: [N, channels, H, W]) -> [N, channels, H, W]` as declared."""
    inputs = ", ".join(f"{stmt.name.id}: {stmt.shape.span.text}" for stmt in extern.inputs)
    outputs = ", ".join(shape.span.text for shape in extern.outputs)
    if extern.several:
        outputs = f"({outputs})"
    return f"{extern.name.id}({inputs}) -> {outputs}"


def matched_names(extern: ast.Extern) -> set[str]:
    """The names the inputs' sizes bind: plain names that are no constructor argument."""
    arguments = {param.name.id for param in extern.params}
    return {
        dim.id
        for stmt in extern.inputs
        for dim in stmt.shape.dims
        if isinstance(dim, ast.Name) and dim.id not in arguments
    }


def check_declaration(extern: ast.Extern) -> None:
    """What an extern's declaration must be, whatever its arguments: raises ArchError."""
    split_target(extern.target)
    if not extern.inputs:
        raise diag.ArchError(
            diag.make(
                "E109",
                f"extern {extern.name.id} takes no input",
                extern.name.span,
                "no input",
                help="declare the tensors its forward takes, e.g. `(x: [N, C, H, W])`",
            )
        )
    seen: set[str] = set()
    for stmt in extern.inputs:
        if stmt.name.id in seen:
            raise diag.ArchError(
                diag.make(
                    "E103", f"input '{stmt.name.id}' is declared twice", stmt.name.span, "again"
                )  # fmt: skip
            )
        seen.add(stmt.name.id)
    known = {param.name.id for param in extern.params} | matched_names(extern)
    shapes = [stmt.shape for stmt in extern.inputs] + list(extern.outputs)
    for shape in shapes:
        for dim in shape.dims:
            _check_size(dim, known, output=any(shape is out for out in extern.outputs))
    for count in extern.counts:
        if count.keyword not in COUNTS:
            raise diag.ArchError(
                diag.make(
                    "E104",
                    f"an extern declares params= and macs=, not '{count.keyword}'",
                    count.span,
                    "unknown count",
                )
            )
        _check_size(count.value, known, output=True)
    names = [count.keyword for count in extern.counts]
    for keyword in COUNTS:
        if names.count(keyword) > 1:
            again = [c for c in extern.counts if c.keyword == keyword][1]
            raise diag.ArchError(
                diag.make("E103", f"'{keyword}' is declared twice", again.span, "again")
            )


_OPERATORS = ("+", "-", "*", "/", "//", "%", "**")


def _check_size(expr: ast.Expr, known: set[str], output: bool) -> None:
    """A contract size: numbers, names, `?` (inputs only) and arithmetic."""
    stack = [expr]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Constant) and type(item.value) is int:
            continue
        if isinstance(item, ast.Infer) and not output and item is expr:
            continue
        if isinstance(item, ast.Name):
            if item.id not in known:
                raise diag.ArchError(
                    diag.make(
                        "E102",
                        f"'{item.id}' is neither a constructor argument nor a size of an input",
                        item.span,
                        "undefined",
                        help=f"add '{item.id}' to the extern's arguments, or name that size in "
                        "an input's shape",
                    )
                )
            continue
        if isinstance(item, ast.BinOp) and item.op in _OPERATORS:
            stack.extend((item.left, item.right))
            continue
        if isinstance(item, ast.UnaryOp) and item.op in ("-", "+"):
            stack.append(item.operand)
            continue
        raise diag.ArchError(
            diag.make(
                "E108",
                "a contract size is a whole number, a name or arithmetic on them"
                + ("" if output else ", or ?"),
                item.span,
                "not a size",
                help="write sizes with + - * / // % ** on numbers, constructor arguments and "
                "the inputs' sizes",
            )
        )


def size_value(expr: ast.Expr, env: dict[str, Any]) -> Any:
    """A contract size's value: `/` divides exactly (ContractError otherwise), `//` floors."""
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.Name):
        return env[expr.id]
    if isinstance(expr, ast.UnaryOp):
        value = size_value(expr.operand, env)
        return -value if expr.op == "-" else value
    left, right = size_value(expr.left, env), size_value(expr.right, env)
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    if expr.op == "//":
        return left // right
    if expr.op == "%":
        return left % right
    if expr.op == "**":
        return left**right
    quotient = exact_quotient(left, right) if right != 0 else None
    if quotient is None:
        raise ContractError(
            f"{expr.span.text} = {left} / {right} is not a whole number (`/` divides exactly; "
            "write `//` to round down)"
        )
    return quotient


def make_op(extern: ast.Extern, defaults: dict[str, Any], source: str) -> OpSpec:
    """The op of an extern declaration, its parameters' defaults evaluated (`defaults`; a
    parameter without one is required). `source`: the declaring file, for messages."""
    module, attribute = split_target(extern.target)
    declared = {count.keyword: count.value for count in extern.counts}
    info = ExternInfo(
        extern.name.id,
        extern.target.value,
        module,
        attribute,
        extern.name.span,
        extern.target.span,
        "params" in declared,
        "macs" in declared,
        tuple(shape.span for shape in extern.outputs),
        contract_text(extern),
    )
    contract = info.contract
    where = f"{extern.name.span.source.path}:{extern.name.span.line}"
    note = f"{extern.name.id}'s contract (declared at {where}): {contract}"
    params = tuple(Param(p.name.id, defaults.get(p.name.id, REQUIRED)) for p in extern.params)

    def rule(ctx: RuleContext):
        env = _bind(extern, ctx, note)
        shapes = [_output(extern, shape, env, ctx, note) for shape in extern.outputs]
        return tuple(shapes) if extern.several else shapes[0]

    def dtype(ctx: RuleContext):
        return _dtypes(extern, ctx, note)

    def count_params(args: dict[str, Any]) -> int:
        if "params" not in declared:
            return 0
        return _count(declared["params"], dict(args))

    count_macs: Callable | None = None
    if "macs" in declared:

        def count_macs(args: dict[str, Any], inputs, shape) -> Dim:
            env = dict(args)
            for stmt, actual in zip(extern.inputs, inputs):
                for dim, size in zip(stmt.shape.dims, actual):
                    if isinstance(dim, ast.Name) and dim.id not in args:
                        env.setdefault(dim.id, size)
            return _count(declared["macs"], env)

    return OpSpec(
        name=extern.name.id,
        torch=attribute,
        params=params,
        rule=rule,
        count_params=count_params,
        count_macs=count_macs,
        inputs=len(extern.inputs),
        summary=f"extern {extern.target.value} ({source})",
        outputs=(lambda args: len(extern.outputs)) if extern.several else None,
        dtype=dtype,
        extern=info,
    )


def _count(expr: ast.Expr, env: dict[str, Any]) -> Any:
    try:
        value = size_value(expr, env)
    except ContractError:
        return 0
    return value if isinstance(value, (int, Sym)) else 0


def _bind(extern: ast.Extern, ctx: RuleContext, note: str) -> dict[str, Any]:
    """The contract's names at this application: constructor arguments, then each input's
    matched sizes, checked to agree; then every other input size compared with the input."""
    env = dict(ctx.args)
    where: dict[str, str] = {}
    for index, (stmt, actual) in enumerate(zip(extern.inputs, ctx.inputs)):
        dims = stmt.shape.dims
        if len(actual) != len(dims):
            ctx.fail(
                "E206",
                f"{extern.name.id} takes {stmt.name.id}: {stmt.shape.span.text} ({len(dims)}-d), "
                f"got {len(actual)}-d {format_shape(actual)}",
                input=index,
                notes=(note,),
            )
        for position, (dim, size) in enumerate(zip(dims, actual)):
            if not isinstance(dim, ast.Name) or dim.id in ctx.args:
                continue
            if dim.id not in env:
                env[dim.id] = size
                where[dim.id] = f"{size} in {stmt.name.id} (dim {position})"
            elif env[dim.id] != size:
                ctx.fail(
                    "E207",
                    f"{extern.name.id}'s contract names {dim.id} twice, but the sizes differ: "
                    f"{where[dim.id]}, {size} in {stmt.name.id} (dim {position})",
                    input=index,
                    help=f"pass tensors whose sizes named {dim.id} agree",
                    notes=(note,),
                )
    for index, (stmt, actual) in enumerate(zip(extern.inputs, ctx.inputs)):
        for position, (dim, size) in enumerate(zip(stmt.shape.dims, actual)):
            if isinstance(dim, ast.Infer) or (isinstance(dim, ast.Name) and dim.id not in ctx.args):
                continue
            try:
                expected = size_value(dim, env)
            except ContractError as error:
                ctx.fail("E207", f"{extern.name.id}'s contract: {error}", input=index,
                         notes=(note,))  # fmt: skip
            if expected != size:
                arithmetic = _arithmetic(dim, expected)
                ctx.fail(
                    "E207",
                    f"{extern.name.id} takes {stmt.name.id}: {stmt.shape.span.text}, but "
                    f"receives {format_shape(actual)}: dim {position} is {size}, not "
                    f"{arithmetic}",
                    input=index,
                    help=f"pass a tensor whose dim {position} is {expected}, or change "
                    f"{extern.name.id}'s arguments",
                    notes=(note,),
                )
    return env


def _arithmetic(dim: ast.Expr, value: Any) -> str:
    text = dim.span.text
    return str(value) if text == str(value) else f"{text} = {value}"


def _output(extern, shape: ast.Shape, env, ctx: RuleContext, note: str) -> tuple:
    sizes = []
    for dim in shape.dims:
        try:
            size = size_value(dim, env)
        except ContractError as error:
            ctx.fail("E207", f"{extern.name.id}'s contract: {error}", input=0, notes=(note,))
        if not isinstance(size, Sym) and not (type(size) is int and size > 0):
            ctx.fail(
                "E203",
                f"{extern.name.id}'s contract gives the size {dim.span.text} = {size} here",
                input=0,
                help="sizes are positive: check the input and the extern's arguments",
                notes=(note,),
            )
        sizes.append(size)
    return tuple(sizes)


def _dtypes(extern: ast.Extern, ctx: RuleContext, note: str):
    """Each input's dtype against the contract's (unstated: any floating dtype); the outputs'
    (unstated: float32), one per output for an extern of several."""
    for index, (stmt, actual) in enumerate(zip(extern.inputs, ctx.dtypes)):
        stated = stmt.shape.dtype.id if stmt.shape.dtype is not None else None
        if stated is not None and actual != stated:
            ctx.fail(
                "E108",
                f"{extern.name.id} takes {stmt.name.id} as {stated}, got {actual}",
                input=index,
                help=f"convert it first: `-> to({stated})`",
                notes=(note,),
            )
        if stated is None and not is_floating(actual):
            ctx.fail(
                "E108",
                f"{extern.name.id} takes {stmt.name.id} as a floating tensor, got {actual}",
                input=index,
                help=f"convert it first (`-> float()`), or state its dtype in the contract "
                f"(`{stmt.name.id}: {stmt.shape.span.text} {actual}`)",
                notes=(note,),
            )
    dtypes = tuple(s.dtype.id if s.dtype is not None else FLOAT32 for s in extern.outputs)
    return dtypes if extern.several else dtypes[0]
