"""Lookup tables: Embedding (torch.nn.modules.sparse.Embedding).

An embedding maps integer token ids of any shape to rows of a [num_embeddings, embedding_dim]
table: `[*input, embedding_dim]`, float32 (the table's dtype). Its input must be integers (int64
or int32, as F.embedding takes them); a float input is E108 with the declaration that fixes it.
It counts num_embeddings·embedding_dim parameters and no MACs: a lookup copies rows, it multiplies
nothing (fvcore and torchinfo count 0 for it too).
"""

from __future__ import annotations

from archspec.core import dtypes as dt
from archspec.core.dims import format_dim, format_shape
from archspec.ops.base import (
    OpSpec,
    Param,
    RuleContext,
    boolean,
    integer,
    number,
    optional,
    positive_int,
)
from archspec.ops.dtype_rules import refuse
from archspec.ops.registry import register
from archspec.ops.value_ranges import ValueRange, largest_size, outside

INDEX_DTYPES = (dt.INT64, "int32")


def _validate(ctx: RuleContext) -> None:
    """padding_idx as nn.Embedding's constructor checks it: a negative index counts from the end
    (-1 is the last row) and must still name a row."""
    index, rows = ctx["padding_idx"], ctx["num_embeddings"]
    if index is not None and not -rows <= index < rows:
        ctx.fail(
            "E105",
            f"padding_idx={index} is not a row of the {rows} embeddings: it must be in "
            f"{-rows}..{rows - 1}",
            arg="padding_idx",
            help=f"name a row of the table (0..{rows - 1}; negative ones count from the end), "
            "or leave padding_idx out",
        )


def _rule(ctx: RuleContext):
    # The dtype is checked here rather than in the dtype rule, which runs before `_validate`:
    # torch refuses a bad padding_idx when the layer is built, before it sees any input.
    dtype = ctx.dtypes[0]
    if dtype not in INDEX_DTYPES:
        refuse(
            ctx,
            "#0",
            dtype,
            "integer indices (int64 or int32)",
            help=f"token ids are integers: declare the input so, `input tokens: "
            f"{format_shape(ctx.input)} int64`, or convert it first: `x -> long()`",
        )
    ids = ctx.ranges[0]
    if ids is not None:
        _check_ids(ctx, ids, ctx["num_embeddings"])
    return (*ctx.input, ctx["embedding_dim"])


def _check_ids(ctx: RuleContext, ids: ValueRange, rows: int) -> None:
    """Ids whose values archspec knows (`arange(L) -> Embedding(64, d)`) must name rows: torch
    raises IndexError for an id past the table, and for any negative one."""
    if not outside(ids, 0, rows - 1):
        return
    looked_up = f"Embedding looks up ids {ids.text()} ({ids.origin})"
    if ids.low < 0:
        ctx.fail(
            "E212",
            f"{looked_up}, but an id must not be negative: the rows are 0..{rows - 1}",
            input=0,
            help="shift the ids to start at 0 (negative ids do not count from the end here)",
        )
    largest = largest_size(ids.high, rows - 1)
    if largest is not None:  # arange(L): the sizes that fit
        fix = f"keep the ids below {rows}: {largest[0]} ≤ {largest[1]}, or make the table larger"
    else:
        fix = f"keep the ids below {rows}, or give the table a row for each id: "
        fix += f"Embedding({format_dim(ids.high + 1)}, ...)"
    ctx.fail("E212", f"{looked_up}, but its table has {rows} rows", input=0, help=fix)


register(
    OpSpec(
        name="Embedding",
        torch="nn.Embedding",
        params=(
            Param("num_embeddings", check=positive_int),
            Param("embedding_dim", check=positive_int),
            Param("padding_idx", None, check=optional(integer)),
            Param("max_norm", None, check=optional(number)),
            Param("norm_type", 2.0, check=number),
            Param("scale_grad_by_freq", False, check=boolean),
            Param("sparse", False, check=boolean),
        ),
        rule=_rule,
        validate=_validate,
        weights=lambda args: {"weight": (args["num_embeddings"], args["embedding_dim"])},
        # count_macs None: a lookup multiplies nothing.
        summary="a table of num_embeddings rows, looked up by integer ids: [*ids, embedding_dim]",
        dtype=lambda ctx: dt.FLOAT32,  # the table's rows; the ids are checked by the rule
    )
)
