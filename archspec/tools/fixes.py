"""Applying fixes (`archspec check --fix`): pure text edits, nothing printed or written here.

A fix is data on its diagnostic (`Diagnostic.fix`): edits of spans in the checked file. One pass
takes the fixes in order of place, skips any fix that edits another file or overlaps a fix already
taken (the next pass, on the re-checked text, gets it), and applies the edits from the end so that
earlier offsets stay valid. Text outside the edited spans is kept byte for byte.
"""

from __future__ import annotations

from archspec.core.diagnostic import Diagnostic, Edit

MAX_PASSES = 10  # a fix never creates another of its own kind; this only bounds a surprise


def apply_fixes(text: str, diagnostics: list[Diagnostic], path: str) -> tuple[str, int]:
    """`text` with the non-overlapping fixes of `diagnostics` for `path`; (new text, fixes used).

    A file with syntax or input errors (E0xx) is never changed.
    """
    if any(d.code.startswith("E0") for d in diagnostics):
        return text, 0
    taken: list[Edit] = []
    used = 0
    fixes = [d.fix for d in diagnostics if d.fix is not None]
    for fix in sorted(fixes, key=lambda f: min(e.span.start for e in f.edits)):
        edits = fix.edits
        if any(edit.span.source.path != path or edit.span.source.text != text for edit in edits):
            continue
        if any(_overlap(edit, other) for edit in edits for other in taken):
            continue
        if any(_overlap(a, b) for i, a in enumerate(edits) for b in edits[i + 1 :]):
            continue
        taken.extend(edits)
        used += 1
    for edit in sorted(taken, key=lambda e: e.span.start, reverse=True):
        text = text[: edit.span.start] + edit.replacement + text[edit.span.end :]
    return text, used


def _overlap(a: Edit, b: Edit) -> bool:
    """Edits touching at one point overlap too when either inserts (their order would matter)."""
    if a.span.start == a.span.end or b.span.start == b.span.end:
        return a.span.start <= b.span.end and b.span.start <= a.span.end
    return a.span.start < b.span.end and b.span.start < a.span.end
