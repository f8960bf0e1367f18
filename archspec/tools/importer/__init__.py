"""`archspec import`: an existing PyTorch model -> a readable, checkable .arch spec.

    text = from_module(torchvision.models.resnet50(), (torch.randn(2, 3, 224, 224),))

Each module of a class the language knows (the op registry) becomes that layer with the
arguments that differ from torch's defaults; a plain Sequential, ModuleList or ModuleDict stays
one; any other module is traced by torch.fx on its own (trace.py), and instances of one class
and structure share a parametrized block (blocks.py). Module names are kept, so the compiled
spec loads the original's state_dict. What cannot be written is listed with its Python source
location (ImportFailure); with extern_unsupported=True the smallest module holding it becomes an
`extern` with the shapes seen while tracing. Imports torch: never on the check path.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from archspec.tools.importer.units import Problem

__all__ = ["ImportFailure", "Imported", "from_module", "import_factory", "import_module"]


class ImportFailure(Exception):
    """The model holds something the language cannot write; `problems` lists each, with its
    Python source location."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} part(s) of the model cannot be written as a spec")
        self.problems = problems


@dataclass
class Imported:
    """An imported spec: its text and the modules that became externs (with why)."""

    text: str
    model_name: str
    externs: list[tuple[str, str]] = field(default_factory=list)  # (module path, reason)
    unbuildable: list[str] = field(default_factory=list)  # externs whose arguments are unknown


def from_module(module, example_inputs, *, extern_unsupported: bool = False) -> str:
    """The spec text of `module`, traced on `example_inputs` (a tensor or a tuple of them;
    dim 0 is the batch, written N). Raises ImportFailure listing what cannot be written, unless
    extern_unsupported."""
    return import_module(module, example_inputs, extern_unsupported=extern_unsupported).text


def import_module(
    module, example_inputs, *, extern_unsupported: bool = False, constructions=None
) -> Imported:
    import torch

    from archspec.tools.importer import blocks, trace
    from archspec.tools.importer.context import Context
    from archspec.tools.importer.writer import write_spec

    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    batch = inputs[0].shape[0] if inputs and isinstance(inputs[0], torch.Tensor) else 1
    # Shapes are all the import needs of a run: on the meta device it costs no arithmetic.
    work, work_inputs, made = _meta_copy(module, inputs, constructions or {})
    observed, first_inputs = _observe(work, work_inputs)
    if observed is None:  # a module that cannot run on meta tensors: a real (eval) run
        work, work_inputs, made = module, inputs, constructions or {}
        was_training = module.training
        module.eval()
        try:
            observed, first_inputs = _observe(work, work_inputs)
        finally:
            module.train(was_training)
        if observed is None:
            raise ImportFailure([Problem("", "the model does not run on the example inputs")])
    context = Context(work, observed, first_inputs, made, batch, extern_unsupported)
    root = trace.unit_of(work, "", context)
    if context.problems:
        raise ImportFailure(context.problems)
    groups = blocks.group_units(root)
    text = write_spec(groups, context)
    externs = [(u.path, u.extern.reason) for u in context.externs]
    externs += [(p.module, p.what) for p in context.omitted]
    unbuildable = [
        u.path for u in context.externs if u.extern.arguments is None or u.extern.dropped
    ]
    return Imported(text, root.group.name, externs, unbuildable)


def _meta_copy(module, inputs: tuple, constructions: dict):
    """An eval-mode copy of the model on the meta device, its inputs there too, and the
    recorded constructions keyed by the copy's modules."""
    import copy

    import torch

    try:
        work = copy.deepcopy(module).to("meta").eval()
    except Exception:  # noqa: BLE001 - some modules do not copy; the real one is used
        return module, inputs, constructions
    made = {}
    for (_, original), (_, twin) in zip(module.named_modules(), work.named_modules(), strict=True):
        if id(original) in constructions:
            made[id(twin)] = constructions[id(original)]
    moved = tuple(x.to("meta") if isinstance(x, torch.Tensor) else x for x in inputs)
    return work, moved, made


def _observe(module, inputs: tuple):
    from archspec.tools.importer import capture

    try:
        observed = capture.observe(module, inputs)
        first = _first_inputs(module, inputs)
    except Exception:  # noqa: BLE001 - reported by the caller
        return None, None
    if len(observed) < len(dict(module.named_modules())):
        # Modules eval mode never calls (an auxiliary head): seen in a training-mode run.
        was_training = module.training
        try:
            module.train()
            for name, seen in capture.observe(module, inputs).items():
                observed.setdefault(name, seen)
            for name, seen in _first_inputs(module, inputs).items():
                first.setdefault(name, seen)
        except Exception:  # noqa: BLE001 - they stay unseen: an extern without a contract
            pass
        finally:
            module.train(was_training)
    return observed, first


def _first_inputs(root, inputs: tuple) -> dict[str, tuple[tuple, dict]]:
    from archspec.tools.importer.capture import first_calls

    return first_calls(root, inputs)


def load_factory(reference: str):
    """`package.module:factory` (a class or a function) -> the callable."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected MODULE:FACTORY, got {reference!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def import_factory(
    reference: str,
    kwargs: dict | str | None = None,
    inputs: dict[str, tuple] | None = None,
    *,
    extern_unsupported: bool = False,
    batch: int = 2,
) -> Imported:
    """Build `MODULE:FACTORY(**kwargs)` (recording each module's constructor arguments, so an
    extern rebuilds exactly) and import it; `inputs` maps input names to shapes whose first
    size is the batch (None or "N": `batch`). Defaults to one image input x: [N, 3, 224, 224]."""
    import torch

    from archspec.tools.importer.capture import recording_constructions

    factory = load_factory(reference)
    arguments = json.loads(kwargs) if isinstance(kwargs, str) else dict(kwargs or {})
    with recording_constructions() as constructions:
        module = factory(**arguments)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{reference} returned {type(module).__name__}, not an nn.Module")
    shapes = inputs or {"x": ("N", 3, 224, 224)}
    generator = torch.Generator().manual_seed(0)
    example = tuple(
        torch.randn(*[batch if s in (None, "N") else int(s) for s in shape], generator=generator)
        for shape in shapes.values()
    )
    imported = import_module(
        module, example, extern_unsupported=extern_unsupported, constructions=constructions
    )
    return _renamed_inputs(imported, list(shapes))


def _renamed_inputs(imported: Imported, names: list[str]) -> Imported:
    return imported  # inputs keep the names of forward's parameters, as torch has them
