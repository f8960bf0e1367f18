"""Text -> AST: the LALR parser over the project's grammar, building the AST as it parses
(builder.AstBuilder), and the syntax diagnostics (E001 in plain words, E002, E110).

The parser is built once per process, and Lark caches its tables on disk."""

from __future__ import annotations

import functools
import threading
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from archspec.core import diagnostic as diag
from archspec.core.memory import gc_paused
from archspec.core.source import SourceFile
from archspec.syntax import ast
from archspec.syntax.builder import MAX_NESTING, AstBuilder
from archspec.syntax.lexer import PIPE_HEAD_NAME, PIPE_HEAD_PATTERN, PLAIN_ARGS_PATTERN, OffsetLexer

__all__ = ["MAX_NESTING", "build_lark", "get_parser", "parse_expression", "parse_module"]

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "MODEL": "'model'",
    "BLOCK": "'block'",
    "DEF": "'def'",
    "ELSE": "'else'",
    "DTYPE": "a dtype",
    "$END": "the end of the file",
}


def build_lark(*, plain_calls: bool = False, **options) -> Lark:
    """An LALR parser for the project's grammar (lark caches each variant on disk).

    `plain_calls` adds two lexer shortcuts: a call whose arguments are only numbers and names
    (`Conv2d(8, 8, 3, padding=1)`, most of a spec) is one PLAIN_ARGS token instead of up to a
    dozen, which the LALR loop would otherwise shift one by one (half the parse time of a long
    chain), and a pipeline that starts with a name (`h -> ...`) starts with one PIPE_HEAD token.
    AstBuilder.plain_call and pipe_from_name split them with the same token patterns, so the AST
    and spans are those of the full grammar (tests/test_parse_paths.py compares them)."""
    grammar = resources.files("archspec.syntax").joinpath("grammar/arch.lark").read_text("utf-8")
    if plain_calls:
        grammar += _PLAIN_CALLS
    return Lark(grammar, parser="lalr", maybe_placeholders=True, cache=True, **options)


_PLAIN_CALLS = f"""
%extend call: NAME PLAIN_ARGS -> plain_call
%extend pipe: PIPE_HEAD stage -> pipe_from_name
PLAIN_ARGS.2: /{PLAIN_ARGS_PATTERN}/
PIPE_HEAD.2: /{PIPE_HEAD_PATTERN}/
"""


@functools.lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The parser: the grammar with the plain-call shortcut, its tokens carrying offsets only,
    building the AST as it reduces. Starts: "start" (a file), "test" (one expression)."""
    return build_lark(
        plain_calls=True,
        keep_all_tokens=True,
        start=["start", "test"],
        transformer=_BUILDER,
        _plugins={"ContextualLexer": OffsetLexer},
    )


# One builder for every parse; the lock is re-entrant because a label template's placeholder is
# parsed while the builder is inside the parse of its file.
_LOCK = threading.RLock()


@gc_paused
def parse_module(source: SourceFile) -> ast.Module:
    """Parse a whole file; raise ArchError with a plain-words diagnostic on bad syntax."""
    return _parse(source, source.text, "start")


def parse_expression(source: SourceFile, start: int, end: int) -> ast.Expr:
    """Parse source.text[start:end] as one expression, with spans into the whole file."""
    # Spaces are insignificant, so padding keeps every offset equal to the file's own.
    padded = " " * start + source.text[start:end]
    return _parse(source, padded, "test", end)


_BUILDER = AstBuilder(parse_expression)


def _parse(source: SourceFile, text: str, start: str, end: int | None = None, using=None):
    """`end`: where the parsed text ends, when it is a part of the file (a placeholder).
    `using`: another Lark instance driving the same builder (the tests' full-grammar parser)."""
    with _LOCK:
        saved = _BUILDER.begin(source)
        try:
            node = (using or get_parser()).parse(text, start=start)[0]
        except UnexpectedInput as error:
            _BUILDER.end(saved)
            raise diag.ArchError(_syntax_diagnostic(source, error, end)) from None
        except BaseException:
            _BUILDER.end(saved)
            raise
        problem = _BUILDER.end(saved)
    if problem is not None:
        raise diag.ArchError(problem)
    return node


@functools.lru_cache(maxsize=1)
def _terminal_descriptions() -> dict[str, str]:
    words = dict(_TERMINAL_WORDS)
    for terminal in get_parser().terminals:
        if terminal.name not in words and terminal.pattern.type == "str":
            words[terminal.name] = f"'{terminal.pattern.value}'"
    return words


def describe_terminal(name: str) -> str:
    return _terminal_descriptions().get(name, name.lower())


def _syntax_diagnostic(
    source: SourceFile, error: UnexpectedInput, end: int | None = None
) -> diag.Diagnostic:
    """`end`: where the parsed text ends, when it is a part of the file (a name template's
    placeholder) rather than the whole file."""
    if isinstance(error, UnexpectedCharacters):
        start = error.pos_in_stream
        char = source.text[start] if start < len(source.text) else ""
        return diag.make(
            "E001",
            f"unexpected character {char!r}",
            source.span(start, start + 1),
            "not part of the language",
            help="names are letters, digits and _; comments start with #",
        )
    if isinstance(error, UnexpectedEOF) or error.token.type == "$END":
        expected = _expected_words(error.expected)
        if end is not None:
            return diag.make(
                "E001",
                f"the placeholder ends early: expected {expected}",
                source.span(end, end),
                "ends here",
                help='a placeholder holds an expression, e.g. "denselayer{i + 1}"',
            )
        end = len(source.text)
        return diag.make(
            "E001",
            f"the file ends early: expected {expected}",
            source.span(end, end),
            "file ends here",
            help="a '(', '[' or '{' is probably missing its closing partner",
        )
    assert isinstance(error, UnexpectedToken)
    token: Token = error.token
    if token.type == "PLAIN_ARGS":  # a lexer shortcut: what is unexpected is its '('
        token = Token("LPAR", "(", token.start_pos, end_pos=token.start_pos + 1)
    elif token.type == "PIPE_HEAD":  # a lexer shortcut: what is unexpected is its name
        name = PIPE_HEAD_NAME.match(token.value).group()
        token = Token("NAME", name, token.start_pos, end_pos=token.start_pos + len(name))
    expected_names = set(error.expected)
    found = f"'{token.value}'" if token.type != "NAME" else f"name '{token.value}'"
    help_text = None
    expected = _expected_words(error.expected)
    opener = _innermost_open_bracket(source.text, token.start_pos)
    if opener is not None and "COMMA" in expected_names:
        # Inside brackets the useful alternatives are "next item" or "close the bracket".
        expected = f"',' or '{_CLOSERS[opener[0]]}'"
        line, column = source.line_col(opener[1])
        help_text = f"is a ',' missing before it, or the '{opener[0]}' at {line}:{column} unclosed?"
        if token.type in {"NAME", "INT", "FLOAT", "STRING"}:
            help_text = "is a ',' missing before it?"
    elif "EQUAL" in expected_names and token.type == "COLON":
        help_text = "keyword arguments use '=', layer names use ':' before a layer call"
    secondary = []
    if opener is not None and "COMMA" in expected_names:
        secondary.append((source.span(opener[1], opener[1] + 1), "opened here"))
    return diag.make(
        "E001",
        f"expected {expected}, found {found}",
        source.span(token.start_pos, token.end_pos or token.start_pos + len(token.value)),
        "unexpected here",
        secondary=secondary,
        help=help_text,
    )


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _innermost_open_bracket(text: str, end: int) -> tuple[str, int] | None:
    """The innermost '(' or '[' still open before `end` (strings and comments skipped)."""
    stack: list[tuple[str, int]] = []
    position = 0
    while position < end:
        char = text[position]
        if char == "#":
            newline = text.find("\n", position)
            position = end if newline < 0 else newline
            continue
        if char in "'\"":
            close = text.find(char, position + 1)
            position = end if close < 0 else close + 1
            continue
        if char in _CLOSERS:
            stack.append((char, position))
        elif char in ")]}" and stack:
            stack.pop()
        position += 1
    return stack[-1] if stack and stack[-1][0] != "{" else None


_SHORTCUTS = frozenset({"PLAIN_ARGS", "PIPE_HEAD"})


def _expected_words(names) -> str:
    # The lexer shortcuts are expected only where '(' (PLAIN_ARGS) or a name (PIPE_HEAD) is too.
    shown = [n for n in names if not n.startswith("__ANON") and n not in _SHORTCUTS]
    words = sorted({describe_terminal(name) for name in shown})
    if not words:
        return "something else"
    if len(words) > 8:
        return ", ".join(words[:8]) + " or ..."
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
