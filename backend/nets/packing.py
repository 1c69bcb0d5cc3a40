"""Feature-fusion SimTA's first level with both polarizations in one tensor, for inference.

In feature fusion the VV and VH encoders each run their full-resolution stage on ``C`` channels (8 in the
default model). ONNX Runtime's CPU convolutions use a blocked layout of 16 channels on AVX-512 machines
(8 on AVX2): an 8-channel map fills half a block, and because a convolution cannot take a half-filled
block as input, every 8-channel convolution's output is reordered back to the plain layout for the next
one. At 272² tiles those reorders and the elementwise glue of the first CGA fusion took about a third of
the default model's kernel time (docs/mapping.md).

:class:`PackedFirstLevel` computes the same functions with the two branches side by side in ``2C``
channels: ``p = [x; y]`` with x the VV and y the VH branch. Its convolutions are block-diagonal (zero
weights between the branches), so each output is the original branch's, and the first CGA fusion is
rewritten on ``p`` with its linear parts folded into convolutions:
``project(s + w*x + (1-w)*y) = (P A) p + (P B) (w p)`` with ``A = [I 2I]`` and ``B = [I -I]``, because
``s + w*x + (1-w)*y = x + 2y + w*(x - y)`` for ``s = x + y``. Only the rounding differs from the
network's own form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from backend.nets.blocks import gate_channels
from backend.nets.fusion import DeployedCGA


@torch.no_grad()
def folded_conv(block: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of a ``Sequential(conv, BatchNorm, ReLU)`` with the BatchNorm folded into the conv."""
    conv, bn = block[0], block[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return conv.weight * scale.view(-1, 1, 1, 1), (bias - bn.running_mean) * scale + bn.bias


def block_diagonal(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """A conv weight ``(O1+O2, I1+I2, k, k)`` applying ``first`` to the first inputs and ``second`` to the rest."""
    out1, in1, kh, kw = first.shape
    out2, in2 = second.shape[:2]
    weight = first.new_zeros(out1 + out2, in1 + in2, kh, kw)
    weight[:out1, :in1] = first
    weight[out1:, in1:] = second
    return weight


def conv_from(weight: torch.Tensor, bias: torch.Tensor | None, groups: int = 1) -> nn.Conv2d:
    """A ``Conv2d`` (same padding) holding ``weight`` and ``bias``."""
    out_ch, in_per_group, kh, _ = weight.shape
    conv = nn.Conv2d(in_per_group * groups, out_ch, kh, padding=kh // 2, groups=groups, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    if conv.bias is None:
        raise ValueError(f"{conv} has no bias to pack")
    return conv.bias


def _packed_conv_relu(vv: nn.Sequential, vh: nn.Sequential) -> nn.Sequential:
    (w_vv, b_vv), (w_vh, b_vh) = folded_conv(vv), folded_conv(vh)
    return nn.Sequential(conv_from(block_diagonal(w_vv, w_vh), torch.cat([b_vv, b_vh])), nn.ReLU())


class _PackedSqueezeExcite(nn.Module):
    """Two :class:`~backend.nets.blocks.SqueezeExcite` gates side by side (block-diagonal 1x1 convs)."""

    def __init__(self, vv: nn.Module, vh: nn.Module) -> None:
        super().__init__()
        reduce_vv, expand_vv = vv.gate[1], vv.gate[3]
        reduce_vh, expand_vh = vh.gate[1], vh.gate[3]
        self.reduce = conv_from(block_diagonal(reduce_vv.weight, reduce_vh.weight),
                                torch.cat([reduce_vv.bias, reduce_vh.bias]))
        self.expand = conv_from(block_diagonal(expand_vv.weight, expand_vh.weight),
                                torch.cat([expand_vv.bias, expand_vh.bias]))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(p, 1)))))
        return gate_channels(p, gate)


class _PackedCGA(nn.Module):
    """The inference form of :class:`~backend.nets.fusion.CGAFusion` on ``p = [x; y]``.

    The attention maps are computed in ``2C`` channels, twice over (both halves equal): ONNX Runtime pads a
    ``C``-channel map to the same block anyway, and this way no convolution's output leaves the blocked
    layout.
    """

    def __init__(self, deployed_cga: DeployedCGA, channels: int) -> None:
        super().__init__()
        eye = torch.eye(channels).view(channels, channels, 1, 1)
        both = torch.cat([eye, eye], dim=1)
        self.sum_twice = conv_from(torch.cat([both, both]), None)          # [s; s]
        spatial = deployed_cga.spatial_att
        self.spatial = conv_from(torch.cat([spatial.weight, spatial.weight]), torch.cat([_bias(spatial)] * 2))
        reduce, expand = deployed_cga.channel_att[1], deployed_cga.channel_att[3]
        assert isinstance(reduce, nn.Conv2d) and isinstance(expand, nn.Conv2d)
        self.channel_reduce = conv_from(torch.cat([reduce.weight, torch.zeros_like(reduce.weight)], dim=1),
                                        reduce.bias)
        self.channel_expand = conv_from(torch.cat([expand.weight] * 2), torch.cat([_bias(expand)] * 2))
        pixel_s, pixel_coarse = deployed_cga.pixel_att_s, deployed_cga.pixel_att_coarse
        self.pixel_s = conv_from(torch.cat([pixel_s.weight] * 2), torch.cat([_bias(pixel_s)] * 2), 2 * channels)
        self.pixel_coarse = conv_from(torch.cat([pixel_coarse.weight] * 2), None, 2 * channels)
        project = deployed_cga.project.weight
        self.project_p = conv_from(torch.cat([project, 2 * project], dim=1), deployed_cga.project.bias)
        self.project_wp = conv_from(torch.cat([project, -project], dim=1), None)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        s = self.sum_twice(p)
        pooled = torch.cat([s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)], dim=1)
        channel = self.channel_expand(F.relu(self.channel_reduce(F.adaptive_avg_pool2d(s, 1))))
        coarse = self.spatial(pooled) + channel
        w = torch.sigmoid(self.pixel_s(s) + self.pixel_coarse(coarse))
        return self.project_p(p) + self.project_wp(w * p)


class PackedFirstLevel(nn.Module):
    """Both branches' full-resolution CDCSE stage and the first fusion, on ``(N*T, 2, H, W)``.

    Returns the fused first-level map (the first skip) and the 2x2 max-pooled packed map that the two
    branches' second stages read (each through :func:`widened_input`).
    """

    def __init__(self, vv_stage: nn.Module, vh_stage: nn.Module, fuser: DeployedCGA, channels: int) -> None:
        super().__init__()
        self.conv_a = _packed_conv_relu(vv_stage[0], vh_stage[0])
        self.conv_b = _packed_conv_relu(vv_stage[1], vh_stage[1])
        self.excite = _PackedSqueezeExcite(vv_stage[2], vh_stage[2])
        self.fuse = _PackedCGA(fuser, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.excite(self.conv_b(self.conv_a(x)))
        return self.fuse(p), F.max_pool2d(p, 2)


@torch.no_grad()
def widened_input(block: nn.Sequential, half: int) -> nn.Sequential:
    """``block`` (conv, BN, ReLU) reading one half of a packed ``2C``-channel map (zero weights for the other)."""
    weight, bias = folded_conv(block)
    zeros = torch.zeros_like(weight)
    halves = [weight, zeros] if half == 0 else [zeros, weight]
    return nn.Sequential(conv_from(torch.cat(halves, dim=1), bias), nn.ReLU())
