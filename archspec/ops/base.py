"""The op registry's building blocks: Param, OpSpec, RuleContext and argument checkers.

One `OpSpec` holds everything archspec knows about an op: torch's signature and defaults (`params`,
in torch's positional order), argument validation, the shape rule, and the parameter and
multiply-accumulate counts. Family modules (conv.py, pool.py, ...) create them with `register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from archspec.core.dims import Dim, Shape
from archspec.core.records import record


class _Sentinel:
    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


REQUIRED = _Sentinel("<required>")
INFER = _Sentinel("?")
# `training` left out of a functional op (F.dropout): the generated module's train()/eval() decides.
FOLLOW_MODULE = _Sentinel("self.training")


class ArgError(Exception):
    """An argument value torch would reject; the checker names the argument's span."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.message = message
        self.help = help


@record
class OpFailure(Exception):
    """Raised by a shape rule; the inference pass turns it into a diagnostic at the right span."""

    code: str
    message: str
    arg: str | None = None  # point at this argument (else at the call)
    input: int | None = None  # add a secondary label on the producer of this input
    help: str | None = None
    notes: tuple[str, ...] = ()
    replacement: Any = None  # the value the argument should have (a fix writes it)


@record(frozen=True)
class Param:
    name: str
    default: Any = REQUIRED
    check: Callable[[str, Any], Any] | None = None  # validates and normalises a known value
    infer: Callable[[Shape], Dim] | None = None  # makes `?` legal: the value read off input 0
    mismatch: str | None = None  # code for an explicit value that differs from `infer`
    variadic: bool = False  # *shape (reshape/view): collects the remaining positionals
    keyword_only: bool = False
    is_tensor: bool = False  # a tensor operand of a function (input, tensors, other)
    scalar: bool = False  # a tensor operand that may be a plain number (torch.add's other)
    # A layer-valued argument (TransformerEncoder's encoder_layer, its norm): the ops whose layer
    # it takes. The spec writes a layer call there; the elaborator binds and checks that call's
    # own arguments and passes a LayerArg, which the rule, the counts and codegen read.
    layer: tuple[str, ...] = ()


@record(frozen=True)
class LayerArg:
    """A layer given as another layer's argument (`TransformerEncoder(TransformerEncoderLayer(512,
    8), 6, norm=LayerNorm(512))`): its op, its arguments checked with torch's defaults filled in,
    and those the spec gave by keyword (generated code writes it as the spec did)."""

    op: OpSpec
    items: tuple[tuple[str, Any], ...]  # (parameter, checked value), in the op's order
    keywords: frozenset[str] = frozenset()

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.items)

    def __str__(self) -> str:
        """The call in the spec's words, only what differs from torch's defaults:
        `TransformerEncoderLayer(512, 8, batch_first=True)`."""
        parts, positional = [], True
        for param in self.op.params:
            value = dict(self.items)[param.name]
            if param.default is not REQUIRED and value == param.default:
                positional = False
                continue
            positional = positional and param.name not in self.keywords
            text = _show(value)
            parts.append(text if positional else f"{param.name}={text}")
        return f"{self.op.name}({', '.join(parts)})"


def layer_of(*names: str) -> Callable[[str, Any], Any]:
    """The check of a layer-valued argument (Param.layer): a LayerArg of one of these ops."""

    def checker(name: str, value: Any) -> Any:
        if not isinstance(value, LayerArg) or value.op.name not in names:
            wanted = " or ".join(f"{n}(...)" for n in names)
            raise ArgError(f"{name} must be a layer, {wanted}, got {_show(value)}")
        return value

    return checker


def ONE_PER_INPUT(args: dict[str, Any]) -> None:  # noqa: N802 - a marker, as REQUIRED is
    """OpSpec.outputs of an op with one output per tensor input (meshgrid): the elaborator
    counts the inputs (the arguments cannot tell)."""
    return None


@record(frozen=True)
class OpSpec:
    name: str  # as written in specs: "Conv2d", "relu", "cat"
    torch: str  # as written in generated code: "nn.Conv2d", "F.relu", "torch.cat"
    params: tuple[Param, ...]
    rule: Callable[[RuleContext], Shape]
    kind: str = "layer"  # "layer" (an nn.Module, applied to inputs) or "function"
    ranks: tuple[int, ...] | None = None  # accepted ranks of the first input; None: any
    validate: Callable[[RuleContext], None] | None = None  # cross-argument checks, args resolved
    # The learned parameters, torch's names and shapes from the resolved arguments (Linear:
    # weight [out, in], bias [out] where bias=True), in registration order: what a `tie` names
    # and compares. None: not listed (count_params alone).
    weights: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]] | None = None
    # The parameter count from the resolved arguments; None: the sum of `weights`' sizes (0 when
    # there are none).
    count_params: Callable[[dict[str, Any]], int] | None = None
    # Multiply-accumulates per sample (dim 0 is the batch), one per multiply-add, from the
    # resolved arguments, the input shapes and the output shape. The convention (docs/language.md,
    # "What summary counts"): a weight layer counts each weight once per position it is applied
    # at (output positions for a convolution, input positions for a transposed one, feature
    # vectors for Linear) and its bias once per output value; a normalisation or PReLU one per
    # output value; element-wise ops, pooling, resizing and reshapes nothing. None: 0.
    count_macs: Callable[[dict[str, Any], list[Shape], Shape], Dim] | None = None
    inputs: int = 1  # tensor inputs of a layer; functions declare theirs as is_tensor params
    summary: str = ""
    # How a function is written in generated code when `torch(args)` is not it (`a + b`,
    # `x.view(...)`): gets the rendered tensor operands and non-default arguments by name.
    emit: Callable[[Emission], str] | None = None
    # For receptive fields: (effective kernel, stride) per spatial dim from the resolved arguments
    # and the input shape; "global" when every output sees the whole input; None: pointwise.
    window: Callable[[dict[str, Any], Shape], tuple[tuple, tuple]] | str | None = None
    # An op with several outputs (chunk, split, unbind, MultiheadAttention): how many, from the
    # bound arguments where they tell (chunk(3): 3), else None (unbind: the input's size says).
    # Its rule returns one shape per output. None here: an op of one output.
    outputs: Callable[[dict[str, Any]], int | None] | None = None
    # How torch nests those outputs, as the sizes of the top-level items: LSTM's
    # (output, (h_n, c_n)) is (1, 2), output 0 alone and outputs 1 and 2 a pair. None: flat.
    output_groups: tuple[int, ...] | None = None
    # The output's dtype from the operands' (ops/dtype_rules.py), refusing the dtypes torch
    # refuses; None: dtype_rules.floating (floating operands of one dtype, kept).
    dtype: Callable[[RuleContext], str] | None = None
    # The output's value range from the inputs' (`ctx.ranges`; ops/value_ranges.py): a
    # ValueRange, a tuple of them for an op of several outputs, or None (unknown). None here:
    # unknown, whatever the inputs hold.
    values: Callable[[RuleContext], Any] | None = None
    # A layer's forward parameters after its input tensors, torch's names and defaults
    # (nn.MultiheadAttention.forward's key_padding_mask, need_weights, ...), given by keyword
    # where the layer is called: `attn(q, k, v, need_weights=False)`. `is_tensor` ones are
    # optional extra tensor inputs (masks, hx), the others plain values (their `check` runs);
    # the rule reads them all as `ctx.forward`. They are no constructor arguments: each
    # application of one layer has its own.
    forward: tuple[Param, ...] = ()
    # The outputs torch returns as None for these forward values (need_weights=False): output
    # index -> (why, help), the error at a read of one. Gets every forward value, defaults too.
    none_outputs: Callable[[dict[str, Any]], dict[int, tuple[str, str]]] | None = None
    # A module archspec does not know (`extern` in a spec): what the elaborator knows of its
    # declaration (archspec.elaborate.externs.ExternInfo); None for every registered op.
    extern: Any = None

    def __post_init__(self) -> None:
        # Looked up for every argument of every call: a dict, not a scan of `params`.
        object.__setattr__(self, "_by_name", {p.name: p for p in self.params})
        object.__setattr__(self, "tensor_params", frozenset(p.name for p in self.params
                                                            if p.is_tensor))  # fmt: skip
        # The parameters a call fills by position, in order (bound for every call).
        object.__setattr__(self, "positional", tuple(p for p in self.params if not p.keyword_only))
        variadic = next((p for p in self.params if p.variadic), None)
        object.__setattr__(self, "variadic_param", variadic)
        object.__setattr__(self, "_forward_by_name", {p.name: p for p in self.forward})
        if self.count_params is None:
            counted = _weights_size(self.weights) if self.weights is not None else _no_parameters
            object.__setattr__(self, "count_params", counted)

    def param(self, name: str) -> Param:
        return self._by_name[name]

    def has_param(self, name: str) -> bool:
        return name in self._by_name

    def forward_param(self, name: str) -> Param | None:
        """The forward parameter `name` (`need_weights`), or None."""
        return self._forward_by_name.get(name)

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(map(_param_text, self.params))})"

    @property
    def forward_signature(self) -> str:
        """How a layer is called: `MultiheadAttention(...)(3 tensors, key_padding_mask=None,
        ...)`."""
        tensors = "tensor" if self.inputs == 1 else f"{self.inputs} tensors"
        return f"{self.name}(...)({', '.join([tensors, *map(_param_text, self.forward)])})"


def _no_parameters(args: dict[str, Any]) -> int:
    return 0


def _weights_size(weights: Callable[[dict[str, Any]], dict[str, tuple[int, ...]]]):
    def count(args: dict[str, Any]) -> int:
        return sum(_numel(shape) for shape in weights(args).values())

    return count


def _numel(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _param_text(param: Param) -> str:
    text = f"*{param.name}" if param.variadic else param.name
    if param.default is not REQUIRED and not param.variadic:
        text += f"={param.default!r}"
    return text


@record(frozen=True)
class ForwardTensor:
    """A tensor forward argument as a rule sees it in `ctx.forward` (`attn_mask=mask`): its shape
    and dtype, and its position among the node's inputs (`OpFailure.input` points at it)."""

    shape: Shape
    dtype: str
    input: int


@record(frozen=True)
class Emission:
    """A function call as generated code sees it: Python source for each operand and argument."""

    tensors: dict[str, str]  # tensor parameter -> expression ("x", "[a, b]")
    args: dict[str, str]  # non-tensor parameter -> literal, only those that differ from defaults
    # An op with no tensor input (arange): `x.device` of a tensor the forward holds, to create
    # on; None where there is none.
    device: str | None = None


class RuleContext:
    """What a shape rule sees: resolved arguments and input shapes; and how it reports."""

    def __init__(
        self,
        op: OpSpec,
        args: dict[str, Any],
        inputs: list[Shape],
        dtypes: list[str] | None = None,
        scalars: dict[str, Any] | None = None,
        forward: dict[str, Any] | None = None,
        ranges: list[Any] | None = None,
    ):
        self.op = op
        self.args = args
        self.inputs = inputs
        # A layer's forward values (OpSpec.forward), defaults filled in: plain values checked, a
        # tensor one a ForwardTensor or None. The operands (`inputs`, `dtypes`) leave them out.
        self.forward = forward or {}
        # The tensor inputs' dtypes (float32 where the caller tracks none), and the number
        # operands of tensor parameters (`x * 0.5`: other=0.5), which args leave out.
        self.dtypes = dtypes if dtypes is not None else ["float32"] * len(inputs)
        self.scalars = scalars or {}
        # The tensor inputs' value ranges (ops/value_ranges.py), None where unknown.
        self.ranges = ranges if ranges is not None else [None] * len(inputs)
        self.explanations: dict[int, str] = {}
        self.warnings: list[OpFailure] = []

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    @property
    def input(self) -> Shape:
        return self.inputs[0]

    def fail(
        self,
        code: str,
        message: str,
        *,
        arg: str | None = None,
        input: int | None = None,
        help: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> NoReturn:
        raise OpFailure(code, message, arg, input, help, tuple(notes))

    def warn(self, code: str, message: str, *, arg: str | None = None, help: str | None = None):
        self.warnings.append(OpFailure(code, message, arg, None, help))

    def explain(self, dim: int, text: str) -> None:
        """Record the arithmetic behind an output dim (e.g. "64×3×3" after flatten)."""
        self.explanations[dim] = text


# ---------------------------------------------------------------- argument checkers
# Each takes (name, value) and returns the normalised value or raises ArgError.


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(name: str, value: Any) -> int:
    if type(value) is not int and not _is_int(value):  # the first test passes nearly every value
        raise ArgError(f"{name} must be an integer, got {_show(value)}")
    return value


def positive_int(name: str, value: Any) -> int:
    integer(name, value)
    if value <= 0:
        raise ArgError(f"{name} must be positive, got {value}")
    return value


def non_negative_int(name: str, value: Any) -> int:
    integer(name, value)
    if value < 0:
        raise ArgError(f"{name} must be non-negative, got {value}")
    return value


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArgError(f"{name} must be True or False, got {_show(value)}")
    return value


def number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(f"{name} must be a number, got {_show(value)}")
    return float(value)


def probability(name: str, value: Any) -> float:
    value = number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ArgError(f"{name} must be between 0 and 1, got {value}")
    return value


def positive_number(name: str, value: Any) -> float:
    value = number(name, value)
    if value <= 0:
        raise ArgError(f"{name} must be positive, got {value}")
    return value


def optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def checker(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    return checker


def one_of(*choices: str) -> Callable[[str, Any], str]:
    def checker(name: str, value: Any) -> str:
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise ArgError(f"{name} must be one of {listed}, got {_show(value)}")
        return value

    return checker


def int_tuple(n: int, element: Callable[[str, Any], int]) -> Callable[[str, Any], tuple]:
    """An int or an n-tuple of ints (torch's `_pair`, `_triple`), normalised to the tuple."""

    def checker(name: str, value: Any) -> tuple:
        if _is_int(value):
            element(name, value)
            return (value,) * n
        if isinstance(value, (tuple, list)) and len(value) == n:
            for item in value:
                element(name, item)
            return tuple(value)
        raise ArgError(f"{name} must be an integer or a tuple of {n} integers, got {_show(value)}")

    return checker


def _show(value: Any) -> str:
    if isinstance(value, LayerArg):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


show_value = _show
