"""A block definition -> one nn.Module class parametrized by the block's arguments (text only).

torchvision writes `Bottleneck(inplanes, planes, stride=1, ...)` once and builds every instance
from it; so does this translator. It reads the definition's own statements, not an elaborated
instance: scalar statements become Python over the constructor's arguments in `__init__`
(`width = int(planes * (base_width / 64)) * groups`), layers become attributes, `if` and `for`
become Python's `if` and `for` (in `__init__` for what they build, in `forward` for what they
compute, testing the arguments kept as attributes: `if self.stride != 1 ...`), and pipelines
become one statement per stage. The elaborated instances are read only for what the text alone
cannot say: the names archspec gave unnamed layers, and the shapes of the comments.

Anything outside the constructs below raises Unsupported, and the caller falls back to a class
per distinct instance for that block (and the blocks that build it).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from archspec.core.dims import Sym, format_shape
from archspec.core.dtypes import CONSTANTS as DTYPE_CONSTANTS
from archspec.core.dtypes import torch_name
from archspec.elaborate.evaluate import BUILTINS, CONTAINERS
from archspec.elaborate.graph import ModuleInfo
from archspec.elaborate.scopes import FLOAT_CONSTANTS
from archspec.elaborate.state import TENSOR as COMPUTED
from archspec.elaborate.values import PyObject
from archspec.ops import REGISTRY, REQUIRED, OpSpec
from archspec.ops.base import Emission
from archspec.outputs.codegen_text import (
    ADD,
    AND,
    ATOM,
    COMPARE,
    IFEXP,
    INDENT,
    LINE_LENGTH,
    MULTIPLY,
    NOT,
    OR,
    POWER,
    UNARY,
    Code,
    _identifier,
    _same,
    _state_line,
    _where,
    atom,
    call,
    display,
    docstring_text,
    literal,
    parenthesized,
    python_code,
    python_object,
    render_args,
    statement_lines,
)
from archspec.syntax import ast

_BINARY = {"or": OR, "and": AND, "+": ADD, "-": ADD, "*": MULTIPLY, "/": MULTIPLY, "//": MULTIPLY}
_BINARY |= {"%": MULTIPLY, "**": POWER}
_BINARY |= dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), COMPARE)

# What a name (or an expression) holds while the body runs.
SCALAR, SIZE, TENSOR, TENSORS, LAYER, RECIPE, RECIPES, EMPTY, STATE, MODULE, BUILT = (
    "scalar size tensor tensors layer recipe recipes empty state module built".split()
)
# BUILT: a tensor computed from sizes alone (arange, meshgrid), in __init__, for a buffer.
_LITERAL_NAMES = {"True": True, "False": False, "None": None}
# Attributes an nn.Module has already: a kept argument may not take one.
_MODULE_ATTRIBUTES = frozenset(dir(object)) | {"training", "forward", "state_dict", "parameters"}
_MODULE_ATTRIBUTES |= {"buffers", "children", "modules", "train", "eval", "to", "apply", "cuda"}
_MODULE_ATTRIBUTES |= {"cpu", "half", "float", "double", "type", "zero_grad", "add_module"}
_MODULE_ATTRIBUTES |= {"keys", "values", "items", "update", "pop", "clear"}  # nn.ModuleDict


class Unsupported(Exception):
    """A construct this translator does not write generically (the block gets a class per
    instance instead); the message says which, for the report."""


# ---------------------------------------------------------------- the translation


@dataclass
class Stream:
    """The lines of one method body being written, at an indent relative to it."""

    lines: list[str] = field(default_factory=list)
    level: int = 0

    def add(self, code: Code, prefix: str = "", comment: str = "", base: int = 2) -> None:
        """`prefix code  # comment`, the code as ruff formats it, broken where too long."""
        for text in statement_lines(python_code(code.text), prefix, base + self.level, comment):
            self.lines.append(INDENT * self.level + text)

    def line(self, text: str) -> None:
        self.lines.append(INDENT * self.level + text)


@dataclass
class BlockClass:
    """A block's class: its body lines (the class statement left out) and the block classes it
    builds."""

    definition: ast.Definition
    body: list[str]
    uses: list[int]  # the keys (id of their definition) of the block classes it builds
    base: str = "nn.Module"  # nn.ModuleDict for a block of loop-named layers only


DICT_RETURN = -1  # BlockTranslator.returns of a model that returns named outputs


def placeholder(definition: ast.Definition) -> str:
    """A block class's name before names are given out (a first pass finds which translate)."""
    return f"Block{id(definition)}"


class BlockTranslator:
    """Translates one block definition, given its elaborated instances (module, shapes)."""

    def __init__(
        self,
        definition: ast.Definition,
        instances: list[tuple[ModuleInfo, Any]],
        class_names: dict[int, str] | None = None,
    ):
        self.definition = definition
        self.class_names = class_names  # definition key -> class name (None: placeholders)
        self.instances = instances  # (the block instance, the Inference of its model)
        self.blocks = _blocks_built(instances)  # name -> definition of each block it builds
        self.kinds: dict[str, str] = {}
        self.names: dict[str, str] = {}  # spec name -> Python local
        self.kept: list[str] = []  # scalars forward reads, kept as attributes in __init__
        self.assigned_late: set[str] = set()  # scalars assigned inside a loop or branch
        self.sizes: dict[str, str] = {}  # `input x: [N, C, H, W]`: N -> x.size(0)
        self.stale_sizes: set[str] = set()  # read off a name since bound to another tensor
        self.layers: dict[str, str] = {}  # spec layer name -> attribute
        self.uses: list[int] = []
        self.loop_vars: list[str] = []
        self.init = Stream()
        self.forward = Stream()
        self.inputs: list[str] = []
        self.returns = 1
        # `for` loops whose layers are named by a template ("denselayer{i + 1}"): see _loop_form
        self.loops: list[_Loop] = []
        self.base = "nn.Module"
        self.ties: list[str] = []
        # Codes whose value is several tensors, a block's or list item's outputs: the next stage
        # takes them as its arguments (`self.stages[1](*self.stages[0](x, y))`). By id, each
        # kept alive here: a freed Code's id may be given to a new one.
        self.several: dict[int, Code] = {}

    # ------------------------------------------------------------ the class
    def translate(self) -> BlockClass:
        definition = self.definition
        for param in definition.params:
            self._bind(param.name.id, SCALAR)
        self._statements(definition.body)
        self._loop_form()
        lines = [*f'"""{docstring_text(self._docstring())}"""'.split("\n"), ""]
        lines.extend(self._signature())
        lines.append(f"{INDENT}super().__init__()")
        lines.extend(INDENT + text for text in self.init.lines)
        lines.extend(INDENT + text for text in self.ties)
        for name in self.kept:
            attribute = self.names[name]
            if attribute in self.layers.values() or attribute in _MODULE_ATTRIBUTES:
                raise Unsupported(f"the argument '{name}' would shadow an attribute")
            lines.append(f"{INDENT}self.{attribute} = {attribute}")
        lines.append("")
        inputs = ", ".join(f"{name}: torch.Tensor" for name in self.inputs)
        returns = (
            "dict[str, torch.Tensor]"
            if self.returns == DICT_RETURN
            else "torch.Tensor"
            if self.returns == 1
            else _tuple(self.returns)
        )
        lines.append(f"def forward(self, {inputs}) -> {returns}:")
        lines.extend(INDENT + text for text in self.forward.lines)
        return BlockClass(definition, lines, self.uses, self.base)

    def _docstring(self) -> str:
        text = f"{self.definition.name.id} from {_where(self.definition)}."
        if self.definition.kind != "model":
            return text
        sizes = self.instances[0][1].sizes  # a model has one instance: its own check
        if sizes is not None and sizes.complete and sizes.accepted_count:
            accepted = f"Input sizes: {sizes.describe()} (`archspec sizes`)."
            text += "\n\n" + "\n".join(textwrap.wrap(accepted, LINE_LENGTH - len(INDENT))) + "\n"
        return text

    def _signature(self) -> list[str]:
        params = ["self"]
        for param in self.definition.params:
            name = self.names[param.name.id]
            annotation = _annotation([m.params.get(param.name.id) for m, _ in self.instances])
            text = f"{name}: {annotation}" if annotation else name
            if self.definition.kind == "model":  # as checked: `--set` values are the defaults
                default = self.instances[0][0].params.get(param.name.id, _NOT_LITERAL)
                if default is _NOT_LITERAL:
                    raise Unsupported(f"the model's argument '{param.name.id}' has no value")
                text += f" = {literal(default)}" if annotation else f"={literal(default)}"
            elif param.default is not None:
                default = self._literal_of(param.default)
                if default is _NOT_LITERAL:
                    raise Unsupported(f"the default of '{param.name.id}' is not a plain value")
                text += f" = {literal(default)}" if annotation else f"={literal(default)}"
            params.append(text)
        flat = f"def __init__({', '.join(params)}) -> None:"
        if len(INDENT + flat) <= LINE_LENGTH:
            return [flat]
        return ["def __init__(", *(f"{INDENT}{p}," for p in params), ") -> None:"]

    # ------------------------------------------------------------ names
    def _bind(self, name: str, kind: str) -> str:
        known = self.kinds.get(name)
        exchangeable = {known, kind} <= {TENSOR, TENSORS}  # a list of tensors, then their cat
        if known is not None and known != kind and EMPTY not in (known, kind) and not exchangeable:
            raise Unsupported(f"'{name}' holds a {known} and then a {kind}")
        self.kinds[name] = kind if kind != EMPTY or known is None else known
        if name not in self.names:
            local = _identifier(name)
            if local in self.names.values():
                raise Unsupported(f"two names would both be written '{local}'")
            self.names[name] = local
        return self.names[name]

    def _read(self, name: str, forward: bool) -> Code:
        if name in _LITERAL_NAMES:
            return atom(literal(_LITERAL_NAMES[name]))
        if name in DTYPE_CONSTANTS and name not in self.kinds:
            return atom(torch_name(name))
        if name in FLOAT_CONSTANTS and name not in self.kinds:
            return atom(literal(FLOAT_CONSTANTS[name]))
        if name in self.sizes and forward:
            return atom(self.sizes[name])
        if name in self.stale_sizes:
            raise Unsupported(f"'{name}' is a size of a tensor whose name is bound again")
        if self.kinds.get(name) == SIZE:
            if not forward:
                raise Unsupported(f"'{name}', a run-time size, is read when the block is built")
            return atom(self.names[name])
        if self.kinds.get(name) == BUILT:
            if forward:
                raise Unsupported(f"forward reads '{name}', a tensor computed when built")
            return atom(self.names[name])
        kind = self.kinds.get(name)
        if kind is None and name in self.layers and forward:  # `for conv in convs`
            return atom(f"self.{self.layers[name]}")
        if kind is None:
            raise Unsupported(f"'{name}' is not a value of the block")
        local = self.names[name]
        if kind == STATE:
            if not forward:
                raise Unsupported(f"'{name}' is read when the block is built")
            return atom(f"self.{local}")
        if forward:
            for loop in self.loops:
                if loop.open and loop.statement.var.id == name:
                    loop.reads += 1
        if kind == SCALAR and forward and name not in self.loop_vars:
            if name in self.assigned_late:
                raise Unsupported(f"forward reads '{name}', which a loop or branch assigns")
            if name not in self.kept:
                self.kept.append(name)
            return atom(f"self.{local}")
        if kind in (TENSOR, TENSORS) and not forward:
            raise Unsupported(f"'{name}' is read when the block is built")
        return atom(local)

    # ------------------------------------------------------------ statements
    def _statements(self, body, nested: bool = False) -> None:
        for statement in body:
            handler = getattr(self, "_" + type(statement).__name__.lower(), None)
            if handler is None:
                raise Unsupported(f"a {type(statement).__name__} statement")
            handler(statement, nested)

    def _input(self, statement: ast.Input, nested: bool) -> None:
        name = self._bind(statement.name.id, TENSOR)
        self.inputs.append(name)
        if statement.shape is None:
            return
        for index, dim in enumerate(statement.shape.dims):
            if isinstance(dim, ast.Name) and dim.id not in self.kinds:
                self.sizes.setdefault(dim.id, f"{name}.size({index})")

    def _state(self, statement: ast.State, nested: bool) -> None:
        """`param layer_scale: [dim, 1, 1] = 1e-6`: torchvision's nn.Parameter line, its sizes
        over the arguments; only an initial value every instance starts alike (no tensor
        computed when built)."""
        name = statement.name.id
        infos = [module.state.get(name) for module, _ in self.instances]
        first = infos[0]
        if nested or any(info is None for info in infos):
            raise Unsupported(f"the {statement.kind} '{name}' in a loop or branch")
        value = None
        if first.init == COMPUTED:  # `buffer index: [...] int64 = index`, computed in __init__
            if self._kind(statement.init) != BUILT:
                raise Unsupported(f"the {statement.kind} '{name}''s initial value")
            value = self._expression(statement.init, False).text
            if value != self.names.get(getattr(statement.init, "id", None)):
                local = self._bind(name, BUILT)  # `index = ...`, then registered, as torch reads
                self.init.add(atom(value), f"{local} = ")
                value = local
        for info in infos[1:]:
            same = (info.init, info.init_args, info.options, info.dtype, info.kind)
            if same != (first.init, first.init_args, first.options, first.dtype, first.kind):
                raise Unsupported(f"the {statement.kind} '{name}' starts differently per instance")
        shape = []
        for dim in statement.shape.dims:
            if isinstance(dim, ast.BoundedDim):
                raise Unsupported(f"the {statement.kind} '{name}''s sizes")
            shape.append(self._expression(dim, False).text)
        if not name.isidentifier() or name in self.layers or name in _MODULE_ATTRIBUTES:
            raise Unsupported(f"the {statement.kind} name '{name}'")
        self.kinds[name] = STATE
        self.names[name] = name
        self.layers[name] = name  # an attribute of the module, as a layer is
        line = _state_line(first, value, shape)
        target, assigned, expression = line.partition(" = ")  # `self.x = nn.Parameter(...)`
        if assigned:
            self.init.add(atom(expression), f"{target} = ")
        else:
            self.init.add(atom(line))

    def _tie(self, statement, nested: bool) -> None:
        """`tie head.weight = embed.weight`: assigned once every layer is built, as the model
        writer does (one tensor under both names)."""
        if nested:
            raise Unsupported("a `tie` inside `if` or `for`")
        self.ties.append(f"self.{_python_path(statement.target)} = "
                         f"self.{_python_path(statement.source)}")  # fmt: skip

    def _declare(self, statement: ast.Declare, nested: bool) -> None:
        name = statement.name.id
        self._layer_attribute(name, statement.call, statement.span)

    def _assign(self, statement: ast.Assign, nested: bool) -> None:
        name = statement.target.id
        kind = self._kind(statement.value)
        if kind == SIZE:  # read off the input: computed in forward, a local there
            if nested:
                raise Unsupported(f"'{name}', a run-time size, assigned in a loop or branch")
            local = self._bind(name, SIZE)
            self.forward.add(self._expression(statement.value, True), f"{local} = ")
            return
        if kind == BUILT:
            local = self._bind(name, BUILT)
            self.init.add(self._expression(statement.value, False), f"{local} = ")
            return
        if kind == SCALAR:
            if nested:
                self.assigned_late.add(name)
            if name in self.kept:
                raise Unsupported(f"'{name}' changes after forward reads it")
            local = self._bind(name, SCALAR)
            self.init.add(self._expression(statement.value, False), f"{local} = ")
            return
        if kind in (RECIPES, EMPTY):
            local = self._bind(name, kind)
            self.init.add(self._expression(statement.value, False), f"{local} = ")
            return
        if kind not in (TENSOR, TENSORS):
            raise Unsupported(f"'{name}' holds a {kind}")
        local = self._bind(name, kind)
        self._value_statement(statement.value, local)
        self._stale_sizes_of(local)
        if statement.shape is not None and kind == TENSOR and not nested:
            # `features: [N, C, L] = ...` names L: forward reads it off the tensor
            for index, dim in enumerate(statement.shape.dims):
                if isinstance(dim, ast.Name) and dim.id not in self.kinds | self.sizes:
                    self.sizes[dim.id] = f"{local}.size({index})"

    def _stale_sizes_of(self, local: str) -> None:
        """A tensor name bound again: the sizes read off it (`x.size(2)`) would now read the new
        tensor, so they are no longer written that way (a later read of one is refused)."""
        for size, text in list(self.sizes.items()):
            if text.startswith(f"{local}.size("):
                del self.sizes[size]
                self.stale_sizes.add(size)

    def _unpack(self, statement: ast.Unpack, nested: bool) -> None:
        targets = statement.targets
        if any(not isinstance(t, ast.Name) for t in targets):
            raise Unsupported("a nested unpacking")
        # `y, _ = attn(...)`: an unread output stays `_`, as torch code writes it
        names = ["_" if t.id == "_" else self._bind(t.id, TENSOR) for t in targets]
        # one statement: its stages before the last return one tensor, not as many as targets
        value = self._expression(statement.value, True)
        self.forward.add(value, f"{', '.join(names)} = ", self._comment(statement.value))

    def _return(self, statement: ast.Return, nested: bool) -> None:
        if nested:
            raise Unsupported("a return inside `if` or `for`")
        if len(statement.values) == 1 and isinstance(statement.values[0], ast.DictExpr):
            self._return_dict(statement.values[0])
            return
        values = []
        for value in statement.values:
            if isinstance(value, ast.Pipe) and len(statement.values) == 1:
                # computed before it is bound, and nothing runs after: `out` may be reused
                taken = self.kinds.get("out") not in (None, TENSOR, TENSORS)
                target = "out" if not taken and "out" not in self.sizes else self._fresh("out")
                self._value_statement(value, target)
                values.append(target)
            else:
                values.append(self._expression(value, True).text)
        self.returns = len(values)
        self.forward.add(atom(", ".join(values)), "return ")

    def _return_dict(self, value: ast.DictExpr) -> None:
        """A model's named outputs, `return {"out": out}`: an OrderedDict, as torchvision's
        segmentation models return."""
        items = []
        for key, item in zip(value.keys, value.values, strict=True):
            pair = [self._expression(key, True), self._expression(item, True)]
            items.append(display("(", pair, ")"))
        self.returns = DICT_RETURN
        self.forward.add(call("OrderedDict", [display("[", items, "]")]), "return ")

    def _if(self, statement: ast.If, nested: bool) -> None:
        """`if` on the arguments. Where a branch builds layers, the other sets them to None and
        forward tests the layer, as torchvision writes `if self.downsample is not None:` (what
        TorchScript compiles: it reads both branches); else forward tests the kept arguments."""
        if self._kind(statement.test) not in (SCALAR,):
            raise Unsupported("an `if` on a tensor or `training`")
        init_test = python_code(self._expression(statement.test, False).text).text
        before_init, before_forward = len(self.init.lines), len(self.forward.lines)
        branches, built = [], []
        for body in (statement.body, statement.orelse):
            layers_before = set(self.layers)
            self.init.level += 1
            self.forward.level += 1
            start_init, start_forward = len(self.init.lines), len(self.forward.lines)
            self._statements(body, nested=True)
            self.init.level -= 1
            self.forward.level -= 1
            branches.append((self.init.lines[start_init:], self.forward.lines[start_forward:]))
            built.append([name for name in self.layers if name not in layers_before])
            del self.init.lines[start_init:]
            del self.forward.lines[start_forward:]
        assert len(self.init.lines) == before_init and len(self.forward.lines) == before_forward
        (body_init, body_forward), (else_init, else_forward) = branches
        body_only = [n for n in built[0] if n not in built[1] and self.kinds.get(n) != STATE]
        else_only = [n for n in built[1] if n not in built[0] and self.kinds.get(n) != STATE]
        # Built here, applied by a later `if` on the arguments: an empty Sequential stands in,
        # as in torchvision's ShuffleNet (TorchScript must type the branch that never runs).
        absent = "None" if body_forward or else_forward else "nn.Sequential()"
        indent = INDENT * (self.init.level + 1)
        body_init = body_init + [f"{indent}self.{n} = {absent}" for n in else_only]
        else_init = else_init + [f"{indent}self.{n} = {absent}" for n in body_only]
        self._conditional(self.init, init_test, body_init, else_init)
        if not body_forward and not else_forward:
            return
        if body_only:
            forward_test = f"self.{self.layers[body_only[0]]} is not None"
        elif else_only:
            forward_test = f"self.{self.layers[else_only[0]]} is None"
        else:
            forward_test = python_code(self._expression(statement.test, True).text).text
        self._conditional(self.forward, forward_test, body_forward, else_forward)

    @staticmethod
    def _conditional(stream: Stream, test: str, body: list[str], orelse: list[str]) -> None:
        if not body and not orelse:
            return
        if not body:
            stream.line(f"if not ({test}):")
            stream.lines.extend(orelse)
            return
        stream.line(f"if {test}:")
        stream.lines.extend(body)
        if orelse:
            stream.line("else:")
            stream.lines.extend(orelse)

    def _for(self, statement: ast.For, nested: bool) -> None:
        if self._kind(statement.iterable) != SCALAR:
            raise Unsupported("a `for` over tensors or layers")
        var = self._bind(statement.var.id, SCALAR)
        self.loop_vars.append(statement.var.id)
        loop = _Loop(statement, var, nested)
        number = len(self.loops)  # the body may hold loops of its own
        self.loops.append(loop)
        init_iterable = python_code(self._expression(statement.iterable, False).text).text
        self.init.level += 1
        self.forward.level += 1
        start_init, start_forward = len(self.init.lines), len(self.forward.lines)
        self._statements(statement.body, nested=True)
        self.init.level -= 1
        self.forward.level -= 1
        body_init = self.init.lines[start_init:]
        body_forward = self.forward.lines[start_forward:]
        del self.init.lines[start_init:]
        del self.forward.lines[start_forward:]
        loop.open = False
        used = re.compile(rf"\b{re.escape(var)}\b")
        written = body_init + body_forward  # layer name templates are filled in later
        if not loop.templates and not any(used.search(text) for text in written):
            var = loop.var = "_"  # `for _ in range(n)`, as torchvision writes an unused one
        if body_init:
            self.init.line(f"for {var} in {init_iterable}:")
            self.init.lines.extend(body_init)
        if body_forward:
            self.forward.line(f"{_LOOP_HEADER}{number}")
            self.forward.lines.extend(body_forward)

    def _loop_form(self) -> None:
        """Writes the forward loops' headers. A block whose only layers are those one loop
        names by a template is torchvision's _DenseBlock: an nn.ModuleDict whose forward runs
        `for layer in self.values()` (what TorchScript can compile, unlike getattr of a name
        made at run time); any other loop runs over its own range, reaching its layers by
        `getattr(self, f"denselayer{i + 1}")`."""
        templated = [loop for loop in self.loops if loop.templates]
        as_dict = (
            len(templated) == 1
            and not self.layers
            and not templated[0].nested
            and len(templated[0].templates) == 1
            and not templated[0].reads
        )
        if as_dict:
            self.base = "nn.ModuleDict"
        lines = self.forward.lines
        for index, text in enumerate(lines):
            if _LOOP_HEADER in text:
                indent, number = text.split(_LOOP_HEADER)
                loop = self.loops[int(number)]
                if as_dict and loop is templated[0]:
                    lines[index] = f"{indent}for layer in self.values():"
                else:
                    iterable = self._expression(loop.statement.iterable, True).text
                    lines[index] = f"{indent}for {loop.var} in {python_code(iterable).text}:"
            for loop in self.loops:
                for marker, label in loop.templates:
                    if marker in lines[index]:
                        reach = "layer" if as_dict else self._template_reach(label)
                        lines[index] = lines[index].replace(marker, reach)

    def _template_reach(self, label: ast.Label) -> str:
        pieces = []
        for part in label.parts:
            if isinstance(part, str):
                pieces.append(part.replace("{", "{{").replace("}", "}}"))
            else:
                pieces.append("{" + python_code(self._expression(part, True).text).text + "}")
        return f'getattr(self, f"{"".join(pieces)}")'

    # ------------------------------------------------------------ forward values
    def _value_statement(self, value, target: str) -> None:
        """`target = value`, a pipeline written one statement per stage."""
        if not isinstance(value, ast.Pipe):
            self.forward.add(self._expression(value, True), f"{target} = ", self._comment(value))
            return
        current = self._expression(value.value, True)
        for stage in value.stages:
            applied = self._stage(stage, current)
            self.forward.add(applied, f"{target} = ", self._comment(stage))
            current = atom(target)
            if id(applied) in self.several:
                self.several[id(current)] = current

    def _stage(self, stage, operand: Code, forward: bool = True) -> Code:
        applied = self._applied_stage(stage, operand, forward)
        if self._yields_several(stage):
            self.several[id(applied)] = applied
        return applied

    def _yields_several(self, stage) -> bool:
        """Whether applying this stage (a block, a list's item) makes several tensors, in the
        instances."""
        return any(
            applied.outputs is not None and len(applied.outputs) > 1
            for module, checked in self.instances
            for applied in _stage_calls(checked, module.path, stage)
        )

    def _applied_stage(self, stage, operand: Code, forward: bool) -> Code:
        if isinstance(stage, ast.LayerRef):
            name = stage.name.id
            if self.kinds.get(name) == MODULE:  # `x -> conv` in `[... for conv in convs]`
                return call(self.names[name], self._operands(operand))
            if name not in self.layers:
                raise Unsupported(f"`-> {name}` applies no layer of the block")
            return call(f"self.{self.layers[name]}", self._operands(operand))
        if isinstance(stage, ast.LayerIndex):
            if stage.name.id not in self.layers:
                raise Unsupported(f"`-> {stage.name.id}[...]` applies no layer of the block")
            indices = "".join(f"[{self._expression(i, True).text}]" for i in stage.indices)
            return call(f"self.{self.layers[stage.name.id]}{indices}", self._operands(operand))
        if isinstance(stage, ast.Labelled):
            reference = self._layer_attribute(None, stage.call, stage.span, stage.label)
            return call(reference, self._operands(operand))
        name = stage.func.id
        op = REGISTRY.get(name)
        if op is not None and op.kind == "function" and name not in self.blocks:
            return self._function(op, stage, operand, forward)
        if self.kinds.get(name) == MODULE:  # `-> conv`, a loop's layer of a ModuleList
            if stage.args:
                raise Unsupported(f"arguments to the layer {name}")
            return call(self.names[name], self._operands(operand))
        if name in self.layers and self.kinds.get(name) != STATE:
            return self._apply_layer(name, stage, self._operands(operand))
        known = op is not None or name in CONTAINERS or name in self.blocks
        if known or self._extern_op(name) is not None:
            reference = self._layer_attribute(None, stage, stage.span)
            return call(reference, self._operands(operand))
        raise Unsupported(f"`-> {name}(...)`")

    def _apply_layer(self, name: str, node, operands: list[Code]) -> Code:
        """`self.attn(y, y, y, need_weights=False)`: a layer's operands, then its forward
        arguments by keyword, as the spec gives them."""
        items, keywords = list(operands), []
        forward = self._forward_params(name)  # torch's order, as the unrolled form writes them
        order = {param: index for index, param in enumerate(forward)}
        for argument in getattr(node, "args", ()):
            if argument.splat or argument.label is not None:
                raise Unsupported(f"a starred or named argument of the layer {name}")
            value = self._expression(argument.value, True)
            if not argument.keyword:
                items.append(value)
                continue
            param = forward.get(argument.keyword)
            if value.text == "None" and param is not None and param.default is None:
                continue  # `attn_mask=None`: torch's default, left out as the unrolled form does
            keywords.append((argument.keyword, atom(f"{argument.keyword}={value.text}")))
        keywords.sort(key=lambda item: order.get(item[0], len(order)))
        return call(f"self.{self.layers[name]}", items + [text for _, text in keywords])

    def _forward_params(self, name: str) -> dict[str, Any]:
        """The forward parameters of the layer `name`, in torch's order ({} where unknown)."""
        for module, _ in self.instances:
            child = module.children.get(name)
            if child is not None and child.op is not None:
                return {param.name: param for param in child.op.forward}
        return {}

    def _operands(self, operand: Code) -> list[Code]:
        """A tuple flowing into a layer is its several inputs: `(q, k, v) -> attn`; so are a
        block's several outputs: `*self.stages[0](x, y)`."""
        if operand.open == "(" and operand.items is not None and not operand.head:
            return list(operand.items)
        if id(operand) in self.several:
            return [atom(f"*{parenthesized(operand, ATOM).text}")]
        return [operand]

    def _function(
        self, op: OpSpec, node: ast.Call, piped: Code | None, forward: bool = True
    ) -> Code:
        """A torch function, written as codegen writes its graph node (OpSpec.emit or
        `torch.x(...)`), its arguments bound to the op's parameters as the elaborator binds
        them."""
        positional: list[tuple[Any, Code]] = []
        if piped is not None:
            positional.append((None, piped))
        keywords: dict[str, tuple[Any, Code]] = {}
        for argument in node.args:
            if argument.splat or argument.label is not None:
                raise Unsupported(f"a starred or named argument of {op.name}")
            value = (argument.value, self._expression(argument.value, forward))
            if argument.keyword is not None:
                keywords[argument.keyword] = value
            else:
                positional.append(value)
        bound: dict[str, Any] = {}
        index = 0
        for param in op.positional:
            if index >= len(positional):
                break
            if param.variadic:
                rest = positional[index:]
                if len(rest) == 1 and isinstance(rest[0][0], (ast.TupleExpr, ast.ListExpr)):
                    rest = [(None, item) for item in rest[0][1].items]  # reshape((N, -1))
                bound[param.name] = rest
                index = len(positional)
                break
            bound[param.name] = positional[index]
            index += 1
        if index < len(positional):
            raise Unsupported(f"too many arguments for {op.name}")
        for key, value in keywords.items():
            if not op.has_param(key):
                raise Unsupported(f"{op.name} has no parameter '{key}'")
            bound[key] = value
        tensors: dict[str, str] = {}
        args: dict[str, str] = {}
        for param in op.params:
            if param.name not in bound:
                continue
            value = bound[param.name]
            if param.is_tensor and param.variadic:  # meshgrid(a, b)
                tensors[param.name] = ", ".join(code.text for _, code in value)
                continue
            if param.is_tensor:
                expression, code = value
                at_least = ATOM if param.name != "tensors" else IFEXP
                tensors[param.name] = parenthesized(code, at_least).text
                continue
            if param.variadic and not isinstance(value, list):
                # given by keyword as one tuple (`permute(dims=(0, 2, 1))`): the instance form
                # writes its numbers
                raise Unsupported(f"{op.name}'s {param.name} given by keyword")
            if param.variadic:
                args[param.name] = ", ".join(code.text for _, code in value)
                continue
            expression, code = value
            plain = self._literal_of(expression) if expression is not None else _NOT_LITERAL
            if plain is not _NOT_LITERAL and param.default is not REQUIRED:
                if _same(plain, param.default):
                    continue
            args[param.name] = code.text
        if any(param.is_tensor and param.name not in tensors for param in op.params
               if param.default is REQUIRED):  # fmt: skip
            raise Unsupported(f"{op.name} without its tensor")
        # A creation op in forward (`arange(pad_H)`) makes its tensor where the input is.
        device = f"{self.inputs[0]}.device" if forward and not tensors and self.inputs else None
        if op.emit is not None:
            return Code(op.emit(Emission(tensors, args, device)), IFEXP)
        keywords_given = frozenset(keywords)
        items = [atom(t) for t in tensors.values()]
        items += [atom(a) for a in render_args(op, args, keywords_given)]
        return call(op.torch, items)

    # ------------------------------------------------------------ layers
    def _layer_attribute(self, name, node: ast.Call, span, label: ast.Label | None = None) -> str:
        """Declares the layer `node` builds under its name (`self.conv1 = nn.Conv2d(...)`, or
        `self.add_module(f"denselayer{i + 1}", ...)` for a name made in a loop) and returns how
        forward reaches it."""
        constructor = self._constructor(node)
        if label is not None and any(not isinstance(p, str) for p in label.parts):
            pieces = []
            for part in label.parts:
                if isinstance(part, str):
                    pieces.append(part.replace("{", "{{").replace("}", "}}"))
                else:
                    pieces.append("{" + self._expression(part, False).text + "}")
            template = "".join(pieces)
            if '"' in template or "\\" in template:
                raise Unsupported("a layer name template with quotes")
            self.init.add(call("self.add_module", [atom(f'f"{template}"'), constructor]))
            loop = next((loop for loop in reversed(self.loops) if loop.open), None)
            if loop is None:
                raise Unsupported("a layer name template outside a loop")
            marker = f"_loop_layer_{len(loop.templates)}_"
            loop.templates.append((marker, label))
            return marker  # how forward reaches it is decided with the whole body (_loop_form)
        if name is None:
            name = label.text if label is not None else self._automatic_name(node)
        if not name.isidentifier() or name in _MODULE_ATTRIBUTES or name.startswith("__"):
            raise Unsupported(f"the layer name '{name}'")
        if name in self.layers:
            raise Unsupported(f"the layer '{name}' is built twice")
        self.layers[name] = name
        self.init.add(constructor, f"self.{name} = ")
        return f"self.{name}"

    def _automatic_name(self, node: ast.Call) -> str:
        """The name archspec gave an unnamed layer of a pipeline, the same in every instance."""
        found = set()
        for module, _ in self.instances:
            for child in module.children.values():
                if _same_span(child.span, node.span):
                    found.add(child.name)
        if len(found) != 1:
            raise Unsupported(f"the unnamed layer {node.func.id}(...) is named differently")
        return found.pop()

    def _constructor(self, node: ast.Call) -> Code:
        """`nn.Conv2d(inplanes, width, kernel_size=1, bias=False)`, `Bottleneck(...)` or
        `nn.Sequential(...)`: the spec's arguments over the block's."""
        name = node.func.id
        if name in self.blocks:
            definition = self.blocks[name]
            if id(definition) not in self.uses:
                self.uses.append(id(definition))
            if self.class_names is not None and id(definition) not in self.class_names:
                raise Unsupported(f"it builds {name}, which has a class per instance")
            name = placeholder(definition)
            if self.class_names is not None:
                name = self.class_names[id(definition)]
            return call(name, self._plain_arguments(node))
        if name == "Sequential":
            return self._sequential(node)
        if name == "ModuleList":  # ModuleList(a, *[...], b): torch's one list
            if any(a.keyword is not None or a.label is not None for a in node.args):
                raise Unsupported("a ModuleList with keywords or names")
            if len(node.args) == 1 and not node.args[0].splat:
                value = node.args[0].value
                if self._kind(value) in (RECIPES, EMPTY):
                    return call("nn.ModuleList", [self._expression(value, False)])
            return call("nn.ModuleList", [display("[", self._children(node), "]")])
        op = REGISTRY.get(name) or self._extern_op(name)
        if op is None or op.kind != "layer":
            raise Unsupported(f"the layer {name}")
        return self._layer(op, node)

    def _extern_op(self, name: str) -> OpSpec | None:
        """The file's `extern` layer of that name (`SqueezeExcite(32)`, imported at the top), as
        the instances built it."""
        return self._extern_ops.get(name)

    @cached_property
    def _extern_ops(self) -> dict[str, OpSpec]:
        """The extern layers the instances build, by name (found once: a walk of every module)."""
        found: dict[str, OpSpec] = {}
        for module, _ in self.instances:
            for child in module.walk():
                if child.op is not None and child.op.extern is not None:
                    found.setdefault(child.op.name, child.op)
        return found

    def _layer(self, op: OpSpec, node: ast.Call) -> Code:
        values: dict[str, str] = {}
        keywords = set()
        positional = [a for a in node.args if a.keyword is None]
        if any(a.splat or a.label is not None for a in node.args):
            raise Unsupported(f"a starred or named argument of {op.name}")
        params = [p for p in op.positional if not p.is_tensor]
        if len(positional) > len(params) and not any(p.variadic for p in params):
            raise Unsupported(f"too many arguments for {op.name}")
        pairs = []
        for param, argument in zip(params, positional):
            if param.variadic:
                raise Unsupported(f"the variadic parameter of {op.name}")
            pairs.append((param, argument.value))
        for argument in node.args:
            if argument.keyword is not None:
                if not op.has_param(argument.keyword):
                    raise Unsupported(f"{op.name} has no parameter '{argument.keyword}'")
                keywords.add(argument.keyword)
                pairs.append((op.param(argument.keyword), argument.value))
        for param, expression in pairs:
            if isinstance(expression, ast.Infer):
                values[param.name] = literal(self._inferred(node, param.name))
                continue
            if param.layer:
                values[param.name] = self._constructor(expression).text
                continue
            plain = self._literal_of(expression)
            if plain is not _NOT_LITERAL and param.default is not REQUIRED:
                if _same(plain, param.default):
                    continue
            values[param.name] = self._expression(expression, False).text
        arguments = render_args(op, values, frozenset(keywords))
        return call(op.torch, [atom(a) for a in arguments])

    def _inferred(self, node: ast.Call, param: str) -> Any:
        """A `?` argument: the number inference found, which must be one for every instance."""
        found = []
        for module, checked in self.instances:
            for child in module.walk():
                if child.kind == "layer" and _same_span(child.span, node.span):
                    found.append(checked.inference.module_args.get(child.path, {}).get(param))
        if not found or any(value != found[0] or value is None for value in found):
            raise Unsupported("a `?` argument that differs between instances")
        return found[0]

    def _sequential(self, node: ast.Call) -> Code:
        labelled = [a for a in node.args if a.label is not None]
        if any(a.keyword is not None for a in node.args):
            raise Unsupported("Sequential with keywords")
        if labelled and len(labelled) != len(node.args):
            raise Unsupported("a Sequential with named and unnamed children")
        if labelled:
            pairs = []
            for argument in node.args:
                if any(not isinstance(p, str) for p in argument.label.parts):
                    raise Unsupported("a Sequential child named by a template")
                child = self._child(argument.value)
                pairs.append(display("(", [atom(literal(argument.label.text)), child], ")"))
            return call("nn.Sequential", [call("OrderedDict", [display("[", pairs, "]")])])
        return call("nn.Sequential", self._children(node))

    def _children(self, node: ast.Call) -> list[Code]:
        items = []
        for argument in node.args:
            if argument.splat:
                spread = parenthesized(self._expression(argument.value, False), ATOM)
                items.append(Code("*" + spread.text))
            else:
                items.append(self._child(argument.value))
        return items

    def _child(self, expression) -> Code:
        if isinstance(expression, ast.Call) and self._is_layer_call(expression):
            return self._constructor(expression)
        if self._kind(expression) in (LAYER,) and isinstance(expression, ast.Name):
            raise Unsupported("a declared layer reused inside a Sequential")
        return self._expression(expression, False)

    def _plain_arguments(self, node: ast.Call) -> list[Code]:
        items = []
        for argument in node.args:
            if argument.splat or argument.label is not None:
                raise Unsupported("a starred or named block argument")
            value = self._expression(argument.value, False)
            items.append(atom(f"{argument.keyword}={value.text}") if argument.keyword else value)
        return items

    def _is_layer_call(self, node: ast.Call) -> bool:
        name = node.func.id
        op = REGISTRY.get(name)
        return name in self.blocks or name in CONTAINERS or (op is not None and op.kind == "layer")

    # ------------------------------------------------------------ expressions
    def _kind(self, expression) -> str:
        """What an expression holds: scalar, tensor(s), layer recipe(s) (no value computed)."""
        kind = type(expression)
        if kind in (ast.Constant, ast.Infer, ast.ExternValue):
            return SCALAR
        if kind is ast.Name:
            if (
                expression.id in _LITERAL_NAMES
                or expression.id in DTYPE_CONSTANTS
                or (expression.id in FLOAT_CONSTANTS)
            ):
                return self.kinds.get(expression.id, SCALAR)
            if expression.id in self.sizes:
                return SIZE
            if self.kinds.get(expression.id) == STATE:
                return TENSOR
            if expression.id in self.layers:
                return LAYER
            if expression.id not in self.kinds:
                raise Unsupported(f"'{expression.id}' is not a value of the block")
            return self.kinds[expression.id]
        if kind is ast.Pipe:
            value = self._kind(expression.value)
            if value == BUILT and all(self._function_stage(st) for st in expression.stages):
                return BUILT
            return TENSOR
        if kind in (ast.ListExpr, ast.TupleExpr):
            kinds = {self._kind(item) for item in expression.items}
            if not kinds:
                return EMPTY
            if kinds & {TENSOR, TENSORS}:
                return TENSORS
            if kinds & {RECIPE, RECIPES}:
                return RECIPES
            return SIZE if SIZE in kinds else SCALAR
        if kind is ast.ListComp:
            if self._kind(expression.iterable) == LAYER:
                return TENSORS
            element = self._kind_with(expression.var.id, expression.element)
            return {RECIPE: RECIPES, TENSOR: TENSORS}.get(element, element)
        if kind is ast.BinOp:
            kinds = {self._kind(expression.left), self._kind(expression.right)}
            if BUILT in kinds:
                return BUILT if kinds <= {BUILT, SCALAR} else TENSOR
            for strongest in (TENSOR, TENSORS, RECIPES, SIZE):
                if strongest in kinds:
                    return strongest
            return SCALAR if kinds <= {SCALAR} else EMPTY
        if kind is ast.UnaryOp:
            return self._kind(expression.operand)
        if kind is ast.IfExp:
            kinds = {self._kind(expression.body), self._kind(expression.orelse)}
            if self._kind(expression.test) == SIZE and kinds <= {SCALAR, SIZE}:
                return SIZE
            return kinds.pop() if len(kinds) == 1 else TENSOR if TENSOR in kinds else SIZE
        if kind in (ast.Index, ast.Subscript):
            base = self._kind(expression.value)
            if kind is ast.Subscript and base == TENSORS:  # res[:4]: a list still
                return TENSORS
            return {TENSORS: TENSOR, RECIPES: RECIPE, STATE: TENSOR}.get(base, base)
        if kind is ast.Call:
            name = expression.func.id
            if self._is_layer_call(expression):
                return RECIPE
            op = REGISTRY.get(name)
            if name in BUILTINS:
                kinds = {self._kind(a.value) for a in expression.args}
                if op is None or op.kind != "function" or not kinds & {TENSOR, TENSORS}:
                    return SIZE if SIZE in kinds else SCALAR
            if op is not None and op.kind == "function":
                kinds = {self._kind(a.value) for a in expression.args}
                return TENSOR if kinds & {TENSOR, TENSORS, SIZE} else BUILT
            if name in self.layers or self.kinds.get(name) == MODULE:
                return TENSOR
        raise Unsupported(f"the expression {type(expression).__name__}")

    def _function_stage(self, stage) -> bool:
        if not isinstance(stage, ast.Call) or stage.func.id in self.blocks:
            return False
        op = REGISTRY.get(stage.func.id)
        return op is not None and op.kind == "function"

    def _kind_with(self, var: str, expression) -> str:
        saved = self.kinds.get(var)
        self.kinds[var] = SCALAR
        try:
            return self._kind(expression)
        finally:
            if saved is None:
                del self.kinds[var]
            else:
                self.kinds[var] = saved

    def _expression(self, expression, forward: bool) -> Code:
        kind = type(expression)
        if kind is ast.Constant:
            return atom(literal(expression.value))
        if kind is ast.Name:
            return self._read(expression.id, forward)
        if kind is ast.TupleExpr:
            return display("(", [self._expression(i, forward) for i in expression.items], ")")
        if kind is ast.ListExpr:
            return display("[", [self._expression(i, forward) for i in expression.items], "]")
        if kind is ast.ListComp and self._kind(expression.iterable) == LAYER:
            # `[x -> conv for conv in convs]`: torch iterates the ModuleList itself
            if not forward:
                raise Unsupported("a loop over layers when the block is built")
            iterable = self._expression(expression.iterable, True)
            var = self._bind(expression.var.id, MODULE)
            element = self._expression(expression.element, True)
            return atom(f"[{element.text} for {var} in {iterable.text}]")
        if kind is ast.Subscript:
            value = parenthesized(self._expression(expression.value, forward), ATOM)
            items = [self._index_item(item, forward) for item in expression.items]
            return atom(f"{value.text}[{', '.join(items)}]")
        if kind is ast.ListComp:
            var = self._bind(expression.var.id, SCALAR)
            self.loop_vars.append(expression.var.id)
            element = (
                self._constructor(expression.element)
                if isinstance(expression.element, ast.Call)
                and self._is_layer_call(expression.element)
                else self._expression(expression.element, forward)
            )
            iterable = self._expression(expression.iterable, forward)
            return atom(f"[{element.text} for {var} in {iterable.text}]")
        if kind is ast.BinOp:
            return self._binary(expression, forward)
        if kind is ast.UnaryOp:
            operand = self._expression(expression.operand, forward)
            if expression.op == "not":
                return Code(f"not {parenthesized(operand, NOT).text}", NOT)
            return Code(f"{expression.op}{parenthesized(operand, UNARY).text}", UNARY)
        if kind is ast.IfExp:
            body = parenthesized(self._expression(expression.body, forward), OR)
            test = parenthesized(self._expression(expression.test, forward), OR)
            orelse = parenthesized(self._expression(expression.orelse, forward), IFEXP)
            return Code(f"{body.text} if {test.text} else {orelse.text}", IFEXP)
        if kind is ast.Index:
            value = parenthesized(self._expression(expression.value, forward), ATOM)
            index = self._expression(expression.index, forward)
            return atom(f"{value.text}[{index.text}]")
        if kind is ast.Call:
            return self._call(expression, forward)
        if kind is ast.ExternValue:  # `partial(LayerNorm, eps=1e-06)`
            args = [
                (f"{a.keyword}=" if a.keyword is not None else "")
                + self._expression(a.value, forward).text
                for a in expression.args
            ]
            return atom(python_object(expression.target.value, expression.called, args))
        if kind is ast.Pipe and (forward or self._kind(expression) == BUILT):
            current = self._expression(expression.value, forward)
            for stage in expression.stages:
                current = self._stage(stage, current, forward)
            return current
        raise Unsupported(f"the expression {kind.__name__}")

    def _index_item(self, item, forward: bool) -> str:
        """One index of `x[...]` (python_code spaces a slice's `:` as ruff does)."""
        if isinstance(item, ast.EllipsisExpr):
            return "..."
        if not isinstance(item, ast.Slice):
            return self._expression(item, forward).text
        bounds = [item.lower, item.upper] + ([item.step] if item.step is not None else [])
        return ":".join("" if b is None else self._expression(b, forward).text for b in bounds)

    def _binary(self, expression: ast.BinOp, forward: bool) -> Code:
        precedence = _BINARY[expression.op]
        left = self._expression(expression.left, forward)
        right = self._expression(expression.right, forward)
        if expression.op in ("==", "!=") and "None" in (left.text, right.text):
            op = "is" if expression.op == "==" else "is not"  # PEP 8: `x is not None`
            return Code(f"{left.text} {op} {right.text}", COMPARE)
        if expression.op == "**":
            left, right = parenthesized(left, POWER + 1), parenthesized(right, POWER)
        else:
            left = parenthesized(left, precedence if precedence != COMPARE else COMPARE + 1)
            right = parenthesized(right, precedence + 1)
        return Code(f"{left.text} {expression.op} {right.text}", precedence)

    def _call(self, node: ast.Call, forward: bool) -> Code:
        name = node.func.id
        op = REGISTRY.get(name)
        kinds = {self._kind(a.value) for a in node.args}
        if name in BUILTINS and not (op is not None and kinds & {TENSOR, TENSORS}):
            if any(a.splat or a.label is not None for a in node.args):
                raise Unsupported(f"a starred argument of {name}()")
            return call(name, [self._expression(a.value, forward) for a in node.args])
        if op is not None and op.kind == "function":
            if not forward and self._kind(node) != BUILT:
                raise Unsupported(f"{name}() of a tensor when the block is built")
            return self._function(op, node, None, forward)
        if forward and self.kinds.get(name) == MODULE:
            if any(a.keyword is not None or a.splat for a in node.args):
                raise Unsupported(f"arguments to the layer {name}")
            return call(self.names[name], [self._expression(a.value, True) for a in node.args])
        if name in self.layers and forward and self.kinds.get(name) != STATE:
            return self._apply_layer(name, node, [])
        if self._is_layer_call(node) and not forward:
            return self._constructor(node)
        raise Unsupported(f"the call {name}(...)")

    def _literal_of(self, expression) -> Any:
        """The plain value of a literal expression (to leave out torch's defaults), or
        _NOT_LITERAL."""
        if isinstance(expression, ast.Constant):
            return expression.value
        if isinstance(expression, ast.Name) and expression.id in _LITERAL_NAMES:
            return _LITERAL_NAMES[expression.id]
        if isinstance(expression, ast.UnaryOp) and expression.op == "-":
            inner = self._literal_of(expression.operand)
            if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                return -inner
        if isinstance(expression, ast.TupleExpr):
            items = tuple(self._literal_of(i) for i in expression.items)
            if all(i is not _NOT_LITERAL for i in items):
                return items
        if isinstance(expression, ast.ExternValue):  # `act=extern "torch.nn:GELU"`
            values = [self._literal_of(a.value) for a in expression.args]
            if all(v is not _NOT_LITERAL for v in values):
                module, _, attribute = expression.target.value.partition(":")
                positional = tuple(v for a, v in zip(expression.args, values) if a.keyword is None)
                keywords = tuple(
                    (a.keyword, v) for a, v in zip(expression.args, values) if a.keyword is not None
                )
                return PyObject(
                    expression.target.value, module, attribute, positional, keywords,
                    expression.called, expression.target.span,
                )  # fmt: skip
        return _NOT_LITERAL

    # ------------------------------------------------------------ comments
    def _comment(self, part) -> str:
        """The shape after a statement in the block's own terms: each size as an argument where
        it equals one in every instance (`planes`), else as the input's (`H`, `H/2`, named as
        the block's `input` names them, or N, C, H, W), else as the number it is in all; no
        comment where a size has no such form, or a statement runs more than once (a loop)."""
        spans = [part.span] + ([part.call.span] if isinstance(part, ast.Labelled) else [])
        outputs, inputs = [], []  # per instance: the shape of each output (None: torch's None)
        for module, checked in self.instances:
            found = [n for span in spans for n in _nodes_at(checked, module.path, span)]
            if not found:  # a Sequential or block applied: its call's output
                found = _container_outputs(checked, module.path, part)
            shapes = _output_shapes(checked, found)
            if shapes is None:
                return ""
            outputs.append(shapes)
            inputs.append(_input_shape(checked, module.path))
        if not outputs or any(len(shapes) != len(outputs[0]) for shapes in outputs):
            return ""
        texts = []
        for index in range(len(outputs[0])):
            shapes = [each[index] for each in outputs]
            if all(shape is None for shape in shapes):
                texts.append("None")  # MultiheadAttention's weights with need_weights=False
                continue
            if any(shape is None or len(shape) != len(shapes[0]) for shape in shapes):
                return ""
            dims = []
            for position in range(len(shapes[0])):
                text = self._dim_text([shape[position] for shape in shapes], inputs, position)
                if text is None:
                    return ""
                dims.append(text)
            texts.append("[" + ", ".join(dims) + "]")
        return ", ".join(texts)

    def _dim_text(self, values: list[Any], inputs: list[tuple | None], position: int) -> str | None:
        if all(isinstance(v, Sym) for v in values) and all(_same_dim(v, values[0]) for v in values):
            return format_shape((values[0],))[1:-1]
        if not all(type(v) is int or isinstance(v, Sym) for v in values):
            return None
        matching = [
            param.name.id
            for param in self.definition.params
            if all(module.params.get(param.name.id) == value
                   for (module, _), value in zip(self.instances, values))
        ]  # fmt: skip
        # Two arguments of one value (window = heads = 3) say neither; a size of 1 is a pooled
        # or kept dimension far more often than the argument that happens to be 1 (n_input).
        if len(matching) == 1 and any(v != 1 for v in values):
            return matching[0]
        names = self._input_dim_names(inputs)
        if names is not None and all(shape is not None and len(shape) == len(names)
                                     for shape in inputs):  # fmt: skip
            order = sorted(range(len(names)), key=lambda index: index != position)
            for index in order:  # the size at the same position first: W before an equal H
                name = names[index]
                sizes = [shape[index] for shape in inputs]
                if all(_same_dim(v, size) for v, size in zip(values, sizes)):
                    return name  # sizes of a symbolic input too: H/2 in one, H/4 in the next
                if name not in ("H", "W"):  # C/4 would say less than C // n_head does
                    continue
                for factor in (2, 4, 8, 16, 32):
                    if all(_divided(v, size, factor) for v, size in zip(values, sizes)):
                        return f"{name}/{factor}"
        if all(type(v) is int and v == values[0] for v in values):
            return str(values[0])
        return None

    def _input_dim_names(self, inputs: list[tuple | None]) -> list[str] | None:
        """The names of the block input's sizes: as its `input` statement gives them, else
        torch's N, C, H, W for a 4-d input."""
        statement = next((s for s in self.definition.body if isinstance(s, ast.Input)), None)
        if statement is not None and statement.shape is not None:
            dims = statement.shape.dims
            if all(isinstance(d, ast.Name) for d in dims):
                return [d.id for d in dims]
        if all(shape is not None and len(shape) == 4 for shape in inputs):
            return ["N", "C", "H", "W"]
        return None

    def _fresh(self, base: str) -> str:
        counter = 1
        while f"{base}_{counter}" in self.names.values():
            counter += 1
        return f"{base}_{counter}"


_NOT_LITERAL = object()
_LOOP_HEADER = "\x02loop "  # a forward `for` line, written once the whole body is known


@dataclass
class _Loop:
    statement: ast.For
    var: str
    nested: bool
    open: bool = True  # its body is being translated
    reads: int = 0  # forward reads of its variable (other than in layer name templates)
    templates: list = field(default_factory=list)  # (marker, label) of the layers it names


def _python_path(path) -> str:
    """`embed.tok.weight` as Python reaches it: a Sequential's child by index (`blocks[0]`)."""
    text = ""
    for name in path.names:
        text += f"[{name.id}]" if name.id.isdigit() else (f".{name.id}" if text else name.id)
    return text


def _divided(value: Any, size: Any, factor: int) -> bool:
    """`value` is `size` divided by `factor`, rounded either way (numbers), or exactly (sizes)."""
    if type(value) is int and type(size) is int:
        return size > 0 and value in (size // factor, -(-size // factor))
    if isinstance(value, Sym) and isinstance(size, Sym):
        return _same_dim(value * factor, size)
    return False


def _same_dim(a: Any, b: Any) -> bool:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return isinstance(a, Sym) and isinstance(b, Sym) and a.terms == b.terms
    return a == b


def _same_span(a, b) -> bool:
    return a.start == b.start and a.end == b.end and a.source is b.source


_SPAN_INDEX: dict[int, tuple[Any, dict]] = {}


def _container_outputs(checked, scope: str, part) -> list[str]:
    """The output of the one application, inside the instance at `scope`, of the Sequential or
    block a stage names (`-> layers`) or builds (`double_conv: Sequential(...)`); [] when there
    is none or several."""
    found = [c for c in _stage_calls(checked, scope, part) if c.outputs]
    return [found[0].outputs[-1]] if len(found) == 1 and len(found[0].outputs) == 1 else []


def _stage_calls(checked, scope: str, part) -> list:
    """The applications, by the instance at `scope`, of the Sequential, block or list item a
    stage names (`-> layers`, `-> stages[i]`) or builds (`down: Down(64)`), in order."""
    by_module, by_parent, by_span, by_container = _call_index(checked)
    prefix = f"{scope}." if scope else ""
    if isinstance(part, ast.LayerRef):
        found = by_module.get(prefix + part.name.id, [])
    elif isinstance(part, ast.LayerIndex):  # `blocks[i][j]`: the lists that `blocks` holds
        parents = [prefix + part.name.id]
        for _ in part.indices[1:]:
            parents = [path for parent in parents for path in by_container.get(parent, [])]
        found = [c for parent in parents for c in by_parent.get(parent, [])]
    else:
        call = part.call if isinstance(part, ast.Labelled) else part
        span = getattr(call, "span", None)
        if span is None:
            return []
        found = by_span.get((scope, id(span.source), span.start, span.end), [])
    return [c for c in found if c.scope == scope]


_CALL_INDEX: dict[int, tuple[Any, tuple]] = {}


def _call_index(checked) -> tuple[dict, dict, dict, dict]:
    """A model's container calls by module path, by the path of the list holding the module,
    and by (parent path, the module's span), and the lists each list holds: each statement
    looks its calls up, not the whole list (a model of 10,000 block instances)."""
    model = checked.graph
    cached = _CALL_INDEX.get(id(model))
    if cached is None or cached[0] is not model:
        by_module: dict = {}
        by_parent: dict = {}
        by_span: dict = {}
        by_container: dict = {}  # a list's path -> the paths of the lists it holds
        for module in model.root.walk():
            parent = module.path.rpartition(".")[0]
            if module.kind in ("list", "dict") and module.path:
                by_container.setdefault(parent, []).append(module.path)
        for applied in model.calls:
            parent = applied.module.rpartition(".")[0]
            span = model.module(applied.module).span
            by_module.setdefault(applied.module, []).append(applied)
            by_parent.setdefault(parent, []).append(applied)
            key = (parent, id(span.source), span.start, span.end)
            by_span.setdefault(key, []).append(applied)
        _CALL_INDEX.clear()  # one model's at a time: nothing outlives a generation
        indexes = (by_module, by_parent, by_span, by_container)
        cached = _CALL_INDEX[id(model)] = (model, indexes)
    return cached[1]


def _output_shapes(checked, found: list[str]) -> list[tuple | None] | None:
    """The shapes a statement's nodes make: one node, or the outputs of one multi-output op in
    order (None for an output torch returns as None); None where there is no such reading (a
    statement run more than once, in a loop)."""
    shapes_of = checked.inference.shapes
    if len(found) == 1:
        return [shapes_of[found[0]]] if found[0] in shapes_of else None
    nodes = [checked.graph.node(n) for n in found]
    if not nodes or len({(n.group, n.outputs) for n in nodes}) != 1:
        return None
    if sorted(n.output for n in nodes) != list(range(nodes[0].outputs)):
        return None
    shapes = []
    for node in sorted(nodes, key=lambda n: n.output):
        if node.id in shapes_of:
            shapes.append(shapes_of[node.id])
        elif node.returns_none:
            shapes.append(None)
        else:
            return None
    return shapes


def _input_shape(checked, path: str) -> tuple | None:
    """The shape of the first input of the block instance at `path`, where it is known."""
    for applied in _call_index(checked)[0].get(path, []):
        if applied.inputs:
            return checked.inference.shapes.get(applied.inputs[0])
    return None


def _nodes_at(checked, scope: str, span) -> list[str]:
    """The forward nodes an instance (`scope`) made at `span` (one per run of a loop)."""
    model = checked.graph
    cached = _SPAN_INDEX.get(id(model))
    if cached is None or cached[0] is not model:
        index: dict = {}
        for node in model.nodes():
            if node.kind == "op" and node.built_for is None:
                key = (node.scope, id(node.span.source), node.span.start, node.span.end)
                index.setdefault(key, []).append(node.id)
        _SPAN_INDEX.clear()  # one model's at a time: nothing outlives a generation
        cached = _SPAN_INDEX[id(model)] = (model, index)
    return cached[1].get((scope, id(span.source), span.start, span.end), [])


def _blocks_built(instances: list[tuple[ModuleInfo, Any]]) -> dict[str, ast.Definition]:
    """The block definitions an instance builds, by the name the body calls them."""
    found: dict[str, ast.Definition] = {}
    for module, _ in instances:
        for child in module.walk():
            if child is not module and child.kind == "block":
                found.setdefault(child.definition.name.id, child.definition)
    return found


def _annotation(values: list[Any]) -> str:
    """A constructor argument's type from the values its instances take: torchvision annotates
    `inplanes: int`; nothing where the values say nothing plain."""
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int"
    if kinds and kinds <= {int, float}:
        return "float"
    if kinds == {str}:
        return "str"
    return ""


def _tuple(count: int) -> str:
    return "tuple[" + ", ".join(["torch.Tensor"] * count) + "]"


def translate(
    definition: ast.Definition,
    instances: list[tuple[ModuleInfo, Any]],
    class_names: dict[int, str] | None = None,
) -> BlockClass:
    """The class of `definition` (raises Unsupported)."""
    return BlockTranslator(definition, instances, class_names).translate()
