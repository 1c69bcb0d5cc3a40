"""U-TAE baseline (Garnot & Landrieu, ICCV 2021, "Panoptic segmentation of satellite image time series
with convolutional temporal attention networks"), simplified.

A convolutional encoder shared by all dates; at the lowest resolution a Lightweight Temporal Attention
Encoder (L-TAE: per-pixel multi-head attention with one learned master query per head, keys from a linear
layer, values = the input channels split into head groups, sinusoidal positional encoding of the step
index) collapses time and yields attention masks ``(B, heads, T, h, w)``. The masks are bilinearly
upsampled and applied to every skip (each head weights its group of channels over time); a U-Net
decoder maps back to full resolution. Simplified: no padding mask, step index instead of day of year,
BatchNorm instead of GroupNorm, max pooling instead of strided convolutions.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from backend.nets.blocks import (
    ChannelLayerNorm,
    DoubleConv,
    RiceNet,
    UNetDecoder,
    fold_time,
    level_channels,
    run_stages,
    stage_chain,
    unfold_time,
)


def sinusoidal_positions(steps: int, dim: int, period: float = 1000.0) -> torch.Tensor:
    """Transformer positional encoding ``(steps, dim)``."""
    pos = torch.arange(steps, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(-math.log(period) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    enc = torch.zeros(steps, dim)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return enc


class LTAE(nn.Module):
    """Per-pixel lightweight temporal attention; returns the collapsed map and the attention masks.

    Written with 1x1 convolutions and channel-axis reductions instead of a per-pixel reshape, so the
    exported graph keeps batch, height and width dynamic.
    """

    def __init__(self, in_ch: int, out_ch: int, steps: int, n_head: int = 4, d_k: int = 4) -> None:
        super().__init__()
        self.n_head, self.d_k, self.steps = n_head, d_k, steps
        self.in_norm = ChannelLayerNorm(in_ch)
        self.register_buffer("positions", sinusoidal_positions(steps, in_ch).view(1, steps, in_ch, 1, 1))
        self.key = nn.Conv2d(in_ch, n_head * d_k, 1)
        self.query = nn.Parameter(torch.randn(1, 1, n_head, d_k, 1, 1) * d_k ** -0.5)
        self.out = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), ChannelLayerNorm(out_ch), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, T, C, h, w) -> (B, out_ch, h, w), masks (B, heads, T, h, w)``."""
        seq = unfold_time(self.in_norm(fold_time(x)), self.steps) + self.positions
        keys = unfold_time(self.key(fold_time(seq)), self.steps).unflatten(2, (self.n_head, self.d_k))
        attn = torch.softmax((keys * self.query).sum(3) / math.sqrt(self.d_k), dim=1)  # (B, T, heads, h, w)
        values = seq.unflatten(2, (self.n_head, -1))  # (B, T, heads, C/heads, h, w)
        pooled = (attn.unsqueeze(3) * values).sum(1).flatten(1, 2)
        return self.out(pooled), attn.transpose(1, 2)


def apply_masks(features: torch.Tensor, masks: torch.Tensor, scale: int) -> torch.Tensor:
    """Collapse ``features (B, T, C, H, W)`` with ``masks (B, heads, T, h, w)`` upsampled by ``scale``."""
    if scale > 1:
        masks = F.interpolate(masks.flatten(1, 2), scale_factor=scale, mode="bilinear",
                              align_corners=False).unflatten(1, (masks.shape[1], -1))
    grouped = features.unflatten(2, (masks.shape[1], -1))  # (B, T, heads, C/heads, H, W)
    weights = masks.transpose(1, 2).unsqueeze(3)  # (B, T, heads, 1, H, W)
    return (grouped * weights).sum(1).flatten(1, 2)


class UTAE(RiceNet):
    arch = "utae"

    def __init__(self, polarizations: Sequence[str] = ("VV", "VH"), steps: int = 13, width: int = 16,
                 depth: int = 3, n_head: int = 4, d_k: int = 4) -> None:
        super().__init__(polarizations, steps, 2 ** depth)
        if width % n_head:
            raise ValueError(f"width ({width}) must be a multiple of n_head ({n_head})")
        channels = level_channels(width, depth + 1)
        self.stages = stage_chain(DoubleConv, len(self.polarizations), channels)
        self.ltae = LTAE(channels[-1], channels[-1], steps, n_head, d_k)
        self.decoder = UNetDecoder(channels[:-1], channels[-1])

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        features = [unfold_time(f, self.steps) for f in run_stages(self.stages, fold_time(z))]
        bottom, masks = self.ltae(features[-1])
        depth = len(features) - 1
        skips = [apply_masks(f, masks, 2 ** (depth - i)) for i, f in enumerate(features[:-1])]
        return self.decoder(bottom, skips)
