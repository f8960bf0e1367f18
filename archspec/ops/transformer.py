"""The Transformer family of torch.nn (torch/nn/modules/transformer.py): TransformerEncoderLayer,
TransformerDecoderLayer, TransformerEncoder, TransformerDecoder and Transformer.

Each is one layer to archspec, and generated code builds torch's own module, so its parameters,
their state_dict keys (`layers.0.self_attn.in_proj_weight`) and the order its dropouts draw random
numbers in are torch's. TransformerEncoder and TransformerDecoder take a layer as their first
argument and an optional `norm` (layer-valued parameters, Param.layer): the rule evaluates that
layer's own entry on the input, num_layers times the same, and points a failure inside it at the
nested argument (`encoder_layer.nhead`). Transformer builds its encoder and decoder from its own
arguments, as torch's constructor does, unless `custom_encoder` / `custom_decoder` give them.

Shapes: a sequence is `[L, N, E]`, `[N, L, E]` with batch_first=True, or unbatched `[L, E]`; every
op returns its (first) input's shape: src for an encoder, tgt for a decoder and for Transformer.
What torch checks is checked here, with its rules: E a multiple of nhead, the features of every
sequence d_model, the batch of src and tgt (memory) equal, the masks' shapes and dtypes
(attn masks `(L, S)` or `(N·nhead, L, S)`, key padding masks `(N, S)`, bool or the input's
floating dtype), `is_causal=True` only with its mask, activation "relu" or "gelu".

Counts: parameters as torch's modules hold them; MACs per sample of the batch (N, wherever the
layout puts it) follow docs/language.md ("What summary counts"): each attention as
MultiheadAttention counts itself (its projections without biases, 2·L·E² + 2·S·E², and the two
attention products, 2·L·S·E), each feed-forward Linear its weights and bias once per position,
each LayerNorm one per output value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archspec.core.dims import Dim, Shape, format_shape
from archspec.ops import registry
from archspec.ops.apply import Evaluation, bind, check_arguments, evaluate
from archspec.ops.base import (
    ArgError,
    ForwardTensor,
    LayerArg,
    OpFailure,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    layer_of,
    number,
    optional,
    positive_int,
    probability,
    show_value,
)
from archspec.ops.linear import last_dim
from archspec.ops.multi import check_mask
from archspec.ops.registry import register


def _activation(name: str, value: Any) -> str:
    """torch's `_get_activation_fn`: a string names F.relu or F.gelu ("activation should be
    relu/gelu, not tanh"). Torch also takes a function or a module, which a spec cannot pass."""
    if isinstance(value, str) and value in ("relu", "gelu"):
        return value
    raise ArgError(
        f"{name} should be 'relu' or 'gelu', got {show_value(value)}",
        help='a spec names torch\'s activation as a string, activation="gelu"; the function or '
        "module torch also takes (F.gelu, nn.GELU()) cannot be passed from a spec",
    )


def _layer_params(name: str) -> tuple[Param, ...]:
    """TransformerEncoderLayer's and TransformerDecoderLayer's constructor, in torch's order."""
    return (
        Param("d_model", check=positive_int, infer=last_dim(name), mismatch="E202"),
        Param("nhead", check=positive_int),
        Param("dim_feedforward", 2048, check=positive_int),
        Param("dropout", 0.1, check=probability),
        Param("activation", "relu", check=_activation),
        Param("layer_norm_eps", 1e-5, check=number),  # LayerNorm's: never refused
        Param("batch_first", False, check=boolean),
        Param("norm_first", False, check=boolean),
        Param("bias", True, check=boolean),
    )


# ---------------------------------------------------------------- checks shared by all five


def _heads_validate(ctx: RuleContext) -> None:
    """MultiheadAttention's constructor: "embed_dim must be divisible by num_heads"."""
    model, heads = ctx["d_model"], ctx["nhead"]
    if model % heads:
        fits = [h for h in range(1, model + 1) if model % h == 0]
        near = sorted(sorted(fits, key=lambda h: (abs(h - heads), h))[:2])
        ctx.fail(
            "E105",
            f"d_model={model} is not divisible by nhead={heads}: "
            f"{model} = {heads}×{model // heads} + {model % heads}",
            arg="nhead",
            help=f"each head takes d_model / nhead features: choose nhead="
            f"{' or '.join(map(str, near))}",
        )


def _layout(shape: Shape, batch_first: bool) -> tuple[Dim, Dim | None]:
    """(sequence length, batch or None unbatched) of `[L, N, E]`, `[N, L, E]` or `[L, E]`."""
    if len(shape) != 3:
        return shape[0], None
    return (shape[1], shape[0]) if batch_first else (shape[0], shape[1])


def _pair(ctx: RuleContext, first: tuple, second: tuple, batch_first: bool, help: str) -> None:
    """Two sequences one attention reads (tgt and memory, src and tgt): ranks and batches, as
    MultiheadAttention checks query against key. Each is (name, shape, input index)."""
    (name, shape, _), (other, other_shape, index) = first, second
    if len(other_shape) != len(shape):
        ctx.fail(
            "E206",
            f"{ctx.op.name}'s {other} is {len(other_shape)}-d {format_shape(other_shape)}, but "
            f"its {name} is {len(shape)}-d {format_shape(shape)}",
            input=index,
            help=f"give {name} and {other} the same layout: both batched (3-d) or not (2-d)",
        )
    batch, other_batch = _layout(shape, batch_first)[1], _layout(other_shape, batch_first)[1]
    if batch != other_batch:
        dim = 0 if batch_first else 1
        ctx.fail(
            "E205",
            f"{ctx.op.name}'s {name} {format_shape(shape)} and {other} "
            f"{format_shape(other_shape)} have batches {batch} and {other_batch} (dim {dim})",
            input=index,
            help=help,
        )


def _features(ctx: RuleContext, name: str, shape: Shape, index: int, model: Any, arg: str):
    """A sequence's features must be d_model (the attention's embed_dim)."""
    if shape[-1] != model:
        ctx.fail(
            "E202",
            f"{ctx.op.name} expects d_model={model} features in its {name}, but receives "
            f"{shape[-1]} ({format_shape(shape)})",
            arg=arg,
            input=index,
            help=f"project the {name} to {model} features first, or set d_model={shape[-1]}",
        )


def _inputs(ctx: RuleContext, names: tuple[str, str]) -> list[Shape]:
    """The two sequences of a decoder or a Transformer, in torch's order."""
    if len(ctx.inputs) != 2:
        ctx.fail(
            "E104",
            f"{ctx.op.name} takes {names[0]} and {names[1]}, got {len(ctx.inputs)} tensor(s)",
            help=f"call it on both, as torch does: `layer({names[0]}, {names[1]})`",
        )
    return ctx.inputs


# ---------------------------------------------------------------- masks


def _masks(ctx: RuleContext, query, key, names: tuple[str, str, str], batch_first, heads) -> None:
    """One attention's masks as F.multi_head_attention_forward checks them, under this op's
    forward names (attn mask, key padding mask, is_causal): the key padding mask (N, S), (S)
    unbatched; the attn mask (L, S) or (N·nhead, L, S), (nhead, L, S) unbatched; each bool or of
    the input's floating dtype; is_causal=True only with the attn mask ("Need attn_mask if
    specifying the is_causal hint"). `query`, `key`: (name, shape) of the sequences read."""
    (query_name, query_shape), (key_name, key_shape) = query, key
    attention, padding, causal = names
    length, batch = _layout(query_shape, batch_first)
    source = _layout(key_shape, batch_first)[0]
    where = (
        f"L = {length} from {query_name} {format_shape(query_shape)}, S = {source} from "
        f"{key_name} {format_shape(key_shape)}"
    )
    about = {"query": query_name, "batched": batch is not None, "where": where}
    mask = ctx.forward[padding]
    if mask is not None:
        form = [((batch, source), "(N, S)")] if batch is not None else [((source,), "(S)")]
        check_mask(ctx, padding, mask, form, **about)
    mask = ctx.forward[attention]
    if mask is not None:
        stacked = "(N·nhead, L, S)" if batch is not None else "(nhead, L, S)"
        rows = batch * heads if batch is not None else heads
        forms = [((length, source), "(L, S)"), ((rows, length, source), stacked)]
        check_mask(ctx, attention, mask, forms, **about)
    elif ctx.forward[causal]:
        ctx.fail(
            "E105",
            f"{ctx.op.name}'s {causal}=True needs {attention} too: torch takes {causal} as a hint "
            f"that {attention} is the causal mask, and refuses it alone",
            arg=causal,
            help=f"pass the causal mask as {attention}: an (L, S) = "
            f"{format_shape((length, source))} bool tensor, True above the diagonal",
        )


# ---------------------------------------------------------------- nested layers


def _nested(
    ctx: RuleContext,
    layer: LayerArg,
    operands: list[tuple[Shape, int | None]],
    forward: dict[str, Any],
    rename: Callable[[str], str | None],
) -> Evaluation:
    """Evaluate a layer inside this op's rule (an encoder's layer, its norm, a Transformer's
    encoder) on `operands` ((shape, this node's input index or None)). A failure comes back as
    this op's, at `rename(its argument)` (`encoder_layer.nhead`) and at this node's input."""
    outer = [index for _, index in operands]
    given = {}
    for name, value in forward.items():
        if isinstance(value, ForwardTensor):  # re-indexed among the nested op's inputs
            given[name] = ForwardTensor(value.shape, value.dtype, len(outer))
            outer.append(value.input)
        else:
            given[name] = value
    shapes = [shape for shape, _ in operands]
    dtypes = [ctx.dtypes[0]] * len(shapes)
    try:
        return evaluate(layer.op, layer.args, shapes, None, layer.args, dtypes, forward=given)
    except OpFailure as failure:
        # `?` infers no argument of a layer given as an argument: the help leaves it out
        help = failure.help and failure.help.replace(f", or write {failure.arg}=? to infer it", "")
        raise OpFailure(
            failure.code,
            failure.message,
            arg=rename(failure.arg) if failure.arg else None,
            input=outer[failure.input] if failure.input is not None else None,
            help=help,
            notes=failure.notes,
        ) from None


def _norm(ctx: RuleContext, shape: Shape) -> None:
    """An encoder's or decoder's `norm`, applied to its output."""
    if ctx["norm"] is not None:
        _nested(ctx, ctx["norm"], [(shape, None)], {}, lambda arg: f"norm.{arg}")


def _within(key: str | None, forward: dict[str, str]):
    """`rename` for a layer given as argument `key`: its arguments are `key.name`, its forward
    arguments this op's own (`forward`: its names -> ours). None: a layer this op builds itself,
    pointed at as the whole call."""
    return lambda arg: forward[arg] if arg in forward else key and f"{key}.{arg}"


# How each op's forward passes its masks on: the inner op's names -> the outer op's.
_ENCODER_LAYER_FORWARD = {"src_mask": "mask", "src_key_padding_mask": "src_key_padding_mask",
                          "is_causal": "is_causal"}  # fmt: skip
_DECODER_FORWARD = {name: name for name in ("tgt_mask", "memory_mask", "tgt_key_padding_mask",
                    "memory_key_padding_mask", "tgt_is_causal", "memory_is_causal")}  # fmt: skip
_ENCODER_FORWARD = {"mask": "src_mask", "src_key_padding_mask": "src_key_padding_mask",
                    "is_causal": "src_is_causal"}  # fmt: skip


# ---------------------------------------------------------------- the layers


def _encoder_layer_rule(ctx: RuleContext) -> Shape:
    src = ctx.input
    names = ("src_mask", "src_key_padding_mask", "is_causal")
    _masks(ctx, ("src", src), ("src", src), names, ctx["batch_first"], ctx["nhead"])
    return src


def _decoder_layer_rule(ctx: RuleContext) -> Shape:
    tgt, memory = _inputs(ctx, ("tgt", "memory"))
    first = ctx["batch_first"]
    _pair(ctx, ("tgt", tgt, 0), ("memory", memory, 1), first, "tgt and memory need one batch")
    _features(ctx, "memory", memory, 1, ctx["d_model"], "d_model")
    _decoder_masks(ctx, tgt, memory, first, ctx["nhead"])
    return tgt


def _decoder_masks(ctx: RuleContext, tgt: Shape, memory, first: bool, heads: int, key="memory"):
    self_names = ("tgt_mask", "tgt_key_padding_mask", "tgt_is_causal")
    _masks(ctx, ("tgt", tgt), ("tgt", tgt), self_names, first, heads)
    cross = ("memory_mask", "memory_key_padding_mask", "memory_is_causal")
    _masks(ctx, ("tgt", tgt), (key, memory), cross, first, heads)


def _attention_macs(model: int, length: Dim, source: Dim) -> Dim:
    """MultiheadAttention's count (ops/multi.py) with kdim = vdim = E: the query and output
    projections L·E² each, key and value S·E² each, q·kᵀ and weights·v L·S·E each."""
    return 2 * length * model * model + 2 * source * model * model + 2 * length * source * model


def _feedforward(args: dict[str, Any]) -> int:
    """linear1 and linear2's parameters: each is used once per position."""
    model, hidden = args["d_model"], args["dim_feedforward"]
    return 2 * model * hidden + (model + hidden if args["bias"] else 0)


def _encoder_layer_macs(args, inputs, output) -> Dim:
    length = _layout(inputs[0], args["batch_first"])[0]
    model = args["d_model"]
    return _attention_macs(model, length, length) + length * (_feedforward(args) + 2 * model)


def _decoder_layer_macs(args, inputs, output) -> Dim:
    length = _layout(inputs[0], args["batch_first"])[0]
    source = _layout(inputs[1], args["batch_first"])[0]
    model = args["d_model"]
    attention = _attention_macs(model, length, length) + _attention_macs(model, length, source)
    return attention + length * (_feedforward(args) + 3 * model)


def _layer_count(norms: int, attentions: int):
    """Parameters of an encoder (2 norms, 1 attention) or decoder layer (3, 2): each attention
    in_proj 3·E² and out_proj E², the feed-forward's two Linears, each LayerNorm a weight (and a
    bias), biases only with bias=True."""

    def count(args: dict[str, Any]) -> int:
        model, bias = args["d_model"], args["bias"]
        attention = 4 * model * model + (4 * model if bias else 0)
        norm = model * (2 if bias else 1)
        return attentions * attention + _feedforward(args) + norms * norm

    return count


def _layer_spec(kind: str, rule, macs, summary: str, forward: tuple[Param, ...]) -> OpSpec:
    """TransformerEncoderLayer (kind "Encoder": src; 2 norms, 1 attention) or
    TransformerDecoderLayer ("Decoder": tgt and memory; 3 norms, 2 attentions): one constructor,
    d_model a multiple of nhead; they differ in their rule, MACs and forward arguments."""
    name, decoder = f"Transformer{kind}Layer", kind == "Decoder"
    return OpSpec(
        name=name,
        torch=f"nn.{name}",
        params=_layer_params(name),
        rule=rule,
        ranks=(2, 3),
        validate=_heads_validate,
        count_params=_layer_count(norms=3 if decoder else 2, attentions=2 if decoder else 1),
        count_macs=macs,
        inputs=2 if decoder else 1,
        summary=summary,
        forward=forward,
    )


register(
    _layer_spec(
        "Encoder",
        _encoder_layer_rule,
        _encoder_layer_macs,
        "self-attention and a feed-forward block, each with a residual and a LayerNorm",
        forward=(
            Param("src_mask", None, is_tensor=True),
            Param("src_key_padding_mask", None, is_tensor=True),
            Param("is_causal", False, check=boolean),
        ),
    )
)
register(
    _layer_spec(
        "Decoder",
        _decoder_layer_rule,
        _decoder_layer_macs,
        "self-attention, attention over memory and a feed-forward block, each with a residual "
        "and a LayerNorm",
        forward=(
            Param("tgt_mask", None, is_tensor=True),
            Param("memory_mask", None, is_tensor=True),
            Param("tgt_key_padding_mask", None, is_tensor=True),
            Param("memory_key_padding_mask", None, is_tensor=True),
            Param("tgt_is_causal", False, check=boolean),
            Param("memory_is_causal", False, check=boolean),
        ),
    )
)


# ---------------------------------------------------------------- the stacks


def _encoder_rule(ctx: RuleContext) -> Shape:
    layer = ctx["encoder_layer"]
    inner = layer.args
    src = ctx.input
    _features(ctx, "src", src, 0, inner["d_model"], "encoder_layer.d_model")
    names = ("mask", "src_key_padding_mask", "is_causal")
    _masks(ctx, ("src", src), ("src", src), names, inner["batch_first"], inner["nhead"])
    forward = {  # torch's TransformerEncoder.forward calls each layer so
        "src_mask": ctx.forward["mask"],
        "src_key_padding_mask": ctx.forward["src_key_padding_mask"],
        "is_causal": bool(ctx.forward["is_causal"]),  # None: detected, and True only with a mask
    }
    _nested(ctx, layer, [(src, 0)], forward, _within("encoder_layer", _ENCODER_LAYER_FORWARD))
    _norm(ctx, src)
    return src


def _decoder_rule(ctx: RuleContext) -> Shape:
    layer = ctx["decoder_layer"]
    inner = layer.args
    tgt, memory = _inputs(ctx, ("tgt", "memory"))
    first = inner["batch_first"]
    _pair(ctx, ("tgt", tgt, 0), ("memory", memory, 1), first, "tgt and memory need one batch")
    for name, shape, index in (("tgt", tgt, 0), ("memory", memory, 1)):
        _features(ctx, name, shape, index, inner["d_model"], "decoder_layer.d_model")
    _decoder_masks(ctx, tgt, memory, first, inner["nhead"])
    forward = dict(ctx.forward)
    forward["tgt_is_causal"] = bool(forward["tgt_is_causal"])  # None: detected
    _nested(
        ctx, layer, [(tgt, 0), (memory, 1)], forward, _within("decoder_layer", _DECODER_FORWARD)
    )
    _norm(ctx, tgt)
    return tgt


def _stack_macs(key: str):
    """num_layers copies of the layer, then the norm's one per output value."""

    def count(args, inputs, output) -> Dim:
        layer = args[key]
        each = layer.op.count_macs(layer.args, inputs, output)
        norm = 0
        if args["norm"] is not None:
            norm = _layout(output, layer.args["batch_first"])[0] * output[-1]
        return args["num_layers"] * each + norm

    return count


def _stack_params(key: str):
    def count(args: dict[str, Any]) -> int:
        layer, norm = args[key], args["norm"]
        total = args["num_layers"] * layer.op.count_params(layer.args)
        return total + (norm.op.count_params(norm.args) if norm is not None else 0)

    return count


def _stack_spec(kind: str, rule, summary: str, forward: tuple[Param, ...], *more: Param) -> OpSpec:
    """TransformerEncoder or TransformerDecoder: `num_layers` copies of the layer given as their
    first argument (`encoder_layer` / `decoder_layer`), then an optional LayerNorm `norm`;
    `more`: constructor parameters after those (the encoder's enable_nested_tensor, mask_check)."""
    name, key, layer = f"Transformer{kind}", f"{kind.lower()}_layer", f"Transformer{kind}Layer"
    return OpSpec(
        name=name,
        torch=f"nn.{name}",
        params=(
            Param(key, check=layer_of(layer), layer=(layer,)),
            Param("num_layers", check=positive_int),
            Param("norm", None, check=optional(layer_of("LayerNorm")), layer=("LayerNorm",)),
            *more,
        ),
        rule=rule,
        ranks=(2, 3),
        count_params=_stack_params(key),
        count_macs=_stack_macs(key),
        inputs=2 if kind == "Decoder" else 1,
        summary=summary,
        forward=forward,
    )


register(
    _stack_spec(
        "Encoder",
        _encoder_rule,
        "num_layers copies of an encoder layer, then an optional norm",
        (
            Param("mask", None, is_tensor=True),
            Param("src_key_padding_mask", None, is_tensor=True),
            Param("is_causal", None, check=optional(boolean)),
        ),
        Param("enable_nested_tensor", True, check=boolean),
        Param("mask_check", True, check=boolean),
    )
)
register(
    _stack_spec(
        "Decoder",
        _decoder_rule,
        "num_layers copies of a decoder layer over memory, then an optional norm",
        (
            Param("tgt_mask", None, is_tensor=True),
            Param("memory_mask", None, is_tensor=True),
            Param("tgt_key_padding_mask", None, is_tensor=True),
            Param("memory_key_padding_mask", None, is_tensor=True),
            Param("tgt_is_causal", None, check=optional(boolean)),
            Param("memory_is_causal", False, check=boolean),
        ),
    )
)


# ---------------------------------------------------------------- Transformer


def _made(name: str, positional: list, keywords: dict[str, Any]) -> LayerArg:
    op = registry.REGISTRY[name]  # read when used: tests re-register one family on its own
    checked = check_arguments(op, bind(op, positional, keywords))
    return LayerArg(op, tuple((p.name, checked[p.name]) for p in op.params), frozenset(keywords))


def _stacks(args: dict[str, Any]) -> tuple[LayerArg, LayerArg]:
    """Transformer's encoder and decoder: the custom ones, or those torch's constructor builds
    from its own arguments (a stack of layers, then LayerNorm(d_model, eps, bias))."""
    made = []
    for kind, count in (("Encoder", "num_encoder_layers"), ("Decoder", "num_decoder_layers")):
        custom = args[f"custom_{kind.lower()}"]
        if custom is not None:
            made.append(custom)
            continue
        layer_op = registry.REGISTRY[f"Transformer{kind}Layer"]
        layer = LayerArg(layer_op, tuple((p.name, args[p.name]) for p in layer_op.params))
        norm = _made("LayerNorm", [args["d_model"]], {"eps": args["layer_norm_eps"],
                                                      "bias": args["bias"]})  # fmt: skip
        made.append(_made(f"Transformer{kind}", [layer, args[count], norm], {}))
    return made[0], made[1]


def _transformer_rule(ctx: RuleContext) -> Shape:
    src, tgt = _inputs(ctx, ("src", "tgt"))
    first, heads, custom = ctx["batch_first"], ctx["nhead"], ctx["custom_encoder"]
    _pair(
        ctx,
        ("src", src, 0),
        ("tgt", tgt, 1),
        first,
        'src and tgt need one batch (torch: "the batch number of src and tgt must be equal")',
    )
    _features(ctx, "tgt", tgt, 1, ctx["d_model"], "d_model")
    if custom is None:  # a custom encoder's or decoder's own layers check their masks
        names = ("src_mask", "src_key_padding_mask", "src_is_causal")
        _masks(ctx, ("src", src), ("src", src), names, first, heads)
    if ctx["custom_decoder"] is None:
        _decoder_masks(ctx, tgt, src, first, heads, key="src")
    encoder, decoder = _stacks(ctx.args)
    forward = ctx.forward
    encoded = {
        "mask": forward["src_mask"],
        "src_key_padding_mask": forward["src_key_padding_mask"],
        "is_causal": forward["src_is_causal"],
    }
    # Inside the encoder and decoder Transformer builds, nothing it did not check first fails.
    rename = _within(custom and "custom_encoder", _ENCODER_FORWARD)
    memory = _nested(ctx, encoder, [(src, 0)], encoded, rename).shape
    decoded = {name: forward[name] for name in (p.name for p in decoder.op.forward)}
    rename = _within(ctx["custom_decoder"] and "custom_decoder", _DECODER_FORWARD)
    _nested(ctx, decoder, [(tgt, 1), (memory, None)], decoded, rename)
    return tgt


def _transformer_params(args: dict[str, Any]) -> int:
    return sum(stack.op.count_params(stack.args) for stack in _stacks(args))


def _transformer_macs(args, inputs, output) -> Dim:
    src, tgt = inputs
    encoder, decoder = _stacks(args)
    return encoder.op.count_macs(encoder.args, [src], src) + decoder.op.count_macs(
        decoder.args, [tgt, src], tgt
    )


register(
    OpSpec(
        name="Transformer",
        torch="nn.Transformer",
        params=(
            Param(
                "d_model", 512, check=positive_int, infer=last_dim("Transformer"), mismatch="E202"
            ),  # fmt: skip
            Param("nhead", 8, check=positive_int),
            Param("num_encoder_layers", 6, check=positive_int),
            Param("num_decoder_layers", 6, check=positive_int),
            Param("dim_feedforward", 2048, check=positive_int),
            Param("dropout", 0.1, check=probability),
            Param("activation", "relu", check=_activation),
            Param(
                "custom_encoder",
                None,
                check=optional(layer_of("TransformerEncoder")),
                layer=("TransformerEncoder",),
            ),
            Param(
                "custom_decoder",
                None,
                check=optional(layer_of("TransformerDecoder")),
                layer=("TransformerDecoder",),
            ),
            Param("layer_norm_eps", 1e-5, check=number),
            Param("batch_first", False, check=boolean),
            Param("norm_first", False, check=boolean),
            Param("bias", True, check=boolean),
        ),
        rule=_transformer_rule,
        ranks=(2, 3),
        validate=_heads_validate,
        count_params=_transformer_params,
        count_macs=_transformer_macs,
        inputs=2,
        summary="an encoder over src, then a decoder over tgt and the encoder's memory",
        forward=(
            Param("src_mask", None, is_tensor=True),
            Param("tgt_mask", None, is_tensor=True),
            Param("memory_mask", None, is_tensor=True),
            Param("src_key_padding_mask", None, is_tensor=True),
            Param("tgt_key_padding_mask", None, is_tensor=True),
            Param("memory_key_padding_mask", None, is_tensor=True),
            Param("src_is_causal", None, check=optional(boolean)),
            Param("tgt_is_causal", None, check=optional(boolean)),
            Param("memory_is_causal", False, check=boolean),
        ),
    )
)
