"""A forward-only heat map of the rice class, computed inside the exported graph.

Grad-CAM (Selvaraju et al. 2017) in its segmentation form (Vinogradova et al. 2020) needs the gradient of
the score ``S = sum(mask * logit)`` (``mask``: the pixels called rice) with respect to target features
``A``. For the target chosen here, the input of the network's last conv-BN-ReLU block, whose output goes
straight through the 1x1 head, that gradient has a closed form, so no backward pass is needed:

    logit = w . R + b,  R = ReLU(P),  P = s * conv(A) + t   (BatchNorm as scale s and shift t)
    dS/dP_k = w_k * s_k * mask * [P_k > 0]
    dS/dA   = conv_transpose(dS/dP, W)                      (the adjoint of the 3x3 convolution)

Channel weights are the spatial means of ``dS/dA``, the map is ``ReLU(sum_c alpha_c A_c)`` divided by its
maximum in the tile (so it lies in [0, 1]); a tile without rice gets 0. All of it is a few convolutions
and reductions at full resolution, about one extra layer of the decoder, instead of PyTorch's eager
forward plus a backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: A logit threshold ``log(t / (1 - t))`` of the default probability threshold 0.5.
DEFAULT_LOGIT_THRESHOLD = 0.0


def cam_layers(net: nn.Module) -> tuple[nn.Sequential, nn.Conv2d] | None:
    """(last conv-BN-ReLU block, 1x1 head) of a network whose logits are ``head(block(A))``, else None.

    Covers the U-Net decoder (SimTA, U-Net, recurrent U-Net, U-TAE) and the ``Sequential(conv_bn_relu,
    Conv2d)`` heads (SimVP, ConvLSTM). Decision-level fusion mixes two heads and has no such layer.
    """
    decoder = getattr(net, "decoder", None)
    if decoder is not None and hasattr(decoder, "ups") and hasattr(decoder, "head"):
        block, head = decoder.ups[-1].conv[-1], decoder.head
    elif isinstance(getattr(net, "head", None), nn.Sequential) and len(net.head) == 2:
        block, head = net.head[0], net.head[1]
    else:
        return None
    if not (_is_conv_bn_relu(block) and isinstance(head, nn.Conv2d) and head.out_channels == 1
            and head.kernel_size == (1, 1)):
        return None
    return block, head


def _is_conv_bn_relu(block: nn.Module) -> bool:
    return (isinstance(block, nn.Sequential) and len(block) == 3 and isinstance(block[0], nn.Conv2d)
            and isinstance(block[1], nn.BatchNorm2d) and isinstance(block[2], nn.ReLU)
            and block[0].groups == 1 and block[0].stride == (1, 1) and block[0].dilation == (1, 1))


def analytic_cam(features: torch.Tensor, activated: torch.Tensor, block: nn.Sequential, head: nn.Conv2d,
                 logits: torch.Tensor, logit_threshold: torch.Tensor) -> torch.Tensor:
    """Grad-CAM of the rice class at ``features`` (the input of ``block``), without autograd.

    Args:
        features: ``(B, C, H, W)`` input of the last conv-BN-ReLU block.
        activated: the block's output ``R``, so that ``[P > 0] = [R > 0]`` costs no second convolution.
        block: that block (eval mode).
        head: the 1x1 convolution giving the logits from the block's output.
        logits: ``(B, 1, H, W)`` the network's logits (define the rice mask).
        logit_threshold: scalar tensor, pixels with ``logit >= logit_threshold`` are rice.

    Returns:
        ``(B, 1, H, W)`` heat map in [0, 1], zero for a sample without rice.
    """
    conv, bn = block[0], block[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    mask = (logits >= logit_threshold).to(features.dtype)
    head_w = head.weight.view(1, -1, 1, 1)
    grad_pre = mask * (activated > 0).to(features.dtype) * (head_w * scale.view(1, -1, 1, 1))
    grad_features = F.conv_transpose2d(grad_pre, conv.weight, padding=conv.padding)
    alpha = grad_features.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((alpha * features).sum(dim=1, keepdim=True))
    peak = cam.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    return cam / peak


class ProbabilityAndHeatmap(nn.Module):
    """What the exported graph computes: rice probability and the analytic heat map, one forward pass.

    ``forward(x, logit_threshold)`` returns ``(probability, heatmap)``, both ``(B, 1, H, W)``.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        layers = cam_layers(net)
        if layers is None:
            raise ValueError(f"{type(net).__name__} has no conv-BN-ReLU block feeding a 1x1 head")
        self.net = net
        self.block, self.head = layers
        self._captured: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.block.register_forward_hook(self._capture)

    def _capture(self, _module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self._captured.append((inputs[0], output))

    def forward(self, x: torch.Tensor, logit_threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._captured.clear()
        logits = self.net(x)
        if len(self._captured) != 1:
            raise RuntimeError(f"the heat-map block ran {len(self._captured)} times in one forward pass")
        features, activated = self._captured.pop()
        heat = analytic_cam(features, activated, self.block, self.head, logits, logit_threshold)
        return torch.sigmoid(logits), heat
