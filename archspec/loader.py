"""Files -> definitions: reads bytes safely, parses, and resolves `from "x.arch" import Block`
relative to the importing file (each file once, cycles reported with their chain)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from archspec import ast
from archspec import diagnostics as diag
from archspec.elaborate import Definition
from archspec.ops import REGISTRY
from archspec.parser import parse_module
from archspec.source import SourceFile

_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f"}


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
    if text.startswith("\ufeff"):
        text = text[1:]
    source = SourceFile(path, text)
    for offset, char in enumerate(text):
        if (char < " " and char not in _ALLOWED_CONTROLS) or char == "\x7f":
            return source, diag.make(
                "E003",
                f"the file contains the control character U+{ord(char):04X}",
                source.span(offset, offset + 1),
                "here",
                help="remove it",
            )
    return source, None


@dataclass
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
        self.loading: list[str] = []

    def load_path(self, path: str) -> LoadedFile | None:
        with open(path, "rb") as handle:
            data = handle.read()
        return self.load_bytes(path, data)

    def load_bytes(self, path: str, data: bytes) -> LoadedFile | None:
        source, problem = decode(path, data)
        if problem is not None:
            self.reporter.add(problem)
            return None
        return self.load_source(source)

    def load_source(self, source: SourceFile) -> LoadedFile | None:
        key = _key(source.path)
        self.loading.append(key)
        try:
            module = parse_module(source)
        except diag.ArchError as error:
            self.reporter.add(error.diagnostic)
            self.loading.pop()
            self.cache[key] = None
            return None
        loaded = LoadedFile(source, module)
        try:
            self._collect(loaded)
        finally:
            self.loading.pop()
        self.cache[key] = loaded
        return loaded

    def _collect(self, loaded: LoadedFile) -> None:
        module = loaded.module
        for imported in module.imports:
            self._import(loaded, imported)
        for definition in module.definitions:
            name = definition.name.id
            if name in REGISTRY or name == "Sequential":
                self.reporter.add(
                    diag.make(
                        "E103",
                        f"'{name}' is already a layer or function; a block cannot take its name",
                        definition.name.span,
                        "taken",
                        help="rename the block",
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
            loaded.definitions[name] = Definition(
                definition, loaded.source.path, loaded.definitions
            )
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

    def _import(self, loaded: LoadedFile, imported: ast.Import) -> None:
        if not self._import_names(loaded, imported):
            # Reported at the import; uses of the names stay silent rather than "unknown".
            for name in imported.names:
                loaded.definitions.setdefault(name.id, Definition(None, loaded.source.path))

    def _import_names(self, loaded: LoadedFile, imported: ast.Import) -> bool:
        """Bind the imported blocks in `loaded`; False if the file could not be imported."""
        base = os.path.dirname(loaded.source.path)
        target = os.path.normpath(os.path.join(base, imported.path.value))
        key = _key(target)
        if key in self.loading:
            chain = [os.path.basename(p) for p in self.loading[self.loading.index(key) :]]
            chain.append(os.path.basename(target))
            self.reporter.add(
                diag.make(
                    "E107",
                    f"import cycle: {' -> '.join(chain)}",
                    imported.path.span,
                    "imports a file that imports this one",
                    help="move the shared blocks into a file that imports neither",
                )
            )
            return False
        if key in self.cache:
            other = self.cache[key]
        else:
            try:
                other = self.load_path(target)
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
                from archspec.elaborate import closest

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


def _key(path: str) -> str:
    return os.path.realpath(path)
