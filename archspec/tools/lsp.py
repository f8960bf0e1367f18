"""A language server for .arch specs: diagnostics as you type, shapes on hover.

    pip install 'archspec-nn[lsp]'
    archspec-lsp                 # or: python -m archspec.tools.lsp   (speaks LSP over stdin/stdout)

Each version of a document is checked once, into an `Analysis`; every request is a small handler
over it. Diagnostics: archspec's 1-based line and column spans become LSP's 0-based positions (in
the negotiated position encoding, UTF-16 by default), the message carries the notes and the help,
and secondary labels ("produces [N, 576]") become related information. Hovering a layer, function
or block call shows the input and output shapes (every output of an op with several), the
parameters and the MACs of each application (a block body's layer in every instance that runs it,
instances alike shown once; a shared layer at each place it is applied; a layer's declaration: its
applications), and says when it runs in training only; hovering `->` shows the shape it passes on.
Hovering a name shows what it names (archspec.tools.lsp_symbols): a value's shape and what made it,
a `param` or `buffer`'s shape, initializer and parameter count, a dict return's key its output. Go
to definition leads from a name to where it is bound or declared. Completion, references, document
symbols, inlay hints, code actions and formatting are archspec.tools.lsp_features.

Checks run on one thread of their own, debounced after edits and superseded by newer ones, so a
slow spec never holds up the server (ArchLanguageServer); saving a file re-checks the open
documents that import it.

The analysis (`diagnostics_for`, `hover_text`, the features) is plain functions over archspec's
CheckResult; pygls only carries them. Needs the `lsp` extra (pygls >= 2).
"""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.workspace import PositionCodec

from archspec.core import diagnostic as diag
from archspec.core.dims import format_shape
from archspec.core.source import Span
from archspec.core.version import __version__
from archspec.driver import CheckedModel, CheckResult, check_text
from archspec.elaborate.graph import Node
from archspec.elaborate.loader import LoadedFile, Loader, import_target, read_spec_file
from archspec.shapes.costs import count_at, report_sizes, sizes_text
from archspec.shapes.ties import resolve_ties
from archspec.tools import lsp_features as features
from archspec.tools.lsp_positions import (
    document_path,
    offset_at,
    range_of,
    same_file,
    uri_of,
)
from archspec.tools.lsp_symbols import describe_mode, symbol_at, symbol_hover

__all__ = [
    "Analysis",
    "analyze",
    "arrow_hover",
    "build_server",
    "definition_at",
    "diagnostics_for",
    "hover_text",
    "main",
    "offset_at",
]

SOURCE = "archspec"
UNNECESSARY = {"W003", "W005"}  # unused value, unused input: editors fade them


# archspec's spans as LSP ranges (archspec.tools.lsp_positions); short names for this module.
_range = range_of
_same_file = same_file
_uri = uri_of


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
            if node.kind != "op" or node.output != 0 or not _same_file(span, path):
                continue
            if span.start <= offset < span.end:  # an op's later outputs join its first's
                yield span.end - span.start, span.start, model, node
            elif node.module is not None:  # `conv: Conv2d(...)` declared, applied elsewhere
                declared = graph.module(node.module).span
                if _same_file(declared, path) and declared.start <= offset < declared.end:
                    yield declared.end - declared.start, declared.start, model, node
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


def tie_hover(result: CheckResult, path: str, offset: int) -> str | None:
    """A `tie` statement: both parameters, their shape and what sharing saves, in each model
    that runs it (a block's tie in each of its instances)."""
    lines = []
    for model in result.models:
        for tied in resolve_ties(model.graph, model.inference.module_args):
            span = tied.tie.span
            if span.source.path != path or not span.start <= offset <= span.end:
                continue
            if tied.problem is not None:
                lines.append(f"- `{tied.target}`: {tied.problem.message}")
                continue
            shape = _parameter_shape(model, tied.source)
            lines.append(f"- `{tied.target}` is `{tied.source}`, {shape}: {_count(tied.numel)} "
                         "counted once")  # fmt: skip
    return "**tie** — one tensor under two names\n" + "\n".join(lines) if lines else None


def _parameter_shape(model: CheckedModel, path: str) -> str:
    layer, _, name = path.rpartition(".")
    module = model.graph.module(layer)
    args = model.inference.module_args.get(layer, module.checked_args)
    return format_shape(module.op.weights(args)[name])


def hover_text(result: CheckResult, path: str, offset: int) -> str | None:
    """Markdown for the name at `offset` (a value, a `param`, a dict return's key), else for the
    innermost layer/function/block call there; None when nothing is there."""
    symbol = symbol_at(result, path, offset)
    if symbol is not None:
        text = symbol_hover(symbol)
        if text is not None:
            return text
    arrow = arrow_hover(result, path, offset)
    if arrow is not None:
        return arrow
    tied = tie_hover(result, path, offset)
    if tied is not None:
        return tied
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


# What may stand between an arrow and the stage it feeds: blanks, comments, a label (`fc:`).
_BEFORE_STAGE = re.compile(r"(?:\s|#[^\n]*)*(?:[A-Za-z_][\w{}.]*\s*:\s*)?")


def _arrow_end(text: str, offset: int) -> int | None:
    """The offset just after the `->` under `offset` (on either of its characters)."""
    for start in (offset, offset - 1):
        if start >= 0 and text.startswith("->", start):
            return start + 2
    return None


def _stages_after(result: CheckResult, path: str, end: int):
    """(model, where, the shape fed) of the stage an arrow ending at `end` feeds, per model and
    block instance: the outermost application starting right after the arrow."""
    best: dict[int, tuple] = {}
    for model in result.models:
        graph = model.graph
        items = [
            (n.span, n, n.operands[:1]) for n in graph.nodes() if n.kind == "op" and n.output == 0
        ]
        items += [(graph.module(c.module).span, c, (c.inputs or ())[:1]) for c in graph.calls]
        for span, item, fed in items:
            if not fed or span.start < end or not _same_file(span, path):
                continue
            key = (span.start, -(span.end - span.start))
            if id(model) not in best or key < best[id(model)][0]:
                best[id(model)] = (key, [])
            if key == best[id(model)][0]:
                where = getattr(item, "scope", "") or ""
                best[id(model)][1].append((model, where, _shape_text(model, fed[0])))
    return [entry for _, entries in best.values() for entry in entries], best


def arrow_hover(result: CheckResult, path: str, offset: int) -> str | None:
    """Markdown for the `->` at `offset`: the shape of the value it passes on, per instance."""
    loaded = result.loaded
    if loaded is None:
        return None
    text = loaded.source.text
    end = _arrow_end(text, offset)
    if end is None:
        return None
    entries, best = _stages_after(result, path, end)
    starts = {key[0] for key, _ in best.values()}
    if not entries or len(starts) != 1:
        return None
    gap = _BEFORE_STAGE.match(text, end)
    if gap is None or gap.end() != next(iter(starts)):
        return None  # the arrow feeds no application (`-> conv` of an error upstream)
    several_models = len({id(model) for model, _, _ in entries}) > 1
    shown: dict[str, list[str]] = {}
    for model, where, shape in entries:
        label = f"{model.name}.{where}".rstrip(".") if several_models else where
        shown.setdefault(shape, []).append(label)
    lines = ["**->** passes on"]
    for shape, places in shown.items():
        named = [place for place in places if place]
        where = ""
        if named:
            more = f" and {len(named) - 1} more" if len(named) > 1 else ""
            where = f" (`{named[0]}`{more})"
        lines.append(f"- `{shape}`{where}")
    return "\n".join(lines)


def definition_at(result: CheckResult, path: str, offset: int) -> Span | None:
    """Where the name at `offset` is bound or declared: a value's assignment (or input), a
    `param` or `buffer`'s declaration, a layer's declaration, a block's definition."""
    symbol = symbol_at(result, path, offset)
    return symbol.definition if symbol is not None else None


# --- one analysis per document version -----------------------------------------------------------


@dataclass
class Analysis:
    """One version of a document, checked: what every request handler reads."""

    uri: str
    path: str
    version: int | None  # None: a file the editor has not opened
    text: str
    result: CheckResult
    diagnostics: list[lsp.Diagnostic]  # result.diagnostics as LSP's, one each, in order
    imports: frozenset[str]  # the real paths of the files it imports, directly or not


def imported_files(result: CheckResult) -> frozenset[str]:
    """The files a check read besides its own: each import's target, and the files that
    define the blocks it can reach (imports of imports)."""
    loaded = result.loaded
    if loaded is None:
        return frozenset()
    files: set[str] = set()
    if loaded.module is not None:
        for statement in loaded.module.imports:
            target = import_target(loaded.source.path, str(statement.path.value))
            if target is not None:
                files.add(os.path.realpath(target))
    seen: set[int] = set()
    scopes = [loaded.definitions]
    while scopes:
        scope = scopes.pop()
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        for definition in scope.values():
            files.add(os.path.realpath(definition.source_path))
            if definition.namespace is not None:
                scopes.append(definition.namespace)
    files.discard(os.path.realpath(result.path))
    return frozenset(files)


def analyze(uri: str, text: str, version: int | None, codec: PositionCodec) -> Analysis:
    """Check one version of a document (run on the server's checking thread)."""
    path = document_path(uri)
    result = check_text(text, path)
    findings = diagnostics_for(result, path, codec)
    return Analysis(uri, path, version, text, result, findings, imported_files(result))


# --- the server -----------------------------------------------------------------------------------

DEBOUNCE_SECONDS = 0.1  # a pause in typing this long re-checks the document
WORKSPACE_FILES_LIMIT = 2000  # .arch files read when looking for references in the workspace
SKIPPED_FOLDERS = {".git", ".venv", "venv", "node_modules", "build", "__pycache__", ".tox"}


class ArchLanguageServer(LanguageServer):
    """Checks run one at a time on a thread of their own, so the server keeps reading messages
    while a slow spec is checked. An edit re-checks the document after DEBOUNCE_SECONDS without
    another edit; an edit cancels the pending check of the version before it (a queued one
    never runs, a running one's result is dropped). A request waits for the current version's
    analysis, never for an edit's debounce; it starts that check at once if none is under way."""

    def __init__(self, debounce: float = DEBOUNCE_SECONDS) -> None:
        super().__init__(
            "archspec-lsp", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full
        )
        self.debounce = debounce
        self.analyses: dict[str, Analysis] = {}  # uri -> the latest analysis finished
        self.running: dict[str, tuple[str, asyncio.Future]] = {}  # uri -> (text, its check)
        self.waiting: dict[str, asyncio.Task] = {}  # uri -> a debounced re-check
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archspec-check")

    def document_text(self, uri: str) -> str | None:
        """The document's text: the editor's copy once it is open; else the file, read only if
        it is a regular file (a request may name any URI: /dev/zero would never end, a named
        pipe never open). None when it cannot be read."""
        if unquote(uri) in self.workspace.text_documents:
            return self.workspace.get_text_document(uri).source
        try:
            data = read_spec_file(document_path(uri))
        except OSError:
            return None
        return data.decode("utf-8", "replace")

    def is_open(self, uri: str) -> bool:
        return unquote(uri) in self.workspace.text_documents

    def codec(self, uri: str) -> PositionCodec:
        if self.is_open(uri):
            return self.workspace.get_text_document(uri).position_codec
        return self.workspace.position_codec

    def document_version(self, uri: str) -> int | None:
        return self.workspace.get_text_document(uri).version if self.is_open(uri) else None

    # --- checks

    def _start(self, uri: str, text: str) -> tuple[str, asyncio.Future]:
        """Check this text of the document on the checking thread, superseding any other."""
        self.cancel_check(uri)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self.checker, analyze, uri, text, self.document_version(uri), self.codec(uri)
        )
        entry = (text, future)
        self.running[uri] = entry

        def finished(done: asyncio.Future) -> None:
            if self.running.get(uri) is entry:
                del self.running[uri]
            if not done.cancelled() and done.exception() is None:
                self.analyses[uri] = done.result()

        future.add_done_callback(finished)
        return entry

    def cancel_check(self, uri: str) -> None:
        running = self.running.pop(uri, None)
        if running is not None:
            running[1].cancel()  # queued: never runs; running: its result is dropped

    async def analysis(self, uri: str) -> Analysis | None:
        """The analysis of the document's current text (None if it cannot be read)."""
        while True:
            text = self.document_text(uri)
            if text is None:
                return None
            cached = self.analyses.get(uri)
            if cached is not None and cached.text == text:
                return cached
            running = self.running.get(uri)
            if running is None or running[0] != text:
                running = self._start(uri, text)
            future = running[1]
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                if future.cancelled():
                    continue  # superseded by an edit: check the newer text
                raise

    def schedule(self, uri: str, delay: float) -> None:
        """Re-check the document and publish its diagnostics after `delay` seconds (debounced:
        a later call replaces this one)."""
        waiting = self.waiting.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self.waiting[uri] = asyncio.ensure_future(self._publish_later(uri, delay))

    async def _publish_later(self, uri: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            analysis = await self.analysis(uri)
        except Exception as error:  # a bug of the checker: say so instead of going quiet
            self.window_log_message(
                lsp.LogMessageParams(lsp.MessageType.Error, f"archspec: check failed: {error!r}")
            )
            return
        if analysis is None or not self.is_open(uri):
            return
        if analysis.text != self.document_text(uri):
            return  # an edit came in meanwhile: its own check publishes
        version = self.document_version(uri)  # an edit back to a checked text: that analysis
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=analysis.diagnostics)
        )

    def changed_on_disk(self, path: str) -> None:
        """A file was saved or changed: re-check the open documents that import it."""
        changed = os.path.realpath(path)
        for uri, analysis in list(self.analyses.items()):
            if changed in analysis.imports and self.is_open(uri):
                self.forget(uri)
                self.schedule(uri, 0)

    def forget(self, uri: str) -> None:
        self.analyses.pop(uri, None)
        self.cancel_check(uri)

    # --- other files, for references

    def workspace_files(self, name: str) -> list[LoadedFile]:
        """The .arch files of the workspace that mention `name`, loaded (parsed, imports bound,
        not elaborated); open documents as the editor has them."""
        roots = [folder.uri for folder in self.workspace.folders.values()]
        if not roots and self.workspace.root_uri:
            roots = [self.workspace.root_uri]
        paths: dict[str, str] = {}
        for root in roots:
            for path in _arch_files(document_path(root)):
                paths.setdefault(os.path.realpath(path), path)
        for uri in self.workspace.text_documents:
            path = document_path(uri)
            paths[os.path.realpath(path)] = path
        found = []
        for path in paths.values():
            text = self.document_text(uri_of(path))
            if text is None or name not in text:
                continue
            loaded = Loader(diag.Reporter()).load_text(path, text)
            if loaded is not None:
                found.append(loaded)
        return found


def _arch_files(root: str) -> list[str]:
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(s for s in subfolders if s not in SKIPPED_FOLDERS)
        found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".arch")]
        if len(found) >= WORKSPACE_FILES_LIMIT:
            return found[:WORKSPACE_FILES_LIMIT]
    return found


def _debounce_option(params: lsp.InitializeParams) -> float | None:
    """`initializationOptions: {"debounceMs": 150}`, as the VS Code extension sends it."""
    options = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("debounceMs"), (int, float)):
        return max(0.0, float(options["debounceMs"]) / 1000)
    return None


def build_server(debounce: float = DEBOUNCE_SECONDS) -> ArchLanguageServer:
    server = ArchLanguageServer(debounce)
    _register_document_sync(server)
    _register_navigation(server)
    _register_editing(server)
    return server


def _register_document_sync(server: ArchLanguageServer) -> None:
    @server.feature(lsp.INITIALIZE)
    def initialize(ls: ArchLanguageServer, params: lsp.InitializeParams) -> None:
        debounce = _debounce_option(params)
        if debounce is not None:
            ls.debounce = debounce

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ArchLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)  # imported files may have changed since
        ls.schedule(params.text_document.uri, 0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ArchLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.cancel_check(params.text_document.uri)
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ArchLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget(uri)
        ls.schedule(uri, 0)
        ls.changed_on_disk(document_path(uri))

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ArchLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        waiting = ls.waiting.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        ls.forget(uri)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: ArchLanguageServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            if not ls.is_open(change.uri):
                ls.changed_on_disk(document_path(change.uri))


def _register_navigation(server: ArchLanguageServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    async def hover(ls: ArchLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        analysis = await ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        offset = offset_at(analysis.text, params.position, ls.codec(analysis.uri))
        text = hover_text(analysis.result, analysis.path, offset)
        if text is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    async def definition(ls: ArchLanguageServer, params: lsp.DefinitionParams):
        analysis = await ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        codec = ls.codec(analysis.uri)
        offset = offset_at(analysis.text, params.position, codec)
        span = definition_at(analysis.result, analysis.path, offset)
        if span is None:
            return None
        return lsp.Location(uri=_uri(span.source.path), range=_range(span, codec))

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    async def references(ls: ArchLanguageServer, params: lsp.ReferenceParams):
        analysis = await ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        codec = ls.codec(analysis.uri)
        offset = offset_at(analysis.text, params.position, codec)
        loop = asyncio.get_running_loop()
        spans = await loop.run_in_executor(  # parses other files: on the checking thread
            ls.checker,
            lambda: features.references(
                analysis.result,
                analysis.path,
                offset,
                ls.workspace_files,
                params.context.include_declaration,
            ),
        )
        return [lsp.Location(uri=_uri(s.source.path), range=_range(s, codec)) for s in spans]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def symbols(ls: ArchLanguageServer, params: lsp.DocumentSymbolParams):
        analysis = await ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        return features.document_symbols(analysis.result, analysis.path, ls.codec(analysis.uri))

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
    async def inlay_hints(ls: ArchLanguageServer, params: lsp.InlayHintParams):
        analysis = await ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        lines = range(params.range.start.line, params.range.end.line + 1)
        return features.inlay_hints(analysis.result, analysis.path, ls.codec(analysis.uri), lines)


def _register_editing(server: ArchLanguageServer) -> None:
    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=["(", ","]),
    )
    async def completion(ls: ArchLanguageServer, params: lsp.CompletionParams):
        uri = params.text_document.uri
        text = ls.document_text(uri)
        if text is None:
            return None
        # The latest analysis names what is in scope, even a keystroke behind (or not parsing).
        analysis = ls.analyses.get(uri) or await ls.analysis(uri)
        result = analysis.result if analysis is not None else None
        offset = offset_at(text, params.position, ls.codec(uri))
        items = features.completions(text, offset, result, document_path(uri))
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    async def formatting(ls: ArchLanguageServer, params: lsp.DocumentFormattingParams):
        uri = params.text_document.uri
        text = ls.document_text(uri)
        if text is None:
            return None
        loop = asyncio.get_running_loop()
        path, codec = document_path(uri), ls.codec(uri)
        return await loop.run_in_executor(ls.checker, features.format_edits, text, path, codec)

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(
            code_action_kinds=[lsp.CodeActionKind.QuickFix, features.FIX_ALL_KIND]
        ),
    )
    async def code_action(ls: ArchLanguageServer, params: lsp.CodeActionParams):
        analysis = await ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        return features.code_actions(
            analysis.result,
            analysis.diagnostics,
            analysis.text,
            analysis.path,
            ls.codec(analysis.uri),
            params.range,
            params.context.only,
        )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="archspec-lsp", description="archspec's language server (LSP over stdin/stdout)"
    )
    parser.add_argument("--version", action="version", version=f"archspec-lsp {__version__}")
    parser.add_argument(
        "--debounce-ms",
        type=float,
        default=DEBOUNCE_SECONDS * 1000,
        help="milliseconds of quiet after an edit before the spec is re-checked (default "
        f"{DEBOUNCE_SECONDS * 1000:.0f}; the client's initializationOptions.debounceMs wins)",
    )
    args = parser.parse_args(argv)
    server = build_server(max(0.0, args.debounce_ms / 1000))
    server.start_io()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
