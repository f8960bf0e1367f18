"""What inferred shapes cost, as plain numbers: a count (parameters, MACs, values) at concrete input
sizes, the sizes a symbolic model is measured at, and the bytes of one value. Shared by the budget
rules (archspec.diagnostics.budgets) and the layer table (archspec.outputs.summary)."""

from __future__ import annotations

from typing import Any

from archspec.core.dims import Dim, Sym, evaluate

BYTES_PER_VALUE = 4  # float32


def count_at(dim: Dim, batch: int, sizes: dict[str, int] | None = None) -> int:
    """A count at these input sizes, every other symbol (the batch N) taken as `batch`."""
    if isinstance(dim, Sym):
        sizes = sizes or {}
        return evaluate(dim, {name: sizes.get(name, batch) for name in dim.symbols()})
    return dim


def largest_sizes(checked: Any) -> dict[str, int]:
    """For a checked model with a symbolic input, the largest accepted sizes (where budgets must
    hold); else the sizes its shapes were inferred at (`checked`: graph, inference, sizes)."""
    report = checked.sizes
    if report is None or not report.accepted_count:
        return dict(checked.inference.hints)
    if report.product:
        return {name: values[-1] for name, values in report.accepted.items()}
    return dict(zip(report.names, max(report.points, key=lambda p: (sum(p), p))))
