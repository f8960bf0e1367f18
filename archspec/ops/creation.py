"""Ops that make tensors from numbers and sizes, with no tensor input: `arange`, `zeros`, `ones`,
`full` (torch.arange, torch.zeros, torch.ones, torch.full); `meshgrid` (torch.meshgrid), which
makes one grid per input; and the dtype conversions `float()`, `long()`, ..., `to(dtype)`
(Tensor.float, Tensor.to).

Sizes may be symbols of an input's shape (`arange(H)`, `zeros(H, W)`). A creation op's dtype is
torch's: `arange` of integers is int64, of any float float32; `zeros`/`ones` float32; `full` the
fill value's kind (int64, bool, float32); `dtype=` overrides each. Generated code creates on the
device of a tensor the forward already holds (`torch.arange(7, device=x.device)`). archspec
builds no empty tensors: a size that comes out 0 is E203. Nothing here counts MACs.

(`zeros()`, `ones()` and `full(fill_value)` are also initial values of `param` and `buffer`
statements, archspec/elaborate/state.py; there the initializer is meant, and the shape is the
declaration's.)
"""

from __future__ import annotations

import math
from typing import Any

from archspec.core import dtypes as dt
from archspec.core.dims import Sym, format_dim, format_shape
from archspec.ops.base import (
    ONE_PER_INPUT,
    ArgError,
    Emission,
    OpSpec,
    Param,
    RuleContext,
    show_value,
)
from archspec.ops.dtype_rules import same_kind
from archspec.ops.registry import register
from archspec.ops.reshape import unnested
from archspec.ops.value_ranges import BOOLEAN, ValueRange, number_range


def dtype_value(name: str, value: Any) -> dt.DType:
    """A dtype argument: one of the dtype names, unquoted (`dtype=int64`)."""
    if isinstance(value, dt.DType):
        return value
    known = ", ".join(dt.DTYPES)
    if isinstance(value, str) and value in dt.DTYPES:
        raise ArgError(
            f"{name} must be a dtype, got the string {value!r}",
            help=f"write the name without quotes: {name}={value}",
        )
    raise ArgError(f"{name} must be a dtype ({known}), got {show_value(value)}")


def _optional_dtype(name: str, value: Any) -> dt.DType | None:
    return None if value is None else dtype_value(name, value)


def _bound(name: str, value: Any) -> Any:
    """An arange bound or step: a number or a symbolic size."""
    if isinstance(value, Sym) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise ArgError(f"{name} must be a number or a size, got {show_value(value)}")


def _sizes(name: str, value: Any) -> tuple:
    """zeros(2, 3), zeros((2, 3)): positive ints or symbolic sizes."""
    value = unnested(value)
    if not isinstance(value, (tuple, list)) or not value:
        raise ArgError(
            f"{name} must give at least one size, got {show_value(value)}",
            help="archspec builds no 0-d tensors here: write e.g. zeros(1)",
        )
    for size in value:
        if isinstance(size, Sym):
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ArgError(
                f"{name} entries must be positive integers or sizes, got {show_value(size)}",
                help="archspec builds no empty tensors",
            )
    return tuple(value)


def _fill(name: str, value: Any) -> Any:
    if isinstance(value, (int, float)):  # bool too: a mask of True
        return value
    raise ArgError(f"{name} must be a number, got {show_value(value)}")


def _emit(e: Emission, head: str, parts: list[str]) -> str:
    if "dtype" in e.args:
        parts.append(f"dtype={e.args['dtype']}")
    if e.device is not None:
        parts.append(f"device={e.device}")
    return f"{head}({', '.join(parts)})"


# ---------------------------------------------------------------- arange


def _arange_bounds(ctx: RuleContext) -> tuple[Any, Any, Any]:
    start, end, step = ctx["start"], ctx["end"], ctx["step"]
    return (0, start, step) if end is None else (start, end, step)


def _arange_rule(ctx: RuleContext):
    """torch.arange: ⌈(end − start) / step⌉ values."""
    start, end, step = _arange_bounds(ctx)
    if step == 0:
        ctx.fail("E105", "arange step must not be 0", arg="step")
    symbolic = any(isinstance(v, Sym) for v in (start, end, step))
    if symbolic and not all(isinstance(v, (int, Sym)) for v in (start, end, step)):
        ctx.fail(
            "E210",
            f"arange({show_value(start)}, {show_value(end)}, {show_value(step)}) mixes a "
            "symbolic size with a float",
            arg="end" if ctx["end"] is not None else "start",
            help="give sizes with integer bounds and steps, or numbers",
        )
    if isinstance(step, Sym):
        ctx.fail(
            "E210",
            f"arange step {step} is a symbolic size: how many values it makes is no size",
            arg="step",
            help="step by a number",
        )
    size = _arange_count(start, end, step)
    if size < 1:
        ctx.fail(
            "E203",
            f"arange({show_value(start)}, {show_value(end)}, {show_value(step)}) is empty: "
            f"⌈({format_dim(end)} − {format_dim(start)}) / {show_value(step)}⌉ = "
            f"{format_dim(size)}",
            arg="end" if ctx["end"] is not None else "start",
            help="archspec builds no empty tensors: make end lie beyond start in the "
            "direction of step",
        )
    return (size,)


def _arange_count(start, end, step):
    """⌈(end − start) / step⌉, 0 when negative; exact for symbolic bounds (int steps)."""
    if any(isinstance(v, Sym) for v in (start, end)):
        span = end - start
        return (span + step - 1) // step if step > 0 else (-span - step - 1) // -step
    return max(math.ceil((end - start) / step), 0)


def _arange_values(ctx: RuleContext) -> ValueRange | None:
    """start, start + step, ... up to the last of ⌈(end − start) / step⌉ values: arange(L) holds
    0..L − 1. Integer bounds only (a float arange is float32, no index)."""
    start, end, step = _arange_bounds(ctx)
    if not all(isinstance(v, Sym) or type(v) is int for v in (start, end, step)):
        return None
    last = start + (_arange_count(start, end, step) - 1) * step
    written = [start, end, step] if step != 1 else [end] if ctx["end"] is None else [start, end]
    origin = f"arange({', '.join(map(show_value, written))})"
    return ValueRange(start, last, origin) if step > 0 else ValueRange(last, start, origin)


def _arange_dtype(ctx: RuleContext) -> str:
    if ctx["dtype"] is not None and ctx["dtype"].name == dt.BOOL:
        ctx.fail(  # torch has no bool kernel of arange ("arange_cpu" not implemented for 'Bool')
            "E105",
            "arange cannot make bool values: torch.arange refuses dtype=bool",
            arg="dtype",
            help="make the numbers, then compare them: `arange(5) < 3`, or `-> bool()`",
        )
    if ctx["dtype"] is not None:
        return ctx["dtype"].name
    integral = all(isinstance(v, (int, Sym)) for v in _arange_bounds(ctx))
    return dt.INT64 if integral else dt.FLOAT32


def _arange_emit(e: Emission) -> str:
    parts = [e.args["start"]]
    if "end" in e.args:
        parts.append(e.args["end"])
    if "step" in e.args:
        if "end" not in e.args:
            parts.insert(0, "0")
        parts.append(e.args["step"])
    return _emit(e, "torch.arange", parts)


register(
    OpSpec(
        name="arange",
        torch="torch.arange",
        # torch.arange(end) and torch.arange(start, end, step): one positional is the end.
        params=(
            Param("start", check=_bound),
            Param("end", None, check=lambda n, v: None if v is None else _bound(n, v)),
            Param("step", 1, check=_bound),
            Param("dtype", None, check=_optional_dtype, keyword_only=True),
        ),
        rule=_arange_rule,
        kind="function",
        summary="the numbers start, start + step, ... below end (int64 for integers)",
        dtype=_arange_dtype,
        values=_arange_values,
        emit=_arange_emit,
    )
)


# ---------------------------------------------------------------- zeros, ones, full


def _sized_rule(ctx: RuleContext):
    return tuple(ctx["size"])


def _constant_values(ctx: RuleContext) -> ValueRange | None:
    """zeros, ones and full hold one value (a float one is no index: unknown)."""
    if ctx.op.name == "full":
        value = ctx["fill_value"]
        number = int(value) if type(value) is bool else value  # full(..., True): 1
        return number_range(number, f"full(..., {show_value(value)})")
    return number_range(int(ctx.op.name == "ones"), f"{ctx.op.name}(...)")


def _constant_dtype(ctx: RuleContext) -> str:
    if ctx["dtype"] is not None:
        return ctx["dtype"].name
    if ctx.op.name != "full":
        return dt.FLOAT32
    return dt.result_type([ctx["fill_value"]])  # torch.full((2,), 3) is int64


for _name, _value in (("zeros", "0"), ("ones", "1")):
    register(
        OpSpec(
            name=_name,
            torch=f"torch.{_name}",
            params=(
                Param("size", check=_sizes, variadic=True),
                Param("dtype", None, check=_optional_dtype, keyword_only=True),
            ),
            rule=_sized_rule,
            kind="function",
            summary=f"a tensor of {_value}s (float32 unless dtype= says otherwise)",
            dtype=_constant_dtype,
            values=_constant_values,
            emit=lambda e, name=_name: _emit(e, f"torch.{name}", [e.args["size"]]),
        )
    )


def _full_size(name: str, value: Any) -> tuple:
    """torch.full's size is a tuple (or list), even of one size: `full((4,), 0.5)`."""
    if not isinstance(value, (tuple, list)):
        raise ArgError(
            f"{name} must be a tuple of sizes, got {show_value(value)}",
            help=f"write full(({show_value(value)},), ...): torch.full takes its size as a tuple",
        )
    return _sizes(name, tuple(value))


register(
    OpSpec(
        name="full",
        torch="torch.full",
        params=(
            Param("size", check=_full_size),
            Param("fill_value", check=_fill),
            Param("dtype", None, check=_optional_dtype, keyword_only=True),
        ),
        rule=_sized_rule,
        kind="function",
        summary="a tensor of one value (its dtype the value's kind: int64, bool, float32)",
        dtype=_constant_dtype,
        values=_constant_values,
        emit=lambda e: _emit(e, "torch.full", [e.args["size"], e.args["fill_value"]]),
    )
)


# ---------------------------------------------------------------- meshgrid


def _meshgrid_rule(ctx: RuleContext):
    """torch.meshgrid: 0-d or 1-d inputs; each output is [len(t) for t in tensors] ("ij") or with
    the first two swapped ("xy")."""
    sizes = []
    for index, shape in enumerate(ctx.inputs):
        if len(shape) > 1:
            ctx.fail(
                "E206",
                f"meshgrid takes 0-d or 1-d tensors, input #{index} is {len(shape)}-d "
                f"{format_shape(shape)}",
                input=index,
                help="flatten it first: `-> flatten()`",
            )
        sizes.append(shape[0] if shape else 1)
    if ctx["indexing"] == "xy" and len(sizes) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return (tuple(sizes),) * len(ctx.inputs)


def _indexing(name: str, value: Any) -> str:
    if value not in ("ij", "xy"):
        raise ArgError(
            f"{name} must be 'ij' or 'xy', got {show_value(value)}",
            help="'ij' indexes the grids as the inputs are ordered (matrix indexing)",
        )
    return value


def _meshgrid_emit(e: Emission) -> str:
    """torch.meshgrid warns without indexing=, so it is always written."""
    indexing = e.args.get("indexing", '"ij"')
    return f"torch.meshgrid({e.tensors['tensors']}, indexing={indexing})"


register(
    OpSpec(
        name="meshgrid",
        torch="torch.meshgrid",
        params=(
            Param("tensors", is_tensor=True, variadic=True),
            Param("indexing", "ij", check=_indexing, keyword_only=True),
        ),
        rule=_meshgrid_rule,
        kind="function",
        outputs=ONE_PER_INPUT,
        summary="coordinate grids, one per input (indexing 'ij' or 'xy')",
        dtype=same_kind,
        values=lambda ctx: tuple(ctx.ranges),  # each grid repeats its own input's values
        emit=_meshgrid_emit,
    )
)


# ---------------------------------------------------------------- conversions


def _converted(ctx: RuleContext) -> str:
    return dt.CONVERSIONS[ctx.op.name] if ctx.op.name != "to" else ctx["dtype"].name


_INT32 = (-(2**31), 2**31 - 1)


def _converted_values(ctx: RuleContext) -> ValueRange | None:
    """An integer conversion keeps the values where they fit (int32 only known numbers inside
    its limits: beyond, they wrap); bool holds 0 and 1 (inference narrows a wider range so)."""
    kept, target = ctx.ranges[0], _converted(ctx)
    if target == dt.BOOL:
        return kept or BOOLEAN
    if target == "int32" and kept is not None:
        bounds = (kept.low, kept.high)
        if not all(type(b) is int and _INT32[0] <= b <= _INT32[1] for b in bounds):
            return None
    return kept  # a floating target: inference keeps no range of floats


for _name, _target in dt.CONVERSIONS.items():
    register(
        OpSpec(
            name=_name,
            torch=f"Tensor.{_name}",
            params=(Param("input", is_tensor=True),),
            rule=lambda ctx: ctx.input,
            kind="function",
            summary=f"the values as {_target}",
            dtype=_converted,
            values=_converted_values,
            emit=lambda e, name=_name: f"{e.tensors['input']}.{name}()",
        )
    )
register(
    OpSpec(
        name="to",
        torch="Tensor.to",
        params=(Param("input", is_tensor=True), Param("dtype", check=dtype_value)),
        rule=lambda ctx: ctx.input,
        kind="function",
        summary="the values as another dtype",
        dtype=_converted,
        values=_converted_values,
        emit=lambda e: f"{e.tensors['input']}.to({e.args['dtype']})",
    )
)
