"""Differential test on random networks: archspec accepts a spec ⇔ torch runs the same network, and
where both run, archspec's static shape of every node is torch's.

Hypothesis draws a small network of one of two families:

- an image network on `[N, C, H, W]`: a chain of convolutions, pools, activations, norms, and the
  tensor ops (permute, transpose, pad, interpolate, roll, sum, expand, tile, pow, elementwise
  math), with forks joined by `cat`, `+`, `matmul`, `stack`, a `chunk` piece or shifted slices,
  blocks, and a flatten + Linear head;
- a sequence network on `[N, D]` or `[N, L, D]`: Linear, LayerNorm (`?`, the last dim, or the last
  two), softmax and log_softmax, GELU/Tanh/ReLU/Dropout, transpose and sum of non-batch dims, with
  the same forks (joined along the last dim) and blocks.

Both families also draw `param` and `buffer` declarations (in the model and in blocks) of shapes
that broadcast against the tensor they meet, or nearly (`[1, C, 1, 1]`, `[C, 1, 1]`, `[D]`,
`[1, L, D]`, `[1]`, one size changed), used in `+ - * /` (either side), in `cat` after
`expand(N, ...)` (a class token), expanded to the tensor's sizes, and in `matmul` (either side);
and `MultiheadAttention` (both outputs, batch_first or not, kdim/vdim projections, bias,
add_bias_kv, add_zero_attn, a key/value one shorter than the query, unbatched `[L, E]` queries,
and image maps as tokens), followed by its output, its weights or both concatenated. Image networks
also draw layers of the project's own (examples/mylayers.py: SpaceToDepth, SqueezeExcite),
declared `extern` with their shape contracts, which the compiled module imports.

The network is written twice: as .arch text for archspec, and directly as torch modules (Lazy*
layers, or a layer built at the first forward, where the spec writes `?`). The torch side runs
first: the sizes a draw ties to the tensor it meets (a `[1, C, 1, 1]` parameter's C, a LayerNorm's
normalized_shape, an attention's embed_dim) are read off the tensors torch computes, and the spec
is written with them; where torch stops earlier they keep a drawn fallback. Most draws are valid,
many are not (a kernel larger than the map, wrong explicit channels, a parameter one size off,
embed_dim not divisible by num_heads, ...); both sides must agree either way. Where both run, the
spec is also compiled (archspec's codegen), every statement of the generated forwards records its
tensors, and each must have the shape its `# [...]` comment (the static shape of its node) says;
the compiled module's state_dict must hold exactly the declared parameters and persistent buffers
with their shapes (a `persistent=False` buffer is a buffer but no key), requires_grad as declared,
and archspec's parameter count must be `sum(p.numel())` of the compiled and of the torch module.

Deliberate differences, named here as the issue asks: torch returns an empty tensor where a pad
crops a dim to 0, area resizing rounds it to 0 or a slice is empty; archspec refuses (E203), so
the torch side counts an empty tensor as its refusal. Likewise `chunk(3)` where torch returns
fewer pieces (2 channels give 2): archspec makes one value per promised piece, so it refuses
(E105, with the ⌈C/3⌉ arithmetic) and the torch side counts the short return as its refusal. The
batch stays in dim 0 (or 1, inside a sequence-first attention): a symbolic N where a layer reads a
count is refused by archspec where torch runs at N = 2, so no draw moves it there, and a size the
torch side reads off the batch dim is written as 1.

A second test draws programs of the newest constructs (see "dtypes, computed buffers, sizes"
below): dtypes (comparisons, `where`, masked_fill, conversions, integer and bool inputs, arange,
`table[index]`, sums and arithmetic of mixed dtypes, and the refusals: a float index, Linear on
int64, a where of a non-bool condition, ...), buffers computed when the module is built (their
state_dict values must equal the same computation in torch), and blocks that read their input's
sizes (`input x: [N, C, H, W]`), in models of fixed or symbolic size (torch at every size of the
range). Every node's static shape and dtype is compared with torch's (torch_harness.observed).
Named differences there: such programs run at a batch of 11 (PROGRAM_BATCH), a size no literal
takes; torch refuses to `view` a tensor a slice left non-contiguous, which archspec (no strides)
accepts; and a model's own symbolic H, W in a condition or as a tensor operand is E108 where a
block's input sizes are values, so only a block draws those.

A third test draws sequence models (issue 17's vocabulary; see "sequence models" below): int64
token ids and float `[N, L, D]` / `[L, N, D]` inputs through Embedding, RNN / LSTM / GRU with all
their outputs (now and then from an initial state `hx`, a model input of the state's shape or one
size off), TransformerEncoderLayer / TransformerDecoderLayer / TransformerEncoder with masks as
forward arguments, Linear, and sizes computed by `def` functions; torch runs the same program on
its own nn modules, whose state_dict the compiled spec must load strictly. Named differences
there: torch's eval fast path (eval, no gradients, batch_first; TransformerEncoderLayer alone or
in a TransformerEncoder) runs `is_causal=True` without its attn mask, which torch refuses in
training ("Need attn_mask if specifying the is_causal hint") and archspec refuses always, so the
torch side's verdict is that of both modes. With a key padding mask the same fast path runs a
TransformerEncoder on a nested tensor and pads its output back to the input's shape with 0 at
the padded positions: the shapes are torch's either way, and the values are compared with a run
outside torch_harness's recording (a TorchFunctionMode turns the fast paths off). Embedding ids
are only ever the token input (values 0..2) moved around: a float turned `long()` may hold any
row, which is not a static property. Under `is_causal=True` with no key padding mask torch drops
the attn mask unread (F.multi_head_attention_forward, need_weights=False inside the layers), so it
runs a mask of any shape there; archspec checks it all the same, as for MultiheadAttention
(docs/language.md, "Forward arguments"), and no draw gives a mask of the wrong shape with is_causal.
Profiles: the default runs in `make test` (1,000 networks, 250 programs and 250 sequence models);
`ARCHSPEC_RANDOM_GRAPHS=long` runs 20,000 networks, 5,000 programs and 20,000 sequence models.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from spec_writer import BlockUse, Fork, Layer, PythonRef, SpecWriter, call_text  # noqa: E402
from torch import nn  # noqa: E402

import archspec  # noqa: E402
from archspec.core import diagnostic as diag  # noqa: E402
from archspec.core.dims import Sym, evaluate  # noqa: E402
from archspec.outputs.codegen import generate_module  # noqa: E402
from archspec.shapes.infer import infer  # noqa: E402

pytestmark = pytest.mark.torch

EXAMPLES = 20_000 if os.environ.get("ARCHSPEC_RANDOM_GRAPHS") == "long" else 1_000
# The sequence programs (issue 17's vocabulary): 20,000 in the long profile.
SEQUENCE_EXAMPLES = 20_000 if os.environ.get("ARCHSPEC_RANDOM_GRAPHS") == "long" else 250
BATCH = 2


# ---------------------------------------------------------------- sizes tied to a tensor


@dataclass(eq=False)
class Track:
    """A size read off the tensor the step meets: its dim `dim` (negative: from the end), found
    by the torch side; `fallback` where torch never gets there. The batch dim reads as 1."""

    dim: int
    fallback: int


def _read(track: Track, shape: tuple, resolved: dict) -> int:
    if id(track) not in resolved:
        rank = len(shape)
        dim = track.dim + rank if track.dim < 0 else track.dim
        resolved[id(track)] = 1 if dim <= 0 or dim >= rank else shape[dim]
    return resolved[id(track)]


def _resolve(value, shape: tuple, resolved: dict):
    """A layer's argument with its Tracks read off `shape` (torch side)."""
    if isinstance(value, Track):
        return _read(value, shape, resolved)
    if isinstance(value, tuple):
        return tuple(_resolve(v, shape, resolved) for v in value)
    if isinstance(value, PythonRef):
        return value.resolve()
    return value


def _written(value, resolved: dict):
    """The same argument as the spec writes it: what torch read, or the fallback."""
    if isinstance(value, Track):
        return resolved.get(id(value), value.fallback)
    if isinstance(value, tuple):
        return tuple(_written(v, resolved) for v in value)
    return value


def _has_track(value) -> bool:
    return isinstance(value, Track) or (
        isinstance(value, tuple) and any(_has_track(v) for v in value)
    )


# ---------------------------------------------------------------- steps beyond spec_writer's


@dataclass
class State:
    """A `param` or `buffer` of the enclosing model or block, read where the chain meets it:
    `use` is `x + p`, `p - x`, ... (`op`, `swap`), "cat" (`cat([x, p -> expand(N, ...)], 1)`),
    "expand" (`x op (p -> expand(sizes of x))`) or "matmul" (`matmul(x, p)` / `matmul(p, x)`)."""

    kind: str  # "param" or "buffer"
    shape: tuple  # ints and Tracks
    init: str  # the initial value as written: "zeros()", "1e-6", ...
    option: str | None  # "requires_grad=False" or "persistent=False"
    use: str
    op: str = "+"
    swap: bool = False


@dataclass(eq=False)
class Heads:
    """num_heads as one of the embed_dim's divisors (by index), which the torch side reads."""

    index: int


@dataclass
class Attention:
    """`attn: MultiheadAttention(...)` applied to the chain's value (the query), with key and
    value the query itself, Linear projections of it to kdim / vdim features, or it shortened by
    one (`q[:, 1:]`); `take` is what the chain goes on with: "y", "w" or "both" (cat along the
    last dim). `image`: the map becomes tokens first (`flatten(2) -> transpose(1, 2)`) and the
    result a map again (`transpose(1, 2) -> unsqueeze(-1)`). `unbatched`: the query is sample 0
    (`x[0]`, [L, E]) and the result gets a batch of 1 again (`unsqueeze(0)`)."""

    embed: object  # int, Track (the query's features), or None: `?`
    heads: int | Heads
    batch_first: bool
    kdim: int | None  # the key is a Linear projection to this many features (None: the query)
    vdim: int | None
    key_features: int  # what the key projection writes (mostly kdim)
    value_features: int
    shorter: str  # "", "both" (key and value one shorter than the query), "key" (only the key)
    bias: bool
    add_bias_kv: bool
    add_zero_attn: bool
    take: str
    image: bool = False
    unbatched: bool = False
    keywords: tuple = ()  # extra arguments written: dropout=0.0, bias=True, ...


# ---------------------------------------------------------------- strategies

small = st.integers(1, 4)


@st.composite
def conv(draw):
    args = {
        "out_channels": draw(st.integers(1, 6)),
        "kernel_size": draw(st.one_of(st.integers(1, 5), st.tuples(st.integers(1, 4), small))),
    }
    padding = draw(st.sampled_from([0, 1, 2, "same", "valid"]))
    if padding == "same":
        args["padding"] = "same"
    else:
        args["stride"] = draw(st.integers(1, 3))
        args["padding"] = padding
    args["dilation"] = draw(st.integers(1, 2))
    if draw(st.booleans()):
        args["groups"] = draw(st.sampled_from([1, 2]))
    explicit = draw(st.one_of(st.none(), st.integers(1, 6)))  # None: `?`
    if explicit is None:
        return Layer("Conv2d", args, infer="in_channels")
    return Layer("Conv2d", {"in_channels": explicit, **args})


@st.composite
def pool(draw):
    kind = draw(st.sampled_from(["MaxPool2d", "AvgPool2d"]))
    kernel = draw(st.integers(1, 4))
    args = {"kernel_size": kernel}
    if draw(st.booleans()):
        args["stride"] = draw(st.integers(1, 3))
    args["padding"] = draw(st.integers(0, 2))
    args["ceil_mode"] = draw(st.booleans())
    if kind == "MaxPool2d" and draw(st.booleans()):
        args["dilation"] = draw(st.integers(1, 2))
    return Layer(kind, args)


@st.composite
def simple(draw):
    choice = draw(st.sampled_from(["ReLU", "BatchNorm2d", "Identity", "AdaptiveAvgPool2d"]))
    if choice == "BatchNorm2d":
        return Layer("BatchNorm2d", {}, infer="num_features")
    if choice == "AdaptiveAvgPool2d":
        return Layer("AdaptiveAvgPool2d", {"output_size": draw(st.integers(1, 3))})
    return Layer(choice)


@st.composite
def tensor_op(draw):
    """An op of archspec/ops/tensor.py on the [N, C, H, W] map (dims may be out of range). The
    map keeps its rank and the batch stays dim 0: the symbolic N moved where a later layer reads
    a count or fits a window is refused (E201, E210) where torch runs at N = 2. (squeeze and
    reductions that drop a dim are drawn by tests/test_tensor_ops.py.)"""
    dim = st.integers(-5, 4)
    not_batch = st.sampled_from([1, 2, 3, -1, -2, -3, 4, -5])
    choice = draw(
        st.sampled_from(
            ["permute", "transpose", "pad", "interpolate", "roll", "sum", "expand",
             "exp", "abs", "neg", "sin", "erf", "pow", "tile"]
        )
    )  # fmt: skip
    if choice == "permute":
        order = [0, *draw(st.permutations(range(1, 4)))]
        return Layer("permute", {"dims": tuple(order[: draw(st.sampled_from([4, 4, 4, 3]))])})
    if choice == "transpose":
        return Layer("transpose", {"dim0": draw(not_batch), "dim1": draw(not_batch)})
    if choice == "pad":
        amounts = tuple(draw(st.integers(-2, 3)) for _ in range(draw(st.sampled_from([2, 4]))))
        mode = draw(st.sampled_from(["constant", "constant", "reflect", "replicate", "circular"]))
        return Layer("pad", {"pad": amounts, "mode": mode})
    if choice == "interpolate":
        if draw(st.booleans()):
            return Layer("interpolate", {"size": (draw(small), draw(st.integers(1, 9)))})
        scale = draw(st.sampled_from([0.5, 1.5, 2.0, 0.25]))
        mode = draw(st.sampled_from(["nearest", "bilinear", "area", "nearest-exact"]))
        return Layer("interpolate", {"scale_factor": scale, "mode": mode})
    if choice == "roll":
        return Layer("roll", {"shifts": draw(st.integers(-3, 3)), "dims": draw(dim)})
    if choice == "sum":
        return Layer("sum", {"dim": draw(dim), "keepdim": True})
    if choice == "expand":
        sizes = (-1, *(draw(st.sampled_from([-1, -1, -1, 1, 2, 3])) for _ in range(3)))
        return Layer("expand", {"size": sizes})
    if choice == "pow":  # `x ** 2`, as the importer writes it
        return Layer("pow", {"exponent": draw(st.sampled_from([2, 3, 0.5, -1]))})
    if choice == "tile":  # the batch is never tiled (see the docstring); fewer counts align right
        counts = [draw(st.sampled_from([1, 1, 2])) for _ in range(draw(st.integers(1, 3)))]
        return Layer("tile", {"dims": (1, *counts) if len(counts) == 3 else tuple(counts)})
    return Layer(choice)


@lru_cache(None)  # strategies built once: building and validating them costs more than drawing
def _tracked(dim: int):
    """A size of the tensor met (mostly), else a literal that may not fit."""
    track = st.builds(Track, st.just(dim), st.integers(1, 6))
    # never BATCH: a literal 2 where it meets the batch runs in torch (N = 2), not in archspec
    return st.one_of(track, track, track, track, track, st.sampled_from([1, 3, 4, 5]))


@lru_cache(None)
def _tracked_or_one(dim: int):
    return st.one_of(_tracked(dim), st.just(1), st.just(1))


@st.composite
def state(draw, rank: int, in_block: bool):
    """A param or buffer of a shape that broadcasts against a rank-`rank` tensor (mostly)."""
    kind = draw(st.sampled_from(["param", "param", "buffer"]))
    init = draw(
        st.sampled_from(
            ["zeros()", "ones()", "1e-6", "0.5", "full(2.0)", "normal(std=0.02)",
             "uniform(-1.0, 1.0)", "trunc_normal(std=0.02)", "normal()"]
        )
    )  # fmt: skip
    option = None
    if draw(st.integers(0, 3)) == 0:
        option = "requires_grad=False" if kind == "param" else "persistent=False"
    uses = ["op", "op", "op", "expand", "matmul"] + ([] if in_block else ["cat"])
    use = draw(st.sampled_from(uses))
    op = draw(st.sampled_from(["+", "-", "*", "/"]))
    swap = draw(st.booleans())
    if use == "matmul":
        # matmul(x, p): p is [x's last dim, K]; matmul(p, x): p is [K, x's second-to-last dim]
        if swap:
            shape = (draw(st.integers(1, 4)), draw(_tracked(-2)))
        else:
            shape = (draw(_tracked(-1)), draw(st.integers(1, 4)))
        if rank >= 3 and draw(st.integers(0, 3)) == 0:  # (on [N, D], [1, D, K] moves the batch)
            shape = (1, *shape)
    elif use == "cat":  # a token of k along dim 1, the other dims x's: [1, k, ...]
        shape = (1, draw(st.integers(1, 3)), *(draw(_tracked(d)) for d in range(2 - rank, 0)))
    else:
        # aligned with x's last `size` dims: each x's own size, or 1 (the batch dim reads as 1)
        size = draw(st.integers(1, rank))  # (one dim more would move the batch)
        shape = tuple(draw(_tracked_or_one(d - size)) for d in range(size))
    return State(kind, shape, init, option, use, op, swap)


@st.composite
def attention(draw, image: bool = False):
    embed = draw(st.sampled_from(["?", "?", "track", "track", "literal"]))
    embed = {
        "?": None,
        "track": Track(-1, draw(st.integers(1, 8))),
        "literal": draw(st.integers(1, 8)),
    }[embed]
    heads = draw(st.sampled_from([1, 2, 3, 0, 1, -1, -1, -2]))
    if draw(st.integers(0, 2)):  # mostly one of embed_dim's divisors, else any count
        heads = Heads(heads)
    else:
        heads = abs(heads) + 1
    features = draw(st.sampled_from([None, None, 2, 3, 5]))
    kdim = features
    vdim = draw(st.sampled_from([None, None, 2, 3, 5, features]))
    mismatch = draw(st.integers(0, 9)) == 0
    keywords = tuple(
        draw(st.lists(st.sampled_from(["dropout", "bias", "add_bias_kv", "add_zero_attn"]),
                      unique=True, max_size=2))
    )  # fmt: skip
    return Attention(
        embed=embed,
        heads=heads,
        batch_first=draw(st.booleans()),
        kdim=kdim,
        vdim=vdim,
        key_features=(kdim or 1) + (draw(st.integers(1, 2)) if mismatch else 0),
        value_features=vdim or 1,
        shorter=draw(st.sampled_from(["", "", "", "", "both", "both", "key"])),
        bias=draw(st.booleans()),
        add_bias_kv=draw(st.booleans()),
        add_zero_attn=draw(st.booleans()),
        take=draw(st.sampled_from(["y", "w", "both"])),
        image=image,
        unbatched=not image and draw(st.integers(0, 5)) == 0,
        keywords=keywords,
    )


@st.composite
def seq_layer(draw, rank: int):
    """A layer of a sequence network, on [N, D] or [N, L, D]; the batch stays dim 0."""
    not_batch = [1, -1, 3, -4] + ([2, -2] if rank == 3 else [])
    choice = draw(
        st.sampled_from(
            ["Linear", "Linear", "LayerNorm", "softmax", "log_softmax", "GELU", "Tanh", "ReLU",
             "Dropout", "transpose", "sum", "exp", "neg"]
        )
    )  # fmt: skip
    if choice == "Linear":
        args = {"out_features": draw(st.integers(1, 8))}
        if draw(st.integers(0, 3)) == 0:
            args["bias"] = draw(st.booleans())
        explicit = draw(
            st.one_of(st.none(), st.integers(1, 8), st.builds(Track, st.just(-1), small))
        )
        if explicit is None:
            return Layer("Linear", args, infer="in_features")
        return Layer("Linear", {"in_features": explicit, **args})
    if choice == "LayerNorm":
        args = {}
        if draw(st.booleans()):
            args["elementwise_affine"] = draw(st.booleans())
        shape = draw(
            st.sampled_from(
                ["?", "last", "last", "two", "literal"] if rank == 3 else ["?", "last", "literal"]
            )
        )
        if shape == "?":
            return Layer("LayerNorm", args, infer="normalized_shape")
        if shape == "last":
            return Layer("LayerNorm", {"normalized_shape": draw(_tracked(-1)), **args})
        if shape == "two":
            dims = (draw(_tracked(-2)), draw(_tracked(-1)))
            return Layer("LayerNorm", {"normalized_shape": dims, **args})
        return Layer("LayerNorm", {"normalized_shape": draw(st.integers(1, 8)), **args})
    if choice in ("softmax", "log_softmax"):
        return Layer(choice, {"dim": draw(st.sampled_from([-1, -1, 1, -2, 0, 2, 3, -4]))})
    if choice == "Dropout":
        return Layer("Dropout", {"p": draw(st.sampled_from([0.0, 0.5]))})
    if choice == "transpose":
        return Layer("transpose", {"dim0": draw(st.sampled_from(not_batch)),
                                   "dim1": draw(st.sampled_from(not_batch))})  # fmt: skip
    if choice == "sum":
        return Layer("sum", {"dim": draw(st.sampled_from(not_batch)), "keepdim": True})
    return Layer(choice)


# Layers of the project's own (examples/mylayers.py), declared `extern` with a shape contract:
# SpaceToDepth's `H / 2` is exact, so an odd map is refused where pixel_unshuffle raises.
# SqueezeExcite's hidden width is channels // reduction: reduction 1, as a width of 0 is a
# convolution torch refuses and the contract does not state; its gate, a class, is passed as an
# extern value.
EXTERNS = {
    "SpaceToDepth": 'extern SpaceToDepth() = "mylayers:SpaceToDepth"\n'
    "    (x: [N, C, H, W]) -> [N, C * 4, H / 2, W / 2], params = 0, macs = 0",
    "SqueezeExcite": "extern SqueezeExcite(channels, reduction=4, "
    'gate=extern "torch.nn:Sigmoid") = "mylayers:SqueezeExcite"\n'
    "    (x: [N, channels, H, W]) -> [N, channels, H, W],\n"
    "    params = 2 * channels * (channels // reduction) + channels + channels // reduction",
}


@st.composite
def extern_layer(draw):
    if draw(st.booleans()):
        return Layer("SpaceToDepth")
    args = {"channels": draw(_tracked(1)), "reduction": 1}
    gate = draw(st.sampled_from([None, "Hardsigmoid", "Tanh"]))  # a class as an argument
    if gate is not None:
        args["gate"] = PythonRef("torch.nn", gate)
    return Layer("SqueezeExcite", args)


@lru_cache(None)
def image_layer(in_block: bool):
    return st.one_of(
        conv(), conv(), pool(), simple(), tensor_op(), _state(4, in_block), _attention(True),
        extern_layer(),
    )  # fmt: skip


@lru_cache(None)
def sequence_layer(rank: int, in_block: bool):
    layer = _seq_layer(rank)
    layers = [layer, layer, _state(rank, in_block)]
    if rank == 3:
        layers.append(_attention(False))
    return st.one_of(*layers)


QUARTER, FIFTH = st.integers(0, 3).map(lambda n: n == 0), st.integers(0, 4).map(lambda n: n == 0)


@lru_cache(None)
def _steps(layer):
    return st.lists(layer, min_size=1, max_size=4)


@st.composite
def chain(draw, family: str, rank: int, depth: int = 0, in_block: bool = False):
    layer = image_layer(in_block) if family == "image" else sequence_layer(rank, in_block)
    joins = JOINS if family == "image" else SEQ_JOINS[rank]
    steps = draw(_steps(layer))
    if depth < 1 and draw(QUARTER):
        left = draw(_chain(family, rank, depth + 1, in_block))
        right = draw(_chain(family, rank, depth + 1, in_block))
        steps.append(Fork(left, right, draw(st.sampled_from(joins))))
    if depth < 1 and draw(FIFTH):
        steps.append(BlockUse(draw(_chain(family, rank, depth + 1, True))))
    return steps


_state, _attention, _seq_layer, _chain = map(lru_cache(None), (state, attention, seq_layer, chain))


@dataclass
class Net:
    family: str
    shape: tuple  # the input's, without the batch
    body: list
    head: tuple | None  # (explicit in_features or None, out_features)


@st.composite
def image_network(draw):
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 14)), draw(st.integers(1, 14)))
    return Net("image", shape, draw(_chain("image", 4)), draw(HEAD))


@st.composite
def sequence_network(draw):
    rank = draw(st.sampled_from([2, 3, 3]))
    shape = (draw(st.integers(1, 6)),) * (rank == 3) + (draw(st.integers(1, 8)),)
    return Net("sequence", shape, draw(_chain("sequence", rank)), draw(HEAD))


HEAD = st.one_of(st.none(), st.tuples(st.one_of(st.none(), st.integers(1, 40)), st.integers(1, 5)))


network = st.one_of(image_network(), image_network(), sequence_network())


# ---------------------------------------------------------------- spec text


# How a fork's branches meet. matmul multiplies the maps as matrices ([.., H, W] @ [.., W, H'])
# and stack joins equal shapes along a new dim, merged into the channels again.
# chunk cuts the joined channels into ⌈C/3⌉-wide pieces and keeps the last (several outputs,
# indexed); slice adds the branches shifted by one row (indexing and slicing). A sequence
# network joins along its last dim (`cat_last`, `chunk_last`) and multiplies (`mul`).
JOINS = ["cat", "add", "matmul", "stack", "chunk", "slice"]
SEQ_JOINS = {
    2: ["cat_last", "add", "mul", "stack", "chunk_last", "slice"],
    3: ["cat_last", "add", "mul", "matmul", "stack", "chunk_last", "slice"],
}
SPEC_JOINS = {
    "cat": "cat([{left}, {right}], 1)",
    "add": "{left} + {right}",
    "mul": "{left} * {right}",
    "cat_last": "cat([{left}, {right}], dim=-1)",
    "matmul": "matmul({left}, {right} -> transpose(-1, -2))",
    "stack": "stack([{left}, {right}], 1) -> flatten(1, 2)",
    "chunk": "(cat([{left}, {right}], 1) -> chunk(3, dim=1))[-1]",
    "chunk_last": "(cat([{left}, {right}], -1) -> chunk(3, dim=-1))[-1]",
    "slice": "{left}[:, 1:] + {right}[:, :-1]",
}
TORCH_JOINS = {
    "cat": lambda left, right: torch.cat([left, right], 1),
    "add": lambda left, right: left + right,
    "mul": lambda left, right: left * right,
    "cat_last": lambda left, right: torch.cat([left, right], -1),
    "matmul": lambda left, right: torch.matmul(left, right.transpose(-1, -2)),
    "stack": lambda left, right: torch.flatten(torch.stack([left, right], 1), 1, 2),
    "chunk": lambda left, right: _all_chunks(torch.cat([left, right], 1), 3, 1)[-1],
    "chunk_last": lambda left, right: _all_chunks(torch.cat([left, right], -1), 3, -1)[-1],
    "slice": lambda left, right: left[:, 1:] + right[:, :-1],
}


def _all_chunks(x, chunks: int, dim: int):
    """torch.chunk, refusing where it returns fewer pieces than asked (chunk(3) of 2 channels
    gives 2): archspec makes one value per promised piece and refuses that case (E105), so the
    torch side counts it as its refusal (a deliberate difference, see the module docstring)."""
    pieces = torch.chunk(x, chunks, dim)
    if len(pieces) != chunks:
        raise RuntimeError(f"chunk gave {len(pieces)} pieces, not {chunks}")
    return pieces


@dataclass
class Declared:
    """A param or buffer the spec declares: its state_dict key (path and name), shape, kind and
    option; what the compiled module must hold."""

    key: str
    shape: tuple
    kind: str
    option: str | None


class _Writer(SpecWriter):
    """Writes a Net, with the sizes the torch side read (`resolved`) in place of its Tracks."""

    def __init__(self, resolved: dict):
        super().__init__()
        self.resolved = resolved
        self.declared: list[Declared] = []
        self.scope = ""  # the state_dict prefix of the module being written ("blk3.")

    def chain(self, steps, value: str, lines: list[str]) -> str:
        for step in steps:
            if isinstance(step, State):
                value = self.state(step, value, lines)
                continue
            if isinstance(step, Attention):
                value = self.attention(step, value, lines)
                continue
            target = self.fresh("v")
            if isinstance(step, Layer):
                if step.kind in EXTERNS and EXTERNS[step.kind] not in self.blocks:
                    self.blocks.insert(0, EXTERNS[step.kind])  # declared before the blocks
                args = {k: _written(v, self.resolved) for k, v in step.args.items()}
                lines.append(
                    f"{target} = {value} -> {call_text(Layer(step.kind, args, step.infer))}"
                )
            elif isinstance(step, Fork):
                left = self.chain(step.left, value, lines)
                right = self.chain(step.right, value, lines)
                lines.append(f"{target} = {SPEC_JOINS[step.join].format(left=left, right=right)}")
            else:
                name = self.fresh("Block")
                attribute = self.fresh("blk")
                body: list[str] = []
                outer, self.scope = self.scope, f"{attribute}."
                result = self.chain(step.body, "x", body)
                self.scope = outer
                inner = "\n".join(f"    {line}" for line in body)
                self.blocks.append(
                    f"block {name}() {{\n    input x\n{inner}\n    return {result}\n}}"
                )
                lines.append(f"{target} = {value} -> {attribute}: {name}()")
            value = target
        return value

    def state(self, step: State, value: str, lines: list[str]) -> str:
        name = self.fresh("s")
        shape = _written(step.shape, self.resolved)
        option = f", {step.option}" if step.option else ""
        sizes = ", ".join(map(str, shape))
        lines.append(f"{step.kind} {name}: [{sizes}] = {step.init}{option}")
        self.declared.append(Declared(self.scope + name, shape, step.kind, step.option))
        target = self.fresh("v")
        if step.use == "cat":
            expand = ", ".join(["N", *["-1"] * (len(shape) - 1)])
            lines.append(f"{target} = cat([{value}, {name} -> expand({expand})], dim=1)")
        elif step.use == "matmul":
            operands = (name, value) if step.swap else (value, name)
            lines.append(f"{target} = matmul({operands[0]}, {operands[1]})")
        else:
            operand = name
            if step.use == "expand":
                operand = f"({name} -> expand({', '.join(map(str, self.expanded(step)))}))"
            left, right = (operand, value) if step.swap else (value, operand)
            lines.append(f"{target} = {left} {step.op} {right}")
        return target

    def expanded(self, step: State) -> tuple:
        """expand's sizes: -1 where the parameter tracks the tensor, the tensor's size where it is
        1 (what the torch side read; 1 for the batch dim)."""
        return tuple(
            self.resolved.get((id(step), index), 1) if size == 1 else -1
            for index, size in enumerate(_written(step.shape, self.resolved))
        )

    def attention(self, step: Attention, value: str, lines: list[str]) -> str:
        name = self.fresh("attn")
        heads = (
            self.resolved.get(id(step.heads), 1) if isinstance(step.heads, Heads) else step.heads
        )
        if step.embed is None:
            args = ["embed_dim=?", f"num_heads={heads}"]
        else:
            args = [str(_written(step.embed, self.resolved)), str(heads)]
        if "dropout" in step.keywords:
            args.append("dropout=0.0")
        for flag in ("bias", "add_bias_kv", "add_zero_attn"):
            if getattr(step, flag) != (flag == "bias") or flag in step.keywords:
                args.append(f"{flag}={getattr(step, flag)}")
        for arg in ("kdim", "vdim"):
            if getattr(step, arg) is not None:
                args.append(f"{arg}={getattr(step, arg)}")
        if step.batch_first:
            args.append("batch_first=True")
        lines.append(f"{name}: MultiheadAttention({', '.join(args)})")
        query = self.fresh("q")
        into = value
        if step.image:
            into = f"{value} -> flatten(2) -> transpose(1, 2)"
        elif step.unbatched:
            into = f"{value}[0]"
        lines.append(f"{query} = {into}")
        sources = []
        for role, dim, features in (
            ("key", step.kdim, step.key_features),
            ("value", step.vdim, step.value_features),
        ):
            text = query
            if step.shorter == "both" or step.shorter == "key" and role == "key":
                text = f"{query}[1:]" if step.unbatched else f"{query}[:, 1:]"
            if dim is not None:
                text = f"{text} -> Linear(?, {features})"
            sources.append(text)
        if not step.batch_first and not step.unbatched:
            sources = [f"{s} -> transpose(0, 1)" for s in [query, *sources]]
        else:
            sources = [query, *sources]
        names = []
        for role, text in zip(("qq", "k", "val"), sources):
            if text == query:
                names.append(query)
                continue
            names.append(self.fresh(role))
            lines.append(f"{names[-1]} = {text}")
        out, weights = self.fresh("y"), self.fresh("w")
        lines.append(f"{out}, {weights} = {name}({', '.join(names)})")
        if not step.batch_first and not step.unbatched:
            back = self.fresh("y")
            lines.append(f"{back} = {out} -> transpose(0, 1)")
            out = back
        target = self.fresh("v")
        taken = {"y": out, "w": weights, "both": f"cat([{out}, {weights}], -1)"}[step.take]
        if step.image:
            taken = f"{taken} -> transpose(1, 2) -> unsqueeze(-1)"
        elif step.unbatched:
            taken = f"{taken} -> unsqueeze(0)"
        lines.append(f"{target} = {taken}")
        return target

    def spec(self, net: Net) -> str:
        lines: list[str] = []
        out = self.chain(net.body, "x", lines)
        if net.head is not None:
            explicit, features = net.head
            first = "?" if explicit is None else str(explicit)
            lines.append(f"head = {out} -> flatten(1) -> Linear({first}, {features})")
            out = "head"
        return self.model(f"[N, {', '.join(map(str, net.shape))}]", lines, out)


# ---------------------------------------------------------------- the same network in torch

_LAZY = {"Conv2d": nn.LazyConv2d, "BatchNorm2d": nn.LazyBatchNorm2d, "Linear": nn.LazyLinear}


# The functions of tensor_op() and seq_layer(), called as the spec writes them (keywords).
_FUNCTIONS = {
    "permute": torch.permute,
    "transpose": torch.transpose,
    "pad": torch.nn.functional.pad,
    "interpolate": torch.nn.functional.interpolate,
    "roll": torch.roll,
    "sum": torch.sum,
    "expand": lambda x, size: x.expand(*size),
    "exp": torch.exp,
    "abs": torch.abs,
    "neg": torch.neg,
    "sin": torch.sin,
    "erf": torch.erf,
    "pow": torch.pow,
    "tile": torch.tile,
    "softmax": torch.softmax,
    "log_softmax": torch.log_softmax,
}


class _Function(nn.Module):
    def __init__(self, layer: Layer):
        super().__init__()
        self.function, self.args = _FUNCTIONS[layer.kind], layer.args

    def forward(self, x):
        return self.function(x, **self.args)


class _Late(nn.Module):
    """A layer built at its first forward: its Tracks (and a LayerNorm's `?`) read off the
    input, as the spec will be written with them."""

    def __init__(self, layer: Layer, resolved: dict):
        super().__init__()
        self.layer, self.resolved, self.inner = layer, resolved, None

    def forward(self, x):
        if self.inner is None:
            args = {
                k: _resolve(v, tuple(x.shape), self.resolved) for k, v in self.layer.args.items()
            }
            if self.layer.infer is not None:  # LayerNorm(normalized_shape=?)
                args[self.layer.infer] = x.shape[-1]
            self.inner = _layer_class(self.layer.kind)(**args).train(self.training)
        return self.inner(x)


def _layer_class(kind: str) -> type:
    """torch's class, or the project's own for an extern (examples/ is on sys.path)."""
    if kind in EXTERNS:
        import mylayers

        return getattr(mylayers, kind)
    return getattr(nn, kind)


def _module(layer: Layer, resolved: dict) -> nn.Module:
    if layer.kind in _FUNCTIONS:
        return _Function(layer)
    if any(_has_track(v) for v in layer.args.values()) or layer.kind == "LayerNorm":
        return _Late(layer, resolved)
    args = {k: v.resolve() if isinstance(v, PythonRef) else v for k, v in layer.args.items()}
    if layer.infer is not None:
        return _LAZY[layer.kind](**args)
    return _layer_class(layer.kind)(**args)


_TORCH_OPS = {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div}


class _State(nn.Module):
    """A declared param or buffer, made at the first forward with the sizes read off x."""

    def __init__(self, step: State, resolved: dict):
        super().__init__()
        self.step, self.resolved, self.made = step, resolved, False

    def forward(self, x):
        step, shape = self.step, tuple(x.shape)
        if not self.made:
            sizes = tuple(_resolve(size, shape, self.resolved) for size in step.shape)
            tensor = torch.randn(sizes)
            if step.kind == "param":
                grad = step.option != "requires_grad=False"
                self.tensor = nn.Parameter(tensor, requires_grad=grad)
            else:
                self.register_buffer("tensor", tensor, persistent=step.option is None)
            for index, size in enumerate(sizes):  # what `expand` grows a size-1 dim to
                aligned = index - len(sizes) + len(shape)
                grown = shape[aligned] if size == 1 and 0 < aligned < len(shape) else 1
                self.resolved[(id(step), index)] = grown
            self.made = True
        p = self.tensor
        if step.use == "cat":
            # the spec's N is the input's batch (x's dim 0 is 1 after an unbatched attention)
            return torch.cat([x, p.expand(BATCH, *[-1] * (p.dim() - 1))], 1)
        if step.use == "matmul":
            return torch.matmul(p, x) if step.swap else torch.matmul(x, p)
        if step.use == "expand":
            p = p.expand(*(self.resolved[(id(step), i)] if s == 1 else -1
                           for i, s in enumerate(p.shape)))  # fmt: skip
        left, right = (p, x) if step.swap else (x, p)
        return _TORCH_OPS[step.op](left, right)


class _Attention(nn.Module):
    """nn.MultiheadAttention, made at the first forward (embed_dim read off the query)."""

    def __init__(self, step: Attention, resolved: dict):
        super().__init__()
        self.step, self.resolved, self.attn = step, resolved, None

    def forward(self, x):
        step = self.step
        query = x.flatten(2).transpose(1, 2) if step.image else x[0] if step.unbatched else x
        if self.attn is None:
            embed = step.embed
            embed = (
                query.shape[-1]
                if embed is None
                else _resolve(embed, tuple(query.shape), self.resolved)
            )
            heads = step.heads
            if isinstance(heads, Heads):
                divisors = [h for h in range(1, embed + 1) if embed % h == 0] if embed > 0 else [1]
                heads = self.resolved[id(heads)] = divisors[heads.index % len(divisors)]
            self.attn = nn.MultiheadAttention(
                embed, heads, dropout=0.0, bias=step.bias, add_bias_kv=step.add_bias_kv,
                add_zero_attn=step.add_zero_attn, kdim=step.kdim, vdim=step.vdim,
                batch_first=step.batch_first,
            ).train(self.training)  # fmt: skip
            self.key = nn.LazyLinear(step.key_features) if step.kdim else None
            self.value = nn.LazyLinear(step.value_features) if step.vdim else None
        sources = []
        for role, projection in (("key", self.key), ("value", self.value)):
            source = query
            if step.shorter == "both" or step.shorter == "key" and role == "key":
                source = query[1:] if step.unbatched else query[:, 1:]
                if 0 in source.shape:
                    raise ValueError(f"empty {role} {tuple(source.shape)}")  # archspec: E203
            sources.append(source if projection is None else projection(source))
        operands = [query, *sources]
        if not step.batch_first and not step.unbatched:
            operands = [t.transpose(0, 1) for t in operands]
        out, weights = self.attn(*operands)
        if not step.batch_first and not step.unbatched:
            out = out.transpose(0, 1)
        taken = {"y": out, "w": weights}.get(step.take)
        if taken is None:
            taken = torch.cat([out, weights], -1)
        if step.image:
            return taken.transpose(1, 2).unsqueeze(-1)
        return taken.unsqueeze(0) if step.unbatched else taken


class TorchChain(nn.Module):
    def __init__(self, steps, resolved: dict):
        super().__init__()
        self.steps = steps
        self.parts = nn.ModuleList()
        for step in steps:
            if isinstance(step, Layer):
                self.parts.append(_module(step, resolved))
            elif isinstance(step, State):
                self.parts.append(_State(step, resolved))
            elif isinstance(step, Attention):
                self.parts.append(_Attention(step, resolved))
            elif isinstance(step, Fork):
                self.parts.append(
                    nn.ModuleList(
                        [TorchChain(step.left, resolved), TorchChain(step.right, resolved)]
                    )
                )
            else:
                self.parts.append(TorchChain(step.body, resolved))

    def forward(self, x):
        for step, part in zip(self.steps, self.parts, strict=True):
            if isinstance(step, Fork):
                left, right = part[0](x), part[1](x)
                x = TORCH_JOINS[step.join](left, right)
            else:
                x = part(x)
            if 0 in x.shape:
                # An empty map (a crop to nothing, area resizing below 1): archspec builds no
                # empty tensors and refuses it (E203), so here it counts as torch's refusal.
                raise ValueError(f"empty tensor {tuple(x.shape)}")
        return x


class TorchNet(nn.Module):
    def __init__(self, net: Net, resolved: dict):
        super().__init__()
        self.body = TorchChain(net.body, resolved)  # constructors validate too (groups, ...)
        self.head = None
        if net.head is not None:
            explicit, features = net.head
            self.head = (
                nn.LazyLinear(features) if explicit is None else nn.Linear(explicit, features)
            )

    def forward(self, x):
        out = self.body(x)
        return out if self.head is None else self.head(torch.flatten(out, 1))


# torch refuses with these; nn.MultiheadAttention checks its arguments and shapes with `assert`.
_REFUSALS = (RuntimeError, ValueError, IndexError, NotImplementedError, AssertionError)


def run_torch(net: Net, x, resolved: dict):
    """(output shape, None, module) where torch runs the network, (None, error, None) where not;
    fills `resolved` with the sizes read off its tensors on the way."""
    try:
        model = TorchNet(net, resolved)
        with torch.no_grad():
            model.eval()
            out = model(x)
    except _REFUSALS as error:
        return None, error, None
    return tuple(out.shape), None, model


# ---------------------------------------------------------------- the compiled spec

_SHAPES = re.compile(r"\[([^\]]*)\]")
_STATEMENT = re.compile(r"^(\s+)([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*) = ")


def _static(text: str) -> tuple:
    """A `# [N, 3, 6, 6]` comment's shape at the batch BATCH."""
    dims = [d.strip() for d in text.split(",") if d.strip()]
    return tuple(int(d) if d.isdigit() else eval(d.replace("·", "*"), {"N": BATCH}) for d in dims)


def instrument(source: str) -> tuple[str, int]:
    """The generated source with a `_record(...)` after every statement of every forward: the
    shapes its comment states and the tensors it assigned (an unread output, `_`, gets a name)."""
    lines, pending, count, in_forward = [], None, 0, False
    for line in source.splitlines():
        if line.lstrip().startswith("def "):
            in_forward = line.lstrip().startswith("def forward(")
        elif in_forward:
            match = _STATEMENT.match(line)
            if match and pending is None:
                names = [f"_unread{count}_{i}" if name == "_" else name
                         for i, name in enumerate(match[2].split(", "))]  # fmt: skip
                line = f"{match[1]}{', '.join(names)} = {line[match.end() :]}"
                pending = (match[1], names)
            if pending is not None and "  # [" in line:
                indent, names = pending
                comment = line.rsplit("  # ", 1)[1]
                lines.append(line)
                lines.append(f"{indent}_record({comment!r}, ({', '.join(names)},))")
                pending, count = None, count + 1
                continue
        lines.append(line)
    assert pending is None, f"a statement without its shape comment:\n{source}"
    return "\n".join(lines), count


def _agrees_with_the_default_form(result, unrolled, x, expected, spec: str) -> None:
    """The default generated form (a class per block definition, parametrized) is the network
    whose unrolled statements were checked: the same state_dict keys, and with its values the
    same output."""
    generated = generate_module(result)
    namespace = {"__name__": "archspec_random_default"}
    exec(compile(generated.source, "<random graph, default form>", "exec"), namespace)
    module = namespace[generated.classes[result.model().name]]()
    module.load_state_dict(unrolled.state_dict(), strict=True)
    with torch.no_grad():
        for name, buffer in unrolled.named_buffers():  # persistent=False ones too
            module.get_buffer(name).copy_(buffer)
        module.eval()
        out = module(x)
    torch.testing.assert_close(
        out, expected, equal_nan=True, msg=lambda m: f"{m}\n{spec}\n{generated.source}"
    )


def check_compiled(result, net: Net, x, expected_out, declared: list[Declared], spec: str, oracle):
    """Compile the spec, run the module: every statement's tensors have its static shapes; the
    output is torch's; state_dict, buffers and parameter counts are what the spec declares."""
    checked = result.model()
    # Unrolled: a statement per graph node, each with its concrete shape comment to check. The
    # default form (a class per block definition) is compared with it below.
    generated = generate_module(result, specialize=True)
    source, _ = instrument(generated.source)
    seen: list = []

    def record(comment, tensors):
        static = tuple(_static(s) for s in _SHAPES.findall(comment))
        actual = tuple(tuple(t.shape) for t in tensors)
        assert static == actual, f"statement # {comment}: torch {actual}\n{spec}\n{source}"
        seen.extend(actual)

    namespace = {"__name__": "archspec_random_graph", "_record": record}
    exec(compile(source, "<random graph>", "exec"), namespace)
    torch.manual_seed(0)
    module = namespace[generated.classes[checked.name]]()
    with torch.no_grad():
        module.eval()
        out = module(x)
    nodes = list(checked.graph.nodes())
    ops = sum(node.kind == "op" for node in nodes)  # and a block call's result, each
    ops += sum(len(call.outputs) if call.outputs else 1 for call in checked.graph.calls)
    assert len(seen) == ops, f"{len(seen)} tensors recorded, {ops} nodes:\n{spec}\n{source}"
    shapes = {item.key: tuple(item.shape) for item in declared}
    for node in nodes:  # a read of a param or buffer (`self.s1`) has the declared shape
        if node.kind == "state":
            key = f"{node.scope}.{node.name}" if node.scope else node.name
            assert checked.inference.shapes[node.id] == shapes[key], f"{key}:\n{spec}"
    assert tuple(out.shape) == expected_out, f"compiled {tuple(out.shape)}, torch {expected_out}"
    _agrees_with_the_default_form(result, module, x, out, spec)

    state = module.state_dict()
    buffers = dict(module.named_buffers())
    params = dict(module.named_parameters())
    for item in declared:
        if item.kind == "param":
            assert item.key in params, f"no parameter {item.key}: {sorted(params)}\n{spec}"
            assert params[item.key].requires_grad == (item.option is None), item.key
            tensor = params[item.key]
        else:
            assert item.key in buffers, f"no buffer {item.key}: {sorted(buffers)}\n{spec}"
            tensor = buffers[item.key]
        assert tuple(tensor.shape) == tuple(item.shape), f"{item.key}: {tuple(tensor.shape)}"
        in_state = item.kind == "param" or item.option is None
        assert (item.key in state) == in_state, f"{item.key} in state_dict: {not in_state}\n{spec}"
        if in_state:
            assert tuple(state[item.key].shape) == tuple(item.shape), item.key
    # the rest of the state_dict is the layers' own (weights, running statistics)
    keys = {item.key for item in declared}
    layer_keys = [k for k in state if k not in keys]
    owners = dict(module.named_modules())
    for key in layer_keys:
        owner = owners[key.rpartition(".")[0]]
        assert type(owner).__module__.startswith("torch"), f"{key} is not a layer's:\n{spec}"
    compiled = sum(p.numel() for p in module.parameters())
    ran = sum(p.numel() for p in oracle.parameters())
    assert checked.parameter_count == compiled == ran, (
        f"parameters: archspec {checked.parameter_count}, compiled {compiled}, torch {ran}\n{spec}"
    )


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: these tensors are tiny, and a thread pool's start costs more than the
    work (nn.MultiheadAttention's fused kernel: ~15 ms with 2 threads, ~0.1 ms with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(network)
def test_archspec_accepts_exactly_what_torch_runs(net):
    x = torch.randn(BATCH, *net.shape)
    resolved: dict = {}
    shape, error, oracle = run_torch(net, x, resolved)
    writer = _Writer(resolved)
    spec = writer.spec(net)
    result = archspec.check_text(spec, "random.arch")
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    event(f"{net.family}: archspec {'rejects' if errors else 'accepts'}")
    if errors:
        assert shape is None, (
            f"archspec rejects what torch runs (output {shape}):\n{spec}\n"
            + "\n".join(f"{d.code} {d.message}" for d in errors)
        )
        return
    assert error is None, f"archspec accepts what torch rejects ({error!r}):\n{spec}"
    static = result.model().output_shapes[0]
    expected = tuple(BATCH if isinstance(d, Sym) else d for d in static)
    assert shape == expected, f"archspec {static}, torch {shape}:\n{spec}"
    check_compiled(result, net, x, shape, writer.declared, spec, oracle)
    if writer.declared:
        event("with params/buffers, both run")
    if "MultiheadAttention" in spec:
        event("with MultiheadAttention, both run")
    if "extern " in spec:
        event("with an extern layer, both run")
    if "gate=extern" in spec:
        event("with an extern value as an argument, both run")


# ================================================================ dtypes, computed buffers, sizes
#
# Two more families, written as programs of statements: each statement is spec text and the same
# computation in torch (a function of the values so far).
#
# - typed: inputs `x: [N, C, L]` float32, `t: [N, L'] int64` (values 0..2), `m: [N, 1, L]` bool,
#   tables `param tab: [R, D]` (R >= 3) and buffers whose initial value is computed when the
#   module is built (`buffer b: [9] = arange(3) -> ...`, no dtype: the value's); statements are
#   comparisons, `+ - * /` of tensors and numbers, `where` (tensors and numbers), masked_fill,
#   conversions, arange, sums, `table[index]`, Linear / softmax / exp / abs / neg. Operands are
#   drawn from every value so far, so dtypes meet in every combination (a float index, Linear on
#   int64, a where with an int condition, `-` of bool): archspec refuses exactly where torch
#   raises. An index is only ever a tensor whose values are known to fit the table (t, arange(k)
#   with k <= R, `(a < b) -> long()`, ...) or one torch refuses for its dtype: a value out of a
#   table's range is not a static property.
# - sized: `input x: [N, C, H, W]` (numbers, or `H in a..b, W in c..d`), a few layers, and a block
#   whose `input x: [N, C, H, W]` binds its input's sizes, used in pad amounts
#   (`(k - W % k) % k`), slice bounds (`y[:, :, :(H + 1) // 2]`), view / reshape sizes, roll shifts
#   with a conditional, `arange(W)`, masks and scalar operands (`y * (C // 2)`). With a symbolic
#   input, every size of the range runs in torch and must be accepted by archspec exactly where
#   torch runs, with the static output shape evaluated there; 2-3 accepted sizes are compiled.
#
# Both compile the spec and compare every node's shape AND dtype with torch's
# (torch_harness.observed), and the computed buffers' state_dict values with torch's.


@dataclass
class Program:
    family: str
    spec: str
    inputs: list  # (name, dims: ints and size names, dtype)
    run: object  # run(values: dict of input tensors) -> list of outputs; raises where torch does
    buffers: list  # (state_dict key, expected tensor maker, persistent)
    ranges: dict  # a symbolic size's (low, high)
    text: list  # the statements, for reading a failure


_NUMBERS = ["0", "1", "2", "0.5", "-1.0", "-100.0", "0.0"]
_COMPARE = ["<", "<=", ">", ">=", "==", "!="]
_ARITH = ["+", "-", "*", "/"]
_PY = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}  # fmt: skip
_CONVERT = {
    "float()": lambda a: a.float(), "long()": lambda a: a.long(), "int()": lambda a: a.int(),
    "bool()": lambda a: a.bool(), "double()": lambda a: a.double(),
    "to(int64)": lambda a: a.to(torch.int64), "to(float32)": lambda a: a.to(torch.float32),
}  # fmt: skip


@dataclass
class _Val:
    name: str
    kind: str  # "float", "int", "bool": a guess that steers the draws, not the check
    bound: int | None = None  # values in 0..bound-1 where known (an index that fits)


def _number(text: str):
    return float(text) if "." in text or "e" in text else int(text)


@st.composite
def _computed_buffer(draw, index: int):
    """(declared shape, spec expression, torch maker, bound): a buffer's value built in __init__."""
    n, a, b = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    j = draw(st.integers(0, 6))
    choice = draw(st.integers(0, 6))
    if choice == 0:
        return (n,), f"arange({n})", lambda: torch.arange(n), n
    if choice == 1:
        return (n,), f"arange({n}) * 0.5", lambda: torch.arange(n) * 0.5, None
    if choice == 2:
        return (n,), f"arange({n}) -> float()", lambda: torch.arange(n).float(), None
    if choice == 3:
        return (
            (n,),
            f"where(arange({n}) < {j}, 0, 1)",
            lambda: torch.where(torch.arange(n) < j, 0, 1),
            2,
        )
    if choice == 4:
        return (
            (a, b),
            f"arange({a * b}) -> view({a}, {b})",
            lambda: torch.arange(a * b).view(a, b),
            a * b,
        )
    if choice == 5:
        text = f'stack(meshgrid(arange({a}), arange({b}), indexing="ij")) -> flatten(1)'
        return (
            (2, a * b),
            text,
            lambda: torch.stack(
                torch.meshgrid(torch.arange(a), torch.arange(b), indexing="ij")
            ).flatten(1),
            max(a, b),
        )
    text = f"(arange({n}) -> unsqueeze(1)) - (arange({n}) -> unsqueeze(0))"
    return (n, n), text, lambda: torch.arange(n)[:, None] - torch.arange(n)[None, :], None


@st.composite
def typed_program(draw):
    C, L = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    Lt = draw(st.sampled_from([L, L, L, 1, L + 1]))  # (sizes never PROGRAM_BATCH, see there)
    inputs = [("x", ("N", C, L), "float32"), ("t", ("N", Lt), "int64")]
    if draw(st.booleans()):
        inputs.append(("m", ("N", 1, L), "bool"))
    pool = [_Val("x", "float"), _Val("t", "int", 3)] + [_Val("m", "bool")] * (len(inputs) == 3)
    text: list[str] = []
    steps: list = []  # (name, function of the values)
    buffers: list = []
    tables: list = []  # (name, rows)
    for k in range(draw(st.integers(0, 2))):
        rows, cols = draw(st.integers(3, 6)), draw(st.integers(1, 4))
        name = f"tab{k}"
        floating = draw(st.booleans())
        if floating:
            text.append(f"param {name}: [{rows}, {cols}] = normal()")
        else:
            text.append(f"buffer {name}: [{rows}, {cols}] int64 = ones()")
        dtype = torch.float32 if floating else torch.int64
        steps.append((name, lambda v, shape=(rows, cols), d=dtype: torch.ones(shape, dtype=d)))
        tables.append((name, rows, "float" if floating else "int"))
        pool.append(_Val(name, "float" if floating else "int"))
    for k in range(draw(st.integers(0, 2))):
        shape, expr, make, bound = draw(_computed_buffer(k))
        declared = shape
        if draw(st.integers(0, 7)) == 0:  # a declared shape the value does not have
            declared = (*shape[:-1], shape[-1] + 1)
        persistent = draw(st.integers(0, 3)) > 0
        name = f"b{k}"
        option = "" if persistent else ", persistent=False"
        text.append(f"buffer {name}: [{', '.join(map(str, declared))}] = {expr}{option}")

        def made(v, make=make, declared=declared):
            value = make()
            if tuple(value.shape) != declared:
                raise ValueError(f"buffer value {tuple(value.shape)}, declared {declared}")
            return value

        steps.append((name, made))
        buffers.append((name, make, persistent))
        kind = "float" if make().is_floating_point() else "int"
        pool.append(_Val(name, kind, bound))

    def pick(kinds=None):
        choices = [p for p in pool if kinds is None or p.kind in kinds]
        if not choices or draw(st.integers(0, 7)) == 0:  # mostly a fitting kind, else any
            choices = pool
        return draw(st.sampled_from(choices))

    def operand(kinds=None):
        """A value or a number: (text, function of the values)."""
        if draw(st.integers(0, 3)) == 0:
            number = draw(st.sampled_from(_NUMBERS))
            constant = _number(number)
            return number, lambda v, n=constant: n
        value = pick(kinds)
        return value.name, lambda v, name=value.name: v[name]

    for count in range(draw(st.integers(1, 6))):
        name = f"v{count}"
        choice = draw(
            st.sampled_from(
                ["compare", "compare", "arith", "arith", "where", "where", "masked_fill",
                 "convert", "convert", "sum", "index", "index", "arange", "float_op"]
            )
        )  # fmt: skip
        kind, bound = "float", None
        if choice in ("compare", "arith"):
            op = draw(st.sampled_from(_COMPARE if choice == "compare" else _ARITH))
            left = pick()
            (rt, rf) = operand()
            ltxt, lf = left.name, lambda v, n=left.name: v[n]
            if draw(st.integers(0, 4)) == 0:  # the number on the left
                (ltxt, lf), (rt, rf) = (rt, rf), (ltxt, lf)
            expr = f"{ltxt} {op} {rt}"
            fn = lambda v, lf=lf, rf=rf, op=op: _PY[op](lf(v), rf(v))  # noqa: E731
            kind = "bool" if choice == "compare" else left.kind
        elif choice == "where":
            cond = pick(("bool",))
            (at, af), (bt, bf) = operand(("float", "int")), operand(("float", "int"))
            expr = f"where({cond.name}, {at}, {bt})"
            fn = lambda v, c=cond.name, af=af, bf=bf: torch.where(v[c], af(v), bf(v))  # noqa
            if at in _NUMBERS and bt in _NUMBERS and "." not in at + bt:
                kind, bound = "int", (2 if {at, bt} <= {"0", "1"} else None)
        elif choice == "masked_fill":
            value, mask = pick(("float", "int")), pick(("bool",))
            fill = draw(st.sampled_from(["-1.0", "0", "1e9", "True"]))
            expr = f"{value.name} -> masked_fill({mask.name}, {fill})"
            fn = lambda v, a=value.name, c=mask.name, f=_number(fill) if fill != "True" else True: (  # noqa
                v[a].masked_fill(v[c], f)
            )
            kind = value.kind
        elif choice == "convert":
            value = pick()
            conversion = draw(st.sampled_from(sorted(_CONVERT)))
            expr = f"{value.name} -> {conversion}"
            fn = lambda v, a=value.name, c=_CONVERT[conversion]: c(v[a])  # noqa: E731
            kind = {"float()": "float", "double()": "float", "to(float32)": "float",
                    "bool()": "bool"}.get(conversion, "int")  # fmt: skip
            if kind == "int" and value.kind == "bool":
                bound = 2
            elif kind == "int" and value.bound is not None and value.kind == "int":
                bound = value.bound
        elif choice == "sum":
            value = pick()
            dim = draw(st.sampled_from(["-1", "1", "-1, keepdim=True", "(1, 2)"]))
            expr = f"{value.name} -> sum({dim})"
            dims = {"-1": (-1,), "1": (1,), "-1, keepdim=True": (-1,), "(1, 2)": (1, 2)}[dim]
            fn = lambda v, a=value.name, d=dims, keep="keepdim" in dim: torch.sum(  # noqa
                v[a], dim=d, keepdim=keep
            )
            kind = "float" if value.kind == "float" else "int"
        elif choice == "index":
            if not tables:
                continue
            table, rows, kind = draw(st.sampled_from(tables))
            fits = [p for p in pool if p.bound is not None and p.bound <= rows]
            if fits and draw(st.integers(0, 5)):
                index = draw(st.sampled_from(fits))
            else:  # any value: a float or bool index is refused by both
                index = draw(st.sampled_from([p for p in pool if p.bound is None] or pool))
                if index.kind == "int":  # values that may not fit: not a static property
                    continue
            expr = f"{table}[{index.name}]"
            fn = lambda v, a=table, i=index.name: v[a][v[i]]  # noqa: E731
        elif choice == "arange":
            end = draw(st.sampled_from([L, L, C, 3, 5]))
            if draw(st.integers(0, 3)) == 0:
                expr, fn, kind = (
                    f"arange(0.5, {end})",
                    lambda v, e=end: torch.arange(0.5, e),
                    "float",
                )
            else:
                expr, fn, kind, bound = (
                    f"arange({end})",
                    lambda v, e=end: torch.arange(e),
                    "int",
                    end,
                )
        else:
            value = pick(("float",))
            op = draw(st.sampled_from(["Linear(?, 3)", "softmax(-1)", "exp()", "abs()", "neg()"]))
            expr = f"{value.name} -> {op}"
            fn = lambda v, a=value.name, op=op: _FLOAT_OPS[op](v[a])  # noqa: E731
            kind = "float" if op not in ("abs()", "neg()") else value.kind
        text.append(f"{name} = {expr}")
        steps.append((name, fn))
        pool.append(_Val(name, kind, bound))
    outputs = [pool[-1].name]
    if len(pool) > 4 and draw(st.booleans()):
        outputs.append(draw(st.sampled_from(pool[:-1])).name)
    decls = [f"input {n}: [{', '.join(map(str, dims))}]" + (f" {d}" if d != "float32" else "")
             for n, dims, d in inputs]  # fmt: skip
    body = "\n".join(f"    {line}" for line in decls + text + [f"return {', '.join(outputs)}"])
    spec = f"model Net {{\n{body}\n}}\n"

    def run(values, steps=steps, outputs=outputs):
        env = dict(values)
        for target, fn in steps:
            env[target] = fn(env)
        return [env[name] for name in outputs]

    return Program("typed", spec, inputs, run, buffers, {}, text)


def _linear(a):
    # nn.Linear(in_features=?, 3): float32 weights; torch refuses int, bool and float64 inputs
    weight = torch.ones(3, a.shape[-1] if a.dim() else 1)
    return torch.nn.functional.linear(a, weight, torch.zeros(3))


_FLOAT_OPS = {
    "Linear(?, 3)": _linear,
    "softmax(-1)": lambda a: torch.softmax(a, -1),
    "exp()": torch.exp,
    "abs()": torch.abs,
    "neg()": torch.neg,
}


F = torch.nn.functional


def _fill(z, size: str) -> int:
    """(k - W % k) % k: what pads W up to a multiple of k."""
    return (z["k"] - z[size] % z["k"]) % z["k"]


def _half(z):
    return z["k"] // 2 if z["k"] < z["W"] else 0


@st.composite
def _sized_step(draw, names: dict, fresh):
    """Statements on `y` reading the sizes in `names` (their spec text: a name or a number):
    (spec lines, target, torch function of (y, sizes))."""
    y = fresh("y")
    j, s = draw(st.integers(0, 6)), draw(st.integers(-2, 2))
    N, C, H, W, k = (names[n] for n in "NCHWk")
    choice = draw(st.integers(0, 12))
    if choice in (6, 7, 10, 11, 12) and C != "C" and H == "H":
        # A model's own symbolic H or W in a condition or as a scalar operand is E108 ("`<` on a
        # symbolic size is not supported", "`*` joins a tensor with ... the symbolic size"),
        # where a block's input sizes are values (a deliberate difference, see the docstring):
        # here the condition reads the channels, and sizes go to pad, slices, view and arange.
        if choice != 6:
            choice = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 8, 9]))
        else:
            return (
                [f"{y} = {{y}} -> roll(({s} if {j} < {C} else 0), 2)"],
                y,
                (lambda t, z: torch.roll(t, s if j < z["C"] else 0, 2)),
            )
    if choice == 0:
        text = f"{y} = {{y}} -> pad((0, ({k} - {W} % {k}) % {k}, 0, ({k} - {H} % {k}) % {k}))"
        return [text], y, lambda t, z: F.pad(t, (0, _fill(z, "W"), 0, _fill(z, "H")))
    if choice == 1:
        amount = fresh("pw")
        return (
            [f"{amount} = ({k} - {W} % {k}) % {k}", f"{y} = {{y}} -> pad((0, {amount}))"],
            y,
            (lambda t, z: F.pad(t, (0, (z["k"] - z["W"] % z["k"]) % z["k"]))),
        )
    if choice == 2:
        # never empty: archspec builds no empty tensors (E203) where torch would go on with one
        return [f"{y} = {{y}}[:, :, :({H} + 1) // 2]"], y, lambda t, z: t[:, :, : (z["H"] + 1) // 2]
    if choice == 3:
        return [f"{y} = {{y}}[..., :{W} + 1]"], y, lambda t, z: t[..., : z["W"] + 1]
    if choice == 4:
        return (
            [f"{y} = {{y}} -> view({N}, {C}, -1) -> view({N}, {C}, {H}, {W})"],
            y,
            (lambda t, z: t.view(z["N"], z["C"], -1).view(z["N"], z["C"], z["H"], z["W"])),
        )
    if choice == 5:
        return (
            [f"{y} = {{y}} -> reshape({N}, {C}, {W}, {H})"],
            y,
            (lambda t, z: t.reshape(z["N"], z["C"], z["W"], z["H"])),
        )
    if choice == 6:
        return (
            [f"{y} = {{y}} -> roll(({s} if {j} < {H} else 0), 2)"],
            y,
            (lambda t, z: torch.roll(t, s if j < z["H"] else 0, 2)),
        )
    if choice == 7:
        shift = fresh("sh")
        return [f"{shift} = ({k} // 2 if {k} < {W} else 0)",
                f"{y} = {{y}} -> roll(shifts=(-{shift}, {shift}), dims=(2, 3))"], y, (
            lambda t, z: torch.roll(t, (-_half(z), _half(z)), (2, 3))
        )  # fmt: skip
    if choice == 8:
        return [f"{y} = {{y}} + arange({W})"], y, lambda t, z: t + torch.arange(z["W"])
    if choice == 9:
        return (
            [f"{y} = {{y}} * (arange({H}) -> view({H}, 1))"],
            y,
            (lambda t, z: t * torch.arange(z["H"]).view(z["H"], 1)),
        )
    if choice == 10:
        return (
            [f"{y} = {{y}} -> masked_fill(arange({W}) < {W} // 2, 0.0)"],
            y,
            (lambda t, z: t.masked_fill(torch.arange(z["W"]) < z["W"] // 2, 0.0)),
        )
    if choice == 11:
        return (
            [f"{y} = {{y}} * ({C} // 2) + {H} % 3"],
            y,
            (lambda t, z: t * (z["C"] // 2) + z["H"] % 3),
        )
    return [f"{y} = {{y}} - ({W} - {H})"], y, lambda t, z: t - (z["W"] - z["H"])


@st.composite
def _sized_layer(draw, fresh):
    y = fresh("y")
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return [f"{y} = {{y}} -> MaxPool2d(2)"], y, lambda t, z: F.max_pool2d(t, 2)
    if choice == 1:
        c = draw(st.integers(1, 4))
        return (
            [f"{y} = {{y}} -> Conv2d(?, {c}, 3, padding=1)"],
            y,
            lambda t, z: F.conv2d(t, torch.ones(c, t.shape[1], 3, 3), padding=1),
        )
    return [f"{y} = {{y}} -> pad((1, 0, 0, 2))"], y, lambda t, z: F.pad(t, (1, 0, 0, 2))


@st.composite
def sized_program(draw):
    C0 = draw(st.integers(1, 3))
    symbolic = draw(st.integers(0, 2)) > 0
    ranges = {}
    k = draw(st.integers(2, 4))
    if symbolic:
        for name in "HW":
            low = draw(st.integers(1, 6))
            ranges[name] = (low, low + draw(st.integers(0, 5)))
        dims = ("N", C0, "H", "W")
        shape = f"[N, {C0}, H in {ranges['H'][0]}..{ranges['H'][1]}, " \
                f"W in {ranges['W'][0]}..{ranges['W'][1]}]"  # fmt: skip
        outer = {"N": "N", "C": str(C0), "H": "H", "W": "W", "k": str(k)}
    else:
        h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        dims, shape = ("N", C0, h, w), f"[N, {C0}, {h}, {w}]"
        outer = {"N": "N", "C": str(C0), "H": str(h), "W": str(w), "k": str(k)}
    counter = [0]

    def fresh(prefix):
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def chain(choices, value, lines, funcs):
        for step_lines, target, fn in choices:
            lines.extend(line.replace("{y}", value) for line in step_lines)
            funcs.append(fn)
            value = target
        return value

    lines: list[str] = []
    before: list = []
    value = "x"
    drawn = []
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            drawn.append(draw(_sized_layer(fresh)))
        else:
            drawn.append(draw(_sized_step(outer, fresh)))
    value = chain(drawn, value, lines, before)
    block_lines: list[str] = []
    inner: list = []
    names = {"N": "N", "C": "C", "H": "H", "W": "W", "k": "k"}
    steps = [draw(_sized_step(names, fresh)) for _ in range(draw(st.integers(1, 4)))]
    out = chain(steps, "x", block_lines, inner)
    block_body = "\n".join(f"    {line}" for line in block_lines)
    block = f"block Sized(k) {{\n    input x: [N, C, H, W]\n{block_body}\n    return {out}\n}}"
    lines.append(f"z = {value} -> blk: Sized({k})")
    after: list = []
    if draw(st.booleans()):
        value = chain([draw(_sized_step(outer, fresh))], "z", lines, after)
    else:
        value = "z"
    body = "\n".join(f"    {line}" for line in [f"input x: {shape}", *lines, f"return {value}"])
    spec = f"{block}\n\nmodel Net {{\n{body}\n}}\n"

    def run(values, before=before, inner=inner, after=after):
        t = values["x"]
        N, C, H, W = t.shape
        model = {"N": N, "C": C, "H": H, "W": W, "k": k}
        for fn in before:
            t = fn(t, model)
        N, C, H, W = t.shape  # the block's input sizes
        sizes = {"N": N, "C": C, "H": H, "W": W, "k": k}
        for fn in inner:
            t = fn(t, sizes)
            if 0 in t.shape:
                raise ValueError(f"empty tensor {tuple(t.shape)}")  # archspec: E203
        for fn in after:
            t = fn(t, model)
        if 0 in t.shape:
            raise ValueError(f"empty tensor {tuple(t.shape)}")
        return [t]

    return Program("sized", spec, [("x", dims, "float32")], run, [], ranges, lines)


_PROGRAM_REFUSALS = (*_REFUSALS, TypeError)  # torch.where(c, a, b) of a non-bool c: TypeError?
# The batch these programs run at: a size no drawn size equals (they stay below 11), so a literal
# meets the symbolic N in a broadcast only where archspec refuses it and torch does too.
PROGRAM_BATCH = 11


def _torch_run(program: Program, sizes: dict, seed: int = 0):
    """(outputs, None) where torch runs the program at these input sizes, (None, error) where
    not. The inputs are torch_harness's: normal floats, integers 0..2, random bools."""
    from torch_harness import random_input

    torch.manual_seed(seed)
    values = {
        name: random_input(
            tuple(PROGRAM_BATCH if d == "N" else sizes.get(d, d) for d in dims), dtype
        )
        for name, dims, dtype in program.inputs
    }
    try:
        with torch.no_grad():
            return program.run(values), None
    except _PROGRAM_REFUSALS as error:
        return None, error


def _strides(error) -> bool:
    """torch's refusal to `view` a tensor whose memory a slice left non-contiguous: archspec
    knows no strides and accepts (a known difference, named in the report and here)."""
    return (
        error is not None
        and "view size is not compatible with input tensor's size and stride" in str(error)
    )


def _compiled(result):
    """The compiled module, its checked model and the file name its code runs under."""
    checked = result.model()
    generated = generate_module(result, specialize=True)  # a statement per node, as observed pairs
    filename = f"<random program {id(generated)}>"
    namespace = {"__name__": "archspec_random_program"}
    exec(compile(generated.source, filename, "exec"), namespace)
    torch.manual_seed(0)
    return namespace[generated.classes[checked.name]](), checked, filename, generated.source


def check_program_compiled(result, program: Program, at: list[dict], spec: str):
    """Compile, and at each of the sizes `at` run the module with torch_harness.observed: every
    node's static shape and dtype are torch's, the outputs are the torch program's, and each
    computed buffer holds the value the same computation gives in torch."""
    from torch_harness import expected, observed

    module, checked, filename, source = _compiled(result)
    for sizes in at:
        real, dtypes, output = observed(module, checked, filename, batch=PROGRAM_BATCH, sizes=sizes)
        for node_id, shape in real.items():
            static = checked.inference.shapes[node_id]
            where = f"node {node_id} at {sizes}"
            assert expected(static, PROGRAM_BATCH, sizes) == shape, (
                f"{where}: archspec {static}, torch {shape}\n{spec}\n{source}"
            )
            assert checked.inference.dtype(node_id) == dtypes[node_id], (
                f"{where}: archspec {checked.inference.dtype(node_id)}, torch {dtypes[node_id]}"
                f"\n{spec}\n{source}"
            )
        outputs = output if isinstance(output, tuple) else (output,)
        ran, _ = _torch_run(program, sizes)
        assert [tuple(o.shape) for o in outputs] == [tuple(o.shape) for o in ran], spec
        assert [o.dtype for o in outputs] == [o.dtype for o in ran], spec
        for static, out in zip(checked.output_shapes, outputs, strict=True):
            assert expected(static, PROGRAM_BATCH, sizes) == tuple(out.shape), spec
    state, buffers = module.state_dict(), dict(module.named_buffers())
    for key, make, persistent in program.buffers:
        value = make()
        assert key in buffers, f"no buffer {key}: {sorted(buffers)}\n{spec}"
        assert buffers[key].dtype == value.dtype, f"{key}: {buffers[key].dtype}, {value.dtype}"
        assert torch.equal(buffers[key], value), f"{key}: {buffers[key]} != {value}\n{spec}"
        assert (key in state) == persistent, f"{key} in state_dict: {not persistent}\n{spec}"


def _grid(ranges: dict) -> list[dict]:
    names = sorted(ranges)
    points = [{}]
    for name in names:
        low, high = ranges[name]
        points = [{**p, name: v} for p in points for v in range(low, high + 1)]
    return points


programs = st.one_of(typed_program(), typed_program(), sized_program())


@settings(
    max_examples=EXAMPLES // 4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(programs)
def test_archspec_types_and_sizes_as_torch_does(program):
    from torch_harness import expected

    result = archspec.check_text(program.spec, "random.arch")
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    messages = "\n".join(f"{d.code} {d.message}" for d in errors)
    spec = program.spec
    if not program.ranges:
        outputs, error = _torch_run(program, {})
        event(f"{program.family}: archspec {'rejects' if errors else 'accepts'}")
        if errors:
            assert outputs is None, f"archspec rejects what torch runs:\n{spec}\n{messages}"
            return
        if _strides(error):
            event("known difference: view of a non-contiguous slice")
            return
        assert error is None, f"archspec accepts what torch rejects ({error!r}):\n{spec}"
        checked = result.model()
        for static, out in zip(checked.output_shapes, outputs, strict=True):
            assert expected_shape(static) == tuple(out.shape), f"archspec {static}:\n{spec}"
        check_program_compiled(result, program, [{}], spec)
        return
    # a symbolic input: torch at every size of the range; archspec's accepted sizes
    sized_errors = [d for d in errors if d.code != "E209"]
    report = None if sized_errors else result.model().sizes
    accepted = []
    for point in _grid(program.ranges):
        outputs, error = _torch_run(program, point)
        ok = report is not None and report.accepts(point)
        if ok and _strides(error):
            event("known difference: view of a non-contiguous slice")
            continue
        assert ok == (error is None), (
            f"at {point}: archspec {'accepts' if ok else 'rejects'}, torch "
            f"{'runs' if error is None else f'raises {error!r}'}:\n{spec}\n{messages}"
        )
        if ok:
            # the shown shapes are the main run's: exact at sizes on its path (each comparison
            # decided as at its hints); elsewhere the inference at these sizes
            checked = result.model()
            main = checked.inference
            on_path = all(_guard_holds(g, point) == g.holds for g in main.guards)
            if on_path:
                shapes = checked.output_shapes
            else:
                reporter = diag.Reporter()  # a run at these hints: exact there
                inference = infer(checked.graph, reporter, hints=point)
                shapes = [inference.shapes.get(o) for o in checked.graph.outputs]
                assert not [d for d in reporter.diagnostics if d.severity.value == "error"], (
                    f"at {point}: accepted, but the run there has errors:\n{spec}"
                )
            for shape, out in zip(shapes, outputs, strict=True):
                assert expected(shape, PROGRAM_BATCH, point) == tuple(out.shape), (
                    f"at {point} ({'on' if on_path else 'off'} the main run's path): archspec "
                    f"{shape}, torch {tuple(out.shape)}:\n{spec}"
                )
            accepted.append((point, on_path))
    event(f"sized, symbolic: archspec accepts {'some' if accepted else 'no'} sizes")
    covered = [point for point, on_path in accepted if on_path]
    if covered and not errors:
        chosen = [covered[0], covered[-1], covered[len(covered) // 2]][: len(covered)]
        check_program_compiled(result, program, chosen, spec)
    elif accepted:  # E209 (the range holds rejected sizes): no code; compile one accepted size
        point = accepted[len(accepted) // 2][0]
        narrowed = spec
        for name, (low, high) in program.ranges.items():
            one = f"{name} in {point[name]}..{point[name]}"
            narrowed = narrowed.replace(f"{name} in {low}..{high}", one)
        result = archspec.check_text(narrowed, "random.arch")
        errors = [d for d in result.diagnostics if d.severity.value == "error"]
        assert not errors, f"at {point}, accepted in the range, refused alone:\n{narrowed}\n" + (
            "\n".join(f"{d.code} {d.message}" for d in errors)
        )
        check_program_compiled(result, program, [point], narrowed)


def _guard_holds(guard, sizes: dict) -> bool:
    value = evaluate(guard.expr, sizes)
    return {"==": value == 0, "<": value < 0, "<=": value <= 0}[guard.relation]


def expected_shape(static) -> tuple:
    return tuple(PROGRAM_BATCH if isinstance(d, Sym) else d for d in static)


# ================================================================ sequence models (issue 17)
#
# A third family, written as a program as the two above: inputs `tokens: [N, L] int64` (values
# 0..2) and now and then `feats: [N, L, D]` or sequence-first `[L, N, D]` float32, then a few
# steps drawn from the sequence vocabulary, each one spec statement (and its layer's declaration)
# and the same computation in torch on real nn modules:
#
# - Embedding (padding_idx counted from either end or out of range, max_norm), on tokens or, as
#   an invalid draw, on a float value;
# - RNN / LSTM / GRU (num_layers, bidirectional, batch_first matching the value's layout or not,
#   LSTM's proj_size (now and then >= hidden_size), bias, dropout with num_layers > 1), with
#   every output used: `out, (h, c) = x -> lstm`, `out, h = x -> gru`, h_n and c_n read on as
#   sequences (`[D·num_layers, N, H_out]` is sequence-first), an input_size of `?` or off by one;
# - TransformerEncoderLayer, TransformerDecoderLayer (memory of another length, as an input) and
#   TransformerEncoder(layer, num_layers, norm=LayerNorm(...)), with norm_first, batch_first,
#   "relu" / "gelu", dim_feedforward, bias, nhead dividing d_model or not, and their masks as
#   forward arguments: attn masks `[L, S]` bool (causal) or float, key padding masks `[N, S]`
#   bool (left-aligned), a comparison of the tokens (`tokens == 0`: bool) or the tokens
#   themselves (int64: refused), masks of the wrong shape, and is_causal with or without its mask;
# - Linear (on a float value, or on int64 tokens: refused), transpose(0, 1), a sample `x[0]` (an
#   unbatched `[L, D]` sequence), conversions (`-> double()`, which the float32 layers refuse);
# - sizes computed by `def` functions of the spec (`widen(4, 2)`, `halve(7)`).
#
# Where torch runs the program in eval mode (and train mode: the same refusals), archspec must
# accept it, and the reverse; where both run, the spec is compiled and torch's own modules'
# state_dict is loaded into it strictly (so the state_dict keys and shapes are torch's), the
# parameter count is theirs, every node's shape and dtype is what torch_harness.observed records,
# and the outputs equal the torch program's (eval; dropout off, so no seeds need to match).


@dataclass
class Expr:
    """An argument written as spec text (`widen(4, 2)`) whose value torch gets as `value`."""

    text: str
    value: int


@dataclass
class SeqValue:
    name: str
    shape: tuple  # ints and "N"
    dtype: str
    ids: bool = False  # int64 values 0..2, rows of every drawn Embedding (tokens, moved)


@dataclass
class SeqProgram:
    spec: str
    inputs: list  # (name, dims: ints and "N", dtype, how it is filled)
    steps: list  # step(env, modules, training): computes its targets into env
    outputs: list
    layers: list  # the kinds of layer drawn, for the statistics
    text: list


FUNCTIONS = {
    "widen": "def widen(d, k) {\n    return d * k\n}\n",
    "halve": "def halve(d) {\n    if d > 1 {\n        return d // 2\n    }\n    return 1\n}\n",
}


def _value(arg):
    return arg.value if isinstance(arg, Expr) else arg


def _arg_text(arg) -> str:
    if isinstance(arg, Expr):
        return arg.text
    if isinstance(arg, str):
        return "?" if arg == "?" else f'"{arg}"'
    return repr(arg)


def _call(kind: str, args: dict) -> str:
    return f"{kind}({', '.join(f'{k}={_arg_text(v)}' for k, v in args.items())})"


def _dims(shape: tuple) -> str:
    return f"[{', '.join(map(str, shape))}]"


def _built(modules, name: str, make, x):
    """The module `name`, built at its first use (its `?` read off x), as torch code would."""
    if name not in modules:
        modules[name] = make(x)
    return modules[name]


def _torch_args(args: dict, x) -> dict:
    """A layer's arguments for torch: `?` (the first argument) is x's features."""
    return {k: (x.shape[-1] if v == "?" else _value(v)) for k, v in args.items()}


def _sequence_view(shape: tuple, batch_first) -> tuple:
    """(length, batch or None) of a sequence as a layer with this batch_first reads it."""
    if len(shape) != 3:
        return shape[0], None
    return (shape[1], shape[0]) if batch_first else (shape[0], shape[1])


# The steps a program draws from, weighted by repetition.
SEQUENCE_STEPS = [
    "embedding", "embedding", "recurrent", "recurrent", "recurrent", "encoder_layer",
    "encoder_layer", "decoder_layer", "decoder_layer", "encoder", "encoder", "linear",
    "transpose", "sample", "compare", "convert",
]  # fmt: skip


@dataclass
class _Applied:
    """A drawn layer step: the layer's name, how torch builds it from the value it first meets
    (`?` read off it) and calls it, the spec's targets (nested as torch's tuples: `[out, (h, c)]`),
    the name of its first operand, and its kind for the statistics."""

    layer: str
    make: object
    call: object
    targets: list
    first: str
    kind: str
    tied_to: str | None = None  # `tie linear3.weight = embed1.weight`: the layer it shares with


class _SequenceDraw:
    """One sequence program while it is drawn: its inputs, the values so far (`pool`), the spec
    lines and the `def` functions they use. A method per kind of step writes its lines and says
    what torch does."""

    def __init__(self, draw, length: int):
        self.draw = draw
        self.length = length
        self.inputs = [("tokens", ("N", length), "int64", "ids")]
        self.pool = [SeqValue("tokens", ("N", length), "int64", ids=True)]
        self.text: list[str] = []
        self.functions: set[str] = set()
        self.counter = 0
        self.embeddings: list[tuple] = []  # (layer, rows, embedding_dim) of each Embedding

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def mask_input(self, dims: tuple, dtype: str, fill: str, prefix: str = "mask") -> str:
        """A model input holding a mask or a memory (one per shape, dtype and fill)."""
        for name, shape, kind, how in self.inputs:
            if (shape, kind, how) == (dims, dtype, fill):
                return name
        name = self.fresh(prefix)
        self.inputs.append((name, dims, dtype, fill))
        return name

    def size(self, value: int):
        """`value`, now and then computed by one of the spec's `def` functions."""
        draw = self.draw
        pick = draw(st.integers(0, 5))
        if pick == 0 and value % 2 == 0:
            self.functions.add("widen")
            return Expr(f"widen({value // 2}, 2)", value)
        if pick == 1:
            self.functions.add("halve")
            return Expr(f"halve({2 * value + draw(st.integers(0, 1))})", value)
        return value

    def off(self, value):
        """Mostly `value`; now and then another size (an invalid draw)."""
        return value if self.draw(st.integers(0, 9)) else _other(value)

    def floats(self, rank=(2, 3)) -> SeqValue:
        choices = [v for v in self.pool if v.dtype != "int64" and v.dtype != "bool"]
        choices = [v for v in choices if len(v.shape) in rank] or choices
        if not choices or self.draw(st.integers(0, 14)) == 0:
            choices = self.pool  # any value: an int or bool one is refused by both
        return self.draw(st.sampled_from(choices))

    def keep(self, target: str, shape: tuple, dtype: str = "float32", ids: bool = False):
        self.pool.append(SeqValue(target, shape, dtype, ids))

    def attn_mask(self, rows, columns) -> str | None:
        """A forward argument's attn mask `[rows, columns]`, as spec text: None for none."""
        pick = self.draw(st.integers(0, 19))
        if pick <= 11:
            return None
        if pick <= 15:
            return self.mask_input((rows, columns), "bool", "causal")
        if pick <= 18:
            return self.mask_input((rows, columns), "float32", "normal")
        wrong = [(rows, self.off(columns)), (columns,), (rows, _other(columns))]
        return self.mask_input(self.draw(st.sampled_from(wrong)), "bool", "causal")

    def padding_mask(self, batch, columns) -> str | None:
        """A key padding mask `[batch, columns]` as spec text, or None."""
        pick = self.draw(st.integers(0, 19))
        if pick <= 11 or batch is None:
            return None
        if pick <= 16:
            return self.mask_input((batch, columns), "bool", "padding")
        tokens = [v for v in self.pool if v.name == "tokens" or v.dtype == "bool"]
        if pick <= 18:  # tokens (int64: refused) or a comparison
            return self.draw(st.sampled_from(tokens)).name
        transposed = (columns, batch) if batch != columns else (batch, 1)
        return self.mask_input(transposed, "bool", "padding")

    def embedding(self, target: str) -> _Applied:
        draw = self.draw
        # ids known to be rows (a float turned long() may not be: not a static property)
        ids = draw(st.sampled_from([v for v in self.pool if v.ids]))
        if draw(st.integers(0, 9)) == 0:  # a float or bool value: refused
            ids = draw(st.sampled_from([v for v in self.pool if v.ids or v.dtype != "int64"]))
        rows = draw(st.integers(3, 8))
        args = {"num_embeddings": rows, "embedding_dim": self.size(draw(st.integers(1, 8)))}
        if draw(st.booleans()):
            args["padding_idx"] = draw(st.integers(-rows - 1, rows))  # now and then outside
        if draw(st.integers(0, 3)) == 0:
            args["max_norm"] = draw(st.sampled_from([1.0, 2.5]))
        layer = self.fresh("embed")
        self.embeddings.append((layer, rows, args["embedding_dim"]))
        self.text += [f"{layer}: {_call('Embedding', args)}", f"{target} = {ids.name} -> {layer}"]
        self.keep(target, (*ids.shape, _value(args["embedding_dim"])))
        return _Applied(
            layer,
            lambda x: nn.Embedding(**_torch_args(args, x)),
            lambda m, env: m(env[ids.name]),
            [target],
            ids.name,
            "Embedding",
        )

    def recurrent(self, target: str) -> _Applied:
        draw = self.draw
        kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
        source = self.floats()
        shape = source.shape
        batch_first = len(shape) == 3 and shape[0] == "N"
        if draw(st.integers(0, 7)) == 0:
            batch_first = not batch_first  # batch and length swap places, as torch reads it
        hidden = draw(st.integers(1, 5))
        layers = draw(st.sampled_from([1, 1, 2]))
        features = shape[-1] if isinstance(shape[-1], int) else 1
        inferred = ["?"] if isinstance(shape[-1], int) else []  # not the batch N: see above
        args = {
            "input_size": draw(st.sampled_from([features] * 6 + inferred + [self.off(features)])),
            "hidden_size": self.size(hidden),
            "num_layers": layers,
            "bidirectional": draw(st.booleans()),
            "batch_first": batch_first,
        }
        if draw(st.integers(0, 3)) == 0:
            args["bias"] = False
        if layers > 1 and draw(st.booleans()):
            args["dropout"] = 0.25
        projection = 0
        if kind == "LSTM" and draw(st.integers(0, 2)) == 0:
            projection = draw(st.integers(1, hidden))  # hidden itself: refused
            args["proj_size"] = projection
        if kind == "RNN" and draw(st.integers(0, 3)) == 0:
            args["nonlinearity"] = "relu"
        directions = 2 if args["bidirectional"] else 1
        layer = self.fresh(kind.lower())
        self.text.append(f"{layer}: {_call(kind, args)}")
        batch = _sequence_view(shape, batch_first)[1]
        state = (directions * layers, *(() if batch is None else (batch,)))
        out, h = target, self.fresh("h")
        initial = self.initial_state(kind, state, projection or hidden, hidden)
        applied = (
            f"{layer}({source.name}, hx={initial[0]})" if initial else f"{source.name} -> {layer}"
        )
        if kind == "LSTM":
            c = self.fresh("c")
            self.text.append(f"{out}, ({h}, {c}) = {applied}")
            targets = [out, (h, c)]
            self.keep(c, (*state, hidden))
        else:
            self.text.append(f"{out}, {h} = {applied}")
            targets = [out, h]
        self.keep(out, (*shape[:-1], directions * (projection or hidden)))
        self.keep(h, (*state, projection or hidden))

        def run(m, env):
            if not initial:
                return m(env[source.name])
            hx = tuple(env[name] for name in initial[1])
            return m(env[source.name], hx if kind == "LSTM" else hx[0])

        return _Applied(
            layer,
            lambda x: getattr(nn, kind)(**_torch_args(args, x)),
            run,
            targets,
            source.name,
            kind,
        )

    def initial_state(self, kind: str, state: tuple, hidden_out: int, hidden: int):
        """Now and then an initial state `hx` (torch's zeros when not given): a model input of
        the state's shape ([layers × directions, N, hidden]; an LSTM's pair as a tuple), or one
        size off (refused by both). None, or (the spec text, the input names in torch's order)."""
        draw = self.draw
        if draw(st.integers(0, 3)) != 0:
            return None
        shapes = [(*state, hidden_out)] + ([(*state, hidden)] if kind == "LSTM" else [])
        if draw(st.integers(0, 5)) == 0:  # one size off
            which = draw(st.integers(0, len(shapes) - 1))
            dim = draw(st.integers(0, len(shapes[which]) - 1))
            wrong = list(shapes[which])
            wrong[dim] = _other(wrong[dim])
            shapes[which] = tuple(wrong)
        names = [self.mask_input(dims, "float32", "normal", "h0_") for dims in shapes]
        text = f"({names[0]}, {names[1]})" if kind == "LSTM" else names[0]
        return text, names

    def transformer(self, choice: str, target: str) -> _Applied:
        """A TransformerEncoderLayer ("encoder_layer"), TransformerDecoderLayer ("decoder_layer",
        over a memory input) or TransformerEncoder ("encoder"), called with its masks."""
        draw = self.draw
        source = self.floats()
        shape = source.shape
        model = shape[-1] if isinstance(shape[-1], int) else 4
        batch_first = len(shape) == 3 and shape[0] == "N"
        if draw(st.integers(0, 9)) == 0:
            batch_first = not batch_first
        divisors = [h for h in range(1, model + 1) if model % h == 0]
        heads = draw(st.sampled_from(divisors * 4 + [model + 1, 3]))
        args = {
            "d_model": draw(st.sampled_from([model] * 8 + [self.off(model)])),
            "nhead": heads,
            "dim_feedforward": self.size(draw(st.integers(1, 8))),
            "dropout": draw(st.sampled_from([0.0, 0.1])),
            "batch_first": batch_first,
        }
        if draw(st.booleans()):
            args["activation"] = draw(st.sampled_from(["relu", "gelu"]))
        if draw(st.booleans()):
            args["norm_first"] = True
        if draw(st.integers(0, 3)) == 0:
            args["bias"] = False
        if choice != "encoder" and isinstance(shape[-1], int) and draw(st.integers(0, 4)) == 0:
            args["d_model"] = "?"  # a layer's own d_model reads the features
        rows, batch = _sequence_view(shape, batch_first)
        layer = self.fresh("enc" if choice != "decoder_layer" else "dec")
        operands = [source.name]
        if choice == "decoder_layer":
            memory, memory_length = self.memory(model, batch, batch_first)
            operands.append(memory)
            names = ("tgt_mask", "memory_mask", "tgt_key_padding_mask",
                     "memory_key_padding_mask")  # fmt: skip
            masks = (
                self.attn_mask(rows, rows),
                self.attn_mask(rows, memory_length),
                self.padding_mask(batch, rows),
                self.padding_mask(batch, memory_length),
            )
            causal, kind = "tgt_is_causal", "TransformerDecoderLayer"
        else:
            names = (("src_mask", "src_key_padding_mask") if choice == "encoder_layer"
                     else ("mask", "src_key_padding_mask"))  # fmt: skip
            masks = (self.attn_mask(rows, rows), self.padding_mask(batch, rows))
            causal, kind = "is_causal", "TransformerEncoderLayer"
        forward = {n: m for n, m in zip(names, masks, strict=True) if m}
        shapes = {name: dims for name, dims, *_ in self.inputs}
        # torch drops an attn mask unread under is_causal=True without a key padding mask
        # (see the docstring): a mask of the wrong shape comes without is_causal
        wrong = shapes.get(forward.get(names[0]), (rows, rows)) != (rows, rows)
        if not wrong and draw(st.integers(0, 4)) == 0:
            if names[0] in forward or draw(st.booleans()):
                forward[causal] = "True"  # without its attn mask: refused
        declared = _call(kind, args)
        built = getattr(nn, kind)
        make = lambda x: built(**_torch_args(args, x))  # noqa: E731
        if choice == "encoder":
            count, norm = draw(st.integers(1, 2)), None
            declared = f"TransformerEncoder({declared}, {count}"
            if draw(st.booleans()):
                norm = self.off(model)
                declared += f", norm=LayerNorm({norm})"
            declared += ")"
            kind = "TransformerEncoder"
            make = lambda x: nn.TransformerEncoder(  # noqa: E731
                built(**_torch_args(args, x)),
                count,
                norm=nn.LayerNorm(norm) if norm is not None else None,
            )
        self.text.append(f"{layer}: {declared}")
        arguments = [*operands, *(f"{k}={v}" for k, v in forward.items())]
        self.text.append(f"{target} = {layer}({', '.join(arguments)})")
        self.keep(target, shape)

        def call(m, env):
            keywords = {k: (True if v == "True" else env[v]) for k, v in forward.items()}
            return m(*(env[o] for o in operands), **keywords)

        return _Applied(layer, make, call, [target], source.name, kind)

    def memory(self, model: int, batch, batch_first: bool) -> tuple[str, int]:
        """A decoder's memory: an input of another length, its features now and then not
        d_model, its rank now and then not the target's."""
        draw = self.draw
        length = draw(st.integers(1, 5))
        features = self.off(model)
        if batch is None:
            dims = (length, features)
        elif batch_first:
            dims = (batch, length, features)
        else:
            dims = (length, batch, features)
        if draw(st.integers(0, 14)) == 0:
            dims = dims[1:] if len(dims) == 3 else ("N", *dims)  # another rank
        return self.mask_input(dims, "float32", "normal", "memory"), length

    def linear(self, target: str) -> _Applied:
        draw = self.draw
        source = self.floats()
        if draw(st.integers(0, 7)) == 0:
            source = self.pool[0]  # int64 tokens: refused
        widths = {_value(dim) for _, _, dim in self.embeddings}
        shared = [v for v in self.pool if v.dtype == "float32" and v.shape[-1] in widths]
        if shared and draw(st.booleans()):  # what an embedding made, for a head to share it
            source = draw(st.sampled_from(shared))
        inferred = ["?"] if isinstance(source.shape[-1], int) else []
        features = source.shape[-1] if inferred else 1
        written = [*inferred, features, features, self.off(features)]
        args = {"in_features": draw(st.sampled_from(written))}
        args["out_features"] = self.size(draw(st.integers(1, 8)))
        # A head sharing an embedding's table (GPT's): its weight [rows, dim] is the table's.
        tables = [e for e in self.embeddings if _value(e[2]) == features]
        tied = None
        if tables and isinstance(source.shape[-1], int) and draw(st.booleans()):
            tied, rows, _ = draw(st.sampled_from(tables))
            args = {"in_features": features, "out_features": rows, "bias": draw(st.booleans())}
        layer = self.fresh("linear")
        self.text += [f"{layer}: {_call('Linear', args)}", f"{target} = {source.name} -> {layer}"]
        if tied is not None:
            self.text.append(f"tie {layer}.weight = {tied}.weight")
        self.keep(target, (*source.shape[:-1], _value(args["out_features"])))
        return _Applied(
            layer,
            lambda x: nn.Linear(**_torch_args(args, x)),
            lambda m, env: m(env[source.name]),
            [target],
            source.name,
            "Linear",
            tied,
        )

    def plain(self, choice: str, target: str):
        """A step without a layer: transpose(0, 1), a sample `x[0]`, a comparison of the tokens
        or a conversion. Returns step(env, modules, training)."""
        draw = self.draw
        source = self.floats((3,)) if choice in ("transpose", "sample") else None
        if choice == "transpose":
            expr, shape = f"{source.name} -> transpose(0, 1)", source.shape
            fn = lambda env: env[source.name].transpose(0, 1)  # noqa: E731
            shape = (shape[1], shape[0], *shape[2:]) if len(shape) > 1 else shape
            dtype = source.dtype
        elif choice == "sample":
            expr, shape = f"{source.name}[0]", source.shape[1:]
            fn = lambda env: env[source.name][0]  # noqa: E731
            dtype = source.dtype
        elif choice == "compare":
            op, number = draw(st.sampled_from(["==", "!=", "<"])), draw(st.integers(0, 2))
            expr, shape, dtype = f"tokens {op} {number}", ("N", self.length), "bool"
            fn = lambda env: _PY[op](env["tokens"], number)  # noqa: E731
        else:
            source = self.floats()
            conversion = draw(st.sampled_from(["double()", "float()", "long()"]))
            expr, shape = f"{source.name} -> {conversion}", source.shape
            method = conversion.removesuffix("()")
            fn = lambda env: getattr(env[source.name], method)()  # noqa: E731
            dtype = {"double()": "float64", "float()": "float32", "long()": "int64"}[conversion]
        self.text.append(f"{target} = {expr}")
        self.keep(target, shape, dtype, ids=choice in ("transpose", "sample") and source.ids)

        def step(env, modules, training):
            env[target] = fn(env)

        return step

    def program(self, steps: list, layers: list) -> SeqProgram:
        """The spec: the `def` functions used, the inputs, the lines, and a return of the last
        value made and now and then others (h_n, c_n, earlier outputs)."""
        made = [v.name for v in self.pool if v.name not in {name for name, *_ in self.inputs}]
        outputs = [made[-1]] if made else ["tokens"]
        for extra in made[:-1]:
            if self.draw(st.integers(0, 3)) == 0:
                outputs.append(extra)
        declarations = [
            f"input {name}: {_dims(dims)}" + ("" if dtype == "float32" else f" {dtype}")
            for name, dims, dtype, _ in self.inputs
        ]
        lines = [*declarations, *self.text, f"return {', '.join(outputs)}"]
        body = "\n".join(f"    {line}" for line in lines)
        header = "".join(f"{FUNCTIONS[name]}\n" for name in sorted(self.functions))
        spec = f"{header}model Net {{\n{body}\n}}\n"
        return SeqProgram(spec, self.inputs, steps, outputs, layers, self.text)


def _layer_step(applied: _Applied):
    """step(env, modules, training) of a layer: built at its first use, then called."""

    def step(env, modules, training):
        module = _built(modules, applied.layer, applied.make, env[applied.first])
        if applied.tied_to is not None:  # as the generated code does, after both are built
            module.weight = modules[applied.tied_to].weight
        module.train(training)
        _assign(env, applied.targets, applied.call(module, env))

    return step


@st.composite
def sequence_program(draw):
    drawn = _SequenceDraw(draw, draw(st.integers(1, 5)))
    if draw(st.booleans()):
        features = draw(st.integers(1, 8))
        length = drawn.length
        shape = ("N", length, features) if draw(st.booleans()) else (length, "N", features)
        drawn.inputs.append(("feats", shape, "float32", "normal"))
        drawn.pool.append(SeqValue("feats", shape, "float32"))
    steps: list = []
    layers: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.sampled_from(SEQUENCE_STEPS))
        if all(v.dtype != "float32" for v in drawn.pool) and draw(st.integers(0, 4)):
            choice = "embedding"  # most programs have a float sequence to work on
        target = drawn.fresh("v")
        if choice in ("transpose", "sample", "compare", "convert"):
            steps.append(drawn.plain(choice, target))
            continue
        if choice == "embedding":
            applied = drawn.embedding(target)
        elif choice == "recurrent":
            applied = drawn.recurrent(target)
        elif choice == "linear":
            applied = drawn.linear(target)
        else:
            applied = drawn.transformer(choice, target)
        layers.append(applied.kind)
        steps.append(_layer_step(applied))
    return drawn.program(steps, layers)


def _other(size):
    """Another size than `size` (the batch N: 1)."""
    return size + 1 if isinstance(size, int) else 1


def _assign(env: dict, targets: list, result) -> None:
    """Bind a layer's result as the spec's targets do: `out, (h, c)` nests as torch's tuples."""
    if len(targets) == 1:
        env[targets[0]] = result
        return
    for target, value in zip(targets, result, strict=True):
        if isinstance(target, tuple):
            _assign(env, list(target), value)
        else:
            env[target] = value


def _sequence_inputs(program: SeqProgram, seed: int = 0) -> dict:
    """The program's inputs at batch PROGRAM_BATCH: ids 0..2 (rows every drawn Embedding has),
    normal floats, causal bool masks (True above the diagonal: every row attends somewhere) and
    left-aligned key padding masks (position 0 never padded), so no row is masked out whole."""
    generator = torch.Generator().manual_seed(seed)
    values = {}
    for name, dims, _, fill in program.inputs:
        shape = tuple(PROGRAM_BATCH if d == "N" else d for d in dims)
        if fill == "ids":
            values[name] = torch.randint(0, 3, shape, generator=generator)
        elif fill == "normal":
            values[name] = torch.randn(shape, generator=generator)
        elif fill == "causal" and len(shape) == 2:
            values[name] = torch.ones(shape, dtype=torch.bool).triu(1)
        elif fill == "padding" and len(shape) == 2:
            kept = torch.randint(1, shape[1] + 1, (shape[0], 1), generator=generator)
            values[name] = torch.arange(shape[1]) >= kept
        else:  # a mask of a shape torch refuses: its values do not matter
            values[name] = torch.zeros(shape, dtype=torch.bool)
    return values


def _sequence_torch(program: SeqProgram, values: dict, training: bool = False):
    """(modules, outputs, None) where torch runs the program, (None, None, error) where not;
    the modules are built at their first use, as the steps meet them."""
    modules = nn.ModuleDict()
    env = dict(values)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dropout with one layer, nested tensors, ...
            torch.manual_seed(0)
            for step in program.steps:
                step(env, modules, training)
    except _PROGRAM_REFUSALS as error:
        return None, None, error
    return modules, [env[name] for name in program.outputs], None


def check_sequence_compiled(result, program: SeqProgram, reference, values: dict, spec: str):
    """The compiled spec holds torch's modules' state_dict (strictly), and, run in eval mode on
    the same inputs, every node has torch's shape and dtype and the outputs are torch's."""
    from torch_harness import expected, observed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor that torch cannot use
        module, checked, filename, source = _compiled(result)
    state = reference.state_dict()
    compiled = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    assert compiled == {key: tuple(value.shape) for key, value in state.items()}, (
        f"state_dict: compiled {compiled}\n{spec}"
    )
    module.load_state_dict(state, strict=True)
    ran = sum(p.numel() for p in reference.parameters())
    assert checked.parameter_count == ran, f"parameters {checked.parameter_count}, torch {ran}"
    graph = checked.graph
    inputs = [values[graph.node(i).name] for i in graph.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real, dtypes, _ = observed(
            module, checked, filename, batch=PROGRAM_BATCH, sizes={}, inputs=inputs
        )
        _, wanted, _ = _sequence_torch(_rerun(program, reference), values)
    for node_id, shape in real.items():
        static = checked.inference.shapes[node_id]
        assert expected(static, PROGRAM_BATCH) == shape, (
            f"node {node_id}: archspec {static}, torch {shape}\n{spec}\n{source}"
        )
        assert checked.inference.dtype(node_id) == dtypes[node_id], (
            f"node {node_id}: archspec {checked.inference.dtype(node_id)}, torch "
            f"{dtypes[node_id]}\n{spec}\n{source}"
        )
    # The values, from a run outside torch_harness's recording: torch takes no fast path while a
    # TorchFunctionMode records, and the nested-tensor one zeroes padded positions (see above).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output = module.eval()(*inputs)
    outputs = output if isinstance(output, tuple) else (output,)
    for mine, theirs in zip(outputs, wanted, strict=True):
        torch.testing.assert_close(
            mine, theirs, rtol=1e-4, atol=1e-5, equal_nan=True, msg=lambda m: f"{m}\n{spec}"
        )


def _rerun(program: SeqProgram, reference) -> SeqProgram:
    """The program with its modules already built: the reference's, in eval mode."""
    reference.eval()

    def build(env, modules, training):
        modules.update(reference)

    return SeqProgram(program.spec, program.inputs, [build, *program.steps], program.outputs,
                      program.layers, program.text)  # fmt: skip


@settings(
    max_examples=SEQUENCE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sequence_program())
def test_archspec_runs_sequence_models_as_torch_does(program):
    spec = program.spec
    result = archspec.check_text(spec, "random.arch")
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    messages = "\n".join(f"{d.code} {d.message}" for d in errors)
    values = _sequence_inputs(program)
    reference, outputs, error = _sequence_torch(program, values)
    _, _, train_error = _sequence_torch(program, values, training=True)
    if error is None and train_error is not None:
        # torch's eval fast path runs what its training path refuses (see the docstring)
        event("known difference: torch's eval fast path runs what training refuses")
        reference, outputs, error = None, None, train_error
    assert (error is None) == (train_error is None), (
        f"torch: eval {error!r}, train {train_error!r}\n{spec}"
    )
    event(f"sequence: archspec {'rejects' if errors else 'accepts'}")
    if errors:
        assert outputs is None, f"archspec rejects what torch runs:\n{spec}\n{messages}"
        return
    assert error is None, f"archspec accepts what torch rejects ({error!r}):\n{spec}"
    checked = result.model()
    for static, out in zip(checked.output_shapes, outputs, strict=True):
        assert expected_shape(static) == tuple(out.shape), f"archspec {static}:\n{spec}"
    check_sequence_compiled(result, program, reference, values, spec)
    for kind in sorted(set(program.layers)):
        event(f"sequence, both run: {kind}")
    if "hx=" in spec:
        event("sequence, both run: with an initial state hx")
    if "\n    tie " in spec:
        event("sequence, both run: with a tie")
