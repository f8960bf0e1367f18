"""archspec.core.diagnostic as data: the code table, what a Diagnostic refuses to be, its ordering,
the Reporter's de-duplication."""

from __future__ import annotations

import pytest

from archspec.core.diagnostic import (
    CODES,
    OPT_IN_CODES,
    ArchError,
    Diagnostic,
    Edit,
    Fix,
    Label,
    Reporter,
    Rule,
    Severity,
    make,
    sorted_diagnostics,
)
from archspec.core.source import SourceFile

SOURCE = SourceFile("model.arch", "model M {\n    input x: [N, 3]\n    return x\n}\n")
OTHER = SourceFile("a.arch", "model A { input x: [N, 1]  return x }\n")


def span(start: int, end: int, source: SourceFile = SOURCE):
    return source.span(start, end)


def test_severity_follows_the_code_letter():
    assert Rule("E999", "x", "y").severity is Severity.ERROR
    assert Rule("W999", "x", "y").severity is Severity.WARNING
    assert {CODES["E202"].severity, CODES["W001"].severity} == {Severity.ERROR, Severity.WARNING}
    assert Severity.ERROR == "error" and Severity.WARNING.value == "warning"


def test_the_code_table_is_keyed_by_code_and_only_w008_is_opt_in():
    assert all(code == rule.code for code, rule in CODES.items())
    assert all(code[0] in "EW" and len(code) == 4 for code in CODES)
    assert OPT_IN_CODES == frozenset({"W008"})
    assert CODES["E202"].name == "feature-mismatch"


def test_an_unknown_code_is_refused():
    with pytest.raises(ValueError, match="^unknown diagnostic code E000$"):
        Diagnostic("E000", "message", (Label(span(0, 5)),))


def test_a_diagnostic_needs_a_primary_label():
    with pytest.raises(ValueError, match="^a diagnostic needs a primary label$"):
        Diagnostic("E101", "message", (Label(span(0, 5), "here", primary=False),))
    with pytest.raises(ValueError, match="primary label"):
        Diagnostic("E101", "message", ())


def test_make_puts_the_primary_label_first_and_drops_secondaries_without_a_span():
    fix = Fix("set x", (Edit(span(10, 11), "y"),))
    made = make(
        "E202",
        "message",
        span(14, 19),
        "here",
        secondary=[(span(0, 5), "there"), (None, "nowhere")],
        notes=["a note"],
        help="do this",
        fix=fix,
    )
    assert [(label.span.start, label.message, label.primary) for label in made.labels] == [
        (14, "here", True),
        (0, "there", False),
    ]
    assert made.primary.message == "here"
    assert (made.notes, made.help, made.fix) == (("a note",), "do this", fix)
    assert made.severity is Severity.ERROR
    assert make("W003", "unused", span(0, 5)).severity is Severity.WARNING


def test_the_primary_label_is_found_among_secondaries():
    labels = (Label(span(0, 5), "second", False), Label(span(6, 7), "first", True))
    assert Diagnostic("E101", "m", labels).primary.message == "first"


def test_sort_order_is_file_then_position_then_code_then_message():
    found = [
        make("E202", "b", span(14, 19)),
        make("E101", "z", span(14, 19)),
        make("E202", "a", span(14, 19)),
        make("E101", "late", span(20, 21)),
        make("E101", "wider", span(14, 25)),
        make("W003", "other file", span(0, 1, OTHER)),
    ]
    ordered = [(d.code, d.message) for d in sorted_diagnostics(found)]
    assert ordered == [
        ("W003", "other file"),
        ("E101", "z"),
        ("E202", "a"),
        ("E202", "b"),
        ("E101", "wider"),
        ("E101", "late"),
    ]
    assert found[0].sort_key() == ("model.arch", 14, 19, "E202", "b")


def test_reporter_drops_exact_repeats_only():
    reporter = Reporter()
    first = make("E101", "unknown layer", span(14, 19))
    reporter.add(first)
    reporter.add(make("E101", "unknown layer", span(14, 19), "another label"))  # same finding
    reporter.extend(
        [
            make("E101", "unknown layer", span(14, 20)),  # wider span
            make("E102", "unknown layer", span(14, 19)),  # another code
            make("E101", "another message", span(14, 19)),
            make("E101", "unknown layer", span(14, 19, OTHER)),  # another file
        ]
    )
    assert len(reporter.diagnostics) == 5
    assert reporter.diagnostics[0] is first


def test_reporter_has_errors_only_with_an_error():
    reporter = Reporter()
    assert not reporter.has_errors
    reporter.add(make("W003", "unused", span(0, 5)))
    assert not reporter.has_errors
    reporter.add(make("E101", "unknown", span(0, 5)))
    assert reporter.has_errors


def test_arch_error_carries_its_diagnostic():
    found = make("E104", "bad arguments", span(0, 5))
    error = ArchError(found)
    assert error.diagnostic is found
    assert str(error) == "bad arguments"
