"""AST -> graphs: runs each model's statements (once per block instance; expressions go to the
evaluator, archspec.elaborate.evaluate) and records every op application as a node of the model's
DiGraph, and every layer, Sequential and block instance in the module tree.

Elaboration knows names, arguments and structure, not shapes: shapes are the next stage's job
(archspec.shapes.infer). An error abandons the statement it occurs in; the value it would have bound
becomes POISON (archspec.elaborate.values), so one mistake is reported once.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import Any

import networkx as nx

from archspec.core import diagnostic as diag
from archspec.core.dims import Sym
from archspec.core.dtypes import FLOAT32, is_floating
from archspec.core.memory import gc_paused
from archspec.core.names import (
    chain_text,
    child_name_problem,
    closest,
    layer_name_problem,
    python_reading_problem,
)
from archspec.core.records import field, record, replace
from archspec.core.source import Span
from archspec.elaborate.evaluate import (
    BUILTINS,
    CONTAINERS,
    MAX_STEPS,
    TRAINING,
    Arguments,
    Evaluator,
    StepBudget,
    require_iterable,
    require_plain,
)
from archspec.elaborate.evaluate import (
    error as _error,
)
from archspec.elaborate.externs import check_declaration, make_op, split_target
from archspec.elaborate.graph import (
    DEFAULT_SIZE_BOUNDS,
    EVAL,
    TRAIN,
    WILDCARD,
    ContainerCall,
    ModelGraph,
    ModelReturn,
    ModuleInfo,
    Node,
    PatternVar,
    ShapeAssertion,
    SizeSymbol,
    TieInfo,
    mode_words,
    other_mode,
)
from archspec.elaborate.run_sizes import RunSize, SizeOf, first_run_size, is_run_size
from archspec.elaborate.run_sizes import scan as scan_run_sizes
from archspec.elaborate.scopes import CONSTANTS, Frame
from archspec.elaborate.state import EXTERN, INITIALIZERS, OPTIONS, PARAM, TENSOR, StateInfo
from archspec.elaborate.values import (
    POISON,
    SCALARS,
    Definition,
    ModuleRef,
    NoneOutput,
    Outputs,
    PyObject,
    Recipe,
    Tensor,
    Unsized,
    is_int,
    is_number,
    kind_of,
    unpack_help,
)
from archspec.ops import INFER, REGISTRY, OpFailure, OpSpec
from archspec.ops.apply import BindError, bind, check_arguments, tuple_item_name
from archspec.ops.base import ONE_PER_INPUT, ArgError, LayerArg
from archspec.ops.compare import SYMBOLS as COMPARISON_OPS
from archspec.ops.subscripts import Indices
from archspec.syntax import ast

MAX_SIZE_RANGE = (
    10_000_000  # values of one symbolic input size that archspec.shapes.sizes enumerates
)
MAX_BLOCK_DEPTH = 2_000  # blocks and Sequentials nested in each other (the module tree's depth)
MAX_FUNCTION_DEPTH = 200  # `def` calls nested in each other (recursion)
MAX_VALUE_DEPTH = 100  # lists and tuples nested in each other, in a layer's or block's argument
# Graph nodes per model: each costs about 7 KiB through inference, so a runaway loop that makes
# layers must stop long before MAX_STEPS (2M layers would need some 15 GiB).
MAX_NODES = 300_000
# Steps (of the model's StepBudget) that applying a block or Sequential costs: it makes a frame, a
# call record and, the first time, its modules, some 3 KiB and 20 µs where an expression takes
# about 1 µs. Forty blocks that each apply the next one twice stop within seconds.
APPLICATION_STEPS = 20


# Elaboration recurses (statement -> expression -> block call -> its body -> ...), 10 to 20 Python
# frames per nested block. It runs in a thread of its own under RECURSION_LIMIT, which leaves room
# for MAX_BLOCK_DEPTH blocks, and with a C stack of STACK_BYTES, which holds that many frames even
# if every one went through C code (a comparison of nested lists, a generator consumed by tuple():
# at most about 700 bytes a frame in CPython 3.11, so 2 KiB is a wide margin). The stack is address
# space, reserved when the thread starts; memory is used only as deep as the recursion goes.
RECURSION_LIMIT = 20_000 + 30 * MAX_BLOCK_DEPTH
STACK_BYTES = 2048 * RECURSION_LIMIT
_INLINE_RECURSION_LIMIT = 20_000  # without that thread: safe on the main thread's 8 MiB stack

_deep_lock = threading.Lock()
_deep_state = threading.local()


def run_deep(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)`, with room to recurse MAX_BLOCK_DEPTH blocks deep: run in a thread with a
    STACK_BYTES stack under RECURSION_LIMIT, its result or exception handed back as if called here.
    Where such a thread cannot start (a tight address-space limit), it runs here, and too deep a
    spec fails sooner (with E002, never a crash)."""
    if getattr(_deep_state, "active", False):  # already inside
        return function(*args)
    outcome: dict[str, Any] = {}

    def target() -> None:
        _deep_state.active = True
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error
        finally:
            _deep_state.active = False

    with _deep_lock:  # the recursion limit and the thread stack size are process-wide settings
        old_limit = sys.getrecursionlimit()
        try:
            sys.setrecursionlimit(max(old_limit, RECURSION_LIMIT))
            worker = _start_thread(target, STACK_BYTES)
            if worker is not None:
                worker.join()
            else:
                sys.setrecursionlimit(max(old_limit, _INLINE_RECURSION_LIMIT))
                target()
        finally:
            sys.setrecursionlimit(old_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _start_thread(target: Callable[[], None], stack_bytes: int) -> threading.Thread | None:
    previous = threading.stack_size()
    try:
        threading.stack_size(stack_bytes)
        worker = threading.Thread(target=target, name="archspec-elaborate", daemon=True)
        worker.start()
        return worker
    except (RuntimeError, ValueError, MemoryError):
        return None
    finally:
        threading.stack_size(previous)


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _needs_input(module: ModuleInfo) -> tuple[str, str] | None:
    """What in an unapplied module needs a shape to flow in before it can become code, as
    (what it is, why): a block not yet built, or a layer with an argument left to `?`."""
    for inner in module.walk():
        if inner.kind == "block" and not inner.elaborated:
            what = "holds a block that is declared but never applied"
            return what, "a block is built from the shape that flows into it"
        if inner.kind == "layer" and inner.args and any(v is INFER for v in inner.args.values()):
            where = "its `?`" if inner is module else f"the `?` of '{inner.path}'"
            what = f"is declared but never applied, so {where} cannot be inferred"
            return what, "`?` is read off the shape that flows in"
    return None


class Elaborator:
    def __init__(self, definitions: dict[str, Definition], reporter: diag.Reporter):
        self.definitions = definitions
        self.reporter = reporter
        self.graph: nx.DiGraph | None = None
        self.model: ModelGraph | None = None
        self.budget = StepBudget()
        self.evaluator = Evaluator(self, self.budget)
        self.errors_before = 0
        self.id_counters: dict[str, int] = {}  # node id base -> last suffix used (ids stay O(1))
        self.saw_input = False
        self.value_reads: list[str] = []  # nodes named by the statements now running
        self.applications = 0
        self.block_stack: list[tuple[str, ast.Definition]] = []  # the block bodies now running
        self.running: dict[int, int] = {}  # id of a running block's definition -> its stack index
        self.function_depth = 0  # `def` calls running inside each other
        self.replay_roots: list[str] = []
        self.deepest = 0  # the most block instances running at once
        self.mode: str | None = None  # TRAIN/EVAL inside `if training` / its else; None: both
        # id of an extern declaration -> (the declaration, its op; None: broken)
        self.extern_ops: dict[int, tuple[ast.Extern, OpSpec | None]] = {}

    # ================================================================ entry point
    @gc_paused
    def elaborate_model(self, definition: ast.Definition, overrides: dict[str, Any] | None = None):
        root = ModuleInfo(
            name=definition.name.id,
            path="",
            kind="model",
            span=definition.span,
            definition=definition,
        )
        self.graph = nx.DiGraph()
        self.model = ModelGraph(definition.name.id, definition.span, self.graph, root)
        self.budget = StepBudget()  # each model has a budget of its own
        self.evaluator = Evaluator(self, self.budget)
        self.errors_before = len(self.reporter.diagnostics)  # this model's findings follow
        self.deepest = 0
        self.mode = None
        self.id_counters = {}
        self.saw_input = False  # an `input` statement ran in the model body (even a failing one)
        overrides = dict(overrides or {})
        values: dict[str, Any] = {}
        for param in definition.params:
            if param.name.id in overrides:
                values[param.name.id] = overrides.pop(param.name.id)
            elif param.default is None:
                self.report(
                    _error(
                        "E109",
                        f"model parameter '{param.name.id}' needs a default value",
                        param.span,
                        "no default",
                        help=f"write `{param.name.id}=<value>`; build() can still override it",
                    ).diagnostic
                )
                values[param.name.id] = POISON
            else:
                values[param.name.id] = self._eval_const(values, param.default)
        for name in overrides:
            known = ", ".join(p.name.id for p in definition.params) or "none"
            raise TypeError(
                f"model {definition.name.id} got an unexpected parameter '{name}' "
                f"(its parameters: {known})"
            )
        root.params = dict(values)
        try:
            _require_python_name(definition.name, "a model name")
        except diag.ArchError as error:
            self.report(error.diagnostic)
        frame = Frame(definition, root, values, {}, definition.labels)
        run_deep(self._run_body, frame, definition.body)
        self._finish_model(frame)
        return self.model

    def _eval_const(self, values: dict[str, Any], expr: ast.Expr) -> Any:
        frame = Frame(
            ast.Definition("block", ast.Name("", expr.span), (), (), expr.span),
            ModuleInfo("", "", "model", expr.span),
            dict(values),
            {},
            set(),
        )
        try:
            return self.evaluator.eval(frame, expr)
        except diag.ArchError as error:
            self.report(error.diagnostic)
            return POISON

    def _finish_model(self, frame: Frame) -> None:
        self._report_unapplied_blocks()
        definition = frame.definition
        no_input = not self.model.inputs and not self.saw_input  # a broken one is reported already
        if no_input and frame.returned is None:  # one finding: both at the model's name
            self.report(
                _error(
                    "E109",
                    f"model {definition.name.id} has no input and returns nothing",
                    definition.name.span,
                    "no `input` or `return` statement",
                    help="declare an input, e.g. `input x: [N, 3, 224, 224]`, and end the model "
                    "with `return <value>`",
                ).diagnostic
            )
            return
        if no_input:
            self.report(
                _error(
                    "E109",
                    f"model {definition.name.id} has no input",
                    definition.name.span,
                    "no `input` statement",
                    help="declare one, e.g. `input x: [N, 3, 224, 224]`",
                ).diagnostic
            )
        if frame.returned is None:
            self.report(
                _error(
                    "E109",
                    f"model {definition.name.id} returns nothing",
                    definition.name.span,
                    "no `return` statement",
                    help="end the model with `return <value>`",
                ).diagnostic
            )
            return
        if frame.returned_keys is not None or frame.mode_returns:
            self._add_mode_outputs(frame)
            return
        for index, value in enumerate(frame.returned):
            if isinstance(value, Tensor):
                span = self.model.node(value.node).span
                node_id = self._new_node_id("output" if index == 0 else f"output{index}")
                node = Node(node_id, "output", span, f"output{index}" if index else "output")
                node.inputs = (value.node,)
                self._add_node(node)
                self.model.outputs.append(node_id)
        self.model.returns.append(ModelReturn(list(self.model.outputs)))

    def report(self, diagnostic: diag.Diagnostic) -> None:
        self.reporter.add(diagnostic)

    def read(self, tensor: Tensor) -> None:
        """A name holding `tensor` was read: a value (or input) read by a failing statement is
        still used (no W003/W005), though no edge will show it."""
        self.value_reads.append(tensor.node)

    # ================================================================ statements
    def _run_body(self, frame: Frame, body) -> None:
        for stmt in body:
            if frame.returned is not None and frame.function:
                return  # a function's `return` inside an `if` ends it, as in Python
            if frame.returned is not None:
                self.report(
                    _error(
                        "E109",
                        "statement after return is never run",
                        stmt.span,
                        "unreachable",
                        help="move it before the `return`, or delete it",
                    ).diagnostic
                )
                return
            mark = len(self.value_reads)
            try:
                self._run(frame, stmt)
            except diag.ArchError as error:
                self.report(error.diagnostic)
                self._poison_targets(frame, stmt)
                # The values this statement read are used, though no edge shows it (no W003/W005).
                self.model.failed_reads.update(self.value_reads[mark:])
            except RecursionError:
                # Blocks within MAX_BLOCK_DEPTH, each nesting expressions 100 deep, can still
                # exhaust RECURSION_LIMIT: everything below is abandoned, reported once here.
                if frame.module.kind != "model":
                    raise
                self.report(self._too_deep(stmt.span))
                self._poison_targets(frame, stmt)
            del self.value_reads[mark:]

    def _too_deep(self, span: Span) -> diag.Diagnostic:
        return diag.make(
            "E002",
            "blocks, expressions and lists nest too deeply here to be checked",
            span,
            "too deep",
            notes=[f"block instances reached {self.deepest:,} levels deep"],
            help=f"archspec follows {MAX_BLOCK_DEPTH:,} nested blocks, or fewer when each nests "
            "deep expressions; flatten the nesting",
        )

    def _poison_targets(self, frame: Frame, stmt) -> None:
        if isinstance(stmt, (ast.Assign, ast.Input)):
            target = stmt.target if isinstance(stmt, ast.Assign) else stmt.name
            frame.values[target.id] = POISON
        elif isinstance(stmt, ast.Unpack):
            for target in ast.target_names(stmt.targets):
                frame.values[target.id] = POISON
        elif isinstance(stmt, ast.State):
            frame.values[stmt.name.id] = POISON
        elif isinstance(stmt, ast.Return) and self.mode is not None:
            frame.mode_returns.setdefault(self.mode, ([POISON], None))
        elif isinstance(stmt, ast.Return):
            frame.returned = [POISON]
        elif isinstance(stmt, ast.Declare):
            frame.layers.setdefault(stmt.name.id, POISON)  # later `-> name` stays silent

    def _call_function(self, frame: Frame, function, call: ast.Call, arguments: Arguments) -> Any:
        """`make_divisible(v, 8)`: a `def` runs on plain values when the spec is elaborated and
        returns a value (several: a tuple). It builds no layer and reads no tensor."""
        node: ast.Definition = function.node
        recipe = Recipe(node.name.id, "function", arguments.positional, arguments.keywords,
                        arguments.spans, call.span)  # fmt: skip
        values = self._bind_block(node, recipe)
        self.budget.step(call.span)  # `fib(n - 1) + fib(n - 2)`: each call counts
        if self.function_depth >= MAX_FUNCTION_DEPTH:
            raise _error(
                "E107",
                f"function {node.name.id} calls nest more than {MAX_FUNCTION_DEPTH} deep",
                call.span,
                "too deep",
                help="a function that calls itself needs a condition that ends the calls",
            )
        body = Frame(node, frame.module, values, {}, node.labels, function=True)
        body.namespace = function.namespace
        self.function_depth += 1
        try:
            self._run_body(body, node.body)
        finally:
            self.function_depth -= 1
        if body.returned is None:
            raise _error(
                "E109",
                f"function {node.name.id} returns nothing",
                node.name.span,
                "no `return` statement",
                help="end it with `return <value>`",
            )
        return body.returned[0] if len(body.returned) == 1 else tuple(body.returned)

    def _require_outside_function(self, frame: Frame, stmt) -> None:
        what = {ast.Input: "an input", ast.State: "a parameter or buffer",
                ast.Declare: "a layer", ast.Tie: "a tie"}.get(type(stmt))  # fmt: skip
        if frame.function and what is not None:
            raise _error(
                "E108",
                f"a function computes plain values; it cannot declare {what}",
                stmt.span,
                "inside a def",
                help="use a block for layers, inputs and parameters",
            )

    def _run(self, frame: Frame, stmt) -> None:
        self._require_outside_function(frame, stmt)
        if isinstance(stmt, ast.Input):
            self._run_input(frame, stmt)
        elif isinstance(stmt, ast.Assign):
            _require_python_name(stmt.target, "a value name")
            first_new = self.graph.number_of_nodes()
            value = self.evaluator.eval(frame, stmt.value)
            if isinstance(value, Recipe):
                raise _error(
                    "E108",
                    f"the layer {value.func}(...) is built, but nothing flows into it",
                    stmt.value.span,
                    "never applied",
                    help=f"apply it (`{stmt.target.id} = x -> {value.func}(...)`) or declare it "
                    f"(`{stmt.target.id}: {value.func}(...)`)",
                )
            if isinstance(value, Unsized):
                raise _error(
                    "E108",
                    f"'{stmt.target.id}' would hold {kind_of(value)}",
                    stmt.value.span,
                    "unpack this",
                    help=unpack_help(value),
                )
            if stmt.shape is not None:
                self._assert_shape(frame, value, stmt.shape)
                self._bind_input_sizes(frame, value, stmt.shape)
            if isinstance(value, Tensor):
                node = self.model.node(value.node)
                # Name only what this statement computed: `identity = x` is an alias, not a name.
                if node.kind == "op" and node.index >= first_new:
                    node.bindings.setdefault(frame.module.path, stmt.target.id)
                    if not node.bound:
                        node.name = stmt.target.id
                        node.bound = True
                        node.binding_span = stmt.target.span
            if isinstance(value, Outputs):  # `halves = x -> split(...)`: its tensors bear the name
                for item in value:
                    if isinstance(item, Tensor):
                        self._name_output(frame, item, stmt.target, first_new)
            frame.values[stmt.target.id] = value
        elif isinstance(stmt, ast.Unpack):
            self._run_unpack(frame, stmt)
        elif isinstance(stmt, ast.Declare):
            recipe = self.evaluator.eval(frame, stmt.call)
            if recipe is POISON:
                frame.layers.setdefault(stmt.name.id, POISON)
                return
            if not isinstance(recipe, Recipe):
                raise _error(
                    "E108",
                    f"only layers can be declared, {stmt.call.func.id}() gives {kind_of(recipe)}",
                    stmt.call.span,
                    "not a layer",
                )
            label = ast.Label(stmt.name.id, (stmt.name.id,), stmt.name.span)
            module = self.build(frame, recipe, frame.module, label)
            frame.layers[module.name] = module
        elif isinstance(stmt, ast.Return) and (
            (self.mode is not None and frame.module.kind == "model")
            or any(type(v) is ast.DictExpr for v in stmt.values)
        ):
            self._run_mode_return(frame, stmt)
        elif isinstance(stmt, ast.Return) and frame.function:
            frame.returned = [self.evaluator.eval(frame, value) for value in stmt.values]
            for value, expr in zip(frame.returned, stmt.values):
                if isinstance(value, (Tensor, Recipe)):
                    raise _error(
                        "E108",
                        f"a function returns plain values, got {kind_of(value)}",
                        expr.span,
                        "not a plain value",
                        help="compute tensors in a block",
                    )
        elif isinstance(stmt, ast.Return):
            frame.returned = [self.evaluator.eval(frame, value) for value in stmt.values]
            for value, expr in zip(frame.returned, stmt.values):
                self._require_tensor_or_poison(value, expr.span, "return")
                self._require_mode_of(value, expr.span)
        elif isinstance(stmt, ast.If) and _mode_condition(stmt.test) is not None:
            self._run_mode_branches(frame, stmt, _mode_condition(stmt.test))
        elif isinstance(stmt, ast.If):
            test = self.evaluator.eval(frame, stmt.test)
            if test is POISON:
                return
            require_plain(test, stmt.test.span, "an `if` condition")
            self._run_body(frame, stmt.body if test else stmt.orelse)
        elif isinstance(stmt, ast.For):
            iterable = self.evaluator.iterable(frame, stmt.iterable)
            if iterable is POISON:
                return
            require_iterable(iterable, stmt.iterable.span, help="loop over `range(n)` or a list")
            for item in iterable:
                self.budget.step(stmt.span)
                frame.values[stmt.var.id] = item
                self._run_body(frame, stmt.body)
                if frame.returned is not None:
                    return
                if self.budget.exceeded is not None:  # a limit hit inside: the rest would fail too
                    raise diag.ArchError(self.budget.exceeded)
        elif isinstance(stmt, ast.State):
            self._run_state(frame, stmt)
        elif isinstance(stmt, ast.Tie):
            self._run_tie(frame, stmt)
        else:  # pragma: no cover - the grammar has no other statements
            raise AssertionError(stmt)

    def _report_unapplied_blocks(self) -> None:
        """A declared module that nothing flows into and that cannot become code without that:
        a block (built from its input's shape), a layer with a `?` argument (read off that
        shape), or a Sequential holding one. Once, at the outermost one."""
        if any(d.severity is diag.Severity.ERROR
               for d in self.reporter.diagnostics[self.errors_before :]):  # fmt: skip
            return  # a failed statement may be why nothing flowed in: no cascade
        called = {call.module for call in self.model.calls}
        stack = [(self.model.root, False)]
        while stack:
            module, inside = stack.pop()
            unapplied = (
                (module.kind == "block" and not module.elaborated)
                or (module.kind == "sequential" and module.path not in called)
                or (module.kind == "layer" and not module.applications)
            )
            needs_input = _needs_input(module) if unapplied and not inside else None
            if needs_input is not None:
                name = module.path or module.name
                what, why = needs_input
                self.report(
                    _error(
                        "E108",
                        f"'{name}' {what}",
                        module.span,
                        "nothing flows into it",
                        help=f"apply it (`out = out -> {name}`) or remove it: {why}",
                    ).diagnostic
                )
            stack.extend((child, inside or unapplied) for child in module.children.values())

    def _run_input(self, frame: Frame, stmt: ast.Input) -> None:
        name = stmt.name.id
        if frame.module.kind != "model":
            # Block inputs are bound by the caller; a stated shape is checked at every use.
            _require_python_name(stmt.name, "an input name")
            value = frame.values.get(name, POISON)
            if stmt.shape is not None:
                self._assert_shape(frame, value, stmt.shape)
                self._bind_input_sizes(frame, value, stmt.shape)
            return
        self.saw_input = True
        _require_python_name(stmt.name, "an input name")
        if name in frame.values and isinstance(frame.values[name], Tensor):
            raise _error("E103", f"input '{name}' is declared twice", stmt.name.span, "again")
        if stmt.shape is None:
            raise _error(
                "E109",
                f"model input '{name}' needs a shape",
                stmt.span,
                "no shape",
                help=f"write e.g. `input {name}: [N, 3, 224, 224]`",
            )
        dims = []
        batch = batch_position(stmt.shape.dims)
        for position, dim in enumerate(stmt.shape.dims):
            if isinstance(dim, ast.BoundedDim):
                dims.append(self._size_symbol(frame, dim.name, dim, position == batch))
                continue
            if isinstance(dim, ast.Name) and dim.id not in frame.values:
                dims.append(self._size_symbol(frame, dim, None, position == batch))
                continue
            value = self.evaluator.eval(frame, dim)
            if isinstance(value, Sym) or (is_int(value) and value > 0):
                dims.append(value)
                continue
            raise _error(
                "E105",
                f"an input size must be a positive integer or a name, got {kind_of(value)}",
                dim.span,
                "bad size",
            )
        node_id = self._new_node_id(name)
        node = Node(node_id, "input", stmt.span, name, declared_shape=tuple(dims),
                    declared_dtype=_declared_dtype(stmt.shape))  # fmt: skip
        self._add_node(node)
        self.model.inputs.append(node_id)
        frame.values[name] = Tensor(node_id)

    def _bind_input_sizes(self, frame: Frame, value: Any, shape: ast.Shape) -> None:
        """`input x: [N, H, W, C]` in a block, or a stated shape `h: [N, C, L] = ...`: each name
        not yet defined is that size of the tensor, read when the module runs
        (archspec.elaborate.run_sizes)."""
        for position, dim in enumerate(shape.dims):
            if not isinstance(dim, ast.Name) or dim.id in frame.values:
                continue
            if dim.id in CONSTANTS or dim.id == TRAINING:
                continue
            if isinstance(value, Tensor):
                frame.values[dim.id] = SizeOf(value.node, position, dim.id)
            else:
                frame.values[dim.id] = POISON

    def _size_symbol(
        self, frame: Frame, name: ast.Name, bounded: ast.BoundedDim | None, batch: bool
    ) -> Sym:
        """A new symbolic input size. Every one but the batch (`batch`: at the input's
        batch_position, without a range) is a size whose accepted values archspec works out,
        over its declared bounds or DEFAULT_SIZE_BOUNDS."""
        symbol = Sym.named(name.id)
        frame.values[name.id] = symbol
        if bounded is not None:
            low, high = (self._size_bound(frame, e) for e in (bounded.low, bounded.high))
            step = 1 if bounded.step is None else self._size_bound(frame, bounded.step)
            if low > high:
                raise _error(
                    "E105",
                    f"the range of {name.id} is empty: {low} > {high}",
                    bounded.span,
                    "empty range",
                    help=f"write `{name.id} in {high}..{low}`",
                )
            if (high - low) // step >= MAX_SIZE_RANGE:
                raise _error(
                    "E105",
                    f"the range of {name.id} holds {(high - low) // step + 1} sizes; archspec "
                    f"examines at most {MAX_SIZE_RANGE}",
                    bounded.span,
                    "range too wide",
                    help="narrow the range to the sizes the network will see",
                )
            high -= (high - low) % step  # the last value the steps reach
            report = self._report_size(frame, name.id, bounded, low, high, step)
            self.model.size_symbols[name.id] = SizeSymbol(
                name.id, low, high, True, bounded.span, step, report
            )
        elif not batch:
            low, high = DEFAULT_SIZE_BOUNDS
            self.model.size_symbols[name.id] = SizeSymbol(name.id, low, high, False, name.span)
        return symbol

    def _report_size(
        self, frame: Frame, name: str, bounded: ast.BoundedDim, low: int, high: int, step: int
    ) -> int | None:
        """`= 224` after a range: a size the range holds, which summaries count at."""
        if bounded.report is None:
            return None
        value = self._size_bound(frame, bounded.report)
        span = bounded.report.span
        if not low <= value <= high:
            raise _error(
                "E105",
                f"the report size {name} = {value} is outside its range {low}..{high}",
                span,
                "outside the range",
                help=f"choose a size from {low} to {high}",
            )
        if (value - low) % step:
            below = value - (value - low) % step
            raise _error(
                "E105",
                f"the report size {name} = {value} is not on the range's steps: "
                f"({value} − {low}) % {step} = {(value - low) % step}",
                span,
                "between two steps",
                help=f"choose {below} or {min(below + step, high)}",
            )
        return value

    def _size_bound(self, frame: Frame, expr: ast.Expr) -> int:
        value = self.evaluator.eval(frame, expr)
        if not is_int(value) or value < 1:
            raise _error(
                "E105",
                f"a size bound must be a positive integer, got {kind_of(value)}",
                expr.span,
                "bad bound",
            )
        return value

    def _assert_shape(self, frame: Frame, value: Any, shape: ast.Shape) -> None:
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            raise _error(
                "E108",
                f"only tensors have shapes, this is {kind_of(value)}",
                shape.span,
                "shape of a non-tensor",
            )
        dims: list[Any] = []
        for dim in shape.dims:
            if isinstance(dim, ast.Infer):
                dims.append(WILDCARD)
            elif isinstance(dim, ast.Name) and dim.id not in frame.values:
                dims.append(PatternVar(dim.id))
            else:
                size = self.evaluator.eval(frame, dim)
                if size is POISON:
                    return
                if not (is_int(size) or isinstance(size, Sym) or is_run_size(size)):
                    raise _error(
                        "E108",
                        f"a stated size must be an integer, a name or ?, got {kind_of(size)}",
                        dim.span,
                        "not a size",
                    )
                dims.append(size)
        self.model.assertions.append(
            ShapeAssertion(
                value.node,
                tuple(dims),
                shape.span,
                frame.module.path,
                frame.application,
                dtype=shape.dtype.id if shape.dtype is not None else None,
            )
        )

    # ================================================================ the evaluator's host
    def call(self, frame: Frame, call: ast.Call, arguments: Arguments) -> Any:
        """A call of an op function (a graph node), or of a layer, Sequential or block (a Recipe,
        built when it is applied or declared)."""
        name = call.func.id
        bound = frame.values.get(name)
        if isinstance(bound, ModuleRef):  # `conv(x)`, in a loop over a ModuleList
            return self._call_layer(frame, bound.module, call, arguments)
        positional, keywords = arguments.positional, arguments.keywords
        spans, children = arguments.spans, arguments.children
        op = REGISTRY.get(name)
        if op is not None and op.kind == "function":
            return self._function(frame, op, call, positional, keywords, spans)
        names = self._namespace(frame)
        block = names.get(name) if op is None and name not in CONTAINERS else None
        if block is not None and block.node is None:
            return POISON  # a block whose import failed: reported at the import
        if block is not None and getattr(block.node, "kind", None) == "def":
            return self._call_function(frame, block, call, arguments)
        if block is not None and isinstance(block.node, ast.Extern):
            if self.extern_op(block) is None:
                return POISON  # a broken declaration: reported once, at the declaration
        if op is not None or name in CONTAINERS or block is not None:
            extern = block is not None and isinstance(block.node, ast.Extern)
            kind = "layer" if op is not None or extern else CONTAINERS.get(name, "block")
            if kind == "list":
                children = _module_list_children(name, positional, spans, children, keywords)
            if kind == "dict":
                children = _module_dict_children(call, children, keywords, spans)
            if children and kind not in ("sequential", "list", "dict"):
                span = children[0][2]
                raise _error(
                    "E104",
                    f"named children only go inside Sequential, not {name}",
                    span,
                    "named child",
                )
            recipe = Recipe(name, kind, positional, keywords, spans, call.span, children, block)
            if kind == "sequential" and keywords:
                key = next(iter(keywords))
                raise _error(
                    "E104",
                    f"Sequential takes no keyword arguments ('{key}')",
                    spans[key],
                    "keyword",
                )
            return recipe
        if self._declared_layer(frame, name):
            return self._call_layer(frame, frame.layers[name], call, arguments)
        candidates = list(REGISTRY) + sorted(CONTAINERS) + list(names) + list(BUILTINS)
        suggestion = closest(name, candidates)
        raise _error(
            "E101",
            f"unknown layer or function '{name}'",
            call.func.span,
            "unknown",
            help=f"did you mean '{suggestion}'?"
            if suggestion
            else "see docs/language.md for the layers archspec knows",
        )

    def _bind(self, op: OpSpec, call_span: Span, positional, keywords, spans) -> tuple[dict, dict]:
        try:
            values = bind(op, positional, keywords)
        except BindError as error:
            span = call_span
            if error.keyword is not None:
                span = spans.get("=" + error.keyword, call_span)
            elif error.position is not None:
                span = spans.get(f"#{error.position}", call_span)
            raise _error(
                "E104",
                error.message,
                span,
                "",
                notes=[f"signature: {op.signature}"],
                help=_bind_help(op, error, positional),
            ) from None
        arg_spans: dict[str, Span] = {}
        slots = op.positional
        for index in range(len(positional)):
            if index < len(slots) and not slots[index].variadic:
                arg_spans[slots[index].name] = spans.get(f"#{index}", call_span)
            elif index >= len(slots) - 1 and slots and slots[-1].variadic:
                span = spans.get(f"#{index}", call_span)
                name = slots[-1].name
                arg_spans[name] = arg_spans[name].to(span) if name in arg_spans else span
        for key in keywords:
            arg_spans[key] = spans[key]
        return values, arg_spans

    def tensor_binop(self, frame: Frame, expr: ast.BinOp, left: Any, right: Any) -> Any:
        """`left + right`, `-`, `*` or `/` where one side is a tensor and the other a tensor or a
        number: an add, sub, mul or div node, broadcasting as torch does."""
        names = {"+": "add", "-": "sub", "*": "mul", "/": "div", **COMPARISON_OPS}
        if expr.op not in names:
            raise _error(
                "E108",
                f"tensors do not support `{expr.op}` in specs",
                expr.span,
                "unsupported",
                help="tensors can be added, subtracted, multiplied and divided (`+ - * /`) and "
                "compared (`== != < <= > >=`), with tensors or numbers",
            )
        for value, side in ((left, expr.left), (right, expr.right)):
            if not isinstance(value, (Tensor, Sym, *RunSize)) and not is_number(value):
                raise _error(
                    "E108",
                    f"`{expr.op}` joins a tensor with a tensor or a number, this is "
                    f"{kind_of(value)}",
                    side.span,
                    "not a tensor or a number",
                )
        op = REGISTRY[names[expr.op]]
        return self._op_node(frame, op, {"input": left, "other": right}, {}, expr.span, op.name)

    def tensor_negation(self, frame: Frame, expr: ast.UnaryOp, value: Tensor) -> Any:
        """`-x` of a tensor: a neg node."""
        op = REGISTRY["neg"]
        return self._op_node(frame, op, {"input": value}, {}, expr.span, op.name)

    def _function(self, frame: Frame, op: OpSpec, call: ast.Call, positional, keywords, spans):
        values, arg_spans = self._bind(op, call.span, positional, keywords, spans)
        node = self._op_node(frame, op, values, arg_spans, call.span, op.name)
        if isinstance(node, Tensor):
            self.model.node(node.node).keywords = frozenset(keywords)
        return node

    def _op_node(self, frame, op: OpSpec, values, arg_spans, span: Span, name: str) -> Any:
        inputs: list[str] = []
        args: dict[str, Any] = {}
        for param in op.params:
            value = values.get(param.name)
            if param.scalar and (is_number(value) or is_run_size(value) or isinstance(value, Sym)):
                args[param.name] = value  # `x * 0.5`: an argument, written as a literal
                continue
            if param.is_tensor:
                items = value if isinstance(value, (list, tuple)) else [value]
                if param.name != "tensors" and isinstance(value, (list, tuple)):
                    raise _error(
                        "E108",
                        f"{op.name} takes one tensor as '{param.name}', got {kind_of(value)}",
                        arg_spans.get(param.name, span),
                        "not one tensor",
                        help=unpack_help(value) or "pick one first, e.g. `outs[0]`",
                    )
                if param.name == "tensors" and not isinstance(value, (list, tuple)):
                    raise _error(
                        "E108",
                        f"{op.name} takes a list of tensors, got {kind_of(value)}",
                        arg_spans.get(param.name, span),
                        "not a list",
                        help=f"write {op.name}([a, b], dim=1)",
                    )
                if param.name == "tensors" and not items:
                    raise _error(
                        "E105",
                        f"{op.name} needs at least one tensor",
                        arg_spans.get(param.name, span),
                        "empty",
                    )
                for item in items:
                    if item is POISON:
                        return POISON
                    if not isinstance(item, Tensor):
                        raise _error(
                            "E108",
                            f"{op.name} expects a tensor for '{param.name}', got {kind_of(item)}",
                            arg_spans.get(param.name, span),
                            "not a tensor",
                        )
                    inputs.append(item.node)
                continue
            parts = _plain_parts(value, arg_spans.get(param.name, span), self.budget)
            if any(part is POISON for part in parts):
                return POISON
            if any(isinstance(part, (Tensor, Recipe, ModuleRef)) for part in parts):
                raise _error(
                    "E108",
                    f"{op.name}'s '{param.name}' must be a plain value, not a tensor or layer",
                    arg_spans.get(param.name, span),
                    "not a plain value",
                )
            _no_python_object(op, param.name, parts, arg_spans.get(param.name, span))
            args[param.name] = value
        if op.tensor_params and not inputs:  # add(1, 2): numbers only, not a tensor op
            raise _error(
                "E108",
                f"{op.name} needs a tensor operand, got only numbers",
                span,
                "no tensor",
                help="compute numbers with ordinary arithmetic (`1 + 2`)",
            )
        node_id = self._new_node_id(f"{frame.module.path}/{name}" if frame.module.path else name)
        reads, lazy = scan_run_sizes(args)
        node = Node(
            node_id,
            "op",
            span,
            name,
            op=op,
            args=args,
            arg_spans=arg_spans,
            inputs=tuple(inputs),
            scope=frame.module.path,
            size_sources=reads,
            lazy_args=lazy,
        )
        if op.outputs is not None:  # chunk, split, unbind, meshgrid: a node per output
            count = len(inputs) if op.outputs is ONE_PER_INPUT else op.outputs(args)
            return self._several_outputs(node, count, span)
        self._add_node(node)
        return Tensor(node_id)

    # ================================================================ modules
    def apply_stage(self, frame: Frame, value: Any, stage) -> Any:
        try:
            return self._apply_stage_unguarded(frame, value, stage)
        except diag.ArchError:
            # A layer that failed to build is reported once: later `-> name` uses stay silent.
            if isinstance(stage, ast.Labelled) and len(stage.label.parts) == 1:
                name = stage.label.parts[0]
                if isinstance(name, str):
                    frame.layers.setdefault(name, POISON)
            raise

    def _apply_stage_unguarded(self, frame: Frame, value: Any, stage) -> Any:
        if isinstance(stage, ast.LayerRef):
            bound = frame.values.get(stage.name.id)
            if isinstance(bound, ModuleRef):  # `x -> conv`, in a loop over a ModuleList
                return self.apply_module(frame, bound.module, value, stage.span, by_reference=True)
            module = frame.layers.get(stage.name.id)
            if module is POISON:
                return POISON
            if module is None:
                suggestion = closest(stage.name.id, frame.layers)
                hint = f"did you mean '{suggestion}'?" if suggestion else None
                if stage.name.id in REGISTRY or stage.name.id in self._namespace(frame):
                    hint = f"call it: `-> {stage.name.id}(...)`"
                raise _error(
                    "E102",
                    f"no layer named '{stage.name.id}' here",
                    stage.span,
                    "not a layer",
                    help=hint,
                )
            return self.apply_module(frame, module, value, stage.span, by_reference=True)
        if isinstance(stage, ast.LayerIndex):
            return self._apply_list_child(frame, value, stage)
        call = stage.call if isinstance(stage, ast.Labelled) else stage
        label = stage.label if isinstance(stage, ast.Labelled) else None
        op = REGISTRY.get(call.func.id)
        if op is not None and op.kind == "function":
            if label is not None:
                raise _error(
                    "E104",
                    f"{op.name}() is a function and cannot be named",
                    label.span,
                    "name of a function",
                    help=f"name a layer instead, e.g. `{label.text}: {_layer_twin(op.name)}(...)`",
                )
            return self.evaluator.call(frame, call, piped=value)
        if label is None and op is None and self._declared_layer(frame, call.func.id):
            return self.evaluator.call(frame, call, piped=value)  # `q -> attn(k, v)`
        recipe = self.evaluator.eval(frame, call)
        if recipe is POISON:
            return POISON
        if not isinstance(recipe, Recipe):
            raise _error("E108", f"{call.func.id}() does not take a tensor", call.span, "")
        module = self.build(frame, recipe, frame.module, label)
        if label is not None:
            frame.layers[module.name] = module
        return self.apply_module(frame, module, value, stage.span)

    def build(self, frame: Frame, recipe: Any, parent: ModuleInfo, label, index=None) -> ModuleInfo:
        """Create a submodule of `parent` from a recipe (auto-named when unlabelled)."""
        if not isinstance(recipe, Recipe):
            holder = parent.call.func if parent.call is not None else "Sequential"
            raise _error("E108", f"{holder} holds layers, got {kind_of(recipe)}", parent.span, "")
        name = self._module_name(frame, recipe, parent, label, index)
        path = f"{parent.path}.{name}" if parent.path else name
        if name in parent.children and self._replaying(parent):
            return parent.children[name]  # a block applied again reuses what it built
        if name in parent.state and not self._replaying(parent):
            _state_name_taken(parent.state[name], label.span if label is not None else recipe.span)
        if name in parent.children:
            first = parent.children[name]
            raise _error(
                "E103",
                f"a layer named '{name}' already exists here",
                label.span if label is not None else recipe.span,
                "defined again",
                secondary=[(first.span, "first defined here")],
                help="give each layer its own name",
            )
        if recipe.kind != "layer" and parent.depth >= MAX_BLOCK_DEPTH:
            raise _error(
                "E002",
                f"blocks and Sequentials nest more than {MAX_BLOCK_DEPTH:,} levels deep",
                recipe.span,
                "too deep",
                notes=[f"inside {chain_text(parent.path.split('.'))}"],
                help="a network this deep is almost certainly a runaway loop: flatten the nesting",
            )
        module = ModuleInfo(
            name=name,
            path=path,
            kind=recipe.kind,
            span=recipe.span,
            call=recipe,
            depth=parent.depth + 1,
        )
        if recipe.kind == "layer":
            op = (
                REGISTRY[recipe.func]
                if recipe.definition is None
                else self.extern_op(recipe.definition)
            )
            module.op = op
            values, module.arg_spans = self._bind(
                op, recipe.span, recipe.positional, recipe.keywords, recipe.arg_spans
            )
            for key, value in values.items():
                if op.param(key).layer:  # TransformerEncoder's encoder_layer: a layer call
                    value = self._layer_argument(op, key, value, module.arg_spans, recipe.span)
                    values[key] = value
                    if value is POISON:
                        module.args = None
                        break
                    continue
                if type(value) in SCALARS:
                    continue
                parts = _plain_parts(value, module.arg_spans.get(key, recipe.span), self.budget)
                if any(part is POISON for part in parts):
                    module.args = None
                    break
                if any(isinstance(part, (Tensor, Recipe, ModuleRef)) for part in parts):
                    raise _error(
                        "E108",
                        f"{op.name} takes its input through `->`, not as an argument",
                        recipe.span,
                        "tensor or layer as an argument",
                        help=f"write `x -> {op.name}(...)`",
                    )
                _no_python_object(op, key, parts, module.arg_spans.get(key, recipe.span))
                read_at_run_time = first_run_size(parts)
                if read_at_run_time is not None:
                    raise _error(
                        "E108",
                        f"{op.name}'s '{key}' is fixed when the layer is built, but "
                        f"`{read_at_run_time}` is read off the block's input when it runs",
                        module.arg_spans.get(key, recipe.span),
                        "known only at run time",
                        help="pass the size to the block as an argument (torch builds the "
                        "layer before it sees an input)",
                    )
            else:
                module.args = values
                try:
                    module.checked_args = check_arguments(op, values)
                except OpFailure as failure:
                    span = module.arg_spans.get(failure.arg, recipe.span)
                    raise _error(
                        failure.code, failure.message, span, "", help=failure.help
                    ) from None
        elif recipe.kind in ("sequential", "list", "dict"):
            parent.children[name] = module  # children below need the path registered first
            for index, (child_label, child, _span) in enumerate(recipe.children):
                if child is POISON:
                    continue
                self.build(frame, child, module, child_label, index)
            return module
        else:
            definition = recipe.definition.node
            _require_python_name(definition.name, "a block name")
            module.definition = definition
            module.params = self._bind_block(definition, recipe)
        parent.children[name] = module
        return module

    def _layer_argument(self, op: OpSpec, key: str, value: Any, spans: dict, call: Span) -> Any:
        """A layer-valued argument (Param.layer: TransformerEncoder's encoder_layer, its norm): the
        layer call written there, bound to its op and checked, as a LayerArg (None where torch's
        default None is kept; POISON after an error reported before). Its own arguments' spans
        join `spans` as `key.name` (`encoder_layer.nhead`), where the outer op's rule points."""
        param = op.param(key)
        span = spans.get(key, call)
        if value is POISON or (value is None and param.default is None):
            return value
        names = " or ".join(f"{name}(...)" for name in param.layer)
        if not (isinstance(value, Recipe) and value.kind == "layer" and value.func in param.layer
                and value.definition is None):  # fmt: skip
            raise _error(
                "E108",
                f"{op.name}'s '{key}' takes a layer, {names}, got {kind_of(value)}",
                span,
                f"not a {' or '.join(param.layer)}",
                notes=[f"signature: {REGISTRY[name].signature}" for name in param.layer],
                help=f"write the layer there, as torch takes it: `{key}={param.layer[0]}(...)`",
            )
        inner = REGISTRY[value.func]
        bound, inner_spans = self._bind(
            inner, value.span, value.positional, value.keywords, value.arg_spans
        )
        for name, item in bound.items():
            item_span = inner_spans.get(name, value.span)
            if inner.param(name).layer:
                bound[name] = self._layer_argument(inner, name, item, inner_spans, value.span)
                if bound[name] is POISON:
                    return POISON
                continue
            if item is INFER:
                raise _error(
                    "E105",
                    f"{inner.name}'s '{name}' cannot be inferred here: {op.name} builds its "
                    f"'{key}' before it sees an input",
                    item_span,
                    "`?` in a layer argument",
                    help="write the number (`?` infers a layer applied to a tensor)",
                )
            if type(item) in SCALARS:
                continue
            parts = _plain_parts(item, item_span, self.budget)
            if any(part is POISON for part in parts):
                return POISON
            if any(isinstance(part, (Tensor, Recipe, ModuleRef)) for part in parts) or (
                first_run_size(parts) is not None
            ):
                raise _error(
                    "E108",
                    f"{inner.name}'s '{name}' must be a plain value, got {kind_of(item)}",
                    item_span,
                    "not a plain value",
                    help="a layer argument's own arguments are numbers, strings and flags, "
                    "fixed when the layer is built",
                )
        try:
            checked = check_arguments(inner, bound)
        except OpFailure as failure:
            where = inner_spans.get(failure.arg, value.span)
            raise _error(failure.code, failure.message, where, "", help=failure.help) from None
        for name, inner_span in inner_spans.items():
            spans[f"{key}.{name}"] = inner_span
        for inner_param in inner.params:  # an argument left at its default: the whole call
            spans.setdefault(f"{key}.{inner_param.name}", value.span)
        items = tuple((p.name, checked[p.name]) for p in inner.params)
        return LayerArg(inner, items, frozenset(value.keywords))

    def _module_name(self, frame: Frame, recipe: Recipe, parent, label, index) -> str:
        if label is not None:
            parts = []
            for part in label.parts:
                if isinstance(part, str):
                    parts.append(part)
                    continue
                value = self.evaluator.eval(frame, part)
                if not (is_int(value) or isinstance(value, str)):
                    raise _error(
                        "E108",
                        f"a layer name can hold numbers or text, got {kind_of(value)}",
                        part.span,
                        "",
                    )
                parts.append(str(value))
            name = "".join(parts)
            if parent.kind in ("sequential", "dict"):
                container = "Sequential" if parent.kind == "sequential" else "ModuleDict"
                problem = child_name_problem(name, container)
            else:
                problem = layer_name_problem(name)
            if problem is not None:
                raise _error("E105", problem, label.span, "not usable as a layer name")
            return name
        if parent.kind in ("sequential", "list"):
            return str(index)
        # conv2d, conv2d_1, ...: counted per body, so a replayed block names its layers alike.
        block_like = recipe.kind == "block" or recipe.definition is not None  # an extern too
        base = snake_case(recipe.func) if block_like else recipe.func.lower()
        counter = frame.auto_counts.get(base, 0)
        while True:
            name = base if counter == 0 else f"{base}_{counter}"
            counter += 1
            taken = name in parent.children and not self._replaying(parent)
            if not taken and name not in frame.reserved:
                break
        frame.auto_counts[base] = counter
        return name

    def extern_op(self, definition: Definition) -> OpSpec | None:
        """The op of an extern declaration (archspec.elaborate.externs), made at its first use;
        None if the declaration is broken (reported once, there)."""
        node: ast.Extern = definition.node
        made = self.extern_ops.get(id(node))
        if made is not None:
            return made[1]
        op = None
        try:
            check_declaration(node)
            defaults = {}
            for param in node.params:
                if param.default is not None:
                    defaults[param.name.id] = self._eval_const(defaults, param.default)
            op = make_op(node, defaults, definition.source_path)
        except diag.ArchError as error:
            self.report(error.diagnostic)
        self.extern_ops[id(node)] = (node, op)
        return op

    def _bind_block(self, definition: ast.Definition, recipe: Recipe) -> dict[str, Any]:
        params = definition.params
        values: dict[str, Any] = {}
        if len(recipe.positional) > len(params):
            span = recipe.arg_spans.get(f"#{len(params)}", recipe.span)
            raise _error(
                "E104",
                f"{definition.name.id} takes {len(params)} arguments, got {len(recipe.positional)}",
                span,
                "extra",
                notes=[f"signature: {_block_signature(definition)}"],
            )
        for param, value in zip(params, recipe.positional):
            values[param.name.id] = value
        names = [p.name.id for p in params]
        for key, value in recipe.keywords.items():
            if key not in names:
                suggestion = closest(key, names)
                raise _error(
                    "E104",
                    f"{definition.name.id} has no parameter '{key}'",
                    recipe.arg_spans[key],
                    "unknown",
                    notes=[f"signature: {_block_signature(definition)}"],
                    help=f"did you mean '{suggestion}'?" if suggestion else None,
                )
            if key in values:
                raise _error(
                    "E104",
                    f"{definition.name.id} got '{key}' twice",
                    recipe.arg_spans[key],
                    "again",
                )
            values[key] = value
        for param in params:
            if param.name.id in values:
                continue
            if param.default is None:
                raise _error(
                    "E104",
                    f"{definition.name.id} is missing its argument '{param.name.id}'",
                    recipe.span,
                    "",
                    notes=[f"signature: {_block_signature(definition)}"],
                )
            values[param.name.id] = self._eval_const(values, param.default)
        for key, value in values.items():
            span = recipe.arg_spans.get(key, recipe.span)
            if isinstance(value, (Tensor, Recipe, ModuleRef)) or value is INFER:
                raise _error(
                    "E108",
                    f"block parameter '{key}' must be a plain value, got {kind_of(value)}",
                    span,
                    "",
                    help="tensors flow into blocks through `->`",
                )
            _plain_parts(value, span, self.budget)  # nesting and size within limits
        return values

    def apply_module(
        self,
        frame: Frame,
        module: ModuleInfo,
        value: Any,
        span: Span,
        by_reference: bool = False,
        forward: LayerForward | None = None,
    ) -> Any:
        """Apply a built module; `by_reference` (`-> name`) places its node at the reference;
        `forward`: a layer's forward arguments (`attn(q, k, v, need_weights=False)`)."""
        if value is POISON:
            return POISON
        if module.kind in ("list", "dict"):
            raise _module_list_applied(module, span)
        self.budget.step(span, 1 if module.kind == "layer" else APPLICATION_STEPS)  # empty too
        if module.kind == "layer":
            if module.args is None:
                return POISON
            several = module.op.inputs > 1 and isinstance(value, (tuple, list))
            operands = tuple(value) if several else (value,)  # Bilinear: (a, b) -> Bilinear(...)
            if any(operand is POISON for operand in operands):
                return POISON
            if not all(isinstance(operand, Tensor) for operand in operands):
                count = "one tensor" if module.op.inputs == 1 else f"{module.op.inputs} tensors"
                raise _error(
                    "E108",
                    f"{module.op.name} takes {count}, got {kind_of(value)}",
                    span,
                    "",
                    help=unpack_help(value) or _forward_by_keyword(module.op, value),
                )
            node_id = self._new_node_id(module.path)
            forward = forward or LayerForward()
            node = Node(
                node_id,
                "op",
                span if by_reference else module.span,
                module.name,
                op=module.op,
                args=_without(module.args, module.op.tensor_params),
                checked_args=module.checked_args,
                arg_spans={**module.arg_spans, **forward.spans}
                if forward.spans
                else module.arg_spans,
                inputs=tuple(operand.node for operand in operands)
                + tuple(tensor.node for _, tensor in forward.tensor_inputs()),
                module=module.path,
                scope=frame.module.path,
                forward_inputs=tuple(name for name, _ in forward.tensor_inputs()),
                forward_args=dict(forward.values),
            )
            module.applications.append(node_id)
            if module.op.outputs is not None:  # MultiheadAttention: (output, weights)
                outputs = self._several_outputs(node, module.op.outputs(module.args), span)
                return _none_outputs(self.model, module.op, outputs, forward, span)
            self._add_node(node)
            return Tensor(node_id)
        call = ContainerCall(
            module.path, frame.module.path, _node_ids(value), self.graph.number_of_nodes()
        )
        call.mode = self.mode
        if module.kind == "sequential":
            for child in module.children.values():
                _one_tensor_into(module, child, value, span)
                value = self.apply_module(frame, child, value, span)
        else:
            value = self._instantiate(module, value, span)
        call.end = self.graph.number_of_nodes()
        call.outputs = _node_ids(value)
        self.model.calls.append(call)
        return value

    def _instantiate(self, module: ModuleInfo, value: Any, span: Span) -> Any:
        definition: ast.Definition = module.definition
        name = definition.name.id
        first = self.running.get(id(definition))
        if first is not None:
            chain = chain_text([entry for entry, _ in self.block_stack[first:]] + [name])
            raise _error(
                "E107",
                f"block {name} contains itself ({chain})",
                span,
                "recursion",
                secondary=[(definition.name.span, "defined here")],
                help="a block cannot contain itself, even under an `if` that would end it: "
                "write the levels out as blocks of their own, or repeat one with a loop",
            )
        inputs = [s for s in definition.body if isinstance(s, ast.Input)]
        values = dict(module.params)
        arguments = list(value) if isinstance(value, (tuple, list)) else [value]
        if len(arguments) != len(inputs):
            raise _error(
                "E104",
                f"block {name} takes {len(inputs)} input tensor(s), got {len(arguments)}",
                span,
                "",
                secondary=[(definition.name.span, "defined here")],
            )
        for stmt, argument in zip(inputs, arguments):
            if argument is not POISON and not isinstance(argument, Tensor):
                raise _error(
                    "E108",
                    f"block {name} input '{stmt.name.id}' must be a tensor, "
                    f"got {kind_of(argument)}",
                    span,
                    "",
                )
            values[stmt.name.id] = argument
        # A second application re-runs the body but reuses the children built the first time.
        replay = module.elaborated
        if replay:
            self.replay_roots.append(module.path)
        self.applications += 1
        frame = Frame(definition, module, values, {}, definition.labels)
        frame.application = self.applications
        frame.namespace = module.call.definition.namespace  # names resolve in the block's file
        self.running[id(definition)] = len(self.block_stack)
        self.block_stack.append((name, definition))
        self.deepest = max(self.deepest, len(self.block_stack))
        try:
            self._run_body(frame, definition.body)
        finally:
            self.block_stack.pop()
            del self.running[id(definition)]
            if replay:
                self.replay_roots.pop()
        module.elaborated = True
        if frame.returned is None:
            raise _error(
                "E109",
                f"block {name} returns nothing",
                definition.name.span,
                "no `return` statement",
            )
        if len(frame.returned) == 1:
            return frame.returned[0]
        return Outputs(frame.returned, f"{module.path} ({name})")  # `a, b = x -> block`

    # ================================================================ training vs eval, dicts
    def _run_mode_branches(self, frame: Frame, stmt: ast.If, mode: str) -> None:
        """`if training { ... } else { ... }`: both branches become code (`if self.training:`),
        each body's nodes marked with its mode, so that inference checks the shapes of both.
        Each branch starts from the values bound before the `if`, as Python's would; a name
        bound in one branch holds a value of that mode only (reading it in the other mode is
        E108), and one bound in both would need a value per mode, which is refused."""
        before = dict(frame.values)
        bound: dict[str, Any] = {}
        for body, branch_mode in ((stmt.body, mode), (stmt.orelse, other_mode(mode))):
            if not body or (self.mode is not None and self.mode != branch_mode):
                continue  # an empty branch, or one that never runs (`if training` in an else)
            _require_return_last(body)
            if frame.module.kind != "model" and isinstance(body[-1], ast.Return):
                self._run_mode_return(frame, body[-1])  # E109: only a model's return may differ
            saved, self.mode = self.mode, branch_mode
            frame.values.clear()
            frame.values.update(before)
            try:
                self._run_body(frame, body)
            finally:
                self.mode = saved
            for name, value in frame.values.items():
                if before.get(name, POISON) is not value or name not in before:
                    if name in bound:
                        value = POISON
                        self.report(_bound_in_both_modes(name, stmt.span))
                    bound[name] = value
        frame.values.clear()
        frame.values.update(before)
        frame.values.update(bound)
        returned = [m for m in (TRAIN, EVAL) if m in frame.mode_returns]
        if self.mode is None and len(returned) == 1 and frame.returned is None:
            # After `if training { return ... }` the rest of the model runs only in eval.
            self.mode = other_mode(returned[0])

    def _run_mode_return(self, frame: Frame, stmt: ast.Return) -> None:
        """A return of a dict, or one that holds in one mode only (inside `if training`, or
        after a return there): recorded per mode; the model's outputs follow in _finish_model."""
        if frame.module.kind != "model":
            dict_return = next((v for v in stmt.values if type(v) is ast.DictExpr), None)
            what = "a dict" if dict_return is not None else "a value that depends on `training`"
            raise _error(
                "E109",
                f"only a model can return {what}; this is block {frame.definition.name.id}",
                stmt.span,
                "in a block",
                help="return tensors from the block, and build the dict or the `if training` "
                "return in the model that applies it",
            )
        values, keys = self._returned_values(frame, stmt)
        if self.mode is None:
            frame.returned, frame.returned_keys = values, keys
            return
        frame.mode_returns[self.mode] = (values, keys)
        if other_mode(self.mode) in frame.mode_returns:
            frame.returned = values  # both modes have returned: whatever follows never runs

    def _returned_values(self, frame: Frame, stmt: ast.Return) -> tuple[list, tuple | None]:
        """The values a return gives, and the keys if it returns a dict."""
        dicts = [v for v in stmt.values if type(v) is ast.DictExpr]
        if dicts and len(stmt.values) > 1:
            raise _error(
                "E108",
                "a dict is returned on its own, not beside other values",
                dicts[0].span,
                "beside other values",
                help='put every output in the dict: `return {"out": x, "aux": aux}`',
            )
        exprs = list(dicts[0].values) if dicts else list(stmt.values)
        keys = self._dict_keys(frame, dicts[0]) if dicts else None
        values = [self.evaluator.eval(frame, expr) for expr in exprs]
        for value, expr in zip(values, exprs):
            self._require_tensor_or_poison(value, expr.span, "return")
            self._require_mode_of(value, expr.span)
        return values, keys

    def _dict_keys(self, frame: Frame, expr: ast.DictExpr) -> tuple[str, ...]:
        keys: dict[str, Span] = {}
        for key_expr in expr.keys:
            key = self.evaluator.eval(frame, key_expr)
            if key is POISON:
                continue
            if not isinstance(key, str):
                raise _error(
                    "E108",
                    f"a returned dict's keys are strings, this one is {kind_of(key)}",
                    key_expr.span,
                    "not a string",
                    help=f'quote it: `"{key}": ...` (torchvision\'s models return "out", "aux")',
                )
            if key in keys:
                raise _error(
                    "E103",
                    f"the key {key!r} is in the returned dict twice",
                    key_expr.span,
                    "again",
                    secondary=[(keys[key], "first here")],
                    help="give each output its own key",
                )
            keys[key] = key_expr.span
        return tuple(keys)

    def _require_mode_of(self, value: Any, span: Span) -> None:
        """A tensor computed in one mode only (`if training { aux = ... }`) is read in that
        mode only: the compiled module would have no such value in the other."""
        if isinstance(value, Tensor):
            source = self.model.node(value.node)
            if source.mode is not None and source.mode != self.mode:
                raise self._mode_mismatch(source, span)

    def _mode_of_new_node(self, node: Node) -> None:
        node.mode = self.mode
        for source_id in node.inputs:
            source = self.model.node(source_id)
            if source.mode is not None and source.mode != self.mode:
                raise self._mode_mismatch(source, node.span)

    def _mode_mismatch(self, source: Node, span: Span) -> diag.ArchError:
        used = "in both modes" if self.mode is None else mode_words(self.mode)
        branch = "`if training { ... }`" if source.mode == TRAIN else "`if not training { ... }`"
        return _error(
            "E108",
            f"'{source.name}' is computed only {mode_words(source.mode)}, but is used here {used}",
            span,
            f"runs {used}",
            secondary=[(source.span, f"computed only {mode_words(source.mode)}")],
            help=f"use it inside {branch} as well, or compute it outside the `if`",
        )

    def _add_mode_outputs(self, frame: Frame) -> None:
        """The output nodes of a model whose return is a dict or differs by mode: one
        ModelReturn per mode (a return outside any `if training` holds for the modes that have
        none of their own)."""
        returns = dict(frame.mode_returns)
        if not returns:  # `return {"out": x}`: one return for both modes
            returns[None] = (frame.returned, frame.returned_keys)
        else:  # the unconditional return holds in the mode without a return of its own
            for mode in (TRAIN, EVAL):
                returns.setdefault(mode, (frame.returned, frame.returned_keys))
        for mode in (None, EVAL, TRAIN):  # the eval output first: model.outputs[0] as before
            if mode not in returns:
                continue
            values, keys = returns[mode]
            prefix = "output" if mode in (None, EVAL) else "train_output"
            returned = ModelReturn([], keys, mode)
            for index, value in enumerate(values):
                if not isinstance(value, Tensor):
                    continue
                name = keys[index] if keys is not None else f"{prefix}{index or ''}"
                node_id = self._new_node_id(f"{prefix}{index}" if index else prefix)
                node = Node(node_id, "output", self.model.node(value.node).span, name)
                node.inputs, node.mode = (value.node,), mode
                self._add_node(node)
                returned.outputs.append(node_id)
                self.model.outputs.append(node_id)
            self.model.returns.append(returned)

    # ================================================================ graph helpers
    def _namespace(self, frame: Frame) -> dict[str, Definition]:
        return self.definitions if frame.namespace is None else frame.namespace

    def _replaying(self, module: ModuleInfo) -> bool:
        return any(
            module.path == root or module.path.startswith(root + ".") for root in self.replay_roots
        )

    def _new_node_id(self, base: str) -> str:
        # Nodes are never removed, so every suffix below the last one used is taken.
        counter = self.id_counters.get(base, 0)
        node_id = f"{base}#{counter}" if counter else base
        while node_id in self.graph:
            counter += 1
            node_id = f"{base}#{counter}"
        self.id_counters[base] = counter
        return node_id

    def _add_node(self, node: Node) -> None:
        if self.graph.number_of_nodes() >= MAX_NODES:
            too_many = diag.make(
                "E110",
                f"the model has more than {MAX_NODES:,} layers and functions",
                node.span,
                "while adding this",
                help="check loop bounds and block repetitions",
            )
            self.budget.stop(node.span, too_many)  # like MAX_STEPS: one error, every later step
        if node.kind == "op":
            self._mode_of_new_node(node)
            self._require_not_built(node)
        node.index = self.graph.number_of_nodes()
        self.graph.add_node(node.id, node=node)
        for position, source in enumerate(node.inputs):
            if position == 0 or not self.graph.has_edge(source, node.id):  # `x + x`: one edge
                self.graph.add_edge(source, node.id, index=position)

    def _require_not_built(self, node: Node) -> None:
        for source in node.inputs:
            built_for = self.model.node(source).built_for
            if built_for is not None:
                raise _error(
                    "E108",
                    f"this value is computed when the module is built, as the initial value of "
                    f"'{built_for}'; forward cannot read it",
                    node.span,
                    "computed in __init__",
                    help=f"read `{built_for}` instead",
                )

    # ================================================================ indexing, parameters, buffers
    def tensor_index(self, frame: Frame, expr, value: Tensor, items: list) -> Any:
        """`x[:, 0]`: a getitem node; its shape rule (ops/indexing.py) follows torch.
        `table[index]` with a tensor index: an advanced_index node."""
        if any(isinstance(item, Tensor) for item in items):
            return self._tensor_indexed(frame, expr, value, items)
        op = REGISTRY["getitem"]
        items_ast = expr.items if isinstance(expr, ast.Subscript) else (expr.index,)
        spans = {"index": items_ast[0].span.to(items_ast[-1].span)}
        index = Indices(tuple(items))
        return self._op_node(frame, op, {"input": value, "index": index}, spans, expr.span, op.name)

    def _tensor_indexed(self, frame: Frame, expr, value: Tensor, items: list) -> Any:
        """`table[index]`, index an integer tensor: torch's advanced indexing of dim 0, the one
        form archspec knows (an advanced_index node, ops/indexing.py)."""
        if len(items) != 1:
            raise _error(
                "E108",
                "a tensor index must be the only index: `table[index]` picks rows of dim 0",
                expr.span,
                "tensor among other indices",
                help="move the indexed dim first (`x -> transpose(0, d)`), index it alone, and "
                "move it back",
            )
        op = REGISTRY["advanced_index"]
        spans = {"index": expr.index.span}
        values = {"input": value, "index": items[0]}
        return self._op_node(frame, op, values, spans, expr.span, op.name)

    def _run_tie(self, frame: Frame, stmt: ast.Tie) -> None:
        """`tie head.weight = wte.weight`: recorded once on the module whose body states it. The
        parameters are looked up and compared after inference (archspec.shapes.ties), when every
        `?` argument, and so every weight's shape, is known."""
        if self._replaying(frame.module):  # a block applied again: its ties are recorded
            return
        target = self._tied_layer(frame.module, stmt.target)
        source = self._tied_layer(frame.module, stmt.source)
        frame.module.ties.append(TieInfo(target, source, stmt.span, stmt.target.span,
                                         stmt.source.span))  # fmt: skip

    def _tied_layer(self, module: ModuleInfo, path: ast.ParamPath) -> str:
        """`enc.embed.weight`: the layer `enc.embed` must exist below `module` (a block's layers
        exist once it has been applied); its parameter is checked after inference."""
        *layers, _param = path.names
        for name in layers:
            child = module.children.get(name.id)
            if child is None:
                near = closest(name.id, module.children)
                where = f"in {module.path}" if module.path else "here"
                advice = "declare the layer before the tie (a block's layers exist once it runs)"
                raise _error(
                    "E102",
                    f"no layer or block named '{name.id}' {where}",
                    name.span,
                    "not defined",
                    help=f"did you mean '{near}'?" if near else advice,
                )
            module = child
        if module.kind != "layer":
            kind = _MODULE_KINDS.get(module.kind, module.kind)
            raise _error(
                "E108",
                f"'{path.text.rpartition('.')[0]}' is {kind}, not a layer: a tie names a "
                "layer's parameter",
                path.span,
                "not a layer",
                help="name a layer inside it, e.g. `block.layer.weight`",
            )
        return path.text

    def _run_state(self, frame: Frame, stmt: ast.State) -> None:
        """`param name: [shape] = init`: the module's own tensor, and a node that reads it (a new
        one each time the body runs: a block applied twice reads one parameter twice)."""
        _require_python_name(stmt.name, f"a {stmt.kind} name")
        name, module = stmt.name.id, frame.module
        if not self._replaying(module):
            if name in module.state:
                _state_name_taken(module.state[name], stmt.name.span)
            if name in module.children:
                raise _error(
                    "E103",
                    f"a layer named '{name}' already exists here",
                    stmt.name.span,
                    "defined again",
                    secondary=[(module.children[name].span, "first defined here")],
                    help="give the parameter or buffer a name of its own",
                )
            shape = tuple(self._state_size(frame, dim) for dim in stmt.shape.dims)
            init, init_args = self._state_init(frame, stmt)
            options = self._state_options(frame, stmt)
            module.state[name] = StateInfo(name, stmt.kind, shape, init, init_args, stmt.span,
                                           options, dtype=_state_dtype(stmt))  # fmt: skip
            built = module.state[name].init_node = init_args.pop("node", None)
        elif module.state[name].init == TENSOR:  # a block applied again: its own build nodes
            built = self._state_init(frame, stmt)[1]["node"]
        info = module.state[name]
        node_id = self._new_node_id(f"{module.path}.{name}" if module.path else name)
        node = Node(node_id, "state", stmt.span, name, declared_shape=info.shape, scope=module.path,
                    declared_dtype=info.dtype)  # fmt: skip
        if info.init == TENSOR:  # register_buffer(name, value): the value's dtype, unless stated
            node.args = {"init": built, "dtype_of_init": stmt.shape.dtype is None}
        self._add_node(node)
        frame.values[name] = Tensor(node_id)

    def _built_value(self, frame: Frame, stmt: ast.State, value: Tensor) -> str:
        """A tensor initial value: every node it comes from must be computable when the module
        is built (creation ops and tensor ops, no input, no parameter, no size read off an
        input). They are marked `built_for` the state: generated code computes them in __init__.
        Its shape is checked against the declared one, as `h: [shape] = ...` is."""
        node = self.model.node(value.node)
        if node.built_for is not None:
            raise _error(
                "E108",
                f"this value already initialises '{node.built_for}'",
                stmt.init.span,
                "used twice",
                help=f"read `{node.built_for}` in forward, or compute the value again",
            )
        pending, found = [node], {}
        while pending:
            current = pending.pop()
            if current.id in found:
                continue
            if current.kind != "op" or current.reads_sizes or current.mode is not None:
                what = {"input": "the input", "state": f"the {current.name} tensor"}.get(
                    current.kind, "a size read off the input"
                )
                raise _error(
                    "E108",
                    f"the initial value of '{stmt.name.id}' is computed when the module is "
                    f"built, but it reads {what} ({current.name}, line {current.span.line})",
                    stmt.init.span,
                    "not known when the module is built",
                    help="build initial values from numbers, block arguments and creation ops "
                    "(arange, zeros, meshgrid, ...) only",
                )
            found[current.id] = current
            pending.extend(self.model.node(source) for source in current.inputs)
        for current in found.values():
            current.built_for = stmt.name.id
        readers = {r for n in found for r in self.graph.successors(n)} - found.keys()
        if readers:
            reader = self.model.node(min(readers, key=lambda r: self.model.node(r).index))
            raise _error(
                "E108",
                f"the initial value of '{stmt.name.id}' is computed when the module is built, "
                f"but forward also reads a part of it ({reader.name}, line {reader.span.line})",
                stmt.init.span,
                "shared with forward",
                help=f"read `{stmt.name.id}` in forward instead, or compute that part again",
            )
        dims = tuple(self._state_size(frame, dim) for dim in stmt.shape.dims)
        stated = stmt.shape.dtype.id if stmt.shape.dtype is not None else None
        self.model.assertions.append(
            ShapeAssertion(
                value.node,
                dims,
                stmt.shape.span,
                frame.module.path,
                frame.application,
                dtype=stated,
            )  # fmt: skip
        )
        return value.node

    def _state_size(self, frame: Frame, dim) -> int:
        if isinstance(dim, ast.BoundedDim):
            raise _error(
                "E108",
                "a parameter's shape takes no ranges",
                dim.span,
                "a range",
                help="write its sizes as numbers or block arguments",
            )
        value = self.evaluator.eval(frame, dim)
        if is_int(value) and value > 0:
            return value
        if isinstance(value, Sym):
            raise _error(
                "E108",
                f"a parameter or buffer size must be a number, got the symbolic size {value}",
                dim.span,
                "depends on the input",
                help="torch allocates it when the module is built, before any input is seen: "
                "pass the size as a block or model argument",
            )
        raise _error(
            "E105",
            f"a parameter or buffer size must be a positive integer, got {kind_of(value)}",
            dim.span,
            "bad size",
            help="sizes are positive integers (archspec builds no empty tensors)",
        )

    def _state_init(self, frame: Frame, stmt: ast.State) -> tuple[str, dict[str, Any]]:
        """The initial value: a number (every element) or an initializer, `normal(std=0.02)`."""
        init = stmt.init
        if isinstance(init, ast.ExternValue):
            return EXTERN, self._extern_init(frame, init)
        if not (isinstance(init, ast.Call) and init.func.id in INITIALIZERS):
            value = self.evaluator.eval(frame, init)
            if is_number(value):
                return "full", {"fill_value": value}
            if isinstance(value, Tensor):
                return TENSOR, {"node": self._built_value(frame, stmt, value)}
            known = ", ".join(f"{name}()" for name in INITIALIZERS)
            raise _error(
                "E108",
                f"the initial value of '{stmt.name.id}' must be a number, an initializer or a "
                f"tensor, got {kind_of(value)}",
                init.span,
                "not an initial value",
                help=f"write a number (every element), one of {known}, or a tensor built from "
                "creation ops (`arange(7)`)",
            )
        name = init.func.id
        params = INITIALIZERS[name]
        signature = [f"signature: {_initializer_signature(name)}"]
        arguments = self.evaluator.arguments(frame, init)
        if len(arguments.positional) > len(params):
            raise _error(
                "E104",
                f"{name}() takes {len(params)} arguments, got {len(arguments.positional)}",
                init.span,
                "too many",
                notes=signature,
            )
        values = dict(zip((key for key, _ in params), arguments.positional))
        for key, value in arguments.keywords.items():
            if key not in dict(params) or key in values:
                problem = "is given twice" if key in values else "is not one of its parameters"
                raise _error(
                    "E104",
                    f"{name}(): '{key}' {problem}",
                    arguments.spans["=" + key],
                    "again" if key in values else "unknown",
                    notes=signature,
                )
            values[key] = value
        for key, default in params:
            values.setdefault(key, default)
            if not is_number(values[key]):
                raise _error(
                    "E108",
                    f"{name}()'s '{key}' must be a number, got {kind_of(values[key])}",
                    arguments.spans.get(key, init.span),
                    "not a number",
                    notes=signature,
                )
        return name, {key: values[key] for key, _ in params}

    def _extern_init(self, frame: Frame, init: ast.ExternValue) -> dict[str, Any]:
        """`extern "mypkg.init:causal_mask"(L)`: the function and its plain arguments (the
        checker trusts the declared shape; `archspec verify` calls it)."""
        value = self.evaluator.eval(frame, init)
        if value is POISON:  # an argument failed, and said so: the spec is not built
            module, attribute = split_target(init.target)
            value = PyObject(init.target.value, module, attribute, (), (), True)
        _plain_parts(value, init.span, self.budget)  # nesting and size within limits
        if not value.called:
            raise _error(
                "E108",
                f"an extern initial value is what a Python function returns: call it, "
                f'`extern "{value.target}"()`',
                init.span,
                "not called",
                help="the function runs when the module is built and returns the tensor",
            )
        return {
            "target": value.target,
            "module": value.module,
            "attribute": value.attribute,
            "args": value.args,
            "kwargs": dict(value.kwargs),
        }

    def _state_options(self, frame: Frame, stmt: ast.State) -> dict[str, bool]:
        options = dict(OPTIONS[stmt.kind])
        for argument in stmt.options:
            if argument.keyword not in options:
                known = ", ".join(f"{key}=" for key in OPTIONS[stmt.kind])
                raise _error(
                    "E104",
                    f"a {stmt.kind} has no option '{argument.keyword}'",
                    argument.span,
                    "unknown option",
                    help=f"a {stmt.kind} takes {known}",
                )
            value = self.evaluator.eval(frame, argument.value)
            if not isinstance(value, bool):
                raise _error(
                    "E108",
                    f"{argument.keyword} must be True or False, got {kind_of(value)}",
                    argument.value.span,
                    "not a boolean",
                    help=f"write {argument.keyword}=True or {argument.keyword}=False",
                )
            options[argument.keyword] = value
        return options

    def _require_tensor_or_poison(self, value: Any, span: Span, where: str) -> None:
        if value is not POISON and not isinstance(value, Tensor):
            raise _error(
                "E108",
                f"{where} needs a tensor, got {kind_of(value)}",
                span,
                "",
                help=unpack_help(value),
            )

    # ================================================================ several outputs
    def _run_unpack(self, frame: Frame, stmt: ast.Unpack) -> None:
        """`a, b = value`: the tensors of a chunk, a MultiheadAttention or a block's `return a, b`,
        one name each, as Python unpacks them; a nested target unpacks its item in turn
        (`out, (h, c) = x -> lstm`), and a name may hold a tuple (`out, hc = x -> lstm`)."""
        for target in ast.target_names(stmt.targets):
            _require_python_name(target, "a value name")
        first_new = self.graph.number_of_nodes()
        value = self.evaluator.eval(frame, stmt.value)
        if isinstance(value, Unsized):
            value = value.make(len(stmt.targets))
        if value is POISON:
            self._poison_targets(frame, stmt)
            return
        _check_unpacking(value, stmt.targets, stmt.value.span)
        pending = [iter(zip(stmt.targets, value))]  # left to right, nested targets in turn
        while pending:
            pair = next(pending[-1], None)
            if pair is None:
                pending.pop()
                continue
            target, item = pair
            if isinstance(target, ast.Targets):
                _check_unpacking(item, target.items, target.span)
                pending.append(iter(zip(target.items, item)))
                continue
            if target.id != "_":
                for tensor in [item] if isinstance(item, Tensor) else _tensors_in(item):
                    self._name_output(frame, tensor, target, first_new)
            frame.values[target.id] = item

    def _name_output(self, frame: Frame, tensor: Tensor, target: ast.Name, first_new: int) -> None:
        """As an assignment names the node it computed (an alias names nothing)."""
        node = self.model.node(tensor.node)
        if node.kind == "op" and node.index >= first_new:
            node.bindings.setdefault(frame.module.path, target.id)
            if not node.bound:
                node.name = target.id
                node.bound = True
                node.binding_span = target.span

    def _several_outputs(self, node: Node, count: int | None, span: Span) -> Any:
        """The value of an op with several outputs whose first node is `node` (not yet added):
        `count` nodes, or, where only shapes tell the count, an Unsized that makes them when
        unpacked."""
        if count is None:
            return Unsized(node.op.name, lambda wanted: self._output_nodes(node, wanted), span)
        return self._output_nodes(node, max(count, 1))  # chunks=0: inference reports it

    def _output_nodes(self, first: Node, count: int) -> Outputs:
        """One node per output, consecutive: codegen writes them as one statement."""
        first.outputs, first.group = count, first.id
        self._add_node(first)
        base = first.id.split("#")[0]
        tensors = [Tensor(first.id)]
        for index in range(1, count):
            node = replace(first, id=self._new_node_id(base), output=index, bindings={})
            self._add_node(node)
            tensors.append(Tensor(node.id))
        source = f"{first.module}({first.op.name})" if first.module else f"{first.op.name}()"
        groups = first.op.output_groups
        if groups is None or sum(groups) != count:
            return Outputs(tensors, source)
        items, start = [], 0  # as torch nests them: LSTM's (out, (h_n, c_n))
        for position, size in enumerate(groups):
            part = tensors[start : start + size]
            items.append(part[0] if size == 1 else Outputs(part, f"{source}[{position}]"))
            start += size
        return Outputs(items, source)

    def _declared_layer(self, frame: Frame, name: str) -> bool:
        """`name` is a layer of this body (`attn: MultiheadAttention(...)`), and no block."""
        return name in frame.layers and name not in self._namespace(frame)

    def _call_layer(self, frame: Frame, module: Any, call: ast.Call, arguments: Arguments) -> Any:
        """`attn(q, k, v)`: a declared layer called on tensors, as torch code calls a module; its
        forward arguments by keyword (`attn(q, k, v, need_weights=False)`, OpSpec.forward)."""
        if module is POISON:
            return POISON
        forward = self._forward_arguments(module, call, arguments)
        if forward is POISON:
            return POISON
        operands = arguments.positional
        if not operands:
            raise _error(
                "E104",
                f"'{call.func.id}' is called on nothing",
                call.span,
                "no tensor",
                help=f"apply it to a tensor: `{call.func.id}(x)` or `x -> {call.func.id}`",
            )
        value = operands[0] if len(operands) == 1 else tuple(operands)
        return self.apply_module(
            frame, module, value, call.span, by_reference=True, forward=forward
        )

    def _forward_arguments(self, module: Any, call: ast.Call, arguments: Arguments) -> Any:
        """The keywords of `attn(q, k, v, attn_mask=m, need_weights=False)`, bound to the layer's
        forward parameters (OpSpec.forward): a LayerForward, None without keywords, or POISON."""
        if not arguments.keywords:
            return None
        op = module.op if module.kind == "layer" else None
        name = call.func.id
        forward = LayerForward()
        for key, value in arguments.keywords.items():
            param = op.forward_param(key) if op is not None else None
            if param is None:
                raise _not_forward_argument(name, op, key, arguments.spans["=" + key])
            span = arguments.spans[key]
            if value is POISON:
                return POISON
            forward.spans[key] = span
            if param.is_tensor:
                if value is None:  # torch's default, written out: nothing to pass
                    continue
                tensors = _forward_tensors(op, param, key, value, span)
                if tensors is POISON:
                    return POISON
                forward.tensors[key] = tensors
                continue
            parts = _plain_parts(value, span, self.budget)
            if any(part is POISON for part in parts):
                return POISON
            if any(isinstance(part, (Tensor, Recipe, ModuleRef, NoneOutput)) for part in parts):
                raise _error(
                    "E108",
                    f"{op.name}'s '{key}' must be a plain value, not {kind_of(value)}",
                    span,
                    "not a plain value",
                )
            forward.values[key] = value
        return forward

    # ================================================================ ModuleList, ModuleDict
    def module_items(self, frame: Frame, name: ast.Name) -> list:
        """`for conv in convs`: a ModuleList's layers, bound one by one to the variable (applied
        as `x -> conv`); `for key in heads`: a ModuleDict's keys, as Python iterates a dict."""
        module = frame.layers[name.id]
        if module is POISON:
            return POISON
        if module.kind == "dict":
            return list(module.children)
        if module.kind != "list":
            raise _error(
                "E108",
                f"cannot loop over '{name.id}', a {_what_layer(module)}: only the layers of a "
                "ModuleList or the keys of a ModuleDict are looped over",
                name.span,
                "not a ModuleList or ModuleDict",
                help=f"apply it: `x -> {name.id}`",
            )
        children = module.children.values()
        return [ModuleRef(child, f"{name.id}[{i}]") for i, child in enumerate(children)]

    def _apply_list_child(self, frame: Frame, value: Any, stage: ast.LayerIndex) -> Any:
        """`x -> convs[i]`: one child of a ModuleList, picked by a number known when the spec is
        elaborated (a loop's or comprehension's variable too), applied as `self.convs[i](x)`;
        `x -> heads["out"]`: one child of a ModuleDict, by its key (`self.heads["out"](x)`);
        `x -> blocks[i][j]`: a child of a ModuleList that a ModuleList holds."""
        name = stage.name.id
        module = frame.layers.get(name)
        if module is POISON:
            return POISON
        if module is None:
            suggestion = closest(name, frame.layers)
            raise _error(
                "E102",
                f"no layer named '{name}' here",
                stage.name.span,
                "not a layer",
                help=f"did you mean '{suggestion}'?" if suggestion else None,
            )
        written = name
        for index_expr in stage.indices:
            if module.kind not in ("list", "dict"):
                raise _error(
                    "E108",
                    f"'{written}' is a {_what_layer(module)}, not a ModuleList or ModuleDict: "
                    "only their layers are taken by index or key",
                    index_expr.span,
                    "indexed",
                    help=f"apply it whole: `-> {written}`",
                )
            index = self.evaluator.eval(frame, index_expr)
            if index is POISON:
                return POISON
            if module.kind == "dict":
                module = self._dict_child(module, written, index_expr, index)
            else:
                module = self._list_child(module, written, index_expr, index)
            written += f"[{index_expr.span.text}]"
        return self.apply_module(frame, module, value, stage.span, by_reference=True)

    def _list_child(self, module: ModuleInfo, name: str, index_expr, index) -> ModuleInfo:
        if not is_int(index):
            raise _error(
                "E108",
                f"a ModuleList is indexed by a whole number, got {kind_of(index)}",
                index_expr.span,
                "not a whole number",
                help=f"write `{name}[0]`, or loop: `for i in range({len(module.children)})`",
            )
        children = list(module.children.values())
        count = len(children)
        if not -count <= index < count:
            valid = f"0 to {count - 1}" if count else "none"
            raise _error(
                "E105",
                f"index {index} is out of range: '{name}' holds {count} layers (valid: {valid})",
                index_expr.span,
                "out of range",
                help=f"use an index below {count}" if count else "add layers to the ModuleList",
            )
        return children[index]

    def _dict_child(self, module: ModuleInfo, name: str, index_expr, key) -> ModuleInfo:
        keys = list(module.children)
        shown = ", ".join(f"'{k}'" for k in keys) if keys else "none"
        if not isinstance(key, str):
            raise _error(
                "E108",
                f"a ModuleDict is indexed by a key, a string, got {kind_of(key)}",
                index_expr.span,
                "not a string",
                help=f"its keys are {shown}"
                + (f': `{name}["{keys[0]}"]`, or loop: `for key in {name}`' if keys else ""),
            )
        if key not in module.children:
            suggestion = closest(key, keys)
            hint = f"did you mean '{suggestion}'? " if suggestion else ""
            raise _error(
                "E102",
                f"'{name}' has no layer '{key}' (its keys: {shown})",
                index_expr.span,
                "no such key",
                help=f"{hint}use one of the ModuleDict's keys, or add the layer to it",
            )
        return module.children[key]


def _module_dict_children(call: ast.Call, children: list, keywords: dict, spans: dict) -> list:
    """The layers of `ModuleDict({"stem": a, "head": b})` (torch's form: one dict) or
    `ModuleDict(stem: a, head: b)`, each under its key."""
    if keywords:
        key = next(iter(keywords))
        raise _error(
            "E104",
            f"ModuleDict takes no keyword arguments ('{key}')",
            spans["=" + key],
            "keyword",
            help=f'give its layers in a dict, `ModuleDict({{"{key}": ...}})`, or name them: '
            f"`ModuleDict({key}: ...)`",
        )
    unnamed = [span for label, value, span in children if label is None and value is not POISON]
    if unnamed:
        raise _error(
            "E104",
            "the layers of a ModuleDict are named by their keys",
            unnamed[0],
            "no key",
            help='give each layer a key: `ModuleDict({"stem": Conv2d(...)})`, or use '
            "ModuleList(...) for numbered layers",
        )
    return children


def _module_list_children(name: str, positional: list, spans: dict, children: list, keywords):
    """The layers of `ModuleList(a, b)` or `ModuleList([a, b])` (torch's form: one list)."""
    if keywords:
        key = next(iter(keywords))
        raise _error("E104", f"{name} takes no keyword arguments ('{key}')", spans[key], "keyword")
    named = [span for label, _, span in children if label is not None]
    if named:
        raise _error(
            "E104",
            f"the layers of a {name} are numbered, not named",
            named[0],
            "named child",
            help="drop the name (they are 0, 1, ...), or use Sequential(...) for named layers",
        )
    if len(positional) == 1 and isinstance(positional[0], (list, tuple)):
        span = spans.get("#0")
        return [(None, item, span) for item in positional[0]]
    return [(None, item, spans.get(f"#{i}")) for i, item in enumerate(positional)]


def _module_list_applied(module: ModuleInfo, span: Span) -> diag.ArchError:
    count = len(module.children)
    last = max(count - 1, 0)
    if module.kind == "dict":
        keys = list(module.children)
        first = f'"{keys[0]}"' if keys else '"key"'
        return _error(
            "E108",
            f"the ModuleDict '{module.name}' is applied as a whole, but it holds {count} separate "
            "layers",
            span,
            "a ModuleDict",
            help=f"apply its layers one by one: `x -> {module.name}[{first}]`, or each in turn: "
            f"`[x -> {module.name}[key] for key in {module.name}]`; for layers applied in order "
            "use Sequential(...)",
        )
    return _error(
        "E108",
        f"the ModuleList '{module.name}' is applied as a whole, but it holds {count} separate "
        "layers",
        span,
        "a ModuleList",
        help=f"apply its layers one by one: `x -> {module.name}[0]`, or each in turn: "
        f"`[x -> {module.name}[i] for i in range({count})]` (indexes 0 to {last}); "
        "for layers applied in order use Sequential(...)",
    )


def _declared_dtype(shape: ast.Shape | None) -> str:
    """The dtype a shape states (`[N, L] int64`), float32 where it states none."""
    return shape.dtype.id if shape is not None and shape.dtype is not None else FLOAT32


_MODULE_KINDS = {"block": "a block instance", "sequential": "a Sequential", "list": "a ModuleList",
                 "dict": "a ModuleDict"}  # fmt: skip


def _state_dtype(stmt: ast.State) -> str:
    """A buffer takes any dtype; a parameter a floating one (torch computes no gradient of an
    integer tensor, and nn.Parameter refuses it)."""
    dtype = _declared_dtype(stmt.shape)
    if stmt.kind == PARAM and not is_floating(dtype):
        raise _error(
            "E108",
            f"a parameter must be floating, got {dtype}",
            stmt.shape.dtype.span,
            "not floating",
            help=f"make it a buffer (`buffer {stmt.name.id}: ...`), which holds {dtype} "
            "values, or declare it float32",
        )
    init = stmt.init
    drawn = isinstance(init, ast.Call) and init.func.id in ("normal", "uniform", "trunc_normal")
    if drawn and not is_floating(dtype):
        raise _error(
            "E108",
            f"{init.func.id}() draws floating values, but '{stmt.name.id}' is {dtype}",
            init.span,
            f"not {dtype}",
            help="start it as zeros(), ones(), full(value) or a number",
        )
    return dtype


def _state_name_taken(first: StateInfo, span: Span) -> None:
    raise _error(
        "E103",
        f"a {first.kind} named '{first.name}' already exists here",
        span,
        "defined again",
        secondary=[(first.span, "first defined here")],
        help="give each parameter, buffer and layer of a module its own name",
    )


def _initializer_signature(name: str) -> str:
    params = INITIALIZERS[name]
    parts = [key if default is None else f"{key}={default!r}" for key, default in params]
    return f"{name}({', '.join(parts)})"


def batch_position(dims: list) -> int:
    """The dim of a model input that is its batch: dim 0 (`[N, 3, H, W]`), or dim 1 where that
    one is named N (`[S, N, E]`, `[L, N, H_in]`: the sequence-first layout of torch's recurrent
    and Transformer layers, whose docs name the batch N), so that S and L are sizes."""
    names = [dim.id if isinstance(dim, ast.Name) else None for dim in dims[:2]]
    # `[B, N, C]` (timm's tokens) keeps its batch first: B names it
    return 1 if names[1:] == ["N"] and names[0] not in ("N", "B") else 0


@record
class LayerForward:
    """A layer's forward arguments at one call (`attn(q, k, v, attn_mask=m, need_weights=False)`):
    the tensor ones (a tensor, or a tuple of them: an LSTM's `hx=(h0, c0)`), the plain ones, and
    where each is written."""

    tensors: dict[str, Tensor | tuple[Tensor, ...]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, Span] = field(default_factory=dict)

    def tensor_inputs(self) -> list[tuple[str, Tensor]]:
        """(name, tensor) of each tensor the node takes after its operands: a tuple argument's
        items named `hx[0]`, `hx[1]` (graph.Node.forward_inputs; ops.apply.group_forward)."""
        inputs: list[tuple[str, Tensor]] = []
        for name, value in self.tensors.items():
            if isinstance(value, tuple):
                inputs.extend((tuple_item_name(name, i), item) for i, item in enumerate(value))
            else:
                inputs.append((name, value))
        return inputs


def _forward_by_keyword(op: OpSpec, value: Any) -> str | None:
    """The help for `gru(x, h0)`: torch takes hx by position too, a spec by keyword."""
    tensors = [param.name for param in op.forward if param.is_tensor]
    if not tensors or not isinstance(value, tuple) or len(value) <= op.inputs:
        return None
    return f"give {op.name}'s forward arguments by keyword: `{tensors[0]}=...`"


def _forward_tensors(op: OpSpec, param, key: str, value: Any, span: Span) -> Any:
    """A tensor forward argument: one tensor, or a tuple (or list) of tensors where the
    parameter's check takes one (an LSTM's `hx=(h0, c0)`); the check judges the structure
    (Param.check of a tensor forward parameter), its refusal an E108 here."""
    items = tuple(value) if isinstance(value, (tuple, list)) else None
    if items is not None and any(item is POISON for item in items):
        return POISON
    several = items is not None and param.check is not None
    if not (isinstance(value, Tensor) or several and all(isinstance(i, Tensor) for i in items)):
        kinds = "a tensor, a tuple of tensors" if param.check is not None else "a tensor"
        raise _error(
            "E108",
            f"{op.name}'s '{key}' must be {kinds} or None, got {kind_of(value)}",
            span,
            "not a tensor",
            help=unpack_help(value),
        )
    tensors = items if several else value
    if param.check is not None:
        try:
            param.check(key, tensors)
        except ArgError as error:
            raise _error("E108", error.message, span, "", help=error.help) from None
    return tensors


def _not_forward_argument(name: str, op: OpSpec | None, key: str, span: Span) -> diag.ArchError:
    """E104 for `attn(q, k, v, key=...)` where `key` is no forward parameter of the layer: a
    constructor argument (given where the layer is declared), or an unknown name."""
    if op is not None and op.has_param(key):
        return _error(
            "E104",
            f"'{key}' is an argument of {op.name} itself, not of its forward",
            span,
            "constructor argument",
            help=f"give it where the layer is declared: `{name}: {op.name}(..., {key}=...)`",
        )
    if op is None or not op.forward:
        return _error(
            "E104",
            f"'{name}' is applied to tensors only; '{key}' is not one",
            span,
            "keyword",
            help="give the layer's own arguments where it is declared",
        )
    suggestion = closest(key, [param.name for param in op.forward])
    return _error(
        "E104",
        f"{op.name}'s forward has no argument '{key}'",
        span,
        "unknown",
        notes=[f"forward: {op.forward_signature}"],
        help=f"did you mean '{suggestion}'?" if suggestion else None,
    )


def _one_tensor_into(sequential: ModuleInfo, child: ModuleInfo, value: Any, span: Span) -> None:
    """nn.Sequential hands one value from layer to layer (its forward takes one input): several
    tensors flowing into one of its layers cannot run in torch."""
    if not isinstance(value, (tuple, list)) or len(value) == 1:
        return
    name = sequential.path.rpartition(".")[2] or "the Sequential"
    raise _error(
        "E104",
        f"Sequential {name} hands one tensor from layer to layer, as nn.Sequential does; "
        f"{len(value)} tensors flow into its layer {child.path.rpartition('.')[2]}",
        span,
        f"{len(value)} tensors",
        help="declare the layers in a ModuleList and apply them one by one: "
        "`a, b = (x, y) -> stages[0] -> stages[1]`",
    )


def _none_outputs(model, op: OpSpec, value: Any, forward: LayerForward, span: Span) -> Any:
    """The outputs of a layer of several, those torch returns as None for these forward values
    (need_weights=False: MultiheadAttention's weights) made NoneOutputs, an error where read.
    Their graph nodes stay, so generated code unpacks as many values (`y, _ = ...`)."""
    if op.none_outputs is None or not isinstance(value, Outputs):
        return value
    given = {**forward.values, **forward.tensors}
    absent = op.none_outputs({p.name: given.get(p.name, p.default) for p in op.forward})
    if not absent:
        return value
    for index in absent:
        model.node(value[index].node).returns_none = True
    items = [
        NoneOutput(*absent[index], span) if index in absent else item
        for index, item in enumerate(value)
    ]
    return Outputs(items, value.source)


def _without(args: dict[str, Any], names) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in names} if names else dict(args)


def _check_unpacking(value: Any, targets: tuple, span: Span) -> None:
    """E108 unless `value` is a tuple of exactly as many items as `targets` (`span`: the value
    unpacked, or the nested target that unpacks an item)."""
    count = len(targets)
    if not isinstance(value, (tuple, list)):
        raise _error(
            "E108",
            f"cannot unpack {kind_of(value)} into {count} names",
            span,
            "one value",
            help="only several tensors unpack (chunk, split, unbind, MultiheadAttention, LSTM, "
            "a block that returns several); bind one value with one name",
        )
    if len(value) != count:
        raise _error(
            "E108",
            f"{count} names cannot unpack {kind_of(value)}: {len(value)} ≠ {count}",
            span,
            f"{len(value)} values",
            help=f"write {len(value)} names: `{_unpack_pattern(value)} = ...`",
        )


def _unpack_pattern(value: tuple) -> str:
    """The targets that unpack `value`: `t0, t1`, or as it nests, `t0, (t1, t2)`."""
    if len(value) > 4:
        return "..."
    names = iter(f"t{i}" for i in range(12))
    return ", ".join(
        f"({', '.join(next(names) for _ in item)})" if isinstance(item, tuple) else next(names)
        for item in value
    )


def _tensors_in(value: Any) -> list[Tensor]:
    """The tensors directly in a tuple (`hc` of `out, hc = x -> lstm`: h and c bear its name)."""
    if not isinstance(value, tuple):
        return []
    return [item for item in value if isinstance(item, Tensor)]


def _node_ids(value: Any) -> tuple[str, ...] | None:
    """The graph nodes behind a tensor or a tuple of tensors (None if any is POISON)."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    if not all(isinstance(item, Tensor) for item in items):
        return None
    return tuple(item.node for item in items)


def _what_layer(module: ModuleInfo) -> str:
    """What a declared layer is, for messages: `Conv2d`, or its kind (`block`)."""
    return module.call.func if module.call is not None else module.kind


def _no_python_object(op: OpSpec, key: str, parts: list[Any], span: Span) -> None:
    """An E108 where an op of archspec's own is given an `extern "m:attr"` value: only an
    extern's constructor takes Python objects (archspec knows no rule for what they do)."""
    found = next((part for part in parts if isinstance(part, PyObject)), None)
    if found is not None and op.extern is None:
        raise _error(
            "E108",
            f"{op.name}'s '{key}' takes a plain value, got {kind_of(found)}",
            span,
            "a Python object",
            help="a Python object is an extern's argument or a buffer's initial value: declare "
            "the layer that takes it as an `extern`",
        )


def _plain_parts(value: Any, span: Span, budget: StepBudget) -> list[Any]:
    """What a layer's or block's argument holds below its lists and tuples (the value itself if it
    is neither), read level by level without recursion. Nesting deeper than MAX_VALUE_DEPTH is
    E002, and more than MAX_STEPS items, counting each use of a shared list, E110: later stages
    (generated code, messages) write values out in full, recursively. Each item read is a step
    of `budget`: a loop may pass the same long list to many layers. An extern value is a part,
    and its arguments are read as a list's items are (generated code writes them too)."""
    nested = (list, tuple, PyObject)
    if not isinstance(value, nested):
        return [value]
    if not isinstance(value, PyObject) and not any(isinstance(item, nested) for item in value):
        budget.step(span, len(value))
        return list(value)  # the usual case: a number, or a tuple of numbers
    parts: list[Any] = []
    level: dict[int, tuple[Any, int]] = {id(value): (value, 1)}  # item -> how often it occurs
    depth = size = 0
    while level:
        inside: dict[int, tuple[Any, int]] = {}
        level_size = 0
        for item, count in level.values():
            level_size += count
            if not isinstance(item, nested):
                parts.append(item)
                continue
            if isinstance(item, PyObject):
                parts.append(item)
                item = [*item.args, *(v for _, v in item.kwargs)]
            for part in item:
                inside[id(part)] = (part, inside.get(id(part), (part, 0))[1] + count)
        depth += any(isinstance(item, nested) for item, _ in level.values())
        if depth > MAX_VALUE_DEPTH:
            raise _error(
                "E002",
                f"this value nests lists more than {MAX_VALUE_DEPTH} levels deep",
                span,
                "too deep",
                help="a layer or block argument holds numbers, or lists and tuples of them",
            )
        size += level_size
        if size > MAX_STEPS:
            raise _error("E110", f"this value holds more than {MAX_STEPS:,} items", span, "")
        budget.step(span, level_size)
        level = inside
    return parts


def _layer_twin(function: str) -> str:
    twins = {name.lower(): name for name, op in REGISTRY.items() if op.kind == "layer"}
    return twins.get(function.replace("_", ""), "Layer")


def _require_python_name(name: ast.Name, what: str) -> None:
    """Refuse a name that generated Python would read as another name (NFKC): E105, as for
    layer names."""
    problem = python_reading_problem(name.id)
    if problem is not None:
        raise _error("E105", problem, name.span, f"not usable as {what}")


def _bind_help(op: OpSpec, error: BindError, positional: list) -> str | None:
    if error.keyword is not None:
        suggestion = closest(error.keyword, [p.name for p in op.params])
        if suggestion:
            return f"did you mean '{suggestion}'?"
    tensor_params = [p for p in op.params if p.is_tensor]
    if op.kind == "function" and tensor_params and not positional:
        twin = _layer_twin(op.name)
        layer = f"; inside Sequential use the layer {twin}()" if twin != "Layer" else ""
        return f"{op.name}() is a function of a tensor: write `x -> {op.name}(...)`{layer}"
    return None


def _block_signature(definition: ast.Definition) -> str:
    parts = []
    for param in definition.params:
        text = param.name.id
        if param.default is not None:
            text += "=" + param.default.span.text
        parts.append(text)
    return f"{definition.name.id}({', '.join(parts)})"


def _mode_condition(test: ast.Expr) -> str | None:
    """TRAIN for `if training`, EVAL for `if not training`, None for a condition decided when the
    spec is compiled. Read off the syntax: `training` is no value (evaluate.TRAINING)."""
    if type(test) is ast.Name and test.id == TRAINING:
        return TRAIN
    if type(test) is ast.UnaryOp and test.op == "not":
        inner = _mode_condition(test.operand)
        return None if inner is None else other_mode(inner)
    return None


def _require_return_last(body) -> None:
    """In a branch on `training` a return ends the branch (statements after it never run)."""
    for stmt in body[:-1]:
        if isinstance(stmt, ast.Return):
            raise _error(
                "E109",
                "statement after return is never run",
                body[body.index(stmt) + 1].span,
                "unreachable",
                help="move it before the `return`, or delete it",
            )


def _bound_in_both_modes(name: str, span: Span) -> diag.Diagnostic:
    return diag.make(
        "E108",
        f"'{name}' is bound in both branches of this `if training`: after it, its value would "
        "depend on the mode",
        span,
        "a value per mode",
        help=f"use '{name}' inside each branch (e.g. return it there), or give the two values "
        "different names",
    )
