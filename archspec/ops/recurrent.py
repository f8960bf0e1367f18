"""Recurrent layers: RNN, LSTM and GRU (torch.nn.modules.rnn), with torch's signatures.

Each reads a sequence, unbatched `[L, H_in]` or batched `[L, N, H_in]` (`[N, L, H_in]` with
batch_first=True), and returns two values as torch's forward does: the output
`[.., L, D·H_out]` (the batch where the input has it) and the final hidden state h_n
`[D·num_layers, N, H_out]` (batch in dim 1 whatever batch_first says; no N unbatched), where D is
2 for a bidirectional layer and H_out is proj_size when an LSTM projects, else hidden_size. An
LSTM's second value is the pair (h_n, c_n), c_n `[D·num_layers, N, hidden_size]`, so its rule
gives three shapes, grouped as torch nests them (`OpSpec.output_groups`): `out, (h, c) = x -> lstm`.

`initial_state_shapes` is the shape of h_n and c_n, which is also the shape torch requires of an
initial state hx passed to forward: a check of hx compares against it.

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

from archspec.core.dims import Dim, Shape
from archspec.ops.base import (
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
    return (output, *initial_state_shapes(ctx.op.name, ctx.args, ctx.input))


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
    )


_SUMMARIES = {
    "RNN": "Elman recurrent layer (tanh or relu) over a sequence: (output, h_n)",
    "LSTM": "long short-term memory layer over a sequence: (output, (h_n, c_n))",
    "GRU": "gated recurrent unit layer over a sequence: (output, h_n)",
}

for _name in ("RNN", "LSTM", "GRU"):
    register(_recurrent(_name))
