"""Accepted input sizes against torch, by brute force.

For models whose input has symbolic sizes (`[N, 3, H, W]`), archspec claims an exact set of
accepted sizes (`model.sizes`) and symbolic shapes for every node (`H/8`, `⌈H/2⌉`). Here the
compiled module is run at every size of a sweep: the report must accept a size exactly when the
forward pass runs, and where it runs, every node's symbolic shape evaluated at that size must be
the shape torch produced (recorded per node as in tests/torch_harness.py).

Subjects, thinned (fewer channels, the same structure and accepted sizes) to keep thousands of
forward passes fast: the shipped U-Net, torchvision's ResNet-18 spec with a symbolic input (the
full width is spot-checked on the `meta` device), seed 002's MNIST CNN (flatten -> Linear pins
the size to 48 points) and a small classifier whose accepted sizes are not a product either.
`make test` sweeps H over 1..256 with W fixed at an accepted value, W likewise, and a 1..48 grid;
`make test-heavy` sweeps the full 1..256 × 1..256 grid.

Also: the U-Net spec against milesial/Pytorch-UNet's UNet(bilinear=False), written out below.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch_harness import concrete, observed_shapes, shape_disagreements  # noqa: E402

import archspec  # noqa: E402
from archspec.api import _import_source  # noqa: E402
from archspec.driver import CheckResult, check_file, check_text  # noqa: E402
from archspec.outputs.codegen import generate_module  # noqa: E402

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parent.parent
UNET = "specs/segmentation/unet.arch"
SWEEP = range(1, 257)  # the sizes the issue asks about
GRID = range(1, 49)  # the 2-D grid run by `make test`


@pytest.fixture(autouse=True)
def _one_thread():
    """Thousands of tiny forward passes: threads only add overhead (and the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- specs with a symbolic input


def symbolic_text(path: str, shape: str, widths: dict[int, int] | None = None) -> str:
    """A shipped spec with its input shape replaced by `shape`, its shape assertions (stated at the
    original size) dropped, and optionally its channel widths renumbered (`{64: 4}`: thinner
    layers, the same structure and the same accepted sizes, much faster to run)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    text, count = re.subn(r"input x: \[[^\]]*\]", f"input x: {shape}", text)
    assert count == 1
    text = re.sub(r"(\w+): \[[^\]]*\] =", r"\1 =", text)
    if widths:
        pattern = r"\b(" + "|".join(str(w) for w in widths) + r")\b"
        text = re.sub(pattern, lambda m: str(widths[int(m[0])]), text)
    return text


def resnet18(thin: bool = False) -> CheckResult:
    widths = {64: 4, 128: 8, 256: 16, 512: 32} if thin else None
    text = symbolic_text("specs/torchvision/resnet18.arch", "[N, 3, H, W]", widths)
    return check_text(text, "specs/torchvision/resnet18_symbolic.arch")


def mnist_cnn(thin: bool = False) -> CheckResult:
    widths = {32: 2, 64: 4} if thin else None
    text = symbolic_text("specs/seeds/mnist_cnn.arch", "[N, 1, H, W]", widths)
    return check_text(text, "specs/seeds/mnist_cnn_symbolic.arch")


PINNED = """\
model Pinned {
    input x: [N, 1, H, W]
    return x -> Conv2d(1, 4, 3, padding=1) -> MaxPool2d(2) -> flatten(1) -> Linear(48, 10)
}
"""


# ---------------------------------------------------------------- running a subject


@dataclass
class Subject:
    """A checked model with symbolic sizes, compiled and moved to a device."""

    name: str
    result: CheckResult
    device: str
    anchor: dict[str, int]  # an accepted size: the 1-D sweeps fix one symbol at its value
    batch: int = 1

    def __post_init__(self):
        assert self.result.ok, [d.message for d in self.result.diagnostics]
        self.checked = self.result.model()
        self.report = self.checked.sizes
        assert self.report is not None and self.report.complete
        assert self.report.accepts(self.anchor)
        generated = generate_module(self.result)
        module = _import_source(generated.source, self.result.path)
        self.filename = module.__file__
        self.module = getattr(module, generated.classes[self.checked.name])().to(self.device).eval()

    def observe(self, sizes: dict[str, int]) -> tuple[dict | None, Exception | None]:
        """({node id: torch's shape}, None) when the forward pass runs, else (None, the error)."""
        try:
            with torch.device(self.device):  # where observed_shapes makes its random input
                real, _ = observed_shapes(
                    self.module, self.checked, self.filename, self.batch, sizes=sizes
                )
        except (RuntimeError, ValueError) as error:
            return None, error
        return real, None

    def fails(self, sizes: dict[str, int]) -> Exception | None:
        """The error of a plain forward pass (no recording: most swept sizes are rejected)."""
        graph = self.checked.graph
        inputs = [
            torch.zeros(
                *concrete(graph.node(i).declared_shape, self.batch, sizes), device=self.device
            )
            for i in graph.inputs
        ]
        try:
            with torch.no_grad():
                self.module(*inputs)
        except (RuntimeError, ValueError) as error:
            return error
        return None


SUBJECTS = {
    "unet": lambda: Subject(
        "unet", check_file(UNET, {"UNet": {"width": 2}}), "cpu", {"H": 64, "W": 64}
    ),
    "resnet18": lambda: Subject("resnet18", resnet18(thin=True), "cpu", {"H": 37, "W": 37}),
    "mnist_cnn": lambda: Subject("mnist_cnn", mnist_cnn(thin=True), "cpu", {"H": 28, "W": 28}),
    "pinned": lambda: Subject(
        "pinned", check_text(PINNED, "pinned.arch"), "cpu", {"H": 4, "W": 12}
    ),
}


@functools.cache
def subject(name: str) -> Subject:
    return SUBJECTS[name]()


def sweep(subject: Subject, points) -> tuple[int, int]:
    """Every point: accepted ⇔ torch runs, and the shapes agree where it runs. Returns how many
    points were accepted and rejected."""
    wrong, counts = [], [0, 0]
    for sizes in points:
        accepted = subject.report.accepts(sizes)
        counts[not accepted] += 1
        if not accepted:
            if subject.fails(sizes) is None:
                wrong.append(f"{sizes}: archspec rejects, torch runs")
            continue
        real, error = subject.observe(sizes)
        if error is not None:
            wrong.append(f"{sizes}: archspec accepts, torch raises {str(error)[:200]}")
        else:
            problems = shape_disagreements(subject.checked, real, subject.batch, sizes)
            wrong += [f"{sizes} {problem}" for problem in problems]
        if len(wrong) >= 10:
            break
    assert not wrong, f"{subject.name} ({subject.report.describe()}):\n" + "\n".join(wrong)
    return counts[0], counts[1]


# ---------------------------------------------------------------- the sweeps


def test_what_the_subjects_accept():
    assert subject("unet").report.describe() == "H, W: multiples of 16"
    assert subject("resnet18").report.describe() == "H, W: any size from 1 to 1024"
    mnist = subject("mnist_cnn").report  # 4·⌊H/4⌋·⌊W/4⌋ = 7·7·4: ⌊H/4⌋·⌊W/4⌋ = 49
    assert mnist.points == sorted(
        (h, w)
        for a, b in [(1, 49), (7, 7), (49, 1)]
        for h, w in itertools.product(range(4 * a, 4 * a + 4), range(4 * b, 4 * b + 4))
    )
    assert subject("pinned").report.accepted_count == 24


@pytest.mark.parametrize("name", SUBJECTS)
def test_sweep_height(name):
    chosen = subject(name)
    accepted, rejected = sweep(chosen, [{"H": h, "W": chosen.anchor["W"]} for h in SWEEP])
    assert accepted and (rejected or name == "resnet18")


@pytest.mark.parametrize("name", SUBJECTS)
def test_sweep_width(name):
    chosen = subject(name)
    accepted, rejected = sweep(chosen, [{"H": chosen.anchor["H"], "W": w} for w in SWEEP])
    assert accepted and (rejected or name == "resnet18")


@pytest.mark.parametrize("name", SUBJECTS)
def test_sweep_grid(name):
    accepted, rejected = sweep(subject(name), [{"H": h, "W": w} for h in GRID for w in GRID])
    assert accepted + rejected == len(GRID) ** 2
    assert accepted == {"unet": 9, "resnet18": len(GRID) ** 2, "mnist_cnn": 16, "pinned": 24}[name]


@pytest.mark.heavy
@pytest.mark.parametrize("name", SUBJECTS)
def test_sweep_full_grid(name):
    chosen = subject(name)
    accepted, rejected = sweep(chosen, [{"H": h, "W": w} for h in SWEEP for w in SWEEP])
    assert accepted == sum(chosen.report.accepts({"H": h, "W": w}) for h in SWEEP for w in SWEEP)
    assert accepted + rejected == len(SWEEP) ** 2


def test_meta_device_fails_where_cpu_fails():
    """The full-width ResNet-18 below runs on `meta`, where torch computes shapes only. There torch
    fails at the same sizes and layers as on the CPU, shown here on the full-width MNIST CNN: the
    same RuntimeError, and the same message except the Linear's ("a and b must have same
    reduction dim" for "mat1 and mat2 shapes cannot be multiplied")."""
    result = mnist_cnn()
    meta = Subject("mnist_cnn on meta", result, "meta", {"H": 28, "W": 28})
    cpu = Subject("mnist_cnn on cpu", result, "cpu", {"H": 28, "W": 28})
    sizes = [{"H": h, "W": 28} for h in range(1, 41)] + [{"H": 5, "W": w} for w in SWEEP]
    outcomes = {"runs": 0, "pool": 0, "linear": 0}
    for point in sizes:
        (on_meta, meta_error), (on_cpu, cpu_error) = meta.observe(point), cpu.observe(point)
        assert on_meta == on_cpu, point
        assert type(meta_error) is type(cpu_error), point
        if cpu_error is None:
            outcomes["runs"] += 1
        elif "mat1 and mat2" in str(cpu_error):
            assert "same reduction dim" in str(meta_error), point
            outcomes["linear"] += 1
        else:
            assert str(meta_error) == str(cpu_error), point
            outcomes["pool"] += 1
    assert outcomes == {"runs": 4 + 4, "pool": 3 + 3, "linear": 33 + 249}


def test_full_width_resnet18_on_meta():
    """ResNet-18 at its real widths accepts every size; spot-check the shapes on `meta`."""
    full = Subject("resnet18 (full width)", resnet18(), "meta", {"H": 224, "W": 224}, batch=2)
    assert full.report.describe() == "H, W: any size from 1 to 1024"
    assert [str(d) for d in full.checked.output_shapes[0]] == ["N", "1000"]
    sizes = [(1, 1), (7, 9), (31, 32), (33, 64), (224, 224), (256, 255), (1024, 3)]
    sweep(full, [{"H": h, "W": w} for h, w in sizes])


# ---------------------------------------------------------------- U-Net against milesial's


class DoubleConv(nn.Module):
    """milesial/Pytorch-UNet unet/unet_parts.py (without its unused mid_channels)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """bilinear=False. milesial pads the upsampled map to the skip's size, so its model runs at
    any size; the spec requires equal sizes instead (multiples of 16), where the pad is zero."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class MilesialUNet(nn.Module):
    """milesial/Pytorch-UNet unet/unet_model.py, UNet(n_channels, n_classes, bilinear=False); its
    64 is `width` here so a thin copy can be compared numerically."""

    def __init__(self, n_channels, n_classes, width=64):
        super().__init__()
        self.inc = DoubleConv(n_channels, width)
        self.down1 = Down(width, 2 * width)
        self.down2 = Down(2 * width, 4 * width)
        self.down3 = Down(4 * width, 8 * width)
        self.down4 = Down(8 * width, 16 * width)
        self.up1 = Up(16 * width, 8 * width)
        self.up2 = Up(8 * width, 4 * width)
        self.up3 = Up(4 * width, 2 * width)
        self.up4 = Up(2 * width, width)
        self.outc = OutConv(width, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def layer_shapes(model: nn.Module, x) -> dict[str, list[tuple[int, ...]]]:
    shapes = defaultdict(list)
    handles = [
        module.register_forward_hook(lambda m, a, out, path=path: shapes[path].append(out.shape))
        for path, module in model.named_modules()
        if path
    ]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
    return dict(shapes)


def test_unet_matches_milesial_parameters_and_layer_shapes():
    with torch.device("meta"):  # 31M parameters: count them without allocating them
        ours = archspec.build(UNET)
        reference = MilesialUNet(n_channels=3, n_classes=2)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == 31_037_698
    assert archspec.load(UNET).model().parameter_count == count
    assert ours.state_dict().keys() == reference.state_dict().keys()
    x = torch.zeros(2, 3, 64, 64, device="meta")
    ours_shapes, reference_shapes = layer_shapes(ours, x), layer_shapes(reference, x)
    assert ours_shapes == reference_shapes
    assert ours_shapes["down4"] == [(2, 1024, 4, 4)]
    assert ours_shapes["outc"] == [(2, 2, 64, 64)]


def test_unet_computes_what_milesial_computes():
    """milesial's weights load into the compiled U-Net (same module tree) and give its output."""
    torch.manual_seed(0)
    reference = MilesialUNet(n_channels=3, n_classes=2, width=8).eval()
    ours = archspec.build(UNET, width=8).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


# ---------------------------------------------------------------- known bugs


def test_view_by_an_expression_of_the_sizes_runs():
    spec = "model Net {\n    input x: [N, 4, H, W]\n    return x -> view(N, H * W * 4)\n}\n"
    assert check_text(spec).ok
    model = archspec.build(spec)
    assert model(torch.zeros(2, 4, 5, 6)).shape == (2, 120)


def test_sizes_written_as_expressions_of_floors_and_fractions_run():
    """Generated code computes symbolic sizes in exact integer arithmetic: a floor of a size
    no tensor carries, and a shape simplified under the accepted sizes' congruence (H/4)."""
    spec = (
        "model Net {\n    input x: [N, 4, H, W]\n"
        "    h = x -> MaxPool2d(2) -> MaxPool2d(2)\n"
        "    return h -> view(N, 4, H // 4 * (W // 4))\n}\n"
    )
    result = check_text(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    source = archspec.compile_source(spec)
    model = archspec.build(spec)
    for h, w in ((8, 12), (9, 13), (64, 4)):
        assert model(torch.zeros(2, 4, h, w)).shape == (2, 4, (h // 4) * (w // 4)), source
