"""ConvLSTM baseline (Shi et al. 2015), one of the SimTA paper's baselines.

A per-date convolutional stem (shared over time), a ConvLSTM layer run over the dates at full
resolution, and a small convolutional head on the last hidden state. The LSTM cell is written with
plain convolutions and is unrolled over the fixed number of steps, so it exports to ONNX.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from backend.nets.blocks import DoubleConv, RiceNet, conv_bn_relu, fold_time, unfold_time


class ConvLSTMCell(nn.Module):
    """Gates ``i, f, o, g`` from one 3x3 convolution of ``[x, h]``."""

    def __init__(self, in_ch: int, hidden: int) -> None:
        super().__init__()
        self.gates = nn.Conv2d(in_ch + hidden, 4 * hidden, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMNet(RiceNet):
    arch = "convlstm"

    def __init__(self, polarizations: Sequence[str] = ("VV", "VH"), steps: int = 13, width: int = 16) -> None:
        super().__init__(polarizations, steps, 1)
        self.stem = DoubleConv(len(self.polarizations), width)
        self.cell = ConvLSTMCell(width, width)
        self.head = nn.Sequential(conv_bn_relu(width, width), nn.Conv2d(width, 1, 1))

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        feats = unfold_time(self.stem(fold_time(z)), self.steps)
        h = feats[:, 0] * 0  # zeros_like would be frozen to the export shape by the ONNX tracer
        c = h
        for t in range(self.steps):
            h, c = self.cell(feats[:, t], h, c)
        return self.head(h)
