"""`archspec import` of forwards whose Python control flow reads sizes (`if H % patch:`,
`int(math.sqrt(L))`): torch.fx refuses them; the importer traces them again, each branch taken
for the example's sizes (archspec/tools/importer/specialize.py). Only sizes other than the batch
are made concrete: a branch on the batch or on a tensor's values keeps the module an extern."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from archspec.tools.importer.roundtrip import round_trip  # noqa: E402
from archspec.tools.importer.specialize import BATCH, DATA, SIZE  # noqa: E402

pytestmark = pytest.mark.torch


class PadToPatches(nn.Module):
    """mobilevit's block: pads the map to a multiple of the patch when it is not one."""

    def __init__(self, patch: int):
        super().__init__()
        self.patch = patch
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        _, _, height, width = x.shape
        new_h = math.ceil(height / self.patch) * self.patch
        new_w = math.ceil(width / self.patch) * self.patch
        if new_h != height or new_w != width:
            x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
        return self.conv(x)


class Scaled(nn.Module):
    """Its own parameter read beside the branch; a float and a range made from sizes."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        height = x.shape[2]
        x = self.conv(x) * self.scale * float(height)
        for size in x.shape[2:]:  # a loop over sizes
            x = x + size
        for _ in range(height // 4):  # `range` reads the size as an index
            x = x * 0.5
        return x


class Grid(nn.Module):
    """nest's and swin's tokens to a square map: the side is `int(math.sqrt(L))`."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)

    def forward(self, tokens):
        batch, length, dim = tokens.shape
        side = int(math.sqrt(length))
        grid = self.proj(tokens).transpose(1, 2).reshape(batch, dim, side, side)
        for _ in range(len(grid.shape) - 3):  # a loop on the rank: a size too
            grid = grid * 2
        return grid


class ByBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.shape[0] == 1:  # the batch: no constant can stand for it
            return self.fc(x)
        return self.fc(x) * 2


class ByValue(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:  # the data: no constant can stand for it
            return self.fc(x)
        return -self.fc(x)


class Holder(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + 1


@pytest.mark.parametrize(
    ("build", "shape"),
    [(lambda: Holder(PadToPatches(4)), (4, 10, 12)), (lambda: Holder(PadToPatches(2)), (4, 8, 8)),
     (lambda: Holder(Grid()), (16, 6)), (lambda: Holder(Scaled()), (4, 8, 6))],
    ids=["padded", "no-padding-needed", "square-grid", "sizes-as-numbers"],
)  # fmt: skip
def test_control_flow_on_sizes_is_traced_for_the_sizes_seen(build, shape):
    torch.manual_seed(0)
    trip = round_trip("specialized", build, {"x": ("N", *shape)})
    assert trip.exact, (trip.result, trip.reason, trip.text)
    assert not trip.externs, trip.extern_reasons
    if shape == (4, 10, 12):
        assert "interpolate" in trip.text  # the branch taken: 10 x 12 -> 12 x 12
    if shape == (4, 8, 8):
        assert "interpolate" not in trip.text


@pytest.mark.parametrize("inner", [ByBatch, ByValue])
def test_control_flow_on_the_batch_or_on_values_stays_an_extern(inner):
    torch.manual_seed(0)
    trip = round_trip("kept", lambda: Holder(inner()), {"x": ("N", 4)})
    assert trip.externs == ["inner"], trip.text
    assert "cannot be used as inputs to control flow" in trip.extern_reasons[0]
    assert trip.exact  # the extern computes what the original does


def test_origins_tell_sizes_from_the_batch_and_from_data():
    import torch.fx as fx

    from archspec.tools.importer.specialize import specializing

    class Probe(nn.Module):
        def forward(self, x):
            return (
                x.shape[2] * 2, x.shape[0] + 1, x.sum(), x.size(-1), x.shape[1:], x.shape[:2],
                x.dim(), x.ndim, x.shape == x.shape, torch.arange(x.shape[2]), x.size(0),
            )  # fmt: skip

    tracer = specializing(fx.Tracer)({"x": torch.randn(2, 3, 5, 7)})
    graph = tracer.trace(Probe())
    (output,) = graph.find_nodes(op="output")
    origins = [tracer.origins[node] for node in output.args[0]]
    assert origins == [SIZE, BATCH, DATA, SIZE, SIZE, BATCH, SIZE, SIZE, BATCH, DATA, BATCH]
    assert [tracer.values[node] for node in output.args[0][:2]] == [10, 3]
