"""Data-level U-Net baseline (Ronneberger et al. 2015): dates and polarizations stacked as channels.

The SimTA paper's simplest baseline. Input ``(B, T, C, H, W)`` becomes ``(B, T*C, H, W)``, so a network is
built for a fixed number of steps.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from backend.nets.blocks import DoubleConv, RiceNet, UNetDecoder, level_channels


class UNet(RiceNet):
    arch = "unet"

    def __init__(self, polarizations: Sequence[str] = ("VV", "VH"), steps: int = 13, width: int = 16,
                 depth: int = 4) -> None:
        super().__init__(polarizations, steps, 2 ** depth)
        channels = level_channels(width, depth + 1)
        stages, prev = [], steps * len(self.polarizations)
        for ch in channels:
            stages.append(DoubleConv(prev, ch))
            prev = ch
        self.stages = nn.ModuleList(stages)
        self.decoder = UNetDecoder(channels[:-1], channels[-1])

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        x, features = z.flatten(1, 2), []
        for i, stage in enumerate(self.stages):
            x = stage(x if i == 0 else F.max_pool2d(x, 2))
            features.append(x)
        return self.decoder(features[-1], features[:-1])
