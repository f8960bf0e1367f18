"""Ops that return several tensors: `chunk`, `split` and `unbind` (torch.chunk, torch.split,
torch.unbind) and the layer `MultiheadAttention` (nn.MultiheadAttention), whose application gives
(attn_output, attn_weights), or (attn_output, None) with need_weights=False.

Each rule returns one shape per output, in torch's order; elaboration makes one graph node per
output (graph.Node.output) and inference keeps each node's own. `OpSpec.outputs` says how many
outputs the arguments promise (chunk(3): 3, though torch may return fewer; unbind: only the input
knows). When the input gives another count, the rule's explanation of the count (stored under
`COUNT_NOTE`) is what the diagnostic quotes.
"""

from __future__ import annotations

from archspec.core import dtypes as dt
from archspec.core.dims import Dim, Sym, format_shape
from archspec.ops.base import (
    ArgError,
    ForwardTensor,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    integer,
    optional,
    positive_int,
    probability,
    show_value,
)
from archspec.ops.dtype_rules import keep
from archspec.ops.linear import last_dim
from archspec.ops.registry import register
from archspec.ops.reshape import wrap_dim

INPUT = Param("input", is_tensor=True)
# The key of RuleContext.explanations under which a rule explains its count of outputs.
COUNT_NOTE = -1


def _need_dims(ctx: RuleContext) -> None:
    if not ctx.input:
        ctx.fail(
            "E206",
            f"{ctx.op.name} expects at least a 1-d tensor, got a 0-d one",
            input=0,
        )


def _split_size(ctx: RuleContext, arg: str, dim: int) -> Dim:
    """The size being cut; a symbolic one is refused where the pieces would depend on it."""
    size = ctx.input[dim]
    if isinstance(size, Sym):
        ctx.fail(
            "E210",
            f"{ctx.op.name} along dim {dim} cuts the symbolic size {size}: how many pieces it "
            "gives depends on the input size",
            arg=arg,
            input=0,
            help="cut a dim of fixed size (the channels), or pool to a fixed size first",
        )
    return size


def _with_size(shape, dim: int, size: Dim) -> tuple:
    return (*shape[:dim], size, *shape[dim + 1 :])


# ---------------------------------------------------------------- chunk


def _chunk_rule(ctx: RuleContext):
    _need_dims(ctx)
    dim = wrap_dim(ctx, "dim", ctx["dim"])
    chunks = ctx["chunks"]
    if chunks == 1:
        return (tuple(ctx.input),)
    size = _split_size(ctx, "chunks", dim)  # ≥ 1: archspec builds no empty tensors
    piece = -(-size // chunks)  # torch.chunk cuts pieces of ⌈size / chunks⌉
    count = -(-size // piece)
    ctx.explain(
        COUNT_NOTE,
        f"torch.chunk cuts dim {dim} (size {size}) into pieces of ⌈{size}/{chunks}⌉ = {piece}, "
        f"which makes {count}",
    )
    return _pieces(ctx.input, dim, size, piece)


def _pieces(shape, dim: int, size: int, piece: int) -> tuple:
    """Pieces of `piece` along `dim`, the last one shorter if the size does not divide."""
    full, rest = divmod(size, piece)
    return (_with_size(shape, dim, piece),) * full + (
        (_with_size(shape, dim, rest),) if rest else ()
    )


# ---------------------------------------------------------------- split


def _sections(name: str, value):
    """An int (the size of each piece) or a list of sizes, as torch.split takes them."""
    if isinstance(value, (tuple, list)):
        for item in value:
            integer(name, item)
            if item < 0:
                raise ArgError(f"{name} holds a negative size, {item}")
        return tuple(value)
    integer(name, value)
    if value < 0:
        raise ArgError(f"{name} must be non-negative, got {value}")
    return value


def _split_rule(ctx: RuleContext):
    _need_dims(ctx)
    dim = wrap_dim(ctx, "dim", ctx["dim"])
    sections = ctx["split_size_or_sections"]
    if isinstance(sections, tuple):
        return _split_sections(ctx, dim, sections)
    size = _split_size(ctx, "split_size_or_sections", dim)
    if sections == 0:  # the dim has size ≥ 1: archspec builds no empty tensors
        ctx.fail(
            "E105",
            f"split_size_or_sections=0 cannot cut dim {dim} of size {size}",
            arg="split_size_or_sections",
            input=0,
            help="give a positive size for each piece",
        )
    count = -(-size // sections)
    ctx.explain(
        COUNT_NOTE,
        f"torch.split cuts dim {dim} (size {size}) into pieces of {sections}, "
        f"which makes ⌈{size}/{sections}⌉ = {count}",
    )
    return _pieces(ctx.input, dim, size, sections)


def _split_sections(ctx: RuleContext, dim: int, sections: tuple):
    size = ctx.input[dim]
    total = sum(sections)
    if not sections or total != size:
        written = " + ".join(map(str, sections)) or "nothing"
        ctx.fail(
            "E105",
            f"split sizes {show_value(sections)} add up to {written} = {total}, but dim {dim} of "
            f"{format_shape(ctx.input)} is {size}",
            arg="split_size_or_sections",
            input=0,
            help=f"give sizes that add up to {size}",
        )
    return tuple(_with_size(ctx.input, dim, piece) for piece in sections)


def _split_count(args) -> int | None:
    sections = args["split_size_or_sections"]
    return len(sections) if isinstance(sections, (tuple, list)) else None


# ---------------------------------------------------------------- unbind


def _unbind_rule(ctx: RuleContext):
    _need_dims(ctx)
    dim = wrap_dim(ctx, "dim", ctx["dim"])
    size = _split_size(ctx, "dim", dim)
    ctx.explain(COUNT_NOTE, f"torch.unbind makes one tensor per index of dim {dim}: {size}")
    return (ctx.input[:dim] + ctx.input[dim + 1 :],) * size


register(
    OpSpec(
        name="chunk",
        torch="torch.chunk",
        params=(INPUT, Param("chunks", check=positive_int), Param("dim", 0, check=integer)),
        rule=_chunk_rule,
        kind="function",
        outputs=lambda args: args["chunks"] if type(args["chunks"]) is int else None,
        summary="cuts a dim into pieces of ⌈size/chunks⌉ (fewer pieces when they cover it)",
        dtype=keep,
        emit=lambda e: f"{e.tensors['input']}.chunk({_args(e, 'chunks', 'dim')})",
    )
)
register(
    OpSpec(
        name="split",
        torch="torch.split",
        params=(
            INPUT,
            Param("split_size_or_sections", check=_sections),
            Param("dim", 0, check=integer),
        ),
        rule=_split_rule,
        kind="function",
        outputs=_split_count,
        summary="cuts a dim into pieces of one size, or of the listed sizes",
        dtype=keep,
        emit=lambda e: f"{e.tensors['input']}.split({_args(e, 'split_size_or_sections', 'dim')})",
    )
)
register(
    OpSpec(
        name="unbind",
        torch="torch.unbind",
        params=(INPUT, Param("dim", 0, check=integer)),
        rule=_unbind_rule,
        kind="function",
        outputs=lambda args: None,
        summary="one tensor per index of a dim, that dim removed",
        dtype=keep,
        emit=lambda e: f"{e.tensors['input']}.unbind({_args(e, 'dim')})",
    )
)


def _args(emission, first: str, *keywords: str) -> str:
    """`2, dim=1` for x.chunk(...): the first argument by position, the rest by keyword, each only
    where generated code must write it (Emission.args holds those)."""
    parts = [emission.args[first]] if first in emission.args else []
    parts += [f"{name}={emission.args[name]}" for name in keywords if name in emission.args]
    return ", ".join(parts)


# ---------------------------------------------------------------- MultiheadAttention


def _attention_validate(ctx: RuleContext) -> None:
    embed, heads = ctx["embed_dim"], ctx["num_heads"]
    if embed % heads:
        fits = [h for h in range(1, embed + 1) if embed % h == 0]
        near = sorted(fits, key=lambda h: (abs(h - heads), h))[:2]
        ctx.fail(
            "E105",
            f"embed_dim={embed} is not divisible by num_heads={heads}: "
            f"{embed} = {heads}×{embed // heads} + {embed % heads}",
            arg="num_heads",
            help=f"each head takes embed_dim / num_heads dims: choose num_heads="
            f"{' or '.join(map(str, sorted(near)))}",
        )


def _attention_layout(ctx: RuleContext):
    """(query, key, value, batched): the inputs, checked against each other as
    F.multi_head_attention_forward checks them."""
    if len(ctx.inputs) != 3:
        ctx.fail(
            "E104",
            f"MultiheadAttention takes query, key and value, got {len(ctx.inputs)} tensor(s)",
            help="for self-attention pass one tensor three times: `attn(x, x, x)`",
        )
    query, key, value = ctx.inputs
    for index, (name, shape) in enumerate((("key", key), ("value", value)), start=1):
        if len(shape) != len(query):
            ctx.fail(
                "E206",
                f"MultiheadAttention's {name} is {len(shape)}-d {format_shape(shape)}, but the "
                f"query is {len(query)}-d {format_shape(query)}",
                input=index,
                help="give query, key and value the same layout: all batched (3-d) or not (2-d)",
            )
    embed = ctx["embed_dim"]
    for index, (name, shape, arg) in enumerate(
        (("key", key, "kdim"), ("value", value, "vdim")), start=1
    ):
        expected = ctx[arg] if ctx[arg] is not None else embed
        if shape[-1] != expected:
            ctx.fail(
                "E202",
                f"MultiheadAttention expects {arg}={expected} features in its {name}, but "
                f"receives {shape[-1]} ({format_shape(shape)})",
                arg=arg if ctx[arg] is not None else "embed_dim",
                input=index,
                help=f"set {arg}={shape[-1]}, or project the {name} to {expected} features",
            )
    if key[:-1] != value[:-1]:
        ctx.fail(
            "E205",
            f"MultiheadAttention's key {format_shape(key)} and value {format_shape(value)} "
            "differ outside their feature dim",
            input=2,
            help="key and value need the same batch and sequence length",
        )
    batched = len(query) == 3
    batch_dim = 0 if ctx["batch_first"] else 1
    if batched and query[batch_dim] != key[batch_dim]:
        ctx.fail(
            "E205",
            f"MultiheadAttention's query {format_shape(query)} and key {format_shape(key)} have "
            f"batches {query[batch_dim]} and {key[batch_dim]} (dim {batch_dim})",
            input=1,
            help="query and key need the same batch",
        )
    return query, key, value, batched


def _attention_rule(ctx: RuleContext):
    query, key, _value, batched = _attention_layout(ctx)
    _attention_masks(ctx, query, key, batched)
    output = (*query[:-1], ctx["embed_dim"])
    if not ctx.forward["need_weights"]:
        return output, None  # torch returns (attn_output, None)
    extra = int(ctx["add_bias_kv"]) + int(ctx["add_zero_attn"])
    sequence = 1 if batched and ctx["batch_first"] else 0
    length, source = query[sequence], key[sequence] + extra
    heads = () if ctx.forward["average_attn_weights"] else (ctx["num_heads"],)
    batch = (query[1 - sequence],) if batched else ()
    return output, (*batch, *heads, length, source)


def _attention_masks(ctx: RuleContext, query, key, batched: bool) -> None:
    """The masks as F.multi_head_attention_forward checks them (torch 2.14): key_padding_mask
    (N, S), (S) for an unbatched query; attn_mask (L, S) or (N·num_heads, L, S); each bool or of
    the query's floating dtype (check_mask); is_causal only with an attn_mask (torch: "Need
    attn_mask if specifying the is_causal hint"). With is_causal, no key_padding_mask and
    need_weights=False torch drops attn_mask unread; archspec checks it all the same, as the mask
    is_causal promises is the causal one. S is the key's length before add_bias_kv and
    add_zero_attn pad the masks."""
    sequence = 1 if batched and ctx["batch_first"] else 0
    length, source = query[sequence], key[sequence]
    batch = query[1 - sequence] if batched else None
    where = (
        f"L = {length} from the query {format_shape(query)}, S = {source} from the key "
        f"{format_shape(key)}"
    )
    about = {"query": "query", "batched": batched, "where": where}
    padding = ctx.forward["key_padding_mask"]
    if padding is not None:
        form = [((batch, source), "(N, S)") if batched else ((source,), "(S)")]
        check_mask(ctx, "key_padding_mask", padding, form, **about)
    attention = ctx.forward["attn_mask"]
    if attention is not None:
        heads = ctx["num_heads"]
        stacked = (batch * heads if batched else heads, length, source)
        forms = [((length, source), "(L, S)"), (stacked, "(N·num_heads, L, S)")]
        if not batched:
            forms[1] = (stacked, "(num_heads, L, S)")
        check_mask(ctx, "attn_mask", attention, forms, **about)
    elif ctx.forward["is_causal"]:
        ctx.fail(
            "E105",
            "MultiheadAttention's is_causal=True needs an attn_mask: torch takes is_causal as a "
            "hint that attn_mask is the causal mask, and refuses it alone",
            arg="is_causal",
            help=f"pass the causal mask too: attn_mask=mask with mask an (L, S) = "
            f"{format_shape((length, source))} bool tensor, True above the diagonal",
        )


def check_mask(ctx: RuleContext, name: str, mask: ForwardTensor, forms, *, query: str,
               batched: bool, where: str) -> None:  # fmt: skip
    """Refuse an attention mask as F.multi_head_attention_forward does: of another dtype than
    bool or the query's (`_canonical_mask` refuses other dtypes, and a float mask of another
    dtype fails in baddbmm), or of none of the `forms` ((shape, the shape in letters)).
    MultiheadAttention and the Transformer family share it; `query` names the sequence the mask
    belongs to in messages ("query", "src", "tgt"), `where` says where L and S come from."""
    wanted = ctx.dtypes[0]
    if mask.dtype != "bool" and mask.dtype != wanted:
        kind = "a float mask of another dtype" if dt.is_floating(mask.dtype) else "the dtype"
        ctx.fail(
            "E108",
            f"{ctx.op.name}'s {name} must be bool or {wanted} (the {query}'s dtype), got "
            f"{mask.dtype}",
            arg=name,
            input=mask.input,
            help=f"torch refuses {kind}: convert it, `-> bool()` for a mask of True where "
            f"attention is blocked, or `-> {_CONVERSIONS.get(wanted, 'float')}()` for one added "
            "to the scores",
        )
    ranks = [len(shape) for shape, _ in forms]
    named = " or ".join(f"{text} = {format_shape(shape)}" for shape, text in forms)
    if len(mask.shape) not in ranks:
        layout = "a batched (3-d)" if batched else "an unbatched (2-d)"
        ctx.fail(
            "E206",
            f"{ctx.op.name}'s {name} is {len(mask.shape)}-d {format_shape(mask.shape)}, but "
            f"{layout} {query} takes it as {named}",
            arg=name,
            input=mask.input,
            help=f"give {name} the shape {named} ({where})",
        )
    shape, text = forms[ranks.index(len(mask.shape))]
    if tuple(mask.shape) != shape:
        ctx.fail(
            "E205",
            f"{ctx.op.name}'s {name} is {format_shape(mask.shape)}, but must be {text} = "
            f"{format_shape(shape)}",
            arg=name,
            input=mask.input,
            notes=(where,),
            help=f"give {name} the shape {named}",
        )


# The conversion function of each floating dtype (docs/language.md, "Dtypes").
_CONVERSIONS = {"float32": "float", "float64": "double", "float16": "half", "bfloat16": "bfloat16"}


def _no_weights(forward) -> dict[int, tuple[str, str]]:
    """OpSpec.none_outputs: torch returns (attn_output, None) with need_weights=False."""
    if forward["need_weights"] is not False:
        return {}
    why = "MultiheadAttention returns no weights with need_weights=False"
    return {1: (why, "drop need_weights=False to get them, or unpack them into `_`")}


def _attention_params(args) -> int:
    embed, bias = args["embed_dim"], args["bias"]
    kdim = args["kdim"] if args["kdim"] is not None else embed
    vdim = args["vdim"] if args["vdim"] is not None else embed
    projections = embed * (embed + kdim + vdim) + (3 * embed if bias else 0)
    output = embed * embed + (embed if bias else 0)
    return projections + output + (2 * embed if args["add_bias_kv"] else 0)


def _attention_macs(args, inputs, output) -> Dim:
    """Per sample, as fvcore counts it: the projections as matrix products (no bias), and the
    two attention products (q·kᵀ and weights·v), L·S·E each."""
    query, key, _value = inputs
    embed = args["embed_dim"]
    kdim = args["kdim"] if args["kdim"] is not None else embed
    vdim = args["vdim"] if args["vdim"] is not None else embed
    sequence = 1 if len(query) == 3 and args["batch_first"] else 0  # (N, L, E) or (L, [N,] E)
    length, source = query[sequence], key[sequence]
    attended = source + int(args["add_bias_kv"]) + int(args["add_zero_attn"])
    projections = length * embed * embed * 2 + source * (kdim + vdim) * embed
    return projections + 2 * length * attended * embed


register(
    OpSpec(
        name="MultiheadAttention",
        torch="nn.MultiheadAttention",
        params=(
            Param(
                "embed_dim",
                check=positive_int,
                infer=last_dim("MultiheadAttention"),
                mismatch="E202",
            ),
            Param("num_heads", check=positive_int),
            Param("dropout", 0.0, check=probability),
            Param("bias", True, check=boolean),
            Param("add_bias_kv", False, check=boolean),
            Param("add_zero_attn", False, check=boolean),
            Param("kdim", None, check=optional(positive_int)),
            Param("vdim", None, check=optional(positive_int)),
            Param("batch_first", False, check=boolean),
        ),
        rule=_attention_rule,
        ranks=(2, 3),
        validate=_attention_validate,
        count_params=_attention_params,
        count_macs=_attention_macs,
        inputs=3,
        outputs=lambda args: 2,
        summary="multi-head attention of a query over key and value: (output, averaged weights)",
        forward=(
            Param("key_padding_mask", None, is_tensor=True),
            Param("need_weights", True, check=boolean),
            Param("attn_mask", None, is_tensor=True),
            Param("average_attn_weights", True, check=boolean),
            Param("is_causal", False, check=boolean),
        ),
        none_outputs=_no_weights,
    )
)
