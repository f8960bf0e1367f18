"""The parametrized classes in torch (issue 19): the same module as the unrolled form, weights and
outputs; one graph under torch.compile(fullgraph=True); torch.export with a dynamic batch; and
ONNX through `archspec compile --to onnx`, run by onnxruntime. A sample runs in `make test`, every
shipped spec under the `heavy` marker (`make test-heavy`, `make test-full`: minutes of export)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, model_specs  # noqa: E402
from torch_harness import concrete, random_input, smallest_sizes  # noqa: E402

import archspec  # noqa: E402
from archspec.api import _import_source  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.outputs.codegen import generate_module  # noqa: E402
from archspec.outputs.onnx import dynamic_batch, example_inputs  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.no_cover]

SAMPLE = (
    "specs/seeds/resnet18_cifar10.arch",  # an `if` on the arguments (the downsample shortcut)
    "specs/seeds/densenet_cifar10.arch",  # a loop of named layers (nn.ModuleDict)
    "specs/seeds/inception_net.arch",
    "specs/sequence/gpt.arch",  # a computed buffer, run-time sizes, a tie
)
SPECS = model_specs()


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch):
    """examples/se_net.arch's externs live in examples/mylayers.py."""
    monkeypatch.syspath_prepend(str(ROOT / "examples"))


def _cases(sample=SAMPLE):
    return [path if path in sample else pytest.param(path, marks=pytest.mark.heavy)
            for path in SPECS]  # fmt: skip


def _built(path: str, specialize: bool = False):
    result = archspec.load(path)
    generated = generate_module(result, specialize=specialize)
    module = _import_source(generated.source, result.path)
    checked = result.model()
    return getattr(module, generated.classes[checked.name])().eval(), checked


def _inputs(checked, batch: int = 2) -> list:
    torch.manual_seed(0)
    graph = checked.graph
    sizes = smallest_sizes(checked)
    shapes = [concrete(graph.node(i).declared_shape, batch, sizes) for i in graph.inputs]
    return [random_input(shape, graph.node(i).declared_dtype)
            for shape, i in zip(shapes, graph.inputs)]  # fmt: skip


def _flat(output) -> list:
    if isinstance(output, dict):
        return [t for value in output.values() for t in _flat(value)]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _flat(item)]
    return [output]


def test_the_sample_is_shipped():
    assert set(SAMPLE) <= set(SPECS)


@pytest.mark.parametrize("path", _cases())
def test_parametrized_classes_equal_the_unrolled_form(path):
    """Same state_dict keys (loaded strictly) and the same outputs as `--specialize`."""
    generic, checked = _built(path)
    unrolled, _ = _built(path, specialize=True)
    generic.load_state_dict(unrolled.state_dict(), strict=True)
    inputs = _inputs(checked)
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
        for mine, theirs in zip(_flat(generic(*inputs)), _flat(unrolled(*inputs)), strict=True):
            torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("path", _cases())
def test_torch_compile_fullgraph_has_no_graph_break(path):
    """Dynamo traces forward as one graph (fullgraph=True raises at a break); the eager backend
    keeps it fast on CPU."""
    model, checked = _built(path)
    inputs = _inputs(checked)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
        for mine, theirs in zip(_flat(compiled(*inputs)), _flat(model(*inputs)), strict=True):
            torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("path", _cases())
def test_torch_export_with_a_dynamic_batch(path):
    model, checked = _built(path)
    inputs = _inputs(checked)
    exported = torch.export.export(model, tuple(inputs), dynamic_shapes=dynamic_batch(checked))
    dynamic = any(shape for shape in dynamic_batch(checked))
    other = _inputs(checked, batch=3) if dynamic else inputs
    with torch.no_grad():
        for mine, theirs in zip(
            _flat(exported.module()(*other)), _flat(model(*other)), strict=True
        ):
            torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize(
    "path", _cases(("specs/seeds/inception_net.arch", "specs/seeds/resnet18_cifar10.arch"))
)
def test_onnx_runtime_outputs_equal_torch(path, tmp_path):
    """`archspec compile --to onnx`, run by onnxruntime at another batch than it was exported
    with: the batch axis is dynamic."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    target = tmp_path / "model.onnx"
    torch.manual_seed(0)  # the CLI builds its module as build() does: the same weights
    assert main(["compile", path, "--to", "onnx", "-o", str(target)]) == 0
    torch.manual_seed(0)
    model = archspec.build(path).eval()
    checked = archspec.load(path).model()
    inputs = example_inputs(checked, batch=3)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    feeds = {arg.name: tensor.numpy() for arg, tensor in zip(session.get_inputs(), inputs)}
    outputs = session.run(None, feeds)
    with torch.no_grad():
        expected = _flat(model(*inputs))
    assert len(outputs) == len(expected)
    for mine, theirs in zip(outputs, expected):
        torch.testing.assert_close(torch.from_numpy(mine), theirs, rtol=1e-4, atol=1e-4)
