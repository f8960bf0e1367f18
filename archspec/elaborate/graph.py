"""The elaborated program: per model, a networkx DiGraph of ops plus the tree of its submodules.

Nodes are op applications (and model inputs and outputs); their ids are derived from spec names so
that every output is deterministic. Edges carry tensors; `Node.inputs` keeps operand order (an op
may read the same tensor twice, which a DiGraph edge alone cannot say).
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from archspec.core.records import field, record
from archspec.core.source import Span
from archspec.elaborate.state import EXTERN, StateInfo
from archspec.ops.base import OpSpec


@record(eq=False, repr=False)  # a tree node: equal only to itself, and shown shallowly
class ModuleInfo:
    """A submodule of the generated nn.Module tree: a layer, a Sequential or a block instance.

    The tree may be thousands of levels deep, so nothing here recurses: the generated __eq__ and
    __repr__ of a dataclass would walk `children` through C code and overflow the stack."""

    name: str  # attribute name in its parent ("conv1", or "0" inside a Sequential)
    path: str  # dotted path from the model ("layer1.0.conv1"); "" for the model itself
    kind: str  # "layer", "sequential", "list" (ModuleList), "dict" (ModuleDict), "block", "model"
    span: Span
    op: OpSpec | None = None  # layers
    args: dict[str, Any] = field(default_factory=dict)  # layers: bound arguments
    # layers: the arguments as ops.apply.check_arguments normalised them (checked once, when
    # built; inference reuses them however often the layer is applied)
    checked_args: dict[str, Any] | None = None
    arg_spans: dict[str, Span] = field(default_factory=dict)
    definition: Any = None  # blocks and models: the ast.Definition
    params: dict[str, Any] = field(default_factory=dict)  # blocks and models: parameter values
    children: dict[str, ModuleInfo] = field(default_factory=dict)
    applications: list[str] = field(default_factory=list)  # node ids that apply this layer
    elaborated: bool = False  # blocks: body already run once (later runs reuse the children)
    call: Any = None  # containers: the ast.Call that built them
    depth: int = 0  # levels below the model (its children are at 1)
    # blocks and models: their own parameters and buffers (`param`, `buffer`), by name
    state: dict[str, StateInfo] = field(default_factory=dict)
    # blocks and models: the `tie`s their body states, in order
    ties: list[TieInfo] = field(default_factory=list)

    def walk(self):
        """This module and all below it, depth-first in definition order (no recursion)."""
        stack = [self]
        while stack:
            module = stack.pop()
            yield module
            stack.extend(reversed(list(module.children.values())))

    def __repr__(self) -> str:
        return f"ModuleInfo({self.kind} {self.path or self.name!r}, {len(self.children)} children)"


@record(frozen=True)
class TieInfo:
    """`tie head.weight = wte.weight` in a block or model body: the target parameter becomes the
    source one (`self.head.weight = self.wte.weight` in torch). Paths are relative to the module
    that states it, each a layer path and a parameter name."""

    target: str  # "head.weight"
    source: str  # "wte.weight"
    span: Span  # the statement
    target_span: Span
    source_span: Span


@record
class Node:
    id: str
    kind: str  # "input", "op", "output", "state" (a read of a parameter or buffer: `self.name`)
    span: Span
    name: str  # the value's name in the spec (binding name, layer name or op name)
    op: OpSpec | None = None
    args: dict[str, Any] = field(default_factory=dict)  # non-tensor arguments as bound
    checked_args: dict[str, Any] | None = None  # layers: their module's checked_args
    arg_spans: dict[str, Span] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    module: str | None = None  # path of the layer applied (None for functions)
    scope: str = ""  # path of the enclosing block instance ("" for the model body)
    declared_shape: tuple | None = None  # inputs: their stated shape
    declared_dtype: str = "float32"  # inputs, parameters and buffers: their stated dtype
    bound: bool = False  # `name` comes from an assignment (`h = ...`), not from the layer or op
    binding_span: Span | None = None  # where that assignment names it
    bindings: dict[str, str] = field(default_factory=dict)  # scope -> the name it has there
    index: int = 0  # creation order in the model graph
    keywords: frozenset[str] = frozenset()  # arguments the spec passed by keyword (for codegen)
    # An op with several outputs (chunk, MultiheadAttention) is one node per output, made together
    # and consecutive: `output` is this node's position among them, `group` the first one's id.
    output: int = 0
    outputs: int = 1
    group: str | None = None
    # A layer called with forward arguments (`attn(q, k, v, attn_mask=m, need_weights=False)`,
    # OpSpec.forward): the tensor ones are inputs after the operands, `forward_inputs` naming
    # them in order; the plain ones are `forward_args`. Neither is a constructor argument.
    forward_inputs: tuple[str, ...] = ()
    forward_args: dict[str, Any] = field(default_factory=dict)
    # An output torch returns as None (MultiheadAttention's weights with need_weights=False,
    # OpSpec.none_outputs): it has no shape, and reading it is an error.
    returns_none: bool = False
    mode: str | None = None  # TRAIN or EVAL: computed only in that mode (`if training`); None: both
    # Nodes whose sizes its arguments read when the module runs (`pad(x, (0, (7 - W % 7) % 7))`
    # with W a size of a block's input): see archspec.elaborate.run_sizes.
    size_sources: tuple[str, ...] = ()
    # Its arguments hold sizes decided only when shapes are known (run_sizes.SizeExpr), read
    # off a tensor or comparing the model's symbolic sizes (`2 if 3 < H else 0`).
    lazy_args: bool = False
    # The parameter or buffer whose initial value it computes: it runs when the module is built
    # (in __init__), not in forward (`buffer index: [2401] int64 = ...` of a tensor expression).
    built_for: str | None = None

    @property
    def reads_sizes(self) -> bool:
        return self.lazy_args

    @property
    def operands(self) -> tuple[str, ...]:
        """The inputs an op is applied to: `inputs` without the tensor forward arguments."""
        if not self.forward_inputs:
            return self.inputs
        return self.inputs[: len(self.inputs) - len(self.forward_inputs)]


@record
class ContainerCall:
    """One application of a Sequential or block instance: the nodes [start, end) it created."""

    module: str  # the container's path
    scope: str  # the path of the block (or model) whose body applies it
    inputs: tuple[str, ...] | None
    start: int
    end: int = 0
    outputs: tuple[str, ...] | None = None
    mode: str | None = None  # the mode of the statement that applies it (see Node.mode)


# The modes of `if training { ... } else { ... }`: a node or return that exists only in one.
TRAIN = "train"
EVAL = "eval"


def other_mode(mode: str) -> str:
    return EVAL if mode == TRAIN else TRAIN


def mode_words(mode: str | None) -> str:
    """How messages and outputs name a mode."""
    return {TRAIN: "in training", EVAL: "when not training", None: "always"}[mode]


@record
class ModelReturn:
    """What a model's forward returns: its output nodes in order, and the keys when it returns
    a dict (`return {"out": x}` compiles to an OrderedDict, as torchvision's segmentation models
    return). `mode`: returned only in that mode (`if training { return x, aux }`); None: in
    both."""

    outputs: list[str]
    keys: tuple[str, ...] | None = None
    mode: str | None = None


@record
class ShapeAssertion:
    node: str
    dims: tuple  # ints, Syms, WILDCARD or PatternVar
    span: Span
    scope: str
    application: int = 0  # the block application it belongs to: PatternVars bind per application
    dtype: str | None = None  # `h: [N, L] int64 = ...`: the stated dtype, if any


class PatternVar(str):
    """A name in a stated shape that is bound by matching (H in `input x: [N, C, H, W]`)."""


WILDCARD = "?"

# Sizes a symbolic input dim ranges over when the spec gives no `H in low..high`.
DEFAULT_SIZE_BOUNDS = (1, 1024)


@record(frozen=True)
class SizeSymbol:
    """A symbolic input size that shapes may constrain (`H` in `[N, 3, H, W]`): its range,
    whether the spec declared it (`H in 32..1024`) or it is the default, and the size the spec
    asks counts to be reported at (`= 224`), if any."""

    name: str
    low: int
    high: int
    declared: bool
    span: Span
    step: int = 1
    report: int | None = None  # `H in 32..1024 = 224`: the size summaries count at

    @property
    def values(self) -> range:
        return range(self.low, self.high + 1, self.step)

    @property
    def bounds_text(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{self.name} in {self.low}..{self.high}{step}"


@record
class ModelGraph:
    name: str
    span: Span
    graph: nx.DiGraph
    root: ModuleInfo
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    assertions: list[ShapeAssertion] = field(default_factory=list)
    calls: list[ContainerCall] = field(default_factory=list)  # in order of application
    failed_reads: set[str] = field(default_factory=set)  # nodes named in lines that failed
    # Symbolic input sizes other than the batch (dim 0): archspec.shapes.sizes finds which values
    # work.
    size_symbols: dict[str, SizeSymbol] = field(default_factory=dict)
    # What forward returns, one entry per mode it differs in (`outputs` holds all their nodes).
    returns: list[ModelReturn] = field(default_factory=list)
    _modules: dict[str, ModuleInfo] = field(default_factory=dict, repr=False, compare=False)

    def node(self, node_id: str) -> Node:
        return self.graph.nodes[node_id]["node"]

    def nodes(self):
        """Nodes in creation order, which is a topological order (values only flow forward)."""
        return (data["node"] for _, data in self.graph.nodes(data=True))

    def calls_outer_first(self) -> list[ContainerCall]:
        """The calls by the node they start at, each before the calls inside it: those are
        recorded first, and may span the same nodes (`Sequential(Sequential(ReLU()))`)."""
        return sorted(self.calls, key=lambda c: (c.start, -c.end, c.module.count(".")))

    def output_label(self, node_id: str) -> str:
        """An output as summaries name it: its dict key (`"out"`), and the mode it is returned
        in when it is returned in one only (`aux (in training)`); "" for a plain output."""
        for returned in self.returns:
            if node_id in returned.outputs:
                label = ""
                if returned.keys is not None:
                    label = repr(returned.keys[returned.outputs.index(node_id)])
                if returned.mode is not None:
                    label = f"{label} ({mode_words(returned.mode)})".strip()
                return label
        return ""

    def argument_values(self) -> list[Any]:
        """Every layer's, block's and extern initial value's arguments (the extern values among
        them are what generated code imports and `verify` checks)."""
        values: list[Any] = []
        for module in self.root.walk():
            values.extend((module.args or {}).values())
            values.extend((module.params or {}).values())
            for state in module.state.values():
                if state.init == EXTERN:
                    values.extend([*state.init_args["args"], *state.init_args["kwargs"].values()])
        return values

    def module(self, path: str) -> ModuleInfo:
        """The module at a dotted path, in constant time (KeyError if there is none)."""
        found = self._modules.get(path)
        if found is None:  # the tree grew since the index was built (or the path is wrong)
            self._modules = {module.path: module for module in self.root.walk()}
            found = self._modules[path]
        return found
