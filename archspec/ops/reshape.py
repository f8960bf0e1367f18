"""Shape changes: flatten/unflatten, reshape/view, mean, padding, Upsample and pixel (un)shuffle
(torch.nn.modules.flatten, padding, upsampling, pixelshuffle; torch.flatten/reshape/mean)."""

from __future__ import annotations

import math

from archspec.core.dims import Dim, Sym, exact_quotient, format_product, format_shape, product
from archspec.ops.base import (
    ArgError,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    integer,
    number,
    one_of,
    optional,
    positive_int,
    positive_number,
    show_value,
)
from archspec.ops.common import SPATIAL_NAMES, spatial_dims
from archspec.ops.dtype_rules import keep
from archspec.ops.registry import register
from archspec.ops.value_ranges import keeps_values

INPUT = Param("input", is_tensor=True)


def wrap_dim(ctx: RuleContext, arg: str, dim: int, rank: int | None = None) -> int:
    """torch's dim wrapping: -rank <= dim < rank, where a 0-d tensor takes -1 and 0. `rank` is
    the input's, or one more where the op makes a new dim (unsqueeze, stack)."""
    bound = max(len(ctx.input) if rank is None else rank, 1)
    if not -bound <= dim < bound:
        ctx.fail(
            "E105",
            f"{ctx.op.name} {arg}={dim} is out of range for the {len(ctx.input)}-d input "
            f"{format_shape(ctx.input)} (expected {-bound} to {bound - 1})",
            arg=arg,
            input=0,
            help=f"name a dim from {-bound} to {bound - 1}; negative dims count from the end",
        )
    return dim % bound


# ---------------------------------------------------------------- flatten


def _flatten_rule(ctx: RuleContext):
    rank = len(ctx.input)
    start = wrap_dim(ctx, "start_dim", ctx["start_dim"])
    end = wrap_dim(ctx, "end_dim", ctx["end_dim"])
    if rank == 0:
        return (1,)  # torch.flatten of a scalar is a 1-element vector
    if start > end:
        ctx.fail(
            "E105",
            f"{ctx.op.name} start_dim={ctx['start_dim']} comes after end_dim={ctx['end_dim']} "
            f"on the {rank}-d input {format_shape(ctx.input)}",
            arg="start_dim",
            help="start_dim must name a dim at or before end_dim",
        )
    merged = ctx.input[start : end + 1]
    if len(merged) > 1:
        ctx.explain(start, f"{format_product(merged)} from {ctx.op.name}")
    return (*ctx.input[:start], product(merged), *ctx.input[end + 1 :])


# ---------------------------------------------------------------- reshape, view, unflatten


def unnested(value):
    """A variadic written as one tuple (`reshape((N, -1))`, `permute((0, 2, 1))`) is the same as
    its items."""
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], (tuple, list)):
        return tuple(value[0])
    return value


def size_entries(name: str, value, minus_one: str) -> tuple:
    """Sizes given as items or one tuple: positive ints, symbols, or -1 (`minus_one` says what
    it means to the op: "inferred" for reshape, "keep the dim" for expand)."""
    value = unnested(value)
    if not isinstance(value, (tuple, list)):
        raise ArgError(f"{name} must be a tuple of sizes, got {show_value(value)}")
    if not value:
        raise ArgError(f"{name} must not be empty")
    for size in value:
        if isinstance(size, Sym):
            continue
        if integer(name, size) < -1 or size == 0:
            raise ArgError(
                f"{name} entries must be positive or -1 ({minus_one}), got {size}",
                help="archspec does not build empty tensors",
            )
    return tuple(value)


def _target_shape(name: str, value):
    """Sizes for reshape/view/unflatten: positive ints, symbols, and at most one -1."""
    value = size_entries(name, value, "inferred")
    if list(value).count(-1) > 1:
        raise ArgError(f"only one entry of {name} can be -1, got {show_value(tuple(value))}")
    return tuple(value)


def _resolve(ctx: RuleContext, arg: str, total: Dim, target: tuple, what: str | tuple) -> tuple:
    """`target` with its -1 replaced so that it holds `total` elements (E208 when impossible).
    `what` names the source: a text, or the input's shape (formatted only for a message: a
    symbolic shape's text is long, and the sizes search runs this rule thousands of times)."""
    what = _What(what)
    known = product(size for size in target if size != -1)
    if -1 not in target:
        if known != total:
            ctx.fail(
                "E208",
                f"{ctx.op.name} cannot turn {what} ({total} elements) into "
                f"{format_shape(target)} ({known} elements)",
                arg=arg,
                input=0,
                help=f"make the sizes multiply to {total}, or write -1 for one of them",
            )
        return target
    inferred = exact_quotient(total, known)
    if inferred is None:
        symbolic = " for every value of its symbols" if isinstance(total, Sym) else ""
        ctx.fail(
            "E208",
            f"{ctx.op.name} cannot infer the -1 in {format_shape(target)}: {what} holds "
            f"{total} elements, not a multiple of {known}{symbolic}",
            arg=arg,
            input=0,
            help=f"make the known sizes divide {total}",
        )
    return tuple(inferred if size == -1 else size for size in target)


class _What:
    def __init__(self, what: str | tuple):
        self.what = what

    def __str__(self) -> str:
        return self.what if isinstance(self.what, str) else format_shape(self.what)


def _reshape_rule(ctx: RuleContext):
    shape = ctx.input
    target = _resolve(ctx, "shape", product(shape), ctx["shape"], tuple(shape))
    # A -1 that merges a run of input dims (reshape(N, -1)) is explained like flatten.
    if -1 in ctx["shape"]:
        at = ctx["shape"].index(-1)
        head, tail = target[:at], target[at + 1 :]
        if tuple(shape[:at]) == head and (not tail or tuple(shape[-len(tail) :]) == tail):
            merged = shape[at : len(shape) - len(tail)]
            if len(merged) > 1:
                ctx.explain(at, f"{format_product(merged)} from {ctx.op.name}")
    return target


def _unflatten_rule(ctx: RuleContext):
    dim = wrap_dim(ctx, "dim", ctx["dim"])
    if not ctx.input:
        ctx.fail("E206", "Unflatten needs an input with at least 1 dim, got a 0-d tensor", input=0)
    size = ctx.input[dim]
    sizes = _resolve(ctx, "unflattened_size", size, ctx["unflattened_size"], f"dim {dim}")
    return (*ctx.input[:dim], *sizes, *ctx.input[dim + 1 :])


def _unflatten_function_rule(ctx: RuleContext):
    """torch.unflatten(input, dim, sizes): Unflatten's rule, under the function's names."""
    if not ctx.input:
        ctx.fail("E206", "unflatten needs an input with at least 1 dim, got a 0-d tensor", input=0)
    dim = wrap_dim(ctx, "dim", ctx["dim"])
    sizes = _resolve(ctx, "sizes", ctx.input[dim], ctx["sizes"], f"dim {dim}")
    return (*ctx.input[:dim], *sizes, *ctx.input[dim + 1 :])


# ---------------------------------------------------------------- mean


def _dims(name: str, value):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return tuple(integer(name, v) for v in value)
    return (integer(name, value),)


def _mean_rule(ctx: RuleContext):
    rank = len(ctx.input)
    dims = ctx["dim"]
    if not dims:  # None, and (like torch) an empty tuple, reduce every dim
        dims = tuple(range(rank))
    wrapped = [wrap_dim(ctx, "dim", d) for d in dims]
    if len(set(wrapped)) != len(wrapped):
        ctx.fail(
            "E105",
            f"{ctx.op.name} reduces dim {max(wrapped, key=wrapped.count)} twice: "
            f"dim={show_value(ctx['dim'])}",
            arg="dim",
            help="name each dim once",
        )
    if rank == 0:
        return ()
    if ctx["keepdim"]:
        return tuple(1 if i in wrapped else size for i, size in enumerate(ctx.input))
    return tuple(size for i, size in enumerate(ctx.input) if i not in wrapped)


# ---------------------------------------------------------------- padding


def _pad_sizes(count: int):
    """An int, or `count` ints ordered as F.pad: (left, right[, top, bottom]). Negative crops."""

    def check(name: str, value):
        if isinstance(value, (tuple, list)):
            if len(value) != count:
                raise ArgError(f"{name} must be an integer or {count} integers, got {len(value)}")
            return tuple(integer(name, v) for v in value)
        return (integer(name, value),) * count

    return check


def _pad_rule(spatial: int, mode: str):
    """Pads the last `spatial` dims; F.pad pairs run from the last dim backwards."""

    def rule(ctx: RuleContext):
        if len(ctx.input) < spatial:
            ctx.fail(
                "E206",
                f"{ctx.op.name} pads the last {spatial} dims, but the input "
                f"{format_shape(ctx.input)} has {len(ctx.input)}",
                input=0,
            )
        sizes = spatial_dims(ctx, spatial)
        pads = ctx["padding"]
        out = []
        for i, size in enumerate(sizes):
            before, after = pads[2 * (spatial - 1 - i) : 2 * (spatial - i)]
            name = SPATIAL_NAMES[spatial][i]
            if mode == "reflect" and max(before, after) >= size:
                # Reflection mirrors without repeating the edge: each side needs pad < size.
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} padding {max(before, after)} needs an input {name} larger "
                    f"than {max(before, after)}, got {size}",
                    arg="padding",
                    input=0,
                    help=f"use padding < {size}, or ReplicationPad2d / ZeroPad2d",
                )
            # Constant F.pad crops (negative pads) before it pads; the other modes index directly.
            kept = size + min(before, 0) + min(after, 0)
            if mode == "constant" and kept < 0:
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} crops {-min(before, 0) - min(after, 0)} from the {name}, "
                    f"which is only {size}",
                    arg="padding",
                    input=0,
                    help=f"crop at most {size} in all from the {name}",
                )
            result = size + before + after
            if result < 1:
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} output {name} would be {size} + {before} + {after} = {result}",
                    arg="padding",
                    input=0,
                    help=f"crop less: the padding of the {name} must sum to more than {-size}",
                )
            out.append(result)
        return (*ctx.input[: len(ctx.input) - spatial], *out)

    return rule


def _pad(name: str, spatial: int, mode: str, ranks, summary: str, value: bool = False) -> OpSpec:
    params = (Param("padding", check=_pad_sizes(2 * spatial)),)
    if value:
        params += (Param("value", check=number),)
    return OpSpec(
        name=name,
        torch=f"nn.{name}",
        params=params,
        rule=_pad_rule(spatial, mode),
        ranks=ranks,
        summary=summary,
        dtype=keep if mode == "constant" else None,
    )


# ---------------------------------------------------------------- Upsample

INTERPOLATING = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}  # mode -> input rank
UPSAMPLE_MODES = ("nearest", "nearest-exact", "area", *INTERPOLATING)


def _sizes_or_tuple(element):
    def check(name: str, value):
        if isinstance(value, (tuple, list)):
            return tuple(element(name, v) for v in value)
        return element(name, value)

    return check


def _upsample_validate(ctx: RuleContext) -> None:
    if (ctx["size"] is None) == (ctx["scale_factor"] is None):
        ctx.fail(
            "E105",
            f"{ctx.op.name} needs exactly one of size and scale_factor",
            arg="size" if ctx["size"] is not None else None,
            help="give size=(H, W) for a fixed output, or scale_factor=2 to double it",
        )
    if ctx["size"] is not None and ctx["recompute_scale_factor"]:
        ctx.fail(
            "E105",
            "recompute_scale_factor=True has no meaning with an explicit size",
            arg="recompute_scale_factor",
            help="drop recompute_scale_factor, or give scale_factor instead of size",
        )
    if ctx["mode"] not in INTERPOLATING and ctx["align_corners"] is not None:
        ctx.fail(
            "E105",
            f"align_corners applies only to the interpolating modes, not mode={ctx['mode']!r}",
            arg="align_corners",
            help="drop align_corners, or use mode='bilinear' (4-d) / 'linear' / 'trilinear'",
        )


def _per_dim(ctx: RuleContext, arg: str, spatial: int) -> tuple:
    value = ctx[arg]
    if not isinstance(value, tuple):
        return (value,) * spatial
    if len(value) != spatial:
        ctx.fail(
            "E105",
            f"{ctx.op.name} {arg}={show_value(value)} has {len(value)} entries, but the input "
            f"{format_shape(ctx.input)} has {spatial} spatial dims",
            arg=arg,
            input=0,
        )
    return value


def _upsample_rule(ctx: RuleContext):
    rank, mode = len(ctx.input), ctx["mode"]
    spatial = rank - 2
    if mode in INTERPOLATING and INTERPOLATING[mode] != rank:
        ctx.fail(
            "E206",
            f"{ctx.op.name} mode={mode!r} needs a {INTERPOLATING[mode]}-d input, got {rank}-d "
            f"{format_shape(ctx.input)}",
            arg="mode",
            input=0,
            help="use mode='nearest', or the interpolating mode of this rank "
            "(linear 3-d, bilinear/bicubic 4-d, trilinear 5-d)",
        )
    if ctx["size"] is not None:
        return (*ctx.input[:2], *_per_dim(ctx, "size", spatial))
    scales = _per_dim(ctx, "scale_factor", spatial)
    out = []
    for i, size in enumerate(spatial_dims(ctx, spatial)):
        if isinstance(size, Sym):
            out.append(_scaled_symbol(ctx, spatial, i, size, scales[i]))
            continue
        product = size * scales[i]
        if not math.isfinite(product) or product >= 2**63:
            ctx.fail(
                "E105",
                f"{ctx.op.name} output {SPATIAL_NAMES[spatial][i]} {size} × {scales[i]:g} is "
                "too large",
                arg="scale_factor",
            )
        result = math.floor(product)  # ATen truncates the double product
        if result < 1:
            ctx.fail(
                "E203",
                f"{ctx.op.name} output {SPATIAL_NAMES[spatial][i]} would be "
                f"⌊{size} × {scales[i]:g}⌋ = {result}",
                arg="scale_factor",
                input=0,
                help="use a larger scale_factor, or give size",
            )
        out.append(result)
    return (*ctx.input[:2], *out)


def _scaled_symbol(ctx: RuleContext, spatial: int, i: int, size: Sym, scale: float):
    """⌊size × scale⌋ for a symbolic size: a float is a binary fraction p/q, and ATen's double
    product of a size below 2^53/p is exact, so ⌊size·p/q⌋ is what torch computes."""
    from fractions import Fraction

    ratio = Fraction(scale)
    if ratio.denominator > 1 << 20:
        ctx.fail(
            "E210",
            f"{ctx.op.name} scale_factor={scale:g} on the symbolic {SPATIAL_NAMES[spatial][i]} "
            f"{size} has no exact size",
            arg="scale_factor",
            input=0,
            help="use a scale factor such as 2 or 0.5, or give size",
        )
    result = (size * ratio.numerator) // ratio.denominator
    if result < 1:
        ctx.fail(
            "E203",
            f"{ctx.op.name} output {SPATIAL_NAMES[spatial][i]} would be ⌊{size} × {scale:g}⌋ = 0",
            arg="scale_factor",
            input=0,
            help="use a larger scale_factor, or give size",
        )
    return result


def _upsample() -> OpSpec:
    return OpSpec(
        name="Upsample",
        torch="nn.Upsample",
        params=(
            Param("size", None, check=optional(_sizes_or_tuple(positive_int))),
            Param("scale_factor", None, check=optional(_sizes_or_tuple(positive_number))),
            Param("mode", "nearest", check=one_of(*UPSAMPLE_MODES)),
            Param("align_corners", None, check=optional(boolean)),
            Param("recompute_scale_factor", None, check=optional(boolean)),
        ),
        rule=_upsample_rule,
        ranks=(3, 4, 5),
        validate=_upsample_validate,
        summary="resizes the spatial dims by a size or a scale factor",
    )


# ---------------------------------------------------------------- pixel (un)shuffle


def _pixel_rule(shuffle: bool):
    def rule(ctx: RuleContext):
        if len(ctx.input) < 3:
            ctx.fail(
                "E206",
                f"{ctx.op.name} expects a 3-d or higher input [.., C, H, W], got "
                f"{len(ctx.input)}-d {format_shape(ctx.input)}",
                input=0,
            )
        factor = ctx["upscale_factor" if shuffle else "downscale_factor"]
        arg = "upscale_factor" if shuffle else "downscale_factor"
        channels = ctx.input[-3]
        height, width = spatial_dims(ctx, 2)
        if shuffle:
            if isinstance(channels, Sym) or channels % (factor * factor):
                ctx.fail(
                    "E208",
                    f"PixelShuffle({factor}) needs channels divisible by {factor}² = "
                    f"{factor * factor}, got {channels}",
                    arg=arg,
                    input=0,
                    help=f"make the previous layer output a multiple of {factor * factor} channels",
                )
            return (*ctx.input[:-3], channels // (factor * factor), height * factor, width * factor)
        for name, size in (("height", height), ("width", width)):
            if size % factor:
                ctx.fail(
                    "E208",
                    f"PixelUnshuffle({factor}) needs a {name} divisible by {factor}, got {size}",
                    arg=arg,
                    input=0,
                    help=f"pad or crop the {name} to a multiple of {factor}",
                )
        return (*ctx.input[:-3], channels * factor * factor, height // factor, width // factor)

    return rule


# ---------------------------------------------------------------- registrations

register(
    OpSpec(
        name="Flatten",
        torch="nn.Flatten",
        params=(Param("start_dim", 1, check=integer), Param("end_dim", -1, check=integer)),
        rule=_flatten_rule,
        summary="merges dims start_dim..end_dim (from dim 1: keeps the batch)",
        dtype=keep,
        values=keeps_values,
    )
)
register(
    OpSpec(
        name="flatten",
        torch="torch.flatten",
        # torch.flatten starts at dim 0, unlike nn.Flatten.
        params=(INPUT, Param("start_dim", 0, check=integer), Param("end_dim", -1, check=integer)),
        rule=_flatten_rule,
        kind="function",
        summary="merges dims start_dim..end_dim (from dim 0 by default)",
        dtype=keep,
        values=keeps_values,
    )
)
register(
    OpSpec(
        name="Unflatten",
        torch="nn.Unflatten",
        params=(
            Param("dim", check=integer),
            Param("unflattened_size", check=_target_shape),
        ),
        rule=_unflatten_rule,
        summary="splits one dim into several",
        dtype=keep,
        values=keeps_values,
    )
)
register(
    OpSpec(
        name="unflatten",
        torch="torch.unflatten",
        params=(INPUT, Param("dim", check=integer), Param("sizes", check=_target_shape)),
        rule=_unflatten_function_rule,
        kind="function",
        summary="splits one dim into several (one size may be -1)",
        dtype=keep,
        values=keeps_values,
        # Written as a method, x.unflatten(1, (2, -1)), as people write it.
        emit=lambda e: f"{e.tensors['input']}.unflatten({e.args['dim']}, {e.args['sizes']})",
    )
)
for _name in ("reshape", "view"):
    register(
        OpSpec(
            name=_name,
            torch=f"Tensor.{_name}",
            params=(INPUT, Param("shape", check=_target_shape, variadic=True)),
            rule=_reshape_rule,
            kind="function",
            summary="the same elements in a new shape (one size may be -1)",
            dtype=keep,
            values=keeps_values,
            # Written as a method, x.view(x.size(0), -1), as people write it.
            emit=lambda e, name=_name: f"{e.tensors['input']}.{name}({e.args['shape']})",
        )
    )
register(
    OpSpec(
        name="mean",
        torch="torch.mean",
        params=(INPUT, Param("dim", None, check=_dims), Param("keepdim", False, check=boolean)),
        rule=_mean_rule,
        kind="function",
        summary="average over the given dims (all by default)",
        window="global",  # for receptive fields: a reduction sees all it reduces
        # torch.mean has no keepdim-without-dim form, so `dim=None` is written out then.
        emit=lambda e: (
            "torch.mean("
            + ", ".join(
                [e.tensors["input"]]
                + ([f"dim={e.args.get('dim', 'None')}"] if e.args else [])
                + ([f"keepdim={e.args['keepdim']}"] if "keepdim" in e.args else [])
            )
            + ")"
        ),
    )
)
register(_pad("ZeroPad1d", 1, "constant", None, "pads the last dim with zeros"))
register(_pad("ZeroPad2d", 2, "constant", None, "pads the last two dims with zeros"))
register(
    _pad("ConstantPad2d", 2, "constant", None, "pads the last two dims with a value", value=True)
)
register(_pad("ReflectionPad2d", 2, "reflect", (3, 4), "pads H and W by mirroring the edges"))
register(_pad("ReplicationPad2d", 2, "replicate", (3, 4), "pads H and W by repeating the edges"))
register(_upsample())
register(
    OpSpec(
        name="PixelShuffle",
        torch="nn.PixelShuffle",
        params=(Param("upscale_factor", check=positive_int),),
        rule=_pixel_rule(shuffle=True),
        summary="moves channel groups of r² into r×r spatial blocks",
    )
)
register(
    OpSpec(
        name="PixelUnshuffle",
        torch="nn.PixelUnshuffle",
        params=(Param("downscale_factor", check=positive_int),),
        rule=_pixel_rule(shuffle=False),
        summary="moves r×r spatial blocks into channels",
    )
)
