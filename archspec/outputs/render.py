"""Checked models -> Graphviz diagrams (DOT text; SVG/PNG/PDF through the `dot` program).

One node per layer or function with its type and key arguments, the tensor shape on every edge,
inputs and outputs drawn as rounded double boxes, blocks and Sequentials as labelled clusters,
top to bottom, black on white. `depth` collapses everything below that many module levels into one
node per module. A spec with errors is still drawn: faulty nodes in red with their error codes.
Nodes that run in one mode only (`if training`) are dashed and say so ("train only"), a caption
line explaining it; a `param` or `buffer` is a cylinder; a dict return's output is labelled by its
key; an edge from an op with several outputs names the output it carries (`[1] N×4×4`).
Clusters nest at most MAX_CLUSTER_DEPTH deep (Graphviz cannot lay out a thousand nested clusters,
and DOT text would grow with the square of the depth): what lies deeper is drawn in the deepest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import graphviz

from archspec.core import diagnostic as diag
from archspec.core.dims import Sym
from archspec.elaborate.graph import EVAL, TRAIN, ModelGraph, Node
from archspec.ops import INFER, REQUIRED, OpSpec
from archspec.shapes.costs import count_at, report_sizes, sizes_text

if TYPE_CHECKING:
    from archspec.driver import CheckedModel

MAX_CLUSTER_DEPTH = 32
FONT = "Helvetica"
ERROR_COLOR = "#c0392b"
FORMATS = ("dot", "svg", "png", "pdf", "jpg", "jpeg")  # what `archspec graph` writes


class RenderError(Exception):
    """Rendering is impossible here (the `dot` program is missing, an unknown format...)."""


def shape_text(shape) -> str:
    return "×".join(str(d) for d in shape) if shape is not None else "?"


def _tuple_text(value: Any, separator: str = "×") -> str:
    if isinstance(value, (tuple, list)):
        if len(set(value)) == 1:
            return str(value[0])
        return separator.join(str(v) for v in value)
    return str(value)


def describe(op: OpSpec, args: dict[str, Any]) -> str:
    """Key arguments in a compact, conventional notation: "3→64 k7 s2 p3"."""
    parts: list[str] = []
    pairs = (("in_channels", "out_channels"), ("in_features", "out_features"))
    used: set[str] = set()
    for first, second in pairs:
        if first in args and second in args:
            parts.append(f"{args[first]}→{args[second]}")
            used |= {first, second}
    short = {"kernel_size": "k", "stride": "s", "padding": "p", "dilation": "d", "groups": "g"}
    defaults = {p.name: p.default for p in op.params}
    for name, prefix in short.items():
        if name not in args or args[name] is None:
            continue
        used.add(name)
        value = args[name]
        if name != "kernel_size" and _is_default(value, defaults.get(name), name):
            continue
        parts.append(f"{prefix}{_tuple_text(value)}" if not isinstance(value, str) else value)
    for name, value in args.items():
        if name in used or _is_default(value, defaults.get(name), name) or value is INFER:
            continue
        if name in ("inplace", "bias", "affine", "track_running_stats"):
            if value is False and name == "bias":
                parts.append("no bias")
            continue
        parts.append(f"{name}={_tuple_text(value, ',')}")
    return " ".join(parts)


def _is_default(value: Any, default: Any, name: str) -> bool:
    if default is REQUIRED:
        return False
    if name in ("stride", "padding", "dilation") and isinstance(value, tuple):
        return all(v == (1 if name != "padding" else 0) for v in value) or value == default
    return value == default and type(value) is type(default)


@dataclass
class _Box:
    key: str
    label: str
    kind: str  # "op", "input", "output", "module"
    clusters: tuple[str, ...]  # module paths, outermost first
    codes: tuple[str, ...] = ()
    mode: str | None = None  # TRAIN or EVAL: runs in that mode only


def _clusters_of(node: Node) -> tuple[str, ...]:
    path = node.module.rsplit(".", 1)[0] if node.module and "." in node.module else ""
    if node.module is None:
        path = node.scope
    if not path:
        return ()
    parts = path.split(".", MAX_CLUSTER_DEPTH)[:MAX_CLUSTER_DEPTH]
    return tuple(".".join(parts[: i + 1]) for i in range(len(parts)))


def _errors_by_node(model: ModelGraph, diagnostics) -> dict[str, list[str]]:
    """Which nodes each error points at (by the span of the node or of one of its arguments)."""
    found: dict[str, list[str]] = {}
    for diagnostic in diagnostics or ():
        if diagnostic.severity is not diag.Severity.ERROR:
            continue
        span = diagnostic.primary.span
        for node in model.nodes():
            spans = [node.span, *node.arg_spans.values()]
            if any(
                s.source is span.source and s.start <= span.start and span.end <= s.end
                for s in spans
            ):
                found.setdefault(node.id, []).append(diagnostic.code)
    return found


def to_dot(checked: CheckedModel, diagnostics=None, depth: int | None = None) -> str:
    """DOT source for one model (no Graphviz program needed)."""
    model = checked.graph
    shapes = checked.inference.shapes
    errors = _errors_by_node(model, diagnostics)
    boxes: dict[str, _Box] = {}
    box_of: dict[str, str] = {}
    for node in model.nodes():
        clusters = _clusters_of(node)
        if depth is not None and len(clusters) > depth - 1 and depth >= 1 and clusters:
            collapsed = clusters[depth - 1] if depth - 1 < len(clusters) else clusters[-1]
            key = f"{collapsed} (module)"  # no ':' in ids: DOT reads "a:b" as node a, port b
            box_of[node.id] = key
            box = boxes.get(key)
            if box is None:
                module = model.module(collapsed)
                kind = module.definition.name.id if module.definition is not None else "Sequential"
                box = _Box(key, f"{collapsed}\n{kind}", "module", clusters[: depth - 1])
                boxes[key] = box
            box.codes = tuple(dict.fromkeys([*box.codes, *errors.get(node.id, [])]))
            continue
        box_of[node.id] = node.id
        boxes[node.id] = _Box(node.id, _label(checked, node), node.kind, clusters,
                              tuple(errors.get(node.id, [])),
                              node.mode if node.kind != "output" else None)  # fmt: skip
    dot = graphviz.Digraph(name=_quote_free(model.name))
    dot.attr(rankdir="TB", fontname=FONT, fontsize="11", nodesep="0.25", ranksep="0.35")
    dot.attr("node", fontname=FONT, fontsize="10", shape="box", style="solid", margin="0.08,0.04")
    dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.6")
    _emit_clusters(dot, model, list(boxes.values()))
    drawn: set[tuple[str, str]] = set()
    for node in model.nodes():
        target = box_of[node.id]
        for source in node.inputs:
            origin = box_of[source]
            if origin == target or (origin, target) in drawn:
                continue
            drawn.add((origin, target))
            shape = shapes.get(source)
            made = model.node(source)
            which = f"[{made.output}] " if made.outputs > 1 else ""  # which output it carries
            attributes = {"label": f" {which}{shape_text(shape)}"}
            if shape is None or target in errors or boxes[target].codes:
                attributes.update(color=ERROR_COLOR, fontcolor=ERROR_COLOR)
            dot.edge(_node_id(origin), _node_id(target), **attributes)
    caption = "\n".join(text for text in (_size_caption(checked), _mode_legend(boxes)) if text)
    if caption:  # last, so that no cluster inherits it (a root graph's label sits at the bottom)
        dot.attr(label=caption)
    return dot.source


def _size_caption(checked: CheckedModel) -> str:
    """Under a symbolic model's diagram: its counts at the report size, and which size that is
    (the shapes in the boxes stay symbolic)."""
    sizes, chosen_by = report_sizes(checked)
    if not sizes:
        return ""
    macs = count_at(checked.mac_count, 1, sizes)
    return (
        f"{checked.parameter_count:,} parameters, {macs:,} MACs per sample "
        f"at {sizes_text(sizes)} ({chosen_by})"
    )


def _mode_legend(boxes: dict[str, _Box]) -> str:
    modes = {box.mode for box in boxes.values()} - {None}
    words = [f"dashed: {MODE_NOTES[mode]}" for mode in (TRAIN, EVAL) if mode in modes]
    return "; ".join(words)


MODE_NOTES = {TRAIN: "runs in training only", EVAL: "runs in eval only"}
MODE_MARKS = {TRAIN: "(train only)", EVAL: "(eval only)"}


def _emit_clusters(dot: graphviz.Digraph, model: ModelGraph, boxes: list[_Box]) -> None:
    """Nest cluster subgraphs by module path, in first-appearance order."""
    tree: dict[str, Any] = {"boxes": [], "children": {}}
    for box in boxes:
        level = tree
        for path in box.clusters:
            level = level["children"].setdefault(path, {"boxes": [], "children": {}})
        level["boxes"].append(box)

    def fill(graph: graphviz.Digraph, level: dict) -> None:
        for box in level["boxes"]:
            graph.node(_node_id(box.key), **_box_attributes(box))
        for path, child in level["children"].items():
            with graph.subgraph(name="cluster_" + path.replace(".", "_")) as sub:
                module = model.module(path)
                kind = module.definition.name.id if module.definition is not None else "Sequential"
                sub.attr(label=f"{path} ({kind})", labeljust="l", style="rounded", color="gray40")
                fill(sub, child)

    fill(dot, tree)


def _box_attributes(box: _Box) -> dict[str, str]:
    label = box.label
    attributes: dict[str, str] = {}
    if box.kind in ("input", "output"):
        attributes.update(style="rounded", peripheries="2")
    elif box.kind == "module":
        attributes.update(style="bold")
    elif box.kind == "state":  # a `param` or `buffer`: stored, not computed
        attributes.update(shape="cylinder")
    if box.mode is not None:
        label += "\n" + MODE_MARKS[box.mode]
        attributes.update(style="dashed")
    if box.codes:
        label += "\n" + " ".join(box.codes)
        attributes.update(color=ERROR_COLOR, fontcolor=ERROR_COLOR, penwidth="2")
    attributes["label"] = label
    return attributes


def _label(checked: CheckedModel, node: Node) -> str:
    shapes = checked.inference.shapes
    if node.kind == "input":
        return f"input {node.name}\n{shape_text(node.declared_shape)}"
    if node.kind == "state":  # a `param` or `buffer` of its module
        info = checked.graph.module(node.scope).state[node.name]
        return f"{info.kind} {node.name}\n{shape_text(node.declared_shape)}"
    if node.kind == "output":  # a dict return's key, and the mode it is returned in
        label = checked.graph.output_label(node.id)
        name = f"output {label}" if label.startswith("'") else f"{node.name} {label}".strip()
        return f"{name}\n{shape_text(shapes.get(node.id))}"
    evaluation = checked.inference.evaluations.get(node.id)
    args = evaluation.args if evaluation is not None else node.args
    details = describe(node.op, args)
    title = node.op.name
    if node.module is not None:
        title = f"{node.module.rsplit('.', 1)[-1]}: {node.op.name}"
    return title + (f"\n{details}" if details else "")


def _node_id(key: str) -> str:
    return _quote_free(key)


def _quote_free(text: str) -> str:
    # graphviz quotes identifiers itself; keep ids free of characters DOT escapes differently.
    return text.replace('"', "'").replace("\\", "/")


def render(dot_source: str, fmt: str) -> bytes:
    """SVG/PNG/PDF/JPEG bytes from DOT source through Graphviz's `dot` program. The format is
    one of FORMATS and the source goes in on standard input: nothing of a spec's reaches `dot`'s
    command line."""
    if fmt == "dot":
        return dot_source.encode("utf-8")
    if fmt not in FORMATS:
        raise RenderError(f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    try:
        return graphviz.Source(dot_source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RenderError(
            f"drawing {fmt.upper()} needs Graphviz's `dot` program, which is not installed: "
            "install the `graphviz` system package (Debian/Ubuntu: apt-get install graphviz), "
            "or write DOT with -o FILE.dot"
        ) from None
    except graphviz.CalledProcessError as error:
        raise RenderError(f"Graphviz failed: {error.stderr.decode(errors='replace')}") from None


def symbolic(dim) -> bool:
    return isinstance(dim, Sym)
