"""The tensor ops of archspec/ops/tensor.py against torch: permute, transpose, squeeze, unsqueeze,
expand, roll, sum, matmul, bmm, stack, pad, interpolate and elementwise math.

Three layers of evidence: hypothesis draws arguments and shapes (valid and invalid, negative dims
included) and archspec's verdict and shape must be torch's (the generators here also feed
tests/test_ops_torch.py); each refusal is pinned with its code and its message; and specs using
the ops are compiled and the generated code run in torch, every node's shape compared. MACs of the
matrix products are checked against torch's FLOP counter.
"""

from __future__ import annotations

import os
import textwrap
import warnings
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_harness import build_checked, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402
from archspec.core.dims import Sizing, Sym  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import bind, evaluate  # noqa: E402
from archspec.ops.base import OpFailure  # noqa: E402
from archspec.ops.tensor import ELEMENTWISE_MATH  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402

pytestmark = pytest.mark.torch

BATCH = 2
EXAMPLES = int(os.environ.get("ARCHSPEC_TORCH_EXAMPLES", "50"))
N, H, W = Sym.named("N"), Sym.named("H"), Sym.named("W")


@dataclass
class Case:
    """As tests/test_ops_torch.py's Case: arguments by name, exactly as torch receives them."""

    args: dict
    inputs: list
    infer: tuple = ()


# ---------------------------------------------------------------- generators


def _shape(d, lo_rank=0, hi_rank=4, hi=4, ones=False) -> tuple:
    """[2, ...] of a random rank (or ()), with many 1s when `ones` (for squeeze and expand)."""
    rank = d(st.integers(lo_rank, hi_rank))
    size = st.sampled_from([1, 1, 2, 3]) if ones else st.integers(1, hi)
    return (BATCH, *(d(size) for _ in range(rank - 1))) if rank else ()


def _dim(d, rank: int, extra: int = 0):
    """A dim for a `rank`-d tensor, sometimes out of range (negative dims included)."""
    bound = max(rank + extra, 1)
    return d(st.integers(-bound - 1, bound))


def permute(d):
    shape = _shape(d, 1, 5)
    rank = len(shape)
    dims = list(d(st.permutations(range(rank))))
    dims = [dim - rank if d(st.booleans()) else dim for dim in dims]
    mistake = d(st.sampled_from(["none"] * 6 + ["repeat", "short", "long", "range"]))
    if mistake == "repeat" and rank > 1:
        dims[0] = dims[1]
    elif mistake == "short":
        dims = dims[:-1] or [0]
    elif mistake == "long":
        dims.append(rank)
    elif mistake == "range":
        dims[-1] = rank
    return Case({"dims": tuple(dims)}, [shape])


def transpose(d):
    shape = _shape(d)
    return Case({"dim0": _dim(d, len(shape)), "dim1": _dim(d, len(shape))}, [shape])


def squeeze(d):
    shape = _shape(d, ones=True)
    dim = st.integers(-len(shape) - 1, max(len(shape), 1))
    form = d(st.sampled_from(["none", "int", "tuple"]))
    if form == "none":
        return Case({}, [shape])
    value = d(dim) if form == "int" else tuple(d(st.lists(dim, max_size=3)))
    return Case({"dim": value}, [shape])


def unsqueeze(d):
    shape = _shape(d)
    return Case({"dim": _dim(d, len(shape), extra=1)}, [shape])


def expand(d):
    shape = _shape(d, ones=True)
    sizes = []
    for size in shape:
        choice = d(st.sampled_from(["keep", "same", "grow", "grow", "wrong"]))
        if choice == "keep":
            sizes.append(-1)
        elif choice == "same":
            sizes.append(size)
        else:
            sizes.append(d(st.integers(1, 4)))
    leading = [d(st.sampled_from([1, 2, 3, 3, -1])) for _ in range(d(st.integers(0, 2)))]
    sizes = leading + sizes
    if sizes and d(st.integers(0, 9)) == 0:
        sizes = sizes[1:]  # fewer sizes than dims
    return Case({"size": tuple(sizes) or (1,)}, [shape])


def roll(d):
    shape = _shape(d)
    rank = len(shape)
    count = d(st.integers(1, 3))
    shifts = tuple(d(st.integers(-5, 5)) for _ in range(count))
    args = {"shifts": shifts[0] if count == 1 and d(st.booleans()) else shifts}
    form = d(st.sampled_from(["none", "int", "tuple", "tuple"]))
    if form == "int":
        args["dims"] = _dim(d, rank)
    elif form == "tuple":
        aligned = count if d(st.integers(0, 5)) else d(st.integers(0, 3))
        args["dims"] = tuple(_dim(d, rank) for _ in range(aligned))
    return Case(args, [shape])


def sum_(d):
    shape = _shape(d)
    dims = st.integers(-4, 3)
    args = {}
    if d(st.booleans()):
        args["dim"] = d(
            st.one_of(st.none(), dims, st.tuples(dims), st.tuples(dims, dims), st.just(()))
        )
        if d(st.booleans()):  # torch.sum has no keepdim-without-dim form either
            args["keepdim"] = d(st.booleans())
    return Case(args, [shape])


def _operand(d, rank: int, last: int, second_last: int | None) -> tuple:
    if rank == 0:
        return ()
    if rank == 1:
        return (last,)
    batch = tuple(d(st.sampled_from([1, 2, 3])) for _ in range(rank - 2))
    return (*batch, second_last, last)


def matmul(d):
    n, k, m = (d(st.integers(1, 4)) for _ in range(3))
    other_k = k if d(st.integers(0, 5)) else d(st.integers(1, 4))
    left = _operand(d, d(st.sampled_from([0, 1, 1, 2, 2, 3, 4])), k, n)
    right_rank = d(st.sampled_from([0, 1, 1, 2, 2, 3, 4]))
    right = (other_k,) if right_rank == 1 else _operand(d, right_rank, m, other_k)
    return Case({}, [left, right])


def bmm(d):
    b, n, k, m = (d(st.integers(1, 3)) for _ in range(4))
    other_b = b if d(st.integers(0, 4)) else d(st.integers(1, 3))
    other_k = k if d(st.integers(0, 4)) else d(st.integers(1, 3))
    left = (b, n, k) if d(st.integers(0, 6)) else (n, k)
    return Case({}, [left, (other_b, other_k, m)])


def stack(d):
    base = list(_shape(d))
    tensors = []
    for _ in range(d(st.integers(1, 3))):
        shape = list(base)
        if shape and d(st.integers(0, 6)) == 0:
            shape[d(st.integers(0, len(shape) - 1))] += 1  # a mismatch somewhere
        tensors.append(tuple(shape))
    return Case({"dim": _dim(d, len(base), extra=1)}, tensors)


def pad(d):
    shape = _shape(d, 1, 5, hi=5)
    pairs = d(st.integers(0, min(len(shape) + 1, 4)))
    amounts = [d(st.integers(-3, 4)) for _ in range(2 * pairs)]
    if d(st.integers(0, 9)) == 0:
        amounts.append(1)  # an odd count
    args = {"pad": tuple(amounts)}
    args["mode"] = d(st.sampled_from(["constant", "constant", "reflect", "replicate", "circular"]))
    if d(st.booleans()):
        args["value"] = d(st.sampled_from([None, 0.0, 1.5]))
    return Case(args, [shape])


def interpolate(d):
    shape = _shape(d, 2, 6, hi=6)
    count = st.integers(1, 3)
    size = st.one_of(
        st.integers(1, 8), count.flatmap(lambda n: st.tuples(*[st.integers(1, 8)] * n))
    )
    factor = st.sampled_from([0.5, 1.0, 1.5, 2.0, 0.25, 3.0])
    scale = st.one_of(factor, count.flatmap(lambda n: st.tuples(*[factor] * n)))
    form = d(st.sampled_from(["size", "size", "scale", "scale", "both", "neither"]))
    modes = ["nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic", "trilinear"]
    args = {
        "size": d(size) if form in ("size", "both") else None,
        "scale_factor": d(scale) if form in ("scale", "both") else None,
        "mode": d(st.sampled_from(modes)),
        "align_corners": d(st.sampled_from([None, None, True, False])),
        "recompute_scale_factor": d(st.sampled_from([None, None, True, False])),
        "antialias": d(st.sampled_from([False, False, True])),
    }
    return Case(args, [shape])


def elementwise(d):
    return Case({}, [_shape(d)])


TENSOR_GENERATORS = {
    "permute": permute,
    "transpose": transpose,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "expand": expand,
    "roll": roll,
    "sum": sum_,
    "matmul": matmul,
    "bmm": bmm,
    "stack": stack,
    "pad": pad,
    "interpolate": interpolate,
    **dict.fromkeys(ELEMENTWISE_MATH, elementwise),
    "contiguous": elementwise,
    "clone": elementwise,
}

# The torch calls of the ops written as methods (x.permute(...)): operands, then the variadic
# values, then the other arguments by keyword.
TENSOR_FUNCTIONS = {
    "permute": lambda x, *dims: x.permute(*dims),
    "transpose": lambda x, dim0, dim1: x.transpose(dim0, dim1),
    "squeeze": lambda x, dim=None: x.squeeze() if dim is None else x.squeeze(dim),
    "unsqueeze": lambda x, dim: x.unsqueeze(dim),
    "expand": lambda x, *size: x.expand(*size),
    "contiguous": lambda x: x.contiguous(),
    "clone": lambda x: x.clone(),
}


def _empty_pad(case: Case) -> bool:
    """A pad that crops a dim to exactly 0 gives torch an empty tensor (E203 here): constant
    mode, and circular and reflect modes, which crop too (replicate refuses)."""
    shape, amounts = case.inputs[0], case.args["pad"]
    modes = ("constant", "circular", "reflect")
    if case.args.get("mode", "constant") not in modes or len(amounts) % 2:
        return False
    pairs = zip(amounts[::2], amounts[1::2])
    return any(shape[-1 - i] + before + after == 0 for i, (before, after) in enumerate(pairs))


def _empty_area(case: Case) -> bool:
    """mode='area' resizes through adaptive_avg_pool, which returns an empty tensor for a 0."""
    scale, shape = case.args["scale_factor"], case.inputs[0]
    if case.args["mode"] != "area" or scale is None:
        return False
    scales = scale if isinstance(scale, tuple) else (scale,) * (len(shape) - 2)
    return any(int(size * k) == 0 for size, k in zip(shape[2:], scales))


# Where archspec refuses what torch runs, on purpose (test_ops_torch.STRICTER's form).
TENSOR_STRICTER = {"pad": _empty_pad, "interpolate": _empty_area}


# ---------------------------------------------------------------- the differential test


def _differential():
    """tests/test_ops_torch.py's runners, imported when a test runs: that module imports this
    one's generators, so a top-level import here would be circular."""
    import test_ops_torch

    return test_ops_torch


@pytest.mark.parametrize("name", sorted(TENSOR_GENERATORS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_op_matches_torch(name, data):
    runners = _differential()
    op = REGISTRY[name]
    case = TENSOR_GENERATORS[name](data.draw)
    try:
        shape, refusal = runners.run_archspec(op, case).shape, None
    except Exception as error:  # noqa: BLE001 - OpFailure or BindError: archspec refuses
        shape, refusal = None, error
        assert isinstance(error, (OpFailure, runners.BindError)), error
    try:
        torch_shape, torch_error = runners.run_torch(op, case)[0], None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        torch_shape, torch_error = None, error
    if refusal is not None:
        stricter = TENSOR_STRICTER.get(name)
        assert torch_error is not None or (stricter and stricter(case)), (
            f"archspec refuses {name}{case} but torch gives {torch_shape}: {refusal}"
        )
        return
    assert torch_error is None, f"torch refuses {name}{case} ({torch_error}), archspec {shape}"
    assert shape == torch_shape, f"{name}{case}: archspec {shape}, torch {torch_shape}"


def test_every_tensor_op_is_generated():
    from test_ops_edges import reregister

    from archspec.ops import tensor

    tensor_ops = set(reregister(tensor))  # what ops/tensor.py registers
    assert tensor_ops == set(TENSOR_GENERATORS)


# ---------------------------------------------------------------- shapes, pinned


def apply(name: str, shapes, *args, **kwargs):
    """The op on these shapes; H and W compare as 12 and 9 (a model's bounded sizes would)."""
    op = REGISTRY[name]
    tensors = [p for p in op.params if p.is_tensor]
    positional = ["<tensor>"] * len(tensors) + list(args)
    with Sizing({"H": 12, "W": 9}):
        return evaluate(op, bind(op, positional, kwargs), [tuple(s) for s in shapes])


def refusal(name: str, shapes, *args, **kwargs) -> OpFailure:
    with pytest.raises(OpFailure) as caught:
        apply(name, shapes, *args, **kwargs)
    return caught.value


SHAPES = [
    ("permute", [(N, 3, 8, 9)], (0, 2, 3, 1), {}, (N, 8, 9, 3)),
    ("permute", [(N, 3, 8, 9)], ((0, -1, -2, 1),), {}, (N, 9, 8, 3)),
    ("transpose", [(N, 5, 7)], (1, -1), {}, (N, 7, 5)),
    ("squeeze", [(N, 1, 7, 1)], (), {}, (N, 7)),
    ("squeeze", [(N, 1, 7, 1)], (2,), {}, (N, 1, 7, 1)),  # not 1: torch leaves it
    ("squeeze", [(N, 1, 7, 1)], ((1, -1),), {}, (N, 7)),
    ("unsqueeze", [(N, 7)], (-1,), {}, (N, 7, 1)),
    ("expand", [(N, 3, 1, 1)], (-1, -1, H, 5), {}, (N, 3, H, 5)),
    ("expand", [(3, 1)], (2, N, 3, 4), {}, (2, N, 3, 4)),
    ("roll", [(N, 3, H, W)], (1,), {"dims": -1}, (N, 3, H, W)),
    ("sum", [(N, 3, H, W)], ((2, 3),), {"keepdim": True}, (N, 3, 1, 1)),
    ("sum", [(N, 3, H, W)], (-1,), {}, (N, 3, H)),
    ("matmul", [(N, H, 64), (64, 10)], (), {}, (N, H, 10)),
    ("matmul", [(64,), (N, 64, 10)], (), {}, (N, 10)),
    ("matmul", [(N, 1, 5, 6), (4, 6, 2)], (), {}, (N, 4, 5, 2)),
    ("matmul", [(6,), (6,)], (), {}, ()),
    ("bmm", [(N, 5, 6), (N, 6, 2)], (), {}, (N, 5, 2)),
    ("stack", [(N, 3), (N, 3), (N, 3)], (), {"dim": -1}, (N, 3, 3)),
    ("pad", [(N, 3, H, W)], ((1, 2, -1, 0),), {}, (N, 3, H - 1, W + 3)),
    ("pad", [(N, 3, 8, 8)], ((2, 2, 2, 2),), {"mode": "reflect"}, (N, 3, 12, 12)),
    ("interpolate", [(N, 3, H, W)], (), {"size": (2 * H, W)}, (N, 3, 2 * H, W)),
    ("interpolate", [(N, 3, H, W)], (), {"scale_factor": 0.5}, (N, 3, H // 2, W // 2)),
    ("erf", [(N, 3)], (), {}, (N, 3)),
]


@pytest.mark.parametrize(("name", "shapes", "args", "kwargs", "expected"), SHAPES)
def test_symbolic_shapes(name, shapes, args, kwargs, expected):
    assert apply(name, shapes, *args, **kwargs).shape == expected


# ---------------------------------------------------------------- refusals, pinned

REFUSALS = [
    ("permute", [(N, 3, 8)], (0, 2), {}, "E105", "permute got 2 dims (0, 2) for the 3-d input"),
    ("permute", [(N, 3, 8)], (0, 2, -1), {}, "E105", "permute names dim 2 twice"),
    ("permute", [(N, 3, 8)], (0, 2, 3), {}, "E105", "dims=3 is out of range"),
    ("transpose", [(N, 3)], (1, 2), {}, "E105", "transpose dim1=2 is out of range"),
    ("squeeze", [(N, 1)], ((1, -1),), {}, "E105", "squeeze names dim 1 twice"),
    ("squeeze", [(N, 1)], (2,), {}, "E105", "expected -2 to 1"),
    ("unsqueeze", [(N, 1)], (3,), {}, "E105", "expected -3 to 2"),
    ("expand", [(N, 3)], (4,), {}, "E105", "expand got 1 sizes (4,) for the 2-d input"),
    ("expand", [(N, 3)], (N, 4), {}, "E208", "cannot turn dim 1 of [N, 3] from 3 into 4"),
    ("expand", [(3,)], (-1, 3), {}, "E105", "cannot keep new leading dim 0 with -1"),
    ("expand", [(3,)], (0,), {}, "E105", "size entries must be positive or -1"),
    ("roll", [(N, 3)], ((1, 2),), {}, "E105", "roll without dims takes one shift"),
    ("roll", [(N, 3)], ((1, 2),), {"dims": 0}, "E105", "roll needs one shift per dim"),
    ("roll", [()], (1,), {"dims": 0}, "E105", "needs an input with dims, got a 0-d"),
    ("roll", [(N, 3)], (1,), {"dims": 2}, "E105", "roll dims=2 is out of range"),
    ("sum", [(N, 3)], ((1, -1),), {}, "E105", "sum reduces dim 1 twice"),
    ("matmul", [(N, 64), (32, 10)], (), {}, "E205", "the inner sizes differ, 64 (last dim"),
    ("matmul", [(N, 64), (32,)], (), {}, "E205", "≠ 32 (only dim of other)"),
    ("matmul", [(2, 3, 4), (5, 4, 6)], (), {}, "E205", "cannot broadcast the batch dims [2]"),
    ("matmul", [(), (3,)], (), {}, "E206", "input #0 is 0-d"),
    ("bmm", [(2, 3, 4), (5, 4, 6)], (), {}, "E205", "bmm needs one batch size: 2 in"),
    ("bmm", [(2, 3, 4), (2, 5, 6)], (), {}, "E205", "4 (last dim of input) ≠ 5 (dim 1"),
    ("bmm", [(3, 4), (2, 4, 6)], (), {}, "E206", "bmm expects 3-d tensors"),
    ("stack", [(N, 3), (N, 4)], (), {}, "E204", "stack needs tensors of one shape"),
    ("stack", [(N, 3), (N, 3)], (), {"dim": 3}, "E105", "stack dim=3 is out of range"),
    ("pad", [(N, 3)], ((1, 1, 1),), {}, "E105", "pad must hold (before, after) pairs, got 3"),
    ("pad", [(3,)], ((1, 1, 1, 1),), {}, "E206", "pad gives 2 (before, after) pairs"),
    ("pad", [(N, 3, 4)], ((-3, -2),), {}, "E203", "pad crops 5 from dim 2, which is only 4"),
    ("pad", [(N, 3, 4)], ((-3, -1),), {}, "E203", "would be 4 + -3 + -1 = 0"),
    ("pad", [(N, 3, 4)], ((4, 0),), {"mode": "reflect"}, "E203", "needs a size above 4"),
    ("pad", [(N, 3, 4)], ((5, 0),), {"mode": "circular"}, "E203", "more than its size 4"),
    ("pad", [(N, 3, 4, 4)], ((1, 1),), {"mode": "replicate"}, "E206", "need a 2-d or 3-d"),
    ("pad", [(N, 3, 4)], ((1, 1),), {"mode": "reflect", "value": 1.0}, "E105", "takes no value"),
    ("interpolate", [(N, 3, 4)], (), {}, "E105", "interpolate needs exactly one of size"),
    ("interpolate", [(N, 3, 4)], (), {"size": (2, 2)}, "E105", "size=(2, 2) has 2 entries"),
    ("interpolate", [(N, 3, 4)], (), {"scale_factor": 0.2}, "E203", "⌊4 × 0.2⌋ = 0"),
    ("interpolate", [(N, 3, 4)], (2,), {"mode": "bilinear"}, "E206", "needs a 4-d input"),
    ("interpolate", [(N, 3, 4)], (2,), {"antialias": True}, "E105", "antialias=True needs"),
    ("interpolate", [(N, 3)], (2,), {}, "E206", "expects a 3-d or 4-d or 5-d input"),
]


@pytest.mark.parametrize(("name", "shapes", "args", "kwargs", "code", "message"), REFUSALS)
def test_refusal(name, shapes, args, kwargs, code, message):
    failure = refusal(name, shapes, *args, **kwargs)
    assert failure.code == code, failure.message
    assert message in failure.message, failure.message
    if code != "E105" or failure.arg not in (None, "pad", "value", "size", "scale_factor"):
        assert failure.help, f"{failure.message} has no help"


def test_refusals_in_a_spec_point_at_the_argument():
    result = archspec.check_text(
        "model M {\n    input x: [N, 3, 8]\n    y = x -> permute(0, 2)\n    return y\n}\n"
    )
    [finding] = result.diagnostics
    span = finding.primary.span
    assert (finding.code, span.line, span.column) == ("E105", 3, 22)  # at `0, 2`
    assert finding.help.endswith("in its new order: a permutation of (0, 1, 2)")


# ---------------------------------------------------------------- MACs


def _flop_macs(function, *tensors) -> int:
    with FlopCounterMode(display=False) as counter:
        function(*tensors)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("matmul", [(BATCH, 5, 6), (6, 7)]),
        ("matmul", [(BATCH, 3, 5, 6), (3, 6, 7)]),
        ("matmul", [(BATCH, 1, 5, 6), (4, 6, 2)]),
        ("bmm", [(BATCH, 5, 6), (BATCH, 6, 4)]),
    ],
)
def test_matrix_product_macs_match_torch(name, shapes):
    """Per sample (dim 0 is the batch) times the batch is torch's count of multiply-adds."""
    result = apply(name, shapes)
    tensors = [torch.randn(shape) for shape in shapes]
    assert result.macs * BATCH == _flop_macs(getattr(torch, name), *tensors)


def test_matmul_macs_of_vectors():
    """An unbatched vector-matrix product is one sample; torch's FLOP counter has no formula for
    a matrix-vector product (aten.mv), so [N, 6] @ [6] is counted by hand: 6 per row."""
    assert (
        apply("matmul", [(6,), (6, 7)]).macs
        == 6 * 7
        == _flop_macs(torch.matmul, torch.randn(6), torch.randn(6, 7))
    )
    assert apply("matmul", [(N, 6), (6,)]).macs == 6
    assert apply("matmul", [(6,), (6,)]).macs == 6


def test_data_movement_counts_nothing():
    for name, shapes, args, kwargs, _ in SHAPES:
        if name not in ("matmul", "bmm"):
            assert apply(name, shapes, *args, **kwargs).macs == 0, name


# ---------------------------------------------------------------- specs, compiled and run

SPEC = """
model Attention {
    input x: [N, 16, 8, 8]
    tokens = x -> flatten(2) -> transpose(1, 2)                  # [N, 64, 16]
    scores = matmul(tokens, tokens -> permute(0, 2, 1)) -> softmax(dim=-1)
    mixed = matmul(scores, tokens) -> transpose(-1, -2)
    back = mixed -> unsqueeze(-1) -> squeeze(-1) -> reshape(N, 16, 8, 8)
    up = back -> interpolate(scale_factor=2.0, mode='bilinear', align_corners=False)
    padded = x -> pad((1, 1, 1, 1), mode='reflect') -> roll(1, dims=(2,)) -> exp() -> log()
    gate = x -> sum((2, 3), keepdim=True) -> rsqrt() -> expand(-1, -1, 10, 10)
    both = stack([padded, gate], dim=1) -> abs() -> neg() -> sqrt() -> sin() -> cos() -> erf()
    pairs = bmm(tokens, tokens -> transpose(1, 2))
    return up, both, -pairs
}
"""

SYMBOLIC_SPEC = """
model Resize {
    input x: [N, 3, H in 4..32, W in 4..32]
    input y: [N, 3, 16, 16]
    z = y -> interpolate(size=(H, W), mode='nearest')
    grid = x -> sum(1, keepdim=True) -> expand(N, 5, H, W)
    return z + x, grid
}
"""


@pytest.mark.parametrize("spec", [SPEC, SYMBOLIC_SPEC], ids=["attention", "symbolic"])
def test_generated_code_runs_with_archspec_shapes(spec, tmp_path):
    path = tmp_path / "tensor_ops.arch"
    path.write_text(textwrap.dedent(spec), encoding="utf-8")
    assert archspec.check(str(path)).diagnostics == []
    model, checked, filename = build_checked(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real, _ = observed_shapes(model, checked, filename, sizes={"H": 12, "W": 7})
    assert shape_disagreements(checked, real, sizes={"H": 12, "W": 7}) == []


def test_generated_code_reads_like_hand_written_pytorch(tmp_path):
    path = tmp_path / "tensor_ops.arch"
    path.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    checked = archspec.check(str(path))
    source = generate(checked).replace("'", '"')
    for line in (  # the model's class: its statements as the spec nests them
        "tokens = tokens.transpose(1, 2)",
        "scores = F.softmax(torch.matmul(tokens, tokens.permute(0, 2, 1)), dim=-1)",
        "back = back.squeeze(-1)",
        'scale_factor=2.0,\n            mode="bilinear",\n            align_corners=False,',
        'padded = F.pad(x, (1, 1, 1, 1), mode="reflect")',
        "gate = torch.sum(x, dim=(2, 3), keepdim=True)",
        "gate = gate.expand(-1, -1, 10, 10)",
        "both = torch.abs(torch.stack([padded, gate], dim=1))",
        "both = -both",
    ):
        assert line in source, f"{line!r} not in:\n{source}"
    unrolled = generate(checked, specialize=True).replace("'", '"')
    for line in (  # unrolled: a statement per node
        "permute = tokens.permute(0, 2, 1)",
        "scores = torch.matmul(tokens, permute)",
        "both = torch.stack([padded, gate], dim=1)",
    ):
        assert line in unrolled, f"{line!r} not in:\n{unrolled}"
    symbolic = tmp_path / "resize.arch"
    symbolic.write_text(textwrap.dedent(SYMBOLIC_SPEC), encoding="utf-8")
    source = generate(archspec.check(str(symbolic)))
    assert "F.interpolate(y, size=(x.size(2), x.size(3)))" in source, source


def test_abs_of_numbers_stays_the_builtin():
    source = "model M {\n input x: [N, 3]\n y = x -> abs() -> Linear(3, abs(-4))\n return y\n}\n"
    checked = archspec.check_text(source).model()
    assert checked.output_shapes == [(N, 4)]


def test_docs_example_checks_clean_and_runs(tmp_path):
    """docs/language.md's "Tensor ops" example: no findings, and torch agrees on every shape."""
    from conftest import ROOT

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split("\n## Tensor ops\n", 1)[1]
    example = section.split("```arch\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.arch"
    path.write_text(example, encoding="utf-8")
    assert archspec.check(str(path)).diagnostics == []
    model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename, sizes={"H": 8, "W": 12})
    assert shape_disagreements(checked, real, sizes={"H": 8, "W": 12}) == []
