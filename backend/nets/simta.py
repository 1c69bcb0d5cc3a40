"""SimTA: U-Net-style encoder-decoder for dual-polarization SAR time series (seed paper
"SimTA: a dual-polarization SAR time series rice mapping model ...").

Encoder: time folded into the batch ``(B*T, C, H, W)``; every stage is a CDCSE block (adaptive mix of a
3x3 convolution and a central difference convolution, Yu et al. CVPR 2020, theta = 0.7, then BN+ReLU and
squeeze-excitation). Bottleneck: a TSA block on ``(B, T*C, h, w)`` (spatial static attention from a
large-kernel depthwise convolution with a small parallel kernel as in RepLK, times temporal dynamic
attention from squeeze-excitation over the T*C channels as in SimVP/TAU, followed by a ConvNeXt block).
Decoder: time is collapsed at every skip by reshaping T*C into channels and a 1x1 convolution (so a
network is built for a fixed number of steps), then transposed-conv upsampling to full resolution.

Fusion schemes (``fusion=``): ``vv`` / ``vh`` (one polarization), ``data`` (both at the input),
``feature`` (one encoder per polarization, fused at every stage with ``fusion_method``; the fused maps
are the skips and the bottleneck), ``decision`` (:class:`DecisionFusion` of a VV and a VH network).
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from backend.nets.blocks import (
    ConvNeXtBlock,
    RiceNet,
    SqueezeExcite,
    UNetDecoder,
    conv_bn_relu,
    fold_time,
    gate_channels,
    level_channels,
    run_stages,
    stage_chain,
    time_into_channels,
)
from backend.nets.fusion import FUSION_METHODS, build_fusion
from backend.nets.packing import PackedFirstLevel, widened_input

FUSION_SCHEMES = ("vv", "vh", "data", "feature", "decision")
CDC_THETA = 0.7
#: Base channels that bring feature-level CGA SimTA near the paper's 8.9 M parameters (docs/models.md).
FULL_WIDTH = 14


class CentralDifferenceConv(nn.Conv2d):
    """``conv(x) - theta * (sum of kernel weights) * x_center`` (Yu et al. 2020, Eq. 4)."""

    def __init__(self, in_ch: int, out_ch: int, theta: float = CDC_THETA) -> None:
        super().__init__(in_ch, out_ch, 3, padding=1, bias=False)
        self.theta = theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        center_kernel = self.weight.sum(dim=(2, 3), keepdim=True)
        return self._conv_forward(x, self.weight, None) - self.theta * F.conv2d(x, center_kernel)


class AdaptiveCDConv(nn.Module):
    """Vanilla and central-difference 3x3 convolutions mixed by softmax-normalized learned weights."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.vanilla = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.central = CentralDifferenceConv(in_ch, out_ch)
        self.mix_logits = nn.Parameter(torch.zeros(2))
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.mix_logits, dim=0)
        return F.relu(self.bn(w[0] * self.vanilla(x) + w[1] * self.central(x)))

    @torch.no_grad()
    def inference_form(self) -> nn.Module:
        """One 3x3 convolution computing exactly what the three convolutions compute.

        Everything before the BatchNorm is linear in ``x``: ``w0*Wv*x + w1*(Wc*x - theta*sum(Wc)*x_c)``
        equals a single convolution with kernel ``w0*Wv + w1*Wc`` whose centre tap is lowered by
        ``w1*theta*sum(Wc)``. Used for ONNX export: a third of the convolutions and their
        elementwise glue at full resolution (the same idea as RepVGG's re-parameterisation).
        """
        w = torch.softmax(self.mix_logits, dim=0)
        kernel = w[0] * self.vanilla.weight + w[1] * self.central.weight
        kernel[:, :, 1, 1] -= w[1] * self.central.theta * self.central.weight.sum(dim=(2, 3))
        conv = nn.Conv2d(self.vanilla.in_channels, self.vanilla.out_channels, 3, padding=1, bias=False)
        conv.weight.copy_(kernel)
        return nn.Sequential(conv, copy.deepcopy(self.bn), nn.ReLU())


class CDCSEBlock(nn.Sequential):
    """Two adaptive CDC convolutions then squeeze-excitation channel attention."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(AdaptiveCDConv(in_ch, out_ch), AdaptiveCDConv(out_ch, out_ch), SqueezeExcite(out_ch))


class TSABlock(nn.Module):
    """Temporal-spatial attention on ``(B, T*C, h, w)``, projected to ``out_ch`` channels."""

    def __init__(self, steps: int, channels: int, out_ch: int, large_kernel: int = 13) -> None:
        super().__init__()
        tc = steps * channels
        self.dw_large = nn.Conv2d(tc, tc, large_kernel, padding=large_kernel // 2, groups=tc)
        self.dw_small = nn.Conv2d(tc, tc, 3, padding=1, groups=tc)
        self.mix = nn.Conv2d(tc, tc, 1, groups=steps)  # pointwise mixing within each date
        self.temporal = SqueezeExcite(tc, reduction=16)
        self.project = conv_bn_relu(tc, out_ch, kernel=1)
        self.refine = ConvNeXtBlock(out_ch)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        spatial = self.mix(self.dw_large(z) + self.dw_small(z))
        temporal = self.temporal.attention(z)
        z = z + gate_channels(spatial, temporal) * z
        return self.refine(self.project(z))


class SimTAEncoder(nn.Module):
    """CDCSE stages on time-folded input; returns one ``(B*T, C_i, H_i, W_i)`` map per stage."""

    def __init__(self, in_ch: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.stages = stage_chain(CDCSEBlock, in_ch, channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return run_stages(self.stages, x)


class SimTA(RiceNet):
    """SimTA with a single-polarization, data-level or feature-level fusion scheme."""

    arch = "simta"

    def __init__(self, fusion: str = "data", fusion_method: str = "cga", steps: int = 13,
                 width: int = FULL_WIDTH, depth: int = 4, large_kernel: int = 13) -> None:
        if fusion not in ("vv", "vh", "data", "feature"):
            raise ValueError(f"SimTA fusion must be one of {FUSION_SCHEMES}, got {fusion!r} "
                             "(decision-level is DecisionFusion)")
        pols = [fusion.upper()] if fusion in ("vv", "vh") else ["VV", "VH"]
        super().__init__(pols, steps, 2 ** depth)
        self.fusion_scheme = fusion
        self.fusion_method = fusion_method if fusion == "feature" else None
        channels = level_channels(width, depth + 1)
        branches = 2 if fusion == "feature" else 1
        in_ch = len(pols) // branches
        self.encoders = nn.ModuleList(SimTAEncoder(in_ch, channels) for _ in range(branches))
        if fusion == "feature":
            if fusion_method not in FUSION_METHODS:
                raise ValueError(f"unknown fusion_method {fusion_method!r}; choose one of {FUSION_METHODS}")
            self.fusers = nn.ModuleList(build_fusion(fusion_method, ch) for ch in channels)
        self.collapse = nn.ModuleList(conv_bn_relu(steps * ch, ch, kernel=1) for ch in channels[:-1])
        self.tsa = TSABlock(steps, channels[-1], channels[-1], large_kernel)
        self.decoder = UNetDecoder(channels[:-1], channels[-1])
        self.packed_first: PackedFirstLevel | None = None

    @torch.no_grad()
    def pack_for_inference(self) -> None:
        """Run both branches' first level in one tensor (:mod:`backend.nets.packing`); same function.

        Called by :func:`backend.nets.blocks.inference_form` once the blocks are folded; only CGA feature
        fusion has a packed form. The second stages then read their half of the pooled packed map.
        """
        if self.fusion_scheme != "feature" or self.fusion_method != "cga" or self.packed_first is not None:
            return
        vv_stages, vh_stages = (encoder.stages for encoder in self.encoders)
        channels = self.fusers[0].project.in_channels
        self.packed_first = PackedFirstLevel(vv_stages[0], vh_stages[0], self.fusers[0], channels)
        for half, stages in enumerate((vv_stages, vh_stages)):
            stages[1][0] = widened_input(stages[1][0], half)
            stages[0] = nn.Identity()  # now inside packed_first
        self.fusers[0] = nn.Identity()

    def encode(self, z: torch.Tensor) -> list[torch.Tensor]:
        if self.fusion_scheme != "feature":
            return self.encoders[0](fold_time(z))
        if self.packed_first is not None:
            return self._encode_packed(z)
        per_vv = self.encoders[0](fold_time(z[:, :, 0:1]))
        per_vh = self.encoders[1](fold_time(z[:, :, 1:2]))
        return [fuse(a, b) for fuse, a, b in zip(self.fusers, per_vv, per_vh)]

    def _encode_packed(self, z: torch.Tensor) -> list[torch.Tensor]:
        assert self.packed_first is not None
        first, pooled = self.packed_first(fold_time(z))
        per_vv, per_vh = (run_stages(encoder.stages[1:], pooled) for encoder in self.encoders)
        return [first] + [fuse(a, b) for fuse, a, b in zip(self.fusers[1:], per_vv, per_vh)]

    def forward_normalized(self, z: torch.Tensor) -> torch.Tensor:
        features = self.encode(z)
        skips = [collapse(time_into_channels(f, self.steps)) for collapse, f in zip(self.collapse, features)]
        bottom = self.tsa(time_into_channels(features[-1], self.steps))
        return self.decoder(bottom, skips)


class DecisionFusion(RiceNet):
    """Weighted sum of a VV network's and a VH network's logits: ``w*vv + (1-w)*vh``.

    ``weight=None`` learns ``w`` (a sigmoid-squashed scalar starting at 0.5); a number fixes it.
    Each branch keeps its own normalizer, so two separately trained single-pol models can be combined.
    """

    def __init__(self, vv_net: RiceNet, vh_net: RiceNet, weight: float | None = None) -> None:
        if vv_net.polarizations != ["VV"] or vh_net.polarizations != ["VH"]:
            raise ValueError("DecisionFusion needs a VV-only and a VH-only network")
        if vv_net.steps != vh_net.steps:
            raise ValueError(f"branch steps differ: VV {vv_net.steps}, VH {vh_net.steps}")
        super().__init__(["VV", "VH"], vv_net.steps, max(vv_net.size_multiple, vh_net.size_multiple))
        del self.norm  # each branch normalizes its own polarization
        self.arch = vv_net.arch
        self.fusion_scheme = "decision"
        self.vv, self.vh = vv_net, vh_net
        if weight is None:
            self.weight_logit = nn.Parameter(torch.zeros(1))
        else:
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"decision weight must be in [0, 1], got {weight}")
            self.register_buffer("weight_logit", torch.logit(torch.tensor([float(weight)]), eps=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.weight_logit)
        return w * self.vv(x[:, :, 0:1]) + (1 - w) * self.vh(x[:, :, 1:2])

    def normalization(self) -> dict[str, dict[str, float]]:
        return {**self.vv.normalization(), **self.vh.normalization()}

    def set_normalization(self, stats: dict[str, dict[str, float]]) -> None:
        self.vv.set_normalization(stats)
        self.vh.set_normalization(stats)


def build_simta(fusion: str = "data", fusion_method: str = "cga", steps: int = 13, width: int = FULL_WIDTH,
                depth: int = 4, large_kernel: int = 13,
                decision_weight: float | None = None) -> RiceNet:
    """SimTA for any of the five fusion schemes (``fusion_method`` only matters for ``feature``)."""
    if fusion == "decision":
        branch = dict(steps=steps, width=width, depth=depth, large_kernel=large_kernel)
        return DecisionFusion(SimTA("vv", **branch), SimTA("vh", **branch), decision_weight)
    return SimTA(fusion, fusion_method, steps, width, depth, large_kernel)
