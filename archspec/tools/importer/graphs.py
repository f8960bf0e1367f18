"""The fx graph of one module, every child a leaf, and each node's value on the module's first
call: traced by torch.fx, or, where its Python control flow reads sizes, traced again for the
example's sizes (specialize.py)."""

from __future__ import annotations

import inspect
import traceback
from typing import Any

from archspec.tools.importer.capture import Observed
from archspec.tools.importer.context import Context, Unmappable
from archspec.tools.importer.units import Problem


def trace_module(module, path: str, context: Context):
    """The module's fx graph, every submodule a leaf, and each node's value in the first call
    the run observed."""
    import torch.fx as fx

    class LeafTracer(fx.Tracer):
        def is_leaf_module(self, m, qualname: str) -> bool:
            return m is not module

        def call_module(self, m, forward, args, kwargs):
            result = super().call_module(m, forward, args, kwargs)
            if m is module or path:
                return result
            return _with_sizes(result, context.observed.get(self.path_of_module(m)))

    args, kwargs = context.first_call(module, path) or ((), {})
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
        bound.apply_defaults()
    except TypeError as error:
        raise Unmappable([Problem(path, f"forward's arguments: {error}")]) from None
    concrete = {n: v for n, v in bound.arguments.items() if not has_tensor(v)}
    # A tuple or list holding tensors (`self.transformers((x, cls_tokens))`) is traced as its
    # items: fx gives each item a placeholder of its own, so the block takes them as inputs.
    packed = {n: _placeholders(v) for n, v in bound.arguments.items() if _is_packed(v)}
    tracer = LeafTracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module, concrete_args={**concrete, **packed} or None)
    except Exception as error:  # noqa: BLE001 - any tracing failure is reported, never raised
        # Python control flow on sizes (`if H % patch:`, `int(math.sqrt(L))`): trace again,
        # each branch taken for the sizes seen, as torch.export specializes static shapes.
        other = context.call_at_other_batch(module, path)
        graph = None if packed else _specialized_trace(LeafTracer, module, bound, concrete, other)
        if graph is None:
            problem = Problem(path, _trace_failure(error), _failure_location(error))
            raise Unmappable([problem]) from None
    _refold_sequentials(graph, module)
    flat = _flat_arguments(bound.arguments)
    placeholders = graph.find_nodes(op="placeholder")
    if len(flat) == len(placeholders):
        # Each placeholder is given its value, constants too (fx's defaults may be none, or
        # other than the call's), so the defaults go: with a tuple among the constants fx
        # would write them as `a_1 = None, = tree_flatten_spec(...)`, which is not Python.
        for node in placeholders:
            node.args = ()
        graph_module = fx.GraphModule(module, graph)
        graph_module.other_batch = _other_batch_values(graph_module, module, path, context)
        return graph_module, _run(graph_module, flat, path, flat=True)
    if packed:
        raise Unmappable([Problem(path, "forward's arguments: not one value per placeholder")])
    graph_module = fx.GraphModule(module, graph)
    inputs = [v for n, v in bound.arguments.items() if n not in concrete]
    return graph_module, _run(graph_module, inputs, path)


def _refold_sequentials(graph, module) -> None:
    """A Sequential whose forward was called directly (hrnet's `down.forward(y)`, which skips
    Module.__call__, so fx inlines it): its layers, each fed the one before, are put back as one
    call of the Sequential, as `down(y)` would have traced."""
    import torch.nn as nn

    for node in list(graph.nodes):
        if node.op != "call_module" or node.graph is not graph or "." not in node.target:
            continue
        parent, _, name = node.target.rpartition(".")
        sequential = module.get_submodule(parent)
        if type(sequential) is not nn.Sequential or len(node.args) != 1 or node.kwargs:
            continue
        names = [n for n, _ in sequential.named_children()]
        if not names or name != names[0]:
            continue
        chain = [node]
        for following in names[1:]:
            users = list(chain[-1].users)
            if len(users) != 1 or users[0].op != "call_module":
                break
            if users[0].target != f"{parent}.{following}" or users[0].args != (chain[-1],):
                break
            chain.append(users[0])
        if len(chain) != len(names) or chain[-1].kwargs:
            continue
        with graph.inserting_before(node):
            whole = graph.call_module(parent, node.args)
        chain[-1].replace_all_uses_with(whole)
        for step in reversed(chain):
            graph.erase_node(step)


def _specialized_trace(tracer_class, module, bound, concrete: dict[str, Any], other_call):
    """The module's fx graph traced beside its example call, every value also computed on the
    example: Python control flow on a traced value (`bool`, `int`, `len`, iterating) takes the
    value it has there. None if that trace fails too, or its graph computes other than the
    module on the example or at the other batch (`other_call`: a branch taken on the batch)."""
    import torch.fx as fx

    from archspec.tools.importer.specialize import specializing

    tracer = specializing(tracer_class)(_cloned(bound.arguments))
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(module, concrete_args=concrete or None)
    except Exception:  # noqa: BLE001 - the original failure is the one reported
        return None
    tracer.fold_sizes()
    placeholders = graph.find_nodes(op="placeholder")
    for node in placeholders:
        node.args = ()
    graph_module = fx.GraphModule(module, graph)
    calls = [(bound.args, bound.kwargs)] + ([other_call] if other_call is not None else [])
    for args, kwargs in calls:
        try:
            again = inspect.signature(module.forward).bind(*args, **kwargs)
            again.apply_defaults()
            flat = _flat_arguments(_cloned(again.arguments))
            if len(flat) != len(placeholders):
                return None
            if not _same_values(graph_module(*flat), _called(module, args, kwargs)):
                return None
        except Exception:  # noqa: BLE001
            return None
    return graph


def _called(module, args, kwargs):
    import torch

    with torch.no_grad():
        return module(*_cloned(args), **_cloned(kwargs))


def _cloned(value):
    """Tensors cloned (a module may change its input in place), containers rebuilt."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_cloned(v) for v in value)
    if isinstance(value, dict):
        return {k: _cloned(v) for k, v in value.items()}
    return value


def _same_values(found, expected) -> bool:
    import torch

    if isinstance(expected, torch.Tensor):
        if not (isinstance(found, torch.Tensor) and found.shape == expected.shape):
            return False
        if found.is_meta or expected.is_meta:  # the model imported on the meta device: no values
            return found.dtype == expected.dtype
        return torch.allclose(found, expected, atol=1e-5, equal_nan=True)
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(found, (list, tuple))
            and len(found) == len(expected)
            and all(_same_values(f, e) for f, e in zip(found, expected))
        )
    if isinstance(expected, dict):
        return (
            isinstance(found, dict)
            and found.keys() == expected.keys()
            and all(_same_values(found[k], expected[k]) for k in expected)
        )
    return found == expected


def _with_sizes(result, seen: Observed | None):
    """A child's result, as the model's own forward reads it: where the child returned sizes
    beside its tensors (twins' `x, size = embed(x)`, then `reshape(B, *size, -1)`), the
    sizes it returned, and the tensors as items of its call. The model's input sizes are
    fixed (only the batch is not), so the sizes are too."""
    if seen is None or not seen.output_is_tuple:
        return result
    if not any(is_size(v) for v in seen.output_values):
        return result
    return tuple(
        value if is_size(value) else result[i] for i, value in enumerate(seen.output_values)
    )


def is_size(value) -> bool:
    """A number or a tuple or list of them: what a block leaves out of what it returns."""
    return is_plain_value(value) or (
        isinstance(value, list) and bool(value) and is_plain_value(tuple(value))
    )


def _other_batch_values(graph_module, module, path: str, context: Context) -> dict[str, Any]:
    """Each node's value in the module's first call at one more sample (see
    Context.call_at_other_batch), or nothing."""
    import inspect

    call = context.call_at_other_batch(module, path)
    if call is None:
        return {}
    try:
        bound = inspect.signature(module.forward).bind(*call[0], **call[1])
        bound.apply_defaults()
        return _run(graph_module, _flat_arguments(bound.arguments), path, flat=True)
    except (TypeError, Unmappable):
        return {}


def _is_packed(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and has_tensor(value)


def _placeholders(value: Any) -> Any:
    """The concrete argument that makes fx trace each tensor of a tuple or list on its own."""
    import torch
    import torch.fx as fx
    import torch.utils._pytree as pytree

    return pytree.tree_map(lambda v: fx.PH if isinstance(v, torch.Tensor) else v, value)


def _flat_arguments(arguments: dict[str, Any]) -> list[Any]:
    """One value per placeholder, in fx's order: every argument's pytree leaves in turn (fx
    gives the constant ones placeholders too, read only by its specialisation asserts)."""
    import torch.utils._pytree as pytree

    return [leaf for value in arguments.values() for leaf in pytree.tree_leaves(value)]


def has_tensor(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(has_tensor(v) for v in value)
    return False


def _trace_failure(error: Exception) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"torch.fx cannot trace it: {first[:160]}"


def _failure_location(error: Exception) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/torch/" not in f.filename]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _run(graph_module, inputs: list, path: str, flat: bool = False) -> dict[str, Any]:
    """Each node's value (tensors as their shape), running the traced module on its inputs
    (`flat`: one per placeholder, past fx's pytree flattening)."""
    import torch
    import torch.fx as fx

    values: dict[str, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            result = super().run_node(node)
            values[node.name] = result
            return result

        def call_module(self, target, args, kwargs):
            # fx hands lists over as its immutable_list; a child may append to one (DlaTree).
            return super().call_module(target, _mutable(args), _mutable(kwargs))

    try:
        with torch.no_grad():
            Recorder(graph_module).run(*inputs, enable_io_processing=not flat)
    except Exception as error:  # noqa: BLE001
        raise Unmappable([Problem(path, f"the traced forward does not run: {error}")]) from None
    return values


def _mutable(value):
    if isinstance(value, list):
        return [_mutable(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_mutable(v) for v in value)
    if isinstance(value, dict):
        return {k: _mutable(v) for k, v in value.items()}
    return value


def is_plain_value(value) -> bool:
    import torch

    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, torch.Size)):
        return True
    return isinstance(value, tuple) and bool(value) and all(isinstance(v, int) for v in value)
