"""The compiler's proof: every spec's static shapes equal torch's, node by node, and the generated
modules work with the PyTorch toolchain (script, export, compile, pickle, state_dict)."""

from __future__ import annotations

import io
import pickle

import pytest

torch = pytest.importorskip("torch")

from conftest import model_specs  # noqa: E402
from torch_harness import (  # noqa: E402
    build_checked,
    concrete,
    observed_shapes,
    random_input,
    shape_disagreements,
    smallest_sizes,
)

import archspec  # noqa: E402

pytestmark = pytest.mark.torch


SPECS = model_specs()


def test_every_shipped_spec_with_a_model_is_covered():
    assert "specs/seeds/mnist_cnn.arch" in SPECS
    assert "specs/seeds/resnet18_imagenet.arch" in SPECS
    assert len(SPECS) >= 10


def _eval_model_and_inputs(path: str):
    """The compiled model in eval mode, its checked spec, and random inputs of its shapes."""
    model, checked, _ = build_checked(path)
    model.eval()
    graph = checked.graph
    sizes = smallest_sizes(checked)
    inputs = tuple(
        random_input(concrete(graph.node(i).declared_shape, 2, sizes), graph.node(i).declared_dtype)
        for i in graph.inputs
    )
    return model, checked, inputs


@pytest.mark.parametrize("path", SPECS)
def test_static_shapes_equal_torch_node_by_node(path):
    model, checked, filename = build_checked(path)
    real, output = observed_shapes(model, checked, filename)
    assert shape_disagreements(checked, real) == []
    assert sum(p.numel() for p in model.parameters()) == checked.parameter_count
    outputs = output if isinstance(output, tuple) else (output,)
    if isinstance(output, dict):  # `return {"out": x}`: torchvision's OrderedDict
        outputs = tuple(output.values())
    for tensor, node in zip(outputs, _eval_outputs(checked), strict=True):
        static = checked.inference.shapes[node]
        assert tuple(tensor.shape) == concrete(static, 2, smallest_sizes(checked))


def _eval_outputs(checked) -> list[str]:
    """The output nodes an eval-mode forward returns (a model may return more in training)."""
    graph = checked.graph
    eval_returns = [r for r in graph.returns if r.mode != "train"]
    return eval_returns[0].outputs if eval_returns else graph.outputs


# Untraced by coverage (`no_cover`): TorchScript, torch.export and inductor are Python compilers
# that run 5-10x slower under a line tracer, and measure torch, not archspec.
@pytest.mark.no_cover
@pytest.mark.parametrize("path", SPECS)
def test_torchscript_export_and_state_dict_round_trip(path):
    model, checked, inputs = _eval_model_and_inputs(path)
    with torch.no_grad():
        reference = model(*inputs)
        # A return that differs by mode (`if training { return x, aux }`) is Python only: the
        # generated code reads `aux` in one branch of `self.training`, which TorchScript's
        # typing refuses (torchvision's Inception returns a NamedTuple when scripted).
        if not any(r.mode for r in checked.graph.returns):
            scripted = torch.jit.script(model)
            torch.testing.assert_close(scripted(*inputs), reference)
    exported = torch.export.export(model, inputs)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(*inputs), reference)
    clone, _, _ = build_checked(path)
    clone.load_state_dict(model.state_dict(), strict=True)
    clone.eval()
    with torch.no_grad():
        torch.testing.assert_close(clone(*inputs), reference)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    with torch.no_grad():
        torch.testing.assert_close(restored(*inputs), reference)
    assert pickle.loads(pickle.dumps(model)).state_dict().keys() == model.state_dict().keys()


# torchvision's models and the full-width U-Net are compiled under `make test-heavy` only: cold
# inductor compiles take minutes on two cores (test_torchvision.py proves the torchvision specs
# exact; test_sizes_torch.py runs the U-Net at every size).
HEAVY_COMPILES = ("specs/torchvision/", "specs/segmentation/")
COMPILE_CASES = [
    pytest.param(path, marks=pytest.mark.heavy) if path.startswith(HEAVY_COMPILES) else path
    for path in SPECS
]


@pytest.mark.slow
@pytest.mark.no_cover
@pytest.mark.parametrize("path", COMPILE_CASES)
def test_torch_compile(path):
    model, checked, inputs = _eval_model_and_inputs(path)
    compiled = torch.compile(model, fullgraph=True)  # inductor, the default backend
    # Dynamo traces RNN/LSTM/GRU only when asked (experimental in torch 2.14).
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
        torch.testing.assert_close(compiled(*inputs), model(*inputs), rtol=1e-4, atol=1e-4)


def test_build_overrides_model_parameters():
    model = archspec.build("specs/seeds/resnet18_cifar10.arch", num_classes=100)
    assert model.fc.out_features == 100


def test_build_from_text_and_spec_errors():
    model = archspec.build(
        "model M {\n input x: [N, 3, 8, 8]\n return x -> conv: Conv2d(3, 4, 3)\n}\n"
    )
    assert tuple(model(torch.zeros(1, 3, 8, 8)).shape) == (1, 4, 6, 6)
    with pytest.raises(archspec.SpecError, match="E202"):
        archspec.build("examples/seed000_convnet.arch")
    with pytest.raises(TypeError, match="num_clases"):
        archspec.build("specs/seeds/resnet18_cifar10.arch", num_clases=100)
