"""The spec's abstract syntax tree: immutable nodes, each with a span (ignored by equality)."""

from __future__ import annotations

from operator import attrgetter

from archspec.core.source import Span

# An AST node class is a plain slotted class whose fields are its annotations, in order. `node`
# makes it; every initializer is then compiled at once by `_define_initializers` at the end of
# this module. (dataclass does the same per class, compiling three or four functions for each and
# building each slotted class twice: 10 ms of every `archspec check`, for 28 classes.)


class _Field:
    """A field's options: its default, and whether equality and repr see it."""

    __slots__ = ("default", "compare", "shown")

    def __init__(self, default=None, *, required: bool = False, compare: bool = True, shown=True):
        self.default = _REQUIRED if required else default
        self.compare = compare
        self.shown = shown


_REQUIRED = object()


def _span() -> _Field:
    """The node's span: given to every node, never compared or shown."""
    return _Field(required=True, compare=False, shown=False)


_PENDING: list[type] = []  # node classes whose __init__ is still to be compiled


def node(cls):
    """A frozen slotted class with __init__, __eq__, __hash__ and __repr__ over its annotated
    fields, as a dataclass would have (equality, hash and repr only over the compared and shown
    fields). Instances are immutable."""
    options = {}
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, _REQUIRED)
        options[name] = (
            value if isinstance(value, _Field) else _Field(value, required=value is _REQUIRED)
        )
    namespace = {k: v for k, v in cls.__dict__.items() if k not in options}
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = tuple(options)
    made = type(cls.__name__, cls.__bases__, namespace)
    made._fields = tuple(options)
    made._options = options
    made._compared = staticmethod(_getter(tuple(n for n, o in options.items() if o.compare)))
    made._shown = tuple(n for n, o in options.items() if o.shown)
    made.__eq__, made.__hash__, made.__repr__ = _eq, _hash, _repr
    made.__setattr__, made.__delattr__ = _frozen, _frozen
    made.__getstate__, made.__setstate__ = _getstate, _setstate
    _PENDING.append(made)
    return made


def _define_initializers() -> None:
    """Compile the __init__ of every pending node class, all in one source text."""
    lines: list[str] = []
    for index, cls in enumerate(_PENDING):
        parameters = []
        for name, option in cls._options.items():
            if option.default is _REQUIRED:
                parameters.append(name)
            else:
                parameters.append(f"{name}=_default_{index}_{name}")
        lines.append(f"def init_{index}(self, {', '.join(parameters)}):")
        lines.extend(f"    _set(self, {name!r}, {name})" for name in cls._fields)
        if not cls._fields:
            lines.append("    pass")
    namespace: dict = {"_set": object.__setattr__}
    for index, cls in enumerate(_PENDING):
        for name, option in cls._options.items():
            namespace[f"_default_{index}_{name}"] = option.default
    exec(compile("\n".join(lines), __file__ + ":<initializers>", "exec"), namespace)
    for index, cls in enumerate(_PENDING):
        function = namespace[f"init_{index}"]
        function.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = function
    _PENDING.clear()


def fields(node_or_class) -> tuple[str, ...]:
    """The field names of an AST node (or node class), in order."""
    return node_or_class._fields


def is_node(value) -> bool:
    return hasattr(type(value), "_fields") and type(value).__module__ == __name__


def _getter(names: tuple[str, ...]):
    """node -> the tuple of its fields `names` (attrgetter alone returns a bare value for one)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        (name,) = names
        return lambda item: (getattr(item, name),)
    return lambda item: ()


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self._compared(self) == self._compared(other)


def _hash(self) -> int:
    return hash(self._compared(self))


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
    return f"{self.__class__.__qualname__}({shown})"


def _frozen(self, name, value=None):
    raise AttributeError(f"cannot change field '{name}' of an AST node: nodes are immutable")


def _getstate(self):
    return tuple(getattr(self, name) for name in self._fields)


def _setstate(self, state) -> None:
    for name, value in zip(self._fields, state):
        object.__setattr__(self, name, value)


# ---------------------------------------------------------------- expressions


@node
class Constant:
    """An int, float or string literal."""

    value: int | float | str
    span: Span = _span()


@node
class Name:
    """`x`, `planes`: a name read (or, as a target, bound)."""

    id: str
    span: Span = _span()


@node
class Infer:
    """`?`: an argument archspec fills in from the incoming shape, or a wildcard dim in a shape."""

    span: Span = _span()


@node
class TupleExpr:
    """`(1, 2)`, `(a,)`, `()`."""

    items: tuple[Expr, ...]
    span: Span = _span()


@node
class ListExpr:
    """`[64, 128, 256]`."""

    items: tuple[Expr, ...]
    span: Span = _span()


@node
class ListComp:
    """`[Block(c) for c in widths]`."""

    element: Expr
    var: Name
    iterable: Expr
    span: Span = _span()


@node
class DictExpr:
    """`{"out": x, "aux": aux}`: a model's named outputs (only `return` takes one)."""

    keys: tuple[Expr, ...]
    values: tuple[Expr, ...]
    span: Span = _span()


@node
class Index:
    """`widths[i]`."""

    value: Expr
    index: Expr
    span: Span = _span()


@node
class Slice:
    """`1:`, `:C`, `::2` inside `x[...]`: torch's (and Python's) start, stop and step, each
    optional."""

    lower: Expr | None
    upper: Expr | None
    step: Expr | None
    span: Span = _span()


@node
class EllipsisExpr:
    """`...` inside `x[...]`: as many `:` as the tensor's other indices leave."""

    span: Span = _span()


@node
class Subscript:
    """`x[:, 0]`, `x[..., :C]`, `x[None, 1:]`: indexing with slices, `...` or several indices
    (a single plain index, `xs[i]`, is an Index)."""

    value: Expr
    items: tuple[Expr | Slice | EllipsisExpr, ...]
    span: Span = _span()


@node
class BinOp:
    """`a + b`, `i < 3`, `x and y`: arithmetic, comparisons and boolean operators."""

    op: str  # one of + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span = _span()


@node
class UnaryOp:
    """`-x`, `+x`, `not x`."""

    op: str  # - + not
    operand: Expr
    span: Span = _span()


@node
class IfExp:
    """`a if test else b`."""

    body: Expr
    test: Expr
    orelse: Expr
    span: Span = _span()


@node
class Label:
    """A layer's attribute name: a plain name, or a template string such as "denselayer{i + 1}"."""

    text: str
    parts: tuple[str | Expr, ...]  # literal text and placeholder expressions
    span: Span = _span()


@node
class Argument:
    """One argument of a call: positional, `keyword=value`, `label: Layer(...)` or `*list`."""

    value: Expr
    span: Span = _span()
    keyword: str | None = None  # kw=value
    label: Label | None = None  # name: Layer(...) child of a container
    splat: bool = False  # *[...]


@node
class Call:
    """`Conv2d(3, 64, 7, stride=2)`: a layer, block, Sequential, function or builtin call."""

    func: Name
    args: tuple[Argument, ...]
    span: Span = _span()


@node
class Labelled:
    """`name: Layer(...)` in a pipeline: defines the layer under that name and applies it."""

    label: Label
    call: Call
    span: Span = _span()


@node
class LayerRef:
    """`-> name`: applies a layer defined earlier under that name."""

    name: Name
    span: Span = _span()


@node
class LayerIndex:
    """`-> convs[i]`: applies one child of a ModuleList (or ModuleDict) defined earlier under
    that name; `-> blocks[i][j]` one of a ModuleList held by a ModuleList."""

    name: Name
    indices: tuple[Expr, ...]
    span: Span = _span()


@node
class Pipe:
    """`value -> stage -> ...`: each stage gets the value so far as its input (or first argument).

    Kept flat so that a 10,000-layer chain is one node, not 10,000 nested ones.
    """

    value: Expr
    stages: tuple[Call | Labelled | LayerRef | LayerIndex, ...]
    span: Span = _span()


@node
class ExternValue:
    """`extern "torch.nn:GELU"`, `extern "mypkg.init:causal_mask"(L)`: a Python object archspec
    does not know, imported (and called, with arguments) when the module is built. An extern's
    argument, or a `param` or `buffer` initial value (the declared shape is its contract)."""

    target: Constant  # "module.path:attribute"
    args: tuple[Argument, ...]
    called: bool  # `extern "m:f"()` calls it; `extern "m:f"` is the object itself
    span: Span = _span()


Expr = (
    Constant
    | Name
    | Infer
    | TupleExpr
    | ListExpr
    | ListComp
    | DictExpr
    | Index
    | Subscript
    | BinOp
    | UnaryOp
    | IfExp
    | Call
    | Pipe
    | ExternValue
)

# ---------------------------------------------------------------- statements


@node
class BoundedDim:
    """`H in 32..1024 step 16 = 224` in a model input's shape: a symbolic size, the values it may
    take (low to high inclusive, every `step`-th; no step: every value) and the one summaries,
    diagrams and hovers count at (`= 224`; None: archspec picks one)."""

    name: Name
    low: Expr
    high: Expr
    step: Expr | None
    span: Span = _span()
    report: Expr | None = None


@node
class Shape:
    """`[N, 3, 224, 224]`: a stated shape (an input's, or an assertion on an assignment), with
    the dtype written after it, if any (`[N, L] int64`; None: float32, or any in an
    assertion)."""

    dims: tuple[Expr | BoundedDim, ...]
    span: Span = _span()
    dtype: Name | None = None


@node
class Input:
    """`input x: [N, 1, 28, 28]` (the shape is optional inside blocks)."""

    name: Name
    shape: Shape | None
    span: Span = _span()


@node
class Assign:
    """`h = x -> conv1`, or `h: [N, 32, 14, 14] = ...` with a checked shape."""

    target: Name
    shape: Shape | None
    value: Expr
    span: Span = _span()


@node
class Unpack:
    """`x1, x2 = x -> chunk(2, dim=1)`: a value of several tensors, one name for each; a nested
    target unpacks one item in turn, as in Python: `out, (h, c) = x -> lstm`."""

    targets: tuple[Name | Targets, ...]
    value: Expr
    span: Span = _span()


@node
class Targets:
    """`(h, c)` in `out, (h, c) = x -> lstm`: the names that unpack one item of the value."""

    items: tuple[Name | Targets, ...]
    span: Span = _span()


def target_names(targets) -> list[Name]:
    """The names of an unpacking's targets, nested ones included, left to right."""
    names: list[Name] = []
    stack = list(reversed(targets))
    while stack:
        target = stack.pop()
        if isinstance(target, Targets):
            stack.extend(reversed(target.items))
        else:
            names.append(target)
    return names


@node
class Declare:
    """`relu: ReLU(inplace=True)`: a layer defined for later `-> relu` applications."""

    name: Name
    call: Call
    span: Span = _span()


@node
class ParamPath:
    """`head.weight`, `encoder.embed.weight`: a parameter of a layer, through the layers and block
    instances that hold it."""

    names: tuple[Name, ...]  # the modules, then the parameter
    span: Span = _span()

    @property
    def text(self) -> str:
        return ".".join(name.id for name in self.names)


@node
class Tie:
    """`tie head.weight = wte.weight`: the first parameter becomes the second (one tensor, learned
    once, under both names in the state_dict)."""

    target: ParamPath
    source: ParamPath
    span: Span = _span()


@node
class Return:
    """`return h` or `return a, b`."""

    values: tuple[Expr, ...]
    span: Span = _span()


@node
class If:
    """`if test { ... } else { ... }` (`else if` nests an If in orelse)."""

    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span = _span()


@node
class For:
    """`for i in range(4) { ... }`."""

    var: Name
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span = _span()


@node
class State:
    """`param layer_scale: [dim, 1, 1] = 1e-6`, `buffer mask: [L, L] = zeros(), persistent=False`:
    a learned parameter (nn.Parameter) or a buffer (register_buffer) of the module whose body
    declares it, with its shape, its initial value and options (keyword arguments)."""

    kind: str  # "param" or "buffer"
    name: Name
    shape: Shape
    init: Expr
    options: tuple[Argument, ...]
    span: Span = _span()


Stmt = Input | Assign | Unpack | Declare | Return | If | For | State | Tie

# ---------------------------------------------------------------- top level


@node
class Param:
    """`planes` or `stride=1` in a model's or block's parameter list."""

    name: Name
    default: Expr | None
    span: Span = _span()


@node
class Definition:
    """`model Name(params) { ... }`, `block Name(params) { ... }` or `def name(params) { ... }`."""

    kind: str  # "model", "block" or "def"
    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span = _span()
    # Every plain layer name written in the body (automatic names avoid them), collected by the
    # builder while parsing.
    labels: frozenset[str] = _Field(frozenset(), compare=False, shown=False)


@node
class Extern:
    """`extern SqueezeExcite(channels, reduction=4) = "mypkg.layers:SqueezeExcite" (x: [N,
    channels, H, W]) -> [N, channels, H, W], params = ...`: a module archspec does not know, by
    its Python path (`module:attribute`, a class or a factory), its constructor arguments and
    its shape contract (inputs as `input` statements, outputs as shapes; several outputs when
    written as a tuple), with optional declared counts (`params = ...`, `macs = ...`)."""

    name: Name
    params: tuple[Param, ...]
    target: Constant
    inputs: tuple[Input, ...]
    outputs: tuple[Shape, ...]
    several: bool  # the outputs were written as a tuple `-> ([...], [...])`
    counts: tuple[Argument, ...]  # keyword arguments: params=..., macs=...
    span: Span = _span()


@node
class Import:
    """`from "blocks.arch" import Bottleneck, BasicBlock`."""

    path: Constant
    names: tuple[Name, ...]
    span: Span = _span()


@node
class Module:
    """A whole file: its imports and definitions, in file order."""

    imports: tuple[Import, ...]
    definitions: tuple[Definition, ...]
    span: Span = _span()
    externs: tuple[Extern, ...] = ()


_define_initializers()
