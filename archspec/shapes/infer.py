"""Shape inference: one pass over each model graph in creation (= topological) order, calling each
op's registry rule. A node whose inputs are unknown (an error upstream) is skipped silently, so a
root cause is reported once; stated shapes (`h: [N, 32, 14, 14] = ...`) are checked last."""

from __future__ import annotations

import re
from typing import Any

from archspec.core import diagnostic as diag
from archspec.core.dims import (
    Dim,
    Guard,
    Shape,
    Sizing,
    SymbolicError,
    active_sizing,
    format_shape,
    substitute,
)
from archspec.core.memory import gc_paused
from archspec.core.records import field, record, replace
from archspec.core.source import Span
from archspec.elaborate.graph import WILDCARD, ModelGraph, Node, PatternVar
from archspec.elaborate.run_sizes import Unresolved, is_run_size, resolve
from archspec.ops import OpFailure
from archspec.ops.apply import Evaluation, evaluate, split_forward
from archspec.ops.base import show_value
from archspec.ops.common import layout_of
from archspec.ops.multi import COUNT_NOTE
from archspec.ops.value_ranges import BOOLEAN, ValueRange


@record
class Inference:
    shapes: dict[str, Shape] = field(default_factory=dict)
    # A symbolic run (hints given): the constraints its decisions rest on (see dims.Sizing).
    guards: list[Guard] = field(default_factory=list)
    hints: dict[str, int] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)  # op nodes
    explanations: dict[str, dict[int, str]] = field(default_factory=dict)
    module_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # resolved, per layer path
    dtypes: dict[str, str] = field(default_factory=dict)  # every node with a shape: its dtype
    # Integer and bool nodes whose values archspec knows (ops/value_ranges.py): their range.
    ranges: dict[str, ValueRange] = field(default_factory=dict)

    def shape(self, node_id: str) -> Shape | None:
        return self.shapes.get(node_id)

    def dtype(self, node_id: str) -> str:
        return self.dtypes.get(node_id, "float32")


@gc_paused
def infer(
    model: ModelGraph,
    reporter: diag.Reporter,
    *,
    hints: dict[str, int] | None = None,
    values: dict[str, int] | None = None,
) -> Inference:
    """Shapes of every node. With `hints`, symbolic input sizes stay symbolic and every
    comparison on them is decided at the hints and recorded (Inference.guards); with `values`,
    they are replaced by those numbers (a concrete run, for counter-examples)."""
    if not hints:
        return _infer(model, reporter, values, None)
    with Sizing(hints) as sizing:
        result = _infer(model, reporter, values, sizing)
    result.guards = sizing.guards
    result.hints = dict(hints)
    return result


def _infer(model, reporter, values, sizing: Sizing | None) -> Inference:
    result = Inference()
    size_memo: dict = {}  # run_sizes.resolve's, for this run
    for node in model.nodes():
        if sizing is not None:
            sizing.node = node.id
        if node.kind in ("input", "state"):  # a parameter or buffer: its declared shape too
            shape = node.declared_shape
            if values:
                shape = tuple(substitute(dim, values) for dim in shape)
            result.shapes[node.id] = shape
            result.dtypes[node.id] = node.declared_dtype
            if node.args.get("dtype_of_init"):  # `buffer index: [49] = arange(49)`: int64
                result.dtypes[node.id] = result.dtypes.get(node.args["init"], node.declared_dtype)
            _keep_range(result, node.id, result.ranges.get(node.args.get("init")))  # a buffer
            continue
        inputs = [result.shapes.get(source) for source in node.inputs]
        if any(shape is None for shape in inputs):
            continue
        if node.kind == "output":
            result.shapes[node.id] = inputs[0]
            result.dtypes[node.id] = result.dtypes[node.inputs[0]]
            _keep_range(result, node.id, result.ranges.get(node.inputs[0]))
            continue
        explanations = [result.explanations.get(source, {}) for source in node.inputs]
        args, checked_args = node.args, node.checked_args
        if node.reads_sizes:  # `pad(x, (0, 0, 0, (7 - W % 7) % 7))`: W of this run's shapes
            try:
                args = resolve(args, result.shapes.get, size_memo, values)
            except Unresolved:
                continue  # read off a tensor that failed upstream: reported there
            except SymbolicError as error:
                reporter.add(_run_size_diagnostic(node, error))
                continue
        if values:  # `view(-1, H // 2)` at H = 5 divides by 2, as the concrete input does
            args, checked_args = _at_values(args, values), _at_values(checked_args, values)
        try:
            dtypes = [result.dtypes[source] for source in node.inputs]
            ranges = [result.ranges.get(source) for source in node.inputs]
            forward = None
            if node.forward_inputs or node.forward_args:  # `attn(q, k, v, attn_mask=m)`
                inputs, dtypes, forward = split_forward(
                    inputs, dtypes, node.forward_inputs, node.forward_args
                )
                explanations, ranges = explanations[: len(inputs)], ranges[: len(inputs)]
            evaluation = evaluate(
                node.op, args, inputs, explanations, checked_args, dtypes, forward, ranges
            )
            if node.group is not None:
                evaluation = one_output(node, evaluation)
        except OpFailure as failure:
            if node.output == 0:  # the other outputs of one op would say the same again
                reporter.add(_failure_diagnostic(model, result, node, failure))
            continue
        if evaluation.shape is None:  # torch returns None here (need_weights=False): no shape
            continue
        if node.module is not None:
            first = result.module_args.setdefault(node.module, evaluation.args)
            if first != evaluation.args:
                reporter.add(_reuse_diagnostic(model, node, first, evaluation.args))
                continue
        result.shapes[node.id] = evaluation.shape
        result.dtypes[node.id] = evaluation.dtype
        result.evaluations[node.id] = evaluation
        _keep_range(result, node.id, evaluation.values)
        explained = _carry_explanations(evaluation, inputs[0] if inputs else None, explanations)
        if explained:
            result.explanations[node.id] = explained
        for warning in evaluation.warnings:
            reporter.add(_failure_diagnostic(model, result, node, warning))
    _check_assertions(model, result, reporter)
    return result


def _run_size_diagnostic(node: Node, error: SymbolicError) -> diag.Diagnostic:
    return diag.make(
        "E210",
        f"{node.name} reads a size off its block's input that must be a number here: {error}",
        node.span,
        label="needs numeric sizes",
        help="give the model's input sizes as numbers or ranges (`H in 32..512`), so that "
        "each condition on them is decided",
    )


def one_output(node: Node, evaluation: Evaluation) -> Evaluation:
    """The evaluation of an op with several outputs (chunk, MultiheadAttention), as seen by the
    node of its output `node.output`: that output's shape, and the op's parameters and MACs on
    the first output's node only. Torch giving another count of outputs than the spec takes
    (chunk(3) of a size 4 gives 2) is an E105 at the argument that sets the count."""
    shapes = evaluation.shape
    if len(shapes) != node.outputs:
        note = evaluation.explanations.get(COUNT_NOTE)
        count_arg = next(
            (p.name for p in node.op.params if not p.is_tensor and p.name in node.arg_spans), None
        )
        raise OpFailure(
            "E105",
            f"{node.op.name} gives {len(shapes)} tensors here, but the spec takes {node.outputs}",
            arg=count_arg,
            input=0,
            help=f"take {len(shapes)} values (as many names to unpack into), or change the "
            f"arguments so that torch returns {node.outputs}",
            notes=(note,) if note else (),
        )
    first = node.output == 0
    return replace(
        evaluation,
        shape=shapes[node.output],
        explanations={},
        params=evaluation.params if first else 0,
        macs=evaluation.macs if first else 0,
        warnings=evaluation.warnings if first else [],  # said once, at the first output
        # an extern of several outputs states a dtype for each
        dtype=evaluation.dtype[node.output]
        if type(evaluation.dtype) is tuple
        else evaluation.dtype,
        values=evaluation.values[node.output]
        if type(evaluation.values) is tuple
        else evaluation.values,
    )


def _keep_range(result: Inference, node_id: str, values: ValueRange | None) -> None:
    """Record a node's value range where it holds integers or bools; a bool of any other range
    holds 0 and 1 (`full((2,), 5, dtype=bool)` is True)."""
    dtype = result.dtypes[node_id]
    if values is None or dtype not in _RANGED_DTYPES:
        return
    low, high = values.low, values.high
    if dtype == "bool" and not (type(low) is int and type(high) is int and 0 <= low <= high <= 1):
        values = BOOLEAN
    result.ranges[node_id] = values


_RANGED_DTYPES = frozenset({"bool", "int32", "int64"})


def _at_values(value: Any, values: dict[str, int]) -> Any:
    """Arguments with the symbolic sizes in them (`H // 2`, also inside tuples) replaced by
    numbers."""
    if isinstance(value, dict):
        return {key: _at_values(item, values) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_at_values(item, values) for item in value)
    return substitute(value, values)


def _carry_explanations(evaluation: Evaluation, first_input, explanations) -> dict[int, str]:
    """Keep "576 = 64×3×3 from flatten" alive through shape-preserving ops (Dropout, ReLU...)."""
    explained = dict(evaluation.explanations)
    if first_input is not None and explanations and len(first_input) == len(evaluation.shape):
        for index, text in explanations[0].items():
            if index not in explained and evaluation.shape[index] == first_input[index]:
                explained[index] = text
    return explained


def _failure_diagnostic(model, result: Inference, node: Node, failure: OpFailure):
    span = node.arg_spans.get(failure.arg, node.span) if failure.arg else node.span
    secondary: list[tuple[Span, str]] = []
    notes = list(failure.notes)
    if failure.input is not None and failure.input < len(node.inputs):
        producer = model.node(node.inputs[failure.input])
        shape = result.shapes[producer.id]
        verb = "declared as" if producer.kind == "input" else "produces"
        dtype = f" {result.dtype(producer.id)}" if failure.code == "E108" else ""
        if failure.code == "E212":  # an index past a table's end: the values it holds
            dtype = f" holding {result.ranges[producer.id].text()}"
        secondary.append((producer.span, f"{verb} {format_shape(shape)}{dtype}"))
        trace = size_trace(model, result, producer.id)
        if trace and failure.code in ("E201", "E202", "E203", "E206"):
            notes.append(trace)
    if node.scope:
        block = model.module(node.scope)
        notes.append(f"in {node.scope} ({_instance_text(block)})")
    label = _label_for(failure, node)
    return diag.make(
        failure.code,
        failure.message,
        span,
        label,
        secondary=secondary,
        notes=notes,
        help=_with_upstream_alternative(model, result, node, failure),
        fix=_replacement_fix(failure, node),
    )


# An argument made of number literals and arithmetic only: replacing it with its propagated value
# loses nothing. A name (a block or model parameter) is never replaced by a number.
_CONSTANT_ARGUMENT = re.compile(r"[0-9\s+\-*/%()]+")


def _replacement_fix(failure: OpFailure, node: Node) -> diag.Fix | None:
    """E201/E202 on an explicit count: write the propagated value instead. Unsafe: it changes the
    layer's parameters, and the count may be right and a layer before it wrong. Offered only
    while every instance made from this argument agrees (see `propagated_values`) and the fixed
    text checks clean of new findings (the driver checks both)."""
    if failure.replacement is None or failure.arg not in node.arg_spans:
        return None
    span = node.arg_spans[failure.arg]
    if _CONSTANT_ARGUMENT.fullmatch(span.text) is None:
        return None
    edit = diag.Edit(span, str(failure.replacement))
    return diag.Fix(f"set {failure.arg}={failure.replacement}", (edit,), diag.Applicability.UNSAFE)


def _with_upstream_alternative(model, result: Inference, node: Node, failure: OpFailure):
    """The help of an E202 on a count that flattened features do not match, naming the other
    place the mistake may be: if the declared count fits the same channels on a map of another
    size (seed 000: 3136 = 64×7×7, where a pool's stride left 3×3), the layers that shrank the map
    are named beside the fix of the count itself."""
    declared = node.args.get(failure.arg) if failure.arg else None
    if failure.code != "E202" or failure.replacement is None or type(declared) is not int:
        return failure.help
    flattened = _flattened_map(model, result, node.inputs[0])
    if flattened is None:
        return failure.help
    channels, spatial, shrinkers = flattened
    side = _integer_root(declared // channels, len(spatial)) if declared % channels == 0 else None
    if side is None or not shrinkers:
        return failure.help
    needed = "×".join([str(side)] * len(spatial))
    layers = " and ".join(shrinkers)
    return (
        f"if {declared} = {channels}×{needed} is right, the map is {'×'.join(map(str, spatial))} "
        f"where {needed} is needed: check {layers}; if they are right, {failure.help}"
    )


def _flattened_map(model, result: Inference, node_id: str):
    """(channels, spatial dims, layers that shrank the map) of the map a flatten turned into the
    features reaching `node_id`, following first inputs back; None without such a flatten."""
    current: str | None = node_id
    while current is not None:
        node = model.node(current)
        source = node.inputs[0] if node.inputs else None
        before = result.shapes.get(source) if source is not None else None
        if before is not None and len(before) >= 3 and len(result.shapes.get(current, ())) == 2:
            if not all(type(d) is int for d in before[1:]):
                return None
            return before[1], before[2:], _shrinking_layers(model, result, source)
        current = source
    return None


def _shrinking_layers(model, result: Inference, node_id: str) -> list[str]:
    """`layer1.2 (MaxPool2d, stride=5)` for each layer, first inputs back from `node_id`, whose
    output map is smaller than its input's, in the order the data meets them."""
    found = []
    current: str | None = node_id
    while current is not None:
        node = model.node(current)
        source = node.inputs[0] if node.inputs else None
        before = result.shapes.get(source) if source is not None else None
        after = result.shapes.get(current)
        if node.op is not None and before is not None and after is not None:
            if len(before) == len(after) >= 3 and tuple(after[2:]) != tuple(before[2:]):
                stride = node.args.get("stride")
                detail = f", stride={show_value(stride)}" if stride is not None else ""
                found.append(f"{node.module or node.name} ({node.op.name}{detail})")
        current = source
    return found[::-1]


def _integer_root(value: int, degree: int) -> int | None:
    root = round(value ** (1 / degree)) if value > 0 else 0
    return next((r for r in (root - 1, root, root + 1) if r > 0 and r**degree == value), None)


def propagated_values(models, span: Span) -> set | None:
    """What each node whose argument is written at `span` receives for it (the `?` value), over
    every checked model; None when some instance's input is unknown."""
    values = set()
    for graph, inference in models:
        for node in graph.nodes():
            if node.op is None or not node.inputs:
                continue
            for name, at in node.arg_spans.items():
                if at.source is not span.source or (at.start, at.end) != (span.start, span.end):
                    continue
                param = next((p for p in node.op.params if p.name == name), None)
                if param is None or param.infer is None:
                    return None
                shape = inference.shapes.get(node.inputs[0])
                if shape is None:
                    return None
                try:
                    values.add(param.infer(shape))
                except (OpFailure, IndexError):
                    return None
    return values


def _label_for(failure: OpFailure, node: Node) -> str:
    if failure.arg and failure.arg in node.arg_spans:
        value = node.args.get(failure.arg)
        shown = show_value(value)
        if value is not None and shown != node.arg_spans[failure.arg].text:
            return f"{failure.arg} = {shown}"
        return failure.arg
    return ""


def _instance_text(module) -> str:
    """`BasicBlock(inplanes=64, ...)`: scopes are block instances, which have a definition."""
    definition = module.definition
    args = ", ".join(f"{k}={v!r}" for k, v in module.params.items())
    return f"{definition.name.id}({args})"


def size_trace(model: ModelGraph, result: Inference, node_id: str, limit: int = 8) -> str:
    """How the trailing sizes evolved along first inputs, in the words of the last traced
    tensor's layout: "spatial size along the way: 28×28 → 6×6 (layer1.2) → 3×3 (...)", "length
    along the way: 9 → 4 (conv1d)"; "" when no channels-first tensor ([N, C, ...]) changed."""
    steps: list[tuple[str, str]] = []
    layout = None
    current: str | None = node_id
    while current is not None:
        node = model.node(current)
        shape = result.shapes.get(current)
        if shape is not None and len(shape) >= 3:
            layout = layout or layout_of(shape)
            size = "×".join(str(d) for d in shape[2:])
            where = node.module or node.name
            if steps and steps[-1][0] == size:
                steps[-1] = (size, where)
            else:
                steps.append((size, where))
        current = node.inputs[0] if node.inputs else None
    steps.reverse()
    if len(steps) < 2 or not layout.channels_first:
        return ""
    steps = steps[-limit:]
    parts = [steps[0][0]] + [f"{size} ({where})" for size, where in steps[1:]]
    return f"{layout.extent} along the way: " + " → ".join(parts)


def _reuse_diagnostic(model: ModelGraph, node: Node, first: dict, now: dict) -> diag.Diagnostic:
    changed = [k for k in now if first.get(k) != now[k]]
    key = changed[0] if changed else ""
    return diag.make(
        "E201",
        f"layer '{node.module}' is applied to inputs that need different {key} "
        f"({first.get(key)} and {now.get(key)})",
        node.span,
        "shared layer",
        help="use a separate layer for each input",
    )


def _check_assertions(model: ModelGraph, result: Inference, reporter: diag.Reporter) -> None:
    bindings: dict[tuple[str, str], Dim] = {}
    sizing = active_sizing()
    for assertion in model.assertions:
        if sizing is not None:
            sizing.node = assertion.node
        actual = result.shapes.get(assertion.node)
        if actual is None:
            continue
        mismatch = len(actual) != len(assertion.dims)
        for stated, dim in zip(assertion.dims, actual):
            if mismatch:
                break
            if stated == WILDCARD:
                continue
            if isinstance(stated, PatternVar):
                key = (assertion.scope, assertion.application, str(stated))
                if bindings.setdefault(key, dim) != dim:
                    mismatch = True
                continue
            if is_run_size(stated):  # `y: [N, C, L // 2]`, L read off an earlier tensor
                try:
                    stated = resolve(stated, result.shapes.get)
                except (Unresolved, SymbolicError):
                    break  # an error upstream, or a size no number decides: nothing to check
            if not _dims_equal(stated, dim):
                mismatch = True
        actual_dtype = result.dtype(assertion.node)
        if not mismatch and assertion.dtype not in (None, actual_dtype):
            reporter.add(_dtype_assertion(model, assertion, actual_dtype))
        if mismatch:
            name = model.node(assertion.node).name
            notes = []
            if assertion.scope:
                notes.append(
                    f"in {assertion.scope} ({_instance_text(model.module(assertion.scope))})"
                )
            stated_text = "[" + ", ".join(_show_stated(d, assertion, bindings) for d in
                                          assertion.dims) + "]"  # fmt: skip
            reporter.add(
                diag.make(
                    "E207",
                    f"'{name}' has shape {format_shape(actual)}, but the spec states {stated_text}",
                    assertion.span,
                    f"actual {format_shape(actual)}",
                    notes=notes,
                    help=f"if the layers are right, state {format_shape(actual)}",
                )
            )


def _dtype_assertion(model: ModelGraph, assertion, actual: str) -> diag.Diagnostic:
    name = model.node(assertion.node).name
    notes = []
    if assertion.scope:
        notes.append(f"in {assertion.scope} ({_instance_text(model.module(assertion.scope))})")
    return diag.make(
        "E207",
        f"'{name}' is {actual}, but the spec states {assertion.dtype}",
        assertion.span,
        f"actual {actual}",
        notes=notes,
        help=f"if the ops are right, state {actual}; else convert it (`-> to({assertion.dtype})`)",
    )


def _dims_equal(stated: Any, actual: Dim) -> bool:
    """A stated size (an int or a symbol: elaborate refuses anything else) against the actual."""
    return stated == actual


def _show_stated(dim: Any, assertion, bindings) -> str:
    return str(dim)
