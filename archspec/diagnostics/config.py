"""Project configuration: `[tool.archspec]` in pyproject.toml, or the top level of archspec.toml.

The nearest configuration to each checked file wins (walking up its folders; in one folder
archspec.toml before pyproject.toml, and a pyproject.toml without `[tool.archspec]` is passed
over). Globs are relative to the configuration's folder. Command-line options override it. A
broken configuration is a `ConfigError` (the CLI exits with 2); nothing here prints.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable

from archspec.core import records
from archspec.core.diagnostic import CODES, OPT_IN_CODES, Diagnostic, Severity
from archspec.core.names import did_you_mean
from archspec.core.records import field, record
from archspec.diagnostics.budgets import BUDGET_KEYS, Budget, BudgetError, parse_budget_value
from archspec.elaborate.loader import read_spec_file

# Folders never searched unless `exclude` is set (which replaces this list; `extend-exclude` adds
# to it): ruff's defaults that are not hidden folders (those are always skipped).
DEFAULT_EXCLUDE = (
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)
ALWAYS_REPORTED_PREFIX = "E0"  # syntax and input errors: the file was not checked at all


class ConfigError(Exception):
    """A configuration file or option that cannot be used; the message names where."""


def _list_of_strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _table_of_string_lists(value) -> bool:
    return isinstance(value, dict) and all(_list_of_strings(item) for item in value.values())


# key -> (type check, what the value must be)
_KEYS = {
    "select": (_list_of_strings, "a list of codes or prefixes"),
    "ignore": (_list_of_strings, "a list of codes or prefixes"),
    "extend-select": (_list_of_strings, "a list of codes or prefixes"),
    "per-file-ignores": (_table_of_string_lists, "a table of glob = [codes or prefixes]"),
    "output-format": (lambda value: isinstance(value, str), "a string"),
    "exclude": (_list_of_strings, "a list of globs"),
    "extend-exclude": (_list_of_strings, "a list of globs"),
    "force-exclude": (lambda value: isinstance(value, bool), "true or false"),
    "respect-gitignore": (lambda value: isinstance(value, bool), "true or false"),
    "error-on-warning": (lambda value: isinstance(value, bool), "true or false"),
    "budgets": (
        lambda value: isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()),
        "a table of model name = {params, macs, activations, batch}",
    ),
}
KEYS = tuple(_KEYS)


@record(frozen=True)
class Config:
    """One configuration file's settings (or the defaults, with `path` None)."""

    folder: str  # globs are relative to this folder
    path: str | None = None
    select: tuple[str, ...] | None = None  # None: every rule
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    output_format: str | None = None
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    force_exclude: bool | None = None
    respect_gitignore: bool | None = None
    error_on_warning: bool | None = None
    budgets: tuple[tuple[str, Budget], ...] = ()  # model name -> its budget

    def budget_for(self, model: str) -> Budget | None:
        return next((budget for name, budget in self.budgets if name == model), None)

    def excludes(self, path: str, below: str | None = None) -> bool:
        """Whether `exclude` or `extend-exclude` names this file or one of its folders. With
        `below` (a folder named on the command line), only the folders under it count: as in
        ruff, the folder you name is searched even if it is excluded."""
        relative = self._relative(path)
        if relative is None:
            return False
        skipped = self._relative(below) if below is not None else None
        patterns = (*self.exclude, *self.extend_exclude)
        return any(glob_matches(relative, g, skipped) for g in patterns)

    def ignored_for(self, path: str) -> tuple[str, ...]:
        """The codes and prefixes `per-file-ignores` turns off for this file."""
        relative = self._relative(path)
        if relative is None:
            return ()
        return tuple(
            code
            for glob, codes in self.per_file_ignores
            if glob_matches(relative, glob)
            for code in codes
        )

    def _relative(self, path: str) -> str | None:
        relative = os.path.relpath(os.path.abspath(path), self.folder)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return None
        return relative.replace(os.sep, "/")


def glob_matches(relative: str, pattern: str, skipped: str | None = None) -> bool:
    """`pattern` against a '/'-separated relative path: the path or one of its folders matches;
    a pattern without '/' matches a file or folder name at any depth; `*` crosses folders.
    `skipped`: a folder of the path (relative alike) that it and its own folders do not match
    for (the folder the search started in)."""
    pattern = pattern.strip().removeprefix("./").rstrip("/")
    parts = relative.split("/")
    first = 0
    if skipped not in (None, "."):
        skipped_parts = skipped.split("/")
        if parts[: len(skipped_parts)] == skipped_parts:
            first = len(skipped_parts)
    if "/" not in pattern:
        return any(fnmatch.fnmatchcase(part, pattern) for part in parts[first:])
    prefixes = ("/".join(parts[: index + 1]) for index in range(first, len(parts)))
    return any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)


# ---------------------------------------------------------------- reading files

_DOTTED_KEY = re.compile(r"(?:^|\.)[ \t]*archspec[ \t]*[\].]", re.M)
_PLAIN_KEY = re.compile(r"archspec[ \t]*=")


def _may_have_table(text: str) -> bool:
    """Whether a pyproject.toml may hold our table: `[tool.archspec...]`, a dotted
    `tool.archspec.x` / `archspec.x` key, or `archspec = ...` directly under `[tool]` (not the
    `archspec = "archspec.cli:main"` of `[project.scripts]`)."""
    if _DOTTED_KEY.search(text):
        return True
    header = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            header = stripped.replace(" ", "")
        elif header == "[tool]" and _PLAIN_KEY.match(stripped):
            return True
    return False


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def parse_config(path: str, text: str) -> Config | None:
    """A Config from the text of `path` (archspec.toml or pyproject.toml); None for a
    pyproject.toml without `[tool.archspec]`."""
    if os.path.basename(path) == "pyproject.toml" and not _may_have_table(text):
        return None  # no table of ours: skip parsing (and importing tomllib, ~6 ms)
    tomllib = _toml()
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    is_pyproject = os.path.basename(path) == "pyproject.toml"
    if is_pyproject:
        tool = document.get("tool", {})
        if not isinstance(tool, dict) or "archspec" not in tool:
            return None
        table, where = tool["archspec"], "[tool.archspec]"
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: `tool.archspec` must be a table")
    else:
        table, where = document, "the top level"
    return config_from_table(table, path, where, os.path.dirname(os.path.abspath(path)))


def config_from_table(table: dict, path: str, where: str, folder: str) -> Config:
    """A Config from an already parsed table; `path` and `where` name it in messages."""
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key '{key}' in {where}{did_you_mean(key, KEYS)}")
        is_valid, expected = _KEYS[key]
        if not is_valid(value):
            raise ConfigError(f"{path}: '{key}' must be {expected}, not {_describe(value)}")
    context = f"{path}: "
    output_format = table.get("output-format")
    if output_format is not None:
        from archspec.diagnostics.formats import OUTPUT_FORMATS, canonical_format

        if canonical_format(output_format) is None:
            raise ConfigError(
                f"{context}'output-format' must be one of {', '.join(OUTPUT_FORMATS)}, "
                f"not '{output_format}'{did_you_mean(output_format, OUTPUT_FORMATS)}"
            )
        output_format = canonical_format(output_format)
    per_file = table.get("per-file-ignores", {})
    return Config(
        folder=folder,
        path=path,
        select=_selectors(table["select"], context) if "select" in table else None,
        ignore=_selectors(table.get("ignore", []), context),
        extend_select=_selectors(table.get("extend-select", []), context),
        per_file_ignores=tuple(
            (glob, _selectors(codes, context)) for glob, codes in per_file.items()
        ),
        output_format=output_format,
        exclude=tuple(table.get("exclude", DEFAULT_EXCLUDE)),
        extend_exclude=tuple(table.get("extend-exclude", [])),
        force_exclude=table.get("force-exclude"),
        respect_gitignore=table.get("respect-gitignore"),
        error_on_warning=table.get("error-on-warning"),
        budgets=_budgets(table.get("budgets", {}), context, where),
    )


def parse_override(text: str) -> dict:
    """`--config KEY=VALUE` (a line of TOML, as in ruff: `--config "select = ['E']"`) as the
    Config fields it sets, validated as a configuration file's keys are."""
    tomllib = _toml()
    option = f"--config {text!r}"
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{option}: not a TOML `key = value` ({error}); strings need quotes: "
            "--config \"output-format = 'json'\""
        ) from None
    parsed = config_from_table(table, option, "--config", os.getcwd())
    return {_field_name(key): getattr(parsed, _field_name(key)) for key in table}


def _field_name(key: str) -> str:
    return key.replace("-", "_")


def _budgets(table: dict, context: str, where: str) -> tuple[tuple[str, Budget], ...]:
    """`[tool.archspec.budgets.<Model>]` tables as Budgets (limits as integers)."""
    prefix = "[tool.archspec.budgets" if where.startswith("[") else "[budgets"
    budgets = []
    for model, keys in table.items():
        place = f"{prefix}.{model}]"
        values = {}
        for key, value in keys.items():
            if key not in BUDGET_KEYS:
                raise ConfigError(
                    f"{context}unknown key '{key}' in {place}{did_you_mean(key, BUDGET_KEYS)}"
                )
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ConfigError(
                    f"{context}'{key}' in {place} must be a number or a string such as "
                    f'"30M", not {_describe(value)}'
                )
            try:
                values[key] = parse_budget_value(key, value)
            except BudgetError as error:
                raise ConfigError(f"{context}{place} {error}") from None
        budgets.append((model, Budget(**values, origin=f"{context.removesuffix(': ')} {place}")))
    return tuple(budgets)


def _describe(value) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if isinstance(value, list):
        return "a list with a non-string item" if value else "an empty list"
    if isinstance(value, dict):
        return "a table"
    return kinds.get(type(value), type(value).__name__)


_CONFIG_NAMES = ("archspec.toml", "pyproject.toml")


class ConfigFinder:
    """Finds and caches the configuration that applies in each folder.

    `config_file` (`--config PATH`) is used for every file instead of the nearest one (its globs
    stay relative to its own folder); `overrides` (`--config KEY=VALUE`, as parse_override
    gives them) replace those settings in whichever configuration applies."""

    def __init__(
        self,
        config_file: str | None = None,
        overrides: dict | None = None,
        extend_exclude: tuple[str, ...] = (),
    ) -> None:
        """`extend_exclude` (`--extend-exclude`) adds to each configuration's own."""
        self._by_folder: dict[str, Config | None] = {}
        self._overrides = overrides or {}
        self._extend_exclude = extend_exclude
        self._forced = _read_config_file(config_file) if config_file is not None else None

    def for_file(self, path: str) -> Config:
        return self.for_folder(os.path.dirname(os.path.abspath(path)))

    def for_folder(self, folder: str) -> Config:
        found = self._forced if self._forced is not None else self._nearest(folder)
        if self._overrides:
            found = records.replace(found, **self._overrides)
        if self._extend_exclude:
            extended = (*found.extend_exclude, *self._extend_exclude)
            found = records.replace(found, extend_exclude=extended)
        return found

    def _nearest(self, folder: str) -> Config:
        folder = os.path.abspath(folder)
        visited = []
        found: Config | None = None
        current = folder
        while True:
            if current in self._by_folder:
                found = self._by_folder[current]
                break
            visited.append(current)
            found = self._in_folder(current)
            if found is not None:
                break
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for seen in visited:
            self._by_folder[seen] = found
        return found if found is not None else Config(folder=os.getcwd())

    @staticmethod
    def _in_folder(folder: str) -> Config | None:
        for name in _CONFIG_NAMES:
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                continue
            config = parse_config(_shown(path), _read_text(path))
            if config is not None:
                return config
        return None


def _read_text(path: str) -> str:
    try:  # regular files only, opened without blocking (a pipe swapped in cannot hang us)
        return read_spec_file(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None


def _read_config_file(path: str) -> Config:
    """`--config PATH`: a pyproject.toml (its [tool.archspec]) or any other TOML file (its top
    level, as archspec.toml)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--config {path}: no such file (or give KEY=VALUE)")
    config = parse_config(_shown(path), _read_text(path))
    if config is None:
        raise ConfigError(f"--config {path}: the file has no [tool.archspec] table")
    return config


def _shown(path: str) -> str:
    """A configuration path as messages show it: relative when under the current folder."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


# ---------------------------------------------------------------- rule selection


def _selectors(values: Iterable[str], context: str = "") -> tuple[str, ...]:
    """Validated codes or prefixes; an unknown one is a ConfigError naming the closest."""
    selectors = []
    for value in values:
        selector = value.strip().upper()
        if not selector:
            continue
        if not any(code.startswith(selector) for code in CODES):
            prefixes = {code[:length] for code in CODES for length in (1, 2, 4)}
            raise ConfigError(
                f"{context}'{value}' is no rule code or prefix{did_you_mean(selector, prefixes)}"
            )
        selectors.append(selector)
    return tuple(selectors)


def split_selectors(values: Iterable[str] | None, option: str) -> tuple[str, ...] | None:
    """Command-line values (`--select E2,W001 --select W`) as validated selectors."""
    if values is None:
        return None
    return _selectors((part for value in values for part in value.split(",")), f"{option}: ")


def _expand(selectors: Iterable[str], opt_in: bool = False) -> set[str]:
    """The codes the selectors name. An opt-in rule (W008) is named only by its full code, unless
    `opt_in` (for ignore lists: ignoring more is always safe)."""
    return {
        code
        for code in CODES
        for s in selectors
        if code.startswith(s) and (opt_in or code == s or code not in OPT_IN_CODES)
    }


@record(frozen=True)
class Overrides:
    """What the command line says; None where it says nothing."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    error_on_warning: bool | None = None


@record(frozen=True)
class Settings:
    """The resolved rules for one checked file."""

    config: Config
    enabled: frozenset[str] = field(default_factory=lambda: frozenset(CODES) - OPT_IN_CODES)
    error_on_warning: bool = False

    def reports(self, diagnostic: Diagnostic) -> bool:
        code = diagnostic.code
        if code.startswith(ALWAYS_REPORTED_PREFIX):
            return True
        if code not in self.enabled:
            return False
        ignored = self.config.ignored_for(diagnostic.primary.span.source.path)
        return not any(code.startswith(selector) for selector in ignored)

    def fails(self, diagnostic: Diagnostic) -> bool:
        """Whether this finding makes the exit code 1."""
        return diagnostic.severity is Severity.ERROR or self.error_on_warning


def resolve(config: Config, overrides: Overrides) -> Settings:
    """The configuration's selection, then the command line's (its --select starts over)."""
    default = set(CODES) - OPT_IN_CODES
    enabled = _expand(config.select) if config.select is not None else default
    enabled |= _expand(config.extend_select)
    enabled -= _expand(config.ignore, opt_in=True)
    if overrides.select is not None:
        enabled = _expand(overrides.select)
    enabled |= _expand(overrides.extend_select)
    enabled -= _expand(overrides.ignore, opt_in=True)
    error_on_warning = overrides.error_on_warning
    if error_on_warning is None:
        error_on_warning = bool(config.error_on_warning)
    return Settings(config, frozenset(enabled), error_on_warning)
