"""SimVP baseline (Gao et al., CVPR 2022, "SimVP: Simpler yet Better Video Prediction"), simplified.

Encoder: ``depth`` shared strided convolutions per date (time folded into the batch, /2**depth). Translator:
features of all dates reshaped to ``T*C`` channels, a 1x1 projection and Inception blocks (parallel
grouped 3/5/7/11 convolutions, summed, with a residual). Decoder: instead of predicting frames,
``depth`` transposed convolutions back to full resolution with the full-resolution features (time collapsed by
T*C -> 1x1 conv) as a skip, then a 1x1 head. BatchNorm replaces GroupNorm.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from backend.nets.blocks import RiceNet, conv_bn_relu, fold_time, time_into_channels


class InceptionBlock(nn.Module):
    """1x1 bottleneck, then grouped convolutions of several kernel sizes summed, residual."""

    def __init__(self, channels: int, kernels: Sequence[int] = (3, 5, 7, 11), groups: int = 8) -> None:
        super().__init__()
        groups = groups if channels % groups == 0 else 1
        self.reduce = nn.Conv2d(channels, channels, 1)
        self.branches = nn.ModuleList(nn.Conv2d(channels, channels, k, padding=k // 2, groups=groups)
                                      for k in kernels)
        self.post = nn.Sequential(nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.reduce(x)
        return x + self.post(sum(branch(r) for branch in self.branches))


def _down(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                         nn.LeakyReLU(0.2, inplace=True))


def _up(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2), nn.BatchNorm2d(out_ch),
                         nn.LeakyReLU(0.2, inplace=True))


class SimVP(RiceNet):
    arch = "simvp"

    def __init__(self, polarizations: Sequence[str] = ("VV", "VH"), steps: int = 13, width: int = 16,
                 depth: int = 2, translator_blocks: int = 4) -> None:
        super().__init__(polarizations, steps, 2 ** depth)
        hidden = 4 * width
        self.stem = conv_bn_relu(len(self.polarizations), width)
        self.down = nn.Sequential(*(_down(width, width) for _ in range(depth)))
        self.project = conv_bn_relu(steps * width, hidden, kernel=1)
        self.translator = nn.Sequential(*(InceptionBlock(hidden) for _ in range(translator_blocks)))
        self.skip = conv_bn_relu(steps * width, width, kernel=1)
        self.up = nn.Sequential(*(_up(hidden if i == 0 else width, width) for i in range(depth)))
        self.head = nn.Sequential(conv_bn_relu(2 * width, width), nn.Conv2d(width, 1, 1))

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        full = self.stem(fold_time(z))
        low = self.down(full)
        hidden = self.translator(self.project(time_into_channels(low, self.steps)))
        skip = self.skip(time_into_channels(full, self.steps))
        return self.head(torch.cat([self.up(hidden), skip], dim=1))
