"""A language server for .arch specs: diagnostics as you type, shapes on hover.

    pip install 'archspec-nn[lsp]'
    archspec-lsp                 # or: python -m archspec.tools.lsp   (speaks LSP over stdin/stdout)

Diagnostics are published when a document is opened, changed or saved: archspec's 1-based line
and column spans become LSP's 0-based positions (in the negotiated position encoding, UTF-16 by
default), the message carries the notes and the help, and secondary labels ("produces [N, 576]")
become related information. Hovering a layer, function or block call shows the input and output
shapes (every output of an op with several), the parameters and the MACs of each application (a
block body's layer in every instance that runs it, instances alike shown once; a shared layer at
each place it is applied), and says when it runs in training only. Hovering a name shows what it
names (archspec.tools.lsp_symbols): a value's shape and what made it (an unpacked name: its own
output), a `param` or `buffer`'s shape, initializer and parameter count, a dict return's key its
output. Go to definition leads from a name to where it is bound or declared.

The analysis (`diagnostics_for`, `hover_text`) is plain functions over archspec's CheckResult;
pygls only carries them. Needs the `lsp` extra (pygls >= 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import PositionCodec

from archspec.core import diagnostic as diag
from archspec.core.dims import format_shape
from archspec.core.source import Span
from archspec.core.version import __version__
from archspec.driver import CheckedModel, CheckResult, check_text
from archspec.elaborate.graph import Node
from archspec.elaborate.loader import import_target, read_spec_file
from archspec.shapes.costs import count_at, report_sizes, sizes_text
from archspec.tools.lsp_symbols import describe_mode, symbol_at, symbol_hover

__all__ = ["build_server", "definition_at", "diagnostics_for", "hover_text", "main", "offset_at"]

SOURCE = "archspec"
UNNECESSARY = {"W003", "W005"}  # unused value, unused input: editors fade them


# --- positions ------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def _position(span_source, offset: int, codec: PositionCodec) -> lsp.Position:
    line, column = span_source.line_col(offset)  # 1-based, in code points
    server = lsp.Position(line=line - 1, character=column - 1)
    return codec.position_to_client_units(_lines(span_source.text), server)


def _range(span: Span, codec: PositionCodec) -> lsp.Range:
    return lsp.Range(
        start=_position(span.source, span.start, codec),
        end=_position(span.source, span.end, codec),
    )


def offset_at(text: str, position: lsp.Position, codec: PositionCodec | None = None) -> int:
    """The character offset in `text` of an LSP position (clamped to the text)."""
    codec = codec or PositionCodec()
    lines = _lines(text)
    server = codec.position_from_client_units(lines, position)
    if server.line >= len(lines):
        return len(text)
    start = sum(len(line) for line in lines[: server.line])
    line = lines[server.line].rstrip("\r\n")
    return start + min(server.character, len(line))


def _same_file(span: Span, path: str) -> bool:
    return os.path.normcase(os.path.abspath(span.source.path)) == os.path.normcase(
        os.path.abspath(path)
    )


def _uri(path: str) -> str:
    return from_fs_path(os.path.abspath(path)) or path


# --- diagnostics ----------------------------------------------------------------------------------


def diagnostics_for(
    result: CheckResult, path: str, codec: PositionCodec | None = None
) -> list[lsp.Diagnostic]:
    """archspec's findings for the file `path`, as LSP diagnostics on that file.

    A finding located in an imported file (an error inside a block this file instantiates) is
    shown at its first label in this file, else at the import of that file, else at the top, with
    its real place as related information.
    """
    codec = codec or PositionCodec()
    out: list[lsp.Diagnostic] = []
    for finding in result.diagnostics:
        primary = finding.primary.span
        related: list[lsp.DiagnosticRelatedInformation] = []
        message = finding.message
        if _same_file(primary, path):
            where = _range(primary, codec)
        else:
            local = _instance_span(result, path, primary)
            local = local or next(
                (lb.span for lb in finding.labels if _same_file(lb.span, path)), None
            )
            local = local or _import_span(result, primary.source.path)
            if local is not None:
                where = _range(local, codec)
            else:
                where = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
            message = f"{message} (in {primary.source.path}:{primary.line}:{primary.column})"
            related.append(
                lsp.DiagnosticRelatedInformation(
                    location=lsp.Location(
                        uri=_uri(primary.source.path), range=_range(primary, codec)
                    ),
                    message=finding.primary.message or finding.message,
                )
            )
        for label in finding.labels:
            if label.primary:
                continue
            related.append(
                lsp.DiagnosticRelatedInformation(
                    location=lsp.Location(
                        uri=_uri(label.span.source.path), range=_range(label.span, codec)
                    ),
                    message=label.message or "related",
                )
            )
        details = [f"note: {note}" for note in finding.notes]
        if finding.help:
            details.append(f"help: {finding.help}")
        if details:
            message = message + "\n" + "\n".join(details)
        severity = (
            lsp.DiagnosticSeverity.Error
            if finding.severity is diag.Severity.ERROR
            else lsp.DiagnosticSeverity.Warning
        )
        out.append(
            lsp.Diagnostic(
                range=where,
                message=message,
                severity=severity,
                code=finding.code,
                source=SOURCE,
                related_information=related or None,
                tags=[lsp.DiagnosticTag.Unnecessary] if finding.code in UNNECESSARY else None,
            )
        )
    return out


def _instance_span(result: CheckResult, path: str, primary: Span) -> Span | None:
    """The call in this file of the block instance whose body holds the finding's place."""
    for model in result.models:
        graph = model.graph
        for node in graph.nodes():
            spans = [node.span, *node.arg_spans.values()]
            if not any(
                span.source.path == primary.source.path
                and span.start <= primary.start
                and primary.end <= span.end
                for span in spans
            ):
                continue
            scope = node.scope
            while scope:
                module = graph.module(scope)
                if _same_file(module.span, path):
                    return module.span
                scope = scope.rpartition(".")[0]
    return None


def _import_span(result: CheckResult, imported_path: str) -> Span | None:
    """The `from "..." import ...` statement of this file that leads to `imported_path`."""
    loaded = result.loaded
    if loaded is None or loaded.module is None:
        return None
    target = os.path.realpath(imported_path)
    for statement in loaded.module.imports:
        candidate = import_target(loaded.source.path, str(statement.path.value))
        if candidate is not None and os.path.realpath(candidate) == target:
            return statement.span
    # Imported indirectly: the first import of this file is the best place we have.
    return loaded.module.imports[0].span if loaded.module.imports else None


# --- hover ----------------------------------------------------------------------------------------


@dataclass
class _Application:
    label: str  # "fc", "layer2.0.conv1", "layer1.0 (BasicBlock)"
    kind: str  # the op or block name
    inputs: list[str]
    outputs: list[str]
    params: int | None
    macs: object
    mode: str | None = None  # TRAIN or EVAL: runs in that mode only


def _shape_text(model: CheckedModel, node_id: str) -> str:
    shape = model.inference.shapes.get(node_id)
    return format_shape(shape) if shape is not None else "? (not inferred: an error upstream)"


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _macs(model: CheckedModel, macs: object) -> str:
    """A count that depends on the input size is shown at the model's report size, as the
    summary counts it, with its formula."""
    sizes, _ = report_sizes(model)
    if not sizes or isinstance(macs, int):
        return f"{_count(macs)} (per sample)"
    return f"{count_at(macs, 1, sizes):,} (per sample, at {sizes_text(sizes)}; {macs})"


def _candidates(result: CheckResult, path: str, offset: int):
    """(span length, span start, model, node or container call) for everything under `offset`."""
    for model in result.models:
        graph = model.graph
        for node in graph.nodes():
            span = node.span
            if node.kind == "op" and node.output == 0 and _same_file(span, path):
                if span.start <= offset < span.end:  # an op's later outputs join its first's
                    yield span.end - span.start, span.start, model, node
        for call in graph.calls:
            span = graph.module(call.module).span
            if _same_file(span, path) and span.start <= offset < span.end:
                yield span.end - span.start, span.start, model, call


def _node_application(model: CheckedModel, node) -> _Application:
    evaluation = model.inference.evaluations.get(node.id)
    label = node.module or node.id
    inputs = [_shape_text(model, source) for source in node.operands]
    sources = node.inputs[len(inputs) :]  # forward arguments: `attn_mask: [L, S]`, `need_weights`
    inputs += [f"{name}: {_shape_text(model, s)}" for name, s in zip(node.forward_inputs, sources)]
    inputs += [f"{name}={value!r}" for name, value in node.forward_args.items()]
    outputs = [_shape_text(model, node.id)] if evaluation is not None else []
    if node.outputs > 1 and evaluation is not None:  # chunk, MultiheadAttention: all of them
        group = [n for n in model.graph.nodes() if n.group == node.group]
        outputs = [
            "None" if n.returns_none else _shape_text(model, n.id)
            for n in sorted(group, key=lambda n: n.output)
        ]
    if evaluation is None:
        return _Application(label, node.op.name, inputs, outputs, None, None, node.mode)
    first = True
    if node.module is not None:  # a shared layer's weights count at its first application
        first = model.graph.module(node.module).applications[:1] == [node.id]
    params = evaluation.params if first else None
    return _Application(label, node.op.name, inputs, outputs, params, evaluation.macs, node.mode)


def _call_application(model: CheckedModel, call) -> _Application:
    graph = model.graph
    module = graph.module(call.module)
    kind = module.definition.name.id if module.kind == "block" else "Sequential"
    params = 0
    macs: object = 0
    counted: set[str] = set()
    for node in graph.nodes():
        if not call.start <= node.index < call.end or node.kind != "op":
            continue
        evaluation = model.inference.evaluations.get(node.id)
        if evaluation is None:
            continue
        macs = macs + evaluation.macs
        if node.module is None or node.module not in counted:
            params += evaluation.params
            if node.module is not None:
                counted.add(node.module)
    inputs = [_shape_text(model, source) for source in call.inputs or ()]
    outputs = [_shape_text(model, out) for out in call.outputs or ()]
    return _Application(call.module, kind, inputs, outputs, params, macs, call.mode)


def hover_text(result: CheckResult, path: str, offset: int) -> str | None:
    """Markdown for the name at `offset` (a value, a `param`, a dict return's key), else for the
    innermost layer/function/block call there; None when nothing is there."""
    symbol = symbol_at(result, path, offset)
    if symbol is not None:
        text = symbol_hover(symbol)
        if text is not None:
            return text
    found = list(_candidates(result, path, offset))
    if not found:
        return None
    smallest = min((length, -start) for length, start, _, _ in found)
    applications = []
    for length, start, model, item in found:
        if (length, -start) != smallest:
            continue
        if isinstance(item, Node):
            applications.append((model, _node_application(model, item)))
        else:
            applications.append((model, _call_application(model, item)))
    title = applications[0][1].kind
    lines = [f"**{title}**"]
    if len(applications) > 1:
        lines[0] += f" — {len(applications)} applications"
    several_models = len({id(model) for model, _ in applications}) > 1
    shown: dict[tuple[str, ...], list[str]] = {}  # instances alike: one entry, with a count
    for model, app in applications:
        where = f"{model.name}.{app.label}" if several_models else app.label
        entry = [
            f"- input: {', '.join(app.inputs) or '—'}",
            f"- output: {', '.join(app.outputs) or 'not inferred (see the diagnostics)'}",
        ]
        if app.params is not None:
            entry.append(f"- parameters: {_count(app.params)}")
        elif app.outputs:
            entry.append("- parameters: shared with its first application")
        if app.macs is not None:
            entry.append(f"- MACs: {_macs(model, app.macs)}")
        mode = describe_mode(app.mode)
        if mode:
            entry.append(f"- {mode}")
        shown.setdefault(tuple(entry), []).append(where)
    for entry, places in shown.items():
        more = f" and {len(places) - 1} more alike" if len(places) > 1 else ""
        lines += ["", f"`{places[0]}`{more}", *entry]
    return "\n".join(lines)


def definition_at(result: CheckResult, path: str, offset: int) -> Span | None:
    """Where the name at `offset` is bound or declared: a value's assignment (or input), a
    `param` or `buffer`'s declaration, a layer's declaration, a block's definition."""
    symbol = symbol_at(result, path, offset)
    return symbol.definition if symbol is not None else None


# --- the server -----------------------------------------------------------------------------------


def _document_path(uri: str) -> str:
    return to_fs_path(uri) or uri


class ArchLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "archspec-lsp", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full
        )
        self.results: dict[str, tuple[str, CheckResult]] = {}  # uri -> (text checked, result)

    def document_text(self, uri: str) -> str | None:
        """The document's text: the editor's copy once it is open; else the file, read only if
        it is a regular file (a request may name any URI: /dev/zero would never end, a named
        pipe never open). None when it cannot be read."""
        if unquote(uri) in self.workspace.text_documents:
            return self.workspace.get_text_document(uri).source
        try:
            data = read_spec_file(_document_path(uri))
        except OSError:
            return None
        return data.decode("utf-8", "replace")

    def check(self, uri: str, fresh: bool = False) -> tuple[str, CheckResult] | None:
        """The document's text and result, None if it cannot be read; cached for hovers,
        `fresh` re-reads imported files too."""
        text = self.document_text(uri)
        if text is None:
            return None
        cached = self.results.get(uri)
        if not fresh and cached is not None and cached[0] == text:
            return cached
        self.results[uri] = (text, check_text(text, _document_path(uri)))
        return self.results[uri]

    def publish(self, uri: str) -> None:
        document = self.workspace.get_text_document(uri)
        checked = self.check(uri, fresh=True)
        path, codec = _document_path(uri), document.position_codec
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(
                uri=uri,
                version=document.version,
                diagnostics=diagnostics_for(checked[1], path, codec) if checked else [],
            )
        )


def build_server() -> ArchLanguageServer:
    server = ArchLanguageServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ArchLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ArchLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ArchLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ArchLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.results.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: ArchLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        checked = ls.check(uri)
        if checked is None:
            return None
        source, result = checked
        codec = ls.workspace.get_text_document(uri).position_codec
        offset = offset_at(source, params.position, codec)
        text = hover_text(result, _document_path(uri), offset)
        if text is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: ArchLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        uri = params.text_document.uri
        checked = ls.check(uri)
        if checked is None:
            return None
        source, result = checked
        codec = ls.workspace.get_text_document(uri).position_codec
        span = definition_at(result, _document_path(uri), offset_at(source, params.position, codec))
        if span is None:
            return None
        return lsp.Location(uri=_uri(span.source.path), range=_range(span, codec))

    return server


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="archspec-lsp", description="archspec's language server (LSP over stdin/stdout)"
    )
    parser.add_argument("--version", action="version", version=f"archspec-lsp {__version__}")
    parser.parse_args(argv)
    build_server().start_io()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
