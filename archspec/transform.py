"""lark parse tree -> archspec.ast, without recursion (huge chains and files stay safe)."""

from __future__ import annotations

import ast as py_ast
import math
import re
import warnings

from lark import Token, Transformer_NonRecursive, Tree, v_args
from lark.exceptions import VisitError

from archspec import ast
from archspec import diagnostics as diag
from archspec.source import SourceFile, Span

_BINARY = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%",
    "pow": "**", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "or_": "or", "and_": "and",
}  # fmt: skip

# Words of the language (docs/language.md): the lexer is contextual, so without this check `in = x`
# or `model = x` would be taken as names where no keyword fits.
RESERVED = frozenset("model block input return if else for in from import and or not".split())
CONSTANT_NAMES = frozenset({"True", "False", "None"})  # usable in expressions, never bound


def to_ast(source: SourceFile, tree: Tree) -> ast.Module:
    try:
        return _ToAst(source).transform(tree)
    except VisitError as error:  # lark wraps what a rule method raises
        if isinstance(error.orig_exc, diag.ArchError):
            raise error.orig_exc from None
        raise


def _binary(op: str):
    def method(self, meta, children):
        left, right = children
        return ast.BinOp(op, left, right, self._span(meta))

    return method


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    def __init__(self, source: SourceFile):
        super().__init__(visit_tokens=False)
        self.source = source

    # ------------------------------------------------------------ helpers
    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return self.source.span(0, 0)
        return self.source.span(meta.start_pos, meta.end_pos)

    def _token_span(self, token: Token) -> Span:
        return self.source.span(token.start_pos, token.end_pos)

    def _name(self, token: Token) -> ast.Name:
        if str(token) in RESERVED:
            raise diag.ArchError(
                diag.make(
                    "E001",
                    f"'{token}' is a reserved word and cannot be a name",
                    self._token_span(token),
                    "reserved",
                    help="choose another name",
                )
            )
        return ast.Name(str(token), self._token_span(token))

    def _target(self, token: Token) -> ast.Name:
        """A name that gets bound: also not True, False or None."""
        if str(token) in CONSTANT_NAMES:
            raise diag.ArchError(
                diag.make(
                    "E001",
                    f"cannot bind the constant '{token}'",
                    self._token_span(token),
                    "a constant",
                    help="choose another name",
                )
            )
        return self._name(token)

    # ------------------------------------------------------------ top level
    def start(self, meta, children):
        imports = tuple(c for c in children if isinstance(c, ast.Import))
        definitions = tuple(c for c in children if isinstance(c, ast.Definition))
        return ast.Module(imports, definitions, self._span(meta))

    def import_stmt(self, meta, children):
        path_token, *names = [c for c in children if c is not None]
        path = ast.Constant(_string_value(path_token, self.source), self._token_span(path_token))
        return ast.Import(path, tuple(self._name(n) for n in names), self._span(meta))

    def definition(self, meta, children):
        kind, name, params, body = children
        return ast.Definition(str(kind), self._name(name), params or (), body, self._span(meta))

    def params(self, meta, children):
        return tuple(c for c in children if c is not None)

    def param(self, meta, children):
        name, default = children
        return ast.Param(self._target(name), default, self._span(meta))

    def body(self, meta, children):
        return tuple(children)

    # ------------------------------------------------------------ statements
    def input_stmt(self, meta, children):
        name, shape = children
        return ast.Input(self._target(name), shape, self._span(meta))

    def assign_stmt(self, meta, children):
        name, shape, value = children
        return ast.Assign(self._target(name), shape, value, self._span(meta))

    def declare_stmt(self, meta, children):
        name, call = children
        return ast.Declare(self._target(name), call, self._span(meta))

    def return_stmt(self, meta, children):
        return ast.Return(tuple(children), self._span(meta))

    def if_stmt(self, meta, children):
        test, body, _else, orelse = children
        if isinstance(orelse, ast.If):
            orelse = (orelse,)
        return ast.If(test, body, orelse or (), self._span(meta))

    def for_stmt(self, meta, children):
        var, iterable, body = children
        return ast.For(self._target(var), iterable, body, self._span(meta))

    def shape(self, meta, children):
        return ast.Shape(tuple(c for c in children if c is not None), self._span(meta))

    def bounded_dim(self, meta, children):
        name, low, high, step = children
        return ast.BoundedDim(self._name(name), low, high, step, self._span(meta))

    # ------------------------------------------------------------ expressions
    def ifexp(self, meta, children):
        body, test, orelse = children
        return ast.IfExp(body, test, orelse, self._span(meta))

    def pipe(self, meta, children):
        value, stage = children
        if isinstance(value, ast.Pipe):
            return ast.Pipe(value.value, (*value.stages, stage), self._span(meta))
        return ast.Pipe(value, (stage,), self._span(meta))

    def layer_ref(self, meta, children):
        (name,) = children
        return ast.LayerRef(self._name(name), self._span(meta))

    def labelled(self, meta, children):
        label, call = children
        return ast.Labelled(label, call, self._span(meta))

    def label(self, meta, children):
        (token,) = children
        span = self._token_span(token)
        if token.type == "NAME":
            name = self._name(token).id
            return ast.Label(name, (name,), span)
        return ast.Label(
            _string_value(token, self.source), _template_parts(self.source, token), span
        )

    def not_(self, meta, children):
        return ast.UnaryOp("not", children[0], self._span(meta))

    def neg(self, meta, children):
        return ast.UnaryOp("-", children[0], self._span(meta))

    def pos(self, meta, children):
        return ast.UnaryOp("+", children[0], self._span(meta))

    locals().update({alias: _binary(op) for alias, op in _BINARY.items()})

    def int_lit(self, meta, children):
        (token,) = children
        try:
            value = int(str(token).replace("_", ""))
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise _too_large(self._span(meta)) from None
        return ast.Constant(value, self._span(meta))

    def float_lit(self, meta, children):
        (token,) = children
        value = float(str(token).replace("_", ""))
        if math.isinf(value):
            raise _too_large(self._span(meta))
        return ast.Constant(value, self._span(meta))

    def string(self, meta, children):
        (token,) = children
        return ast.Constant(_string_value(token, self.source), self._span(meta))

    def name(self, meta, children):
        return self._name(children[0])

    def infer(self, meta, children):
        return ast.Infer(self._span(meta))

    def tuple(self, meta, children):
        return ast.TupleExpr(tuple(c for c in children if c is not None), self._span(meta))

    def list(self, meta, children):
        return ast.ListExpr(tuple(c for c in children if c is not None), self._span(meta))

    def listcomp(self, meta, children):
        element, var, iterable = children
        return ast.ListComp(element, self._target(var), iterable, self._span(meta))

    def index(self, meta, children):
        value, index = children
        return ast.Index(value, index, self._span(meta))

    def call(self, meta, children):
        func, *args = children
        args = tuple(a for a in args if a is not None)
        return ast.Call(self._name(func), args, self._span(meta))

    def pos_arg(self, meta, children):
        return ast.Argument(children[0], self._span(meta))

    def kw_arg(self, meta, children):
        name, value = children
        return ast.Argument(value, self._span(meta), keyword=str(name))

    def child_arg(self, meta, children):
        label, call = children
        return ast.Argument(call, self._span(meta), label=label)

    def splat_arg(self, meta, children):
        return ast.Argument(children[0], self._span(meta), splat=True)


def _too_large(span: Span) -> diag.ArchError:
    return diag.ArchError(
        diag.make(
            "E110", "this number is too large", span, "too large", help="use a smaller number"
        )
    )


def _string_value(token: Token, source: SourceFile) -> str:
    # The STRING terminal only admits Python-compatible quoted literals without newlines, but an
    # escape can still be malformed ("\x", "\N{nope}").
    try:
        with warnings.catch_warnings():  # "\d" is kept as is, without Python's SyntaxWarning
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


def _template_parts(source: SourceFile, token: Token) -> tuple:
    """Split a label template "stage{i + 1}" into text and placeholder expressions."""
    from archspec.parser import parse_expression

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
            raise diag.ArchError(
                diag.make(
                    "E001",
                    "unclosed '{' in a layer name template",
                    source.span(base + open_at, base + open_at + 1),
                    "opened here",
                    help='placeholders look like "denselayer{i + 1}"',
                )
            )
        if open_at > position:
            parts.append(raw[position:open_at])
        parts.append(parse_expression(source, base + open_at + 1, base + close_at))
        position = close_at + 1
    return tuple(parts)


# ---------------------------------------------------------------- the fast path
#
# `archspec check` parses with this instead of parse() + to_ast(): the LALR parser calls these
# methods as it reduces (no parse tree, no propagate_positions), with every token kept. Each value
# on the parser's stack is (node, height, start, end): `height` is the parse tree's nesting depth
# below the node as parser._check_nesting counts it, and start/end the extent of the node's text
# including any wrapping parentheses (lark's "container"), from which the parent's span follows
# exactly as propagate_positions computes it. Anything unusual (a syntax error, a diagnostic,
# too deep nesting) makes parser.parse_module fall back to the exact slow path, so diagnostics
# and their order stay those of parse() + to_ast().


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


def _height(children, step: int = 1) -> int:
    h = -1
    for c in children:
        if type(c) is tuple and c[1] > h:
            h = c[1]
    return h + step if h >= 0 else 0


def _plain_arg_pattern() -> re.Pattern:
    from archspec.parser import _FLOAT, _INT, _NAME

    return re.compile(
        rf"(?:(?P<keyword>{_NAME})[ \t\f\r\n]*=[ \t\f\r\n]*)?"
        rf"(?:(?P<float>{_FLOAT})|(?P<int>{_INT})|(?P<name>{_NAME}))"
    )


class FastAst:
    """Callbacks for an LALR parser built with keep_all_tokens=True (see parser.get_fast_parser)."""

    source: SourceFile
    labels: list[tuple[int, str]]  # (offset, name) of the plain layer names since the last body

    # ------------------------------------------------------------ helpers
    def _make(self, cls, children, *fields, step: int = 1):
        start, end = _first_pos(children), _last_pos(children)
        node = cls(*fields, Span(self.source, start, end))  # end >= start: no clamping needed
        return (node, _height(children, step), start, end)

    def _tok_node(self, node_cls, token, *fields):
        start, end = token.start_pos, token.end_pos
        return (node_cls(*fields, self.source.span(start, end)), 0, start, end)

    _name = _ToAst._name
    _target = _ToAst._target
    _token_span = _ToAst._token_span

    # ------------------------------------------------------------ top level
    def start(self, children):
        nodes = [c[0] for c in children if type(c) is tuple]
        imports = tuple(c for c in nodes if isinstance(c, ast.Import))
        definitions = tuple(c for c in nodes if isinstance(c, ast.Definition))
        if not nodes:
            return (ast.Module(imports, definitions, self.source.span(0, 0)), 0, 0, 0)
        return self._make(ast.Module, children, imports, definitions)

    def import_stmt(self, children):
        tokens = [c for c in children if c is not None and c.type in ("STRING", "NAME")]
        path_token, *names = tokens
        path = ast.Constant(_string_value(path_token, self.source), self._token_span(path_token))
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

    # ------------------------------------------------------------ statements
    def input_stmt(self, children):
        shape = children[-1][0] if type(children[-1]) is tuple else None
        return self._make(ast.Input, children, self._target(children[1]), shape)

    def assign_stmt(self, children):
        shape = children[2][0] if type(children[2]) is tuple else None
        return self._make(ast.Assign, children, self._target(children[0]), shape, children[-1][0])

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
        name, _in, low, _dots, high, *rest = children
        step = rest[-1][0] if rest and type(rest[-1]) is tuple else None
        return self._make(ast.BoundedDim, children, self._name(name), low[0], high[0], step)

    # ------------------------------------------------------------ expressions
    def ifexp(self, children):
        body, _if, test, _else, orelse = children
        return self._make(ast.IfExp, children, body[0], test[0], orelse[0])

    def pipe(self, children):
        value, _arrow, stage = children
        node = value[0]
        if isinstance(node, ast.Pipe):
            return self._make(ast.Pipe, children, node.value, (*node.stages, stage[0]), step=0)
        return self._make(ast.Pipe, children, node, (stage[0],), step=0)

    def layer_ref(self, children):
        (name,) = children
        return self._make(ast.LayerRef, children, self._name(name))

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
            node = ast.Label(
                _string_value(token, self.source), _template_parts(self.source, token), span
            )
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
        try:
            value = int(str(token).replace("_", ""))
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise _too_large(self._token_span(token)) from None
        return self._tok_node(ast.Constant, token, value)

    def float_lit(self, children):
        (token,) = children
        value = float(str(token).replace("_", ""))
        if math.isinf(value):
            raise _too_large(self._token_span(token))
        return self._tok_node(ast.Constant, token, value)

    def string(self, children):
        (token,) = children
        return self._tok_node(ast.Constant, token, _string_value(token, self.source))

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

    def index(self, children):
        value, _open, index, _close = children
        return self._make(ast.Index, children, value[0], index[0])

    def call(self, children):
        args = tuple(c[0] for c in children if type(c) is tuple)
        return self._make(ast.Call, children, self._name(children[0]), args)

    def plain_call(self, children):
        """NAME PLAIN_ARGS (parser.build_lark's fast-path token): the nodes `call` would build
        from the same text, token by token."""
        name, arguments = children
        text, base, source = str(arguments), arguments.start_pos, self.source
        args = []
        for match in _PLAIN_ARG.finditer(text, 1, len(text) - 1):
            kind = match.lastgroup
            start, end = base + match.start(kind), base + match.end(kind)
            raw = match.group(kind)
            if kind == "name":
                value = ast.Name(raw, Span(source, start, end))
            elif kind == "int":
                try:
                    value = ast.Constant(int(raw.replace("_", "")), Span(source, start, end))
                except ValueError:  # more digits than Python converts
                    raise _too_large(Span(source, start, end)) from None
            else:
                number = float(raw.replace("_", ""))
                if math.isinf(number):
                    raise _too_large(Span(source, start, end))
                value = ast.Constant(number, Span(source, start, end))
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


def _fast_binary(op: str):
    def method(self, children):
        left, _op, right = children
        return self._make(ast.BinOp, children, op, left[0], right[0])

    return method


for _alias, _op in _BINARY.items():
    setattr(FastAst, _alias, _fast_binary(_op))
del _alias, _op

_PLAIN_ARG = _plain_arg_pattern()
