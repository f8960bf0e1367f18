"""Diagnostics as data: codes, labels, notes and help.

Every finding carries a stable code from `CODES` (one table, so texts cannot drift) and at least one
labelled span. Stages collect findings in a `Reporter`; only the CLI prints them. Rendering (text,
JSON, SARIF, ...) lives in `archspec.diagnostics.formats`; each rule's documentation in
`archspec.diagnostics.rules`.
"""

from __future__ import annotations

from enum import Enum

from archspec.core.records import record
from archspec.core.source import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@record(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    default: bool = True  # False: reported only when its code is selected by name (opt-in)

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.code.startswith("W") else Severity.ERROR


# One table of codes: E0xx syntax and input, E1xx names and arguments, E2xx shapes, E3xx budgets,
# W warnings.
CODES: dict[str, Rule] = {
    rule.code: rule
    for rule in [
        Rule("E001", "syntax-error", "the text is not valid .arch syntax"),
        Rule("E002", "nesting-too-deep", "expressions or blocks nest deeper than archspec allows"),
        Rule("E003", "invalid-text", "the file is not valid UTF-8 or holds control characters"),
        Rule("E004", "unreadable-file", "a spec or an imported file cannot be read"),
        Rule("E101", "unknown-layer", "a call names no layer, function or block"),
        Rule("E102", "undefined-name", "a name is used that has no value here"),
        Rule("E103", "duplicate-name", "a layer, block, parameter or input is defined twice"),
        Rule("E104", "bad-arguments", "a call's arguments do not fit the signature"),
        Rule("E105", "bad-argument-value", "an argument has a value torch would reject"),
        Rule("E106", "bad-import", "an import names a missing file or a missing block"),
        Rule("E107", "recursive-definition", "a block or an import refers back to itself"),
        Rule(
            "E108", "type-error", "a value of the wrong kind is used (a tensor for a number, ...)"
        ),
        Rule("E109", "bad-model", "a model or block is malformed (no return, no input, ...)"),
        Rule("E110", "limit-exceeded", "a loop or an expansion exceeds archspec's size limits"),
        Rule("E111", "import-outside-project", "an import resolves outside the project folder"),
        Rule("E201", "channel-mismatch", "a layer's declared input channels differ from the input"),
        Rule(
            "E202", "feature-mismatch", "a Linear's in_features differ from the incoming features"
        ),
        Rule("E203", "size-too-small", "a spatial size shrinks to nothing"),
        Rule("E204", "cat-mismatch", "tensors joined by cat disagree outside the joined dim"),
        Rule("E205", "elementwise-mismatch", "tensors added or multiplied have different shapes"),
        Rule("E206", "rank-mismatch", "a layer gets a tensor with the wrong number of dims"),
        Rule("E207", "shape-assertion", "a value's shape differs from its stated shape"),
        Rule("E208", "bad-reshape", "a reshape, view or flatten cannot produce the asked shape"),
        Rule("E209", "rejected-sizes", "a declared input size range includes sizes that fail"),
        Rule("E210", "needs-numeric-size", "a layer needs a number where the shape has a symbol"),
        Rule("E211", "bad-tie", "a tie names no parameter, or parameters of different shapes"),
        Rule("E212", "index-out-of-range", "integer values index past a table or a dim's end"),
        Rule("E301", "over-budget", "a model exceeds its parameter, MAC or activation budget"),
        Rule("E302", "bad-budget", "a `# archspec: budget` comment cannot be read or applied"),
        Rule(
            "W001",
            "pool-skips-input",
            "a pooling stride larger than its window never reads some input",
        ),
        Rule(
            "W002",
            "bias-before-norm",
            "a convolution's bias is cancelled by the BatchNorm after it",
        ),
        Rule("W003", "unused-value", "a computed value never reaches an output"),
        Rule("W004", "norm-on-single-value", "BatchNorm sees one value per channel in training"),
        Rule("W005", "unused-input", "a model input is never used"),
        Rule("W006", "inplace-overwrite", "an in-place op overwrites a value that is read again"),
        Rule("W007", "unused-suppression", "an `# archspec: ignore` comment suppresses nothing"),
        Rule(
            "W008",
            "redundant-argument",
            "a keyword argument repeats torch's default (opt-in)",
            default=False,
        ),
        Rule("W009", "fixed-input-size", "a flatten -> Linear makes a symbolic input one size"),
        Rule("W010", "bidi-control", "an invisible bidirectional control reorders displayed text"),
        Rule("W011", "batch-changed", "an op folds the batch N into another size, mixing samples"),
        Rule("W012", "dropout-unused", "a recurrent layer's dropout has no layer to act between"),
    ]
}
OPT_IN_CODES = frozenset(code for code, rule in CODES.items() if not rule.default)


@record(frozen=True)
class Edit:
    """Replace the text of `span` with `replacement` (an empty span inserts, "" deletes)."""

    span: Span
    replacement: str

    def overlaps(self, other: Edit) -> bool:
        """Edits touching at one point overlap too when either inserts (their order would
        matter)."""
        a, b = self.span, other.span
        if a.start == a.end or b.start == b.end:
            return a.start <= b.end and b.start <= a.end
        return a.start < b.end and b.start < a.end


class Applicability(str, Enum):
    """Whether `--fix` may apply a fix on its own (ruff's fix safety)."""

    SAFE = "safe"  # cannot change what the spec means: an unused comment, a redundant argument
    UNSAFE = "unsafe"  # changes parameters or semantics: applied only with --unsafe-fixes


@record(frozen=True)
class Fix:
    """A mechanical change that resolves a finding, re-checked before it is offered (driver).

    A fix is unsafe unless its producer says otherwise: only a change that cannot alter what the
    author meant is `SAFE`, and `archspec check --fix` applies only those."""

    description: str
    edits: tuple[Edit, ...]
    applicability: Applicability = Applicability.UNSAFE

    @property
    def safe(self) -> bool:
        return self.applicability is Applicability.SAFE


def apply_edits(text: str, edits) -> str:
    """`text` with non-overlapping `edits` made, from the end so that earlier offsets stay valid;
    text outside the edited spans is kept byte for byte."""
    for edit in sorted(edits, key=lambda e: (e.span.start, e.span.end), reverse=True):
        text = text[: edit.span.start] + edit.replacement + text[edit.span.end :]
    return text


@record(frozen=True)
class Label:
    span: Span
    message: str = ""
    primary: bool = True


@record(frozen=True)
class Diagnostic:
    code: str
    message: str
    labels: tuple[Label, ...]
    notes: tuple[str, ...] = ()
    help: str | None = None
    fix: Fix | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown diagnostic code {self.code}")
        if not any(label.primary for label in self.labels):
            raise ValueError("a diagnostic needs a primary label")

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    @property
    def primary(self) -> Label:
        return next(label for label in self.labels if label.primary)

    def sort_key(self) -> tuple:
        return (*self.primary.span.sort_key(), self.code, self.message)


def make(
    code: str,
    message: str,
    span: Span,
    label: str = "",
    *,
    secondary: tuple[tuple[Span, str], ...] | list[tuple[Span, str]] = (),
    notes: tuple[str, ...] | list[str] = (),
    help: str | None = None,
    fix: Fix | None = None,
) -> Diagnostic:
    labels = [Label(span, label, True)]
    labels.extend(Label(s, text, False) for s, text in secondary if s is not None)
    return Diagnostic(code, message, tuple(labels), tuple(notes), help, fix)


class ArchError(Exception):
    """Raised inside a stage to abandon the current statement with one diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Reporter:
    """Collects findings, dropping exact repeats (the same code at the same place)."""

    def __init__(self) -> None:
        self._seen: set[tuple] = set()
        self.diagnostics: list[Diagnostic] = []

    def add(self, diagnostic: Diagnostic) -> None:
        span = diagnostic.primary.span
        key = (diagnostic.code, span.source.path, span.start, span.end, diagnostic.message)
        if key not in self._seen:
            self._seen.add(key)
            self.diagnostics.append(diagnostic)

    def extend(self, diagnostics) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def sorted_diagnostics(diagnostics) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: d.sort_key())
