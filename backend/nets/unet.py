"""Data-level U-Net baseline (Ronneberger et al. 2015): dates and polarizations stacked as channels.

The SimTA paper's simplest baseline. Input ``(B, T, C, H, W)`` becomes ``(B, T*C, H, W)``, so a network is
built for a fixed number of steps.
"""

from __future__ import annotations

from typing import Sequence

import torch

from backend.nets.blocks import DoubleConv, RiceNet, UNetDecoder, level_channels, run_stages, stage_chain


class UNet(RiceNet):
    arch = "unet"

    def __init__(self, polarizations: Sequence[str] = ("VV", "VH"), steps: int = 13, width: int = 16,
                 depth: int = 4) -> None:
        super().__init__(polarizations, steps, 2 ** depth)
        channels = level_channels(width, depth + 1)
        self.stages = stage_chain(DoubleConv, steps * len(self.polarizations), channels)
        self.decoder = UNetDecoder(channels[:-1], channels[-1])

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        features = run_stages(self.stages, z.flatten(1, 2))
        return self.decoder(features[-1], features[:-1])
