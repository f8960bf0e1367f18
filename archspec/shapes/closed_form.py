"""Closed forms of size expressions in one symbol, and the sizes where a guard holds.

Every size a chain of convolutions, pools and views computes from an input length L is built from
L with `+`, products by constants and floor division by constants (`⌊(L + 2p − k)/s⌋ + 1`). Such
a quasi-affine function repeats itself: there are a period P and a drift D with
f(L + P) = f(L) + D for every L. So f is known on a whole range from its values on one period,
and a guard `f < 0` (or `≤`, `=`) holds, on each residue class L ≡ r (mod P), for a prefix, a
suffix or one point of the class: an interval found by one division per residue. A range of a
million sizes is classified with P steps, whatever its length.

Expressions are DAGs (a layer's size feeds every later layer twice or more); forms are memoised
per atom, so shared subexpressions are computed once. Where an expression is not quasi-affine
(a product of two sizes: C·h·h) or its period exceeds the range, its values are listed over the
range instead, which is exact too.
"""

from __future__ import annotations

import math

from archspec.core.dims import Dim, Floor, Sym
from archspec.shapes.value_sets import ValueSet


class Form:
    """f(i) = table[i mod period] + drift·⌊i / period⌋ over the indices i of a range."""

    __slots__ = ("period", "drift", "table")

    def __init__(self, period: int, drift: int, table: list[int]):
        self.period = period
        self.drift = drift
        self.table = table

    def at(self, index: int) -> int:
        quotient, remainder = divmod(index, self.period)
        return self.table[remainder] + self.drift * quotient

    def values(self, count: int) -> list[int]:
        """f at the first `count` indices."""
        period, drift, table = self.period, self.drift, self.table
        if period >= count:
            return table[:count]
        return [table[i % period] + drift * (i // period) for i in range(count)]

    @property
    def constant(self) -> bool:
        return self.period == 1 and self.drift == 0


class Forms:
    """The forms of expressions in one symbol over the indices of its range (memoised)."""

    def __init__(self, name: str, domain: range):
        self.name = name
        self.domain = domain
        self.count = len(domain)
        self._atoms: dict = {}
        self._sums: dict = {}

    def of(self, value: Dim) -> Form:
        if not isinstance(value, Sym):
            return Form(1, 0, [int(value)])
        found = self._sums.get(value.terms)
        if found is None:
            found = Form(1, 0, [0])
            for monomial, coefficient in value.terms:
                term = Form(1, 0, [coefficient])
                for atom in monomial:
                    term = self._multiply(term, self._atom(atom))
                found = self._add(found, term)
            self._sums[value.terms] = found
        return found

    def _atom(self, atom) -> Form:
        found = self._atoms.get(atom)
        if found is None:
            if isinstance(atom, Floor):
                found = self._floor(self.of(atom.inner), atom.divisor)
            elif atom == self.name:
                found = Form(1, self.domain.step, [self.domain.start])
            else:
                raise ValueError(f"{atom} is not the symbol {self.name}")
            self._atoms[atom] = found
        return found

    # ------------------------------------------------------------ arithmetic on forms
    def _listed(self, form: Form) -> Form:
        """The form as its values over the whole range (exact for indices in range only)."""
        return Form(self.count, 0, form.values(self.count))

    def _add(self, left: Form, right: Form) -> Form:
        period = math.lcm(left.period, right.period)
        if period >= self.count:
            left, right = self._listed(left), self._listed(right)
            period = self.count
        drift = left.drift * (period // left.period) + right.drift * (period // right.period)
        table = [a + b for a, b in zip(_spread(left, period), _spread(right, period))]
        return Form(period, drift, table)

    def _multiply(self, left: Form, right: Form) -> Form:
        for constant, other in ((left, right), (right, left)):
            if constant.constant:
                factor = constant.table[0]
                return Form(other.period, other.drift * factor, [v * factor for v in other.table])
        # Two sizes multiplied (C·h·h): no longer quasi-affine; list the values.
        left, right = self._listed(left), self._listed(right)
        return Form(self.count, 0, [a * b for a, b in zip(left.table, right.table)])

    def _floor(self, inner: Form, divisor: int) -> Form:
        # f(i + P) = f(i) + D, so ⌊f/k⌋ repeats after P·k/gcd(D, k) with drift D·(that/P)/k.
        if inner.drift:
            period = inner.period * (divisor // math.gcd(inner.drift, divisor))
        else:
            period = inner.period
        if period >= self.count:
            inner, period = self._listed(inner), self.count
        drift = inner.drift * (period // inner.period) // divisor
        return Form(period, drift, [v // divisor for v in _spread(inner, period)])


def _spread(form: Form, period: int) -> list[int]:
    """The form's values over its first `period` indices (a multiple of its own period)."""
    if period == form.period:
        return form.table
    return form.values(period)


_TESTS = {"<": int.__lt__, "<=": int.__le__, "==": int.__eq__}


def solve_guard(form: Form, relation: str, domain: range) -> ValueSet:
    """The values of `domain` where `form relation 0` holds."""
    count = len(domain)
    period, drift, table = form.period, form.drift, form.table
    test = _TESTS[relation]
    if period >= count:  # listed values
        return ValueSet.from_flags(domain, bytes(49 if test(v, 0) else 48 for v in table[:count]))
    if drift == 0:  # one period's pattern, repeated by doubling
        pattern = int(bytes(49 if test(v, 0) else 48 for v in reversed(table)), 2)
        width = period
        while width < count:
            pattern |= pattern << width
            width *= 2
        return ValueSet(domain, pattern & ((1 << count) - 1))
    return ValueSet(domain, _interval_bits(table, drift, relation, period, count))


def _interval_bits(table: list[int], drift: int, relation: str, period: int, count: int) -> int:
    """The bitset of a guard with drift: on each residue class an interval of indices (the values
    are monotone along it). Between the latest interval start and the earliest interval end every
    residue holds: that core is written as one run of ones; only the ragged edges around it are
    written residue by residue, so a range of millions costs about two periods of work."""
    intervals = []  # (first index, last index, residue)
    for residue in range(period):
        steps = -(-(count - residue) // period)  # indices residue + period·q, 0 ≤ q < steps
        low, high = _solutions(table[residue], drift, relation, steps)
        if low < high:
            intervals.append((residue + period * low, residue + period * (high - 1), residue))
    if not intervals:
        return 0
    first = min(i[0] for i in intervals)
    last = max(i[1] for i in intervals)
    core_first = max(i[0] for i in intervals)
    core_last = min(i[1] for i in intervals)
    if len(intervals) < period or core_last - core_first < period:
        return _ragged(intervals, period, first, last)
    core = ((1 << (core_last + 1)) - 1) ^ ((1 << core_first) - 1)
    return (
        core
        | _ragged(intervals, period, first, core_first - 1)
        | _ragged(intervals, period, core_last + 1, last)
    )


def _ragged(intervals, period: int, low: int, high: int) -> int:
    """The bits of the intervals within indices low..high, written residue by residue."""
    if low > high:
        return 0
    flags = bytearray(b"0") * (high - low + 1)
    for first, last, residue in intervals:
        first = max(first, low + (residue - low) % period)
        last = min(last, high - (high - residue) % period)
        if first <= last:
            flags[first - low : last - low + 1 : period] = b"1" * ((last - first) // period + 1)
    return int(flags[::-1], 2) << low


def _solutions(start: int, drift: int, relation: str, steps: int) -> tuple[int, int]:
    """The q in [0, steps) with `start + drift·q relation 0`, as a half-open interval (drift ≠ 0:
    the values are strictly monotone in q)."""
    if relation == "==":
        if start % drift:
            return 0, 0
        q = -start // drift
        return (q, q + 1) if 0 <= q < steps else (0, 0)
    bound = 0 if relation == "<" else 1  # v ≤ 0 ⇔ v < 1 for integers
    if drift > 0:  # start + drift·q < bound ⇔ q < (bound − start)/drift
        return 0, max(0, min(steps, -((start - bound) // drift)))
    # drift < 0: q > (start − bound)/|drift|
    low = (start - bound) // -drift + 1
    return max(0, low), steps if low < steps else 0
