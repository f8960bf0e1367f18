"""Which input sizes a model accepts, and why it rejects the others.

A model whose input has symbolic sizes (`[N, 3, H, W]`, optionally `H in 32..1024`) is inferred
symbolically: every shape is an integer expression in H and W, and every comparison a layer makes
on them (a kernel no larger than its input, branches equal before `cat`, `in_features` equal to a
flattened size) is decided at the run's hint values and recorded as a guard (archspec.core.dims).
All sizes on which a run's guards come out as they did at its hints follow the same path through the
rules, so they pass or fail together: one run classifies a whole region of sizes.

The search enumerates the bounded sizes exactly, but not one by one: values of a symbol that no
recorded guard tells apart form one class, and only class representatives are visited. A
representative no run covers gets a run of its own (at its values), whose guards may split the
classes further; the search ends when every class is covered. Guards that involve one symbol are
evaluated per symbol; guards that tie symbols together (a flattened C·h·w) are evaluated per
combination of classes, which stays small because they depend on H only through floors such as
⌊(H+31)/32⌋.

Rejected sizes are explained with the smallest counter-example, rechecked with plain numbers so
the message reads like any other diagnostic: "H = 33: cat joins 4×4 with 5×5".
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import os
from dataclasses import dataclass, field

from archspec.core import diagnostic as diag
from archspec.core.dims import Guard, Sym, python_source, simplify
from archspec.elaborate.graph import ModelGraph, SizeSymbol
from archspec.shapes.closed_form import Forms, solve_guard
from archspec.shapes.infer import Inference, infer
from archspec.shapes.value_sets import ValueSet, bits_of

MAX_RUNS = 400  # distinct paths through the rules; beyond, the analysis says it stopped
MAX_POINTS = 2_000_000  # combinations of value classes visited one by one per pass
# Sizes of one symbol read one by one where guards tie symbols together (C·⌊H/32⌋·⌊W/32⌋ =
# in_features): beyond, the analysis says it stopped. Guards in one symbol have no such limit.
MAX_JOINT_VALUES = 100_000
MAX_PERIOD = 8192  # the longest repeating pattern `describe_values` looks for


@dataclass
class Run:
    """One symbolic inference at `hints`: its shapes, findings and guards."""

    hints: dict[str, int]
    inference: Inference
    diagnostics: list[diag.Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


@dataclass
class Rejection:
    """Sizes rejected for one reason: how many, the smallest, and the concrete finding there."""

    count: int
    example: dict[str, int]
    diagnostic: diag.Diagnostic
    culprits: tuple[str, ...] = ()  # the symbols whose example value no accepted size has


@dataclass
class SizeReport:
    symbols: list[SizeSymbol]
    accepted_sets: dict[str, ValueSet]  # per symbol: the values that appear in an accepted size
    product: bool  # the accepted sizes are every combination of the per-symbol values
    accepted_count: int
    total_count: int
    # The accepted sizes as blocks: every combination of a block's per-symbol values passes.
    blocks: list[tuple[ValueSet, ...]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    main: Run | None = None  # the run whose shapes are shown (accepted when any size is)
    complete: bool = True  # False: the search stopped at a limit (see `stopped`)
    stopped: str = ""
    runs: int = 0
    fixed_by: list[Guard] = field(default_factory=list)  # `in_features` guards tying sizes

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.symbols]

    @functools.cached_property
    def accepted(self) -> dict[str, list[int]]:
        """Per symbol, the accepted values in ascending order."""
        return {name: values.sorted() for name, values in self.accepted_sets.items()}

    def accepts(self, values: dict[str, int]) -> bool:
        """Whether the model accepts these sizes (within the analysed bounds)."""
        if self.product:
            return all(values[n] in self.accepted_sets[n] for n in self.names)
        point = [values[n] for n in self.names]
        return any(all(v in b for v, b in zip(point, block)) for block in self.blocks)

    @functools.cached_property
    def points(self) -> list[tuple[int, ...]]:
        """The accepted sizes one by one, smallest first (the first 10,000: `accepts` and
        `blocks` are exact however many there are)."""
        each = (itertools.product(*(values.sorted() for values in block)) for block in self.blocks)
        return list(itertools.islice(heapq.merge(*each), 10_000))  # lazily: blocks can be huge

    def describe(self) -> str:
        """The accepted sizes in plain words."""
        return describe_report(self)


class _Compiled:
    """A guard and the symbols it reads; as a Python function of their values when it ties
    several together (a guard in one symbol is solved in closed form instead)."""

    def __init__(self, guard: Guard, order: list[str]):
        self.guard = guard
        self.symbols = sorted(guard.expr.symbols(), key=order.index)

    @functools.cached_property
    def function(self):
        names = {s: f"v{i}" for i, s in enumerate(self.symbols)}
        body = python_source(self.guard.expr, names)
        compare = {"==": "== 0", "<": "< 0", "<=": "<= 0"}[self.guard.relation]
        # Built only from archspec's own canonical expressions: numbers, v0.., + * // ( ).
        return eval(f"lambda {', '.join(names.values())}: {body} {compare}")  # noqa: S307


class _Search:
    def __init__(self, model: ModelGraph):
        self.model = model
        self.symbols = list(model.size_symbols.values())
        self.order = [s.name for s in self.symbols]
        self.ranges = {s.name: s.values for s in self.symbols}
        self.forms = {s.name: Forms(s.name, s.values) for s in self.symbols}
        self.runs: list[Run] = []
        self.compiled: dict[tuple, _Compiled] = {}
        self.masks: dict[tuple, ValueSet] = {}  # single-symbol guard -> the values where it holds

    # ------------------------------------------------------------ runs
    def run(self, hints: dict[str, int]) -> Run:
        reporter = diag.Reporter()
        inference = infer(self.model, reporter, hints=hints)
        run = Run(dict(hints), inference, list(reporter.diagnostics))
        self.runs.append(run)
        for guard in inference.guards:
            key = _guard_key(guard)
            if key not in self.compiled:
                self.compiled[key] = _Compiled(guard, self.order)
        return run

    def outcome(self, guard: Guard, point: dict[str, int]) -> bool:
        compiled = self.compiled[_guard_key(guard)]
        if len(compiled.symbols) == 1:
            return point[compiled.symbols[0]] in self._mask(compiled)
        return compiled.function(*(point[s] for s in compiled.symbols))

    def _mask(self, compiled: _Compiled) -> ValueSet:
        key = _guard_key(compiled.guard)
        mask = self.masks.get(key)
        if mask is None:
            name = compiled.symbols[0]
            form = self.forms[name].of(compiled.guard.expr)
            mask = solve_guard(form, compiled.guard.relation, self.ranges[name])
            self.masks[key] = mask
        return mask

    # ------------------------------------------------------------ classes
    def classes(self) -> dict[str, list[_Class]]:
        """Per symbol, its values grouped by everything the known guards can see of them: the
        outcomes of its own guards (`key`) and the atoms it contributes to joint guards."""
        single: dict[str, list[_Compiled]] = {n: [] for n in self.order}
        joint_atoms: dict[str, set] = {n: set() for n in self.order}
        full: set[str] = set()
        for compiled in self.compiled.values():
            if len(compiled.symbols) == 1:
                single[compiled.symbols[0]].append(compiled)
                continue
            for atom in compiled.guard.expr.atoms():
                names = {atom} if isinstance(atom, str) else atom.symbols()
                if len(names) > 1:
                    full.update(names)
                else:
                    joint_atoms[next(iter(names))].add(atom)
        result = {}
        for name in self.order:
            domain = self.ranges[name]
            # The values split by the outcome of each guard in turn: set algebra on bitsets.
            parts = [(ValueSet.full(domain), ())]
            for compiled in single[name]:
                mask = self._mask(compiled)
                parts = [
                    (values, key + (outcome,))
                    for part, key in parts
                    for values, outcome in ((part & mask, True), (part - mask, False))
                    if values
                ]
            if name in full:
                atoms = [list(domain)]
            else:
                forms = self.forms[name]
                atoms = [
                    forms.of(Sym.named(atom)).values(len(domain))
                    for atom in sorted(joint_atoms[name], key=_atom_sort)
                ]
            if atoms and len(domain) > MAX_JOINT_VALUES:
                raise _Stopped(
                    f"{name} takes {len(domain):,} values and guards tie it to other sizes; "
                    f"archspec reads at most {MAX_JOINT_VALUES:,} such values one by one: narrow "
                    "the range"
                )
            classes = []
            for part, key in parts:
                if not atoms:
                    classes.append(_Class(part, key))
                    continue
                groups: dict[tuple, list[int]] = {}
                start, step = domain.start, domain.step
                for value in part:
                    index = (value - start) // step
                    groups.setdefault(tuple(a[index] for a in atoms), []).append(value)
                classes.extend(_Class(ValueSet.of(domain, g), key) for g in groups.values())
            result[name] = sorted(classes, key=lambda c: c.values.first)
        return result

    def joint_predicate(self, run: Run):
        """One function of all symbol values: do the run's joint guards come out as at its
        hints? (Compiled once per run: the per-size loop calls it up to MAX_POINTS times.)"""
        names = {s: f"v{i}" for i, s in enumerate(self.order)}
        tests = []
        for guard in run.inference.guards:
            if len(guard.expr.symbols()) < 2:
                continue
            compare = {"==": "== 0", "<": "< 0", "<=": "<= 0"}[guard.relation]
            test = f"{python_source(guard.expr, names)} {compare}"
            tests.append(test if guard.holds else f"not ({test})")
        body = " and ".join(tests) or "True"
        return eval(f"lambda {', '.join(names.values())}: {body}")  # noqa: S307

    def matches(self, run: Run, point: dict[str, int], joint: bool) -> bool:
        """Whether the run's single-symbol guards (joint=False) or joint guards (joint=True)
        come out at `point` as they did at the run's hints."""
        for guard in run.inference.guards:
            compiled = self.compiled[_guard_key(guard)]
            if (len(compiled.symbols) > 1) != joint:
                continue
            if self.outcome(guard, point) != guard.holds:
                return False
        return True


class _Stopped(Exception):
    """The search reached a limit; the message says which."""


@dataclass
class _Class:
    values: ValueSet
    key: tuple  # outcomes of the symbol's own guards: classes with equal keys form a block


def _atom_sort(atom) -> tuple:
    return (0, atom) if isinstance(atom, str) else atom.key


@dataclass
class _Entry:
    """Sizes classified together: every combination of `members` (per symbol) takes `run`'s
    path."""

    members: tuple[ValueSet, ...]
    run: Run

    @property
    def weight(self) -> int:
        weight = 1
        for values in self.members:
            weight *= len(values)
        return weight


def _guard_key(guard: Guard) -> tuple:
    return (guard.expr.terms, guard.relation)


def generic_hint(symbol: SizeSymbol) -> int:
    """The value in range with the most factors of two (the largest on ties): sizes that pass
    every divisibility a network asks for, when any does."""
    values = symbol.values
    start, step, count = values.start, values.step, len(values)
    # The largest k with a multiple of 2^k among start + step·i: solve step·i ≡ −start (mod 2^k)
    # rather than scan a range of millions.
    for k in range(values[-1].bit_length(), -1, -1):
        modulus = 1 << k
        common = math.gcd(step, modulus)
        if start % common:
            continue
        cycle = modulus // common
        first = (-start // common) * pow(step // common, -1, cycle) % cycle if cycle > 1 else 0
        if first < count:
            return values[first + (count - 1 - first) // cycle * cycle]
    return values[-1]


def analyse(model: ModelGraph) -> SizeReport:
    """The exact set of accepted input sizes within the symbols' bounds."""
    search = _Search(model)
    generic = {s.name: generic_hint(s) for s in search.symbols}
    first = search.run(generic)
    while True:
        entries, added, stopped = _classify(search)
        if stopped or not added:
            break
    return _report(search, entries, first, stopped)


def _classify(search: _Search) -> tuple[list[_Entry], bool, str]:
    """One pass: every class of sizes gets the run whose guards it satisfies; classes no run
    covers get a run of their own (then `added`, and the caller passes again, since the new
    guards may split classes)."""
    names = search.order
    try:
        classes = search.classes()
    except _Stopped as stopped:
        return [], False, str(stopped)
    blocks: dict[str, dict[tuple, list[_Class]]] = {}
    for name in names:
        blocks[name] = {}
        for value_class in classes[name]:
            blocks[name].setdefault(value_class.key, []).append(value_class)
    entries: list[_Entry] = []
    added = False
    visited = 0
    for block in itertools.product(*(list(blocks[n].values()) for n in names)):
        corner = {n: group[0].values.first for n, group in zip(names, block)}
        candidates = [r for r in reversed(search.runs) if search.matches(r, corner, False)]
        plain = next((r for r in candidates if not _has_joint(search, r)), None)
        if plain is not None:  # the block's sizes agree on every guard of this path
            members = tuple(_union(c.values for c in group) for group in block)
            entries.append(_Entry(members, plain))
            continue
        predicates = [(r, search.joint_predicate(r)) for r in candidates]
        *outer, inner = block
        inner_values = [c.values.first for c in inner]
        for prefix in itertools.product(*outer):
            visited += len(inner)
            if visited > MAX_POINTS:
                return (
                    entries,
                    added,
                    (
                        f"more than {MAX_POINTS} combinations of sizes to tell apart; narrow the "
                        "bounds"
                    ),
                )
            head = [c.values.first for c in prefix]
            members = tuple(c.values for c in prefix)
            remaining = list(range(len(inner)))
            while remaining:
                for run, holds in predicates:
                    hits = [i for i in remaining if holds(*head, inner_values[i])]
                    if hits:
                        joined = _union(inner[i].values for i in hits)
                        entries.append(_Entry((*members, joined), run))
                        taken = set(hits)
                        remaining = [i for i in remaining if i not in taken]
                    if not remaining:
                        break
                else:
                    if len(search.runs) >= MAX_RUNS:
                        return entries, added, f"more than {MAX_RUNS} distinct cases"
                    point = dict(zip(names, [*head, inner_values[remaining[0]]]))
                    run = search.run(point)
                    predicates.insert(0, (run, search.joint_predicate(run)))
                    added = True
    return entries, added, ""


def _union(sets) -> ValueSet:
    sets = list(sets)
    bits = 0
    for values in sets:
        bits |= values.index_bits()
    return ValueSet(sets[0].domain, bits)


def _has_joint(search: _Search, run: Run) -> bool:
    return any(len(search.compiled[_guard_key(g)].symbols) > 1 for g in run.inference.guards)


def _report(search: _Search, entries: list[_Entry], first: Run, stopped: str) -> SizeReport:
    names = search.order
    accepted_bits = {n: 0 for n in names}
    accepted_count = 0
    blocks: list[tuple[ValueSet, ...]] = []
    for entry in entries:
        if not entry.run.ok:
            continue
        accepted_count += entry.weight
        for name, values in zip(names, entry.members):
            accepted_bits[name] |= values.index_bits()
        blocks.append(entry.members)
    accepted_values = {n: ValueSet(search.ranges[n], accepted_bits[n]) for n in names}
    total = 1
    for symbol in search.symbols:
        total *= len(symbol.values)
    projection = 1
    for name in names:
        projection *= len(accepted_values[name])
    product = accepted_count == projection
    main = first if first.ok else next((r for r in search.runs if r.ok), first)
    report = SizeReport(
        symbols=search.symbols,
        accepted_sets=accepted_values,
        product=product,
        accepted_count=accepted_count if not stopped else 0,
        total_count=total,
        blocks=blocks,
        main=main,
        complete=not stopped,
        stopped=stopped,
        runs=len(search.runs),
    )
    if not stopped:
        report.rejections = _rejections(search, entries, report)
    report.fixed_by = _fixing_guards(search.model, main) if main.ok else []
    return report


def _rejections(search: _Search, entries: list[_Entry], report: SizeReport) -> list[Rejection]:
    """One entry per reason (a finding's code and place, and which symbols are at fault), with
    how many sizes it rejects and its smallest counter-example, rechecked with plain numbers.
    Smallest: other symbols at accepted values where possible, then the lowest values."""
    names = search.order
    grouped: dict[tuple, tuple[int, tuple[int, ...], Run]] = {}
    for entry in entries:
        if entry.run.ok:
            continue
        first = next(d for d in entry.run.diagnostics if d.severity == "error")
        example = tuple(
            ((values & report.accepted_sets[n]) or values).first
            for n, values in zip(names, entry.members)
        )
        culprits = tuple(n for n, v in zip(names, example) if v not in report.accepted_sets[n])
        span = first.primary.span
        key = (first.code, span.start, span.end, culprits)
        count, best, _ = grouped.get(key, (0, example, entry.run))
        best = min(best, example, key=lambda r: _example_rank(r, names, report))
        grouped[key] = (count + entry.weight, best, entry.run)
    rejections = []
    for (*_, culprits), (count, example, run) in grouped.items():
        values = dict(zip(names, example))
        reporter = diag.Reporter()
        infer(search.model, reporter, values=values)
        errors = [d for d in reporter.diagnostics if d.severity == "error"]
        chosen = errors[0] if errors else run.diagnostics[0]
        rejections.append(Rejection(count, values, chosen, culprits))
    rejections.sort(key=lambda r: (len(r.culprits), tuple(r.example[n] for n in names)))
    return rejections


def _example_rank(representative, names, report: SizeReport) -> tuple:
    outside = sum(1 for n, v in zip(names, representative) if v not in report.accepted_sets[n])
    return (outside, max(representative), representative)


def _fixing_guards(model: ModelGraph, run: Run) -> list[Guard]:
    """Equalities that pin sizes to a few values at a layer with `in_features` (flatten ->
    Linear): what an adaptive pool would remove."""
    fixing = []
    for guard in run.inference.guards:
        if guard.relation != "==" or guard.node is None:
            continue
        node = model.node(guard.node)
        if node.op is not None and any(p.name == "in_features" for p in node.op.params):
            fixing.append(guard)
    return fixing


# ---------------------------------------------------------------- plain words


def describe_values(values: ValueSet | list[int], domain: range) -> str:
    """A set of sizes within `domain` in words: "multiples of 16 from 32", "193 to 224"."""
    chosen = values if isinstance(values, ValueSet) else ValueSet.of(domain, values)
    if not chosen:
        return "none"
    if len(chosen) == len(domain):
        return _domain_words(domain)
    if len(chosen) == 1:
        return f"only {chosen.first}"
    step = domain.step
    bits = chosen.index_bits()
    # Sizes above the largest accepted one are simply rejected ("... to 512"): look for the
    # pattern below it only.
    period_index, start_index = _period_of_bits(bits, bits.bit_length())
    period = period_index * step
    periodic = ValueSet(domain, bits >> start_index << start_index)
    exceptions = ValueSet(domain, bits & ((1 << start_index) - 1))
    last = chosen.last
    ends_at_top = last > domain[-1] - period
    words: list[str] = []
    if periodic and period == step:
        words.append(_range_words(periodic.first, domain[-1] if ends_at_top else last, domain))
    elif periodic:
        # One period from the pattern's start holds every residue (the pattern repeats to
        # `last`, at least twice).
        window = ValueSet(domain, bits & (((1 << period_index) - 1) << start_index))
        residues = sorted(v % period for v in window)
        if residues == [0]:
            kind = f"multiples of {period}"
        elif period == 2 and residues == [1]:
            kind = "odd sizes"
        elif len(residues) == 1:
            kind = f"sizes of the form {period}k + {residues[0]}"
        else:
            listed = _list_words(residues)
            kind = f"sizes leaving a remainder of {listed} when divided by {period}"
        first = periodic.first
        # "from 4553" when a smaller size of the domain leaves one of the remainders.
        earliest = min(domain.start + (r - domain.start) % period for r in residues)
        if first > earliest:
            kind += f" from {first}"
        if not ends_at_top:
            kind += f" to {last}"
        words.append(kind)
    if exceptions:
        words.insert(0, _list_words(exceptions.sorted(), step))
    return ", and ".join(words)


def _domain_words(domain: range) -> str:
    if len(domain) == 1:
        return f"only {domain.start}"
    steps = f" in steps of {domain.step}" if domain.step != 1 else ""
    return f"any size from {domain.start} to {domain[-1]}{steps}"


def _range_words(first: int, last: int, domain: range) -> str:
    steps = f" in steps of {domain.step}" if domain.step != 1 else ""
    if first == last:
        return f"only {first}"
    if last == domain[-1]:
        return f"at least {first}{steps}"
    return f"{first} to {last}{steps}"


def _list_words(values: list[int], step: int = 1) -> str:
    runs: list[list[int]] = []
    for value in values:
        if runs and runs[-1][-1] == value - step:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts = []
    for run in runs:  # a run of two reads better as two sizes: "0, 1", not "0 to 1"
        parts.extend(map(str, run) if len(run) <= 2 else [f"{run[0]} to {run[-1]}"])
    if len(parts) > 6:
        parts = parts[:6] + [f"… ({len(values)} sizes)"]
    return ", ".join(parts)


def _period(chosen: set[int], count: int) -> tuple[int, int]:
    """Over indices 0..count−1: the period p, and the start t, with i ∈ S ⇔ i + p ∈ S for
    t ≤ i < count − p, seen at least twice, that explains the most of the range (the smallest t;
    the smallest p among equals). A constant run of rejected sizes at the top must not pass for
    the pattern. Returns (1, count) when none."""
    return _period_of_bits(bits_of(chosen), count)


def _period_of_bits(bits: int, count: int) -> tuple[int, int]:
    """`_period` of the set whose bit i says i ∈ S.

    Comparing the bitset with itself shifted by p costs a few machine words per 64 sizes, but a
    million sizes times thousands of candidate periods is still seconds; three facts keep it to
    a few full comparisons:
    - below the top run of equal bits (from index a), every p no longer than the run mismatches
      at a − 1, so its start is a, as for p = 1, which wins the tie;
    - a mismatch in a window at the top is the highest mismatch: the window alone gives the start;
    - a multiple q of a period p found from t with count − t ≥ q cannot start lower than p does
      (a q-periodic sequence whose top q values are p-periodic is p-periodic).
    """
    best = (count, 1)
    limit = max(2, min(count // 4, MAX_PERIOD))
    if count <= 0:
        return best[1], best[0]
    top = bits.bit_length() == count  # the highest index's bit
    below_run = ((~bits & ((1 << count) - 1)) if top else bits).bit_length()
    run = count - below_run
    window_low = max(0, count - (run + 4 * limit))
    window, window_count = bits >> window_low, count - window_low
    found: list[tuple[int, int]] = []
    for period in range(1, limit + 1):
        if 1 < period <= run:
            continue
        if any(period % p == 0 and count - t >= period for p, t in found):
            continue
        mismatches = (window ^ (window >> period)) & ((1 << max(window_count - period, 0)) - 1)
        if mismatches or window_low == 0:
            start = window_low + mismatches.bit_length()
        else:
            below_top = (1 << max(count - period, 0)) - 1
            start = ((bits ^ (bits >> period)) & below_top).bit_length()
        if count - start >= 2 * period:
            found.append((period, start))
            if start < best[0]:
                best = (start, period)
        if best[0] == 0:
            break
    return best[1], best[0]


def describe_report(report: SizeReport) -> str:
    names = report.names
    if not report.complete:
        return f"undetermined: {report.stopped}"
    if report.accepted_count == 0:
        return "no size in " + ", ".join(s.bounds_text for s in report.symbols)
    if report.product:
        by_text: dict[str, list[str]] = {}
        for symbol in report.symbols:
            text = describe_values(report.accepted_sets[symbol.name], symbol.values)
            by_text.setdefault(text, []).append(symbol.name)
        parts = [f"{', '.join(group)}: {text}" for text, group in by_text.items()]
        return "; ".join(parts)
    shown = ", ".join("(" + ", ".join(map(str, p)) + ")" for p in report.points[:8])
    more = f", … ({report.accepted_count} in all)" if report.accepted_count > 8 else ""
    return f"({', '.join(names)}) in {{{shown}{more}}}"


def congruences(report: SizeReport) -> dict[str, tuple[int, int]]:
    """Per symbol, (p, r) when every accepted value is r modulo p (p > 1): H ≡ 0 mod 16."""
    found = {}
    if not report.complete or not report.accepted_count:
        return found
    for name, values in report.accepted_sets.items():
        runs = values.index_runs()
        first = runs[0][0]
        period = 0  # in indices: the gcd of every accepted index's distance from the first
        for low, high in runs:
            period = math.gcd(period, low - first, 1 if high > low else 0)
            if period == 1:
                break
        period *= values.domain.step
        if period > 1:
            found[name] = (period, values.first % period)
    return found


def simplify_inference(inference: Inference, facts: dict[str, tuple[int, int]]) -> None:
    """Rewrite shapes and MAC counts under the accepted sizes' congruences (H/8, not
    2·⌊H/16⌋); guards are left as recorded."""
    if not facts:
        return
    for node_id, shape in inference.shapes.items():
        inference.shapes[node_id] = tuple(simplify(d, facts) for d in shape)
    for node_id, evaluation in inference.evaluations.items():
        evaluation.shape = inference.shapes[node_id]
        evaluation.macs = simplify(evaluation.macs, facts)


def _where(span) -> str:
    """`unet_blocks.arch:23:52`: file, line and column, as compilers print them."""
    return f"{os.path.basename(span.source.path)}:{span.line}:{span.column}"


def by_reason(rejections: list[Rejection]) -> list[Rejection]:
    """One rejection per finding (code and place), the best example kept, counts summed: the
    layer that rejects H = 1 also rejects W = 1."""
    merged: dict[tuple, Rejection] = {}
    for rejection in rejections:  # sorted: fewest culprits, then smallest, first
        span = rejection.diagnostic.primary.span
        key = (rejection.diagnostic.code, span.start, span.end)
        if key in merged:
            kept = merged[key]
            merged[key] = Rejection(kept.count + rejection.count, kept.example, kept.diagnostic,
                                    kept.culprits)  # fmt: skip
        else:
            merged[key] = rejection
    return list(merged.values())


def example_text(values: dict[str, int]) -> str:
    return ", ".join(f"{name} = {value}" for name, value in values.items())


def rejection_text(rejection: Rejection) -> str:
    """ "H = 33, W = 32: cat at 41:9: cat along dim 1 needs … [E204]"."""
    finding = rejection.diagnostic
    span = finding.primary.span
    return f"{example_text(rejection.example)}: {finding.message} ({_where(span)}) [{finding.code}]"


def _progression(values: ValueSet) -> tuple[int, int, int] | None:
    """(first, last, step) when the values are exactly an arithmetic progression."""
    if len(values) < 2:
        return None
    runs = values.index_runs()
    domain = values.domain
    if len(runs) == 1:
        return values.first, values.last, domain.step
    gap = runs[1][0] - runs[0][0]
    if all(low == high for low, high in runs) and all(
        b[0] - a[0] == gap for a, b in zip(runs, runs[1:])
    ):
        return values.first, values.last, gap * domain.step
    return None


def size_findings(model: ModelGraph, report: SizeReport) -> list[diag.Diagnostic]:
    """E209 when declared ranges include rejected sizes; W009 where a Linear pins the size."""
    findings = []
    if not report.complete:
        return findings
    if report.accepted_count == 0:
        return findings  # the main run's own errors say why (see analyse's caller)
    declared = [s for s in report.symbols if s.declared]
    rejected = {s.name: ValueSet.full(s.values) - report.accepted_sets[s.name] for s in declared}
    offending = [s for s in declared if rejected[s.name]]
    if offending:
        findings.append(_rejected_sizes(model, report, offending, rejected))
    for guard in report.fixed_by:
        node = model.node(guard.node)
        features = report.main.inference.evaluations[guard.node].args.get("in_features")
        pool = _pool_suggestion(model, report.main.inference, node)
        findings.append(
            diag.make(
                "W009",
                f"{node.op.name} with in_features={features} works only at the input sizes "
                f"where the flattened features equal {features}: {report.describe()}",
                node.span,
                "fixes the input size",
                notes=[f"the incoming features are {_features(report, node)}"],
                help=f"pool to a fixed size before flattening{pool}, so any input size works",
            )
        )
    return findings


def _rejected_sizes(model, report: SizeReport, offending, rejected) -> diag.Diagnostic:
    """E209: one finding for the input, at its first range that includes rejected sizes."""
    first = offending[0]
    names = {s.name for s in offending}
    relevant = sorted(
        (r for r in report.rejections if names & set(r.culprits)), key=lambda r: len(r.culprits)
    )
    alone = [r for r in relevant if len(r.culprits) == 1]
    notes = [f"accepted: {report.describe()}"]
    notes += [f"rejected: {rejection_text(r)}" for r in (alone or relevant)[:3]]
    suggestions = []
    for symbol in offending:
        progression = _progression(report.accepted_sets[symbol.name])
        if progression is None:
            suggestions = []
            break
        low, high, step = progression
        suggestions.append(
            f"`{symbol.name} in {low}..{high}" + (f" step {step}`" if step != 1 else "`")
        )
    help_text = (
        "declare the sizes that work: " + ", ".join(suggestions)
        if suggestions
        else "declare only sizes the network accepts (`archspec sizes` lists them)"
    )
    counts = ", ".join(
        f"{len(rejected[s.name])} of {len(s.values)} for {s.name} (first {rejected[s.name].first})"
        for s in offending
    )
    return diag.make(
        "E209",
        f"model {model.name} rejects sizes in the declared range: {counts}",
        first.span,
        "includes rejected sizes",
        secondary=[(s.span, "and here") for s in offending[1:]],
        notes=notes,
        help=help_text,
    )


def _features(report: SizeReport, node) -> str:
    shape = report.main.inference.shapes.get(node.inputs[0]) if node.inputs else None
    return str(shape[-1]) if shape else "?"


def _pool_suggestion(model: ModelGraph, inference: Inference, node) -> str:
    """`, e.g. -> AdaptiveAvgPool2d((7, 7)) before the flatten at 12:5` from the sizes the
    Linear expects (the flatten's input at the accepted hints)."""
    from archspec.core.dims import evaluate

    current = node.inputs[0] if node.inputs else None
    while current is not None:
        producer = model.node(current)
        if producer.op is not None and producer.op.name in ("flatten", "Flatten"):
            source = inference.shapes.get(producer.inputs[0]) if producer.inputs else None
            if source is None or len(source) not in (3, 4, 5):
                return ""
            spatial = [evaluate(d, inference.hints) for d in source[2:]]
            features = inference.evaluations[node.id].args.get("in_features")
            channels = source[1]
            if isinstance(features, int) and isinstance(channels, int) and len(spatial) == 2:
                per_channel, rest = divmod(features, channels)
                side = math.isqrt(per_channel)
                if not rest and side * side == per_channel:  # in_features = C·s·s: pool to s×s
                    spatial = [side, side]
            pool = f"AdaptiveAvgPool{len(spatial)}d(({', '.join(map(str, spatial))}))"
            return f", e.g. `-> {pool}` before the {producer.op.name} at line {producer.span.line}"
        current = producer.inputs[0] if producer.inputs else None
    return ""


# ---------------------------------------------------------------- `archspec sizes`


def render_text(checked) -> str:
    """The accepted sizes of one checked model, in words, with one line per rejection reason."""
    from archspec.core.dims import format_shape

    graph, report = checked.graph, checked.sizes
    lines = [f"{graph.name} ({graph.span.source.path}:{graph.span.line})"]
    inputs = [graph.node(i) for i in graph.inputs]
    for node in inputs:
        lines.append(f"  input {node.name}: {format_shape(node.declared_shape)}")
    if report is None:
        sizes = ", ".join(format_shape(n.declared_shape) for n in inputs) or "its inputs"
        lines.append(f"  no symbolic sizes: checked at {sizes} only")
        return "\n".join(lines) + "\n"
    ranges = ", ".join(
        s.bounds_text + ("" if s.declared else " (default range)") for s in report.symbols
    )
    lines.append(f"  range:   {ranges}")
    if not report.complete:
        lines.append(f"  accepts: undetermined ({report.stopped})")
        return "\n".join(lines) + "\n"
    share = f"{report.accepted_count:,} of {report.total_count:,} sizes"
    lines.append(f"  accepts: {report.describe()} ({share})")
    if report.accepted_count:
        shown = ", ".join(
            f"{graph.output_label(o)} {format_shape(shape)}".strip()  # `'out' [N, 21, H, W]`
            for o in graph.outputs
            if (shape := checked.inference.shapes.get(o)) is not None
        )
        lines.append(f"  output:  {shown}")
    reasons = by_reason(report.rejections)
    if reasons:
        lines.append("  rejects:")
        examples = [example_text(r.example) for r in reasons]
        width = max(len(e) for e in examples)
        for rejection, example in zip(reasons, examples):
            finding = rejection.diagnostic
            span = finding.primary.span
            lines.append(
                f"    {example.ljust(width)}  {finding.message} ({_where(span)}) "
                f"[{finding.code}; {rejection.count:,} sizes]"
            )
    return "\n".join(lines) + "\n"


def to_dict(checked) -> dict:
    graph, report = checked.graph, checked.sizes
    data: dict = {"model": graph.name, "symbolic": report is not None}
    if report is None:
        return data
    data.update(
        symbols=[
            {"name": s.name, "low": s.low, "high": s.high, "step": s.step, "declared": s.declared}
            for s in report.symbols
        ],
        complete=report.complete,
        description=report.describe(),
        accepted_count=report.accepted_count,
        total_count=report.total_count,
        product=report.product,
        accepted=report.accepted,
        rejections=[
            {
                "example": r.example,
                "count": r.count,
                "code": r.diagnostic.code,
                "message": r.diagnostic.message,
                "line": r.diagnostic.primary.span.line,
                "column": r.diagnostic.primary.span.column,
            }
            for r in report.rejections
        ],
    )
    if not report.product:
        data["points"] = [list(p) for p in report.points]
    return data


def render_json(models) -> str:
    import json

    return json.dumps([to_dict(m) for m in models], indent=2, ensure_ascii=False) + "\n"
