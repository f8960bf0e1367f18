"""Initial states of RNN, GRU and LSTM (torch's forward(input, hx=None)), and the counts of
sequence-first specs.

`rnn(x, hx=h0)` and `lstm(x, hx=(h0, c0))`: the registry's rule is compared with torch for drawn
layers and states (right, of another rank or size, of another dtype, one tensor where a pair
belongs and the reverse): the same shapes, or both refuse. Compiled specs with a state give
torch's outputs with the same weights (eval), for each layer, batch_first both ways,
bidirectional, proj_size and unbatched. Refusals are pinned at their line and column.

Then `[S, N, E]` (torch's sequence-first layout): N is the batch, S a size; summary's MACs per
sample and activation memory equal what torch runs (test_counts_torch's FLOP counter). (Where a
sequence length is counted, the top of its range: tests/test_sizes_cli.py.)
"""

from __future__ import annotations

import os
import textwrap
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_harness import (  # noqa: E402
    build_checked,
    concrete,
    observed_shapes,
    random_input,
    shape_disagreements,
)

import archspec  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import bind, evaluate  # noqa: E402
from archspec.ops.base import ForwardTensor, OpFailure  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402

pytestmark = pytest.mark.torch

BATCH = 2
EXAMPLES = int(os.environ.get("ARCHSPEC_TORCH_EXAMPLES", "50"))
LAYERS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ---------------------------------------------------------------- the registry against torch


def _state_shape(d, shape: tuple) -> tuple:
    """`shape`, or now and then one size off by one, or a dim more or less."""
    roll = d(st.integers(0, 6))
    if roll == 0:
        axis = d(st.integers(0, len(shape) - 1))
        return tuple(s + 1 if i == axis else s for i, s in enumerate(shape))
    if roll == 1:
        return (*shape, 1) if d(st.booleans()) else shape[1:]
    return shape


def state_case(d) -> tuple[str, dict, tuple, tuple]:
    """(op name, constructor arguments, input shape, states: ((shape, dtype), ...))."""
    name = d(st.sampled_from(sorted(LAYERS)))
    hidden = d(st.integers(2, 4))
    args = {
        "input_size": 3,
        "hidden_size": hidden,
        "num_layers": d(st.integers(1, 2)),
        "batch_first": d(st.booleans()),
        "bidirectional": d(st.booleans()),
    }
    if name == "LSTM" and d(st.booleans()):
        args["proj_size"] = d(st.integers(1, hidden - 1))
    length, batched = d(st.integers(1, 3)), d(st.integers(0, 3)) > 0
    if not batched:
        shape = (length, 3)
    else:
        shape = (BATCH, length, 3) if args["batch_first"] else (length, BATCH, 3)
    stacked = (2 if args["bidirectional"] else 1) * args["num_layers"]
    batch = (BATCH,) if batched else ()
    wanted = [(stacked, *batch, args.get("proj_size") or hidden)]
    if name == "LSTM":
        wanted.append((stacked, *batch, hidden))
    dtype = st.sampled_from(["float32"] * 5 + ["float64"])
    states = tuple((_state_shape(d, s), d(dtype)) for s in wanted)
    roll = d(st.integers(0, 7))
    if roll == 0:  # one tensor too few or too many: a GRU given a pair, an LSTM one tensor
        states = states[:1] if name == "LSTM" else (*states, states[0])
    return name, args, shape, states


def run_archspec(name, args, shape, states):
    op = REGISTRY[name]
    tensors = tuple(ForwardTensor(s, dtype, 1 + i) for i, (s, dtype) in enumerate(states))
    hx = tensors if len(tensors) > 1 else tensors[0]  # an LSTM's pair, or one tensor
    return evaluate(op, bind(op, [], args), [shape], forward={"hx": hx}).shape


def run_torch(name, args, shape, states):
    module = LAYERS[name](**args).eval()
    tensors = [torch.randn(s, dtype=TORCH_DTYPES[dtype]) for s, dtype in states]
    hx = tuple(tensors) if len(tensors) > 1 else tensors[0]
    # torch's default CPU kernels (oneDNN) refuse a state of another dtype; its native kernel,
    # without oneDNN, runs a float64 c_0 through a single step by promotion (no matrix product
    # reads c), an accident that a second step or a GPU refuses
    with torch.no_grad():
        out, state = module(torch.randn(shape), hx)
    states_out = state if isinstance(state, tuple) else (state,)
    return (tuple(out.shape), *(tuple(s.shape) for s in states_out))


@settings(max_examples=EXAMPLES * 4, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_initial_states_match_torch(data):
    case = state_case(data.draw)
    try:
        result, refusal = run_archspec(*case), None
    except OpFailure as error:
        result, refusal = None, error
    try:
        expected, torch_error = run_torch(*case), None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        expected, torch_error = None, error
    if refusal is not None:
        assert torch_error is not None, f"archspec refuses {case} ({refusal.message}), torch not"
        assert refusal.arg == "hx"
        return
    assert torch_error is None, f"torch refuses {case} ({torch_error}), archspec agrees"
    assert result == expected, f"{case}: archspec {result}, torch {expected}"


def test_the_rule_refuses_a_wrong_structure_too():
    """What the elaborator refuses where the layer is called, the rule refuses for a direct
    caller: one tensor for an LSTM, a pair for a GRU."""
    lstm, gru = REGISTRY["LSTM"], REGISTRY["GRU"]
    h0 = ForwardTensor((1, 2, 4), "float32", 1)
    with pytest.raises(OpFailure) as raised:
        evaluate(lstm, bind(lstm, [3, 4], {}), [(5, 2, 3)], forward={"hx": h0})
    assert (raised.value.code, raised.value.message) == (
        "E108",
        "LSTM's hx is the pair (h_0, c_0), got one tensor",
    )
    with pytest.raises(OpFailure) as raised:
        evaluate(gru, bind(gru, [3, 4], {}), [(5, 2, 3)], forward={"hx": (h0, h0)})
    assert raised.value.message == "GRU's hx is one tensor h_0, got a tuple of 2 tensors"


# ---------------------------------------------------------------- compiled specs in torch


def _layer_args(name: str, batch_first: bool, bidirectional: bool, proj: int) -> dict:
    args = {"num_layers": 2, "batch_first": batch_first, "bidirectional": bidirectional}
    if proj:
        args["proj_size"] = proj
    return args


def _spec(name: str, layout: str, args: dict) -> str:
    """A model that runs `name` from a given state: x, h0 (and c0) are its inputs, with L = 4,
    input_size 3, hidden_size 5, N the batch (none unbatched)."""
    x = {"sequence-first": "4, N, 3", "batch-first": "N, 4, 3", "unbatched": "4, 3"}[layout]
    stacked = (2 if args["bidirectional"] else 1) * args["num_layers"]
    batch = "" if layout == "unbatched" else "N, "
    written = ", ".join(f"{key}={value}" for key, value in args.items())
    lines = [f"input x: [{x}]", f"input h0: [{stacked}, {batch}{args.get('proj_size') or 5}]"]
    if name == "LSTM":
        lines += [f"input c0: [{stacked}, {batch}5]", f"rnn: LSTM(3, 5, {written})"]
        lines += ["out, (h, c) = rnn(x, hx=(h0, c0))", "return out, h, c"]
    else:
        lines += [f"rnn: {name}(3, 5, {written})", "out, h = rnn(x, hx=h0)", "return out, h"]
    body = "\n    ".join(lines)
    return f"model State {{\n    {body}\n}}\n"


CASES = [
    (name, layout, bidirectional, proj)
    for name in sorted(LAYERS)
    for layout in ("sequence-first", "batch-first", "unbatched")
    for bidirectional in (False, True)
    for proj in ((0, 2) if name == "LSTM" else (0,))
]


@pytest.mark.parametrize(
    ("name", "layout", "bidirectional", "proj"),
    CASES,
    ids=[f"{n}-{lay}-{'bi' if b else 'uni'}{f'-proj{p}' if p else ''}" for n, lay, b, p in CASES],
)
def test_compiled_state_equals_torch(tmp_path, name, layout, bidirectional, proj):
    args = _layer_args(name, layout == "batch-first", bidirectional, proj)
    path = tmp_path / "state.arch"
    path.write_text(_spec(name, layout, args), encoding="utf-8")
    result = archspec.check(str(path))
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    pair = "hx=(h0, c0)" if name == "LSTM" else "hx=h0"
    assert f"self.rnn(x, {pair})" in generate(result)
    model, checked, filename = build_checked(str(path))
    reference = LAYERS[name](3, 5, **args)
    model.rnn.load_state_dict(reference.state_dict(), strict=True)
    model.eval(), reference.eval()
    torch.manual_seed(5)
    graph = checked.graph
    inputs = {
        graph.node(i).name: random_input(concrete(graph.node(i).declared_shape, BATCH))
        for i in graph.inputs
    }
    with torch.no_grad():
        got = model(*inputs.values())
        states = (inputs["h0"], inputs["c0"]) if name == "LSTM" else inputs["h0"]
        out, state = reference(inputs["x"], states)
        zero_start, _ = reference(inputs["x"])
    expected = (out, *state) if name == "LSTM" else (out, state)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert mine.shape == theirs.shape
        torch.testing.assert_close(mine, theirs)
    assert not torch.allclose(out, zero_start)  # the state was used, not zeros
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


def test_an_encoders_state_starts_the_decoder(tmp_path):
    """The pair an LSTM returns, bound as one name (`hc`), is the next LSTM's hx as it stands;
    a GRU's h_n another GRU's."""
    text = """
    model Seq2Seq {
        input src: [N, 6, 3]
        input tgt: [N, 4, 3]
        encoder: LSTM(3, 5, batch_first=True)
        decoder: LSTM(3, 5, batch_first=True)
        first: GRU(3, 5, batch_first=True)
        second: GRU(3, 5, batch_first=True)
        _, hc = encoder(src)
        out, (h, c) = decoder(tgt, hx=hc)
        _, g = first(tgt)
        y, _ = second(tgt, hx=g)
        return out, c, y
    }
    """
    path = tmp_path / "seq2seq.arch"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    result = archspec.check(str(path))
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    source = generate(result)
    assert "self.decoder(tgt, hx=(hc, hc_1))" in source  # the pair's two tensors
    assert "self.second(tgt, hx=g)" in source
    model, checked, filename = build_checked(str(path))
    model.eval()
    src, tgt = torch.randn(2, 6, 3), torch.randn(2, 4, 3)
    with torch.no_grad():
        out, c, y = model(src, tgt)
        _, state = model.encoder(src)
        expected_out, (_, expected_c) = model.decoder(tgt, state)
        _, g = model.first(tgt)
        expected_y, _ = model.second(tgt, g)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(c, expected_c)
    torch.testing.assert_close(y, expected_y)
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


def test_the_state_is_an_input_of_the_layers_node():
    text = (
        "model M {\n    input x: [5, N, 3]\n    input h0: [1, N, 4]\n    input c0: [1, N, 4]\n"
        "    lstm: LSTM(3, 4)\n    out, (h, c) = lstm(x, hx=(h0, c0))\n    return out\n}\n"
    )
    checked = archspec.check_text(text).model()
    (first,) = [n for n in checked.graph.nodes() if n.module == "lstm" and n.output == 0]
    assert first.inputs == ("x", "h0", "c0")
    assert first.forward_inputs == ("hx[0]", "hx[1]") and first.operands == ("x",)
    assert checked.graph.graph.has_edge("c0", first.id)


# ---------------------------------------------------------------- refusals at line:col

HEADER = """model M {
    input x: [5, N, 3]
    input flat: [5, 3]
    input h0: [2, N, 4]
    input c0: [2, N, 4]
    input h1: [1, N, 4]
    input other: [2, 7, 4]
    input small: [2, N, 2]
    input wide: [2, N, 4] float64
    input mask: [5, 5] bool
    lstm: LSTM(3, 4, num_layers=2)
    gru: GRU(3, 4, num_layers=2)
    bi: GRU(3, 4, bidirectional=True)
    proj: LSTM(3, 4, num_layers=2, proj_size=2)
    attn: MultiheadAttention(3, 1)
"""
FIRST = HEADER.count("\n") + 1  # the line of the statement under test
# (the statement, code, column, message, note, help)
# fmt: off
REFUSALS = [
    ("out, (h, c) = lstm(x, hx=h0)", "E108", 30,
     "LSTM's hx is the pair (h_0, c_0), got one tensor", None,
     "pass both states as a tuple: `hx=(h0, c0)`, h0 of shape (D·num_layers, N, H_out) and "
     "c0 of shape (D·num_layers, N, hidden_size)"),
    ("out, (h, c) = lstm(x, hx=(h0, c0, c0))", "E108", 30,
     "LSTM's hx is the pair (h_0, c_0), got a tuple of 3 tensors", None, None),
    ("out, h = gru(x, hx=(h0, c0))", "E108", 24,
     "GRU's hx is one tensor h_0, got a tuple of 2 tensors", None,
     "pass h_0 alone: `hx=h0` (only an LSTM's state is a pair (h_0, c_0))"),
    ("out, h = gru(x, hx=[h0])", "E108", 24,
     "GRU's hx is one tensor h_0, got a tuple of 1 tensor", None, None),
    ("out, (h, c) = lstm(x, hx=(h0, 3))", "E108", 30,
     "LSTM's 'hx' must be a tensor, a tuple of tensors or None, got a tuple of 2 items", None,
     None),
    ("out, h = gru(x, hx=2.0)", "E108", 24,
     "GRU's 'hx' must be a tensor, a tuple of tensors or None, got the number 2.0", None, None),
    ("y, _ = attn(x, x, x, attn_mask=(mask, mask))", "E108", 36,
     "MultiheadAttention's 'attn_mask' must be a tensor or None, got a tuple of 2 items", None,
     None),
    ("out, h = gru(x, hx=h0[0])", "E206", 24,
     "GRU's h_0 is 2-d [N, 4], but a batched (3-d) input [5, N, 3] takes it 3-d: "
     "(D·num_layers, N, H_out) = [2, N, 4]", None, "give h_0 the shape [2, N, 4]"),
    ("out, h = gru(flat, hx=h0)", "E206", 27,
     "GRU's h_0 is 3-d [2, N, 4], but an unbatched (2-d) input [5, 3] takes it 2-d: "
     "(D·num_layers, H_out) = [2, 4]", None, "give h_0 the shape [2, 4]"),
    ("out, (h, c) = lstm(x, hx=(h0, c0[0]))", "E206", 30,
     "LSTM's c_0 is 2-d [N, 4], but a batched (3-d) input [5, N, 3] takes it 3-d: "
     "(D·num_layers, N, hidden_size) = [2, N, 4]", None, None),
    ("out, h = bi(x, hx=h1)", "E205", 23,
     "GRU's h_0 is [1, N, 4], but must be (D·num_layers, N, H_out) = [2, N, 4]",
     "D·num_layers = 2×1 = 2 (bidirectional=True), N is dim 1 of the input [5, N, 3] "
     "(batch_first=False), H_out = hidden_size = 4", "give h_0 the shape [2, N, 4]"),
    ("out, h = gru(x, hx=other)", "E205", 24,
     "GRU's h_0 is [2, 7, 4], but must be (D·num_layers, N, H_out) = [2, N, 4]", None, None),
    ("out, (h, c) = proj(x, hx=(h0, c0))", "E205", 30,
     "LSTM's h_0 is [2, N, 4], but must be (D·num_layers, N, H_out) = [2, N, 2]",
     "D·num_layers = 1×2 = 2 (bidirectional=False), N is dim 1 of the input [5, N, 3] "
     "(batch_first=False), H_out = proj_size = 2", "give h_0 the shape [2, N, 2]"),
    ("out, (h, c) = proj(x, hx=(small, small))", "E205", 30,
     "LSTM's c_0 is [2, N, 2], but must be (D·num_layers, N, hidden_size) = [2, N, 4]",
     "D·num_layers = 1×2 = 2 (bidirectional=False), N is dim 1 of the input [5, N, 3] "
     "(batch_first=False), hidden_size = 4", None),
    ("out, (h, c) = lstm(x, hx=(h0, wide))", "E108", 30,
     "LSTM's c_0 is float64, but the input is float32: torch needs the initial state in the "
     "input's dtype", None, "convert c_0 to float32: `-> float()` where it is made"),
    ("out, h = gru(x, hx=wide)", "E108", 24,
     "GRU's h_0 is float64, but the input is float32: torch needs the initial state in the "
     "input's dtype", None, "convert h_0 to float32: `-> float()` where it is made"),
    ("out, h = gru(x, h0)", "E108", 14, "GRU takes one tensor, got a tuple of 2 items", None,
     "give GRU's forward arguments by keyword: `hx=...`"),
    ("out, h = gru(x, state=h0)", "E104", 21, "GRU's forward has no argument 'state'",
     "forward: GRU(...)(tensor, hx=None)", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("body", "code", "column", "message", "note", "help"),
    REFUSALS,
    ids=[f"{r[1]}:{r[3][:50]}" for r in REFUSALS],
)
def test_refusals_are_pinned(body, code, column, message, note, help):
    text = HEADER + f"    {body}\n    return x\n}}\n"
    errors = [d for d in archspec.check_text(text).diagnostics if d.code.startswith("E")]
    assert [(d.code, d.message) for d in errors] == [(code, message)]
    found = errors[0]
    at = found.primary.span
    assert (at.line, at.column) == (FIRST, column), (at.line, at.column)
    if note is not None:
        assert note in found.notes, found.notes
    if help is not None:
        assert found.help == help


@pytest.mark.parametrize(
    ("layer", "batched", "states"),
    [
        ("bi", True, [(1, BATCH, 4)]),  # D·num_layers = 2
        ("gru", False, [(2, BATCH, 4)]),  # unbatched: 2-d
        ("proj", True, [(2, BATCH, 4), (2, BATCH, 4)]),  # H_out = proj_size = 2
        ("proj", True, [(2, BATCH, 2), (2, BATCH, 2)]),  # c_0 has hidden_size = 4
    ],
)
def test_torch_refuses_the_shapes_refused_above(layer, batched, states):
    layers = {
        "bi": nn.GRU(3, 4, bidirectional=True),
        "gru": nn.GRU(3, 4, num_layers=2),
        "proj": nn.LSTM(3, 4, num_layers=2, proj_size=2),
    }
    x = torch.randn(5, BATCH, 3) if batched else torch.randn(5, 3)
    tensors = tuple(torch.randn(shape) for shape in states)
    with pytest.raises(RuntimeError, match="hidden|hx"):
        layers[layer](x, tensors if len(tensors) == 2 else tensors[0])


# ---------------------------------------------------------------- sequence-first counts


SEQUENCE_FIRST = """model Tagger {
    input src: [S, N, 16]
    input tgt: [T, N, 16]
    t: Transformer(16, 4, 1, 1, 24)
    y = t(src, tgt) -> LayerNorm(16) -> Linear(16, 10)
    out, h = y -> GRU(10, 8)
    states, (hn, cn) = out -> LSTM(8, 6, bidirectional=True)
    return states -> transpose(0, 1) -> Linear(12, 3), h, cn
}
"""


def test_sequence_first_inputs_take_the_batch_from_dim_1(tmp_path):
    """N is the batch of `[S, N, E]` (torch's layout with batch_first=False): S and T are the
    sizes archspec reasons about, and counts are per sample of N."""
    path = tmp_path / "tagger.arch"
    path.write_text(SEQUENCE_FIRST, encoding="utf-8")
    checked = archspec.check(str(path)).model()
    assert sorted(checked.graph.size_symbols) == ["S", "T"]
    transformer = archspec.check("specs/sequence/transformer.arch").model()
    assert sorted(transformer.graph.size_symbols) == ["S", "T"]


@pytest.mark.parametrize("path", ["specs/sequence/transformer.arch", "tagger"])
def test_sequence_first_summary_equals_torch(tmp_path, path):
    """MACs per sample × the batch is what torch's FLOP counter and hooks count for the whole
    batch, and `Every op's output` is the bytes of every output torch makes, at S = 5, T = 4."""
    from test_counts_torch import torch_macs

    if path == "tagger":
        path = tmp_path / "tagger.arch"
        path.write_text(SEQUENCE_FIRST, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, checked, filename = build_checked(str(path))
    sizes = {"S": 5, "T": 4}
    summary = checked.summary(batch=BATCH, sizes=sizes)
    real, _ = observed_shapes(model, checked, filename, batch=BATCH, sizes=sizes)
    values = sum(torch.Size(shape).numel() for shape in real.values() if shape is not None)
    assert summary.activation_bytes == 4 * values
    src, tgt = torch.randn(5, BATCH, 16 if "tagger" in str(path) else 512), None
    tgt = torch.randn(4, BATCH, src.shape[-1])
    assert summary.input_bytes == 4 * (src.numel() + tgt.numel())
    model.eval()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            total = torch_macs(model, lambda: model(src, tgt))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    assert summary.total_macs * BATCH == total


def test_layers_after_a_transpose_count_every_position_of_a_sample():
    """A Linear on `[L, N, E]` counts its weights at each of the L positions of a sample: the
    count per row of dim 0 (N positions) times L rows, over N samples."""
    text = (
        "model M {\n    input x: [N, L in 1..64, 8]\n"
        "    y = x -> transpose(0, 1) -> Linear(8, 4)\n    return y\n}\n"
    )
    checked = archspec.check_text(text).model()
    summary = checked.summary(sizes={"L": 10})
    assert summary.total_macs == 10 * (8 * 4 + 4)
