"""torchvision's StochasticDepth, FrozenBatchNorm2d and ConvNeXt's LayerNorm2d as registry ops.

Without torch: shapes, refusals, parameter and MAC counts, hover and summary text, the imports of
generated code. With torch (marked): the generated modules against torchvision's own, with
torchvision's state_dict loaded strictly and the outputs compared; StochasticDepth and the whole
EfficientNet-B0 spec also in train mode, where equal outputs under one seed mean that the random
numbers are drawn in the same order.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.ops import REGISTRY
from archspec.ops.apply import bind, evaluate
from archspec.ops.base import OpFailure
from archspec.tools.lsp import hover_text


def spec(shape: str, pipeline: str) -> str:
    return f"model M {{\n    input x: {shape}\n    y = x -> {pipeline}\n    return y\n}}\n"


def only_error(source: str):
    (finding,) = archspec.check_text(source).diagnostics
    return finding


def run_op(name: str, positional: list, keywords: dict, shape: tuple):
    op = REGISTRY[name]
    return evaluate(op, bind(op, positional, keywords), [shape])


# ---------------------------------------------------------------- shapes and refusals


def test_each_keeps_the_shape_and_infers_the_channels():
    checked = archspec.check_text(
        spec(
            "[N, 96, 14, 10]",
            'LayerNorm2d(?, eps=1e-6) -> FrozenBatchNorm2d(?) -> StochasticDepth(0.1, "row")',
        )
    ).model()
    shapes = [checked.inference.shapes[n.id] for n in checked.graph.nodes() if n.kind == "op"]
    assert [tuple(str(d) for d in s) for s in shapes] == [("N", "96", "14", "10")] * 3
    args = checked.inference.module_args
    assert (args["layernorm2d"]["normalized_shape"], args["frozenbatchnorm2d"]["num_features"]) == (
        96,
        96,
    )


@pytest.mark.parametrize("layer", ["LayerNorm2d", "FrozenBatchNorm2d"])
def test_a_wrong_channel_count_names_the_right_one(layer):
    finding = only_error(spec("[N, 96, 56, 56]", f"{layer}(64)"))
    assert finding.code == "E201"
    assert "expects" in finding.message and "64" in finding.message and "96" in finding.message
    assert finding.help.startswith("set ") and "=96" in finding.help


@pytest.mark.parametrize("layer", ["LayerNorm2d(8)", "FrozenBatchNorm2d(8)"])
def test_channels_first_layers_take_four_dims_only(layer):
    finding = only_error(spec("[N, 8, 5]", layer))
    assert finding.code == "E206"
    assert "4-d input, got 3-d [N, 8, 5]" in finding.message


@pytest.mark.parametrize(
    ("call", "argument", "words"),
    [
        ('StochasticDepth(1.5, "row")', "p", "p must be between 0 and 1, got 1.5"),
        ('StochasticDepth(0.2, "rows")', "mode", "mode must be one of 'batch', 'row', got 'rows'"),
        ("StochasticDepth(0.2)", None, "mode"),  # torchvision has no defaults
        ("LayerNorm2d(0)", "normalized_shape", "normalized_shape must be positive, got 0"),
        ("FrozenBatchNorm2d(8, eps='small')", "eps", "eps must be a number, got 'small'"),
    ],
)
def test_bad_arguments_are_refused(call, argument, words):
    finding = only_error(spec("[N, 8, 5, 5]", call))
    assert finding.code == ("E105" if argument else "E104")
    assert words in finding.message


def test_row_mode_needs_a_batch_dim():
    with pytest.raises(OpFailure) as caught:
        run_op("StochasticDepth", [0.2, "row"], {}, ())
    assert (caught.value.code, caught.value.arg) == ("E206", "mode")
    assert "mode='batch'" in caught.value.help
    assert run_op("StochasticDepth", [0.2, "batch"], {}, ()).shape == ()
    assert run_op("StochasticDepth", [0.2, "row"], {}, (3,)).shape == (3,)


def test_layer_norm_on_channels_first_points_to_layer_norm_2d():
    finding = only_error(spec("[N, 96, 56, 56]", "LayerNorm(96)"))
    assert finding.code == "E202" and finding.fix is None
    assert "use LayerNorm2d(96) to normalize over the channels" in finding.help
    assert "normalized_shape=56 only if the width is meant" in finding.help
    # and the layer it names takes that input as written
    assert archspec.check_text(spec("[N, 96, 56, 56]", "LayerNorm2d(96)")).diagnostics == []


def test_layer_norm_on_a_sequence_keeps_its_hint():
    finding = only_error(spec("[N, 5, 7]", "LayerNorm(5)"))
    assert "LayerNorm2d" not in finding.help and "permute" in finding.help


# ---------------------------------------------------------------- counts, hover, summary


def test_parameter_and_mac_counts():
    # weight and bias per channel; FrozenBatchNorm2d's four tensors are buffers: 0 parameters
    cases = {
        "LayerNorm2d(6)": 12,
        "LayerNorm2d(6, bias=False)": 6,
        "LayerNorm2d(6, elementwise_affine=False)": 0,
        "FrozenBatchNorm2d(6)": 0,
        'StochasticDepth(0.5, "batch")': 0,
    }
    values = 6 * 4 * 5  # one multiply-add per output value for a normalisation, none for the rest
    for call, params in cases.items():
        checked = archspec.check_text(spec("[N, 6, 4, 5]", call)).model()
        macs = 0 if call.startswith("Stochastic") else values
        assert (checked.parameter_count, checked.mac_count) == (params, macs), call
    batch_norm = archspec.check_text(spec("[N, 6, 4, 5]", "BatchNorm2d(6)")).model()
    assert batch_norm.mac_count == values  # FrozenBatchNorm2d counts as BatchNorm2d does


def test_hover_and_summary_name_the_layers():
    source = spec("[N, 8, 5, 7]", 'f: FrozenBatchNorm2d(8) -> d: StochasticDepth(0.1, "batch")')
    result = archspec.check_text(source)
    hover = hover_text(result, result.path, source.index("FrozenBatchNorm2d") + 1)
    assert hover.startswith("**FrozenBatchNorm2d**")
    assert "- parameters: 0" in hover and "- MACs: 280" in hover
    rows = [(r.name, r.type, r.params, r.macs) for r in result.model().summary().rows]
    assert rows == [("f", "FrozenBatchNorm2d", 0, 280), ("d", "StochasticDepth", 0, 0)]
    assert "frozen" in REGISTRY["FrozenBatchNorm2d"].summary
    assert "ConvNeXt" in REGISTRY["LayerNorm2d"].summary


def test_a_broadcast_gate_does_not_stretch_the_receptive_field():
    """Squeeze-excitation multiplies [N, C, H, W] by a [N, C, 1, 1] gate that saw the whole map:
    the product's positions are still spaced as the map's, so a 3×3 convolution after it adds 2
    to the receptive field (10 → 12), not 2 × the pool's stride of 8."""
    source = """model M {
    input x: [N, 16, 8, 8]
    h = x -> Conv2d(16, 16, 3, padding=1)
    gate = h -> AdaptiveAvgPool2d(1) -> Conv2d(16, 16, 1) -> Sigmoid()
    y = gate * h -> Conv2d(16, 16, 3, padding=1)
    return y
}
"""
    rows = archspec.check_text(source).model().summary().rows
    assert [r.receptive_field for r in rows] == ["3", "10", "10", "10", "10", "12"]


# ---------------------------------------------------------------- generated code


def test_torchvision_is_imported_only_when_used():
    with_it = archspec.compile_source(spec("[N, 8, 5, 7]", "FrozenBatchNorm2d(8)"))
    assert "\nimport torchvision\n" in with_it
    assert "self.frozenbatchnorm2d = torchvision.ops.misc.FrozenBatchNorm2d(8)" in with_it
    without = archspec.compile_source(spec("[N, 8, 5, 7]", "BatchNorm2d(8)"))
    assert "torchvision" not in without


def test_generated_layers_are_written_with_their_arguments():
    source = archspec.compile_source(
        spec("[N, 8, 5, 7]", 'LayerNorm2d(8, eps=1e-6) -> StochasticDepth(0.25, "row")')
    )
    assert "torchvision.models.convnext.LayerNorm2d(8, eps=1e-06)" in source
    assert 'torchvision.ops.StochasticDepth(0.25, "row")' in source


def _ruff() -> str | None:
    candidate = Path(sys.executable).parent / "ruff"
    return str(candidate) if candidate.exists() else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed")
def test_generated_efficientnet_passes_ruff(tmp_path):
    target = tmp_path / "efficientnet_b0.py"
    target.write_text(archspec.compile_source(Path("specs/torchvision/efficientnet_b0.arch")))
    config = ["--config", "pyproject.toml"]
    for command in (["check"], ["format", "--check", "--diff"]):
        done = subprocess.run([_ruff(), *command, *config, str(target)], capture_output=True)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


# ---------------------------------------------------------------- against torchvision


@pytest.fixture
def tv():
    pytest.importorskip("torch")
    return pytest.importorskip("torchvision")


def _randomized(module, seed: int = 1):
    """Weights and buffers drawn at random, so that an eps, a permute or a swapped buffer shows."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
    return module


@pytest.mark.torch
def test_frozen_batch_norm_matches_torchvision(tv):
    import torch

    reference = _randomized(tv.ops.misc.FrozenBatchNorm2d(6, eps=1e-3))
    model = archspec.build(spec("[N, 6, 4, 5]", "norm: FrozenBatchNorm2d(6, eps=1e-3)"))
    state = {f"norm.{key}": value for key, value in reference.state_dict().items()}
    model.load_state_dict(state, strict=True)
    assert list(model.state_dict()) == list(state)
    assert [key for key, _ in model.named_parameters()] == []
    assert sum(b.numel() for b in model.buffers()) == 4 * 6
    x = torch.randn(2, 6, 4, 5)
    assert torch.equal(model.eval()(x), reference.eval()(x))


@pytest.mark.torch
def test_layer_norm_2d_matches_torchvision_and_normalizes_channels(tv):
    import torch
    import torch.nn.functional as F

    reference = _randomized(tv.models.convnext.LayerNorm2d(6, eps=1e-6))
    model = archspec.build(spec("[N, 6, 4, 5]", "norm: LayerNorm2d(6, eps=1e-6)"))
    state = {f"norm.{key}": value for key, value in reference.state_dict().items()}
    model.load_state_dict(state, strict=True)
    assert list(model.state_dict()) == ["norm.weight", "norm.bias"]
    x = torch.randn(2, 6, 4, 5)
    out = model.eval()(x)
    assert torch.equal(out, reference.eval()(x))
    # independently: each position's 6 channel values normalized, then scaled per channel
    by_hand = F.layer_norm(x.permute(0, 2, 3, 1), (6,), eps=1e-6).permute(0, 3, 1, 2)
    by_hand = by_hand * reference.weight.view(1, 6, 1, 1) + reference.bias.view(1, 6, 1, 1)
    assert torch.allclose(out, by_hand, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_draws_as_torchvision_does(tv, mode):
    import torch

    reference = tv.ops.StochasticDepth(0.5, mode)
    model = archspec.build(spec("[N, 3, 4, 4]", f'StochasticDepth(0.5, "{mode}")'))
    x = torch.randn(8, 3, 4, 4)
    outputs = []
    for module in (reference, model):
        torch.manual_seed(7)
        outputs.append([module.train()(x) for _ in range(4)])
    for expected, actual in zip(*outputs):
        assert torch.equal(actual, expected)
    # something was dropped, and something kept (scaled by 1 / (1 - p))
    dropped = torch.stack(outputs[1]) == 0
    assert dropped.any() and not dropped.all()
    assert torch.equal(model.eval()(x), x)


@pytest.mark.torch
def test_efficientnet_b0_trains_as_torchvision_does(tv):
    """In train mode (batch statistics, dropout, stochastic depth) under one seed: the same outputs
    mean the same layers draw the same random numbers in the same order."""
    import torch

    torch.manual_seed(0)
    reference = tv.models.efficientnet_b0(weights=None)
    model = archspec.build("specs/torchvision/efficientnet_b0.arch")
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(4, 3, 64, 64)  # any size works: the pool before the classifier is adaptive
    outputs = []
    for module in (reference, model):
        torch.manual_seed(3)
        with torch.no_grad():
            outputs.append(module.train()(x))
    assert torch.allclose(outputs[1], outputs[0], atol=1e-5, rtol=1e-4)
    torch.manual_seed(4)
    with torch.no_grad():
        other_draw = model(x)
    assert not torch.allclose(other_draw, outputs[1])  # the comparison above saw random numbers
