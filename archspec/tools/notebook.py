"""Jupyter: the `%%arch` cell magic, loaded with `%load_ext archspec`.

A cell that starts with `%%arch` holds a spec; running it checks the spec and shows its findings,
then, when the models are complete, each model's summary table and graph. The report is the cell's
value (IPython displays it); `%%arch NAME` also keeps the CheckResult in the notebook's variable
NAME. Imports in the cell are relative to the notebook's folder (the current directory).

IPython is never imported here: it calls load_ipython_extension with its shell, and the magic is
a plain function, so archspec does not need IPython installed.
"""

from __future__ import annotations

import html
import shlex

from archspec.core.records import record
from archspec.diagnostics.formats import notebook_bundle, render_summary, render_text
from archspec.driver import CheckResult, check_text

CELL_PATH = "<cell>"  # the name findings in a cell are reported under


class MagicUsageError(ValueError):
    """The `%%arch` line cannot be read; the message says how it is written."""


USAGE = "%%arch [NAME] [--no-graph] (NAME: a variable that keeps the checked result)"


@record(frozen=True)
class CellOptions:
    variable: str | None = None
    graph: bool = True


def parse_line(line: str) -> CellOptions:
    """The words after `%%arch`: an optional variable name and --no-graph."""
    try:
        words = shlex.split(line)
    except ValueError as error:
        raise MagicUsageError(f"%%arch: {error}; usage: {USAGE}") from None
    variable, graph = None, True
    for word in words:
        if word == "--no-graph":
            graph = False
        elif word.isidentifier() and variable is None:
            variable = word
        else:
            raise MagicUsageError(f"%%arch: cannot read {word!r}; usage: {USAGE}")
    return CellOptions(variable, graph)


@record
class CellReport:
    """A checked cell as Jupyter shows it: the findings, then each model's summary and graph."""

    result: CheckResult
    graph: bool = True

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        result = self.result
        if result.graph_errors:
            return notebook_bundle("%%arch cell", [*result.diagnostics, *result.hidden_errors])
        findings = [render_text(d) for d in result.diagnostics]
        summary = render_summary(result.diagnostics, 1).replace("1 file", "the cell", 1)
        tables = [str(model.summary()) for model in result.models]
        if not result.models:
            tables = ["no model in the cell (blocks are checked when a model uses them)"]
        plain = "\n\n".join([*findings, summary, *tables]) + "\n"
        parts = [f"<pre>{html.escape(text)}</pre>" for text in findings]
        parts.append(f"<p><b>{html.escape(summary)}</b></p>")
        for model, table in zip(result.models, tables):
            parts.append(f"<pre>{html.escape(table)}</pre>")
            svg = model._repr_svg_() if self.graph else None
            if svg is not None:
                parts.append(f"<div>{svg}</div>")
        if not result.models:
            parts.append(f"<p>{html.escape(tables[0])}</p>")
        return {"text/plain": plain, "text/html": "<div>" + "".join(parts) + "</div>"}


def check_cell(line: str, cell: str) -> tuple[CellOptions, CellReport]:
    """Check a cell's spec; (its options, the report to show)."""
    options = parse_line(line)
    return options, CellReport(check_text(cell, CELL_PATH), options.graph)


def load_ipython_extension(ipython) -> None:
    """Register `%%arch` with IPython's shell (`%load_ext archspec`)."""

    def arch(line: str, cell: str):
        try:
            options, report = check_cell(line, cell)
        except MagicUsageError as error:
            return _Message(str(error))
        if options.variable is not None:
            ipython.user_ns[options.variable] = report.result
        return report

    arch.__doc__ = f"Check the spec in this cell: its findings, summary and graph.\n\n{USAGE}"
    ipython.register_magic_function(arch, magic_kind="cell", magic_name="arch")


@record(frozen=True)
class _Message:
    """A line shown as the cell's output (a usage mistake: no traceback)."""

    text: str

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": self.text}
