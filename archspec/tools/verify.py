"""Externs at run time: importing what a spec's `extern`s name, checking that the built modules
are modules, and running each one on example inputs to compare what it returns with its contract
(`archspec verify`, `archspec.build(..., verify=True)`).

The checker trusts a contract; this is where it is tested. Findings are diagnostics at the
extern's declaration (the contract's output shape), with the expected and the actual shape. torch
and the user's packages are imported here only, inside the functions: importing this module
imports neither.
"""

from __future__ import annotations

import copy
import importlib
from typing import TYPE_CHECKING, Any

from archspec.core import diagnostic as diag
from archspec.core.dims import format_shape
from archspec.core.records import record
from archspec.core.source import Span
from archspec.elaborate.state import EXTERN
from archspec.elaborate.values import python_objects
from archspec.shapes.costs import count_at, report_sizes

if TYPE_CHECKING:
    from archspec.driver import CheckedModel, CheckResult

META_BATCH = 2  # the batch dims (symbols without a range) of the inputs on the meta device
CPU_BATCH = 1  # and of the small tensors on the CPU, where meta fails


@record(frozen=True)
class ExternSite:
    """One Python object a spec names: a module's class or factory, or an initial value's
    function."""

    target: str  # "mypkg.layers:SqueezeExcite"
    module: str
    attribute: str
    span: Span  # the target string
    kind: str  # "layer": makes an nn.Module; "init": returns a tensor; "call", "object": a value


def extern_sites(result: CheckResult) -> list[ExternSite]:
    """Every distinct extern the checked models use, in order of first use."""
    sites: dict[str, ExternSite] = {}
    values: list[Any] = []  # the modules' arguments, for the extern values among them
    for checked in result.models:
        for module in checked.graph.root.walk():
            info = module.op.extern if module.kind == "layer" and module.op is not None else None
            if info is not None:
                span = info.target_span
                site = ExternSite(info.target, info.module, info.attribute, span, "layer")
                sites.setdefault(info.target, site)
            for state in module.state.values():
                if state.init == EXTERN:
                    args = state.init_args
                    site = ExternSite(args["target"], args["module"], args["attribute"],
                                      state.span, "init")  # fmt: skip
                    sites.setdefault(args["target"], site)
        values.extend(checked.graph.argument_values())
    for value in python_objects(values):
        kind = "call" if value.called else "object"
        site = ExternSite(value.target, value.module, value.attribute, value.span, kind)
        sites.setdefault(value.target, site)
    return list(sites.values())


def resolve(site: ExternSite) -> Any:
    """The Python object a site names (ImportError / AttributeError as Python raises them)."""
    value = importlib.import_module(site.module)
    for part in site.attribute.split("."):
        value = getattr(value, part)
    return value


def import_externs(result: CheckResult) -> list[diag.Diagnostic]:
    """Import every extern the models use: E106 where an import fails, E108 where a module's
    target is a class that is no nn.Module, or a target cannot be called."""
    import torch.nn as nn

    found = []
    for site in extern_sites(result):
        try:
            value = resolve(site)
        except Exception as error:  # the user's module may raise anything while importing
            found.append(
                diag.make(
                    "E106",
                    f"cannot import the extern '{site.target}': {type(error).__name__}: {error}",
                    site.span,
                    "not importable",
                    help=f"install the package that provides {site.module}, or put its folder "
                    "on PYTHONPATH (sys.path)",
                )
            )
            continue
        layer = site.kind == "layer"
        not_module = layer and isinstance(value, type) and not issubclass(value, nn.Module)
        if not_module or (site.kind != "object" and not callable(value)):
            kind = f"a {type(value).__name__} object"
            what = f"the class {value.__name__}" if isinstance(value, type) else kind
            needed = {
                "layer": "an nn.Module class or a function that returns one",
                "init": "a function that returns a tensor",
                "call": "something to call",
            }[site.kind]
            found.append(
                diag.make(
                    "E108",
                    f"the extern '{site.target}' is {what}, not {needed}",
                    site.span,
                    "not an nn.Module" if layer else "not callable",
                    help="point the extern at a subclass of torch.nn.Module"
                    if layer
                    else "point the extern at a function or class",
                )
            )
    return found


def built_problems(model: Any, checked: CheckedModel) -> list[diag.Diagnostic]:
    """E108 for each extern layer of a built model that is no nn.Module (a factory returned
    something else)."""
    import torch.nn as nn

    found = []
    for module in checked.graph.root.walk():
        info = module.op.extern if module.kind == "layer" and module.op is not None else None
        if info is None:
            continue
        value = _attribute_path(model, module.path)
        if not isinstance(value, nn.Module):
            found.append(
                diag.make(
                    "E108",
                    f"the extern '{info.target}' built '{module.path}' as "
                    f"{type(value).__name__}, not an nn.Module",
                    info.target_span,
                    "not an nn.Module",
                    secondary=[(module.span, "built here")],
                    help="a factory must return a torch.nn.Module",
                )
            )
    return found


def _attribute_path(model: Any, path: str) -> Any:
    value = model
    for part in path.split("."):  # Sequential and ModuleList children too: "layer1.0"
        value = getattr(value, part)
    return value


def verify_model(model: Any, checked: CheckedModel) -> list[diag.Diagnostic]:
    """Run each extern layer of a built model once, on example inputs at the spec's sizes (on
    the meta device first, on small CPU tensors where that fails), and compare each output's
    shape and dtype with the contract; compare each extern initial value with its declared shape
    and dtype. One finding per output that breaks its contract."""
    import torch

    sizes = report_sizes(checked)[0]
    found = []
    seen: set[str] = set()
    graph, inference = checked.graph, checked.inference
    for node in graph.nodes():
        info = node.op.extern if node.kind == "op" and node.op is not None else None
        if info is None or node.module in seen or node.output != 0:
            continue
        if any(source not in inference.shapes for source in node.inputs):
            continue
        seen.add(node.module)
        outputs = [n for n in graph.nodes() if n.group == node.id] if node.group else [node]
        layer = _attribute_path(model, node.module)
        with torch.no_grad():
            actual, batch, failure = _run(layer, inference, node, sizes)
        inputs = ", ".join(
            format_shape([count_at(d, batch, sizes) for d in inference.shapes[source]])
            for source in node.inputs
        )
        where = f"run on {inputs} ({'the CPU' if batch == CPU_BATCH else 'the meta device'})"
        if failure is not None:
            found.append(_failed(info, node, failure, where))
            continue
        results = list(actual) if isinstance(actual, (tuple, list)) else [actual]
        if len(results) != len(outputs) or not all(torch.is_tensor(r) for r in results):
            what = (
                f"{len(results)} values"
                if isinstance(actual, (tuple, list))
                else (type(actual).__name__)
            )
            found.append(_broken(info, node, 0, f"{len(outputs)} tensor(s)", what, where))
            continue
        for index, (result, output) in enumerate(zip(results, outputs)):
            expected = [count_at(d, batch, sizes) for d in inference.shapes[output.id]]
            shown = f"{format_shape(inference.shapes[output.id])} = {format_shape(expected)}"
            got = list(result.shape)
            dtype = str(result.dtype).removeprefix("torch.")
            stated = inference.dtype(output.id)
            if got != expected:
                found.append(_broken(info, node, index, shown, format_shape(got), where))
            elif dtype != stated:
                found.append(_broken(info, node, index, stated, dtype, where))
    found.extend(_state_problems(model, checked))
    return found


def _run(layer: Any, inference, node, sizes) -> tuple[Any, int, str | None]:
    """(the outputs, the batch used, None) or (None, batch, why it failed on the CPU too)."""

    for device, batch in (("meta", META_BATCH), ("cpu", CPU_BATCH)):
        try:
            module = copy.deepcopy(layer).to("meta") if device == "meta" else layer
            module.eval()
            inputs = [_example(inference, source, batch, sizes, device) for source in node.inputs]
            return module(*inputs), batch, None
        except Exception as error:  # the user's module may raise anything
            failure = f"{type(error).__name__}: {error}"
            if device == "cpu":
                return None, batch, failure
    raise AssertionError("unreachable")  # pragma: no cover


def _example(inference, source: str, batch: int, sizes, device: str):
    import torch

    shape = [count_at(d, batch, sizes) for d in inference.shapes[source]]
    dtype = getattr(torch, inference.dtype(source))
    if device == "meta":
        return torch.empty(shape, dtype=dtype, device="meta")
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)  # valid indices for any table


def _broken(info, node, index: int, expected: str, actual: str, where: str) -> diag.Diagnostic:
    which = f"output {index}" if len(info.outputs) > 1 else "its output"
    return diag.make(
        "E207",
        f"{info.name} breaks its contract: {which} is {actual}, but the contract says {expected}",
        info.outputs[min(index, len(info.outputs) - 1)],
        f"actual {actual}",
        secondary=[(node.span, f"run as '{node.module}' here")],
        notes=[f"the contract: {info.contract}", f"the Python object: {info.target}", where],
        help="correct the contract to what the module returns, or the module",
    )


def _failed(info, node, failure: str, where: str) -> diag.Diagnostic:
    return diag.make(
        "E207",
        f"{info.name} fails on inputs its contract accepts: {failure}",
        info.span,
        "raised",
        secondary=[(node.span, f"run as '{node.module}' here")],
        notes=[f"the contract: {info.contract}", f"the Python object: {info.target}", where],
        help="correct the contract's input shapes to what the module takes, or the module",
    )


def _state_problems(model: Any, checked: CheckedModel) -> list[diag.Diagnostic]:
    """Each extern initial value as built, against its declared shape and dtype."""
    found = []
    for module in checked.graph.root.walk():
        for state in module.state.values():
            if state.init != EXTERN:
                continue
            owner = _attribute_path(model, module.path) if module.path else model
            value = getattr(owner, state.name)
            shape = list(getattr(value, "shape", ()))
            dtype = str(getattr(value, "dtype", "")).removeprefix("torch.")
            if shape != list(state.shape) or dtype != state.dtype:
                target = state.init_args["target"]
                found.append(
                    diag.make(
                        "E207",
                        f"'{target}' returned {format_shape(shape)} {dtype} for "
                        f"'{state.name}', but it is declared {format_shape(state.shape)} "
                        f"{state.dtype}",
                        state.span,
                        f"actual {format_shape(shape)} {dtype}",
                        help="correct the declared shape, or the function",
                    )
                )
    return found
