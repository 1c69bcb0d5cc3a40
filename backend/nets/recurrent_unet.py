"""Recurrent U-Net of the transfer-learning seed paper (rice mapping in South Korea, transferred abroad).

The same convolutions process every time step (time folded into the batch); at every encoder level the
output of the previous step, weighted by a learned 1x1 convolution (initialised to 0.5 x identity), is
added to the next step's features: ``h_t = f(x_t) + W h_{t-1}``. Skip connections and the bottleneck
take the temporal maximum of ``h_t``. Input: 8 steps of 20-day means of VH (C = 1) by default;
:func:`expand_first_layer` derives a VH|VV network from a trained VH one (the paper's Eq. 3).
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from backend.nets.blocks import (
    DEFAULT_NORMALIZATION,
    DoubleConv,
    Normalizer,
    RiceNet,
    UNetDecoder,
    check_polarizations,
    fold_time,
    level_channels,
    stage_chain,
    unfold_time,
)


class RecurrentStage(nn.Module):
    """Shared double conv over dates plus the weighted recurrence ``h_t = f_t + W h_{t-1}``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.block = DoubleConv(in_ch, out_ch)
        self.recur = nn.Conv2d(out_ch, out_ch, 1, bias=False)
        with torch.no_grad():
            self.recur.weight.copy_(0.5 * torch.eye(out_ch).view(out_ch, out_ch, 1, 1))

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """``(B*T, C_in, H, W) -> (B, T, C_out, H, W)``."""
        f = unfold_time(self.block(x), steps)
        states = [f[:, 0]]
        for t in range(1, steps):
            states.append(f[:, t] + self.recur(states[-1]))
        return torch.stack(states, dim=1)


class RecurrentUNet(RiceNet):
    arch = "recurrent_unet"

    def __init__(self, polarizations: Sequence[str] = ("VH",), steps: int = 8, width: int = 16,
                 depth: int = 4) -> None:
        super().__init__(polarizations, steps, 2 ** depth)
        self.fusion_scheme = "vh" if self.polarizations == ["VH"] else (
            "vv" if self.polarizations == ["VV"] else "data")
        channels = level_channels(width, depth + 1)
        self.stages = stage_chain(RecurrentStage, len(self.polarizations), channels)
        self.decoder = UNetDecoder(channels[:-1], channels[-1])

    @property
    def input_conv(self) -> nn.Conv2d:
        return self.stages[0].block[0][0]

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        maxima, x = [], fold_time(z)
        for i, stage in enumerate(self.stages):
            h = stage(x if i == 0 else F.max_pool2d(x, 2), self.steps)
            maxima.append(h.amax(dim=1))
            x = fold_time(h)
        return self.decoder(maxima[-1], maxima[:-1])


def expand_first_layer(net: RiceNet, n_inputs: int = 2, polarizations: Sequence[str] | None = None) -> RiceNet:
    """Copy of a single-polarization ``net`` that takes ``n_inputs`` polarizations (paper Eq. 3).

    The first layer's pretrained kernel is repeated over the new input channels and divided by
    ``n_inputs``, so identical normalized inputs give exactly the original first-layer output. The
    original polarization keeps its normalization; new ones start from :data:`DEFAULT_NORMALIZATION`
    (overwrite with ``set_normalization``). ``polarizations`` defaults to the original first, then the
    others in canonical order (VH -> ["VH", "VV"]).
    """
    conv = getattr(net, "input_conv", None)
    if not isinstance(conv, nn.Conv2d) or conv.in_channels != 1 or len(net.polarizations) != 1:
        raise ValueError("expand_first_layer needs a single-polarization network with an input_conv (Conv2d)")
    source = net.polarizations[0]
    if polarizations is None:
        polarizations = [source] + [p for p in DEFAULT_NORMALIZATION if p != source]
    new_pols = check_polarizations(polarizations)
    if len(new_pols) != n_inputs or source not in new_pols:
        raise ValueError(f"polarizations {new_pols} must have {n_inputs} entries including {source}")
    expanded = copy.deepcopy(net)
    new_conv = expanded.input_conv
    with torch.no_grad():
        new_conv.weight = nn.Parameter(conv.weight.repeat(1, n_inputs, 1, 1) / n_inputs)
    new_conv.in_channels = n_inputs
    stats = {p: dict(DEFAULT_NORMALIZATION[p]) for p in new_pols}
    stats.update(net.normalization())
    expanded.polarizations = new_pols
    expanded.norm = Normalizer(new_pols)
    expanded.norm.load_dict(stats)
    expanded.fusion_scheme = "data"
    expanded.arch_kwargs = {**net.arch_kwargs, "polarizations": new_pols}
    return expanded
