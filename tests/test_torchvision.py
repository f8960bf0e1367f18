"""torchvision's CNNs written as .arch specs (specs/torchvision/), checked exact to the weight.

For every model: the compiled spec loads torchvision's state_dict with strict=True (same names,
same shapes, same buffers), computes the same outputs in eval mode, has no diagnostics and the
same parameter count, and every node's static shape equals the shape torch really produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from conftest import ROOT  # noqa: E402
from torch_harness import build_checked, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402

pytestmark = pytest.mark.torch

SPEC_DIR = "specs/torchvision"


@dataclass(frozen=True)
class Case:
    name: str  # torchvision.models.<name>, and specs/torchvision/<name>.arch
    kwargs: dict = field(default_factory=dict)  # torchvision constructor arguments
    batch: int = 2  # VGG's 224×224 forward is the heaviest: one image is enough
    warnings: tuple[str, ...] = ()  # diagnostic codes the spec is expected to produce

    @property
    def spec(self) -> str:
        return f"{SPEC_DIR}/{self.name}.arch"


CASES = [
    pytest.param(Case("alexnet"), id="alexnet"),
    pytest.param(Case("vgg16", batch=1), id="vgg16", marks=pytest.mark.slow),
    # torchvision's make_layers keeps the convolution bias in front of every BatchNorm2d, and the
    # spec must too (the state_dict has features.0.bias, ...): the spec suppresses W002 on that
    # line with a comment saying why, so the check is clean.
    pytest.param(Case("vgg16_bn", batch=1), id="vgg16_bn", marks=pytest.mark.slow),
    pytest.param(Case("resnet18"), id="resnet18"),
    pytest.param(Case("resnet50"), id="resnet50", marks=pytest.mark.slow),
    pytest.param(
        Case("googlenet", kwargs={"aux_logits": False, "init_weights": False}),
        id="googlenet",
        marks=pytest.mark.slow,
    ),
    pytest.param(Case("densenet121"), id="densenet121", marks=pytest.mark.slow),
    pytest.param(Case("mobilenet_v2"), id="mobilenet_v2"),
    pytest.param(Case("squeezenet1_0"), id="squeezenet1_0"),
    pytest.param(Case("mobilenet_v3_large"), id="mobilenet_v3_large"),
    # Its blocks are named `block1-0`, ...: Sequential children take any name torch does.
    pytest.param(Case("regnet_x_400mf"), id="regnet_x_400mf", marks=pytest.mark.slow),
    pytest.param(Case("efficientnet_b0"), id="efficientnet_b0"),
]


def _randomize_batch_norms(model) -> None:
    """Freshly built BatchNorms hold mean 0, variance 1, weight 1, bias 0, so in eval mode they
    are almost the identity and a wrong eps or a misplaced norm would go unnoticed. Give them
    ordinary non-trivial statistics (kept near 1 so that deep networks stay in range)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))


@dataclass
class Built:
    case: Case
    reference: torch.nn.Module  # torchvision's model, eval mode
    model: torch.nn.Module  # archspec.build(spec), eval mode, weights not yet loaded


@pytest.fixture(scope="module", params=CASES)
def built(request):
    """Both models for one case. Module scope: pytest runs all tests of one case together, and
    drops the (up to 0.5 GB) models before building the next case's."""
    case = request.param
    torch.manual_seed(0)
    reference = getattr(torchvision.models, case.name)(weights=None, **case.kwargs).eval()
    _randomize_batch_norms(reference)
    model = archspec.build(case.spec).eval()
    return Built(case, reference, model)


def test_every_model_has_a_spec():
    names = {p.values[0].name for p in CASES}
    shipped = {p.stem for p in (ROOT / SPEC_DIR).glob("*.arch")}
    assert names <= shipped
    # the other files hold shared blocks only
    assert shipped - names == {"resnet_blocks"}


def test_block_files_check_clean():
    result = archspec.check(f"{SPEC_DIR}/resnet_blocks.arch")
    assert result.diagnostics == []


def test_state_dict_loads_strictly(built):
    reference_state = built.reference.state_dict()
    built.model.load_state_dict(reference_state, strict=True)
    # strict=True already compares the key sets; the shapes must agree too (load_state_dict
    # raises on a mismatch), and the spec's module order is torchvision's registration order.
    state = built.model.state_dict()
    assert list(state) == list(reference_state)
    for key, tensor in reference_state.items():
        assert state[key].shape == tensor.shape, key
        assert torch.equal(state[key], tensor), key


def test_outputs_equal_torchvision(built):
    built.model.load_state_dict(built.reference.state_dict(), strict=True)
    torch.manual_seed(0)
    x = torch.randn(built.case.batch, 3, 224, 224)
    with torch.no_grad():
        expected = built.reference(x)
        actual = built.model(x)
    assert actual.shape == expected.shape == (built.case.batch, 1000)
    assert expected.std() > 0  # the comparison below means something
    assert torch.allclose(actual, expected, atol=1e-5, rtol=1e-4), (
        f"max |difference| {(actual - expected).abs().max().item():.3g}"
    )


def test_check_is_clean_and_counts_parameters(built):
    result = archspec.check(built.case.spec)
    assert result.ok
    assert sorted(d.code for d in result.diagnostics) == sorted(built.case.warnings)
    expected = sum(p.numel() for p in built.reference.parameters())
    assert result.model().parameter_count == expected


def test_static_shapes_equal_torch(built):
    # A separate instance from the harness (it records shapes through hooks and the generated
    # source's file name), so the shared fixture's model stays untouched.
    model, checked, filename = build_checked(built.case.spec)
    real, output = observed_shapes(model, checked, filename, batch=built.case.batch)
    assert shape_disagreements(checked, real, batch=built.case.batch) == []
    assert tuple(output.shape) == (built.case.batch, 1000)
