"""What an index of `x[...]` holds, as values an op's arguments can carry: integers, None (a new
dim of 1), `SliceItem`s (`start:stop:step`) and `ELLIPSIS`, in an `Indices`. Kept apart from
ops/indexing.py, which registers the op, so that re-registering it (tests reload the family
modules) leaves these types, and the values made of them, as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archspec.core.records import record


class _Ellipsis:
    def __repr__(self) -> str:
        return "..."


ELLIPSIS = _Ellipsis()


@record(frozen=True)
class SliceItem:
    """`start:stop:step`; None where the spec left a bound out. start and stop are integers or
    sizes (symbolic, or read off a block's input when the module runs); the step an integer."""

    start: Any = None
    stop: Any = None
    step: int | None = None

    def source(self, bound: Callable[[Any], str] = str) -> str:
        """As written in Python (and in a spec): `1:`, `:C`, `::2`, `:`."""
        text = _bound(self.start, bound) + ":" + _bound(self.stop, bound)
        return text + (f":{self.step}" if self.step is not None else "")


def _bound(value: Any, bound: Callable[[Any], str]) -> str:
    return "" if value is None else bound(value)


@record(frozen=True)
class Indices:
    """The index of `x[...]`: ints, SliceItems, None (a new dim of 1) and ELLIPSIS, in order."""

    items: tuple

    def source(self, bound: Callable[[Any], str] = str) -> str:
        """The text between the brackets, as torch code writes it: `:, 0`, `..., :64`; `bound`
        writes a slice's start or stop."""
        return ", ".join(_item_source(item, bound) for item in self.items)


def _item_source(item, bound: Callable[[Any], str]) -> str:
    if isinstance(item, SliceItem):
        return item.source(bound)
    if item is ELLIPSIS:
        return "..."
    return repr(item)  # an int or None
