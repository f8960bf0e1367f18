"""Sequence layers against torch: Embedding, RNN, LSTM and GRU (ops/embedding.py,
ops/recurrent.py), and nested unpacking (`out, (h, c) = x -> lstm`).

The generators here also feed tests/test_ops_torch.py's differential test of every op (as
tests/test_multi_output.py's do); there every input is float32, so an Embedding is refused by
both sides. `test_every_output_matches_torch` below draws the same cases with integer ids, and
also compares torch's dropout warning with W012.
"""

from __future__ import annotations

import textwrap
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_harness import (  # noqa: E402
    BATCH,
    EXAMPLES,
    Case,
    build_checked,
    docs_example,
    observed_shapes,
    shape_disagreements,
    torch_disagreements,
    write_spec,
)

import archspec  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import BindError, bind, evaluate  # noqa: E402
from archspec.ops.base import OpFailure  # noqa: E402
from archspec.ops.recurrent import initial_state_shapes  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402
from archspec.tools.fmt import format_text  # noqa: E402

pytestmark = pytest.mark.torch

# ---------------------------------------------------------------- generators


def embedding(d):
    rows = d(st.integers(1, 9))
    args = {"num_embeddings": rows, "embedding_dim": d(st.integers(1, 6))}
    if d(st.booleans()):
        args["padding_idx"] = d(st.integers(-rows - 2, rows + 1))  # now and then out of range
    if d(st.booleans()):
        args["max_norm"] = d(st.sampled_from([None, 1.0, 2.5]))
        args["norm_type"] = d(st.sampled_from([1.0, 2.0]))
        args["scale_grad_by_freq"] = d(st.booleans())
        args["sparse"] = d(st.booleans())
    rank = d(st.integers(0, 3))
    shape = tuple(d(st.integers(1, 5)) for _ in range(rank))
    dtype = d(st.sampled_from(["int64", "int64", "int32", "float32"]))
    return Case(args, [shape], dtypes=[dtype])


def recurrent(name: str):
    def generate_case(d):
        hidden = d(st.integers(1, 6))
        args = {
            "input_size": d(st.integers(1, 6)),
            "hidden_size": hidden,
            "num_layers": d(st.integers(1, 3)),
            "bias": d(st.booleans()),
            "batch_first": d(st.booleans()),
            "dropout": d(st.sampled_from([0.0, 0.0, 0.3, 1.0])),
            "bidirectional": d(st.booleans()),
        }
        if name == "RNN" and d(st.booleans()):
            args["nonlinearity"] = d(st.sampled_from(["tanh", "relu", "relu", "gelu"]))
        if name == "LSTM" and d(st.booleans()):
            args["proj_size"] = d(st.integers(0, hidden + 1))  # hidden and above: refused
        # Sequence-first inputs keep dim 0 off the batch size (test_counts_torch's per-sample
        # check skips them), as test_multi_output's MultiheadAttention cases do.
        length = d(st.integers(3, 5))
        features = args["input_size"]
        form = d(st.sampled_from(["batched", "batched", "unbatched", "wrong features", "rank"]))
        if form == "unbatched":
            shape = (length, features)
        elif form == "rank":
            shape = d(st.sampled_from([(features,), (BATCH, 3, length, features)]))
        else:
            shape = (BATCH, length, features) if args["batch_first"] else (length, BATCH, features)
            if form == "wrong features":
                shape = (*shape[:-1], features + d(st.integers(1, 3)))
        return Case(args, [shape], dtypes=["float32"])

    return generate_case


SEQUENCE_GENERATORS = {
    "Embedding": embedding,
    "RNN": recurrent("RNN"),
    "LSTM": recurrent("LSTM"),
    "GRU": recurrent("GRU"),
}


# ---------------------------------------------------------------- each op against torch


def _archspec(name: str, case: Case):
    op = REGISTRY[name]
    return evaluate(op, bind(op, [], dict(case.args)), list(case.inputs), dtypes=case.dtypes)


def _flat_shapes(out) -> tuple:
    """One shape per tensor, LSTM's (out, (h_n, c_n)) flattened in order."""
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    flat = [t for item in out for t in (item if isinstance(item, tuple) else (item,))]
    return tuple(tuple(t.shape) for t in flat)


def _torch(name: str, case: Case):
    """(shapes, parameter count, whether torch warned of dropout with one layer)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = getattr(nn, name)(**case.args)
        out = module(
            *(torch.zeros(s, dtype=getattr(torch, t)) for s, t in zip(case.inputs, case.dtypes))
        )
    warned = any("non-zero dropout expects num_layers" in str(w.message) for w in caught)
    return _flat_shapes(out), sum(p.numel() for p in module.parameters()), warned


@pytest.mark.parametrize("name", sorted(SEQUENCE_GENERATORS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_output_matches_torch(name, data):
    case = SEQUENCE_GENERATORS[name](data.draw)
    try:
        result, refusal = _archspec(name, case), None
    except (OpFailure, BindError) as error:
        result, refusal = None, error
    try:
        shape, count, warned = _torch(name, case)
        torch_error = None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        torch_error = error
    if refusal is not None:
        assert torch_error is not None, f"archspec refuses {name}{case} ({refusal}), torch runs"
        return
    assert torch_error is None, f"torch refuses {name}{case} ({torch_error}), archspec agrees"
    assert result.shape == shape, f"{name}{case}: archspec {result.shape}, torch {shape}"
    assert result.params == count
    assert [w.code for w in result.warnings] == (["W012"] if warned else [])
    if name != "Embedding":  # the final state's shape is what an initial state hx must have
        assert initial_state_shapes(name, result.args, case.inputs[0]) == result.shape[1:]


def test_generators_are_registered_for_the_whole_registry_test():
    import test_ops_torch

    for name, generator in SEQUENCE_GENERATORS.items():
        assert test_ops_torch.GENERATORS[name] is generator


# ---------------------------------------------------------------- in specs, against torch

SPEC = """
model Tagger {
    input tokens: [N, 12] int64
    emb: Embedding(50, 16, padding_idx=-1)
    lstm: LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True, proj_size=8)
    gru: GRU(16, 8, bias=False)
    rnn: RNN(16, 4, 1, 'relu', batch_first=True)
    x = tokens -> emb
    out, (h, c) = x -> lstm
    seq = x -> transpose(0, 1)
    g_out, g_h = seq -> gru
    r_out, hc = x -> rnn
    return out, h, c, g_out, g_h + 1.0, r_out, hc
}
"""

REFERENCE = {
    "emb": "nn.Embedding(50, 16, padding_idx=-1)",
    "lstm": "nn.LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True, proj_size=8)",
    "gru": "nn.GRU(16, 8, bias=False)",
    "rnn": "nn.RNN(16, 4, 1, 'relu', batch_first=True)",
}


def _reference() -> nn.Module:
    reference = nn.Module()
    for attribute, constructor in REFERENCE.items():
        setattr(reference, attribute, eval(constructor))  # noqa: S307 - test literals
    return reference


def test_every_node_and_output_equals_torch(tmp_path):
    """Shapes per node as torch runs them, the state_dict's keys and shapes, the parameter count,
    and the outputs themselves with torch's own modules' weights loaded."""
    model, checked, filename = build_checked(str(write_spec(tmp_path, SPEC)))
    assert checked.graph and archspec.check_text(textwrap.dedent(SPEC)).diagnostics == []
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    reference = _reference()
    expected = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == expected
    model.load_state_dict(reference.state_dict(), strict=True)
    assert checked.parameter_count == sum(p.numel() for p in reference.parameters())
    model.eval(), reference.eval()
    tokens = torch.randint(0, 50, (3, 12))
    with torch.no_grad():
        got = model(tokens)
        x = reference.emb(tokens)
        out, (h, c) = reference.lstm(x)
        g_out, g_h = reference.gru(x.transpose(0, 1))
        r_out, hc = reference.rnn(x)
    for mine, theirs in zip(got, (out, h, c, g_out, g_h + 1.0, r_out, hc), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_generated_code_unpacks_like_torch_code(tmp_path):
    source = generate(archspec.check(str(write_spec(tmp_path, SPEC))))
    assert "out, (h, c) = self.lstm(x)" in source
    assert "g_out, g_h = self.gru(seq)" in source
    assert "self.emb = nn.Embedding(50, 16, padding_idx=-1)" in source
    assert 'self.rnn = nn.RNN(16, 4, nonlinearity="relu", batch_first=True)' in source


@pytest.mark.parametrize(
    "statements, returned, line",
    [
        ("out, (h, c) = x -> lstm", "out", "out, _ = self.lstm(x)"),
        ("out, (h, c) = x -> lstm", "out, c", "out, (_, c) = self.lstm(x)"),
        ("out, hc = x -> lstm\n    h, c = hc", "h + c", "_, (hc, hc_1) = self.lstm(x)"),
        ("out, hc = x -> lstm", "hc[1], out", "out, (_, hc) = self.lstm(x)"),
        ("both = x -> lstm", "both[1][0]", "_, (out, _) = self.lstm(x)"),
    ],
)
def test_nested_unpacking_runs_as_torch(tmp_path, statements, returned, line):
    """A nested target, a name holding the pair, a pair unpacked later, indexing: each compiles to
    code torch runs with the shapes archspec states, and unread outputs are `_` (unrolled)."""
    spec = f"""
    model M {{
        input x: [5, N, 3]
        lstm: LSTM(3, 6)
        {statements}
        return {returned}
    }}
    """
    path = write_spec(tmp_path, spec)
    result = archspec.check(str(path))
    assert result.diagnostics == []
    assert line in generate(result, specialize=True)  # the unrolled form: a statement per node
    model, checked, filename = build_checked(str(path))  # the default form, as the spec writes it
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


def test_macs_count_every_parameter_once_per_step():
    """Per sample: each weight once per time step, each bias once per gate value per step, so L
    steps count L × parameters (tests/test_counts_torch.py asks torch's FLOP counter)."""
    spec = """
    model M {
        input tokens: [N, 7] int64
        x = tokens -> Embedding(20, 4)
        out, h = x -> GRU(4, 5, num_layers=2, batch_first=True)
        return out
    }
    """
    checked = archspec.check_text(textwrap.dedent(spec)).model()
    gru = nn.GRU(4, 5, num_layers=2)
    assert checked.parameter_count == 20 * 4 + sum(p.numel() for p in gru.parameters())
    assert checked.mac_count == 7 * sum(p.numel() for p in gru.parameters())  # lookups: 0


def test_initial_state_shapes():
    args = {"num_layers": 2, "bidirectional": True, "batch_first": True, "hidden_size": 6,
            "proj_size": 4}  # fmt: skip
    assert initial_state_shapes("LSTM", args, (3, 5, 2)) == ((4, 3, 4), (4, 3, 6))
    assert initial_state_shapes("LSTM", args, (5, 2)) == ((4, 4), (4, 6))
    gru = {**args, "batch_first": False, "proj_size": 0}
    assert initial_state_shapes("GRU", gru, (5, 3, 2)) == ((4, 3, 6),)


# ---------------------------------------------------------------- refusals at line:col


def _diagnostics(text: str):
    return archspec.check_text(textwrap.dedent(text)).diagnostics


@pytest.mark.parametrize(
    "statement, code, line, column, message, help_part",
    [
        ("y = x -> Embedding(10, 4)", "E108", 3, 14,
         "Embedding needs integer indices (int64 or int32), got float32",
         "`input tokens: [N, 7, 3] int64`"),
        ("y = ids -> Embedding(10, 4, padding_idx=10)", "E105", 3, 45,
         "padding_idx=10 is not a row of the 10 embeddings: it must be in -10..9", "0..9"),
        ("y, h = x -> LSTM(7, 8)", "E202", 3, 22, "LSTM expects input_size=7, but receives 3",
         "7 is dim 1 of [N, 7, 3], but LSTM reads input_size from the last dim (3)"),
        ("y, h = x -> GRU(5, 8)", "E202", 3, 21, "GRU expects input_size=5, but receives 3",
         "set input_size=3, or write input_size=? to infer it"),
        ("y, (h, c) = x -> LSTM(3, 8, proj_size=8)", "E105", 3, 43,
         "proj_size=8 must be smaller than hidden_size=8", "0 for no projection"),
        ("y, h = x -> RNN(3, 8, nonlinearity='gelu')", "E105", 3, 40,
         "nonlinearity must be one of 'tanh', 'relu', got 'gelu'", None),
        ("y, h = x -> GRU(3, 8, dropout=0.5)", "W012", 3, 35,
         "GRU applies dropout=0.5 between its stacked layers only", "num_layers=2"),
        ("y, h = x -> unsqueeze(1) -> GRU(3, 8)", "E206", 3, 33,
         "GRU expects a 2-d or 3-d input, got 4-d", None),
        ("y, (h, c, d) = x -> LSTM(3, 8)", "E108", 3, 8,
         "3 names cannot unpack the 2 tensors", "write 2 names: `t0, t1 = ...`"),
        ("y, (h, c) = x -> GRU(3, 8)", "E108", 3, 8, "cannot unpack a tensor into 2 names", None),
        ("y, h, c = x -> LSTM(3, 8)", "E108", 3, 15, "3 names cannot unpack the 2 values",
         "`t0, (t1, t2) = ...`"),
    ],
)  # fmt: skip
def test_refusals_point_at_the_argument(statement, code, line, column, message, help_part):
    declared = "ids: [N, 7] int64" if "ids" in statement else "x: [N, 7, 3]"
    spec = f"model M {{\n    input {declared}\n    {statement}\n    return y\n}}\n"
    found = [d for d in archspec.check_text(spec).diagnostics if d.code == code]
    assert found, archspec.check_text(spec).diagnostics
    diagnostic = found[0]
    assert message in diagnostic.message
    assert (diagnostic.primary.span.line, diagnostic.primary.span.column) == (line, column)
    if help_part is not None:
        assert help_part in diagnostic.help


def test_dropout_warning_is_said_once_for_three_outputs():
    spec = """
    model M {
        input x: [N, 7, 3]
        y, (h, c) = x -> LSTM(3, 8, dropout=0.2, batch_first=True)
        return y, h, c
    }
    """
    assert [d.code for d in _diagnostics(spec)] == ["W012"]


# ---------------------------------------------------------------- formatting and hovers


def test_fmt_prints_nested_targets_and_round_trips():
    messy = "model M {\n input x: [5, 3]\n out ,( h,c ) = x->LSTM(3, 4)\n return out\n}\n"
    formatted = format_text(messy)
    assert "    out, (h, c) = x -> LSTM(3, 4)\n" in formatted
    assert format_text(formatted) == formatted


def test_hover_on_a_nested_name_shows_its_output():
    from archspec.driver import check_text
    from archspec.tools.lsp import hover_text

    text = "model M {\n    input x: [5, N, 3]\n    out, (h, c) = x -> LSTM(3, 4)\n    return c\n}\n"
    checked = check_text(text, "m.arch")
    hover = hover_text(checked, "m.arch", text.index("c) ="))
    assert "[1, N, 4]" in hover and "output 2 of 3" in hover


def test_docs_example_checks_clean_and_runs(tmp_path):
    """docs/language.md's "Sequence layers" example: no findings, torch agrees on every node."""
    path = write_spec(tmp_path, docs_example("Sequence layers: Embedding, RNN, LSTM, GRU"))
    assert archspec.check(str(path)).diagnostics == []
    assert torch_disagreements(path) == []
