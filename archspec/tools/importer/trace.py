"""Module instances -> Units: each module of a class the language does not know is traced by
torch.fx on its own, every submodule it calls a leaf, and its graph's nodes become the lines of
a block body, mapped onto the op registry (mapping.py)."""

from __future__ import annotations

import inspect
import keyword
import operator
from dataclasses import dataclass, field
from typing import Any

from archspec.ops import REQUIRED
from archspec.syntax.lexer import RESERVED
from archspec.tools.importer import mapping
from archspec.tools.importer.context import Context, Unmappable
from archspec.tools.importer.graphs import has_tensor, is_plain_value, is_size, trace_module
from archspec.tools.importer.mapping import literal
from archspec.tools.importer.units import Call, Child, ExternInfo, Hole, Problem, Seq, Unit

DIM_NAMES = {1: ["N"], 2: ["N", "C"], 3: ["N", "L", "C"], 4: ["N", "C", "H", "W"],
             5: ["N", "C", "D", "H", "W"]}  # fmt: skip
ASSERTS = ("_assert", "_assert_async", "_assert_scalar")


def is_container(module) -> bool:
    import torch.nn as nn

    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        return type(module).forward is nn.Module.forward or isinstance(module, nn.ModuleList)
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def convert(module, path: str, context: Context) -> Any:
    """The token for one module: a Call (a registry layer), a Seq (a plain container) or a
    Child (a unit: a block, or an extern)."""
    import torch.nn as nn

    spec = mapping.layer_ops().get(type(module))
    if spec is not None:
        try:
            return layer_call(spec, mapping.layer_arguments(spec, module))
        except mapping.NotMappable:
            pass  # traced as a block below
    if is_container(module):
        kind = "Sequential" if isinstance(module, nn.Sequential) else type(module).__name__
        kind = "ModuleDict" if isinstance(module, nn.ModuleDict) else kind
        kind = "ModuleList" if isinstance(module, nn.ModuleList) else kind
        items: list[tuple[str | None, Any]] = []
        spliced = False
        for index, (name, child) in enumerate(module.named_children()):
            shown = None if kind != "ModuleDict" and name == str(index) and not spliced else name
            token = convert(child, join(path, name), context)
            if isinstance(token, Inline) and kind == "Sequential" and len(token.stages) > 1:
                # The layer keeps the child's name; the stateless stages after it get names
                # of their own, and every later child its name written out.
                items.append((name, token.layer))
                items += [(f"{name}_{k}", stage) for k, stage in enumerate(token.after, 1)]
                spliced = True
                if token.before:
                    return Child(unit_of(module, path, context))
                continue
            items.append((shown, token.layer if isinstance(token, Inline) else token))
        if any(isinstance(t, Inline) for _, t in items):
            return Child(unit_of(module, path, context))
        return Seq(kind, items)
    base = _registry_base(module)
    if base is not None:
        inline = _inline_subclass(module, base, path, context)
        if inline is not None:
            return inline
    return Child(unit_of(module, path, context))


@dataclass
class Inline:
    """A subclass of a registry layer whose forward is the layer's function on its own weights
    with stateless steps around it (timm's BatchNormAct2d: batch norm, then its act child):
    written as that layer, named as the module, and the steps as stages beside it. The
    state_dict keys stay the same: the steps hold no tensors."""

    before: list[Any]  # stage tokens (functions) before the layer
    layer: Call
    after: list[Any]  # stage tokens after it: functions or Calls of stateless children

    @property
    def stages(self) -> list[Any]:
        return [*self.before, self.layer, *self.after]


def _registry_base(module):
    """The registry layer op a module's class derives from (its forward overridden), when its
    children hold no tensors."""
    known = mapping.layer_ops()
    for cls in type(module).__mro__[1:]:
        if cls in known:
            for child in module.children():
                if any(True for _ in child.parameters()) or any(True for _ in child.buffers()):
                    return None
            return known[cls]
    return None


def _inline_subclass(module, spec, path: str, context: Context) -> Inline | None:
    """The Inline form when the traced forward is one chain from its input through exactly one
    call reading the module's own tensors (the layer's function), else None."""
    try:
        values_by_name = mapping.layer_arguments(spec, module)
        graph_module, values = trace_module(module, path, context)
    except (Unmappable, mapping.NotMappable):
        return None
    scratch = Unit(type(module), path)
    body = _Body(scratch, module, graph_module, values, context)
    live = body._live_nodes()
    body.live = set(live)
    inputs = [n for n in live if n.op == "placeholder" and has_tensor(values.get(n.name))]
    state = {n for n in live if n.op == "get_attr"}
    steps = [n for n in live if n.op not in ("placeholder", "get_attr", "output")]
    steps = [n for n in steps if not is_plain_value(values.get(n.name))]
    layers = [n for n in steps if set(n.all_input_nodes) & state]
    if len(inputs) != 1 or len(layers) != 1:
        return None
    before, after, previous, seen_layer = [], [], inputs[0], False
    for node in steps:
        tensors = [a for a in node.all_input_nodes if a not in state]
        tensors = [a for a in tensors if not is_plain_value(values.get(a.name))]
        if tensors != [previous]:
            return None
        previous = node
        if node is layers[0]:
            seen_layer = True
            continue
        try:
            stage = _stateless_stage(body, node, module, path, context)
        except (mapping.NotMappable, Unmappable):
            return None
        if stage is None:
            return None
        (after if seen_layer else before).append(stage)
    output = next(n for n in live if n.op == "output")
    if output.args[0] is not previous:
        return None
    after = [s for s in after if s != "skip"]
    if spec.name == "LayerNorm" and before == [CHANNELS_LAST] and after == [CHANNELS_FIRST]:
        # LayerNorm over the channels of [N, C, H, W]: the registry's LayerNorm2d, the same
        # weights under the same names.
        return Inline([], layer_call(_registry("LayerNorm2d"), values_by_name), [])
    return Inline(before, layer_call(spec, values_by_name), after)


CHANNELS_LAST, CHANNELS_FIRST = "permute(0, 2, 3, 1)", "permute(0, 3, 1, 2)"


def _registry(name: str):
    from archspec.ops import REGISTRY

    return REGISTRY[name]


def _stateless_stage(body: _Body, node, module, path: str, context: Context):
    """One step of an Inline chain: a child layer (unnamed) or a function; "skip" for an
    Identity child; None when it is neither."""
    import torch.nn as nn

    if node.op == "call_module":
        child = module.get_submodule(node.target)
        if isinstance(child, nn.Identity):
            return "skip"
        token = convert(child, join(path, node.target), context)
        if node.kwargs:
            return None
        if isinstance(token, Child) and token.unit.extern is None and token.unit.lines:
            return token  # a stateless class of its own (timm's GELU: F.gelu), traced as a block
        return token if isinstance(token, Call) else None
    body._form(node, {})
    form = body.forms.get(node)
    if form is None or form.stage is None or len(form.stage) != 1:
        return None
    return form.stage[0]


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def layer_call(spec, values: dict[str, Any]) -> Call:
    """`Conv2d(3, 64, 7, stride=2, padding=3, bias=False)`: the required arguments by position,
    the rest by keyword, each a Hole when it is a number."""
    args: list[Any] = []
    for param in spec.params:
        value = mapping.collapse(param.name, values[param.name], param.default)
        required = param.default is REQUIRED and not param.keyword_only
        keyword_name = None if required else param.name
        if is_number(value):
            args.append(Hole(value, param.name, keyword_name, param.default))
        elif not mapping.same(value, param.default):
            text = literal(value)
            args.append(text if keyword_name is None else f"{keyword_name}={text}")
    return Call(spec.name, args)


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, tuple) and bool(value) and all(is_number(v) for v in value)


# --- a module of an unknown class: traced on its own --------------------------------------------


def unit_of(module, path: str, context: Context) -> Unit:
    unit = Unit(type(module), path)
    try:
        graph_module, values = trace_module(module, path, context)
        _Body(unit, module, graph_module, values, context).build()
    except Unmappable as failure:
        if not context.extern_unsupported:
            context.problems.extend(failure.problems)
            return unit
        unit.lines, unit.children = [], []
        unit.extern = extern_info(module, path, context, failure.problems)
        if not unit.extern.inputs or not unit.extern.outputs:
            # Never called on the example input (nor in training mode): no contract to write.
            raise Unmappable([Problem(path, "never called on the example input")]) from None
        context.externs.append(unit)
    return unit


def _nested_containers(container, path: list[str]) -> bool:
    """Whether `container` and the children `path` leads to through it are all ModuleLists or
    ModuleDicts (what the language indexes: `blocks[i][j]`)."""
    import torch.nn as nn

    def indexed(module) -> bool:
        return isinstance(module, (nn.ModuleList, nn.ModuleDict)) and is_container(module)

    for part in path:
        if not indexed(container) or part not in dict(container.named_children()):
            return False
        container = dict(container.named_children())[part]
    return indexed(container)


def node_location(node) -> str:
    trace = getattr(node, "stack_trace", None) or ""
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip().startswith("File ")]
    for line in reversed(lines):
        parts = line.split('"')
        if len(parts) >= 3 and "/torch/" not in parts[1] and parts[1] != __file__:
            number = parts[2].split("line ")[-1].split(",")[0]
            return f"{parts[1]}:{number}"
    return ""


def extern_info(module, path: str, context: Context, problems: list[Problem]) -> ExternInfo:
    seen = context.observed.get(path)
    inputs = [s for s in (seen.inputs if seen else []) if s is not None]
    outputs = [s for s in (seen.outputs if seen else []) if s is not None]
    cls = type(module)
    return ExternInfo(
        target=f"{cls.__module__}:{cls.__qualname__}",
        arguments=constructor_arguments(module, context),
        inputs=inputs,
        outputs=outputs,
        output_is_tuple=bool(seen and seen.output_is_tuple),
        input_dtypes=[d for d in (seen.input_dtypes if seen else []) if d is not None],
        output_dtypes=[d for d in (seen.output_dtypes if seen else []) if d is not None],
        reason="; ".join(p.what for p in problems),
        dropped=dropped_arguments(module, context),
    )


def constructor_arguments(module, context: Context) -> dict[str, Any] | None:
    """The keyword arguments that rebuild `module`: as it was constructed where the importer
    called the factory, else read off attributes named like the constructor's parameters.
    None when a value cannot be written in the language or is not known."""
    try:
        signature = inspect.signature(type(module).__init__)
    except (TypeError, ValueError):
        return None
    made = context.constructions.get(id(module))
    parameters = [p for n, p in signature.parameters.items() if n != "self"]
    if made is not None:
        try:
            bound = signature.bind(None, *made.args, **made.kwargs)
        except TypeError:
            return None
        arguments = {n: v for n, v in bound.arguments.items() if n != "self"}
        for parameter in parameters:
            # `**kwargs` binds as one dict: its items are keyword arguments of their own
            # (rdnet's DenseStage passes block_type on so; one unwritable item must not
            # drop the rest with it). Positional extras cannot be written by keyword.
            if parameter.kind is parameter.VAR_KEYWORD:
                arguments.update(arguments.pop(parameter.name, {}))
            elif parameter.kind is parameter.VAR_POSITIONAL and arguments.pop(parameter.name, ()):
                return None
    else:
        arguments = {}
        for parameter in parameters:
            if hasattr(module, parameter.name) and mapping.is_writable(
                getattr(module, parameter.name)
            ):
                arguments[parameter.name] = getattr(module, parameter.name)
            elif parameter.default is inspect.Parameter.empty:
                return None
    if made is None and any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None  # read off attributes: what **kwargs held is not known
    defaults = {p.name: p.default for p in parameters}
    arguments = {n: v for n, v in arguments.items() if not _is_default(v, defaults.get(n))}
    # Python objects (classes, partials, configs) become extern values. One the language cannot
    # write (a lambda, an object with state) is left out: the extern is then built with that
    # parameter's default, which the round trip tells apart (and `dropped` reports).
    written = {n: mapping.spec_value(v) for n, v in arguments.items()}
    return {n: v for n, v in written.items() if v is not mapping.UNWRITABLE}


def dropped_arguments(module, context: Context) -> list[str]:
    made = context.constructions.get(id(module))
    if made is None:
        return []
    return [n for n, v in made.kwargs.items() if mapping.spec_value(v) is mapping.UNWRITABLE]


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # noqa: BLE001 - tensors and such are never a default
        return False


def value_name(name: str) -> str:
    """An fx node name as a value name of the language (never a reserved word)."""
    name = name.replace(".", "_")
    if name in RESERVED or keyword.iskeyword(name) or name in ("N", "training", "_"):
        return name + "_"
    return name


def layer_name(name: str) -> str:
    """A child's name as the language writes it: quoted when reserved or no identifier."""
    if name.isidentifier() and name not in RESERVED and not keyword.iskeyword(name):
        return name
    return '"' + name + '"'


# --- the body of one unit -----------------------------------------------------------------------


@dataclass
class _Form:
    """How a node is written: a pipeline stage fed by `source` (tokens after `->`), or a whole
    expression."""

    stage: list[Any] | None = None
    source: Any = None  # the fx node piped into the stage
    expr: list[Any] | None = None
    outputs: int = 0  # several outputs: unpacked into this many names
    before: list[list[Any]] = field(default_factory=list)  # statements written ahead of it


class _Body:
    def __init__(self, unit: Unit, module, graph_module, values, context: Context):
        self.unit, self.module, self.gm, self.values = unit, module, graph_module, values
        self.context = context
        self.graph = graph_module.graph
        self.problems: list[Problem] = []
        self.text: dict[Any, str] = {}  # node -> expression text for plain values (sizes)
        self.aliases: dict[Any, str] = {}  # getitem of a multi-output node -> its name
        self.output_names: dict[Any, list[str]] = {}  # a multi-output node -> "a, _, c"
        self.parts: dict[Any, list[str]] = {}  # a tuple of tensors used whole -> its names
        self.forms: dict[Any, _Form] = {}
        self.declared: dict[str, Any] = {}  # top-level child name -> its token
        self.declare_lines: list[list[Any]] = []
        self.state_lines: list[list[Any]] = []
        self.input_sizes: dict[str, list[str]] = {}
        self.used_sizes: set[str] = set()
        self.folded: set[str] = set()  # children called with constants or tuples
        self.reductions: dict[Any, Any] = {}  # torch.max(x, dim) node -> amax, read by [0]

    # The whole body: inputs, parameters, declared layers, then statements in graph order.
    def build(self) -> None:
        live = self._live_nodes()
        self.live = set(live)
        uses = self._module_uses(live)
        for node in live:
            try:
                self._form(node, uses)
            except mapping.NotMappable as why:
                self.problems.append(Problem(self.unit.path, str(why), node_location(node)))
            except Unmappable as failure:
                self.problems.extend(failure.problems)
            except Exception as error:  # noqa: BLE001 - an importer gap: reported, not raised
                what = f"{node.op} {node.target}: {type(error).__name__}: {error}"[:200]
                self.problems.append(Problem(self.unit.path, what, node_location(node)))
        if self.problems:
            raise Unmappable(self.problems)
        self.training_calls = self._training_calls(live)
        lines = self._statements(live)
        self._declare_unused()
        self.unit.lines = self._input_lines() + self.state_lines + self.declare_lines + lines

    def _live_nodes(self) -> list:
        """The nodes the output depends on (asserts and what only they read are dropped)."""
        output = next(n for n in self.graph.nodes if n.op == "output")
        live, stack = set(), [output]
        while stack:
            node = stack.pop()
            if node in live:
                continue
            live.add(node)
            stack.extend(node.all_input_nodes)
        for node in self.graph.nodes:
            if node.op == "placeholder":
                live.add(node)
        return [n for n in self.graph.nodes if n in live]

    def _training_calls(self, live) -> list[tuple[str, Any]]:
        """Children only training mode calls (Inception's auxiliary heads): (name, the node
        they read), from a trace of the module in training mode."""
        import torch.fx as fx

        called = {n.target.partition(".")[0] for n in live if n.op == "call_module"}
        unused = [n for n, _ in self.module.named_children() if n not in called]
        if not unused:
            return []
        module = self.module

        class LeafTracer(fx.Tracer):
            def is_leaf_module(self, m, qualname: str) -> bool:
                return m is not module

        try:
            module.train()
            graph = LeafTracer().trace(module)
        except Exception:  # noqa: BLE001 - then they are declared only
            return []
        finally:
            module.eval()
        by_name = {n.name: n for n in live}
        found = []
        for node in graph.nodes:
            if node.op == "call_module" and node.target in unused and len(node.args) == 1:
                source = by_name.get(getattr(node.args[0], "name", None))
                if source is not None and source.op != "placeholder":
                    found.append((node.target, source))
        return found

    def _declare_unused(self) -> None:
        """Children the traced forward never calls (an auxiliary head in eval mode) are still
        declared: their weights are in the state_dict."""
        referenced = set(self.declared)
        for form in self.forms.values():
            for token in (form.stage or []) + (form.expr or []):
                if isinstance(token, str) and token.endswith(": "):
                    referenced.add(token[:-2].strip('"'))
        for name, child in self.module.named_children():
            if name not in referenced:
                try:
                    self._declare(name, child)
                except Unmappable as failure:  # left out: the report names it
                    self.context.omitted.extend(failure.problems)

    def _module_uses(self, live) -> dict[str, int]:
        uses: dict[str, int] = {}
        for node in live:
            if node.op == "call_module":
                uses[node.target] = uses.get(node.target, 0) + 1
        return uses

    # --- one node -------------------------------------------------------------------------

    def _form(self, node, uses) -> None:
        value = self.values.get(node.name)
        if node.op == "placeholder":
            self.text[node] = value_name(node.name)
            self._size_names(node, value)
        elif node.op == "output":
            return
        elif node.op == "get_attr":
            self._state(node, value)
        elif is_plain_value(value) and node.op != "call_module":
            self.text[node] = self._size_expression(node, value)
        elif node.op == "call_module":
            self._call_module(node, uses)
        elif node.op == "call_function":
            self._call_function(node)
        elif node.op == "call_method":
            self._call_method(node)
        if node in self.forms and isinstance(value, (tuple, list)) and node.op != "get_attr":
            self._unpacked(node, value)

    def _unpacked(self, node, value) -> None:
        """Several outputs are unpacked into names: those an index reads are named after it;
        all of them when the tuple is also used whole (fed to the next layer, returned)."""
        import torch

        form = self.forms[node]
        # A block returns its tensors only: sizes beside them are read off the run (at the
        # model's level, where sizes are fixed; see _with_sizes), never off the call.
        kept = [i for i, v in enumerate(value) if not (node.op == "call_module" and is_size(v))]
        if len(kept) < len(value) and _holds_extern(form):
            raise mapping.NotMappable("an extern returning sizes beside its tensors")
        form.outputs = len(kept)
        names = ["_"] * len(kept)
        whole = False
        for user in node.users:
            if user.op == "call_function" and user.target is operator.getitem:
                index = user.args[1]
                index = index % len(value) if isinstance(index, int) else index
                if index not in kept:
                    raise mapping.NotMappable(f"output {user.args[1]!r} of a layer read here")
                position = kept.index(index)
                if names[position] == "_":  # `y[1]` and `y[-1]` of two: one name for both
                    names[position] = value_name(user.name)
                self.aliases[user] = names[position]
            else:
                whole = True
        value = [value[i] for i in kept]
        if whole:
            if not all(isinstance(v, torch.Tensor) for v in value):
                raise mapping.NotMappable("a tuple holding more than tensors used as a whole")
            names = [n if n != "_" else value_name(f"{node.name}_{i}") for i, n in enumerate(names)]
            self.parts[node] = names
        self.output_names[node] = names

    def _size_names(self, node, value) -> None:
        import torch

        if isinstance(value, torch.Tensor):
            names = DIM_NAMES.get(value.dim(), [f"D{i}" for i in range(value.dim())])
            prefix = "" if not self.input_sizes else value_name(node.name) + "_"
            names = [n if n == "N" and not self.input_sizes else prefix + n for n in names]
            if self.unit.path == "":  # the model's inputs have fixed sizes but the batch
                names = [names[0]] + [str(s) for s in value.shape[1:]]
            self.input_sizes[node.name] = names

    def _state(self, node, value) -> None:
        import torch

        name = node.target
        if "." in name or not isinstance(value, torch.Tensor):
            raise mapping.NotMappable(f"attribute self.{name} (only a module's own tensors)")
        if name not in self.module._parameters and name not in self.module._buffers:
            # fx keeps a tensor computed while tracing (a buffer's `.view(-1)`) as a
            # `_tensor_constant`: no state_dict entry holds it, so nothing can rebuild it.
            raise mapping.NotMappable("a tensor computed while tracing (its value is code)")
        is_param = isinstance(getattr(self.module, name, None), torch.nn.Parameter)
        if not is_param and name in getattr(self.module, "_non_persistent_buffers_set", ()):
            raise mapping.NotMappable(f"non-persistent buffer self.{name} (its value is code)")
        shape = [Hole(s, "size", layer=name) for s in value.shape]
        dtype = str(value.dtype).removeprefix("torch.")
        words = ["param " if is_param else "buffer ", value_name(name), ": ["]
        for index, hole in enumerate(shape):
            words += [", "] if index else []
            words.append(hole)
        words.append("]")
        if dtype != "float32":
            words.append(f" {dtype}")
        words.append(" = zeros()")
        self.state_lines.append(words)
        self.text[node] = value_name(name)

    def _size_expression(self, node, value) -> str:
        """A plain value: a size read off an input (x.size(2), x.shape[0] ...), arithmetic on
        sizes, or a constant."""
        import torch

        if node.op == "call_method" and node.target == "size":
            return self._size_of(node.args[0], node.args[1] if len(node.args) > 1 else None, value)
        if node.op == "call_method" and node.target == "dim":
            return str(value)
        if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
            return self._size_of(node.args[0], None, value)
        if node.op == "call_function" and node.target is operator.getitem:
            source, index = node.args
            parts = self._tuple_parts(source) if source in self.text else None
            if parts is not None and isinstance(index, int):
                return parts[index]
            if parts is not None and isinstance(index, slice):  # `H, W = x.shape[1:3]`
                kept = parts[index]
                return "(" + ", ".join(kept) + ("," if len(kept) == 1 else "") + ")"
        if node.op == "call_function" and node.target in mapping.BINARY_OPERATORS:
            a, b = (self._operand_text(v) for v in node.args)
            return f"({a} {mapping.BINARY_OPERATORS[node.target]} {b})"
        if isinstance(value, (int, float)) and not isinstance(value, torch.Tensor):
            return literal(value)
        raise mapping.NotMappable(f"a Python value from {node.op} {node.target}")

    def _tuple_parts(self, node) -> list[str] | None:
        text = self.text[node]
        if text.startswith("(") and text.endswith(")"):
            return [p.strip() for p in text[1:-1].split(",") if p.strip()]
        return None

    def _size_of(self, tensor_node, dim, value) -> str:
        import torch

        names = self.input_sizes.get(tensor_node.name)
        shape = self.values[tensor_node.name].shape
        rank = len(shape)
        if dim is None:
            parts = [self._one_size(names, i, shape[i], tensor_node) for i in range(rank)]
            return "(" + ", ".join(parts) + ("," if rank == 1 else "") + ")"
        assert isinstance(dim, int) and not isinstance(value, torch.Tensor)
        return self._one_size(names, dim % rank, value, tensor_node)

    def _one_size(self, names, index: int, size: int, tensor_node=None) -> str:
        if names is not None:
            self.used_sizes.add(names[index])
            return names[index]
        if index == 0 and size == self._batch_size():
            self.used_sizes.add("N")  # declared with the first input's shape
            return "N"  # dim 0 of a tensor inside the body: the batch (read off input 0)
        if index == 0 and tensor_node is not None:
            count = self._batch_multiple(tensor_node, size)
            if count is not None:
                self.used_sizes.add("N")
                return f"({count} * N)"  # windows of each sample: hieradet, swin
        return str(size)

    def _batch_multiple(self, tensor_node, size: int) -> int | None:
        """k where dim 0 of the tensor is k times N: read off the run at one more sample,
        where it must grow by k times as much as N does."""
        import torch

        other = getattr(self.gm, "other_batch", {})
        grown = other.get(tensor_node.name)
        inputs = self.input_sizes.items()
        first = next((n for n, names in inputs if names and names[0] == "N"), None)
        if not isinstance(grown, torch.Tensor) or first is None or first not in other:
            return None
        batch, other_batch = self._batch_size(), other[first].shape[0]
        if other_batch == batch or size % batch or grown.dim() == 0:
            return None
        count = size // batch
        return count if grown.shape[0] == count * other_batch else None

    def _batch_size(self) -> int:
        """The size `N` stands for in this body: dim 0 of its first input, which is the model's
        batch only at the top (an attention's helper block is given batch × heads rows)."""
        for node_name, names in self.input_sizes.items():
            if names and names[0] == "N":
                return self.values[node_name].shape[0]
        return self.context.batch

    def _operand_text(self, value) -> str:
        import torch.fx as fx

        if isinstance(value, fx.Node):
            if value not in self.text:
                raise mapping.NotMappable(f"{value.op} {value.target} used as a number")
            return self.text[value]
        return literal(value)

    # --- layers -------------------------------------------------------------------------------

    def _call_module(self, node, uses) -> None:
        target = node.target
        head, _, rest = target.partition(".")
        tensors = self._call_inputs(node)
        if not rest and not node.kwargs and self._sequential_chain(node, tensors):
            return
        keywords = self._forward_keywords(node, getattr(self.module, target, None))
        if rest:
            container = getattr(self.module, head)
            parts = rest.split(".")
            if len(parts) > 1:  # `self.blocks[i][j]`: ModuleLists held by a ModuleList
                if not _nested_containers(container, parts[:-1]):
                    raise mapping.NotMappable(f"self.{target}: a layer inside a child module")
                self._declare(head, container)
            elif _is_sequential(container):
                self._declare_listed(head, container)
            elif is_container(container):
                self._declare(head, container)
            else:
                raise mapping.NotMappable(f"self.{target}: a layer inside a child module")
            indices = [p if p.lstrip("-").isdigit() else literal(p) for p in parts]
            reference = layer_name(head) + "".join(f"[{index}]" for index in indices)
        elif uses.get(target, 0) > 1 or len(tensors) != 1 or keywords:
            self._declare(target, getattr(self.module, target))
            reference = layer_name(target)
        else:
            child = getattr(self.module, target)
            _check_body_name(target)
            token = convert(child, join(self.unit.path, target), self.context)
            self._note_child(token)
            reference = [layer_name(target) + ": ", token]
            if isinstance(token, Inline):
                reference = []
                for stage in token.before:
                    reference += [stage, " -> "]
                reference += [layer_name(target) + ": ", token.layer]
                for stage in token.after:
                    reference += [" -> ", stage]
        reference = reference if isinstance(reference, list) else [reference]
        if len(tensors) == 1 and not keywords and not isinstance(tensors[0], str):
            self.forms[node] = _Form(stage=reference, source=tensors[0])
        else:
            args = [a if isinstance(a, str) else self._tensor_text(a) for a in tensors]
            if keywords and "[" in "".join(t for t in reference if isinstance(t, str)):
                raise mapping.NotMappable(f"self.{target}(..., {keywords[0]}): a keyword")
            if keywords:  # `attn(q, k, v, need_weights=False)`: a declared layer called
                self.forms[node] = _Form(expr=[*reference, f"({', '.join(args + keywords)})"])
            else:  # `(a, b) -> layer`: several inputs fed by a tuple
                self.forms[node] = _Form(expr=[f"({', '.join(args)}) -> ", *reference])
        self._check_not_extern(target)

    def _sequential_chain(self, node, tensors: list[Any]) -> bool:
        """A Sequential subclass whose forward only hands each layer's result to the next,
        tuples too (timm's SequentialTuple): a ModuleList, the same state_dict keys, applied
        layer by layer with each result unpacked, as the language cannot pipe several
        outputs into the next layer's inputs. False (nothing written) for any other forward."""
        child = getattr(self.module, node.target)
        if not _is_sequential(child) or is_container(child) or not len(child):
            return False
        path = join(self.unit.path, node.target)
        try:
            graph_module, values = trace_module(child, path, self.context)
        except Unmappable:
            return False
        steps = _chain_steps(graph_module.graph, child)
        if steps is None or not all(_tensors_only(values.get(s.name)) for s in steps[:-1]):
            return False  # (a layer handing sizes on: its block would not return them)
        try:
            self._declare_listed(node.target, child)
        except mapping.NotMappable:
            return False
        for index, (name, _) in enumerate(child.named_children()):
            fed = values.get(steps[index - 1].name) if index else None
            if isinstance(fed, (tuple, list)) or (not index and node.target in self.folded):
                self.folded.add(f"{node.target}.{name}")  # fed a tuple, spread
                self._check_not_extern(f"{node.target}.{name}")
        before, feed = [], [a if isinstance(a, str) else self._tensor_text(a) for a in tensors]
        for index, step in enumerate(steps):
            applied = [_fed(feed), f"{layer_name(node.target)}[{index}]"]
            if index == len(steps) - 1:
                break
            value = values.get(step.name)
            count = len(value) if isinstance(value, (tuple, list)) else 0
            feed = [value_name(f"{node.name}_{index}_{k}") for k in range(count)] or [
                value_name(f"{node.name}_{index}")]  # fmt: skip
            before.append([", ".join(feed), " = ", *applied])
        self.forms[node] = _Form(expr=applied, before=before)
        return True

    def _declare_listed(self, name: str, sequential) -> None:
        """A Sequential whose layers the forward applies one by one, declared as a ModuleList
        (layers 0, 1, ...) or a ModuleDict (named layers: timm's `self.head.norm(x)`): the
        language indexes those only, and the state_dict keys are the same. Never for one that
        is also applied whole."""
        names = [n for n, _ in sequential.named_children()]
        kind = "ModuleList" if names == [str(i) for i in range(len(names))] else "ModuleDict"
        if self.declared.get(name, Seq(kind, [])).kind != kind:
            raise mapping.NotMappable(f"self.{name}: a Sequential applied whole and by layer")
        if name in self.declared:
            return
        whole = [n for n in self.live if n.op == "call_module" and n.target == name]
        if whole and is_container(sequential):  # (a subclass's whole calls are chains)
            raise mapping.NotMappable(f"self.{name}: a Sequential applied whole and by layer")
        items = []
        for child_name, layer in sequential.named_children():
            token = convert(layer, join(self.unit.path, f"{name}.{child_name}"), self.context)
            if isinstance(token, Inline) and token.stages != [token.layer]:
                raise mapping.NotMappable(f"self.{name}.{child_name}: a layer with steps, indexed")
            key = None if kind == "ModuleList" else child_name
            items.append((key, token.layer if isinstance(token, Inline) else token))
        _check_body_name(name)
        token = Seq(kind, items)
        self._note_child(token)
        self.declared[name] = token
        self.declare_lines.append([layer_name(name) + ": ", token])

    def _forward_keywords(self, node, child) -> list[str]:
        """A layer's forward arguments after its tensors (`need_weights=False`), for the ops
        whose registry entry lists them."""
        spec = mapping.layer_ops().get(type(child)) if child is not None else None
        texts = []
        for key, value in node.kwargs.items():
            if spec is None and not _has_node(value):
                continue  # a constant argument of a traced child: folded in its own trace
            param = spec.forward_param(key) if spec is not None else None
            if param is None:
                raise mapping.NotMappable(f"self.{node.target}(..., {key}=...) keyword of a call")
            if not mapping.same(value, param.default):
                texts.append(f"{key}={self._argument(value)}")
        return texts

    def _declare(self, name: str, child) -> None:
        if name in self.declared:
            return
        _check_body_name(name)
        token = convert(child, join(self.unit.path, name), self.context)
        if isinstance(token, Inline):
            if token.before or token.after:
                raise mapping.NotMappable(f"self.{name}: a layer with steps, applied twice")
            token = token.layer
        self._note_child(token)
        self.declared[name] = token
        self.declare_lines.append([layer_name(name) + ": ", token])

    def _note_child(self, token) -> None:
        if isinstance(token, Inline):  # its steps may be blocks of their own
            for stage in token.stages:
                self._note_child(stage)
        elif isinstance(token, Child):
            self.unit.children.append(token.unit)
        elif isinstance(token, Seq):
            for _, item in token.items:
                self._note_child(item)

    def _call_inputs(self, node) -> list[Any]:
        """The tensors a layer call feeds, in order: fx nodes, or the names of a tuple's
        items. A tuple or list of tensors is spread, as the child's own trace gave each item
        a placeholder (`(x, cls_tokens) -> transformers`); constants (a None, a size
        `(H, W)`) are left out, folded in the child's own trace, which is checked to have
        been made with the same ones."""
        import torch.fx as fx
        import torch.utils._pytree as pytree

        inputs: list[Any] = []
        check = any(isinstance(a, (list, tuple)) for a in node.args)
        for leaf in pytree.tree_leaves(list(node.args)):
            if isinstance(leaf, fx.Node) and leaf in self.parts:
                inputs += self.parts[leaf]
                check = True
            elif isinstance(leaf, fx.Node) and not is_plain_value(self.values.get(leaf.name)):
                inputs.append(leaf)
            else:
                check = True
        check = check or any(not _has_node(v) for v in node.kwargs.values())
        if check:
            self._check_first_call(node)
            self.folded.add(node.target)
        return inputs

    def _check_not_extern(self, target: str) -> None:
        """An extern is the original class, called as written: its constants cannot be left
        out nor its tuples spread, as they are for a child traced with them."""
        paths = {u.path for u in self.context.externs}
        if target in self.folded and join(self.unit.path, target) in paths:
            raise mapping.NotMappable(f"self.{target}: an extern called with constants or tuples")

    def _check_first_call(self, node) -> None:
        """A call whose constants are folded (or whose tuples are spread) must hand the child
        what its own trace was made with, its first call: the same constants, tensors where
        tensors were. A layer the language knows takes its tensors one by one."""
        import inspect

        child = self.module.get_submodule(node.target)
        if type(child) in mapping.layer_ops():
            if any(isinstance(a, (list, tuple)) for a in node.args) or any(
                a in self.parts for a in node.args
            ):
                raise mapping.NotMappable("a layer called with a list of tensors")
            if not node.kwargs:
                raise mapping.NotMappable("a layer called with a constant")
            return  # its keywords are the registry's (_forward_keywords)
        first = self.context.first_call(child, join(self.unit.path, node.target))
        if first is None:
            raise mapping.NotMappable(f"self.{node.target}: a call with constants, never seen")
        signature = inspect.signature(child.forward)
        try:
            here = signature.bind(*node.args, **node.kwargs)
            there = signature.bind(*first[0], **first[1])
        except TypeError as error:
            raise mapping.NotMappable(f"self.{node.target}(...): {error}") from None
        here.apply_defaults(), there.apply_defaults()
        for name, value in here.arguments.items():
            if _same_kind(self._kind(value), _kind_of_value(there.arguments.get(name))):
                continue
            raise mapping.NotMappable(
                f"self.{node.target}(..., {name}=...): not as in its first call, which its "
                "trace fixed"
            )

    def _kind(self, value) -> Any:
        """An argument as its child's trace sees it: "tensor" for a tensor, a constant as
        itself (a size known only here is refused: its trace would fix it)."""
        import torch.fx as fx

        if isinstance(value, (list, tuple)):
            return tuple(self._kind(v) for v in value)
        if not isinstance(value, fx.Node):
            return value
        if value in self.parts:
            return ("tensor",) * len(self.parts[value])
        seen = self.values.get(value.name)
        if not is_plain_value(seen):
            return "tensor"
        text = self.text.get(value, "")
        if not all(part.strip("() -").isdigit() for part in text.split(",") if part.strip()):
            raise mapping.NotMappable(f"a size {text} passed to a layer: its trace fixes it")
        return _kind_of_value(seen)

    # --- functions and methods ----------------------------------------------------------------

    def _call_function(self, node) -> None:
        target = node.target
        if getattr(target, "__name__", "") in ASSERTS:
            raise mapping.NotMappable("an assertion whose result is used")
        if target is operator.getitem:
            return self._getitem(node)
        spec = mapping.operator_op(target)
        if spec is not None and _has_node(node.args[0]) and not _has_node(node.args[1]):
            return self._function_form(node, spec, list(node.args), {})  # x ** 2 -> pow(2)
        if target in mapping.BINARY_OPERATORS:
            symbol = mapping.BINARY_OPERATORS[target]
            if symbol not in mapping.TENSOR_OPERATORS:
                raise mapping.NotMappable(f"operator {symbol} on tensors")
            a, b = (self._operand(v) for v in node.args)
            self.forms[node] = _Form(expr=[f"{a} {symbol} {b}"])
            return
        if target is operator.matmul:  # a @ b
            a, b = (self._operand(v) for v in node.args)
            self.forms[node] = _Form(expr=[f"matmul({a}, {b})"])
            return
        if target is operator.neg:
            self.forms[node] = _Form(expr=[f"-{self._operand(node.args[0])}"])
            return
        if self._values_reduction(node):
            return
        spec = mapping.function_op(target)
        self._function_form(node, spec, list(node.args), dict(node.kwargs))

    def _call_method(self, node) -> None:
        if self._values_reduction(node):
            return
        spec = mapping.method_op(node.target)
        self._function_form(node, spec, list(node.args), dict(node.kwargs))

    def _function_form(self, node, spec, args: list, kwargs: dict) -> None:
        """`x -> flatten(1)` when the first parameter is the piped tensor, else `cat([a, b], 1)`;
        arguments bound to the op's parameters, those equal to torch's default left out."""
        import torch.fx as fx

        params = list(spec.params)
        bound: list[tuple[Any, Any]] = []
        for index, value in enumerate(args):
            if index >= len(params) or params[index].keyword_only:
                raise mapping.NotMappable(f"{spec.name}() with {len(args)} arguments")
            param = params[index]
            if param.variadic:
                rest = args[index:]
                if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
                    rest = list(rest[0])
                bound.append((param, list(rest)))
                break
            bound.append((param, value))
        for name, value in kwargs.items():
            if name == "dim" and not spec.has_param("dim") and spec.has_param("dims"):
                name = "dims"
            if not spec.has_param(name):
                if name in ("inplace", "_stacklevel") or (value is None and name == "dtype"):
                    continue  # the same value: F.softmax(x, dim, _stacklevel=5, dtype=None)
                if mapping.is_omitted_default(spec, name, value):
                    continue  # scaled_dot_product_attention(..., attn_mask=None)
                raise mapping.NotMappable(f"{spec.name}(..., {name}=...) is not in the language")
            bound.append((spec.param(name), value))
        first = bound[0] if bound else None
        pipe = (first is not None and first[0].is_tensor and not first[0].variadic
                and isinstance(first[1], fx.Node)
                and not is_plain_value(self.values.get(first[1].name)))  # fmt: skip
        texts, keyword_now = [], False
        for param, value in bound[1 if pipe else 0 :]:
            if param.variadic:
                texts.extend(self._argument(v) for v in value)
                continue
            if param.default is not REQUIRED and _equals_default(value, param.default):
                keyword_now = True
                continue
            text = self._argument(value)
            keyword_now = keyword_now or param.keyword_only or param.name in kwargs
            texts.append(f"{param.name}={text}" if keyword_now else text)
        call = f"{spec.name}({', '.join(texts)})"
        if pipe:
            self.forms[node] = _Form(stage=[call], source=first[1])
        else:
            self.forms[node] = _Form(expr=[call])

    def _argument(self, value) -> str:
        import torch.fx as fx

        if isinstance(value, fx.Node):
            if value in self.text:
                return self.text[value]
            if value in self.parts:  # a tuple of tensors: `cat([a, b], 1)`
                return "[" + ", ".join(self.parts[value]) + "]"
            return self._tensor_text(value)
        if isinstance(value, (list, tuple)):
            inner = [self._argument(v) for v in value]
            if isinstance(value, list):
                return "[" + ", ".join(inner) + "]"
            return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"
        if isinstance(value, slice):
            return _slice(value, self._argument)
        if hasattr(value, "is_floating_point") and not hasattr(value, "shape"):
            return str(value).removeprefix("torch.")  # a dtype
        if _is_dtype(value):
            return str(value).removeprefix("torch.")
        if not mapping.is_writable(value):
            raise mapping.NotMappable(f"an argument {value!r} the language cannot write")
        return literal(value)

    def _operand(self, value) -> str:
        import torch.fx as fx

        if isinstance(value, fx.Node) and value in self.text:
            return self.text[value]
        if isinstance(value, fx.Node):
            return self._tensor_text(value)
        return literal(value)

    def _tensor_text(self, node) -> str:
        """A tensor operand by name: the statement that computes it is named after its node."""
        if node in self.aliases:
            return self.aliases[node]
        if node.op == "get_attr" or node.op == "placeholder":
            return self.text[node]
        return value_name(node.name)

    def _values_reduction(self, node) -> bool:
        """`x.max(1)` gives (values, indices); its values alone are in the language, as amax:
        recorded here and written where `[0]` reads them."""
        spec = mapping.values_reduction(node.target)
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        if spec is None or type(dim) is not int:
            return False  # x.max() is one tensor, torch.max(a, b) elementwise: not a pair
        if any(user.target is not operator.getitem for user in node.users):
            return False  # the pair used whole: not in the language
        self.reductions[node] = spec
        return True

    def _getitem(self, node) -> None:
        source, index = node.args
        if source in self.reductions:
            if index != 0:
                raise mapping.NotMappable("the indices of max(dim) (its values are amax)")
            spec = self.reductions[source]
            return self._function_form(node, spec, list(source.args), dict(source.kwargs))
        if source in self.forms and self.forms[source].outputs:
            return  # one of several outputs: named where they are unpacked
        if source in self.text and not _is_tensor(self.values.get(source.name)):
            raise mapping.NotMappable("indexing a Python value")
        text = self._index_text(index)
        self.forms[node] = _Form(expr=[f"{self._tensor_text(source)}[{text}]"])

    def _index_text(self, index) -> str:
        import torch.fx as fx

        parts = index if isinstance(index, tuple) else (index,)
        texts = []
        for part in parts:
            if isinstance(part, slice):
                texts.append(_slice(part, self._argument))
            elif part is None:
                texts.append("None")
            elif part is Ellipsis:
                texts.append("...")
            elif isinstance(part, fx.Node):
                texts.append(self._argument(part))
            elif isinstance(part, int):
                texts.append(str(part))
            else:
                raise mapping.NotMappable(f"an index {part!r}")
        return ", ".join(texts)

    # --- statements ---------------------------------------------------------------------------

    def _input_lines(self) -> list[list[Any]]:
        lines = []
        for node in self.graph.nodes:
            if node.op != "placeholder" or node.name not in self.values:
                continue
            live_users = [u for u in node.users if u in self.live]
            if not live_users and not has_tensor(self.values[node.name]):
                continue  # a constant argument (pre_logits=False), folded by the trace
            names = self.input_sizes.get(node.name)
            if self.unit.path == "" and names is not None:
                shape = self.values[node.name].shape
                sizes = [n if n == "N" else str(s) for n, s in zip(names, shape, strict=True)]
                lines.append([f"input {value_name(node.name)}: [{', '.join(sizes)}]"])
            elif names is not None and any(n in self.used_sizes for n in names):
                lines.append([f"input {value_name(node.name)}: [{', '.join(names)}]"])
            else:
                lines.append([f"input {value_name(node.name)}"])
        return lines

    def _statements(self, live) -> list[list[Any]]:
        inlined = self._inlined(live)
        lines = []
        for node in live:
            if node.op == "output":
                lines.append(["return "] + self._return_tokens(self._returned(node), inlined))
                continue
            form = self.forms.get(node)
            if form is None or node in inlined:
                continue
            lines += form.before
            tokens = self._chain(node, inlined)
            if form.outputs:
                lines.append([", ".join(self.output_names[node]), " = ", *tokens])
            else:
                lines.append([value_name(node.name), " = ", *tokens])
            for child, source in self.training_calls:
                if source is node:  # applied in training only, as torch's forward does
                    self._declare(child, getattr(self.module, child))
                    name = value_name(f"{child}_out")
                    lines.append([f"if training {{ {name} = {value_name(node.name)} -> "
                                  f"{layer_name(child)} }}"])  # fmt: skip
        return lines

    def _returned(self, output):
        """What the block returns: its tensors, without the sizes beside them (its caller
        reads those off the run, _with_sizes); the model returns all it returns."""
        value = output.args[0]
        if not self.unit.path or not isinstance(value, (tuple, list)):
            return value
        kept = [v for v in value if not self._is_size_item(v)]
        return value if not kept else kept if len(kept) > 1 else kept[0]

    def _is_size_item(self, item) -> bool:
        import torch.fx as fx

        if isinstance(item, (tuple, list)):
            return bool(item) and all(self._is_size_item(v) for v in item)
        value = self.values.get(item.name) if isinstance(item, fx.Node) else item
        return is_size(value)

    def _inlined(self, live) -> set:
        """Nodes written inside the pipeline of their only reader: `x -> conv1 -> bn1`."""
        inlined = set()
        for node in live:
            form = self.forms.get(node)
            if form is None or form.outputs or form.before or len(node.users) != 1:
                continue
            if any(source is node for _, source in self.training_calls):
                continue  # a training-only layer reads it by name
            user = next(iter(node.users))
            user_form = self.forms.get(user)
            if user_form is not None and user_form.stage is not None and user_form.source is node:
                inlined.add(node)
            elif user.op == "output" and user.args[0] is node:
                inlined.add(node)
        return inlined

    def _chain(self, node, inlined) -> list[Any]:
        stages = []
        while True:
            form = self.forms[node]
            if form.stage is None:
                head = list(form.expr)
                break
            stages.append(form.stage)
            source = form.source
            if source in inlined:
                node = source
                continue
            head = [self._operand(source)]
            break
        tokens = head
        for stage in reversed(stages):
            tokens = tokens + [" -> "] + stage
        return tokens

    def _return_tokens(self, value, inlined) -> list[Any]:
        import torch.fx as fx

        if isinstance(value, (tuple, list)):
            parts: list[Any] = []
            for index, item in enumerate(value):
                parts += [", "] if index else []
                parts += self._return_tokens(item, inlined)
            return parts
        if isinstance(value, dict):
            raise Unmappable([Problem(self.unit.path, "a dict output inside a module")])
        if isinstance(value, fx.Node) and value in self.parts:
            return [", ".join(self.parts[value])]
        if isinstance(value, fx.Node) and value in inlined:
            return self._chain(value, inlined)
        if isinstance(value, fx.Node):
            return [self._operand(value)]
        raise Unmappable([Problem(self.unit.path, f"returns a constant {value!r}")])


def _chain_steps(graph, sequential) -> list | None:
    """The call of each layer of `sequential`, in order, when its traced forward feeds its
    inputs to the first and each result whole to the next, returning the last; else None."""
    import torch.fx as fx

    names = [name for name, _ in sequential.named_children()]
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    calls = [n for n in nodes if n.op == "call_module"]
    if len(calls) != len(names) or [n.target for n in calls] != names or len(nodes) != len(calls):
        return None  # asserts and other steps: not a plain chain
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    first = [a for a in fx.node.map_aggregate(calls[0].args, lambda a: a) if a is not None]
    if calls[0].kwargs or list(_leaves(first)) != inputs:
        return None
    for previous, call in zip(calls, calls[1:], strict=False):
        if call.args != (previous,) or call.kwargs:
            return None
    result = next(n for n in graph.nodes if n.op == "output").args[0]
    if isinstance(result, (list, tuple)) and len(result) == 1:
        result = result[0]  # fx's pytree output: the one value, listed
    return calls if result is calls[-1] else None


def _leaves(value):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _fed(names: list[str]) -> str:
    """The left side of a layer application: `x -> ` or `(a, b) -> `."""
    return f"{names[0]} -> " if len(names) == 1 else f"({', '.join(names)}) -> "


def _tensors_only(value) -> bool:
    import torch

    items = value if isinstance(value, (tuple, list)) else [value]
    return bool(items) and all(isinstance(v, torch.Tensor) for v in items)


def _holds_extern(form: _Form) -> bool:
    tokens = [*(form.stage or []), *(form.expr or [])]
    return any(isinstance(t, Child) and t.unit.extern is not None for t in tokens)


def _kind_of_value(value) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, (list, tuple)):  # torch.Size too
        return tuple(_kind_of_value(v) for v in value)
    return value


def _same_kind(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - a value without a plain ==: not the same
        return False


def _check_body_name(name: str) -> None:
    """A layer of a block body is named by an identifier (quoted where reserved): torch's
    other names ("0", "block1-0") exist in a Sequential only."""
    if not name.isidentifier():
        raise mapping.NotMappable(f"a child named {name!r} outside a Sequential")


def _is_sequential(module) -> bool:
    import torch.nn as nn

    return isinstance(module, nn.Sequential)


def _has_node(value) -> bool:
    import torch.fx as fx

    if isinstance(value, fx.Node):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_node(v) for v in value)
    if isinstance(value, dict):
        return any(_has_node(v) for v in value.values())
    return False


def _slice(part: slice, render) -> str:
    start = "" if part.start is None else render(part.start)
    stop = "" if part.stop is None else render(part.stop)
    text = f"{start}:{stop}"
    return text if part.step is None else f"{text}:{render(part.step)}"


def _is_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _is_dtype(value) -> bool:
    import torch

    return isinstance(value, torch.dtype)


def _equals_default(value, default) -> bool:
    import torch.fx as fx

    if isinstance(value, fx.Node):
        return False
    return mapping.same(value, default)
