"""Applying fixes (`archspec check --fix`): pure text edits, nothing printed or written here.

A fix is data on its diagnostic (`Diagnostic.fix`): edits of spans in the checked file, safe or
unsafe (`Fix.applicability`, ruff's model). `--fix` applies the safe ones, which cannot change what
the spec means; `--fix --unsafe-fixes` the unsafe ones too, which change parameters or semantics
(a layer's in_features). One pass takes the fixes in order of place, skips any fix that edits
another file or overlaps a fix already taken (the next pass, on the re-checked text, gets it), and
applies the edits from the end so that earlier offsets stay valid. Text outside the edited spans
is kept byte for byte.
"""

from __future__ import annotations

from archspec.core.diagnostic import Diagnostic, Edit, Fix, apply_edits

MAX_PASSES = 10  # a fix never creates another of its own kind; this only bounds a surprise


def applicable(diagnostic: Diagnostic, unsafe: bool = False) -> bool:
    """Whether `--fix` (with `--unsafe-fixes` when `unsafe`) applies this finding's fix."""
    return diagnostic.fix is not None and (unsafe or diagnostic.fix.safe)


def apply_fixes(
    text: str, diagnostics: list[Diagnostic], path: str, *, unsafe: bool = False
) -> tuple[str, int]:
    """`text` with the non-overlapping applicable fixes of `diagnostics` for `path`; (new text,
    fixes used). Unsafe fixes are applied only when `unsafe`.

    A file with syntax or input errors (E0xx) is never changed.
    """
    if any(d.code.startswith("E0") for d in diagnostics):
        return text, 0
    taken: list[Edit] = []
    used = 0
    fixes = [d.fix for d in diagnostics if applicable(d, unsafe)]
    for fix in sorted(fixes, key=lambda f: min(e.span.start for e in f.edits)):
        if not _edits_only(fix, text, path) or _self_overlapping(fix):
            continue
        if any(edit.overlaps(other) for edit in fix.edits for other in taken):
            continue
        taken.extend(fix.edits)
        used += 1
    return apply_edits(text, taken), used


def _edits_only(fix: Fix, text: str, path: str) -> bool:
    """The fix edits this text of this file and nothing else (an imported file stays as it is)."""
    return all(e.span.source.path == path and e.span.source.text == text for e in fix.edits)


def _self_overlapping(fix: Fix) -> bool:
    edits = fix.edits
    return any(a.overlaps(b) for i, a in enumerate(edits) for b in edits[i + 1 :])
