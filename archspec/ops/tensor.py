"""Tensor ops of modern models: dim reordering (permute, transpose, squeeze, unsqueeze, expand,
roll), sum, matrix products (matmul, bmm), stack, F.pad, F.interpolate and elementwise math
(torch.permute, torch.matmul, torch.stack, torch.nn.functional.pad / interpolate, torch.exp, ...).

Every rule follows torch's own: dims wrap as torch wraps them, a squeeze of a dim that is not 1
changes nothing, and matmul broadcasts its batch dims. Data movement counts no MACs; a matrix
product counts one per multiply-add.
"""

from __future__ import annotations

from archspec.core.dims import Dim, Sym, format_dim, format_shape, product
from archspec.ops.base import (
    ArgError,
    Emission,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    integer,
    number,
    one_of,
    optional,
    positive_number,
    show_value,
)
from archspec.ops.common import same_shape
from archspec.ops.dtype_rules import float_math, keep, signed, summed
from archspec.ops.merge import broadcast
from archspec.ops.registry import register
from archspec.ops.reshape import (
    UPSAMPLE_MODES,
    _dims,
    _mean_rule,
    _sizes_or_tuple,
    _upsample_rule,
    _upsample_validate,
    size_entries,
    unnested,
    wrap_dim,
)
from archspec.ops.value_ranges import ValueRange, derived, keeps_values, negated, union

INPUT = Param("input", is_tensor=True)


def _no_repeats(ctx: RuleContext, arg: str, wrapped: list[int], help: str) -> None:
    for dim in wrapped:
        if wrapped.count(dim) > 1:
            ctx.fail(
                "E105",
                f"{ctx.op.name} names dim {dim} twice: {arg}={show_value(tuple(ctx[arg]))}",
                arg=arg,
                input=0,
                help=help,
            )


# ---------------------------------------------------------------- argument checkers


def _dim_order(name: str, value) -> tuple:
    value = unnested(value)
    if not isinstance(value, (tuple, list)):
        raise ArgError(f"{name} must be a tuple of dims, got {show_value(value)}")
    if not value:
        raise ArgError(f"{name} must name the input's dims in their new order, got none")
    return tuple(integer(name, dim) for dim in value)


def _dim_or_dims(name: str, value) -> tuple:
    """An int or a tuple of ints (squeeze's and roll's `dim`), normalised to the tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(integer(name, dim) for dim in value)
    return (integer(name, value),)


def _shifts(name: str, value) -> tuple:
    """roll's shifts: integers or symbolic sizes (Swin's shift is 0 where its window covers the
    map), one or a tuple."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    shifts = tuple(s if isinstance(s, Sym) else integer(name, s) for s in items)
    if not shifts:
        raise ArgError(f"{name} must hold at least one shift, got ()")
    return shifts


def _expand_sizes(name: str, value) -> tuple:
    return size_entries(name, value, "keep the dim")


def _pad_amounts(name: str, value) -> tuple:
    if not isinstance(value, (tuple, list)):
        raise ArgError(
            f"{name} must be a tuple of (before, after) pairs, got {show_value(value)}",
            help="F.pad takes pairs from the last dim backwards: (left, right, top, bottom)",
        )
    # An amount may be a symbolic size: Swin pads to a multiple of its window, (7 - W % 7) % 7.
    amounts = tuple(a if isinstance(a, Sym) else integer(name, a) for a in value)
    if len(amounts) % 2:
        raise ArgError(
            f"{name} must hold (before, after) pairs, got {len(amounts)} values",
            help="give two values for each padded dim, from the last dim backwards",
        )
    return amounts


def _output_size(name: str, value):
    """A size of interpolate: a positive int, or a symbol of the input's shape (H, 2·W)."""
    if isinstance(value, Sym):
        return value
    if integer(name, value) <= 0:
        raise ArgError(f"{name} must be positive, got {value}")
    return value


# ---------------------------------------------------------------- permute, transpose


def _permute_rule(ctx: RuleContext):
    shape, dims = ctx.input, ctx["dims"]
    rank = len(shape)
    order = ", ".join(str(d) for d in range(rank))
    if len(dims) != rank:
        ctx.fail(
            "E105",
            f"permute got {len(dims)} dims {show_value(dims)} for the {rank}-d input "
            f"{format_shape(shape)}",
            arg="dims",
            input=0,
            help=f"name each of the {rank} dims once, in its new order: a permutation of ({order})",
        )
    wrapped = [wrap_dim(ctx, "dims", dim, rank) for dim in dims]
    missing = next((d for d in range(rank) if d not in wrapped), None)
    _no_repeats(
        ctx, "dims", wrapped, f"a permutation names each dim once; dim {missing} is missing"
    )
    return tuple(shape[d] for d in wrapped)


def _transpose_rule(ctx: RuleContext):
    shape = list(ctx.input)
    rank = len(shape)
    first = wrap_dim(ctx, "dim0", ctx["dim0"], rank)
    second = wrap_dim(ctx, "dim1", ctx["dim1"], rank)
    if rank:
        shape[first], shape[second] = shape[second], shape[first]
    return tuple(shape)


# ---------------------------------------------------------------- squeeze, unsqueeze, expand


def _squeeze_rule(ctx: RuleContext):
    """Drops the named dims (every dim without `dim`) that are 1; torch leaves the others as
    they are, so squeezing a dim of another size is no error. A symbolic size is kept unless a
    sizing decides it is 1."""
    shape = ctx.input
    rank = len(shape)
    if ctx["dim"] is None:
        named = range(rank)
    else:
        named = [wrap_dim(ctx, "dim", dim, rank) for dim in ctx["dim"]]
        _no_repeats(ctx, "dim", named, "name each dim once")
    return tuple(size for i, size in enumerate(shape) if not (i in named and size == 1))


def _unsqueeze_rule(ctx: RuleContext):
    shape = ctx.input
    at = wrap_dim(ctx, "dim", ctx["dim"], len(shape) + 1)
    return (*shape[:at], 1, *shape[at:])


def _expand_rule(ctx: RuleContext):
    shape, sizes = ctx.input, ctx["size"]
    rank = len(shape)
    if len(sizes) < rank:
        ctx.fail(
            "E105",
            f"expand got {len(sizes)} sizes {show_value(sizes)} for the {rank}-d input "
            f"{format_shape(shape)}",
            arg="size",
            input=0,
            help=f"give at least {rank} sizes (one per dim, -1 keeps a dim); extra sizes come "
            "first, as new leading dims",
        )
    new = len(sizes) - rank
    for i, size in enumerate(sizes[:new]):
        if size == -1:
            ctx.fail(
                "E105",
                f"expand cannot keep new leading dim {i} with -1: the input "
                f"{format_shape(shape)} has no such dim",
                arg="size",
                input=0,
                help="give new leading dims a size; -1 only keeps an existing dim",
            )
    out = list(sizes[:new])
    for i, (size, wanted) in enumerate(zip(shape, sizes[new:])):
        if wanted == -1 or wanted == size:
            out.append(size)
        elif size == 1:
            out.append(wanted)
        else:
            ctx.fail(
                "E208",
                f"expand cannot turn dim {i} of {format_shape(shape)} from {format_dim(size)} "
                f"into {format_dim(wanted)}: only a dim of size 1 can grow",
                arg="size",
                input=0,
                help=f"write -1 (or {format_dim(size)}) for dim {i}, or use repeat / reshape "
                "to change its size",
            )
    return tuple(out)


# ---------------------------------------------------------------- roll


def _roll_rule(ctx: RuleContext):
    shape, shifts, dims = ctx.input, ctx["shifts"], ctx["dims"]
    if not dims:  # None, and (like torch) (): roll the flattened input
        if len(shifts) != 1:
            ctx.fail(
                "E105",
                f"roll without dims takes one shift (of the flattened input), got "
                f"shifts={show_value(shifts)}",
                arg="shifts",
                help=f"give one dim per shift, e.g. dims={show_value(tuple(range(len(shifts))))}",
            )
        return shape
    if len(shifts) != len(dims):
        ctx.fail(
            "E105",
            f"roll needs one shift per dim: {len(shifts)} shifts {show_value(shifts)}, "
            f"{len(dims)} dims {show_value(dims)}",
            arg="dims",
            help="give as many dims as shifts",
        )
    if not shape:
        ctx.fail(
            "E105",
            "roll along a dim needs an input with dims, got a 0-d tensor",
            arg="dims",
            input=0,
            help="leave out dims to roll a 0-d tensor",
        )
    for dim in dims:
        wrap_dim(ctx, "dims", dim, len(shape))
    return shape


# ---------------------------------------------------------------- sum


def _sum_rule(ctx: RuleContext):
    """torch.sum reduces as torch.mean does (an empty dim reduces every dim). Its own function:
    a rule's module is where an op is registered anew (tests/test_ops_edges.py fresh_op)."""
    return _mean_rule(ctx)


def _sum_values(ctx: RuleContext) -> ValueRange | None:
    """A sum of n values of low..high lies in n·low..n·high (n the summed elements' count)."""
    summed = ctx.ranges[0]
    if summed is None:
        return None
    rank = len(ctx.input)
    dims = {d % rank for d in ctx["dim"]} if ctx["dim"] and rank else range(rank)
    count = product(ctx.input[d] for d in dims)
    return ValueRange(summed.low * count, summed.high * count, derived(summed))


def _reduction_emit(name: str):
    """torch.sum/torch.mean have no keepdim-without-dim form, so `dim=None` is written out."""

    def emit(e: Emission) -> str:
        parts = [e.tensors["input"]]
        if e.args:
            parts.append(f"dim={e.args.get('dim', 'None')}")
        if "keepdim" in e.args:
            parts.append(f"keepdim={e.args['keepdim']}")
        return f"torch.{name}({', '.join(parts)})"

    return emit


# ---------------------------------------------------------------- matmul, bmm


def _at_least_1d(ctx: RuleContext) -> None:
    for index, shape in enumerate(ctx.inputs):
        if not shape:
            ctx.fail(
                "E206",
                f"{ctx.op.name} needs tensors of at least 1 dim, input #{index} is 0-d",
                input=index,
                help="use `*` to scale by a 0-d tensor",
            )


def _inner_sizes_differ(ctx: RuleContext, left, right, k: Dim, other_k: Dim, where: str):
    ctx.fail(
        "E205",
        f"{ctx.op.name} cannot multiply {format_shape(left)} by {format_shape(right)}: the inner "
        f"sizes differ, {format_dim(k)} (last dim of input) ≠ {format_dim(other_k)} ({where} "
        "of other)",
        input=1,
        help=f"[.., n, k] @ [.., k, m] needs equal k: make other's {where} {format_dim(k)}, "
        "or transpose an operand",
    )


def _matmul_rule(ctx: RuleContext):
    """torch.matmul: a 1-d input is a row vector and a 1-d other a column vector, their added dim
    removed from the result; the dims before the last two broadcast."""
    _at_least_1d(ctx)
    left, right = ctx.inputs
    k = left[-1]
    other_k = right[-2] if len(right) > 1 else right[0]
    if k != other_k:
        where = "second-to-last dim" if len(right) > 1 else "only dim"
        _inner_sizes_differ(ctx, left, right, k, other_k, where)
    left_batch, right_batch = left[:-2], right[:-2]
    batch = broadcast(left_batch, right_batch)
    if batch is None:
        ctx.fail(
            "E205",
            f"matmul cannot broadcast the batch dims {format_shape(left_batch)} of "
            f"{format_shape(left)} and {format_shape(right_batch)} of {format_shape(right)}: "
            "aligned from the right, each pair must be equal or 1",
            input=1,
            help="make the batch dims equal, or 1 where one operand is shared",
        )
    rows = (left[-2],) if len(left) > 1 else ()
    columns = (right[-1],) if len(right) > 1 else ()
    return (*batch, *rows, *columns)


def _bmm_rule(ctx: RuleContext):
    left, right = ctx.inputs
    for index, shape in enumerate((left, right)):
        if len(shape) != 3:
            ctx.fail(
                "E206",
                f"bmm expects 3-d tensors [b, n, m], input #{index} is {len(shape)}-d "
                f"{format_shape(shape)}",
                input=index,
                help="use matmul, which broadcasts and takes any rank",
            )
    if left[0] != right[0]:
        ctx.fail(
            "E205",
            f"bmm needs one batch size: {format_dim(left[0])} in {format_shape(left)}, "
            f"{format_dim(right[0])} in {format_shape(right)}",
            input=1,
            help="bmm does not broadcast: use matmul to share one operand across the batch",
        )
    if left[2] != right[1]:
        _inner_sizes_differ(ctx, left, right, left[2], right[1], "dim 1")
    return (left[0], left[1], right[2])


def _matmul_macs(args, inputs, output) -> Dim:
    """One multiply-add per output value and inner index. Dim 0 of the output is the batch when
    it comes from a batched operand (input of 2+ dims, or other of 3+), as for Linear."""
    left, right = inputs
    batched = len(left) >= 2 or len(right) >= 3
    return product(output[1:] if batched else output) * left[-1]


# ---------------------------------------------------------------- stack


def _stack_rule(ctx: RuleContext):
    inputs = ctx.inputs
    first = inputs[0]
    for index, shape in enumerate(inputs[1:], start=1):
        if tuple(shape) != tuple(first):
            shapes = ", ".join(f"#{i} {format_shape(s)}" for i, s in enumerate(inputs))
            ctx.fail(
                "E204",
                f"stack needs tensors of one shape: input #0 is {format_shape(first)}, input "
                f"#{index} is {format_shape(shape)}",
                input=index,
                notes=(f"inputs: {shapes}",),
                help="stack adds a new dim; to join along a dim whose sizes differ, use cat",
            )
    at = wrap_dim(ctx, "dim", ctx["dim"], len(first) + 1)
    return (*first[:at], len(inputs), *first[at:])


# ---------------------------------------------------------------- pad

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_validate(ctx: RuleContext) -> None:
    mode, value = ctx["mode"], ctx["value"]
    if mode != "constant" and value not in (None, 0):
        ctx.fail(
            "E105",
            f"pad mode={mode!r} takes no value (got value={value:g})",
            arg="value",
            help="drop value, or use mode='constant'",
        )


def _pad_rule(ctx: RuleContext):
    """F.pad: (before, after) pairs from the last dim backwards; negative amounts crop."""
    shape, pad, mode = ctx.input, ctx["pad"], ctx["mode"]
    rank, padded = len(shape), len(ctx["pad"]) // 2
    if padded > rank:
        ctx.fail(
            "E206",
            f"pad gives {padded} (before, after) pairs, but the input {format_shape(shape)} has "
            f"{rank} dims",
            arg="pad",
            input=0,
            help=f"give at most {rank} pairs, one per dim from the last backwards",
        )
    if mode != "constant" and (not 1 <= padded <= 3 or rank not in (padded + 1, padded + 2)):
        ranks = f"{padded + 1}-d or {padded + 2}-d" if 1 <= padded <= 3 else "no"
        ctx.fail(
            "E206",
            f"pad mode={mode!r} pads the last 1 to 3 dims of a batch or a sample: {padded} "
            f"pair(s) need a {ranks} input, got {rank}-d {format_shape(shape)}",
            arg="pad",
            input=0,
            help="pad 1 dim of a 2-d/3-d input, 2 of a 3-d/4-d, or 3 of a 4-d/5-d; "
            "mode='constant' pads any dims",
        )
    out = list(shape)
    for pair in range(padded):
        dim = rank - 1 - pair
        before, after = pad[2 * pair], pad[2 * pair + 1]
        out[dim] = _padded_size(ctx, dim, shape[dim], before, after)
    return tuple(out)


def _padded_size(ctx: RuleContext, dim: int, size: Dim, before: int, after: int) -> Dim:
    mode = ctx["mode"]
    if mode == "reflect" and max(before, after) >= size:
        # Reflection mirrors without repeating the edge: each side needs pad < size.
        ctx.fail(
            "E203",
            f"pad mode='reflect' pads dim {dim} by {max(before, after)}, which needs a size "
            f"above {max(before, after)}, got {format_dim(size)}",
            arg="pad",
            input=0,
            help=f"pad dim {dim} by less than {format_dim(size)}, or use mode='replicate'",
        )
    if mode == "circular" and max(before, after) > size:
        ctx.fail(
            "E203",
            f"pad mode='circular' pads dim {dim} by {max(before, after)}, more than its size "
            f"{format_dim(size)} (it would wrap around more than once)",
            arg="pad",
            input=0,
            help=f"pad dim {dim} by at most {format_dim(size)}",
        )
    cropped = -min(before, 0) - min(after, 0)
    if mode == "constant" and cropped and size < cropped:
        # Constant F.pad crops (negative amounts) before it pads.
        ctx.fail(
            "E203",
            f"pad crops {cropped} from dim {dim}, which is only {format_dim(size)}",
            arg="pad",
            input=0,
            help=f"crop at most {format_dim(size)} in all from dim {dim}",
        )
    result = size + before + after
    if result < 1:
        ctx.fail(
            "E203",
            f"pad output dim {dim} would be {format_dim(size)} + {before} + {after} = "
            f"{format_dim(result)}",
            arg="pad",
            input=0,
            help=f"crop less: the amounts for dim {dim} must sum to more than -{format_dim(size)}",
        )
    return result


# ---------------------------------------------------------------- interpolate


def _interpolate_validate(ctx: RuleContext) -> None:
    _upsample_validate(ctx)
    if ctx["antialias"] and not (ctx["mode"] in ("bilinear", "bicubic") and len(ctx.input) == 4):
        ctx.fail(
            "E105",
            f"antialias=True needs mode='bilinear' or 'bicubic' on a 4-d input, got "
            f"mode={ctx['mode']!r} on {len(ctx.input)}-d {format_shape(ctx.input)}",
            arg="antialias",
            input=0,
            help="drop antialias, or resize a 4-d input with mode='bilinear'",
        )


def _interpolate_rule(ctx: RuleContext):
    """nn.Upsample's rule: Upsample calls F.interpolate (output size ⌊size × scale⌋)."""
    return _upsample_rule(ctx)


# ---------------------------------------------------------------- registrations


def _method(name: str, arg: str):
    """Written as a method, x.permute(0, 2, 3, 1), as people write it."""
    return lambda e: f"{e.tensors['input']}.{name}({e.args.get(arg, '')})"


register(
    OpSpec(
        name="permute",
        torch="Tensor.permute",
        params=(INPUT, Param("dims", check=_dim_order, variadic=True)),
        rule=_permute_rule,
        kind="function",
        summary="reorders the dims (each named once)",
        dtype=keep,
        values=keeps_values,
        emit=_method("permute", "dims"),
    )
)
register(
    OpSpec(
        name="transpose",
        torch="Tensor.transpose",
        params=(INPUT, Param("dim0", check=integer), Param("dim1", check=integer)),
        rule=_transpose_rule,
        kind="function",
        summary="swaps two dims",
        dtype=keep,
        values=keeps_values,
        emit=lambda e: f"{e.tensors['input']}.transpose({e.args['dim0']}, {e.args['dim1']})",
    )
)
register(
    OpSpec(
        name="squeeze",
        torch="Tensor.squeeze",
        params=(INPUT, Param("dim", None, check=optional(_dim_or_dims))),
        rule=_squeeze_rule,
        kind="function",
        summary="drops dims of size 1 (the named ones, or all)",
        dtype=keep,
        values=keeps_values,
        emit=_method("squeeze", "dim"),
    )
)
register(
    OpSpec(
        name="unsqueeze",
        torch="Tensor.unsqueeze",
        params=(INPUT, Param("dim", check=integer)),
        rule=_unsqueeze_rule,
        kind="function",
        summary="inserts a dim of size 1",
        dtype=keep,
        values=keeps_values,
        emit=_method("unsqueeze", "dim"),
    )
)
register(
    OpSpec(
        name="expand",
        torch="Tensor.expand",
        params=(INPUT, Param("size", check=_expand_sizes, variadic=True)),
        rule=_expand_rule,
        kind="function",
        summary="repeats size-1 dims without copying (-1 keeps a dim)",
        dtype=keep,
        values=keeps_values,
        emit=_method("expand", "size"),
    )
)
# x.contiguous() (Swin: `x[:, :H, :W, :].contiguous()`) and x.clone(): a copy of the same
# values, shape and dtype; no MACs. (archspec does not model memory layout: a `view` of a
# non-contiguous tensor, which torch refuses, is accepted; contiguous() is how to fix it.)
for _copy in ("contiguous", "clone"):
    register(
        OpSpec(
            name=_copy,
            torch=f"Tensor.{_copy}",
            params=(INPUT,),
            rule=same_shape,
            kind="function",
            summary="a copy of the same values"
            if _copy == "clone"
            else "the values, laid out contiguously in memory",
            emit=_method(_copy, ""),
            dtype=keep,
            values=keeps_values,
        )
    )
register(
    OpSpec(
        name="roll",
        torch="torch.roll",
        params=(
            INPUT,
            Param("shifts", check=_shifts),
            Param("dims", None, check=optional(_dim_or_dims)),
        ),
        rule=_roll_rule,
        kind="function",
        summary="shifts values cyclically along dims (shape unchanged)",
        dtype=keep,
        values=keeps_values,
    )
)
register(
    OpSpec(
        name="sum",
        torch="torch.sum",
        params=(INPUT, Param("dim", None, check=_dims), Param("keepdim", False, check=boolean)),
        rule=_sum_rule,
        kind="function",
        summary="sum over the given dims (all by default)",
        dtype=summed,
        values=_sum_values,
        window="global",  # for receptive fields: a reduction sees all it reduces
        emit=_reduction_emit("sum"),
    )
)
for _name, _second, _rule, _summary in (
    ("matmul", "other", _matmul_rule, "matrix product, batch dims broadcast (1-d as vectors)"),
    ("bmm", "mat2", _bmm_rule, "batched matrix product of 3-d tensors [b, n, k] @ [b, k, m]"),
):
    register(
        OpSpec(
            name=_name,
            torch=f"torch.{_name}",
            params=(Param("input", is_tensor=True), Param(_second, is_tensor=True)),
            rule=_rule,
            kind="function",
            count_macs=_matmul_macs,
            summary=_summary,
            window="global",
        )
    )
register(
    OpSpec(
        name="stack",
        torch="torch.stack",
        params=(Param("tensors", is_tensor=True), Param("dim", 0, check=integer)),
        rule=_stack_rule,
        kind="function",
        summary="joins tensors of one shape along a new dim",
        dtype=keep,
        values=lambda ctx: union(ctx.ranges),
    )
)
register(
    OpSpec(
        name="pad",
        torch="F.pad",
        params=(
            INPUT,
            Param("pad", check=_pad_amounts),
            Param("mode", "constant", check=one_of(*PAD_MODES)),
            Param("value", None, check=optional(number)),
        ),
        rule=_pad_rule,
        kind="function",
        validate=_pad_validate,
        summary="pads (or crops) the last dims, pairs from the last dim backwards",
        dtype=keep,
    )
)
register(
    OpSpec(
        name="interpolate",
        torch="F.interpolate",
        params=(
            INPUT,
            Param("size", None, check=optional(_sizes_or_tuple(_output_size))),
            Param("scale_factor", None, check=optional(_sizes_or_tuple(positive_number))),
            Param("mode", "nearest", check=one_of(*UPSAMPLE_MODES)),
            Param("align_corners", None, check=optional(boolean)),
            Param("recompute_scale_factor", None, check=optional(boolean)),
            Param("antialias", False, check=boolean),
        ),
        rule=_interpolate_rule,
        kind="function",
        ranks=(3, 4, 5),
        validate=_interpolate_validate,
        summary="resizes the spatial dims by a size or a scale factor (as nn.Upsample)",
    )
)


def _neg_values(ctx: RuleContext) -> ValueRange | None:
    return None if ctx.ranges[0] is None else negated(ctx.ranges[0])


# name -> summary; each is torch.<name> of one tensor, shape unchanged.
ELEMENTWISE_MATH = {
    "exp": "eˣ",
    "log": "natural logarithm",
    "sqrt": "square root",
    "rsqrt": "1/√x",
    "abs": "absolute value",
    "neg": "−x",
    "sin": "sine",
    "cos": "cosine",
    "erf": "Gauss error function",
}
for _name, _summary in ELEMENTWISE_MATH.items():
    register(
        OpSpec(
            name=_name,
            torch=f"torch.{_name}",
            params=(INPUT,),
            rule=same_shape,
            kind="function",
            summary=_summary,
            # `-x` in a spec is neg, and reads as `-x` in generated code too.
            emit=(lambda e: f"-{e.tensors['input']}") if _name == "neg" else None,
            dtype=signed if _name in ("abs", "neg") else float_math,
            values=_neg_values if _name == "neg" else None,
        )
    )
