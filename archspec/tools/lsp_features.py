"""The language server's editing features as plain functions over one document's analysis (its
text and archspec's CheckResult), each testable without a server: completion, document symbols,
inlay hints, references, code actions and formatting. archspec.tools.lsp carries them over LSP.

- completion: the ops of the registry, with a snippet of their required arguments and torch's
  defaults in the detail; the blocks, layers and values in scope; inside a call's parentheses,
  the keyword arguments of the op, block or layer being called that are not given yet;
- document symbols: models, blocks and functions, each with its parameters, inputs, `param` and
  `buffer` declarations and named layers;
- inlay hints: the shape made on each line, at its end (a block body's line: the shape of every
  instance, once when they agree);
- references: every place a layer, value, block or model is named, blocks across the files that
  import them;
- code actions: each finding's fix, unsafe ones labelled so (ruff's applicability), and a
  "fix all" of the safe ones;
- formatting: `archspec fmt`'s layout as one edit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lsprotocol import types as lsp
from pygls.workspace import PositionCodec

from archspec.core import diagnostic as diag
from archspec.core.dims import format_shape
from archspec.core.source import Span
from archspec.driver import CheckedModel, CheckResult
from archspec.elaborate.loader import LoadedFile
from archspec.ops.base import REQUIRED, OpSpec, Param
from archspec.ops.registry import REGISTRY
from archspec.syntax import ast
from archspec.tools.fixes import apply_fixes
from archspec.tools.fmt import FormatError, format_text
from archspec.tools.lsp_positions import range_of, same_file, uri_of, whole_range
from archspec.tools.lsp_symbols import definition_span, symbol_at

__all__ = [
    "call_context",
    "code_actions",
    "completions",
    "document_symbols",
    "format_edits",
    "inlay_hints",
    "references",
]

FIX_ALL_KIND = "source.fixAll.archspec"
LANGUAGE_KEYWORDS = (
    "model",
    "block",
    "def",
    "extern",
    "input",
    "return",
    "param",
    "buffer",
    "for",
    "in",
    "if",
    "else",
    "from",
    "import",
    "training",
    "and",
    "or",
    "not",
    "None",
    "True",
    "False",
)


# --- completion -----------------------------------------------------------------------------------


@dataclass
class CallContext:
    """The call whose parentheses hold the cursor: `Conv2d(3, 8, |`."""

    name: str
    given: set[str]  # the keywords written already
    positional: int = 0  # the arguments given by position before the cursor's


_NAME_BEFORE = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)\s*$")
_KEYWORD_GIVEN = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]*)\s*=(?!=)")
_CONTEXT_LIMIT = 4000  # characters read back from the cursor: a call is never longer


def call_context(text: str, offset: int) -> CallContext | None:
    """The innermost call whose open parenthesis precedes `offset`, read from the text as typed
    (the last analysis may not parse): None outside any call's parentheses."""
    depth = 0
    stop = max(0, offset - _CONTEXT_LIMIT)
    for index in range(offset - 1, stop - 1, -1):
        char = text[index]
        if char in ")]":
            depth += 1
        elif char in "([":
            if depth:
                depth -= 1
                continue
            if char == "[":
                return None  # inside a list or a shape: no keyword goes here
            found = _NAME_BEFORE.search(text, 0 if index < 80 else index - 80, index)
            if found is None:
                return None
            inside = text[index + 1 : offset]
            return CallContext(
                found.group(1), set(_KEYWORD_GIVEN.findall(inside)), _positional_count(inside)
            )
        elif char in "{}":
            return None  # a body's brace: the cursor is between statements
    return None


def _positional_count(inside: str) -> int:
    """How many finished arguments of a call's text so far are positional (`3, 8, k=1, `: 2)."""
    depth, start, arguments = 0, 0, []
    for index, char in enumerate(inside):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append(inside[start:index])
            start = index + 1
    return sum(1 for argument in arguments if not re.match(r"\s*\w+\s*=(?!=)", argument))


def _snippet_argument(number: int, name: str) -> str:
    return f"${{{number}:{name}}}"


def _op_snippet(op: OpSpec) -> str:
    """`Conv2d(${1:in_channels}, ${2:out_channels}, ${3:kernel_size})`: the required arguments.
    A function's first tensor comes from the pipe (`x -> flatten(1)`), so it is left out."""
    params = list(op.params)
    if op.kind == "function" and params and params[0].is_tensor and params[0].name == "input":
        params = params[1:]
    required = [p for p in params if p.default is REQUIRED and not p.keyword_only]
    arguments = [_snippet_argument(i, p.name) for i, p in enumerate(required, 1)]
    keywords = [p for p in params if p.default is REQUIRED and p.keyword_only]
    arguments += [
        f"{p.name}={_snippet_argument(i, p.name)}"
        for i, p in enumerate(keywords, len(arguments) + 1)
    ]
    return f"{op.name}({', '.join(arguments)})$0"


def _op_documentation(op: OpSpec) -> str:
    defaults = [f"`{p.name}={p.default!r}`" for p in op.params if p.default is not REQUIRED]
    lines = [f"`{op.signature}`", "", op.summary or op.torch, "", f"torch: `{op.torch}`"]
    if defaults:
        lines += ["", "torch's defaults: " + ", ".join(defaults)]
    if op.forward:
        lines += ["", f"called as `{op.forward_signature}`"]
    return "\n".join(lines)


def _op_item(op: OpSpec) -> lsp.CompletionItem:
    kind = lsp.CompletionItemKind.Class if op.kind == "layer" else lsp.CompletionItemKind.Function
    return lsp.CompletionItem(
        label=op.name,
        kind=kind,
        detail=op.signature,
        documentation=lsp.MarkupContent(lsp.MarkupKind.Markdown, _op_documentation(op)),
        insert_text=_op_snippet(op),
        insert_text_format=lsp.InsertTextFormat.Snippet,
        sort_text=f"2{op.name}",
    )


def _param_default(param: ast.Param) -> str | None:
    return param.default.span.text if param.default is not None else None


def _definition_item(name: str, node) -> lsp.CompletionItem:
    """A block, model, function or extern in scope, with its required arguments as a snippet."""
    params = node.params
    shown = ", ".join(
        p.name.id + (f"={_param_default(p)}" if p.default is not None else "") for p in params
    )
    required = [p.name.id for p in params if p.default is None]
    arguments = ", ".join(_snippet_argument(i, n) for i, n in enumerate(required, 1))
    kind = getattr(node, "kind", "extern")
    return lsp.CompletionItem(
        label=name,
        kind=lsp.CompletionItemKind.Module,
        detail=f"{kind} {name}({shown})",
        insert_text=f"{name}({arguments})$0",
        insert_text_format=lsp.InsertTextFormat.Snippet,
        sort_text=f"1{name}",
    )


def _keyword_item(name: str, default: str | None, detail: str) -> lsp.CompletionItem:
    value = _snippet_argument(1, default if default is not None else name)
    return lsp.CompletionItem(
        label=f"{name}=",
        kind=lsp.CompletionItemKind.Property,
        detail=detail,
        insert_text=f"{name}={value}",
        insert_text_format=lsp.InsertTextFormat.Snippet,
        sort_text=f"0{name}",
    )


def _op_keywords(op: OpSpec, params: Iterable[Param], given: set[str]) -> list[lsp.CompletionItem]:
    items = []
    for param in params:
        if param.variadic or param.name in given:
            continue
        default = None if param.default is REQUIRED else repr(param.default)
        detail = f"{op.name}: " + (
            "required" if default is None else f"{param.name}={default} (torch's default)"
        )
        items.append(_keyword_item(param.name, default, detail))
    return items


def _enclosing_definition(result: CheckResult | None, path: str, offset: int):
    loaded = result.loaded if result is not None else None
    if loaded is None or loaded.module is None:
        return None
    for definition in loaded.module.definitions:
        span = definition.span
        if same_file(span, path) and span.start <= offset <= span.end:
            return definition
    return None


def _layer_op(definition, name: str) -> OpSpec | None:
    """The op of a layer declared in `definition` as `name: Op(...)`."""
    if definition is None:
        return None
    for item in _walk(definition):
        if isinstance(item, ast.Declare) and item.name.id == name:
            return REGISTRY.get(item.call.func.id)
        if isinstance(item, ast.Labelled) and item.label.text == name:
            return REGISTRY.get(item.call.func.id)
    return None


def _keyword_items(
    context: CallContext, result: CheckResult | None, definition
) -> list[lsp.CompletionItem]:
    """The keywords the called op, block or layer takes and the call does not give yet."""
    op = REGISTRY.get(context.name)
    if op is not None:
        params = list(op.positional)
        taken = set()
        if op.kind == "function" and params and params[0].is_tensor and params[0].name == "input":
            taken.add(params.pop(0).name)  # `x -> flatten(1)`: the input comes through the pipe
        taken |= {p.name for p in params[: context.positional]}
        return _op_keywords(op, op.params, context.given | taken)
    scope = result.loaded.definitions if result is not None and result.loaded else {}
    block = scope.get(context.name)
    if block is not None and block.node is not None:
        taken = {p.name.id for p in block.node.params[: context.positional]}
        return [
            _keyword_item(p.name.id, _param_default(p), f"{context.name}: {p.name.id}")
            for p in block.node.params
            if p.name.id not in context.given | taken
        ]
    layer = _layer_op(definition, context.name)  # `attn(q, k, v, need_weights=...)`
    if layer is not None:
        return _op_keywords(layer, layer.forward, context.given)
    return []


def _names_in_scope(definition) -> dict[str, lsp.CompletionItemKind]:
    """The names a definition's body may use: its parameters, inputs, values, state, layers."""
    if definition is None:
        return {}
    names: dict[str, lsp.CompletionItemKind] = {}
    for param in definition.params:
        names[param.name.id] = lsp.CompletionItemKind.TypeParameter
    for item in _walk(definition):
        if isinstance(item, ast.Input):
            names[item.name.id] = lsp.CompletionItemKind.Variable
        elif isinstance(item, ast.Assign):
            names[item.target.id] = lsp.CompletionItemKind.Variable
        elif isinstance(item, ast.Unpack):
            for target in ast.target_names(item.targets):
                names[target.id] = lsp.CompletionItemKind.Variable
        elif isinstance(item, ast.State):
            names[item.name.id] = lsp.CompletionItemKind.Field
        elif isinstance(item, ast.Declare):
            names[item.name.id] = lsp.CompletionItemKind.Field
        elif isinstance(item, ast.Labelled):
            names.setdefault(item.label.text, lsp.CompletionItemKind.Field)
    names.pop("_", None)
    return names


def completions(
    text: str, offset: int, result: CheckResult | None, path: str
) -> list[lsp.CompletionItem]:
    """What may be written at `offset` of `text`: keyword arguments of the call around it first,
    then names in scope, blocks, ops and the language's keywords. `result` is the latest
    analysis (it may lag a keystroke behind `text`; names from it are still the right ones)."""
    definition = _enclosing_definition(result, path, offset)
    items: list[lsp.CompletionItem] = []
    context = call_context(text, offset)
    if context is not None:
        items += _keyword_items(context, result, definition)
    for name, kind in _names_in_scope(definition).items():
        items.append(lsp.CompletionItem(label=name, kind=kind, sort_text=f"0~{name}"))
    scope = result.loaded.definitions if result is not None and result.loaded else {}
    for name, block in scope.items():
        if block.node is not None and getattr(block.node, "kind", "extern") != "model":
            items.append(_definition_item(name, block.node))
    items += [_op_item(op) for op in REGISTRY.values()]
    items.append(
        lsp.CompletionItem(
            label="Sequential",
            kind=lsp.CompletionItemKind.Class,
            detail="Sequential(*layers)",
            insert_text="Sequential(\n\t$0\n)",
            insert_text_format=lsp.InsertTextFormat.Snippet,
            sort_text="2Sequential",
        )
    )
    items += [
        lsp.CompletionItem(label=word, kind=lsp.CompletionItemKind.Keyword, sort_text=f"3{word}")
        for word in LANGUAGE_KEYWORDS
    ]
    return items


# --- document symbols -----------------------------------------------------------------------------


def _walk(root):
    """Every AST node under `root`, depth first in source order (no recursion)."""
    stack = [root]
    while stack:
        item = stack.pop()
        yield item
        children = []
        for name in ast.fields(item):
            value = getattr(item, name)
            for child in value if isinstance(value, tuple) else (value,):
                if ast.is_node(child) and getattr(child, "span", None) is not None:
                    children.append(child)
        stack.extend(reversed(children))


def _symbol(
    name: str, kind: lsp.SymbolKind, span: Span, name_span: Span, codec, detail: str | None = None
) -> lsp.DocumentSymbol:
    return lsp.DocumentSymbol(
        name=name,
        kind=kind,
        range=range_of(span, codec),
        selection_range=range_of(name_span, codec),
        detail=detail,
        children=[],
    )


_DEFINITION_KINDS = {
    "model": lsp.SymbolKind.Class,
    "block": lsp.SymbolKind.Struct,
    "def": lsp.SymbolKind.Function,
}


def _members(definition, codec) -> list[lsp.DocumentSymbol]:
    """A definition's parameters, inputs, `param`/`buffer` declarations and named layers."""
    members = [
        _symbol(p.name.id, lsp.SymbolKind.TypeParameter, p.span, p.name.span, codec, "parameter")
        for p in definition.params
    ]
    for item in _walk(definition):
        if isinstance(item, ast.Input):
            shape = item.shape.span.text if item.shape is not None else None
            members.append(
                _symbol(
                    item.name.id,
                    lsp.SymbolKind.Variable,
                    item.span,
                    item.name.span,
                    codec,
                    f"input {shape}" if shape else "input",
                )
            )
        elif isinstance(item, ast.State):
            members.append(
                _symbol(
                    item.name.id,
                    lsp.SymbolKind.Field,
                    item.span,
                    item.name.span,
                    codec,
                    f"{item.kind} {item.shape.span.text}",
                )
            )
        elif isinstance(item, ast.Declare):
            members.append(
                _symbol(
                    item.name.id,
                    lsp.SymbolKind.Property,
                    item.span,
                    item.name.span,
                    codec,
                    item.call.func.id,
                )
            )
        elif isinstance(item, ast.Labelled):
            members.append(
                _symbol(
                    item.label.text,
                    lsp.SymbolKind.Property,
                    item.span,
                    item.label.span,
                    codec,
                    item.call.func.id,
                )
            )
        elif isinstance(item, ast.Argument) and item.label is not None:
            called = item.value.func.id if isinstance(item.value, ast.Call) else None
            members.append(
                _symbol(
                    item.label.text,
                    lsp.SymbolKind.Property,
                    item.span,
                    item.label.span,
                    codec,
                    called,
                )
            )
    return members


def document_symbols(result: CheckResult, path: str, codec: PositionCodec) -> list:
    """The outline of the file: its models, blocks, functions and externs, with their members."""
    loaded = result.loaded
    if loaded is None or loaded.module is None:
        return []
    module = loaded.module
    symbols = []
    for definition in module.definitions:
        if not same_file(definition.span, path):
            continue
        symbol = _symbol(
            definition.name.id,
            _DEFINITION_KINDS.get(definition.kind, lsp.SymbolKind.Class),
            definition.span,
            definition.name.span,
            codec,
            definition.kind,
        )
        symbol.children = _members(definition, codec)
        symbols.append(symbol)
    for extern in module.externs:
        symbols.append(
            _symbol(
                extern.name.id,
                lsp.SymbolKind.Interface,
                extern.span,
                extern.name.span,
                codec,
                f"extern {extern.target.value}",
            )
        )
    symbols.sort(key=lambda s: (s.range.start.line, s.range.start.character))
    return symbols


# --- inlay hints ----------------------------------------------------------------------------------


def _shape_of(model: CheckedModel, node_id: str) -> str | None:
    shape = model.inference.shapes.get(node_id)
    return format_shape(shape) if shape is not None else None


def _line_outputs(result: CheckResult, path: str):
    """(span, model, node ids of the outputs) of each op application and container call of this
    file, the spans being where they are written."""
    for model in result.models:
        graph = model.graph
        groups: dict[object, list] = {}  # an op of several outputs: its output nodes
        for node in graph.nodes():
            if node.kind == "op" and node.outputs > 1:
                groups.setdefault(node.group, []).append(node)
        for node in graph.nodes():
            if node.kind == "op" and node.output == 0 and same_file(node.span, path):
                if node.outputs > 1:
                    group = sorted(groups[node.group], key=lambda n: n.output)
                    yield node.span, model, [n.id for n in group]
                else:
                    yield node.span, model, [node.id]
        for call in graph.calls:
            span = graph.module(call.module).span
            if same_file(span, path) and call.outputs:
                yield span, model, list(call.outputs)


def inlay_hints(
    result: CheckResult, path: str, codec: PositionCodec, lines: range | None = None
) -> list[lsp.InlayHint]:
    """The shape made on each line, at the line's end: of the application that ends last there
    (the outermost when several end together: `relu(conv(x))`'s relu). A line of a block body
    run by several instances shows every distinct shape, in instance order."""
    last: dict[int, tuple[int, int]] = {}  # line -> (end, -start) of the application shown
    shapes: dict[int, list[str]] = {}
    places: dict[int, Span] = {}
    for span, model, outputs in _line_outputs(result, path):
        line = span.source.line_col(span.end)[0]
        if lines is not None and line - 1 not in lines:
            continue
        texts = [_shape_of(model, output) for output in outputs]
        if any(text is None for text in texts):
            continue
        shown = texts[0] if len(texts) == 1 else "(" + ", ".join(texts) + ")"
        key = (span.end, -span.start)
        if line not in last or key > last[line]:
            last[line], shapes[line], places[line] = key, [shown], span
        elif key == last[line] and shown not in shapes[line]:
            shapes[line].append(shown)
    hints = []
    for line, texts in sorted(shapes.items()):
        source = places[line].source
        line_end = source.text.find("\n", places[line].end)
        offset = len(source.text) if line_end < 0 else line_end
        if offset and source.text[offset - 1] == "\r":
            offset -= 1
        label = texts[0] if len(texts) == 1 else " | ".join(texts)
        hints.append(
            lsp.InlayHint(
                position=range_of(source.span(offset, offset), codec).start,
                label=f"→ {label}",
                kind=lsp.InlayHintKind.Type,
                padding_left=True,
            )
        )
    return hints


# --- references -----------------------------------------------------------------------------------


def _same_place(a: Span | None, b: Span | None) -> bool:
    return (
        a is not None
        and b is not None
        and a.start == b.start
        and same_file(a, b.source.path)
        and a.end == b.end
    )


def _names(module, name: str) -> list[ast.Name]:
    """Every `Name` node spelling `name` in a module (definitions, externs and imports)."""
    return [
        item
        for root in (*module.imports, *module.definitions, *module.externs)
        for item in _walk(root)
        if isinstance(item, ast.Name) and item.id == name
    ]


def _block_references(target: Span, name: str, files: Iterable[LoadedFile]) -> list[Span]:
    """Where the block or model whose name is declared at `target` is named, in the files given:
    its definition, each import of it and each call of it."""
    found: list[Span] = []
    for loaded in files:
        if loaded is None or loaded.module is None:
            continue
        bound = loaded.definitions.get(name)
        if bound is None or bound.node is None or not _same_place(bound.node.name.span, target):
            continue
        for item in _names(loaded.module, name):
            if not same_file(item.span, loaded.source.path):
                continue
            if not any(_same_place(item.span, seen) for seen in found):
                found.append(item.span)
    return found


def references(
    result: CheckResult,
    path: str,
    offset: int,
    other_files: Callable[[str], Iterable[LoadedFile]] = lambda name: (),
    include_declaration: bool = True,
) -> list[Span]:
    """Every place that names what the name at `offset` names, in source order per file.

    A layer, value or `param` is looked for in its definition; a block or model in this file
    and in the files `other_files(name)` gives, loaded (files that may import it)."""
    symbol = symbol_at(result, path, offset)
    loaded = result.loaded
    target = definition_span(symbol) if symbol is not None else None
    if target is None and loaded is not None and loaded.module is not None:
        target = _declared_name_at(loaded, offset)
    if target is None or loaded is None or loaded.module is None:
        return []
    name = target.text
    declared = loaded.definitions.get(name)
    if (
        declared is not None
        and declared.node is not None
        and _same_place(declared.node.name.span, target)
    ):
        found = _block_references(target, name, [result.loaded, *other_files(name)])
        if not any(_same_place(span, target) for span in found):
            found.append(target)  # its file was not among those searched
    else:
        found = _local_references(result, path, target, name)
    if not include_declaration:
        found = [span for span in found if not _same_place(span, target)]
    return sorted(found, key=lambda s: (s.source.path, s.start))


def _declared_name_at(loaded, offset: int) -> Span | None:
    """On a definition's own name (`block Down(...)`) or an imported name (`import Down`): where
    that block is defined."""
    module = loaded.module
    for definition in module.definitions:
        if definition.name.span.start <= offset < definition.name.span.end:
            return definition.name.span
    for statement in module.imports:
        for name in statement.names:
            bound = loaded.definitions.get(name.id)
            if name.span.start <= offset < name.span.end and bound and bound.node is not None:
                return bound.node.name.span
    return None


def _local_references(result: CheckResult, path: str, target: Span, name: str) -> list[Span]:
    """The names in the target's definition that resolve to it (a layer, value or state)."""
    module = result.loaded.module
    definition = next(
        (d for d in module.definitions if d.span.start <= target.start < d.span.end), None
    )
    if definition is None:
        return [target]
    found = [target]
    for item in _walk(definition):
        spans = []
        if isinstance(item, ast.Name) and item.id == name:
            spans.append(item.span)
        elif isinstance(item, (ast.Labelled, ast.Argument)) and getattr(item, "label", None):
            if item.label.text == name:
                spans.append(item.label.span)
        for span in spans:
            if _same_place(span, target):
                continue
            symbol = symbol_at(result, path, span.start)
            resolved = definition_span(symbol) if symbol is not None else None
            if _same_place(resolved, target):
                found.append(span)
    return found


# --- code actions ---------------------------------------------------------------------------------


def _overlaps(a: lsp.Range, b: lsp.Range) -> bool:
    start_a, end_a = (a.start.line, a.start.character), (a.end.line, a.end.character)
    start_b, end_b = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return start_a <= end_b and start_b <= end_a


def _fix_title(fix: diag.Fix) -> str:
    if fix.safe:
        return fix.description
    return f"{fix.description} (unsafe: may change what the spec means)"


def code_actions(
    result: CheckResult,
    findings: list[lsp.Diagnostic],
    text: str,
    path: str,
    codec: PositionCodec,
    where: lsp.Range,
    only: list[str] | None = None,
) -> list[lsp.CodeAction]:
    """The fixes of the findings at `where` (quick fixes; an unsafe one says so and is never
    preferred), and one action applying every safe fix of the file (`source.fixAll`).

    `findings` are the LSP diagnostics of `result.diagnostics`, one each, in order."""
    uri = uri_of(path)
    actions: list[lsp.CodeAction] = []
    wanted = only or [lsp.CodeActionKind.QuickFix, lsp.CodeActionKind.SourceFixAll]

    def allowed(kind: str) -> bool:
        return any(kind == w or kind.startswith(w + ".") for w in wanted)

    if allowed(lsp.CodeActionKind.QuickFix):
        for finding, shown in zip(result.diagnostics, findings):
            fix = finding.fix
            if fix is None or not _overlaps(shown.range, where):
                continue
            if not all(same_file(e.span, path) and e.span.source.text == text for e in fix.edits):
                continue  # edits of an imported file, or of a text the editor changed since
            edits = [lsp.TextEdit(range_of(e.span, codec), e.replacement) for e in fix.edits]
            actions.append(
                lsp.CodeAction(
                    title=_fix_title(fix),
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[shown],
                    edit=lsp.WorkspaceEdit(changes={uri: edits}),
                    is_preferred=fix.safe,
                )
            )
    if allowed(FIX_ALL_KIND):
        fixed, used = apply_fixes(text, result.diagnostics, path)
        if used:
            actions.append(
                lsp.CodeAction(
                    title=f"archspec: apply {used} safe fix{'es' if used > 1 else ''}",
                    kind=FIX_ALL_KIND,
                    edit=lsp.WorkspaceEdit(
                        changes={uri: [lsp.TextEdit(whole_range(text, codec), fixed)]}
                    ),
                )
            )
    return actions


# --- formatting -----------------------------------------------------------------------------------


def format_edits(text: str, path: str, codec: PositionCodec) -> list[lsp.TextEdit] | None:
    """`archspec fmt`'s layout of the text as one edit ([] when it is formatted already); None
    when it cannot be formatted (a syntax error: the diagnostics say where)."""
    try:
        formatted = format_text(text, path)
    except (diag.ArchError, FormatError):
        return None
    if formatted == text:
        return []
    return [lsp.TextEdit(whole_range(text, codec), formatted)]
