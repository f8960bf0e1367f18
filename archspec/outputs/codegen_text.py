"""Text helpers of generated code, shared by the model writer (codegen.py) and the block
translator (codegen_blocks.py): literals, identifiers, constructor arguments and line layout."""

from __future__ import annotations

import ast as pyast
import builtins
import keyword
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from archspec.core.dtypes import FLOAT32, DType, is_floating, torch_name
from archspec.elaborate.loader import shown_path
from archspec.elaborate.state import EXTERN, INITIALIZERS, PARAM, StateInfo
from archspec.elaborate.values import PyObject
from archspec.ops import INFER, REQUIRED, OpSpec
from archspec.ops.base import LayerArg

LINE_LENGTH = 100
INDENT = "    "
# Sequentials nested deeper than this inside one constructor are built first, as locals: Python's
# parser takes at most 200 nested brackets, and deeper nesting would not read well anyway.
MAX_INLINE_NESTING = 8

# Names a generated local must not take: keywords, builtins, and the modules the code uses.
_RESERVED = set(keyword.kwlist) | set(dir(builtins)) | {"self", "torch", "nn", "F", "OrderedDict"}
_RESERVED |= {"torchvision"}  # imported when a layer is torchvision's (StochasticDepth, ...)
_RESERVED |= {"match", "case", "type", "_"}  # soft keywords


class CodegenError(Exception):
    """A spec that checks but cannot be written as Python (reported by the caller with a span)."""

    def __init__(self, message: str, span=None):
        super().__init__(message)
        self.message = message
        self.span = span


# ---------------------------------------------------------------- Python objects

# torch's modules, as generated code names them (`extern "torch.nn:GELU"` is `nn.GELU`).
TORCH_MODULES = {"torch": "torch", "torch.nn": "nn", "torch.nn.functional": "F"}
# The names written for extern values, gathered while a module is generated: name -> modules.
_IMPORTED: ContextVar[dict[str, set[str]] | None] = ContextVar("archspec_imported", default=None)


@contextmanager
def gathering_imports() -> Iterator[dict[str, set[str]]]:
    """The names that `python_reference` writes inside the block, for the module's imports."""
    names: dict[str, set[str]] = {}
    token = _IMPORTED.set(names)
    try:
        yield names
    finally:
        _IMPORTED.reset(token)


def python_reference(module: str, attribute: str) -> str:
    """How generated code names the object at `module:attribute`: torch's by their module
    (`nn.GELU`, `F.gelu`), any other by its name, imported at the top (`partial`)."""
    prefix = TORCH_MODULES.get(module)
    if prefix is not None:
        return f"{prefix}.{attribute}"
    names = _IMPORTED.get()
    if names is not None:
        names.setdefault(attribute.split(".")[0], set()).add(module)
    return attribute


def python_object(target: str, called: bool, args: list[str]) -> str:
    """An extern value (`module:attribute`) as Python: the object, or its call with `args`
    (written already)."""
    module, _, attribute = target.partition(":")
    name = python_reference(module, attribute)
    return f"{name}({', '.join(args)})" if called else name


# ---------------------------------------------------------------- literals


def literal(value: Any) -> str:
    """Python source for a plain value; anything else is refused."""
    if isinstance(value, str):
        text = repr(value)
        # In double quotes, as ruff format writes it, unless the text holds one itself.
        return f'"{text[1:-1]}"' if text[0] == "'" and '"' not in value else text
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, DType):  # `to(int64)`: torch.int64
        return torch_name(value.name)
    if isinstance(value, LayerArg):  # a layer as an argument: TransformerEncoder's encoder_layer
        written = constructor_args(value.op, value.args, value.args, value.keywords)
        return f"{value.op.torch}({', '.join(written)})"
    if isinstance(value, float):
        text = repr(value)
        return text if text not in ("inf", "-inf", "nan") else f'float("{text}")'
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, PyObject):  # `partial(LayerNorm, eps=1e-06)`
        args = [literal(v) for v in value.args]
        args += [f"{key}={literal(v)}" for key, v in value.kwargs]
        return python_object(value.target, value.called, args)
    raise CodegenError(f"cannot write {value!r} as a Python literal")


# ---------------------------------------------------------------- source writer


class Writer:
    """Tiny source writer (Jinja's CodeGenerator habit): lines at the current indent."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str = "") -> None:
        self.lines.append(INDENT * self.level + text if text else "")

    def indent(self) -> None:
        self.level += 1

    def dedent(self) -> None:
        self.level -= 1

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def call_lines(head: str, args: list[str], depth: int, comment: str = "") -> list[str]:
    """`head(args)  # comment` on one line if it fits at this indent depth, else exploded one
    argument per line with a magic trailing comma (a layout ruff format keeps as it is)."""
    suffix = f"  # {comment}" if comment else ""
    flat = f"{head}({', '.join(args)})"
    if len(INDENT * depth + flat + suffix) <= LINE_LENGTH or not args:
        return [flat + suffix]
    return _exploded(head, args, comment=comment)


# ---------------------------------------------------------------- constructors


def render_args(op: OpSpec, values: dict[str, str], keywords: frozenset[str]) -> list[str]:
    """Arguments in the spec's own style: what it passed by position stays positional as long as no
    earlier argument was left out, the rest by keyword. `values` holds only what is to be written
    (required arguments and those that differ from torch's defaults)."""
    args: list[str] = []
    positional = True
    for param in op.params:
        if param.is_tensor:
            continue
        if param.name not in values:
            positional = positional and param.variadic
            continue
        positional = positional and param.name not in keywords
        if positional or param.variadic:
            args.append(values[param.name])
        else:
            args.append(f"{param.name}={values[param.name]}")
    return args


def constructor_args(
    op: OpSpec, raw: dict[str, Any], resolved: dict[str, Any], keywords: frozenset[str]
) -> list[str]:
    """A layer's constructor arguments, `?` replaced by the inferred number."""
    values: dict[str, str] = {}
    for param in op.params:
        if param.is_tensor:
            continue
        value = raw.get(param.name, param.default)
        if value is INFER:
            value = resolved[param.name]
        if param.variadic:
            values[param.name] = ", ".join(literal(v) for v in value)
        elif param.default is REQUIRED or not _same(value, param.default):
            values[param.name] = literal(value)
    return render_args(op, values, keywords)


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default


def _identifier(name: str) -> str:
    """A local variable name: the spec's, as Python will read it (NFKC), kept off reserved words."""
    name = unicodedata.normalize("NFKC", name)
    if not name.isidentifier():
        name = "v_" + "".join(c if c.isalnum() else "_" for c in name)
    if name in _RESERVED or name.startswith("__"):
        name = name + "_"
    return name


def docstring_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring: no quote or backslash can end or bend it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in escaped)


def _exploded(head: str, items: list[str], comment: str = "") -> list[str]:
    suffix = f"  # {comment}" if comment else ""
    lines = [f"{head}("]
    lines.extend(f"{INDENT}{item}," for item in items)
    lines.append(f"){suffix}")
    return lines


def _where(definition) -> str:
    span = definition.name.span
    return f"{shown_path(span.source.path)}:{span.line}"


def _show(value: Any) -> str:
    try:
        return literal(value)
    except CodegenError:
        return str(value)


def _state_line(state: StateInfo, value: str | None = None, shape: list[str] | None = None) -> str:
    """`self.layer_scale = nn.Parameter(torch.full((96, 1, 1), 1e-06))`, or
    `self.register_buffer("mask", torch.zeros(4, 4), persistent=False)`, as torchvision writes
    them. Values are written as floats: an int fill would make an integer tensor. `value`: the
    variable holding a tensor initial value computed just before; `shape`: the sizes as written
    (a parametrized class's `dim`), instead of the instance's numbers."""
    value = _initial_value(state, shape) if value is None else value
    if state.kind == PARAM:
        frozen = "" if state.options["requires_grad"] else ", requires_grad=False"
        return f"self.{state.name} = nn.Parameter({value}{frozen})"
    transient = "" if state.options["persistent"] else ", persistent=False"
    return f"self.register_buffer({literal(state.name)}, {value}{transient})"


def _initial_value(state: StateInfo, shape: list[str] | None = None) -> str:
    if state.init == EXTERN:  # `causal_mask(8, diagonal=1)`, imported at the top
        args = state.init_args
        written = [literal(v) for v in args["args"]]
        written += [f"{key}={literal(v)}" for key, v in args["kwargs"].items()]
        return f"{python_reference(args['module'], args['attribute'])}({', '.join(written)})"
    shape = [str(size) for size in state.shape] if shape is None else shape
    sizes = ", ".join(shape) or "()"
    args = {key: literal(float(value)) for key, value in state.init_args.items()}
    if state.dtype != FLOAT32:  # `torch.zeros(49, dtype=torch.int64)`
        sizes += f", dtype={torch_name(state.dtype)}"
        if not is_floating(state.dtype):  # an integer or bool fill, written as one
            cast = bool if state.dtype == "bool" else int
            args = {key: literal(cast(value)) for key, value in state.init_args.items()}
    changed = [
        f"{key}={args[key]}"
        for key, default in INITIALIZERS[state.init]
        if float(state.init_args[key]) != default
    ]
    if state.init in ("zeros", "ones"):
        return f"torch.{state.init}({sizes})"
    if state.init == "full":
        dtype = sizes[sizes.index(", dtype=") :] if ", dtype=" in sizes else ""
        sizes = f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(shape)})"
        return f"torch.full({sizes}, {args['fill_value']}{dtype})"
    if state.init == "normal":
        return f"torch.empty({sizes}).normal_({', '.join(changed)})"
    if state.init == "uniform":  # Tensor.uniform_(from, to): `from` is a Python keyword
        return f"torch.empty({sizes}).uniform_({args['low']}, {args['high']})"
    return f"nn.init.trunc_normal_({', '.join([f'torch.empty({sizes})', *changed])})"


# ---------------------------------------------------------------- layout of expressions


# Python's operator precedence, lowest first (what needs parentheses where).
IFEXP, OR, AND, NOT, COMPARE, BITOR, ADD, MULTIPLY, UNARY, POWER, ATOM = (
    1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 20
)  # fmt: skip


@dataclass
class Code:
    """A Python expression: its flat text, its precedence, and where it may break when too long
    (a call or display: `head` + `open`, items, `close`), as ruff format breaks it."""

    text: str
    precedence: int = ATOM
    head: str = ""
    open: str = ""
    items: list[Code] | None = None
    close: str = ""
    commas: bool = True  # items end in commas (a comprehension's parts do not)
    # A chain of binary operators of one precedence: (operator, operand) pairs, the first
    # operator "": where ruff breaks a long arithmetic, one operand a line.
    chain: list[tuple[str, Code]] | None = None


def atom(text: str) -> Code:
    return Code(text)


def call(head: str, items: list[Code]) -> Code:
    return Code(f"{head}({', '.join(i.text for i in items)})", ATOM, head, "(", items, ")")


def display(open_: str, items: list[Code], close: str) -> Code:
    inner = ", ".join(i.text for i in items)
    if open_ == "(" and len(items) == 1:
        inner += ","
    return Code(f"{open_}{inner}{close}", ATOM, "", open_, items, close)


def prefixed(prefix: str, code: Code) -> Code:
    """`key=value`, `*rest`: an item that still breaks inside its value."""
    return replace(code, text=prefix + code.text, head=prefix + code.head)


def parenthesized(code: Code, at_least: int) -> Code:
    """`code`, in parentheses where its operators bind less tightly than `at_least` (breakable
    inside them, as ruff breaks `* (\n    a\n    // 7\n)`)."""
    if code.precedence >= at_least:
        return code
    return Code(f"({code.text})", ATOM, "", "(", [code], ")", commas=False)


def layout(
    code: Code, prefix: str, suffix: str, depth: int, comment: str = "", inside: bool = False
) -> list[str]:
    """`prefix code suffix  # comment` on one line if it fits at this depth, else broken at the
    outermost brackets, one item a line with a magic trailing comma (ruff format keeps that); a
    comment that alone makes an unbreakable line too long is left out."""
    note = f"  # {comment}" if comment else ""
    flat = prefix + code.text + suffix
    if len(INDENT * depth + flat + note) <= LINE_LENGTH:
        return [flat + note]
    if code.chain and inside:  # inside brackets: ruff breaks before each operator
        return _chain_lines(code, prefix, suffix + note, depth)
    if code.chain and not code.items:  # a statement's value: in parentheses, then so
        fits = len(INDENT * (depth + 1) + code.text) <= LINE_LENGTH
        inner = [code.text] if fits else _chain_lines(code, "", "", depth + 1)
        return [prefix + "(", *(INDENT + text for text in inner), ")" + suffix + note]
    if not code.items:
        return [flat]
    lines = [prefix + code.head + code.open]
    comma = "," if code.commas else ""
    for item in code.items:
        lines.extend(INDENT + text for text in layout(item, "", comma, depth + 1, inside=True))
    lines.append(code.close + suffix + note)
    return lines


def statement_lines(code: Code, prefix: str, depth: int, comment: str = "") -> list[str]:
    """`prefix code  # comment` laid out (see layout), or on one line where the broken form would
    not parse to the same Python: a guard, so a layout slip costs a long line, never meaning."""
    lines = layout(code, prefix, "", depth, comment)
    if len(lines) == 1:
        return lines
    flat = prefix + code.text
    try:
        same = pyast.dump(pyast.parse("\n".join(lines))) == pyast.dump(pyast.parse(flat))
    except SyntaxError:
        same = False
    return lines if same else [flat + (f"  # {comment}" if comment else "")]


def _chain_lines(code: Code, prefix: str, suffix: str, depth: int) -> list[str]:
    lines: list[str] = []
    last = len(code.chain) - 1
    for index, (operator, operand) in enumerate(code.chain):
        head = prefix if index == 0 else f"{operator} "
        end = suffix if index == last else ""
        lines.extend(layout(operand, head, end, depth, inside=True))
    return lines


_PY_BINARY = {
    pyast.Add: ("+", ADD), pyast.Sub: ("-", ADD), pyast.Mult: ("*", MULTIPLY),
    pyast.Div: ("/", MULTIPLY), pyast.FloorDiv: ("//", MULTIPLY), pyast.Mod: ("%", MULTIPLY),
    pyast.Pow: ("**", POWER), pyast.MatMult: ("@", MULTIPLY), pyast.BitOr: ("|", BITOR),
    pyast.BitAnd: ("&", BITOR), pyast.BitXor: ("^", BITOR),
}  # fmt: skip
_PY_COMPARE = {
    pyast.Eq: "==", pyast.NotEq: "!=", pyast.Lt: "<", pyast.LtE: "<=", pyast.Gt: ">",
    pyast.GtE: ">=", pyast.Is: "is", pyast.IsNot: "is not", pyast.In: "in", pyast.NotIn: "not in",
}  # fmt: skip
_PY_UNARY = {pyast.USub: "-", pyast.UAdd: "+", pyast.Invert: "~"}


def python_code(text: str) -> Code:
    """Python source as ruff formats it: no redundant parentheses, `x**2` between simple
    operands, spaces around a slice's `:` beside a complex bound, strings in double quotes; and
    breakable at its calls and displays. Text it cannot parse is kept as it is."""
    try:
        tree = pyast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return Code(text, IFEXP)
    return _code_of(tree, text.strip())


def _code_of(node, source: str) -> Code:
    kind = type(node)
    if kind is pyast.Name:
        return atom(node.id)
    if kind is pyast.Constant:
        if node.value is Ellipsis:
            return atom("...")
        text = literal(node.value)
        return atom(text) if not text.startswith("-") else Code(text, UNARY)
    if kind is pyast.JoinedStr:  # f"denselayer{i + 1}": as written
        return atom(pyast.get_source_segment(source, node) or pyast.unparse(node))
    if kind is pyast.Attribute:
        value = parenthesized(_code_of(node.value, source), ATOM)
        if isinstance(node.value, pyast.Constant) and isinstance(node.value.value, int):
            value = Code(f"({value.text})")  # `(1).bit_length`
        return atom(f"{value.text}.{node.attr}")
    if kind is pyast.Call:
        head = parenthesized(_code_of(node.func, source), ATOM).text
        items = [_argument(a, source) for a in node.args]
        items += [
            prefixed("**" if k.arg is None else f"{k.arg}=", _code_of(k.value, source))
            for k in node.keywords
        ]
        return call(head, items)
    if kind is pyast.Starred:
        return prefixed("*", parenthesized(_code_of(node.value, source), BITOR))
    if kind in (pyast.List, pyast.Tuple):
        items = [_argument(e, source) for e in node.elts]
        return display("[", items, "]") if kind is pyast.List else display("(", items, ")")
    if kind is pyast.Subscript:
        value = parenthesized(_code_of(node.value, source), ATOM).text
        index = node.slice
        parts = index.elts if isinstance(index, pyast.Tuple) and index.elts else [index]
        texts = [_index(part, source) for part in parts]
        inner = ", ".join(texts) + (
            "," if isinstance(index, pyast.Tuple) and len(texts) == 1 else ""
        )
        return atom(f"{value}[{inner}]")
    if kind is pyast.BinOp:
        symbol, precedence = _PY_BINARY[type(node.op)]
        left, right = _code_of(node.left, source), _code_of(node.right, source)
        if symbol == "**":
            left, right = parenthesized(left, POWER + 1), parenthesized(right, UNARY)
            if _simple_power(node.left) and _simple_power(node.right):
                return Code(f"{left.text}**{right.text}", POWER)
        else:
            left, right = parenthesized(left, precedence), parenthesized(right, precedence + 1)
        text = f"{left.text} {symbol} {right.text}"
        # `a - b + c` is one chain (left-associative): its operands broken alike
        chain = left.chain if left.chain and left.precedence == precedence else [("", left)]
        chain = [*chain, (symbol, right)] if symbol != "**" else None
        if right.items and not right.head.endswith(tuple("abcdefghijklmnopqrstuvwxyz_0123456789")):
            # `layers + [...]`, `a - (\n    b\n)`: ruff breaks the last bracket
            return replace(right, text=text, precedence=precedence,
                           head=f"{left.text} {symbol} {right.head}", chain=chain)  # fmt: skip
        return Code(text, precedence, chain=chain)
    if kind is pyast.UnaryOp:
        operand = _code_of(node.operand, source)
        if isinstance(node.op, pyast.Not):
            return Code(f"not {parenthesized(operand, NOT).text}", NOT)
        symbol = _PY_UNARY[type(node.op)]
        return Code(f"{symbol}{parenthesized(operand, UNARY).text}", UNARY)
    if kind is pyast.BoolOp:
        symbol, precedence = ("and", AND) if isinstance(node.op, pyast.And) else ("or", OR)
        values = [parenthesized(_code_of(v, source), precedence + 1).text for v in node.values]
        return Code(f" {symbol} ".join(values), precedence)
    if kind is pyast.Compare:
        parts = [parenthesized(_code_of(node.left, source), BITOR).text]
        for operator, right in zip(node.ops, node.comparators):
            parts += [
                _PY_COMPARE[type(operator)],
                parenthesized(_code_of(right, source), BITOR).text,
            ]
        text = " ".join(parts)
        right = parenthesized(_code_of(node.comparators[-1], source), BITOR)
        if len(node.ops) == 1 and right.items and not right.head[-1:].isidentifier():
            head = text[: len(text) - len(right.text)] + right.head  # `a < b - (\n    c\n)`
            return replace(right, text=text, precedence=COMPARE, head=head, chain=None)
        return Code(text, COMPARE)
    if kind is pyast.IfExp:
        body = parenthesized(_code_of(node.body, source), OR).text
        test = parenthesized(_code_of(node.test, source), OR).text
        orelse = parenthesized(_code_of(node.orelse, source), IFEXP).text
        return Code(f"{body} if {test} else {orelse}", IFEXP)
    if kind is pyast.ListComp and len(node.generators) == 1 and not node.generators[0].ifs:
        generator = node.generators[0]
        element = parenthesized(_code_of(node.elt, source), IFEXP).text
        target = _code_of(generator.target, source).text
        iterable = parenthesized(_code_of(generator.iter, source), OR).text
        parts = [_code_of(node.elt, source), atom(f"for {target} in {iterable}")]
        text = f"[{element} for {target} in {iterable}]"
        return Code(text, ATOM, "", "[", parts, "]", commas=False)
    return Code(pyast.get_source_segment(source, node) or pyast.unparse(node), IFEXP)


def _argument(node, source: str) -> Code:
    return _code_of(node, source)


def _index(node, source: str) -> str:
    if not isinstance(node, pyast.Slice):
        return _code_of(node, source).text
    bounds = [node.lower, node.upper] + ([node.step] if node.step is not None else [])
    texts = ["" if b is None else _code_of(b, source).text for b in bounds]
    if all(b is None or _simple_bound(b) for b in bounds):
        return ":".join(texts)
    out = texts[0]  # `a + 1 : b`, `: f(b)`, `f(a) :`, `a + 1 :: 2`, as ruff spaces them
    for text in texts[1:]:
        out += (" :" if out and not out.endswith(":") else ":") + (f" {text}" if text else "")
    return out


def _simple_bound(node) -> bool:
    """A slice bound ruff writes without spaces around `:`: a name or a (negative) number."""
    if isinstance(node, pyast.UnaryOp) and isinstance(node.op, (pyast.USub, pyast.UAdd)):
        node = node.operand
    return isinstance(node, (pyast.Name, pyast.Constant))


def _simple_power(node) -> bool:
    """An operand ruff hugs `**` to: a name, a number or an attribute chain, maybe negated."""
    if isinstance(node, pyast.UnaryOp) and isinstance(node.op, (pyast.USub, pyast.UAdd)):
        node = node.operand
    while isinstance(node, pyast.Attribute):
        node = node.value
    return isinstance(node, pyast.Name) or (
        isinstance(node, pyast.Constant) and isinstance(node.value, (int, float))
    )
