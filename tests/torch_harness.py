"""Running compiled specs in torch and recording every node's real output shape.

Layer nodes are observed with forward hooks on their modules; function nodes (F.relu, torch.cat,
`a + b`, `x.view(...)`) with a TorchFunctionMode that records the tensors returned by calls written
in the generated source itself (found by the calling frame's file name). Both arrive in execution
order, which is the graph's creation order, so they pair with graph nodes one to one.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

import archspec
from archspec.api import _import_source
from archspec.core.dims import Sym, evaluate
from archspec.outputs.codegen import generate_module

BATCH = 2  # the batch of drawn cases and of observed runs
# Hypothesis draws per op in the per-op differential tests.
EXAMPLES = int(os.environ.get("ARCHSPEC_TORCH_EXAMPLES", "50"))
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    """One drawn application of an op, as tests/test_ops_torch.py's Case (which runs the
    generators of tests/test_multi_output.py and tests/test_sequence_layers.py too): arguments by
    name, exactly as torch receives them, the input shapes, the parameters archspec gets as `?`,
    and the inputs' dtypes (empty: all float32; int64 ids for Embedding)."""

    args: dict
    inputs: list
    infer: tuple = ()
    dtypes: list = field(default_factory=list)


def write_spec(tmp_path, text: str) -> Path:
    """`text`, dedented, as tmp_path/spec.arch."""
    path = tmp_path / "spec.arch"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def docs_example(heading: str) -> str:
    """The first ```arch block under `## heading` in docs/language.md."""
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1]
    return section.split("```arch\n", 1)[1].split("```", 1)[0]


def torch_disagreements(path) -> list[str]:
    """Compile the spec at `path`, run it once in torch (eval) and compare every node's shape."""
    model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    return shape_disagreements(checked, real)


def smallest_sizes(checked) -> dict[str, int]:
    """For a symbolic input, the smallest accepted sizes (cheap to run); else {}."""
    report = checked.sizes
    if report is None:
        return {}
    if report.product:
        return {name: values[0] for name, values in report.accepted.items()}
    return dict(zip(report.names, min(report.points)))


def expected(shape, batch: int = 2, sizes: dict[str, int] | None = None) -> tuple[int, ...]:
    """A static shape in numbers: input sizes from `sizes`, every other symbol (N) = batch."""
    sizes = sizes or {}
    out = []
    for dim in shape:
        if isinstance(dim, Sym):
            out.append(evaluate(dim, {n: sizes.get(n, batch) for n in dim.symbols()}))
        else:
            out.append(dim)
    return tuple(out)


concrete = expected


class _Recorder(TorchFunctionMode):
    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename
        self.records: list[tuple[str, tuple[int, ...]]] = []
        self.dtypes: list[str] = []  # each record's dtype, as archspec names it ("int64")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        # x.chunk(...) returns several tensors: one graph node each, in order.
        tensors = _tensors(result)
        if tensors and self._called_from_generated():
            name = getattr(func, "__name__", str(func))
            self.records.extend((name, tuple(tensor.shape)) for tensor in tensors)
            self.dtypes.extend(_dtype_name(tensor) for tensor in tensors)
        return result

    def _called_from_generated(self) -> bool:
        """True when the first frame outside torch's dispatch wrappers is the generated code
        (so calls made inside nn.Module.forward of torch's own layers are not counted)."""
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.endswith(_WRAPPERS):
            frame = frame.f_back
        return frame is not None and frame.f_code.co_filename == self.filename


def _tensors(result) -> list:
    """The tensors a call returned: one, several (chunk, MultiheadAttention; LSTM's nested
    (out, (h_n, c_n)) in order), or none."""
    if isinstance(result, torch.Tensor):
        return [result]
    if not isinstance(result, (tuple, list)) or not result:
        return []
    flat = [t for item in result for t in (item if isinstance(item, (tuple, list)) else (item,))]
    return flat if all(isinstance(item, torch.Tensor) for item in flat) else []


def _module_outputs(result) -> list:
    """A module's outputs, as its graph nodes pair with them: `_tensors`, but a tuple of tensors
    and None (MultiheadAttention's `(attn_output, None)` with need_weights=False) keeps the None
    in its place."""
    if (
        isinstance(result, tuple)
        and any(isinstance(item, torch.Tensor) for item in result)
        and all(item is None or isinstance(item, torch.Tensor) for item in result)
    ):
        return list(result)
    return _tensors(result)


_WRAPPERS = (
    "torch/overrides.py",
    "torch/nn/functional.py",
    "torch/functional.py",
    "torch/_tensor.py",
    "torch/_jit_internal.py",
)


def build_checked(path: str, **model_args):
    """(module, checked model, filename of its generated source)."""
    result = archspec.load(path, **model_args)
    generated = generate_module(result)
    module = _import_source(generated.source, result.path)
    checked = result.model()
    instance = getattr(module, generated.classes[checked.name])()
    return instance, checked, module.__file__


def _dtype_name(tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def random_input(shape, dtype: str = "float32"):
    """A random input of a declared dtype: normal floats, integers 0..2 (valid row indices of
    any table of 3 rows or more), or random bools."""
    if dtype == "bool":
        return torch.rand(*shape) < 0.5
    if dtype.startswith("int"):
        return torch.randint(0, 3, shape, dtype=getattr(torch, dtype))
    return torch.randn(*shape).to(getattr(torch, dtype))


def observed_shapes(
    model, checked, filename, batch: int = 2, seed: int = 0, sizes=None, training: bool = False
):
    """Run one random input (a symbolic one at `sizes`, default the smallest accepted), in eval
    mode or `training`; return ({node id: real shape}, output). Nodes of the other mode only
    (`if training { ... }`) do not run, and get no shape."""
    real, _, output = observed(model, checked, filename, batch, seed, sizes, training)
    return real, output


def observed(
    model,
    checked,
    filename,
    batch: int = 2,
    seed: int = 0,
    sizes=None,
    training: bool = False,
    inputs=None,
):
    """observed_shapes, with each node's real dtype too: (shapes, dtypes, output). `inputs`: the
    tensors to run, one per model input in order, where random ones will not do (masks)."""
    graph = checked.graph
    torch.manual_seed(seed)
    sizes = smallest_sizes(checked) if sizes is None else sizes
    if inputs is None:
        inputs = [
            random_input(
                concrete(graph.node(i).declared_shape, batch, sizes), graph.node(i).declared_dtype
            )
            for i in graph.inputs
        ]
    dtypes: dict[str, str] = {}
    per_module: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    handles = []
    for path, submodule in model.named_modules():
        if path:
            handles.append(
                submodule.register_forward_hook(
                    lambda m, a, out, path=path: per_module[path].extend(
                        (tuple(tensor.shape), _dtype_name(tensor))
                        if tensor is not None
                        else (None, None)  # an output torch returns as None
                        for tensor in _module_outputs(out)
                    )
                )
            )
    recorder = _Recorder(filename)
    model.train(training)
    skipped = "eval" if training else "train"
    try:
        with torch.no_grad(), recorder:
            output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    real: dict[str, tuple[int, ...]] = {}
    seen: dict[str, int] = defaultdict(int)
    functions = iter(zip(recorder.records, recorder.dtypes))
    for node in graph.nodes():
        if node.kind != "op" or node.mode == skipped or node.built_for is not None:
            continue  # built_for: computed in __init__, before forward
        if node.module is not None:
            index = seen[node.module]
            seen[node.module] += 1
            real[node.id], dtypes[node.id] = per_module[node.module][index]
        else:
            (name, shape), dtypes[node.id] = next(functions)
            real[node.id] = shape
    leftover = list(functions)
    assert not leftover, f"torch ran function calls the graph does not have: {leftover}"
    return real, dtypes, output


def shape_disagreements(checked, real, batch: int = 2, sizes=None) -> list[str]:
    problems = []
    sizes = smallest_sizes(checked) if sizes is None else sizes
    for node in checked.graph.nodes():
        if node.kind != "op" or node.id not in real:
            continue
        shape = checked.inference.shapes.get(node.id)  # None: archspec says torch returns None
        static = None if shape is None else expected(shape, batch, sizes)
        if real[node.id] != static:
            problems.append(f"{node.id}: archspec {static}, torch {real[node.id]}")
    return problems
