"""Grad-CAM heat map of the rice class: in [0, 1], zero without rice, strongest where the rice is."""

from __future__ import annotations

import numpy as np
import torch

from backend.nets import build_model
from backend.tiles.heatmap import GradCam

torch.set_num_threads(1)


def tiny_unet():
    torch.manual_seed(1)
    return build_model("unet", polarizations=["VV", "VH"], steps=4, width=4, depth=2).eval()


def batch(side: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(-14, 1, (2, 4, 2, side, side)).astype(np.float32)
    x[0, :, :, 8:20, 8:20] += 8  # a bright block in the first sample
    return x


def test_heatmap_lies_in_unit_range_and_has_tile_shape():
    x = batch()
    heat = GradCam(tiny_unet())(x, threshold=0.5)
    assert heat.shape == (2, 32, 32) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1


def test_heatmap_is_zero_when_nothing_is_called_rice():
    net, x = tiny_unet(), batch()
    with torch.no_grad():
        assert torch.sigmoid(net(torch.from_numpy(x))).max() < 0.999999
    heat = GradCam(net)(x, threshold=0.999999)
    assert not heat.any()


def test_heatmap_peaks_where_rice_is_called():
    net = tiny_unet()
    x = batch()
    with torch.no_grad():
        prob = torch.sigmoid(net(torch.from_numpy(x)))[0, 0].numpy()
    cut = float(np.quantile(prob, 0.9))  # call the top 10 % of pixels rice
    heat = GradCam(net)(x, threshold=cut)[0]
    called = prob >= cut
    assert heat.max() == 1.0
    assert heat[called].mean() > heat[~called].mean()
