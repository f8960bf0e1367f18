"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d (torch.nn.modules.conv)."""

from __future__ import annotations

from archspec.core.dims import Sym, format_dim, format_shape, product
from archspec.ops.base import (
    ArgError,
    Emission,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    int_tuple,
    non_negative_int,
    one_of,
    positive_int,
    show_value,
)
from archspec.ops.common import (
    SPATIAL_NAMES,
    channel_dim,
    conv_output_size,
    size_arithmetic,
    spatial_dims,
)
from archspec.ops.registry import register

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _padding(spatial: int):
    as_tuple = int_tuple(spatial, non_negative_int)

    def check(name: str, value):
        if isinstance(value, str):
            if value not in ("same", "valid"):
                raise ArgError(
                    f"{name} must be an integer, a tuple, 'same' or 'valid', got {value!r}"
                )
            return value
        return as_tuple(name, value)

    return check


def _validate_groups(ctx: RuleContext) -> None:
    groups = ctx["groups"]
    # Both counts are numbers here: a `?` that reads a symbolic dim is refused by `evaluate` (E210).
    for name in ("in_channels", "out_channels"):
        if ctx[name] % groups:
            ctx.fail(
                "E105",
                f"{name}={ctx[name]} is not divisible by groups={groups}",
                arg="groups",
                help=f"choose groups among the divisors of both {ctx['in_channels']} and "
                f"{ctx['out_channels']}",
            )


def _conv_validate(ctx: RuleContext) -> None:
    _validate_groups(ctx)
    if ctx["padding"] == "same" and any(s != 1 for s in ctx["stride"]):
        ctx.fail(
            "E105",
            f"padding='same' is not supported with stride={show_value(ctx['stride'])}",
            arg="padding",
            help="use stride=1 with padding='same', or give the padding as numbers",
        )


def _check_padding_mode(ctx: RuleContext, spatial: int, i: int, size: int, pad: int) -> None:
    """F.pad's limits: reflect needs pad < size, circular pad <= size; replicate has none."""
    mode = ctx["padding_mode"]
    if (mode == "reflect" and pad >= size) or (mode == "circular" and pad > size):
        bound = "larger than" if mode == "reflect" else "at least"
        ctx.fail(
            "E203",
            f"{mode} padding {pad} needs an input {SPATIAL_NAMES[spatial][i]} {bound} {pad}, "
            f"got {size}",
            arg="padding",
            input=0,
            help="pad less, or use padding_mode='zeros' or 'replicate'",
        )


def _conv_rule(spatial: int):
    def rule(ctx: RuleContext):
        sizes = spatial_dims(ctx, spatial)
        padding = ctx["padding"]
        if padding == "valid":
            padding = (0,) * spatial
        out = []
        for i, size in enumerate(sizes):
            kernel, stride, dilation = ctx["kernel_size"][i], ctx["stride"][i], ctx["dilation"][i]
            if padding == "same":
                # torch pads d·(k−1) in all, the smaller half on the left.
                total = dilation * (kernel - 1)
                _check_padding_mode(ctx, spatial, i, size, total - total // 2)
                out.append(size)
                continue
            pad = padding[i]
            _check_padding_mode(ctx, spatial, i, size, pad)
            result = conv_output_size(size, kernel, stride, pad, dilation)
            if size + 2 * pad < dilation * (kernel - 1) + 1:
                name = SPATIAL_NAMES[spatial][i]
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} kernel ({dilation * (kernel - 1) + 1}) is larger than the "
                    f"padded input {name} ({size} + 2×{pad} = {size + 2 * pad})",
                    arg="kernel_size",
                    input=0,
                    notes=(
                        f"output {name}: {size_arithmetic(size, kernel, stride, pad, dilation)}",
                    ),
                    help="reduce the kernel or the downsampling before this layer, or pad more",
                )
            out.append(result)
        return (*ctx.input[: -(spatial + 1)], ctx["out_channels"], *out)

    return rule


def _conv_weights(args) -> int:
    return (
        args["out_channels"]
        * (args["in_channels"] // args["groups"])
        * product(args["kernel_size"])
    )


def _conv_bias(args) -> int:
    return args["out_channels"] if args["bias"] else 0


def _conv_params(args) -> int:
    return _conv_weights(args) + _conv_bias(args)


def _kernel_weights(transposed: bool):
    """torch's weight is [out, in/groups, *k], a transposed one's [in, out/groups, *k]."""

    def weights(args) -> dict[str, tuple[int, ...]]:
        first, second = args["out_channels"], args["in_channels"]
        if transposed:
            first, second = second, first
        kernel = (first, second // args["groups"], *args["kernel_size"])
        bias = {"bias": (args["out_channels"],)} if args["bias"] else {}
        return {"weight": kernel, **bias}

    return weights


def _conv_macs(args, inputs, output) -> int:
    """Every weight once per output position, the bias once per output value: output positions ×
    parameters (torchinfo's count)."""
    spatial = len(args["kernel_size"])
    return product(output[-spatial:]) * _conv_params(args)


def _transpose_macs(args, inputs, output) -> int:
    """A transposed convolution scatters every input value through its group's kernel: every
    weight once per *input* position (not per output position: that would be stride^d too many,
    which torchinfo counts); the bias once per output value."""
    spatial = len(args["kernel_size"])
    weights = product(inputs[0][-spatial:]) * _conv_weights(args)
    return weights + product(output[-spatial:]) * _conv_bias(args)


def _conv_window(args, input_shape) -> tuple[tuple, tuple]:
    kernels = tuple(d * (k - 1) + 1 for d, k in zip(args["dilation"], args["kernel_size"]))
    return kernels, tuple(args["stride"])


def _conv(spatial: int) -> OpSpec:
    pair = int_tuple(spatial, positive_int)
    return OpSpec(
        name=f"Conv{spatial}d",
        torch=f"nn.Conv{spatial}d",
        params=(
            Param("in_channels", check=positive_int, infer=channel_dim(spatial), mismatch="E201"),
            Param("out_channels", check=positive_int),
            Param("kernel_size", check=pair),
            Param("stride", 1, check=pair),
            Param("padding", 0, check=_padding(spatial)),
            Param("dilation", 1, check=pair),
            Param("groups", 1, check=positive_int),
            Param("bias", True, check=boolean),
            Param("padding_mode", "zeros", check=one_of(*PADDING_MODES)),
        ),
        rule=_conv_rule(spatial),
        ranks=(spatial + 1, spatial + 2),
        validate=_conv_validate,
        weights=_kernel_weights(transposed=False),
        count_macs=_conv_macs,
        window=_conv_window,
        summary=f"{spatial}-d convolution",
    )


def _transpose_validate(ctx: RuleContext) -> None:
    _validate_groups(ctx)
    for i, extra in enumerate(ctx["output_padding"]):
        if extra >= ctx["stride"][i] and extra >= ctx["dilation"][i]:
            ctx.fail(
                "E105",
                f"output_padding={extra} must be smaller than stride ({ctx['stride'][i]}) or "
                f"dilation ({ctx['dilation'][i]})",
                arg="output_padding",
            )


def _transpose_rule(spatial: int):
    def rule(ctx: RuleContext):
        sizes = spatial_dims(ctx, spatial)
        out = []
        for i, size in enumerate(sizes):
            kernel, stride, pad = ctx["kernel_size"][i], ctx["stride"][i], ctx["padding"][i]
            dilation, extra = ctx["dilation"][i], ctx["output_padding"][i]
            result = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1
            if result < 1:
                name = SPATIAL_NAMES[spatial][i]
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} output {name} would be {result}",
                    arg="padding",
                    input=0,
                    notes=(
                        f"({size}−1)×{stride} − 2×{pad} + {dilation}×({kernel}−1) + {extra} + 1 "
                        f"= {result}",
                    ),
                    help="reduce the padding",
                )
            out.append(result)
        return (*ctx.input[: -(spatial + 1)], ctx["out_channels"], *out)

    return rule


def _transpose(spatial: int) -> OpSpec:
    pair = int_tuple(spatial, positive_int)
    return OpSpec(
        name=f"ConvTranspose{spatial}d",
        torch=f"nn.ConvTranspose{spatial}d",
        params=(
            Param("in_channels", check=positive_int, infer=channel_dim(spatial), mismatch="E201"),
            Param("out_channels", check=positive_int),
            Param("kernel_size", check=pair),
            Param("stride", 1, check=pair),
            Param("padding", 0, check=int_tuple(spatial, non_negative_int)),
            Param("output_padding", 0, check=int_tuple(spatial, non_negative_int)),
            Param("groups", 1, check=positive_int),
            Param("bias", True, check=boolean),
            Param("dilation", 1, check=pair),
            Param("padding_mode", "zeros", check=one_of("zeros")),
        ),
        rule=_transpose_rule(spatial),
        ranks=(spatial + 1, spatial + 2),
        validate=_transpose_validate,
        weights=_kernel_weights(transposed=True),
        count_macs=_transpose_macs,
        summary=f"{spatial}-d transposed convolution",
    )


for _spatial in (1, 2, 3):
    register(_conv(_spatial))
    register(_transpose(_spatial))


# ---------------------------------------------------------------- Unfold and Fold (im2col, col2im)
# torch.nn.Unfold / F.unfold cut a 2-d map into its sliding blocks, one column per block;
# nn.Fold / F.fold sum such columns back into a map (volo's outlook attention). The blocks per
# spatial dim are the convolution's output size (conv_output_size).

PAIR = int_tuple(2, positive_int)
WINDOW_PARAMS = (
    Param("dilation", 1, check=PAIR),
    Param("padding", 0, check=int_tuple(2, non_negative_int)),
    Param("stride", 1, check=PAIR),
)


def _fold_size(name: str, value):
    """Fold's output_size: an int or a pair, each a positive int or a symbolic size (H)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ArgError(f"{name} must be a size or a pair of sizes, got {show_value(value)}")
    return tuple(item if isinstance(item, Sym) else positive_int(name, item) for item in items)


def _blocks(ctx: RuleContext, sizes, what: str) -> list:
    """The sliding blocks along each spatial dim (E203 where none fits)."""
    counts = []
    for i, size in enumerate(sizes):
        kernel, stride = ctx["kernel_size"][i], ctx["stride"][i]
        padding, dilation = ctx["padding"][i], ctx["dilation"][i]
        if size + 2 * padding < dilation * (kernel - 1) + 1:
            name = SPATIAL_NAMES[2][i]
            ctx.fail(
                "E203",
                f"{ctx.op.name} kernel ({dilation * (kernel - 1) + 1}) is larger than the "
                f"padded {what} {name} ({size} + 2×{padding} = {size + 2 * padding})",
                arg="kernel_size",
                input=0,
                help="use a smaller kernel, or pad more",
            )
        counts.append(conv_output_size(size, kernel, stride, padding, dilation))
    return counts


def _unfold_rule(ctx: RuleContext):
    """[N, C, H, W] (or unbatched [C, H, W]) -> [N, C·kh·kw, blocks]."""
    channels = ctx.input[-3]
    rows, columns = _blocks(ctx, ctx.input[-2:], "input")
    kernel = ctx["kernel_size"][0] * ctx["kernel_size"][1]
    return (*ctx.input[:-3], channels * kernel, rows * columns)


def _fold_rule(ctx: RuleContext):
    """[N, C·kh·kw, blocks] (or unbatched) -> [N, C, *output_size]; the blocks must be those
    output_size has."""
    columns, count = ctx.input[-2], ctx.input[-1]
    kernel = ctx["kernel_size"][0] * ctx["kernel_size"][1]
    if columns % kernel:
        ctx.fail(
            "E208",
            f"{ctx.op.name} needs dim {len(ctx.input) - 2} divisible by the kernel's "
            f"{kernel} positions, got {format_dim(columns)}",
            arg="kernel_size",
            input=0,
            help="each block's column holds C·kh·kw values: give C times the kernel's size",
        )
    rows, cols = _blocks(ctx, ctx["output_size"], "output")
    if rows * cols != count:
        ctx.fail(
            "E208",
            f"{ctx.op.name} to {show_value(ctx['output_size'])} takes {format_dim(rows * cols)} "
            f"blocks ({format_dim(rows)}×{format_dim(cols)}), the input "
            f"{format_shape(ctx.input)} has {format_dim(count)}",
            arg="output_size",
            input=0,
            help="give the output size the blocks were cut from, with the same kernel, "
            "dilation, padding and stride",
        )
    return (*ctx.input[:-2], columns // kernel, *ctx["output_size"])


def _window_emit(name: str):
    """F.unfold(x, kernel_size=...), F.fold(x, output_size=..., kernel_size=...): torch's own
    spelling, by keyword."""

    def emit(e: Emission) -> str:
        parts = [e.tensors["input"], *(f"{k}={v}" for k, v in e.args.items())]
        return f"F.{name}({', '.join(parts)})"

    return emit


for _name, _torch, _size, _rule, _ranks, _summary in (
    ("Unfold", "nn.Unfold", (), _unfold_rule, (3, 4), "sliding blocks of a map as columns"),
    ("Fold", "nn.Fold", (Param("output_size", check=_fold_size),), _fold_rule, (2, 3),
     "sums block columns back into a map (Unfold's inverse where blocks do not overlap)"),
):  # fmt: skip
    register(
        OpSpec(
            name=_name,
            torch=_torch,
            params=(*_size, Param("kernel_size", check=PAIR), *WINDOW_PARAMS),
            rule=_rule,
            ranks=_ranks,
            summary=_summary,
            window="global",  # the blocks leave the map's layout: no window per position
        )
    )
    function = _name.lower()
    register(
        OpSpec(
            name=function,
            torch=f"F.{function}",
            params=(
                Param("input", is_tensor=True),
                *_size,
                Param("kernel_size", check=PAIR),
                *WINDOW_PARAMS,
            ),
            rule=_rule,
            kind="function",
            ranks=_ranks,
            summary=_summary,
            window="global",
            emit=_window_emit(function),
        )
    )
