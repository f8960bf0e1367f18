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
    active_sizing,
    format_shape,
    substitute,
)
from archspec.core.memory import gc_paused
from archspec.core.records import field, record
from archspec.core.source import Span
from archspec.elaborate.graph import WILDCARD, ModelGraph, Node, PatternVar
from archspec.ops import OpFailure
from archspec.ops.apply import Evaluation, evaluate
from archspec.ops.base import show_value


@record
class Inference:
    shapes: dict[str, Shape] = field(default_factory=dict)
    # A symbolic run (hints given): the constraints its decisions rest on (see dims.Sizing).
    guards: list[Guard] = field(default_factory=list)
    hints: dict[str, int] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)  # op nodes
    explanations: dict[str, dict[int, str]] = field(default_factory=dict)
    module_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # resolved, per layer path

    def shape(self, node_id: str) -> Shape | None:
        return self.shapes.get(node_id)


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
    for node in model.nodes():
        if sizing is not None:
            sizing.node = node.id
        if node.kind == "input":
            shape = node.declared_shape
            if values:
                shape = tuple(substitute(dim, values) for dim in shape)
            result.shapes[node.id] = shape
            continue
        inputs = [result.shapes.get(source) for source in node.inputs]
        if any(shape is None for shape in inputs):
            continue
        if node.kind == "output":
            result.shapes[node.id] = inputs[0]
            continue
        explanations = [result.explanations.get(source, {}) for source in node.inputs]
        try:
            evaluation = evaluate(node.op, node.args, inputs, explanations, node.checked_args)
        except OpFailure as failure:
            reporter.add(_failure_diagnostic(model, result, node, failure))
            continue
        if node.module is not None:
            first = result.module_args.setdefault(node.module, evaluation.args)
            if first != evaluation.args:
                reporter.add(_reuse_diagnostic(model, node, first, evaluation.args))
                continue
        result.shapes[node.id] = evaluation.shape
        result.evaluations[node.id] = evaluation
        explained = _carry_explanations(evaluation, inputs[0] if inputs else None, explanations)
        if explained:
            result.explanations[node.id] = explained
        for warning in evaluation.warnings:
            reporter.add(_failure_diagnostic(model, result, node, warning))
    _check_assertions(model, result, reporter)
    return result


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
        secondary.append((producer.span, f"{verb} {format_shape(shape)}"))
        trace = spatial_trace(model, result, producer.id)
        if trace and failure.code in ("E201", "E202", "E203", "E206"):
            notes.append(f"spatial size along the way: {trace}")
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
        help=failure.help,
        fix=_replacement_fix(failure, node),
    )


# An argument made of number literals and arithmetic only: replacing it with its propagated value
# loses nothing. A name (a block or model parameter) is never replaced by a number.
_CONSTANT_ARGUMENT = re.compile(r"[0-9\s+\-*/%()]+")


def _replacement_fix(failure: OpFailure, node: Node) -> diag.Fix | None:
    """E201/E202 on an explicit count: write the propagated value instead. Fixable only while
    every instance made from this argument agrees (see `propagated_values`; the driver checks)."""
    if failure.replacement is None or failure.arg not in node.arg_spans:
        return None
    span = node.arg_spans[failure.arg]
    if _CONSTANT_ARGUMENT.fullmatch(span.text) is None:
        return None
    edit = diag.Edit(span, str(failure.replacement))
    return diag.Fix(f"set {failure.arg}={failure.replacement}", (edit,))


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


def spatial_trace(model: ModelGraph, result: Inference, node_id: str, limit: int = 8) -> str:
    """How the spatial size evolved along first inputs: "28×28 → 6×6 (layer1.2) → 3×3 (...)"."""
    steps: list[tuple[str, str]] = []
    current: str | None = node_id
    while current is not None:
        node = model.node(current)
        shape = result.shapes.get(current)
        if shape is not None and len(shape) >= 3:
            size = "×".join(str(d) for d in shape[2:])
            where = node.module or node.name
            if steps and steps[-1][0] == size:
                steps[-1] = (size, where)
            else:
                steps.append((size, where))
        current = node.inputs[0] if node.inputs else None
    steps.reverse()
    if len(steps) < 2:
        return ""
    steps = steps[-limit:]
    parts = [steps[0][0]] + [f"{size} ({where})" for size, where in steps[1:]]
    return " → ".join(parts)


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
            if not _dims_equal(stated, dim):
                mismatch = True
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


def _dims_equal(stated: Any, actual: Dim) -> bool:
    """A stated size (an int or a symbol: elaborate refuses anything else) against the actual."""
    return stated == actual


def _show_stated(dim: Any, assertion, bindings) -> str:
    return str(dim)
