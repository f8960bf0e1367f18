"""Dimensions: plain ints, or symbolic integer expressions such as the batch `N` or an image height
`H` and what the layers make of it (`⌈H/2⌉`, `64·⌊(H+3)/4⌋·⌊(W+3)/4⌋`).

A `Sym` is a polynomial with int coefficients over atoms; an atom is a symbol name or a floor
division `Floor(p, k)` of a polynomial by a positive int. Construction keeps one canonical form
(coefficients inside a floor reduced modulo its divisor, common factors cancelled, nested floors
merged), so equal expressions built along different paths compare and print alike.

Comparisons are where shapes constrain sizes. While a `Sizing` is active (shape inference of a
model whose input sizes are symbols with bounds), every comparison that depends on a sized symbol is
decided at that run's hint values and recorded as a `Guard`: the constraint under which the run's
decision, and so every shape it computed, holds (the guards torch's own symbolic shapes collect).
Symbols without a hint (the batch `N`) are never compared: ordering raises `SymbolicError` and
equality is structural. Anything that needs a concrete number (`int()`, a float factor, indexing)
raises `SymbolicError` too, which the op layer reports as "needs a numeric size".
"""

from __future__ import annotations

import math
import numbers

from archspec.core.records import record


class SymbolicError(TypeError):
    """An operation that has no exact symbolic meaning (int(), a float factor, N < 3)."""


# ---------------------------------------------------------------- atoms


class Floor:
    """⌊inner / divisor⌋ in canonical form: built only by `Sym.__floordiv__`."""

    __slots__ = ("inner", "divisor", "key", "_hash")

    def __init__(self, inner: Sym, divisor: int):
        self.inner = inner
        self.divisor = divisor
        self.key = (1, inner.key, divisor)
        self._hash = hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Floor) and self.key == other.key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Floor({self.inner!r}, {self.divisor})"

    def symbols(self) -> frozenset[str]:
        return self.inner.symbols()

    def __str__(self) -> str:
        inner, k = self.inner, self.divisor
        constant = inner.constant
        rest = inner - constant
        # ⌊(x + k − 1)/k⌋ = ⌈x/k⌉: what strided layers with "same"-style padding produce.
        if constant == k - 1 and isinstance(rest, Sym) and rest._is_single_atom():
            return f"⌈{rest}/{k}⌉"
        if isinstance(inner, Sym) and inner._is_single_atom():
            return f"⌊{inner}/{k}⌋"
        return f"⌊({inner._compact()})/{k}⌋"


Atom = str | Floor


def _atom_key(atom: Atom) -> tuple:
    return (0, atom) if isinstance(atom, str) else atom.key


def _monomial_key(monomial: tuple[Atom, ...]) -> tuple:
    return tuple(_atom_key(a) for a in monomial)


# ---------------------------------------------------------------- expressions


@record(frozen=True, eq=False)
class Sym:
    """A polynomial over atoms: `terms` pairs sorted monomials (atom tuples) with coefficients."""

    terms: tuple[tuple[tuple[Atom, ...], int], ...]

    @staticmethod
    def named(atom: Atom) -> Sym:
        return Sym((((atom,), 1),))

    @staticmethod
    def _make(terms: dict[tuple[Atom, ...], int]) -> Dim:
        cleaned = [(k, v) for k, v in terms.items() if v != 0]
        if not cleaned:
            return 0
        if len(cleaned) == 1 and cleaned[0][0] == ():
            value = cleaned[0][1]
            return value if type(value) is int else _whole(value)
        cleaned.sort(key=lambda item: _monomial_key(item[0]))
        return Sym(tuple(cleaned))

    @property
    def key(self) -> tuple:
        return tuple((_monomial_key(m), c) for m, c in self.terms)

    def __hash__(self) -> int:
        return hash(self.terms)

    def _as_terms(self) -> dict[tuple[Atom, ...], int]:
        return dict(self.terms)

    @staticmethod
    def _terms_of(value: Dim) -> dict[tuple[Atom, ...], int]:
        if isinstance(value, Sym):
            return value._as_terms()
        if isinstance(value, numbers.Rational) and not isinstance(value, int):
            return {(): value}  # a Fraction: shapes simplified under congruences
        return {(): _exact_int(value)}

    @property
    def constant(self) -> int:
        return next((c for m, c in self.terms if m == ()), 0)

    def symbols(self) -> frozenset[str]:
        names: set[str] = set()
        for monomial, _ in self.terms:
            for atom in monomial:
                names.update((atom,) if isinstance(atom, str) else atom.symbols())
        return frozenset(names)

    def atoms(self) -> set[Atom]:
        return {atom for monomial, _ in self.terms for atom in monomial}

    def _is_single_atom(self) -> bool:
        return len(self.terms) == 1 and self.terms[0][1] == 1 and len(self.terms[0][0]) == 1

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other: Dim) -> Dim:
        if not isinstance(other, (Sym, numbers.Rational)):
            return _not_exact(other, "add")
        terms = self._as_terms()
        for key, coeff in Sym._terms_of(other).items():
            terms[key] = terms.get(key, 0) + coeff
        return Sym._make(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Sym._make({k: -v for k, v in self.terms})

    def __pos__(self) -> Sym:
        return self

    def __sub__(self, other: Dim) -> Dim:
        if not isinstance(other, (Sym, int)):
            return _not_exact(other, "subtract")
        return self + (-other)

    def __rsub__(self, other: Dim) -> Dim:
        if not isinstance(other, (Sym, int)):
            return _not_exact(other, "subtract")
        return (-self) + other

    def __mul__(self, other: Dim) -> Dim:
        if not isinstance(other, (Sym, numbers.Rational)):
            return _not_exact(other, "multiply")
        result: dict[tuple[Atom, ...], int] = {}
        for k1, v1 in self.terms:
            for k2, v2 in Sym._terms_of(other).items():
                key = tuple(sorted(k1 + k2, key=_atom_key))
                result[key] = result.get(key, 0) + v1 * v2
        return Sym._make(result)

    __rmul__ = __mul__

    def __floordiv__(self, divisor: Dim) -> Dim:
        if isinstance(divisor, bool) or not isinstance(divisor, int):
            if isinstance(divisor, float) and divisor.is_integer():
                divisor = int(divisor)
            else:
                raise SymbolicError(f"cannot divide {self} by {divisor} exactly")
        if divisor <= 0:
            raise SymbolicError(f"cannot floor-divide {self} by {divisor}")
        return _floor_div(self, divisor)

    def __mod__(self, divisor: Dim) -> Dim:
        return self - divisor * (self // divisor)

    def __rfloordiv__(self, other):
        raise SymbolicError(f"cannot divide {other} by the symbolic size {self}")

    def __rmod__(self, other):
        raise SymbolicError(f"cannot take {other} modulo the symbolic size {self}")

    def __truediv__(self, other):
        raise SymbolicError(f"cannot divide the symbolic size {self} by {other} exactly")

    def __rtruediv__(self, other):
        raise SymbolicError(f"cannot divide {other} by the symbolic size {self}")

    def __pow__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other >= 0:
            result: Dim = 1
            for _ in range(other):
                result = self * result
            return result
        raise SymbolicError(f"cannot raise {self} to {other}")

    def __int__(self):
        raise SymbolicError(f"the size {self} is symbolic, not a number")

    __index__ = __int__

    def __float__(self):
        raise SymbolicError(f"the size {self} is symbolic, not a number")

    # ------------------------------------------------------------ comparisons
    def __eq__(self, other) -> bool:
        if isinstance(other, Sym) and self.terms == other.terms:
            return True
        if not isinstance(other, (Sym, int)) or isinstance(other, bool):
            return False
        difference = self - other
        if not isinstance(difference, Sym):
            return difference == 0
        sizing = _ACTIVE
        if sizing is None:
            return False
        if sizing.decides(difference):
            return sizing.decide(difference, "==")
        # With symbols that have no hints (the batch N): equal for every N when each coefficient
        # of N's powers is zero, the sized ones decided at the hints and guarded
        # (4·N·(⌈L/2⌉ − 1) = 32·N where ⌈L/2⌉ = 9).
        for coefficient in _by_unsized_part(difference, sizing).values():
            if not isinstance(coefficient, Sym):
                if coefficient != 0:
                    return False
            elif not sizing.decides(coefficient) or not sizing.decide(coefficient, "=="):
                return False  # a coefficient in N alone: the terms differ structurally
        return True

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: Dim) -> bool:
        return _order(self - other, "<", self, other)

    def __le__(self, other: Dim) -> bool:
        return _order(self - other, "<=", self, other)

    def __gt__(self, other: Dim) -> bool:
        return _order(other - self, "<", self, other)

    def __ge__(self, other: Dim) -> bool:
        return _order(other - self, "<=", self, other)

    def __bool__(self) -> bool:
        return self != 0

    # ------------------------------------------------------------ text
    def __str__(self) -> str:
        return self._render(" + ", " − ")

    def _compact(self) -> str:
        return self._render("+", "−")

    def _render(self, plus: str, minus: str) -> str:
        common = math.lcm(*(getattr(c, "denominator", 1) for _, c in self.terms))
        if common != 1 and len(self.terms) > 1:  # (H+1)/2 rather than H/2 + 1/2
            whole = Sym._make({m: c * common for m, c in self.terms})
            return f"({whole._render(plus, minus)})/{common}"
        ordered = [t for t in self.terms if t[0] != ()] + [t for t in self.terms if t[0] == ()]
        text = ""
        for index, (monomial, coeff) in enumerate(ordered):
            magnitude = abs(coeff)
            # Fractions appear only in shapes simplified under known congruences (H/4).
            numerator = getattr(magnitude, "numerator", magnitude)
            denominator = getattr(magnitude, "denominator", 1)
            factors = ([str(numerator)] if numerator != 1 or not monomial else []) + [
                str(atom) for atom in monomial
            ]
            body = "·".join(factors) + (f"/{denominator}" if denominator != 1 else "")
            if index == 0:
                text = ("−" if coeff < 0 else "") + body
            else:
                text += (minus if coeff < 0 else plus) + body
        return text

    def __repr__(self) -> str:
        return f"Sym({self})"


def _exact_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SymbolicError(f"cannot combine a symbolic size with {value!r}")
    return value


def _not_exact(other, verb: str):
    if isinstance(other, float) and other.is_integer():
        raise SymbolicError(f"cannot {verb} the float {other} and a symbolic size")
    if isinstance(other, float):
        raise SymbolicError(f"cannot {verb} the float {other} and a symbolic size exactly")
    return NotImplemented


def _floor_div(value: Sym, k: int) -> Dim:
    if k == 1:
        return value
    whole: dict[tuple[Atom, ...], int] = {}
    rest: dict[tuple[Atom, ...], int] = {}
    for monomial, coeff in value.terms:
        quotient, remainder = divmod(coeff, k)
        if quotient:
            whole[monomial] = quotient
        if remainder:
            rest[monomial] = remainder
    base = Sym._make(whole)
    remainder_poly = Sym._make(rest)
    if not isinstance(remainder_poly, Sym):
        return base  # 0 ≤ constant remainder < k adds nothing
    # Cancel a common factor of the remainder's coefficients and the divisor.
    common = k
    for _, coeff in remainder_poly.terms:
        common = math.gcd(common, coeff)
    if common > 1:
        remainder_poly = Sym._make({m: c // common for m, c in remainder_poly.terms})
        k //= common
        if k == 1:
            return base + remainder_poly
    # ⌊(⌊x/m⌋ + c)/k⌋ = ⌊(x + c·m)/(m·k)⌋: chains of strided layers stay one floor deep.
    variable = [(m, c) for m, c in remainder_poly.terms if m != ()]
    if len(variable) == 1 and variable[0][1] == 1 and len(variable[0][0]) == 1:
        atom = variable[0][0][0]
        if isinstance(atom, Floor):
            constant = remainder_poly.constant
            return base + _floor_div(atom.inner + constant * atom.divisor, atom.divisor * k)
    return base + Sym.named(Floor(remainder_poly, k))


def _order(difference: Dim, relation: str, left, right) -> bool:
    """left ? right as `difference` (< or <=) 0, decided at the hints and recorded."""
    if not isinstance(difference, Sym):
        if not isinstance(difference, int):
            raise SymbolicError(f"cannot compare {left} with {right!r}")
        return difference < 0 if relation == "<" else difference <= 0
    sizing = _ACTIVE
    if sizing is None or not sizing.decides(difference):
        raise SymbolicError(f"cannot compare {left} with {right}: {difference} is unknown")
    return sizing.decide(difference, relation)


# ---------------------------------------------------------------- evaluation


def evaluate(value: Dim, values: dict[str, int]) -> int:
    """The number a dim stands for at concrete symbol values (KeyError for a missing one)."""
    if not isinstance(value, Sym):
        return value
    total = 0
    for monomial, coeff in value.terms:
        term = coeff
        for atom in monomial:
            term *= (
                values[atom]
                if isinstance(atom, str)
                else evaluate(atom.inner, values) // (atom.divisor)
            )
        total += term
    return total if type(total) is int else _whole(total)


def _whole(value) -> int:
    if value.denominator != 1:
        raise SymbolicError(f"{value} is not a whole number")
    return int(value)


def substitute(value: Dim, values: dict[str, int]) -> Dim:
    """The dim with the given symbols replaced by numbers (others, like N, stay symbols)."""
    if not isinstance(value, Sym) or not (value.symbols() & values.keys()):
        return value
    total: Dim = 0
    for monomial, coeff in value.terms:
        term: Dim = coeff
        for atom in monomial:
            if isinstance(atom, str):
                factor = values.get(atom, Sym.named(atom))
            else:
                factor = substitute(atom.inner, values) // atom.divisor
            term = factor * term if isinstance(factor, Sym) else term * factor
        total = total + term
    return total


def simplify(value: Dim, congruences: dict[str, tuple[int, int]]) -> Dim:
    """The dim rewritten under `congruences` (symbol -> (period, residue): H ≡ r mod p), which
    hold for every size a model accepts: ⌊(a·H + c)/k⌋ is exactly (a·H + c − m)/k when k
    divides a·p. So a U-Net's 2·⌊H/16⌋ reads H/8 for H a multiple of 16."""
    if not isinstance(value, Sym) or not congruences:
        return value
    total: Dim = 0
    for monomial, coeff in value.terms:
        term: Dim = coeff
        for atom in monomial:
            factor = Sym.named(atom)
            if isinstance(atom, Floor):
                factor = _exact_floor(atom, congruences) or factor
            term = factor * term
        total = total + term
    return total


def _exact_floor(atom: Floor, congruences: dict[str, tuple[int, int]]) -> Dim | None:
    inner, k = atom.inner, atom.divisor
    variable = [(m, c) for m, c in inner.terms if m != ()]
    if len(variable) != 1 or len(variable[0][0]) != 1 or not isinstance(variable[0][0][0], str):
        return None
    ((name,), a), c = variable[0], inner.constant
    if name not in congruences:
        return None
    period, residue = congruences[name]
    if (a * period) % k:
        return None
    from fractions import Fraction  # only here: keeps the check path's imports light

    remainder = (a * residue + c) % k
    return (inner - remainder) * Fraction(1, k)


def python_source(value: Dim, names: dict[str, str]) -> str:
    """The dim as a Python int expression over the variables `names` maps symbols to."""
    if not isinstance(value, Sym):
        return str(value)
    parts = []
    for monomial, coeff in value.terms:
        factors = [str(coeff)]
        for atom in monomial:
            if isinstance(atom, str):
                factors.append(names[atom])
            else:
                factors.append(f"(({python_source(atom.inner, names)})//{atom.divisor})")
        parts.append("*".join(factors))
    return "(" + " + ".join(parts) + ")"


# ---------------------------------------------------------------- sizing: hints and guards


@record(frozen=True)
class Guard:
    """`expr == 0`, `expr < 0` or `expr <= 0`, and what it was at the hints (`holds`)."""

    expr: Sym
    relation: str
    holds: bool
    node: str | None  # the graph node whose rule asked


class Sizing:
    """The hint values and the guards of one symbolic inference run."""

    def __init__(self, hints: dict[str, int]):
        self.hints = dict(hints)
        self.guards: list[Guard] = []
        self.node: str | None = None
        self._seen: set[tuple] = set()

    def decides(self, expr: Sym) -> bool:
        return expr.symbols() <= self.hints.keys()

    def decide(self, expr: Sym, relation: str) -> bool:
        value = evaluate(expr, self.hints)
        holds = value == 0 if relation == "==" else value < 0 if relation == "<" else value <= 0
        key = (expr.terms, relation)
        if key not in self._seen:
            self._seen.add(key)
            self.guards.append(Guard(expr, relation, holds, self.node))
        return holds

    def __enter__(self) -> Sizing:
        global _ACTIVE
        self._outer = _ACTIVE
        _ACTIVE = self
        return self

    def __exit__(self, *exc) -> None:
        global _ACTIVE
        _ACTIVE = self._outer


_ACTIVE: Sizing | None = None


def active_sizing() -> Sizing | None:
    return _ACTIVE


# ---------------------------------------------------------------- exact division (a view's -1)


def exact_quotient(total: Dim, divisor: Dim) -> Dim | None:
    """total / divisor when it is a whole number, else None: the -1 of `view(-1, 4, H // 2)`.

    A division of polynomials (4·N·H by 4·H) holds for every value of the symbols. Any other,
    while a Sizing is active, is taken at the hints and guarded, like a comparison: `[N, 4, ⌈H/2⌉]`
    viewed as `(-1, 4, ⌊H/2⌋)` divides for every even H (and H = 3), and the guards say so, where
    a polynomial test alone would reject every H."""
    quotient = _polynomial_quotient(total, divisor)
    if quotient is None and _ACTIVE is not None:
        quotient = _quotient_at_hints(_ACTIVE, total, divisor)
    return quotient


def _polynomial_quotient(total: Dim, divisor: Dim) -> Dim | None:
    """total / divisor for every value of the symbols, when the divisor is a single term (64,
    N·8) that divides each term of total."""
    if isinstance(divisor, Sym):
        if len(divisor.terms) != 1:
            return None
        ((atoms, coeff),) = divisor.terms
    else:
        atoms, coeff = (), divisor
    terms = total.terms if isinstance(total, Sym) else (((), total),)
    result: Dim = 0
    for term_atoms, term_coeff in terms:
        rest = _without(term_atoms, atoms)
        if rest is None or term_coeff % coeff:
            return None
        result = result + product([term_coeff // coeff, *rest])
    return result


def _without(monomial: tuple[Atom, ...], factor: tuple[Atom, ...]) -> list[Sym] | None:
    """The atoms of `monomial` left after taking out those of `factor`, or None."""
    rest = list(monomial)
    for atom in factor:
        if atom not in rest:
            return None
        rest.remove(atom)
    return [Sym.named(atom) for atom in rest]


def _quotient_at_hints(sizing: Sizing, total: Dim, divisor: Dim) -> Dim | None:
    """total / divisor where the sized symbols keep their hint values' ratio (guarded), and the
    others (the batch N) divide as polynomials: [N, 4, ⌈H/2⌉] by 4·⌊H/2⌋ is N for even H."""
    (unit, scale), *mixed = _by_unsized_part(divisor, sizing).items()
    if mixed:
        return None  # a divisor such as N·H + 1: no single quotient
    result: Dim = 0
    for monomial, part in _by_unsized_part(total, sizing).items():
        rest = _without(monomial, unit)
        share = None if rest is None else _whole_ratio(sizing, part, scale)
        if share is None:
            return None
        result = result + product([share, *rest])
    return result


def _by_unsized_part(value: Dim, sizing: Sizing) -> dict[tuple[Atom, ...], Dim]:
    """value as a sum of u·c: u a product of atoms the sizing cannot decide (N), c a polynomial
    in those it can (H, ⌊H/2⌋)."""
    groups: dict[tuple[Atom, ...], Dim] = {}
    for monomial, coeff in value.terms if isinstance(value, Sym) else (((), value),):
        sized = [a for a in monomial if sizing.decides(Sym.named(a))]
        unsized = tuple(a for a in monomial if not sizing.decides(Sym.named(a)))
        groups[unsized] = groups.get(unsized, 0) + product([coeff, *map(Sym.named, sized)])
    return groups


def _whole_ratio(sizing: Sizing, part: Dim, scale: Dim) -> Dim | None:
    """part / scale, both in sized symbols, as the sizes where it is whole see it. Every test
    below is a comparison the sizing records, so a run's guards pin down the sizes that divide
    alike: by a number k, where part ≡ 0 mod k (the quotient ⌊part/k⌋); by a symbolic scale, where
    the ratio is the hints' q (or lies strictly between q and q + 1, and fails)."""
    if not isinstance(scale, Sym):
        if scale < 0:
            part, scale = -part, -scale
        share = part // scale
        return share if part == share * scale else None
    if not scale > 0:
        return None
    ratio = evaluate(part, sizing.hints) // evaluate(scale, sizing.hints)
    if part == ratio * scale:
        return ratio
    # Not whole at the hints: the ratio lies strictly between q and q + 1, and the sizes where it
    # does fail alike, so record those two bounds.
    for below in (ratio * scale - part, part - (ratio + 1) * scale):
        if isinstance(below, Sym):
            sizing.decide(below, "<")
    return None


# ---------------------------------------------------------------- helpers

Dim = int | Sym
Shape = tuple  # tuple[Dim, ...]


def is_symbolic(dim: Dim) -> bool:
    return isinstance(dim, Sym)


def product(dims) -> Dim:
    result: Dim = 1
    for dim in dims:
        result = dim * result if isinstance(dim, Sym) else result * dim
    return result


def format_dim(dim: Dim) -> str:
    return str(dim)


def format_shape(shape: Shape) -> str:
    return "[" + ", ".join(format_dim(d) for d in shape) + "]"


def format_product(dims) -> str:
    """64×3×3 — the arithmetic behind a flattened size."""
    return "×".join(format_dim(d) for d in dims)
