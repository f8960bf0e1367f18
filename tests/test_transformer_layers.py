"""The Transformer family (ops/transformer.py) against torch: TransformerEncoderLayer,
TransformerDecoderLayer, TransformerEncoder, TransformerDecoder and Transformer, and layers given
as layer arguments (`TransformerEncoder(TransformerEncoderLayer(16, 4), 2, norm=LayerNorm(16))`).

The generators here also feed tests/test_ops_torch.py's differential test of every op and
tests/test_counts_torch.py's MAC count; a layer argument is a LayerArg there, which
test_ops_torch's `torch_layer` builds as torch's module.
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
from torch_harness import build_checked, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402
from archspec.core.dims import evaluate as evaluate_dim  # noqa: E402
from archspec.ops import REGISTRY  # noqa: E402
from archspec.ops.apply import bind, check_arguments  # noqa: E402
from archspec.ops.base import LayerArg  # noqa: E402
from archspec.outputs.codegen import generate  # noqa: E402

pytestmark = pytest.mark.torch

BATCH = 2
EXAMPLES = int(os.environ.get("ARCHSPEC_TORCH_EXAMPLES", "50"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Case:
    """tests/test_ops_torch.py's Case (imported lazily there: that module imports this one)."""

    def __new__(cls, args, inputs):
        import test_ops_torch

        return test_ops_torch.Case(args, inputs)


def layer_arg(name: str, *positional, **keywords) -> LayerArg:
    """A layer as an argument, as the elaborator makes it of `name(*positional, **keywords)`."""
    op = REGISTRY[name]
    checked = check_arguments(op, bind(op, list(positional), keywords))
    return LayerArg(op, tuple((p.name, checked[p.name]) for p in op.params), frozenset(keywords))


# ---------------------------------------------------------------- generators


def _layer_args(d) -> dict:
    heads = d(st.integers(1, 4))
    model = heads * d(st.integers(1, 3)) + (1 if d(st.integers(0, 9)) == 0 else 0)
    return {
        "d_model": model,
        "nhead": heads,
        "dim_feedforward": d(st.integers(1, 8)),
        "dropout": d(st.sampled_from([0.0, 0.1])),
        "activation": d(st.sampled_from(["relu", "gelu", "gelu", "relu"] + ["tanh"] * 1)),
        "layer_norm_eps": d(st.sampled_from([1e-5, 1e-6])),
        "batch_first": d(st.booleans()),
        "norm_first": d(st.booleans()),
        "bias": d(st.booleans()),
    }


def _sequence(d, args: dict, length: int, features: int | None = None, batched=True) -> tuple:
    """`[L, N, E]`, `[N, L, E]` (batch_first) or `[L, E]`; sequence-first keeps dim 0 off the
    batch size (lengths 3 to 5), so per-sample MAC checks skip them."""
    features = args["d_model"] if features is None else features
    if not batched:
        return (length, features)
    return (BATCH, length, features) if args["batch_first"] else (length, BATCH, features)


def _mismatch(d, shapes: list) -> list:
    """Now and then one size off (a feature count, a length, a batch), or a dim dropped."""
    if d(st.integers(0, 15)) == 0:
        which = d(st.integers(0, len(shapes) - 1))
        shapes[which] = shapes[which][1:]
    elif d(st.integers(0, 5)) == 0:
        which = d(st.integers(0, len(shapes) - 1))
        axis = d(st.integers(0, len(shapes[which]) - 1))
        shapes[which] = tuple(s + 1 if i == axis else s for i, s in enumerate(shapes[which]))
    return shapes


def encoder_layer(d):
    args = _layer_args(d)
    batched = d(st.integers(0, 4)) != 0
    return Case(args, _mismatch(d, [_sequence(d, args, d(st.integers(3, 5)), batched=batched)]))


def decoder_layer(d):
    args = _layer_args(d)
    batched = d(st.integers(0, 4)) != 0
    tgt = _sequence(d, args, d(st.integers(3, 5)), batched=batched)
    memory = _sequence(d, args, d(st.integers(3, 5)), batched=batched)
    return Case(args, _mismatch(d, [tgt, memory]))


def _norm(d, model: int):
    choice = d(st.integers(0, 5))
    if choice == 0:
        return None
    return layer_arg("LayerNorm", model + (1 if choice == 1 else 0), bias=d(st.booleans()))


def encoder(d):
    inner = _layer_args(d)
    inner["activation"] = d(st.sampled_from(["relu", "gelu"]))
    args = {
        "encoder_layer": layer_arg("TransformerEncoderLayer", **inner),
        "num_layers": d(st.integers(1, 2)),
        "norm": _norm(d, inner["d_model"]),
        "enable_nested_tensor": d(st.booleans()),
        "mask_check": d(st.booleans()),
    }
    batched = d(st.integers(0, 4)) != 0
    return Case(args, _mismatch(d, [_sequence(d, inner, d(st.integers(3, 5)), batched=batched)]))


def decoder(d):
    inner = _layer_args(d)
    inner["activation"] = d(st.sampled_from(["relu", "gelu"]))
    args = {
        "decoder_layer": layer_arg("TransformerDecoderLayer", **inner),
        "num_layers": d(st.integers(1, 2)),
        "norm": _norm(d, inner["d_model"]),
    }
    batched = d(st.integers(0, 4)) != 0
    tgt = _sequence(d, inner, d(st.integers(3, 5)), batched=batched)
    memory = _sequence(d, inner, d(st.integers(3, 5)), batched=batched)
    return Case(args, _mismatch(d, [tgt, memory]))


def transformer(d):
    args = _layer_args(d)
    args["num_encoder_layers"] = d(st.integers(1, 2))
    args["num_decoder_layers"] = d(st.integers(1, 2))
    if d(st.integers(0, 4)) == 0:  # a custom encoder, now and then of another d_model
        inner = {p.name: args[p.name] for p in REGISTRY["TransformerEncoderLayer"].params}
        inner["activation"] = "relu"
        if d(st.integers(0, 3)) == 0:
            inner["d_model"] = inner["nhead"] * 4
        layer = layer_arg("TransformerEncoderLayer", **inner)
        args["custom_encoder"] = layer_arg("TransformerEncoder", layer, 1)
    if d(st.integers(0, 4)) == 0:  # a custom decoder, its own layout and heads
        inner = {p.name: args[p.name] for p in REGISTRY["TransformerDecoderLayer"].params}
        inner["activation"] = "gelu"
        inner["batch_first"] = d(st.booleans())
        inner["nhead"] = d(st.sampled_from([1, inner["nhead"]]))
        layer = layer_arg("TransformerDecoderLayer", **inner)
        args["custom_decoder"] = layer_arg("TransformerDecoder", layer, 2, norm=_norm(d, 4))
    if "custom_encoder" in args and "custom_decoder" in args:
        # torch then ignores nhead and activation, archspec checks them: a named difference
        # (test_a_transformer_of_custom_parts_still_checks_its_own_layer_arguments)
        args["activation"] = "relu"
        args["nhead"] = args["nhead"] if args["d_model"] % args["nhead"] == 0 else 1
    batched = d(st.integers(0, 4)) != 0
    src = _sequence(d, args, d(st.integers(3, 5)), batched=batched)
    tgt = _sequence(d, args, d(st.integers(3, 5)), batched=batched)
    return Case(args, _mismatch(d, [src, tgt]))


TRANSFORMER_GENERATORS = {
    "TransformerEncoderLayer": encoder_layer,
    "TransformerDecoderLayer": decoder_layer,
    "TransformerEncoder": encoder,
    "TransformerDecoder": decoder,
    "Transformer": transformer,
}


# ---------------------------------------------------------------- in specs, against torch

SPEC = """
model Family {
    input src: [N, 6, 16]
    input tgt: [N, 5, 16]
    input causal: [5, 5] bool
    input padding: [N, 6] bool
    input seq: [7, N, 8]
    enc: TransformerEncoder(TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True),
                            2, norm=LayerNorm(16))
    dec: TransformerDecoder(TransformerDecoderLayer(16, 4, 24, dropout=0.2, batch_first=True,
                                                    norm_first=True), num_layers=2)
    single: TransformerEncoderLayer(8, 2, 16, activation="gelu")
    pair: TransformerDecoderLayer(8, 2, 16, bias=False)
    whole: Transformer(16, 4, 1, 2, 32, batch_first=True,
                       custom_encoder=TransformerEncoder(TransformerEncoderLayer(16, 2, 8,
                                                         batch_first=True), 1))
    memory = enc(src, src_key_padding_mask=padding)
    out = dec(tgt, memory, tgt_mask=causal, memory_key_padding_mask=padding, tgt_is_causal=True)
    s = single(seq, is_causal=False)
    p = pair(s, seq)
    w = whole(src, tgt, tgt_mask=causal)
    return out, p, w
}
"""
REFERENCE = {
    "enc": "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, "
    "batch_first=True), 2, norm=nn.LayerNorm(16))",
    "dec": "nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, 24, dropout=0.2, "
    "batch_first=True, norm_first=True), num_layers=2)",
    "single": 'nn.TransformerEncoderLayer(8, 2, 16, activation="gelu")',
    "pair": "nn.TransformerDecoderLayer(8, 2, 16, bias=False)",
    "whole": "nn.Transformer(16, 4, 1, 2, 32, batch_first=True, custom_encoder="
    "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 8, batch_first=True), 1))",
}


def _write(tmp_path, text: str, name: str = "spec.arch"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _reference() -> nn.Module:
    reference = nn.Module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor without batch_first: torch warns
        for attribute, constructor in REFERENCE.items():
            setattr(reference, attribute, eval(constructor))  # noqa: S307 - test literals
    return reference


def _inputs():
    """Masks that leave every query something to attend: padding at the end of one sequence
    (left-aligned, as the nested-tensor fast path wants), the causal mask of 5."""
    torch.manual_seed(1)
    src, tgt, seq = torch.randn(2, 6, 16), torch.randn(2, 5, 16), torch.randn(7, 2, 8)
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    padding = torch.zeros(2, 6, dtype=torch.bool)
    padding[1, 4:] = True
    return src, tgt, causal, padding, seq


def _run_reference(reference, src, tgt, causal, padding, seq):
    memory = reference.enc(src, src_key_padding_mask=padding)
    out = reference.dec(
        tgt, memory, tgt_mask=causal, memory_key_padding_mask=padding, tgt_is_causal=True
    )
    s = reference.single(seq, is_causal=False)
    return out, reference.pair(s, seq), reference.whole(src, tgt, tgt_mask=causal)


def _built(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_checked(str(_write(tmp_path, SPEC)))


def test_every_node_shape_is_torchs(tmp_path):
    model, checked, filename = _built(tmp_path)
    assert archspec.check_text(textwrap.dedent(SPEC)).diagnostics == []
    for training in (False, True):
        real, _ = observed_shapes(model, checked, filename, training=training)
        assert shape_disagreements(checked, real) == []


def test_state_dict_parameters_and_outputs_are_torchs(tmp_path):
    """torch's own state_dict keys, exactly; the parameter count; and equal outputs with the
    reference's weights loaded, in eval mode (each module's fast paths taken alike) and in train
    mode from one seed (torch's modules draw their dropout masks in torch's order)."""
    model, checked, _ = _built(tmp_path)
    reference = _reference()
    assert list(model.state_dict()) == list(reference.state_dict())
    assert "enc.layers.1.self_attn.in_proj_weight" in model.state_dict()
    assert "whole.encoder.layers.0.linear1.weight" in model.state_dict()
    model.load_state_dict(reference.state_dict(), strict=True)
    assert checked.parameter_count == sum(p.numel() for p in reference.parameters())
    inputs = _inputs()
    for training in (False, True):
        model.train(training), reference.train(training)
        with torch.no_grad():
            torch.manual_seed(7)
            got = model(*inputs)
            torch.manual_seed(7)
            expected = _run_reference(reference, *inputs)
        for mine, theirs in zip(got, expected, strict=True):
            torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_nested_tensor_fast_path_zeroes_padding(tmp_path):
    """In eval mode without grad, TransformerEncoder (batch_first, an even nhead, ...) runs its
    layers on a nested tensor when given src_key_padding_mask: the output at padded positions is
    0 (before the norm), where the slow path computes a value. The shape is the same; the values
    at every other position agree within 1e-5."""
    model, _, _ = _built(tmp_path)
    model.eval()
    src, _, _, padding, _ = _inputs()
    encoder = model.enc
    encoder.norm = None  # what the layers return, as the nested tensor comes back padded
    with torch.no_grad():
        fast = encoder(src, src_key_padding_mask=padding)
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            slow = encoder(src, src_key_padding_mask=padding)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
    assert fast.shape == slow.shape == (2, 6, 16)
    kept = ~padding
    torch.testing.assert_close(fast[kept], slow[kept], atol=1e-5, rtol=1e-5)
    assert torch.count_nonzero(fast[padding]) == 0
    assert torch.count_nonzero(slow[padding]) > 0


def test_generated_code_builds_the_layer_arguments(tmp_path):
    source = generate(archspec.check(str(_write(tmp_path, SPEC))))
    assert "nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True)," in source
    assert "norm=nn.LayerNorm(16)," in source
    assert "memory = self.enc(src, src_key_padding_mask=padding)  # [N, 6, 16]" in source
    text = """
    model M {
        input x: [N, 10, 512]
        enc: TransformerEncoder(TransformerEncoderLayer(512, 8, batch_first=True), 6,
                                norm=LayerNorm(512))
        return enc(x)
    }
    """
    source = generate(archspec.check(str(_write(tmp_path, text, "m.arch"))))
    assert (
        "        self.enc = nn.TransformerEncoder(\n"
        "            nn.TransformerEncoderLayer(512, 8, batch_first=True),\n"
        "            6,\n"
        "            norm=nn.LayerNorm(512),\n"
        "        )\n"
    ) in source


@pytest.mark.parametrize("batch_first", [False, True])
def test_macs_are_torchs_per_sample(batch_first):
    """Per sample of the batch, wherever the layout puts it: torch's FLOP counter over a batch of
    3, the attention products counted through SDPA's math backend (test_counts_torch)."""
    from test_counts_torch import torch_macs

    layout = "[N, 6, 16]" if batch_first else "[6, N, 16]"
    tgt_layout = "[N, 4, 16]" if batch_first else "[4, N, 16]"
    text = f"""
    model M {{
        input src: {layout}
        input tgt: {tgt_layout}
        t: Transformer(16, 4, 2, 1, 24, batch_first={batch_first})
        return t(src, tgt)
    }}
    """
    checked = archspec.check_text(textwrap.dedent(text)).model()
    module = nn.Transformer(16, 4, 2, 1, 24, batch_first=batch_first)
    shape = (3, 6, 16) if batch_first else (6, 3, 16)
    src = torch.randn(*shape)
    tgt = torch.randn(*((3, 4, 16) if batch_first else (4, 3, 16)))
    assert checked.mac_count * 3 == torch_macs(module, lambda: module(src, tgt))
    assert checked.parameter_count == sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- refusals


def _one(text: str):
    (diagnostic,) = archspec.check_text(textwrap.dedent(text)).diagnostics
    return diagnostic


def _where(diagnostic) -> tuple:
    span = diagnostic.primary.span
    return diagnostic.code, span.line, span.column, span.text


def test_heads_must_divide_d_model():
    diagnostic = _one(
        """
        model M {
            input x: [N, 5, 10]
            return x -> TransformerEncoderLayer(10, 3)
        }
        """
    )
    assert _where(diagnostic) == ("E105", 4, 45, "3")
    assert "10 = 3×3 + 1" in diagnostic.message
    assert "choose nhead=1 or 2" in diagnostic.help


def test_a_failure_inside_a_layer_argument_points_into_it():
    diagnostic = _one(
        """
        model M {
            input x: [N, 5, 10]
            return x -> TransformerEncoder(TransformerEncoderLayer(10, 3), 2)
        }
        """
    )
    assert _where(diagnostic) == ("E105", 4, 64, "3")
    diagnostic = _one(
        """
        model M {
            input x: [N, 5, 16]
            return x -> TransformerEncoder(TransformerEncoderLayer(16, 4), 2, norm=LayerNorm(8))
        }
        """
    )
    assert _where(diagnostic)[:3] == ("E202", 4, 86)
    assert "LayerNorm expects normalized_shape=8, but receives 16" == diagnostic.message
    assert "=?" not in (diagnostic.help or "")


def test_features_and_batches():
    diagnostic = _one(
        """
        model M {
            input x: [N, 5, 12]
            return x -> TransformerEncoderLayer(16, 4, batch_first=True)
        }
        """
    )
    assert _where(diagnostic)[:2] == ("E202", 4)
    assert diagnostic.message == "TransformerEncoderLayer expects d_model=16, but receives 12"
    diagnostic = _one(
        """
        model M {
            input src: [4, 2, 16]
            input tgt: [5, 3, 16]
            t: Transformer(16, 4)
            return t(src, tgt)
        }
        """
    )
    assert _where(diagnostic)[:2] == ("E205", 6)
    assert "have batches 2 and 3 (dim 1)" in diagnostic.message
    assert "the batch number of src and tgt must be equal" in diagnostic.help
    diagnostic = _one(
        """
        model M {
            input src: [4, 2, 16]
            input tgt: [5, 2, 8]
            t: Transformer(16, 4)
            return t(src, tgt)
        }
        """
    )
    assert _where(diagnostic)[:2] == ("E202", 5)
    assert "d_model=16 features in its tgt, but receives 8" in diagnostic.message


@pytest.mark.parametrize(
    "call, code, text, message",
    [
        (
            "enc(x, mask=m46)",
            "E205",
            "m46",
            "TransformerEncoder's mask is [4, 6], but must be (L, S) = [6, 6]",
        ),  # fmt: skip
        (
            "enc(x, mask=m6)",
            "E206",
            "m6",
            "TransformerEncoder's mask is 1-d [6], but a batched (3-d) src takes it as "
            "(L, S) = [6, 6] or (N·nhead, L, S) = [8, 6, 6]",
        ),  # fmt: skip
        (
            "enc(x, src_key_padding_mask=ids)",
            "E108",
            "ids",
            "TransformerEncoder's "
            "src_key_padding_mask must be bool or float32 (the src's dtype), got int64",
        ),
        (
            "enc(x, is_causal=True)",
            "E105",
            "True",
            "TransformerEncoder's is_causal=True needs "
            "mask too: torch takes is_causal as a hint that mask is the causal mask, and refuses "
            "it "
            "alone",
        ),  # fmt: skip
    ],
)
def test_masks_are_checked_as_torch_checks_them(call, code, text, message):
    spec = f"""
    model M {{
        input x: [2, 6, 8]
        input m46: [4, 6] bool
        input m6: [6] bool
        input ids: [2, 6] int64
        enc: TransformerEncoder(TransformerEncoderLayer(8, 4, 16, batch_first=True), 1)
        return {call}
    }}
    """
    diagnostics = archspec.check_text(textwrap.dedent(spec)).diagnostics
    (diagnostic,) = [d for d in diagnostics if d.code.startswith("E")]  # unused inputs: W005
    assert (diagnostic.code, diagnostic.primary.span.text, diagnostic.message) == (
        code,
        text,
        message,
    )


def test_an_unbatched_src_takes_its_masks_without_the_batch():
    """MultiheadAttention's and the Transformer family's masks share one check (ops/multi.py
    check_mask), which words an unbatched query as such."""
    import torch

    diagnostic = _one(
        """
        model M {
            input x: [6, 8]
            input m: [6] bool
            enc: TransformerEncoderLayer(8, 2)
            return enc(x, src_mask=m)
        }
        """
    )
    assert _where(diagnostic) == ("E206", 6, 28, "m")
    assert diagnostic.message == (
        "TransformerEncoderLayer's src_mask is 1-d [6], but an unbatched (2-d) src takes it as "
        "(L, S) = [6, 6] or (nhead, L, S) = [2, 6, 6]"
    )
    layer = torch.nn.TransformerEncoderLayer(8, 2)
    with pytest.raises((RuntimeError, AssertionError)):  # torch refuses it too
        layer(torch.zeros(6, 8), src_mask=torch.zeros(6, dtype=torch.bool))


@pytest.mark.parametrize(
    "layer, code, text, message",
    [
        (
            "TransformerEncoder(Linear(8, 8), 2)",
            "E108",
            "Linear(8, 8)",
            "TransformerEncoder's 'encoder_layer' takes a layer, TransformerEncoderLayer(...), "
            "got a "
            "layer (Linear)",
        ),  # fmt: skip
        (
            "TransformerEncoder(5, 2)",
            "E108",
            "5",
            "TransformerEncoder's 'encoder_layer' takes a "
            "layer, TransformerEncoderLayer(...), got the number 5",
        ),  # fmt: skip
        (
            "TransformerEncoder(TransformerEncoderLayer(8, 2), 2, norm=BatchNorm1d(8))",
            "E108",
            "BatchNorm1d(8)",
            "TransformerEncoder's 'norm' takes a layer, LayerNorm(...), got a layer (BatchNorm1d)",
        ),  # fmt: skip
        (
            "TransformerEncoder(TransformerEncoderLayer(?, 2), 2)",
            "E105",
            "?",
            "TransformerEncoderLayer's 'd_model' cannot be inferred here: TransformerEncoder "
            "builds "
            "its 'encoder_layer' before it sees an input",
        ),  # fmt: skip
        (
            "TransformerEncoder(TransformerEncoderLayer(8, 2, dropout=2.0), 2)",
            "E105",
            "2.0",
            "dropout must be between 0 and 1, got 2.0",
        ),
        (
            'TransformerEncoderLayer(8, 2, activation="tanh")',
            "E105",
            '"tanh"',
            "activation should be 'relu' or 'gelu', got 'tanh'",
        ),  # fmt: skip
        (
            "TransformerEncoder(TransformerEncoderLayer(8, 2, foo=1), 2)",
            "E104",
            "foo=1",
            "TransformerEncoderLayer has no argument named 'foo'",
        ),
    ],
)
def test_layer_arguments_are_refused_at_their_span(layer, code, text, message):
    diagnostic = _one(
        f"""
        model M {{
            input x: [2, 6, 8]
            return x -> {layer}
        }}
        """
    )
    assert (diagnostic.code, diagnostic.primary.span.text, diagnostic.message) == (
        code,
        text,
        message,
    )
    if code == "E108":
        assert diagnostic.help.startswith("write the layer there, as torch takes it")


def test_a_decoder_takes_two_tensors_and_plain_layer_arguments():
    diagnostic = _one(
        """
        model M {
            input x: [2, 6, 8]
            dec: TransformerDecoder(TransformerDecoderLayer(8, 2), 1)
            return dec(x)
        }
        """
    )
    assert _where(diagnostic) == ("E104", 5, 12, "dec(x)")
    assert diagnostic.message == "TransformerDecoder takes tgt and memory, got 1 tensor(s)"
    diagnostic = _one(
        """
        model M {
            input x: [2, 6, 8]
            return x -> TransformerEncoder(TransformerEncoderLayer(x, 2), 1)
        }
        """
    )
    assert _where(diagnostic) == ("E108", 4, 60, "x")
    assert (
        diagnostic.message
        == "TransformerEncoderLayer's 'd_model' must be a plain value, got a tensor"
    )


def test_a_layer_argument_reads_as_the_spec_wrote_it():
    layer = layer_arg("TransformerEncoderLayer", 16, 4, dropout=0.0, batch_first=True)
    assert str(layer) == "TransformerEncoderLayer(16, 4, dropout=0.0, batch_first=True)"
    norm = layer_arg("LayerNorm", 16)
    assert str(layer_arg("TransformerEncoder", layer, 2, norm=norm)) == (
        "TransformerEncoder(TransformerEncoderLayer(16, 4, dropout=0.0, batch_first=True), 2, "
        "norm=LayerNorm(16))"
    )


def test_a_transformer_of_custom_parts_still_checks_its_own_layer_arguments():
    """A deliberate difference: given custom_encoder and custom_decoder, torch's Transformer
    builds neither from nhead and activation and so refuses neither; archspec checks every
    argument where it is written (tests/test_ops_edges.py: every argument is checked), so an
    activation torch would refuse wherever it read it is E105 all the same."""
    import torch

    spec = """
        model M {
            input src: [5, 2, 4]
            input tgt: [3, 2, 4]
            t: Transformer(4, 2, activation="tanh",
                           custom_encoder=TransformerEncoder(TransformerEncoderLayer(4, 2, 8), 1),
                           custom_decoder=TransformerDecoder(TransformerDecoderLayer(4, 1, 8), 1))
            return t(src, tgt)
        }
        """
    diagnostic = _one(spec)
    assert (diagnostic.code, diagnostic.primary.span.text) == ("E105", '"tanh"')
    assert diagnostic.message == "activation should be 'relu' or 'gelu', got 'tanh'"
    layers = torch.nn
    torch_model = layers.Transformer(
        4,
        2,
        activation="tanh",
        custom_encoder=layers.TransformerEncoder(layers.TransformerEncoderLayer(4, 2, 8), 1),
        custom_decoder=layers.TransformerDecoder(layers.TransformerDecoderLayer(4, 1, 8), 1),
    )
    assert tuple(torch_model(torch.zeros(5, 2, 4), torch.zeros(3, 2, 4)).shape) == (3, 2, 4)


def test_activation_names_the_string_form():
    diagnostic = _one(
        """
        model M {
            input x: [2, 6, 8]
            return x -> TransformerEncoderLayer(8, 2, activation=1)
        }
        """
    )
    assert "cannot be passed from a spec" in diagnostic.help


# ---------------------------------------------------------------- the reference spec and docs


def test_reference_transformer_is_torchs():
    """specs/sequence/transformer.arch: nn.Transformer() with its defaults loads torch's own
    state_dict strictly and gives its outputs, in eval mode and in train mode from one seed."""
    path = os.path.join(ROOT, "specs", "sequence", "transformer.arch")
    assert archspec.check(path).diagnostics == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, checked, _ = build_checked(path)
        reference = nn.Transformer()
    model.transformer.load_state_dict(reference.state_dict(), strict=True)
    assert checked.parameter_count == sum(p.numel() for p in reference.parameters()) == 44_140_544
    torch.manual_seed(3)
    src, tgt = torch.randn(10, 2, 512), torch.randn(9, 2, 512)
    from test_counts_torch import torch_macs

    per_sample = evaluate_dim(checked.mac_count, {"S": 10, "T": 9})
    assert per_sample * 2 == torch_macs(reference, lambda: reference(src, tgt))
    for training in (False, True):
        model.train(training), reference.train(training)
        with torch.no_grad():
            torch.manual_seed(11)
            got = model(src, tgt)
            torch.manual_seed(11)
            expected = reference(src, tgt)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_the_documented_example_runs_as_torch_does(tmp_path):
    """docs/language.md's "Transformer layers" example: no findings, torch agrees on every
    node's shape."""
    text = open(os.path.join(ROOT, "docs", "language.md"), encoding="utf-8").read()
    example = text.split("\n### Transformer layers\n", 1)[1].split("```arch\n", 1)[1]
    path = _write(tmp_path, example.split("```", 1)[0])
    assert archspec.check(str(path)).diagnostics == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []


# ---------------------------------------------------------------- hypothesis, via the registry


@pytest.mark.parametrize("name", sorted(TRANSFORMER_GENERATORS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_drawn_layers_match_torch(name, data):
    """Shapes, refusals and parameter counts of drawn configurations, as test_ops_torch judges
    every op; here also the state_dict keys of each layer torch builds."""
    import test_ops_torch as differential

    from archspec.ops.apply import BindError
    from archspec.ops.base import OpFailure

    op = REGISTRY[name]
    case = TRANSFORMER_GENERATORS[name](data.draw)
    try:
        result, refusal = differential.run_archspec(op, case), None
    except (OpFailure, BindError) as error:
        result, refusal = None, error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape, count = differential.run_torch(op, case)
        torch_error = None
    except Exception as error:  # noqa: BLE001 - any torch exception means "torch refuses"
        shape, count, torch_error = None, 0, error
    assert (refusal is None) == (torch_error is None), (
        f"{name}{case}: archspec {refusal or result.shape}, torch {torch_error or shape}"
    )
    if refusal is None:
        assert (result.shape, result.params) == (shape, count)


def test_a_custom_decoder_and_its_masks_run_as_torch(tmp_path):
    """A custom decoder of its own heads checks the masks itself; torch agrees on every node."""
    text = """
    model M {
        input src: [N, 6, 8]
        input tgt: [N, 4, 8]
        input cross: [4, 6]
        t: Transformer(8, 4, 1, custom_decoder=TransformerDecoder(TransformerDecoderLayer(8, 2,
                       batch_first=True), 1), batch_first=True)
        return t(src, tgt, memory_mask=cross)
    }
    """
    path = _write(tmp_path, text)
    assert archspec.check(str(path)).diagnostics == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, checked, filename = build_checked(str(path))
    real, _ = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    assert checked.parameter_count == sum(p.numel() for p in model.parameters())
    wrong = text.replace("[4, 6]", "[4, 5]")
    diagnostic = _one(wrong)
    assert (diagnostic.code, diagnostic.primary.span.text) == ("E205", "cross")
    assert diagnostic.message == (
        "TransformerDecoder's memory_mask is [4, 5], but must be (L, S) = [4, 6]"
    )
