"""Closed forms of one-symbol size expressions (archspec.shapes.closed_form) and the bitset sets of
sizes (archspec.shapes.value_sets), against plain evaluation size by size."""

from __future__ import annotations

import random

import pytest

from archspec.core.dims import Sym, evaluate
from archspec.shapes.closed_form import Forms, solve_guard
from archspec.shapes.value_sets import ValueSet

L = Sym.named("L")


def _random_expression(rng: random.Random, depth: int):
    """A size expression as layers build them: affine steps, floor divisions (strides, ceil
    modes), sums of two branches, and now and then a product of two sizes (C·h·h)."""
    if depth == 0:
        return L * rng.randint(1, 3) + rng.randint(-9, 9)
    inner = _random_expression(rng, depth - 1)
    choice = rng.random()
    if choice < 0.45:
        return (inner + rng.randint(-8, 8)) // rng.randint(2, 5) + rng.randint(0, 2)
    if choice < 0.7:
        return inner + _random_expression(rng, rng.randint(0, depth - 1)) // rng.randint(2, 4)
    if choice < 0.8:
        return inner * rng.randint(-3, 3) + 1
    if choice < 0.88:
        return inner * (L // rng.randint(2, 7))  # not quasi-affine: listed over the range
    if choice < 0.94:  # a remainder (view divisibility): periodic, no drift
        divisor = rng.randint(2, 9)
        return inner - divisor * (inner // divisor) - rng.randint(0, divisor - 1)
    return inner - rng.randint(1, 50)


def _domain(rng: random.Random) -> range:
    start = rng.randint(-5, 40)
    step = rng.choice([1, 1, 1, 2, 3, 16])
    return range(start, start + step * rng.randint(1, 3000), step)


@pytest.mark.parametrize("seed", range(300))
def test_guard_solutions_equal_evaluation_size_by_size(seed):
    rng = random.Random(seed)
    domain = _domain(rng)
    expression = _random_expression(rng, rng.randint(0, 5))
    forms = Forms("L", domain)
    form = forms.of(expression)
    values = [evaluate(expression, {"L": v}) for v in domain]
    assert form.values(len(domain)) == values
    for relation, test in (("<", int.__lt__), ("<=", int.__le__), ("==", int.__eq__)):
        for shift in (0, values[len(values) // 2]):  # a threshold inside the range as well
            shifted = forms.of(expression - shift) if isinstance(expression, Sym) else None
            if shifted is None:
                continue
            expected = [v for v, x in zip(domain, values) if test(x - shift, 0)]
            assert solve_guard(shifted, relation, domain).sorted() == expected, (
                expression,
                relation,
            )


def test_a_deep_stride_chain_stays_periodic():
    """Nine stride-2/3 stages: the form repeats every 2^7·3^2 sizes instead of listing a
    million values."""
    size = L
    for stride in (2, 2, 3, 2, 2, 3, 2, 2, 2):
        size = (size + 1) // stride
    domain = range(1, 1_000_001)
    form = Forms("L", domain).of(size)
    assert form.period == 2**7 * 9 and form.drift == 1
    accepted = solve_guard(Forms("L", domain).of(size - 7), "==", domain)
    assert accepted.sorted() == [v for v in range(1, 20_000) if evaluate(size, {"L": v}) == 7]


@pytest.mark.parametrize("seed", range(100))
def test_value_set_algebra_equals_python_sets(seed):
    rng = random.Random(seed)
    domain = _domain(rng)
    a = {v for v in domain if rng.random() < rng.random()}
    b = {v for v in domain if rng.random() < 0.3}
    sa, sb = ValueSet.of(domain, a), ValueSet.of(domain, b)
    assert (sa | sb).sorted() == sorted(a | b)
    assert (sa & sb).sorted() == sorted(a & b)
    assert (sa - sb).sorted() == sorted(a - b)
    assert list(sa) == sorted(a) and len(sa) == len(a) and bool(sa) == bool(a)
    probe = rng.choice(list(domain)) if rng.random() < 0.8 else domain.start - 1
    assert (probe in sa) == (probe in a)
    if a:
        assert (sa.first, sa.last) == (min(a), max(a))
        target = rng.randint(domain.start - 10, domain[-1] + 10)
        assert sa.nearest(target) == min(a, key=lambda v: (abs(v - target), -v))
    assert ValueSet.full(domain).sorted() == list(domain)
