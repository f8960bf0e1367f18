"""Hover and go-to-definition on the constructs of modern vision models: parameters and
buffers, unpacked outputs, subscripts, training-only layers and dict returns."""

from __future__ import annotations

import pytest
from conftest import ROOT

pytest.importorskip("pygls", reason="the lsp extra (pygls) is not installed")

from archspec.driver import check_text  # noqa: E402
from archspec.tools.lsp import definition_at, hover_text  # noqa: E402

SPEC = """block LayerScale(dim) {
    input x: [N, dim, H, W]
    param layer_scale: [dim, 1, 1] = 1e-6
    buffer shift: [dim, 1, 1] = zeros(), persistent=False
    return x * layer_scale + shift
}

model Tokens(width=16) {
    input x: [N, 8, width]
    param position: [1, 8, width] = normal(std=0.02)
    tokens = x + position
    x1, x2 = tokens -> chunk(2, dim=1)
    attn: MultiheadAttention(16, 2, batch_first=True)
    mixed, _ = attn(x1, x1, x1)
    cls = mixed[:, 0]
    scaled = tokens -> reshape(N, 4, 8, 4) -> scale: LayerScale(4)
    h = x2 -> conv: Linear(16, 8)
    if training {
        aux = h -> head: Linear(8, 3)
        return {"out": scaled[:, 0], "cls": cls, "aux": aux}
    }
    return {"out": scaled[:, 0], "cls": cls}
}
"""
PATH = "tokens.arch"


@pytest.fixture(scope="module")
def result():
    checked = check_text(SPEC, PATH)
    assert checked.ok, checked.diagnostics
    return checked


def hover(result, needle: str, shift: int = 0, last: bool = False) -> str:
    offset = (SPEC.rindex(needle) if last else SPEC.index(needle)) + shift
    text = hover_text(result, PATH, offset)
    assert text is not None, needle
    return text


def test_parameter_declaration_and_use(result):
    declared = hover(result, "position:")
    assert declared.startswith("**param** `position`")
    assert "parameter, shape [1, 8, 16]" in declared
    assert "initial value: normal(mean=0.0, std=0.02)" in declared
    assert "parameters: 128" in declared  # 8 × 16
    assert hover(result, "position\n") == declared  # its use in `x + position`


def test_parameter_and_buffer_of_a_block_instance(result):
    scale = hover(result, "layer_scale +")
    assert scale.startswith("**param** `layer_scale`")
    assert "`scale.layer_scale`" in scale  # the state_dict key of this instance
    assert "shape [4, 1, 1]" in scale and "full(fill_value=1e-06)" in scale
    assert "parameters: 4" in scale
    shift = hover(result, "shift\n")
    assert shift.startswith("**buffer** `shift`")
    assert "parameters: 0 (4 values, not in the state_dict (persistent=False))" in shift


def test_unpacked_outputs_show_their_own_shapes(result):
    first = hover(result, "mixed, _")
    assert "shape: [N, 4, 16]" in first and "output 0 of 2" in first
    weights = hover(result, "_ = attn")
    assert "shape: [N, 4, 4]" in weights  # the attention weights [N, L, S], not the output
    assert "output 1 of 2" in weights
    x2 = hover(result, "x2 =")
    assert "shape: [N, 4, 16]" in x2 and "output 1 of 2" in x2


def test_the_call_of_a_multi_output_layer_lists_every_output_once(result):
    text = hover(result, "attn(x1")
    assert text.startswith("**MultiheadAttention**")
    assert "applications" not in text  # one application, not one per output
    assert "output: [N, 4, 16], [N, 4, 4]" in text


def test_subscript_and_its_target(result):
    assert "shape: [N, 16]" in hover(result, "cls =")
    sliced = hover(result, "[:, 0]\n    scaled", 1)
    assert "input: [N, 4, 16]" in sliced and "output: [N, 16]" in sliced


def test_training_only_layer_says_so(result):
    layer = hover(result, "Linear(8, 3)")
    assert "runs in training only" in layer
    assert "runs in training only" in hover(result, "aux = h")
    assert "training" not in hover(result, "Linear(16, 8)")


def test_dict_keys_show_the_returned_tensor(result):
    training = hover(result, '"out"', 1)
    assert training.startswith("**output** `'out'`")
    assert "shape: [N, 8, 4]" in training and "(in training)" in training
    evaluation = hover(result, '"out"', 1, last=True)
    assert "shape: [N, 8, 4]" in evaluation and "(when not training)" in evaluation
    aux = hover(result, '"aux"', 1)
    assert "shape: [N, 4, 3]" in aux and "'aux' (in training)" in aux


def test_go_to_definition(result):
    def target(needle: str, shift: int = 0) -> str:
        span = definition_at(result, PATH, SPEC.index(needle) + shift)
        assert span is not None, needle
        return f"{span.line}:{span.column} {span.text}"

    assert target("position\n") == "10:11 position"
    assert target("layer_scale +") == "3:11 layer_scale"
    assert target("x1, x1") == "12:5 x1"
    assert target("mixed[") == "14:5 mixed"
    assert target("attn(x1") == "13:5 attn"
    assert target("LayerScale(4)") == "1:7 LayerScale"
    assert target('"cls": cls', 7) == "15:5 cls"
    assert definition_at(result, PATH, SPEC.index("model")) is None


def test_vit_block_instances_alike_are_shown_once():
    path = ROOT / "specs" / "torchvision" / "vit_b_16.arch"
    text = path.read_text(encoding="utf-8")
    checked = check_text(text, str(path))
    weights = hover_text(checked, str(path), text.index("_ = self_attention"))
    assert "`encoder.layers.encoder_layer_0` and 11 more alike" in weights
    # torchvision passes need_weights=False, so torch returns no weights: hover says so
    assert "shape: None (torch returns no tensor here" in weights
    call = hover_text(checked, str(path), text.index("self_attention(y"))
    assert call.startswith("**MultiheadAttention** — 12 applications")
    assert call.count("- output:") == 1 and "output: [N, 197, 768], None" in call


def test_inception_aux_head_is_training_only():
    path = ROOT / "specs" / "torchvision" / "inception_v3.arch"
    text = path.read_text(encoding="utf-8")
    checked = check_text(text, str(path))
    aux = hover_text(checked, str(path), text.index("InceptionAux(768"))
    assert aux.startswith("**InceptionAux**") and "runs in training only" in aux
    main = hover_text(checked, str(path), text.index("InceptionE(1280"))
    assert "training" not in main


def test_the_server_offers_go_to_definition():
    from archspec.tools.lsp import build_server

    features = build_server().protocol.fm.features
    assert "textDocument/definition" in features and "textDocument/hover" in features


INPUTS = """block Pair(c) {
    input a: [N, c, H, W]
    input b
    y, _ = a -> chunk(2, dim=1)
    return y + b -> conv: Conv2d(c // 2, c // 2, 1)
}

model Two {
    input left: [N, 4, 8, 8]
    input right: [N, 2, 8, 8]
    out = (left, right) -> pair: Pair(4)
    if not training {
        return {"out": out}
    }
    return {"out": out, "left": left}
}
"""


@pytest.fixture(scope="module")
def inputs_result():
    checked = check_text(INPUTS, PATH)
    assert checked.ok, checked.diagnostics
    return checked


def hover_in(result, text: str, needle: str, shift: int = 0, last: bool = False) -> str | None:
    offset = (text.rindex(needle) if last else text.index(needle)) + shift
    return hover_text(result, PATH, offset)


def test_a_models_input_statement_shows_the_input(inputs_result):
    text = hover_in(inputs_result, INPUTS, "right:")
    assert text is not None and "shape: [N, 2, 8, 8]" in text
    assert "a model input" in text


def test_a_blocks_input_statements_show_what_each_instance_receives(inputs_result):
    first = hover_in(inputs_result, INPUTS, "a: [N")
    assert first is not None and "shape: [N, 4, 8, 8]" in first
    second = hover_in(inputs_result, INPUTS, "b\n")
    assert second is not None and "shape: [N, 2, 8, 8]" in second


def test_an_unread_unpacked_output_shows_its_shape(inputs_result):
    text = hover_in(inputs_result, INPUTS, "_ = a")
    assert text is not None and "shape: [N, 2, 8, 8]" in text and "output 1 of 2" in text


def test_a_dict_key_whose_value_is_a_name_in_each_mode(inputs_result):
    evaluation = hover_in(inputs_result, INPUTS, '"out"', 1)
    assert evaluation is not None and "(when not training)" in evaluation
    assert "shape: [N, 2, 8, 8]" in evaluation
    training = hover_in(inputs_result, INPUTS, '"left"', 1)
    assert training is not None and "shape: [N, 4, 8, 8]" in training
    assert "(in training)" in training
