"""Binding a call's arguments to an op's signature, and evaluating its shape rule.

`bind` mirrors Python's call binding against torch's signature; `evaluate` runs, in order: each
known argument's check, the rank check, `?` inference (or the explicit value's comparison), the
cross-argument validation, and the shape rule. Everything fails as an OpFailure naming the argument
to point at, so the inference pass can place the diagnostic.
"""

from __future__ import annotations

from typing import Any

from archspec.core.dims import (
    Dim,
    Shape,
    Sym,
    SymbolicError,
    active_sizing,
    exact_quotient,
    format_shape,
)
from archspec.core.records import field, record
from archspec.ops.base import (
    INFER,
    REQUIRED,
    ArgError,
    ForwardTensor,
    OpFailure,
    OpSpec,
    RuleContext,
)
from archspec.ops.dtype_rules import floating


class BindError(Exception):
    def __init__(self, message: str, keyword: str | None = None, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.keyword = keyword  # the offending keyword argument, if any
        self.position = position  # the offending positional argument, if any


def bind(op: OpSpec, positional: list[Any], keywords: dict[str, Any]) -> dict[str, Any]:
    """Match arguments to parameters by position then keyword; fill defaults."""
    params = op.params
    values: dict[str, Any] = {}
    slots = op.positional
    index = 0
    for position, value in enumerate(positional):
        if index >= len(slots):
            raise BindError(
                f"{op.name} takes at most {len(slots)} positional arguments, got {len(positional)}",
                position=position,
            )
        param = slots[index]
        if param.variadic:
            values.setdefault(param.name, []).append(value)
            continue
        values[param.name] = value
        index += 1
    for keyword, value in keywords.items():
        if not op.has_param(keyword):
            raise BindError(f"{op.name} has no argument named '{keyword}'", keyword=keyword)
        if keyword in values:
            raise BindError(f"{op.name} got '{keyword}' twice", keyword=keyword)
        if op.param(keyword).variadic:  # torch also takes x.view(shape=(N, -1))
            value = list(value) if isinstance(value, (tuple, list)) else [value]
        values[keyword] = value
    for param in params:
        if param.name in values:
            continue
        if param.variadic:
            values[param.name] = []
        elif param.default is REQUIRED:
            hint = " (write ? to infer it)" if param.infer else ""
            raise BindError(f"{op.name} is missing its argument '{param.name}'{hint}")
        else:
            values[param.name] = param.default
    if op.variadic_param is not None:
        values[op.variadic_param.name] = tuple(values[op.variadic_param.name])
    return values


def check_arguments(op: OpSpec, values: dict[str, Any]) -> dict[str, Any]:
    """Run each parameter's check on known values; return the normalised arguments."""
    checked = dict(values)
    inferred = False
    for param in op.params:
        value = values.get(param.name)
        if value is INFER:
            inferred = True
            continue
        if param.is_tensor or param.check is None:
            continue
        try:
            checked[param.name] = param.check(param.name, value)
        except ArgError as error:
            raise OpFailure("E105", error.message, arg=param.name, help=error.help) from None
    for param in op.params if inferred else ():  # after every value's own check
        if values.get(param.name) is INFER and param.infer is None:
            raise OpFailure(
                "E105",
                f"{op.name} cannot infer '{param.name}'; give a value",
                arg=param.name,
            )
    return checked


def check_forward(op: OpSpec, given: dict[str, Any]) -> dict[str, Any]:
    """The forward values a rule reads (`ctx.forward`): each of `op.forward` as given or torch's
    default; a plain value through its check (a tensor one is a ForwardTensor or None)."""
    values: dict[str, Any] = {}
    for param in op.forward:
        value = given.get(param.name, param.default)
        if param.check is not None and not param.is_tensor:
            try:
                value = param.check(param.name, value)
            except ArgError as error:
                raise OpFailure("E105", error.message, arg=param.name, help=error.help) from None
        values[param.name] = value
    return values


def split_forward(
    inputs: list[Shape], dtypes: list[str], names: tuple[str, ...], plain: dict[str, Any]
) -> tuple[list[Shape], list[str], dict[str, Any]]:
    """A layer node's inputs are its operands, then its tensor forward arguments (`names`, in
    order; graph.Node.forward_inputs): (the operands' shapes, their dtypes, the forward values
    `evaluate` takes, the plain ones and a ForwardTensor for each tensor, a tuple of them for a
    tuple argument)."""
    count = len(inputs) - len(names)
    tensors = {
        name: ForwardTensor(inputs[count + offset], dtypes[count + offset], count + offset)
        for offset, name in enumerate(names)
    }
    return inputs[:count], dtypes[:count], {**plain, **group_forward(tensors)}


def tuple_item_name(name: str, index: int) -> str:
    """How a node names item `index` of a tuple forward argument among its inputs: an LSTM's
    `hx=(h0, c0)` is the inputs `hx[0]` and `hx[1]` (graph.Node.forward_inputs)."""
    return f"{name}[{index}]"


def group_forward(tensors: dict[str, Any]) -> dict[str, Any]:
    """Tensor forward arguments by input name (`attn_mask`, `hx[0]`, `hx[1]`) made arguments
    again: each tuple argument's items, in order, a tuple under its own name (`hx`)."""
    grouped: dict[str, Any] = {}
    for name, value in tensors.items():
        base, bracket, _ = name.partition("[")
        if bracket:
            grouped[base] = (*grouped.get(base, ()), value)
        else:
            grouped[name] = value
    return grouped


@record
class Evaluation:
    shape: Shape
    args: dict[str, Any]  # normalised, `?` resolved
    explanations: dict[int, str] = field(default_factory=dict)
    warnings: list[OpFailure] = field(default_factory=list)
    params: int = 0
    macs: Dim = 0
    dtype: str = "float32"  # the output's (every output's, for an op of several)
    values: Any = None  # the output's value range (OpSpec.values), None where unknown


def evaluate(
    op: OpSpec,
    values: dict[str, Any],
    inputs: list[Shape],
    input_explanations: list[dict[int, str]] | None = None,
    checked: dict[str, Any] | None = None,
    dtypes: list[str] | None = None,
    forward: dict[str, Any] | None = None,
    ranges: list[Any] | None = None,
) -> Evaluation:
    """`checked`: check_arguments(op, values) when the caller has it already (a layer's arguments
    are checked once, when elaboration builds it, however often it is applied). `dtypes`: the
    inputs' dtypes (None: all float32). `forward`: a layer's forward arguments as given at this
    application (see split_forward); `inputs` and `dtypes` are then its operands only.
    `ranges`: the operands' value ranges (ops/value_ranges.py; None: all unknown)."""
    try:
        return _evaluate(op, values, inputs, input_explanations, checked, dtypes, forward, ranges)
    except SymbolicError as error:
        # A rule needed a number where the input has a symbolic size (a float scale factor,
        # a count read off a spatial dim): say so at the call rather than guess.
        raise OpFailure(
            "E210",
            f"{op.name} needs numeric sizes here: {error}",
            input=0 if inputs else None,
            help="give the input's sizes as numbers, or use a layer whose output size does not "
            "depend on them (e.g. an adaptive pool)",
        ) from None


def _evaluate(
    op: OpSpec,
    values: dict[str, Any],
    inputs: list[Shape],
    input_explanations: list[dict[int, str]] | None = None,
    checked: dict[str, Any] | None = None,
    dtypes: list[str] | None = None,
    forward: dict[str, Any] | None = None,
    ranges: list[Any] | None = None,
) -> Evaluation:
    args = check_arguments(op, values) if checked is None else checked
    tensors = op.tensor_params  # a fresh dict either way: `?` is resolved in it below
    scalars = {}
    if tensors:
        scalars = {  # number operands, `x * 0.5`, `x - min(H, W)` (a size, maybe symbolic)
            name: args[name] for name in tensors if isinstance(args.get(name), (int, float, Sym))
        }
        args = {name: value for name, value in args.items() if name not in tensors}
    else:
        args = dict(args)
    if op.ranks is not None and inputs:
        rank = len(inputs[0])
        if rank not in op.ranks:
            expected = " or ".join(f"{r}-d" for r in op.ranks)
            raise OpFailure(
                "E206",
                f"{op.name} expects a {expected} input, got {rank}-d {format_shape(inputs[0])}",
                input=0,
                help=_rank_help(op, rank),
            )
    for param in op.params:
        if param.infer is None or param.name not in args:
            continue
        actual = param.infer(inputs[0])
        if args[param.name] is INFER:
            # Every `infer` reads one dim; a layer's size must be one number for every input size.
            if isinstance(actual, Sym):
                raise OpFailure(
                    "E210",
                    f"{op.name} cannot infer {param.name}: the input gives {actual}, "
                    "which depends on the input size",
                    arg=param.name,
                    input=0,
                    help="pool to a fixed size first (e.g. AdaptiveAvgPool2d) so the count is one "
                    "number, or write the number for the size you use",
                )
            args[param.name] = actual
        elif isinstance(args[param.name], tuple) and not isinstance(actual, tuple):
            continue  # a multi-dim value (LayerNorm's normalized_shape): the rule compares it
        elif args[param.name] != actual:
            raise _mismatch(op, param.name, args[param.name], actual, inputs, input_explanations)
    given = check_forward(op, forward or {}) if op.forward else None
    ctx = RuleContext(op, args, inputs, dtypes, scalars, given, ranges)
    dtype = (op.dtype or floating)(ctx)
    if op.validate is not None:
        op.validate(ctx)
    shape = tuple(op.rule(ctx))
    return Evaluation(
        shape=shape,
        args=args,
        explanations=ctx.explanations,
        warnings=ctx.warnings,
        params=op.count_params(args),
        macs=_whole_samples(op.count_macs(args, inputs, shape), shape, args)
        if op.count_macs
        else 0,
        dtype=dtype,
        values=op.values(ctx) if op.values is not None else None,
    )


def _whole_samples(macs: Dim, shape: Shape, args: dict[str, Any]) -> Dim:
    """MACs are counted per row of dim 0; a sample of the batch N (the one symbol that is no
    size) may be several rows. Where a reshape folded pieces of each sample into dim 0 (Swin's
    windows: [N·64, 49, 96]) a sample is 64 rows. Where the batch is another dim (a Linear on
    sequence-first [T, N, E]) the count holds N and a sample is all T rows: count × T / N. A
    layer with batch_first (RNN, MultiheadAttention, Transformer) counts per sample already,
    wherever its layout puts the batch."""
    # (`macs == 0` of a symbolic count would be decided, and guarded, by the sizes search)
    if not shape or isinstance(shape[0], tuple) or (isinstance(macs, int) and macs == 0):
        return macs  # several outputs (a tuple of shapes) or nothing counted
    sizing = active_sizing()
    hinted = sizing.hints if sizing is not None else {}
    batch = {
        atom
        for dim in shape
        if isinstance(dim, Sym)
        for atom in dim.atoms()
        if isinstance(atom, str) and atom not in hinted
    }
    if len(batch) != 1:
        return macs
    symbol = Sym.named(batch.pop())
    if isinstance(shape[0], Sym) and symbol.atoms() <= shape[0].atoms():
        rows = exact_quotient(shape[0], symbol)
        return macs if rows is None or (isinstance(rows, int) and rows == 1) else macs * rows
    if "batch_first" in args:
        return macs
    per_sample = exact_quotient(macs * shape[0], symbol)
    return macs if per_sample is None else per_sample


def _rank_help(op: OpSpec, rank: int) -> str | None:
    if rank == 2 and min(op.ranks) > 2:
        return "the input was flattened already; move this layer before the flatten"
    return None


def _other_reading(op, name: str, declared, actual, shape: Shape) -> str | None:
    """Help when a count read from the last dim (in_features, normalized_shape) is found elsewhere
    in the input: an earlier dim (`LayerNorm(96)` on channels-first `[N, 96, 56, 56]`) or several
    trailing dims together (`Linear(3136)` on `[N, 64, 7, 7]`, a missing flatten). Writing the
    received count would silence the error and build the wrong model, so no fix is offered, only
    the alternatives. (A channel count read from dim 1 that equals a spatial size is a
    coincidence too often to mean anything.)"""
    last = len(shape) - 1
    if name == "input_size":  # RNN, LSTM, GRU: features last, in any layout
        return _sequence_reading(op, declared, actual, shape)
    if name not in _LAST_DIM_COUNTS or type(declared) is not int or len(shape) < 3:
        return None
    if not all(type(d) is int for d in shape[1:]):
        return None
    shown = format_shape(shape)
    for start in range(1, last):
        dims = shape[start:]
        if _product(dims) == declared:
            return (
                f"{declared} = {'×'.join(map(str, dims))} (dims {start} to {last} of {shown}), "
                f"but {op.name} reads {name} from the last dim alone ({actual}): "
                f"flatten({start}) first to use all {declared} values; set {name}={actual} only "
                f"to apply {op.name} to the last dim alone"
            )
    if op.name == "LayerNorm" and len(shape) == 4 and shape[1] == declared:
        # An NCHW map: the layer norm that normalizes over channels exists (ConvNeXt's).
        return (
            f"{declared} is dim 1, the channels, of the channels-first {shown}, but "
            f"LayerNorm reads normalized_shape from the last dim ({actual}, the width): "
            f"use LayerNorm2d({declared}) to normalize over the channels (ConvNeXt's); set "
            f"normalized_shape={actual} only if the width is meant"
        )
    for index in range(1, last):
        if shape[index] == declared:
            return (
                f"{declared} is dim {index} of {shown}, but {op.name} reads {name} from the last "
                f"dim ({actual}): if dim {index} is meant, move it last first (permute); set "
                f"{name}={actual} only if the last dim is meant"
            )
    return None


_LAST_DIM_COUNTS = ("in_features", "normalized_shape")

# A recurrent layer's input with its features in another dim: rank, dim -> how to move them last.
_SEQUENCE_MOVES = {
    (2, 0): "`-> transpose(0, 1)` makes the unbatched [L, H_in]",
    (3, 0): "`-> permute(2, 1, 0)` makes [L, N, H_in] of [H_in, N, L] (batch_first=False)",
    (3, 1): "a channels-first [N, H_in, L] (a Conv1d's output) becomes [N, L, H_in] with "
    "`-> transpose(1, 2)` and batch_first=True, or [L, N, H_in] with `-> permute(2, 0, 1)`",
}


def _sequence_reading(op, declared, actual, shape: Shape) -> str | None:
    """Help when an RNN's, LSTM's or GRU's input_size is another dim of its input than the last:
    the sequence is laid out another way than torch reads it ([L, N, H_in], [N, L, H_in] with
    batch_first=True, [L, H_in] unbatched)."""
    index = next((i for i, d in enumerate(shape[:-1]) if type(d) is int and d == declared), None)
    if index is None:
        return None
    return (
        f"{declared} is dim {index} of {format_shape(shape)}, but {op.name} reads input_size "
        f"from the last dim ({actual}): {_SEQUENCE_MOVES[len(shape), index]}; set "
        f"input_size={actual} only if the last dim holds the features"
    )


def _product(dims) -> int:
    total = 1
    for dim in dims:
        total *= dim
    return total


def _mismatch(op, name, declared, actual, inputs, explanations) -> OpFailure:
    code = op.param(name).mismatch or "E105"
    if isinstance(actual, Sym):  # the count depends on the input's symbolic sizes
        return OpFailure(
            code,
            f"{op.name} expects {name}={declared}, but receives {actual}, which depends on the "
            "input size",
            arg=name,
            input=0,
            help="make the count one number: pool to a fixed size before flattening (e.g. "
            "AdaptiveAvgPool2d), or fix the input size",
        )
    other_reading = _other_reading(op, name, declared, actual, inputs[0])
    if other_reading is not None:  # no fix: the count may be right and the input's layout not
        return OpFailure(
            code,
            f"{op.name} expects {name}={declared}, but receives {actual}",
            arg=name,
            input=0,
            help=other_reading,
        )
    rank = len(inputs[0])
    dim = rank - 1 if name == "in_features" or name == "normalized_shape" else None
    origin = ""
    if explanations:
        for index in [dim] if dim is not None else range(rank):
            text = explanations[0].get(index)
            # Only the arithmetic of a dim holding the received count explains it.
            if text and text != str(actual) and inputs[0][index] == actual:
                origin = f" = {text}"
                break
    where = f"{actual}{origin}"
    # Explanations read "64×3×3 from flatten"; the help repeats only the arithmetic.
    fix_detail = f" ({origin[3:].split(' from ')[0]})" if origin else ""
    return OpFailure(
        code,
        f"{op.name} expects {name}={declared}, but receives {where}",
        arg=name,
        input=0,
        help=f"set {name}={actual}{fix_detail}, or write {name}=? to infer it",
        replacement=actual if type(actual) is int else None,
    )
