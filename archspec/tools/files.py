"""Finding spec files and writing outputs: the file-system side of the commands, as values."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable

Exclude = Callable[[str, "str | None"], bool]  # (path, folder named or None) -> excluded?


def collect_files(
    paths: list[str],
    exclude: Exclude | None = None,
    *,
    respect_gitignore: bool = True,
    force_exclude: bool = False,
) -> tuple[list[str], list[str]]:
    """Expand folders into their *.arch files (sorted); return (files, problems).

    As in ruff: in a folder, hidden folders, what `.gitignore` files ignore (unless
    `respect_gitignore` is off) and what `exclude(path, folder)` excludes are passed over; a file
    or folder named outright is kept unless `force_exclude` (then `exclude(path, None)` decides,
    silently: a pre-commit hook passes every changed file). Whether a file can be read (a named
    pipe called x.arch, say) is for the reader to say.
    """
    files: list[str] = []
    problems: list[str] = []
    for path in paths:
        if not path:
            problems.append('an empty path ("") names no file or folder')
        elif force_exclude and exclude is not None and exclude(path, None):
            continue
        elif os.path.isdir(path):
            found = walk_specs(path, exclude, respect_gitignore)
            if not found:
                problems.append(f"{path}: no .arch files found" + _ignored_note(path, exclude))
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    return sorted(dict.fromkeys(files)), problems


def _ignored_note(folder: str, exclude: Exclude | None) -> str:
    """Why a folder named outright has no specs, where .gitignore hides them (build/ is)."""
    hidden = walk_specs(folder, exclude, respect_gitignore=False)
    if not hidden:
        return ""
    return (
        f" ({len(hidden)} .gitignore ignores: --no-respect-gitignore checks them, "
        "or name the files)"
    )


def walk_specs(folder: str, exclude: Exclude | None, respect_gitignore: bool) -> list[str]:
    """The *.arch files under `folder`, sorted, leaving out hidden folders and what is ignored or
    excluded (an ignored or excluded folder is not entered at all)."""
    ignores = _GitIgnores(folder) if respect_gitignore else None
    found = []
    for current, subfolders, names in os.walk(folder):
        if folder == os.curdir:  # `archspec check`: examples/x.arch, not ./examples/x.arch
            current = "" if current == os.curdir else current.removeprefix(os.curdir + os.sep)
        kept = []
        for name in sorted(subfolders):
            sub = os.path.join(current, name)
            if name.startswith(".") or (ignores is not None and ignores.ignored(sub, True)):
                continue
            if exclude is None or not exclude(sub, folder):
                kept.append(name)
        subfolders[:] = kept
        for name in names:
            path = os.path.join(current, name)
            if not name.endswith(".arch"):
                continue
            if ignores is not None and ignores.ignored(path, False):
                continue
            if exclude is None or not exclude(path, folder):
                found.append(path)
    return sorted(found)


class _GitIgnores:
    """The `.gitignore` files that apply to a search: those of the folders from the repository's
    top (the nearest folder above with .git; without one, the searched folder) down to each
    path, read once each. As in git, a deeper file's pattern (a `!` one too) overrides."""

    def __init__(self, folder: str) -> None:
        self._specs: dict[str, object | None] = {}  # folder -> its .gitignore's patterns
        self._applying: dict[str, list] = {}  # folder -> [(base, patterns)] for its entries
        folder = os.path.abspath(folder)
        self._top = _git_top(folder) or folder

    def ignored(self, path: str, is_dir: bool) -> bool:
        path = os.path.abspath(path)
        verdict = None
        for base, spec in self._applying_in(os.path.dirname(path)):
            relative = os.path.relpath(path, base).replace(os.sep, "/") + ("/" if is_dir else "")
            included = spec.check_file(relative).include
            if included is not None:
                verdict = included
        return bool(verdict)

    def _applying_in(self, folder: str) -> list:
        if folder not in self._applying:
            bases = _folders_between(self._top, folder)
            specs = [(base, self._spec(base)) for base in bases]
            self._applying[folder] = [(base, spec) for base, spec in specs if spec is not None]
        return self._applying[folder]

    def _spec(self, folder: str):
        if folder not in self._specs:
            self._specs[folder] = _read_gitignore(os.path.join(folder, ".gitignore"))
        return self._specs[folder]


def _read_gitignore(path: str):
    """The patterns of a .gitignore file (pathspec's GitIgnoreSpec), or None without one."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    import pathspec  # only where a .gitignore exists: the check of one named file never needs it

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _git_top(folder: str) -> str | None:
    """The nearest folder holding `folder` (itself included) that has a .git, or None."""
    current = folder
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _folders_between(top: str, folder: str) -> list[str]:
    """`top`, then each folder down to `folder` (which lies inside it); [folder] otherwise."""
    relative = os.path.relpath(folder, top)
    if relative == os.curdir:
        return [top]
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return [folder]
    parts = relative.split(os.sep)
    return [top] + [os.path.join(top, *parts[: index + 1]) for index in range(len(parts))]


# ---------------------------------------------------------------- dependents

# `from "x.arch" import A, B` at a line's start (a comment line starts with `#`: never matches)
_IMPORT_LINE = re.compile(
    r"""^[ \t]*from[ \t]+(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')""", re.M
)


def imported_paths(text: str) -> list[str]:
    """The paths a spec's import lines name, read off the text without parsing it (escapes in
    the string are left as they are: a path that needs them is rare, and only costs a miss)."""
    return [double or single for double, single in _IMPORT_LINE.findall(text)]


def find_dependents(
    checked: list[str], exclude: Exclude | None = None, *, respect_gitignore: bool = True
) -> list[str]:
    """Every spec in the projects of `checked` that imports one of them, directly or through
    other files, and is not itself in `checked`: sorted, as paths relative to the current folder
    where they lie under it. The project (the loader's: the nearest folder with pyproject.toml,
    archspec.toml or .git) is searched as `collect_files` searches a folder, and only the import
    lines of its specs are read."""
    from archspec.elaborate.loader import import_target, project_root, read_spec_file

    targets = {os.path.realpath(path) for path in checked}
    roots = sorted({project_root(path)[0] for path in checked})
    importers: dict[str, list[str]] = {}  # real path of a file -> the specs importing it
    for root in roots:
        for spec in walk_specs(root, exclude, respect_gitignore):
            try:
                text = read_spec_file(spec).decode("utf-8", errors="replace")
            except OSError:
                continue  # its own check, if it is ever checked, says why
            for imported in imported_paths(text):
                target = import_target(spec, imported)
                if target is not None:
                    importers.setdefault(os.path.realpath(target), []).append(spec)
    found: dict[str, str] = {}  # real path -> path as shown
    pending = list(targets)
    while pending:
        for importer in importers.get(pending.pop(), ()):
            key = os.path.realpath(importer)
            if key not in targets and key not in found:
                found[key] = _shown(importer)
                pending.append(key)
    return sorted(found.values())


def _shown(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def write_file(path: str, content: str | bytes) -> None:
    """Write `content` (str: as UTF-8) to the file the user named `path`; every command that
    writes a file writes it here. What `path` names decides how:

    - a file that does not exist yet is created with the usual permissions (0666 less the umask);
    - an existing regular file is replaced atomically: the content goes to a temporary file beside
      it, which is renamed over it, so a reader (or an interrupted archspec) sees the old file or
      the new one, never half of one. (No fsync: it made `fmt` 5-9 times slower per file, and
      surviving a power cut is the file system's part.) The file keeps its permission bits
      (0600 stays 0600, 0755 keeps x) and, where we may set it, its owner and group;
    - a file we may not write (no write permission for us, or no write bit at all: root too is
      refused) raises PermissionError and nothing is written; a folder raises IsADirectoryError;
    - a symbolic link is written through: the file it points to gets the content, the link stays;
    - a file with several hard links (st_nlink > 1) is rewritten in place, so that every name
      still shows one file: the content is prepared in full, its space reserved on the disk, and
      only then written over the old content and the file cut to its length. A rename would give
      this name a new file and leave the others on the old one; the price is that a crash during
      the write itself can leave it partly written;
    - anything else (/dev/null, a terminal, a named pipe) is opened and written as a shell's `>`
      would.

    A temporary file is removed however the write ends (an error, Ctrl-C); nothing is written
    anywhere but the target and, for the moment of a write, the temporary file beside it.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        status = os.stat(path)  # follows a symbolic link to what it names
    except FileNotFoundError:
        status = None
    if status is None:
        _replace(os.path.realpath(path), data, None)
    elif stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder", path)
    elif not stat.S_ISREG(status.st_mode):
        with open(path, "wb") as device:
            device.write(data)
    elif not _writable(path, status):
        raise PermissionError(errno.EACCES, "the file is read-only; nothing was written", path)
    elif status.st_nlink > 1:
        _write_in_place(path, data)
    else:
        _replace(os.path.realpath(path), data, status)


def _writable(path: str, status: os.stat_result) -> bool:
    """Whether we may write the file: the OS's answer, and a write bit set for someone (root may
    write anything, but a file nobody may write is one its owner protected)."""
    return bool(status.st_mode & 0o222) and os.access(path, os.W_OK)


def _replace(target: str, data: bytes, status: os.stat_result | None) -> None:
    """Atomically replace (or create) the regular file `target`, keeping the mode and owner of
    `status` (the file replaced), if any."""
    import tempfile  # only when writing: `check` never does, and it costs 4 ms to import

    handle, temporary = tempfile.mkstemp(
        prefix=".archspec-", suffix=".tmp", dir=os.path.dirname(target)
    )
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        if status is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        else:
            os.chmod(temporary, stat.S_IMODE(status.st_mode))
            _keep_owner(temporary, status)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _keep_owner(temporary: str, status: os.stat_result) -> None:
    """Give the new file the old one's owner and group where we may (root; or our own file whose
    group we belong to); otherwise it is ours, as any new file would be."""
    if not hasattr(os, "chown"):
        return
    with contextlib.suppress(PermissionError):
        os.chown(temporary, status.st_uid, status.st_gid)


_NO_FALLOCATE = {errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS}  # the file system cannot reserve


def _write_in_place(path: str, data: bytes) -> None:
    """Overwrite a hard-linked file's content (see write_file): space first, then the bytes."""
    descriptor = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0))  # no O_TRUNC yet
    with os.fdopen(descriptor, "wb") as file:
        if data and hasattr(os, "posix_fallocate"):
            try:  # a full disk fails here, before a byte of the old content changes
                os.posix_fallocate(descriptor, 0, len(data))
            except OSError as error:
                if error.errno not in _NO_FALLOCATE:
                    raise
        file.write(data)
        file.truncate()
