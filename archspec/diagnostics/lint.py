"""Warnings for legal but suspicious designs, read off the inferred graph."""

from __future__ import annotations

import re
from collections.abc import Collection

import networkx as nx

from archspec.core import diagnostic as diag
from archspec.core.dims import Sym, format_shape
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
    _batch_changes(model, inference, reporter)
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
                    fix=diag.Fix(
                        f"remove {argument.text}", (_removal(argument),), diag.Applicability.SAFE
                    ),
                )
            )


def _keyword_argument(value, name: str):
    """The span of `name=value` when the value at `value` was passed by keyword, else None.
    Read backwards from the value (blanks, `=`, blanks, the name), never the text before it:
    searching all of that for each argument made W008 quadratic in the file's size."""
    text = value.source.text
    equals = _blanks_before(text, value.start) - 1
    if equals < 0 or text[equals] != "=":
        return None
    name_end = _blanks_before(text, equals)
    start = name_end - len(name)
    if start < 0 or text[start:name_end] != name or _continues_a_name(text, start):
        return None
    return value.source.span(start, value.end)


def _blanks_before(text: str, position: int) -> int:
    """Where the run of whitespace that ends at `position` starts."""
    while position > 0 and text[position - 1].isspace():
        position -= 1
    return position


def _continues_a_name(text: str, start: int) -> bool:
    """Whether the word at `start` is the tail of a longer name or of an attribute (`a.name`)."""
    return start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.")


def _removal(argument) -> diag.Edit:
    """Delete an argument with one of its commas, keeping the call's layout: a following comma
    goes with it (and the whole line, when the argument had the line to itself), else the comma
    before it."""
    text, source = argument.source.text, argument.source
    start, end = argument.start, argument.end
    after = end
    while after < len(text) and text[after] in " \t":
        after += 1
    line_start = start  # the line's start if only blanks come before the argument on its line
    while line_start > 0 and text[line_start - 1] != "\n" and text[line_start - 1].isspace():
        line_start -= 1  # (blanks only: finding the line's start on a long line is O(line))
    first_on_line = line_start == 0 or text[line_start - 1] == "\n"
    if after < len(text) and text[after] == ",":
        after += 1
        rest = after
        while rest < len(text) and text[rest] in " \t\r":
            rest += 1
        if first_on_line and text.startswith("\n", rest):
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
    """W003/W005: values and inputs no output depends on. Both need every use of a value, so a
    value named in a statement that failed is taken as used: that statement's error is the finding,
    and the missing edge is no evidence (an error must not cascade into false warnings)."""
    graph = model.graph
    if not model.outputs:
        return
    live: set[str] = set(model.outputs)
    for output in model.outputs:
        live |= nx.ancestors(graph, output)
    for node in model.nodes():
        if node.id in live or node.id in model.failed_reads or node.built_for is not None:
            continue  # built_for: the initial value of a parameter or buffer
        if node.group is not None and _group_used(graph, node, live):
            continue  # `out, _ = attn(q, k, v)`: the op runs for its other output anyway
        if node.kind == "input":
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


def _group_used(graph, node, live: set[str]) -> bool:
    """Some output of the op `node` is one output of is live: the nodes of one op are
    consecutive in creation order and share `group`, the first one's id."""
    first = graph.nodes[node.group]["node"]
    ids = list(graph.nodes)
    outputs = ids[first.index : first.index + first.outputs]
    return any(output in live for output in outputs)


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


def _batch_changes(model: ModelGraph, inference: Inference, reporter: diag.Reporter) -> None:
    """W011: an op whose input carries the batch N as a dim, and whose output has N only inside
    another size (2·N after `cat(..., 0)`, 64·N after `flatten(0)`, 4·N after `view(-1, 16)`).
    The model runs, but samples are mixed, and the loss fails far from the cause. Moving N
    (`permute`) or reducing it away (`mean()`) is not reported, nor is an op whose input has
    lost N already: the warning is at the op that changed it."""
    batch = {_batch_symbol(model, input_id) for input_id in model.inputs} - {None}
    for node in model.nodes():
        if node.kind != "op" or node.id not in inference.shapes:
            continue
        shapes = [inference.shapes.get(source) for source in node.inputs]
        for symbol in batch:
            before = next((s for s in shapes if s is not None and _has_dim(s, symbol)), None)
            after = inference.shapes[node.id]
            if before is None or _has_dim(after, symbol):
                continue
            folded = next((d for d in after if _mentions(d, symbol)), None)
            if folded is not None:
                reporter.add(_batch_change(node, symbol, before, after, folded))


def _batch_symbol(model: ModelGraph, input_id: str) -> str | None:
    """The name of an input's dim 0 when it is a plain symbol that is not a size with a range
    (N in [N, 3, H, W])."""
    shape = model.node(input_id).declared_shape
    first = shape[0] if shape else None
    if not isinstance(first, Sym) or len(first.symbols()) != 1 or not first._is_single_atom():
        return None
    (name,) = first.symbols()
    return None if name in model.size_symbols else name


def _has_dim(shape, symbol: str) -> bool:
    """A dim that is exactly the symbol (compared by its terms: a model's every node asks)."""
    terms = Sym.named(symbol).terms
    return any(isinstance(d, Sym) and d.terms == terms for d in shape)


def _mentions(dim, symbol: str) -> bool:
    return isinstance(dim, Sym) and symbol in dim.symbols()


def _batch_change(node, symbol: str, before, after, folded) -> diag.Diagnostic:
    name = node.op.name
    if name == "cat":
        advice = "join along a feature dim: `cat([...], 1)`, not dim 0"
    elif name in ("flatten", "Flatten"):
        advice = f"flatten from dim 1 to keep {symbol} apart: `flatten(1)`"
    else:
        advice = f"keep {symbol} in front, e.g. `{name}({symbol}, -1)`"
    return diag.make(
        "W011",
        f"{name} changes the batch size from {symbol} to {folded}: "
        f"{format_shape(before)} -> {format_shape(after)}",
        node.span,
        f"batch {symbol} becomes {folded}",
        notes=[
            'the model runs, but it mixes samples: a loss later fails with "Expected input '
            'batch_size to match target batch_size"'
        ],
        help=advice,
    )
