"""The language reference (docs/language.md), construct by construct, through `archspec.check_text`.

Each test states what the checker must infer (shapes, module paths as torch's named_modules would
list them, parameter counts as torch counts them) or which diagnostic code it must report. Expected
parameter counts are worked out by hand in the comments (and agree with torch).
"""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.core.diagnostic import Severity
from archspec.core.dims import format_shape
from archspec.diagnostics.formats import render_text

# ---------------------------------------------------------------- helpers


def check(text: str, path: str = "<test>"):
    return archspec.check_text(textwrap.dedent(text), path)


def rendered(result) -> str:
    return "\n\n".join(render_text(d) for d in result.diagnostics)


def clean(text: str, path: str = "<test>"):
    """Check text that must produce no diagnostics at all."""
    result = check(text, path)
    assert result.diagnostics == [], rendered(result)
    return result


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def errors(result) -> list[str]:
    return [d.code for d in result.diagnostics if d.severity is Severity.ERROR]


def outputs(result, index: int = 0) -> list[str | None]:
    shapes = result.models[index].output_shapes
    return [None if s is None else format_shape(s) for s in shapes]


def shape(model, node_id: str) -> str:
    return format_shape(model.inference.shapes[node_id])


def module_paths(model) -> list[str]:
    return [m.path for m in model.graph.root.walk()][1:]  # [0] is the model itself ("")


def ops(model, name: str) -> list:
    return [n for n in model.graph.nodes() if n.kind == "op" and n.op.name == name]


def line_of(result, code: str) -> int:
    return next(d.primary.span.line for d in result.diagnostics if d.code == code)


# ---------------------------------------------------------------- the opening example


def test_reference_opening_example_mnist_cnn():
    result = clean(
        """
        model CNN {
            input x: [N, 1, 28, 28]
            out: [N, 32, 14, 14] = x -> layer1: Sequential(
                Conv2d(1, 32, kernel_size=3, stride=1, padding=1),
                ReLU(),
                MaxPool2d(kernel_size=2, stride=2),
            )
            out: [N, 64, 7, 7] = out -> layer2: Sequential(
                Conv2d(32, 64, kernel_size=3, stride=1, padding=1),
                ReLU(),
                MaxPool2d(kernel_size=2, stride=2),
            )
            out: [N, 10] = out -> flatten(1) -> fc: Linear(7 * 7 * 64, 10)
            return out
        }
        """
    )
    model = result.model()
    assert model.name == "CNN"
    assert outputs(result) == ["[N, 10]"]
    # 1·32·9+32 + 32·64·9+64 + 3136·10+10
    assert model.parameter_count == 320 + 18496 + 31370 == 50186
    assert module_paths(model) == [
        "layer1", "layer1.0", "layer1.1", "layer1.2",
        "layer2", "layer2.0", "layer2.1", "layer2.2",
        "fc",
    ]  # fmt: skip


# ---------------------------------------------------------------- files, comments and layout


def test_comments_newlines_and_trailing_commas_carry_no_meaning():
    one_line = clean("model M { input x: [N, 3, 8, 8] return x -> Conv2d(3, 4, 3,) -> relu() }")
    spread = clean(
        """
        # a comment
        model M {            # after code
            input x: [N,
                      3, 8, 8,]
            return x
                -> Conv2d(
                    3,
                    4,
                    3,
                )            # trailing commas everywhere
                -> relu()
        }
        """
    )
    assert outputs(one_line) == outputs(spread) == ["[N, 4, 6, 6]"]


def test_definitions_in_any_order():
    result = clean(
        """
        model M {
            input x: [N, 3, 8, 8]
            return x -> b: B(3)
        }
        block B(c) {
            input x
            return x -> Conv2d(c, 5, 1)
        }
        """
    )
    assert outputs(result) == ["[N, 5, 8, 8]"]


RESERVED = "model block def input return if else for in from import and or not".split()


@pytest.mark.parametrize("word", RESERVED)
@pytest.mark.parametrize(
    "template",
    [
        "model M {{ input x: [N, 1]\n {word} = x\n return x }}",
        "model M {{ input x: [N, 1]\n {word}: ReLU()\n return x }}",
        "model M {{ input x: [N, 1]\n return x -> {word}: ReLU() }}",
        "block {word} {{ input x  return x }}",
    ],
)
def test_reserved_words_are_not_names(word, template):
    result = check(template.format(word=word))
    assert codes(result) == ["E001"], rendered(result)
    if word not in ("input", "return", "if", "for", "not"):  # those fail as statements anyway
        assert result.diagnostics[0].primary.span.text == word
        assert "reserved" in result.diagnostics[0].message


@pytest.mark.parametrize("constant", ["True", "False", "None"])
def test_constants_cannot_be_bound(constant):
    result = check(f"model M {{ input x: [N, 1]\n {constant} = x\n return x }}")
    assert codes(result) == ["E001"]


# ---------------------------------------------------------------- models and inputs


def test_model_parameters_and_defaults():
    result = clean(
        """
        model Net(num_classes=10, hidden=2 * 16) {
            input x: [N, 1, 28, 28]
            out = x -> flatten(1) -> fc1: Linear(784, hidden) -> fc2: Linear(hidden, num_classes)
            return out
        }
        """
    )
    assert outputs(result) == ["[N, 10]"]
    model = result.model()
    assert model.graph.root.params == {"num_classes": 10, "hidden": 32}
    assert model.parameter_count == (784 * 32 + 32) + (32 * 10 + 10)


def test_model_parameter_without_default_is_E109():
    result = check("model M(width) {\n input x: [N, 1]\n return x }")
    assert codes(result) == ["E109"]
    assert "default" in result.diagnostics[0].message


def test_symbolic_batch_is_a_value_in_the_body():
    result = clean(
        """
        model M(c=4) {
            input x: [N, c * 2, 7, 7]
            flat = x -> view(N, -1)
            return flat
        }
        """
    )
    assert outputs(result) == ["[N, 392]"]
    model = result.model()
    assert shape(model, "x") == "[N, 8, 7, 7]"


def test_symbolic_size_arithmetic_is_kept_symbolic():
    result = check(
        """
        model M {
            input x: [N, 3, 4, 4]
            return x -> flatten(), cat([x, x], 0)
        }
        """
    )
    assert outputs(result) == ["[48·N]", "[2·N, 3, 4, 4]"]
    assert codes(result) == ["W011", "W011"]  # both fold the batch into another size


def test_several_inputs_and_several_outputs():
    result = clean(
        """
        model M {
            input image: [N, 3, 16, 16]
            input mask: [N, 1, 16, 16]
            both = cat([image, mask], 1)
            logits = both -> Conv2d(4, 2, 1)
            return logits, both
        }
        """
    )
    assert outputs(result) == ["[N, 2, 16, 16]", "[N, 4, 16, 16]"]
    assert result.model().graph.inputs == ["image", "mask"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("input x: [N, 1]", "returns nothing"),
        ("return 1", "no input"),
        ("input x\n return x", "needs a shape"),
    ],
)
def test_malformed_models_are_E109(body, message):
    result = check(f"model M {{\n {body}\n}}")
    assert "E109" in codes(result)
    assert any(message in d.message for d in result.diagnostics), rendered(result)


@pytest.mark.parametrize("size", ["0", "-3", "1.5", "'a'"])
def test_bad_input_size_is_one_E105_and_not_also_no_input(size):
    result = check(f"model M {{\n input x: [N, {size}, 4]\n return x\n}}")
    assert codes(result) == ["E105"], rendered(result)


def test_statement_after_return_is_E109():
    result = check("model M {\n input x: [N, 1]\n return x\n y = x\n}")
    assert codes(result) == ["E109"]
    assert result.diagnostics[0].primary.span.line == 4


# ---------------------------------------------------------------- layers and pipelines


def test_pipeline_of_layers_and_functions():
    result = clean(
        """
        model M {
            input x: [N, 1, 28, 28]
            h = x -> Conv2d(1, 32, 3, padding=1) -> ReLU() -> MaxPool2d(2)
            return h
        }
        """
    )
    assert outputs(result) == ["[N, 32, 14, 14]"]
    assert module_paths(result.model()) == ["conv2d", "relu", "maxpool2d"]


def test_torch_positional_order_keywords_and_defaults():
    result = clean(
        """
        model M {
            input x: [N, 16, 9, 9]
            a = x -> Conv2d(16, 8, 3)
            b = x -> Conv2d(16, 8, kernel_size=(3, 1), stride=2)
            c = x -> MaxPool2d(2)
            d = x -> Conv2d(16, 16, 3, padding='same')
            e = x -> MaxPool2d(3, 1)
            return a, b, c, d, e
        }
        """
    )
    assert outputs(result) == [
        "[N, 8, 7, 7]",
        "[N, 8, 4, 5]",
        "[N, 16, 4, 4]",  # MaxPool2d's stride defaults to its kernel
        "[N, 16, 9, 9]",
        "[N, 16, 7, 7]",
    ]


def test_wrong_argument_name_or_count_is_E104_with_signature():
    result = check(
        """
        model M {
            input x: [N, 1, 28, 28]
            a = x -> Conv2d(1, 32, kernal_size=3)
            b = x -> Conv2d(1, 32)
            return x
        }
        """
    )
    assert codes(result) == ["E104", "E104"]
    first, second = result.diagnostics
    assert any("signature: Conv2d(in_channels, out_channels, kernel_size" in n for n in first.notes)
    assert first.help == "did you mean 'kernel_size'?"
    assert "kernel_size" in second.message


def test_arrow_binds_more_loosely_than_arithmetic():
    result = clean(
        """
        model M {
            input a: [N, 4]
            input b: [N, 4]
            return a + b -> relu()
        }
        """
    )
    model = result.model()
    (relu,) = ops(model, "relu")
    assert model.graph.node(relu.inputs[0]).op.name == "add"
    assert outputs(result) == ["[N, 4]"]


# ---------------------------------------------------------------- names


def test_automatic_names_in_a_body_and_in_sequential():
    result = clean(
        """
        model M {
            input x: [N, 3, 8, 8]
            h = x -> Conv2d(3, 8, 3, padding=1) -> Conv2d(8, 8, 3, padding=1) -> ReLU()
            h = h -> Sequential(Conv2d(8, 8, 1), ReLU()) -> Sequential(ReLU())
            return h
        }
        """
    )
    assert module_paths(result.model()) == [
        "conv2d", "conv2d_1", "relu",
        "sequential", "sequential.0", "sequential.1",
        "sequential_1", "sequential_1.0",
    ]  # fmt: skip


def test_automatic_names_avoid_names_written_in_the_body():
    result = clean(
        """
        model M {
            input x: [N, 3, 8, 8]
            h = x -> Conv2d(3, 3, 1) -> conv2d: Conv2d(3, 3, 1) -> Conv2d(3, 3, 1)
            return h
        }
        """
    )
    assert module_paths(result.model()) == ["conv2d_1", "conv2d", "conv2d_2"]


def test_automatic_block_names_are_snake_case():
    result = clean(
        """
        block ConvBlock(c) { input x  return x -> Conv2d(c, c, 1) }
        model M {
            input x: [N, 3, 8, 8]
            return x -> ConvBlock(3) -> ConvBlock(3)
        }
        """
    )
    assert module_paths(result.model()) == [
        "conv_block",
        "conv_block.conv2d",
        "conv_block_1",
        "conv_block_1.conv2d",
    ]


def test_named_layers_and_named_sequential_children():
    result = clean(
        """
        model M {
            input x: [N, 3, 32, 32]
            out = x -> features: Sequential(
                conv0: Conv2d(3, 64, 7, 2, 3, bias=False),
                norm0: BatchNorm2d(64),
            ) -> classifier: Conv2d(64, 10, 1)
            return out
        }
        """
    )
    model = result.model()
    assert module_paths(model) == ["features", "features.conv0", "features.norm0", "classifier"]
    assert outputs(result) == ["[N, 10, 16, 16]"]
    # 3·64·49 (no bias) + 2·64 + 64·10+10
    assert model.parameter_count == 9408 + 128 + 650


def test_values_and_layers_live_in_separate_namespaces():
    result = clean(
        """
        model M {
            input x: [N, 4, 8, 8]
            branch1x1 = x -> branch1x1: Conv2d(4, 16, kernel_size=1)
            out = branch1x1 -> relu()
            out = out -> MaxPool2d(2)
            return out
        }
        """
    )
    assert outputs(result) == ["[N, 16, 4, 4]"]
    assert module_paths(result.model()) == ["branch1x1", "maxpool2d"]


def test_a_layer_name_used_twice_is_E103():
    result = check(
        """
        model M {
            input x: [N, 1, 28, 28]
            out = x -> conv: Conv2d(1, 8, 3) -> conv: Conv2d(8, 8, 3)
            return out
        }
        """
    )
    assert codes(result) == ["E103"]


def test_undefined_value_is_E102_with_suggestion():
    result = check("model M {\n input x: [N, 1]\n out = x\n return outt\n}")
    assert codes(result) == ["E102"]
    assert result.diagnostics[0].help == "did you mean 'out'?"


# ---------------------------------------------------------------- declaring and reusing a layer


def test_declared_layer_applied_twice_is_one_module():
    result = clean(
        """
        model Net {
            input x: [N, 1, 28, 28]
            mp: MaxPool2d(2)
            x = x -> conv1: Conv2d(1, 10, 5) -> mp -> relu()
            x = x -> conv2: Conv2d(10, 20, 5) -> mp -> relu()
            return x
        }
        """
    )
    model = result.model()
    assert outputs(result) == ["[N, 20, 4, 4]"]
    assert module_paths(model) == ["mp", "conv1", "conv2"]
    assert len(model.graph.module("mp").applications) == 2
    assert model.parameter_count == (1 * 10 * 25 + 10) + (10 * 20 * 25 + 20)


def test_shared_weights_are_counted_once():
    result = clean(
        """
        model M {
            input x: [N, 8, 8, 8]
            conv: Conv2d(8, 8, 3, padding=1)
            return x -> conv -> relu() -> conv -> conv
        }
        """
    )
    model = result.model()
    assert len(ops(model, "Conv2d")) == 3
    assert model.parameter_count == 8 * 8 * 9 + 8


def test_shared_layer_that_needs_different_inputs_is_an_error():
    result = check(
        """
        model M {
            input x: [N, 8, 8, 8]
            conv: Conv2d(?, 8, 1)
            a = x -> conv
            b = x -> Conv2d(8, 4, 1) -> conv
            return a, b
        }
        """
    )
    assert errors(result) == ["E201"]


def test_declared_sequential_and_block_can_be_applied_again():
    result = clean(
        """
        block Res(c) { input x  return (x -> conv: Conv2d(c, c, 3, padding=1)) + x }
        model M {
            input x: [N, 4, 8, 8]
            stem: Sequential(Conv2d(4, 4, 1), ReLU())
            res: Res(4)
            return x -> stem -> res -> stem -> res
        }
        """
    )
    model = result.model()
    assert module_paths(model) == ["stem", "stem.0", "stem.1", "res", "res.conv"]
    assert len(model.graph.module("res.conv").applications) == 2
    assert model.parameter_count == (16 + 4) + (4 * 4 * 9 + 4)


def test_applying_an_undeclared_layer_is_E102():
    result = check("model M {\n input x: [N, 4]\n return x -> lin\n}")
    assert codes(result) == ["E102"]
    result = check("model M {\n input x: [N, 4]\n return x -> relu6\n}")
    assert codes(result) == ["E102"]
    assert result.diagnostics[0].help == "call it: `-> relu6(...)`"


# ---------------------------------------------------------------- `?`


def test_question_mark_reads_sizes_off_the_incoming_shape():
    result = clean(
        """
        model M {
            input x: [N, 3, 8, 8]
            out = x -> conv: Conv2d(?, 64, 3, bias=False) -> bn: BatchNorm2d(?)
                    -> gn: GroupNorm(4, ?) -> ln: LayerNorm(?) -> flatten(1) -> fc: Linear(?, 10)
            return out
        }
        """
    )
    model = result.model()
    args = model.inference.module_args
    assert args["conv"]["in_channels"] == 3
    assert args["bn"]["num_features"] == 64
    assert args["gn"]["num_channels"] == 64
    assert args["fc"]["in_features"] == 64 * 6 * 6
    assert outputs(result) == ["[N, 10]"]
    # conv 3·64·9, bn 128, gn 128, ln over the last dim (6): 12, fc 2304·10+10
    assert model.parameter_count == 1728 + 128 + 128 + 12 + 23050


def test_wrong_in_channels_is_E201_with_the_right_number():
    result = check(
        """
        model M {
            input x: [N, 3, 32, 32]
            out = x -> conv1: Conv2d(3, 16, 3, padding=1, bias=False) -> bn1: BatchNorm2d(32)
            return out
        }
        """
    )
    assert codes(result) == ["E201"]
    diagnostic = result.diagnostics[0]
    assert "num_features=32" in diagnostic.message and "16" in diagnostic.message
    assert diagnostic.help.startswith("set num_features=16")
    assert diagnostic.primary.span.text == "32"


def test_wrong_conv_in_channels_is_E201():
    result = check("model M {\n input x: [N, 3, 8, 8]\n return x -> Conv2d(1, 8, 3)\n}")
    assert codes(result) == ["E201"]
    assert "in_channels=3" in result.diagnostics[0].help


def test_wrong_in_features_is_E202_with_the_arithmetic():
    result = check(
        """
        model M {
            input x: [N, 64, 3, 3]
            out = x -> flatten(1) -> fc1: Linear(7 * 7 * 64, 1000)
            return out
        }
        """
    )
    assert codes(result) == ["E202"]
    diagnostic = result.diagnostics[0]
    assert "3136" in diagnostic.message and "576" in diagnostic.message
    assert "in_features=576" in diagnostic.help and "64×3×3" in diagnostic.help


# ---------------------------------------------------------------- functions


def test_functions_in_pipes_equal_direct_calls():
    result = check(
        """
        model M {
            input x: [N, 8, 4, 4]
            a = flatten(x, 1)
            b = x -> flatten(1)
            c = x -> flatten()
            d = x -> view(N, -1)
            e = x -> mean((2, 3))
            f = x -> adaptive_avg_pool2d(1)
            g = relu(x) -> softmax(dim=1)
            return a, b, c, d, e, f, g
        }
        """
    )
    assert outputs(result) == [
        "[N, 128]",
        "[N, 128]",
        "[128·N]",  # like torch's, flatten's start_dim defaults to 0
        "[N, 128]",
        "[N, 8]",
        "[N, 8, 1, 1]",
        "[N, 8, 4, 4]",
    ]
    assert module_paths(result.model()) == []  # functions are not modules
    assert codes(result) == ["W011"]  # c: flatten() from dim 0 folds the batch in


def test_a_function_cannot_be_named():
    result = check("model M {\n input x: [N, 4]\n return x -> act: relu()\n}")
    assert codes(result) == ["E104"]
    assert "ReLU" in result.diagnostics[0].help


def test_a_function_without_its_tensor_is_E104():
    result = check("model M {\n input x: [N, 4]\n y = x -> Sequential(dropout())\n return x\n}")
    assert codes(result) == ["E104"]
    assert "Dropout()" in result.diagnostics[0].help


# ---------------------------------------------------------------- + and *


def test_residual_add_of_equal_shapes():
    result = clean(
        """
        model M {
            input x: [N, 8, 8, 8]
            identity = x
            out = (x -> conv1: Conv2d(8, 8, 3, padding=1, bias=False) -> bn1: BatchNorm2d(8))
                + identity -> relu()
            return out
        }
        """
    )
    assert outputs(result) == ["[N, 8, 8, 8]"]


@pytest.mark.parametrize(
    ("other", "expected"),
    [("x -> adaptive_avg_pool2d(1)", []), ("x -> MaxPool2d(2)", ["E205"])],
)
def test_add_broadcasts_as_torch_does(other, expected):
    result = check(f"model M {{\n input x: [N, 8, 8, 8]\n return x + ({other})\n}}")
    assert codes(result) == expected


def test_multiply_broadcasts_like_torch():
    result = clean(
        """
        model M {
            input x: [N, 64, 8, 8]
            gate = x * (x -> adaptive_avg_pool2d(1) -> conv: Conv2d(?, 64, 1) -> sigmoid())
            return gate
        }
        """
    )
    assert outputs(result) == ["[N, 64, 8, 8]"]
    bad = check("model M {\n input x: [N, 8, 4, 4]\n return x * (x -> Conv2d(8, 4, 1))\n}")
    assert codes(bad) == ["E205"]


def test_tensor_arithmetic_other_than_add_sub_mul_div_is_E108():
    result = check("model M {\n input x: [N, 4]\n return x // x\n}")
    assert codes(result) == ["E108"]


# ---------------------------------------------------------------- cat


def test_cat_along_a_dim():
    result = check(
        """
        model M {
            input x: [N, 8, 4, 4]
            a = cat([x, x -> Conv2d(8, 4, 1)], dim=1)
            b = cat([x, x], 0)
            c = cat([x], -1)
            return a, b, c
        }
        """
    )
    assert outputs(result) == ["[N, 12, 4, 4]", "[2·N, 8, 4, 4]", "[N, 8, 4, 4]"]
    assert codes(result) == ["W011"]  # b: cat along dim 0 joins two batches


def test_cat_mismatch_outside_the_dim_is_E204():
    result = check("model M {\n input x: [N, 8, 8, 8]\n return cat([x, x -> MaxPool2d(2)], 1)\n}")
    assert codes(result) == ["E204"]
    assert "dim 2" in result.diagnostics[0].message


def test_cat_needs_a_list_of_tensors():
    result = check("model M {\n input x: [N, 8]\n return cat(x, 1)\n}")
    assert codes(result) == ["E108"]


# ---------------------------------------------------------------- Sequential


BASIC_BLOCK = """
block BasicBlock(inplanes, planes, stride=1) {
    input x
    relu: ReLU(inplace=True)
    out = x -> conv1: Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            -> bn1: BatchNorm2d(planes) -> relu
            -> conv2: Conv2d(planes, planes, 3, padding=1, bias=False)
            -> bn2: BatchNorm2d(planes)
    identity = x
    if stride != 1 or inplanes != planes {
        identity = x -> downsample: Sequential(
            Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
            BatchNorm2d(planes),
        )
    }
    return out + identity -> relu
}
"""


def test_sequential_of_a_comprehension_with_per_index_arguments():
    result = clean(
        BASIC_BLOCK
        + """
        model M(n=3) {
            input x: [N, 64, 16, 16]
            out = x -> layer2: Sequential(
                *[BasicBlock(64 if i == 0 else 128, 128, stride=2 if i == 0 else 1)
                  for i in range(n)]
            )
            return out
        }
        """
    )
    model = result.model()
    assert outputs(result) == ["[N, 128, 8, 8]"]
    paths = module_paths(model)
    assert [p for p in paths if p.count(".") == 1] == ["layer2.0", "layer2.1", "layer2.2"]
    assert "layer2.0.downsample.1" in paths and "layer2.1.downsample" not in paths
    assert model.graph.module("layer2.0").params == {"inplanes": 64, "planes": 128, "stride": 2}
    assert model.graph.module("layer2.2").params == {"inplanes": 128, "planes": 128, "stride": 1}
    # first block: 64·128·9 + 128·128·9 + 2 BN(128) + downsample 64·128 + BN(128)
    first = 73728 + 147456 + 512 + 8192 + 256
    later = 2 * 147456 + 512  # no downsample
    assert model.parameter_count == first + 2 * later


def test_lists_of_layers_built_in_a_loop_like_make_layers():
    result = clean(
        """
        model VGG {
            input x: [N, 3, 32, 32]
            layers = []
            in_channels = 3
            for v in [64, "M", 128, "M"] {
                if v == "M" {
                    layers = layers + [MaxPool2d(2)]
                } else {
                    layers = layers + [Conv2d(in_channels, v, 3, padding=1), ReLU(inplace=True)]
                    in_channels = v
                }
            }
            out: [N, 128, 8, 8] = x -> features: Sequential(*layers)
            return out
        }
        """
    )
    model = result.model()
    assert module_paths(model) == ["features"] + [f"features.{i}" for i in range(6)]
    assert [model.graph.module(f"features.{i}").op.name for i in range(6)] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
    ]  # fmt: skip
    assert model.parameter_count == (3 * 64 * 9 + 64) + (64 * 128 * 9 + 128)


def test_empty_sequential_is_the_identity():
    result = clean("model M {\n input x: [N, 4]\n return x -> s: Sequential()\n}")
    assert outputs(result) == ["[N, 4]"]


def test_sequential_holds_only_layers():
    assert codes(check("model M {\n input x: [N, 4]\n return x -> Sequential(3)\n}")) == ["E108"]
    keyword = check("model M {\n input x: [N, 4]\n return x -> Sequential(a=ReLU())\n}")
    assert codes(keyword) == ["E104"]


# ---------------------------------------------------------------- blocks

INCEPTION = """
block InceptionA(in_channels, pool_features=24) {
    input x
    branch1x1 = x -> branch1x1: Conv2d(in_channels, 16, kernel_size=1)
    branch_pool = x -> avg_pool2d(3, stride=1, padding=1)
                    -> branch_pool: Conv2d(in_channels, pool_features, kernel_size=1)
    return cat([branch1x1, branch_pool], 1)
}
"""


@pytest.mark.parametrize(
    "call, channels",
    [
        ("InceptionA(10)", 40),
        ("InceptionA(in_channels=10)", 40),
        ("InceptionA(10, 8)", 24),
        ("InceptionA(pool_features=4, in_channels=10)", 20),
    ],
)
def test_block_parameters_positional_keyword_and_default(call, channels):
    result = clean(
        INCEPTION
        + f"""
        model Net {{
            input x: [N, 10, 12, 12]
            return x -> incept1: {call}
        }}
        """
    )
    assert outputs(result) == [f"[N, {channels}, 12, 12]"]
    assert module_paths(result.model()) == ["incept1", "incept1.branch1x1", "incept1.branch_pool"]


@pytest.mark.parametrize(
    "call, message",
    [
        ("InceptionA(in_chanels=10)", "no parameter 'in_chanels'"),
        ("InceptionA()", "missing its argument 'in_channels'"),
        ("InceptionA(10, 24, 3)", "takes 2 arguments, got 3"),
        ("InceptionA(10, in_channels=10)", "got 'in_channels' twice"),
    ],
)
def test_block_argument_errors_are_E104(call, message):
    result = check(
        INCEPTION
        + f"""
        model Net {{
            input x: [N, 10, 12, 12]
            return x -> {call} -> relu()
        }}
        """
    )
    assert codes(result) == ["E104"], rendered(result)
    diagnostic = result.diagnostics[0]
    assert message in diagnostic.message
    if "twice" not in message:
        signature = "signature: InceptionA(in_channels, pool_features=24)"
        assert signature in diagnostic.notes


def test_unknown_block_parameter_suggests_the_closest():
    result = check(
        INCEPTION + "model M { input x: [N, 10, 4, 4]  return x -> InceptionA(in_chanels=10) }"
    )
    assert result.diagnostics[0].help == "did you mean 'in_channels'?"


def test_errors_inside_a_block_name_the_instance():
    result = check(
        BASIC_BLOCK
        + """
        model M {
            input x: [N, 64, 8, 8]
            return x -> layer2: Sequential(BasicBlock(32, 64))
        }
        """
    )
    # conv1 and the downsample's conv both read the 64-channel input
    assert codes(result) == ["E201", "E201"]
    for diagnostic in result.diagnostics:
        assert "in layer2.0 (BasicBlock(inplanes=32, planes=64, stride=1))" in diagnostic.notes


def test_block_input_shape_pattern_is_checked_per_instance():
    text = """
    block B(c) {
        input x: [N, c, H, H]
        return x -> Conv2d(c, 8, 1)
    }
    model M {
        input square: [N, 4, 8, 8]
        input wide: [N, 4, 8, 6]
        a = square -> one: B(4)
        b = wide -> two: B(4)
        return a, b
    }
    """
    result = check(text)
    assert codes(result) == ["E207"], rendered(result)
    diagnostic = result.diagnostics[0]
    assert "[N, 4, 8, 6]" in diagnostic.message
    assert diagnostic.notes == ("in two (B(c=4))",)
    assert outputs(result) == ["[N, 8, 8, 8]", "[N, 8, 8, 6]"]


def test_block_input_pattern_values_are_evaluated_parameters():
    result = check(
        """
        block B(c) { input x: [N, c, H, W]  return x }
        model M {
            input x: [N, 4, 8, 8]
            return x -> B(4), x -> B(5)
        }
        """
    )
    assert codes(result) == ["E207"]
    assert "[N, 5, H, W]" in result.diagnostics[0].message


def test_block_input_pattern_binds_per_application_of_a_shared_block():
    result = clean(
        """
        block B { input x: [N, C, H, W]  return x -> c: Conv2d(4, 4, 1) }
        model M {
            input x: [N, 4, 8, 8]
            b: B()
            return x -> b -> MaxPool2d(2) -> b
        }
        """
    )
    assert outputs(result) == ["[N, 4, 4, 4]"]
    assert len(result.model().graph.module("b.c").applications) == 2


def test_multi_input_block_fed_by_a_tuple():
    result = clean(
        """
        block Up(in_channels, out_channels) {
            input low: [N, in_channels, H, W]
            input skip
            up = low -> Upsample(scale_factor=2) -> conv: Conv2d(in_channels, out_channels, 1)
            return cat([up, skip], 1)
        }
        model M {
            input low: [N, 256, 8, 8]
            input skip: [N, 128, 16, 16]
            return (low, skip) -> up1: Up(256, 128)
        }
        """
    )
    assert outputs(result) == ["[N, 256, 16, 16]"]
    assert module_paths(result.model()) == ["up1", "up1.upsample", "up1.conv"]


def test_wrong_number_of_block_inputs_is_E104():
    result = check(
        """
        block Up(c) { input low  input skip  return cat([low, skip], 1) }
        model M { input x: [N, 4, 8, 8]  return x -> Up(4) }
        """
    )
    assert codes(result) == ["E104"]
    assert "2 input tensor(s), got 1" in result.diagnostics[0].message


def test_multi_output_block():
    result = clean(
        """
        block Two(c) {
            input x
            return x -> MaxPool2d(2), x -> Conv2d(c, 2 * c, 1)
        }
        model M {
            input x: [N, 4, 8, 8]
            outs = x -> two: Two(4)
            return outs[0], outs[1], outs[-1] -> relu()
        }
        """
    )
    assert outputs(result) == ["[N, 4, 4, 4]", "[N, 8, 8, 8]", "[N, 8, 8, 8]"]


def test_a_two_input_layer_takes_a_tuple():
    result = clean(
        """
        model M {
            input x: [N, 4]
            input y: [N, 6]
            return (x, y) -> bil: Bilinear(4, 6, 2)
        }
        """
    )
    assert outputs(result) == ["[N, 2]"]
    assert result.model().parameter_count == 4 * 6 * 2 + 2
    wrong = check("model M {\n input x: [N, 4]\n return (x, 3) -> Bilinear(4, 6, 2)\n}")
    assert codes(wrong) == ["E108"]


def test_several_outputs_fed_to_a_one_tensor_op_is_E108():
    text = """
    block Two { input x  return x, x }
    model M { input x: [N, 4]  return x -> Two() -> STAGE }
    """
    for stage in ("relu()", "ReLU()"):
        result = check(text.replace("STAGE", stage))
        assert codes(result) == ["E108"], rendered(result)


def test_block_parameters_must_be_plain_values():
    result = check(
        "block B(c) { input x  return x }\nmodel M { input x: [N, 4]\n return x -> B(x) }"
    )
    assert codes(result) == ["E108"]


# ---------------------------------------------------------------- conditions


def test_if_else_if_else_on_parameters():
    result = clean(
        """
        block Down(k) {
            input x
            if k == 1 {
                y = x -> MaxPool2d(2)
            } else if k == 2 {
                y = x -> MaxPool2d(4)
            } else {
                y = x
            }
            return y
        }
        model M {
            input x: [N, 8, 8, 8]
            return x -> Down(1), x -> Down(2), x -> Down(3)
        }
        """
    )
    assert outputs(result) == ["[N, 8, 4, 4]", "[N, 8, 2, 2]", "[N, 8, 8, 8]"]


def test_resnet_downsample_exists_only_when_needed():
    result = clean(
        BASIC_BLOCK
        + """
        model M {
            input x: [N, 64, 8, 8]
            return x -> a: BasicBlock(64, 64) -> b: BasicBlock(64, 128, stride=2)
        }
        """
    )
    paths = module_paths(result.model())
    assert "a.downsample" not in paths and "b.downsample" in paths
    assert outputs(result) == ["[N, 128, 4, 4]"]


def test_conditions_on_tensors_are_E108():
    result = check("model M {\n input x: [N, 4]\n if x { y = 1 }\n return x\n}")
    assert codes(result) == ["E108"]


def test_conditional_expression():
    result = clean(
        """
        model M(wide=True, depth=2) {
            input x: [N, 8, 8, 8]
            return x -> Conv2d(8, 32 if wide else 8, 3 if depth == 2 else 1,
                               padding=(1 if wide else 0))
        }
        """
    )
    assert outputs(result) == ["[N, 32, 8, 8]"]


# ---------------------------------------------------------------- loops, lists, templates

DENSE = """
block DenseLayer(num_input_features, growth_rate) {
    input x
    return x -> norm1: BatchNorm2d(num_input_features) -> relu()
             -> conv1: Conv2d(num_input_features, growth_rate, 3, padding=1, bias=False)
}
block DenseBlock(num_layers, num_input_features, growth_rate) {
    input x
    features = [x]
    for i in range(num_layers) {
        new = cat(features, 1)
            -> "denselayer{i + 1}": DenseLayer(num_input_features + i * growth_rate, growth_rate)
        features = features + [new]
    }
    return cat(features, 1)
}
"""


def test_dense_connectivity_with_label_templates():
    result = clean(
        DENSE
        + """
        model M {
            input x: [N, 16, 8, 8]
            return x -> block1: DenseBlock(3, 16, 4)
        }
        """
    )
    model = result.model()
    assert outputs(result) == ["[N, 28, 8, 8]"]
    assert module_paths(model) == [
        "block1",
        "block1.denselayer1", "block1.denselayer1.norm1", "block1.denselayer1.conv1",
        "block1.denselayer2", "block1.denselayer2.norm1", "block1.denselayer2.conv1",
        "block1.denselayer3", "block1.denselayer3.norm1", "block1.denselayer3.conv1",
    ]  # fmt: skip
    # layer i sees 16 + 4i channels: BN 2·c, conv c·4·9
    assert model.parameter_count == sum(2 * c + c * 4 * 9 for c in (16, 20, 24))


def test_label_templates_that_repeat_or_are_not_identifiers():
    repeated = check(
        "model M {\n input x: [N, 4]\n"
        ' for i in range(2) { x = x -> "lin{i // 2}": Linear(4, 4) }\n return x\n}'
    )
    assert codes(repeated) == ["E103"]
    bad = check('model M {\n input x: [N, 4]\n return x -> "{1}x": Linear(4, 4)\n}')
    assert codes(bad) == ["E105"]


def test_a_plain_label_in_a_loop_is_E103_on_the_second_pass():
    result = check(
        "model M {\n input x: [N, 4]\n"
        " for i in range(3) { x = x -> fc: Linear(4, 4) }\n return x\n}"
    )
    assert codes(result) == ["E103"]  # once, although the loop runs twice more


def test_values_and_expressions():
    result = clean(
        """
        model M(a=7) {
            input x: [N, 64, 4, 4]
            cfg = [64, 64, "M", 128]
            widths = [w * 2 for w in range(1, 4)]
            n = len(cfg) + min(3, a) + max(widths) + int(2.9) + cfg[-1] // 64 + a % 4 + 2 ** 3
            ok = (not False) and (a > 3 or a < 0) and a != 6 and a >= 7 and a <= 7
            return x -> Conv2d(64, n if ok else 1, 1)
        }
        """
    )
    # 4 + 3 + 6 + 2 + 2 + 3 + 8
    assert outputs(result) == ["[N, 28, 4, 4]"]


def test_index_out_of_range_and_division_by_zero_are_E105():
    result = check("model M {\n input x: [N, 4]\n a = [1, 2][2]\n b = 1 // 0\n return x\n}")
    assert codes(result) == ["E105", "E105"]


def test_for_loops_unroll_and_rebind():
    result = clean(
        """
        model M {
            input x: [N, 2, 64, 64]
            out = x
            c = 2
            for i in range(3) {
                out = out -> Conv2d(c, c * 2, 3, padding=1) -> MaxPool2d(2)
                c = c * 2
            }
            return out
        }
        """
    )
    assert outputs(result) == ["[N, 16, 8, 8]"]
    assert [p for p in module_paths(result.model()) if p.startswith("conv")] == [
        "conv2d",
        "conv2d_1",
        "conv2d_2",
    ]


# ---------------------------------------------------------------- shape assertions


def test_shape_assertions_with_wildcards_and_names():
    result = clean(
        """
        model M {
            input x: [N, 3, 32, 32]
            a: [N, 3, 32, 32] = x
            b: [?, 8, H, H] = x -> Conv2d(3, 8, 3, padding=1)
            c: [N, ?, H, W] = b -> relu()
            return c
        }
        """
    )
    assert outputs(result) == ["[N, 8, 32, 32]"]


def test_wrong_shape_assertion_is_E207_with_the_actual_shape():
    result = check(
        """
        model M {
            input x: [N, 1, 28, 28]
            out: [N, 32, 14, 14] = x -> Conv2d(1, 32, 3, padding=1) -> MaxPool2d(2)
            out: [N, 64, 14, 14] = out -> Conv2d(32, 64, 3, padding=1) -> MaxPool2d(2)
            out: [N, 3136] = out -> flatten(1)
            return out
        }
        """
    )
    assert codes(result) == ["E207"]
    diagnostic = result.diagnostics[0]
    assert diagnostic.primary.span.line == 5
    assert "[N, 64, 7, 7]" in diagnostic.message and "[N, 64, 14, 14]" in diagnostic.message


@pytest.mark.parametrize(
    "stated, expected",
    [
        ("[N, 784]", ["E207"]),  # another rank
        ("[N, 1, H, W, 1]", ["E207"]),
        ("[N, 2, H, W]", ["E207"]),
        ("[1, 1, 28, 28]", ["E207"]),  # N is symbolic, not 1
        ("[M, 1, 28, 28]", []),  # M has no value: a pattern, which matches N
        ("[N, 1, H, H + 0]", ["E102"]),  # H has no value, so H + 0 cannot be computed
    ],
)
def test_shape_assertion_variants(stated, expected):
    result = check(f"model M {{\n input x: [N, 1, 28, 28]\n y: {stated} = x\n return y\n}}")
    assert codes(result) == expected, rendered(result)


def test_a_name_in_stated_shapes_must_match_everywhere():
    result = check(
        """
        model M {
            input x: [N, 1, 28, 28]
            a: [N, 1, H, H] = x
            b: [N, 1, H, H] = x -> MaxPool2d(2)
            return a, b
        }
        """
    )
    assert codes(result) == ["E207"]
    assert result.diagnostics[0].primary.span.line == 5


@pytest.mark.parametrize("size", ["1.0", "'a'", "x", "[1]"])
def test_stated_sizes_must_be_integers(size):
    result = check(
        f"model M {{\n input x: [N, 1, 28, 28]\n y: [N, {size}, 28, 28] = x\n return y\n}}"
    )
    assert codes(result) == ["E108"], rendered(result)


def test_shape_of_a_non_tensor_is_E108():
    result = check("model M {\n input x: [N, 1]\n y: [1] = 3\n return x\n}")
    assert codes(result) == ["E108"]


# ---------------------------------------------------------------- imports


def write(folder, name: str, text: str):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_imports_are_relative_to_the_importing_file(tmp_path):
    write(tmp_path, "archspec.toml", "")  # the project folder, which models/ and lib/ share
    write(
        tmp_path,
        "lib/blocks.arch",
        """
        block Inner(c) { input x  return x -> Conv2d(c, c, 1) }
        block Outer(c) { input x  return x -> inner: Inner(c) -> relu() }
        """,
    )
    write(
        tmp_path,
        "models/net.arch",
        """
        from "../lib/blocks.arch" import Outer
        model Net {
            input x: [N, 4, 8, 8]
            return x -> outer: Outer(4)
        }
        """,
    )
    result = archspec.check(str(tmp_path / "models" / "net.arch"))
    assert result.diagnostics == [], rendered(result)
    model = result.model()
    # Inner was not imported, but Outer finds it in its own file
    assert module_paths(model) == ["outer", "outer.inner", "outer.inner.conv2d"]
    assert model.parameter_count == 20


def test_an_importers_block_does_not_shadow_the_imported_blocks_own(tmp_path):
    write(
        tmp_path,
        "blocks.arch",
        """
        block Inner(c) { input x  return x -> Conv2d(c, c, 1) }
        block Outer(c) { input x  return x -> inner: Inner(c) }
        """,
    )
    main = write(
        tmp_path,
        "main.arch",
        """
        from "blocks.arch" import Outer
        block Inner(c) { input x  return x -> MaxPool2d(2) }
        model Net {
            input x: [N, 4, 8, 8]
            return x -> Outer(4), x -> Inner(4)
        }
        """,
    )
    result = archspec.check(str(main))
    assert result.diagnostics == [], rendered(result)
    assert outputs(result) == ["[N, 4, 8, 8]", "[N, 4, 4, 4]"]


def test_blocks_of_the_same_name_in_two_files_are_different_blocks(tmp_path):
    write(
        tmp_path,
        "lib.arch",
        """
        block Inner(c) { input x  return x -> conv: Conv2d(c, c, 1) }
        block Outer(c) { input x  return x -> inner: Inner(c) }
        """,
    )
    main = write(
        tmp_path,
        "main.arch",
        """
        from "lib.arch" import Outer
        block Inner(c) { input x  return x -> outer: Outer(c) -> MaxPool2d(2) }
        model Net { input x: [N, 4, 8, 8]  return x -> top: Inner(4) }
        """,
    )
    result = archspec.check(str(main))
    assert result.diagnostics == [], rendered(result)  # no false "contains itself"
    assert outputs(result) == ["[N, 4, 4, 4]"]
    assert module_paths(result.model()) == [
        "top", "top.outer", "top.outer.inner", "top.outer.inner.conv", "top.maxpool2d"
    ]  # fmt: skip


def test_diamond_imports_are_not_cycles(tmp_path):
    write(tmp_path, "base.arch", "block Base { input x  return x -> relu() }")
    write(
        tmp_path,
        "left.arch",
        'from "base.arch" import Base\nblock L { input x  return x -> Base() }',
    )
    write(
        tmp_path,
        "right.arch",
        'from "base.arch" import Base\nblock R { input x  return x -> Base() }',
    )
    main = write(
        tmp_path,
        "main.arch",
        """
        from "left.arch" import L
        from "right.arch" import R
        model M { input x: [N, 4]  return x -> L() -> R() }
        """,
    )
    result = archspec.check(str(main))
    assert result.diagnostics == [], rendered(result)


def test_missing_file_and_missing_block_are_E106_and_uses_stay_silent(tmp_path):
    write(tmp_path, "blocks.arch", "block BasicBlock(c) { input x  return x }")
    main = write(
        tmp_path,
        "main.arch",
        """
        from "nowhere.arch" import Missing
        from "blocks.arch" import BasicBlok
        model M {
            input x: [N, 4, 8, 8]
            a = x -> Missing(4) -> relu()
            b = x -> BasicBlok(4)
            c: Missing(1)
            return a, b, x -> c
        }
        """,
    )
    result = archspec.check(str(main))
    assert codes(result) == ["E106", "E106"], rendered(result)
    missing_file, missing_block = result.diagnostics
    assert missing_file.primary.span.line == 2 and "nowhere.arch" in missing_file.message
    assert missing_block.primary.span.text == "BasicBlok"
    assert missing_block.help == "did you mean 'BasicBlock'?"


def test_importing_a_broken_file_reports_its_error_and_the_import(tmp_path):
    write(tmp_path, "broken.arch", "block B(c) { input x  return x -> Conv2d(c, c, 1 }")
    main = write(
        tmp_path,
        "main.arch",
        'from "broken.arch" import B\nmodel M { input x: [N, 4, 8, 8]  return x -> B(4) }',
    )
    result = archspec.check(str(main))
    assert sorted(codes(result)) == ["E001", "E106"], rendered(result)
    paths = {d.code: d.primary.span.source.path for d in result.diagnostics}
    assert paths["E001"].endswith("broken.arch") and paths["E106"].endswith("main.arch")


def test_import_cycle_is_E107_naming_the_chain(tmp_path):
    write(tmp_path, "a.arch", 'from "b.arch" import B\nblock A { input x  return x -> B() }')
    write(tmp_path, "b.arch", 'from "a.arch" import A\nblock B { input x  return x -> A() }')
    main = write(
        tmp_path,
        "main.arch",
        'from "a.arch" import A\nmodel M { input x: [N, 4]  return x -> A() }',
    )
    result = archspec.check(str(main))
    assert codes(result) == ["E107"], rendered(result)
    assert "a.arch -> b.arch -> a.arch" in result.diagnostics[0].message


def test_a_block_that_contains_itself_is_E107():
    direct = check(
        """
        block Fractal(depth) { input x  return x -> inner: Fractal(depth - 1) }
        model M { input x: [N, 3, 8, 8]  return x -> Fractal(3) }
        """
    )
    assert codes(direct) == ["E107"]
    indirect = check(
        """
        block A { input x  return x -> B() }
        block B { input x  return x -> Sequential(A()) }
        model M { input x: [N, 3, 8, 8]  return x -> A() }
        """
    )
    assert codes(indirect) == ["E107"]
    assert "A -> B -> A" in indirect.diagnostics[0].message


def test_a_block_may_be_used_twice_in_a_chain_without_recursion():
    result = clean(
        """
        block C { input x  return x -> relu() }
        block Pair { input x  return x -> C() -> C() }
        model M { input x: [N, 3]  return x -> Pair() -> Pair() }
        """
    )
    assert outputs(result) == ["[N, 3]"]


# ---------------------------------------------------------------- unknown names


def test_unknown_layer_suggests_the_closest():
    result = check("model M {\n input x: [N, 1, 8, 8]\n return x -> Conv2D(1, 8, 3)\n}")
    assert codes(result) == ["E101"]
    assert result.diagnostics[0].help == "did you mean 'Conv2d'?"


def test_a_block_cannot_take_a_layers_name():
    result = check("block Conv2d(c) { input x  return x }")
    assert codes(result) == ["E103"]


# ---------------------------------------------------------------- no cascades


def test_three_independent_errors_are_reported_exactly():
    result = check(
        """
        model M {
            input x: [N, 1, 28, 28]
            a = x -> Conv2d(3, 8, 3) -> ReLU() -> Conv2d(8, 8, 3) -> flatten(1) -> Linear(1, 2)
            b = x -> flatten(1) -> Linear(5, 3) -> Linear(3, 3)
            c = x -> Conv2D(1, 8, 3) -> MaxPool2d(2)
            d: [N, 2] = a
            return a + b + c
        }
        """
    )
    assert codes(result) == ["E201", "E202", "E101"], rendered(result)
    assert [d.primary.span.line for d in result.diagnostics] == [4, 5, 6]


def test_an_error_upstream_gives_no_error_downstream():
    result = check(
        """
        model M {
            input x: [N, 1, 28, 28]
            y = x -> Conv2d(3, 8, 3)
            z = y -> Conv2d(4, 8, 3) -> flatten(1) -> Linear(10, 4)
            w: [N, 999] = z
            v = cat([z, x], 1) + y
            return v
        }
        """
    )
    assert codes(result) == ["E201"], rendered(result)
    assert outputs(result) == [None]


@pytest.mark.parametrize(
    "broken",
    [
        "c: Conv2d(1, 2)",  # missing kernel_size
        "c: Conv2D(1, 2, 3)",  # unknown layer
        "y = x -> c: Conv2d(1, 2)",
        "y = x -> c: relu()",  # a function cannot be named
        "c: range(3)",  # not a layer
    ],
)
def test_a_layer_that_failed_to_build_is_not_reported_again(broken):
    result = check(
        f"""
        model M {{
            input x: [N, 1, 8, 8]
            {broken}
            a = x -> c -> relu()
            b = x -> c
            return a, b
        }}
        """
    )
    assert len(errors(result)) == 1, rendered(result)
    assert line_of(result, errors(result)[0]) == 4


def test_an_error_in_a_block_is_reported_once_for_identical_instances():
    result = check(
        """
        block B(c) { input x  return x -> Conv2d(c, 8, 3) }
        model M {
            input x: [N, 1, 8, 8]
            return x -> B(3), x -> B(3), x -> B(3) -> Conv2d(8, 1, 1)
        }
        """
    )
    assert codes(result) == ["E201"]


def test_a_failed_statement_poisons_only_its_value():
    result = check(
        """
        model M {
            input x: [N, 4, 8, 8]
            bad = undefined_name -> relu()
            good = x -> Conv2d(4, 8, 1)
            use = bad + good
            return good
        }
        """
    )
    assert codes(result) == ["E102"], rendered(result)
    assert outputs(result) == ["[N, 8, 8, 8]"]


def test_an_input_used_only_in_a_failed_line_is_not_also_unused():
    result = check(
        """
        model M {
            input x: [N, 4]
            input mask: [N, 4]
            input unused: [N, 4]
            input dead: [N, 4]
            y = mask -> Foo(3)
            z = dead -> relu()
            return x -> Linear(4, 2)
        }
        """
    )
    assert codes(result) == ["W005", "W005", "E101", "W003"], rendered(result)
    assert [d.message.split("'")[1] for d in result.diagnostics] == [
        "unused", "dead", "Foo", "z"
    ]  # fmt: skip


# ---------------------------------------------------------------- warnings


def test_warnings_do_not_make_a_spec_fail():
    result = check(
        """
        model M {
            input x: [N, 3, 8, 8]
            input unused: [N, 3, 8, 8]
            out = x -> Conv2d(3, 16, 3, padding=1) -> BatchNorm2d(16)
            side = out -> Conv2d(16, 4, kernel_size=1)
            out = out -> MaxPool2d(kernel_size=2, stride=3)
            return out
        }
        """
    )
    assert codes(result) == ["W005", "W002", "W003", "W001"]
    assert result.ok


# ---------------------------------------------------------------- determinism


def test_checking_twice_gives_identical_results():
    text = (
        DENSE
        + BASIC_BLOCK
        + """
        model M {
            input x: [N, 16, 8, 8]
            a = x -> DenseBlock(3, 16, 4) -> Conv2d(28, 8, 3, bias=True) -> BatchNorm2d(8)
            b = x -> layer: Sequential(*[BasicBlock(16, 16) for i in range(2)])
            c = x -> Conv2d(3, 4, 1) -> Linear(1, 2)
            d = cat([a, b], 1) + x
            return a, b
        }
        """
    )
    first, second = check(text), check(text)
    assert rendered(first) == rendered(second)
    assert len(first.diagnostics) >= 3
    assert list(first.models[0].graph.graph.nodes) == list(second.models[0].graph.graph.nodes)
    assert module_paths(first.models[0]) == module_paths(second.models[0])


def test_the_same_file_checked_twice_from_disk(tmp_path):
    path = write(
        tmp_path,
        "net.arch",
        INCEPTION + "model M { input x: [N, 3, 8, 8]  return x -> InceptionA(4) }",
    )
    first, second = archspec.check(str(path)), archspec.check(str(path))
    assert codes(first) == ["E201", "E201"]
    assert rendered(first) == rendered(second)


def test_sequential_children_take_any_name_torch_accepts():
    model = clean(
        """
        model Net {
            input x: [N, 3, 8, 8]
            return x -> stage: Sequential("block1-0": Conv2d(3, 4, 3), "0": ReLU())
        }
        """
    )
    assert module_paths(model.model())[-2:] == ["stage.block1-0", "stage.0"]
    for bad in ('""', '"a.b"'):
        result = check(
            f"""
            model Net {{
                input x: [N, 3, 8, 8]
                return x -> stage: Sequential({bad}: ReLU())
            }}
            """
        )
        assert codes(result) == ["E105"], bad
    # Outside a Sequential a name is a Python attribute: it must be an identifier.
    result = check(
        """
        model Net {
            input x: [N, 3, 8, 8]
            return x -> "block1-0": ReLU()
        }
        """
    )
    assert codes(result) == ["E105"]


def test_inf_and_nan_are_floats_a_spec_can_shadow():
    text = """model M {
    input x: [N, 4, 6]
    y = x -> pad((1, 1), value=-inf) -> max_pool1d(3, stride=1)
    inf = 2
    return y * inf
}
"""
    result = archspec.check_text(text)
    assert result.diagnostics == [], result.diagnostics
    source = archspec.compile_source(text)
    assert 'value=-float("inf"))' in source  # Python's spelling
    assert "inf = 2" in source and "return y * self.inf" in source  # the spec's own inf
