"""Layers a project might have of its own: archspec knows none of them, examples/se_net.arch
declares them as `extern`s (docs/extern.md walks through it)."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al.): channel weights from the map's global average, squashed
    by a `gate` layer (a class, as timm's blocks take their activations)."""

    def __init__(self, channels: int, reduction: int = 4, gate: type[nn.Module] = nn.Sigmoid):
        super().__init__()
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.gate(self.fc2(torch.relu(self.fc1(scale))))
        return x * scale


class SpaceToDepth(nn.Module):
    """[N, C, H, W] -> [N, 4C, H/2, W/2]: each 2×2 patch becomes channels (H and W even)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pixel_unshuffle(x, 2)


def channel_means(channels: int) -> torch.Tensor:
    """The per-channel means to subtract from the input, [1, channels, 1, 1] (ImageNet's, for 3),
    for a buffer's initial value."""
    means = torch.tensor([0.485, 0.456, 0.406]) if channels == 3 else torch.full((channels,), 0.5)
    return means.view(1, channels, 1, 1)
