"""The lexer of the parse path, and the token patterns the grammar and the AST builder share.

`OffsetLexer` is Lark's contextual lexer less what archspec never reads: tokens carry offsets only.
`PLAIN_ARGS_PATTERN` is the lexer shortcut that makes a call with plain arguments one token (see
parser.build_lark); the builder splits it with the same patterns, so the AST is the full grammar's.
"""

from __future__ import annotations

import re

from lark import Token
from lark.lexer import ContextualLexer, UnlessCallback

# Words of the language (docs/language.md): the lexer is contextual, so without a check `in = x`
# or `model = x` would be taken as names where no keyword fits.
_WORDS = (
    "model block def input return if else for in from import and or not param buffer extern tie"
).split()
RESERVED = frozenset(_WORDS)
# usable in expressions, never bound; `training` is whether the module runs in training mode
CONSTANT_NAMES = frozenset({"True", "False", "None", "training"})

# The arguments of a plain call, as one token: `(` [arg ("," arg)* [","]] `)`, where an arg is
# [NAME "="] (FLOAT | INT | NAME) with the grammar's own token patterns, and no reserved word (a
# reserved word, a string, a comment or anything else leaves the call to the full grammar).
_RESERVED = rf"(?:{'|'.join(_WORDS)})\b"
NAME_PATTERN = rf"(?!{_RESERVED})[^\W\d]\w*"
FLOAT_PATTERN = (
    r"(?:[0-9][0-9_]*)?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*\.?(?:[eE][-+]?[0-9]+)"
)
INT_PATTERN = r"(?:0|[1-9][0-9_]*)(?![\w.])"
_ARG = (
    rf"(?:{NAME_PATTERN}[ \t\f\r\n]*=[ \t\f\r\n]*)?(?:{FLOAT_PATTERN}|{INT_PATTERN}|{NAME_PATTERN})"
)
_WS = r"[ \t\f\r\n]*"
PLAIN_ARGS_PATTERN = rf"\({_WS}(?:{_ARG}{_WS}(?:,{_WS}{_ARG}{_WS})*(?:,{_WS})?)?\)"

# A name and the arrow after it, `h ->`, as one token where a pipeline starts: the parser shifts
# it once instead of shifting the name, reducing it through the nine expression levels between
# `atom` and `pipe`, and shifting the arrow (a third of the steps of a typical line).
PIPE_HEAD_PATTERN = rf"{NAME_PATTERN}[ \t\f\r\n]*->"
PIPE_HEAD_NAME = re.compile(r"[^\W\d]\w*")

# One argument inside a PLAIN_ARGS token, with its parts named.
PLAIN_ARG = re.compile(
    rf"(?:(?P<keyword>{NAME_PATTERN})[ \t\f\r\n]*=[ \t\f\r\n]*)?"
    rf"(?:(?P<float>{FLOAT_PATTERN})|(?P<int>{INT_PATTERN})|(?P<name>{NAME_PATTERN}))"
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
            for pattern in patterns:  # _match, inlined: this loop runs once per token
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
