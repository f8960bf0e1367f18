"""Differential test on random networks: archspec accepts a spec ⇔ torch runs the same network, and
where both run, archspec's static output shape is torch's.

Hypothesis draws a small network: a chain of convolutions, pools, activations, norms, flatten and
Linear, and the tensor ops (permute, transpose, pad, interpolate, roll, sum, expand, elementwise
math), with forks joined by `cat`, `+`, `matmul`, `stack`, a `chunk` piece or shifted slices,
and blocks. It is written twice: as .arch text for archspec, and directly as torch modules (Lazy*
layers where the spec writes `?`). Most draws are valid, many are not (a kernel larger than the
map, wrong explicit channels, pool padding over half the kernel, `+` of different shapes, ...);
both sides must agree either way.

Deliberate difference, named here as the issue asks: torch returns an empty tensor where a pad
crops a dim to 0 or area resizing rounds it to 0; archspec refuses (E203), so the torch side
counts an empty map as its refusal. Likewise `chunk(3)` where torch returns fewer pieces (2
channels give 2): archspec makes one value per promised piece, so it refuses (E105, with the
⌈C/3⌉ arithmetic) and the torch side counts the short return as its refusal.
Profiles: the default runs in `make test`; `ARCHSPEC_RANDOM_GRAPHS=long` runs 20,000 cases.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from spec_writer import BlockUse, Fork, Layer, SpecWriter  # noqa: E402
from torch import nn  # noqa: E402

import archspec  # noqa: E402
from archspec.core.dims import Sym  # noqa: E402

pytestmark = pytest.mark.torch

EXAMPLES = 20_000 if os.environ.get("ARCHSPEC_RANDOM_GRAPHS") == "long" else 1_000
BATCH = 2


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
             "exp", "abs", "neg", "sin", "erf"]
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
    return Layer(choice)


layer = st.one_of(conv(), conv(), pool(), simple(), tensor_op())


@st.composite
def chain(draw, depth: int = 0):
    steps = draw(st.lists(layer, min_size=1, max_size=4))
    if depth < 1 and draw(st.integers(0, 3)) == 0:
        left = draw(chain(depth + 1))
        right = draw(chain(depth + 1))
        steps.append(Fork(left, right, draw(st.sampled_from(JOINS))))
    if depth < 1 and draw(st.integers(0, 4)) == 0:
        steps.append(BlockUse(draw(chain(depth + 1))))
    return steps


@st.composite
def network(draw):
    channels = draw(st.integers(1, 4))
    height, width = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    body = draw(chain())
    head = None
    if draw(st.booleans()):
        explicit = draw(st.one_of(st.none(), st.integers(1, 40)))
        head = (explicit, draw(st.integers(1, 5)))
    return (channels, height, width), body, head


# ---------------------------------------------------------------- spec text


# How a fork's branches meet. matmul multiplies the maps as matrices ([.., H, W] @ [.., W, H'])
# and stack joins equal shapes along a new dim, merged into the channels again.
# chunk cuts the joined channels into ⌈C/3⌉-wide pieces and keeps the last (several outputs,
# indexed); slice adds the branches shifted by one row (indexing and slicing).
JOINS = ["cat", "add", "matmul", "stack", "chunk", "slice"]
SPEC_JOINS = {
    "matmul": "matmul({left}, {right} -> transpose(-1, -2))",
    "stack": "stack([{left}, {right}], 1) -> flatten(1, 2)",
    "chunk": "(cat([{left}, {right}], 1) -> chunk(3, dim=1))[-1]",
    "slice": "{left}[:, :, 1:] + {right}[:, :, :-1]",
}
TORCH_JOINS = {
    "cat": lambda left, right: torch.cat([left, right], 1),
    "add": lambda left, right: left + right,
    "matmul": lambda left, right: torch.matmul(left, right.transpose(-1, -2)),
    "stack": lambda left, right: torch.flatten(torch.stack([left, right], 1), 1, 2),
    "chunk": lambda left, right: _all_chunks(torch.cat([left, right], 1), 3)[-1],
    "slice": lambda left, right: left[:, :, 1:] + right[:, :, :-1],
}


def _all_chunks(x, chunks: int):
    """torch.chunk, refusing where it returns fewer pieces than asked (chunk(3) of 2 channels
    gives 2): archspec makes one value per promised piece and refuses that case (E105), so the
    torch side counts it as its refusal (a deliberate difference, see the module docstring)."""
    pieces = torch.chunk(x, chunks, 1)
    if len(pieces) != chunks:
        raise RuntimeError(f"chunk gave {len(pieces)} pieces, not {chunks}")
    return pieces


class _Writer(SpecWriter):
    def join_text(self, join: str, left: str, right: str) -> str:
        if join in SPEC_JOINS:
            return SPEC_JOINS[join].format(left=left, right=right)
        return super().join_text(join, left, right)

    def spec(self, net) -> str:
        (channels, height, width), body, head = net
        lines: list[str] = []
        out = self.chain(body, "x", lines)
        if head is not None:
            explicit, features = head
            first = "?" if explicit is None else str(explicit)
            lines.append(f"head = {out} -> flatten(1) -> Linear({first}, {features})")
            out = "head"
        return self.model(f"[N, {channels}, {height}, {width}]", lines, out)


# ---------------------------------------------------------------- the same network in torch

_LAZY = {"Conv2d": nn.LazyConv2d, "BatchNorm2d": nn.LazyBatchNorm2d}


# The functions of tensor_op(), called as the spec writes them (keywords).
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
}


class _Function(nn.Module):
    def __init__(self, layer: Layer):
        super().__init__()
        self.function, self.args = _FUNCTIONS[layer.kind], layer.args

    def forward(self, x):
        return self.function(x, **self.args)


def _module(layer: Layer) -> nn.Module:
    if layer.kind in _FUNCTIONS:
        return _Function(layer)
    if layer.infer is not None:
        return _LAZY[layer.kind](**layer.args)
    return getattr(nn, layer.kind)(**layer.args)


class TorchChain(nn.Module):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.parts = nn.ModuleList()
        for step in steps:
            if isinstance(step, Layer):
                self.parts.append(_module(step))
            elif isinstance(step, Fork):
                self.parts.append(nn.ModuleList([TorchChain(step.left), TorchChain(step.right)]))
            else:
                self.parts.append(TorchChain(step.body))

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


def run_torch(net):
    (channels, height, width), body, head = net
    x = torch.randn(BATCH, channels, height, width)
    try:
        model = TorchChain(body)  # constructors validate too (groups, padding='same' + stride)
        with torch.no_grad():
            model.eval()
            out = model(x)
            if head is not None:
                explicit, features = head
                linear = (
                    nn.LazyLinear(features) if explicit is None else nn.Linear(explicit, features)
                )
                out = linear(torch.flatten(out, 1))
    except (RuntimeError, ValueError, IndexError, NotImplementedError) as error:
        return None, error
    return tuple(out.shape), None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(network())
def test_archspec_accepts_exactly_what_torch_runs(net):
    spec = _Writer().spec(net)
    result = archspec.check_text(spec, "random.arch")
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    shape, error = run_torch(net)
    event("archspec rejects" if errors else "archspec accepts")
    if errors:
        assert shape is None, (
            f"archspec rejects what torch runs (output {shape}):\n{spec}\n"
            + "\n".join(f"{d.code} {d.message}" for d in errors)
        )
        return
    assert error is None, f"archspec accepts what torch rejects ({error}):\n{spec}"
    static = result.model().output_shapes[0]
    expected = tuple(BATCH if isinstance(d, Sym) else d for d in static)
    assert shape == expected, f"archspec {static}, torch {shape}:\n{spec}"
