"""The architectural difference between two checked specs, for reviews: `archspec diff OLD NEW`.

Models are matched by name (two files of one model each: those two, renamed or not). Within a
model the unit is an op application (a layer, or a function such as `relu()`), matched in passes,
each later one only between the matches already made (`difflib.SequenceMatcher` on what is left):

1. layers by name — the module path (`layer1.0.conv1`, as in the state_dict) when the op kind
   agrees, so that a changed kernel is one changed layer, not a removal and an addition;
2. by position with op and arguments equal: a layer under a new name is reported as renamed,
   and a function that moved past an inserted op stays matched;
3. a Sequential's children by index (`features.3`): an index names a position, which shifts when
   a layer is inserted, so it counts only after pass 2 (VGG gaining BatchNorm layers is 13 added
   layers and renames, not every convolution changed);
4. functions and later applications of a shared layer (`relu#2`, numbered by position) by op
   kind: `flatten(1)` that became `flatten(2)` is one changed function. Layers with new names
   and new arguments are reported as removed and added rather than guessed at.

A model's own tensors (`param`, `buffer`) are matched by their state_dict path like named layers
(op `Parameter` or `Buffer`, their shape as the output shape), at the place the body first reads
them. A layer that runs in one mode only (`if training`) says so beside its row; outputs returned
by key or in one mode are named by it (`output 'aux' (in training)`), so a changed key is one
output removed and one added.

Output shapes, parameters and MACs come from shape inference (the numbers `archspec summary`
shows); shapes are compared with `==` and shown with `format_shape`, so symbolic dims work too.
The result is plain data (`ArchDiff`); `render_text`, `render_markdown` and `render_json` turn it
into text. Reading a side from git (`REV:PATH`) lives here too; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import json
import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.core.diagnostic import Severity
from archspec.core.dims import Dim, format_dim, format_shape
from archspec.elaborate.graph import TRAIN, Node
from archspec.ops.base import INFER, REQUIRED, OpSpec, show_value

if TYPE_CHECKING:
    from archspec.driver import CheckedModel, CheckResult

ADDED, REMOVED, CHANGED, RENAMED = "added", "removed", "changed", "renamed"
UNCHANGED = "unchanged"
MARKERS = {ADDED: "+", REMOVED: "-", CHANGED: "~", RENAMED: "~"}


# ---------------------------------------------------------------- the result, as plain data


@dataclass
class ArgChange:
    name: str
    before: str  # as written (`?` shown as the value it resolved to)
    after: str


@dataclass
class LayerDiff:
    status: str  # ADDED, REMOVED, CHANGED or RENAMED (renamed, possibly with other changes)
    name: str  # in the new spec; in the old one for removed layers
    op: str  # "Conv2d", "relu"
    old_name: str | None = None  # renames: the name in the old spec
    call: str = ""  # added and removed: "Conv2d(64, 128, kernel_size=3)" ("" for `relu()`)
    shared_with: str | None = None  # added and removed later uses of a shared layer: its path
    args: list[ArgChange] = field(default_factory=list)
    old_shape: str | None = None  # formatted output shapes; None on the side that lacks the layer
    new_shape: str | None = None
    old_params: int | None = None  # None also for a shared layer's later applications
    new_params: int | None = None
    old_macs: Dim | None = None  # per sample
    new_macs: Dim | None = None
    mode: str | None = None  # TRAIN or EVAL: runs in that mode only (in the new spec, if there)


@dataclass
class ShapeChange:
    """A model input (by name) or output (by position) whose shape changed, appeared or went."""

    name: str  # "x", or "output" ("output 1", "output 2" when there are several)
    before: str | None
    after: str | None


@dataclass
class ModelDiff:
    name: str
    status: str  # ADDED, REMOVED, CHANGED, RENAMED or UNCHANGED
    old_name: str | None = None  # a renamed model
    layers: list[LayerDiff] = field(default_factory=list)
    unchanged_layers: int = 0
    old_params: int | None = None
    new_params: int | None = None
    old_macs: Dim | None = None
    new_macs: Dim | None = None
    inputs: list[ShapeChange] = field(default_factory=list)
    outputs: list[ShapeChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.status != UNCHANGED

    def counts(self) -> dict[str, int]:
        """Layers per status, in report order, zeros left out (unchanged always kept)."""
        counts = {status: 0 for status in (CHANGED, RENAMED, ADDED, REMOVED)}
        for layer in self.layers:
            counts[layer.status] += 1
        counts = {status: count for status, count in counts.items() if count}
        counts[UNCHANGED] = self.unchanged_layers
        return counts


@dataclass
class ArchDiff:
    old_label: str  # as given on the command line ("HEAD~1:specs/x.arch")
    new_label: str
    models: list[ModelDiff] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(model.changed for model in self.models)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts stay numbers, symbolic ones become text."""
        return _plain(self) | {"changed": self.changed}


def _plain(value: Any) -> Any:
    if isinstance(value, (ArchDiff, ModelDiff, LayerDiff, ArgChange, ShapeChange)):
        names = [item.name for item in dataclasses.fields(value)]
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return format_dim(value)  # a symbolic dim (not asdict: a Sym is a dataclass too)


# ---------------------------------------------------------------- reading the two sides


def blocking(result: CheckResult) -> bool:
    """Errors that leave shapes unknown. Budget findings (E3xx) do not: a diff is how one sees
    what blew the budget."""
    return any(
        d.severity is Severity.ERROR and not d.code.startswith("E3") for d in result.diagnostics
    )


# ---------------------------------------------------------------- computing the difference


@dataclass
class _Op:
    """One op application of a checked model, as the matching sees it."""

    key: str  # node id: unique and derived from spec names
    name: str  # shown: the module path, or scope.function; "#2" for a second application
    op: str
    owner: bool  # a layer's first application: the one that holds its weights
    named: bool  # an owner whose path ends in a chosen name (`conv1`), not an index (`features.3`)
    shared_with: str | None  # a later application of a shared layer: that layer's path
    args: dict[str, Any]  # resolved and normalised (compared)
    written: dict[str, Any]  # as bound from the spec (shown)
    spec: OpSpec
    keywords: frozenset[str]  # arguments the spec passed by keyword
    shape: tuple | None
    params: int | None
    macs: Dim
    mode: str | None = None  # TRAIN or EVAL: runs in that mode only
    declaration: str = ""  # a `param` or `buffer`: as the spec declares it

    @property
    def content(self) -> tuple:
        """Op and arguments, hashable: equal content means the same computation (a module of
        its own only pairs with a module of its own, not with another use of a shared one)."""
        args = tuple((name, show_value(value)) for name, value in self.args.items())
        return (self.op, self.owner, args)


def _ops(model: CheckedModel) -> list[_Op]:
    ops: list[_Op] = []
    counted: set[str] = set()
    for node in model.graph.nodes():
        if node.kind == "state":
            path = f"{node.scope}.{node.name}" if node.scope else node.name
            if path not in counted:
                counted.add(path)
                ops.append(_state_op(model, node, path))
            continue
        if node.kind != "op":
            continue
        evaluation = model.inference.evaluations.get(node.id)
        params: int | None = evaluation.params if evaluation is not None else 0
        # A shared layer's weights count at its first application; later ones are numbered
        # (`relu#2`) by position, so, like functions, they are matched by position only.
        shared = node.module is not None and node.module in counted
        if shared:
            params = None
        if node.module is not None:
            counted.add(node.module)
        ops.append(
            _Op(
                key=node.id,
                name=_display_name(node.id),
                op=node.op.name,
                owner=node.module is not None and not shared,
                named=node.module is not None and not shared and not _is_index(node.module),
                shared_with=node.module if shared else None,
                args=dict(evaluation.args) if evaluation is not None else dict(node.args),
                written=dict(node.args),
                spec=node.op,
                keywords=_keywords(model, node),
                shape=model.inference.shapes.get(node.id),
                params=params,
                macs=evaluation.macs if evaluation is not None else 0,
                mode=node.mode,
            )
        )
    return ops


def _state_op(model: CheckedModel, node: Node, path: str) -> _Op:
    """A `param` or `buffer`, matched by its state_dict path as a named layer is."""
    info = model.graph.module(node.scope).state[node.name]
    kind = "Parameter" if info.kind == "param" else "Buffer"
    init = ", ".join(f"{k}={v!r}" for k, v in info.init_args.items())
    args = {"init": f"{info.init}({init})", **{k: v for k, v in info.options.items()}}
    return _Op(
        key=f"{path} ({info.kind})",  # not a node id: no layer can take it
        name=path,
        op=kind,
        owner=True,
        named=True,
        shared_with=None,
        args=args,
        written=args,
        spec=node.op,
        keywords=frozenset(),
        shape=info.shape,
        params=info.parameters,
        macs=0,
        declaration=f"{info.kind} {node.name}: {format_shape(info.shape)} = {args['init']}",
    )


def _is_index(path: str) -> bool:
    """`features.3`: a Sequential's child, named by its position (which shifts on insertions)."""
    return path.rsplit(".", 1)[-1].isdigit()


def _keywords(model: CheckedModel, node: Node) -> frozenset[str]:
    if node.module is None:
        return node.keywords
    call = model.graph.module(node.module).call
    return frozenset(call.keywords) if call is not None else frozenset()


def _display_name(node_id: str) -> str:
    """`layer1.0.conv1`; `incept1.avg_pool2d` for a function in a block; `relu#2` for the second
    application of a name (node ids count from `#1`, readers from 1)."""
    base, _, counter = node_id.partition("#")
    base = base.replace("/", ".")
    return f"{base}#{int(counter) + 1}" if counter else base


def _shown(op: _Op, name: str) -> str:
    value = op.written.get(name, op.args.get(name))
    if value is INFER:
        value = op.args.get(name, value)
    return show_value(value)


def _call(op: _Op) -> str:
    """The call in the spec's own style (as `archspec compile` writes it): required arguments and
    those that differ from torch's defaults, `?` shown as the number it stands for; "" when that
    says no more than the op's name (`relu()`)."""
    from archspec.outputs.codegen import render_args

    if op.shared_with is not None:
        return ""
    if op.declaration:
        return op.declaration
    values: dict[str, str] = {}
    for param in op.spec.params:
        if param.is_tensor or param.name not in op.written:
            continue
        value = op.written[param.name]
        if param.variadic:
            values[param.name] = ", ".join(show_value(item) for item in value)
        elif param.default is REQUIRED or not _is_default(value, param.default):
            values[param.name] = _shown(op, param.name)
    args = render_args(op.spec, values, op.keywords)
    return f"{op.op}({', '.join(args)})" if args else ""


def _is_default(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default  # True is not 1 here


def _longest_ordered(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The largest subset of (old, new) pairs, sorted by new index, whose old indices increase."""
    tails: list[int] = []  # tails[k]: old index ending the best chain of length k + 1
    tail_pair: list[int] = []  # index into pairs of that chain's end
    previous = [-1] * len(pairs)
    for index, (old, _) in enumerate(pairs):
        length = bisect_left(tails, old)
        if length == len(tails):
            tails.append(old)
            tail_pair.append(index)
        else:
            tails[length] = old
            tail_pair[length] = index
        previous[index] = tail_pair[length - 1] if length else -1
    chain = []
    index = tail_pair[-1] if tail_pair else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]


def _align_gaps(
    old: list[_Op],
    new: list[_Op],
    anchors: list[tuple[int, int]],
    taken: set[tuple[str, int]],
    key,
) -> list[tuple[int, int]]:
    """Between consecutive anchors (ordered by both indices), pair the ops not yet `taken`
    (("old", i) and ("new", j)) whose `key` agrees, in order.

    `key(op)` returns a hashable, or None for an op that this pass may not pair."""
    bounds = [(-1, -1), *anchors, (len(old), len(new))]
    found = []
    for (old_start, new_start), (old_end, new_end) in zip(bounds, bounds[1:]):
        old_gap = [i for i in range(old_start + 1, old_end) if ("old", i) not in taken]
        new_gap = [j for j in range(new_start + 1, new_end) if ("new", j) not in taken]
        if not old_gap or not new_gap:
            continue
        old_keys = [key(old[i]) for i in old_gap]
        new_keys = [key(new[j]) for j in new_gap]

        names = ([old[i].name for i in old_gap], [new[j].name for j in new_gap])
        for a, b in _common_subsequence(old_keys, new_keys, *names):
            found.append((old_gap[a], new_gap[b]))
    return found


MAX_ALIGNMENT_CELLS = 1_000_000  # larger gaps: difflib's faster, less careful matching


def _common_subsequence(
    old: list, new: list, old_names: list[str], new_names: list[str]
) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of the keys (None matches nothing), and of
    those the one that keeps most names: `[C, R, C, R, M]` -> `[C, R, M]` drops the second conv
    and ReLU, not the first ReLU and the conv, though both are as long."""
    n, m = len(old), len(new)
    if n * m > MAX_ALIGNMENT_CELLS:
        from difflib import SequenceMatcher

        unpaired_old = [k if k is not None else ("old", i) for i, k in enumerate(old)]
        unpaired_new = [k if k is not None else ("new", j) for j, k in enumerate(new)]
        matcher = SequenceMatcher(None, unpaired_old, unpaired_new, autojunk=False)
        blocks = matcher.get_matching_blocks()
        return [(b.a + k, b.b + k) for b in blocks for k in range(b.size)]
    match_weight = min(n, m) + 1  # one more pair outweighs every kept name

    def weight(i: int, j: int) -> int:
        return match_weight + (old_names[i] == new_names[j])

    score = [[0] * (m + 1) for _ in range(n + 1)]  # score[i][j]: best for old[i:] and new[j:]
    for i in range(n - 1, -1, -1):
        row, below = score[i], score[i + 1]
        for j in range(m - 1, -1, -1):
            best = max(below[j], row[j + 1])
            if old[i] is not None and old[i] == new[j]:
                best = max(best, below[j + 1] + weight(i, j))
            row[j] = best
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if old[i] is not None and old[i] == new[j]:
            if score[i][j] == score[i + 1][j + 1] + weight(i, j):
                pairs.append((i, j))
                i, j = i + 1, j + 1
                continue
        if score[i][j] == score[i + 1][j]:
            i += 1  # old[i] stays unpaired (removed before added, as `diff` lists them)
        else:
            j += 1
    return pairs


def match_ops(old: list[_Op], new: list[_Op]) -> list[tuple[int, int]]:
    """(old index, new index) pairs, ordered by the new index (the passes of the module
    docstring)."""
    old_layers = {op.key: i for i, op in enumerate(old) if op.named}
    by_name = [
        (old_layers[op.key], j)
        for j, op in enumerate(new)
        if op.named and op.key in old_layers and old[old_layers[op.key]].op == op.op
    ]
    # A layer that moved is still matched by name, but only name matches in order bound the gaps.
    anchors = _longest_ordered(by_name)
    taken = {("old", i) for i, _ in by_name} | {("new", j) for _, j in by_name}
    passes = (
        lambda op: op.content,
        lambda op: (op.op, op.key) if op.owner and not op.named else None,
        lambda op: None if op.owner else op.op,
    )
    for key in passes:
        found = _align_gaps(old, new, anchors, taken, key)
        taken |= {("old", i) for i, _ in found} | {("new", j) for _, j in found}
        anchors = sorted(anchors + found, key=lambda pair: pair[1])
    return sorted(set(by_name) | set(anchors), key=lambda pair: pair[1])


def _merged_order(pairs: list[tuple[int, int]], old_count: int, new_count: int):
    """The report order: the new side's order, each unmatched old item right after the new
    position of the matched old item before it. Yields (old index or None, new index or None)."""
    new_of_old = dict(pairs)
    old_of_new = {j: i for i, j in pairs}
    rows = [(j, 0, 0, (old_of_new.get(j), j)) for j in range(new_count)]
    after = -1
    for i in range(old_count):
        if i in new_of_old:
            after = new_of_old[i]
        else:
            rows.append((after, 1, i, (i, None)))
    for *_, row in sorted(rows, key=lambda row: row[:3]):
        yield row


def _layer_diff(old: _Op | None, new: _Op | None) -> LayerDiff | None:
    """The difference of one matched (or unmatched) op; None when nothing changed."""
    if new is None:
        removed = LayerDiff(REMOVED, old.name, old.op, call=_call(old), shared_with=old.shared_with)
        removed.old_shape, removed.old_params, removed.old_macs = _counts(old)
        removed.mode = old.mode
        return removed
    if old is None:
        added = LayerDiff(ADDED, new.name, new.op, call=_call(new), shared_with=new.shared_with)
        added.new_shape, added.new_params, added.new_macs = _counts(new)
        added.mode = new.mode
        return added
    args = [
        ArgChange(name, _shown(old, name), _shown(new, name))
        for name in new.args
        if name in old.args and not _same(old.args[name], new.args[name])
    ]
    renamed = old.owner and new.owner and old.name != new.name
    if not (
        args
        or renamed
        or not _same(old.shape, new.shape)
        or old.params != new.params
        or not _same(old.macs, new.macs)
        or old.mode != new.mode
    ):
        return None
    return LayerDiff(
        RENAMED if renamed else CHANGED,
        new.name,
        new.op,
        old_name=old.name if renamed else None,
        args=args,
        old_shape=_shape(old.shape),
        new_shape=_shape(new.shape),
        old_params=old.params,
        new_params=new.params,
        old_macs=old.macs,
        new_macs=new.macs,
        mode=new.mode,
    )


def _counts(op: _Op) -> tuple[str | None, int | None, Dim]:
    return _shape(op.shape), op.params, op.macs


def _same(before: Any, after: Any) -> bool:
    return bool(before == after)  # dims compare by value (ints, symbolic expressions)


def _shape(shape: tuple | None) -> str | None:
    return format_shape(shape) if shape is not None else None


def _input_shapes(model: CheckedModel | None) -> dict[str, tuple]:
    if model is None:
        return {}
    nodes = [model.graph.node(node_id) for node_id in model.graph.inputs]
    return {node.name: node.declared_shape for node in nodes}


def _output_shapes(model: CheckedModel | None) -> dict[str, tuple]:
    if model is None:
        return {}
    shapes = model.output_shapes
    labels = [model.graph.output_label(node_id) for node_id in model.graph.outputs]
    if any(labels):  # by key (`output 'out'`) and mode (`output 2 (in training)`)
        return {
            f"output {label}" if label.startswith("'") else f"output {index} {label}".strip(): shape
            for index, (label, shape) in enumerate(zip(labels, shapes), 1)
        }
    if len(shapes) == 1:
        return {"output": shapes[0]}
    return {f"output {index}": shape for index, shape in enumerate(shapes, 1)}


def _shape_changes(old: dict[str, tuple], new: dict[str, tuple]) -> list[ShapeChange]:
    """Shapes by name (inputs by their names, outputs by position) that differ, new ones first."""
    names = [*new, *(name for name in old if name not in new)]
    return [
        ShapeChange(name, _shape(old.get(name)), _shape(new.get(name)))
        for name in names
        if name not in old or name not in new or not _same(old[name], new[name])
    ]


def diff_models(old: CheckedModel | None, new: CheckedModel | None) -> ModelDiff:
    """One model's difference; a side that is None makes the model added or removed."""
    result = ModelDiff(
        name=(new or old).name,
        status=UNCHANGED,
        old_params=old.parameter_count if old is not None else None,
        new_params=new.parameter_count if new is not None else None,
        old_macs=old.mac_count if old is not None else None,
        new_macs=new.mac_count if new is not None else None,
        inputs=_shape_changes(_input_shapes(old), _input_shapes(new)),
        outputs=_shape_changes(_output_shapes(old), _output_shapes(new)),
    )
    if old is None or new is None:
        result.status = ADDED if old is None else REMOVED
        return result
    if old.name != new.name:
        result.status, result.old_name = RENAMED, old.name
    old_ops, new_ops = _ops(old), _ops(new)
    pairs = match_ops(old_ops, new_ops)
    for i, j in _merged_order(pairs, len(old_ops), len(new_ops)):
        layer = _layer_diff(
            old_ops[i] if i is not None else None, new_ops[j] if j is not None else None
        )
        if layer is None:
            result.unchanged_layers += 1
        else:
            result.layers.append(layer)
    if result.status == UNCHANGED and (result.layers or result.inputs or result.outputs):
        result.status = CHANGED
    return result


def diff_results(
    old: CheckResult,
    new: CheckResult,
    old_label: str | None = None,
    new_label: str | None = None,
    model: str | None = None,
) -> ArchDiff:
    """The difference of two checked files (check them first: a failed check has no shapes).

    `model` restricts it to one model name; LookupError when neither side defines it."""
    old_models, new_models = list(old.models), list(new.models)
    if model is not None:
        old_models = [m for m in old_models if m.name == model]
        new_models = [m for m in new_models if m.name == model]
        if not old_models and not new_models:
            raise LookupError(f"neither side defines a model '{model}'")
    old_index = {m.name: i for i, m in enumerate(old_models)}
    pairs = [(old_index[m.name], j) for j, m in enumerate(new_models) if m.name in old_index]
    if len(old_models) == len(new_models) == 1 and not pairs:  # a one-model file's model renamed
        pairs.append((0, 0))
    result = ArchDiff(old_label or old.path, new_label or new.path)
    for i, j in _merged_order(sorted(pairs, key=lambda p: p[1]), len(old_models), len(new_models)):
        result.models.append(
            diff_models(
                old_models[i] if i is not None else None, new_models[j] if j is not None else None
            )
        )
    return result


# ---------------------------------------------------------------- rendering


def _count(value: Dim | None) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else format_dim(value)


def _delta(before: Dim, after: Dim) -> str:
    """+50,048 (+99.7%); a symbolic difference has no sign to show: Δ 408·T."""
    change = after - before
    if not isinstance(change, int):
        return f"Δ {format_dim(change)}"
    text = f"{change:+,}"
    if isinstance(before, int) and before:
        percent = change / before * 100
        decimals = 1
        if 0 < abs(percent) < 0.05:  # two significant digits: BatchNorm in VGG-16 is +0.0061%
            decimals = 1 - math.floor(math.log10(abs(percent)))
        text += f" ({percent:+.{decimals}f}%)"
    return text


Cell = tuple[str, str | None]  # a value, or (before, after) where it changed


def _cell(before: str | None, after: str | None) -> Cell:
    if before is None or after is None:
        return (after if before is None else before) or "", None
    return (before, None) if before == after else (before, after)


def _params(value: int | None) -> str:
    return "shared" if value is None else _count(value)


def _layer_cells(layer: LayerDiff) -> list[Cell]:
    """Output shape, params and MACs; parameter-free ops leave the counts blank (as `archspec
    summary` leaves their MACs)."""
    old_side, new_side = layer.status != ADDED, layer.status != REMOVED
    params = _cell(
        _params(layer.old_params) if old_side else None,
        _params(layer.new_params) if new_side else None,
    )
    macs = _cell(
        _count(layer.old_macs) if old_side else None, _count(layer.new_macs) if new_side else None
    )
    blank = ("", None)
    return [
        _cell(layer.old_shape, layer.new_shape),
        blank if params == ("0", None) else params,
        blank if macs == ("0", None) else macs,
    ]


def _details(layer: LayerDiff, code=lambda text: text) -> list[str]:
    """What a reviewer reads beside the row: the call, the renaming, the changed arguments."""
    parts = [code(layer.call)] if layer.call else []
    if layer.shared_with is not None:
        parts.append(f"applies {code(layer.shared_with)} again")
    if layer.old_name is not None:
        parts.append(f"renamed {code(layer.old_name)} → {code(layer.name)}")
    parts.extend(f"{code(arg.name)}: {arg.before} → {arg.after}" for arg in layer.args)
    if layer.mode is not None:
        parts.append("runs in training only" if layer.mode == TRAIN else "runs in eval only")
    return parts


def _headline(model: ModelDiff) -> str:
    if model.status == ADDED:
        return f"model {model.name}: added"
    if model.status == REMOVED:
        return f"model {model.name}: removed"
    name = model.name if model.old_name is None else f"{model.old_name} → {model.name} (renamed)"
    if not model.changed:
        return f"model {name}: no changes"
    counts = ", ".join(f"{count} {status}" for status, count in model.counts().items())
    return f"model {name}: {counts}"


def _total_rows(model: ModelDiff) -> list[tuple[str, str | None, str | None, str]]:
    """(what, before, after, change) for the totals and the shapes of inputs and outputs; None on
    the side that lacks the value."""
    whole = model.status in (ADDED, REMOVED)  # the headline says it; the rows need no notes
    rows = []
    for what, before, after in (
        ("params", model.old_params, model.new_params),
        ("MACs", model.old_macs, model.new_macs),
    ):
        if before is None or after is None:
            note = ""
        elif _same(before, after):
            note = "unchanged"
        else:
            note = _delta(before, after)
        rows.append((what, _optional_count(before), _optional_count(after), note))
    named = [(f"input {c.name}", c) for c in model.inputs] + [(c.name, c) for c in model.outputs]
    for what, change in named:
        one_side = change.before is None or change.after is None
        note = "" if whole or not one_side else ADDED if change.before is None else REMOVED
        rows.append((what, change.before, change.after, note))
    return rows


def _optional_count(value: Dim | None) -> str | None:
    return None if value is None else _count(value)


def render_text(diff: ArchDiff) -> str:
    out = [f"archspec diff {diff.old_label} → {diff.new_label}"]
    if not diff.changed:
        out.append("no architectural changes")
        return "\n".join(out) + "\n"
    for model in diff.models:
        out += ["", _headline(model)]
        if model.changed:
            out += _text_totals(model)
        if model.layers:
            out += [""] + _text_layers(model.layers)
    return "\n".join(out) + "\n"


def _text_totals(model: ModelDiff) -> list[str]:
    """`before → after  change`, or the one value where it did not change or one side lacks it."""
    rows = []
    for what, before, after, note in _total_rows(model):
        if before is not None and after is not None and before != after:
            rows.append((what, before, after, note))
        else:
            rows.append((what, after if before is None else before, "", note))
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = []
    for what, value, after, note in rows:
        values = value.rjust(widths[1])
        if widths[2]:  # some row changed: a column for the new values
            values += f" → {after.rjust(widths[2])}" if after else " " * (widths[2] + 3)
        lines.append(f"  {what.ljust(widths[0])}  {values}  {note}".rstrip())
    return lines


_LAYER_COLUMNS = ("layer", "op", "output shape", "params", "MACs")


def _text_layers(layers: list[LayerDiff]) -> list[str]:
    columns = [_text_column([_layer_cells(layer)[k] for layer in layers], k > 0) for k in range(3)]
    names = [_LAYER_COLUMNS[0], *(layer.name for layer in layers)]
    ops = [_LAYER_COLUMNS[1], *(layer.op for layer in layers)]
    table = [names, ops] + [
        [heading, *cells] for heading, cells in zip(_LAYER_COLUMNS[2:], columns)
    ]
    widths = [max(len(cell) for cell in column) for column in table]
    lines = []
    for row, marker in enumerate([" ", *(MARKERS[layer.status] for layer in layers)]):
        cells = [
            column[row].rjust(width) if k >= 3 else column[row].ljust(width)
            for k, (column, width) in enumerate(zip(table, widths))
        ]
        lines.append(f"  {marker} " + "  ".join(cells).rstrip())
        details = _details(layers[row - 1]) if row else []
        if details:
            lines.append(" " * 6 + ", ".join(details))
    return lines


def _text_column(cells: list[Cell], numbers: bool) -> list[str]:
    """A column's texts with the arrows of `before → after` one above the other."""
    pairs = [(before, after) for before, after in cells if after is not None]
    before_width = max((len(before) for before, _ in pairs), default=0)
    after_width = max((len(after) for _, after in pairs), default=0)
    texts = []
    for before, after in cells:
        if after is None:
            texts.append(before)
        elif numbers:
            texts.append(f"{before.rjust(before_width)} → {after.rjust(after_width)}")
        else:
            texts.append(f"{before.ljust(before_width)} → {after}")
    return texts


def render_markdown(diff: ArchDiff) -> str:
    """A pull-request comment: per model a heading, a totals table and a layers table."""
    out = ["## Architecture diff", "", f"`{diff.old_label}` → `{diff.new_label}`"]
    if not diff.changed:
        out += ["", "No architectural changes."]
        return "\n".join(out) + "\n"
    for model in diff.models:
        out += ["", f"### {_md_headline(model)}"]
        if model.changed:
            out += [""] + _md_totals(model)
        if model.layers:
            out += [""] + _md_layers(model.layers)
    return "\n".join(out) + "\n"


def _md_totals(model: ModelDiff) -> list[str]:
    rows = _total_rows(model)
    if model.status in (ADDED, REMOVED):
        lines = ["| | value |", "|---|---:|"]
        return lines + [
            f"| {_md_what(what)} | {_md_value(what, b or a)} |" for what, b, a, _ in rows
        ]
    lines = ["| | before | after | change |", "|---|---:|---:|---|"]
    for what, before, after, note in rows:
        cells = [_md_what(what), _md_value(what, before), _md_value(what, after), note]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_what(what: str) -> str:
    """`input x` -> input `x`."""
    kind, _, name = what.partition(" ")
    return f"{kind} {_md_code(name)}" if kind == "input" else what


def _md_value(what: str, value: str | None) -> str:
    if value is None:
        return ""
    return _md_code(value) if what.startswith(("input", "output")) else value


def _md_layers(layers: list[LayerDiff]) -> list[str]:
    lines = ["| | layer | op | output shape | params | MACs | details |"]
    lines.append("|---|---|---|---|---:|---:|---|")
    for layer in layers:
        shape, params, macs = _layer_cells(layer)
        details = _md_escape(", ".join(_details(layer, _md_code)))
        cells = [layer.status, _md_code(layer.name), layer.op, _md_pair(shape, _md_code)]
        cells += [_md_pair(params), _md_pair(macs), details]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_pair(cell: Cell, code=lambda text: text) -> str:
    before, after = cell
    if not before:
        return ""
    return code(before) if after is None else f"{code(before)} → {code(after)}"


def _md_headline(model: ModelDiff) -> str:
    text = _headline(model).removeprefix("model ")
    name, _, rest = text.partition(": ")
    if model.old_name is not None:
        name = f"`{model.old_name}` → `{model.name}` (renamed)"
    else:
        name = f"`{name}`"
    return f"{name}: {rest}"


def _md_code(text: str) -> str:
    return f"`{text}`" if text else ""


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_json(diff: ArchDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2, ensure_ascii=False) + "\n"
