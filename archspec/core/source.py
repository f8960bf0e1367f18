"""Source files and spans: byte-free character offsets mapped to 1-based lines and columns."""

from __future__ import annotations

import bisect
import re

from archspec.core.records import field, record

_NEWLINE = re.compile("\n")


@record(eq=False)
class SourceFile:
    """One spec's text and where it came from; `path` is how diagnostics name it."""

    path: str
    text: str
    _line_starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(match.end() for match in _NEWLINE.finditer(self.text))
        self._line_starts = starts

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        text = self.text[start:] if end < 0 else self.text[start:end]
        return text.removesuffix("\r")  # CRLF files show no stray carriage return

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def span(self, start: int, end: int) -> Span:
        return Span(self, start, max(start, end))


class Span:
    """A half-open character range [start, end) in a source file. Immutable by convention, and
    compared by identity. A plain slotted class, not a frozen dataclass: every AST node has one
    (17 per line of a long chain), and a frozen dataclass costs twice the time to build and three
    times the memory (see benchmarks/run.py's scaling rows)."""

    __slots__ = ("source", "start", "end")

    def __init__(self, source: SourceFile, start: int, end: int):
        self.source = source
        self.start = start
        self.end = end

    @property
    def line(self) -> int:
        return self.source.line_col(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.line_col(self.start)[1]

    @property
    def end_line_col(self) -> tuple[int, int]:
        return self.source.line_col(self.end)

    @property
    def text(self) -> str:
        return self.source.text[self.start : self.end]

    def to(self, other: Span) -> Span:
        """The span covering self through other (same file)."""
        return Span(self.source, min(self.start, other.start), max(self.end, other.end))

    def sort_key(self) -> tuple[str, int, int]:
        return (self.source.path, self.start, self.end)

    def __repr__(self) -> str:
        return f"Span({self.source.path}:{self.line}:{self.column})"


def unified_diff(path: str, before: str, after: str, what: str) -> str:
    """A unified diff of one file's text, labelled "PATH (original)" and "PATH (<what>)"."""
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"{path} (original)",
        f"{path} ({what})",
    )
    return "".join(lines)
