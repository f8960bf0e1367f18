"""Tracing a forward whose Python control flow reads traced values: `if H % patch != 0:`,
`int(math.sqrt(L))`, `for a, b in zip(x.shape, ...)`. torch.fx refuses these ("symbolically
traced variables cannot be used as inputs to control flow"); torch.export traces them by
specializing on the static sizes of its example. The tracer here does the same on top of fx:
each node is also computed on the example call, and where Python needs a real value (`bool`,
`int`, `float`, `len`, iteration) it gets the example's, so the graph holds the branch taken
there, its sizes as constants.

The importer fixes every input size but the batch, so such a constant is exact for every input the
spec takes. Only sizes are made concrete: a value read off the batch (`B == 1`, `len(x)`,
`x.numel()`) or computed from a tensor's values (`if x.sum() > 0`) is not, and the trace fails as
fx's would."""

from __future__ import annotations

import operator
from typing import Any

_MISSING = object()


def specializing(tracer_class):
    """A subclass of `tracer_class` (an fx.Tracer) that traces beside an example call;
    construct it with the forward's bound arguments by name."""
    import torch
    import torch.fx as fx
    from torch.fx.proxy import Attribute, TraceError

    class Concrete:
        """What a proxy tells Python of its example value where Python insists on one."""

        def _concrete(self, rank: bool = False):
            return self.tracer.concrete(self, rank)

        def __len__(self) -> int:
            return len(self._concrete(rank=True))  # a whole shape's length is its rank

        def __int__(self) -> int:
            return int(self._concrete())

        def __index__(self) -> int:
            return operator.index(self._concrete())

        def __float__(self) -> float:
            return float(self._concrete())

        def __getattr__(self, name: str):
            return ConcreteAttribute(self, name)

    class ConcreteProxy(Concrete, fx.Proxy):
        pass

    class ConcreteAttribute(Concrete, Attribute):  # `x.shape`: a node made when first used
        pass

    class SpecializingTracer(tracer_class):
        def __init__(self, arguments: dict[str, Any]):
            super().__init__()
            self.arguments = arguments
            self.values: dict[Any, Any] = {}  # node -> its value on the example
            self.origins: dict[Any, str] = {}  # node -> SIZE, SHAPE, BATCH or DATA
            # While a node's value is computed, the modules it runs are called as they are: fx's
            # patches of Module.__call__ and __getattr__ must not trace them into the graph.
            self.computing = False

        def call_module(self, module, forward, args, kwargs):
            if self.computing:
                return forward(*args, **kwargs)
            return super().call_module(module, forward, args, kwargs)

        def getattr(self, attr, attr_val, parameter_proxy_cache):
            if self.computing:
                return attr_val
            return super().getattr(attr, attr_val, parameter_proxy_cache)

        def proxy(self, node):
            return ConcreteProxy(node, self)

        def create_proxy(self, kind, target, args, kwargs, *rest, **options):
            proxy = super().create_proxy(kind, target, args, kwargs, *rest, **options)
            node = proxy.node
            self.computing = True
            try:
                with torch.no_grad():
                    self.values[node] = self._compute(node)
            except Exception:  # noqa: BLE001 - a value unknown here is never made concrete
                self.values[node] = _MISSING
            finally:
                self.computing = False
            self.origins[node] = _origin(node, self.values, self.origins)
            return proxy

        def _compute(self, node):
            if node.op == "placeholder":
                return self.arguments.get(str(node.target).lstrip("*"), _MISSING)
            args = fx.node.map_arg(node.args, self._value)
            kwargs = fx.node.map_arg(node.kwargs, self._value)
            if node.op == "get_attr":
                value = self.root
                for part in str(node.target).split("."):
                    value = getattr(value, part)
                return value
            if node.op == "call_module":
                return self.root.get_submodule(node.target)(*args, **kwargs)
            if node.op == "call_function":
                return node.target(*args, **kwargs)
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            return _MISSING

        def _value(self, node):
            value = self.values.get(node, _MISSING)
            if value is _MISSING:
                raise TraceError(f"no example value for {node.name}")
            return value

        def concrete(self, proxy, rank: bool = False):
            """The example's value of a size; `rank`: a whole shape's too (for its length)."""
            node = proxy.node
            origin = self.origins.get(node, DATA)
            if origin != SIZE and not (rank and origin == SHAPE):
                why = "the batch size" if origin in (BATCH, SHAPE) else "a tensor's values"
                raise TraceError(
                    "symbolically traced variables cannot be used as inputs to control flow "
                    f"({node.name} depends on {why})"
                )
            return self._value(node)

        def fold_sizes(self) -> None:
            """Every size the graph computes from sizes other than the batch becomes the
            number it is on the example (the spec fixes those sizes): `pad(x, (0, 1, 0, 1))`,
            not the arithmetic of `math.ceil` and `max` that made it."""
            for node, origin in self.origins.items():
                value = self.values.get(node, _MISSING)
                if origin != SIZE or node.op in ("placeholder", "get_attr", "output"):
                    continue
                if value is _MISSING or not _is_plain(value) or not node.users:
                    continue
                for user in list(node.users):  # unread, the node is dropped by the importer
                    _replace(user, node, _plain(value))

        def to_bool(self, obj) -> bool:
            return bool(self.concrete(obj))

        def iter(self, obj):
            return iter([obj[i] for i in range(len(self.concrete(obj, rank=True)))])

    return SpecializingTracer


# What a traced value is computed from, the worst of its inputs: sizes other than the batch, a
# whole shape (the batch among its sizes), the batch, or a tensor's values.
SIZE, SHAPE, BATCH, DATA = "size", "shape", "batch", "data"
_ORDER = {SIZE: 0, SHAPE: 1, BATCH: 2, DATA: 3}
_SIZE_METHODS = frozenset({"dim", "ndimension"})


def _origin(node, values: dict, origins: dict) -> str:
    """SIZE where a node's value is computed from sizes other than dim 0 only (and constants);
    SHAPE for a whole shape, BATCH where dim 0 is read, DATA where a tensor's values are."""
    import torch

    def tensor(n) -> bool:
        return isinstance(values.get(n), torch.Tensor)

    args = node.args
    first = args[0] if args else None
    if node.op == "placeholder":  # a tensor, or a constant argument
        return DATA if not _is_plain(values.get(node)) else SIZE
    if node.op == "call_module":  # sizes a child returns may be the batch's: never concrete
        return DATA if not _is_plain(values.get(node)) else BATCH
    if node.op == "get_attr":
        return DATA if isinstance(values.get(node), torch.Tensor) else SIZE
    if tensor(first) and node.op == "call_method" and node.target == "size":
        dim = args[1] if len(args) > 1 else node.kwargs.get("dim")
        return SHAPE if dim is None else _dim_origin(dim, values.get(first))
    if tensor(first) and node.op == "call_method" and node.target in _SIZE_METHODS:
        return SIZE
    if tensor(first) and node.op == "call_function" and node.target is getattr:
        return SHAPE if args[1] == "shape" else SIZE if args[1] in ("ndim", "dtype") else DATA
    if node.op == "call_function" and node.target is operator.getitem and first is not None:
        if origins.get(first) == SHAPE:
            return _dim_origin(args[1], values.get(first))
    inputs = [origins.get(n, DATA) for n in node.all_input_nodes]
    worst = max(inputs, key=_ORDER.__getitem__, default=SIZE)
    if worst == SHAPE:
        return BATCH  # a whole shape computed with (`x.shape == y.shape`, `len(x.shape)`)
    if worst == SIZE and not _is_plain(values.get(node)):
        return DATA  # sizes made into a tensor (`torch.arange(H)`): no branch on its values
    return worst


def _dim_origin(index, shape) -> str:
    """BATCH where `shape[index]` (an int or a slice) includes dim 0, else SIZE."""
    rank = len(shape) if shape is not None and hasattr(shape, "__len__") else None
    if isinstance(index, int):
        return BATCH if index == 0 or (rank is not None and index == -rank) else SIZE
    if isinstance(index, slice) and rank is not None:
        return BATCH if 0 in range(rank)[index] else SIZE
    return BATCH


def _replace(user, node, constant) -> None:
    """`node` replaced by `constant` in the arguments of `user`."""
    import torch.fx as fx

    def swap(n):
        return constant if n is node else n

    user.args = fx.node.map_arg(user.args, swap)
    user.kwargs = fx.node.map_arg(user.kwargs, swap)


def _plain(value):
    """A plain value with its torch.Size as a tuple (what a graph argument may hold)."""
    if isinstance(value, (tuple, list)):
        return (
            type(value)(_plain(v) for v in value)
            if type(value) in (tuple, list)
            else tuple(_plain(v) for v in value)
        )
    return value


def _is_plain(value) -> bool:
    """A number, boolean, None or a tuple or list of them (a torch.Size too)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_is_plain(v) for v in value)
    return False
