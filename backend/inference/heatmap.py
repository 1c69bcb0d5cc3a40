"""Where the network looks when it calls rice: Grad-CAM for segmentation.

Method (Selvaraju et al. 2017, Grad-CAM; its segmentation form, Vinogradova et al. 2020): the score is
the sum of the rice logits over the pixels the model calls rice in the tile; the target features are the
coarsest output of a spatial (k > 1) 2-D convolution of the forward pass (the bottleneck of a U-Net-style encoder-decoder,
the latest one when several share that size). Channel weights are the spatial means of the score's
gradient, the map is ``ReLU(sum_k w_k A_k)``, averaged over time when time is folded into the batch,
bilinearly upsampled to the tile and divided by its maximum in the tile, so it lies in [0, 1]. A tile
without rice gets 0 everywhere. Tiles are then blended like probabilities.
"""

from __future__ import annotations

import math

import numpy as np


def _bottleneck(outputs: list) -> object | None:
    """The coarsest captured spatial feature map (not a 1x1 global-pool gate); the latest among equals."""
    best = None
    for out in outputs:
        if out.dim() == 4 and out.requires_grad and out.shape[-1] * out.shape[-2] > 1:
            if best is None or out.shape[-1] * out.shape[-2] <= best.shape[-1] * best.shape[-2]:
                best = out
    return best


class GradCam:
    """Grad-CAM heat maps of the rice class for a torch network returning logits (B, 1, H, W)."""

    def __init__(self, net, device: str = "cpu") -> None:
        import torch

        self.net, self.device = net, torch.device(device)
        # spatial convolutions only: 1x1 convolutions also serve as the FC layers of attention gates
        self.convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]

    def __call__(self, batch: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """(B, H, W) float32 in [0, 1] for input ``batch`` (B, T, C, H, W) in dB."""
        import torch

        captured: list = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out)) for m in self.convs]
        try:
            with torch.enable_grad():
                x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
                x.requires_grad_(not self.convs)
                logits = self.net(x)
                cut = math.log(threshold / (1 - threshold))
                mask = (logits.detach() >= cut).to(logits.dtype)
                target = _bottleneck(captured) if self.convs else x
                if target is None or not bool(mask.any()):
                    return np.zeros((batch.shape[0], *batch.shape[-2:]), np.float32)
                grads = torch.autograd.grad((logits * mask).sum(), target)[0]
        finally:
            for hook in hooks:
                hook.remove()
        return self._cam(target.detach(), grads, batch.shape[0], batch.shape[-2:])

    @staticmethod
    def _cam(features, grads, batch_size: int, size: tuple[int, int]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if features.dim() == 5:  # gradient w.r.t. the input itself: (B, T, C, H, W)
            cam = (grads * features.nan_to_num()).abs().sum(dim=(1, 2))
        else:
            per_sample = features.shape[0] // batch_size
            a = features.reshape(batch_size, per_sample, *features.shape[1:])
            g = grads.reshape(a.shape)
            weights = g.mean(dim=(-2, -1), keepdim=True)
            cam = torch.relu((weights * a).sum(dim=2)).mean(dim=1)
        cam = F.interpolate(cam[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
        peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
        return (cam / peak).clamp(0, 1).cpu().numpy().astype(np.float32)
