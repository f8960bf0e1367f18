"""Finding spec files and writing outputs: the file-system side of the commands, as values."""

from __future__ import annotations

import os


def collect_files(paths: list[str], exclude=None) -> tuple[list[str], list[str]]:
    """Expand folders into their *.arch files (sorted); return (files, problems).

    `exclude(path)` drops files found in folders; files named outright are always kept.
    """
    files: list[str] = []
    problems: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                found.extend(os.path.join(folder, n) for n in names if n.endswith(".arch"))
            if not found:
                problems.append(f"{path}: no .arch files found")
            files.extend(sorted(f for f in found if exclude is None or not exclude(f)))
        elif os.path.exists(path):
            files.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    return sorted(dict.fromkeys(files)), problems


def write_atomically(path: str, content: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written output."""
    import tempfile

    data = content.encode("utf-8") if isinstance(content, str) else content
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".archspec-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
