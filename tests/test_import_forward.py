"""`archspec import` of forwards whose structure is more than one tensor in, one out: children
called with a tuple or list of tensors and returning several, a Sequential subclass that hands
tuples from layer to layer, layers of a child container called one by one, and children called
with constant sizes. Each case does the whole round trip (import -> check -> compile -> strict
load_state_dict -> the same outputs), on small modules built here."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from archspec.tools.importer import ImportFailure, from_module  # noqa: E402
from archspec.tools.importer.roundtrip import round_trip  # noqa: E402

pytestmark = pytest.mark.torch


def _exact(build, shape) -> str:
    """The imported text, after checking the round trip is exact without any extern."""
    torch.manual_seed(0)
    trip = round_trip(build.__name__, build, {"x": ("N", *shape)})
    assert trip.exact, (trip.result, trip.reason, trip.text)
    assert not trip.externs, trip.externs
    return trip.text


class Pair(nn.Module):
    """Takes a tuple, returns two tensors (timm's pit Transformer)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, pair):
        x, extra = pair
        return self.conv(x), extra * 2 + x


class Root(nn.Module):
    """Takes a list of tensors (timm's DlaRoot)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 4, 1)

    def forward(self, children):
        return self.conv(torch.cat(children, 1))


class TupleCalls(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.second, self.root = Pair(4), Pair(4), Root()

    def forward(self, x):
        a, b = self.first((x, x))
        both = self.second((a, b))  # a tuple handed on whole, then returned
        return self.root([both[0], b]) + self.root(both)


def test_a_child_called_with_a_tuple_takes_its_items_as_inputs():
    text = _exact(TupleCalls, (4, 6, 6))
    assert "input pair_1" in text and "input pair_2" in text
    assert "(x, x) -> first" in text and "return conv, " in text
    assert "input children_1" in text and "cat([children_1, children_2], 1)" in text


class SequentialTuple(nn.Sequential):
    """A Sequential whose layers hand a tuple on (timm's pit and selecsls)."""

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x


class ChainOfTuples(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = SequentialTuple(Pair(4), Pair(4), Pair(4))

    def forward(self, x):
        x, extra = self.stages((x, x.sigmoid()))
        return x - extra


def test_a_sequential_handing_tuples_on_is_a_module_list_applied_in_turn():
    text = _exact(ChainOfTuples, (4, 5, 5))
    assert "stages: ModuleList(*[Pair() for i in range(3)])" in text
    assert "stages_0_0, stages_0_1 = (x, sigmoid) -> stages[0]" in text
    assert "(stages_1_0, stages_1_1) -> stages[2]" in text


class Scaled(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x) * 0.5


class LoopOverChildren(nn.Module):
    """Calls the layers of a child Sequential one by one (timm's fastvit, hieradet)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Scaled(4), Scaled(4), nn.Conv2d(4, 4, 1))
        self.heads = nn.ModuleList([nn.Conv2d(4, 2, 1), nn.Conv2d(4, 2, 1)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x) + x
        return self.heads[0](x) * self.heads[1](x)


def test_layers_of_a_child_sequential_called_one_by_one_index_a_module_list():
    text = _exact(LoopOverChildren, (4, 6, 6))
    assert "blocks: ModuleList(" in text and "-> blocks[2]" in text
    assert "-> heads[1]" in text


class Mixer(nn.Module):
    """Takes its grid size as a tuple of numbers, reads its input's sizes by slicing."""

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x, size, shortcut=None):
        H, W = size
        B, _, C = x.shape
        first, rest = x[:, :1], x[:, 1:]
        grid = rest.transpose(1, 2).reshape(B, C, H, W)
        rest = (self.proj(grid) + grid).flatten(2).transpose(1, 2)
        out = torch.cat([first, rest], dim=1)
        return out if shortcut is None else out + shortcut


class SizedCalls(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = Mixer(4), Mixer(4), Mixer(4)

    def forward(self, x):
        n, c = x.shape[0:2]
        tokens = x.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], dim=1)
        tokens = self.a(tokens, (6, 6))
        tokens = self.b(tokens, size=(6, 6), shortcut=None)
        return self.c(tokens, (6, 6), tokens).reshape(n, -1, c)


def test_children_called_with_constant_sizes_fold_them_in_their_blocks():
    text = _exact(SizedCalls, (4, 6, 6))
    assert "reshape(N, C, 6, 6)" in text  # the size folded, the input's sizes read by name
    assert "-> a: Mixer() -> b: Mixer()" in text  # shortcut=None: no input
    assert "input shortcut" in text and "(b, b) -> c -> reshape(N, -1, 4)" in text


class ChangingSizes(nn.Module):
    """One child called with two different sizes: its trace can only fix one."""

    def __init__(self):
        super().__init__()
        self.mixer = Mixer(4)

    def forward(self, x):
        tokens = torch.cat([x[:, :1], x], dim=1)
        once = self.mixer(tokens, (6, 6))
        return self.mixer(once, (4, 9))


def test_a_child_called_with_other_constants_than_its_trace_is_reported():
    module = ChangingSizes().eval()
    with pytest.raises(ImportFailure) as caught:
        from_module(module, (torch.randn(2, 36, 4),))
    assert any("not as in its first call" in str(p) for p in caught.value.problems)


class Embed(nn.Module):
    """Returns its tokens and their grid size (timm's twins and mvitv2 patch embeddings)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 4, 2, stride=2)

    def forward(self, x):
        x = self.proj(x)
        size = x.shape[-2:]
        return x.flatten(2).transpose(1, 2), (size[0], size[1])


class SizesReturned(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = Embed()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        batch = x.shape[0]
        tokens, size = self.embed(x)
        return self.conv(tokens.reshape(batch, *size, -1).permute(0, 3, 1, 2))


def test_sizes_a_child_returns_beside_its_tensor_are_the_model_s_fixed_sizes():
    text = _exact(SizesReturned, (3, 8, 6))
    assert "reshape(N, 4, 3, -1)" in text  # the grid read off the run: 8x6 halved
    assert "    return transpose\n" in text  # the block returns its tensor only


class Windows(nn.Module):
    """Splits [N, H, W, C] into windows and back, the batch read off the windows' count
    (timm's hieradet and swin window_unpartition)."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Linear(4, 4)

    def forward(self, x):
        B, H, W, C = x.shape
        windows = x.view(B, H // 4, 4, W // 4, 4, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, 4, C)
        windows = self.mix(windows)
        batch = windows.shape[0] // (H * W // 16)
        x = windows.view(batch, H // 4, W // 4, 4, 4, -1).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(batch, H, W, -1)


class WindowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.windows = Windows()

    def forward(self, x):
        return self.windows(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def test_a_leading_size_that_grows_with_the_batch_is_written_as_a_multiple_of_n():
    text = _exact(WindowNet, (4, 8, 12))  # the round trip runs on 1 sample, imported on 2
    assert "(6 * N)" in text  # 6 windows a sample; 12 at the import's batch of 2


class Stubborn(nn.Module):
    """Untraceable (its forward branches on data), so an extern; built with **kwargs."""

    def __init__(self, channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kwargs.get("kernel", 1), padding="same")

    def forward(self, x):
        return self.conv(x) if x.sum() > 0 else -x


class WithStubborn(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Stubborn(4, kernel=3)

    def forward(self, x):
        return self.inner(x)


def test_an_extern_keeps_the_arguments_its_constructor_took_through_kwargs():
    torch.manual_seed(0)
    trip = round_trip("WithStubborn", WithStubborn, {"x": ("N", 4, 5, 5)})
    assert trip.exact, (trip.result, trip.reason, trip.text)
    assert trip.externs == ["inner"] and "kernel=3" in trip.text


class TableLookup(nn.Module):
    """Indexes a table with a non-persistent buffer's view (swin's relative position bias):
    fx keeps that view as a tensor of its own, which no state_dict entry rebuilds."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(5, 4))
        self.register_buffer("index", torch.tensor([[4, 0], [2, 1]]), persistent=False)

    def forward(self, x):
        return x + self.table[self.index.view(-1)].sum(0)


class WithLookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.lookup = TableLookup()

    def forward(self, x):
        return self.lookup(x) * 2


def test_a_tensor_the_trace_computed_makes_its_module_an_extern():
    torch.manual_seed(0)
    trip = round_trip("WithLookup", WithLookup, {"x": ("N", 3, 4)})
    assert trip.exact, (trip.result, trip.reason, trip.text)
    assert trip.externs == ["lookup"] and "a tensor computed while tracing" in trip.text
    assert "buffer _tensor_constant" not in trip.text


class StubbornScale(nn.Module):
    """Untraceable, so an extern; its constant argument has a default."""

    def forward(self, x, scale=1.0):
        return x * scale if x.sum() > 0 else x - scale


class CallsAnExternWithAConstant(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = StubbornScale()

    def forward(self, x):
        return self.inner(x.abs() + 1, 3.0)


def test_an_extern_is_never_called_without_the_constants_its_call_passes():
    trip = round_trip("Calls", CallsAnExternWithAConstant, {"x": ("N", 3)})
    assert trip.result != "differs"  # the constant is not dropped: the caller is an extern
    assert "an extern called with constants" in trip.text


class NamedHead(nn.Module):
    """Named layers of a child Sequential called one by one (timm's MetaFormer head)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Sequential()
        self.head.add_module("pool", nn.AdaptiveAvgPool2d(1))
        self.head.add_module("norm", nn.LayerNorm(4))
        self.head.add_module("fc", nn.Linear(4, 2))

    def forward(self, x):
        x = self.head.pool(self.conv(x)).flatten(1)
        return self.head.fc(self.head.norm(x))


def test_named_layers_of_a_child_sequential_called_one_by_one_index_a_module_dict():
    text = _exact(NamedHead, (3, 8, 8))
    assert 'head: ModuleDict({"pool": AdaptiveAvgPool2d(1), "norm": LayerNorm(4)' in text
    assert '-> head["fc"]' in text


class Stages(nn.Module):
    """twins: a ModuleList of ModuleLists, the forward taking each stage's blocks in turn."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(
            [nn.ModuleList([nn.Linear(4, 4) for _ in range(depth)]) for depth in (1, 2)]
        )

    def forward(self, x):
        for stage in self.blocks:
            for block in stage:
                x = torch.relu(block(x))
        return x


def test_layers_of_lists_held_by_a_list_are_applied_by_two_indices():
    text = _exact(Stages, (4,))
    assert "-> blocks[1][1]" in text and "blocks: ModuleList(" in text


class Branches(nn.Module):
    """Returns two tensors; hrnet reads the last one as `y[1]` and as `y[-1]`."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return [self.a(x), self.b(x)]


class DirectForward(nn.Module):
    """hrnet's `down.forward(y)`: a Sequential's forward called directly, which fx inlines."""

    def __init__(self):
        super().__init__()
        self.branches = Branches()
        self.down = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))])

    def forward(self, x):
        ys = self.branches(x)
        down = self.down[0]
        return down.forward(ys[0]) + ys[1] * ys[-1]


def test_a_sequential_whose_forward_is_called_directly_is_applied_whole():
    text = _exact(DirectForward, (4,))
    assert "-> down[0]" in text  # one application, not its three layers
    assert "down[0][" not in text
