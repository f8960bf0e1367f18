"""Formulas shared by several families: the conv/pool output size, and per-dim helpers."""

from __future__ import annotations

from archspec.core.dims import Dim
from archspec.ops.base import RuleContext

SPATIAL_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def conv_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a convolution or pooling window sweep along one dim.

    Mirrors torch.nn.Conv2d / MaxPool2d ("Shape" sections of their docs) and ATen's
    `pooling_output_shape`: floor((size + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1.
    With ceil_mode the division rounds up, but a last window that would start in the right
    padding (at or past size + left padding) is dropped, exactly as ATen does.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        # ATen rounds up for any span, negative too: a 1-wide input under a 2-wide window with
        # stride 2 gives one output (torch.nn.MaxPool2d(2, ceil_mode=True) on 1×1 -> 1×1).
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def size_arithmetic(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False
) -> str:
    """The formula with numbers filled in, for diagnostics."""
    rounding = "⌈⌉" if ceil_mode else "⌊⌋"
    dilated = f"{dilation}×({kernel}−1)" if dilation != 1 else f"({kernel}−1)"
    result = conv_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    numerator = f"{size} + 2×{padding} − {dilated} − 1"
    return f"{rounding[0]}({numerator}) / {stride}{rounding[1]} + 1 = {result}"


def spatial_dims(ctx: RuleContext, spatial: int) -> list[Dim]:
    """The input's trailing spatial sizes: ints, or symbolic sizes (`H`, `⌈H/2⌉`) whose
    comparisons become constraints on the input's sizes (see archspec.core.dims.Sizing)."""
    return list(ctx.input[-spatial:])


def channel_dim(spatial: int):
    """Reads the channel count of an input with `spatial` trailing spatial dims."""
    return lambda shape: shape[-(spatial + 1)]
