"""Indexing and slicing a tensor, `x[:, 0]`, `x[..., :C]`, `x[None, 1:]` (torch's basic indexing,
Tensor.__getitem__), and torchvision's `Permute` layer (torchvision.ops.Permute), the module form
of `x.permute(...)` that ConvNeXt holds inside its Sequentials.

Indexing follows torch, which follows Python: an integer picks one position and drops the dim
(negative ones count from the end; out of range is an error), a slice `start:stop:step` keeps the
dim and clamps its bounds to the size (so `x[:, :100]` of 64 channels is all 64), `None` inserts
a dim of 1, and `...` stands for every dim the other indices leave. A step must be positive (torch
refuses negative steps). Moving data counts no MACs.
"""

from __future__ import annotations

from archspec.core.dims import Dim, Sym, format_dim, format_shape
from archspec.ops.base import ArgError, OpSpec, Param, RuleContext, show_value
from archspec.ops.dtype_rules import keep, refuse
from archspec.ops.registry import register
from archspec.ops.subscripts import ELLIPSIS, Indices, SliceItem
from archspec.ops.tensor import _dim_order, _permute_rule
from archspec.ops.value_ranges import ValueRange, keeps_values, largest_size, outside


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _indices(name: str, value) -> Indices:
    """The index argument: an Indices (what `x[...]` builds), or a plain int, None or tuple of
    them (`getitem(x, 0)`)."""
    if isinstance(value, Indices):
        return value
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if not (_is_int(item) or item is None or isinstance(item, SliceItem) or item is ELLIPSIS):
            raise ArgError(
                f"{name} must hold integers, slices, None or ..., got {show_value(item)}"
            )
    return Indices(tuple(items))


# ---------------------------------------------------------------- the shape rule


def _at_least(size: Dim, count: int) -> bool:
    """size >= count; every size is at least 1, and a symbolic one is compared at the sizing
    hints (recorded, so the answer holds for every size on the same path)."""
    return count <= 1 or size >= count


def _index_in_range(ctx: RuleContext, index: int, dim: int, size: Dim) -> None:
    valid = _at_least(size, index + 1) if index >= 0 else _at_least(size, -index)
    if valid:
        return
    low, high = format_dim(-size), format_dim(size - 1)
    ctx.fail(
        "E105",
        f"index {index} is out of range for dim {dim} of {format_shape(ctx.input)}: its size is "
        f"{format_dim(size)}, so an index runs from {low} to {high}",
        arg="index",
        input=0,
        help=f"pick an index from {low} to {high}; negative indices count from the end",
    )


def _clamped(bound: int | None, size: Dim, default: Dim) -> Dim:
    """A slice bound as torch reads it: counted from the end when negative, clamped to 0..size
    (min and max of a symbolic size are decided at the sizing hints, as comparisons are)."""
    if bound is None:
        return default
    if bound >= 0:
        return bound if _at_least(size, bound) else size
    return size + bound if _at_least(size, -bound) else 0


def _slice_length(ctx: RuleContext, item: SliceItem, dim: int, size: Dim) -> Dim:
    step = 1 if item.step is None else item.step
    if step <= 0:
        ctx.fail(
            "E105",
            f"slice {item.source()} has step {step}: torch slices with positive steps only",
            arg="index",
            input=0,
            help="use a positive step, e.g. `::2` for every other position",
        )
    symbolic_bound = isinstance(item.start, Sym) or isinstance(item.stop, Sym)
    if not isinstance(size, Sym) and not symbolic_bound:  # Python's arithmetic, as torch's
        return len(range(*slice(item.start, item.stop, step).indices(size)))
    if item.start in (None, 0) and item.stop is None:  # the whole dim: no size need be compared
        return size if step == 1 else (size + step - 1) // step
    extent = _clamped(item.stop, size, size) - _clamped(item.start, size, 0)
    # A symbolic extent is compared at the sizing hints; the batch N, which no hint decides, is
    # refused (E210) where its slice could be empty (`x[1:]` is empty for N = 1).
    if extent < 1:
        return 0
    return extent if step == 1 else (extent + step - 1) // step


def _getitem_rule(ctx: RuleContext):
    shape = tuple(ctx.input)
    items = ctx["index"].items
    if sum(item is ELLIPSIS for item in items) > 1:
        ctx.fail(
            "E105",
            f"x[{ctx['index'].source()}] has more than one `...`",
            arg="index",
            input=0,
            help="write `...` once; it stands for all the dims the other indices leave",
        )
    consuming = [item for item in items if item is not None and item is not ELLIPSIS]
    rank = len(shape)
    if len(consuming) > rank:
        ctx.fail(
            "E105",
            f"x[{ctx['index'].source()}] indexes {len(consuming)} dims, but the input "
            f"{format_shape(shape)} has {rank}",
            arg="index",
            input=0,
            help=f"index at most {rank} dims (`None` adds a dim and indexes none)",
        )
    out: list[Dim] = []
    dim = 0
    for item in items:
        if item is ELLIPSIS:
            skipped = rank - len(consuming)
            out.extend(shape[dim : dim + skipped])
            dim += skipped
        elif item is None:
            out.append(1)
        elif isinstance(item, SliceItem):
            length = _slice_length(ctx, item, dim, shape[dim])
            if isinstance(length, int) and length == 0:
                ctx.fail(
                    "E203",
                    f"the slice {item.source()} of dim {dim} (size {format_dim(shape[dim])}) of "
                    f"{format_shape(shape)} is empty",
                    arg="index",
                    input=0,
                    help="slice a range that holds at least one position (bounds past the end "
                    "are clamped to the size, as torch clamps them)",
                )
            out.append(length)
            dim += 1
        else:
            _index_in_range(ctx, item, dim, shape[dim])
            dim += 1
    out.extend(shape[dim:])
    return tuple(out)


register(
    OpSpec(
        name="getitem",
        torch="Tensor.__getitem__",
        params=(Param("input", is_tensor=True), Param("index", check=_indices)),
        rule=_getitem_rule,
        kind="function",
        summary="indexes and slices with torch's rules (`x[:, 0]`, `x[..., :C]`, `x[None]`)",
        dtype=keep,
        values=keeps_values,
        emit=lambda e: f"{e.tensors['input']}[{e.args['index']}]",
    )
)


# ---------------------------------------------------------------- indexing with a tensor


def _advanced_index_rule(ctx: RuleContext):
    """`table[index]` with an integer tensor (torch's advanced indexing of dim 0): the rows of
    the table the index names, in the index's shape: index.shape + table.shape[1:]. An index
    whose values archspec knows is checked against the table's dim 0; any other is known only
    when the model runs."""
    table, index = ctx.inputs
    if not table:
        ctx.fail(
            "E206",
            f"a 0-d tensor cannot be indexed with the tensor {format_shape(index)}",
            input=0,
            help="index a tensor of at least 1 dim",
        )
    if ctx.ranges[1] is not None:
        _check_index_values(ctx, ctx.ranges[1], table)
    return (*index, *table[1:])


def _check_index_values(ctx: RuleContext, index: ValueRange, table) -> None:
    """An index whose values archspec knows (Swin's relative_position_index) must lie in dim 0,
    from -size to size − 1 as torch counts (negative ones from the end); else torch raises
    IndexError."""
    size = table[0]
    if not outside(index, -size, size - 1):
        return
    largest = largest_size(index.high, size - 1) if index.low >= -size else None
    within = f" ({largest[0]} ≤ {largest[1]})" if largest is not None else ""
    ctx.fail(
        "E212",
        f"the index holds {index.text()} ({index.origin}), but dim 0 of {format_shape(table)} "
        f"has size {format_dim(size)}: an index runs from {format_dim(-size)} to "
        f"{format_dim(size - 1)}",
        input=1,
        help=f"keep the index within {format_dim(-size)}..{format_dim(size - 1)}{within}, or "
        "index a larger tensor",
    )


def _advanced_index_dtype(ctx: RuleContext) -> str:
    table, index = ctx.dtypes
    if index not in ("int64", "int32"):
        help = "convert the index with `-> long()`"
        if index == "bool":
            help = (
                "a bool mask selects a number of elements known only at run time; keep the "
                "shape with `where(mask, x, 0.0)` or `x -> masked_fill(mask, 0.0)`"
            )
        refuse(ctx, "index", index, "an int64 (or int32) index", help=help)
    return table


register(
    OpSpec(
        name="advanced_index",
        torch="Tensor.__getitem__",
        params=(Param("input", is_tensor=True), Param("index", is_tensor=True)),
        rule=_advanced_index_rule,
        kind="function",
        summary="rows of a tensor picked by an integer tensor (`table[index]`)",
        dtype=_advanced_index_dtype,
        values=keeps_values,
        emit=lambda e: f"{e.tensors['input']}[{e.tensors['index']}]",
    )
)


# ---------------------------------------------------------------- Permute


def _dims_list(name: str, value) -> tuple:
    if not isinstance(value, (tuple, list)):
        raise ArgError(f"{name} must be a list of dims, got {show_value(value)}")
    return _dim_order(name, tuple(value))


def _permute_layer_rule(ctx: RuleContext):
    """x.permute(dims)'s rule (ops/tensor.py), the same checks and messages."""
    return _permute_rule(ctx)


# torchvision.ops.Permute(dims): `x.permute(dims)` as a module, so that it can sit inside a
# Sequential (ConvNeXt's CNBlock: `Permute([0, 2, 3, 1])`). No parameters.
register(
    OpSpec(
        name="Permute",
        torch="torchvision.ops.Permute",
        params=(Param("dims", check=_dims_list),),
        rule=_permute_layer_rule,
        summary="reorders the dims (torchvision's module form of permute)",
        dtype=keep,
        values=keeps_values,
    )
)
