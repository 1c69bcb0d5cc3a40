"""Feature-fusion methods that merge a VV feature map ``x`` and a VH feature map ``y`` of equal shape.

Each module maps two ``(N, C, H, W)`` tensors to one ``(N, C, H, W)`` tensor. Sources (equations taken
from the papers, code written here):

* ``add``: ``x + y``.
* ``concat``: concatenation then a 1x1 convolution back to C channels.
* ``aff``: Attentional Feature Fusion (Dai et al., WACV 2021). MS-CAM on ``x + y`` gives
  ``M = sigmoid(L(x+y) + G(x+y))`` (local pointwise bottleneck + global pooled bottleneck);
  ``out = M*x + (1-M)*y``.
* ``dff``: Dynamic Feature Fusion of D-Net (Yang et al., 2024, "D-Net: Dynamic large kernel with dynamic
  feature fusion for volumetric medical image segmentation"), in 2-D: channel gate from the pooled
  concatenation, 1x1 reduction, then a spatial gate ``sigmoid(conv1x1(x) + conv1x1(y))``.
* ``cga``: Content-Guided Attention fusion of DEA-Net (Chen et al., IEEE TIP 2024): channel attention plus
  spatial attention of ``x + y``, refined by pixel attention with ``x + y`` into a per-pixel per-channel
  weight ``W``; ``out = conv1x1(x + y + W*x + (1-W)*y)``. Zero padding replaces DEA-Net's reflect padding,
  which fails on the 2x2 maps at the bottom of a deep encoder on small tiles.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

FUSION_METHODS = ("add", "concat", "aff", "dff", "cga")


class AddFusion(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class ConcatFusion(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(2 * channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([x, y], dim=1))


def _pointwise_bottleneck(channels: int, reduction: int) -> list[nn.Module]:
    hidden = max(channels // reduction, 4)
    return [nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1), nn.BatchNorm2d(channels)]


class AFFusion(nn.Module):
    """Attentional Feature Fusion with the multi-scale channel attention module (MS-CAM)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.local_att = nn.Sequential(*_pointwise_bottleneck(channels, reduction))
        self.global_att = nn.Sequential(nn.AdaptiveAvgPool2d(1), *_pointwise_bottleneck(channels, reduction))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = x + y
        m = torch.sigmoid(self.local_att(s) + self.global_att(s))
        return m * x + (1 - m) * y


class DFFusion(nn.Module):
    """D-Net dynamic feature fusion: channel gate on the concatenation, reduction, spatial gate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channel_gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2 * channels, 2 * channels, 1),
                                          nn.Sigmoid())
        self.reduce = nn.Conv2d(2 * channels, channels, 1)
        self.spatial_x = nn.Conv2d(channels, 1, 1)
        self.spatial_y = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        both = torch.cat([x, y], dim=1)
        fused = self.reduce(both * self.channel_gate(both))
        return fused * torch.sigmoid(self.spatial_x(x) + self.spatial_y(y))


class CGAFusion(nn.Module):
    """DEA-Net content-guided attention fusion."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.channel_att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1),
                                         nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))
        self.spatial_att = nn.Conv2d(2, 1, 7, padding=3)
        # pixel attention: each channel sees itself and its coarse attention (groups = channels)
        # DEA-Net's pixel attention is a 7x7 conv with groups=channels over [s_c, coarse_c] pairs; the
        # same function written as two depthwise convs summed trains ~2.5x faster on CPU.
        self.pixel_att_s = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.pixel_att_coarse = nn.Conv2d(channels, channels, 7, padding=3, groups=channels, bias=False)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = x + y
        pooled = torch.cat([s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)], dim=1)
        coarse = self.channel_att(s) + self.spatial_att(pooled)
        w = torch.sigmoid(self.pixel_att_s(s) + self.pixel_att_coarse(coarse.expand_as(s)))
        return self.project(s + w * x + (1 - w) * y)

    @torch.no_grad()
    def inference_form(self) -> nn.Module:
        """The same function without the 2 -> 1 channel 7x7 convolution and the broadcast (for export).

        ``spatial_att`` has one output channel, which ONNX Runtime runs as an im2col matrix product
        (7 % of the default model's kernel time at 256²), and its broadcast to all channels needs a layout
        reorder. Repeating its kernel for every channel gives the broadcast map directly, from a convolution
        that runs in ONNX Runtime's blocked layout: every output channel is the same sum, so the result is
        equal to the original (tested to 1e-5 through the exported graph).
        """
        return DeployedCGA(self)


class DeployedCGA(nn.Module):
    """:class:`CGAFusion` with the spatial attention computed once per channel (see its inference form).

    In an ONNX export the complementary weight ``1 - w`` also comes from negated copies of the
    pixel-attention convolutions (``sigmoid(-a) = 1 - sigmoid(a)``), so ONNX Runtime keeps the fusion in its
    blocked layout; eager PyTorch subtracts instead.
    """

    def __init__(self, cga: CGAFusion) -> None:
        super().__init__()
        channels = cga.project.in_channels
        kernel = cga.spatial_att.kernel_size
        self.channel_att, self.pixel_att_s = cga.channel_att, cga.pixel_att_s
        self.pixel_att_coarse, self.project = cga.pixel_att_coarse, cga.project
        self.spatial_att = nn.Conv2d(2, channels, kernel, padding=cga.spatial_att.padding)
        self.spatial_att.weight.copy_(cga.spatial_att.weight.expand(channels, -1, -1, -1))
        self.spatial_att.bias.copy_(cga.spatial_att.bias.expand(channels))
        # 1 - sigmoid(a) = sigmoid(-a): the complementary weight from negated convolutions, because ONNX
        # Runtime's blocked layout has Add and Mul of equal shapes but no Sub (nor a scalar's broadcast)
        self.pixel_neg_s, self.pixel_neg_coarse = _negated(cga.pixel_att_s), _negated(cga.pixel_att_coarse)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = x + y
        pooled = torch.cat([s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)], dim=1)
        coarse = self.spatial_att(pooled) + self.channel_att(s)
        w = torch.sigmoid(self.pixel_att_s(s) + self.pixel_att_coarse(coarse))
        if torch.onnx.is_in_onnx_export():  # 1 - w without a Sub; eager PyTorch skips the two convolutions
            w_other = torch.sigmoid(self.pixel_neg_s(s) + self.pixel_neg_coarse(coarse))
        else:
            w_other = 1 - w
        return self.project(s + w * x + w_other * y)


@torch.no_grad()
def _negated(conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of ``conv`` computing ``-conv(x)``."""
    negated = copy.deepcopy(conv)
    negated.weight.neg_()
    if negated.bias is not None:
        negated.bias.neg_()
    return negated


_METHODS: dict[str, type[nn.Module]] = {"add": AddFusion, "concat": ConcatFusion, "aff": AFFusion,
                                        "dff": DFFusion, "cga": CGAFusion}


def build_fusion(method: str, channels: int) -> nn.Module:
    """Fusion module by name (one of :data:`FUSION_METHODS`)."""
    if method not in _METHODS:
        raise ValueError(f"unknown fusion_method {method!r}; choose one of {', '.join(FUSION_METHODS)}")
    return _METHODS[method](channels)
