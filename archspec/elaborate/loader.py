"""Files -> definitions: reads bytes safely, parses, and resolves `from "x.arch" import Block`
relative to the importing file (each file once, cycles reported with their chain).

Imports stay inside the project: the nearest folder above the checked file that holds a
pyproject.toml, archspec.toml or .git (else the file's own folder). An import that resolves
outside it, by `..`, an absolute path or a symbolic link, is reported (E111) and never read.

The one exception is archspec's standard library: a path `std/NAME.arch` names the file
archspec/std/NAME.arch shipped inside the package, from any project (`import_target`). A
project's own folder named std is imported as `./std/...`.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from collections.abc import Generator

from archspec.core import diagnostic as diag
from archspec.core.names import chain_text, closest
from archspec.core.records import field, record
from archspec.core.source import SourceFile
from archspec.elaborate.externs import check_declaration
from archspec.elaborate.values import Definition
from archspec.ops import REGISTRY
from archspec.syntax import ast
from archspec.syntax.parser import parse_module

# Control characters other than tab, newline, carriage return and form feed: C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# A lone UTF-16 surrogate: a str can hold one (an editor's buffer, "\ud800"), UTF-8 cannot.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Invisible characters that reorder how a line is displayed: the marks, embeddings, overrides and
# isolates of the Unicode bidirectional algorithm ("Trojan Source", CVE-2021-42574).
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PROJECT_MARKERS = ("pyproject.toml", "archspec.toml", ".git")
# The standard library: block files shipped in archspec/std/, imported as "std/NAME.arch".
STD_PREFIX = "std/"
STD_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "std")


class NotARegularFile(OSError):
    """A spec path that names a folder, a named pipe, a device or a socket. Specs are read from
    regular files only: a named pipe waits for a writer forever, /dev/zero never ends."""


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_spec_file(path: str) -> bytes:
    """The bytes of the regular file at `path`; NotARegularFile (an OSError) for anything else.

    The file is opened without blocking, so a named pipe opens at once instead of waiting for a
    writer, and its kind is taken from the open descriptor (fstat): a file swapped for a pipe
    after a check by name would still be caught. Other OSErrors pass through unchanged."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
            raise NotARegularFile(errno.EINVAL, f"{kind}, not a regular file", path)
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        return handle.read()


def decode(path: str, data: bytes) -> tuple[SourceFile, diag.Diagnostic | None]:
    """Decode UTF-8; invalid bytes and control characters are a diagnostic at the first one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        prefix = data[: error.start].decode("utf-8").removeprefix("\ufeff")
        source = SourceFile(path, prefix)
        return source, diag.make(
            "E003",
            f"the file is not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
            source.span(len(prefix), len(prefix)),
            "invalid byte here",
            help="save the file as UTF-8",
        )
    return decode_text(path, text)


def decode_text(path: str, text: str) -> tuple[SourceFile, diag.Diagnostic | None]:
    """Spec text given as a str (`check_text`, an editor's buffer): `decode`'s checks, and a lone
    surrogate, which no UTF-8 file can hold, is reported like an undecodable byte (the source
    keeps only the text before it, so nothing downstream has to print it)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    # Surrogates, C1 controls and bidi controls are all outside ASCII; most specs are ASCII, and
    # isascii() answers for 10 MB in about a millisecond where a regular expression scan takes 40.
    surrogate = None if text.isascii() else _SURROGATE.search(text)
    if surrogate is not None:
        offset = surrogate.start()
        source = SourceFile(path, text[:offset])
        return source, diag.make(
            "E003",
            f"the text holds a lone surrogate U+{ord(text[offset]):04X} (at character {offset}), "
            "which UTF-8 cannot encode",
            source.span(offset, offset),
            "invalid character here",
            help="remove it; a surrogate is only valid as half of a UTF-16 pair",
        )
    source = SourceFile(path, text)
    control = _CONTROL.search(text)
    if control is not None:
        offset = control.start()
        return source, diag.make(
            "E003",
            f"the file contains the control character U+{ord(text[offset]):04X}",
            source.span(offset, offset + 1),
            "here",
            help="remove it",
        )
    return source, None


def bidi_control_warnings(source: SourceFile) -> list[diag.Diagnostic]:
    """W010 at every bidirectional control character, in code, comments and strings alike: the
    line a reviewer sees may not be the line archspec reads."""
    return [
        diag.make(
            "W010",
            f"invisible bidirectional control U+{ord(found.group()):04X} "
            f"({unicodedata.name(found.group()).lower()})",
            source.span(found.start(), found.end()),
            "reorders how this line is displayed",
            help="remove it: it can make the text read differently from what is checked "
            '("Trojan Source"); shown here escaped',
        )
        for found in ([] if source.text.isascii() else BIDI_CONTROLS.finditer(source.text))
    ]


@record
class LoadedFile:
    source: SourceFile
    module: ast.Module | None
    definitions: dict[str, Definition] = field(default_factory=dict)  # local and imported
    local: list[ast.Definition] = field(default_factory=list)


class Loader:
    """Loads a file and, transitively, what it imports; reports into one Reporter."""

    def __init__(self, reporter: diag.Reporter):
        self.reporter = reporter
        self.cache: dict[str, LoadedFile | None] = {}
        self.loading: dict[str, None] = {}  # the chain of files being loaded, in import order
        self.root: tuple[str, str | None] | None = None  # the project: folder, marker in it

    def load_path(self, path: str) -> LoadedFile | None:
        return self.load_bytes(path, read_spec_file(path))

    def load_bytes(self, path: str, data: bytes) -> LoadedFile | None:
        return self._load_decoded(*decode(path, data))

    def load_text(self, path: str, text: str) -> LoadedFile | None:
        return self._load_decoded(*decode_text(path, text))

    def _load_decoded(
        self, source: SourceFile, problem: diag.Diagnostic | None
    ) -> LoadedFile | None:
        if problem is not None:
            self.reporter.add(problem)
            return None
        return self.load_source(source)

    def load_source(self, source: SourceFile) -> LoadedFile | None:
        """Load a file and, depth first, the files it imports. Each file is loaded by a generator
        that yields the files it imports and is sent them back loaded; a stack of those
        generators stands in for recursion, so an import chain of any length is safe."""
        if self.root is None:
            self.root = project_root(source.path)
        stack = [self._load(source)]
        loaded: LoadedFile | None = None
        while stack:
            try:
                imported = stack[-1].send(loaded)
            except StopIteration as finished:
                stack.pop()
                loaded = finished.value
                continue
            stack.append(self._load(imported))
            loaded = None
        return loaded

    def _load(
        self, source: SourceFile
    ) -> Generator[SourceFile, LoadedFile | None, LoadedFile | None]:
        key = _key(source.path)
        self.loading[key] = None
        self.reporter.extend(bidi_control_warnings(source))
        try:
            module = parse_module(source)
        except diag.ArchError as error:
            self.reporter.add(error.diagnostic)
            del self.loading[key]
            self.cache[key] = None
            return None
        loaded = LoadedFile(source, module)
        try:
            yield from self._collect(loaded)
        finally:
            del self.loading[key]
        self.cache[key] = loaded
        return loaded

    def _collect(self, loaded: LoadedFile) -> Generator[SourceFile, LoadedFile | None, None]:
        module = loaded.module
        for imported in module.imports:
            yield from self._import(loaded, imported)
        declared = [*module.definitions, *module.externs]  # in file order
        declared.sort(key=lambda node: node.span.start)
        for definition in declared:
            name = definition.name.id
            if name in REGISTRY or name == "Sequential":
                kind = "extern" if isinstance(definition, ast.Extern) else definition.kind
                what = {"extern": "an extern", "def": "a function"}.get(kind, f"a {kind}")
                self.reporter.add(
                    diag.make(
                        "E103",
                        f"'{name}' is already a layer or function; {what} cannot take its name",
                        definition.name.span,
                        "taken",
                        help=f"rename the {'function' if kind == 'def' else kind}",
                    )
                )
                continue
            if name in loaded.definitions and loaded.definitions[name].node is not None:
                first = loaded.definitions[name].node
                self.reporter.add(
                    diag.make(
                        "E103",
                        f"'{name}' is defined twice",
                        definition.name.span,
                        "defined again",
                        secondary=[(first.name.span, "first defined here")],
                    )
                )
                continue
            self._check_params(definition)
            if isinstance(definition, ast.Extern):
                try:
                    check_declaration(definition)
                except diag.ArchError as error:  # its uses stay silent
                    self.reporter.add(error.diagnostic)
                    loaded.definitions[name] = Definition(None, loaded.source.path)
                    continue
            loaded.definitions[name] = Definition(
                definition, loaded.source.path, loaded.definitions
            )
            if isinstance(definition, ast.Definition):
                loaded.local.append(definition)

    def _check_params(self, definition: ast.Definition) -> None:
        seen: dict[str, ast.Param] = {}
        for param in definition.params:
            if param.name.id in seen:
                self.reporter.add(
                    diag.make(
                        "E103",
                        f"parameter '{param.name.id}' is listed twice",
                        param.name.span,
                        "again",
                        secondary=[(seen[param.name.id].name.span, "first here")],
                    )
                )
            seen[param.name.id] = param

    def _import(
        self, loaded: LoadedFile, imported: ast.Import
    ) -> Generator[SourceFile, LoadedFile | None, None]:
        if not (yield from self._import_names(loaded, imported)):
            # Reported at the import; uses of the names stay silent rather than "unknown".
            for name in imported.names:
                loaded.definitions.setdefault(name.id, Definition(None, loaded.source.path))

    def _import_names(
        self, loaded: LoadedFile, imported: ast.Import
    ) -> Generator[SourceFile, LoadedFile | None, bool]:
        """Bind the imported blocks in `loaded` (yielding the file to load, if it is not loaded
        yet); False if the file could not be imported."""
        unusable = _file_name_problem(imported.path.value)
        if unusable is not None:
            self.reporter.add(
                diag.make(
                    "E106",
                    f"cannot import from '{imported.path.value}': {unusable}",
                    imported.path.span,
                    "not a file name",
                    help="write the path without it",
                )
            )
            return False
        target = import_target(loaded.source.path, imported.path.value)
        if target is None:
            self.reporter.add(_unknown_std_library(imported))
            return False
        key = _key(target)
        if key in self.loading:
            files = list(self.loading)
            chain = [os.path.basename(file) for file in files[files.index(key) :]]
            chain.append(os.path.basename(target))
            self.reporter.add(
                diag.make(
                    "E107",
                    f"import cycle: {chain_text(chain)}",
                    imported.path.span,
                    "imports a file that imports this one",
                    help="move the shared blocks into a file that imports neither",
                )
            )
            return False
        folder, marker = self.root
        if not _inside(folder, key) and not is_std_path(imported.path.value):
            if marker is not None:
                why = f"the nearest above the checked file with a {marker}"
            else:
                markers = ", ".join(PROJECT_MARKERS)
                why = f"the checked file's own, as no folder above it has a {markers}"
            self.reporter.add(
                diag.make(
                    "E111",
                    f"'{imported.path.value}' is outside the project, so it is not read",
                    imported.path.span,
                    "outside the project",
                    notes=[
                        f"it resolves to {_shown(key)}",
                        f"the project folder is {_shown(folder)}{os.sep}: {why}",
                    ],
                    help="keep imported files inside the project, or put an archspec.toml in "
                    "a folder that holds them all",
                )
            )
            return False
        if key in self.cache:
            other = self.cache[key]
        else:
            try:
                data = read_spec_file(target)
            except OSError as error:
                reason = error.strerror or str(error)
                self.reporter.add(
                    diag.make(
                        "E106",
                        f"cannot import from '{imported.path.value}': {reason.lower()}",
                        imported.path.span,
                        "not readable",
                        notes=[f"looked for {target}"],
                        help="paths are relative to the importing file",
                    )
                )
                self.cache[key] = None
                return False
            source, problem = decode(target, data)
            if problem is not None:
                self.reporter.add(problem)
                other = None
            else:
                other = yield source
        if other is None:
            self.reporter.add(
                diag.make(
                    "E106",
                    f"'{imported.path.value}' has errors, nothing was imported",
                    imported.path.span,
                    "broken file",
                )
            )
            return False
        for name in imported.names:
            if name.id not in other.definitions:
                suggestion = closest(name.id, other.definitions)
                self.reporter.add(
                    diag.make(
                        "E106",
                        f"'{imported.path.value}' defines no block '{name.id}'",
                        name.span,
                        "not found",
                        help=f"did you mean '{suggestion}'?" if suggestion else None,
                    )
                )
                loaded.definitions.setdefault(name.id, Definition(None, loaded.source.path))
                continue
            loaded.definitions[name.id] = other.definitions[name.id]
        return True


def std_library_names() -> list[str]:
    """The names of the shipped block libraries, as imported: `resnet` for "std/resnet.arch"."""
    try:
        files = os.listdir(STD_FOLDER)
    except OSError:
        return []
    return sorted(name.removesuffix(".arch") for name in files if name.endswith(".arch"))


def is_std_path(path: str) -> bool:
    """Whether an import's path names the standard library ("std/..."), known name or not."""
    return path.startswith(STD_PREFIX)


def import_target(importing_file: str, path: str) -> str | None:
    """The file an import of `path` in `importing_file` reads: "std/NAME.arch" is the shipped
    archspec/std/NAME.arch (None if no library has that name), any other path is relative to
    the importing file. The loader and the language server both resolve imports here."""
    if is_std_path(path):
        name = path.removeprefix(STD_PREFIX).removesuffix(".arch")
        if not path.endswith(".arch") or name not in std_library_names():
            return None
        return os.path.join(STD_FOLDER, name + ".arch")
    return os.path.normpath(os.path.join(os.path.dirname(importing_file), path))


def shown_path(path: str) -> str:
    """A file's path as generated code names it: "std/NAME.arch" for a standard library file,
    so the text does not depend on where archspec is installed; any other path unchanged."""
    folder, name = os.path.split(os.path.abspath(path))
    if folder == STD_FOLDER and name.endswith(".arch"):
        return STD_PREFIX + name
    return path


def _unknown_std_library(imported: ast.Import) -> diag.Diagnostic:
    path = imported.path.value
    names = std_library_names()
    wanted = path.removeprefix(STD_PREFIX).removesuffix(".arch")
    suggestion = closest(wanted, names)
    if suggestion is not None:
        hint = f"did you mean '{STD_PREFIX}{suggestion}.arch'?"
    else:
        hint = "a file of your project named std/... is imported as './std/...'"
    return diag.make(
        "E106",
        f"'{path}' is not in archspec's standard library",
        imported.path.span,
        "no such library",
        notes=["the standard library has " + ", ".join(f"{STD_PREFIX}{n}.arch" for n in names)],
        help=hint,
    )


def _file_name_problem(path: str) -> str | None:
    """Why the string `path` (a string literal: escapes can put anything in it) cannot name a
    file on this system, or None. The operating system would raise ValueError, not OSError."""
    if "\x00" in path:
        return "a file name cannot hold the NUL character U+0000"
    for character in path:
        try:
            os.fsencode(character)
        except UnicodeEncodeError:
            return f"a file name cannot hold U+{ord(character):04X}"
    return None


def project_root(path: str) -> tuple[str, str | None]:
    """The folder imports of `path` must stay in (its real path), and the marker that makes it the
    project: the nearest folder holding `path` with a pyproject.toml, archspec.toml or .git, else
    the file's own folder (and None)."""
    start = os.path.abspath(os.path.dirname(path))
    folder = start
    while True:
        for marker in PROJECT_MARKERS:
            if os.path.exists(os.path.join(folder, marker)):
                return os.path.realpath(folder), marker
        parent = os.path.dirname(folder)
        if parent == folder:
            return os.path.realpath(start), None
        folder = parent


def _inside(folder: str, path: str) -> bool:
    try:
        return os.path.commonpath([folder, path]) == folder
    except ValueError:  # on another drive (Windows)
        return False


def _shown(path: str) -> str:
    """A path as messages show it: relative when under the current folder."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _key(path: str) -> str:
    return os.path.realpath(path)
