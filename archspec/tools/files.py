"""Finding spec files and writing outputs: the file-system side of the commands, as values."""

from __future__ import annotations

import contextlib
import errno
import os
import stat


def collect_files(paths: list[str], exclude=None) -> tuple[list[str], list[str]]:
    """Expand folders into their *.arch files (sorted); return (files, problems).

    `exclude(path)` drops files found in folders; files named outright are always kept. Whether
    a file can be read (a named pipe called x.arch, say) is for the reader to say.
    """
    files: list[str] = []
    problems: list[str] = []
    for path in paths:
        if not path:
            problems.append('an empty path ("") names no file or folder')
        elif os.path.isdir(path):
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
