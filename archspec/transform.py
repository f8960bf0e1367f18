"""lark parse tree -> archspec.ast, without recursion (huge chains and files stay safe)."""

from __future__ import annotations

import ast as py_ast
import math
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
