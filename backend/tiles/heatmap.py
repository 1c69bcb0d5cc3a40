"""Where the network looks when it calls rice: Grad-CAM for segmentation.

Method (Selvaraju et al. 2017, Grad-CAM; its segmentation form, Vinogradova et al. 2020): the score is
the sum of the rice logits over the pixels the model calls rice in the tile; the target features are the
coarsest output of a spatial (k > 1) 2-D convolution in the forward pass (the bottleneck of a U-Net-style
encoder-decoder; the latest call among equals). Channel weights are the spatial means of the score's
gradient, the map is ``ReLU(sum_k w_k A_k)``, averaged over time when time is folded into the batch,
bilinearly upsampled to the tile and divided by its maximum in the tile, so it lies in [0, 1]. A tile
without rice gets 0 everywhere. Tiles are then blended like probabilities.

Cost: the bottleneck is found once per tile size with a gradient-free pass; afterwards the weights are
frozen and the autograd graph starts at the bottleneck, so only the decoder is differentiated and the
encoder's activations are never kept (memory stays near that of plain inference).
"""

from __future__ import annotations

import math

import numpy as np


class GradCam:
    """Grad-CAM heat maps of the rice class for a torch network returning logits (B, 1, H, W)."""

    def __init__(self, net, device: str = "cpu") -> None:
        import torch

        self.net, self.device = net, torch.device(device)
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        # spatial convolutions only: 1x1 convolutions also serve as the FC layers of attention gates
        self.convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
        self._targets: dict[tuple, tuple[int, int]] = {}

    def _find_target(self, x) -> tuple[int, int] | None:
        """(conv index, call number) of the coarsest spatial feature map for inputs shaped like ``x``."""
        import torch

        calls: list[tuple[int, int, int]] = []  # (area, conv index, call number)
        counts = [0] * len(self.convs)

        def record(index: int):
            def hook(_module, _inputs, out):
                if out.dim() == 4 and out.shape[-1] * out.shape[-2] > 1:
                    calls.append((out.shape[-1] * out.shape[-2], index, counts[index]))
                counts[index] += 1
            return hook

        hooks = [m.register_forward_hook(record(i)) for i, m in enumerate(self.convs)]
        try:
            with torch.no_grad():
                self.net(x[:1])
        finally:
            for hook in hooks:
                hook.remove()
        if not calls:
            return None
        smallest = min(area for area, _, _ in calls)
        _, index, call = [c for c in calls if c[0] == smallest][-1]
        return index, call

    def __call__(self, batch: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """(B, H, W) float32 in [0, 1] for input ``batch`` (B, T, C, H, W) in dB."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        key = tuple(batch.shape[1:])
        if key not in self._targets:
            self._targets[key] = self._find_target(x)
        target = self._targets[key]
        empty = np.zeros((batch.shape[0], *batch.shape[-2:]), np.float32)
        if target is None:
            return empty
        features, logits = self._forward_from(target, x)
        mask = (logits.detach() >= math.log(threshold / (1 - threshold))).to(logits.dtype)
        if not bool(mask.any()):
            return empty
        grads = torch.autograd.grad((logits * mask).sum(), features)[0]
        return self._cam(features.detach(), grads, batch.shape[0], batch.shape[-2:])

    def _forward_from(self, target: tuple[int, int], x):
        """Forward pass whose autograd graph starts at the target feature map."""
        import torch

        index, wanted_call = target
        captured, calls = [], [0]

        def hook(_module, _inputs, out):
            call = calls[0]
            calls[0] += 1
            if call == wanted_call:
                out = out.detach().requires_grad_(True)
                captured.append(out)
                return out
            return None

        handle = self.convs[index].register_forward_hook(hook)
        try:
            with torch.enable_grad():
                logits = self.net(x)
        finally:
            handle.remove()
        return captured[0], logits

    @staticmethod
    def _cam(features, grads, batch_size: int, size: tuple[int, int]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        per_sample = features.shape[0] // batch_size
        a = features.reshape(batch_size, per_sample, *features.shape[1:])
        g = grads.reshape(a.shape)
        weights = g.mean(dim=(-2, -1), keepdim=True)
        cam = torch.relu((weights * a).sum(dim=2)).mean(dim=1)
        cam = F.interpolate(cam[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
        peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
        return (cam / peak).clamp(0, 1).cpu().numpy().astype(np.float32)
