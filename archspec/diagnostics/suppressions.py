"""Suppression comments: `# archspec: ignore[E202]` on a line, `# archspec: ignore-file[W002]`,
and, for people used to flake8 and ruff, `# noqa: E202` (a bare `# noqa`: every code on the line).

Comments are not in the parse tree (the grammar ignores them), so they are found in the source text
with a scanner that knows string literals: a `#` inside `"..."` starts no comment. A suppression
that suppresses nothing is itself reported (W007). Syntax and input errors (E0xx) cannot be
suppressed: a file that could not be read was not checked.
"""

from __future__ import annotations

import re

from archspec.core import diagnostic as diag
from archspec.core.records import field, record
from archspec.core.source import SourceFile, Span

# The grammar's STRING and COMMENT terminals: whichever starts first wins, as in the lexer.
_TOKENS = re.compile(
    r"""(?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*')"""
    r"|(?P<comment>#[^\n]*)"
)
_DIRECTIVE = re.compile(
    r"#\s*archspec:\s*(?P<kind>ignore-file|ignore)(?![\w-])(?:\[(?P<codes>[^\]]*)\])?"
)
# flake8's and ruff's spelling, bare or with codes (`noqa: E202, W003`, read as ruff reads them).
_NOQA = re.compile(
    r"#\s*noqa(?![\w-])(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:(?:\s*,\s*|\s+)[A-Za-z]+[0-9]+)*))?",
    re.IGNORECASE,
)
UNSUPPRESSIBLE_PREFIX = "E0"
UNUSED_SUPPRESSION = "W007"


@record
class Suppression:
    span: Span  # the directive, `# archspec: ignore[...]`
    whole_file: bool
    codes: tuple[str, ...] | None  # None: every code
    used: set[str] = field(default_factory=set)  # codes (or "*" for a bare one) that matched
    comment: Span | None = None  # the whole comment, `#` to the end of the line
    alone: bool = False  # the only directive of its comment, at the comment's start
    noqa: bool = False  # written in flake8's spelling

    @property
    def line(self) -> int:
        return self.span.line

    def covers(self, code: str) -> bool:
        return self.codes is None or code in self.codes

    def mark_used(self, code: str) -> None:
        self.used.add("*" if self.codes is None else code)


def comments(source: SourceFile):
    """(offset, text) of every comment in the text, in order (a `#` in a string starts none)."""
    for token in _TOKENS.finditer(source.text):
        if token.group("comment") is not None:
            yield token.start(), token.group().removesuffix("\r")


def find_suppressions(source: SourceFile) -> list[Suppression]:
    """Every suppression comment in the text, in order."""
    found = []
    for comment_start, text in comments(source):
        directives = list(_DIRECTIVE.finditer(text)) + list(_NOQA.finditer(text))
        comment = source.span(comment_start, comment_start + len(text))
        for directive in sorted(directives, key=lambda match: match.start()):
            listed = directive.group("codes")
            codes = None
            if listed is not None:
                codes = tuple(code.upper() for code in re.split(r"[\s,]+", listed.strip()) if code)
            span = source.span(comment_start + directive.start(), comment_start + directive.end())
            alone = len(directives) == 1 and directive.start() == 0
            noqa = directive.re is _NOQA
            whole_file = not noqa and directive.group("kind") == "ignore-file"
            found.append(Suppression(span, whole_file, codes, set(), comment, alone, noqa))
    return found


def apply_suppressions(
    diagnostics: list[diag.Diagnostic],
    checked: SourceFile | None = None,
    block_lines: set[int] = frozenset(),
) -> tuple[list[diag.Diagnostic], list[diag.Diagnostic]]:
    """(kept, suppressed): the findings left to report, with W007 added for `checked`'s
    suppressions that matched nothing, and those a comment hid. A suppression hides a report, not
    a problem: callers keep the suppressed errors, whose graphs are still broken.

    Findings are suppressed by comments in the file where they start (an imported file's own
    comments for findings in its blocks). `block_lines` are the lines of `checked` inside block
    definitions: whether a block's findings appear depends on the arguments of the model that
    instantiates it, so suppressions there are never called unused.
    """
    by_source: dict[int, list[Suppression]] = {}

    def suppressions_of(source: SourceFile) -> list[Suppression]:
        if id(source) not in by_source:
            by_source[id(source)] = find_suppressions(source)
        return by_source[id(source)]

    kept = []
    suppressed = []
    for diagnostic in diagnostics:
        if diagnostic.code.startswith(UNSUPPRESSIBLE_PREFIX):
            kept.append(diagnostic)
            continue
        span = diagnostic.primary.span
        matching = [
            s
            for s in suppressions_of(span.source)
            if s.covers(diagnostic.code) and (s.whole_file or s.line == span.line)
        ]
        for suppression in matching:
            suppression.mark_used(diagnostic.code)
        (suppressed if matching else kept).append(diagnostic)
    if checked is not None and not any(
        d.code.startswith(UNSUPPRESSIBLE_PREFIX) and d.primary.span.source is checked
        for d in diagnostics
    ):
        kept.extend(_unused(suppressions_of(checked), block_lines))
    return kept, suppressed


def _unused(suppressions: list[Suppression], block_lines: set[int]) -> list[diag.Diagnostic]:
    has_blocks = bool(block_lines)
    if any(s.whole_file and s.covers(UNUSED_SUPPRESSION) for s in suppressions):
        return []
    findings = []
    for suppression in suppressions:
        if suppression.whole_file and has_blocks:
            continue
        if not suppression.whole_file and suppression.line in block_lines:
            continue
        if suppression.codes is not None and UNUSED_SUPPRESSION in suppression.codes:
            continue
        finding = _unused_finding(suppression)
        if finding is not None:
            findings.append(finding)
    return findings


def _unused_finding(suppression: Suppression) -> diag.Diagnostic | None:
    directive = suppression.span.text
    if suppression.codes is None:
        if suppression.used:
            return None
        return diag.make(
            UNUSED_SUPPRESSION,
            f"`{directive}` suppresses nothing",
            suppression.span,
            "unused",
            help="remove the comment"
            + (
                "" if suppression.whole_file else " (it applies to findings that start on its line)"
            ),
            fix=_removal(suppression),
        )
    if not suppression.codes:
        return diag.make(
            UNUSED_SUPPRESSION,
            f"`{directive}` names no code",
            suppression.span,
            "empty",
            help="list codes, or write `# archspec: ignore` for every code on the line",
            fix=_removal(suppression),
        )
    unknown = [code for code in suppression.codes if code not in diag.CODES]
    if unknown:
        return diag.make(
            UNUSED_SUPPRESSION,
            f"`{directive}` names {_codes(unknown)}, which archspec does not have",
            suppression.span,
            "unknown code",
            help="`archspec rule --all` lists the codes",
        )
    unused = [code for code in suppression.codes if code not in suppression.used]
    if not unused:
        return None
    unsuppressible = [code for code in unused if code.startswith(UNSUPPRESSIBLE_PREFIX)]
    where = "in this file" if suppression.whole_file else "on this line"
    some = len(unused) < len(suppression.codes)
    return diag.make(
        UNUSED_SUPPRESSION,
        f"`{directive}` suppresses nothing: no {_codes(unused)} {where}",
        suppression.span,
        "unused",
        notes=[f"{_codes(unsuppressible)}: syntax and input errors cannot be suppressed"]
        if unsuppressible
        else [],
        help=f"remove {_codes(unused)} from the comment" if some else "remove the comment",
        fix=_narrowing(suppression, unused) if some else _removal(suppression),
    )


def _removal(suppression: Suppression) -> diag.Fix | None:
    """Delete the comment; a line that holds nothing else goes entirely (with its newline)."""
    comment = suppression.comment
    if comment is None or not suppression.alone:
        return None  # another directive shares the comment: leave it to the reader
    source, text = comment.source, comment.source.text
    line_start = text.rfind("\n", 0, comment.start) + 1
    end = comment.end
    if not text[line_start : comment.start].strip():
        if text.startswith("\r\n", end):
            end += 2
        elif text.startswith("\n", end):
            end += 1
        elif line_start > 0:  # the last line, without a newline: take the one before instead
            line_start -= 2 if text[line_start - 2 : line_start] == "\r\n" else 1
        start = line_start
    else:
        start = comment.start
        while start > line_start and text[start - 1] in " \t":
            start -= 1
    edit = diag.Edit(source.span(start, end), "")
    return diag.Fix("remove the unused suppression comment", (edit,), diag.Applicability.SAFE)


def _narrowing(suppression: Suppression, unused: list[str]) -> diag.Fix:
    """Rewrite the directive's code list without the unused codes (the reason text stays)."""
    span = suppression.span
    kept = [code for code in suppression.codes if code not in unused]
    if suppression.noqa:
        replacement = span.text[: span.text.index(":") + 1] + " " + ", ".join(kept)
    else:
        opening = span.text.index("[")
        replacement = span.text[: opening + 1] + ", ".join(kept) + "]"
    edit = diag.Edit(span, replacement)
    return diag.Fix(
        f"remove {_codes(unused)} from the suppression", (edit,), diag.Applicability.SAFE
    )


def _codes(codes: list[str]) -> str:
    return ", ".join(codes)
