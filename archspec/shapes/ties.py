"""Tied parameters: `tie head.weight = wte.weight` makes one tensor serve two layers (a language
model's output layer and its token embedding), as `self.head.weight = self.wte.weight` does.

Torch accepts the assignment whatever the shapes; a wrong one fails later, in the layer's forward,
or runs with a meaning nobody intended. So each side is looked up here, after inference, when every
`?` argument and so every weight's shape is known: the layer's op lists its parameters with their
shapes (OpSpec.weights), both must exist and be of one shape. The shared tensor is counted once,
as `sum(p.numel() for p in model.parameters())` counts it: `tied_parameters` is what to subtract.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archspec.core import diagnostic as diag
from archspec.core.dims import format_shape
from archspec.core.names import did_you_mean
from archspec.core.records import record
from archspec.elaborate.graph import ModelGraph, ModuleInfo, TieInfo
from archspec.ops import INFER


@record(frozen=True)
class Tied:
    """One tie resolved to the model: the target's parameter count (what sharing saves), or a
    finding where it cannot stand."""

    tie: TieInfo
    owner: str  # the module path of the body that states it
    target: str  # "blocks.0.head.weight", from the model
    source: str
    numel: int = 0
    problem: diag.Diagnostic | None = None


def resolve_ties(model: ModelGraph, module_args: dict[str, dict[str, Any]]) -> list[Tied]:
    """Every tie of the model, looked up with the layers' resolved arguments (`module_args`:
    Inference.module_args, a layer's arguments with `?` read off its input)."""
    resolved: list[Tied] = []
    targets: dict[str, TieInfo] = {}
    for owner, tie in _ties(model):
        target, source = _absolute(owner.path, tie.target), _absolute(owner.path, tie.source)
        problem = _order_problem(tie, target, source, targets, resolved)
        target_shape = source_shape = None
        if problem is None:
            target_shape, problem = _parameter(model, module_args, target, tie.target_span)
        if problem is None:
            source_shape, problem = _parameter(model, module_args, source, tie.source_span)
        if problem is None and target_shape is not None and source_shape is not None:
            problem = _shape_problem(tie, target_shape, source_shape)
        numel = _numel(target_shape) if problem is None and target_shape is not None else 0
        resolved.append(Tied(tie, owner.path, target, source, numel, problem))
        targets.setdefault(target, tie)
    return resolved


def tie_findings(
    model: ModelGraph, module_args: dict[str, dict[str, Any]]
) -> list[diag.Diagnostic]:
    return [tied.problem for tied in resolve_ties(model, module_args) if tied.problem is not None]


def tied_parameters(model: ModelGraph, module_args: dict[str, dict[str, Any]]) -> int:
    """Parameters that a tie replaces by another layer's: counted in the target layer's own
    count, but no tensor of their own."""
    return sum(tied.numel for tied in resolve_ties(model, module_args))


def _ties(model: ModelGraph) -> Iterator[tuple[ModuleInfo, TieInfo]]:
    for module in model.root.walk():
        for tie in module.ties:
            yield module, tie


def _absolute(owner: str, path: str) -> str:
    return f"{owner}.{path}" if owner else path


def _order_problem(tie: TieInfo, target: str, source: str, targets: dict[str, TieInfo],
                   resolved: list[Tied]) -> diag.Diagnostic | None:  # fmt: skip
    """One tensor per tie: a parameter is replaced at most once, and a replaced one lends its
    place to nobody (torch would keep the first tensor alive in one layer only: a puzzle)."""
    if target == source:
        return _problem(f"'{tie.target}' is tied to itself", tie.span, "the same parameter",
                        help="name two different layers' parameters")  # fmt: skip
    if target in targets:
        first = targets[target]
        return _problem(
            f"'{tie.target}' is already tied",
            tie.target_span,
            "tied again",
            secondary=[(first.span, "first tied here")],
            help="tie it once: every layer that shares it names the same source",
        )
    if any(earlier.target == source for earlier in resolved):
        return _problem(
            f"'{tie.source}' is itself tied to another parameter",
            tie.source_span,
            "a tied parameter",
            help="tie both to the parameter that owns the tensor",
        )
    if any(earlier.source == target for earlier in resolved):
        return _problem(
            f"'{tie.target}' already lends its tensor to another tie",
            tie.target_span,
            "a shared parameter",
            help=f"tie the other one to '{tie.source}' directly",
        )
    return None


def _parameter(model: ModelGraph, module_args: dict[str, dict[str, Any]], path: str, span) -> tuple:
    """(shape, None) of a layer's parameter, (None, problem) where there is none, (None, None)
    where its arguments are unknown (a `?` of a layer never applied: reported where it is)."""
    layer_path, _, name = path.rpartition(".")
    module = model.module(layer_path)
    args = module_args.get(layer_path, module.checked_args)
    if module.op.weights is None:
        return None, _problem(
            f"archspec does not know the parameters of {module.op.name}, so it cannot tie them",
            span,
            "unknown parameters",
            help="tie parameters of layers whose weights archspec lists: Linear, Embedding, "
            "convolutions, normalisations",
        )
    if args is None or any(value is INFER for value in args.values()):
        return None, None
    weights = module.op.weights(args)
    if name not in weights:
        listed = ", ".join(weights) or "none"
        why = " (bias=False)" if name == "bias" and "bias" in args else ""
        return None, _problem(
            f"{module.op.name} '{layer_path.rpartition('.')[2]}' has no parameter '{name}'{why}",
            span,
            "no such parameter",
            notes=[f"its parameters: {listed}"],
            help=f"name one of its parameters{did_you_mean(name, weights)}",
        )
    return weights[name], None


def _shape_problem(tie: TieInfo, target: tuple, source: tuple) -> diag.Diagnostic | None:
    if tuple(target) == tuple(source):
        return None
    return _problem(
        f"tied parameters differ in shape: {tie.target} is {format_shape(target)}, "
        f"{tie.source} is {format_shape(source)}",
        tie.target_span,
        format_shape(target),
        secondary=[(tie.source_span, format_shape(source))],
        notes=["a tie makes one tensor serve both layers, so both need its shape"],
        help=f"build the layers so that {tie.target} is {format_shape(source)}",
    )


def _problem(message: str, span, label: str, **details) -> diag.Diagnostic:
    return diag.make("E211", message, span, label, **details)


def _numel(shape: tuple) -> int:
    total = 1
    for size in shape:
        total *= size
    return total
