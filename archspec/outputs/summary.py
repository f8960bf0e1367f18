"""A torchinfo-style table from the spec alone: hierarchical layers, output shapes, parameters,
multiply-accumulates, kernel sizes and receptive fields, with totals and activation memory.

Receptive fields follow the usual recurrence along each spatial dim: a window of effective size
k = dilation·(kernel − 1) + 1 and stride s turns (rf, jump) into (rf + (k − 1)·jump, jump·s);
joins take the largest; global ops (adaptive pooling, and anything after the spatial dims are gone)
see the whole input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.core.dims import Sizing
from archspec.elaborate.graph import EVAL, TRAIN, ContainerCall, Node
from archspec.shapes.costs import BYTES_PER_VALUE, count_at, report_sizes, sizes_text
from archspec.shapes.ties import resolve_ties

if TYPE_CHECKING:
    from archspec.driver import CheckedModel


@dataclass
class Row:
    name: str  # hierarchical: "layer1.0.conv1", or "flatten" for a function
    depth: int
    type: str
    output_shape: str
    params: int | None  # None: a shared layer already counted above
    macs: int
    kernel: str
    receptive_field: str
    # TRAIN or EVAL: runs in that mode only (`if training`); a training-only row's MACs are not in
    # the totals (its parameters are: the weights exist in both modes)
    mode: str | None = None
    output: int | None = None  # an op with several outputs (chunk, MultiheadAttention): which
    output_label: str = ""  # an output row: how the model returns it (`'out' (in training)`)
    # An extern that declares no `params =` / `macs =`: the count is unknown (params/macs None;
    # a container holding one: the known part, and unknown too)
    params_unknown: bool = False
    macs_unknown: bool = False


@dataclass
class Summary:
    model: str
    rows: list[Row]
    total_params: int
    trainable_params: int
    total_macs: int
    batch: int
    activation_bytes: int  # every op's output, at `batch`
    param_bytes: int
    # A symbolic input: the sizes the counts are taken at (shapes stay symbolic), and why those.
    sizes: dict[str, int] = field(default_factory=dict)
    sizes_chosen_by: str = ""
    # torchinfo's definitions (torchinfo/model_statistics.py), so the totals compare with its:
    input_bytes: int = 0  # the model inputs, at `batch`
    forward_backward_bytes: int = 0  # 2 × the outputs of the layers that have parameters
    # Layers that run only in training (`if training`): their parameters (in total_params) and
    # MACs (not in total_macs), per sample
    training_only_params: int = 0
    training_only_macs: int = 0
    # Externs (their paths) whose parameters or MACs are unknown: the totals are the known part
    unknown_params: list[str] = field(default_factory=list)
    unknown_macs: list[str] = field(default_factory=list)
    # `tie`s: "head.weight = wte.weight" and the parameters it shares, counted in the source's
    # row only (the target's row leaves them out, as the totals do)
    ties: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """As JSON: an unknown count is null (a row's, and a total holding one; the total's
        known part is `known_params` / `known_macs`)."""
        data = asdict(self)
        for row in data["rows"]:
            if row["params_unknown"]:
                row["params"] = None
            if row["macs_unknown"]:
                row["macs"] = None
        if self.unknown_params:
            data["known_params"] = self.total_params
            data["total_params"] = data["trainable_params"] = None
        if self.unknown_macs:
            data["known_macs"] = self.total_macs
            data["total_macs"] = None
        return data

    def __str__(self) -> str:
        return render_text(self)


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape is not None else "?"


def _kernel(args: dict[str, Any]) -> str:
    value = args.get("kernel_size")
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return "×".join(str(v) for v in value)
    return str(value)


class _Fields:
    """Receptive field and jump per node, per spatial dim (or GLOBAL)."""

    GLOBAL = "global"

    def __init__(self, checked: CheckedModel):
        self.checked = checked
        self.state: dict[str, Any] = {}

    def compute(self, node: Node) -> Any:
        shapes = self.checked.inference.shapes
        if node.kind == "input":
            spatial = max(0, len(node.declared_shape) - 2)
            self.state[node.id] = ((1,) * spatial, (1,) * spatial)
            return self.state[node.id]
        inputs = [self.state.get(source) for source in node.operands]  # not the masks
        if any(state is None for state in inputs) or not inputs:
            self.state[node.id] = None
            return None
        if any(state == self.GLOBAL for state in inputs):
            self.state[node.id] = self.GLOBAL
            return self.GLOBAL
        evaluation = self.checked.inference.evaluations.get(node.id)
        output = shapes.get(node.id)
        rf = tuple(max(values) for values in zip(*(s[0] for s in inputs)))
        # A broadcast operand (squeeze-excitation's [N, C, 1, 1] gate times [N, C, H, W]) widens
        # what an output sees, but the output's positions are spaced as the full-size operands'.
        size = _spatial(output, len(rf))
        spaced = [
            state
            for state, source in zip(inputs, node.operands)
            if size is not None and _spatial(shapes.get(source), len(rf)) == size
        ]
        jump = tuple(max(values) for values in zip(*(s[1] for s in spaced or inputs)))
        if node.kind == "output" or evaluation is None or output is None:
            self.state[node.id] = (rf, jump)
            return self.state[node.id]
        window = node.op.window
        input_shape = shapes.get(node.inputs[0])
        spatial = len(rf)
        if window == "global" or len(output) < spatial + 2 and spatial:
            # Every output value depends on the whole map (adaptive pooling, flatten, Linear...).
            self.state[node.id] = self.GLOBAL
            return self.GLOBAL
        if callable(window) and spatial:
            kernels, strides = window(evaluation.args, input_shape)
            rf = tuple(r + (k - 1) * j for r, k, j in zip(rf, kernels, jump))
            jump = tuple(j * s for j, s in zip(jump, strides))
        self.state[node.id] = (rf, jump)
        return self.state[node.id]

    @classmethod
    def text(cls, state) -> str:
        if state is None:
            return ""
        if state == cls.GLOBAL:
            return "global"
        rf = state[0]
        if not rf:
            return ""
        return str(rf[0]) if len(set(rf)) == 1 else "×".join(str(v) for v in rf)


def _spatial(shape, count: int):
    return None if shape is None or not count else tuple(shape[-count:])


class SizeError(ValueError):
    """Sizes given for a summary that the model rejects or does not have."""


def summarize(
    checked: CheckedModel, batch: int = 1, sizes: dict[str, int] | None = None
) -> Summary:
    """The table; for a symbolic input, counts are taken at `sizes`, the ones not given at the
    report size (archspec.shapes.costs.report_sizes)."""
    sizes, chosen_by = _sizes_for(checked, sizes)
    if not sizes:
        return _summarize(checked, batch, sizes)
    with Sizing(sizes):  # a window or a size compared on the way is decided at these sizes
        summary = _summarize(checked, batch, sizes)
    summary.sizes_chosen_by = chosen_by
    return summary


def _summarize(checked: CheckedModel, batch: int, sizes: dict[str, int]) -> Summary:
    model = checked.graph
    inference = checked.inference
    fields = _Fields(checked)
    starts: dict[int, list[ContainerCall]] = {}
    for call in model.calls_outer_first():
        starts.setdefault(call.start, []).append(call)
    rows: list[Row] = []
    containers: list[tuple[ContainerCall, int]] = []  # each container call and its row
    rows_before: list[int] = []  # per node index: the rows before those it starts
    counted: set[str] = set()
    resolved_ties = [t for t in resolve_ties(model, inference.module_args) if t.problem is None]
    tied_away: dict[str, int] = {}  # a layer path -> its parameters another layer's tensor holds
    for tied in resolved_ties:
        layer = tied.target.rpartition(".")[0]
        tied_away[layer] = tied_away.get(layer, 0) + tied.numel
    activation_values = 0
    weighted_values = 0  # outputs of layers with parameters (torchinfo's forward/backward size)
    training_only_params = 0  # torchinfo's "Params size" counts the layers an eval pass runs
    training_only_macs = 0
    unknown_params: list[str] = []  # externs without declared counts
    unknown_macs: list[str] = []
    for node in model.nodes():
        rows_before.append(len(rows))
        for call in starts.get(node.index, []):
            containers.append((call, len(rows)))
            rows.append(_container_row(checked, call, counted))
        state = fields.compute(node)
        if node.kind == "state":  # a `param` or `buffer` read: its row counts the parameter
            rows.append(_state_row(checked, node, counted))
        if node.kind == "output" and model.output_label(node.id):
            # a dict return's key, or an output returned in one mode: the table shows it
            rows.append(_output_row(checked, node))
        if node.kind != "op" or node.built_for is not None:  # built_for: computed in __init__
            continue
        evaluation = inference.evaluations.get(node.id)
        shape = inference.shapes.get(node.id)
        if node.mode == TRAIN and evaluation and node.module not in counted:
            training_only_params += evaluation.params
        if node.mode == TRAIN and evaluation:
            training_only_macs += count_at(evaluation.macs, 1, sizes)
        if shape is not None and node.mode != TRAIN:  # memory of an eval forward, as torchinfo
            values = _values(shape, batch, sizes)
            activation_values += values
            weighted_values += values if evaluation and evaluation.params else 0
        name = node.module or (f"{node.scope}.{node.name}" if node.scope else node.name)
        depth = name.count(".") if node.module else (node.scope.count(".") + 1 if node.scope else 0)
        params: int | None = evaluation.params if evaluation else 0
        if params and node.module in tied_away:
            params -= tied_away[node.module]
        extern = node.op.extern
        params_unknown = extern is not None and not extern.declared_params and node.output == 0
        macs_unknown = extern is not None and not extern.declared_macs and node.output == 0
        if node.module is not None and node.output == 0:  # a second output is no new use
            if node.module in counted:
                params, params_unknown = None, False
            elif params_unknown:
                unknown_params.append(node.module)
            counted.add(node.module)
        if macs_unknown and node.mode != TRAIN:
            unknown_macs.append(node.module)
        rows.append(
            Row(
                name=name,
                depth=depth,
                type=node.op.name,
                output_shape="None" if node.returns_none else _shape(shape),
                params=params,
                macs=count_at(evaluation.macs, 1, sizes) if evaluation else 0,
                kernel=_kernel(evaluation.args if evaluation else node.args),
                receptive_field=_Fields.text(state),
                mode=node.mode,
                output=node.output if node.outputs > 1 else None,
                params_unknown=params_unknown,
                macs_unknown=macs_unknown,
            )
        )
    _sum_containers(rows, containers, rows_before)
    total = checked.parameter_count
    return Summary(
        model=model.name,
        rows=rows,
        total_params=total,
        trainable_params=total - _frozen_parameters(checked),
        total_macs=count_at(checked.mac_count, 1, sizes),
        batch=batch,
        activation_bytes=activation_values * BYTES_PER_VALUE,
        param_bytes=(total - training_only_params - _unlisted_parameters(checked))
        * BYTES_PER_VALUE,
        sizes=sizes,
        input_bytes=sum(_values(model.node(i).declared_shape, batch, sizes) for i in model.inputs)
        * BYTES_PER_VALUE,
        forward_backward_bytes=2 * weighted_values * BYTES_PER_VALUE,
        training_only_params=training_only_params,
        training_only_macs=training_only_macs,
        ties=[(f"{t.target} = {t.source}", t.numel) for t in resolved_ties],
        unknown_params=unknown_params,
        unknown_macs=list(dict.fromkeys(unknown_macs)),
    )


def _output_row(checked: CheckedModel, node: Node) -> Row:
    """A model output the table names: by its dict key and the mode it is returned in."""
    label = checked.graph.output_label(node.id)
    shape = _shape(checked.inference.shapes.get(node.id))
    return Row(f"output {label}", 0, "output", shape, 0, 0, "", "", output_label=label)


def _state_row(checked: CheckedModel, node: Node, counted: set[str]) -> Row:
    """A parameter or buffer (`param`, `buffer`), at its first read: a parameter's elements are
    parameters (once, however often the body reads it), a buffer's are not."""
    info = checked.graph.module(node.scope).state[node.name]
    path = f"{node.scope}.{node.name}" if node.scope else node.name
    params: int | None = info.parameters
    if path in counted:
        params = None
    counted.add(path)
    depth = node.scope.count(".") + 1 if node.scope else 0
    kind = "Parameter" if info.kind == "param" else "Buffer"
    shape = _shape(checked.inference.shapes.get(node.id))
    return Row(path, depth, kind, shape, params, 0, "", "")


def _unlisted_parameters(checked: CheckedModel) -> int:
    """Parameters that torchinfo's "Params size" leaves out: those of a module that has
    submodules too (ConvNeXt's CNBlock.layer_scale beside its `block`). torchinfo counts them in
    "Total params" as leftovers, but sums the bytes of its listed layers only; the line is kept
    digit for digit with torchinfo's."""
    return sum(
        state.parameters
        for module in checked.graph.root.walk()
        if module.children
        for state in module.state.values()
    )


def _frozen_parameters(checked: CheckedModel) -> int:
    """Parameters declared with requires_grad=False (`param p: [...] = 0, requires_grad=False`)."""
    return sum(
        state.parameters
        for module in checked.graph.root.walk()
        for state in module.state.values()
        if not state.trainable
    )


def _values(shape, batch: int, sizes: dict[str, int]) -> int:
    values = 1
    for dim in shape:
        values *= count_at(dim, batch, sizes)
    return values


def _sizes_for(checked: CheckedModel, sizes: dict[str, int] | None) -> tuple[dict[str, int], str]:
    """The sizes to count at, and how they were chosen."""
    report = checked.sizes
    if report is None:
        if sizes:
            raise SizeError(f"{checked.name} has no symbolic input sizes to set")
        return {}, ""
    chosen, chosen_by = report_sizes(checked)
    chosen = dict(chosen)
    if sizes:
        chosen_by = "given" if sizes.keys() >= chosen.keys() else f"given; the rest {chosen_by}"
    for name, value in (sizes or {}).items():
        if name not in chosen:
            known = ", ".join(chosen) or "none"
            raise SizeError(f"{checked.name} has no input size '{name}' (its sizes: {known})")
        chosen[name] = value
    if sizes and not report.accepts(chosen):
        shown = ", ".join(f"{k} = {v}" for k, v in chosen.items())
        raise SizeError(f"{checked.name} rejects {shown}; it accepts {report.describe()}")
    return chosen, chosen_by


def _container_row(checked: CheckedModel, call: ContainerCall, counted: set[str]) -> Row:
    module = checked.graph.module(call.module)
    kind = module.definition.name.id if module.definition is not None else "Sequential"
    shapes = [checked.inference.shapes.get(o) for o in call.outputs or ()]
    shown = ", ".join(_shape(s) for s in shapes) if shapes else "?"
    depth = call.module.count(".")
    return Row(call.module, depth, kind, shown, 0, 0, "", "", mode=call.mode)


def _sum_containers(
    rows: list[Row], containers: list[tuple[ContainerCall, int]], rows_before: list[int]
) -> None:
    """A container's parameters and MACs are those of the layer and function rows of its
    application: the rows after its own, up to its last node. Running totals make it one pass,
    however deeply containers nest."""
    container_rows = {index for _, index in containers}
    params, macs = [0], [0]  # totals of the layer and function rows before each row
    unknown_params, unknown_macs = [0], [0]  # and how many of them are unknown (externs)
    for index, row in enumerate(rows):
        inner = index not in container_rows
        params.append(params[-1] + (row.params or 0 if inner else 0))
        macs.append(macs[-1] + (row.macs if inner else 0))
        unknown_params.append(unknown_params[-1] + (inner and row.params_unknown))
        unknown_macs.append(unknown_macs[-1] + (inner and row.macs_unknown))
    for call, index in containers:
        end = rows_before[call.end] if call.end < len(rows_before) else len(rows)
        rows[index].params = params[end] - params[index + 1]
        rows[index].macs = macs[end] - macs[index + 1]
        rows[index].params_unknown = unknown_params[end] > unknown_params[index + 1]
        rows[index].macs_unknown = unknown_macs[end] > unknown_macs[index + 1]


# ---------------------------------------------------------------- rendering

_COLUMNS = ("Layer", "Type", "Output shape", "Params", "MACs", "Kernel", "RF")


MODE_MARKS = {TRAIN: " (train only)", EVAL: " (eval only)"}


def _cells(row: Row) -> list[str]:
    params = "(shared)" if row.params is None else f"{row.params:,}"
    macs = f"{row.macs:,}" if row.macs else ""
    if row.params_unknown:  # an extern without `params =`; a container: the known part too
        params = f"{row.params:,} + unknown" if row.params else "unknown (extern)"
    if row.macs_unknown:
        macs = f"{row.macs:,} + unknown" if row.macs else "unknown (extern)"
    if row.output_label:  # an output row counts nothing
        params = ""
    name = row.name if row.output_label else row.name.rsplit(".", 1)[-1]
    kind = row.type if row.output is None else f"{row.type}[{row.output}]"  # as torch indexes it
    return [
        ("  " * row.depth + name if row.depth else row.name) + MODE_MARKS.get(row.mode, ""),
        kind,
        row.output_shape,
        params,
        macs,
        row.kernel,
        row.receptive_field,
    ]


MEGABYTE = 1_000_000  # torchinfo's MB: bytes / 1e6, not MiB
GIGA = 1_000_000_000


def _megabytes(count: int) -> str:
    return f"{count / MEGABYTE:,.2f}"


def _totals(summary: Summary) -> list[str]:
    """torchinfo's totals, with its definitions and units (MB = 10^6 bytes, float32), then the
    memory of every op's output and the sizes a symbolic model was counted at."""
    batch = summary.batch
    total_bytes = summary.input_bytes + summary.forward_backward_bytes + summary.param_bytes
    unknown = _unknown_text(summary.unknown_params)
    lines = [
        f"Total params: {summary.total_params:,}{unknown}",
        f"Trainable params: {summary.trainable_params:,}{unknown}",
        f"Non-trainable params: {summary.total_params - summary.trainable_params:,}",
        f"Total mult-adds (per sample): {summary.total_macs:,} "
        f"({summary.total_macs / GIGA:,.2f} G){_unknown_text(summary.unknown_macs)}",
        f"Input size (MB, batch {batch}): {_megabytes(summary.input_bytes)}",
        f"Forward/backward pass size (MB, batch {batch}): "
        f"{_megabytes(summary.forward_backward_bytes)}",
        f"Params size (MB): {_megabytes(summary.param_bytes)}",
        f"Estimated Total Size (MB, batch {batch}): {_megabytes(total_bytes)}",
        f"Every op's output (MB, batch {batch}): {_megabytes(summary.activation_bytes)}",
    ]
    if any(row.mode == TRAIN for row in summary.rows):
        lines.append(
            f"Training-only layers (train only): {summary.training_only_params:,} params "
            f"(in the totals), {summary.training_only_macs:,} mult-adds (not in the totals)"
        )
    for tie, shared in summary.ties:
        lines.append(f"Tied: {tie} ({shared:,} params, counted once)")
    if summary.sizes:
        lines.append(f"Counts at {sizes_text(summary.sizes)} ({summary.sizes_chosen_by})")
    return lines


def _unknown_text(paths: list[str]) -> str:
    """` + unknown (externs: se, head)`: a total that leaves out counts nobody declared."""
    if not paths:
        return ""
    shown = ", ".join(paths[:4]) + (", ..." if len(paths) > 4 else "")
    return f" + unknown ({'extern' if len(paths) == 1 else 'externs'}: {shown})"


def render_text(summary: Summary) -> str:
    table = [list(_COLUMNS)] + [_cells(row) for row in summary.rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    right = {3, 4, 6}

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "=" * len(line(table[0]))
    out = [f"{summary.model}", rule, line(table[0]), "-" * len(rule)]
    out += [line(cells) for cells in table[1:]]
    out += [rule, *_totals(summary), rule]
    return "\n".join(out) + "\n"


def render_markdown(summary: Summary) -> str:
    out = [f"### {summary.model}", "", "| " + " | ".join(_COLUMNS) + " |"]
    out.append("|" + "|".join("---:" if i in (3, 4, 6) else "---" for i in range(7)) + "|")
    for row in summary.rows:
        cells = _cells(row)
        cells[0] = "&nbsp;" * 2 * row.depth + row.name.rsplit(".", 1)[-1] if row.depth else row.name
        cells = [c.replace("|", "\\|") for c in cells]
        cells[2] = f"`{cells[2]}`"
        out.append("| " + " | ".join(cells) + " |")
    out += [""] + [f"- {text}" for text in _totals(summary)]
    return "\n".join(out) + "\n"


def render_json(summaries: list[Summary]) -> str:
    return json.dumps([s.to_dict() for s in summaries], indent=2, ensure_ascii=False) + "\n"
