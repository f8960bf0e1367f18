"""One side of `archspec diff`: a spec in the working tree, or the spec at a git revision, checked.

A revision is resolved to a commit (`git rev-parse --verify`), the file's text is read from it
(`git cat-file`) and checked as if it stood at its path in the working tree, so its imports
resolve against the working tree's files."""

from __future__ import annotations

import functools
import itertools
import os
import subprocess
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


class GitUnavailable(SpecReadError):
    """git cannot be run at all (not installed, timed out)."""


def git_show(rev: str, path: str) -> bytes:
    """The bytes of PATH at git revision REV, read in PATH's folder (or the nearest one that
    still exists). REV is resolved to a commit first (`resolve_revision`), so no text of the
    user's reaches git where git could read it as an option."""
    folder = os.path.dirname(os.path.abspath(path))
    relative = os.path.basename(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder, part = os.path.split(folder)
        relative = os.path.join(part, relative)
    try:
        commit = resolve_revision(rev, folder)
        if "\x00" in relative:
            raise SpecReadError("a path cannot hold the NUL character")
        # COMMIT:./PATH names a file relative to `folder`; it starts with a hex digit, not `-`.
        blob = f"{commit}:./{relative.replace(os.sep, '/')}"
        completed = _git(["cat-file", "blob", blob], folder)
        if completed.returncode != 0:
            raise SpecReadError(_first_line(completed).replace(commit, rev))
    except GitUnavailable as error:
        raise SpecReadError(f"cannot read {rev}:{path}: {error}") from None
    except SpecReadError as error:
        raise SpecReadError(f"cannot read {rev}:{path} from git: {error}") from None
    return completed.stdout


def resolve_revision(rev: str, folder: str) -> str:
    """The commit id REV names in the repository holding `folder`; SpecReadError (the reason)
    if it names none.

    A revision is text from the command line: one that starts with `-` is refused (git would
    read `--output=FILE` as an option and write that file), and the rest is resolved with
    `git rev-parse --verify --end-of-options REV^{commit}`. Where git is older than 2.30 and
    lacks --end-of-options, the refusal of a leading dash and --verify keep it a revision."""
    if not rev or rev.startswith("-") or "\x00" in rev:
        raise SpecReadError(f"'{rev}' is not a revision (a branch, a tag or a commit: HEAD~1)")
    end_of_options = ["--end-of-options"] if _git_version() >= (2, 30) else []
    completed = _git(["rev-parse", "--verify", "--quiet", *end_of_options, f"{rev}^{{commit}}"])
    if completed.returncode == 1 and not completed.stderr.strip():
        raise SpecReadError(f"unknown revision '{rev}'")
    if completed.returncode != 0:
        raise SpecReadError(_first_line(completed))
    return completed.stdout.decode("ascii").strip()


@functools.lru_cache(maxsize=1)
def _git_version() -> tuple[int, ...]:
    """git's version as numbers ((2, 39, 5)); (0,) when it cannot be read."""
    words = _git(["--version"]).stdout.decode("ascii", "replace").split()
    numbers = words[2].split(".") if len(words) > 2 else []
    return tuple(int(n) for n in itertools.takewhile(str.isdigit, numbers)) or (0,)


def _git(arguments: list[str], folder: str | None = None) -> subprocess.CompletedProcess:
    """Run git (in `folder`); GitUnavailable when it cannot run at all."""
    try:
        return subprocess.run(
            ["git", *arguments], cwd=folder, capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise GitUnavailable("git is not installed") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitUnavailable(f"git failed ({error})") from None


def _first_line(completed: subprocess.CompletedProcess) -> str:
    """git's message (its first line, without `fatal: `), or its exit status."""
    lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0].removeprefix("fatal: ") if lines else f"git exited with {completed.returncode}"
