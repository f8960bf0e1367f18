"""Text -> lark parse tree. The LALR parser is built once per process (lark caches it on disk)."""

from __future__ import annotations

import functools
import threading
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import ContextualLexer, UnlessCallback

from archspec import diagnostics as diag
from archspec._gc import gc_paused
from archspec.source import SourceFile

# Deeper expression nesting than this is refused with E002; pipelines (`a -> b -> c`) do not nest.
MAX_NESTING = 100

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "MODEL": "'model'",
    "BLOCK": "'block'",
    "ELSE": "'else'",
    "$END": "the end of the file",
}


def build_lark(*, plain_calls: bool = False, **options) -> Lark:
    """An LALR parser for the project's grammar (lark caches each variant on disk).

    `plain_calls` adds the fast path's lexer shortcut: a call whose arguments are only numbers
    and names (`Conv2d(8, 8, 3, padding=1)`, most of a spec) is one PLAIN_ARGS token instead of
    up to a dozen, which the LALR loop would otherwise shift one by one (half the parse time of
    a long chain). transform.FastAst.plain_call splits it with the same token rules, so the AST
    and spans are those of the full grammar (tests/test_parse_paths.py compares them)."""
    grammar = resources.files("archspec").joinpath("grammar/arch.lark").read_text("utf-8")
    if plain_calls:
        grammar += _PLAIN_CALLS
    return Lark(grammar, parser="lalr", maybe_placeholders=True, cache=True, **options)


# The arguments of a plain call, as one token: `(` [arg ("," arg)* [","]] `)`, where an arg is
# [NAME "="] (FLOAT | INT | NAME) with the grammar's own token patterns, and no reserved word (a
# reserved word, a string, a comment or anything else leaves the call to the full grammar).
_RESERVED = r"(?:model|block|input|return|if|else|for|in|from|import|and|or|not)\b"
_NAME = rf"(?!{_RESERVED})[^\W\d]\w*"
_FLOAT = r"(?:[0-9][0-9_]*)?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*\.?(?:[eE][-+]?[0-9]+)"
_INT = r"(?:0|[1-9][0-9_]*)(?![\w.])"
_NUMBER = f"{_FLOAT}|{_INT}"
_ARG = rf"(?:{_NAME}[ \t\f\r\n]*=[ \t\f\r\n]*)?(?:{_NUMBER}|{_NAME})"
_WS = r"[ \t\f\r\n]*"
PLAIN_ARGS_PATTERN = rf"\({_WS}(?:{_ARG}{_WS}(?:,{_WS}{_ARG}{_WS})*(?:,{_WS})?)?\)"
_PLAIN_CALLS = f"""
%extend call: NAME PLAIN_ARGS -> plain_call
PLAIN_ARGS.2: /{PLAIN_ARGS_PATTERN}/
"""


@functools.lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The reference parser: a parse tree with positions (error reporting, label templates)."""
    return build_lark(propagate_positions=True, start=["start", "test"])


@functools.lru_cache(maxsize=1)
def get_fast_parser() -> Lark:
    """The same grammar, building the AST as it parses (transform.FastAst): no parse tree."""
    from archspec.transform import FastAst

    return build_lark(
        plain_calls=True,
        keep_all_tokens=True,
        start="start",
        transformer=_FAST_AST.setdefault("callbacks", FastAst()),
        _plugins={"ContextualLexer": OffsetLexer},
    )


class OffsetLexer(ContextualLexer):
    """Lark's contextual lexer for the fast path, less what that path never reads.

    Tokens carry offsets only: no line and column bookkeeping, which cost more than the matching
    (the fast path re-parses with the reference parser for any diagnostic, so no token's line or
    column is ever read), in one loop instead of a method call per token. Text no scanner
    matches goes to Lark's own lexer, to raise Lark's error. tests/test_parse_paths.py compares
    the tokens with Lark's.

    Short texts are scanned root first: the root scanner (every terminal) is tried, and its token
    stands whenever the parser's state accepts that terminal, because a state's scanner holds a
    subset of the root's alternatives in the same order and so stops at the same one; only
    otherwise (PLAIN_ARGS where a tuple starts, a keyword where a name goes) is the state's own
    scanner asked. That compiles one regular expression instead of one per state visited (some
    50 for a resnet50 spec, 10 ms, more than parsing it). Long texts use the states' scanners
    throughout: their small alternations match faster than the root's (15 % of a long parse).
    """

    ROOT_FIRST_CHARS = 32_000

    def lex(self, lexer_state, parser_state):
        text = lexer_state.text
        source, end = text.text, text.end
        position = lexer_state.line_ctr.char_pos
        scanners = self.__dict__.setdefault("_scanners", {})
        root = self._scanner(None) if end - position <= self.ROOT_FIRST_CHARS else None
        new_token = Token._future_new
        while position < end:
            state = parser_state.position
            scanner = root or scanners.get(state) or self._scanner(state)
            patterns, ignored, keywords, callbacks = scanner
            for pattern in patterns:
                match = pattern.match(source, position, end)
                if match is not None:
                    break
            else:
                match = None
            if match is not None:
                kind = match.lastgroup
                if kind in ignored:  # whitespace or a comment, which every state accepts
                    position = match.end()
                    continue
                value = match.group()
                typed = keywords[kind].get(value, kind) if kind in keywords else kind
                callback = callbacks.get(kind)
                stop = match.end()
                if root is not None and typed not in self._accepted(state):
                    found = _match(self._scanner(state), source, position, end)
                    if found is not None and found[0] is None:
                        position = found[2]
                        continue
                    match = found
                    if found is not None:
                        typed, value, stop, callback = found
            if match is None:
                lexer_state.line_ctr.char_pos = position
                yield from super().lex(lexer_state, parser_state)
                return
            token = new_token(typed, value, position, None, None, None, None, stop)
            if callback is not None:
                token = callback(token)
            position = stop
            lexer_state.line_ctr.char_pos = stop
            lexer_state.last_token = token
            yield token

    def _scanner(self, state) -> tuple:
        """The scanner of a parser state (None: the root's), built once."""
        scanners = self.__dict__.setdefault("_scanners", {})
        if state not in scanners:
            scanners[state] = _scanner(self.root_lexer if state is None else self.lexers[state])
        return scanners[state]

    def _accepted(self, state) -> frozenset[str]:
        accepted = self.__dict__.setdefault("_accepted_by_state", {})
        if state not in accepted:
            accepted[state] = frozenset(t.name for t in self.lexers[state].terminals)
        return accepted[state]


def _match(scanner: tuple, source: str, position: int, end: int) -> tuple | None:
    """(type, text, end, callback) of the token at `position`; type None for ignored text."""
    patterns, ignored, keywords, callbacks = scanner
    for pattern in patterns:
        match = pattern.match(source, position, end)
        if match is not None:
            break
    else:
        return None
    kind = match.lastgroup
    if kind in ignored:
        return (None, None, match.end(), None)
    value = match.group()
    typed = keywords[kind].get(value, kind) if kind in keywords else kind
    return (typed, value, match.end(), callbacks.get(kind))


def _scanner(lexer) -> tuple:
    """A state's lexer as (patterns, ignored types, keyword tables, other callbacks). Lark
    re-types a NAME that spells a keyword by matching it against the keywords' patterns; where
    those are plain strings (all of ours), a dictionary says the same at a fraction of the cost."""
    patterns = lexer.scanner._mres  # builds lexer.callback too
    keywords: dict[str, dict[str, str]] = {}
    callbacks = {}
    for kind, callback in lexer.callback.items():
        if isinstance(callback, UnlessCallback) and all(
            t.pattern.type == "str" and not t.pattern.flags for t in callback.scanner.terminals
        ):
            keywords[kind] = {t.pattern.value: t.name for t in callback.scanner.terminals}
        else:
            callbacks[kind] = callback
    return patterns, lexer.ignore_types, keywords, callbacks


_FAST_AST: dict = {}
_FAST_LOCK = threading.Lock()


@gc_paused
def parse_module(source: SourceFile):
    """Parse a whole file straight to its ast.Module: what `to_ast(source, parse(source))` gives,
    spans included, in a fraction of the time and memory. Bad syntax, a diagnostic or too deep
    nesting takes the slow path, so the diagnostic is exactly the one parse() + to_ast() give."""
    from archspec.transform import to_ast

    parser = get_fast_parser()
    with _FAST_LOCK:
        callbacks = _FAST_AST["callbacks"]
        callbacks.source = source
        callbacks.labels = []
        try:
            module, height, _start, _end = parser.parse(source.text)
        except (UnexpectedInput, diag.ArchError):
            module, height = None, MAX_NESTING + 1
        finally:
            callbacks.source = None
            callbacks.labels = []
    if height > MAX_NESTING:
        return to_ast(source, parse(source))
    return module


@functools.lru_cache(maxsize=1)
def _terminal_descriptions() -> dict[str, str]:
    words = dict(_TERMINAL_WORDS)
    for terminal in get_parser().terminals:
        if terminal.name not in words and terminal.pattern.type == "str":
            words[terminal.name] = f"'{terminal.pattern.value}'"
    return words


def describe_terminal(name: str) -> str:
    return _terminal_descriptions().get(name, name.lower())


def parse(source: SourceFile) -> Tree:
    """Parse a whole file; raise ArchError with a plain-words diagnostic on bad syntax."""
    try:
        tree = get_parser().parse(source.text, start="start")
    except UnexpectedInput as error:
        raise diag.ArchError(_syntax_diagnostic(source, error)) from None
    _check_nesting(source, tree)
    return tree


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


def _expected_words(names) -> str:
    words = sorted({describe_terminal(name) for name in names if not name.startswith("__ANON")})
    if not words:
        return "something else"
    if len(words) > 8:
        return ", ".join(words[:8]) + " or ..."
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _check_nesting(source: SourceFile, tree: Tree) -> None:
    """Iteratively measure nesting (pipelines flatten, so they do not count)."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            start = getattr(meta, "start_pos", 0)
            end = getattr(meta, "end_pos", start)
            raise diag.ArchError(
                diag.make(
                    "E002",
                    f"expressions nest more than {MAX_NESTING} levels deep",
                    source.span(start, end),
                    "too deep",
                    help="split the expression into named steps",
                )
            )
        step = 0 if node.data == "pipe" else 1
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + step))


def parse_expression(source: SourceFile, start: int, end: int):
    """Parse source.text[start:end] as one expression, with spans into the whole file."""
    from archspec.transform import to_ast

    # Spaces are insignificant, so padding keeps every offset equal to the file's own.
    padded = " " * start + source.text[start:end]
    try:
        tree = get_parser().parse(padded, start="test")
    except UnexpectedInput as error:
        raise diag.ArchError(_syntax_diagnostic(source, error, end)) from None
    _check_nesting(source, tree)
    return to_ast(source, tree)
