"""torchvision's CNNs written as .arch specs (specs/torchvision/), checked exact to the weight.

For every model: the compiled spec loads torchvision's state_dict with strict=True (same names,
same shapes, same buffers), computes the same outputs in eval mode, has no diagnostics and the
same parameter count, and every node's static shape equals the shape torch really produces.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from conftest import ROOT  # noqa: E402
from torch_harness import (  # noqa: E402
    build_checked,
    observed_shapes,
    shape_disagreements,
    smallest_sizes,
)

import archspec  # noqa: E402

pytestmark = pytest.mark.torch

SPEC_DIR = "specs/torchvision"


@dataclass(frozen=True)
class Case:
    name: str  # torchvision.models.<name>, and specs/torchvision/<name>.arch
    kwargs: dict = field(default_factory=dict)  # torchvision constructor arguments
    batch: int = 2  # VGG's 224×224 forward is the heaviest: one image is enough
    warnings: tuple[str, ...] = ()  # diagnostic codes the spec is expected to produce
    family: str = ""  # torchvision.models.<family>: "segmentation" for FCN, DeepLab
    size: int = 224  # the input's H and W in the output comparison
    classes: int = 1000  # the output's channels (segmentation: [N, classes, H, W])
    train: bool = False  # the output in training mode differs (Inception's aux head): compare it

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
    pytest.param(Case("shufflenet_v2_x1_0"), id="shufflenet_v2_x1_0"),
    # (logits, aux_logits) in training, logits in eval; the aux head's 5×5 convolution meets
    # a 5×5 map, so its BatchNorm sees 1×1 maps: the spec suppresses W004 there, saying why.
    pytest.param(
        Case("inception_v3", {"aux_logits": True, "init_weights": False}, size=299, train=True),
        id="inception_v3",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        Case(
            "fcn_resnet50",
            {"weights_backbone": None, "aux_loss": False},
            family="segmentation",
            size=67,  # any size works; an odd one checks the upsampling back to it
            classes=21,
        ),
        id="fcn_resnet50",
        marks=pytest.mark.slow,
    ),
    # CNBlock's layer_scale is a `param` of the block (state_dict key features.1.0.layer_scale).
    pytest.param(Case("convnext_tiny"), id="convnext_tiny", marks=pytest.mark.slow),
    pytest.param(
        Case(
            "deeplabv3_resnet50",
            {"weights_backbone": None, "aux_loss": False},
            family="segmentation",
            size=67,
            classes=21,
        ),
        id="deeplabv3_resnet50",
        marks=pytest.mark.slow,
    ),  # noqa: E501
    pytest.param(Case("vit_b_16"), id="vit_b_16", marks=pytest.mark.slow),
    # Stochastic depth in training: the same random rows dropped with the same seed.
    pytest.param(Case("swin_t", train=True), id="swin_t", marks=pytest.mark.slow),
]


def _randomize_layer_scales(model) -> None:
    """ConvNeXt's layer_scale parameters start at 1e-6, which makes every block almost the
    identity; give them ordinary values, so that a misplaced scale would show in the outputs."""
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("layer_scale"):
                parameter.copy_(0.5 + torch.rand(parameter.shape, generator=generator))


def _randomize_zero_heads(model) -> None:
    """ViT's classifier `heads.head` starts with zero weight and bias (torchvision's init), so
    every output is 0; give it ordinary values, so that the output comparison means something."""
    head = getattr(getattr(model, "heads", None), "head", None)
    if isinstance(head, torch.nn.Linear):
        generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            head.weight.copy_(0.02 * torch.randn(head.weight.shape, generator=generator))
            head.bias.copy_(0.02 * torch.randn(head.bias.shape, generator=generator))


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
    family = getattr(torchvision.models, case.family) if case.family else torchvision.models
    reference = getattr(family, case.name)(weights=None, **case.kwargs).eval()
    _randomize_batch_norms(reference)
    _randomize_layer_scales(reference)
    _randomize_zero_heads(reference)
    model = archspec.build(case.spec).eval()
    return Built(case, reference, model)


def test_every_model_has_a_spec():
    names = {p.values[0].name for p in CASES}
    shipped = {p.stem for p in (ROOT / SPEC_DIR).glob("*.arch")}
    assert names <= shipped
    # the other files hold shared blocks only
    assert shipped - names == {"resnet_blocks", "segmentation_blocks"}


@pytest.mark.parametrize("blocks", ["resnet_blocks", "segmentation_blocks"])
def test_block_files_check_clean(blocks):
    result = archspec.check(f"{SPEC_DIR}/{blocks}.arch")
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
    case = built.case
    x = torch.randn(case.batch, 3, case.size, case.size)
    with torch.no_grad():
        expected = built.reference(x)
        actual = built.model(x)
    assert _first_output(actual).shape == _expected_shape(case, case.size)
    _assert_same_outputs(actual, expected)


def test_training_outputs_equal_torchvision(built):
    """Where the training output differs (Inception's (logits, aux_logits), Swin's stochastic
    depth), it is compared too: on copies, since a training forward updates the BatchNorms'
    running statistics."""
    if not built.case.train:
        pytest.skip("the output in training mode is the eval one's")
    reference, model = copy.deepcopy(built.reference), copy.deepcopy(built.model)
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.train(), model.train()
    x = torch.randn(built.case.batch, 3, built.case.size, built.case.size)
    with torch.no_grad():
        torch.manual_seed(1)  # the same dropout masks in both
        expected = reference(x)
        torch.manual_seed(1)
        actual = model(x)
    if isinstance(expected, tuple):  # Inception: (logits, aux_logits)
        assert isinstance(actual, tuple) and len(actual) == 2
    _assert_same_outputs(actual, expected)


def _named_outputs(output) -> dict:
    """A model's output as {name: tensor}: a tensor, a tuple (torchvision's InceptionOutputs
    compares by position) or a dict (the segmentation models' OrderedDict, by key)."""
    if isinstance(output, torch.Tensor):
        return {"": output}
    if isinstance(output, dict):
        return dict(output)
    return {str(i): item for i, item in enumerate(output)}


def _first_output(output):
    return next(iter(_named_outputs(output).values()))


def _expected_shape(case: Case, size: int) -> tuple[int, ...]:
    if case.family == "segmentation":
        return (case.batch, case.classes, size, size)
    return (case.batch, case.classes)


def _assert_same_outputs(actual, expected) -> None:
    assert type(actual) is type(expected) or isinstance(expected, tuple)
    actual, expected = _named_outputs(actual), _named_outputs(expected)
    assert list(actual) == list(expected)
    for name, tensor in expected.items():
        assert actual[name].shape == tensor.shape, name
        assert tensor.std() > 0  # the comparison below means something
        assert torch.allclose(actual[name], tensor, atol=1e-5, rtol=1e-4), (
            f"{name}: max |difference| {(actual[name] - tensor).abs().max().item():.3g}"
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
    case = built.case
    real, output = observed_shapes(model, checked, filename, batch=case.batch)
    assert shape_disagreements(checked, real, batch=case.batch) == []
    size = smallest_sizes(checked).get("H", case.size)  # a symbolic input runs at its smallest
    assert tuple(_first_output(output).shape) == _expected_shape(case, size)
    if case.train:  # the nodes that run in training only (Inception's aux head) too
        real, output = observed_shapes(model, checked, filename, batch=case.batch, training=True)
        assert shape_disagreements(checked, real, batch=case.batch) == []
        ran = {n.mode for n in checked.graph.nodes() if n.id in real}
        assert ran == {n.mode for n in checked.graph.nodes() if n.kind == "op"} - {"eval"}


@pytest.mark.slow
@pytest.mark.parametrize("height, width", [(96, 128), (61, 45)])
def test_swin_t_at_other_sizes_equals_torchvision(height, width):
    """Swin pads maps to multiples of its window and does not shift a window that covers the
    map, per dim: at 96×128 the third stage (6×8, padded to 7×14) shifts along W only, the last
    (3×4) not at all; at 61×45 PatchMerging pads odd sizes too."""
    torch.manual_seed(0)
    reference = torchvision.models.swin_t(weights=None).eval()
    model = archspec.build(f"{SPEC_DIR}/swin_t.arch", height=height, width=width).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, height, width)
    with torch.no_grad():
        _assert_same_outputs(model(x), reference(x))
