"""Rendering diagnostics: every output format of `archspec check`, as plain functions of data.

`full` is the rustc-style text (optionally coloured), `concise` one line per finding, `json` this
project's own schema, `github` workflow commands that become annotations, `sarif` SARIF 2.1.0 for
code-scanning tools and `gitlab` GitLab's Code Quality report. Nothing here prints; `render`
returns the whole output as one string and the CLI decides where it goes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from archspec.core.diagnostic import CODES, Diagnostic, Label, Severity
from archspec.core.source import Span
from archspec.core.version import __version__

OUTPUT_FORMATS = ("full", "concise", "json", "github", "sarif", "gitlab")
FORMAT_ALIASES = {"text": "full"}  # the name `--format text` had before there were more formats

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/archspec-nn/"  # the distribution's page (README)


def canonical_format(name: str) -> str | None:
    """`full` for `text`, the name itself for a known format, None for anything else."""
    name = FORMAT_ALIASES.get(name, name)
    return name if name in OUTPUT_FORMATS else None


def render(
    diagnostics: list[Diagnostic],
    files: int,
    output_format: str,
    *,
    color: bool = False,
    root: str | None = None,
    summary: bool = True,
) -> str:
    """The whole output of one `archspec check` run in `output_format` (ends with a newline).

    `diagnostics` come sorted by place; paths in github/sarif/gitlab output are made relative to
    `root` (default: the current directory; the CLI passes repository_root), as CI systems expect
    repository-relative paths. `summary` False (`--quiet`) leaves out the full and concise
    formats' last line.
    """
    output_format = canonical_format(output_format) or output_format
    root = os.getcwd() if root is None else root
    last = render_summary(diagnostics, files) + _fixable(diagnostics) + "\n" if summary else ""
    if output_format == "full":
        parts = [render_text(d, color=color) + "\n\n" for d in diagnostics]
        if not summary and parts:
            parts[-1] = parts[-1].removesuffix("\n")
        return "".join(parts) + last
    if output_format == "concise":
        lines = [render_concise(d) for d in diagnostics]
        return "".join(line + "\n" for line in lines) + last
    if output_format == "json":
        return render_json(diagnostics, files) + "\n"
    if output_format == "github":
        return "".join(line + "\n" for line in render_github(diagnostics, root))
    if output_format == "sarif":
        return _json(to_sarif(diagnostics, root)) + "\n"
    if output_format == "gitlab":
        return _json(to_gitlab(diagnostics, root)) + "\n"
    raise ValueError(f"unknown output format {output_format!r}")


# ---------------------------------------------------------------- full (rustc style)


@dataclass(frozen=True)
class _Palette:
    """ANSI styles as rustc uses them; the empty palette renders plain text."""

    error: str = ""
    warning: str = ""
    gutter: str = ""
    secondary: str = ""
    emphasis: str = ""
    reset: str = ""

    def paint(self, text: str, style: str) -> str:
        return f"{style}{text}{self.reset}" if style and text else text


PLAIN = _Palette()
COLORS = _Palette(
    error="\x1b[1;31m",  # bold red
    warning="\x1b[1;33m",  # bold yellow
    gutter="\x1b[1;34m",  # bold blue
    secondary="\x1b[1;34m",
    emphasis="\x1b[1m",
    reset="\x1b[0m",
)


# What a terminal would act on or hide instead of showing: C0 controls but tab, DEL, C1 controls,
# line and paragraph separators, bidirectional controls ("Trojan Source") and lone surrogates.
_UNSHOWABLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def shown(text: str) -> str:
    """Text from a spec (a source line, a name or string quoted in a message, a path) as a
    terminal can show it safely: each character of _UNSHOWABLE escaped (`\\x1b`, `\\u202e`)."""
    return _UNSHOWABLE.sub(_escaped, text)


def _escaped(found: re.Match) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def render_text(diagnostic: Diagnostic, *, color: bool = False) -> str:
    """rustc-style: header, location, source lines with ^^^ / --- labels, notes, help. Text
    from the spec is passed through `shown`: no control character reaches the terminal raw."""
    palette = COLORS if color else PLAIN
    severity_style = palette.error if diagnostic.severity is Severity.ERROR else palette.warning
    primary = diagnostic.primary
    source = primary.span.source
    header = palette.paint(f"{diagnostic.severity.value}[{diagnostic.code}]", severity_style)
    header += _fix_mark(diagnostic)
    lines = [header + palette.paint(f": {shown(diagnostic.message)}", palette.emphasis)]
    same_file = [label for label in diagnostic.labels if label.span.source is source]
    other_files = [label for label in diagnostic.labels if label.span.source is not source]
    line_numbers = sorted({label.span.line for label in same_file})
    width = len(str(line_numbers[-1]))
    pad = " " * width

    def gutter(mark: str, number: str = "") -> str:
        return palette.paint(f"{number or pad} {mark}", palette.gutter)

    def underline(label: Label, text: str) -> str:
        style = severity_style if label.primary else palette.secondary
        indent, marks = _underline(label, text)
        return indent + palette.paint(marks, style)

    location = f"{shown(source.path)}:{primary.span.line}:{primary.span.column}"
    lines.append(palette.paint(f"{pad}-->", palette.gutter) + f" {location}")
    lines.append(gutter("|"))
    previous = None
    for number in line_numbers:
        if previous is not None and number > previous + 1:
            lines.append(gutter("..."))
        previous = number
        text = source.line_text(number).replace("\t", " ")
        lines.append(gutter("|", f"{number:>{width}}") + f" {shown(text)}")
        on_line = [label for label in same_file if label.span.line == number]
        on_line.sort(key=lambda label: (label.span.column, not label.primary))
        for label in on_line:
            lines.append(gutter("|") + " " + underline(label, text))
    for label in other_files:
        span = label.span
        lines.append(gutter(":::") + f" {shown(span.source.path)}:{span.line}:{span.column}")
        text = span.source.line_text(span.line).replace("\t", " ")
        lines.append(gutter("|") + f" {shown(text)}")
        lines.append(gutter("|") + " " + underline(label, text))
    lines.append(gutter("|"))
    for note in diagnostic.notes:
        note_word = palette.paint("note", palette.emphasis)
        lines.append(gutter("=") + " " + note_word + f": {shown(note)}")
    if diagnostic.help:
        help_word = palette.paint("help", palette.emphasis)
        lines.append(gutter("=") + " " + help_word + f": {shown(diagnostic.help)}")
    if diagnostic.fix is not None:
        fix_word = palette.paint("fix" if diagnostic.fix.safe else "unsafe fix", palette.emphasis)
        option = "--fix" if diagnostic.fix.safe else "--fix --unsafe-fixes"
        lines.append(gutter("=") + " " + fix_word + f": {diagnostic.fix.description} ({option})")
    return "\n".join(lines)


def _underline(label: Label, line_text: str) -> tuple[str, str]:
    """(indent, marks and label text) for one label under its line, as `shown` displays it
    (an escaped character is several columns wide)."""
    span = label.span
    start_col = span.column
    end_line, end_col = span.end_line_col
    if end_line != span.line:
        end_col = len(line_text) + 1
    before, under = line_text[: start_col - 1], line_text[start_col - 1 : end_col - 1]
    length = max(1, end_col - start_col + len(shown(under)) - len(under))
    mark = ("^" if label.primary else "-") * length
    suffix = f" {shown(label.message)}" if label.message else ""
    return " " * len(shown(before)), mark + suffix


def render_summary(diagnostics: list[Diagnostic], files: int) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    noun = "file" if files == 1 else "files"
    if not diagnostics:
        return f"checked {files} {noun}: no problems"
    return f"checked {files} {noun}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


FIXABLE_MARK = " [*]"  # after the code: `archspec check --fix` can resolve this finding
UNSAFE_FIX_MARK = " [~]"  # a fix that changes the model: only with --fix --unsafe-fixes


def _fix_mark(diagnostic: Diagnostic) -> str:
    if diagnostic.fix is None:
        return ""
    return FIXABLE_MARK if diagnostic.fix.safe else UNSAFE_FIX_MARK


def _fixable(diagnostics: list[Diagnostic]) -> str:
    safe = sum(d.fix is not None and d.fix.safe for d in diagnostics)
    unsafe = sum(d.fix is not None and not d.fix.safe for d in diagnostics)
    counts = [f"[*] {safe} fixable with --fix"] if safe else []
    if unsafe:
        counts.append(f"[~] {unsafe} {'more' if safe else 'fixable'} with --fix --unsafe-fixes")
    return f" ({', '.join(counts)})" if counts else ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def render_statistics(diagnostics: list[Diagnostic], output_format: str = "full") -> str:
    """`--statistics`: how often each rule was reported, most frequent first (as ruff prints
    it: count, code, `[*]` where --fix can resolve all of them, name); JSON for json."""
    counts: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        counts.setdefault(diagnostic.code, []).append(diagnostic)
    rows = sorted(counts.items(), key=lambda item: (-len(item[1]), item[0]))
    if canonical_format(output_format) == "json":
        entries = [
            {
                "code": code,
                "name": CODES[code].name,
                "count": len(found),
                "fixable": all(d.fix is not None and d.fix.safe for d in found),
            }
            for code, found in rows
        ]
        return _json(entries) + "\n"
    width = max((len(str(len(found))) for _, found in rows), default=1)
    lines = []
    for code, found in rows:
        fixable = "[*]" if all(d.fix is not None and d.fix.safe for d in found) else "[ ]"
        lines.append(f"{len(found):>{width}}\t{code}\t{fixable} {CODES[code].name}")
    return "".join(line + "\n" for line in lines)


def render_fixed(fixed: dict[str, dict[str, int]]) -> str:
    """`--show-fixes`: the findings `--fix` resolved, per file and rule (as ruff lists them)."""
    total = sum(count for codes in fixed.values() for count in codes.values())
    lines = [f"Fixed {_plural(total, 'finding')}:"]
    for path, codes in fixed.items():
        lines.append(f"- {path}:")
        for code, count in sorted(codes.items()):
            lines.append(f"    {count} × {code} ({CODES[code].name})")
    return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------- notebooks


INCOMPLETE_NOTE = (
    "no shapes, parameter counts or graph are shown: with these errors the model is incomplete, "
    "and its numbers would be partial"
)


def notebook_bundle(name: str, diagnostics: list[Diagnostic]) -> dict[str, str]:
    """What Jupyter shows for a spec (or one of its models) with errors: the findings, as text,
    HTML and Markdown, and why there are no numbers (a partial parameter count reads as whole)."""
    import html

    texts = [render_text(d) for d in diagnostics]
    headline = f"{name}: {_counts(diagnostics)}"
    plain = "\n\n".join([*texts, f"{headline}; {INCOMPLETE_NOTE}"]) + "\n"
    blocks = "".join(f"<pre>{html.escape(text)}</pre>" for text in texts)
    rich = (
        f"<div><p><b>{html.escape(headline)}</b></p>{blocks}"
        f"<p><i>{html.escape(INCOMPLETE_NOTE)}</i></p></div>"
    )
    fenced = "".join(f"```text\n{text}\n```\n\n" for text in texts)
    markdown = f"**{headline}**\n\n{fenced}*{INCOMPLETE_NOTE}*\n"
    return {"text/plain": plain, "text/html": rich, "text/markdown": markdown}


def _counts(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    return f"{_plural(errors, 'error')}, {_plural(len(diagnostics) - errors, 'warning')}"


# ---------------------------------------------------------------- concise


def render_concise(diagnostic: Diagnostic) -> str:
    """`path:line:col: CODE message`, the line editors' problem matchers read."""
    span = diagnostic.primary.span
    mark = _fix_mark(diagnostic)
    return shown(
        f"{span.source.path}:{span.line}:{span.column}: {diagnostic.code}{mark} "
        f"{diagnostic.message}"
    )


# ---------------------------------------------------------------- json (this project's schema)


def _span_obj(span: Span) -> dict:
    end_line, end_col = span.end_line_col
    return {
        "file": span.source.path,
        "line": span.line,
        "column": span.column,
        "end_line": end_line,
        "end_column": end_col,
    }


def to_json_obj(diagnostic: Diagnostic) -> dict:
    return {
        "code": diagnostic.code,
        "rule": CODES[diagnostic.code].name,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "location": _span_obj(diagnostic.primary.span),
        "labels": [
            {**_span_obj(label.span), "message": label.message, "primary": label.primary}
            for label in diagnostic.labels
        ],
        "notes": list(diagnostic.notes),
        "help": diagnostic.help,
        "fix": _fix_obj(diagnostic),
    }


def _fix_obj(diagnostic: Diagnostic) -> dict | None:
    """The fix as data: each edit's span (columns as in `location`) and its new text."""
    if diagnostic.fix is None:
        return None
    return {
        "description": diagnostic.fix.description,
        "applicability": diagnostic.fix.applicability.value,
        "edits": [
            {**_span_obj(edit.span), "replacement": edit.replacement}
            for edit in diagnostic.fix.edits
        ],
    }


def render_json(diagnostics: list[Diagnostic], files: int) -> str:
    payload = {
        "files": files,
        "errors": sum(d.severity is Severity.ERROR for d in diagnostics),
        "warnings": sum(d.severity is Severity.WARNING for d in diagnostics),
        "diagnostics": [to_json_obj(d) for d in diagnostics],
    }
    return _json(payload)


# ---------------------------------------------------------------- paths for CI systems


def repository_root(start: str) -> str:
    """The folder CI paths are relative to: the nearest folder holding `start` with a .git (the
    repository, which code scanning places marks in), else one with pyproject.toml or
    archspec.toml (the project), else `start`."""
    from archspec.elaborate.loader import PROJECT_MARKERS

    start = os.path.abspath(start)
    for markers in ((".git",), PROJECT_MARKERS):
        folder = start
        while True:
            if any(os.path.exists(os.path.join(folder, marker)) for marker in markers):
                return folder
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return start


def relative_uri(path: str, root: str) -> str | None:
    """`path` relative to `root` with forward slashes, or None when it lies outside `root`."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return relative.replace(os.sep, "/")


def _ci_path(path: str, root: str) -> str:
    relative = relative_uri(path, root)
    return relative if relative is not None else os.path.abspath(path).replace(os.sep, "/")


def _details(diagnostic: Diagnostic) -> str:
    """The message with its notes and help, one per line (for annotations that show all)."""
    lines = [diagnostic.message]
    lines.extend(f"note: {note}" for note in diagnostic.notes)
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    return "\n".join(lines)


# ---------------------------------------------------------------- github


def escape_github_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped (GitHub's own toolkit rules)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_github_property(text: str) -> str:
    """A workflow command's property value: as a message, and `:` and `,` too."""
    return escape_github_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: list[Diagnostic], root: str) -> list[str]:
    """`::error file=...,line=...::message` lines, errors first: GitHub shows 10 per step."""
    ordered = sorted(diagnostics, key=lambda d: d.severity is not Severity.ERROR)  # stable
    lines = []
    for diagnostic in ordered:
        span = diagnostic.primary.span
        end_line, end_column = span.end_line_col
        properties = {
            "file": _ci_path(span.source.path, root),
            "line": span.line,
            "col": span.column,
            "endLine": end_line,
            "endColumn": end_column,
            "title": diagnostic.code,
        }
        joined = ",".join(
            f"{key}={escape_github_property(str(v))}" for key, v in properties.items()
        )
        command = "error" if diagnostic.severity is Severity.ERROR else "warning"
        lines.append(f"::{command} {joined}::{escape_github_data(_details(diagnostic))}")
    return lines


# ---------------------------------------------------------------- sarif


def to_sarif(diagnostics: list[Diagnostic], root: str) -> dict:
    """A SARIF 2.1.0 log with one run: every rule described, every finding a result."""
    from archspec.diagnostics.rules import RULE_DOCS, rule_markdown, rule_text

    codes = sorted(CODES)
    rule_index = {code: index for index, code in enumerate(codes)}
    rules = []
    for code in codes:
        rule = CODES[code]
        rules.append(
            {
                "id": code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": RULE_DOCS[code].description},
                "help": {"text": rule_text(code), "markdown": rule_markdown(code)},
                "defaultConfiguration": {"level": _sarif_level(rule.severity)},
                "properties": {"tags": [_category(code)]},
            }
        )
    results = []
    for diagnostic in diagnostics:
        primary = diagnostic.primary
        related = [label for label in diagnostic.labels if label is not primary]
        result = {
            "ruleId": diagnostic.code,
            "ruleIndex": rule_index[diagnostic.code],
            "level": _sarif_level(diagnostic.severity),
            "message": {"text": _details(diagnostic)},
            "locations": [_sarif_location(primary.span, root, primary.message)],
            "partialFingerprints": {"archspecFinding/v1": _fingerprint_by_line_text(diagnostic)},
        }
        if diagnostic.fix is not None:
            result["fixes"] = [_sarif_fix(diagnostic, root)]
        if related:
            result["relatedLocations"] = [
                {"id": number, **_sarif_location(label.span, root, label.message)}
                for number, label in enumerate(related, start=1)
            ]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "archspec",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                # Relative URIs resolve against %SRCROOT%: the repository's root, so GitHub
                # code scanning places each mark on its file.
                "originalUriBaseIds": {"%SRCROOT%": {"uri": _folder_uri(root)}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _sarif_fix(diagnostic: Diagnostic, root: str) -> dict:
    changes: dict[str, dict] = {}
    for edit in diagnostic.fix.edits:
        location = _sarif_location(edit.span, root, "")["physicalLocation"]
        path = edit.span.source.path
        change = changes.setdefault(
            path, {"artifactLocation": location["artifactLocation"], "replacements": []}
        )
        change["replacements"].append(
            {"deletedRegion": location["region"], "insertedContent": {"text": edit.replacement}}
        )
    unsafe = "" if diagnostic.fix.safe else " (unsafe: changes the model)"
    return {
        "description": {"text": diagnostic.fix.description + unsafe},
        "artifactChanges": list(changes.values()),
        "properties": {"applicability": diagnostic.fix.applicability.value},
    }


def _sarif_level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def _category(code: str) -> str:
    if code.startswith("W"):
        return "warning"
    return {"0": "syntax-and-input", "1": "names-and-arguments", "2": "shapes", "3": "budgets"}[
        code[1]
    ]


def _sarif_location(span: Span, root: str, message: str) -> dict:
    end_line, end_column = span.end_line_col
    relative = relative_uri(span.source.path, root)
    if relative is not None:
        artifact = {"uri": relative, "uriBaseId": "%SRCROOT%"}
    else:
        artifact = {"uri": _file_uri(span.source.path)}
    location: dict = {
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {
                "startLine": span.line,
                "startColumn": span.column,
                "endLine": end_line,
                "endColumn": end_column,
            },
        }
    }
    if message:
        location["message"] = {"text": message}
    return location


def _folder_uri(folder: str) -> str:
    """A folder's file URI, ending in `/` as SARIF requires of a base URI."""
    return _file_uri(folder).rstrip("/") + "/"


def _file_uri(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()


def _fingerprint_by_line_text(diagnostic: Diagnostic) -> str:
    """Code, file, message and the primary line's text: stable when lines above move."""
    span = diagnostic.primary.span
    line_text = span.source.line_text(span.line).strip()
    key = "\0".join([diagnostic.code, span.source.path.replace(os.sep, "/"), diagnostic.message])
    import hashlib  # only SARIF and GitLab need it: kept off the default path

    return hashlib.sha256(f"{key}\0{line_text}".encode()).hexdigest()[:32]


# ---------------------------------------------------------------- gitlab code quality


def to_gitlab(diagnostics: list[Diagnostic], root: str) -> list[dict]:
    """GitLab Code Quality issues: errors `major`, warnings `minor`."""
    issues = []
    for diagnostic in diagnostics:
        span = diagnostic.primary.span
        path = _ci_path(span.source.path, root)
        key = "\0".join([diagnostic.code, path, diagnostic.message, str(span.line)])
        issues.append(
            {
                "description": diagnostic.message,
                "check_name": diagnostic.code,
                "fingerprint": _sha256(key),
                "severity": "major" if diagnostic.severity is Severity.ERROR else "minor",
                "location": {"path": path, "lines": {"begin": span.line}},
            }
        )
    return issues


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _json(payload) -> str:
    import json  # only for the machine-readable formats: text output skips its import

    return json.dumps(payload, indent=2, ensure_ascii=False)
