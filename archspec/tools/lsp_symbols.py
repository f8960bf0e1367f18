"""What a name under the editor's cursor stands for, for the language server's hover and
go-to-definition: plain functions over archspec's CheckResult and the file's AST (no pygls).

A name is resolved to graph nodes, per model and per block instance:

- a binding (`input x`, `h = ...`, each name of `y, _ = attn(q, k, v)`) to the nodes it names: an
  unpacked name to *its* output of the op, `_` included;
- a use (`y + x`) to the value it reads: exactly, through the node that reads it when that node
  records the name; otherwise to the last binding of the name above it in the same definition
  (a loop's first round, in a loop);
- a `param` or `buffer` name (declaration or use) to the module state it declares;
- a dict return's key (`"out"`) to the output it names;
- a layer's name where it is applied (`-> conv`, `attn(q, k, v)`) to its declaration
  (definitions only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from archspec.core.dims import format_shape
from archspec.core.source import Span
from archspec.driver import CheckedModel, CheckResult
from archspec.elaborate.graph import EVAL, TRAIN, Node, other_mode
from archspec.elaborate.state import INITIALIZERS, TENSOR, StateInfo
from archspec.syntax import ast

__all__ = ["Symbol", "definition_span", "describe_mode", "symbol_at", "symbol_hover"]


@dataclass
class Symbol:
    """A resolved name: a value (tensor nodes), module state, or a model output."""

    kind: str  # "value", "state", "output" or "layer"
    name: str  # as written at the cursor (`y`, `'out'`)
    span: Span  # the name under the cursor
    definition: Span | None = None  # where it is bound or declared
    # values and outputs: (model, node, the block instance whose body names it: "" for a model's)
    nodes: list[tuple[CheckedModel, Node, str]] = field(default_factory=list)
    # state: (model, the module's path, its declaration)
    states: list[tuple[CheckedModel, str, StateInfo]] = field(default_factory=list)
    block_input: bool = False  # a block's `input`: what feeds it differs by instance


def _same_file(span: Span, path: str) -> bool:
    return os.path.normcase(os.path.abspath(span.source.path)) == os.path.normcase(
        os.path.abspath(path)
    )


def _same_span(a: Span | None, b: Span | None) -> bool:
    return (
        a is not None
        and b is not None
        and a.start == b.start
        and a.end == b.end
        and a.source.path == b.source.path
    )


def _contains(span: Span, offset: int) -> bool:
    return span.start <= offset < span.end


def _children(item: Any):
    for name in ast.fields(item):
        value = getattr(item, name)
        for child in value if isinstance(value, tuple) else (value,):
            if ast.is_node(child) and getattr(child, "span", None) is not None:
                yield child


def _chain(root: Any, offset: int) -> list[Any]:
    """The AST nodes under `offset`, outermost first (no recursion: chains may be long)."""
    chain = [root]
    while True:
        inner = next((c for c in _children(chain[-1]) if _contains(c.span, offset)), None)
        if inner is None:
            return chain
        chain.append(inner)


def _statements(body: tuple) -> list[Any]:
    """The statements of a body, those inside `if` and `for` bodies too, in source order."""
    found, stack = [], list(reversed(body))
    while stack:
        statement = stack.pop()
        found.append(statement)
        if isinstance(statement, (ast.If, ast.For)):
            inner = (*statement.body, *getattr(statement, "orelse", ()))
            stack.extend(reversed(inner))
    return found


# --- binding sites -> nodes ----------------------------------------------------------------------


def _instances(result: CheckResult, definition) -> list[tuple[CheckedModel, str]]:
    """(model, module path) of every instance of a definition: "" for the model itself."""
    found = []
    for model in result.models:
        for module in model.graph.root.walk():
            if module.definition is definition:
                found.append((model, module.path))
    return found


def _input_nodes(result: CheckResult, definition, statement) -> list[tuple[CheckedModel, Node]]:
    inputs = [s for s in definition.body if isinstance(s, ast.Input)]
    position = inputs.index(statement)
    found = []
    for model, path in _instances(result, definition):
        graph = model.graph
        if not path:
            name = inputs[position].name.id
            found += [
                (model, graph.node(i), "") for i in graph.inputs if graph.node(i).name == name
            ]
            continue
        for call in graph.calls:
            if call.module == path and call.inputs and position < len(call.inputs):
                found.append((model, graph.node(call.inputs[position]), path))
    return found


def _bound_nodes(result: CheckResult, target: Span) -> list[tuple[CheckedModel, Node, str]]:
    """The nodes an assignment's target names, each with the scope that names it (a block's
    result is named in the body that applies the block)."""
    found = []
    for model in result.models:
        for node in model.graph.nodes():
            if _same_span(node.binding_span, target):
                scopes = [scope for scope, name in node.bindings.items() if name == target.text]
                found.append((model, node, scopes[0] if scopes else node.scope))
    return found


def _unpacked_nodes(result: CheckResult, statement, position: int):
    """The nodes of output `position` of an unpacking (`_` has no binding of its own): the
    output beside the one a named target got, else the op or block call in the value that makes
    as many tensors as there are names."""
    for target in ast.target_names(statement.targets):
        found = []
        for model, node, where in _bound_nodes(result, target.span):
            if node.outputs > 1:
                by_index = {n.index: n for n in model.graph.nodes()}
                wanted = by_index.get(node.index - node.output + position)
                if wanted is not None and wanted.group == node.group:
                    found.append((model, wanted, where))
        if found:
            return found
    value = statement.value.span
    count = len(ast.target_names(statement.targets))

    def inside(span: Span) -> bool:
        return (
            span.source.path == value.source.path
            and value.start <= span.start
            and span.end <= value.end
        )

    found = []
    for model in result.models:
        graph = model.graph
        for node in graph.nodes():
            if node.outputs == count and node.output == position and inside(node.span):
                found.append((model, node, node.scope))
        for call in graph.calls:
            outputs = call.outputs or ()
            if len(outputs) == count and inside(graph.module(call.module).span):
                found.append((model, graph.node(outputs[position]), call.scope))
    return found


def _state_entries(result: CheckResult, definition, name: str):
    return [
        (model, path, model.graph.module(path).state[name])
        for model, path in _instances(result, definition)
        if name in model.graph.module(path).state
    ]


def _site_symbol(result: CheckResult, definition, statement, name: ast.Name, span: Span):
    """The symbol a binding site (`input`, `param`/`buffer`, an assignment's target) binds."""
    if isinstance(statement, ast.State):
        states = _state_entries(result, definition, name.id)
        return Symbol("state", name.id, span, name.span, states=states)
    if isinstance(statement, ast.Input):
        nodes = _input_nodes(result, definition, statement)
    elif isinstance(statement, ast.Unpack):
        names = ast.target_names(statement.targets)  # LSTM's `out, (h, c)`: outputs 0, 1, 2
        position = next(i for i, t in enumerate(names) if t is name)
        nodes = _bound_nodes(result, name.span) or _unpacked_nodes(result, statement, position)
    else:
        nodes = _bound_nodes(result, name.span)
    if not nodes:
        return None
    block_input = isinstance(statement, ast.Input) and definition.kind == "block"
    return Symbol("value", name.id, span, name.span, nodes=nodes, block_input=block_input)


def _sites(definition) -> list[tuple[Any, ast.Name]]:
    """(statement, bound name) for every binding in a definition, in source order."""
    sites = []
    for statement in _statements(definition.body):
        if isinstance(statement, (ast.Input, ast.State)):
            sites.append((statement, statement.name))
        elif isinstance(statement, ast.Assign):
            sites.append((statement, statement.target))
        elif isinstance(statement, ast.Unpack):
            sites += [(statement, target) for target in ast.target_names(statement.targets)]
    return sites


def _reference(result: CheckResult, path: str, definition, name: ast.Name):
    """A use of a name as a value: exactly through the nodes that read it and record the name;
    else the last binding of the name above the use."""
    offset = name.span.start
    readers = []
    for model in result.models:
        for node in model.graph.nodes():
            if not (_same_file(node.span, path) and _contains(node.span, offset)):
                continue
            for source in node.inputs:
                read = model.graph.node(source)
                if read.bindings.get(node.scope) == name.id:
                    readers.append((model, read, node.scope))
    if readers:
        unique = list({(id(m), n.id, w): (m, n, w) for m, n, w in readers}.values())
        spans = [n.binding_span for _, n, _ in unique if n.binding_span is not None]
        return Symbol("value", name.id, name.span, spans[0] if spans else None, nodes=unique)
    above = [
        (statement, bound)
        for statement, bound in _sites(definition)
        if bound.id == name.id and statement.span.end <= offset
    ]
    if not above:
        return None
    statement, bound = above[-1]
    symbol = _site_symbol(result, definition, statement, bound, name.span)
    return symbol


def _layer_declaration(definition, name: str) -> Span | None:
    """Where a layer of this definition is declared (`conv: Conv2d(...)`, `-> conv: ...`)."""
    for item in _walk(definition):
        if isinstance(item, ast.Declare) and item.name.id == name:
            return item.name.span
        if isinstance(item, (ast.Labelled,)) and item.label.text == name:
            return item.label.span
        if isinstance(item, ast.Argument) and item.label is not None and item.label.text == name:
            return item.label.span
    return None


def _walk(root: Any):
    stack = [root]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(reversed(list(_children(item))))


def symbol_at(result: CheckResult, path: str, offset: int) -> Symbol | None:
    """The name at `offset` of the file `path`, resolved; None where there is none."""
    loaded = result.loaded
    if loaded is None or loaded.module is None:
        return None
    definition = next(
        (
            d
            for d in loaded.module.definitions
            if _same_file(d.span, path) and _contains(d.span, offset)
        ),
        None,
    )
    if definition is None:
        return None
    chain = _chain(definition, offset)
    inner = chain[-1]
    parent = chain[-2] if len(chain) > 1 else None
    if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
        return _dict_key(result, chain)
    if not isinstance(inner, ast.Name):
        return None
    if isinstance(parent, (ast.Input, ast.State)) and parent.name is inner:
        return _site_symbol(result, definition, parent, inner, inner.span)
    if isinstance(parent, ast.Assign) and parent.target is inner:
        return _site_symbol(result, definition, parent, inner, inner.span)
    unpack = next((item for item in reversed(chain) if isinstance(item, ast.Unpack)), None)
    if isinstance(parent, (ast.Unpack, ast.Targets)) and any(
        t is inner for t in ast.target_names(unpack.targets)
    ):
        return _site_symbol(result, definition, unpack, inner, inner.span)
    if isinstance(parent, (ast.LayerRef, ast.LayerIndex, ast.Declare)) or (
        isinstance(parent, ast.Call) and parent.func is inner
    ):
        declared = _layer_declaration(definition, inner.id)
        block = loaded.definitions.get(inner.id) if isinstance(parent, ast.Call) else None
        if declared is None and block is not None and block.node is not None:
            declared = block.node.name.span  # a block's name: its definition, maybe imported
        if declared is None:
            return None
        return Symbol("layer", inner.id, inner.span, declared)
    if isinstance(parent, (ast.For, ast.ListComp, ast.Param, ast.Definition, ast.BoundedDim)):
        return None
    return _reference(result, path, definition, inner)


def _dict_key(result: CheckResult, chain: list) -> Symbol | None:
    """A key of a returned dict: the output nodes of its value (one per mode it returns in)."""
    key = chain[-1]
    dictionary = chain[-2] if len(chain) > 1 else None
    if not isinstance(dictionary, ast.DictExpr) or not any(
        isinstance(c, ast.Return) for c in chain
    ):
        return None
    position = next((i for i, k in enumerate(dictionary.keys) if k is key), None)
    if position is None:
        return None
    value = dictionary.values[position]
    keyed = [
        (model, model.graph.node(node_id), "")
        for model in result.models
        for returned in model.graph.returns
        if returned.keys is not None and key.value in returned.keys
        for node_id in [returned.outputs[returned.keys.index(key.value)]]
    ]
    # An output's span is its value's, or the op's that made it when the value is a name: that
    # name's value, read by the outputs of every return that names it.
    nodes = [entry for entry in keyed if _same_span(entry[1].span, value.span)]
    if not nodes and isinstance(value, ast.Name):
        definition = chain[0]
        read = _reference(result, key.span.source.path, definition, value)
        made = {(id(m), n.id) for m, n, _ in read.nodes} if read is not None else set()
        nodes = [(m, n, w) for m, n, w in keyed if (id(m), n.inputs[:1] and n.inputs[0]) in made]
    statement = next(c for c in chain if isinstance(c, ast.Return))
    mode = _return_modes(chain[0]).get(id(statement))
    if mode is not None and any(n.mode == mode for _, n, _ in nodes):
        nodes = [entry for entry in nodes if entry[1].mode == mode]
    if not nodes:
        return None
    return Symbol("output", repr(key.value), key.span, key.span, nodes=nodes)


def _training_test(test) -> bool | None:
    """True for `training`, False for `not training`, None for any other condition."""
    if isinstance(test, ast.Name) and test.id == "training":
        return True
    if isinstance(test, ast.UnaryOp) and test.op == "not":
        inner = _training_test(test.operand)
        return None if inner is None else not inner
    return None


def _return_modes(definition) -> dict[int, str]:
    """The mode each `return` of a definition returns in (by id): inside `if training`, or after
    one that returned in the other mode; returns in both modes are left out."""
    modes: dict[int, str] = {}
    stack = [(statement, None) for statement in reversed(definition.body)]
    returned: set[str] = set()  # modes already returned from, in source order
    while stack:
        statement, mode = stack.pop()
        if isinstance(statement, ast.Return):
            if mode is None and len(returned) == 1:
                mode = other_mode(next(iter(returned)))
            if mode is not None:
                modes[id(statement)] = mode
                returned.add(mode)
        elif isinstance(statement, ast.If):
            test = _training_test(statement.test)
            body_mode = orelse_mode = mode
            if test is not None:
                body_mode = TRAIN if test else EVAL
                orelse_mode = other_mode(body_mode)
            stack += [(s, orelse_mode) for s in reversed(statement.orelse)]
            stack += [(s, body_mode) for s in reversed(statement.body)]
        elif isinstance(statement, ast.For):
            stack += [(s, mode) for s in reversed(statement.body)]
    return modes


def definition_span(symbol: Symbol) -> Span | None:
    return symbol.definition


# --- hover text ----------------------------------------------------------------------------------


def describe_mode(mode: str | None) -> str | None:
    """The hover line for a node computed in one mode only; None for both modes."""
    if mode is None:
        return None
    if mode == TRAIN:
        return "runs in training only (`if training`): left out of the MACs and the eval memory"
    return "runs in eval only (not in training)"


def _shape(model: CheckedModel, node: Node) -> str:
    shape = model.inference.shapes.get(node.id)
    if shape is None and node.returns_none:  # MultiheadAttention's weights, need_weights=False
        return "None (torch returns no tensor here with these forward arguments)"
    return format_shape(shape) if shape is not None else "? (not inferred: an error upstream)"


def _origin(model: CheckedModel, node: Node, where: str) -> str | None:
    """What made a value: the op (and which of its outputs), or the input or state it is; a
    layer named from the block instance `where` (alike in every instance)."""
    if node.kind == "input":
        return "a model input"
    if node.kind == "state":
        info = model.graph.module(node.scope).state[node.name]
        return f"{'parameter' if info.kind == 'param' else 'buffer'} `{node.name}`"
    if node.op is None:
        return None
    module = node.module
    if module and where and module.startswith(where + "."):
        module = module[len(where) + 1 :]
    made = f"`{module}` ({node.op.name})" if module else f"`{node.op.name}()`"
    if node.outputs > 1:
        made += f", output {node.output} of {node.outputs}"
    return made


def _value_entry(model: CheckedModel, node: Node, where: str, block_input: bool) -> list[str]:
    lines = [f"- shape: {_shape(model, node)}"]
    origin = _origin(model, node, where) if node.kind != "output" and not block_input else None
    if origin:
        lines.append(f"- from: {origin}")
    mode = describe_mode(node.mode) if node.kind != "output" else None
    if mode:
        lines.append(f"- {mode}")
    if node.kind == "output":
        label = model.graph.output_label(node.id)
        if label:
            lines.append(f"- returned as {label}")
    return lines


def _init_text(info: StateInfo) -> str:
    if info.init == TENSOR:
        return "a tensor computed when the module is built (in `__init__`)"
    names = [name for name, _ in INITIALIZERS.get(info.init, ())]
    args = ", ".join(f"{name}={info.init_args[name]!r}" for name in names if name in info.init_args)
    return f"{info.init}({args})"


def _state_entry(model: CheckedModel, info: StateInfo) -> list[str]:
    kind = "parameter" if info.kind == "param" else "buffer"
    dtype = info.dtype
    if info.init == TENSOR and info.init_node is not None:  # the value's own, unless stated
        dtype = model.inference.dtypes.get(info.init_node, dtype)
    shown = "" if dtype == "float32" else f" {dtype}"
    lines = [
        f"- {kind}, shape {format_shape(info.shape)}{shown}",
        f"- initial value: {_init_text(info)}",
    ]
    if info.kind == "param":
        trainable = "" if info.trainable else " (not trainable: requires_grad=False)"
        lines.append(f"- parameters: {info.parameters:,}{trainable}")
    else:
        persistent = info.options.get("persistent", True)
        where = "in the state_dict" if persistent else "not in the state_dict (persistent=False)"
        lines.append(f"- parameters: 0 ({info.numel:,} values, {where})")
    return lines


def _grouped(entries: list[tuple[str, list[str]]]) -> list[str]:
    """Entries (label, lines) with equal lines shown once, under their first label and a count."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for label, lines in entries:
        groups.setdefault(tuple(lines), []).append(label)
    out: list[str] = []
    for lines, labels in groups.items():
        if any(labels):
            more = f" and {len(labels) - 1} more alike" if len(labels) > 1 else ""
            out += ["", f"`{labels[0]}`{more}"] if labels[0] else [""]
        else:
            out.append("")
        out += list(lines)
    return out


def symbol_hover(symbol: Symbol) -> str | None:
    """Markdown for a resolved name."""
    if symbol.kind == "layer":
        return None  # the layer's application answers a hover (archspec.tools.lsp)
    if symbol.kind == "state":
        if not symbol.states:
            return None
        kind = symbol.states[0][2].kind
        entries = [
            (f"{path}.{info.name}" if path else info.name, _state_entry(model, info))
            for model, path, info in symbol.states
        ]
        return "\n".join([f"**{kind}** `{symbol.name}`", *_grouped(entries)])
    if not symbol.nodes:
        return None
    title = {"output": "output", "value": "value"}[symbol.kind]
    if symbol.block_input:
        title = "input"
    several_models = len({id(model) for model, _, _ in symbol.nodes}) > 1
    entries = [
        (
            f"{model.name}.{where}".rstrip(".") if several_models else where,
            _value_entry(model, node, where, symbol.block_input),
        )
        for model, node, where in symbol.nodes
    ]
    return "\n".join([f"**{title}** `{symbol.name}`", *_grouped(entries)])
