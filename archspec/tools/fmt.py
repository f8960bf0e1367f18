"""`archspec fmt`: one canonical layout for .arch files.

The formatter works on a concrete parse tree (the grammar of archspec/syntax/grammar/arch.lark,
parsed with every token kept, so parentheses and commas are still there) plus the file's comments,
found in the gaps between tokens. Every comment is attached to a token: a comment after code on the
same line *trails* the token before it and stays at the end of that token's line; a comment on its
own line *leads* the token after it and stays on its own line before it. The layout is chosen from
the tree alone, so formatting is idempotent, and the result is re-parsed and compared with the input
(same AST, same comments) before anything is written.

The style (docs/language.md, "Formatting"):

- 4-space indentation, `{` on the header line, `} else {`, one statement per line;
- blank lines between statements kept (at most one), none after `{` or before `}`; exactly one
  blank line before and after each `model` / `block`;
- spaces around binary operators, `->`, and `=` in statements; none in keyword arguments and
  defaults (`kernel_size=3`); `x: [N, 1, 28, 28]`, `conv1: Conv2d(...)`;
- strings in double quotes unless they contain a double quote or a backslash; numbers as written;
  parentheses as written; trailing commas dropped, except in one-element tuples;
- lines of at most 100 columns where the code allows it. A pipeline stays on one line if it fits;
  otherwise every `->` starts a line, aligned under the first `->` (which stays on the first
  line), or, when the first stage does not fit there, indented 4 under the statement. A stage or
  other bracketed list that still does not fit is split: call arguments first fill lines aligned
  after the `(` when they are all plain values, else every item goes on its own line, indented 4,
  with a trailing comma (except a lone `*[...]` argument), and the bracket closes on its own line;
- a list written with a trailing comma stays one item per line (the "magic trailing comma");
- a trailing comment keeps its column when it fits, else it sits two spaces after the code.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

from lark import Lark, Token, Tree

from archspec.core import diagnostic as diag
from archspec.core.source import SourceFile
from archspec.syntax import ast
from archspec.syntax.parser import build_lark, parse_module

WIDTH = 100
INDENT = 4

_BRACKETS = {"call", "list", "tuple", "shape", "params", "dict", "extern_inputs", "extern_args"}
_FILLABLE = {"call", "params"}
_COMMENT = re.compile(r"#[^\n]*")


class FormatError(Exception):
    """The formatted text would not mean the same as the input (a formatter bug): nothing is
    written."""


@functools.lru_cache(maxsize=1)
def _cst_parser() -> Lark:
    """The grammar as a concrete tree: every token kept (brackets, commas, keywords) with its
    position, which the layout is chosen from. (The checker's parser builds an AST instead.)"""
    return build_lark(propagate_positions=True, keep_all_tokens=True, start="start")


@dataclass
class Comment:
    text: str
    column: int  # 0-based column in the line it was on
    code_end: int  # where the code before it ended on that line (trailing comments)
    blank_before: bool  # a blank line separates it from what came before


# ---------------------------------------------------------------- public API


def format_text(text: str, path: str = "<string>") -> str:
    """The canonical layout of spec text (LF line ends, no byte order mark: format_file keeps a
    file's own). Raises diag.ArchError (the checker's diagnostic) when the text does not decode
    or parse, FormatError if the result would change the meaning."""
    from archspec.elaborate.loader import decode_text

    source, problem = decode_text(path, text)
    if problem is not None:
        raise diag.ArchError(problem)
    module = parse_module(source)  # the checker's syntax diagnostics, E001/E002/E110
    text = source.text  # without a byte order mark
    formatter = _Formatter(text, _cst_parser().parse(text))
    result = formatter.run()
    _verify(module, SourceFile(path, result), [c.text for c in formatter.all_comments])
    return result


def comment_texts(text: str) -> list[str]:
    """The comments of spec text, in order (trailing whitespace stripped)."""
    tokens = _cst_parser().lex(text, dont_ignore=True)
    return [str(t).rstrip() for t in tokens if t.type == "COMMENT"]


# ---------------------------------------------------------------- the formatter


def _children(node: Tree) -> list:
    return [c for c in node.children if c is not None]


def _is_dtype(children: list) -> bool:
    """Whether the first of `children` is the dtype after a stated shape (`[N, L] int64`)."""
    return bool(children) and _is_tok(children[0]) and children[0].type == "DTYPE"


def _is_tok(node, value: str | None = None) -> bool:
    return isinstance(node, Token) and (value is None or str(node) == value)


def _pipe_parts(node: Tree) -> tuple[object, list[tuple[Token, object]]]:
    """`a -> b -> c` (left-nested trees) as (a, [(arrow, b), (arrow, c)]), without recursion."""
    stages = []
    while isinstance(node, Tree) and node.data == "pipe":
        value, arrow, stage = _children(node)
        stages.append((arrow, stage))
        node = value
    stages.reverse()
    return node, stages


def _norm_string(token: str) -> str:
    inner = token[1:-1]
    if token[0] == "'" and '"' not in inner and "\\" not in inner:
        return f'"{inner}"'
    return token


class _Formatter:
    def __init__(self, text: str, tree: Tree):
        self.text = text
        self.tree = tree
        self.tokens: list[Token] = []
        self.index: dict[int, int] = {}  # id(token) -> position in self.tokens
        self.leading: dict[int, list[Comment]] = {}
        self.trailing: dict[int, Comment] = {}
        self.blank_before: set[int] = set()  # tokens with a blank line right before them
        self.eof_comments: list[Comment] = []
        self.all_comments: list[Comment] = []
        self._span_cache: dict[int, tuple[int, int]] = {}
        self._flat_cache: dict[int, str] = {}
        self._magic_cache: dict[int, bool] = {}
        self._collect_tokens()
        self._collect_comments()
        self._comment_prefix = self._prefix_counts()
        self.out = _Out(self)

    # ------------------------------------------------------------ tokens and comments
    def _collect_tokens(self) -> None:
        stack = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Token):
                self.tokens.append(node)
            elif isinstance(node, Tree):
                stack.extend(reversed(node.children))
        self.tokens.sort(key=lambda t: t.start_pos)
        self.index = {id(t): i for i, t in enumerate(self.tokens)}

    def _collect_comments(self) -> None:
        text = self.text
        previous_end = 0
        for i in range(len(self.tokens) + 1):
            gap_end = self.tokens[i].start_pos if i < len(self.tokens) else len(text)
            prev = self.tokens[i - 1] if i > 0 else None
            position = previous_end
            pending: list[Comment] = []
            for match in _COMMENT.finditer(text, previous_end, gap_end):
                before = text[position : match.start()]
                line_start = text.rfind("\n", 0, match.start()) + 1
                comment = Comment(
                    match.group().rstrip(),
                    match.start() - line_start,
                    len(text[line_start : match.start()].rstrip()),
                    before.count("\n") >= 2,
                )
                self.all_comments.append(comment)
                if prev is not None and position == previous_end and "\n" not in before:
                    self.trailing[id(prev)] = comment
                else:
                    pending.append(comment)
                position = match.end()
            if i < len(self.tokens):
                token = self.tokens[i]
                if text[position:gap_end].count("\n") >= 2:
                    self.blank_before.add(id(token))
                target = self._leading_target(i)
                if pending:
                    self.leading.setdefault(id(target), []).extend(pending)
            else:
                self.eof_comments = pending
            if i < len(self.tokens):
                previous_end = self.tokens[i].end_pos

    def _leading_target(self, i: int) -> Token:
        """Own-line comments before a ',' belong to the next item; after '->', to the arrow."""
        token = self.tokens[i]
        if str(token) == "," and i + 1 < len(self.tokens):
            return self.tokens[i + 1]
        if i > 0 and str(self.tokens[i - 1]) == "->":
            return self.tokens[i - 1]
        return token

    def _prefix_counts(self) -> list[int]:
        """prefix[i]: how many comment attachments lie strictly before token i (leading of a
        token counts at the token, trailing after it)."""
        marks = [0] * (len(self.tokens) + 1)
        for i, token in enumerate(self.tokens):
            marks[i + 1] = marks[i] + (id(token) in self.leading) + (id(token) in self.trailing)
        return marks

    def _span(self, node) -> tuple[int, int]:
        """(first, last) token positions of a node."""
        if isinstance(node, Token):
            i = self.index[id(node)]
            return i, i
        key = id(node)
        if key not in self._span_cache:
            first = node
            while isinstance(first, Tree):
                first = _children(first)[0]
            last = node
            while isinstance(last, Tree):
                last = _children(last)[-1]
            self._span_cache[key] = (self.index[id(first)], self.index[id(last)])
        return self._span_cache[key]

    def _inner_comments(self, node) -> bool:
        """Comments inside a node, other than those leading its first token or trailing its
        last: such comments force line breaks."""
        first, last = self._span(node)
        count = self._comment_prefix[last + 1] - self._comment_prefix[first]
        if id(self.tokens[first]) in self.leading:
            count -= 1
        if id(self.tokens[last]) in self.trailing:
            count -= 1
        return count > 0

    def _has_trailing(self, node) -> bool:
        return id(self.tokens[self._span(node)[1]]) in self.trailing

    def _has_leading(self, token: Token) -> bool:
        return id(token) in self.leading and id(token) not in self.out.consumed

    # ------------------------------------------------------------ flat layout
    def _parts(self, node: Tree) -> list[tuple[bool, object]]:
        """A node's children with 'a space before it' flags, as laid out on one line.
        Trailing commas that the layout drops are left out."""
        kind = node.data
        children = _children(node)
        if kind in _BRACKETS:
            start = 1 if kind == "call" else 0
            parts: list[tuple[bool, object]] = [(False, c) for c in children[: start + 1]]
            items, commas, close = self._items(node)
            for i, item in enumerate(items):
                parts.append((i > 0, item))
                if commas[i] is not None and (i < len(items) - 1 or self._one_tuple(node)):
                    parts.append((False, commas[i]))
            parts.append((False, close))
            return parts
        if kind in ("neg", "pos", "index", "atom", "kw_arg", "param", "splat_arg", "layer_index"):
            return [(False, c) for c in children]
        if kind in ("subscript", "slice", "ellipsis"):  # x[:, 1:], x[..., ::2]
            return [(False, c) for c in children]
        if kind == "subscript_items":  # a space after each comma; a trailing comma dropped
            parts = [(i > 0 and not _is_tok(c, ","), c) for i, c in enumerate(children)]
            return parts[:-1] if _is_tok(children[-1], ",") else parts
        if kind in ("labelled", "child_arg", "dict_item"):  # `key: value`, a space after `:`
            label, colon, call = children
            return [(False, label), (False, colon), (True, call)]
        if kind == "listcomp":
            return [(i not in (0, 1, len(children) - 1), c) for i, c in enumerate(children)]
        if kind == "bounded_dim":  # H in 32..1024 step 16 = 224: a space before all but `..`
            return [(i not in (0, 3, 4), c) for i, c in enumerate(children)]
        if kind in ("extern_def", "extern_input", "extern_outputs", "extern_value"):
            return self._extern_parts(kind, children)
        return [(i > 0, c) for i, c in enumerate(children)]

    def _extern_parts(self, kind: str, children: list) -> list[tuple[bool, object]]:
        """`extern SE(c) = "pkg.mod:SE" (x: [N, c]) -> [N, c], params = c`; `x: [N, L] int64`;
        `([N, C], [N, L] int64)`; `extern "pkg.mod:fn"(8, diagonal=1)`: a space after `,` and
        `:`, before a dtype and around `=` and `->`, none inside brackets."""
        parts: list[tuple[bool, object]] = []
        previous = None
        for index, child in enumerate(children):
            text = str(child) if isinstance(child, Token) else ""
            if index == 0 or text in (",", ")", ":") or previous in ("(",):
                space = False
            elif kind == "extern_def":
                space = not (isinstance(child, Tree) and child.data == "params")
            elif kind == "extern_value":  # `extern "pkg.mod:fn"(8)`: a space after the keyword
                space = previous == "extern"
            else:  # an input or the outputs: a space after `:` and `,`, and before a dtype
                dtype = isinstance(child, Token) and child.type == "DTYPE"
                space = previous in (":", ",") or dtype
            parts.append((space, child))
            previous = text or None
        return parts

    def _items(self, node: Tree) -> tuple[list, list, Token]:
        """A bracketed list's items, the comma after each (or None), and the closing bracket."""
        children = _children(node)
        start = 2 if node.data == "call" else 1
        items: list = []
        commas: list = []
        for child in children[start:-1]:
            if _is_tok(child, ","):
                commas[-1] = child
            else:
                items.append(child)
                commas.append(None)
        return items, commas, children[-1]

    def _one_tuple(self, node: Tree) -> bool:
        return node.data == "tuple" and len(self._items(node)[0]) == 1

    def _lone_splat(self, node: Tree) -> bool:
        items = self._items(node)[0]
        return len(items) == 1 and isinstance(items[0], Tree) and items[0].data == "splat_arg"

    def _magic(self, node: Tree) -> bool:
        """A bracketed list written with a trailing comma stays one item per line."""
        if node.data not in _BRACKETS or self._one_tuple(node) or self._lone_splat(node):
            return False
        items, commas, _ = self._items(node)
        return bool(items) and commas[-1] is not None

    def _has_magic(self, node) -> bool:
        """Whether a node or any node inside it has a magic trailing comma. Read without
        recursion (parentheses nest without limit), each node's answer cached."""
        if isinstance(node, Token):
            return False
        cache = self._magic_cache
        stack: list[tuple[Tree, bool]] = [(node, False)]  # (node, its children answered)
        while stack:
            item, answered = stack.pop()
            if id(item) in cache:
                continue
            inside = [c for c in _children(item) if isinstance(c, Tree)]
            if answered:
                cache[id(item)] = self._magic(item) or any(cache[id(c)] for c in inside)
            else:
                stack.append((item, True))
                stack.extend((child, False) for child in inside)
        return cache[id(node)]

    def _can_flat(self, node) -> bool:
        return not self._inner_comments(node) and not self._has_magic(node)

    def _flat_seq(self, node) -> list[tuple[bool, Token]]:
        """The tokens of a node on one line, each with 'a space before it'."""
        out: list[tuple[bool, Token]] = []
        stack: list[tuple[bool, object]] = [(False, node)]
        while stack:
            space, item = stack.pop()
            if isinstance(item, Token):
                out.append((space, item))
                continue
            if item.data == "pipe":
                head, stages = _pipe_parts(item)
                parts: list[tuple[bool, object]] = [(space, head)]
                for arrow, stage in stages:
                    parts += [(True, arrow), (True, stage)]
            else:
                parts = self._parts(item)
                if parts:
                    parts[0] = (space, parts[0][1])
            stack.extend(reversed(parts))
        return out

    def _flat(self, node) -> str:
        key = id(node)
        if key not in self._flat_cache:
            self._flat_cache[key] = "".join(
                (" " if space else "") + _token_text(token) for space, token in self._flat_seq(node)
            )
        return self._flat_cache[key]

    def _write_flat(self, node) -> None:
        for space, token in self._flat_seq(node):
            if space:
                self.out.space()
            self.out.token(token)
        if isinstance(node, Tree) and node.data in _BRACKETS:
            self._skip_dropped_comma(node)

    def _skip_dropped_comma(self, node: Tree) -> None:
        items, commas, _ = self._items(node)
        if items and commas[-1] is not None and not self._one_tuple(node):
            self.out.skip(commas[-1])

    # ------------------------------------------------------------ fitting
    def _fill_breaks(self, node: Tree, column: int, tail: int) -> list[int] | None:
        """Where a fill layout breaks (item indices starting a new line), or None if it does not
        fit. `column`: where the call starts."""
        if node.data not in _FILLABLE or self._has_magic(node) or self._inner_comments(node):
            return None
        items, _, _ = self._items(node)
        if len(items) < 2 or not all(self._simple(item) for item in items):
            return None
        start = column + (len(str(_children(node)[0])) if node.data == "call" else 0) + 1
        position = start
        breaks = []
        for i, item in enumerate(items):
            piece = len(self._flat(item)) + 1  # the ',' or the ')'
            extra = tail if i == len(items) - 1 else 0
            if i == 0:
                position += piece
            elif position + 1 + piece + extra <= WIDTH:
                position += 1 + piece
            else:
                breaks.append(i)
                position = start + piece
            if position + extra > WIDTH:
                return None
        return breaks

    def _simple(self, item) -> bool:
        if not isinstance(item, Tree) or item.data not in ("pos_arg", "kw_arg", "param"):
            return False
        stack = [item]
        while stack:
            node = stack.pop()
            if isinstance(node, Tree):
                if node.data in ("call", "list", "listcomp", "pipe"):
                    return False
                stack.extend(_children(node))
        return True

    def _fits_unsplit(self, node, column: int, tail: int) -> bool:
        """Whether a node fits from `column` on one line, or with its call arguments filled."""
        if self._can_flat(node) and column + len(self._flat(node)) + tail <= WIDTH:
            return True
        call, prefix = node, 0
        if isinstance(node, Tree) and node.data in ("labelled", "child_arg"):
            label, _, call = _children(node)
            prefix = len(_token_text(_children(label)[0])) + 2
            if self._inner_comments(label) or self._has_trailing(label):
                return False
        if not isinstance(call, Tree) or call.data != "call":
            return False
        return self._fill_breaks(call, column + prefix, tail) is not None

    # ------------------------------------------------------------ writing expressions
    def _write(self, node, tail: int = 0) -> None:
        """Write a node from the current position; `tail`: columns that follow it on its line."""
        out = self.out
        if isinstance(node, Token):
            out.token(node)
            return
        kind = node.data
        if kind in _BRACKETS:
            self._write_group(node, tail)
            return
        if kind == "listcomp":
            self._write_listcomp(node, tail)
            return
        if kind == "atom":
            self._write_parenthesized(node, tail)
            return
        if kind == "pipe":
            head, stages = _pipe_parts(node)
            parts: list[tuple[bool, object]] = [(False, head)]
            for arrow, stage in stages:
                parts += [(True, arrow), (True, stage)]
        else:
            parts = self._parts(node)
        self._write_parts(parts, tail)

    def _write_parenthesized(self, node: Tree, tail: int) -> None:
        """`((x))`: the parentheses around a node written in a loop, not one call deeper each (the
        checker accepts any number of them, as they do not nest the expression)."""
        closes = []
        while isinstance(node, Tree) and node.data == "atom":
            open_, node, close = _children(node)
            self.out.token(open_)
            closes.append(close)
        self._write(node, tail + len(closes))
        for close in reversed(closes):
            self.out.token(close)

    def _write_parts(self, parts: list[tuple[bool, object]], tail: int) -> None:
        widths = [len(self._flat(child)) + space for space, child in parts]
        rest = sum(widths)
        for (space, child), width in zip(parts, widths):
            rest -= width
            if space:
                self.out.space()
            self._write(child, rest + tail)

    def _write_group(self, node: Tree, tail: int) -> None:
        out = self.out
        if self._can_flat(node) and out.column + len(self._flat(node)) + tail <= WIDTH:
            self._write_flat(node)
            return
        children = _children(node)
        items, commas, close = self._items(node)
        breaks = self._fill_breaks(node, out.column, tail)
        if node.data == "call":
            out.token(children[0])
        open_ = children[1] if node.data == "call" else children[0]
        out.token(open_)
        if breaks is not None:
            start = out.column
            for i, item in enumerate(items):
                if i in breaks:
                    out.newline(start)
                elif i > 0:
                    out.space()
                self._write_flat(item)
                if i < len(items) - 1:
                    out.token(commas[i])
                elif commas[i] is not None:
                    out.skip(commas[i])
            out.token(close)
            return
        outer = out.line_indent
        inner = outer + INDENT
        lone = self._lone_splat(node)
        for i, item in enumerate(items):
            out.newline(inner)
            if lone:
                self._write(item, 0)
                if commas[i] is not None:
                    out.skip(commas[i])
                continue
            self._write(item, 1)
            if commas[i] is not None:
                out.token(commas[i])
            else:
                out.text(",")
        self._comments_before_close(close, inner)
        out.newline(outer)
        out.token(close)

    def _comments_before_close(self, close: Token, inner: int) -> None:
        """Comments before a closing bracket on its own line stay inside, at the items' indent."""
        out = self.out
        if out.floating or self._has_leading(close):
            out.newline(inner)
            out.land()
            if self._has_leading(close):
                out.comment_lines(close)

    def _write_listcomp(self, node: Tree, tail: int) -> None:
        out = self.out
        if self._can_flat(node) and out.column + len(self._flat(node)) + tail <= WIDTH:
            self._write_flat(node)
            return
        children = _children(node)
        outer = out.line_indent
        out.token(children[0])
        out.newline(outer + INDENT)
        self._write_parts([(i > 1, c) for i, c in enumerate(children[:-1]) if i > 0], 0)
        close = children[-1]
        self._comments_before_close(close, outer + INDENT)
        out.newline(outer)
        out.token(close)

    # ------------------------------------------------------------ pipelines
    def _write_value(self, value) -> None:
        """A statement's value: a pipeline gets the pipeline layouts."""
        out = self.out
        if not (isinstance(value, Tree) and value.data == "pipe"):
            self._write(value, 0)
            return
        column = out.column
        if self._can_flat(value) and column + len(self._flat(value)) <= WIDTH:
            self._write_flat(value)
            return
        head, stages = _pipe_parts(value)
        indent = out.line_indent
        # Aligned: `out = x -> a(...)` then `-> b(...)` under the first arrow.
        if (
            len(stages) > 1
            and self._can_flat(head)
            and not self._has_trailing(head)
            and not self._has_leading(stages[0][0])
            and not self._has_trailing(stages[0][0])
        ):
            arrow_column = column + len(self._flat(head)) + 1
            if all(self._fits_unsplit(s, arrow_column + 3, 0) for _, s in stages):
                self._write_flat(head)
                for i, (arrow, stage) in enumerate(stages):
                    if i == 0:
                        out.space()
                    else:
                        out.newline(arrow_column)
                    self._write_stage(arrow, stage)
                return
        # Broken before every arrow, indented under the statement.
        continuation = indent + INDENT
        unsplit = self._fits_unsplit(head, column, 0) and all(
            self._fits_unsplit(s, continuation + 3, 0) for _, s in stages
        )
        if len(stages) == 1 and (not unsplit or not self._plain_stage(stages[0][1])):
            # One stage holding layers (or that must be split anyway): split inside its
            # brackets, on the first line.
            self._write(head, 4 + len(self._flat(stages[0][1])))
            out.space()
            self._write_stage(*stages[0])
            return
        self._write(head, 0)
        for arrow, stage in stages:
            out.newline(continuation)
            self._write_stage(arrow, stage)

    def _plain_stage(self, stage) -> bool:
        """A stage whose call, if any, takes plain values rather than layers."""
        if isinstance(stage, Tree) and stage.data in ("labelled", "child_arg"):
            stage = _children(stage)[-1]
        if not (isinstance(stage, Tree) and stage.data == "call"):
            return True
        return all(self._simple(item) for item in self._items(stage)[0])

    def _write_stage(self, arrow: Token, stage) -> None:
        self.out.token(arrow)
        self.out.space()
        self._write(stage, 0)

    # ------------------------------------------------------------ statements
    def run(self) -> str:
        out = self.out
        items = _children(self.tree)
        previous = None
        for item in items:
            first = self.tokens[self._span(item)[0]]
            if previous is not None:
                out.newline(0)
                force = "definition" in (item.data, previous.data)
                self._leading_block(first, 0, force_blank=force)
            else:
                self._leading_block(first, 0, first_in_block=True)
            out.continuation = INDENT  # a top-level item's own continuation, whatever came before
            if item.data == "import_stmt":
                self._write_import(item)
            elif item.data == "extern_def":
                self._write_extern(item)
            else:
                self._write_definition(item)
            previous = item
        if self.eof_comments:
            if previous is not None:
                out.newline(0)
            for j, comment in enumerate(self.eof_comments):
                after_definition = j == 0 and previous is not None and previous.data == "definition"
                if after_definition or (comment.blank_before and (j > 0 or previous is not None)):
                    out.blank()
                out.text(comment.text)
                if j < len(self.eof_comments) - 1:
                    out.newline(0)
        return out.finish()

    def _leading_block(
        self, token: Token, indent: int, first_in_block: bool = False, force_blank: bool = False
    ) -> None:
        """The own-line comments before a statement or definition, with their blank lines."""
        out = self.out
        comments = self.leading.get(id(token), []) if self._has_leading(token) else []
        for j, comment in enumerate(comments):
            if j == 0:
                if force_blank or (comment.blank_before and not first_in_block):
                    out.blank()
            elif comment.blank_before:
                out.blank()
            out.text(comment.text)
            out.newline(indent)
        if comments:
            out.consumed.add(id(token))
            if id(token) in self.blank_before:
                out.blank()
        elif force_blank or (id(token) in self.blank_before and not first_in_block):
            out.blank()

    def _write_import(self, node: Tree) -> None:
        out = self.out
        children = _children(node)
        # from STRING import A, B  (a trailing comma is dropped)
        names = children[3:]
        out.token(children[0])
        out.space()
        out.token(children[1])
        out.space()
        out.token(children[2])
        for i, child in enumerate(names):
            if _is_tok(child, ","):
                if i == len(names) - 1:
                    # The dropped comma ends a top-level line: its comments go after it, at 0.
                    out.continuation = 0
                    out.skip(child)
                    out.continuation = INDENT
                else:
                    out.token(child)
            else:
                out.space()
                out.token(child)

    def _write_extern(self, node: Tree) -> None:
        """One line if it fits; else the contract goes on the next line, indented, and its
        inputs split one per line if they must."""
        if self._can_flat(node) and len(self._flat(node)) <= WIDTH:
            self._write_flat(node)
            return
        parts = self._parts(node)
        target = next(i for i, (_, c) in enumerate(parts) if _is_tok(c) and c.type == "STRING")
        self._write_parts(parts[: target + 1], 0)
        self.out.newline(INDENT)
        contract = [(False, parts[target + 1][1]), *parts[target + 2 : target + 4]]
        self._write_parts(contract, 0)
        counts = parts[target + 4 :]  # `, params = ...`: each on the line if it fits
        for index in range(0, len(counts), 4):
            comma, *count = counts[index : index + 4]
            self.out.token(comma[1])
            width = sum(len(self._flat(c)) + space for space, c in count)
            if self.out.column + width > WIDTH:
                self.out.newline(INDENT)
                count[0] = (False, count[0][1])
            self._write_parts(count, 0)

    def _write_definition(self, node: Tree) -> None:
        out = self.out
        children = _children(node)
        out.token(children[0])
        out.space()
        out.token(children[1])
        body = children[-1]
        if len(children) == 4:
            self._write_group(children[2], 2)
        out.space()
        self._write_body(body, 0)

    def _write_body(self, body: Tree, indent: int) -> None:
        out = self.out
        children = _children(body)
        open_, statements, close = children[0], children[1:-1], children[-1]
        out.token(open_)
        inner = indent + INDENT
        if not statements and not self._has_leading(close):
            if out.pending is not None:
                out.newline(indent)
            out.token(close)
            return
        for i, statement in enumerate(statements):
            out.newline(inner)
            first = self.tokens[self._span(statement)[0]]
            self._leading_block(first, inner, first_in_block=i == 0)
            self._write_statement(statement, inner)
        if self._has_leading(close):
            out.newline(inner)
            comments = self.leading[id(close)]
            for j, comment in enumerate(comments):
                if comment.blank_before and (statements or j > 0):
                    out.blank()
                out.text(comment.text)
                out.newline(inner)
            out.consumed.add(id(close))
        out.newline(indent)
        out.token(close)

    def _write_statement(self, node: Tree, indent: int) -> None:
        out = self.out
        out.continuation = indent + INDENT
        kind = node.data
        children = _children(node)
        if kind == "input_stmt":
            out.token(children[0])
            out.space()
            out.token(children[1])
            if len(children) > 2:
                out.token(children[2])
                out.space()
                self._write(children[3], 0)
                if _is_dtype(children[4:]):
                    out.space()
                    out.token(children[4])
        elif kind == "assign_stmt":
            out.token(children[0])
            position = 1
            if _is_tok(children[1], ":"):
                out.token(children[1])
                out.space()
                self._write(children[2], 2)  # the shape breaks only if `x: [...] =` does not fit
                position = 3
                if _is_dtype(children[3:4]):
                    out.space()
                    out.token(children[3])
                    position = 4
            out.space()
            out.token(children[position])
            out.space()
            self._write_value(children[-1])
        elif kind == "unpack_stmt":  # `x1, x2 = x -> chunk(2, dim=1)`, `out, (h, c) = ...`
            *names, equals, value = children
            tokens, pending = [], list(reversed(names))  # nested_target trees: their tokens
            while pending:
                name = pending.pop()
                if isinstance(name, Tree):
                    pending.extend(reversed(_children(name)))
                else:
                    tokens.append(name)
            for token, following in zip(tokens, [*tokens[1:], None]):
                out.token(token)
                if _is_tok(token, ",") and not _is_tok(following, ")"):
                    out.space()
            out.space()
            out.token(equals)
            out.space()
            self._write_value(value)
        elif kind == "declare_stmt":
            name, colon, call = children
            out.token(name)
            out.token(colon)
            out.space()
            self._write(call, 0)
        elif kind == "return_stmt":
            out.token(children[0])
            out.space()
            values = children[1:]
            if len(values) == 1:
                self._write_value(values[0])
            else:
                parts = [(i > 0 and not _is_tok(v, ","), v) for i, v in enumerate(values)]
                self._write_parts(parts, 0)
        elif kind == "if_stmt":
            self._write_if(node, indent)
        elif kind == "for_stmt":
            for_, var, in_, iterable, body = children
            out.token(for_)
            out.space()
            out.token(var)
            out.space()
            out.token(in_)
            out.space()
            self._write(iterable, 2)
            out.space()
            self._write_body(body, indent)
        elif kind == "state_stmt":
            self._write_state(children)
        elif kind == "tie_stmt":  # `tie head.weight = wte.weight`
            tie, target, equals, source = children
            out.token(tie)
            out.space()
            self._write_path(target)
            out.space()
            out.token(equals)
            out.space()
            self._write_path(source)
        else:  # pragma: no cover - the grammar has no other statements
            raise FormatError(f"unknown statement {kind}")

    def _write_path(self, path: Tree) -> None:
        """`head.weight`: names and dots, no spaces."""
        for token in _children(path):
            self.out.token(token)

    def _write_state(self, children: list) -> None:
        """`param name: [shape] = init, option=value`: laid out as an assignment with a shape."""
        out = self.out
        base = out.line_indent
        keyword, name, colon, shape, *rest = children
        dtype = _is_dtype(rest[:1])
        equals, init, *options = rest[1:] if dtype else rest
        out.token(keyword)
        out.space()
        out.token(name)
        out.token(colon)
        out.space()
        self._write(shape, 2)
        if dtype:
            out.space()
            out.token(rest[0])
        out.space()
        out.token(equals)
        out.space()
        self._write(init, 0)
        for index in range(0, len(options), 4):
            comma, option, equal, value = options[index : index + 4]
            out.token(comma)
            flat = self._can_flat(value)
            width = len(_token_text(option)) + 1 + len(self._flat(value)) if flat else 0
            if flat and out.column + 1 + width > WIDTH:
                out.newline(base + INDENT)  # `persistent=False` on a line of its own
            else:
                out.space()
            out.token(option)
            out.token(equal)
            self._write(value, 0)

    def _write_if(self, node: Tree, indent: int) -> None:
        out = self.out
        while True:
            children = _children(node)
            if_, test, body = children[:3]
            out.token(if_)
            out.space()
            out.continuation = indent + INDENT
            self._write(test, 2)
            out.space()
            self._write_body(body, indent)
            out.continuation = indent + INDENT
            if len(children) == 3:
                return
            else_, orelse = children[3], children[4]
            if out.pending is not None or self._has_leading(else_):
                out.newline(indent)  # `}  # comment` or a comment line: `else` starts a line
            else:
                out.space()
            out.continuation = indent + INDENT
            out.token(else_)
            out.space()
            if orelse.data == "body":
                self._write_body(orelse, indent)
                return
            node = orelse


def _token_text(token: Token) -> str:
    return _norm_string(str(token)) if token.type == "STRING" else str(token)


class _Out:
    """Lines being written. A trailing comment waits for the end of its line; anything but a
    ',' written after it starts a new line first."""

    def __init__(self, formatter: _Formatter):
        self.formatter = formatter
        self.lines: list[str] = []
        self.current = ""
        self.pending: Comment | None = None
        self.consumed: set[int] = set()  # tokens whose leading comments are written
        self.floating: list[Comment] = []  # own-line comments waiting for the next token
        self.continuation = INDENT

    @property
    def column(self) -> int:
        return len(self.current)

    @property
    def line_indent(self) -> int:
        return len(self.current) - len(self.current.lstrip(" "))

    def _flush(self) -> None:
        comment = self.pending
        if comment is None:
            return
        code = self.current.rstrip()
        column = len(code) + 2
        # A comment keeps its column (hand-aligned comments stay aligned) while the code before
        # it ends where it did, give or take a ',' the layout added.
        same_end = comment.code_end == len(code) - (
            code.endswith(",") and comment.code_end + 1 == len(code)
        )
        if same_end and comment.column > column and comment.column + len(comment.text) <= WIDTH:
            column = comment.column
        if not code.strip():
            column = len(self.current)
        self.current = code.ljust(column) + comment.text
        self.pending = None

    def newline(self, indent: int) -> None:
        self._flush()
        if not self.current.strip():
            self.current = " " * indent  # already at a fresh line: only re-indent
            return
        self.lines.append(self.current.rstrip())
        self.current = " " * indent

    def blank(self) -> None:
        """A blank line before the (fresh) current line."""
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def text(self, text: str) -> None:
        if text != ",":
            self.land()
            if self.pending is not None:
                self.newline(self.continuation)
        self.current += text

    def land(self) -> None:
        """Write the floating comments on their own lines, before what comes next."""
        if self.floating:
            comments, self.floating = self.floating, []
            if self.current.strip():
                self.newline(self.continuation)
            column = len(self.current)
            for comment in comments:
                self.current += comment.text
                self.newline(column)

    def _trail(self, comment: Comment) -> None:
        if self.pending is None:
            self.pending = comment
        else:  # a second trailing comment on one line (`a  # x` then `,  # y`): it floats
            self.floating.append(comment)

    def space(self) -> None:
        if self.pending is not None:
            self.newline(self.continuation)
        elif self.current.strip():
            self.current += " "

    def comment_lines(self, token: Token) -> None:
        """The own-line comments before a token, at the current (fresh) line's column."""
        if self.current.strip():
            self.newline(self.continuation)
        column = len(self.current)
        for comment in self.formatter.leading[id(token)]:
            self.current += comment.text
            self.newline(column)
        self.consumed.add(id(token))

    def token(self, token: Token) -> None:
        if str(token) != ",":
            self.land()
        if id(token) in self.formatter.leading and id(token) not in self.consumed:
            self.comment_lines(token)
        self.text(_token_text(token))
        comment = self.formatter.trailing.get(id(token))
        if comment is not None:
            self._trail(comment)

    def skip(self, token: Token) -> None:
        """A token the layout drops (a trailing comma): its comments stay."""
        if id(token) in self.formatter.leading and id(token) not in self.consumed:
            self.comment_lines(token)
        comment = self.formatter.trailing.get(id(token))
        if comment is not None:
            self._trail(comment)

    def finish(self) -> str:
        self.continuation = 0  # comments still floating at the end belong to the top level
        self.land()
        self._flush()
        if self.current.strip():
            self.lines.append(self.current.rstrip())
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""


# ---------------------------------------------------------------- the safety net


def _verify(module: ast.Module, after: SourceFile, comments: list[str]) -> None:
    """The formatted text must parse to the same AST (up to layout) with the same comments."""
    try:
        new_module = parse_module(after)
    except diag.ArchError as error:
        raise FormatError(f"the formatted text does not parse: {error}") from None
    if _meaning(module) != _meaning(new_module):
        raise FormatError("the formatted text parses differently")
    if Counter(comments) != Counter(comment_texts(after.text)):
        raise FormatError("the formatted text lost or changed a comment")


def _meaning(node) -> list:
    """An AST as a flat list of node types and compared fields (spans are not compared), with
    each constant's type too: `1` and `1.0` are equal in Python but not in a spec."""
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            out.append(("seq", len(item)))
            stack.extend(reversed(item))
        elif isinstance(item, ast.Constant):
            out.append(("Constant", type(item.value).__name__, item.value))
        elif hasattr(item, "_compared"):
            values = item._compared(item)
            out.append((type(item).__name__, len(values)))
            stack.extend(reversed(values))
        else:
            out.append((type(item).__name__, item))
    return out


# ---------------------------------------------------------------- one file


@dataclass
class FormatOutcome:
    """What formatting one file gave. At most one of `unreadable` (the OS's reason),
    `diagnostic` (the file does not parse or decode) and `unsafe` (the formatter would change
    its meaning: a bug, nothing may be written) is set; otherwise `formatted` is the new text."""

    path: str
    original: str | None = None
    formatted: str | None = None
    unreadable: str | None = None
    diagnostic: diag.Diagnostic | None = None
    unsafe: str | None = None

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original


def format_file(path: str) -> FormatOutcome:
    """Read and format one file; nothing is written (the caller decides). The file keeps its
    conventions: a UTF-8 byte order mark stays, and so do CRLF line ends when its first line
    ends with one (as Black decides); only a regular file is read."""
    from archspec.elaborate.loader import decode, read_spec_file

    try:
        data = read_spec_file(path)
    except OSError as error:
        return FormatOutcome(path, unreadable=str(error.strerror or error))
    try:
        original = data.decode("utf-8")
    except UnicodeDecodeError:
        _, problem = decode(path, data)
        return FormatOutcome(path, diagnostic=problem)
    try:
        formatted = format_text(original, path)
    except diag.ArchError as error:
        return FormatOutcome(path, original, diagnostic=error.diagnostic)
    except FormatError as error:
        return FormatOutcome(path, original, unsafe=str(error))
    return FormatOutcome(path, original, _with_conventions_of(original, formatted))


def _with_conventions_of(original: str, formatted: str) -> str:
    """`formatted` (LF, no BOM) with the byte order mark and line ends of `original`."""
    first_line_end = original.find("\n")
    if first_line_end > 0 and original[first_line_end - 1] == "\r":
        formatted = formatted.replace("\n", "\r\n")
    return "\ufeff" + formatted if original.startswith("\ufeff") else formatted


__all__ = ["FormatError", "FormatOutcome", "WIDTH", "comment_texts", "format_file", "format_text"]
