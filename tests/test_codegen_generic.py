"""Generated code as torchvision writes it (issue 19): one class per block definition, its
constructor taking the block's arguments and computing the rest as the spec does; shape comments
in the spec's symbols; `--specialize` for the old unrolled form. (Torch runs them in
test_codegen_export.py.)"""

from __future__ import annotations

import re

import pytest
from conftest import model_specs

import archspec
from archspec.cli import main
from archspec.outputs.codegen import generate, generate_module

TORCHVISION_DENSENET_LINES = 448  # torchvision/models/densenet.py, docs and weight tables included


def _source(spec: str, specialize: bool = False) -> str:
    return generate(archspec.check(spec), specialize=specialize)


def _classes(source: str) -> list[str]:
    return re.findall(r"^class (\w+)\(", source, flags=re.MULTILINE)


# The shipped models whose class is written from the graph, and why (docs/codegen.md).
UNROLLED_MODELS = {
    "specs/torchvision/inception_v3.arch": {"Inception3": "'training' is not a value of the block"},
}


def test_every_shipped_block_is_one_parametrized_class():
    for spec in model_specs():
        result = archspec.check(spec)
        generated = generate_module(result)
        assert generated.specialized == UNROLLED_MODELS.get(spec, {}), spec
        definitions = {
            id(module.definition)
            for checked in result.models
            for module in checked.graph.root.walk()
            if module.kind == "block"
        }
        assert len(_classes(generated.source)) == len(definitions) + len(result.models), spec


def test_resnet50_and_densenet121_sizes():
    resnet = _source("specs/torchvision/resnet50.arch")
    assert resnet.count("\n") <= 150
    assert _classes(resnet) == ["Bottleneck", "ResNet50"]
    densenet = _source("specs/torchvision/densenet121.arch")
    assert densenet.count("\n") <= 2 * TORCHVISION_DENSENET_LINES
    assert _classes(densenet) == ["DenseLayer", "DenseBlock", "Transition", "DenseNet121"]


def test_a_block_class_reads_like_torchvision():
    source = _source("specs/torchvision/resnet50.arch")
    # the constructor takes the block's arguments, annotated from the values they take
    assert "        inplanes: int,\n        planes: int,\n        stride: int = 1,\n" in source
    # the body computes from them as the spec does, and builds the shortcut where it tests so
    assert "        width = int(planes * (base_width / 64)) * groups\n" in source
    assert "        if stride != 1 or inplanes != planes * expansion:\n" in source
    assert "            self.downsample = nn.Sequential(\n" in source
    # the other branch sets the layer to None, and forward tests it, as torchvision does
    assert "        else:\n            self.downsample = None\n" in source
    assert "        if self.downsample is not None:\n" in source
    assert "            identity = self.downsample(x)\n" in source
    # the model builds each stage with the spec's comprehension: a loop, defaults left out
    layer1 = "nn.Sequential(*[Bottleneck(64 if i == 0 else 256, 64) for i in range(3)])"
    assert f"        self.layer1 = {layer1}\n" in source
    layer3 = "Bottleneck(512 if i == 0 else 1024, 256, stride=2 if i == 0 else 1)"
    assert f"                {layer3}\n" in source
    assert "                for i in range(6)\n" in source


def test_the_model_class_takes_the_models_arguments():
    """As torchvision's ResNet(num_classes=1000): the model's arguments, their checked values as
    defaults, and the body computes from them."""
    source = _source("specs/torchvision/resnet50.arch")
    assert "    def __init__(self, num_classes: int = 1000) -> None:\n" in source
    assert "        self.fc = nn.Linear(2048, num_classes)\n" in source
    torch = pytest.importorskip("torch")
    namespace: dict = {}
    exec(compile(source, "resnet50.py", "exec"), namespace)

    small = namespace["ResNet50"](num_classes=10)
    assert small.fc.out_features == 10
    assert small(torch.zeros(1, 3, 64, 64)).shape == (1, 10)


def test_a_loop_of_named_layers_is_a_module_dict():
    """torchvision's _DenseBlock: the layers the loop names, iterated in forward."""
    source = _source("specs/torchvision/densenet121.arch")
    assert "class DenseBlock(nn.ModuleDict):" in source
    assert '                f"denselayer{i + 1}",\n' in source
    assert "        for layer in self.values():\n" in source
    assert "getattr(" not in source


def test_shape_comments_use_the_blocks_symbols():
    source = _source("specs/torchvision/resnet50.arch")
    assert "        out = self.conv1(x)  # [N, planes, H, W]\n" in source
    # the model's own statements stay concrete where the spec is
    assert "        out = self.layer1(out)  # [N, 256, 56, 56]\n" in source
    # a size with no form in the block's terms (H or H/2 by stride) gets no comment
    assert "        out = self.conv2(out)\n" in source


def test_float_arguments_never_name_a_class():
    for specialize in (False, True):
        source = _source("specs/torchvision/efficientnet_b0.arch", specialize)
        assert not [name for name in _classes(source) if re.search(r"\d+p\d", name)]


def test_specialize_keeps_the_unrolled_form(tmp_path, capsys):
    target = tmp_path / "resnet50.py"
    spec = "specs/torchvision/resnet50.arch"
    assert main(["compile", spec, "--specialize", "-o", str(target)]) == 0
    unrolled = target.read_text(encoding="utf-8")
    # a class per distinct instance, its arguments folded in, as before issue 19
    assert len(_classes(unrolled)) == 9
    assert "class Bottleneck_64_64_1_1_64(nn.Module):" in unrolled
    assert "def __init__(self) -> None:" in unrolled
    assert unrolled == _source(spec, specialize=True)


def test_a_block_the_translator_cannot_write_falls_back_to_a_class_per_instance(tmp_path):
    spec = tmp_path / "modes.arch"
    spec.write_text(  # a call of a `def` function: not translated (yet)
        "def halved(c) {\n    return c // 2\n}\n"
        "block Head(c) {\n    input x\n    return x -> conv: Conv2d(c, halved(c), 1)\n}\n"
        "model M {\n    input x: [N, 8, 8, 8]\n    return x -> a: Head(8) -> b: Head(4)\n}\n",
        encoding="utf-8",
    )
    generated = generate_module(archspec.check(str(spec)))
    assert generated.specialized == {
        "Head": "the call halved(...)",
        "M": "it builds Head, which has a class per instance",
    }
    assert _classes(generated.source) == ["Head_8", "Head_4", "M"]
    assert "        self.conv = nn.Conv2d(8, 4, 1)\n" in generated.source
    assert "    def __init__(self) -> None:" in generated.source


def test_block_classes_are_deterministic():
    spec = "specs/torchvision/swin_t.arch"
    assert _source(spec) == _source(spec)


def test_compile_to_onnx_needs_an_output_file(capsys):
    assert main(["compile", "specs/seeds/mnist_cnn.arch", "--to", "onnx"]) == 2
    assert "give -o FILE.onnx" in capsys.readouterr().err


def test_compile_to_onnx_takes_one_model(tmp_path, capsys):
    spec = tmp_path / "two.arch"
    spec.write_text(
        "model A {\n    input x: [N, 2]\n    return x -> fc: Linear(2, 2)\n}\n"
        "model B {\n    input x: [N, 2]\n    return x -> fc: Linear(2, 3)\n}\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.onnx"
    assert main(["compile", str(spec), "--to", "onnx", "-o", str(target)]) == 2
    assert "an ONNX file holds one model" in capsys.readouterr().err
    assert not target.exists()


def test_expressions_are_written_as_ruff_formats_them():
    from archspec.outputs.codegen_text import python_code

    cases = {
        "x[a+1:b, :f(b), ..., None, 0::2, a.b:]": "x[a + 1 : b, : f(b), ..., None, 0::2, a.b :]",
        "torch.where((a < b), (-100.0), 0.0)": "torch.where(a < b, -100.0, 0.0)",
        "(2 * w - 1) ** 2": "(2 * w - 1) ** 2",
        "w ** 4": "w**4",
        "q * (c // n) ** (-0.5)": "q * (c // n) ** -0.5",
        "x.view('a', -1)": 'x.view("a", -1)',
        "(a + b).view(1)": "(a + b).view(1)",
        "a - (b + c)": "a - (b + c)",
        "(a - b) + c": "a - b + c",
    }
    for text, expected in cases.items():
        assert python_code(text).text == expected


def test_long_arithmetic_breaks_before_its_operators():
    from archspec.outputs.codegen_text import python_code, statement_lines

    a, b, c = "a" * 30, "b" * 30, "c" * 30
    lines = statement_lines(python_code(f"x.view({a} * ({b} // 7 + {c} // 7) * {a}, 1)"), "y = ", 2)
    assert lines == [
        "y = x.view(",
        f"    {a}",
        f"    * ({b} // 7 + {c} // 7)",
        f"    * {a},",
        "    1,",
        ")",
    ]


def test_a_layout_that_would_change_the_code_is_not_used():
    from archspec.outputs.codegen_text import Code, atom, statement_lines

    wrong = Code("f(" + "a" * 120 + ", b)", head="f", open="(", items=[atom("a" * 120)], close=")")
    assert statement_lines(wrong, "y = ", 2) == ["y = f(" + "a" * 120 + ", b)"]


# Constructs the translator leaves to the unrolled form, each with the reason it gives; the
# module is the same either way (same keys, same outputs).
FALLBACKS = {
    "a nested unpacking": (
        "block B(d) {\n    input x\n    out, (h, c) = x -> lstm: LSTM(d, d, batch_first=True)\n"
        "    return out + (h -> permute(1, 0, 2))\n}\n"
        "model M {\n    input x: [N, 5, 4]\n    return x -> b: B(4)\n}\n",
        "B",
    ),
    "a `for` over tensors or layers": (
        "block B(c) {\n    input x\n    outs = x -> chunk(2, dim=1)\n    total = outs[0]\n"
        "    for t in [outs[1]] {\n        total = total + t\n    }\n"
        "    return total -> conv: Conv2d(c // 2, c, 1)\n}\n"
        "model M {\n    input x: [N, 4, 8, 8]\n    return x -> b: B(4)\n}\n",
        "B",
    ),
    "a `tie` inside `if` or `for`": (
        "model M(share=True) {\n    input x: [N, 4]\n    a: Linear(4, 4)\n    b: Linear(4, 4)\n"
        "    if share {\n        tie b.weight = a.weight\n    }\n    return x -> a -> b\n}\n",
        "M",
    ),
    "the param 's' in a loop or branch": (
        "block B(c) {\n    input x\n    for i in range(1) {\n"
        "        param s: [c, 1, 1] = 1.0\n    }\n    return x * s\n}\n"
        "model M {\n    input x: [N, 4, 8, 8]\n    return x -> b: B(4)\n}\n",
        "B",
    ),
}


@pytest.mark.parametrize("reason", list(FALLBACKS))
def test_what_the_translator_leaves_is_unrolled_and_the_same_module(reason, tmp_path):
    text, name = FALLBACKS[reason]
    spec = tmp_path / "fallback.arch"
    spec.write_text(text, encoding="utf-8")
    result = archspec.check(str(spec))
    assert result.ok, result.diagnostics
    generated = generate_module(result)
    assert generated.specialized[name] == reason
    if name != "M":  # the model cannot build a block left to a class per instance
        assert generated.specialized["M"] == f"it builds {name}, which has a class per instance"
    torch = pytest.importorskip("torch")
    from archspec.api import _import_source

    def built(source: str):
        module = _import_source(source, str(spec))
        return module.M().eval()

    torch.manual_seed(0)
    default = built(generated.source)
    unrolled = built(generate_module(result, specialize=True).source)
    unrolled.load_state_dict(default.state_dict(), strict=True)
    shape = result.model().graph.node(result.model().graph.inputs[0]).declared_shape
    x = torch.randn(2, *[int(str(size)) for size in shape[1:]])
    with torch.no_grad():
        torch.testing.assert_close(default(x), unrolled(x))


def test_an_if_on_a_models_argument_is_pythons_if():
    generated = generate_module(
        archspec.check_text(
            "model M(flag=True) {\n    input x: [N, 4]\n    a: Linear(4, 4)\n"
            "    if flag {\n        x = x -> a\n    }\n    return x\n}\n"
        )
    )
    assert generated.specialized == {}
    assert "    def __init__(self, flag: bool = True) -> None:\n" in generated.source
    assert "        if self.flag:\n            x = self.a(x)" in generated.source
