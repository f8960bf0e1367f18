"""Checked models -> readable PyTorch source (text only; this module never imports torch).

The output looks hand-written, as torchvision's models do: a class per block and per model,
submodules named as in the spec, `nn.Sequential` for stages, and a straight-line `forward` with one
statement per layer (a Sequential or block instance is one statement) and the statement's shape as a
trailing comment. A block becomes one class per distinct instance: instances that build the same
layers and see the same shapes share it; an instance that differs (ResNet's first block of a stage,
with its downsample) gets a class of its own, named after its arguments (BasicBlock_64_128_2).

Every literal reaches the source through `repr()` of a plain int, float, bool, str or None, and
every identifier is checked, so no spec text is ever pasted into code.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.core.dims import Dim, Sym, format_shape
from archspec.core.dtypes import FLOAT32
from archspec.core.version import __version__
from archspec.elaborate.graph import EVAL, TRAIN, ContainerCall, ModelGraph, ModuleInfo, Node
from archspec.elaborate.run_sizes import contains_run_size, is_atomic, is_run_size
from archspec.elaborate.run_sizes import source as run_size_source
from archspec.elaborate.state import TENSOR, StateInfo
from archspec.elaborate.values import python_objects
from archspec.ops import REQUIRED
from archspec.ops.apply import group_forward
from archspec.ops.base import Emission
from archspec.ops.subscripts import Indices
from archspec.outputs.codegen_blocks import BlockClass, Unsupported
from archspec.outputs.codegen_blocks import translate as translate_block
from archspec.outputs.codegen_text import (  # noqa: F401 - literal, render_args: public here too
    INDENT,
    LINE_LENGTH,
    MAX_INLINE_NESTING,
    TORCH_MODULES,
    CodegenError,
    Writer,
    _exploded,
    _identifier,
    _same,
    _show,
    _state_line,
    _where,
    call_lines,
    constructor_args,
    docstring_text,
    gathering_imports,
    layout,
    literal,
    python_code,
    render_args,
    statement_lines,
)

if TYPE_CHECKING:
    from archspec.driver import CheckedModel, CheckResult


@dataclass
class ClassPlan:
    name: str
    module: ModuleInfo
    call: ContainerCall | None  # None for the model itself
    docstring: str
    body: list[str] = field(default_factory=list)  # rendered lines, class statement excluded

    @property
    def text(self) -> str:
        """The body without its docstring: what makes two instances the same class."""
        return "\n".join(self.body[1:])


class ClassTable:
    """Block classes of one generated file: one per distinct body, named on first appearance."""

    def __init__(self) -> None:
        self.key_ids: dict[str, int] = {}  # canonical body -> id
        self.names: dict[int, str] = {}  # id -> class name
        self.taken: set[str] = set()
        self.variants: dict[str, set[int]] = {}  # block name -> ids of its distinct bodies

    def key_id(self, block: str, body: str) -> int:
        key = block + "\n" + body
        if key not in self.key_ids:
            self.key_ids[key] = len(self.key_ids)
            self.variants.setdefault(block, set()).add(self.key_ids[key])
        return self.key_ids[key]

    def claim(self, base: str) -> str:
        base = _identifier(base)
        name, counter = base, 1
        while name in self.taken:
            counter += 1
            name = f"{base}_{counter}"
        self.taken.add(name)
        return name


_PLACEHOLDER = re.compile(r"\x00([^\x00]*)\x00")


class ModelWriter:
    """Generates the classes of one model: its block classes, then the model's own."""

    def __init__(
        self, checked: CheckedModel, table: ClassTable, generic: dict[int, str] | None = None
    ):
        self.model: ModelGraph = checked.graph
        self.generic = generic or {}  # block definition key -> its parametrized class's name
        self.inference = checked.inference
        self.sizes = checked.sizes
        self.table = table
        self.calls = self.model.calls_outer_first()
        self.calls_in: dict[str, list[ContainerCall]] = {}  # scope -> its calls, in that order
        for call in self.calls:
            self.calls_in.setdefault(call.scope, []).append(call)
        self.nodes = list(self.model.nodes())  # by index
        self.key_of: dict[str, int] = {}  # block instance path -> class key id
        self.hoisted_count = 0  # locals named so far in the class being written

    def write(self) -> list[ClassPlan]:
        first_call: dict[str, ContainerCall] = {}
        for call in self.calls:
            first_call.setdefault(call.module, call)
        blocks = self._instance_classes()  # pre-order
        bodies: dict[int, ClassPlan] = {}
        # Children first: a body's key includes the keys of the classes it instantiates.
        for module in reversed(blocks):
            call = first_call.get(module.path)
            if call is None:
                raise CodegenError(f"block instance '{module.path}' is never applied", module.span)
            plan = self._block_plan(module, call)
            canonical = _PLACEHOLDER.sub(lambda m: f"<{self.key_of[m.group(1)]}>", plan.text)
            key = self.table.key_id(module.definition.name.id, canonical)
            self.key_of[module.path] = key
            bodies.setdefault(key, plan)
        plans: list[ClassPlan] = []
        for module in blocks:  # named in order of first appearance
            key = self.key_of[module.path]
            if key in self.table.names:
                continue
            plan = bodies[key]
            self.table.names[key] = self.table.claim(self._variant_name(module, key))
            plan.name = self.table.names[key]
            plans.append(plan)
        root = self.model.root
        name = root.definition.name.id
        docstring = f"{name} from {_where(root.definition)}."
        if self.sizes is not None and self.sizes.complete and self.sizes.accepted_count:
            accepted = f"Input sizes: {self.sizes.describe()} (`archspec sizes`)."
            wrapped = textwrap.wrap(accepted, LINE_LENGTH - len(INDENT))
            docstring += "\n\n" + "\n".join(wrapped) + "\n"
        model_plan = ClassPlan(name, root, None, docstring)
        model_plan.body = self._class_body(model_plan)
        model_plan.name = self.table.claim(name)
        plans.append(model_plan)
        for plan in plans:
            plan.body = [self._resolve(line) for line in plan.body]
        return plans

    def _instance_classes(self) -> list[ModuleInfo]:
        """The block instances written as a class of their own (those of blocks without a
        parametrized class), pre-order; what a parametrized class builds is its own business."""
        found = []
        stack = [self.model.root]
        while stack:
            module = stack.pop()
            if module.kind == "block":
                if id(module.definition) in self.generic:
                    continue
                found.append(module)
            stack.extend(reversed(list(module.children.values())))
        return found

    def _resolve(self, line: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.table.names[self.key_of[m.group(1)]], line)

    def _block_plan(self, module: ModuleInfo, call: ContainerCall) -> ClassPlan:
        name = module.definition.name.id
        args = ", ".join(f"{k}={_show(v)}" for k, v in module.params.items())
        docstring = f"{name}({args}) from {_where(module.definition)}."
        if len(INDENT + docstring) + 6 > LINE_LENGTH:
            wrapped = textwrap.wrap(f"Arguments: {args}.", LINE_LENGTH - len(INDENT))
            docstring = f"{name} from {_where(module.definition)}.\n\n" + "\n".join(wrapped) + "\n"
        plan = ClassPlan(name, module, call, docstring)
        plan.body = self._class_body(plan)
        return plan

    def _variant_name(self, module: ModuleInfo, key: int) -> str:
        """The block's name; when its instances differ, suffixed with this one's arguments."""
        name = module.definition.name.id
        if len(self.table.variants[name]) == 1:
            return name
        parts = [_name_part(v) for v in module.params.values()]
        if parts and all(parts):
            return f"{name}_{'_'.join(parts)}"
        return name

    # ------------------------------------------------------------ class body
    def _class_body(self, plan: ClassPlan) -> list[str]:
        writer = Writer()
        for line in f'"""{docstring_text(plan.docstring)}"""'.split("\n"):
            writer.line(line)
        writer.line()
        writer.line("def __init__(self) -> None:")
        writer.indent()
        writer.line("super().__init__()")
        hoisted: list[tuple[str, ModuleInfo]] = []  # deep Sequentials, built before their parent
        self.hoisted_count = 0
        for child in plan.module.children.values():
            lines = self._constructor(child, f"self.{_attribute(child)} = ", 2, hoisted=hoisted)
            for text in self._hoisted_first(hoisted, lines):
                writer.line(text)
        for state in plan.module.state.values():
            value = None
            if state.init == TENSOR:
                lines, value = self._built_value(plan, state)
                for text in lines:
                    writer.line(text)
            line = _state_line(state, value)
            target, assigned, expression = line.partition(" = ")  # self.x = nn.Parameter(...)
            prefix, text = (f"{target} = ", expression) if assigned else ("", line)
            for piece in statement_lines(python_code(text), prefix, 2):
                writer.line(piece)
        for tie in plan.module.ties:  # `tie head.weight = wte.weight`: one tensor, two names
            writer.line(f"self.{_tied(plan.module, tie.target)} = "
                        f"self.{_tied(plan.module, tie.source)}")  # fmt: skip
        writer.dedent()
        writer.line()
        for text in self._forward(plan):
            writer.line(text)
        return writer.lines

    def _built_value(self, plan: ClassPlan, state: StateInfo) -> tuple[list[str], str]:
        """The statements of __init__ that compute a state's tensor initial value (nodes
        `built_for` it, in this class's first application), and the name of the result."""
        scope = plan.module.path
        start, end = (0, len(self.nodes)) if plan.call is None else (plan.call.start, plan.call.end)
        statements = []
        for node in self.nodes[start:end]:
            if node.built_for != state.name or node.scope != scope:
                continue
            if node.group is not None:
                if node.group == node.id:
                    statements.append(_several_outputs_statement(self.nodes, node, scope))
                continue
            statements.append(_Statement([node.id], node=node, bound_name=node.bindings.get(scope)))
        result = statements[-1].outputs[-1]
        for statement in statements:  # the application's own result (the first application)
            if state.init_node in statement.outputs:
                result = state.init_node
        namer = _Namer(statements, [], [result])
        namer.desired[result] = state.name
        lines: list[str] = []
        for statement in statements:
            targets = [_target(namer, statement, node) for node in statement.outputs]
            expression = self._expression(statement, namer)
            comment = ", ".join(format_shape(self.inference.shapes[n]) for n in statement.outputs
                                if n in self.inference.shapes)  # fmt: skip
            lines.extend(_with_head(f"{_joined(statement, targets)} = ", expression, comment, 2))
            namer.advance()
        return lines, namer.name_of(result)

    def _hoisted_first(self, hoisted: list[tuple[str, ModuleInfo]], lines: list[str]) -> list[str]:
        """`lines`, preceded by the locals they use (`nested_1 = nn.Sequential(...)`), which may use
        locals of their own: built by a work list, not recursion, and written innermost first."""
        parts = [lines]
        while hoisted:
            name, module = hoisted.pop()
            parts.append(self._constructor(module, f"{name} = ", 2, hoisted=hoisted))
        return [text for part in reversed(parts) for text in part]

    def _constructor(
        self,
        module: ModuleInfo,
        head: str,
        depth: int,
        tail: str = "",
        hoisted: list[tuple[str, ModuleInfo]] | None = None,
        nesting: int = 0,
    ) -> list[str]:
        """Lines building `module`, the first starting with `head` (at indent `depth`). A
        Sequential MAX_INLINE_NESTING levels down is not written here but named, and appended to
        `hoisted` to be built before."""
        if module.kind == "sequential" and nesting == MAX_INLINE_NESTING and hoisted is not None:
            name = f"nested_{self.hoisted_count + 1}"
            self.hoisted_count += 1
            hoisted.append((name, module))
            return [f"{head}{name}{tail}"]
        if module.kind == "layer":
            resolved = self.inference.module_args.get(module.path, {})
            keywords = frozenset(module.call.keywords) if module.call is not None else frozenset()
            args = constructor_args(module.op, module.args, resolved, keywords)
            lines = call_lines(head + module.op.torch, args, depth)
            lines[-1] += tail
            return lines
        if module.kind == "block":
            name = self.generic.get(id(module.definition))
            if name is not None:  # `Bottleneck(256, 64)`: its parametrized class
                lines = call_lines(head + name, block_arguments(module), depth)
                lines[-1] += tail
                return lines
            return [f"{head}\x00{module.path}\x00(){tail}"]  # the class is named later
        children = list(module.children.values())
        if module.kind == "list":  # nn.ModuleList([...]), torch's one-list form
            lines = [f"{head}nn.ModuleList(", f"{INDENT}["]
            for child in children:
                item = self._constructor(child, "", depth + 2, ",", hoisted, nesting + 1)
                lines.extend(INDENT * 2 + text for text in item)
            lines.extend([f"{INDENT}]", f"){tail}"])
            return lines
        if module.kind == "dict":  # nn.ModuleDict({...}), keys in the spec's order
            lines = [f"{head}nn.ModuleDict(", f"{INDENT}{{"]
            for child in children:
                head = f"{literal(child.name)}: "
                item = self._constructor(child, head, depth + 2, ",", hoisted, nesting + 1)
                lines.extend(INDENT * 2 + text for text in item)
            lines.extend([f"{INDENT}}}", f"){tail}"])
            return lines
        if all(child.name == str(i) for i, child in enumerate(children)):
            lines = [f"{head}nn.Sequential("]
            for child in children:
                item = self._constructor(child, "", depth + 1, ",", hoisted, nesting + 1)
                lines.extend(INDENT + text for text in item)
            lines.append(f"){tail}")
            return lines
        lines = [f"{head}nn.Sequential(", f"{INDENT}OrderedDict(", f"{INDENT * 2}["]
        for child in children:
            key = literal(child.name)
            item = self._constructor(child, f"({key}, ", depth + 3, "),", hoisted, nesting + 1)
            if len(item) > 1:  # ruff breaks the pair itself: (\n "name",\n module,\n),
                item = self._constructor(child, "", depth + 4, ",", hoisted, nesting + 1)
                item = ["(", f"{INDENT}{key},", *(INDENT + text for text in item), "),"]
            lines.extend(INDENT * 3 + text for text in item)
        lines.extend([f"{INDENT * 2}]", f"{INDENT}),", f"){tail}"])
        return lines

    # ------------------------------------------------------------ forward
    def _forward(self, plan: ClassPlan) -> list[str]:
        statements, inputs, outputs = self._statements(plan)
        definition = plan.module.definition
        input_names = [stmt.name.id for stmt in definition.body if type(stmt).__name__ == "Input"]
        namer = _Namer(statements, list(zip(inputs, input_names)), outputs)
        self._name_state_reads(plan, namer)
        names, seen = [], set()
        for node, name in zip(inputs, input_names):
            if node in seen:  # `(x, x) -> pair`: one tensor for two inputs, read as the first
                alias = namer._free(name, -1)
                namer.holder[alias] = node
                names.append(alias)
            else:
                names.append(namer.name_of(node))
            seen.add(node)
        params = ", ".join(f"{name}: torch.Tensor" for name in names)
        returns = "torch.Tensor" if len(outputs) == 1 else _tuple_type(len(outputs))
        shaped = plan.call is None and _shaped_returns(self.model)
        if shaped:
            returns = _returns_annotation(self.model)
        lines = [f"def forward(self, {params}) -> {returns}:"]
        open_mode = None  # the `if self.training:` the statements are now written under
        for statement in statements:
            targets = [_target(namer, statement, node) for node in statement.outputs]
            expression = self._expression(statement, namer)
            shape_texts = [self._typed(node) for node in statement.outputs]
            comment = ", ".join(shape_texts)
            head = f"{_joined(statement, targets)} = "
            mode = _statement_mode(statement, plan)
            if mode is not None and mode != open_mode:
                lines.append(INDENT + _MODE_TESTS[mode])
            open_mode = mode
            indent = INDENT * (2 if mode is not None else 1)
            depth = 3 if mode is not None else 2
            lines.extend(indent + text for text in _with_head(head, expression, comment, depth))
            namer.advance()
        if shaped:
            lines.extend(self._mode_returns(namer))
            return lines
        returned = ", ".join(namer.name_of(node) for node in outputs)
        lines.append(f"{INDENT}return {returned}")
        return lines

    def _mode_returns(self, namer: _Namer) -> list[str]:
        """The return of a model whose outputs are a dict or differ by mode: the training one
        under `if self.training:`, then the other (torchvision's Inception3 returns
        (logits, aux_logits) in training, logits in eval)."""
        lines: list[str] = []
        for returned in sorted(self.model.returns, key=lambda r: r.mode != TRAIN):
            names = [namer.name_of(self.model.node(o).inputs[0]) for o in returned.outputs]
            if returned.keys is not None:
                pairs = [f"({literal(k)}, {name})" for k, name in zip(returned.keys, names)]
                text = f"OrderedDict([{', '.join(pairs)}])"
            else:
                text = ", ".join(names)
            if returned.mode == TRAIN:
                lines.extend([INDENT + _MODE_TESTS[TRAIN], f"{INDENT * 2}return {text}"])
            elif returned.mode == EVAL and not any(r.mode == TRAIN for r in self.model.returns):
                lines.extend([INDENT + _MODE_TESTS[EVAL], f"{INDENT * 2}return {text}"])
            else:
                lines.append(f"{INDENT}return {text}")
        return lines

    def _statements(self, plan: ClassPlan):
        model = self.model
        if plan.call is None:
            start, end = 0, model.graph.number_of_nodes()
            scope = ""
            inputs = list(model.inputs)
            outputs = [model.node(o).inputs[0] for o in model.outputs]
        else:
            start, end = plan.call.start, plan.call.end
            scope = plan.module.path
            inputs = list(plan.call.inputs or ())
            outputs = list(plan.call.outputs or ())
        calls = []
        covered_until = -1
        for call in self.calls_in.get(scope, ()):
            if not start <= call.start < end or call.start < covered_until:
                continue
            calls.append(call)
            covered_until = call.end
        statements: list[_Statement] = []
        nodes = self.nodes
        index = start
        pending = iter(calls)
        next_call = next(pending, None)
        while index < end:
            if next_call is not None and index == next_call.start:
                if next_call.end > next_call.start:
                    outputs_ = list(next_call.outputs)
                    name = model.node(outputs_[-1]).bindings.get(scope)
                    # `y, w = x -> blk`: each output under its own name
                    names = [model.node(o).bindings.get(scope) for o in outputs_]
                    several = names if len(names) > 1 else None
                    statements.append(_Statement(outputs_, call=next_call, bound_name=name,
                                                 output_names=several))  # fmt: skip
                index = next_call.end
                next_call = next(pending, None)
                continue
            node = nodes[index]
            index += 1
            if node.kind != "op" or node.built_for is not None:  # built_for: in __init__
                continue
            if node.group is not None:
                if node.group == node.id:  # its other outputs are written with the first
                    statements.append(_several_outputs_statement(nodes, node, scope))
                continue
            name = node.bindings.get(scope)
            statements.append(_Statement([node.id], node=node, bound_name=name))
        # A container applied to nothing new (an empty Sequential) emits no statement.
        return statements, inputs, outputs

    def _expression(self, statement: _Statement, namer: _Namer) -> tuple[str, list[str]]:
        if statement.call is not None:
            attribute = _module_reference(self.model, statement.call.module, statement.call.scope)
            operands = [namer.name_of(node) for node in statement.call.inputs or ()]
            return attribute, operands
        node = statement.node
        operands = [namer.name_of(source) for source in node.inputs]
        if node.module is not None:
            if node.forward_inputs or node.forward_args:
                operands = self._forward_arguments(node, operands, namer)
            return _module_reference(self.model, node.module, node.scope), operands
        return self._function(node, operands, namer)

    def _forward_arguments(self, node: Node, operands: list[str], namer: _Namer) -> list[str]:
        """`q, k, v, need_weights=False, attn_mask=mask`: a layer's operands, then the forward
        arguments the spec gave, by keyword in torch's order (OpSpec.forward)."""
        count = len(operands) - len(node.forward_inputs)
        tensors = group_forward(dict(zip(node.forward_inputs, operands[count:])))
        written = operands[:count]
        for param in node.op.forward:
            if param.name in tensors:
                value = tensors[param.name]  # a tuple argument: `hx=(h0, c0)`
                text = f"({', '.join(value)})" if isinstance(value, tuple) else value
                written.append(f"{param.name}={text}")
            elif param.name in node.forward_args:
                value = self._value(node.forward_args[param.name], node, namer)
                written.append(f"{param.name}={value}")
        return written

    def _function(self, node: Node, operands: list[str], namer: _Namer) -> tuple[str, list[str]]:
        op = node.op
        tensors: dict[str, str] = {}
        position = 0
        for param in op.params:
            if not param.is_tensor:
                continue
            if param.scalar and param.name in node.args:  # a number operand: `x * 0.5`
                value = node.args[param.name]
                text = self._value(value, node, namer)
                # `x * (C // 2)`: an operator's operand keeps its own parentheses
                negative = text.startswith("-") and is_atomic(text[1:])
                tensors[param.name] = text if is_atomic(text) or negative else f"({text})"
                continue
            if param.name == "tensors":
                rest = operands[position:]
                tensors[param.name] = "[" + ", ".join(rest) + "]"
                position = len(operands)
            else:
                tensors[param.name] = operands[position]
                position += 1
        args: dict[str, str] = {}
        for param in op.params:
            if param.is_tensor or param.name not in node.args:
                continue
            value = node.args[param.name]
            if param.variadic:
                if len(value) == 1 and isinstance(value[0], (tuple, list)):
                    value = value[0]  # reshape((N, -1)) is reshape(N, -1)
                args[param.name] = ", ".join(self._dim(v, node, namer) for v in value)
            elif param.default is REQUIRED or not _same(value, param.default):
                args[param.name] = self._value(value, node, namer)
        if op.emit is not None:
            return op.emit(Emission(tensors, args, self._device(node, namer))), []
        return op.torch, [*tensors.values(), *render_args(op, args, node.keywords)]

    def _device(self, node: Node, namer: _Namer) -> str | None:
        """An op with no tensor input (arange) creates on the device of a tensor the forward
        already holds: `device=x.device`; None where it holds none (a buffer's initial value,
        built in __init__ on the CPU and moved with the module)."""
        if node.inputs or node.built_for is not None:
            return None
        for candidate in namer.available():
            if candidate == node.id:  # its own name, bound before the call is written
                continue
            if self.model.node(candidate).mode in (None, node.mode):
                return f"{namer.name_of(candidate)}.device"
        return None

    def _typed(self, node_id: str) -> str:
        """A shape comment, with the dtype where it is not float32: `[N, 49] int64`; None for an
        output torch returns as None (need_weights=False)."""
        if node_id not in self.inference.shapes:
            return "None"
        text = format_shape(self.inference.shapes[node_id])
        dtype = self.inference.dtype(node_id)
        return text if dtype == FLOAT32 else f"{text} {dtype}"

    def _name_state_reads(self, plan: ClassPlan, namer: _Namer) -> None:
        """A read of this class's parameter or buffer is the attribute, `self.layer_scale`."""
        scope = plan.module.path
        start, end = (0, len(self.nodes)) if plan.call is None else (plan.call.start, plan.call.end)
        for node in self.nodes[start:end]:
            if node.kind == "state" and node.scope == scope:
                namer.names[node.id] = f"self.{node.name}"

    def _value(self, value: Any, node: Node, namer: _Namer) -> str:
        if isinstance(value, Indices):  # x[:, 0]: the text between the brackets
            return value.source(lambda bound: self._value(bound, node, namer))
        if is_run_size(value):  # (7 - x.size(2) % 7) % 7
            return run_size_source(
                value,
                lambda size: f"{namer.name_of(size.node)}.size({size.dim})",
                lambda plain: self._value(plain, node, namer),
            )
        if isinstance(value, (tuple, list)) and contains_run_size(value):
            items = [self._value(v, node, namer) for v in value]
            text = ", ".join(items) + ("," if len(items) == 1 else "")
            return f"({text})" if isinstance(value, tuple) else f"[{text}]"
        if isinstance(value, tuple):
            items = [self._dim(v, node, namer) for v in value]
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        if isinstance(value, Sym):
            return self._dim(value, node, namer)
        return literal(value)

    def _dim(self, value: Dim, node: Node, namer: _Namer) -> str:
        """A size for generated code: numbers as they are, symbols read off a live tensor
        (`x.size(0)`), and expressions of them in exact integer arithmetic."""
        if is_run_size(value):
            return self._value(value, node, namer)
        if not isinstance(value, Sym):
            return literal(value)
        found = self._live_size(value, node, namer)
        if found is not None:
            return found
        common = math.lcm(*(getattr(c, "denominator", 1) for _, c in value.terms))
        if common != 1:  # H/2 + 1/2 (a shape simplified under H odd): exact as (H + 1) // 2
            return f"({self._dim(value * common, node, namer)}) // {common}"
        parts = []
        for atoms, coeff in value.terms:
            factors = [self._atom(atom, node, namer) for atom in atoms]
            if coeff != 1 or not factors:
                factors.insert(0, str(coeff))
            if len(factors) > 1:  # `-2 * (W) // 2` would read as (-2 * W) // 2
                factors = [f"({f})" if "//" in f else f for f in factors]
            parts.append(" * ".join(factors))
        return " + ".join(parts)

    def _atom(self, atom, node: Node, namer: _Namer) -> str:
        if isinstance(atom, str):
            found = self._live_size(Sym.named(atom), node, namer)
            if found is None:
                raise CodegenError(f"no tensor in scope carries the size {atom}", node.span)
            return found
        found = self._live_size(Sym.named(atom), node, namer)
        if found is not None:
            return found
        return f"({self._dim(atom.inner, node, namer)}) // {atom.divisor}"

    def _live_size(self, value: Sym, node: Node, namer: _Namer) -> str | None:
        """`t.size(i)` of a tensor computed before this node whose dim i is exactly `value`."""
        for candidate in [*node.inputs, *namer.available()]:
            if candidate == node.id:
                continue  # the node's own output does not exist yet
            if self.model.node(candidate).mode not in (None, node.mode):
                continue  # computed in the other mode only (`if training`): not there now
            shape = self.inference.shapes.get(candidate)
            if shape is None:
                continue
            for index, dim in enumerate(shape):
                if isinstance(dim, Sym) and dim.terms == value.terms:
                    return f"{namer.name_of(candidate)}.size({index})"
        return None


@dataclass
class _Statement:
    outputs: list[str]
    node: Node | None = None
    call: ContainerCall | None = None
    bound_name: str | None = None  # the name the spec gives the result in this class's scope
    # An op of several outputs (`x1, x2 = x.chunk(2, dim=1)`): the spec's name of each, if any.
    output_names: list[str | None] | None = None

    def reads(self) -> list[str]:
        if self.call is not None:
            return list(self.call.inputs or ())
        return [*self.node.inputs, *self.node.size_sources]

    @property
    def preferred_name(self) -> str:
        if self.bound_name is not None:
            return self.bound_name
        if self.node is not None:
            return self.node.name if self.node.module is None else self.node.module.split(".")[-1]
        return self.call.module.split(".")[-1]

    @property
    def bound(self) -> bool:
        return self.bound_name is not None


class _Namer:
    """Local variable names for forward: the spec's binding names, chains continuing under the name
    of the value they end in (`out = self.conv1(x)`, `out = self.bn1(out)`), never overwriting a
    value that is still needed."""

    def __init__(self, statements: list[_Statement], inputs: list[tuple[str, str]], outputs):
        self.statements = statements
        self.position = 0
        self.names: dict[str, str] = {}
        self.holder: dict[str, str] = {}
        self.last_use: dict[str, int] = {}
        for index, statement in enumerate(statements):
            for source in statement.reads():
                self.last_use[source] = index
        for node in outputs:
            self.last_use[node] = len(statements)
        self.desired = self._desired_names(outputs)
        self._input_names(inputs)

    def _input_names(self, inputs: list[tuple[str, str]]) -> None:
        for node, name in inputs:
            if node not in self.names:
                self._bind(node, self._free(name, -1))

    def _desired_names(self, outputs: list[str]) -> dict[str, str]:
        desired: dict[str, str] = {}
        readers: dict[str, list[tuple[int, int]]] = {}
        for index, statement in enumerate(self.statements):
            for position, source in enumerate(statement.reads()):
                readers.setdefault(source, []).append((index, position))
        for index in range(len(self.statements) - 1, -1, -1):
            statement = self.statements[index]
            for node in statement.outputs:
                if statement.output_names is not None:
                    own = statement.output_names[statement.outputs.index(node)]
                    desired[node] = own or ("out" if node in outputs else statement.preferred_name)
                    continue
                if statement.bound:
                    desired[node] = statement.preferred_name
                    continue
                uses = readers.get(node, [])
                if len(uses) == 1 and uses[0][1] == 0 and node not in outputs:
                    reader = self.statements[uses[0][0]]
                    name = desired.get(reader.outputs[0])
                    if name is not None and len(statement.outputs) == 1:
                        desired[node] = name
                        continue
                desired[node] = "out" if node in outputs else statement.preferred_name
        return desired

    def _free(self, base: str, at: int) -> str:
        base = _identifier(base)
        name, counter = base, 0
        while name in self.holder and self.last_use.get(self.holder[name], -1) > at:
            counter += 1
            name = f"{base}_{counter}"
        return name

    def _bind(self, node: str, name: str) -> None:
        self.names[node] = name
        self.holder[name] = node

    def assign(self, statement: _Statement, node: str) -> str:
        name = self._free(self.desired.get(node, "out"), self.position)
        self._bind(node, name)
        return name

    def advance(self) -> None:
        self.position += 1

    def name_of(self, node: str) -> str:
        return self.names[node]

    def available(self) -> list[str]:
        return [node for name, node in self.holder.items() if self.names.get(node) == name]


# ---------------------------------------------------------------- ops of several outputs


def _several_outputs_statement(nodes: list[Node], first: Node, scope: str) -> _Statement:
    """`x1, x2 = x.chunk(2, dim=1)`, `out, _ = self.attn(x, x, x)`: one statement for the nodes
    of one op's outputs, which elaboration made consecutive."""
    group = nodes[first.index : first.index + first.outputs]
    names = [node.bindings.get(scope) for node in group]
    return _Statement([node.id for node in group], node=first, bound_name=names[0],
                      output_names=names)  # fmt: skip


def _joined(statement: _Statement, targets: list[str]) -> str:
    """The targets of a statement as torch nests its outputs: `out, (h, c)` for an LSTM
    (OpSpec.output_groups); a group of which nothing is read is one `_` (`out, _`)."""
    several = statement.node is not None and statement.output_names is not None
    groups = statement.node.op.output_groups if several else None
    if groups is None or sum(groups) != len(targets):
        return ", ".join(targets)
    parts, start = [], 0
    for size in groups:
        group = targets[start : start + size]
        start += size
        if size == 1 or all(name == "_" for name in group):
            parts.append(group[0])
        else:
            parts.append(f"({', '.join(group)})")
    return ", ".join(parts)


def _target(namer: _Namer, statement: _Statement, node: str) -> str:
    """The name an output is assigned to; `_` for an output of an op of several that nothing
    reads, as torch code writes it."""
    if statement.output_names is not None and node not in namer.last_use:
        return "_"
    return namer.assign(statement, node)


def _name_part(value: Any) -> str:
    """A parameter value as part of a class name (64 -> "64", -1 -> "m1"), or "" if unsuitable
    (a fraction: 0.0375000...06 would read as noise in a name)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value) if value >= 0 else f"m{-value}"
    if isinstance(value, float):  # 0.0125 would make MBConv_..._0p0125: numbered instead
        return _name_part(int(value)) if value.is_integer() else ""
    if isinstance(value, str) and value.isidentifier() and value.isascii():
        return value
    return ""


def _tied(module: ModuleInfo, path: str) -> str:
    """A tied parameter's Python path from the module that states the tie: its layers'
    attributes (`head.weight`, `blocks_0.fc.weight`), then the parameter."""
    *layers, param = path.split(".")
    attributes = []
    for name in layers:
        module = module.children[name]
        attributes.append(_attribute(module))
    return ".".join([*attributes, param])


def _attribute(module: ModuleInfo) -> str:
    return module.name


def _module_reference(graph: ModelGraph, path: str, scope: str) -> str:
    """How forward names the module at `path` from the class of `scope`: `self.conv1`, or for a
    child of a ModuleList, as torchvision writes it, `self.convs[0]`, of a ModuleDict
    `self.heads["out"]`."""
    relative = path[len(scope) + 1 :] if scope and path.startswith(scope + ".") else path
    parts = relative.split(".")
    text = f"self.{parts[0]}"
    container_path = f"{scope}.{parts[0]}" if scope else parts[0]
    for part in parts[1:]:  # a ModuleList's or ModuleDict's child (`self.blocks[0][1]`)
        container = graph.module(container_path)
        if container.kind == "dict":
            text += f"[{literal(part)}]"
        elif container.kind == "list":
            text += f"[{part}]"
        else:
            return f"self.{parts[-1]}"
        container_path += "." + part
    return text


def _with_head(
    head: str, expression: tuple[str, list[str]], comment: str, depth: int = 2
) -> list[str]:
    """`head expression  # comment`, the expression as ruff formats it and broken at its
    brackets where the line is too long (an op's emit writes it whole: `a + b`, `x.view(...)`)."""
    function, operands = expression
    text = function if not operands else f"{function}({', '.join(operands)})"
    code = python_code(text)
    if not operands and len(INDENT * depth + head + code.text) <= LINE_LENGTH:
        # an op's own spelling (`torch.meshgrid([a, b], indexing="ij")`) stays whole: its shape
        # comment goes where the line has no room for both
        fits = len(INDENT * depth + head + code.text + f"  # {comment}") <= LINE_LENGTH
        return [f"{head}{code.text}" + (f"  # {comment}" if fits else "")]
    return statement_lines(code, head, depth, comment)


# ---------------------------------------------------------------- training vs eval, dicts

_MODE_TESTS = {TRAIN: "if self.training:", EVAL: "if not self.training:"}


def _statement_mode(statement: _Statement, plan: ClassPlan) -> str | None:
    """The mode a statement runs in only (TRAIN or EVAL), relative to its class: a block applied
    inside `if training` runs its whole forward in training, so it tests nothing itself."""
    mode = statement.node.mode if statement.node is not None else statement.call.mode
    own = plan.call.mode if plan.call is not None else None
    return None if mode == own else mode


def _shaped_returns(model: ModelGraph) -> bool:
    """Whether the model's return is a dict or differs by mode (else: tensors as always)."""
    return any(r.keys is not None or r.mode is not None for r in model.returns)


def _returns_annotation(model: ModelGraph) -> str:
    texts = []
    for returned in model.returns:
        count = len(returned.outputs)
        if returned.keys is not None:
            text = "dict[str, torch.Tensor]"
        else:
            text = "torch.Tensor" if count == 1 else _tuple_type(count)
        if text not in texts:
            texts.append(text)
    return " | ".join(texts)


def _tuple_type(count: int) -> str:
    return "tuple[" + ", ".join(["torch.Tensor"] * count) + "]"


# ---------------------------------------------------------------- module


def extern_imports(result: CheckResult) -> dict[str, set[str]]:
    """Python module -> the names generated code imports from it for extern layers, their class
    or factory (`from mypkg.layers import SqueezeExcite`; extern values are gathered as they are
    written). Two externs that would import one name from two modules cannot share a file."""
    imports: dict[str, set[str]] = {}
    origins: dict[str, tuple[str, Any]] = {}
    for checked in result.models:
        for module in checked.graph.root.walk():
            found = []
            if module.kind == "layer" and module.op is not None and module.op.extern is not None:
                info = module.op.extern
                found.append((info.module, info.attribute, info.span))
            for python_module, attribute, span in found:
                name = attribute.split(".")[0]
                first = origins.setdefault(name, (python_module, span))
                if first[0] != python_module:
                    raise CodegenError(
                        f"'{name}' is imported from both {first[0]} and {python_module}: "
                        "generated code cannot name both",
                        span,
                    )
                imports.setdefault(python_module, set()).add(name)
    return imports


def _uses_torchvision(result: CheckResult) -> bool:
    """Whether a layer is written as torchvision's (`torchvision.ops.StochasticDepth`): read off
    the module trees, not the text, where a docstring may name a torchvision path."""
    return any(
        module.kind == "layer" and module.op.torch.startswith("torchvision.")
        for checked in result.models
        for module in checked.graph.root.walk()
    )


@dataclass
class GeneratedModule:
    source: str
    classes: dict[str, str]  # model name -> its class name in the source
    # Blocks written as a class per instance, and models written from their graph (unrolled),
    # not parametrized: name -> why (for reports)
    specialized: dict[str, str] = field(default_factory=dict)


def generate(result: CheckResult, specialize: bool = False) -> str:
    """The Python module for every model of a checked file (which must have no errors)."""
    return generate_module(result, specialize).source


def block_arguments(module: ModuleInfo) -> list[str]:
    """A block instance's arguments for its parametrized class, as a call would pass them: in
    order, positional until one is left at its default, by keyword after."""
    written: list[str] = []
    positional = True
    for param in module.definition.params:
        value = module.params[param.name.id]
        default = _plain_default(param)
        if default is not _NO_DEFAULT and _same(value, default):
            positional = False
            continue
        text = literal(value)  # by keyword as the class names it (`input` is `input_`)
        written.append(text if positional else f"{_identifier(param.name.id)}={text}")
    return written


_NO_DEFAULT = object()


def _plain_default(param) -> Any:
    default = param.default
    if default is None:
        return _NO_DEFAULT
    if type(default).__name__ == "Constant":
        return default.value
    if type(default).__name__ == "Name" and default.id in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[default.id]
    return _NO_DEFAULT


def _block_instances(result: CheckResult):
    """Each block definition's instances over the file's models, definitions in order of first
    appearance (pre-order)."""
    instances: dict[int, list] = {}
    definitions: dict[int, Any] = {}
    for checked in result.models:
        for module in checked.graph.root.walk():
            if module.kind == "block":
                key = id(module.definition)
                definitions.setdefault(key, module.definition)
                instances.setdefault(key, []).append((module, checked))
    return definitions, instances


def parametrized_classes(
    result: CheckResult, table: ClassTable
) -> tuple[dict[int, str], list[tuple[str, list[str], str]], dict[str, str]]:
    """The blocks written as one class each, parametrized by their arguments: their names by
    definition key, their classes (those they build first), and the blocks left to a class per
    instance with the reason (a construct the translator does not cover, or a block it builds
    that is left so)."""
    definitions, instances = _block_instances(result)
    translated: dict[int, BlockClass] = {}
    refused: dict[int, str] = {}
    for key, definition in definitions.items():
        try:
            for module, _ in instances[key]:
                block_arguments(module)  # every argument must be writable as a literal
            translated[key] = translate_block(definition, instances[key])
        except (Unsupported, CodegenError) as error:
            refused[key] = str(error) if isinstance(error, Unsupported) else error.message
    changed = True
    while changed:  # a class cannot build a block that has no parametrized class
        changed = False
        for key, block in list(translated.items()):
            missing = [k for k in block.uses if k not in translated]
            if missing:
                name = definitions[missing[0]].name.id
                refused[key] = f"it builds {name}, which has a class per instance"
                del translated[key]
                changed = True
    order: list[int] = []  # the classes a class builds before it, as torchvision orders them
    visiting: set[int] = set()
    for key in translated:
        stack = [(key, False)]
        while stack:
            current, expanded = stack.pop()
            if current in order:
                continue
            if expanded:
                order.append(current)
                continue
            if current in visiting:
                continue
            visiting.add(current)
            stack.append((current, True))
            stack.extend((k, False) for k in reversed(translated[current].uses))
    names = {key: table.claim(definitions[key].name.id) for key in order}
    classes = []
    for key in order:
        block = translate_block(definitions[key], instances[key], names)
        classes.append((names[key], block.body, block.base))
    reasons = {definitions[key].name.id: why for key, why in refused.items()}
    return names, classes, reasons


def _model_class(
    checked: CheckedModel, generic: dict[int, str], table: ClassTable
) -> tuple[str, list[str], str] | str:
    """The model's class written from its definition, as a parametrized block's is (its
    arguments become the constructor's, with the checked values as defaults, comprehensions stay
    loops); else why not (a construct the translator does not cover, or a block it builds that
    has a class per instance), and the model is written from its graph instead."""
    root = checked.graph.root
    try:
        block = translate_block(root.definition, [(root, checked)], generic)
    except Unsupported as error:
        return str(error)
    except CodegenError as error:
        return error.message
    return table.claim(root.definition.name.id), block.body, block.base


def generate_module(result: CheckResult, specialize: bool = False) -> GeneratedModule:
    """The module's source; `specialize`: every block instance as a class of its own, its
    arguments folded in (the unrolled form), instead of one class per block definition."""
    if not result.ok:
        raise CodegenError(f"{result.path} has errors; nothing is generated")
    if not result.models:
        raise CodegenError(
            f"{result.path} defines no model; blocks are compiled with the models that use them"
        )
    table = ClassTable()
    imports = extern_imports(result)
    table.taken.update(name for names in imports.values() for name in names)
    table.taken.update(_object_names(result))
    with gathering_imports() as referenced:
        classes, written, specialized = _classes(result, table, specialize)
    _add_references(imports, referenced, {name for name, _, _ in written})
    body = "\n".join(line for _, lines, _ in written for line in lines)
    uses_functional = re.search(r"\bF\.", body) is not None
    uses_ordered_dict = "OrderedDict(" in body
    uses_torchvision = _uses_torchvision(result)
    out = Writer()
    names = ", ".join(m.name for m in result.models)
    header = docstring_text(f"{names}: generated by archspec {__version__} from {result.path}.")
    out.line(f'"""{header}')
    out.line()
    out.line("Edit the spec and recompile rather than editing this file.")
    out.line('"""')
    out.line()
    if uses_ordered_dict:
        out.line("from collections import OrderedDict")
        out.line()
    out.line("import torch")
    if uses_functional:
        out.line("import torch.nn.functional as F")
    if uses_torchvision:
        out.line("import torchvision")  # plain imports before from-imports, as isort sorts them
    imports.setdefault("torch", set()).add("nn")
    for module in sorted(imports):  # the externs' modules among torch's, sorted as isort does
        out.line(f"from {module} import {', '.join(sorted(imports[module]))}")
    for name, lines, base in written:
        out.line()
        out.line()
        out.line(f"class {name}({base}):")
        out.indent()
        for text in lines:
            out.line(text)
        out.dedent()
    return GeneratedModule(out.text(), classes, specialized)


def _classes(result: CheckResult, table: ClassTable, specialize: bool):
    """The classes to write: model name -> class name, (name, body lines, base) of each, and the
    models left unrolled with why."""
    classes: dict[str, str] = {}
    generic: dict[int, str] = {}
    written: list[tuple[str, list[str], str]] = []  # name, body, base class
    specialized: dict[str, str] = {}
    if not specialize:
        generic, written, specialized = parametrized_classes(result, table)
    for checked in result.models:
        model_class = None
        if not specialize:
            model_class = _model_class(checked, generic, table)
            if isinstance(model_class, str):
                specialized[checked.name] = model_class
                model_class = None
        if model_class is None:
            model_plans = ModelWriter(checked, table, generic).write()
            written += [(plan.name, plan.body, "nn.Module") for plan in model_plans]
            model_class = written[-1]
        else:
            written.append(model_class)
        classes[checked.name] = model_class[0]
    return classes, written, specialized


def _object_names(result: CheckResult) -> set[str]:
    """The names the models' extern values will be imported by (`partial`, `LayerNorm`): no
    generated class may take one."""
    values = [v for checked in result.models for v in checked.graph.argument_values()]
    return {
        value.attribute.split(".")[0]
        for value in python_objects(values)
        if value.module not in TORCH_MODULES
    }


def _add_references(
    imports: dict[str, set[str]], referenced: dict[str, set[str]], class_names: set[str]
) -> None:
    """Adds the names extern values were written with (`partial`, `LayerNorm`) to `imports`;
    a CodegenError where one name would be imported from two modules, or is a class's."""
    origins = {name: module for module, names in imports.items() for name in names}
    for name, modules in sorted(referenced.items()):
        for module in sorted(modules):
            first = origins.setdefault(name, module)
            if first != module or name in class_names:
                other = f"the generated class {name}" if first == module else first
                raise CodegenError(
                    f"'{name}' is imported from {module} and named by {other}: generated code "
                    "cannot name both (rename one, or write it through another module that "
                    "exports it)"
                )
            imports.setdefault(module, set()).add(name)
