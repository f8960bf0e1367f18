"""The values a spec computes with while it is elaborated.

Plain values are Python's own: int, float, bool, str, None, tuple, list, range, and symbolic sizes
(core.dims.Sym). Three kinds are archspec's:

- `Tensor`: the output of a graph node (an input, or an op application);
- `Recipe`: a layer, Sequential or block call, evaluated but not built yet (`Conv2d(1, 32, 3)`);
- `ModuleRef`: a built layer of a ModuleList, as a loop binds it (`for conv in convs`);
- `NoneOutput`: an output torch returns as None (`attn(q, k, v, need_weights=False)`'s weights);
- `POISON`: what a failed statement would have bound. Anything computed from POISON is POISON,
  silently, so one mistake is reported once.
"""

from __future__ import annotations

from typing import Any

from archspec.core.dims import Sym
from archspec.core.records import field, record
from archspec.core.source import Span
from archspec.elaborate.run_sizes import RunSize
from archspec.syntax import ast


class _Poison:
    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()
MISSING = object()  # "no value given" where None is a value
SCALARS = frozenset({int, float, str, bool, type(None)})  # values that hold no POISON or tensor


@record(frozen=True)
class Tensor:
    node: str  # the id of the graph node whose output this is


@record
class Definition:
    """A model or block definition, as the name of a block resolves to it."""

    node: ast.Definition | None  # None: an import that failed (and was reported)
    source_path: str
    namespace: dict[str, Definition] | None = None  # the blocks visible in its file


@record
class Recipe:
    """A layer, Sequential or block call, evaluated but not built yet (`Conv2d(1, 32, 3)`)."""

    func: str
    kind: str  # "layer", "sequential", "list", "dict", "block"
    positional: list[Any]
    keywords: dict[str, Any]
    arg_spans: dict[str, Span]  # parameter name (or "#i" for a Sequential child) -> span
    span: Span
    children: list[tuple[ast.Label | None, Any, Span]] = field(default_factory=list)
    definition: Definition | None = None  # blocks: the definition the name resolved to


@record
class ModuleRef:
    """A layer of a ModuleList, bound to a loop's or comprehension's variable (`[x -> conv for conv
    in convs]`), as torch code iterates `for conv in self.convs`: applied by `x -> conv` or
    `conv(x)`. Built already, so it is no argument of a layer or block."""

    module: Any  # the child's graph.ModuleInfo (equal only to itself)
    source: str  # how the spec would index it, for messages: "convs[0]"


@record(frozen=True)
class PyObject:
    """`extern "torch.nn:GELU"`, `extern "functools:partial"(extern "torch.nn:GELU", "tanh")`: a
    Python object archspec does not know, imported (and called) when the module is built. Only
    an extern's argument or a parameter's or buffer's initial value: the checker never imports it,
    so nothing else can use it."""

    target: str  # "module.path:attribute"
    module: str
    attribute: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    called: bool  # `extern "m:f"()` is what calling it returns; `extern "m:f"` the object itself
    span: Span | None = field(default=None, compare=False, repr=False)  # the target string

    def __str__(self) -> str:
        if not self.called:
            return f'extern "{self.target}"'
        items = [_plain_text(v) for v in self.args]
        items += [f"{key}={_plain_text(value)}" for key, value in self.kwargs]
        return f'extern "{self.target}"({", ".join(items)})'


def python_objects(value: Any) -> list[PyObject]:
    """The extern values in a plain value, those inside a call's arguments too, outermost first."""
    found: list[PyObject] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, PyObject):
            found.append(item)
            pending.extend(reversed([*item.args, *(v for _, v in item.kwargs)]))
        elif isinstance(item, (list, tuple)):
            pending.extend(reversed(item))
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
    return found


def _plain_text(value: Any) -> str:
    """A plain value as the language writes it (messages, summaries)."""
    if isinstance(value, PyObject):
        return str(value)
    if isinstance(value, tuple):
        inner = ", ".join(_plain_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_plain_text(v) for v in value) + "]"
    return repr(value)


@record(frozen=True)
class NoneOutput:
    """An output torch returns as None, as MultiheadAttention's weights with need_weights=False
    (OpSpec.none_outputs): unpacking binds it (`y, _ = attn(q, k, v, need_weights=False)`),
    reading it is an E108 at the read."""

    why: str  # "MultiheadAttention returns no weights with need_weights=False"
    help: str
    span: Span  # the call that returned it


class Outputs(tuple):
    """The tensors one op or block application returns (`x -> chunk(2, dim=1)`, `attn(q, k, v)`,
    a block's `return a, b`): a tuple of Tensors that remembers what returned it, for messages."""

    def __new__(cls, items, source: str):
        made = super().__new__(cls, items)
        made.source = source
        return made


@record
class Unsized:
    """The outputs of an op whose count only the input's shape tells (`split(2)`, `unbind()`):
    no node exists yet; unpacking makes them, one per name (`a, b, c = x -> unbind(1)`)."""

    op: str
    make: Any  # count -> Outputs, adding that many nodes to the graph
    span: Span


def unpack_help(value: Any) -> str | None:
    """The help for several tensors used where one belongs."""
    if isinstance(value, Outputs):
        names = ", ".join(f"t{i}" for i in range(len(value))) if len(value) <= 4 else "a, b, ..."
        return f"unpack it: `{names} = ...`, or take one, e.g. `outputs[0]`"
    if isinstance(value, Unsized):
        return "unpack it where it is made, one name per tensor: `a, b = ...`"
    return None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kind_of(value: Any) -> str:
    """What a value is, in the words of a message: "a tensor", "the number 3", ..."""
    if isinstance(value, Tensor):
        return "a tensor"
    if isinstance(value, Recipe):
        return f"a layer ({value.func})"
    if isinstance(value, ModuleRef):
        return f"the layer {value.source}"
    if isinstance(value, Outputs):
        nested = any(isinstance(item, tuple) for item in value)  # LSTM's (out, (h_n, c_n))
        return f"the {len(value)} {'values' if nested else 'tensors'} {value.source} returns"
    if isinstance(value, Unsized):
        return f"the tensors {value.op}() returns (how many, only the input's shape tells)"
    if isinstance(value, NoneOutput):
        return f"None ({value.why})"
    if isinstance(value, PyObject):
        return f"the Python object {value}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Sym):
        return f"the symbolic size {value}"
    if isinstance(value, RunSize):
        return f"the size {value} (read off an input when the module runs)"
    if isinstance(value, (list, tuple, range)):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__
