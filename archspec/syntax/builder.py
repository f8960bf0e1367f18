"""The AST builder: the LALR parser calls these methods as it reduces, so the AST with its spans is
built while parsing (no parse tree, no propagate_positions), with every token kept.

Each value on the parser's stack is (node, height, start, end): `height` is the nesting depth
below the node (pipelines do not nest, parentheses do not count), and start/end the extent of the
node's text including any wrapping parentheses, from which the parent's span follows.

The builder never raises: a problem (a reserved word used as a name, a malformed string escape, a
number too large, a bad label template) is recorded and a stand-in node returned, so that the parse
runs to the end. parser.parse_module then reports, in this order: a syntax error (Lark's), nesting
deeper than MAX_NESTING (E002, at the first node that exceeds it), the first recorded problem. That
is the order a reader expects: the file's shape first, then what its words mean.
"""

from __future__ import annotations

import ast as py_ast
import functools
import math
import warnings
from collections.abc import Callable

from archspec.core import diagnostic as diag
from archspec.core.source import SourceFile, Span
from archspec.syntax import ast
from archspec.syntax.lexer import CONSTANT_NAMES, PIPE_HEAD_NAME, PLAIN_ARG, RESERVED

# Deeper expression nesting than this is refused with E002; pipelines (`a -> b -> c`) do not nest.
MAX_NESTING = 100

_BINARY = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%",
    "pow": "**", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "or_": "or", "and_": "and",
}  # fmt: skip

# Parses `source.text[start:end]` as one expression (a label template's placeholder), raising
# diag.ArchError: given by the parser, which owns the grammar.
PlaceholderParser = Callable[[SourceFile, int, int], ast.Expr]


def too_deep(span: Span) -> diag.Diagnostic:
    return diag.make(
        "E002",
        f"expressions nest more than {MAX_NESTING} levels deep",
        span,
        "too deep",
        help="split the expression into named steps",
    )


def _too_large(span: Span) -> diag.Diagnostic:
    return diag.make(
        "E110", "this number is too large", span, "too large", help="use a smaller number"
    )


def _string_value(token, source: SourceFile) -> str:
    """A STRING token's value; raises ArchError on a malformed escape. The STRING terminal only
    admits Python-compatible quoted literals without newlines, but an escape can still be
    malformed ("\\x", "\\N{nope}")."""
    try:
        with warnings.catch_warnings():  # "\\d" is kept as is, without Python's SyntaxWarning
            warnings.simplefilter("ignore")
            return py_ast.literal_eval(str(token))
    except (SyntaxError, ValueError):
        raise diag.ArchError(
            diag.make(
                "E001",
                "invalid escape sequence in a string",
                source.span(token.start_pos, token.end_pos),
                "bad escape",
                help="write a backslash as \\\\",
            )
        ) from None


# Sets a field of a node under construction (AST nodes are frozen once the parse returns).
_set_field = object.__setattr__


def _first_pos(children) -> int | None:
    for c in children:
        if c is None:
            continue
        return c[2] if type(c) is tuple else c.start_pos
    return None


def _last_pos(children) -> int | None:
    for c in reversed(children):
        if c is None:
            continue
        return c[3] if type(c) is tuple else c.end_pos
    return None


def _is_token(child, text: str) -> bool:
    return child is not None and type(child) is not tuple and str(child) == text


def _height(children, step: int = 1) -> int:
    h = -1
    for c in children:
        if type(c) is tuple and c[1] > h:
            h = c[1]
    return h + step if h >= 0 else 0


class AstBuilder:
    """Callbacks for an LALR parser built with keep_all_tokens=True (see parser.get_parser).
    One instance serves every parse; `begin` and `end` set and restore its per-parse state."""

    source: SourceFile
    labels: list[tuple[int, str]]  # (offset, name) of the plain layer names since the last body
    problem: diag.Diagnostic | None  # the first problem recorded
    deepest: Span | None  # the first node nested more than MAX_NESTING deep
    pipes: list[ast.Pipe]  # the pipelines built, their stages a growing list until `end`

    def __init__(self, parse_placeholder: PlaceholderParser):
        self.parse_placeholder = parse_placeholder
        self.source, self.labels, self.problem, self.deepest = None, [], None, None
        self.pipes = []

    def begin(self, source: SourceFile) -> tuple:
        """Start a parse of `source`; returns the state to give back to `end` (a placeholder's
        parse happens inside the parse of its file)."""
        saved = (self.source, self.labels, self.problem, self.deepest, self.pipes)
        self.source, self.labels, self.problem, self.deepest = source, [], None, None
        self.pipes = []
        return saved

    def end(self, saved: tuple) -> diag.Diagnostic | None:
        """Finish a parse: what it must report (E002 before any other recorded problem)."""
        for pipe in self.pipes:
            _set_field(pipe, "stages", tuple(pipe.stages))
        found = too_deep(self.deepest) if self.deepest is not None else self.problem
        self.source, self.labels, self.problem, self.deepest, self.pipes = saved
        return found

    def _record(self, diagnostic: diag.Diagnostic) -> None:
        if self.problem is None:
            self.problem = diagnostic

    # ------------------------------------------------------------ helpers
    def _make(self, cls, children, *fields, step: int = 1):
        start, end = _first_pos(children), _last_pos(children)
        span = Span(self.source, start, end)  # end >= start: no clamping needed
        height = _height(children, step)
        if height > MAX_NESTING and self.deepest is None:
            self.deepest = span
        return (cls(*fields, span), height, start, end)

    def _tok_node(self, node_cls, token, *fields):
        start, end = token.start_pos, token.end_pos
        return (node_cls(*fields, self.source.span(start, end)), 0, start, end)

    def _token_span(self, token) -> Span:
        return self.source.span(token.start_pos, token.end_pos)

    def _name(self, token) -> ast.Name:
        if str(token) in RESERVED:
            self._record(
                diag.make(
                    "E001",
                    f"'{token}' is a reserved word and cannot be a name",
                    self._token_span(token),
                    "reserved",
                    help="choose another name",
                )
            )
        return ast.Name(str(token), self._token_span(token))

    def _target(self, token) -> ast.Name:
        """A name that gets bound: also not True, False or None."""
        if str(token) in CONSTANT_NAMES:
            self._record(
                diag.make(
                    "E001",
                    f"cannot bind the constant '{token}'",
                    self._token_span(token),
                    "a constant",
                    help="choose another name",
                )
            )
        return self._name(token)

    def _string(self, token) -> str:
        try:
            return _string_value(token, self.source)
        except diag.ArchError as error:
            self._record(error.diagnostic)
            return ""

    def _number(self, text: str, convert, span: Span):
        """int or float of a literal's text; a stand-in 0 where it is too large."""
        try:
            value = convert(text.replace("_", ""))
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            value = math.inf
        if isinstance(value, float) and math.isinf(value):
            self._record(_too_large(span))
            return 0
        return value

    def _template_parts(self, token) -> tuple:
        """Split a label template "stage{i + 1}" into text and placeholder expressions."""
        source = self.source
        raw = str(token)[1:-1]
        base = token.start_pos + 1
        parts: list = []
        position = 0
        while position < len(raw):
            open_at = raw.find("{", position)
            if open_at < 0:
                parts.append(raw[position:])
                break
            close_at = raw.find("}", open_at)
            if close_at < 0:
                self._record(
                    diag.make(
                        "E001",
                        "unclosed '{' in a layer name template",
                        source.span(base + open_at, base + open_at + 1),
                        "opened here",
                        help='placeholders look like "denselayer{i + 1}"',
                    )
                )
                break
            if open_at > position:
                parts.append(raw[position:open_at])
            try:
                parts.append(self.parse_placeholder(source, base + open_at + 1, base + close_at))
            except diag.ArchError as error:
                self._record(error.diagnostic)
            position = close_at + 1
        return tuple(parts)

    # ------------------------------------------------------------ top level
    def start(self, children):
        nodes = [c[0] for c in children if type(c) is tuple]
        imports = tuple(c for c in nodes if isinstance(c, ast.Import))
        definitions = tuple(c for c in nodes if isinstance(c, ast.Definition))
        externs = tuple(c for c in nodes if isinstance(c, ast.Extern))
        if not nodes:
            return (ast.Module(imports, definitions, self.source.span(0, 0)), 0, 0, 0)
        module = functools.partial(ast.Module, externs=externs)
        return self._make(module, children, imports, definitions)

    def import_stmt(self, children):
        tokens = [c for c in children if c is not None and c.type in ("STRING", "NAME")]
        path_token, *names = tokens
        path = ast.Constant(self._string(path_token), self._token_span(path_token))
        return self._make(ast.Import, children, path, tuple(self._name(n) for n in names))

    def definition(self, children):
        kind, name, params, body = children
        params = params[0] if params is not None else None
        body_start = body[2]  # labels in the parameters' defaults are not the body's
        labels = frozenset(label for start, label in self.labels if start >= body_start)
        self.labels = []
        start, end = _first_pos(children), _last_pos(children)
        node = ast.Definition(
            str(kind),
            self._name(name),
            params or (),
            body[0],
            self.source.span(start, end),
            labels,
        )
        return (node, _height(children), start, end)

    def params(self, children):
        items = tuple(c[0] for c in children if type(c) is tuple)
        return (items, _height(children), _first_pos(children), _last_pos(children))

    def param(self, children):
        name = children[0]
        default = children[-1][0] if type(children[-1]) is tuple else None
        return self._make(ast.Param, children, self._target(name), default)

    def body(self, children):
        items = tuple(c[0] for c in children if type(c) is tuple)
        return (items, _height(children), _first_pos(children), _last_pos(children))

    # ------------------------------------------------------------ externs
    def extern_def(self, children):
        _extern, name, params, _equals, target, inputs, _arrow, outputs, *rest = children
        path = ast.Constant(self._string(target), self._token_span(target))
        counts = []
        for index in range(0, len(rest), 4):
            _comma, keyword, _equal, value = rest[index : index + 4]
            span = self.source.span(keyword.start_pos, value[3])
            counts.append(ast.Argument(value[0], span, keyword=str(keyword)))
        fields = (
            self._name(name),
            params[0] if params is not None else (),
            path,
            inputs[0],
            outputs[0][0],
            outputs[0][1],
            tuple(counts),
        )
        return self._make(ast.Extern, children, *fields)

    def extern_inputs(self, children):
        items = tuple(c[0] for c in children if type(c) is tuple)
        return (items, _height(children), _first_pos(children), _last_pos(children))

    def extern_input(self, children):
        shape = self._typed_shape(children[2:])
        return self._make(ast.Input, children, self._target(children[0]), shape)

    def extern_outputs(self, children):
        """The output shapes, each with the dtype after it, and whether they were a tuple."""
        shapes = []
        for index, child in enumerate(children):
            if type(child) is tuple:
                shapes.append(self._typed_shape(children[index : index + 2]))
        several = _is_token(children[0], "(")
        value = (tuple(shapes), several)
        return (value, _height(children), _first_pos(children), _last_pos(children))

    def extern_value(self, children):
        _extern, target, arguments = children
        path = ast.Constant(self._string(target), self._token_span(target))
        args = () if arguments is None else arguments[0]
        return self._make(ast.ExternValue, children, path, args, arguments is not None)

    def extern_args(self, children):
        args = tuple(c[0] for c in children if type(c) is tuple)
        return (args, _height(children), _first_pos(children), _last_pos(children))

    # ------------------------------------------------------------ statements
    def input_stmt(self, children):
        shape = self._typed_shape(children[2:])
        return self._make(ast.Input, children, self._target(children[1]), shape)

    def assign_stmt(self, children):
        shape = self._typed_shape(children[1:-2])
        return self._make(ast.Assign, children, self._target(children[0]), shape, children[-1][0])

    def _typed_shape(self, children) -> ast.Shape | None:
        """The stated shape among a statement's children, with the DTYPE token after it."""
        shape = next((c[0] for c in children if type(c) is tuple), None)
        dtype = next((c for c in children if getattr(c, "type", "") == "DTYPE"), None)
        if shape is None or dtype is None:
            return shape
        name = ast.Name(str(dtype), self._token_span(dtype))
        return ast.Shape(shape.dims, shape.span.to(name.span), name)

    def unpack_stmt(self, children):
        return self._make(ast.Unpack, children, self._targets(children[:-1]), children[-1][0])

    def nested_target(self, children):
        return self._make(ast.Targets, children, self._targets(children))

    def _targets(self, children) -> tuple:
        """The names and nested targets among an unpacking's tokens (`(h, c)` is built already)."""
        return tuple(
            c[0] if type(c) is tuple else self._target(c)
            for c in children
            if type(c) is tuple or getattr(c, "type", "") == "NAME"
        )

    def declare_stmt(self, children):
        name, _colon, call = children
        target = self._target(name)
        self.labels.append((name.start_pos, target.id))
        return self._make(ast.Declare, children, target, call[0])

    def return_stmt(self, children):
        values = tuple(c[0] for c in children if type(c) is tuple)
        return self._make(ast.Return, children, values)

    def if_stmt(self, children):
        _if, test, body, _else, orelse = children
        orelse = orelse[0] if orelse is not None else None
        if isinstance(orelse, ast.If):
            orelse = (orelse,)
        return self._make(ast.If, children, test[0], body[0], orelse or ())

    def for_stmt(self, children):
        _for, var, _in, iterable, body = children
        return self._make(ast.For, children, self._target(var), iterable[0], body[0])

    def shape(self, children):
        dims = tuple(c[0] for c in children if type(c) is tuple)
        return self._make(ast.Shape, children, dims)

    def bounded_dim(self, children):
        name, _in, low, _dots, high, _step, step, _equals, report = children
        # `= 224` (the report size) comes after the span among BoundedDim's fields.
        node = functools.partial(ast.BoundedDim, report=report[0] if report else None)
        step = step[0] if step else None
        return self._make(node, children, self._name(name), low[0], high[0], step)

    # ------------------------------------------------------------ expressions
    def ifexp(self, children):
        body, _if, test, _else, orelse = children
        return self._make(ast.IfExp, children, body[0], test[0], orelse[0])

    def pipe(self, children):
        value, _arrow, stage = children
        node = value[0]
        if not isinstance(node, ast.Pipe):
            made = self._make(ast.Pipe, children, node, [stage[0]], step=0)
            self.pipes.append(made[0])
            return made
        # `a -> b -> c` is left-recursive: each stage is reduced with the pipeline so far, which
        # nothing else holds. Extending that node in place keeps a pipeline of n stages O(n) (a
        # new tuple per stage was O(n²)); `end` makes its stages a tuple.
        node.stages.append(stage[0])
        start, end = value[2], stage[3]
        _set_field(node, "span", Span(self.source, start, end))
        height = max(value[1], stage[1])
        if height > MAX_NESTING and self.deepest is None:
            self.deepest = node.span
        return (node, height, start, end)

    def pipe_from_name(self, children):
        """PIPE_HEAD stage (parser.build_lark's lexer shortcut): `h -> stage`, the nodes `pipe`
        would build from the name and the stage."""
        head, stage = children
        start = head.start_pos
        name = PIPE_HEAD_NAME.match(head.value).group()
        value = ast.Name(name, Span(self.source, start, start + len(name)))
        end = stage[3]
        node = ast.Pipe(value, [stage[0]], Span(self.source, start, end))
        self.pipes.append(node)  # extended by `pipe` as its stages are reduced
        return (node, stage[1], start, end)

    def layer_ref(self, children):
        (name,) = children
        return self._make(ast.LayerRef, children, self._name(name))

    def layer_index(self, children):
        name, *brackets = children
        indices = tuple(c[0] for c in brackets if type(c) is tuple)
        return self._make(ast.LayerIndex, children, self._name(name), indices)

    def labelled(self, children):
        label, _colon, call = children
        return self._make(ast.Labelled, children, label[0], call[0])

    def label(self, children):
        (token,) = children
        span = self._token_span(token)
        if token.type == "NAME":
            name = self._name(token).id
            node = ast.Label(name, (name,), span)
        else:
            node = ast.Label(self._string(token), self._template_parts(token), span)
        if len(node.parts) == 1 and isinstance(node.parts[0], str):
            self.labels.append((token.start_pos, node.parts[0]))
        return (node, 0, token.start_pos, token.end_pos)

    def not_(self, children):
        return self._make(ast.UnaryOp, children, "not", children[1][0])

    def neg(self, children):
        return self._make(ast.UnaryOp, children, "-", children[1][0])

    def pos(self, children):
        return self._make(ast.UnaryOp, children, "+", children[1][0])

    def int_lit(self, children):
        (token,) = children
        value = self._number(str(token), int, self._token_span(token))
        return self._tok_node(ast.Constant, token, value)

    def float_lit(self, children):
        (token,) = children
        value = self._number(str(token), float, self._token_span(token))
        return self._tok_node(ast.Constant, token, value)

    def string(self, children):
        (token,) = children
        return self._tok_node(ast.Constant, token, self._string(token))

    def name(self, children):
        (token,) = children
        return (self._name(token), 0, token.start_pos, token.end_pos)

    def infer(self, children):
        return self._tok_node(ast.Infer, children[0])

    def atom(self, children):
        """`( test )`: the inner node, its extent widened to the parentheses."""
        _open, inner, close = children
        return (inner[0], inner[1], _open.start_pos, close.end_pos)

    def tuple(self, children):
        items = tuple(c[0] for c in children if type(c) is tuple)
        return self._make(ast.TupleExpr, children, items)

    def list(self, children):
        items = tuple(c[0] for c in children if type(c) is tuple)
        return self._make(ast.ListExpr, children, items)

    def listcomp(self, children):
        _open, element, _for, var, _in, iterable, _close = children
        return self._make(ast.ListComp, children, element[0], self._target(var), iterable[0])

    def dict(self, children):
        pairs = [c[0] for c in children if type(c) is tuple]
        keys = tuple(key for key, _ in pairs)
        values = tuple(value for _, value in pairs)
        return self._make(ast.DictExpr, children, keys, values)

    def dict_item(self, children):
        """`key: value` of a dict: the pair, its extent and height as a node's would be."""
        key, _colon, value = children
        return ((key[0], value[0]), _height(children), key[2], value[3])

    def index(self, children):
        value, _open, index, _close = children
        return self._make(ast.Index, children, value[0], index[0])

    def call(self, children):
        args = tuple(c[0] for c in children if type(c) is tuple)
        return self._make(ast.Call, children, self._name(children[0]), args)

    def plain_call(self, children):
        """NAME PLAIN_ARGS (parser.build_lark's lexer shortcut): the nodes `call` would build
        from the same text, token by token."""
        name, arguments = children
        text, base, source = str(arguments), arguments.start_pos, self.source
        args = []
        for match in PLAIN_ARG.finditer(text, 1, len(text) - 1):
            kind = match.lastgroup
            start, end = base + match.start(kind), base + match.end(kind)
            raw = match.group(kind)
            span = Span(source, start, end)
            if kind == "name":
                value = ast.Name(raw, span)
            else:
                value = ast.Constant(self._number(raw, int if kind == "int" else float, span), span)
            keyword = match.group("keyword")
            first = base + match.start("keyword") if keyword else start
            args.append(ast.Argument(value, Span(source, first, end), keyword=keyword))
        start, end = name.start_pos, arguments.end_pos
        node = ast.Call(self._name(name), tuple(args), Span(source, start, end))
        return (node, 2 if args else 0, start, end)

    def pos_arg(self, children):
        return self._make(ast.Argument, children, children[0][0])

    def kw_arg(self, children):
        name, _equal, value = children
        start, end = name.start_pos, value[3]
        node = ast.Argument(value[0], self.source.span(start, end), keyword=str(name))
        return (node, value[1] + 1, start, end)

    def child_arg(self, children):
        label, _colon, call = children
        start, end = label[2], call[3]
        node = ast.Argument(call[0], self.source.span(start, end), label=label[0])
        return (node, max(label[1], call[1]) + 1, start, end)

    def splat_arg(self, children):
        star, value = children
        start, end = star.start_pos, value[3]
        node = ast.Argument(value[0], self.source.span(start, end), splat=True)
        return (node, value[1] + 1, start, end)

    # ------------------------------------------------------------ parameters, buffers, slicing
    def param_path(self, children):
        """`head.weight`: names joined by dots."""
        names = tuple(self._name(c) for c in children if c.type == "NAME")
        return self._make(ast.ParamPath, children, names)

    def tie_stmt(self, children):
        _tie, target, _equals, source = children
        return self._make(ast.Tie, children, target[0], source[0])

    def state_stmt(self, children):
        """`param name: [shape] = init, option=value, ...`"""
        kind, name, _colon, shape, dtype, _equals, init, *rest = children
        shape = (self._typed_shape([shape, dtype]),)
        target = self._target(name)
        self.labels.append((name.start_pos, target.id))  # an attribute: automatic names avoid it
        options = []
        for index in range(0, len(rest), 4):
            _comma, keyword, _equal, value = rest[index : index + 4]
            span = self.source.span(keyword.start_pos, value[3])
            options.append(ast.Argument(value[0], span, keyword=str(keyword)))
        fields = (str(kind), target, shape[0], init[0], tuple(options))
        return self._make(ast.State, children, *fields)

    def subscript(self, children):
        value, _open, items, _close = children
        return self._make(ast.Subscript, children, value[0], items[0])

    def subscript_items(self, children):
        items = tuple(c[0] for c in children if type(c) is tuple)
        return (items, _height(children), _first_pos(children), _last_pos(children))

    def slice(self, children):
        lower, _colon, upper, _second, step = children
        parts = (part[0] if part is not None else None for part in (lower, upper, step))
        return self._make(ast.Slice, children, *parts)

    def ellipsis(self, children):
        return self._tok_node(ast.EllipsisExpr, children[0])


def _binary(op: str):
    def method(self, children):
        left, _op, right = children
        return self._make(ast.BinOp, children, op, left[0], right[0])

    return method


for _alias, _op in _BINARY.items():
    setattr(AstBuilder, _alias, _binary(_op))
del _alias, _op
