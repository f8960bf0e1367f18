"""Element-wise `+ - * /` broadcast exactly as torch does (docs/language.md, "Element-wise
arithmetic: `+ - * /`"): the static shape of a tensor pair is torch.broadcast_shapes', a refusal
is E205 naming the dims, a symbolic size is decided exactly over its range (guards), numbers
may be operands, and the generated code computes what torch computes."""

from __future__ import annotations

import itertools
import random

import pytest

torch = pytest.importorskip("torch")

import archspec  # noqa: E402
from archspec.core.dims import Sizing, Sym, substitute  # noqa: E402
from archspec.core.dims import evaluate as value_at  # noqa: E402
from archspec.driver import check_text  # noqa: E402
from archspec.ops import REGISTRY, OpFailure  # noqa: E402
from archspec.ops.apply import bind, evaluate  # noqa: E402

pytestmark = pytest.mark.torch

OPS = ("add", "sub", "mul", "div")
VERBS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}
SYMBOLS = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def torch_shape(left, right):
    """torch's broadcast of two shapes, or None where torch refuses."""
    try:
        return tuple(torch.broadcast_shapes(tuple(left), tuple(right)))
    except RuntimeError:
        return None


def archspec_shape(name, left, right):
    """The op's static shape for two tensor operands, or None on its E205."""
    op = REGISTRY[name]
    try:
        return evaluate(op, bind(op, ["<tensor>", "<tensor>"], {}), [left, right]).shape
    except OpFailure as failure:
        assert failure.code == "E205", failure
        return None


def random_pair(rng: random.Random, sizes) -> tuple[tuple, tuple]:
    """Two shapes of rank 0..4; half the time the second is the first with dims set to 1 or
    leading dims dropped (the pairs that broadcast), else drawn on its own."""
    left = tuple(rng.choice(sizes) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.5:
        right = tuple(1 if rng.random() < 0.3 else d for d in left)[rng.randint(0, len(left)) :]
    else:
        right = tuple(rng.choice(sizes) for _ in range(rng.randint(0, 4)))
    return (left, right) if rng.random() < 0.5 else (right, left)


# ---------------------------------------------------------------- concrete shapes


def test_every_concrete_pair_broadcasts_as_torch_does():
    rng = random.Random(16)
    outcomes = set()
    for _ in range(600):
        left, right = random_pair(rng, [1, 2, 3])
        expected = torch_shape(left, right)
        outcomes.add(expected is None)
        for name in OPS:
            assert archspec_shape(name, left, right) == expected, (name, left, right)
    assert outcomes == {True, False}  # both refusals and results were drawn


@pytest.mark.parametrize("name", OPS)
def test_elementwise_ops_count_no_macs_or_parameters(name):
    op = REGISTRY[name]
    result = evaluate(op, bind(op, ["<tensor>", "<tensor>"], {}), [(2, 8, 4, 4), (2, 8, 1, 1)])
    assert (result.shape, result.macs, result.params) == ((2, 8, 4, 4), 0, 0)


# ---------------------------------------------------------------- symbolic shapes


def _on_path(guards, point: dict[str, int]) -> bool:
    """Whether every comparison a run recorded comes out at `point` as it did at the hints."""
    for guard in guards:
        value = value_at(guard.expr, point)
        truth = value == 0 if guard.relation == "==" else value < 0 if guard.relation == "<" \
            else value <= 0  # fmt: skip
        if truth != guard.holds:
            return False
    return True


def test_sized_symbols_are_decided_at_the_hints_and_guarded_exactly():
    """H and W (sizes with a range) are compared at the hints; at every other size where the
    recorded guards come out alike, torch gives the same answer and the same shape."""
    rng = random.Random(17)
    H, W = Sym.named("H"), Sym.named("W")
    grid = [dict(zip("HW", values)) for values in itertools.product(range(1, 5), repeat=2)]
    for _ in range(150):
        left, right = random_pair(rng, [1, 2, 3, H, W])
        hints = rng.choice(grid)
        with Sizing(hints) as sizing:
            shape = archspec_shape(rng.choice(OPS), left, right)
        for point in grid:
            if not _on_path(sizing.guards, point):
                continue
            at_point = [tuple(value_at(d, point) for d in s) for s in (left, right)]
            expected = torch_shape(*at_point)
            if shape is None:
                assert expected is None, (left, right, hints, point)
            else:
                assert tuple(value_at(d, point) for d in shape) == expected, (left, right, point)


def test_a_literal_one_broadcasts_a_symbol_without_a_guard():
    with Sizing({"H": 7}) as sizing:
        assert archspec_shape("mul", (2, Sym.named("H")), (1,)) == (2, Sym.named("H"))
    assert sizing.guards == []


def test_the_batch_symbol_broadcasts_only_with_itself_or_one():
    """N has no range: archspec accepts a pair only when torch accepts it for every N."""
    rng = random.Random(18)
    N = Sym.named("N")
    for _ in range(300):
        left, right = random_pair(rng, [1, 2, N])
        shape = archspec_shape("add", left, right)
        results = []
        for n in (1, 2, 3):
            at_n = [tuple(substitute(d, {"N": n}) for d in s) for s in (left, right)]
            results.append((n, torch_shape(*at_n)))
        if shape is None:
            assert any(expected is None for _, expected in results), (left, right)
        else:
            for n, expected in results:
                assert tuple(substitute(d, {"N": n}) for d in shape) == expected, (left, right, n)


def test_accepted_sizes_are_the_sizes_torch_broadcasts():
    spec = """
model Gate {
    input x: [N, 4, H in 1..16]
    input y: [N, 4, 5]
    return x * y
}

model Swapped {
    input x: [N, 4, H in 1..12, W in 1..12]
    input y: [N, 4, W in 1..12, H in 1..12]
    return x - y
}
"""
    result = check_text(spec, "sizes.arch")
    gate = result.model("Gate").sizes
    assert gate.accepted["H"] == [h for h in range(1, 17) if torch_shape((2, 4, h), (2, 4, 5))]
    assert gate.accepted["H"] == [1, 5]
    swapped = result.model("Swapped").sizes
    pairs = list(itertools.product(range(1, 13), repeat=2))
    for h, w in pairs:
        point = {"H": h, "W": w}
        assert swapped.accepts(point) == (torch_shape((2, 4, h, w), (2, 4, w, h)) is not None)
    assert swapped.accepted_count == 12 + 11 + 11  # H = W, or H = 1 ≠ W, or W = 1 ≠ H


# ---------------------------------------------------------------- refusals


def codes(text: str) -> list[str]:
    return sorted(d.code for d in check_text(text, "m.arch").diagnostics)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_a_mismatch_is_E205_naming_the_dims_and_their_sizes(symbol):
    spec = f"model M {{\n input x: [N, 3, L]\n input y: [N, 4, L]\n return x {symbol} y\n}}"
    (finding,) = check_text(spec, "m.arch").diagnostics
    assert finding.code == "E205"
    verb = VERBS[SYMBOLS[symbol]]
    assert finding.message == (
        f"cannot {verb} [N, 3, L] and [N, 4, L]: sizes 3 and 4 at dim 1 neither match nor are 1"
    )
    assert any("aligns shapes from the right" in note for note in finding.notes)
    assert finding.help


def test_a_shorter_shape_is_shown_as_torch_reads_it():
    spec = "model M {\n input x: [N, 3]\n input v: [4]\n return x * v\n}"
    (finding,) = check_text(spec, "m.arch").diagnostics
    assert finding.code == "E205"
    assert "sizes 3 and 4 at dim 1" in finding.message
    assert "[4] is read as [1, 4]" in finding.notes


@pytest.mark.parametrize(
    "expression",
    ["x // 2", "x % 2", "x ** 2", 'x + "a"', "x * [1, 2]", "add(1, 2)"],
)
def test_what_tensors_do_not_support_is_E108(expression):
    assert "E108" in codes(f"model M {{\n input x: [N, 4]\n return {expression}\n}}")


@pytest.mark.parametrize(
    "expression",
    ["x * 0.5", "1 - x", "-x", "x / 8", "2 / x", "+x", "x -> mul(2)", "sub(1, x)", "x + 1e-5"],
)
def test_numbers_are_operands(expression):
    result = check_text(f"model M {{\n input x: [N, 4]\n return {expression}\n}}", "m.arch")
    assert result.diagnostics == []
    assert [str(d) for d in result.model().output_shapes[0]] == ["N", "4"]


# ---------------------------------------------------------------- generated code

ARITHMETIC = """
model Arithmetic {
    input x: [N, 8, 5, 5]
    input v: [8]
    gate = x -> adaptive_avg_pool2d(1) -> sigmoid()
    scaled = x * gate
    flipped = 1 - scaled
    mixed = -flipped / 8 + x * 0.5
    centred = mixed - gate
    channels = (x -> flatten(2) -> mean(2)) + v
    ratio = 2 / (x -> sigmoid()) -> mul(3)
    return centred, channels, ratio
}
"""


def test_generated_code_writes_the_operators_and_computes_what_torch_computes(tmp_path):
    path = tmp_path / "arithmetic.arch"
    path.write_text(ARITHMETIC, encoding="utf-8")
    source = archspec.compile_source(path)
    for line in ("scaled = x * gate", "flipped = 1 - scaled", "/ 8", "x * 0.5", "2 / ", "* 3"):
        assert line in source, line
    model = archspec.build(path).eval()
    torch.manual_seed(0)
    x, v = torch.randn(3, 8, 5, 5), torch.randn(8)
    gate = torch.sigmoid(torch.nn.functional.adaptive_avg_pool2d(x, 1))
    flipped = 1 - x * gate
    expected = (
        -flipped / 8 + x * 0.5 - gate,
        torch.flatten(x, 2).mean(2) + v,
        2 / torch.sigmoid(x) * 3,
    )
    with torch.no_grad():
        actual = model(x, v)
    checked = archspec.check(str(path)).model()
    for got, want, static in zip(actual, expected, checked.output_shapes):
        assert got.shape == want.shape == tuple(3 if isinstance(d, Sym) else d for d in static)
        assert torch.allclose(got, want, atol=1e-6)
