"""The expression evaluator: arithmetic on ints, floats and symbolic sizes, tuples and lists,
comprehensions, conditions, indexing and the built-in functions (`range`, `len`, `min`, ...).

It knows nothing of graphs. What an expression does to the model — calling a layer, a function or a
block, applying a pipeline stage, adding two tensors — it hands to its `Host` (the Elaborator), and
every step it takes counts against the model's `StepBudget`. Errors are diag.ArchError at the
expression's span; an operand that is POISON makes the result POISON, silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from archspec.core import diagnostic as diag
from archspec.core.dims import Floor, Sym
from archspec.core.names import closest
from archspec.core.records import record
from archspec.core.source import Span
from archspec.elaborate.externs import split_target
from archspec.elaborate.run_sizes import (
    combine,
    contains_run_size,
    first_run_size,
    is_run_size,
)
from archspec.elaborate.scopes import CONSTANTS, Frame
from archspec.elaborate.values import (
    MISSING,
    POISON,
    ModuleRef,
    NoneOutput,
    Outputs,
    PyObject,
    Recipe,
    Tensor,
    is_int,
    is_number,
    kind_of,
)
from archspec.ops import INFER, REGISTRY
from archspec.ops.subscripts import ELLIPSIS, SliceItem
from archspec.syntax import ast

# The work one model may take, in steps (see StepBudget): a runaway loop, list or block nesting is
# an error within seconds (some 1 µs a step), not a hang. The largest shipped spec (DenseNet-121)
# takes about 4,000 steps, a chain of 100,000 layers (the benchmark's largest) about 800,000.
MAX_STEPS = 2_000_000
MAX_INT_BITS = 256  # larger numbers are refused (a 10**10**10 must not hang the checker)
# Terms, atoms (those inside a floor's division too) and 64-bit words of coefficients and divisors
# of a symbolic size computed in a spec: `s = s * s + s` in a loop doubles it each time.
MAX_SYMBOLIC_SIZE = 200
# The containers of layers, and the kind of module each builds: a Sequential is applied as a
# whole, a ModuleList and a ModuleDict only child by child (`x -> convs[0]`, `x -> heads["a"]`).
CONTAINERS = {"Sequential": "sequential", "ModuleList": "list", "ModuleDict": "dict"}


def error(code: str, message: str, span: Span, label: str = "", **kw) -> diag.ArchError:
    return diag.ArchError(diag.make(code, message, span, label, **kw))


class StepBudget:
    """The work one model may take: MAX_STEPS steps, shared by the evaluator and the Elaborator.
    A step is an expression evaluated, a loop iteration or comprehension item, a module applied,
    an item of a list that `+` or `*` builds, a pair of items that `==` compares, an item a
    built-in reads, an item of a layer's or block's argument checked, a unit of symbolic
    arithmetic: every piece of work that a spec can make repeat, so that any spec ends soon.

    The first overrun, or any other limit the Elaborator hits (`stop`), is one diagnostic, raised
    again at every later step."""

    def __init__(self) -> None:
        self.steps = 0
        self.limit = MAX_STEPS  # read here, so that tests can lower it
        self.exceeded: diag.Diagnostic | None = None

    def step(self, span: Span, count: int = 1) -> None:
        """`count` steps of work at `span`, counted before the work is done."""
        self.steps += count
        if self.steps > self.limit:
            self.stop(span)

    def stop(self, span: Span, diagnostic: diag.Diagnostic | None = None) -> NoReturn:
        """End the expansion: raise the first stop's diagnostic (by default, the overrun at
        `span`), now and at every later step."""
        if self.exceeded is None:
            self.exceeded = diagnostic or diag.make(
                "E110",
                f"the model expands to more than {self.limit:,} steps",
                span,
                "while expanding this",
                help="check loop bounds, block repetitions and the sizes of lists",
            )
            self.steps = self.limit  # so that the next step stops too
        raise diag.ArchError(self.exceeded)


@record
class Arguments:
    """A call's arguments, evaluated: what binding a signature or building a layer needs."""

    positional: list[Any]
    keywords: dict[str, Any]
    spans: dict[str, Span]  # keyword -> its value's span, "=keyword" -> the argument's, "#i"
    children: list[tuple[ast.Label | None, Any, Span]]  # a Sequential's (label, value, span)


class Host(Protocol):
    """What the evaluator asks of the one who builds the graph (the Elaborator)."""

    def call(self, frame: Frame, call: ast.Call, arguments: Arguments) -> Any:
        """A call of anything but a built-in function: a layer, Sequential, block or op."""

    def apply_stage(self, frame: Frame, value: Any, stage: ast.Expr) -> Any:
        """`value -> stage`."""

    def tensor_binop(self, frame: Frame, expr: ast.BinOp, left: Any, right: Any) -> Any:
        """`left op right` where one side is a tensor."""

    def tensor_negation(self, frame: Frame, expr: ast.UnaryOp, value: Any) -> Any:
        """`-x` of a tensor."""

    def read(self, tensor: Tensor) -> None:
        """A name was read that holds this tensor."""

    def tensor_index(self, frame: Frame, expr: ast.Expr, value: Tensor, items: list) -> Any:
        """`x[...]` of a tensor; `items` are ints, None, SliceItems and ELLIPSIS."""

    def module_items(self, frame: Frame, name: ast.Name) -> list:
        """What a loop over the layer `name` runs over: a ModuleList's layers, a ModuleDict's
        keys."""


class Evaluator:
    def __init__(self, host: Host, budget: StepBudget):
        self.host = host
        self.budget = budget

    def eval(self, frame: Frame, expr) -> Any:
        budget = self.budget  # StepBudget.step, inlined: this runs for every expression
        budget.steps += 1
        if budget.steps > budget.limit:
            budget.stop(expr.span)
        kind = type(expr)
        if kind is ast.Constant:  # most arguments
            return expr.value
        return _EVALUATORS[kind](self, frame, expr)

    def call(self, frame: Frame, call: ast.Call, piped: Any = MISSING) -> Any:
        """A call, with `piped` (the value flowing in through `->`) as its first argument."""
        arguments = self.arguments(frame, call, piped)
        name = call.func.id
        op = REGISTRY.get(name)
        # `abs` is both a builtin of numbers and torch.abs: a tensor operand picks the op.
        if name in BUILTINS and (
            op is None
            or op.kind != "function"
            or (piped is MISSING and not any(isinstance(v, Tensor) for v in arguments.positional))
        ):
            if piped is not MISSING:
                raise error(
                    "E108",
                    f"{name}() cannot take a tensor through `->`",
                    call.span,
                    "not a tensor function",
                )
            return call_builtin(name, call, arguments, self.budget)
        return self.host.call(frame, call, arguments)

    def arguments(self, frame: Frame, call: ast.Call, piped: Any = MISSING) -> Arguments:
        positional: list[Any] = [] if piped is MISSING else [piped]
        spans: dict[str, Span] = {}
        keywords: dict[str, Any] = {}
        children: list[tuple[ast.Label | None, Any, Span]] = []
        position_spans: list[Span] = [call.span] if piped is not MISSING else []
        for argument in call.args:
            if argument.keyword is not None:
                if argument.keyword in keywords:
                    raise error(
                        "E104",
                        f"argument '{argument.keyword}' is given twice",
                        argument.span,
                        "repeated",
                    )
                keywords[argument.keyword] = self.eval(frame, argument.value)
                spans[argument.keyword] = argument.value.span
                spans["=" + argument.keyword] = argument.span
            elif argument.label is not None:
                value = self.eval(frame, argument.value)
                children.append((argument.label, value, argument.span))
                positional.append(value)
                position_spans.append(argument.span)
            elif type(argument.value) is ast.DictExpr and call.func.id == "ModuleDict":
                for label, value, span in self._module_dict_items(frame, argument.value):
                    children.append((label, value, span))
                    positional.append(value)
                    position_spans.append(span)
            elif argument.splat:
                value = self.eval(frame, argument.value)
                if value is POISON:
                    positional.append(POISON)
                    position_spans.append(argument.span)
                    continue
                if not isinstance(value, (list, tuple)):
                    raise error(
                        "E108",
                        f"only a list can be spread with *, got {kind_of(value)}",
                        argument.span,
                        "not a list",
                    )
                self.budget.step(argument.span, len(value))
                positional.extend(value)
                position_spans.extend([argument.span] * len(value))
                children.extend((None, item, argument.span) for item in value)
            else:
                value = self.eval(frame, argument.value)
                positional.append(value)
                position_spans.append(argument.span)
                children.append((None, value, argument.span))
        for index, span in enumerate(position_spans):
            spans[f"#{index}"] = span
        if not any(label is not None for label, _, _ in children):
            children = [] if call.func.id not in CONTAINERS else children
        return Arguments(positional, keywords, spans, children)

    def _module_dict_items(self, frame: Frame, expr: ast.DictExpr) -> list:
        """`ModuleDict({"stem": Conv2d(...), ...})`, torch's form: each key names its layer, as
        the label of `ModuleDict(stem: Conv2d(...))` does."""
        items = []
        for key_expr, value_expr in zip(expr.keys, expr.values):
            key = self.eval(frame, key_expr)
            if key is not POISON and not isinstance(key, str):
                raise error(
                    "E108",
                    f"a ModuleDict's keys are strings, got {kind_of(key)}",
                    key_expr.span,
                    "not a string",
                    help='torch names each layer by its key: `ModuleDict({"stem": ...})`',
                )
            value = self.eval(frame, value_expr) if key is not POISON else POISON
            label = ast.Label(key, (key,), key_expr.span) if key is not POISON else None
            items.append((label, value, key_expr.span.to(value_expr.span)))
        return items

    def iterable(self, frame: Frame, expr) -> Any:
        """What a `for` loop or a comprehension runs over: a value, or the layers of a ModuleList
        (`for conv in convs`) or keys of a ModuleDict (`for name in heads`), as Python iterates
        `self.convs` and `self.heads`."""
        if type(expr) is ast.Name and expr.id not in frame.values and expr.id in frame.layers:
            return self.host.module_items(frame, expr)
        return self.eval(frame, expr)

    # ---------------------------------------------------------------- one method per node type
    def _eval_Constant(self, frame: Frame, expr: ast.Constant) -> Any:
        return expr.value

    def _eval_Infer(self, frame: Frame, expr: ast.Infer) -> Any:
        return INFER

    def _eval_BoundedDim(self, frame: Frame, expr: ast.BoundedDim) -> Any:
        raise error(
            "E108",
            f"bounds such as `{expr.name.id} in ...` belong in a model's `input` shape",
            expr.span,
            "bounds here",
            help=f"declare the range where the model's input is declared, and write just "
            f"`{expr.name.id}` here",
        )

    def _eval_Name(self, frame: Frame, expr: ast.Name) -> Any:
        if expr.id in frame.values:
            value = frame.values[expr.id]
            if isinstance(value, Tensor):
                self.host.read(value)
            elif isinstance(value, NoneOutput):  # `w` of `y, w = attn(..., need_weights=False)`
                raise error(
                    "E108",
                    value.why,
                    expr.span,
                    "None here",
                    secondary=[(value.span, "returns None as this output")],
                    help=value.help,
                )
            return value
        if expr.id in CONSTANTS:
            return CONSTANTS[expr.id]
        if expr.id == TRAINING:
            raise _training_is_not_a_value(expr.span)
        if expr.id in frame.layers:
            raise error(
                "E108",
                f"'{expr.id}' is a layer, not a value",
                expr.span,
                "a layer",
                help=f"apply it to a value: `x -> {expr.id}`",
            )
        suggestion = closest(expr.id, list(frame.values) + list(CONSTANTS))
        raise error(
            "E102",
            f"'{expr.id}' is not defined",
            expr.span,
            "undefined",
            help=f"did you mean '{suggestion}'?" if suggestion else None,
        )

    def _eval_TupleExpr(self, frame: Frame, expr: ast.TupleExpr) -> Any:
        return tuple([self.eval(frame, item) for item in expr.items])  # no generator: no C frame

    def _eval_ListExpr(self, frame: Frame, expr: ast.ListExpr) -> Any:
        return [self.eval(frame, item) for item in expr.items]

    def _eval_ListComp(self, frame: Frame, expr: ast.ListComp) -> Any:
        iterable = self.iterable(frame, expr.iterable)
        if iterable is POISON:
            return POISON
        require_iterable(iterable, expr.iterable.span)
        saved = frame.values.get(expr.var.id, MISSING)
        result = []
        try:
            for item in iterable:
                self.budget.step(expr.span)
                frame.values[expr.var.id] = item
                result.append(self.eval(frame, expr.element))
        finally:
            if saved is MISSING:
                frame.values.pop(expr.var.id, None)
            else:
                frame.values[expr.var.id] = saved
        return result

    def _eval_DictExpr(self, frame: Frame, expr: ast.DictExpr) -> Any:
        # The elaborator reads a returned dict itself (Elaborator._run_return); anywhere else a
        # dict would have to become a Python value that no layer or function takes.
        raise error(
            "E108",
            "a dict can only be returned by a model",
            expr.span,
            "not returned",
            help='name the model\'s outputs in its return: `return {"out": x}`',
        )

    def _eval_Index(self, frame: Frame, expr: ast.Index) -> Any:
        value = self.eval(frame, expr.value)
        index = self.eval(frame, expr.index)
        if value is POISON or index is POISON:
            return POISON
        if isinstance(value, Tensor):  # x[0], x[None]: torch's indexing (see _eval_Subscript)
            item = _tensor_index_item(index, expr.index.span)
            return self.host.tensor_index(frame, expr, value, [item])
        if not isinstance(value, (list, tuple)):
            raise error("E108", f"cannot index {kind_of(value)}", expr.value.span, "not a list")
        if not is_int(index):
            raise error(
                "E108",
                f"an index must be an integer, got {kind_of(index)}",
                expr.index.span,
                "not an integer",
            )
        if not -len(value) <= index < len(value):
            raise error(
                "E105",
                f"index {index} is out of range for {len(value)} items",
                expr.index.span,
                "out of range",
            )
        return value[index]

    def _eval_Subscript(self, frame: Frame, expr: ast.Subscript) -> Any:
        """`x[:, 0]`, `x[..., :C]`: a getitem node of a tensor; `xs[1:]` of a list or tuple."""
        value = self.eval(frame, expr.value)
        items = [self._subscript_item(frame, item) for item in expr.items]
        if value is POISON or any(item is POISON for item in items):
            return POISON
        if isinstance(value, Tensor):
            return self.host.tensor_index(frame, expr, value, items)
        plain_slice = len(items) == 1 and type(items[0]) is SliceItem
        if plain_slice and not all(b is None or is_int(b) for b in (items[0].start, items[0].stop)):
            plain_slice = False  # a list's slice takes numbers
        if isinstance(value, (list, tuple)) and plain_slice:
            item = items[0]
            if item.step is not None and item.step <= 0:
                raise error(
                    "E105",
                    f"slice {item.source()} has step {item.step}",
                    expr.items[0].span,
                    "not positive",
                    help="slice lists with a positive step",
                )
            self.budget.step(expr.span, len(value))
            return value[item.start : item.stop : item.step]
        raise error(
            "E108",
            f"cannot index {kind_of(value)} with slices, `...` or several indices",
            expr.span,
            "slices, `...` and several indices take a tensor",
            help="a list takes one integer or one slice (`xs[1:]`)",
        )

    def _subscript_item(self, frame: Frame, item) -> Any:
        if type(item) is ast.EllipsisExpr:
            return ELLIPSIS
        if type(item) is not ast.Slice:
            value = self.eval(frame, item)
            return value if value is POISON else _tensor_index_item(value, item.span)
        bounds = []
        for position, bound in enumerate((item.lower, item.upper, item.step)):
            value = None if bound is None else self.eval(frame, bound)
            if value is POISON:
                return POISON
            # start and stop may be sizes (`x[:, :H]`: H of the input, or read off it when the
            # module runs); the step is a number.
            size = position < 2 and (isinstance(value, Sym) or is_run_size(value))
            if value is not None and not is_int(value) and not size:
                raise error(
                    "E108",
                    f"a slice {'step' if position == 2 else 'bound'} must be an integer, got "
                    f"{kind_of(value)}",
                    bound.span,
                    "not an integer",
                    help="slices take numbers or sizes, e.g. `x[:, :C]` with C a block argument "
                    "or `y[:, :H]` with H a size of the block's input",
                )
            bounds.append(value)
        return SliceItem(*bounds)

    def _eval_UnaryOp(self, frame: Frame, expr: ast.UnaryOp) -> Any:
        value = self.eval(frame, expr.operand)
        if value is POISON:
            return POISON
        if expr.op == "not":
            require_plain(value, expr.operand.span, "`not`")
            return not value
        if isinstance(value, Tensor):  # `-x` is torch.neg; `+x` is x itself
            return self.host.tensor_negation(frame, expr, value) if expr.op == "-" else value
        if is_run_size(value):
            return combine("neg", value) if expr.op == "-" else value
        if not is_number(value) and not isinstance(value, Sym):
            raise error(
                "E108",
                f"cannot apply unary {expr.op} to {kind_of(value)}",
                expr.operand.span,
                "not a number",
            )
        return -value if expr.op == "-" else value

    def _eval_IfExp(self, frame: Frame, expr: ast.IfExp) -> Any:
        test = self.eval(frame, expr.test)
        if test is POISON:
            return POISON
        if is_run_size(test):  # `3 if 7 < H else 0`: decided when the module runs
            return self._run_size_choice(frame, expr, test)
        require_plain(test, expr.test.span, "a condition")
        return self.eval(frame, expr.body if test else expr.orelse)

    def _run_size_choice(self, frame: Frame, expr: ast.IfExp, test: Any) -> Any:
        branches = [self.eval(frame, expr.body), self.eval(frame, expr.orelse)]
        if POISON in branches:
            return POISON
        for value, branch in zip(branches, (expr.body, expr.orelse)):
            if not (is_number(value) or isinstance(value, Sym) or is_run_size(value)):
                raise error(
                    "E108",
                    f"a choice made when the module runs (its condition reads an input's "
                    f"size) can only pick a number, got {kind_of(value)}",
                    branch.span,
                    "not a number",
                    help="the graph is fixed when the spec is compiled: compute both tensors "
                    "and choose numbers (a pad, a shift) by the condition instead",
                )
        return combine("if", test, *branches)

    def _eval_BinOp(self, frame: Frame, expr: ast.BinOp) -> Any:
        if expr.op in ("and", "or"):
            left = self.eval(frame, expr.left)
            if left is POISON:
                return POISON
            require_plain(left, expr.left.span, f"`{expr.op}`")
            if (expr.op == "and") != bool(left):
                return left
            right = self.eval(frame, expr.right)
            if right is not POISON:
                require_plain(right, expr.right.span, f"`{expr.op}`")
            return right
        left = self.eval(frame, expr.left)
        right = self.eval(frame, expr.right)
        if left is POISON or right is POISON:
            return POISON
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            return self.host.tensor_binop(frame, expr, left, right)
        if is_run_size(left) or is_run_size(right):
            return run_size_arithmetic(expr, left, right)
        return arithmetic(expr, left, right, self.budget)

    def _eval_Call(self, frame: Frame, expr: ast.Call) -> Any:
        return self.call(frame, expr)

    def _eval_ExternValue(self, frame: Frame, expr: ast.ExternValue) -> Any:
        """`extern "torch.nn:GELU"`, `extern "functools:partial"(...)`: a PyObject of plain values
        (it is made when the module is built, before any input is seen)."""
        module, attribute = split_target(expr.target)
        call = ast.Call(ast.Name("extern", expr.target.span), expr.args, expr.span)
        arguments = self.arguments(frame, call)
        given = [(f"#{i}", v) for i, v in enumerate(arguments.positional)]
        given += [(key, v) for key, v in arguments.keywords.items()]
        for key, value in given:
            problem = _not_plain(value)
            if problem is POISON:
                return POISON
            if problem is not None:
                what = "`?` (only archspec's own layers infer an argument)"
                raise error(
                    "E108",
                    f"an extern value takes plain values, got "
                    f"{what if problem is INFER else kind_of(problem)}",
                    arguments.spans.get(key, expr.span),
                    "not a plain value",
                    help="pass numbers, strings, tuples and other extern values: the object is "
                    "made when the module is built, before any input is seen",
                )
        return PyObject(
            expr.target.value,
            module,
            attribute,
            tuple(arguments.positional),
            tuple(arguments.keywords.items()),
            expr.called,
            expr.target.span,
        )

    def _eval_Pipe(self, frame: Frame, expr: ast.Pipe) -> Any:
        value = self.eval(frame, expr.value)
        for stage in expr.stages:
            value = self.host.apply_stage(frame, value, stage)
        return value


# Expression type -> the Evaluator method that evaluates it (_eval_Name for ast.Name, ...).
_EVALUATORS: dict[type, Callable[..., Any]] = {
    node_type: method
    for name, method in vars(Evaluator).items()
    if name.startswith("_eval_")
    and isinstance(node_type := getattr(ast, name.removeprefix("_eval_"), None), type)
}


def _not_plain(value: Any) -> Any:
    """The first part of `value` (below its lists and tuples) that is known only when the module
    runs, or is no value (a tensor, a layer, a symbolic size); POISON if one is POISON."""
    pending = [value]
    while pending:
        item = pending.pop()
        if item is POISON:
            return POISON
        if isinstance(item, (list, tuple)) and not isinstance(item, Outputs):
            pending.extend(item)
        elif isinstance(item, (Tensor, Recipe, ModuleRef, Outputs, Sym, NoneOutput)):
            return item
        elif item is INFER or is_run_size(item):
            return item
    return None


# ---------------------------------------------------------------- training vs eval

TRAINING = "training"  # the constant naming the module's mode: only `if training` reads it


def _training_is_not_a_value(span: Span) -> diag.ArchError:
    return error(
        "E108",
        "`training` is decided when the module runs, not when the spec is compiled",
        span,
        "not a value",
        help="branch on it with a statement: `if training { ... }` (or `if not training`)",
    )


def _tensor_index_item(value: Any, span: Span) -> Any:
    """One index of a tensor: an integer, None (a new dim of 1), or an integer tensor
    (`table[index]`, torch's advanced indexing; the Host decides where it may stand)."""
    if value is None or is_int(value) or isinstance(value, Tensor):
        return value
    raise error(
        "E108",
        f"a tensor index must be an integer, a slice, None or `...`, got {kind_of(value)}",
        span,
        "not an index",
        help="indices are numbers known when the spec is checked (`x[:, 0]`, `x[..., :C]`)",
    )


def require_plain(value: Any, span: Span, where: str) -> None:
    """A condition, `not`, `and` and `or` are decided when the spec is checked: never a tensor."""
    if isinstance(value, (Tensor, Recipe)):
        raise error(
            "E108",
            f"{where} needs a plain value, got {kind_of(value)}",
            span,
            "decided when the spec is compiled, not at run time",
        )
    if is_run_size(value):
        raise run_size_misuse(value, span, where)


def run_size_misuse(value: Any, span: Span, where: str) -> diag.ArchError:
    """A size read off a block's input, or a condition on the input's sizes, used where the spec
    must know it when it is compiled."""
    return error(
        "E108",
        f"{where} needs a value known when the spec is compiled, but `{value}` depends on the "
        f"input's sizes, known when the module runs",
        span,
        "known only at run time",
        help="pass the size to the block as an argument, or choose a number by it with a "
        "conditional expression (`3 if 7 < H else 0`) where a function takes it",
    )


def run_size_arithmetic(expr: ast.BinOp, left: Any, right: Any) -> Any:
    """Arithmetic and comparisons on a size read off a block's input, kept as an expression
    that shape inference resolves (archspec.elaborate.run_sizes)."""
    for value, side in ((left, expr.left), (right, expr.right)):
        if not (is_number(value) or isinstance(value, Sym) or is_run_size(value)):
            raise error(
                "E108",
                f"cannot compute {kind_of(left)} {expr.op} {kind_of(right)}",
                side.span,
                "not a number",
            )
    if expr.op not in RUN_SIZE_OPERATORS:
        raise error("E108", f"`{expr.op}` does not apply to sizes", expr.span, "unsupported")
    if expr.op in ("//", "%") and is_number(right) and right == 0:
        raise error("E105", "division by zero", expr.right.span, "is zero")
    return combine(expr.op, left, right)


def values_equal(left: Any, right: Any, budget: StepBudget, span: Span) -> bool:
    """`left == right` as Python decides it, read pair by pair without recursion (lists nest
    5,000 deep). Each pair of items compared is a step, and the same pair of lists is compared
    once: lists that share their parts (`l = [l, l]` forty times) compare in time linear in
    their distinct parts, not in the 2^40 items they stand for."""
    budget.step(span)
    pending = [(left, right)]
    compared: dict[tuple[int, int], tuple[Any, Any]] = {}  # holds the pairs, so ids stay unique
    while pending:
        a, b = pending.pop()
        if a is b:
            continue
        parts = _paired_parts(a, b)
        if parts is None:
            if not a == b:
                return False
            continue
        if parts is _UNEQUAL:
            return False
        key = (id(a), id(b))
        if key not in compared:
            compared[key] = (a, b)
            budget.step(span, len(parts))
            pending.extend(parts)
    return True


_UNEQUAL = object()  # two values that differ in kind or length


def _paired_parts(a: Any, b: Any) -> Any:
    """What `a == b` compares next: the pairs of their items (lists, tuples, layers), _UNEQUAL
    when they differ in kind or length, None for values compared directly."""
    containers = (list, tuple)
    if isinstance(a, containers) or isinstance(b, containers):
        if type(a) is not type(b) or len(a) != len(b):
            return _UNEQUAL
        return list(zip(a, b))
    if isinstance(a, Recipe) or isinstance(b, Recipe):
        return _recipe_parts(a, b)
    return None


def _recipe_parts(a: Any, b: Any) -> Any:
    """Two layers are equal as their records are: the same call, the same argument values."""
    if not (isinstance(a, Recipe) and isinstance(b, Recipe)):
        return _UNEQUAL
    same = (a.func, a.kind, a.span, a.definition) == (b.func, b.kind, b.span, b.definition)
    if not same or a.keywords.keys() != b.keywords.keys():
        return _UNEQUAL
    keywords = [(a.keywords[key], b.keywords[key]) for key in a.keywords]
    return [(a.positional, b.positional), (a.arg_spans, b.arg_spans), (a.children, b.children),
            *keywords]  # fmt: skip


def require_iterable(value: Any, span: Span, help: str | None = None) -> None:
    """A `for` loop or a comprehension runs over a range, a list or a tuple."""
    if not isinstance(value, (list, tuple, range)):
        raise error(
            "E108", f"cannot loop over {kind_of(value)}", span, "not a range or list", help=help
        )


def arithmetic(expr: ast.BinOp, left: Any, right: Any, budget: StepBudget | None = None) -> Any:
    """`left op right` on plain values and symbolic sizes, with the spec's limits; the work
    counts against `budget` (a fresh one if none is given)."""
    budget = budget if budget is not None else StepBudget()
    op = expr.op
    numeric = (is_number(left) or isinstance(left, Sym)) and (
        is_number(right) or isinstance(right, Sym)
    )
    if op in ("==", "!="):
        equal = values_equal(left, right, budget, expr.span)
        return equal if op == "==" else not equal
    if op == "+" and isinstance(left, (list, tuple)) and type(left) is type(right):
        budget.step(expr.span, len(left) + len(right))
        return left + right
    if op == "*" and isinstance(left, (list, tuple)) and is_int(right):
        if len(left) * max(right, 0) > MAX_STEPS:
            raise error("E110", "list repetition is too large", expr.span, "")
        budget.step(expr.span, len(left) * max(right, 0))
        return left * right
    if not numeric:
        raise error(
            "E108",
            f"cannot compute {kind_of(left)} {op} {kind_of(right)}",
            expr.span,
            "unsupported operands",
        )
    if isinstance(left, Sym) or isinstance(right, Sym):
        return _symbolic(expr, left, right, budget)
    try:
        if op == "**":
            if is_int(left) and is_int(right) and right > 0 and abs(left) > 1:
                if right * math.log2(abs(left)) > MAX_INT_BITS:
                    raise error("E110", "this number is too large", expr.span, "")
            result = left**right
        else:
            result = _OPERATORS[op](left, right)
    except ZeroDivisionError:
        raise error("E105", "division by zero", expr.right.span, "is zero") from None
    except OverflowError:
        raise error("E110", "this number is too large", expr.span, "") from None
    if is_int(result) and result.bit_length() > MAX_INT_BITS:
        raise error("E110", "this number is too large", expr.span, "")
    if isinstance(result, float) and not math.isfinite(result):  # 1e308 * 10
        raise error("E110", "this number is too large", expr.span, "")
    if isinstance(result, complex):
        raise error("E108", "the result is not a real number", expr.span, "")
    return result


def _symbolic(expr: ast.BinOp, left: Any, right: Any, budget: StepBudget) -> Any:
    op = expr.op
    sizes = (symbolic_size(left), symbolic_size(right))
    if op in ("+", "-", "*"):
        budget.step(expr.span, sizes[0] * sizes[1] if op == "*" else sizes[0] + sizes[1])
        return _bounded_symbolic(expr, _OPERATORS[op](left, right))
    if op in ("//", "%") and isinstance(left, Sym) and is_int(right) and right > 0:
        budget.step(expr.span, 2 * (sizes[0] + sizes[1]))
        result = left // right if op == "//" else left % right  # H // 16: exact floors
        return _bounded_symbolic(expr, result)
    if op in ("<", "<=", ">", ">="):  # `3 < H`: decided per input size, by shape inference
        return combine(op, left, right)
    raise error(
        "E108",
        f"`{op}` on a symbolic size is not supported (only + − × and // or % by a positive number)",
        expr.span,
        "",
    )


def _bounded_symbolic(expr: ast.BinOp, result: Any) -> Any:
    size = symbolic_size(result)
    if size > MAX_SYMBOLIC_SIZE:
        raise error(
            "E110",
            f"this symbolic size grows too large: {size} parts, more than {MAX_SYMBOLIC_SIZE}",
            expr.span,
            "too large",
            help="a size computed in a loop usually means a loop that runs too often; "
            "compute it from the input's sizes directly",
        )
    return result


def symbolic_size(value: Any) -> int:
    """The parts of a symbolic size (terms, atoms, those inside a floor's division too, and the
    64-bit words of its coefficients and divisors), read without recursion and only as far as
    MAX_SYMBOLIC_SIZE; a number or other value is 1."""
    size, pending = 0, [value]
    while pending and size <= MAX_SYMBOLIC_SIZE:
        item = pending.pop()
        size += 1
        if isinstance(item, Sym):
            for monomial, coefficient in item.terms:
                size += _words(coefficient)
                pending.extend(monomial)
        elif isinstance(item, Floor):
            size += _words(item.divisor)
            pending.append(item.inner)
    return size


def _words(number: Any) -> int:
    """64-bit words of an integer or fraction, beyond the first."""
    return (abs(number.numerator).bit_length() + number.denominator.bit_length()) // 64


RUN_SIZE_OPERATORS = frozenset(
    {"+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "==", "!="}
)

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def call_builtin(name: str, call: ast.Call, arguments: Arguments, budget: StepBudget) -> Any:
    positional, keywords = arguments.positional, arguments.keywords
    if any(v is POISON for v in positional) or any(v is POISON for v in keywords.values()):
        return POISON
    if keywords:
        raise error("E104", f"{name}() takes no keyword arguments", call.span, "")
    if name in ("min", "max") and any(is_run_size(v) for v in positional) and len(positional) > 1:
        return combine(name, *positional)  # min(H, 7): resolved when shapes are known
    for value in positional:
        if isinstance(value, (Tensor, Recipe)):
            raise error("E108", f"{name}() takes plain values, got {kind_of(value)}", call.span, "")
        if contains_run_size(value):
            raise run_size_misuse(first_run_size(value), call.span, f"{name}()")
        if name in _READS_ITEMS and isinstance(value, (list, tuple, range)):
            budget.step(call.span, len(value))  # max() of a long list reads every item
    try:
        result = BUILTINS[name](*positional)
        size = len(result) if isinstance(result, range) else 0
    except OverflowError:  # int(1e999), len(range(10**70))
        raise error("E110", f"{name}(): the number is too large", call.span, "") from None
    except (TypeError, ValueError) as problem:
        raise error("E104", f"{name}(): {problem}", call.span, "") from None
    if size > MAX_STEPS:
        raise error(
            "E110",
            f"range of {size} items is larger than archspec allows",
            call.span,
            "too long",
        )
    return result


def _range(*args):
    for value in args:
        if not is_int(value):
            raise TypeError(f"range() needs integers, got {kind_of(value)}")
    return range(*args)


def _of_numbers(function: Callable) -> Callable:
    """min or max of numbers: Python would compare lists item by item, recursively, and lists
    that share their parts (`l = [l, l]`) stand for exponentially many items."""

    def compare(*args):
        single = len(args) == 1 and isinstance(args[0], (list, tuple, range))
        if any(isinstance(item, (list, tuple)) for item in (args[0] if single else args)):
            raise TypeError("compares numbers, got a list")
        return function(*args)

    return compare


_READS_ITEMS = frozenset({"min", "max"})  # the built-ins that read every item of a list

BUILTINS: dict[str, Callable] = {
    "range": _range,
    "len": len,
    "min": _of_numbers(min),
    "max": _of_numbers(max),
    "int": int,
    "round": round,  # torchvision's MobileNet: int(round(inp * expand_ratio))
    "abs": abs,
}
