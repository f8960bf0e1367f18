"""Dict outputs (`return {"out": x}`) and branches on the module's mode (`if training { ... }`):
checked in both modes, compiled to `if self.training:` and an OrderedDict, run in torch."""

from __future__ import annotations

from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")

import archspec  # noqa: E402
from archspec.core.dims import format_shape  # noqa: E402
from archspec.tools.fmt import format_text  # noqa: E402

pytestmark = pytest.mark.torch

# An auxiliary head that runs in training only, as Inception-v3's AuxLogits does.
AUX_HEAD = """model Aux {
    input x: [N, 3, 8, 8]
    h = x -> conv: Conv2d(3, 4, 3, padding=1)
    if training {
        aux: [N, 2, 8, 8] = h -> head: Conv2d(4, 2, 1)
    }
    out = h -> relu()
    if training {
        return out, aux
    }
    return out
}
"""

# A dict output, with a layer that differs by mode on the way.
SEGMENTER = """model Seg {
    input x: [N, 3, H, W]
    h = x -> conv: Conv2d(3, 4, 3, stride=2, padding=1)
    out = h -> interpolate(size=(H, W), mode="bilinear", align_corners=False)
    if training {
        return {"out": out, "features": h -> noise: Dropout(0.5)}
    }
    return {"out": out, "features": h * 0.5}
}
"""


def _shapes(text: str) -> dict[str, str]:
    checked = archspec.check_text(text).model()
    return {
        node.id: format_shape(checked.inference.shapes[node.id]) for node in checked.graph.nodes()
    }


def test_both_modes_are_checked():
    result = archspec.check_text(AUX_HEAD)
    assert result.ok and result.diagnostics == []
    graph = result.model().graph
    modes = {node.name: node.mode for node in graph.nodes() if node.kind == "op"}
    assert modes == {"h": None, "aux": "train", "out": None}
    assert [(r.mode, len(r.outputs)) for r in graph.returns] == [("eval", 1), ("train", 2)]
    shapes = _shapes(AUX_HEAD)
    assert shapes["head"] == "[N, 2, 8, 8]"


def test_a_wrong_shape_in_the_training_branch_is_found():
    result = archspec.check_text(AUX_HEAD.replace("Conv2d(4, 2, 1)", "Conv2d(5, 2, 1)"))
    assert [d.code for d in result.diagnostics] == ["E201"]


def test_training_branch_compiles_to_self_training():
    source = archspec.compile_source(AUX_HEAD)
    assert "        if self.training:\n            aux = self.head(h)" in source
    assert "        if self.training:\n            return out, aux\n        return out" in source


def test_training_and_eval_outputs_in_torch():
    model = archspec.build(AUX_HEAD)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        model.train()
        out, aux = model(x)
        h = model.conv(x)
        assert torch.equal(aux, model.head(h)) and torch.equal(out, torch.relu(h))
        model.eval()
        logits = model(x)
    assert isinstance(logits, torch.Tensor) and torch.equal(logits, out)


def test_dict_output_is_an_ordered_dict_in_both_modes():
    model = archspec.build(SEGMENTER)
    x = torch.randn(2, 3, 9, 7)  # odd sizes: the output comes back to them
    with torch.no_grad():
        model.eval()
        result = model(x)
        assert isinstance(result, OrderedDict) and list(result) == ["out", "features"]
        assert result["out"].shape == (2, 4, 9, 7) and result["features"].shape == (2, 4, 5, 4)
        assert torch.equal(result["features"], model.conv(x) * 0.5)
        model.train()
        torch.manual_seed(0)
        trained = model(x)
    assert (trained["features"] == 0).any()  # the dropout ran: only in training
    source = archspec.compile_source(SEGMENTER)
    assert source.count('return OrderedDict([("out", out), ("features", ') == 2
    assert "        if self.training:\n            return OrderedDict(" in source


def test_sizes_name_the_dict_keys():
    checked = archspec.check_text(SEGMENTER).model()
    assert checked.sizes.accepted_count == checked.sizes.total_count
    labels = [checked.graph.output_label(o) for o in checked.graph.outputs]
    eval_labels = ["'out' (when not training)", "'features' (when not training)"]
    assert labels == [*eval_labels, "'out' (in training)", "'features' (in training)"]


@pytest.mark.parametrize("text", [AUX_HEAD, SEGMENTER])
def test_format_round_trip(text):
    formatted = format_text(text)
    assert formatted == text
    messy = text.replace("if training {", "if   training{").replace('": ', '" :')
    assert format_text(messy) == text


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [
        ("return {1: x}", "E108", "keys are strings"),
        ('return {"a": x, "a": x}', "E103", "twice"),
        ('return {"a": x}, x', "E108", "on its own"),
        ("y = (x if training else x)\n    return y", "E108", "decided when the module runs"),
        ("if training {\n        a = x -> relu()\n    }\n    return a", "E108", "only in training"),
        (
            "if training {\n        return x\n        y = x\n    }\n    return x",
            "E109",
            "never run",
        ),
        ('y = {"a": x}\n    return x', "E108", "only be returned by a model"),
    ],
)
def test_mistakes_are_reported(spec, code, words):
    result = archspec.check_text(f"model M {{\n    input x: [N, 3]\n    {spec}\n}}\n")
    errors = [d for d in result.diagnostics if d.code.startswith("E")]
    assert [d.code for d in errors] == [code], [d.message for d in errors]
    assert words in errors[0].message
    assert errors[0].help


def test_an_eval_value_in_a_training_return_is_an_error():
    spec = AUX_HEAD.replace("return out, aux", "return out, aux, late").replace(
        "    return out\n}", "    late = out -> relu()\n    return out\n}"
    )
    # `late` is computed after the training return, so in eval only.
    result = archspec.check_text(spec)
    codes = [d.code for d in result.diagnostics if d.code.startswith("E")]
    assert codes == ["E102"]  # not defined yet where the training return reads it


def test_blocks_cannot_return_by_mode_or_a_dict():
    for body in ('return {"a": x}', "if training {\n        return x\n    }\n    return x"):
        model = "model M {\n    input x: [N, 3]\n    return x -> B()\n}\n"
        text = f"block B {{\n    input x\n    {body}\n}}\n{model}"
        codes = [d.code for d in archspec.check_text(text).diagnostics]
        assert "E109" in codes


def test_training_cannot_be_bound():
    result = archspec.check_text("model M(training=1) {\n    input x: [N, 3]\n    return x\n}\n")
    assert [d.code for d in result.diagnostics] == ["E001"]
