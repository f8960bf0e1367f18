"""Budgets: per-model limits on parameters, MACs and activation memory, checked as errors (E301).

A budget comes from the configuration (`[tool.archspec.budgets.<Model>]`) or from a comment in the
spec, on a model's lines or on the comment lines directly above it:

    # archspec: budget params=30M macs=5G activations=200MiB batch=8

Limits are integers or numbers with an SI suffix (K, M, G, T: powers of 1000; for activations, in
bytes, also KB/MB/GB/TB and the binary KiB/MiB/GiB/TiB). `batch` (default 1) is the batch size of
the activation estimate. When both sources limit the same quantity, every limit must hold and the
one exceeded most is reported: in effect, the tighter limit wins. A comment that cannot be read, or
that sits next to no model, is E302. Like suppressions, the comments are found with a scanner that
skips string literals; nothing here prints.
"""

from __future__ import annotations

import re

from archspec.core import diagnostic as diag
from archspec.core.names import did_you_mean
from archspec.core.records import field, record
from archspec.core.source import SourceFile, Span
from archspec.shapes.costs import BYTES_PER_VALUE, count_at, largest_sizes

BUDGET_KEYS = ("params", "macs", "activations", "batch")
_PRAGMA = re.compile(r"#\s*archspec:\s*budget(?![\w-])(?P<rest>[^#]*)")
_VALUE = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[A-Za-z]*)")
_SI = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_NOUNS = {"params": "parameters", "macs": "MACs", "activations": "bytes of activations"}


class BudgetError(Exception):
    """A budget value or key that cannot be used; the message says why."""


@record(frozen=True)
class Limit:
    value: int
    text: str  # as written: "30M"


@record(frozen=True)
class Budget:
    params: Limit | None = None
    macs: Limit | None = None
    activations: Limit | None = None
    batch: int = 1
    origin: str = ""  # the configuration table it comes from ("" for a comment)
    span: Span | None = field(default=None, compare=False)  # the comment it comes from


def parse_budget_value(key: str, value: int | str) -> Limit | int:
    """A Limit for params/macs/activations, an int for batch; BudgetError when unusable."""
    text = str(value).strip()
    if isinstance(value, int):
        number = value
    else:
        match = _VALUE.fullmatch(text.replace("_", "").replace(",", ""))
        if match is None:
            raise BudgetError(f"'{key}' must be a number such as 30M or 4.5G, not '{text}'")
        unit = match.group("unit").upper()
        scale = _BINARY.get(unit) if key == "activations" else None
        if scale is None:
            stripped = unit.removesuffix("B") if key == "activations" else unit
            scale = _SI.get(stripped)
        if scale is None:
            units = "K, M, G, T" + (", KB, MiB, ..." if key == "activations" else "")
            raise BudgetError(f"'{key}' has an unknown unit '{match.group('unit')}' ({units})")
        exact = _exact(match.group("number")) * scale
        if exact != int(exact):
            raise BudgetError(f"'{key}' must be a whole number, not {text}")
        number = int(exact)
    if key == "batch":
        if number < 1 or text != str(number):
            raise BudgetError(f"'batch' must be a whole number of at least 1, not {text}")
        return number
    if number < 1:
        raise BudgetError(f"'{key}' must be at least 1, not {text}")
    return Limit(number, text)


def _exact(number: str):
    from fractions import Fraction

    return Fraction(number)


# ---------------------------------------------------------------- comments in the spec


@record(frozen=True)
class _Pragma:
    span: Span
    budget: Budget | None  # None: unreadable (a diagnostic says why)


def _scan(source: SourceFile) -> tuple[list[_Pragma], list[diag.Diagnostic]]:
    from archspec.diagnostics.suppressions import comments

    pragmas, problems = [], []
    for start, text in comments(source):
        for match in _PRAGMA.finditer(text):
            span = source.span(start + match.start(), start + match.end())
            try:
                pragmas.append(_Pragma(span, _read_pragma(match.group("rest"), span)))
            except BudgetError as error:
                problems.append(
                    diag.make(
                        "E302",
                        f"cannot read the budget comment: {error}",
                        span,
                        "unreadable",
                        help="write `# archspec: budget params=30M macs=5G "
                        "activations=200MiB batch=8` (any of the keys)",
                    )
                )
    return pragmas, problems


def _read_pragma(rest: str, span: Span) -> Budget:
    values: dict = {}
    items = [item for item in re.split(r"[\s,]+", rest.strip()) if item]
    if not items:
        raise BudgetError("it names no limit")
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise BudgetError(f"'{item}' is not key=value")
        if key not in BUDGET_KEYS:
            raise BudgetError(f"unknown key '{key}'{did_you_mean(key, BUDGET_KEYS)}")
        if key in values:
            raise BudgetError(f"'{key}' is given twice")
        values[key] = parse_budget_value(key, value)
    return Budget(**values, span=span)


def _owner(line: int, models, source: SourceFile):
    """The model whose lines hold `line`, or which starts right below its comment lines."""
    for definition, model in models:
        first, last = definition.span.line, definition.span.end_line_col[0]
        if first <= line <= last:
            return definition, model
        if line < first and all(
            source.line_text(between).lstrip().startswith("#") for between in range(line, first)
        ):
            return definition, model
    return None


# ---------------------------------------------------------------- the check


def check_budgets(models, source: SourceFile, configured=None) -> list[diag.Diagnostic]:
    """E301 for every model over a budget, E302 for unusable budget comments.

    `models` are (ast definition, CheckedModel) pairs of the checked file; `configured(name)`
    gives the configuration's Budget for a model name, or None.
    """
    pragmas, findings = _scan(source)
    budgets: dict[int, list[Budget]] = {}
    for pragma in pragmas:
        owner = _owner(pragma.span.line, models, source)
        if owner is None:
            findings.append(
                diag.make(
                    "E302",
                    "this budget comment belongs to no model",
                    pragma.span,
                    "no model here",
                    help="put it on a line of the model, or on the line directly above `model`",
                )
            )
            continue
        budgets.setdefault(id(owner[1]), []).append(pragma.budget)
    for definition, model in models:
        limits = list(budgets.get(id(model), []))
        from_config = configured(model.name) if configured is not None else None
        if from_config is not None:
            limits.append(from_config)
        if limits and _complete(model):
            findings.extend(_over(definition, model, limits))
    return findings


def _complete(model) -> bool:
    """Counts are only meaningful when every op was inferred (an error elsewhere stops that)."""
    evaluations = model.inference.evaluations
    return all(node.id in evaluations for node in model.graph.nodes() if node.kind == "op")


def _over(definition, model, budgets: list[Budget]) -> list[diag.Diagnostic]:
    measured: dict[tuple[str, int], int | None] = {}
    sizes = largest_sizes(model)  # a symbolic input: the budget holds up to the largest size

    def measure(key: str, batch: int) -> int | None:
        if (key, batch) not in measured:
            if key == "params":
                value = model.parameter_count
            elif key == "macs":
                value = count_at(model.mac_count, 1, sizes)
            else:
                value = _activation_bytes(model, batch, sizes)
            measured[key, batch] = value if isinstance(value, int) else None
        return measured[key, batch]

    findings = []
    for key in ("params", "macs", "activations"):
        worst = None
        for budget in budgets:
            limit = getattr(budget, key)
            if limit is None:
                continue
            batch = budget.batch if key == "activations" else 1
            value = measure(key, batch)
            if value is None or value <= limit.value:
                continue
            excess = (value - limit.value) / limit.value
            if worst is None or excess > worst[0]:
                worst = (excess, value, limit, budget, batch)
        if worst is not None:
            findings.append(_finding(definition, model, key, *worst[1:]))
    return findings


def _finding(definition, model, key, value, limit: Limit, budget: Budget, batch: int):
    noun = _NOUNS[key]
    at_batch = f" at batch {batch}" if key == "activations" else ""
    percent = (value - limit.value) / limit.value * 100
    message = (
        f"model {model.name} has {value:,} {noun}{at_batch}, over its budget of {limit.text} "
        f"by {value - limit.value:,} (+{percent:.1f}%)"
    )
    notes = []
    contributors = _contributors(model, key, batch)
    if contributors:
        total = sum(amount for _, amount in _groups(model, key, batch).items()) or 1
        shown = ", ".join(
            f"{name} {amount:,} ({amount / total:.1%})" for name, amount in contributors
        )
        notes.append(f"largest {noun}: {shown}")
    if key == "macs":
        notes.append("MACs are counted per sample (batch 1)")
    secondary = []
    if budget.span is not None:
        secondary.append((budget.span, "budget set here"))
    else:
        notes.append(f"the budget comes from {budget.origin}")
    return diag.make(
        "E301",
        message,
        definition.name.span,
        f"{value:,} {noun}",
        secondary=secondary,
        notes=notes,
        help="make the model smaller, or raise the budget if the growth is intended",
    )


def _activation_bytes(model, batch: int, sizes: dict[str, int] | None = None) -> int:
    return sum(_groups(model, "activations", batch, sizes).values())


def _groups(model, key: str, batch: int, sizes: dict[str, int] | None = None) -> dict[str, int]:
    """The quantity per top-level part of the model (a block instance, a layer, a function)."""
    if sizes is None:
        sizes = largest_sizes(model)
    graph, inference = model.graph, model.inference
    depth = _depth(graph.root)
    totals: dict[str, int] = {}

    def part(path: str) -> str:
        return ".".join(path.split(".")[: depth + 1])

    if key == "params":
        for module in graph.root.walk():
            if module.kind != "layer" or not module.applications:
                continue
            evaluation = inference.evaluations.get(module.applications[0])
            if evaluation is not None and evaluation.params:
                name = part(module.path)
                totals[name] = totals.get(name, 0) + evaluation.params
        return totals
    for node in graph.nodes():
        if node.kind != "op":
            continue
        name = part(node.module or (f"{node.scope}.{node.name}" if node.scope else node.name))
        if key == "macs":
            evaluation = inference.evaluations.get(node.id)
            amount = count_at(evaluation.macs, 1, sizes) if evaluation is not None else 0
        else:
            shape = inference.shapes.get(node.id)
            amount = BYTES_PER_VALUE if shape is not None else 0
            for dim in shape or ():
                amount *= count_at(dim, batch, sizes)
        if isinstance(amount, int) and amount:
            totals[name] = totals.get(name, 0) + amount
    return totals


def _depth(root) -> int:
    """How deep to group: below a chain of single containers (a model that is one Sequential)."""
    depth, module = 0, root
    while len(module.children) == 1:
        (module,) = module.children.values()
        if module.kind == "layer":
            break
        depth += 1
    return depth


def _contributors(model, key: str, batch: int) -> list[tuple[str, int]]:
    groups = _groups(model, key, batch)
    ranked = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:3] if len(ranked) > 1 else []
