"""A built model as an ONNX file, through torch's own exporter, with a dynamic batch axis.

Imports torch (and, through torch.onnx, onnx and onnxscript: the `onnx` extra) when called, so
the check path never loads it. The example inputs are random tensors at the spec's sizes (a
symbolic size at the one summaries count at, `archspec sizes`) and a batch of 2; dim 0 of every
input is then exported as a symbolic `batch`, as torchvision's own ONNX recipe does.
"""

from __future__ import annotations

from typing import Any

from archspec.core.dims import Sym, evaluate
from archspec.shapes.costs import report_sizes

BATCH = 2  # the example batch: 1 would let the exporter specialise the batch to a constant


class OnnxExportError(Exception):
    """The model could not be exported (the message says why, in one line)."""


def example_inputs(checked: Any, batch: int = BATCH) -> list:
    """One random tensor per model input, in order: sizes from the spec, N = `batch`; ids
    (integer inputs) in 0..2, valid rows of any embedding table."""
    import torch

    sizes, _ = report_sizes(checked)
    graph = checked.graph
    tensors = []
    generator = torch.Generator().manual_seed(0)
    for input_id in graph.inputs:
        node = graph.node(input_id)
        shape = []
        for dim in node.declared_shape:  # the batch (and any symbol not an input size): N
            values = (
                {name: sizes.get(name, batch) for name in dim.symbols()}
                if isinstance(dim, Sym)
                else {}
            )
            shape.append(int(evaluate(dim, values)))
        dtype = getattr(torch, node.declared_dtype)
        if node.declared_dtype == "bool":
            tensors.append(torch.rand(*shape, generator=generator) < 0.5)
        elif dtype.is_floating_point:
            tensors.append(torch.randn(*shape, generator=generator).to(dtype))
        else:
            tensors.append(torch.randint(0, 3, shape, generator=generator, dtype=dtype))
    return tensors


def dynamic_batch(checked: Any) -> tuple:
    """torch.export's dynamic_shapes: the batch dims of each input as one shared `batch` (a
    size written as a plain symbol that is no input size, N in `[S, N, 512]`); an input of a
    stated batch (`[1, 1, 28, 28]`) keeps it."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    graph = checked.graph
    shapes = []
    for input_id in graph.inputs:
        dims = {}
        for index, dim in enumerate(graph.node(input_id).declared_shape):
            names = dim.symbols() if isinstance(dim, Sym) else ()
            if len(names) == 1 and next(iter(names)) not in graph.size_symbols:
                if dim.terms == Sym.named(next(iter(names))).terms:
                    dims[index] = batch
        shapes.append(dims or None)
    return tuple(shapes)


def export(module: Any, checked: Any, path: str, batch: int = BATCH) -> None:
    """Write `module` (built from `checked`) to `path` as ONNX: eval mode, torch's dynamo-based
    exporter, dim 0 of every input dynamic."""
    import torch

    try:
        import onnxscript  # noqa: F401 - torch.onnx.export(dynamo=True) needs it
    except ImportError as error:
        raise OnnxExportError(
            f"ONNX export needs the onnx extra ({error.name} is missing): "
            "pip install 'archspec-nn[onnx]'"
        ) from None
    inputs = tuple(example_inputs(checked, batch))
    names = [checked.graph.node(i).name for i in checked.graph.inputs]
    dynamic = dynamic_batch(checked)
    module.eval()
    try:
        program = torch.onnx.export(
            module,
            inputs,
            dynamic_shapes=dynamic,
            input_names=names,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        program.save(path)
    except Exception as error:  # the exporter's own errors are many and long: its first line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OnnxExportError(f"torch.onnx.export failed: {first}") from error
