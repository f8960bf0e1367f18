"""Dimensions: plain ints, or symbolic products such as the batch `N` (a polynomial with int
coefficients). Kept small on purpose: spatial arithmetic (floor division) on symbols is refused with
a clear message until symbolic sizes are built."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sym:
    """A polynomial over named symbols: terms maps sorted name tuples to coefficients."""

    terms: tuple[tuple[tuple[str, ...], int], ...]

    @staticmethod
    def named(name: str) -> Sym:
        return Sym((((name,), 1),))

    @staticmethod
    def _make(terms: dict[tuple[str, ...], int]) -> Dim:
        cleaned = tuple(sorted((k, v) for k, v in terms.items() if v != 0))
        if not cleaned:
            return 0
        if len(cleaned) == 1 and cleaned[0][0] == ():
            return cleaned[0][1]
        return Sym(cleaned)

    def _as_terms(self) -> dict[tuple[str, ...], int]:
        return dict(self.terms)

    @staticmethod
    def _terms_of(value: Dim) -> dict[tuple[str, ...], int]:
        return value._as_terms() if isinstance(value, Sym) else {(): int(value)}

    def __add__(self, other: Dim) -> Dim:
        terms = self._as_terms()
        for key, coeff in Sym._terms_of(other).items():
            terms[key] = terms.get(key, 0) + coeff
        return Sym._make(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Sym._make({k: -v for k, v in self.terms})

    def __sub__(self, other: Dim) -> Dim:
        return self + (-other)

    def __rsub__(self, other: Dim) -> Dim:
        return (-self) + other

    def __mul__(self, other: Dim) -> Dim:
        result: dict[tuple[str, ...], int] = {}
        for k1, v1 in self.terms:
            for k2, v2 in Sym._terms_of(other).items():
                key = tuple(sorted(k1 + k2))
                result[key] = result.get(key, 0) + v1 * v2
        return Sym._make(result)

    __rmul__ = __mul__

    def __str__(self) -> str:
        parts = []
        for names, coeff in self.terms:
            factors = ([str(coeff)] if coeff != 1 or not names else []) + list(names)
            parts.append("·".join(factors))
        return " + ".join(parts)


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
