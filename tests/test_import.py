"""`archspec import`: PyTorch models -> specs that check clean, compile, load the original's
state_dict strictly and compute the same outputs (archspec/tools/importer/roundtrip.py).

The default suite round-trips a fixed sample of torchvision's classification builders across
its families at a small input size; `make test-heavy` runs every builder that
`torchvision.models.list_models(module=torchvision.models)` lists, at its usual size.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from conftest import ROOT  # noqa: E402

import archspec  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.tools.fmt import format_text  # noqa: E402
from archspec.tools.importer import ImportFailure, from_module, import_factory  # noqa: E402
from archspec.tools.importer.mapping import layer_ops  # noqa: E402
from archspec.tools.importer.roundtrip import round_trip  # noqa: E402

pytestmark = pytest.mark.torch

# (builder, input size): one or two per family, small inputs where the model takes them.
SAMPLE = [
    ("resnet18", 64),
    ("resnext50_32x4d", 64),
    ("mobilenet_v2", 64),
    ("mobilenet_v3_small", 64),
    ("efficientnet_b0", 64),
    ("mnasnet0_5", 64),
    ("regnet_x_400mf", 64),
    ("regnet_y_400mf", 64),
    ("shufflenet_v2_x0_5", 64),
    ("squeezenet1_1", 64),
    ("densenet121", 64),  # dense blocks pass lists of tensors: externs
    ("googlenet", 64),  # auxiliary heads applied in training only
    ("convnext_tiny", 64),
    ("swin_t", 64),  # shifted-window attention: externs
    ("alexnet", 64),
    ("vgg11_bn", 64),
]
# Builders whose usual size is not 224, or that need it.
SIZES = {"inception_v3": 299}
# Builders that cannot round-trip, and why (the import report lists the same).
KNOWN_FAILURES: dict[str, str] = {}


def _trip(name: str, size: int):
    return round_trip(name, getattr(torchvision.models, name), {"x": ("N", 3, size, size)})


@pytest.mark.parametrize(("name", "size"), SAMPLE, ids=[name for name, _ in SAMPLE])
def test_torchvision_sample_round_trips(name, size):
    trip = _trip(name, size)
    assert trip.exact, f"{name}: {trip.result}: {trip.reason}"
    assert trip.difference is not None and trip.difference <= 1e-5


def _all_builders() -> list:
    params = []
    for name in torchvision.models.list_models(module=torchvision.models):
        marks = [pytest.mark.heavy]
        if name in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[name], strict=True))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _all_builders())
def test_every_torchvision_builder_round_trips(name):
    trip = _trip(name, SIZES.get(name, 224))
    assert trip.exact, f"{name}: {trip.result}: {trip.reason}"


def test_resnet50_reads_like_the_hand_written_spec():
    imported = import_factory("torchvision.models:resnet50")
    text = imported.text
    lines = len(text.splitlines())
    hand_written = sum(
        len((ROOT / "specs/torchvision" / f).read_text().splitlines())
        for f in ("resnet50.arch", "resnet_blocks.arch")
    )
    assert lines <= 1.5 * hand_written, f"{lines} lines against {hand_written} hand-written"
    assert text.count("block Bottleneck") == 2  # with and without the downsample shortcut
    assert "*[Bottleneck" in text and "for i in range(5)]" in text  # layer3's repeated blocks
    assert "conv2: Conv2d(" in text and "downsample: Sequential(" in text  # torch's names
    assert "4 * " in text  # the expansion, found as a multiple of the width
    assert format_text(text) == text
    assert not archspec.check_text(text).diagnostics


# --- small models of our own ---------------------------------------------------------------------


class Gate(torch.nn.Module):
    """Squeeze-and-excitation-like: functions, methods, sizes read off the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = torch.nn.Linear(channels, channels)
        self.scale = torch.nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x):
        n, c = x.shape[0], x.size(1)
        weights = self.fc(x.mean((2, 3))).sigmoid().view(n, c, 1, 1)
        return x * weights * self.scale


class Gated(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.gates = torch.nn.ModuleList([Gate(8), Gate(8)])
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        for gate in self.gates:
            x = gate(x)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Cumulative(torch.nn.Module):
    """torch.cumsum has no op in the language."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.cumsum(x, self.dim)


class WithCumulative(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.cumulative = Cumulative(dim=2)

    def forward(self, x):
        return self.cumulative(self.conv(x)) + 1


class NormAct(torch.nn.BatchNorm2d):
    """timm's BatchNormAct2d in small: BatchNorm2d's function on its own weights, then an
    activation child."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.act = torch.nn.SiLU()

    def forward(self, x):
        x = torch.nn.functional.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )
        return self.act(x)


class WithNormAct(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.bn = NormAct(8)

    def forward(self, x):
        return self.bn(self.conv(x))


class WithAuxiliary(torch.nn.Module):
    """An auxiliary head that only training mode calls, as GoogLeNet's."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.aux = torch.nn.Conv2d(4, 2, 1)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x):
        x = self.conv(x)
        if self.training:
            self.aux(x)  # read off a value the eval forward has too
        return self.head(x.mean((2, 3)))


def _exact(module, text, example):
    assert not [d for d in archspec.check_text(text).diagnostics if d.severity == "error"]
    rebuilt = archspec.build(text)
    rebuilt.load_state_dict(module.state_dict(), strict=True)
    module.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.allclose(module(example), rebuilt(example), atol=1e-6)


def test_from_module_writes_one_block_for_repeated_instances():
    torch.manual_seed(0)
    module, example = Gated(), torch.randn(2, 3, 8, 8)
    text = from_module(module, (example,))
    assert text.count("block Gate(") == 1
    assert "gates: ModuleList(*[Gate() for i in range(2)])" in text
    assert "input x: [N, C, H, W]" in text and "view(N, C, 1, 1)" in text
    assert "param scale: [8, 1, 1]" in text
    _exact(module, text, example)


def test_a_layer_subclass_with_stateless_steps_is_written_as_the_layer():
    torch.manual_seed(0)
    module, example = WithNormAct(), torch.randn(2, 3, 6, 6)
    module.bn.running_mean.uniform_(), module.bn.weight.data.uniform_()
    text = from_module(module, (example,))
    assert "-> bn: BatchNorm2d(8) -> SiLU()" in text and "block" not in text
    _exact(module, text, example)


def test_a_child_called_in_training_only_is_applied_under_if_training():
    torch.manual_seed(0)
    module, example = WithAuxiliary(), torch.randn(2, 3, 8, 8)
    text = from_module(module, (example,))
    assert "if training {" in text and "conv -> aux" in text
    _exact(module, text, example)


def test_unsupported_nodes_are_listed_with_their_source_line():
    with pytest.raises(ImportFailure) as caught:
        from_module(WithCumulative(), torch.randn(2, 3, 4, 4))
    (problem,) = caught.value.problems
    assert "torch.cumsum" in problem.what and problem.module == "cumulative"
    assert problem.location.endswith("test_import.py:" + str(_line_of("torch.cumsum(x")))


def _line_of(snippet: str) -> int:
    lines = (ROOT / "tests/test_import.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if snippet in line and "def" not in line)


def test_extern_fallback_gives_a_checkable_spec_that_round_trips():
    torch.manual_seed(0)
    example = torch.randn(2, 3, 4, 4)
    imported = import_factory(
        "test_import:WithCumulative", inputs={"x": ("N", 3, 4, 4)}, extern_unsupported=True
    )
    text = imported.text
    assert 'extern Cumulative(dim) = "test_import:Cumulative"' in text
    assert "(x: [N, 4, 4, 4]) -> [N, 4, 4, 4]" in text  # the contract seen while tracing
    assert "cumulative: Cumulative(dim=2)" in text
    assert [path for path, _ in imported.externs] == ["cumulative"]
    _exact(WithCumulative(), text, example)


def test_every_registry_layer_with_a_torch_class_is_importable():
    """The mapping is read off the registry: each layer op whose torch class imports maps back
    to itself, so a new op needs no change in the importer."""
    from archspec.ops import REGISTRY

    mapped = {spec.name for spec in layer_ops().values()}
    layers = {n for n, s in REGISTRY.items() if s.kind == "layer" and s.extern is None}
    assert layers - mapped == set()


# --- the command line ----------------------------------------------------------------------------


def test_cli_import_writes_a_clean_spec(tmp_path, capsys):
    out = tmp_path / "resnet18.arch"
    code = main(["import", "torchvision.models:resnet18", "--input", "x=[N,3,64,64]", "-o",
                 str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "input x: [N, 3, 64, 64]" in out.read_text()
    assert main(["check", str(out)]) == 0


def test_cli_import_lists_unsupported_parts_and_exits_1(capsys):
    code = main(["import", "test_import:WithCumulative", "--input", "x=[N,3,4,4]"])
    err = capsys.readouterr().err
    assert code == 1
    assert "unsupported:" in err and "torch.cumsum" in err and "--extern-unsupported" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "no_such_package:Net"], "No module named"),
        (["import", "torchvision.models"], "MODULE:FACTORY"),
        (["import", "torchvision.models:resnet18", "--input", "x=[N,3,a]"], "positive integer"),
        (["import", "torchvision.models:resnet18", "--kwargs", "[1]"], "JSON object"),
    ],
)
def test_cli_import_refuses_bad_input_with_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_diff_takes_an_imported_model(capsys):
    spec = str(ROOT / "specs/torchvision/resnet18.arch")
    # the same layers and counts; only the model's name differs (exit 1, as `diff` does)
    assert main(["diff", spec, "torchvision.models:resnet18"]) == 1
    out = capsys.readouterr().out
    assert "ResNet18 → ResNet (renamed): 69 unchanged" in out
    assert "params     11,689,512  unchanged" in out
    assert main(["diff", "torchvision.models:resnet34", spec]) == 1  # either side
    assert "56 removed, 69 unchanged" in capsys.readouterr().out


def test_the_timm_list_is_fixed_and_wide(tmp_path):
    """The committed sample: at least 200 models over many of timm's families."""
    from archspec.tools.importer.report import read_names

    names = read_names(str(ROOT / "tests/data/timm_models.txt"))
    assert len(names) >= 200 and len({name for _, name in names}) == len(names)
    assert len({family for family, _ in names}) >= 60


def test_the_report_names_each_failure_and_the_share_that_round_trips():
    pytest.importorskip("timm")
    from archspec.tools.importer.report import render
    from archspec.tools.importer.roundtrip import RoundTrip

    rows = [
        ("resnet", RoundTrip("resnet18", "exact", lines=51)),
        ("vit", RoundTrip("vit_tiny", "exact", lines=60, externs=["blocks.0.attn", "blocks.1.attn"],
                          extern_reasons=["a.py:3: function f has no op (in blocks.0.attn)",
                                          "a.py:3: function f has no op (in blocks.1.attn)"])),
        ("coat", RoundTrip("coat_tiny", "load fails", "RuntimeError: Missing key(s) 'a'", 80)),
        ("mvit", RoundTrip("mobilevit_s", "differs", "outputs differ by 0.195", 101)),
        ("mvit", RoundTrip("mobilevit_xs", "differs", "outputs differ by 0.115", 101)),
    ]  # fmt: skip
    text = render(rows, 12.0)
    assert "- models: 5, exact: 2 (40.0 %), of which 1 without any extern" in text
    assert "| coat | coat_tiny | load fails | 0 | 80 | RuntimeError: Missing key(s) 'a' |" in text
    # reasons are grouped with what varies from model to model masked
    assert "- 2 × differs: outputs differ by N\n" in text
    assert "- 1 × load fails: RuntimeError: Missing key(s) …\n" in text
    # the externs' reasons, each counted once per model
    assert "- 1 × function f has no op\n" in text
