"""One side of `archspec diff`: a spec in the working tree, or the spec at a git revision, checked.

A revision's text is read with `git show` and checked as if it stood at its path in the working
tree, so its imports resolve against the working tree's files."""

from __future__ import annotations

import os
from dataclasses import dataclass

from archspec.driver import CheckResult, check_file, check_text


class SpecReadError(Exception):
    """A side that cannot be read (no file, no git, no such revision): one line for the user."""


@dataclass(frozen=True)
class SpecRef:
    """One side of a diff: a file in the working tree, or the file at a git revision."""

    path: str
    rev: str | None = None

    @property
    def label(self) -> str:
        return self.path if self.rev is None else f"{self.rev}:{self.path}"


def parse_ref(argument: str) -> SpecRef:
    """`PATH`, or `REV:PATH` (`HEAD~1:specs/x.arch`); an existing file always wins."""
    if os.path.exists(argument) or ":" not in argument:
        return SpecRef(argument)
    rev, path = argument.split(":", 1)
    if not rev or not path:
        raise SpecReadError(f"{argument}: write a git revision as REV:PATH (HEAD~1:model.arch)")
    return SpecRef(path, rev)


def load_ref(ref: SpecRef) -> CheckResult:
    """Check one side. A revision's text is checked as if it stood at PATH in the working tree,
    so its imports resolve against the working tree's files (git holds no other folder to read);
    its own diagnostics are then labelled `REV:PATH`."""
    if os.path.isdir(ref.path):
        raise SpecReadError(f"{ref.path}: is a folder; name one .arch file")
    if ref.rev is None:
        if not os.path.exists(ref.path):
            raise SpecReadError(f"{ref.path}: no such file")
        try:
            return check_file(ref.path)
        except OSError as error:
            raise SpecReadError(f"cannot read {ref.path}: {error.strerror or error}") from None
    data = git_show(ref.rev, ref.path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecReadError(f"{ref.label}: the file is not valid UTF-8") from None
    result = check_text(text, ref.path)
    _relabel(result, ref.path, ref.label)
    return result


def _relabel(result: CheckResult, path: str, label: str) -> None:
    """Name the checked text `label` wherever it is shown (the imports are resolved already)."""
    sources = [result.loaded.source] if result.loaded is not None else []
    sources += [part.span.source for d in result.diagnostics for part in d.labels]
    for source in sources:
        if source.path == path:
            source.path = label
    result.path = label


def git_show(rev: str, path: str) -> bytes:
    """`git show REV:./PATH`, run in PATH's folder (or the nearest one that still exists)."""
    import subprocess

    folder = os.path.dirname(os.path.abspath(path))
    relative = os.path.basename(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder, part = os.path.split(folder)
        relative = os.path.join(part, relative)
    spec = f"{rev}:./{relative.replace(os.sep, '/')}"
    try:
        completed = subprocess.run(
            ["git", "show", spec], cwd=folder, capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise SpecReadError(f"cannot read {rev}:{path}: git is not installed") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SpecReadError(f"cannot read {rev}:{path}: git failed ({error})") from None
    if completed.returncode != 0:
        lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[0].removeprefix("fatal: ") if lines else f"exit {completed.returncode}"
        raise SpecReadError(f"cannot read {rev}:{path} from git: {reason}")
    return completed.stdout
