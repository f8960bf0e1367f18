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


@contextlib.contextmanager
def recording_constructions() -> Iterator[dict[int, Construction]]:
    """Within the block, every nn.Module created records its constructor arguments, keyed by
    id(module) (the record keeps the modules alive, so the ids stay theirs). nn.Module.__init__
    is lent a wrapper that reads the arguments off the most derived class's __init__ frame."""
    import torch

    records: dict[int, Construction] = {}
    keep: list[Any] = []
    original = torch.nn.Module.__init__

    def recording_init(self, *args, **kwargs):
        arguments = _constructor_frame_arguments(self)
        if arguments is not None:
            records[id(self)] = Construction((), arguments)
            keep.append(self)
        original(self, *args, **kwargs)

    torch.nn.Module.__init__ = recording_init
    try:
        yield records
    finally:
        torch.nn.Module.__init__ = original


def _constructor_frame_arguments(module) -> dict[str, Any] | None:
    code = getattr(type(module).__init__, "__code__", None)
    frame = sys._getframe(2)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    if frame is None:
        return None
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
