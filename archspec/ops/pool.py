"""Pooling: MaxPool1d/2d/3d, AvgPool1d/2d/3d, the adaptive pools, and their F.* functions
(torch.nn.modules.pooling, torch.nn.functional)."""

from __future__ import annotations

from archspec.ops.base import (
    ArgError,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    int_tuple,
    integer,
    non_negative_int,
    optional,
    positive_int,
)
from archspec.ops.common import SPATIAL_NAMES, conv_output_size, size_arithmetic, spatial_dims
from archspec.ops.registry import register

# What one step along each spatial dim covers, for the W001 wording.
STEP_NAMES = {1: ("positions",), 2: ("rows", "columns"), 3: ("planes", "rows", "columns")}

INPUT = Param("input", is_tensor=True)


def _reject_indices(name: str, value) -> bool:
    if boolean(name, value):
        raise ArgError(
            "return_indices=True is not supported: archspec follows single-tensor outputs",
            help="use return_indices=False",
        )
    return value


def _nonzero_int(name: str, value) -> int:
    if integer(name, value) == 0:
        raise ArgError(f"{name} must not be zero")
    return value


# ---------------------------------------------------------------- windowed pools


def _window_params(spatial: int, max_pool: bool, functional: bool) -> tuple[Param, ...]:
    sizes = int_tuple(spatial, positive_int)
    head = (
        INPUT,
        Param("kernel_size", check=sizes),
        Param("stride", None, check=optional(sizes)),
        Param("padding", 0, check=int_tuple(spatial, non_negative_int)),
    )
    if not functional:
        head = head[1:]
    if max_pool:
        dilation = Param("dilation", 1, check=sizes)
        indices = Param("return_indices", False, check=_reject_indices)
        ceil = Param("ceil_mode", False, check=boolean)
        # F.max_pool2d puts ceil_mode before return_indices; nn.MaxPool2d the other way round.
        return (*head, dilation, ceil, indices) if functional else (*head, dilation, indices, ceil)
    tail = (
        Param("ceil_mode", False, check=boolean),
        Param("count_include_pad", True, check=boolean),
    )
    if spatial > 1:  # AvgPool1d has no divisor_override
        tail += (Param("divisor_override", None, check=optional(_nonzero_int)),)
    return (*head, *tail)


def _stride(ctx: RuleContext) -> tuple[int, ...]:
    return ctx["stride"] if ctx["stride"] is not None else ctx["kernel_size"]


def _dilation(ctx: RuleContext, spatial: int) -> tuple[int, ...]:
    return ctx.args.get("dilation", (1,) * spatial)


def _window_validate(ctx: RuleContext) -> None:
    # ATen's pool shape checks: kernel // 2 >= padding, on the undilated kernel.
    for kernel, pad in zip(ctx["kernel_size"], ctx["padding"]):
        if pad > kernel // 2:
            ctx.fail(
                "E105",
                f"{ctx.op.name} padding {pad} is more than half of its kernel {kernel}",
                arg="padding",
                help=f"use padding <= {kernel // 2} (torch allows at most kernel_size // 2)",
            )


def _unread_steps(kernel: int, stride: int, dilation: int) -> int:
    """How many of every `stride` input positions no window reads (interior, periodic part)."""
    return stride - len({(i * dilation) % stride for i in range(kernel)})


def _warn_skips(ctx: RuleContext, spatial: int) -> None:
    dilation = _dilation(ctx, spatial)
    for i, (kernel, stride) in enumerate(zip(ctx["kernel_size"], _stride(ctx))):
        unread = _unread_steps(kernel, stride, dilation[i])
        if not unread:
            continue
        step = STEP_NAMES[spatial][i]
        if dilation[i] == 1:
            cause = f"stride {stride} is larger than its kernel {kernel}"
            fix = "use stride <= kernel_size (stride defaults to kernel_size)"
        else:
            cause = f"kernel {kernel} with dilation {dilation[i]} and stride {stride} leaves gaps"
            fix = "use dilation=1, or a stride that the dilated windows tile"
        ctx.warn(
            "W001",
            f"{ctx.op.name} {cause}: {unread} of every {stride} {step} are never read",
            arg="stride" if dilation[i] == 1 else "dilation",
            help=fix,
        )
        return  # one warning per layer is enough


def _window_rule(spatial: int, check_input_size: bool = False):
    def rule(ctx: RuleContext):
        sizes = spatial_dims(ctx, spatial)
        stride, dilation = _stride(ctx), _dilation(ctx, spatial)
        out = []
        for i, size in enumerate(sizes):
            kernel, pad, name = ctx["kernel_size"][i], ctx["padding"][i], SPATIAL_NAMES[spatial][i]
            if check_input_size and size < kernel:
                # ATen's avg_pool3d (only) refuses an input smaller than the kernel, padding or not.
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} kernel {kernel} is larger than the input {name} {size}",
                    arg="kernel_size",
                    input=0,
                    help=f"use kernel_size <= {size} (AvgPool3d ignores padding for this check)",
                )
            result = conv_output_size(size, kernel, stride[i], pad, dilation[i], ctx["ceil_mode"])
            if result < 1:
                window = dilation[i] * (kernel - 1) + 1
                ctx.fail(
                    "E203",
                    f"{ctx.op.name} window ({window}) is larger than the padded input {name} "
                    f"({size} + 2×{pad} = {size + 2 * pad})",
                    arg="kernel_size",
                    input=0,
                    notes=(
                        f"output {name}: "
                        + size_arithmetic(
                            size, kernel, stride[i], pad, dilation[i], ctx["ceil_mode"]
                        ),
                    ),
                    help="use a smaller kernel_size, or downsample less before this layer",
                )
            out.append(result)
        _warn_skips(ctx, spatial)
        return (*ctx.input[:-spatial], *out)

    return rule


def _pool_window(spatial: int):
    def window(args, input_shape) -> tuple[tuple, tuple]:
        dilation = args.get("dilation") or (1,) * spatial
        kernels = tuple(d * (k - 1) + 1 for d, k in zip(dilation, args["kernel_size"]))
        stride = args["stride"] if args["stride"] is not None else args["kernel_size"]
        return kernels, tuple(stride)

    return window


def _adaptive_window(spatial: int):
    """torch's adaptive bins: window ⌈in/out⌉ (at most), start step ⌊in/out⌋."""

    def window(args, input_shape) -> tuple[tuple, tuple]:
        sizes = input_shape[-spatial:]
        wanted = [size if out is None else out for size, out in zip(sizes, args["output_size"])]
        kernels = tuple(-(-size // out) for size, out in zip(sizes, wanted))
        strides = tuple(max(1, size // out) for size, out in zip(sizes, wanted))
        return kernels, strides

    return window


def _window_pool(kind: str, spatial: int, functional: bool = False) -> OpSpec:
    max_pool = kind == "max"
    title = "MaxPool" if max_pool else "AvgPool"
    name = f"{kind}_pool{spatial}d" if functional else f"{title}{spatial}d"
    return OpSpec(
        name=name,
        torch=f"F.{name}" if functional else f"nn.{name}",
        params=_window_params(spatial, max_pool, functional),
        rule=_window_rule(spatial, check_input_size=not max_pool and spatial == 3),
        kind="function" if functional else "layer",
        ranks=(spatial + 1, spatial + 2),
        validate=_window_validate,
        window=_pool_window(spatial),
        summary=f"{spatial}-d {'max' if max_pool else 'average'} pooling",
    )


# ---------------------------------------------------------------- adaptive pools


def _output_size(spatial: int, allow_none: bool):
    """An int or a tuple of `spatial` entries; None entries (keep that dim) where torch allows."""

    def element(name: str, value):
        if value is None and allow_none:
            return None
        return positive_int(name, value)

    def check(name: str, value):
        if isinstance(value, (tuple, list)):
            if len(value) != spatial:
                raise ArgError(f"{name} must have {spatial} entries, got {len(value)}")
            return tuple(element(name, v) for v in value)
        if value is None:
            raise ArgError(f"{name} must be an integer or a tuple, got None")
        return (positive_int(name, value),) * spatial

    return check


def _adaptive_rule(spatial: int):
    def rule(ctx: RuleContext):
        sizes = ctx.input[-spatial:]
        out = [size if want is None else want for size, want in zip(sizes, ctx["output_size"])]
        return (*ctx.input[:-spatial], *out)

    return rule


def _adaptive_pool(kind: str, spatial: int, functional: bool = False) -> OpSpec:
    max_pool = kind == "max"
    name = (
        f"adaptive_{kind}_pool{spatial}d"
        if functional
        else f"Adaptive{'Max' if max_pool else 'Avg'}Pool{spatial}d"
    )
    params = (Param("output_size", check=_output_size(spatial, allow_none=spatial > 1)),)
    if max_pool:
        params += (Param("return_indices", False, check=_reject_indices),)
    if functional:
        params = (INPUT, *params)
    return OpSpec(
        name=name,
        torch=f"F.{name}" if functional else f"nn.{name}",
        params=params,
        rule=_adaptive_rule(spatial),
        kind="function" if functional else "layer",
        ranks=(spatial + 1, spatial + 2),
        window=_adaptive_window(spatial),
        summary=f"{spatial}-d adaptive {'max' if max_pool else 'average'} pooling to a fixed size",
    )


for _spatial in (1, 2, 3):
    register(_window_pool("max", _spatial))
    register(_window_pool("avg", _spatial))
    register(_adaptive_pool("avg", _spatial))
for _spatial in (1, 2):
    register(_adaptive_pool("max", _spatial))

# F.max_pool1d, F.avg_pool1d (M5's global average over time), ... and their 2-d forms.
for _spatial in (1, 2):
    register(_window_pool("max", _spatial, functional=True))
    register(_window_pool("avg", _spatial, functional=True))
    register(_adaptive_pool("avg", _spatial, functional=True))
    register(_adaptive_pool("max", _spatial, functional=True))
