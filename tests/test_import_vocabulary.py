"""The importer on what timm's models call (issue 18): each small module here stands for a
construct a timm family uses, and is round-tripped (import -> check -> compile -> strict load ->
the same outputs in eval mode) the way `make import-report` round-trips the models."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from archspec.tools.importer import ImportFailure, import_module  # noqa: E402
from archspec.tools.importer.roundtrip import round_trip  # noqa: E402


def exact(name: str, build, inputs: dict) -> str:
    """The imported text of a module that round-trips exactly, without externs."""
    trip = round_trip(name, build, inputs)
    assert trip.result == "exact", f"{trip.result}: {trip.reason}\n{trip.text}"
    assert trip.externs == [], trip.text
    return trip.text


# ---------------------------------------------------------------- a norm layer with its activation


class Gelu(nn.Module):
    """timm's GELU: a module class of its own around F.gelu (not nn.GELU)."""

    def forward(self, x):
        return F.gelu(x)


class NormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d: batch norm by F.batch_norm on its own weights, then an activation
    child built from a class argument, which no spec can write."""

    def __init__(self, num_features: int, act_layer=nn.ReLU):
        super().__init__(num_features)
        self.act = act_layer()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, self.momentum, self.eps)  # fmt: skip
        return self.act(x)


class ConvNormAct(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = NormAct(8, act_layer=Gelu)
        self.tail = nn.Sequential(nn.Conv2d(8, 8, 1), NormAct(8, act_layer=Gelu))

    def forward(self, x):
        return self.tail(self.bn(self.conv(x)))


def test_a_norm_layer_whose_activation_is_a_block_is_written_as_the_layer_and_the_block():
    """efficientformerv2: before, such a norm layer became an extern without its act_layer,
    rebuilt with ReLU: outputs that differ."""
    text = exact("norm_act", ConvNormAct, {"x": ("N", 3, 12, 12)})
    assert "bn: BatchNorm2d(8)" in text and "gelu()" in text


# ---------------------------------------------------------------- constructor arguments


class DynamicPadConv(nn.Conv2d):
    """timm's StdConv2dSame: __init__ turns padding="SAME" into 0 and a flag before it calls
    nn.Module.__init__; cumsum (no op in the language) makes it an extern."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding="SAME"):
        dynamic = padding == "SAME"
        padding = 0 if dynamic else padding
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)
        self.dynamic = dynamic

    def forward(self, x):
        if self.dynamic:
            x = F.pad(x, (1, 1, 1, 1))
        return self._conv_forward(x, self.weight, self.bias).cumsum(1)


class PadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = DynamicPadConv(3, 4, 3)
        self.head = nn.Linear(4 * 8 * 8, 2)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


def test_an_extern_is_built_with_the_arguments_its_constructor_was_given():
    """vit hybrids: the argument as __init__ received it ("SAME"), not as __init__ had rebound
    it by the time it called nn.Module.__init__ (0, which loses the padding)."""
    trip = round_trip("pad_net", PadNet, {"x": ("N", 3, 8, 8)})
    assert trip.result == "exact", f"{trip.result}: {trip.reason}\n{trip.text}"
    assert trip.externs == ["conv"]
    assert "padding=0" not in trip.text  # ("SAME", the default, is left out)


# ---------------------------------------------------------------- sizes inside a helper block


class RelativeLogits(nn.Module):
    """botnet's PosEmbedRel: given batch × heads rows, it reads dim 0 off a tensor it made."""

    def forward(self, q):
        turned = q.transpose(1, 2)
        rows, channels, length = turned.shape
        return turned.reshape(rows, channels, 2, length // 2).sum(-1)


class HeadsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rel = RelativeLogits()

    def forward(self, x):
        batch, length, channels = x.shape
        heads = x.reshape(batch * 2, length, channels // 2)
        return self.rel(heads).reshape(batch, -1)


def test_dim_0_read_inside_a_block_is_the_blocks_own_n():
    """Before, dim 0 of a tensor inside the block was N only when it equalled the model's
    batch: here (2 × 2 rows) it was written as the number 4, which the check refused."""
    text = exact("heads", HeadsNet, {"x": ("N", 6, 8)})
    assert "reshape(N, " in text.split("block RelativeLogits")[1]


# ---------------------------------------------------------------- pow, attention, tile, reshape_as


class StarReLU(nn.Module):
    """metaformer's StarReLU: scale * relu(x) ** 2 + bias."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.scale = nn.Parameter(torch.full((1,), 0.8))
        self.bias = nn.Parameter(torch.full((1,), -0.4))

    def forward(self, x):
        return self.scale * self.relu(x) ** 2 + self.bias + x.abs().pow(0.5) + torch.pow(x, 3)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = StarReLU()

    def forward(self, x):
        return self.act(self.fc(x))


def test_a_tensor_power_is_pow():
    text = exact("star_relu", Mlp, {"x": ("N", 4)})
    assert "pow(2)" in text and "pow(0.5)" in text and "pow(3)" in text


class Attention(nn.Module):
    """timm's Attention, its fused path: F.scaled_dot_product_attention."""

    def __init__(self, dim: int = 16, heads: int = 2, mask: bool = False):
        super().__init__()
        self.heads, self.mask = heads, mask
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        batch, length, channels = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.heads, channels // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        mask = q.new_zeros(length, length) if self.mask else None
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0)
        return self.proj(x.transpose(1, 2).reshape(batch, length, channels))


def test_scaled_dot_product_attention():
    text = exact("attention", Attention, {"x": ("N", 5, 16)})
    assert "scaled_dot_product_attention(" in text


def test_an_attention_mask_is_reported():
    """attn_mask is no parameter of the language's op: a call that passes one is unsupported,
    never written without it."""
    with pytest.raises(ImportFailure) as failure:
        import_module(Attention(mask=True).eval(), (torch.randn(2, 5, 16),))
    assert any("new_zeros" in str(p) or "attn_mask" in str(p) for p in failure.value.problems)


class Tiles(nn.Module):
    def forward(self, x):
        wide = x.tile((1, 2))
        return wide + torch.tile(x.abs() * 2.0, (2,)).reshape_as(wide)


def test_tile_and_reshape_as():
    text = exact("tiles", Tiles, {"x": ("N", 3)})
    assert "tile(1, 2)" in text and "reshape_as(" in text


class ClassToken(nn.Module):
    """volo's head: the class token plus half the largest value of each feature (`max(1)[0]`);
    xcit's attention normalizes queries and keys (F.normalize)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        tokens = F.normalize(y, dim=-1).sum(1)
        return y[:, 0] + 0.5 * y.max(1)[0] + torch.max(y, dim=1)[0] + tokens


def test_the_values_of_max_over_a_dim_are_amax():
    text = exact("class_token", ClassToken, {"x": ("N", 5, 4)})
    assert "amax(1)" in text and "normalize(dim=-1)" in text


class ArgMax(nn.Module):
    def forward(self, x):
        return x.max(1)[1].float()


def test_the_indices_of_max_are_reported():
    with pytest.raises(ImportFailure) as failure:
        import_module(ArgMax().eval(), (torch.randn(2, 5, 4),))
    assert any("indices of max" in str(p) for p in failure.value.problems)


class Outlook(nn.Module):
    """volo's outlook attention, cut down: nn.Unfold into block columns, F.fold back."""

    def __init__(self):
        super().__init__()
        self.unfold = nn.Unfold(kernel_size=3, padding=1, stride=2)
        self.proj = nn.Conv2d(4 * 9, 4 * 4, 1)

    def forward(self, x):
        batch, channels, height, width = x.shape
        columns = self.unfold(x).reshape(batch, channels * 9, height // 2, width // 2)
        columns = self.proj(columns).reshape(batch, channels * 4, -1)
        return F.fold(columns, output_size=(height, width), kernel_size=2, stride=2)


def test_unfold_and_fold():
    text = exact("outlook", Outlook, {"x": ("N", 4, 8, 8)})
    assert "Unfold(3, padding=1, stride=2)" in text and "fold(" in text


class ElementwiseMax(nn.Module):
    def forward(self, x):
        return torch.max(x, x.flip(0))


def test_max_of_two_tensors_is_not_amax():
    """torch.max(a, b) is elementwise: never written as a reduction."""
    with pytest.raises(ImportFailure) as failure:
        import_module(ElementwiseMax().eval(), (torch.randn(2, 5),))
    assert not any("amax" in str(p) for p in failure.value.problems)


class Windows(nn.Module):
    def forward(self, x):
        return x.unfold(2, 3, 1).sum(-1)


def test_the_unfold_method_is_not_f_unfold():
    """x.unfold(dim, size, step) takes windows along one dim: never written as the language's
    unfold (F.unfold's sliding blocks of a map), which would read its numbers as a kernel."""
    with pytest.raises(ImportFailure) as failure:
        import_module(Windows().eval(), (torch.randn(2, 3, 8),))
    assert any("tensor method .unfold()" in str(p) for p in failure.value.problems)
