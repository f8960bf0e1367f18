"""The pipeline in a few lines: load -> elaborate -> infer -> lint, for files or strings."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from archspec.core import diagnostic as diag
from archspec.core import records
from archspec.core.dims import Dim
from archspec.core.records import field, record
from archspec.core.source import SourceFile
from archspec.diagnostics.budgets import Budget, check_budgets
from archspec.diagnostics.lint import lint
from archspec.diagnostics.suppressions import apply_suppressions
from archspec.elaborate.elaborator import Elaborator
from archspec.elaborate.graph import ModelGraph
from archspec.elaborate.loader import LoadedFile, Loader
from archspec.shapes.infer import Inference, infer, propagated_values
from archspec.shapes.ties import tie_findings, tied_parameters

if TYPE_CHECKING:
    from archspec.shapes.sizes import SizeReport


@record
class CheckedModel:
    graph: ModelGraph
    inference: Inference
    sizes: SizeReport | None = None  # when the input has symbolic sizes (archspec.shapes.sizes)
    # The spec's errors that leave this model incomplete (set by the check): while there are
    # any, its shapes and counts are partial, and a notebook shows these instead.
    errors: list[diag.Diagnostic] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def output_shapes(self) -> list:
        return [self.inference.shapes.get(o) for o in self.graph.outputs]

    @property
    def parameter_count(self) -> int:
        """Every layer counted once, however often it is applied (as torch counts parameters)."""
        total = 0
        for module in self.graph.root.walk():
            total += sum(state.parameters for state in module.state.values())  # `param`s
            if module.kind != "layer" or not module.applications:
                continue
            evaluation = self.inference.evaluations.get(module.applications[0])
            if evaluation is not None:
                total += evaluation.params
        return total - tied_parameters(self.graph, self.inference.module_args)

    @property
    def mac_count(self) -> Dim:
        """Multiply-accumulates of one forward pass in eval mode, as torchinfo and fvcore measure
        them: layers that run only in training (`if training`) are left out."""
        from archspec.elaborate.graph import TRAIN

        total: Dim = 0
        for node_id, evaluation in self.inference.evaluations.items():
            if self.graph.node(node_id).mode != TRAIN:
                total = total + evaluation.macs
        return total

    def summary(self, batch: int = 1, sizes: dict[str, int] | None = None):
        """The layer table (print it, or read its rows and totals); `sizes` picks the input
        sizes counts are taken at, for a symbolic input (H=224, W=224)."""
        from archspec.outputs.summary import summarize

        return summarize(self, batch, sizes)

    def to_dot(self, diagnostics=None, depth: int | None = None) -> str:
        from archspec.outputs.render import to_dot

        return to_dot(self, diagnostics, depth)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows the diagram (needs Graphviz's `dot`; else the text summary shows); not
        for an incomplete model, whose findings show instead."""
        if self.errors:
            return None
        from archspec.outputs.render import RenderError, render

        try:
            return render(self.to_dot(), "svg").decode("utf-8")
        except RenderError:
            return None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        if self.errors:
            from archspec.diagnostics.formats import notebook_bundle

            return notebook_bundle(self.name, self.errors)
        bundle = {"text/plain": str(self.summary())}
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle


# Errors that leave every shape of a graph known: a budget (E3xx) judges a complete model, and a
# declared size range that includes failing sizes (E209) is shown at an accepted size.
_COMPLETE_GRAPH_ERRORS = ("E209", "E3")

SUPPRESSED_NOTE = (
    "this error is suppressed by an `# archspec: ignore` comment, which hides the report but "
    "cannot mend the model: fix the error to compile, build or summarize it"
)


@record
class CheckResult:
    path: str
    diagnostics: list[diag.Diagnostic]
    models: list[CheckedModel] = field(default_factory=list)
    loaded: LoadedFile | None = None
    suppressed: list[diag.Diagnostic] = field(default_factory=list)  # hidden by a comment

    @property
    def ok(self) -> bool:
        """No reported error (what `archspec check` exits on)."""
        return not any(d.severity is diag.Severity.ERROR for d in self.diagnostics)

    @property
    def complete(self) -> bool:
        """No error, reported or suppressed, left a graph incomplete: what compile, build and
        summary need (a suppressed error's layer has no shape, and code for it cannot exist)."""
        return self.ok and not self.hidden_errors

    @property
    def hidden_errors(self) -> list[diag.Diagnostic]:
        """The suppressed errors that leave a graph incomplete, each with a note saying so."""
        return [
            records.replace(d, notes=(*d.notes, SUPPRESSED_NOTE))
            for d in self.suppressed
            if d.severity is diag.Severity.ERROR and not d.code.startswith(_COMPLETE_GRAPH_ERRORS)
        ]

    @property
    def graph_errors(self) -> list[diag.Diagnostic]:
        """The errors, reported or suppressed, that leave some shape and count unknown."""
        reported = [
            d
            for d in self.diagnostics
            if d.severity is diag.Severity.ERROR and not d.code.startswith(_COMPLETE_GRAPH_ERRORS)
        ]
        return [*reported, *self.hidden_errors]

    def summary(self, batch: int = 1, sizes: dict[str, int] | None = None):
        return self.model().summary(batch, sizes)

    def _repr_svg_(self) -> str | None:
        return self.model()._repr_svg_() if len(self.models) == 1 else None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        if self.graph_errors:  # the findings, never partial numbers that would read as whole
            from archspec.diagnostics.formats import notebook_bundle

            return notebook_bundle(self.path, [*self.diagnostics, *self.hidden_errors])
        if len(self.models) == 1:
            return self.model()._repr_mimebundle_(include, exclude)
        return {"text/plain": repr(self)}

    def model(self, name: str | None = None) -> CheckedModel:
        if name is None:
            if len(self.models) != 1:
                names = ", ".join(m.name for m in self.models) or "none"
                raise LookupError(f"{self.path} defines {len(self.models)} models ({names})")
            return self.models[0]
        for model in self.models:
            if model.name == name:
                return model
        raise LookupError(f"{self.path} defines no model {name!r}")


ModelArgs = dict[str, dict[str, Any]]  # model name -> parameter overrides
BudgetLookup = Callable[[str], Budget | None]  # model name -> the configuration's budget


def check_file(
    path: str,
    model_args: ModelArgs | None = None,
    *,
    budgets: BudgetLookup | None = None,
    enable: Iterable[str] = (),
) -> CheckResult:
    """Check a file; `model_args` overrides models' parameter defaults (as build() does),
    `budgets` gives configured budgets by model name, `enable` turns on opt-in codes (W008)."""
    reporter = diag.Reporter()
    loader = Loader(reporter)
    loaded = loader.load_path(path)
    result = _finish(path, loaded, reporter, model_args or {}, budgets, enable)
    return _with_vetted_fixes(result, model_args or {}, budgets, enable)


def check_text(
    text: str,
    path: str = "<string>",
    model_args: ModelArgs | None = None,
    *,
    budgets: BudgetLookup | None = None,
    enable: Iterable[str] = (),
):
    result = _check_text_unvetted(text, path, model_args or {}, budgets, enable)
    return _with_vetted_fixes(result, model_args or {}, budgets, enable)


def _check_text_unvetted(
    text: str,
    path: str,
    model_args: ModelArgs,
    budgets: BudgetLookup | None,
    enable: Iterable[str],
) -> CheckResult:
    reporter = diag.Reporter()
    loader = Loader(reporter)
    loaded = loader.load_text(path, text)  # a lone surrogate is E003, not UnicodeEncodeError
    return _finish(path, loaded, reporter, model_args, budgets, enable)


def _finish(
    path: str,
    loaded: LoadedFile | None,
    reporter,
    model_args: ModelArgs,
    budgets: BudgetLookup | None = None,
    enable: Iterable[str] = (),
) -> CheckResult:
    result = CheckResult(path, [], loaded=loaded)
    defined = []
    opted_in = frozenset(enable)
    if loaded is not None:
        elaborator = Elaborator(loaded.definitions, reporter)
        for definition in loaded.local:
            if definition.kind != "model":
                continue
            graph = elaborator.elaborate_model(definition, model_args.get(definition.name.id))
            if graph.size_symbols:
                checked_model = _check_sizes(graph, reporter, opted_in)
            else:
                inference = infer(graph, reporter)
                lint(graph, inference, reporter, opted_in)
                checked_model = CheckedModel(graph, inference)
            reporter.extend(tie_findings(graph, checked_model.inference.module_args))
            result.models.append(checked_model)
            defined.append((definition, result.models[-1]))
        reporter.extend(check_budgets(defined, loaded.source, budgets))
    checked = loaded.source if loaded is not None else None
    block_lines = _block_lines(loaded) if loaded is not None else set()
    kept, suppressed = apply_suppressions(reporter.diagnostics, checked, block_lines)
    kept = [d for d in kept if d.code not in diag.OPT_IN_CODES or d.code in opted_in]
    instance_paths = _instance_paths(result.models)
    collapsed = collapse_repeats(diag.sorted_diagnostics(kept), instance_paths)
    result.diagnostics = [_agreed_fix(d, result.models) for d in collapsed]
    result.suppressed = collapse_repeats(diag.sorted_diagnostics(suppressed), instance_paths)
    for model in result.models:
        model.errors = result.graph_errors
    return result


def _check_sizes(
    graph: ModelGraph, reporter: diag.Reporter, opted_in: frozenset[str]
) -> CheckedModel:
    """A model with symbolic input sizes: find the sizes it accepts (archspec.shapes.sizes); show
    the shapes of an accepted size symbolically, or, when none is accepted, the findings at the
    most divisible size."""
    from archspec.core.dims import Sizing
    from archspec.shapes.sizes import (
        analyse,
        congruences,
        example_text,
        simplify_inference,
        size_findings,
    )

    report = analyse(graph)
    main = report.main
    if main.ok:
        simplify_inference(main.inference, congruences(report))
    for finding in main.diagnostics:
        if finding.severity == "error" and report.complete:
            where = f"at {example_text(main.hints)}; {report.describe()} is accepted"
            finding = records.replace(finding, notes=(*finding.notes, where))
        reporter.add(finding)
    reporter.extend(size_findings(graph, report))
    with Sizing(main.hints):  # lint's own comparisons are about the shown sizes
        lint(graph, main.inference, reporter, opted_in)
    return CheckedModel(graph, main.inference, report)


# Fixes re-checked one at a time when checking them together fails; beyond this, the rest are
# withdrawn rather than re-checking the file once per finding.
MAX_FIXES_VETTED_ALONE = 16


def _with_vetted_fixes(
    result: CheckResult,
    model_args: ModelArgs,
    budgets: BudgetLookup | None,
    enable: Iterable[str],
) -> CheckResult:
    """Offer a fix only where applying it provably removes its finding and creates no other: the
    fixed text is checked again. All fixes are tried together first (one more check in the
    common case), then, if that fails, one by one; a fix that does not pass is withdrawn and the
    finding's help remains."""
    if result.loaded is None or not any(d.fix is not None for d in result.diagnostics):
        return result
    source = result.loaded.source

    def check_fixed(fixes: list[diag.Fix]) -> Counter:
        text = diag.apply_edits(source.text, [edit for fix in fixes for edit in fix.edits])
        fixed = _check_text_unvetted(text, result.path, model_args, budgets, enable)
        return Counter(d.code for d in fixed.diagnostics)

    before = Counter(d.code for d in result.diagnostics)
    offered = [d for d in result.diagnostics if d.fix is not None and _edits(d.fix, source)]
    fixes = [d.fix for d in offered]
    if _disjoint(fixes) and _resolves(before, check_fixed(fixes), offered):
        kept = {id(d) for d in offered}
    else:
        alone = offered[:MAX_FIXES_VETTED_ALONE]
        kept = {id(d) for d in alone if _resolves(before, check_fixed([d.fix]), [d])}
    result.diagnostics = [
        d if d.fix is None or id(d) in kept else records.replace(d, fix=None)
        for d in result.diagnostics
    ]
    return result


def _edits(fix: diag.Fix, source: SourceFile) -> bool:
    """The fix edits the checked text only (never an imported file, which --fix leaves alone)."""
    return all(edit.span.source is source for edit in fix.edits)


def _disjoint(fixes: list[diag.Fix]) -> bool:
    """No two edits overlap: in order of place, none overlaps the one reaching furthest before
    it (linear after the sort, for a file with thousands of W008 fixes)."""
    edits = sorted((edit for fix in fixes for edit in fix.edits), key=lambda e: e.span.start)
    furthest = None
    for edit in edits:
        if furthest is not None and edit.overlaps(furthest):
            return False
        if furthest is None or edit.span.end >= furthest.span.end:
            furthest = edit
    return True


def _resolves(before: Counter, after: Counter, fixed: list[diag.Diagnostic]) -> bool:
    """Each fixed finding is gone and nothing new appeared: no code is reported more often than
    before, less the findings fixed."""
    removed = Counter(d.code for d in fixed)
    return all(count <= before[code] - removed[code] for code, count in after.items())


def _agreed_fix(diagnostic: diag.Diagnostic, models: list[CheckedModel]) -> diag.Diagnostic:
    """An E201/E202 fix writes one number at a span that loops, blocks and shared layers may
    evaluate many times: it stays only when every one of them receives that number."""
    if diagnostic.fix is None or diagnostic.code not in ("E201", "E202"):
        return diagnostic
    (edit,) = diagnostic.fix.edits
    values = propagated_values([(m.graph, m.inference) for m in models], edit.span)
    if values is None or {str(v) for v in values} != {edit.replacement}:
        return records.replace(diagnostic, fix=None)
    return diagnostic


def collapse_repeats(
    diagnostics: list[diag.Diagnostic], instance_paths: frozenset[str] = frozenset()
) -> list[diag.Diagnostic]:
    """One finding per code, place and message: a loop or a shared block that repeats a mistake
    13 times is reported once, with a note saying how often. Instances' messages may differ only
    in the instance's path (`'layer1.conv'`, `'layer2.conv'`), which the key leaves out; two
    different messages at one place are two findings and stay two."""
    groups: dict[tuple, list[diag.Diagnostic]] = {}
    for diagnostic in diagnostics:
        span = diagnostic.primary.span
        message = _without_instance_paths(diagnostic.message, instance_paths)
        key = (diagnostic.code, span.source.path, span.start, span.end, message)
        groups.setdefault(key, []).append(diagnostic)
    collapsed = []
    for group in groups.values():
        first = group[0]
        if len(group) > 1:
            note = f"reported once for {len(group)} instances made by this line"
            first = records.replace(first, notes=(*first.notes, note))
        collapsed.append(first)
    return collapsed


_QUOTED = re.compile(r"'([^'\n]*)'")


def _without_instance_paths(message: str, instance_paths: frozenset[str]) -> str:
    """The message with each quoted module path made anonymous: `'b1.conv'` and `'b2.conv'`
    both read `'…'`."""
    if not instance_paths:
        return message
    return _QUOTED.sub(lambda m: "'…'" if m.group(1) in instance_paths else m.group(), message)


def _instance_paths(models: list[CheckedModel]) -> frozenset[str]:
    """Every module's dotted path: a block's or a loop's instances differ in these alone."""
    return frozenset(
        module.path for model in models for module in model.graph.root.walk() if module.path
    )


def _block_lines(loaded: LoadedFile) -> set[int]:
    """Lines inside the file's block definitions (see apply_suppressions)."""
    lines: set[int] = set()
    definitions = loaded.module.definitions if loaded.module is not None else loaded.local
    for definition in definitions:
        if definition.kind == "block":
            end_line = definition.span.end_line_col[0]
            lines.update(range(definition.span.line, end_line + 1))
    return lines


def source_of(text: str, path: str = "<string>") -> SourceFile:
    return SourceFile(path, text)
