"""Warnings for legal but suspicious designs, read off the inferred graph."""

from __future__ import annotations

import re
from collections.abc import Collection

import networkx as nx

from archspec.core import diagnostic as diag
from archspec.core.memory import gc_paused
from archspec.elaborate.graph import ModelGraph
from archspec.shapes.infer import Inference

_BATCH_NORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"}
_CONVS = {"Conv1d", "Conv2d", "Conv3d"}


@gc_paused
def lint(
    model: ModelGraph,
    inference: Inference,
    reporter: diag.Reporter,
    enabled: Collection[str] = diag.OPT_IN_CODES,
) -> None:
    """The warnings about a checked model; of the opt-in codes, those in `enabled` (the others'
    findings would be dropped anyway, and W008 reads every argument of every layer)."""
    _bias_before_norm(model, reporter)
    _unused_values(model, inference, reporter)
    _norm_on_single_value(model, inference, reporter)
    _inplace_overwrites(model, reporter)
    if "W008" in enabled:
        _redundant_arguments(model, reporter)


_LITERAL = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?|True|False|None|\"[^\"\\\n]*\"|'[^'\\\n]*'")


def _redundant_arguments(model: ModelGraph, reporter: diag.Reporter) -> None:
    """W008 (opt-in): `stride=1` on a Conv2d says nothing torch does not do already. Only literal
    keyword arguments: one written as a name may differ between a block's instances."""
    from archspec.ops.base import INFER, REQUIRED

    for node in model.nodes():
        if node.kind != "op" or node.op is None:
            continue
        for param in node.op.params:
            span = node.arg_spans.get(param.name)
            default = param.default
            if span is None or default is REQUIRED or default is INFER or param.is_tensor:
                continue
            value = node.args.get(param.name)
            if type(value) is not type(default) or value != default:
                continue
            if _LITERAL.fullmatch(span.text) is None:
                continue
            argument = _keyword_argument(span, param.name)
            if argument is None:
                continue  # passed by position: removing it would shift the others
            reporter.add(
                diag.make(
                    "W008",
                    f"{node.op.name}'s {argument.text} is torch's default",
                    argument,
                    "redundant",
                    help=f"remove {argument.text}",
                    fix=diag.Fix(f"remove {argument.text}", (_removal(argument),)),
                )
            )


def _keyword_argument(value, name: str):
    """The span of `name=value` when the value at `value` was passed by keyword, else None."""
    before = value.source.text[: value.start]
    match = re.search(rf"(?<![\w.]){re.escape(name)}\s*=\s*$", before)
    if match is None:
        return None
    return value.source.span(match.start(), value.end)


def _removal(argument) -> diag.Edit:
    """Delete an argument with one of its commas, keeping the call's layout: a following comma
    goes with it (and the whole line, when the argument had the line to itself), else the comma
    before it."""
    text, source = argument.source.text, argument.source
    start, end = argument.start, argument.end
    after = end
    while after < len(text) and text[after] in " \t":
        after += 1
    line_start = text.rfind("\n", 0, start) + 1
    if after < len(text) and text[after] == ",":
        after += 1
        rest = after
        while rest < len(text) and text[rest] in " \t\r":
            rest += 1
        if not text[line_start:start].strip() and text.startswith("\n", rest):
            return diag.Edit(source.span(line_start, rest + 1), "")
        while after < len(text) and text[after] in " \t":
            after += 1
        return diag.Edit(source.span(start, after), "")
    before = start
    while before > 0 and text[before - 1] in " \t\r\n":
        before -= 1
    if before > 0 and text[before - 1] == ",":
        return diag.Edit(source.span(before - 1, end), "")
    return diag.Edit(source.span(start, end), "")


def _inplace_overwrites(model: ModelGraph, reporter: diag.Reporter) -> None:
    """`a = x -> relu(inplace=True)` then `a + x`: torch computes relu(x) + relu(x), silently."""
    graph = model.graph
    for node in model.nodes():
        if node.kind != "op" or node.args.get("inplace") is not True or not node.inputs:
            continue
        source = model.node(node.inputs[0])
        later = [
            model.node(reader)
            for reader in graph.successors(source.id)
            if reader != node.id and model.node(reader).index > node.index
        ]
        if source.kind == "input":
            problem = f"model input '{source.name}' (the caller's tensor changes too)"
        elif later:
            problem = f"'{source.name}', which {later[0].name} reads afterwards"
        else:
            continue
        span = node.arg_spans.get("inplace", node.span)
        secondary = [(later[0].span, "reads the overwritten value")] if later else []
        reporter.add(
            diag.make(
                "W006",
                f"{node.op.name} with inplace=True overwrites {problem}",
                span,
                "in place",
                secondary=secondary,
                help="drop inplace=True here",
            )
        )


def _bias_before_norm(model: ModelGraph, reporter: diag.Reporter) -> None:
    graph = model.graph
    for node in model.nodes():
        if node.kind != "op" or node.op.name not in _CONVS or not node.args.get("bias", False):
            continue
        consumers = [model.node(s) for s in graph.successors(node.id)]
        if consumers and all(c.kind == "op" and c.op.name in _BATCH_NORMS for c in consumers):
            span = node.arg_spans.get("bias", node.span)
            reporter.add(
                diag.make(
                    "W002",
                    f"{node.op.name} '{node.module or node.name}' has a bias that the "
                    f"{consumers[0].op.name} after it cancels",
                    span,
                    "bias=True (the default)" if "bias" not in node.arg_spans else "bias",
                    secondary=[(consumers[0].span, "subtracts the mean, bias included")],
                    help="pass bias=False to the convolution",
                )
            )


def _unused_values(model: ModelGraph, inference: Inference, reporter: diag.Reporter) -> None:
    graph = model.graph
    if not model.outputs:
        return
    live: set[str] = set(model.outputs)
    for output in model.outputs:
        live |= nx.ancestors(graph, output)
    for node in model.nodes():
        if node.id in live:
            continue
        if node.kind == "input":
            if node.id in model.read_inputs:
                continue  # used in a line that failed: that error is the finding
            reporter.add(
                diag.make(
                    "W005",
                    f"input '{node.name}' is never used",
                    node.span,
                    "unused",
                    help="remove it, or feed it into the network",
                )
            )
        elif graph.out_degree(node.id) == 0 and node.id in inference.shapes:
            reporter.add(
                diag.make(
                    "W003",
                    f"the value of '{node.name}' never reaches an output",
                    node.binding_span or node.span,
                    "computed, then dropped",
                    help="return it, use it, or remove it",
                )
            )


def _norm_on_single_value(model: ModelGraph, inference: Inference, reporter) -> None:
    for node in model.nodes():
        if node.kind != "op" or node.op.name not in ("BatchNorm2d", "BatchNorm3d"):
            continue
        shape = inference.shapes.get(node.inputs[0]) if node.inputs else None
        if shape is None or len(shape) < 3:
            continue
        spatial = shape[-int(node.op.name[-2]) :]  # BatchNorm2d -> 2 trailing dims
        if all(d == 1 for d in spatial):
            reporter.add(
                diag.make(
                    "W004",
                    f"{node.op.name} normalises 1×1 maps: each channel has a single value per "
                    "sample, and with a batch of 1 training fails",
                    node.span,
                    "1 value per channel per sample",
                    help="normalise before the map shrinks to 1×1, or use GroupNorm/LayerNorm",
                )
            )
