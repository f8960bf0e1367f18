"""The parser: one AST builder, run by the LALR parser as it reduces.

Its lexer shortcut (a call with plain arguments is one PLAIN_ARGS token) and its offsets-only
lexer must not change anything: the same builder driven by the full grammar with Lark's own lexer
gives the same AST, spans, labels and diagnostics, on every .arch file in the repository and on
generated text. Syntax errors are pinned by tests/golden/syntax/errors.jsonl, which the parse-tree
builder this one replaced produced."""

from __future__ import annotations

import functools
import json

import pytest
from conftest import GOLDEN, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Token
from lark.exceptions import UnexpectedInput

from archspec.core import diagnostic as diag
from archspec.core.source import SourceFile
from archspec.syntax import ast, parser
from archspec.syntax.lexer import OffsetLexer
from archspec.syntax.parser import MAX_NESTING, build_lark, parse_module

FILES = sorted(p for p in ROOT.rglob("*.arch") if ".venv" not in p.parts and "build" not in p.parts)


def _shape(node) -> list:
    """Every node's type and span, depth-first: equality of this means equal spans everywhere."""
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif ast.is_node(item):
            span = getattr(item, "span", None)
            out.append(
                (type(item).__name__, span.start if span else None, span.end if span else None)
            )
            stack.extend(reversed([getattr(item, name) for name in ast.fields(item)]))
    return out


def _walked_labels(body) -> set[str]:
    """Every plain layer name written in a body, found by walking it (the builder collects them
    while parsing)."""
    labels: set[str] = set()
    stack: list = list(body)
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, ast.Label):
            if len(item.parts) == 1 and isinstance(item.parts[0], str):
                labels.add(item.parts[0])
        elif ast.is_node(item):
            if isinstance(item, (ast.Declare, ast.State)):  # a `param`'s name is an attribute too
                labels.add(item.name.id)
            stack.extend(getattr(item, name) for name in ast.fields(item) if name != "span")
    return labels


@functools.lru_cache(maxsize=1)
def _full_grammar():
    """The same builder under the grammar without the PLAIN_ARGS shortcut and Lark's own lexer."""
    return build_lark(keep_all_tokens=True, start=["start", "test"], transformer=parser._BUILDER)


def _outcome(source: SourceFile, using=None):
    try:
        return parser._parse(source, source.text, "start", using=using), None
    except diag.ArchError as error:
        return None, error.diagnostic


def _same(text: str) -> None:
    source = SourceFile("x.arch", text)
    full, full_error = _outcome(source, _full_grammar())
    fast, fast_error = _outcome(source)
    if full_error is not None:
        assert fast_error is not None, full_error.message
        assert (fast_error.code, fast_error.message) == (full_error.code, full_error.message)
        assert fast_error.primary.span.start == full_error.primary.span.start
        assert fast_error.primary.span.end == full_error.primary.span.end
        return
    assert fast_error is None, fast_error.message
    assert fast == full
    assert _shape(fast) == _shape(full)
    for definition in fast.definitions:  # the labels the builder collected, as a walk finds them
        assert definition.labels == frozenset(_walked_labels(definition.body))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_spec_parses_identically(path):
    _same(path.read_text(encoding="utf-8", errors="replace"))


SYNTAX_ERRORS = [
    json.loads(line)
    for line in (GOLDEN / "syntax" / "errors.jsonl").read_text(encoding="utf-8").splitlines()
]


@pytest.mark.parametrize("case", SYNTAX_ERRORS, ids=lambda c: f"{c['code']}:{c['message'][:40]}")
def test_syntax_errors_keep_their_messages_and_positions(case):
    with pytest.raises(diag.ArchError) as raised:
        parse_module(SourceFile("x.arch", case["text"]))
    found = raised.value.diagnostic
    assert (found.code, found.message, found.help) == (case["code"], case["message"], case["help"])
    assert (found.primary.span.start, found.primary.span.end) == (case["start"], case["end"])
    _same(case["text"])


@pytest.mark.parametrize(
    "expression, culprit",
    [
        ("[" * 150 + "1" + "]" * 150, "[" * (MAX_NESTING + 1) + "1" + "]" * (MAX_NESTING + 1)),
        ("-" * 150 + "1", "-" * (MAX_NESTING + 1) + "1"),
        ("max(" * 150 + "1" + ")" * 150, None),
    ],
)
def test_too_deep_nesting_points_at_the_first_expression_beyond_the_limit(expression, culprit):
    text = f"model M {{\n    input x: [N, 4]\n    y = {expression}\n    return y\n}}\n"
    with pytest.raises(diag.ArchError) as raised:
        parse_module(SourceFile("x.arch", text))
    found = raised.value.diagnostic
    assert found.code == "E002" and found.primary.span.line == 3
    if culprit is not None:  # the innermost expression that nests more than MAX_NESTING deep
        assert found.primary.span.text == culprit


def test_a_syntax_error_anywhere_comes_before_deep_nesting_and_bad_names():
    deep = "[" * 150 + "1" + "]" * 150
    text = f"model M {{\n    input x: [N, 4]\n    in = {deep}\n    y = ,\n    return y\n}}\n"
    with pytest.raises(diag.ArchError) as raised:
        parse_module(SourceFile("x.arch", text))
    assert raised.value.diagnostic.code == "E001" and raised.value.diagnostic.primary.span.line == 4
    with pytest.raises(diag.ArchError) as raised:  # without it, the nesting; then the name
        parse_module(SourceFile("x.arch", text.replace("y = ,", "y = 1")))
    assert raised.value.diagnostic.code == "E002"
    with pytest.raises(diag.ArchError) as raised:
        parse_module(SourceFile("x.arch", text.replace("y = ,", "y = 1").replace(deep, "1")))
    assert "'in' is a reserved word" in raised.value.diagnostic.message


def test_a_placeholder_is_parsed_with_spans_into_its_file():
    text = (
        'model M {\n    input x: [N, 4]\n    y = x -> "fc{1 + 2}": Linear(4, 4)\n    return y\n}\n'
    )
    (definition,) = parse_module(SourceFile("x.arch", text)).definitions
    label = definition.body[1].value.stages[0].label
    (prefix, placeholder) = label.parts
    assert prefix == "fc" and isinstance(placeholder, ast.BinOp)
    assert placeholder.span.text == "1 + 2"


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


# Calls whose arguments are plain numbers and names are one PLAIN_ARGS token (parser.build_lark);
# everything else in parentheses must go to the full grammar.
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
