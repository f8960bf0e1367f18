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
        return {name: values.last for name, values in report.accepted_sets.items()}
    return dict(zip(report.names, max(report.points, key=lambda p: (sum(p), p))))


# A symbolic model's counts are reported at one accepted size: the one its input declares
# (`H in 32..1024 = 224`), else, for an image's sizes (a symbol of an input of rank 4 or more,
# `[N, 3, H, W]`), the accepted size nearest this, ImageNet's, so that counts read like published
# ones (the largest size, where budgets must hold, gave a ShuffleNet 3.0 GMACs at 1024×1024
# against the 149 M everyone quotes). Any other size (a sequence length `[N, L] int64`,
# `[S, N, E]`, a signal `[N, C, L]`) counts at the accepted size nearest the top of its range, as
# a sequence model's cost is quoted at its context length (`L in 1..512`: 512).
REPORT_SIZE = 224


def report_sizes(checked: Any) -> tuple[dict[str, int], str]:
    """(sizes, why) for a checked model with a symbolic input: the sizes its summary, diagram and
    hovers count at, and how they were chosen, in words; ({}, "") for a concrete model."""
    report = checked.sizes
    if report is None:
        return {}, ""
    symbols = checked.graph.size_symbols
    declared = {name: symbols[name].report for name in report.names if name in symbols}
    images = image_sizes(checked.graph)
    targets: dict[str, str] = {}  # symbol -> what it is counted near, in words
    wanted: dict[str, int] = {}
    for name in report.names:
        if declared.get(name):
            wanted[name], targets[name] = declared[name], "the declared report size"
        elif name in images or name not in symbols:
            wanted[name], targets[name] = REPORT_SIZE, str(REPORT_SIZE)
        else:
            wanted[name], targets[name] = symbols[name].high, "the top of its range"
    if not report.accepted_count:
        return dict(checked.inference.hints), "no size is accepted"
    chosen = _nearest_accepted(report, wanted)
    if all(declared.get(name) == value for name, value in chosen.items()):
        return chosen, "the declared report size"
    return chosen, f"the accepted size nearest {_targets_text(targets)}"


def image_sizes(graph: Any) -> set[str]:
    """The size symbols of the model's image inputs, those of rank 4 or more (`[N, 3, H, W]`)."""
    found: set[str] = set()
    for node_id in graph.inputs:
        shape = graph.node(node_id).declared_shape
        if len(shape) >= 4:
            found.update(name for dim in shape if isinstance(dim, Sym) for name in dim.symbols())
    return found


def _targets_text(targets: dict[str, str]) -> str:
    """ "224", or "224 for H, W and the top of its range for L" where the symbols differ."""
    kinds = list(dict.fromkeys(targets.values()))
    if len(kinds) == 1:
        return kinds[0]
    named = [
        f"{kind} for {', '.join(n for n, k in targets.items() if k == kind)}" for kind in kinds
    ]
    return f"{', '.join(named[:-1])} and {named[-1]}"


def _nearest_accepted(report: Any, wanted: dict[str, int]) -> dict[str, int]:
    """The accepted size closest to `wanted` (the sum of the distances; ties: the larger). The
    accepted set is a union of blocks, each every combination of its per-symbol values, so the
    nearest point of a block is its nearest value in each symbol."""

    names = report.names
    blocks = [tuple(report.accepted_sets[n] for n in names)] if report.product else report.blocks
    candidates = [
        tuple(values.nearest(wanted[n]) for n, values in zip(names, block))
        for block in blocks
        if all(block)
    ]
    best = min(
        candidates,
        key=lambda p: (sum(abs(v - wanted[n]) for n, v in zip(report.names, p)), [-v for v in p]),
    )
    return dict(zip(report.names, best))


def sizes_text(sizes: dict[str, int]) -> str:
    """ "H=224, W=224": the sizes counts were taken at, as every output names them."""
    return ", ".join(f"{name}={value}" for name, value in sizes.items())
