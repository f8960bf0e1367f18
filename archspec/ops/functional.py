"""Functions the importer meets in timm's models: `pow` (a tensor's `x ** 2`, metaformer's
StarReLU), `scaled_dot_product_attention` (F.scaled_dot_product_attention, the fused attention
of timm's ViTs), `tile` (torch.tile), `reshape_as` (Tensor.reshape_as), `normalize`
(F.normalize, xcit's attention) and `amax` (torch.amax; volo's `x.max(1)[0]`).

Each rule follows torch's own (its CPU kernels where they differ): attention's batch dims
broadcast as its math kernel's matrix products do, and tile aligns its counts from the last dim.
Only attention multiplies-adds: L·S·(E + Ev) per head and sample, as its two matrix products.
"""

from __future__ import annotations

from archspec.core import dtypes as dt
from archspec.core.dims import Dim, format_dim, format_shape, product
from archspec.ops.base import (
    ArgError,
    Emission,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    integer,
    number,
    optional,
    probability,
    show_value,
)
from archspec.ops.common import same_shape
from archspec.ops.dtype_rules import keep, operands, refuse
from archspec.ops.merge import broadcast
from archspec.ops.registry import register
from archspec.ops.reshape import _dims, _mean_rule, unnested, wrap_dim
from archspec.ops.value_ranges import keeps_values

INPUT = Param("input", is_tensor=True)


# ---------------------------------------------------------------- pow


def _exponent(name: str, value):
    """pow's exponent: a number, kept an int where it is one (int64 ** 2 stays int64)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgError(
            f"{name} must be a number, got {show_value(value)}",
            help="a tensor exponent is not in the language: write the power as a product",
        )
    return value


def _pow_dtype(ctx: RuleContext) -> str:
    """torch's promotion of the tensor and the exponent (bool ** 2 is int64, int64 ** 0.5
    float32); an integer result to a negative integer power is refused, as torch does."""
    (name, dtype), *_ = [(n, d) for n, d in operands(ctx) if isinstance(d, str)]
    exponent = ctx["exponent"]
    result = dt.result_type([dtype, exponent])
    if not dt.is_floating(result) and exponent < 0:
        refuse(ctx, name, dtype, "a floating tensor for a negative power")
    return result


# `x ** 2` of a tensor (metaformer's StarReLU: `scale * relu(x) ** 2 + bias`); the language's
# `**` is between numbers only, so a tensor's power is this function.
register(
    OpSpec(
        name="pow",
        torch="torch.pow",
        params=(INPUT, Param("exponent", check=_exponent)),
        rule=same_shape,
        kind="function",
        summary="each value to a number's power (`x ** 2`)",
        dtype=_pow_dtype,
    )
)


# ---------------------------------------------------------------- scaled_dot_product_attention


def _attention_rule(ctx: RuleContext):
    """F.scaled_dot_product_attention: query [..., L, E], key [..., S, E], value [..., S, Ev]
    give [..., L, Ev]; the dims before the last two broadcast, as torch's math kernel does."""
    query, key, value = ctx.inputs
    for index, shape in enumerate(ctx.inputs):
        if len(shape) < 2:
            ctx.fail(
                "E206",
                f"scaled_dot_product_attention needs tensors of at least 2 dims, input "
                f"#{index} is {len(shape)}-d {format_shape(shape)}",
                input=index,
                help="give the sequence as [L, E] or batched [..., L, E]",
            )
    if query[-1] != key[-1]:
        ctx.fail(
            "E205",
            f"scaled_dot_product_attention needs query and key of one embedding size: query "
            f"{format_shape(query)} ends in {format_dim(query[-1])}, key {format_shape(key)} "
            f"in {format_dim(key[-1])}",
            input=1,
            help="query @ keyᵀ multiplies along the last dim: make both end in the same size",
        )
    if key[-2] != value[-2]:
        ctx.fail(
            "E205",
            f"scaled_dot_product_attention needs one key per value: key {format_shape(key)} "
            f"has {format_dim(key[-2])}, value {format_shape(value)} {format_dim(value[-2])}",
            input=2,
            help="key and value share their second-to-last dim (the source length S)",
        )
    batch = broadcast(query[:-2], key[:-2])
    batch = None if batch is None else broadcast(batch, value[:-2])
    if batch is None:
        shapes = ", ".join(format_shape(s) for s in ctx.inputs)
        ctx.fail(
            "E205",
            f"scaled_dot_product_attention cannot broadcast the batch dims of {shapes}: "
            "aligned from the right, each must be equal or 1",
            input=1,
            help="make the dims before the last two equal, or 1 where one operand is shared",
        )
    return (*batch, query[-2], value[-1])


def _attention_macs(args, inputs, output) -> Dim:
    """query @ keyᵀ (L·S·E) and weights @ value (L·S·Ev) for each of the output's batch dims,
    per sample: dim 0 of the output is the sample, as matmul counts (an unbatched [L, Ev]
    output counts per row of L, S·(E + Ev))."""
    query, key, value = inputs
    per_row = key[-2] * (query[-1] + value[-1])
    return product(output[1:-1]) * per_row


def _attention_emit(e: Emission) -> str:
    """The tensors by position, the rest by keyword: torch's 4th positional is attn_mask."""
    parts = [e.tensors["query"], e.tensors["key"], e.tensors["value"]]
    parts += [f"{name}={text}" for name, text in e.args.items()]
    return f"F.scaled_dot_product_attention({', '.join(parts)})"


# torch's attn_mask (an optional tensor) and enable_gqa are not in the language: the importer
# reports a call that passes them. The rest are keyword-only here, so that no positional
# argument means another parameter than in torch.
register(
    OpSpec(
        name="scaled_dot_product_attention",
        torch="F.scaled_dot_product_attention",
        params=(
            Param("query", is_tensor=True),
            Param("key", is_tensor=True),
            Param("value", is_tensor=True),
            Param("dropout_p", 0.0, check=probability, keyword_only=True),
            Param("is_causal", False, check=boolean, keyword_only=True),
            Param("scale", None, check=optional(number), keyword_only=True),
        ),
        rule=_attention_rule,
        kind="function",
        count_macs=_attention_macs,
        summary="softmax(query @ keyᵀ · scale) @ value (dropout_p applies in eval too)",
        window="global",
        emit=_attention_emit,
    )
)


# ---------------------------------------------------------------- tile, reshape_as


def _repeats(name: str, value) -> tuple:
    """tile's dims: how many copies along each dim, non-negative integers."""
    value = unnested(value)
    items = value if isinstance(value, (tuple, list)) else (value,)
    counts = tuple(integer(name, count) for count in items)
    for count in counts:
        if count < 0:
            raise ArgError(f"{name} must hold copy counts of 0 or more, got {count}")
    return counts


def _tile_rule(ctx: RuleContext):
    """torch.tile: dims shorter than the input are padded with 1s in front, an input of fewer
    dims is treated as having leading dims of size 1; each size is multiplied by its count."""
    shape, counts = tuple(ctx.input), ctx["dims"]
    rank = max(len(shape), len(counts))
    shape = (1,) * (rank - len(shape)) + shape
    counts = (1,) * (rank - len(counts)) + counts
    out = tuple(size * count for size, count in zip(shape, counts, strict=True))
    if 0 in counts:
        at = counts.index(0)
        ctx.fail(
            "E203",
            f"tile makes dim {at} empty: dims={show_value(ctx['dims'])} copies it 0 times",
            arg="dims",
            input=0,
            help="copy each dim at least once (an empty tensor has no values to check)",
        )
    return out


def _reshape_as_rule(ctx: RuleContext):
    """x.reshape_as(other): x's values in other's shape, so both must hold as many values."""
    shape, other = ctx.inputs
    if product(shape) != product(other):
        ctx.fail(
            "E208",
            f"reshape_as cannot turn {format_shape(shape)} ({format_dim(product(shape))} "
            f"elements) into the shape of {format_shape(other)} "
            f"({format_dim(product(other))} elements)",
            input=1,
            help="the two tensors must hold as many values",
        )
    return tuple(other)


def _tile_emit(e: Emission) -> str:
    dims = e.args.get("dims", "")
    return f"{e.tensors['input']}.tile(({dims},))" if dims else f"{e.tensors['input']}.tile(())"


def _first_dtype(ctx: RuleContext) -> str:
    """reshape_as keeps input's dtype whatever other's is (other gives only its shape)."""
    return ctx.dtypes[0]


register(
    OpSpec(
        name="tile",
        torch="torch.tile",
        params=(INPUT, Param("dims", check=_repeats, variadic=True)),
        rule=_tile_rule,
        kind="function",
        summary="copies the input along each dim (counts aligned from the last dim)",
        dtype=keep,
        values=keeps_values,
        emit=_tile_emit,
    )
)
register(
    OpSpec(
        name="reshape_as",
        torch="Tensor.reshape_as",
        params=(INPUT, Param("other", is_tensor=True)),
        rule=_reshape_as_rule,
        kind="function",
        summary="the input's values in the other tensor's shape",
        dtype=_first_dtype,
        values=keeps_values,
        emit=lambda e: f"{e.tensors['input']}.reshape_as({e.tensors['other']})",
    )
)


# ---------------------------------------------------------------- normalize, amax


def _norm_dims(name: str, value):
    """normalize's dim: an int or a tuple of ints (torch's vector_norm takes both)."""
    if isinstance(value, (tuple, list)):
        return tuple(integer(name, dim) for dim in value)
    return integer(name, value)


def _normalize_rule(ctx: RuleContext):
    """x / max(‖x‖ₚ over dim, eps): the input's shape; each dim in range and named once."""
    dims = ctx["dim"] if isinstance(ctx["dim"], tuple) else (ctx["dim"],)
    wrapped = [wrap_dim(ctx, "dim", dim) for dim in dims]
    if len(set(wrapped)) != len(wrapped):
        ctx.fail(
            "E105",
            f"normalize names dim {max(wrapped, key=wrapped.count)} twice: "
            f"dim={show_value(ctx['dim'])}",
            arg="dim",
            help="name each dim once",
        )
    return ctx.input


register(
    OpSpec(
        name="normalize",
        torch="F.normalize",
        params=(
            INPUT,
            Param("p", 2.0, check=number),
            Param("dim", 1, check=_norm_dims),
            Param("eps", 1e-12, check=number),
        ),
        rule=_normalize_rule,
        kind="function",
        summary="divides by the p-norm over dim (at least eps): unit vectors along dim",
    )
)


def _amax_rule(ctx: RuleContext):
    """torch.amax reduces as torch.mean does (no dim: every dim). `x.max(dim)[0]` is this."""
    return _mean_rule(ctx)


register(
    OpSpec(
        name="amax",
        torch="torch.amax",
        params=(INPUT, Param("dim", (), check=_dims), Param("keepdim", False, check=boolean)),
        rule=_amax_rule,
        kind="function",
        summary="the largest value over the given dims (all by default)",
        dtype=keep,
        values=keeps_values,
        window="global",
    )
)
