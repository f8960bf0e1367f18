"""Recurrent layers: RNN, LSTM and GRU (torch.nn.modules.rnn), with torch's signatures.

Each reads a sequence, unbatched `[L, H_in]` or batched `[L, N, H_in]` (`[N, L, H_in]` with
batch_first=True), and returns two values as torch's forward does: the output
`[.., L, D·H_out]` (the batch where the input has it) and the final hidden state h_n
`[D·num_layers, N, H_out]` (batch in dim 1 whatever batch_first says; no N unbatched), where D is
2 for a bidirectional layer and H_out is proj_size when an LSTM projects, else hidden_size. An
LSTM's second value is the pair (h_n, c_n), c_n `[D·num_layers, N, hidden_size]`, so its rule
gives three shapes, grouped as torch nests them (`OpSpec.output_groups`): `out, (h, c) = x -> lstm`.

`initial_state_shapes` is the shape of h_n and c_n, which is also the shape torch requires of an
initial state given to forward: `rnn(x, hx=h0)`, an LSTM's pair `lstm(x, hx=(h0, c0))` (the
forward argument hx, OpSpec.forward). Its rank, sizes and dtype are checked as torch checks them.

Parameters are torch's, layer by layer and direction by direction: weight_ih_l{k}
[gates·hidden, in_k] (in_0 = input_size, in_k = D·H_out above), weight_hh_l{k} [gates·hidden,
H_out], bias_ih_l{k} and bias_hh_l{k} [gates·hidden] (with bias), and an LSTM's weight_hr_l{k}
[proj_size, hidden] (with proj_size); gates is 1 (RNN), 3 (GRU) or 4 (LSTM). MACs per sample
follow the weight-layer convention (docs/language.md, "What summary counts"): every parameter is
used once per time step, weights as multiply-adds and biases as one add per gate value, so a
sequence of L steps counts L × parameters; the gates' element-wise arithmetic counts nothing.
"""

from __future__ import annotations

from typing import Any

from archspec.core import dtypes as dt
from archspec.core.dims import Dim, Shape, Sym, format_shape
from archspec.ops.base import (
    ArgError,
    ForwardTensor,
    OpSpec,
    Param,
    RuleContext,
    boolean,
    non_negative_int,
    one_of,
    positive_int,
    probability,
)
from archspec.ops.linear import last_dim
from archspec.ops.registry import register

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
STATE_NAMES = ("h_0", "c_0")  # torch's names of the initial states, in hx's order


def directions(args: dict[str, Any]) -> int:
    return 2 if args["bidirectional"] else 1


def hidden_out(args: dict[str, Any]) -> int:
    """H_out: the size of h, the projected size when an LSTM has proj_size."""
    return args.get("proj_size") or args["hidden_size"]


def initial_state_shapes(op_name: str, args: dict[str, Any], input_shape: Shape) -> tuple:
    """The shapes of the state torch returns after the sequence (h_n, and an LSTM's c_n), which
    are the shapes it requires of an initial state hx given to forward: (D·num_layers, N, H_out)
    and (D·num_layers, N, hidden_size), without N for an unbatched input. N is read off dim 0
    (batch_first) or dim 1 of a batched input."""
    stacked = directions(args) * args["num_layers"]
    batch = (input_shape[0 if args["batch_first"] else 1],) if len(input_shape) == 3 else ()
    hidden = (stacked, *batch, hidden_out(args))
    if op_name == "LSTM":
        return hidden, (stacked, *batch, args["hidden_size"])
    return (hidden,)


def _rule(ctx: RuleContext):
    output = (*ctx.input[:-1], directions(ctx.args) * hidden_out(ctx.args))
    states = initial_state_shapes(ctx.op.name, ctx.args, ctx.input)
    if ctx.forward.get("hx") is not None:
        _check_initial_state(ctx, states)
    return (output, *states)


def state_structure(op_name: str):
    """The check of hx's structure (the Param.check of a tensor forward argument: the elaborator
    runs it where the layer is called, the rule again): an LSTM takes the pair (h_0, c_0) as a
    tuple, RNN and GRU the one tensor h_0. Torch fails deep inside on anything else (an
    IndexError for one tensor given to an LSTM, "'tuple' object has no attribute 'dim'" for a
    GRU given a pair)."""

    def checker(name: str, value: Any) -> Any:
        count = len(value) if isinstance(value, tuple) else None
        if op_name == "LSTM" and count != 2:
            got = "one tensor" if count is None else f"a tuple of {count} tensors"
            raise ArgError(
                f"LSTM's {name} is the pair (h_0, c_0), got {got}",
                help=f"pass both states as a tuple: `{name}=(h0, c0)`, h0 of shape "
                "(D·num_layers, N, H_out) and c0 of shape (D·num_layers, N, hidden_size)",
            )
        if op_name != "LSTM" and count is not None:
            raise ArgError(
                f"{op_name}'s {name} is one tensor h_0, got a tuple of {count} "
                f"tensor{'s' if count != 1 else ''}",
                help=f"pass h_0 alone: `{name}=h0` (only an LSTM's state is a pair (h_0, c_0))",
            )
        return value

    return checker


def _check_initial_state(ctx: RuleContext, expected: tuple) -> None:
    """hx as torch checks it (torch.nn.RNNBase.forward, check_forward_args): first both ranks,
    3-d for a batched input and 2-d for an unbatched one, then the sizes (initial_state_shapes);
    then its dtype, which must be the input's (torch fails in the first matrix product)."""
    given = ctx.forward["hx"]
    try:
        state_structure(ctx.op.name)("hx", given)
    except ArgError as error:
        ctx.fail("E108", error.message, arg="hx", help=error.help)
    states: tuple[ForwardTensor, ...] = given if isinstance(given, tuple) else (given,)
    for name, state, shape in zip(STATE_NAMES, states, expected):
        if len(state.shape) != len(shape):
            layout = "a batched (3-d)" if len(ctx.input) == 3 else "an unbatched (2-d)"
            ctx.fail(
                "E206",
                f"{ctx.op.name}'s {name} is {len(state.shape)}-d {format_shape(state.shape)}, "
                f"but {layout} input {format_shape(ctx.input)} takes it {len(shape)}-d: "
                f"{_state_letters(ctx, name)} = {format_shape(shape)}",
                arg="hx",
                input=state.input,
                help=f"give {name} the shape {format_shape(shape)}",
            )
    for name, state, shape in zip(STATE_NAMES, states, expected):
        if tuple(state.shape) != tuple(shape):
            ctx.fail(
                "E205",
                f"{ctx.op.name}'s {name} is {format_shape(state.shape)}, but must be "
                f"{_state_letters(ctx, name)} = {format_shape(shape)}",
                arg="hx",
                input=state.input,
                notes=(_state_arithmetic(ctx, name),),
                help=f"give {name} the shape {format_shape(shape)}",
            )
    wanted = ctx.dtypes[0]
    for name, state in zip(STATE_NAMES, states):
        if state.dtype != wanted:
            method = next(m for m, d in dt.CONVERSIONS.items() if d == wanted)
            ctx.fail(
                "E108",
                f"{ctx.op.name}'s {name} is {state.dtype}, but the input is {wanted}: torch "
                "needs the initial state in the input's dtype",
                arg="hx",
                input=state.input,
                help=f"convert {name} to {wanted}: `-> {method}()` where it is made",
            )


def _state_letters(ctx: RuleContext, name: str) -> str:
    """ "(D·num_layers, N, H_out)": the shape torch documents for h_0 (c_0: hidden_size last)."""
    last = "hidden_size" if name == "c_0" else "H_out"
    batch = "N, " if len(ctx.input) == 3 else ""
    return f"(D·num_layers, {batch}{last})"


def _state_arithmetic(ctx: RuleContext, name: str) -> str:
    """Where each size of an initial state comes from, in numbers."""
    args, stacked = ctx.args, directions(ctx.args) * ctx["num_layers"]
    parts = [
        f"D·num_layers = {directions(args)}×{args['num_layers']} = {stacked} "
        f"(bidirectional={args['bidirectional']})"
    ]
    if len(ctx.input) == 3:
        dim = 0 if args["batch_first"] else 1
        size = "" if isinstance(ctx.input[dim], Sym) else f" = {ctx.input[dim]}"
        parts.append(
            f"N{size} is dim {dim} of the input {format_shape(ctx.input)} "
            f"(batch_first={args['batch_first']})"
        )
    if name == "c_0":
        parts.append(f"hidden_size = {args['hidden_size']}")
    elif args.get("proj_size"):
        parts.append(f"H_out = proj_size = {args['proj_size']}")
    else:
        parts.append(f"H_out = hidden_size = {args['hidden_size']}")
    return ", ".join(parts)


def _validate(ctx: RuleContext) -> None:
    projected, hidden = ctx.args.get("proj_size", 0), ctx["hidden_size"]
    if projected >= hidden:
        ctx.fail(
            "E105",
            f"proj_size={projected} must be smaller than hidden_size={hidden}: the projection "
            f"maps the {hidden} hidden features down",
            arg="proj_size",
            help=f"choose proj_size below {hidden}, or 0 for no projection",
        )
    dropout, layers = ctx["dropout"], ctx["num_layers"]
    if dropout > 0 and layers == 1:
        ctx.warn(
            "W012",
            f"{ctx.op.name} applies dropout={dropout} between its stacked layers only, and "
            f"num_layers={layers} has none: it never drops anything (torch warns too)",
            arg="dropout",
            help="stack layers (num_layers=2 or more), or drop the output with `-> "
            f"Dropout({dropout})` after it",
        )


def _params(args: dict[str, Any]) -> int:
    gates = GATES[args["mode"]] * args["hidden_size"]
    out, projected = hidden_out(args), args.get("proj_size", 0)
    total = 0
    for layer in range(args["num_layers"]):
        features = args["input_size"] if layer == 0 else directions(args) * out
        one = gates * (features + out) + (2 * gates if args["bias"] else 0)
        total += directions(args) * (one + projected * args["hidden_size"])
    return total


def _steps(args: dict[str, Any], shape: Shape) -> Dim:
    """L, the sequence length: dim 1 of a batch_first batch, else dim 0."""
    return shape[1] if len(shape) == 3 and args["batch_first"] else shape[0]


def _recurrent(name: str) -> OpSpec:
    sizes = (
        Param("input_size", check=positive_int, infer=last_dim(name), mismatch="E202"),
        Param("hidden_size", check=positive_int),
        Param("num_layers", 1, check=positive_int),
    )
    shared = (
        Param("bias", True, check=boolean),
        Param("batch_first", False, check=boolean),
        Param("dropout", 0.0, check=probability),
        Param("bidirectional", False, check=boolean),
    )
    if name == "RNN":  # torch's RNN takes nonlinearity fourth, by position too
        params = (*sizes, Param("nonlinearity", "tanh", check=one_of("tanh", "relu")), *shared)
    elif name == "LSTM":
        params = (*sizes, *shared, Param("proj_size", 0, check=non_negative_int))
    else:
        params = (*sizes, *shared)

    def count(args: dict[str, Any]) -> int:
        return _params({**args, "mode": name})

    return OpSpec(
        name=name,
        torch=f"nn.{name}",
        params=params,
        rule=_rule,
        ranks=(2, 3),
        validate=_validate,
        count_params=count,
        count_macs=lambda args, inputs, output: _steps(args, inputs[0]) * count(args),
        outputs=lambda args: 3 if name == "LSTM" else 2,
        output_groups=(1, 2) if name == "LSTM" else None,
        summary=_SUMMARIES[name],
        # torch's forward(input, hx=None): the initial state, zeros when not given.
        forward=(Param("hx", None, check=state_structure(name), is_tensor=True),),
    )


_SUMMARIES = {
    "RNN": "Elman recurrent layer (tanh or relu) over a sequence: (output, h_n)",
    "LSTM": "long short-term memory layer over a sequence: (output, (h_n, c_n))",
    "GRU": "gated recurrent unit layer over a sequence: (output, h_n)",
}

for _name in ("RNN", "LSTM", "GRU"):
    register(_recurrent(_name))
