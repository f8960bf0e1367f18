"""Which registry op a torch module, function or method is, and the arguments a module was built
with. Everything is read off the op registry (`OpSpec.torch`, its params and defaults), so an op
added there is importable without touching this file; the few modules that keep a constructor
argument under another attribute name are listed in ATTRIBUTE_READERS."""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import operator
import sys
import types
from collections.abc import Callable
from functools import cache
from typing import Any

from archspec.ops import REGISTRY, REQUIRED
from archspec.ops.base import OpSpec


class NotMappable(Exception):
    """A module, function or method the registry has no op for (or whose arguments cannot be
    read back); the message says which."""


# torch's arithmetic operators, written as the language's operators.
BINARY_OPERATORS: dict[Any, str] = {
    operator.add: "+", operator.iadd: "+", operator.sub: "-", operator.isub: "-",
    operator.mul: "*", operator.imul: "*", operator.truediv: "/", operator.itruediv: "/",
    operator.floordiv: "//", operator.mod: "%", operator.pow: "**",
    operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=",
    operator.gt: ">", operator.ge: ">=",
}  # fmt: skip
# Tensor operators the language spells as operators (`a + b`); // % ** only between numbers.
TENSOR_OPERATORS = frozenset("+ - * / == != < <= > >=".split())
# Tensor operators the language writes as a registry function: a tensor's `x ** 2` is pow.
OPERATOR_FUNCTIONS: dict[Any, str] = {operator.pow: "pow", operator.ipow: "pow"}
# Tensor methods that are the same op as their registry name under another spelling.
METHOD_ALIASES = {"add_": "add", "mul_": "mul", "sub_": "sub", "div_": "div", "relu_": "relu",
                  "sigmoid_": "sigmoid", "softmax": "softmax"}  # fmt: skip


def _resolve(dotted: str) -> Any:
    """The object a registry `torch` spelling names: "nn.Conv2d", "F.relu", "torch.cat",
    "torchvision.ops.misc.FrozenBatchNorm2d"; None when it does not import."""
    prefixes = {"nn": "torch.nn", "F": "torch.nn.functional"}
    head, _, rest = dotted.partition(".")
    dotted = f"{prefixes[head]}.{rest}" if head in prefixes else dotted
    module_name, _, attribute = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return None


@cache
def layer_ops() -> dict[type, OpSpec]:
    """Module class -> the registry's layer op built from it (exact classes only: a subclass
    may change forward)."""
    found = {}
    for spec in REGISTRY.values():
        if spec.kind == "layer" and spec.extern is None:
            cls = _resolve(spec.torch)
            if isinstance(cls, type):
                found[cls] = spec
    return found


@cache
def function_ops() -> dict[Any, OpSpec]:
    """Python function object -> registry function op (torch.cat, F.relu, torch.flatten, ...)."""
    import torch

    found = {}
    for spec in REGISTRY.values():
        if spec.kind != "function":
            continue
        target = None if spec.torch.startswith("Tensor.") else _resolve(spec.torch)
        if target is not None:
            found[target] = spec
        # torch.relu is F.relu's twin, torch.softmax F.softmax's: the same name in torch.
        twin = getattr(torch, spec.name, None)
        if callable(twin) and twin not in found:
            found[twin] = spec
    return found


def function_op(target: Any) -> OpSpec:
    spec = function_ops().get(target)
    if spec is None:
        raise NotMappable(f"function {_qualified(target)} has no op in the language")
    return spec


def operator_op(target: Any) -> OpSpec | None:
    """The registry function a tensor operator is written as (`x ** 2` -> pow), else None."""
    name = OPERATOR_FUNCTIONS.get(target)
    return None if name is None else REGISTRY[name]


# torch parameters a registry function leaves out, and the default it then has: a call giving
# that value is the same call (`attn_mask=None`), any other value is not in the language.
OMITTED_DEFAULTS: dict[str, dict[str, Any]] = {
    "scaled_dot_product_attention": {"attn_mask": None, "enable_gqa": False},
}


def is_omitted_default(spec: OpSpec, name: str, value: Any) -> bool:
    if name == "out" and value is None:
        return True  # no output tensor given: F.normalize(x, dim=-1) traces as `out=None`
    omitted = OMITTED_DEFAULTS.get(spec.name, {})
    return name in omitted and same(value, omitted[name])


# torch.max(x, dim) gives (values, indices): its values alone are the registry's amax.
VALUES_REDUCTIONS = {"max": "amax"}


def values_reduction(target: Any) -> OpSpec | None:
    """The op that is the values of a (values, indices) reduction: `x.max(1)` (a method name)
    or `torch.max` (the function), else None."""
    import torch

    for name, op in VALUES_REDUCTIONS.items():
        if target == name or target is getattr(torch, name):
            return REGISTRY[op]
    return None


# Tensor methods named like a registry function that is another op: x.unfold(dim, size, step)
# takes windows along one dim, the registry's unfold is F.unfold (a map's sliding blocks).
OTHER_METHODS = frozenset({"unfold"})


def method_op(name: str) -> OpSpec:
    """The registry op for a Tensor method call: x.view(...) -> view, x.flatten(1) -> flatten."""
    spec = REGISTRY.get(METHOD_ALIASES.get(name, name))
    if spec is None or spec.kind != "function" or name.startswith("_") or name in OTHER_METHODS:
        raise NotMappable(f"tensor method .{name}() has no op in the language")
    return spec


def _qualified(target: Any) -> str:
    module = getattr(target, "__module__", None) or ""
    return f"{module}.{getattr(target, '__name__', repr(target))}".lstrip(".")


def _multihead_bias(module) -> bool:
    return module.in_proj_bias is not None


# Constructor arguments a module keeps under another attribute (or only implies).
ATTRIBUTE_READERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "MultiheadAttention": {
        "bias": _multihead_bias,
        "add_bias_kv": lambda m: m.bias_k is not None,
        "kdim": lambda m: None if m.kdim == m.embed_dim else m.kdim,
        "vdim": lambda m: None if m.vdim == m.embed_dim else m.vdim,
    },
    "StochasticDepth": {},
}


def layer_arguments(spec: OpSpec, module) -> dict[str, Any]:
    """The arguments to rebuild `module` as `spec`, read off its attributes: {param: value} for
    every param, torch's spelling (`bias` is whether the module has one)."""
    import torch

    readers = ATTRIBUTE_READERS.get(spec.name, {})
    values = {}
    for param in spec.params:
        if param.name in readers:
            value = readers[param.name](module)
        elif hasattr(module, param.name):
            value = getattr(module, param.name)
        elif param.default is not REQUIRED:
            value = param.default  # not kept by torch: only its default can be rebuilt
        else:
            raise NotMappable(f"{type(module).__name__} keeps no attribute {param.name}")
        if isinstance(value, torch.Tensor) or (value is None and isinstance(param.default, bool)):
            value = value is not None  # `bias`: a tensor or None
        values[param.name] = plain(value)
    return values


def plain(value: Any) -> Any:
    """A constructor value as the language writes it: lists as tuples, torch.Size as a tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def is_writable(value: Any) -> bool:
    """Whether a constructor value can be written as a literal of the language."""
    if value is None or isinstance(value, (bool, int, float, str, PythonObject)):
        return True
    if isinstance(value, (tuple, list)):
        return all(is_writable(v) for v in value)
    return False


# --- Python objects as extern values -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PythonObject:
    """A constructor argument that is a Python object (a class, a function, a functools.partial,
    a dataclass config), as the language writes it: an extern value. Equal when written alike
    (two `partial(RelPosBias, window_size=(7, 7))` are one argument, as the spec sees them)."""

    text: str  # extern "functools:partial"(extern "timm.layers:RelPosBias", window_size=(7, 7))

    def __repr__(self) -> str:
        return self.text


UNWRITABLE: Any = object()  # what `spec_value` returns for a value the language cannot write
_MAX_OBJECT_DEPTH = 8  # configs nested deeper are refused (and cycles, however they nest)


def spec_value(value: Any, depth: int = 0) -> Any:
    """A constructor value as the spec can write it: itself if plain, lists and tuples item by
    item, a Python object as a PythonObject; UNWRITABLE if some part cannot be written."""
    if is_writable(value):
        return value
    if depth > _MAX_OBJECT_DEPTH:
        return UNWRITABLE
    if isinstance(value, (tuple, list)):
        items = [spec_value(v, depth + 1) for v in value]
        if any(item is UNWRITABLE for item in items):
            return UNWRITABLE
        return type(value)(items)
    text = _object_text(value, depth)
    return UNWRITABLE if text is None else PythonObject(text)


def _object_text(value: Any, depth: int) -> str | None:
    dtype = _dtype_name(value)
    if dtype is not None:  # `dtype=torch.float16`: the language's dtype name
        return dtype
    if isinstance(value, enum.Enum):  # `Format.NHWC`: its class called with its value
        path = importable_path(type(value))
        return None if path is None else _call_text(path, (value.value,), {}, depth)
    if isinstance(value, functools.partial):
        func = spec_value(value.func, depth + 1)
        if func is UNWRITABLE:
            return None
        return _call_text("functools:partial", (func, *value.args), value.keywords, depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass_text(value, depth)
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        path = importable_path(value)
        return None if path is None else f'extern "{path}"'
    return None


def literal(value: Any) -> str:
    """A Python value as the language writes it."""
    if isinstance(value, PythonObject):
        return value.text
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if value is Ellipsis:
        return "..."
    return repr(value)


def _dtype_name(value: Any) -> str | None:
    from archspec.core.dtypes import DTYPES

    module = type(value).__module__
    if module != "torch" or type(value).__name__ != "dtype":
        return None
    name = str(value).removeprefix("torch.")
    return name if name in DTYPES else None


def _call_text(target: str, args: tuple, kwargs: dict, depth: int) -> str | None:
    written = [spec_value(v, depth + 1) for v in args]
    named = {k: spec_value(v, depth + 1) for k, v in kwargs.items()}
    if any(v is UNWRITABLE for v in [*written, *named.values()]):
        return None
    items = [literal(v) for v in written] + [f"{k}={literal(v)}" for k, v in named.items()]
    return f'extern "{target}"({", ".join(items)})'


def _dataclass_text(value: Any, depth: int) -> str | None:
    """`extern "timm.models.maxxvit:MaxxVitTransformerCfg"(dim_head=32)`: the fields that differ
    from their defaults, by keyword; None unless building it from them gives the same fields."""
    cls = type(value)
    path = importable_path(cls)
    if path is None:
        return None
    given: dict[str, Any] = {}
    for spec in dataclasses.fields(value):
        if not spec.init:
            continue
        field_value = getattr(value, spec.name)
        if spec.default is not dataclasses.MISSING:
            default = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        else:
            given[spec.name] = field_value
            continue
        if _written(field_value, depth) != _written(default, depth):
            given[spec.name] = field_value
    text = _call_text(path, (), given, depth)
    try:
        rebuilt = cls(**given)
    except Exception:  # noqa: BLE001 - a config's __post_init__ may refuse anything
        return None
    same = all(
        _written(getattr(rebuilt, f.name), depth) == _written(getattr(value, f.name), depth)
        for f in dataclasses.fields(value)
    )
    return text if same else None


def _written(value: Any, depth: int) -> Any:
    written = spec_value(value, depth + 1)
    return ("unwritable", id(value)) if written is UNWRITABLE else written


def importable_path(value: Any) -> str | None:
    """`module:qualname` that imports `value` itself (torch's through the public module that
    exports it, `torch.nn:GELU`); None for a lambda, a local class or a value no module holds."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    candidates = [module]
    if module.startswith("torch."):  # torch.nn.modules.activation -> torch.nn, as code reads
        parts = module.split(".")
        candidates = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for candidate in candidates:
        found = sys.modules.get(candidate)
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is value:
            return f"{candidate}:{qualname}"
    return None


# Tuple-valued parameters whose tuple is a shape, never one number for every dim.
SHAPE_PARAMS = frozenset({"dims", "unflattened_size", "size", "sizes", "shape"})


def collapse(name: str, value: Any, default: Any) -> Any:
    """(3, 3) -> 3 where torch takes one number for all dims (kernel_size, stride, padding)."""
    if name in SHAPE_PARAMS or not (isinstance(value, tuple) and value):
        return value
    if all(v == value[0] for v in value) and type(value[0]) is int:
        if default is None or default is REQUIRED or type(default) is int:
            return value[0]
    return value


def same(value: Any, default: Any) -> bool:
    """Whether a value equals torch's default (1 == 1.0, but True is not 1)."""
    if default is REQUIRED:
        return False
    if isinstance(value, bool) or isinstance(default, bool):
        return type(value) is type(default) and value == default
    try:
        return bool(value == default)
    except Exception:  # noqa: BLE001 - an exotic value is never a default
        return False
