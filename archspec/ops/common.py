"""Formulas shared by several families: the conv/pool output size, per-dim helpers, and the
values of one sample (what per-element MAC counts multiply)."""

from __future__ import annotations

from dataclasses import dataclass

from archspec.core.dims import Dim, Shape, Sym, product
from archspec.ops.base import RuleContext

SPATIAL_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


# ---------------------------------------------------------------- layouts, for wording


@dataclass(frozen=True)
class Layout:
    """How a tensor's axes read, so that messages use its words: an image has a spatial size and
    takes a 1×1 Conv2d, a sequence has a length, a feature vector has features."""

    kind: str  # "image", "volume", "sequence" ([N, C, L]), "tokens" ([N, L, D]), "features"
    extent: str  # what its trailing sizes are called in messages
    projection: str  # a layer that maps a residual's shortcut to the block's output

    @property
    def channels_first(self) -> bool:
        """Dims 2 and on are the extent (what a size trace follows)."""
        return self.kind in ("image", "volume", "sequence")


_LENGTH_NAMES = frozenset({"L", "T", "S"})  # the names specs give a length, a time, steps
_CONV_PROJECTION = "a {kernel} Conv{d}d with the same stride, plus BatchNorm"
_LINEAR_PROJECTION = "a Linear from the shortcut's features to the block's"
_LAYOUTS = {
    "image": Layout("image", "spatial size", _CONV_PROJECTION.format(kernel="1×1", d=2)),
    "volume": Layout("volume", "spatial size", _CONV_PROJECTION.format(kernel="1×1×1", d=3)),
    "sequence": Layout("sequence", "length", _CONV_PROJECTION.format(kernel="kernel-1", d=1)),
    "tokens": Layout("tokens", "length", _LINEAR_PROJECTION),
    "features": Layout("features", "features", _LINEAR_PROJECTION),
}


def layout_of(shape: Shape) -> Layout:
    """The layout of a batched tensor, from its rank, and for rank 3 from the names of its sizes
    where the input declared them: [N, L, D] (a length before the last dim) is a sequence of
    feature vectors, [N, C, L] and [N, 64, 100] are channels over a length (Conv1d's layout)."""
    rank = len(shape)
    if rank <= 2:
        return _LAYOUTS["features"]
    if rank == 3:
        return _LAYOUTS["tokens" if _names_length(shape[1]) else "sequence"]
    return _LAYOUTS["image" if rank == 4 else "volume"]


def _names_length(dim: Dim) -> bool:
    return isinstance(dim, Sym) and bool(dim.symbols() & _LENGTH_NAMES)


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


def values_per_sample(shape: Shape, batched_rank: int = 2) -> Dim:
    """The values of one sample of a tensor: all but dim 0 (the batch) when the tensor has at
    least `batched_rank` dims, else all of them (an unbatched input is one sample)."""
    return product(shape[1:]) if len(shape) >= batched_rank else product(shape)


def same_shape(ctx: RuleContext) -> Shape:
    """The rule of an elementwise op: the output has the input's shape."""
    return ctx.input
