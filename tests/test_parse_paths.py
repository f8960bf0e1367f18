"""The fast parse path (AST built while parsing) gives exactly the AST and spans of the reference
path (parse tree, then transform), on every .arch file in the repository and on generated text."""

from __future__ import annotations

import dataclasses
import functools

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Token
from lark.exceptions import UnexpectedInput

from archspec import diagnostics as diag
from archspec.elaborate import _static_labels
from archspec.parser import OffsetLexer, build_lark, parse, parse_module
from archspec.source import SourceFile, Span
from archspec.transform import to_ast

FILES = sorted(p for p in ROOT.rglob("*.arch") if ".venv" not in p.parts and "build" not in p.parts)


def _shape(node) -> list:
    """Every node's type and span, depth-first: equality of this means equal spans everywhere."""
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif dataclasses.is_dataclass(item) and not isinstance(item, Span):
            span = getattr(item, "span", None)
            out.append(
                (type(item).__name__, span.start if span else None, span.end if span else None)
            )
            stack.extend(reversed([getattr(item, f.name) for f in dataclasses.fields(item)]))
    return out


def _reference(source: SourceFile):
    try:
        return to_ast(source, parse(source)), None
    except diag.ArchError as error:
        return None, error.diagnostic


def _fast(source: SourceFile):
    try:
        return parse_module(source), None
    except diag.ArchError as error:
        return None, error.diagnostic


def _same(text: str) -> None:
    source = SourceFile("x.arch", text)
    reference, reference_error = _reference(source)
    fast, fast_error = _fast(source)
    if reference_error is not None:
        assert fast_error is not None and fast_error.message == reference_error.message
        assert fast_error.primary.span.start == reference_error.primary.span.start
        return
    assert fast == reference
    assert _shape(fast) == _shape(reference)
    for definition in fast.definitions:  # the labels the parser collected, as a walk finds them
        assert definition.labels == frozenset(_static_labels(definition.body))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_spec_parses_identically(path):
    _same(path.read_text(encoding="utf-8", errors="replace"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "(",
                ")",
                "[",
                "]",
                ",",
                "->",
                "x",
                "Conv2d",
                "(1, 2)",
                "?",
                "1",
                "2.5",
                "+",
                "*",
                "-",
                "if",
                "else",
                "for",
                "in",
                "range(3)",
                "'s'",
                '"t{i}"',
                ":",
                "=",
                "not",
                "and",
                "\n",
                " ",
            ]
        ),  # fmt: skip
        max_size=30,
    )
)
def test_generated_expressions_parse_identically(tokens):
    body = " ".join(tokens)
    _same(f"model M {{\n    input x: [N, 1, 4, 4]\n    y = {body}\n    return y\n}}\n")


# Calls whose arguments are plain numbers and names are one PLAIN_ARGS token on the fast path
# (parser.build_lark); everything else in parentheses must fall back to the full grammar.
PLAIN_CALL_CASES = [
    "Conv2d(8, 8, 3, padding=1)",
    "Conv2d( 8 ,8,\n 3 , padding = 1 , )",
    "f()",
    "f( )",
    "Linear(in_features=1_024, out_features=10)",
    "Dropout(0.5)",
    "Dropout(.5)",
    "Dropout(5e-1)",
    "Dropout(1.5e3)",
    "LeakyReLU(negative_slope=1e-2, inplace=True)",
    "Conv2d(c, 2 * c, 3)",  # an expression: not plain
    "view(N, -1)",  # a unary minus: not plain
    "pad('x')",  # a string: not plain
    "f(a, # a comment\n b)",  # a comment: not plain
    "f(a, b) [0]",
    "f(in)",  # a reserved word: the full grammar's error
    "f(input2, import_, notes)",  # names that start like reserved words
    "f(0x10)",
    "f(08)",
    "f(1.)",
    "f(1, , 2)",
    "f(,)",
    "f(" + "9" * 5000 + ")",  # more digits than int() takes
    "f(1e999)",  # a float too large
    "f(x=1, x=2)",
    "if (1, 2)",  # a reserved word as the called name: the full grammar's error
    "not(1)",
]


@pytest.mark.parametrize("call", PLAIN_CALL_CASES)
def test_plain_calls_parse_identically(call):
    _same(f"model M {{\n    input x: [N, 3, 8, 8]\n    h = x -> {call}\n    return h\n}}\n")


def test_labels_in_parameter_defaults_are_not_the_bodys():
    text = (
        "block B(extra=Sequential(a: ReLU()), n=1) {\n"
        "    input t\n"
        "    act: ReLU()\n"
        "    return t -> b: ReLU() -> Sequential(c: ReLU(), 'd': ReLU(), 'e{n}': ReLU()) -> act\n"
        "}\n"
    )
    (definition,) = parse_module(SourceFile("x.arch", text)).definitions
    assert definition.labels == {"act", "b", "c", "d"}


@functools.lru_cache(maxsize=2)
def _token_parser(offsets_only: bool):
    plugins = {"ContextualLexer": OffsetLexer} if offsets_only else {}
    return build_lark(plain_calls=True, keep_all_tokens=True, start="start", _plugins=plugins)


def _tokens(text: str, offsets_only: bool):
    try:
        tree = _token_parser(offsets_only).parse(text)
    except UnexpectedInput as error:
        return type(error).__name__
    tokens = tree.scan_values(lambda value: isinstance(value, Token))
    return [(t.type, str(t), t.start_pos, t.end_pos) for t in tokens]


# OffsetLexer scans short texts root scanner first, long ones with each state's scanner.
SCAN_MODES = {"root first": 10**9, "state scanners": 0}


@pytest.fixture(params=SCAN_MODES, ids=list(SCAN_MODES))
def scan_mode(request, monkeypatch):
    monkeypatch.setattr(OffsetLexer, "ROOT_FIRST_CHARS", SCAN_MODES[request.param])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_offset_lexer_gives_larks_tokens(path, scan_mode):
    """parser.OffsetLexer: the tokens (types, text, offsets) of Lark's own contextual lexer."""
    text = path.read_text(encoding="utf-8", errors="replace")
    assert _tokens(text, offsets_only=True) == _tokens(text, offsets_only=False)


@pytest.mark.parametrize(
    "text",
    [
        "model M { input x: [N, 1] \x01 }",  # a character no terminal matches: Lark's error
        "model M { input x: [N, 1] return x -> }",  # an unexpected token
        "model model { }",  # a keyword where a name goes
        "model M { input inputs: [N, 1] return inputs }",  # a name that starts like a keyword
        "model M { input x: [N, 1] y = (1, 2) return x -> f(1, 2) }",  # PLAIN_ARGS, not a tuple
        "model M { input x: [N, 1] for i in range(2) { x = x -> f(i) } return x }",
        "model M { input x: [N, 1] y = x if in else x }",  # a keyword the state does not take
        "model M { input x: [N, 1] # comment\n return x }",
        "",
    ],
)
def test_offset_lexer_agrees_on_errors_and_keywords(text, scan_mode):
    assert _tokens(text, offsets_only=True) == _tokens(text, offsets_only=False)
