"""Symbolic dims (archspec.core.dims): canonical forms, exactness against plain integer arithmetic,
guards recorded at hints, and what refuses to be symbolic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.core.dims import (
    Floor,
    Sizing,
    Sym,
    SymbolicError,
    evaluate,
    python_source,
    simplify,
    substitute,
)

H, W, N = Sym.named("H"), Sym.named("W"), Sym.named("N")


# ---------------------------------------------------------------- canonical forms


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda: (H - 1) // 2 + 1, "⌈H/2⌉"),  # conv 7×7 stride 2 padding 3
        (lambda: ((H + 1) // 2 - 1) // 2 + 1, "⌈H/4⌉"),  # then max pool 3×3 stride 2 padding 1
        (lambda: (H // 2) // 2, "⌊H/4⌋"),
        (lambda: 2 * (H // 4), "2·⌊H/4⌋"),
        (lambda: (2 * H + 2) // 4, "⌈H/2⌉"),  # common factor cancelled
        (lambda: (4 * H + 3) // 2, "2·H + 1"),  # whole part taken out
        (lambda: (H + 6 - 7) // 2 + 1 - (H + 1) // 2, "0"),
        (lambda: H % 2, "H − 2·⌊H/2⌋"),
        (lambda: 64 * (H // 4) * (W // 4), "64·⌊H/4⌋·⌊W/4⌋"),
        (lambda: N * 8, "8·N"),
        (lambda: H - 3, "H − 3"),
        (lambda: 3 - H, "−H + 3"),
    ],
)
def test_canonical_text(build, text):
    assert str(build()) == text


def test_equal_expressions_built_differently_are_equal_and_hash_alike():
    a = ((H + 1) // 2 + 1) // 2
    b = (H + 3) // 4
    assert a == b and hash(a) == hash(b)
    assert isinstance(a.terms[0][0][0], Floor)


def test_floor_by_one_and_constant_results():
    assert H // 1 is H
    assert (H - H) == 0
    assert (2 * H) // 2 == H


# ---------------------------------------------------------------- exactness


def _expressions(depth: int = 4):
    leaves = st.sampled_from(["H", "W"]) | st.integers(-8, 8)
    return st.recursive(
        leaves,
        lambda inner: (
            st.tuples(st.sampled_from(["+", "-", "*", "//", "%"]), inner, inner)
            | st.tuples(st.just("//k"), inner, st.integers(1, 9))
            | st.tuples(st.just("*k"), inner, st.integers(-4, 4))
        ),
        max_leaves=depth * 3,
    )


def _build(tree, values: dict[str, int] | None):
    """The tree as a Sym (values None) or as a number (plain Python ints). Division is by a
    constant only, as in shape rules: the divisor is the right side's value at H = W = 1, folded
    to 1..7, the same on both sides."""
    if isinstance(tree, str):
        return values[tree] if values is not None else Sym.named(tree)
    if isinstance(tree, int):
        return tree
    op, left, right = tree
    a = _build(left, values)
    if op == "//k":
        return a // right
    if op == "*k":
        return a * right
    if op in ("//", "%"):
        divisor = abs(_build(right, {"H": 1, "W": 1})) % 7 + 1
        return a // divisor if op == "//" else a % divisor
    b = _build(right, values)
    return a + b if op == "+" else a - b if op == "-" else a * b


@settings(max_examples=400, deadline=None)
@given(_expressions(), st.integers(-50, 300), st.integers(-50, 300))
def test_symbolic_arithmetic_is_exact(tree, h, w):
    symbolic = _build(tree, None)
    values = {"H": h, "W": w}
    assert evaluate(symbolic, values) == _build(tree, values)
    # The compiled form (used to evaluate guards fast) agrees too.
    source = python_source(symbolic, {"H": "h", "W": "w"})
    assert eval(source, {"h": h, "w": w}) == _build(tree, values)  # noqa: S307
    # And substituting one symbol, then the other, gives the same number.
    partial = substitute(symbolic, {"H": h})
    assert evaluate(partial, {"W": w}) == _build(tree, values)


# ---------------------------------------------------------------- guards


def test_comparisons_are_decided_at_the_hints_and_recorded():
    with Sizing({"H": 64}) as sizing:
        assert (H // 2) >= 3
        assert not (H < 7)
        assert (H // 4) * 4 == H
        assert bool(H - 64) is False
        assert (H // 2) >= 3  # asked twice, recorded once
    relations = [(str(g.expr), g.relation, g.holds) for g in sizing.guards]
    assert relations == [
        ("−⌊H/2⌋ + 3", "<=", True),
        ("H − 7", "<", False),
        ("−H + 4·⌊H/4⌋", "==", True),
        ("H − 64", "==", True),
    ]


def test_symbols_without_hints_compare_structurally_or_refuse():
    with Sizing({"H": 64}):
        assert (N == N) and not (N == H) and N != 3
        with pytest.raises(SymbolicError):
            _ = N < 3
    with pytest.raises(SymbolicError):
        _ = H < 3  # no sizing at all: nobody may decide


@pytest.mark.parametrize(
    "operation",
    [
        lambda: int(H),
        lambda: float(H),
        lambda: [0, 1][H],
        lambda: H * 1.5,
        lambda: H / 2,
        lambda: 2 // H,
        lambda: H // W,
        lambda: H // 0,
        lambda: H**-1,
    ],
)
def test_no_exact_meaning_is_a_symbolic_error(operation):
    with pytest.raises(SymbolicError):
        operation()


def test_integral_float_factors_are_exact():
    assert H // 2.0 == H // 2


# ---------------------------------------------------------------- display under congruences


def test_simplify_under_congruences():
    facts = {"H": (16, 0), "W": (2, 1)}
    assert str(simplify(2 * (H // 16), facts)) == "H/8"
    assert str(simplify((W + 1) // 2, facts)) == "(W + 1)/2"
    assert str(simplify(H // 3, facts)) == "⌊H/3⌋"  # 3 does not divide 16: kept
    assert evaluate(simplify(2 * (H // 16) + 1, facts), {"H": 48}) == 7
