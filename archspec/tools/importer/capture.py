"""What the importer learns by running the model: the arguments each module was constructed with
(when the importer calls the factory itself) and the shapes each module sees on its first call
(the contract of an extern fallback)."""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Construction:
    """A module's constructor call as it was made: positional and keyword arguments."""

    args: tuple
    kwargs: dict


@dataclass
class Observed:
    """The first call of one module: its tensor inputs' and outputs' shapes (None: not a tensor)."""

    inputs: list[tuple[int, ...] | None]
    outputs: list[tuple[int, ...] | None]
    input_dtypes: list[str | None] = field(default_factory=list)
    output_dtypes: list[str | None] = field(default_factory=list)
    output_is_tuple: bool = False
    # The outputs themselves, tensors as None: a size returned beside a tensor (twins'
    # `x, size = embed(x)`) is read off here where the importer traces the model.
    output_values: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def recording_constructions() -> Iterator[dict[int, Construction]]:
    """Within the block, every nn.Module created records its constructor arguments, keyed by
    id(module) (the record keeps the modules alive, so the ids stay theirs). nn.Module.__init__
    is lent a wrapper that records the arguments the most derived class's __init__ was entered
    with (a profile hook, active only within the block, reads them as the call starts)."""
    import torch

    records: dict[int, Construction] = {}
    keep: list[Any] = []
    original = torch.nn.Module.__init__
    # The arguments as each __init__ was entered: by the time it calls nn.Module.__init__ it
    # may have rebound them (timm's StdConv2dSame turns padding="SAME" into 0 first).
    on_entry: dict[int, dict[str, Any] | None] = {}

    def entered(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "__init__":
            module = frame.f_locals.get("self")
            if isinstance(module, torch.nn.Module) and id(module) not in on_entry:
                if frame.f_code is getattr(type(module).__init__, "__code__", None):
                    on_entry[id(module)] = _frame_arguments(frame)

    def recording_init(self, *args, **kwargs):
        arguments = on_entry.pop(id(self), None)
        if arguments is not None:
            records[id(self)] = Construction((), arguments)
            keep.append(self)
        original(self, *args, **kwargs)

    previous = sys.getprofile()
    torch.nn.Module.__init__ = recording_init
    sys.setprofile(entered)
    try:
        yield records
    finally:
        sys.setprofile(previous)
        torch.nn.Module.__init__ = original


def _frame_arguments(frame) -> dict[str, Any] | None:
    """The arguments of a call, read off its frame as it starts: None when it was given
    positional extras (*args), which cannot be rebuilt by keyword."""
    info = inspect.getargvalues(frame)
    if info.varargs and info.locals.get(info.varargs):
        return None  # positional extras: not rebuildable by keyword
    arguments = {name: info.locals[name] for name in info.args if name != "self"}
    arguments.update(info.locals.get(info.keywords) or {} if info.keywords else {})
    return arguments


def _shape(value: Any) -> tuple[int, ...] | None:
    import torch

    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _dtype(value: Any) -> str | None:
    import torch

    return str(value.dtype).removeprefix("torch.") if isinstance(value, torch.Tensor) else None


def observe(root, example_inputs: tuple) -> dict[str, Observed]:
    """Run `root` once (no grad) and record each submodule's first call, by qualified name."""
    import torch

    seen: dict[str, Observed] = {}
    handles = []

    def hook_for(name: str):
        def hook(module, args, kwargs, output):
            if name in seen:
                return
            inputs = list(args) + [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
            outputs = list(output) if isinstance(output, (tuple, list)) else [output]
            seen[name] = Observed(
                [_shape(v) for v in inputs],
                [_shape(v) for v in outputs],
                [_dtype(v) for v in inputs],
                [_dtype(v) for v in outputs],
                isinstance(output, (tuple, list)),
                [None if isinstance(v, torch.Tensor) else v for v in outputs],
            )

        return hook

    for name, module in root.named_modules():
        handles.append(module.register_forward_hook(hook_for(name), with_kwargs=True))
    try:
        with torch.no_grad():
            root(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def first_calls(root, inputs: tuple) -> dict[str, tuple[tuple, dict]]:
    """The arguments of each module's first call, by qualified name, for tracing it on its
    own (tensors cloned: in-place layers later change what they were). Layers the language
    knows are not recorded: they are never traced."""
    import torch

    from archspec.tools.importer.mapping import layer_ops

    known = layer_ops()
    seen: dict[str, tuple[tuple, dict]] = {"": (inputs, {})}
    handles = []

    def clone(value):
        if isinstance(value, torch.Tensor):
            return value.detach().clone()
        if isinstance(value, (list, tuple)):
            return type(value)(clone(v) for v in value)
        return value

    def hook_for(name: str):
        def hook(module, args, kwargs):
            if name not in seen:
                seen[name] = (clone(tuple(args)), clone(dict(kwargs)))

        return hook

    for name, module in root.named_modules():
        if name and type(module) not in known:
            handles.append(module.register_forward_pre_hook(hook_for(name), with_kwargs=True))
    try:
        with torch.no_grad():
            root(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen
