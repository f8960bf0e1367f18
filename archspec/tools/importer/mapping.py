"""Which registry op a torch module, function or method is, and the arguments a module was built
with. Everything is read off the op registry (`OpSpec.torch`, its params and defaults), so an op
added there is importable without touching this file; the few modules that keep a constructor
argument under another attribute name are listed in ATTRIBUTE_READERS."""

from __future__ import annotations

import importlib
import operator
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
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(is_writable(v) for v in value)
    return False


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
