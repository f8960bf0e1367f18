"""Sets of input sizes within a declared range, as bitsets.

`L in 1..1000000` holds a million sizes; a network accepts, say, every size of the form 4608k + r
for r in a window. Lists and Python sets of such sizes cost a Python step per size; a bitset (a
Python int whose bit i stands for the range's i-th value) is combined, counted and searched with a
few machine words per 64 sizes, and read back as runs of consecutive sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_ONES = re.compile(b"1+")


class ValueSet:
    """The values of `domain` whose index is in the bitset: bit j of `bits` stands for the index
    `low + j`. (The offset keeps a set of a few large sizes a few words long: the joint search
    makes thousands of one-value classes.)"""

    __slots__ = ("domain", "low", "bits")

    def __init__(self, domain: range, bits: int = 0, low: int = 0):
        if bits:
            skip = (bits & -bits).bit_length() - 1
            bits >>= skip
            low += skip
        else:
            low = 0
        self.domain = domain
        self.low = low
        self.bits = bits

    @classmethod
    def full(cls, domain: range) -> ValueSet:
        return cls(domain, (1 << len(domain)) - 1)

    @classmethod
    def of(cls, domain: range, values: Iterable[int]) -> ValueSet:
        indices = [domain.index(v) for v in values]
        if not indices:
            return cls(domain)
        low = min(indices)
        return cls(domain, bits_of(i - low for i in indices), low)

    @classmethod
    def from_flags(cls, domain: range, flags: bytes | bytearray) -> ValueSet:
        """From one ASCII "0"/"1" per value of the domain, in order (parsed in C: an int in
        base 2 is read in linear time)."""
        return cls(domain, int(flags[::-1], 2) if flags else 0)

    # ------------------------------------------------------------ set algebra
    def _aligned(self, other: ValueSet) -> tuple[int, int, int]:
        low = min(self.low, other.low)
        return low, self.bits << (self.low - low), other.bits << (other.low - low)

    def __or__(self, other: ValueSet) -> ValueSet:
        low, mine, theirs = self._aligned(other)
        return ValueSet(self.domain, mine | theirs, low)

    def __and__(self, other: ValueSet) -> ValueSet:
        low, mine, theirs = self._aligned(other)
        return ValueSet(self.domain, mine & theirs, low)

    def __sub__(self, other: ValueSet) -> ValueSet:
        low, mine, theirs = self._aligned(other)
        return ValueSet(self.domain, mine & ~theirs, low)

    def __eq__(self, other) -> bool:
        return isinstance(other, ValueSet) and (self.domain, self.low, self.bits) == (
            other.domain,
            other.low,
            other.bits,
        )

    def __hash__(self) -> int:
        return hash((self.domain, self.low, self.bits))

    def __len__(self) -> int:
        return self.bits.bit_count()

    def __bool__(self) -> bool:
        return self.bits != 0

    def __contains__(self, value: int) -> bool:
        domain = self.domain
        if value not in domain:
            return False
        index = (value - domain.start) // domain.step - self.low
        return index >= 0 and bool(self.bits >> index & 1)

    # ------------------------------------------------------------ reading
    @property
    def first(self) -> int:
        if not self.bits:
            raise ValueError("empty set of sizes")
        return self.domain[self.low]

    @property
    def last(self) -> int:
        if not self.bits:
            raise ValueError("empty set of sizes")
        return self.domain[self.low + self.bits.bit_length() - 1]

    def index_bits(self) -> int:
        """The set as one bitset over the domain's indices (bit i: domain[i])."""
        return self.bits << self.low

    def index_runs(self) -> list[tuple[int, int]]:
        """Maximal runs of consecutive indices, as (first, last) pairs, ascending."""
        if not self.bits:
            return []
        low = self.low
        flags = format(self.bits, "b").encode()[::-1]  # index order
        return [(low + m.start(), low + m.end() - 1) for m in _ONES.finditer(flags)]

    def __iter__(self) -> Iterator[int]:
        domain = self.domain
        for first, last in self.index_runs():
            yield from domain[first : last + 1]

    def sorted(self) -> list[int]:
        values: list[int] = []
        domain = self.domain
        for first, last in self.index_runs():
            values.extend(domain[first : last + 1])
        return values

    def nearest(self, target: int) -> int:
        """The value closest to `target` (ties: the larger)."""
        domain, bits = self.domain, self.index_bits()
        if not bits:
            raise ValueError("empty set of sizes")
        index = min(max((target - domain.start) // domain.step, 0), len(domain) - 1)
        below = bits & ((1 << (index + 1)) - 1)
        above = bits >> (index + 1)
        candidates = []
        if below:
            candidates.append(domain[below.bit_length() - 1])
        if above:
            candidates.append(domain[index + (above & -above).bit_length()])
        return min(candidates, key=lambda v: (abs(v - target), -v))

    def __repr__(self) -> str:
        return f"ValueSet({self.domain}, {len(self)} values)"


def bits_of(indices: Iterable[int]) -> int:
    """The int whose bit i is set for each i in `indices` (built bytewise: `|= 1 << i` per index
    would copy the whole int each time)."""
    flags = bytearray()
    for index in indices:
        byte = index >> 3
        if byte >= len(flags):
            flags.extend(bytes(byte + 1 - len(flags)))
        flags[byte] |= 1 << (index & 7)
    return int.from_bytes(flags, "little")
